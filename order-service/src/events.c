/*
 * events.c - the consumer's handler. product.sku.created feeds the price copy; stock.* and
 * payment.* drive the saga. Each event is one transaction: inbox record, the order row locked,
 * the state machine's step (state, history, outbox), commit. Invalid payload → KAFKA_FAIL
 * (dead-letter topic); database unreachable → KAFKA_UNAVAILABLE (waited out), deadlock →
 * KAFKA_RETRY; an order this service does not know → KAFKA_OK with a warning.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "common/event.h"
#include "common/inbox.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/svc.h"

#define ORDER_ID_MAX 64
#define PAYMENT_ID_MAX 64

const struct kafka_type ORDER_CONSUMED_TYPES[] = {
    {"product.sku.created", 1, 1},
    {"stock.reserved", 1, 1},
    {"stock.reservation.failed", 1, 1},
    {"stock.confirmed", 1, 1},
    {"stock.confirm.failed", 1, 1},
    {"stock.released", 1, 1},
    {"payment.created", 1, 1},
    {"payment.completed", 1, 2}, /* v1 upcast to v2 (approvedAtTime) */
    {"payment.failed", 1, 1},
    {"payment.refunded", 1, 1},
    {NULL, 0, 0},
};

static const struct {
    const char *type;
    enum order_input in;
} inputs[] = {
    {"stock.reserved", ORDER_IN_STOCK_RESERVED},
    {"stock.reservation.failed", ORDER_IN_STOCK_RESERVATION_FAILED},
    {"stock.confirmed", ORDER_IN_STOCK_CONFIRMED},
    {"stock.confirm.failed", ORDER_IN_STOCK_CONFIRM_FAILED},
    {"stock.released", ORDER_IN_STOCK_RELEASED},
    {"payment.created", ORDER_IN_PAYMENT_CREATED},
    {"payment.completed", ORDER_IN_PAYMENT_COMPLETED},
    {"payment.failed", ORDER_IN_PAYMENT_FAILED},
    {"payment.refunded", ORDER_IN_PAYMENT_REFUNDED},
};

static enum kafka_result db_failure(int rc, struct db_conn *conn, const char *what, char *errbuf,
                                    size_t errlen)
{
    snprintf(errbuf, errlen, "%s: %s (%d)", what, conn ? db_errmsg(conn) : "", rc);
    return svc_db_result(rc);
}

static enum kafka_result handle_sku(struct order_app *app, const struct event *ev, char *errbuf,
                                    size_t errlen)
{
    long long sku = 0, price = 0, product = 0;
    cJSON *errors = NULL;
    struct db_conn *conn;
    enum kafka_result res = KAFKA_OK;
    int rc;

    jsonx_int(ev->data, "skuId", "skuId", true, 1, INT64_MAX, &sku, &errors);
    jsonx_int(ev->data, "price", "price", true, 1, ORDER_MAX_PRICE, &price, &errors);
    jsonx_int(ev->data, "productId", "productId", false, 1, INT64_MAX, &product, &errors);
    if (errors) {
        jsonx_errors_text(errors, errbuf, errlen);
        cJSON_Delete(errors);
        return KAFKA_FAIL;
    }
    conn = db_acquire(app->pool, errbuf, errlen);
    if (!conn)
        return KAFKA_UNAVAILABLE;
    rc = db_begin(conn);
    if (rc == 0)
        rc = inbox_record(conn, app->cfg->svc.kafka_group_id, ev->id, ev->type);
    if (rc == -EALREADY) {
        db_rollback(conn);
        goto out;
    }
    if (rc == 0)
        rc = store_sku_price_put(conn, sku, price, product);
    if (rc == 0)
        rc = db_commit(conn);
    if (rc < 0) {
        res = db_failure(rc, conn, "cannot store the sku price", errbuf, errlen);
        db_rollback(conn);
    }
out:
    db_release(app->pool, conn);
    return res;
}

enum kafka_result order_handle_event(const struct event *ev, const struct kafka_record *rec,
                                     void *arg, char *errbuf, size_t errlen)
{
    struct order_app *app = arg;
    struct order_args args = {.paid_amount = -1};
    enum order_input in = ORDER_NINPUT;
    const char *order_id = NULL, *payment_id = NULL;
    cJSON *errors = NULL;
    struct db_conn *conn;
    struct store_order o;
    struct order_outcome out = {0};
    enum kafka_result res = KAFKA_OK;
    int rc;

    (void)rec;
    if (strcmp(ev->type, "product.sku.created") == 0)
        return handle_sku(app, ev, errbuf, errlen);
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        if (strcmp(ev->type, inputs[i].type) == 0)
            in = inputs[i].in;
    }
    if (in == ORDER_NINPUT) {
        snprintf(errbuf, errlen, "unexpected event type '%s'", ev->type);
        return KAFKA_FAIL;
    }
    jsonx_str(ev->data, "orderId", "orderId", true, ORDER_ID_MAX, &order_id, &errors);
    if (in == ORDER_IN_PAYMENT_COMPLETED)
        jsonx_int(ev->data, "paidAmount", "paidAmount", true, 0, INT64_MAX, &args.paid_amount,
                  &errors);
    if (in == ORDER_IN_PAYMENT_CREATED)
        jsonx_str(ev->data, "paymentId", "paymentId", false, PAYMENT_ID_MAX, &payment_id, &errors);
    if (errors) {
        jsonx_errors_text(errors, errbuf, errlen);
        cJSON_Delete(errors);
        return KAFKA_FAIL;
    }
    conn = db_acquire(app->pool, errbuf, errlen);
    if (!conn)
        return KAFKA_UNAVAILABLE;
    rc = db_begin(conn);
    if (rc == 0)
        rc = inbox_record(conn, app->cfg->svc.kafka_group_id, ev->id, ev->type);
    if (rc == -EALREADY) {
        db_rollback(conn);
        log_debug("event '%s' (%s) seen before", ev->id, ev->type);
        goto out;
    }
    if (rc == 0)
        rc = store_order_lock(conn, order_id, &o);
    if (rc == -ENOENT) {
        /* another deployment's or test run's order: nothing of ours to change */
        db_rollback(conn);
        log_warnx("%s for unknown order '%s' ignored", ev->type, order_id);
        goto out;
    }
    if (rc == 0)
        rc = store_order_step(conn, &o, in, &args, msgctx_current(), ev->id, ev->type,
                              in == ORDER_IN_PAYMENT_CREATED ? payment_id : NULL, NULL, &out);
    if (rc == 0)
        rc = db_commit(conn);
    if (rc < 0) {
        res = db_failure(rc, conn, "cannot apply the event", errbuf, errlen);
        db_rollback(conn);
        log_warnx("failed to apply %s to order '%s': %s", ev->type, order_id, errbuf);
        goto out;
    }
    if (out.verdict != ORDER_APPLIED)
        log_info("%s ignored for order '%s' in status %s", ev->type, order_id,
                 order_status_name(o.st.status));
    order_step_done(app, &o, &out);
out:
    db_release(app->pool, conn);
    return res;
}
