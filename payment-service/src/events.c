/*
 * events.c - the consumer's handler: order.placed creates the READY payment, order.cancelled
 * cancels or refunds it in full, order.refunded refunds part of it. Each event is one DB
 * transaction: inbox record, payment row locked, change, outbox event, commit. Invalid
 * payload → KAFKA_FAIL (dead-letter topic); database unavailable → KAFKA_UNAVAILABLE (waited
 * out), deadlock → KAFKA_RETRY.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "common/event.h"
#include "common/inbox.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/svc.h"
#include "common/metrics.h"
#include "common/util.h"
#include "store_payment.h"

#define TX_ATTEMPTS 3 /* a deadlock rolls back the whole transaction: run it again */

void pay_metrics_register(void)
{
    metrics_counter("commerce_payments_total",
                    "payment outcomes (created, approved, declined, timeout, canceled, refunded)",
                    "result");
    metrics_counter("commerce_payment_captured_amount_total", "KRW captured by approvals", "");
    metrics_counter("commerce_payment_refunded_amount_total", "KRW refunded", "");
    metrics_counter("commerce_payment_confirm_waits_total",
                    "confirms that waited for their payment: found, timeout (404), error, gone "
                    "(the client went away), refused (404 at once: too many waiting)",
                    "result");
}

/* What an order event carries, read tolerantly. */
struct order_input {
    char order_id[PAY_ID_MAX + 1];
    char user_id[PAY_ID_MAX + 1];
    long long amount;                     /* payableAmount (placed) or amount (refunded) */
    char reason[PAY_REASON_MAX + 1];      /* cancel reason, "" if none */
    char refund_id[PAY_IDEM_KEY_MAX + 1]; /* refundId, "" if none */
};

/* An id field: a string (1..PAY_ID_MAX characters) or, tolerantly, a positive integer. */
static void read_id(const cJSON *data, const char *key, bool required, char *out, size_t outlen,
                    cJSON **errors)
{
    const cJSON *j = cJSON_GetObjectItem(data, key);
    const char *s = NULL;
    long long id;

    if (cJSON_IsNumber(j)) {
        if (jsonx_int(data, key, key, required, 1, INT64_MAX, &id, errors) == 0)
            snprintf(out, outlen, "%lld", id);
        return;
    }
    if (jsonx_str(data, key, key, required, PAY_ID_MAX, &s, errors) == 0)
        snprintf(out, outlen, "%s", s);
}

static int read_input(const struct event *ev, enum event_type type, struct order_input *in,
                      char *errbuf, size_t errlen)
{
    cJSON *errors = NULL;
    const char *s = NULL;

    memset(in, 0, sizeof(*in));
    read_id(ev->data, "orderId", true, in->order_id, sizeof(in->order_id), &errors);
    if (type == EVENT_ORDER_PLACED) {
        read_id(ev->data, "userId", true, in->user_id, sizeof(in->user_id), &errors);
        jsonx_int(ev->data, "payableAmount", "payableAmount", true, 0, PAYMENT_MAX_AMOUNT,
                  &in->amount, &errors);
    } else if (type == EVENT_ORDER_CANCELLED) {
        if (jsonx_str(ev->data, "reason", "reason", false, PAY_REASON_MAX, &s, &errors) == 0)
            util_strlcpy(in->reason, s, sizeof(in->reason));
    } else {
        jsonx_int(ev->data, "amount", "amount", true, 1, PAYMENT_MAX_AMOUNT, &in->amount, &errors);
        read_id(ev->data, "refundId", false, in->refund_id, sizeof(in->refund_id), &errors);
    }
    if (errors) {
        jsonx_errors_text(errors, errbuf, errlen);
        cJSON_Delete(errors);
        return -EINVAL;
    }
    return 0;
}

/* What one handled event changed. */
struct applied {
    int dup;          /* seen before, or the order has its payment: nothing done */
    int created;      /* order.placed made a payment */
    int canceled;     /* a READY payment was cancelled (nothing to refund) */
    long long refund; /* refunded by this event */
};

/* The context new events are children of. */
static void event_ctx(const struct event *ev, struct msgctx *ret)
{
    msgctx_init_event(ret, ev->id, ev->correlationid, ev->causationid, ev->traceparent);
}

/*
 * order.placed: a READY payment and payment.created. An order that has a payment already (an
 * order.placed of another event id, or a concurrent creation) fails the insert on the payment's
 * unique order_id with -EEXIST, which apply() answers as a duplicate: no read before the insert,
 * so the saga's hop costs one round trip less and takes no gap lock.
 */
