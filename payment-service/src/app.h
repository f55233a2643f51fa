/* app.h - payment-service's configuration and shared state, handed to every handler. */
#ifndef PAYMENT_APP_H
#define PAYMENT_APP_H

#include "common/config.h"
#include "common/db.h"
#include "common/http.h"
#include "common/kafka.h"
#include "common/outbox.h"
#include "common/relay.h"
#include "common/svc.h"
#include "confirm_wait.h"

#define PAYMENT_SERVICE "payment-service"
#define PAYMENT_SOURCE "/payment-service"

struct pay_config {
    struct svc_config svc;
    long gateway_timeout_ms;  /* PAYMENT_GATEWAY_TIMEOUT_MS */
    long confirm_wait_ms;     /* PAYMENT_CONFIRM_WAIT_MS: 0 = answer 404 at once */
    long confirm_max_waiters; /* PAYMENT_CONFIRM_MAX_WAITERS */
};

/* config.c: the defaults of the common settings and the own ones ({NULL}-terminated). */
extern const struct svc_defaults PAY_DEFAULTS;
extern const struct cfg_entry PAY_CONFIG[];

struct pay_app {
    const struct pay_config *cfg;
    struct db_pool *pool;
    struct pay_wait wait; /* confirms waiting for their payment (confirm_wait.h) */
    bool wait_ok;         /* @wait initialised (main.c's start hook) */
};

/* http_payments.c */
void http_payment_confirm(struct http_req *req, struct http_resp *resp, void *app);
void http_payment_get(struct http_req *req, struct http_resp *resp, void *app);

/* events.c: the consumed event types and their handlers (@app is a struct pay_app),
 * terminated by {EVENT_NONE}. */
extern const struct svc_handler PAY_HANDLERS[];

/* Registers the payment metrics (main, once). */
void pay_metrics_register(void);

#endif
