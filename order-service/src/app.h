/* app.h - order-service's shared state, handed to every handler as @app. */
#ifndef ORDER_APP_H
#define ORDER_APP_H

#include "common/config.h"
#include "common/db.h"
#include "common/http.h"
#include "common/kafka.h"
#include "common/outbox.h"
#include "common/relay.h"
#include "common/svc.h"
#include "common/worker.h"
#include "saga.h"
#include "store_order.h"

#define ORDER_SERVICE "order-service"

struct order_config {
    struct svc_config svc;   /* first: the common settings */
    long payment_deadline_s; /* ORDER_PAYMENT_DEADLINE_S */
    long deadline_scan_ms;   /* ORDER_DEADLINE_SCAN_MS */
};

struct order_app {
    const struct order_config *cfg;
    struct db_pool *pool;
};

/* config.c: the defaults of the common settings and the own ones ({NULL}-terminated). */
extern const struct svc_defaults ORDER_DEFAULTS;
extern const struct cfg_entry ORDER_CONFIG[];

/* http_orders.c */
void http_order_create(struct http_req *req, struct http_resp *resp, void *app);
void http_order_list(struct http_req *req, struct http_resp *resp, void *app);
void http_order_get(struct http_req *req, struct http_resp *resp, void *app);
void http_order_cancel(struct http_req *req, struct http_resp *resp, void *app);
void http_order_refund(struct http_req *req, struct http_resp *resp, void *app);
/* A pooled connection, or NULL after a 503 ORDER-503-001 in @resp. */
struct db_conn *order_http_acquire(struct order_app *app, struct http_resp *resp);
/* Answers a store error @rc of trying @what: 503 ORDER-503-001 when transient, else 500. */
void order_http_store_error(struct http_resp *resp, int rc, const char *what);

/* http_coupons.c (ADMIN) */
void http_coupon_create(struct http_req *req, struct http_resp *resp, void *app);
void http_coupon_get(struct http_req *req, struct http_resp *resp, void *app);

/* events.c: the consumed event types and their handlers (@app is struct order_app),
 * terminated by {EVENT_NONE, NULL}. */
extern const struct svc_handler ORDER_HANDLERS[];

/* saga.h: the saga step (order_saga_step) and its metrics (order_metrics_register). */

/* deadline.c: one payment-deadline scan, a worker_fn (@app is struct order_app; run every
 * cfg->deadline_scan_ms). Returns -1: the worker's period. */
long order_deadline_run(struct worker *w, void *app);

#endif