static int on_placed(struct db_conn *conn, const struct event *ev, const struct order_input *in,
                     int *ret_created)
{
    struct pay_row row;
    struct msgctx ctx;
    cJSON *data, *resp;
    char *resp_txt;
    int rc;

    memset(&row, 0, sizeof(row));
    util_uuid(row.id);
    util_strlcpy(row.order_id, in->order_id, sizeof(row.order_id));
    util_strlcpy(row.user_id, in->user_id, sizeof(row.user_id));
    util_strlcpy(row.correlation_id, ev->correlationid, sizeof(row.correlation_id));
    row.p.status = PAYMENT_READY;
    row.p.amount = in->amount;
    rc = store_payment_insert(conn, &row);
    if (rc < 0)
        return rc;
    resp = cJSON_CreateObject();
    if (!resp || !cJSON_AddStringToObject(resp, "paymentId", row.id)) {
        cJSON_Delete(resp);
        return -ENOMEM;
    }
    resp_txt = cJSON_PrintUnformatted(resp);
    cJSON_Delete(resp);
    if (!resp_txt)
        return -ENOMEM;
    rc = store_idem_put(conn, row.order_id, "CREATE", ev->id, resp_txt);
    cJSON_free(resp_txt);
    if (rc < 0)
        return rc;
    data = cJSON_CreateObject();
    if (data) {
        cJSON_AddStringToObject(data, "orderId", row.order_id);
        cJSON_AddStringToObject(data, "paymentId", row.id);
        cJSON_AddStringToObject(data, "userId", row.user_id);
        cJSON_AddNumberToObject(data, "amount", (double)row.p.amount);
        cJSON_AddStringToObject(data, "status", "READY");
    }
    event_ctx(ev, &ctx);
    rc = store_emit(conn, EVENT_PAYMENT_CREATED, row.order_id, &ctx, row.correlation_id, data);
    if (rc == 0) {
        log_info("created payment '%s' for order '%s' (%lld)", row.id, row.order_id, row.p.amount);
        *ret_created = 1;
    }
    return rc;
}

/* A CANCEL transaction of @refund and payment.refunded, after the domain changed @row->p. */
static int record_refund(struct db_conn *conn, const struct event *ev, struct pay_row *row,
                         long long refund, const char *reason)
{
    char tx_id[UTIL_UUID_LEN], seed[128], pg_id[PAYMENT_PG_ID_MAX];
    struct msgctx ctx;
    cJSON *data;
    int rc;

    /* the gateway's id for the cancel: derived from the event, so a rerun gives the same one */
    snprintf(seed, sizeof(seed), "cancel:%s", ev->id);
    payment_pg_id(seed, pg_id, sizeof(pg_id));
    rc = store_tx_insert(conn, row->id, "CANCEL", "SUCCESS", pg_id, refund, reason, tx_id);
    if (rc < 0)
        return rc;
    data = cJSON_CreateObject();
    if (data) {
        cJSON_AddStringToObject(data, "orderId", row->order_id);
        cJSON_AddStringToObject(data, "paymentId", row->id);
        cJSON_AddStringToObject(data, "transactionId", tx_id);
        cJSON_AddNumberToObject(data, "refundedAmount", (double)refund);
        cJSON_AddNumberToObject(data, "totalRefunded", (double)row->p.refunded);
        cJSON_AddNumberToObject(data, "remainingAmount", (double)(row->p.amount - row->p.refunded));
        cJSON_AddStringToObject(data, "reason", reason);
    }
    event_ctx(ev, &ctx);
    return store_emit(conn, EVENT_PAYMENT_REFUNDED, row->order_id, &ctx, row->correlation_id, data);
}

/* order.cancelled / order.refunded; what changed goes to @ret. */
static int on_cancel_or_refund(struct db_conn *conn, const struct event *ev, enum event_type type,
                               const struct order_input *in, struct applied *ret)
{
    int is_cancel = type == EVENT_ORDER_CANCELLED;
    const char *reason;
    enum payment_outcome out;
    struct pay_row row;
    long long refund = 0;
    int rc;

    rc = store_payment_get(conn, in->order_id, 1, &row);
    if (rc == -ENOENT) {
        log_warnx("%s for order '%s' without a payment: ignored", ev->type, in->order_id);
        return 0;
    }
    if (rc < 0)
        return rc;
    if (!is_cancel && in->refund_id[0]) {
        /* the same refund re-published under another event id changes nothing */
        rc = store_idem_put(conn, in->order_id, "REFUND", in->refund_id, "{}");
        if (rc == -EEXIST) {
            log_info("refund '%s' of order '%s' already applied", in->refund_id, in->order_id);
            return 0;
        }
        if (rc < 0)
            return rc;
    }
    if (is_cancel) {
        out = payment_cancel(&row.p, &refund);
        reason = in->reason[0] ? in->reason : "ORDER_CANCELLED";
    } else {
        long long asked = in->amount;

        out = payment_refund(&row.p, asked, &refund);
        reason = "ORDER_REFUNDED";
        if (out == PAYMENT_OK && refund < asked)
            log_warnx("order '%s' asked a refund of %lld but only %lld remained", in->order_id,
                      asked, refund);
    }
    if (out != PAYMENT_OK) {
        log_info("%s: payment '%s' is %s, nothing to do", ev->type, row.id,
                 payment_status_name(row.p.status));
        return 0;
    }
    /* a confirm still talking to the gateway finds its token gone and captures nothing */
    row.confirm_token[0] = '\0';
    rc = store_payment_save(conn, &row);
    if (rc == 0 && refund > 0)
        rc = record_refund(conn, ev, &row, refund, reason);
    if (rc == 0) {
        log_info("payment '%s' of order '%s' is %s (refunded %lld, total %lld)", row.id,
                 row.order_id, payment_status_name(row.p.status), refund, row.p.refunded);
        ret->refund = refund;
        ret->canceled = refund == 0;
    }
    return rc;
}

