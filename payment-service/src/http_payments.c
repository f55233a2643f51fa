/*
 * http_payments.c - /api/payments: confirm (the gateway simulator decides) and read.
 *
 * Confirm runs in three steps so the gateway is never called inside a DB transaction and no
 * payment is captured twice:
 *   1. under the payment's row lock: checks (READY, amount, no other confirm in progress) and
 *      a confirm token written to the row; commit;
 *   2. the simulated gateway call, with no lock held;
 *   3. under the row lock again: only if the row still holds our token and is READY, the
 *      outcome (status, transaction, payment.completed / payment.failed, the stored answer for
 *      the Idempotency-Key) is written; commit.
 * A concurrent confirm sees the token and gets 409; an order.cancelled in between clears the
 * token, so step 3 captures nothing. A token older than the gateway timeout + 10 s is treated
 * as abandoned (the process died between steps).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "payment.h"
#include "store_payment.h"

#define CT_PROBLEM "application/problem+json"
#define STALE_CONFIRM_EXTRA_MS 10000
#define TX_ATTEMPTS 3

static void reply_store_error(struct http_resp *resp, int rc, const char *what)
{
    if (db_transient(rc)) {
        http_reply_problem(resp, 503, "PAYMENT-503-001", NULL,
                           "database unavailable, try again later");
        log_warnx("failed to %s: database unavailable (%d)", what, rc);
    } else {
        http_reply_problem(resp, 500, "PAYMENT-500-001", NULL, "internal error");
        log_errorx("failed to %s: %d", what, rc);
    }
}

static struct db_conn *acquire(struct pay_app *app, struct http_resp *resp)
{
    char err[256];
    struct db_conn *conn = db_acquire(app->pool, err, sizeof(err));

    if (!conn) {
        http_reply_problem(resp, 503, "PAYMENT-503-001", NULL,
                           "database unavailable, try again later");
        log_warnx("no database connection: %s", err);
    }
    return conn;
}

static void reply_not_found(struct http_resp *resp, const char *order_id)
{
    http_reply_problem(resp, 404, "PAYMENT-404-001", NULL, "no payment for order '%s'", order_id);
}

/* A problem with an extra "reason" member (402 / 504 carry the gateway's reason). */
static void reply_problem_reason(struct http_resp *resp, int status, const char *code,
                                 const char *reason, const char *detail)
{
    cJSON *json;

    http_reply_problem(resp, status, code, NULL, "%s", detail);
    json = resp->body ? cJSON_Parse(resp->body) : NULL;
    if (!json)
        return;
    cJSON_AddStringToObject(json, "reason", reason);
    http_reply_json(resp, status, json);
    resp->content_type = CT_PROBLEM;
}

/* The payment with its transactions. Caller owns *@ret. */
static int payment_json(struct db_conn *conn, const struct pay_row *row, cJSON **ret)
{
    struct db_result *txs = NULL;
    cJSON *j, *arr;
    int rc = store_tx_list(conn, row->id, &txs);

    if (rc < 0)
        return rc;
    j = cJSON_CreateObject();
    if (!j) {
        db_result_free(txs);
        return -ENOMEM;
    }
    cJSON_AddStringToObject(j, "paymentId", row->id);
    cJSON_AddStringToObject(j, "orderId", row->order_id);
    cJSON_AddStringToObject(j, "userId", row->user_id);
    cJSON_AddNumberToObject(j, "amount", (double)row->p.amount);
    cJSON_AddNumberToObject(j, "refundedAmount", (double)row->p.refunded);
    cJSON_AddNumberToObject(j, "remainingAmount", (double)payment_remaining(&row->p));
    cJSON_AddStringToObject(j, "status", payment_status_name(row->p.status));
    cJSON_AddStringToObject(j, "currency", "KRW");
    if (row->payment_key[0])
        cJSON_AddStringToObject(j, "paymentKey", row->payment_key);
    else
        cJSON_AddNullToObject(j, "paymentKey");
    if (row->fail_reason[0])
        cJSON_AddStringToObject(j, "failReason", row->fail_reason);
    else
        cJSON_AddNullToObject(j, "failReason");
    if (row->approved_at[0])
        cJSON_AddStringToObject(j, "approvedAt", row->approved_at);
    else
        cJSON_AddNullToObject(j, "approvedAt");
    cJSON_AddStringToObject(j, "createdAt", row->created_at);
    cJSON_AddStringToObject(j, "updatedAt", row->updated_at);
    arr = cJSON_AddArrayToObject(j, "transactions");
    for (size_t i = 0; arr && i < db_result_rows(txs); i++) {
        cJSON *t = cJSON_CreateObject();
        const char *pg = db_result_get(txs, i, TX_PG_ID),
                   *reason = db_result_get(txs, i, TX_REASON);

        if (!t)
            break;
        cJSON_AddItemToArray(arr, t);
        cJSON_AddStringToObject(t, "transactionId", db_result_get(txs, i, TX_ID));
        cJSON_AddStringToObject(t, "type", db_result_get(txs, i, TX_TYPE));
        cJSON_AddStringToObject(t, "status", db_result_get(txs, i, TX_STATUS));
        if (pg)
            cJSON_AddStringToObject(t, "pgTransactionId", pg);
        else
            cJSON_AddNullToObject(t, "pgTransactionId");
        cJSON_AddNumberToObject(t, "amount", (double)db_result_int(txs, i, TX_AMOUNT));
        if (reason)
            cJSON_AddStringToObject(t, "reason", reason);
        else
            cJSON_AddNullToObject(t, "reason");
        cJSON_AddStringToObject(t, "createdAt", db_result_get(txs, i, TX_CREATED));
    }
    db_result_free(txs);
    *ret = j;
    return 0;
}

