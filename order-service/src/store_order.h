/*
 * store_order.h - order-service's MariaDB adapter. Every function takes a checked-out
 * connection and returns 0 or a negative errno (db.h codes plus the ones named below).
 * Results are rows of text owned by the caller (db_result_free).
 *
 * It only persists: the saga step (saga.c) decides what to write. Locking rule (outbox.h): an
 * order's events are appended only while its row is locked (store_order_lock, or the insert
 * that creates it), so the outbox's id order is the order's commit order.
 */
#ifndef STORE_ORDER_H
#define STORE_ORDER_H

#include "common/db.h"
#include "common/util.h"
#include "order.h"

#define ORDER_USER_MAX 64
#define ORDER_IDEM_KEY_MAX 128

/* An order row as read under its lock. */
struct store_order {
    char id[UTIL_UUID_LEN];
    char user_id[ORDER_USER_MAX + 1];
    struct order_state st;
    long long total;
    long long discount;
    double age_s;        /* since created_at */
    long long coupon_id; /* the coupon whose use it took; 0: none */
};

/* SELECT … FOR UPDATE of order @id inside the caller's transaction (the payment learned:
 * st.payment_id "" and st.payment_amount -1 when none). -ENOENT when missing. */
int store_order_lock(struct db_conn *conn, const char *id, struct store_order *ret);

/*
 * Writes the locked order @id's new state @st (the status, the three facts and, once learned,
 * the payment's id and amount: never unlearned) and @cancel_reason when non-NULL; bumps the
 * version.
 */
int store_order_save(struct db_conn *conn, const char *id, const struct order_state *st,
                     const char *cancel_reason);

/* Appends a history row @from → @to of order @id (@from, @reason, @event_id may be NULL). */
int store_order_history_add(struct db_conn *conn, const char *id, const char *from, const char *to,
                            const char *reason, const char *event_id);

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
 * Inserts order @id of @user in state @st (its status and facts) with its priced lines and
 * @t, inside the caller's transaction (the new row is locked by it); the items' ids go to
 * @ret_item_ids (@n of them). @key may be NULL. -EEXIST when @user already used @key (a
 * concurrent request won).
 */
int store_order_insert(struct db_conn *conn, const char *id, const char *user, const char *key,
                       const struct order_state *st, const struct order_line *lines, size_t n,
                       const struct order_totals *t, long long *ret_item_ids);

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
    ORD_VERSION,
    ORD_COUPON /* the coupon code used, or NULL */
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
/* The first @max items of the locked order @id, ordered by id and locked (FOR UPDATE), into
 * @ret and @ret_n. */
int store_order_items_lock(struct db_conn *conn, const char *id, struct order_item *ret, size_t max,
                           size_t *ret_n);
int store_order_history(struct db_conn *conn, const char *id, struct db_result **ret);
/* @user's orders, newest first. */
int store_order_list(struct db_conn *conn, const char *user, long long offset, long long limit,
                     struct db_result **ret, long long *ret_total);

/* Marks items @item_ids (of the locked order @order_id) refunded by @refund_id and records
 * the refund of @amount. */
int store_order_refund(struct db_conn *conn, const char *order_id, const char *refund_id,
                       const long long *item_ids, size_t n, long long amount);

/*
 * The ids of up to @limit orders older than @deadline_s that are not yet paid nor terminal,
 * oldest first, into @ret (room for @limit) and @ret_n. A plain read: it locks nothing (each
 * order is locked by its own saga step, which re-checks it).
 */
int store_order_overdue(struct db_conn *conn, long deadline_s, size_t limit,
                        char (*ret)[UTIL_UUID_LEN], size_t *ret_n);

#endif
