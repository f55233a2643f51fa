/*
 * saga.h - the order saga's one step, the single home of its transaction frame:
 *
 *   begin → (inbox record) → lock the order (a new one: INIT; priced, its coupon locked and
 *   checked) → the refund plan (refunds) → order_apply() → persist (store_order.c; a new
 *   order's coupon use taken, a use given back when the order becomes CANCELLED or FAILED:
 *   store_coupon.c) → the event to publish, built from the outcome (payloads.c) → commit (the
 *   outbox sends the event at once: outbox.h) → log the transition, count the saga's end.
 *
 * The HTTP handlers (place, cancel, refund), the event handlers and the payment-deadline
 * scheduler each parse their input, call order_saga_step() and map the result. A new saga
 * rule goes into order.c (the domain); what a step writes or publishes, into saga.c.
 */
#ifndef ORDER_SAGA_H
#define ORDER_SAGA_H

#include <cjson/cJSON.h>

#include "common/db.h"
#include "common/event_types.h"
#include "common/msgctx.h"
#include "common/util.h"
#include "coupon.h"
#include "order.h"
#include "store_order.h"

struct order_app;

/* One input to the saga: what the caller parsed. Everything is borrowed for the call. */
struct saga_input {
    enum order_input in;
    const char *order_id;     /* ORDER_IN_PLACE: the new order's id */
    const char *owner;        /* non-NULL: -ENOENT unless the order is this user's */
    const struct msgctx *ctx; /* being handled: events are its children; NULL: a new one */
    const char *event_id;     /* the history row's event id (may be NULL) */
    const char *note;         /* the history row's reason when the step has no cancel reason */
    /* consumed events: non-NULL records (@inbox_group, @event_id, @inbox_type) first */
    const char *inbox_group;
    const char *inbox_type;
    long long paid_amount;    /* ORDER_IN_PAYMENT_COMPLETED */
    const char *payment_id;   /* ORDER_IN_PAYMENT_CREATED, ORDER_IN_PAYMENT_COMPLETED */
    long long payment_amount; /* ORDER_IN_PAYMENT_CREATED */
    /* ORDER_IN_PLACE: @user's @lines (sku, quantity and unit price set; order_price() accepts
     * them), the optional coupon code, Idempotency-Key and validated shippingAddress (copied
     * into order.placed only) */
    const char *user;
    const char *idem_key;
    const struct order_line *lines;
    size_t nlines;
    const char *coupon_code;
    const cJSON *shipping;
    /* ORDER_IN_REFUND: the items to refund */
    const long long *item_ids;
    size_t nitem_ids;
};

/* What a step did. */
struct saga_result {
    struct store_order order; /* as locked, before the step (a new order: INIT) */
    struct order_outcome out; /* the domain's verdict; nothing was written unless APPLIED */
    /* ORDER_IN_REFUND refused by order_refund_plan(): -EPERM, -ENOENT, -EALREADY (with
     * refund.item), -EINVAL; else 0 */
    int refund_rc;
    struct order_refund refund;
    char refund_id[UTIL_UUID_LEN];
    /* ORDER_IN_PLACE: the coupon's verdict (COUPON_OK also without a code; else the step wrote
     * nothing), the coupon as locked, and the lines and totals priced with its discount */
    enum coupon_verdict coupon_verdict;
    struct coupon coupon;
    struct order_line lines[ORDER_MAX_ITEMS];
    struct order_totals totals;
    bool coupon_returned;                     /* the step gave the order's coupon use back */
    long long item_ids[ORDER_MAX_ITEMS];      /* ORDER_IN_PLACE: the new items' ids */
    struct order_item items[ORDER_MAX_ITEMS]; /* ORDER_IN_REFUND: the order's items */
    size_t nitems;
    /* on failure: what failed ("lock an order", "read order items", "lock a coupon"; NULL:
     * the write) and
     * the database's message */
    const char *failed;
    char errmsg[256];
};

/* Registers the saga metrics (main, once). */
void order_metrics_register(void);

/*
 * Runs one saga step for @in on @conn (checked out by the caller, outside a transaction) and
 * fills @ret. Returns 0 when the step ran (look at ret->out.verdict, ret->refund_rc and
 * ret->coupon_verdict: a refused refund or coupon writes nothing; an ORDER_REJECTED event wrote
 * nothing, not even its inbox record), or,
 * everything rolled back: -EALREADY (the inbox saw the event), -ENOENT (no such order, or not
 * @in->owner's), -EEXIST (placing: the Idempotency-Key is taken) or another db.h error.
 */
int order_saga_step(struct db_conn *conn, const struct saga_input *in, struct saga_result *ret);

/* payloads.c: the data of the event @r->out.publish names (order.placed, order.confirmed,
 * order.cancelled, order.refunded), built from the outcome of the step @in → @r. Caller owns
 * it (cJSON_Delete); NULL when out of memory or nothing is published. */
cJSON *order_payload(const struct saga_input *in, const struct saga_result *r);

/* The type of the event @pub names; EVENT_NONE for ORDER_PUB_NONE. */
enum event_type order_publish_type(enum order_publish pub);

#endif
