/* store_payment.c - payment-service's MariaDB adapter (see store_payment.h). */
#include "store_payment.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "common/event.h"
#include "common/outbox.h"
#include "common/util.h"

#define RFC3339(col) "DATE_FORMAT(" col ", '%Y-%m-%dT%H:%i:%s.%fZ')"

#define PAYMENT_COLS                                                                               \
    "id, order_id, user_id, amount, refunded_amount, status, payment_key, fail_reason, "           \
    "correlation_id, confirm_token, "                                                              \
    "IFNULL(TIMESTAMPDIFF(MICROSECOND, confirm_started_at, NOW(6)) DIV 1000, 0), "                 \
    "IFNULL(ROUND(UNIX_TIMESTAMP(approved_at) * 1000), 0), " RFC3339("approved_at") ", " RFC3339(  \
        "created_at") ", " RFC3339("updated_at")

enum {
    P_ID,
    P_ORDER,
    P_USER,
    P_AMOUNT,
    P_REFUNDED,
    P_STATUS,
    P_KEY,
    P_REASON,
    P_CORR,
    P_TOKEN,
    P_TOKEN_AGE,
    P_APPROVED_MS,
    P_APPROVED,
    P_CREATED,
    P_UPDATED
};

static void copy_cell(const struct db_result *res, size_t col, char *out, size_t outlen)
{
    const char *s = db_result_get(res, 0, col);

    util_strlcpy(out, s ? s : "", outlen);
}

int store_payment_get(struct db_conn *conn, const char *order_id, int for_update,
                      struct pay_row *ret)
{
    struct db_param prm[] = {DB_STR(order_id)};
    struct db_result *res = NULL;
    int rc;

    rc = db_query_one(conn,
                      for_update ? "SELECT " PAYMENT_COLS
                                   " FROM payment WHERE order_id = ? FOR UPDATE"
                                 : "SELECT " PAYMENT_COLS " FROM payment WHERE order_id = ?",
                      prm, 1, &res);
    if (rc < 0)
        return rc;
    memset(ret, 0, sizeof(*ret));
    copy_cell(res, P_ID, ret->id, sizeof(ret->id));
    copy_cell(res, P_ORDER, ret->order_id, sizeof(ret->order_id));
    copy_cell(res, P_USER, ret->user_id, sizeof(ret->user_id));
    ret->p.amount = db_result_int(res, 0, P_AMOUNT);
    ret->p.refunded = db_result_int(res, 0, P_REFUNDED);
    if (payment_status_parse(db_result_get(res, 0, P_STATUS), &ret->p.status) < 0)
        rc = -EINVAL; /* a status this code does not know: refuse to act on it */
    copy_cell(res, P_KEY, ret->payment_key, sizeof(ret->payment_key));
    copy_cell(res, P_REASON, ret->fail_reason, sizeof(ret->fail_reason));
    copy_cell(res, P_CORR, ret->correlation_id, sizeof(ret->correlation_id));
    copy_cell(res, P_TOKEN, ret->confirm_token, sizeof(ret->confirm_token));
    ret->confirm_age_ms = db_result_int(res, 0, P_TOKEN_AGE);
    ret->approved_ms = db_result_int(res, 0, P_APPROVED_MS);
    copy_cell(res, P_APPROVED, ret->approved_at, sizeof(ret->approved_at));
    copy_cell(res, P_CREATED, ret->created_at, sizeof(ret->created_at));
    copy_cell(res, P_UPDATED, ret->updated_at, sizeof(ret->updated_at));
    db_result_free(res);
    return rc;
}

static struct db_param str_or_null(const char *s)
{
    return s && *s ? DB_STR(s) : DB_NULLP;
}