/* One attempt: the whole event in one transaction. */
static int apply(struct pay_app *app, struct db_conn *conn, const struct event *ev,
                 enum event_type type, const struct order_input *in, struct applied *ret)
{
    int rc = db_begin(conn);

    memset(ret, 0, sizeof(*ret));
    if (rc == 0)
        rc = inbox_record(conn, app->cfg->svc.kafka_group_id, ev->id, ev->type);
    if (rc == -EALREADY) {
        db_rollback(conn);
        ret->dup = 1;
        return 0;
    }
    if (rc == 0) {
        if (type == EVENT_ORDER_PLACED)
            rc = on_placed(conn, ev, in, &ret->created);
        else
            rc = on_cancel_or_refund(conn, ev, type, in, ret);
    }
    if (rc == -EEXIST && type == EVENT_ORDER_PLACED) {
        /* the order has its payment (on_placed): same outcome as a duplicate */
        db_rollback(conn);
        memset(ret, 0, sizeof(*ret));
        ret->dup = 1;
        log_info("order '%s' has its payment already: nothing to do", in->order_id);
        return 0;
    }
    if (rc == 0)
        rc = db_commit(conn);
    if (rc < 0)
        db_rollback(conn);
    return rc;
}

/* An order event of @type: one transaction, retried on a deadlock; then the metrics. */
static enum kafka_result handle(struct pay_app *app, const struct event *ev, enum event_type type,
                                char *errbuf, size_t errlen)
{
    struct order_input in;
    struct db_conn *conn;
    struct applied done = {0};
    int rc = -EIO;

    if (read_input(ev, type, &in, errbuf, errlen) < 0)
        return KAFKA_FAIL;
    conn = db_acquire(app->pool, errbuf, errlen);
    if (!conn)
        return KAFKA_UNAVAILABLE;
    for (int attempt = 0; attempt < TX_ATTEMPTS; attempt++) {
        rc = apply(app, conn, ev, type, &in, &done);
        if (rc != -EDEADLK)
            break;
    }
    if (rc < 0)
        snprintf(errbuf, errlen, "cannot handle %s of order '%s': %s (%d)", ev->type, in.order_id,
                 db_errmsg(conn), rc);
    db_release(app->pool, conn);
    if (rc < 0)
        return svc_db_result(rc);
    if (done.dup) {
        log_info("event '%s' (%s) seen before: nothing to do", ev->id, ev->type);
        return KAFKA_OK;
    }
    if (done.created)
        pay_wait_notify(&app->wait); /* a confirm may be waiting for it */
    if (done.created) {
        const char *v[] = {"created"};
        metrics_inc("commerce_payments_total", v, 1);
    } else if (done.refund > 0) {
        const char *v[] = {"refunded"};
        metrics_inc("commerce_payments_total", v, 1);
        metrics_inc("commerce_payment_refunded_amount_total", NULL, (double)done.refund);
    } else if (done.canceled) {
        const char *v[] = {"canceled"};
        metrics_inc("commerce_payments_total", v, 1);
    }
    return KAFKA_OK;
}

static enum kafka_result on_order_placed(const struct event *ev, const struct kafka_record *rec,
                                         void *app, char *errbuf, size_t errlen)
{
    (void)rec;
    return handle(app, ev, EVENT_ORDER_PLACED, errbuf, errlen);
}

static enum kafka_result on_order_cancelled(const struct event *ev, const struct kafka_record *rec,
                                            void *app, char *errbuf, size_t errlen)
{
    (void)rec;
    return handle(app, ev, EVENT_ORDER_CANCELLED, errbuf, errlen);
}

static enum kafka_result on_order_refunded(const struct event *ev, const struct kafka_record *rec,
                                           void *app, char *errbuf, size_t errlen)
{
    (void)rec;
    return handle(app, ev, EVENT_ORDER_REFUNDED, errbuf, errlen);
}

/* order.placed v1 is upcast to v2 (currency KRW). */
const struct svc_handler PAY_HANDLERS[] = {
    {EVENT_ORDER_PLACED, on_order_placed},
    {EVENT_ORDER_CANCELLED, on_order_cancelled},
    {EVENT_ORDER_REFUNDED, on_order_refunded},
    {EVENT_NONE, NULL},
};
