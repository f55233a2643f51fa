/* main.c - order-service as data: its routes, the events it consumes, the outbox relay and
 * the payment-deadline job; svc_main() runs it. */
#include "app.h"
#include "common/svc.h"

static const struct http_route routes[] = {
    {"POST", "/api/orders", HTTP_AUTH_USER, http_order_create},
    {"GET", "/api/orders", HTTP_AUTH_USER, http_order_list},
    {"GET", "/api/orders/{id}", HTTP_AUTH_USER, http_order_get},
    {"POST", "/api/orders/{id}/cancel", HTTP_AUTH_USER, http_order_cancel},
    {"POST", "/api/orders/{id}/refund", HTTP_AUTH_USER, http_order_refund},
    {"POST", "/api/coupons", HTTP_AUTH_ADMIN, http_coupon_create},
    {"GET", "/api/coupons/{code}", HTTP_AUTH_ADMIN, http_coupon_get},
};

static struct order_config cfg;
static struct order_app app = {.cfg = &cfg};

static long deadline_ms(const void *arg)
{
    (void)arg;
    return cfg.deadline_scan_ms;
}

static const struct svc_job jobs[] = {
    {"payment deadline", order_deadline_run, deadline_ms},
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
    .handlers = ORDER_HANDLERS,
    .jobs = jobs,
    .app = &app,
    .app_pool = &app.pool,
    .relay_source = svc_relay_outbox,
    .metrics_register = order_metrics_register,
};

int main(void)
{
    return svc_main(&desc);
}
