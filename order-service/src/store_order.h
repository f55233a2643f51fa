/*
 * store_order.h - order-service's MariaDB adapter. Every function takes a checked-out
 * connection and returns 0 or a negative errno (db.h codes plus the ones named below).
 * Results are rows of text owned by the caller (db_result_free).
 *
 * Locking rule (outbox.h): an order's events are appended only while its row is locked
 * (store_order_lock, or the insert that creates it), so the outbox's id order is the order's
 * commit order.
 */
#ifndef STORE_ORDER_H
#define STORE_ORDER_H

#include <cjson/cJSON.h>

#include "common/db.h"
#include "common/msgctx.h"
#include "common/util.h"
#include "order.h"

#define ORDER_SOURCE "/order-service"
#define ORDER_AGGREGATE "order"
/* order.placed is published as v2 (contracts/order.placed/v2.json); the other order events v1 */
#define ORDER_PLACED_VERSION 2
#define ORDER_USER_MAX 64
#define ORDER_IDEM_KEY_MAX 128

/* An order row as read under its lock. */
struct store_order {
    char id[UTIL_UUID_LEN];
    char user_id[ORDER_USER_MAX + 1];
    struct order_state st;
    long long total;
    long long discount;
    double age_s; /* since created_at */
};

/* SELECT … FOR UPDATE of order @id inside the caller's transaction. -ENOENT when missing. */
int store_order_lock(struct db_conn *conn, const char *id, struct store_order *ret);

/*
 * Runs one saga step inside the caller's transaction, @o locked: order_apply(), and when the
 * input is applied writes the new state (and @payment_id when non-NULL), a history row (reason
 * = the cancel reason, else @note; @event_id may be NULL) and the event to publish into the
 * outbox. @ctx is the context being handled (NULL: a new one); events become its children
 * with correlation id = the order id. @refund_data is order.refunded's payload (taken, may be
 * NULL otherwise). The outcome goes to @ret even when nothing was written.
 */
int store_order_step(struct db_conn *conn, const struct store_order *o, enum order_input in,
                     const struct order_args *args, const struct msgctx *ctx, const char *event_id,
                     const char *note, const char *payment_id, cJSON *refund_data,
                     struct order_outcome *ret);

/* product.sku.created: the SKU's price (a newer event wins). */
int store_sku_price_put(struct db_conn *conn, long long sku_id, long long price,
                        long long product_id);

/* Unit prices of @n SKUs into @lines[i].unit_price. -ENOENT with *@ret_missing = the first
 * unknown SKU. */
int store_prices(struct db_conn *conn, struct order_line *lines, size_t n, long long *ret_missing);

/* The order @user placed with Idempotency-Key @key, into @ret_id. -ENOENT when none. */
int store_order_by_key(struct db_conn *conn, const char *user, const char *key,
                       char ret_id[UTIL_UUID_LEN]);

/*
 * Creates order @id (CREATED) for @user with its priced lines, the history row and
 * order.placed (v2, currency KRW) in the outbox, in one transaction. @key may be NULL.
 * @shipping (borrowed, may be NULL) is the validated shippingAddress object, copied into the
 * event only (not stored). -EEXIST when @user already used @key (a concurrent request won).
 */
int store_order_create(struct db_conn *conn, const char *id, const char *user, const char *key,
                       const struct order_line *lines, size_t n, const struct order_totals *t,
                       const cJSON *shipping, const struct msgctx *ctx);

/* Column order of order rows. */
enum {
    ORD_ID,
    ORD_USER,
    ORD_STATUS,
    ORD_TOTAL,
    ORD_DISCOUNT,
    ORD_PAYABLE,
    ORD_PAYMENT_ID,
    ORD_CANCEL_REASON,
    ORD_CREATED,
    ORD_UPDATED,
    ORD_VERSION
};
/* Item rows: id, sku, quantity, unit price, line total, discount, amount, refunded. */
enum {
    ITEM_ID,
    ITEM_SKU,
    ITEM_QUANTITY,
    ITEM_UNIT_PRICE,
    ITEM_LINE_TOTAL,
    ITEM_DISCOUNT,
    ITEM_AMOUNT,
    ITEM_REFUNDED
};
/* History rows: from, to, reason, event id, created at. */
enum { HIST_FROM, HIST_TO, HIST_REASON, HIST_EVENT, HIST_CREATED };

/* -ENOENT when missing. */
int store_order_get(struct db_conn *conn, const char *id, struct db_result **ret);
/* Items ordered by id; with @lock FOR UPDATE. */
int store_order_items(struct db_conn *conn, const char *id, int lock, struct db_result **ret);
int store_order_history(struct db_conn *conn, const char *id, struct db_result **ret);
/* @user's orders, newest first. */
int store_order_list(struct db_conn *conn, const char *user, long long offset, long long limit,
                     struct db_result **ret, long long *ret_total);

/* Marks items @item_ids (of the locked order @order_id) refunded by @refund_id and records
 * the refund of @amount. */
int store_order_refund(struct db_conn *conn, const char *order_id, const char *refund_id,
                       const long long *item_ids, size_t n, long long amount);

/*
 * Inside the caller's transaction: locks up to @limit orders older than @deadline_s that are
 * not yet paid nor terminal, skipping rows other transactions hold (FOR UPDATE SKIP LOCKED),
 * and returns them in @ret (caller owns, free()) and @ret_n.
 */
int store_order_overdue(struct db_conn *conn, long deadline_s, int limit, struct store_order **ret,
                        size_t *ret_n);

#endif
