/* main.c - payment-service as data: its routes, the order events it consumes and the outbox
 * relay; svc_main() runs it. */
#include "app.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/svc.h"

static const struct http_route routes[] = {
    {"POST", "/api/payments/confirm", HTTP_AUTH_USER, http_payment_confirm},
    {"GET", "/api/payments/{orderId}", HTTP_AUTH_USER, http_payment_get},
};

/* the stored answers of idempotent actions: kept as long as the inbox (README "State and
 * retention"); a confirm retried later with its key finds the payment no longer READY (409) */
static const struct svc_purge purge[] = {
    {"payment_idempotency", "created_at"},
    {NULL, NULL},
};

static struct pay_config cfg;
static struct pay_app app = {.cfg = &cfg};

static double pay_waiters(void *arg)
{
    return pay_wait_count(arg);
}

/* The waiting room of confirms ahead of their payment (confirm_wait.h), before HTTP and the
 * consumer start. */
static int pay_start(struct svc *svc, void *arg)
{
    struct pay_app *a = arg;

    (void)svc;
    if (pay_wait_init(&a->wait, (int)a->cfg->confirm_max_waiters) < 0) {
        log_errorx("cannot initialise the confirm waiters");
        return -1;
    }
    a->wait_ok = true;
    metrics_gauge_fn("commerce_payment_confirm_waiters",
                     "confirms waiting for their payment to be made", pay_waiters, &a->wait);
    return 0;
}

static void pay_stop(void *arg)
{
    struct pay_app *a = arg;

    if (a->wait_ok)
        pay_wait_release(&a->wait);
    a->wait_ok = false;
}

static const struct svc_desc desc = {
    .name = PAYMENT_SERVICE,
    .defaults = &PAY_DEFAULTS,
    .cfg = &cfg.svc,
    .config = PAY_CONFIG,
    .tables = SVC_TABLES_OUTBOX | SVC_TABLES_INBOX,
    .purge = purge,
    .routes = routes,
    .nroutes = sizeof(routes) / sizeof(routes[0]),
    .handlers = PAY_HANDLERS,
    .app = &app,
    .app_pool = &app.pool,
    .relay_source = svc_relay_outbox,
    .metrics_register = pay_metrics_register,
    .start = pay_start,
    .stop = pay_stop,
};

int main(void)
{
    return svc_main(&desc);
}
