/* store_order.c - order-service's MariaDB adapter (see store_order.h). */
#include "store_order.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS(col) "DATE_FORMAT(" col ", '%Y-%m-%dT%H:%i:%s.%fZ')"
#define ORDER_COLS                                                                                 \
    "id, user_id, status, total_amount, discount_amount, payable_amount, payment_id, "             \
    "cancel_reason, " TS("created_at") ", " TS("updated_at") ", version, coupon_code"
#define LOCK_COLS                                                                                  \
    "id, user_id, status, stock_reserved, payment_created, payment_completed, payable_amount, "    \
    "total_amount, discount_amount, TIMESTAMPDIFF(MICROSECOND, created_at, NOW(6)), coupon_id, "   \
    "payment_id, payment_amount"

/* Not yet paid nor terminal: what the payment deadline may cancel. */
#define OVERDUE_STATUSES "'CREATED', 'RESERVED', 'PAYMENT_CREATED', 'PAYMENT_PENDING'"

/* Row @r of a LOCK_COLS result into @o. */
static int lock_row(const struct db_result *res, size_t r, struct store_order *o)
{
    memset(o, 0, sizeof(*o));
    util_strlcpy(o->id, db_result_get(res, r, 0) ? db_result_get(res, r, 0) : "", sizeof(o->id));
    util_strlcpy(o->user_id, db_result_get(res, r, 1) ? db_result_get(res, r, 1) : "",
                 sizeof(o->user_id));
    if (order_status_parse(db_result_get(res, r, 2), &o->st.status) < 0)
        return -EINVAL;
    o->st.stock_reserved = db_result_int(res, r, 3) != 0;
    o->st.payment_created = db_result_int(res, r, 4) != 0;
    o->st.payment_completed = db_result_int(res, r, 5) != 0;
    o->st.payable_amount = db_result_int(res, r, 6);
    o->total = db_result_int(res, r, 7);
    o->discount = db_result_int(res, r, 8);
    o->age_s = (double)db_result_int(res, r, 9) / 1e6;
    o->coupon_id = db_result_int(res, r, 10);
    /* the payment learned: both columns or neither (-1 never equals a paid amount) */
    if (db_result_get(res, r, 11) && db_result_get(res, r, 12)) {
        util_strlcpy(o->st.payment_id, db_result_get(res, r, 11), sizeof(o->st.payment_id));
        o->st.payment_amount = db_result_int(res, r, 12);
    } else {
        o->st.payment_amount = -1;
    }
    return 0;
}

int store_order_lock(struct db_conn *conn, const char *id, struct store_order *ret)
{
    struct db_param p[] = {DB_STR(id)};
    struct db_result *res = NULL;
    int rc =
        db_query_one(conn, "SELECT " LOCK_COLS " FROM orders WHERE id = ? FOR UPDATE", p, 1, &res);

    if (rc < 0)
        return rc;
    rc = lock_row(res, 0, ret);
    db_result_free(res);
    return rc;
}

int store_order_history_add(struct db_conn *conn, const char *order_id, const char *from,
                            const char *to, const char *reason, const char *event_id)
{
    struct db_param p[] = {DB_STR(order_id), from ? DB_STR(from) : DB_NULLP, DB_STR(to),
                           reason ? DB_STR(reason) : DB_NULLP,
                           event_id && *event_id ? DB_STR(event_id) : DB_NULLP};

    return db_exec(conn,
                   "INSERT INTO order_status_history (order_id, from_status, to_status, reason, "
                   "event_id) VALUES (?, ?, ?, ?, ?)",
                   p, 5, NULL, NULL);
}

int store_order_save(struct db_conn *conn, const char *id, const struct order_state *st,
                     const char *cancel_reason)
{
    bool learned = st->payment_id[0] != '\0';
    struct db_param p[] = {DB_STR(order_status_name(st->status)),
                           DB_INT(st->stock_reserved),
                           DB_INT(st->payment_created),
                           DB_INT(st->payment_completed),
                           learned ? DB_STR(st->payment_id) : DB_NULLP,
                           learned ? DB_INT(st->payment_amount) : DB_NULLP,
                           DB_INT(cancel_reason != NULL),
                           cancel_reason ? DB_STR(cancel_reason) : DB_NULLP,
                           DB_STR(id)};

    return db_exec(conn,
                   "UPDATE orders SET status = ?, stock_reserved = ?, payment_created = ?, "
                   "payment_completed = ?, payment_id = COALESCE(?, payment_id), "
                   "payment_amount = COALESCE(?, payment_amount), "
                   "cancel_reason = IF(?, ?, cancel_reason), updated_at = NOW(6), "
                   "version = version + 1 WHERE id = ?",
                   p, 9, NULL, NULL);
}

