/*
 * events.c - the consumer's handler. product.sku.created feeds the price copy; stock.* and
 * payment.* drive the saga. Each event is one transaction: inbox record, the order row locked,
 * the state machine's step (state, history, outbox), commit: one order_saga_step() (saga.c).
 * ORDER_HANDLERS is the one list of consumed types. Invalid payload → KAFKA_FAIL
 * (dead-letter topic); a payment.completed the order does not recognise (not the payment id
 * and amount it learned from payment.created: order_apply() rejects it) → KAFKA_FAIL, the
 * order unchanged; database unreachable → KAFKA_UNAVAILABLE (waited out), deadlock →
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
#include "common/event_types.h"
#include "common/svc.h"

#define ORDER_ID_MAX 64

static enum kafka_result db_failure(int rc, struct db_conn *conn, const char *what, char *errbuf,
                                    size_t errlen)
{
    snprintf(errbuf, errlen, "%s: %s (%d)", what, conn ? db_errmsg(conn) : "", rc);
    return svc_db_result(rc);
}

static enum kafka_result handle_sku(const struct event *ev, const struct kafka_record *rec,
                                    void *arg, char *errbuf, size_t errlen)
{
    struct order_app *app = arg;
    long long sku = 0, price = 0, product = 0;
    cJSON *errors = NULL;
    struct db_conn *conn;
    enum kafka_result res = KAFKA_OK;
    int rc;

    (void)rec;
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

/* stock.* and payment.*: one saga step for input @in. */
static enum kafka_result handle_saga(enum order_input in, const struct event *ev,
                                     struct order_app *app, char *errbuf, size_t errlen)
{
    struct saga_input step_in = {.in = in,
                                 .ctx = msgctx_current(),
                                 .event_id = ev->id,
                                 .note = ev->type,
                                 .inbox_group = app->cfg->svc.kafka_group_id,
                                 .inbox_type = ev->type,
                                 .paid_amount = -1};
    struct saga_result step;
    cJSON *errors = NULL;
    struct db_conn *conn;
    enum kafka_result res = KAFKA_OK;
    int rc;

    jsonx_str(ev->data, "orderId", "orderId", true, ORDER_ID_MAX, &step_in.order_id, &errors);
    if (in == ORDER_IN_PAYMENT_COMPLETED)
        jsonx_int(ev->data, "paidAmount", "paidAmount", true, 0, INT64_MAX, &step_in.paid_amount,
                  &errors);
    if (in == ORDER_IN_PAYMENT_CREATED)
        jsonx_int(ev->data, "amount", "amount", true, 0, INT64_MAX, &step_in.payment_amount,
                  &errors);
    if (in == ORDER_IN_PAYMENT_CREATED || in == ORDER_IN_PAYMENT_COMPLETED)
        jsonx_str(ev->data, "paymentId", "paymentId", true, ORDER_PAYMENT_ID_MAX,
                  &step_in.payment_id, &errors);
    if (errors) {
        jsonx_errors_text(errors, errbuf, errlen);
        cJSON_Delete(errors);
        return KAFKA_FAIL;
    }
    conn = db_acquire(app->pool, errbuf, errlen);
    if (!conn)
        return KAFKA_UNAVAILABLE;
    rc = order_saga_step(conn, &step_in, &step);
    if (rc == -EALREADY) {
        log_debug("event '%s' (%s) seen before", ev->id, ev->type);
    } else if (rc == -ENOENT) {
        /* another deployment's or test run's order: nothing of ours to change */
        log_warnx("%s for unknown order '%s' ignored", ev->type, step_in.order_id);
    } else if (rc < 0) {
        snprintf(errbuf, errlen, "cannot apply the event: %s (%d)", step.errmsg, rc);
        res = svc_db_result(rc);
        log_warnx("failed to apply %s to order '%s': %s", ev->type, step_in.order_id, errbuf);
    } else if (step.out.verdict == ORDER_REJECTED) {
        const struct order_state *st = &step.order.st;

        if (st->payment_id[0])
            snprintf(errbuf, errlen,
                     "payment not recognised: %s names payment '%s' for %lld; order '%s' learned "
                     "payment '%s' for %lld from payment.created",
                     ev->type, step_in.payment_id, step_in.paid_amount, step_in.order_id,
                     st->payment_id, st->payment_amount);
        else
            snprintf(errbuf, errlen,
                     "payment not recognised: %s names payment '%s' for %lld; order '%s' has "
                     "learned no payment from payment.created",
                     ev->type, step_in.payment_id, step_in.paid_amount, step_in.order_id);
        res = KAFKA_FAIL; /* the consumer logs, counts and dead-letters it */
    } else if (step.out.verdict != ORDER_APPLIED) {
        log_info("%s ignored for order '%s' in status %s", ev->type, step_in.order_id,
                 order_status_name(step.order.st.status));
    }
    db_release(app->pool, conn);
    return res;
}

/* One handler per saga input: the table below stays the only list of consumed types. */
#define SAGA_HANDLER(fn, input)                                                                    \
    static enum kafka_result fn(const struct event *ev, const struct kafka_record *rec, void *app, \
                                char *errbuf, size_t errlen)                                       \
    {                                                                                              \
        (void)rec;                                                                                 \
        return handle_saga(input, ev, app, errbuf, errlen);                                        \
    }
SAGA_HANDLER(on_stock_reserved, ORDER_IN_STOCK_RESERVED)
SAGA_HANDLER(on_stock_reservation_failed, ORDER_IN_STOCK_RESERVATION_FAILED)
SAGA_HANDLER(on_stock_confirmed, ORDER_IN_STOCK_CONFIRMED)
SAGA_HANDLER(on_stock_confirm_failed, ORDER_IN_STOCK_CONFIRM_FAILED)
SAGA_HANDLER(on_stock_released, ORDER_IN_STOCK_RELEASED)
SAGA_HANDLER(on_payment_created, ORDER_IN_PAYMENT_CREATED)
SAGA_HANDLER(on_payment_completed, ORDER_IN_PAYMENT_COMPLETED)
SAGA_HANDLER(on_payment_failed, ORDER_IN_PAYMENT_FAILED)
SAGA_HANDLER(on_payment_refunded, ORDER_IN_PAYMENT_REFUNDED)
#undef SAGA_HANDLER

const struct svc_handler ORDER_HANDLERS[] = {
    {EVENT_PRODUCT_SKU_CREATED, handle_sku},
    {EVENT_STOCK_RESERVED, on_stock_reserved},
    {EVENT_STOCK_RESERVATION_FAILED, on_stock_reservation_failed},
    {EVENT_STOCK_CONFIRMED, on_stock_confirmed},
    {EVENT_STOCK_CONFIRM_FAILED, on_stock_confirm_failed},
    {EVENT_STOCK_RELEASED, on_stock_released},
    {EVENT_PAYMENT_CREATED, on_payment_created},
    {EVENT_PAYMENT_COMPLETED, on_payment_completed}, /* v1 upcast to v2 (approvedAtTime) */
    {EVENT_PAYMENT_FAILED, on_payment_failed},
    {EVENT_PAYMENT_REFUNDED, on_payment_refunded},
    {EVENT_NONE, NULL},
};
