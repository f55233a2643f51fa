/* main.c - order-service as data: its routes, the events it consumes, the outbox relay and
 * the payment-deadline job; svc_main() runs it. */
#include <time.h>

#include "app.h"
#include "common/log.h"
#include "common/svc.h"

static const struct http_route routes[] = {
    {"POST", "/api/orders", HTTP_AUTH_USER, http_order_create},
    {"GET", "/api/orders", HTTP_AUTH_USER, http_order_list},
    {"GET", "/api/orders/{id}", HTTP_AUTH_USER, http_order_get},
    {"POST", "/api/orders/{id}/cancel", HTTP_AUTH_USER, http_order_cancel},
    {"POST", "/api/orders/{id}/refund", HTTP_AUTH_USER, http_order_refund},
};

static struct order_config cfg;
static struct order_app app = {.cfg = &cfg};

/* MERGE-SHIM (to the next marker): ORDER_HANDLERS and order_deadline_run (order-service's
 * saga work) replace these. */
static const struct svc_handler order_handlers_shim[] = {
    {EVENT_PRODUCT_SKU_CREATED, order_handle_event},
    {EVENT_STOCK_RESERVED, order_handle_event},
    {EVENT_STOCK_RESERVATION_FAILED, order_handle_event},
    {EVENT_STOCK_CONFIRMED, order_handle_event},
    {EVENT_STOCK_CONFIRM_FAILED, order_handle_event},
    {EVENT_STOCK_RELEASED, order_handle_event},
    {EVENT_PAYMENT_CREATED, order_handle_event},
    {EVENT_PAYMENT_COMPLETED, order_handle_event},
    {EVENT_PAYMENT_FAILED, order_handle_event},
    {EVENT_PAYMENT_REFUNDED, order_handle_event},
    {EVENT_NONE, NULL},
};

/* today's scheduler thread, alive while this job's one round lasts */
static long order_deadline_run_shim(struct worker *w, void *arg)
{
    char err[256];
    struct order_deadline *d = order_deadline_start(arg, err, sizeof(err));

    if (!d) {
        log_errorx("cannot start the payment deadline scheduler: %s", err);
        return -1;
    }
    while (!worker_stopping(w))
        nanosleep(&(struct timespec){0, 20000000L}, NULL);
    order_deadline_stop(d);
    return -1;
}
/* end of MERGE-SHIM */

static long deadline_ms(const void *arg)
{
    (void)arg;
    return cfg.deadline_scan_ms;
}

static const struct svc_job jobs[] = {
    {"payment deadline", order_deadline_run_shim /* MERGE-SHIM: order_deadline_run */, deadline_ms},
    {NULL, NULL, NULL},
};

static const struct svc_desc desc = {
    .name = ORDER_SERVICE,
    .defaults = &ORDER_DEFAULTS,
    .cfg = &cfg.svc,
    .config = ORDER_CONFIG,
    .tables = SVC_TABLES_OUTBOX | SVC_TABLES_INBOX,
    .routes = routes,
    .nroutes = sizeof(routes) / sizeof(routes[0]),
    .handlers = order_handlers_shim, /* MERGE-SHIM: ORDER_HANDLERS */
    .jobs = jobs,
    .app = &app,
    .app_pool = &app.pool,
    .app_relay = (struct relay **)&app.relay, /* MERGE-SHIM: &app.relay */
    .relay_source = svc_relay_outbox,
    .metrics_register = order_metrics_register,
};

int main(void)
{
    return svc_main(&desc);
}