int store_sku_price_put(struct db_conn *conn, long long sku_id, long long price,
                        long long product_id)
{
    struct db_param p[] = {DB_INT(sku_id), DB_INT(price), DB_INT(product_id)};

    return db_exec(conn,
                   "INSERT INTO sku_price (sku_id, price, product_id) VALUES (?, ?, ?) "
                   "ON DUPLICATE KEY UPDATE price = VALUES(price), "
                   "product_id = VALUES(product_id), updated_at = NOW(6)",
                   p, 3, NULL, NULL);
}

int store_prices(struct db_conn *conn, struct order_line *lines, size_t n, long long *ret_missing)
{
    struct db_param p[ORDER_MAX_ITEMS];
    char sql[64 + ORDER_MAX_ITEMS * 3];
    struct db_result *res = NULL;
    size_t used;
    int rc;

    if (n == 0 || n > ORDER_MAX_ITEMS)
        return -EINVAL;
    used =
        (size_t)snprintf(sql, sizeof(sql), "SELECT sku_id, price FROM sku_price WHERE sku_id IN (");
    for (size_t i = 0; i < n; i++) {
        used += (size_t)snprintf(sql + used, sizeof(sql) - used, "%s?", i ? "," : "");
        p[i] = DB_INT(lines[i].sku_id);
    }
    snprintf(sql + used, sizeof(sql) - used, ")");
    rc = db_query(conn, sql, p, n, &res);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        size_t r;

        for (r = 0; r < db_result_rows(res); r++) {
            if (db_result_int(res, r, 0) == lines[i].sku_id)
                break;
        }
        if (r == db_result_rows(res)) {
            *ret_missing = lines[i].sku_id;
            rc = -ENOENT;
            break;
        }
        lines[i].unit_price = db_result_int(res, r, 1);
    }
    db_result_free(res);
    return rc;
}

int store_order_by_key(struct db_conn *conn, const char *user, const char *key,
                       char ret_id[UTIL_UUID_LEN])
{
    struct db_param p[] = {DB_STR(user), DB_STR(key)};
    struct db_result *res = NULL;
    int rc = db_query_one(conn, "SELECT id FROM orders WHERE user_id = ? AND idempotency_key = ?",
                          p, 2, &res);

    if (rc == 0) {
        util_strlcpy(ret_id, db_result_get(res, 0, 0), UTIL_UUID_LEN);
        db_result_free(res);
    }
    return rc;
}