/* Replays a stored answer {"status": n, "body": {…}}. 0, or -EINVAL when unreadable. */
static int reply_stored(struct http_resp *resp, const char *stored)
{
    cJSON *j = cJSON_Parse(stored), *body;
    const cJSON *status;
    int code;

    if (!j)
        return -EINVAL;
    status = cJSON_GetObjectItem(j, "status");
    body = cJSON_DetachItemFromObject(j, "body");
    if (!cJSON_IsNumber(status) || !body) {
        cJSON_Delete(body);
        cJSON_Delete(j);
        return -EINVAL;
    }
    code = status->valueint;
    cJSON_Delete(j);
    http_reply_json(resp, code, body);
    if (code >= 400)
        resp->content_type = CT_PROBLEM;
    return 0;
}

/* The answer to store: {"status": @status, "body": <@body_text>}. Caller frees. */
static char *stored_answer(int status, const char *body_text)
{
    cJSON *j = cJSON_CreateObject(), *body = cJSON_Parse(body_text ? body_text : "{}");
    char *txt = NULL, *copy = NULL;

    if (j && body && cJSON_AddNumberToObject(j, "status", status)) {
        cJSON_AddItemToObject(j, "body", body);
        body = NULL;
        txt = cJSON_PrintUnformatted(j);
    }
    cJSON_Delete(body);
    cJSON_Delete(j);
    if (txt) {
        copy = strdup(txt);
        cJSON_free(txt);
    }
    return copy;
}

struct confirm {
    const char *order_id;
    const char *payment_key;
    const char *idem_key; /* NULL when none */
    long long amount;
    char token[UTIL_UUID_LEN];
    struct payment_gateway_decision gw;
    long long decided_ms; /* epoch ms of the gateway's answer */
};

enum step1 { STEP1_GO, STEP1_NOT_READY, STEP1_BUSY, STEP1_MISMATCH, STEP1_GONE };

/* Step 1: lock, check, mark in progress. */
static int confirm_begin(struct pay_app *app, struct db_conn *conn, struct confirm *c,
                         struct pay_row *row, enum step1 *ret)
{
    long long stale_ms = app->cfg->gateway_timeout_ms + STALE_CONFIRM_EXTRA_MS;
    enum payment_outcome out;
    int rc = db_begin(conn);

    if (rc == 0)
        rc = store_payment_get(conn, c->order_id, 1, row);
    if (rc == -ENOENT) {
        *ret = STEP1_GONE;
        rc = 0;
        goto rollback;
    }
    if (rc < 0)
        goto rollback;
    out = payment_check_confirm(&row->p, c->amount);
    if (out != PAYMENT_OK) {
        *ret = out == PAYMENT_AMOUNT_MISMATCH ? STEP1_MISMATCH : STEP1_NOT_READY;
        goto rollback;
    }
    if (row->confirm_token[0] && row->confirm_age_ms < stale_ms) {
        *ret = STEP1_BUSY;
        goto rollback;
    }
    util_uuid(c->token);
    rc = store_payment_confirm_start(conn, row->id, c->token, c->payment_key);
    if (rc == 0)
        rc = db_commit(conn);
    if (rc < 0)
        goto rollback;
    *ret = STEP1_GO;
    return 0;
rollback:
    db_rollback(conn);
    return rc;
}

