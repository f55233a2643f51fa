/* store_coupon.c - coupons in MariaDB (see store_coupon.h). */
#include "store_coupon.h"

#include <errno.h>
#include <string.h>

#include "common/util.h"

#define COUPON_COLS                                                                                \
    "id, code, kind, value, min_order_amount, valid_from_ms, valid_until_ms, total_limit, "        \
    "per_user_limit, used_count"

static const char *kind_name(enum coupon_kind kind)
{
    return kind == COUPON_PERCENT ? "PERCENT" : "FIXED";
}

/* A nullable column: 0 stands for NULL ("none"). */
static struct db_param or_null(long long v)
{
    return v ? DB_INT(v) : DB_NULLP;
}

/* Row 0 of a COUPON_COLS result into @c. */
static void coupon_row(const struct db_result *res, struct coupon *c)
{
    const char *kind = db_result_get(res, 0, 2);

    memset(c, 0, sizeof(*c));
    c->id = db_result_int(res, 0, 0);
    util_strlcpy(c->code, db_result_get(res, 0, 1) ? db_result_get(res, 0, 1) : "",
                 sizeof(c->code));
    c->kind = kind && strcmp(kind, "PERCENT") == 0 ? COUPON_PERCENT : COUPON_FIXED;
    c->value = db_result_int(res, 0, 3);
    c->min_order = db_result_int(res, 0, 4);
    c->valid_from_ms = db_result_int(res, 0, 5);
    c->valid_until_ms = db_result_int(res, 0, 6);
    c->total_limit = db_result_int(res, 0, 7);
    c->per_user_limit = db_result_int(res, 0, 8);
    c->used = db_result_int(res, 0, 9);
}

static int select_one(struct db_conn *conn, const char *sql, const char *code, struct coupon *ret)
{
    struct db_param p[] = {DB_STR(code)};
    struct db_result *res = NULL;
    int rc = db_query_one(conn, sql, p, 1, &res);

    if (rc < 0)
        return rc;
    coupon_row(res, ret);
    db_result_free(res);
    return 0;
}

int store_coupon_insert(struct db_conn *conn, const struct coupon *c, const char *admin,
                        long long *ret_id)
{
    struct db_param p[] = {
        DB_STR(c->code),         DB_STR(kind_name(c->kind)), DB_INT(c->value),
        DB_INT(c->min_order),    or_null(c->valid_from_ms),  or_null(c->valid_until_ms),
        or_null(c->total_limit), or_null(c->per_user_limit), DB_STR(admin)};
    unsigned long long id = 0;
    int rc = db_exec(conn,
                     "INSERT INTO coupon (code, kind, value, min_order_amount, valid_from_ms, "
                     "valid_until_ms, total_limit, per_user_limit, created_by) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     p, 9, NULL, &id);

    if (rc == 0)
        *ret_id = (long long)id;
    return rc;
}

int store_coupon_get(struct db_conn *conn, const char *code, struct coupon *ret)
{
    return select_one(conn, "SELECT " COUPON_COLS " FROM coupon WHERE code = ?", code, ret);
}

int store_coupon_lock(struct db_conn *conn, const char *code, struct coupon *ret)
{
    return select_one(conn, "SELECT " COUPON_COLS " FROM coupon WHERE code = ? FOR UPDATE", code,
                      ret);
}

int store_coupon_user_uses(struct db_conn *conn, long long coupon_id, const char *user,
                           long long *ret)
{
    struct db_param p[] = {DB_INT(coupon_id), DB_STR(user)};
    struct db_result *res = NULL;
    int rc = db_query(conn,
                      "SELECT COUNT(*) FROM coupon_use WHERE coupon_id = ? AND user_id = ? "
                      "AND returned_at IS NULL LOCK IN SHARE MODE",
                      p, 2, &res);

    if (rc < 0)
        return rc;
    *ret = db_result_int(res, 0, 0);
    db_result_free(res);
    return 0;
}

int store_coupon_take(struct db_conn *conn, const struct coupon *c, const char *order_id,
                      const char *user, long long discount)
{
    struct db_param use[] = {DB_STR(order_id), DB_INT(c->id), DB_STR(user), DB_INT(discount)};
    struct db_param count[] = {DB_INT(c->id)};
    struct db_param order[] = {DB_INT(c->id), DB_STR(c->code), DB_STR(order_id)};
    int rc = db_exec(conn,
                     "INSERT INTO coupon_use (order_id, coupon_id, user_id, discount_amount) "
                     "VALUES (?, ?, ?, ?)",
                     use, 4, NULL, NULL);

    if (rc == 0)
        rc = db_exec(conn, "UPDATE coupon SET used_count = used_count + 1 WHERE id = ?", count, 1,
                     NULL, NULL);
    if (rc == 0)
        rc = db_exec(conn, "UPDATE orders SET coupon_id = ?, coupon_code = ? WHERE id = ?", order,
                     3, NULL, NULL);
    return rc;
}

int store_coupon_give_back(struct db_conn *conn, long long coupon_id, const char *order_id,
                           bool *ret_returned)
{
    struct db_param id[] = {DB_INT(coupon_id)};
    struct db_param use[] = {DB_STR(order_id), DB_INT(coupon_id)};
    struct db_result *res = NULL;
    unsigned long long affected = 0;
    int rc;

    if (ret_returned)
        *ret_returned = false;
    rc = db_query(conn, "SELECT id FROM coupon WHERE id = ? FOR UPDATE", id, 1, &res);
    db_result_free(res);
    if (rc == 0)
        rc = db_exec(conn,
                     "UPDATE coupon_use SET returned_at = NOW(6) "
                     "WHERE order_id = ? AND coupon_id = ? AND returned_at IS NULL",
                     use, 2, &affected, NULL);
    if (rc == 0 && affected == 1)
        rc = db_exec(conn,
                     "UPDATE coupon SET used_count = used_count - 1 "
                     "WHERE id = ? AND used_count > 0",
                     id, 1, NULL, NULL);
    if (rc == 0 && ret_returned)
        *ret_returned = affected == 1;
    return rc;
}