int store_order_insert(struct db_conn *conn, const char *id, const char *user, const char *key,
                       const struct order_state *st, const struct order_line *lines, size_t n,
                       const struct order_totals *t, long long *ret_item_ids)
{
    struct db_param p[] = {DB_STR(id),
                           DB_STR(user),
                           DB_STR(order_status_name(st->status)),
                           DB_INT(t->total),
                           DB_INT(t->discount),
                           DB_INT(t->payable),
                           key ? DB_STR(key) : DB_NULLP};
    int rc;

    if (n == 0 || n > ORDER_MAX_ITEMS)
        return -EINVAL;
    rc = db_exec(conn,
                 "INSERT INTO orders (id, user_id, status, total_amount, discount_amount, "
                 "payable_amount, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 p, 7, NULL, NULL);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        unsigned long long item_id = 0;
        struct db_param q[] = {DB_STR(id),
                               DB_INT(lines[i].sku_id),
                               DB_INT(lines[i].quantity),
                               DB_INT(lines[i].unit_price),
                               DB_INT(lines[i].line_total),
                               DB_INT(lines[i].discount),
                               DB_INT(lines[i].amount)};

        rc = db_exec(conn,
                     "INSERT INTO order_item (order_id, sku_id, quantity, unit_price, line_total, "
                     "discount_amount, amount) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     q, 7, NULL, &item_id);
        ret_item_ids[i] = (long long)item_id;
    }
    return rc;
}

int store_order_get(struct db_conn *conn, const char *id, struct db_result **ret)
{
    struct db_param p[] = {DB_STR(id)};

    return db_query_one(conn, "SELECT " ORDER_COLS " FROM orders WHERE id = ?", p, 1, ret);
}

int store_order_items(struct db_conn *conn, const char *id, int lock, struct db_result **ret)
{
    struct db_param p[] = {DB_STR(id)};

    return db_query(conn,
                    lock ? "SELECT id, sku_id, quantity, unit_price, line_total, discount_amount, "
                           "amount, refunded FROM order_item WHERE order_id = ? ORDER BY id "
                           "FOR UPDATE"
                         : "SELECT id, sku_id, quantity, unit_price, line_total, discount_amount, "
                           "amount, refunded FROM order_item WHERE order_id = ? ORDER BY id",
                    p, 1, ret);
}

int store_order_items_lock(struct db_conn *conn, const char *id, struct order_item *ret, size_t max,
                           size_t *ret_n)
{
    struct db_result *res = NULL;
    size_t n = 0;
    int rc = store_order_items(conn, id, 1, &res);

    if (rc < 0)
        return rc;
    for (size_t r = 0; r < db_result_rows(res) && n < max; r++, n++) {
        ret[n].id = db_result_int(res, r, ITEM_ID);
        ret[n].sku_id = db_result_int(res, r, ITEM_SKU);
        ret[n].quantity = db_result_int(res, r, ITEM_QUANTITY);
        ret[n].amount = db_result_int(res, r, ITEM_AMOUNT);
        ret[n].refunded = db_result_int(res, r, ITEM_REFUNDED) != 0;
    }
    db_result_free(res);
    *ret_n = n;
    return 0;
}

int store_order_history(struct db_conn *conn, const char *id, struct db_result **ret)
{
    struct db_param p[] = {DB_STR(id)};

    return db_query(conn,
                    "SELECT from_status, to_status, reason, event_id, " TS(
                        "created_at") " FROM order_status_history WHERE order_id = ? ORDER BY id",
                    p, 1, ret);
}

int store_order_list(struct db_conn *conn, const char *user, long long offset, long long limit,
                     struct db_result **ret, long long *ret_total)
{
    struct db_param p[] = {DB_STR(user), DB_INT(limit), DB_INT(offset)};
    struct db_result *count = NULL;
    int rc = db_query(conn, "SELECT COUNT(*) FROM orders WHERE user_id = ?", p, 1, &count);

    if (rc < 0)
        return rc;
    *ret_total = db_result_int(count, 0, 0);
    db_result_free(count);
    return db_query(conn,
                    "SELECT " ORDER_COLS " FROM orders WHERE user_id = ? "
                    "ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                    p, 3, ret);
}

int store_order_refund(struct db_conn *conn, const char *order_id, const char *refund_id,
                       const long long *item_ids, size_t n, long long amount)
{
    struct db_param r[] = {DB_STR(refund_id), DB_STR(order_id), DB_INT(amount)};
    int rc = db_exec(conn, "INSERT INTO order_refund (id, order_id, amount) VALUES (?, ?, ?)", r, 3,
                     NULL, NULL);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct db_param p[] = {DB_STR(refund_id), DB_INT(item_ids[i]), DB_STR(order_id)};
        unsigned long long affected = 0;

        rc = db_exec(conn,
                     "UPDATE order_item SET refunded = 1, refund_id = ? "
                     "WHERE id = ? AND order_id = ? AND refunded = 0",
                     p, 3, &affected, NULL);
        if (rc == 0 && affected != 1)
            rc = -ENOENT;
    }
    return rc;
}

int store_order_overdue(struct db_conn *conn, long deadline_s, size_t limit,
                        char (*ret)[UTIL_UUID_LEN], size_t *ret_n)
{
    struct db_param p[] = {DB_INT(deadline_s), DB_INT((long long)limit)};
    struct db_result *res = NULL;
    size_t n = 0;
    int rc;

    rc = db_query(conn,
                  "SELECT id FROM orders WHERE status IN (" OVERDUE_STATUSES ") "
                  "AND payment_completed = 0 AND created_at < NOW(6) - INTERVAL ? SECOND "
                  "ORDER BY created_at LIMIT ?",
                  p, 2, &res);
    if (rc < 0)
        return rc;
    for (size_t r = 0; r < db_result_rows(res) && n < limit; r++) {
        const char *id = db_result_get(res, r, 0);

        if (id)
            util_strlcpy(ret[n++], id, UTIL_UUID_LEN);
    }
    db_result_free(res);
    *ret_n = n;
    return 0;
}