/*
 * Step 3: records the gateway's answer if the payment is still ours. On success fills @resp
 * (200 payment, 402 or 504 problem); *@ret_stale set when the token is gone (409).
 */
static int confirm_finish(struct db_conn *conn, const struct http_req *req, struct confirm *c,
                          struct http_resp *resp, int *ret_stale)
{
    int approved = c->gw.result == PAYMENT_GATEWAY_APPROVED;
    char tx_id[UTIL_UUID_LEN], when[40];
    struct pay_row row;
    cJSON *data = NULL, *json = NULL;
    char *stored = NULL;
    int rc = db_begin(conn);

    *ret_stale = 0;
    if (rc == 0)
        rc = store_payment_get(conn, c->order_id, 1, &row);
    if (rc < 0)
        goto rollback;
    if (strcmp(row.confirm_token, c->token) != 0 ||
        payment_complete(&row.p, approved) != PAYMENT_OK) {
        *ret_stale = 1;
        goto rollback;
    }
    row.confirm_token[0] = '\0';
    if (approved) {
        row.approved_ms = c->decided_ms;
        row.fail_reason[0] = '\0';
    } else {
        util_strlcpy(row.fail_reason, c->gw.reason, sizeof(row.fail_reason));
    }
    rc = store_payment_save(conn, &row);
    if (rc == 0)
        rc = store_tx_insert(conn, row.id, "APPROVAL", approved ? "SUCCESS" : "FAILED",
                             approved ? c->gw.pg_tx_id : NULL, row.p.amount,
                             approved ? NULL : c->gw.reason, tx_id);
    if (rc < 0)
        goto rollback;
    data = cJSON_CreateObject();
    if (data) {
        cJSON_AddStringToObject(data, "orderId", row.order_id);
        cJSON_AddStringToObject(data, "paymentId", row.id);
        if (approved) {
            cJSON_AddStringToObject(data, "transactionId", c->gw.pg_tx_id);
            cJSON_AddNumberToObject(data, "paidAmount", (double)row.p.amount);
            cJSON_AddStringToObject(data, "currency", "KRW");
            cJSON_AddNumberToObject(data, "approvedAt", (double)c->decided_ms);
            if (event_type_version(EVENT_PAYMENT_COMPLETED) >= 2) {
                util_rfc3339(c->decided_ms, when, sizeof(when));
                cJSON_AddStringToObject(data, "approvedAtTime", when);
            }
        } else {
            cJSON_AddStringToObject(data, "reason", c->gw.reason);
            cJSON_AddNumberToObject(data, "failedAt", (double)c->decided_ms);
        }
    }
    rc = store_emit(conn, approved ? EVENT_PAYMENT_COMPLETED : EVENT_PAYMENT_FAILED, row.order_id,
                    &req->ctx, row.correlation_id, data);
    if (rc < 0)
        goto rollback;
    if (approved) {
        /* read back inside the transaction: status, approvedAt and the new transaction */
        rc = store_payment_get(conn, c->order_id, 0, &row);
        if (rc == 0)
            rc = payment_json(conn, &row, &json);
        if (rc < 0)
            goto rollback;
        http_reply_json(resp, 200, json);
    } else if (c->gw.result == PAYMENT_GATEWAY_TIMEOUT) {
        reply_problem_reason(resp, 504, "PAYMENT-504-001", c->gw.reason,
                             "the payment gateway did not answer in time; the payment failed");
    } else {
        reply_problem_reason(resp, 402, "PAYMENT-402-001", c->gw.reason,
                             "the payment was declined");
    }
    if (c->idem_key) {
        stored = stored_answer(resp->status, resp->body);
        rc = stored ? store_idem_put(conn, c->order_id, "CONFIRM", c->idem_key, stored) : -ENOMEM;
        free(stored);
        if (rc < 0)
            goto rollback;
    }
    rc = db_commit(conn);
    if (rc < 0)
        goto rollback;
    return 0;
rollback:
    db_rollback(conn);
    return rc;
}

