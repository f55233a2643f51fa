/* main.c - payment-service as data: its routes, the order events it consumes and the outbox
 * relay; svc_main() runs it. */
#include "app.h"
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
    .app_relay = &app.relay,
    .relay_source = svc_relay_outbox,
    .metrics_register = pay_metrics_register,
};

int main(void)
{
    return svc_main(&desc);
}
