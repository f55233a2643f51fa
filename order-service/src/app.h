/* app.h - order-service's shared state, handed to every handler as @app. */
#ifndef ORDER_APP_H
#define ORDER_APP_H

#include "common/config.h"
#include "common/db.h"
#include "common/http.h"
#include "common/kafka.h"
#include "common/outbox.h"
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
    struct outbox_relay *relay; /* may be NULL in tests */
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

/* events.c: the consumed types and the consumer's handler (@app is struct order_app). */
extern const struct kafka_type ORDER_CONSUMED_TYPES[];
enum kafka_result order_handle_event(const struct event *ev, const struct kafka_record *rec,
                                     void *app, char *errbuf, size_t errlen);

/* saga.c: the saga metrics. order_metrics_register() once at start; order_step_done() after
 * the commit of a step (kicks the relay when something was published, counts outcomes). */
void order_metrics_register(void);
void order_step_done(struct order_app *app, const struct store_order *o,
                     const struct order_outcome *out);

/* deadline.c: the payment-deadline scheduler thread. */
struct order_deadline;
/* NULL with a reason in @errbuf. */
struct order_deadline *order_deadline_start(struct order_app *app, char *errbuf, size_t errlen);
/* Stops after the current scan and frees. Accepts NULL. */
void order_deadline_stop(struct order_deadline *d);

#endif