static void count_outcome(const struct confirm *c, long long amount)
{
    const char *v[1];

    switch (c->gw.result) {
    case PAYMENT_GATEWAY_APPROVED:
        v[0] = "approved";
        metrics_inc("commerce_payment_captured_amount_total", NULL, (double)amount);
        break;
    case PAYMENT_GATEWAY_DECLINED:
        v[0] = "declined";
        break;
    default:
        v[0] = "timeout";
        break;
    }
    metrics_inc("commerce_payments_total", v, 1);
}

/* Counts a wait's end (@result: found, timeout, error) and gives its place back. */
static void confirm_wait_end(struct pay_app *app, const char *result)
{
    pay_wait_leave(&app->wait);
    metrics_inc("commerce_payment_confirm_waits_total", (const char *const[]){result}, 1);
}

/*
 * Finds the caller's payment of @order_id, waiting for it when it is not there yet (it is made
 * when order.placed arrives, which may be after the client's confirm): the request is parked
 * (http_park(), no HTTP thread and no database connection held) at most
 * PAYMENT_CONFIRM_WAIT_MS, and the handler runs again when this instance's consumer makes a
 * payment and every PAY_WAIT_RECHECK_MS (another instance may make it). Another user's payment
 * waits the same and gets the same 404 as none at all, so confirm is no oracle for which
 * orders exist, not even by its timing. A client gone while parked confirms nothing. 0 with *@conn
 * and @row set; 1 when parked (answer nothing); -1 with @resp answered (404 - at once when
 * PAYMENT_CONFIRM_MAX_WAITERS wait already - or a store error); *@conn is then NULL or the caller's
 * to release.
 */
static int confirm_find(struct pay_app *app, struct http_req *req, struct http_resp *resp,
                        const char *order_id, struct db_conn **conn, struct pay_row *row)
{
    bool waiting = req->wake != HTTP_WAKE_NONE; /* parked before: holds a waiter's place */
    int rc;

    if (req->wake == HTTP_WAKE_GONE) { /* nobody to answer: confirm nothing */
        reply_not_found(resp, order_id);
        confirm_wait_end(app, "gone");
        return -1;
    }
    if (!(*conn = acquire(app, resp))) {
        if (waiting)
            confirm_wait_end(app, "error");
        return -1;
    }
    rc = store_payment_get(*conn, order_id, 0, row);
    if (rc == 0 && strcmp(row->user_id, req->principal->sub) == 0) {
        if (waiting)
            confirm_wait_end(app, "found");
        return 0;
    }
    if (rc < 0 && rc != -ENOENT) {
        reply_store_error(resp, rc, "read payment");
        if (waiting)
            confirm_wait_end(app, "error");
        return -1;
    }
    if (!waiting) {
        if (app->cfg->confirm_wait_ms == 0 || !app->wait_ok) {
            reply_not_found(resp, order_id);
            return -1;
        }
        if (!pay_wait_enter(&app->wait)) {
            /* as many wait as may: today's answer at once, which clients retry */
            reply_not_found(resp, order_id);
            metrics_inc("commerce_payment_confirm_waits_total", (const char *const[]){"refused"},
                        1);
            return -1;
        }
    }
    rc = http_park(req, app->wait.bell, app->cfg->confirm_wait_ms, PAY_WAIT_RECHECK_MS);
    if (rc == 0) {
        if (!waiting)
            log_info("confirm of order '%s' waits for its payment", order_id);
        db_release(app->pool, *conn);
        *conn = NULL;
        return 1;
    }
    /* the deadline, the server stopping or full, or the client gone: not there (yet) */
    reply_not_found(resp, order_id);
    confirm_wait_end(app, rc == -EBUSY && !waiting ? "refused" : "timeout");
    return -1;
}