int store_payment_insert(struct db_conn *conn, const struct pay_row *row)
{
    struct db_param prm[] = {DB_STR(row->id),
                             DB_STR(row->order_id),
                             DB_STR(row->user_id),
                             DB_INT(row->p.amount),
                             DB_STR(payment_status_name(row->p.status)),
                             str_or_null(row->correlation_id)};

    return db_exec(conn,
                   "INSERT INTO payment (id, order_id, user_id, amount, status, correlation_id) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   prm, 6, NULL, NULL);
}

int store_payment_save(struct db_conn *conn, const struct pay_row *row)
{
    struct db_param prm[] = {DB_STR(payment_status_name(row->p.status)),
                             DB_INT(row->p.refunded),
                             str_or_null(row->fail_reason),
                             DB_INT(row->approved_ms),
                             DB_INT(row->approved_ms),
                             str_or_null(row->confirm_token),
                             str_or_null(row->confirm_token),
                             DB_STR(row->id)};

    return db_exec(
        conn,
        "UPDATE payment SET status = ?, refunded_amount = ?, fail_reason = ?, "
        "approved_at = IF(? > 0, FROM_UNIXTIME(? / 1000), NULL), "
        "confirm_token = ?, confirm_started_at = IF(? IS NULL, NULL, confirm_started_at), "
        "updated_at = NOW(6) WHERE id = ?",
        prm, 8, NULL, NULL);
}

int store_payment_confirm_start(struct db_conn *conn, const char *payment_id, const char *token,
                                const char *payment_key)
{
    struct db_param prm[] = {DB_STR(token), DB_STR(payment_key), DB_STR(payment_id)};

    return db_exec(conn,
                   "UPDATE payment SET confirm_token = ?, confirm_started_at = NOW(6), "
                   "payment_key = ?, updated_at = NOW(6) WHERE id = ?",
                   prm, 3, NULL, NULL);
}

int store_tx_insert(struct db_conn *conn, const char *payment_id, const char *type,
                    const char *status, const char *pg_id, long long amount, const char *reason,
                    char *ret_id)
{
    char id[UTIL_UUID_LEN];
    int rc;

    util_uuid(id);
    {
        struct db_param prm[] = {DB_STR(id),         DB_STR(payment_id), DB_STR(type),
                                 DB_STR(status),     str_or_null(pg_id), DB_INT(amount),
                                 str_or_null(reason)};
        rc = db_exec(conn,
                     "INSERT INTO payment_transaction (id, payment_id, type, status, "
                     "pg_transaction_id, amount, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     prm, 7, NULL, NULL);
    }
    if (rc == 0)
        memcpy(ret_id, id, UTIL_UUID_LEN);
    return rc;
}

int store_tx_list(struct db_conn *conn, const char *payment_id, struct db_result **ret)
{
    struct db_param prm[] = {DB_STR(payment_id)};

    /* created_at ties within one transaction: APPROVAL before CANCEL, then by id */
    return db_query(conn,
                    "SELECT id, type, status, pg_transaction_id, amount, reason, " RFC3339(
                        "created_at") " FROM payment_transaction WHERE payment_id = ? "
                                      "ORDER BY created_at, type = 'CANCEL', id",
                    prm, 1, ret);
}

int store_idem_get(struct db_conn *conn, const char *order_id, const char *action, const char *key,
                   char **ret_response)
{
    struct db_param prm[] = {DB_STR(order_id), DB_STR(action), DB_STR(key)};
    struct db_result *res = NULL;
    char *copy;
    int rc;

    rc = db_query(conn,
                  "SELECT response FROM payment_idempotency "
                  "WHERE order_id = ? AND action = ? AND idempotency_key = ?",
                  prm, 3, &res);
    if (rc < 0)
        return rc;
    if (db_result_rows(res) == 0 || !db_result_get(res, 0, 0)) {
        db_result_free(res);
        return -ENOENT;
    }
    copy = strdup(db_result_get(res, 0, 0));
    db_result_free(res);
    if (!copy)
        return -ENOMEM;
    *ret_response = copy;
    return 0;
}

int store_idem_put(struct db_conn *conn, const char *order_id, const char *action, const char *key,
                   const char *response)
{
    struct db_param prm[] = {DB_STR(order_id), DB_STR(action), DB_STR(key), DB_STR(response)};

    return db_exec(conn,
                   "INSERT INTO payment_idempotency (order_id, action, idempotency_key, response) "
                   "VALUES (?, ?, ?, ?)",
                   prm, 4, NULL, NULL);
}

int store_emit(struct db_conn *conn, enum event_type type, const char *order_id,
               const struct msgctx *ctx, const char *correlation_id, cJSON *data)
{
    struct msgctx child;
    struct event ev = {0};
    int rc;

    if (!data)
        return -ENOMEM;
    msgctx_child(ctx, &child);
    if (correlation_id && *correlation_id)
        msgctx_set_correlation(&child, correlation_id);
    rc = event_init(&ev, event_type_name(type), event_type_version(type), PAYMENT_SOURCE, order_id,
                    &child, data);
    if (rc == 0)
        rc = outbox_append(conn, "payment", order_id, &ev);
    event_release(&ev);
    return rc;
}
