/* saga.c - what follows a committed saga step: wake the outbox relay, count the outcome. */
#include "app.h"
#include "common/log.h"
#include "common/metrics.h"

#define OUTCOMES "commerce_saga_outcomes_total"
#define DURATION "commerce_saga_duration_seconds"

static const double duration_buckets[] = {0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 900, 1800};

void order_metrics_register(void)
{
    metrics_counter(OUTCOMES, "orders reaching a saga end (CONFIRMED, CANCELLED, FAILED)",
                    "status,reason");
    metrics_histogram(DURATION, "seconds from CREATED to the saga's end", "", duration_buckets,
                      sizeof(duration_buckets) / sizeof(duration_buckets[0]));
}

void order_step_done(struct order_app *app, const struct store_order *o,
                     const struct order_outcome *out)
{
    enum order_status to = out->next.status;

    if (out->verdict != ORDER_APPLIED)
        return;
    if (out->publish != ORDER_PUB_NONE && app->relay)
        outbox_relay_kick(app->relay);
    if (to != o->st.status)
        log_info("order '%s': %s -> %s%s%s", o->id, order_status_name(o->st.status),
                 order_status_name(to), out->reason ? " " : "",
                 out->reason ? order_reason_name(out->reason) : "");
    /* the saga ends once: the first step into CONFIRMED, CANCELLED or FAILED */
    if (to != o->st.status && !order_is_terminal(o->st.status) &&
        (to == ORDER_CONFIRMED || to == ORDER_CANCELLED || to == ORDER_FAILED)) {
        const char *reason = order_reason_name(out->reason);
        const char *labels[] = {order_status_name(to), reason ? reason : "NONE"};

        metrics_inc(OUTCOMES, labels, 1);
        metrics_observe(DURATION, NULL, o->age_s);
    }
}