void http_payment_confirm(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct pay_app *app = arg;
    cJSON *body = http_json_body(req, resp), *errors = NULL;
    struct confirm c = {0};
    struct db_conn *conn = NULL;
    struct pay_row row;
    enum step1 step1 = STEP1_GONE;
    char *stored = NULL;
    int rc, stale = 0;

    if (!body)
        return;
    jsonx_str(body, "orderId", "orderId", true, PAY_ID_MAX, &c.order_id, &errors);
    jsonx_int(body, "amount", "amount", true, 0, PAYMENT_MAX_AMOUNT, &c.amount, &errors);
    jsonx_str(body, "paymentKey", "paymentKey", true, PAYMENT_MAX_KEY, &c.payment_key, &errors);
    c.idem_key = http_header(req, "Idempotency-Key");
    if (c.idem_key && (!*c.idem_key || strlen(c.idem_key) > PAY_IDEM_KEY_MAX))
        jsonx_field_error(&errors, "Idempotency-Key", "must be 1..128 characters");
    if (errors) {
        http_reply_problem(resp, 400, "PAYMENT-400-001", errors, "invalid confirmation");
        goto out;
    }
    if (confirm_find(app, req, resp, c.order_id, &conn, &row) != 0)
        goto out; /* answered, or parked: runs again later */
    if (c.idem_key) {
        rc = store_idem_get(conn, c.order_id, "CONFIRM", c.idem_key, &stored);
        if (rc == 0 && reply_stored(resp, stored) == 0) {
            log_info("confirm of order '%s' replayed for idempotency key '%s'", c.order_id,
                     c.idem_key);
            goto out;
        }
        if (rc < 0 && rc != -ENOENT) {
            reply_store_error(resp, rc, "read idempotency key");
            goto out;
        }
    }
    for (int attempt = 0; attempt < TX_ATTEMPTS; attempt++) {
        rc = confirm_begin(app, conn, &c, &row, &step1);
        if (rc != -EDEADLK)
            break;
    }
    if (rc < 0) {
        reply_store_error(resp, rc, "start confirmation");
        goto out;
    }
    switch (step1) {
    case STEP1_GO:
        break;
    case STEP1_MISMATCH:
        http_reply_problem(resp, 422, "PAYMENT-422-001", NULL,
                           "amount %lld does not match the payment amount %lld", c.amount,
                           row.p.amount);
        goto out;
    case STEP1_BUSY:
        http_reply_problem(resp, 409, "PAYMENT-409-002", NULL,
                           "a confirmation of this payment is already in progress");
        goto out;
    case STEP1_NOT_READY:
        http_reply_problem(resp, 409, "PAYMENT-409-002", NULL, "the payment is %s, not READY",
                           payment_status_name(row.p.status));
        goto out;
    case STEP1_GONE:
        reply_not_found(resp, c.order_id);
        goto out;
    }
    /* step 2: the gateway, no lock and no transaction held (the connection stays ours) */
    payment_gateway_decide(c.payment_key, app->cfg->gateway_timeout_ms, &c.gw);
    if (c.gw.delay_ms > 0)
        util_sleep_ms(c.gw.delay_ms);
    c.decided_ms = util_now_ms();
    for (int attempt = 0; attempt < TX_ATTEMPTS; attempt++) {
        rc = confirm_finish(conn, req, &c, resp, &stale);
        if (rc != -EDEADLK)
            break;
    }
    if (rc < 0) {
        reply_store_error(resp, rc, "record the gateway's answer");
        goto out;
    }
    if (stale) {
        log_warnx("confirm of order '%s': the payment changed while the gateway answered; "
                  "nothing captured",
                  c.order_id);
        http_reply_problem(resp, 409, "PAYMENT-409-002", NULL,
                           "the payment changed while the gateway answered; nothing was charged");
        goto out;
    }
    count_outcome(&c, row.p.amount);
    log_info("confirm of order '%s': %s%s%s", c.order_id,
             c.gw.result == PAYMENT_GATEWAY_APPROVED ? "approved" : "failed",
             c.gw.reason[0] ? " " : "", c.gw.reason);
out:
    free(stored);
    if (conn)
        db_release(app->pool, conn);
    cJSON_Delete(body);
}

void http_payment_get(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct pay_app *app = arg;
    const char *order_id = http_param(req, "orderId");
    struct db_conn *conn;
    struct pay_row row;
    cJSON *json = NULL;
    int rc;

    if (!order_id || strlen(order_id) > PAY_ID_MAX) {
        reply_not_found(resp, "?");
        return;
    }
    conn = acquire(app, resp);
    if (!conn)
        return;
    rc = store_payment_get(conn, order_id, 0, &row);
    if (rc == -ENOENT || (rc == 0 && strcmp(row.user_id, req->principal->sub) != 0 &&
                          !(req->principal->roles & JWT_ROLE_ADMIN))) {
        reply_not_found(resp, order_id);
        goto out;
    }
    if (rc == 0)
        rc = payment_json(conn, &row, &json);
    if (rc < 0) {
        reply_store_error(resp, rc, "read payment");
        goto out;
    }
    http_reply_json(resp, 200, json);
out:
    db_release(app->pool, conn);
}
