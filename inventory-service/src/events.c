/*
 * events.c - the consumer's handler: reads product.sku.created and order.* payloads into
 * domain structs (invalid → KAFKA_FAIL, so the dead-letter topic), prepares the outcome
 * envelopes, and runs the event's stock script. Redis unreachable → KAFKA_UNAVAILABLE.
 * Publishing is the relay's job: the script leaves the outcome in the outbox stream.
 * With REDIS_WAIT_REPLICAS, an event is done only once a replica holds the script's writes
 * (KAFKA_UNAVAILABLE until then).
 * An order.placed naming a SKU without stock yet is retried (KAFKA_RETRY, nothing recorded)
 * until its INVENTORY_UNKNOWN_SKU_ATTEMPTS-th delivery, which fails it SKU_NOT_FOUND: the SKU's
 * product.sku.created comes on another topic and may be taken after the order.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "common/event.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msgctx.h"
#include "common/svc.h"
#include "scripts.h"
#include "stock.h"

#define ORDER_ID_MAX 64
#define REASON_MAX 200

/* What one handler call works with. */
struct call {
    struct inv_app *app;
    const struct event *ev;
    const struct kafka_record *rec;
    struct msgctx child; /* ids of the outcome event */
    char order_id[ORDER_ID_MAX + 1];
    char *order_json;
    char *heads[2];
    struct inv_emit em;
};

/* orderId: a string (1..64 characters) or, read tolerantly, a positive integer. */
static void read_order_id(const cJSON *data, char *out, size_t outlen, cJSON **errors)
{
    const cJSON *j = cJSON_GetObjectItem(data, "orderId");
    long long id;

    if (cJSON_IsNumber(j)) {
        if (jsonx_int(data, "orderId", "orderId", true, 1, INT64_MAX, &id, errors) == 0)
            snprintf(out, outlen, "%lld", id);
        return;
    }
    {
        const char *s = NULL;

        if (jsonx_str(data, "orderId", "orderId", true, ORDER_ID_MAX, &s, errors) == 0)
            snprintf(out, outlen, "%s", s);
    }
}

/* @key: an array of 1..STOCK_MAX_LINES {skuId, quantity}, merged per SKU into @lines. */
static void read_lines(const cJSON *data, const char *key, struct stock_line *lines, size_t *ret_n,
                       cJSON **errors)
{
    const cJSON *arr = NULL, *it;
    char field[64];
    size_t n = 0;
    bool bad = false;

    *ret_n = 0;
    if (jsonx_array(data, key, key, true, STOCK_MAX_LINES, &arr, errors) < 0)
        return;
    cJSON_ArrayForEach (it, arr) {
        long long sku = 0, qty = 0;

        snprintf(field, sizeof(field), "%s[%zu]", key, n);
        if (!cJSON_IsObject(it)) {
            jsonx_field_error(errors, field, "must be an object");
            bad = true;
            n++;
            continue;
        }
        snprintf(field, sizeof(field), "%s[%zu].skuId", key, n);
        if (jsonx_int(it, "skuId", field, true, 1, INT64_MAX, &sku, errors) < 0)
            bad = true;
        snprintf(field, sizeof(field), "%s[%zu].quantity", key, n);
        if (jsonx_int(it, "quantity", field, true, 1, STOCK_MAX_QUANTITY, &qty, errors) < 0)
            bad = true;
        lines[n].sku_id = sku;
        lines[n].quantity = qty;
        n++;
    }
    if (bad)
        return;
    if (n == 0) {
        jsonx_field_error(errors, key, "must not be empty");
        return;
    }
    if (stock_merge_lines(lines, n, ret_n) < 0)
        jsonx_field_error(errors, key, "quantity of a SKU too large");
}

/* The envelope of a new @type event about order @c->order_id, cut after "data":.
 * Caller owns: free(). NULL on failure. */
static char *make_head(const struct call *c, enum event_type type)
{
    struct event ev;
    char *json = NULL;
    size_t len;
    static const char tail[] = "{}}";

    if (event_init(&ev, event_type_name(type), event_type_version(type), INVENTORY_SOURCE,
                   c->order_id, &c->child, NULL) < 0)
        return NULL;
    json = event_to_json(&ev);
    event_release(&ev);
    if (!json)
        return NULL;
    len = strlen(json);
    if (len < sizeof(tail) - 1 || strcmp(json + len - (sizeof(tail) - 1), tail) != 0) {
        free(json); /* the envelope must end with its (empty) data */
        return NULL;
    }
    json[len - (sizeof(tail) - 1)] = '\0';
    return json;
}

/* A JSON string value for @s. Caller owns: free(). */
static char *json_string(const char *s)
{
    cJSON *j = cJSON_CreateString(s);
    char *printed = j ? cJSON_PrintUnformatted(j) : NULL;
    char *out = printed ? strdup(printed) : NULL;

    cJSON_free(printed);
    cJSON_Delete(j);
    return out;
}

/* Prepares ids, the order id as JSON and the envelopes of @types (up to two). 0 or -ENOMEM. */
static int prepare(struct call *c, const enum event_type *types, size_t ntypes)
{
    msgctx_child(msgctx_current(), &c->child);
    c->order_json = json_string(c->order_id);
    if (!c->order_json)
        return -ENOMEM;
    for (size_t i = 0; i < ntypes; i++) {
        c->heads[i] = make_head(c, types[i]);
        if (!c->heads[i])
            return -ENOMEM;
    }
    return 0;
}

static void call_release(struct call *c)
{
    free(c->order_json);
    free(c->heads[0]);
    free(c->heads[1]);
}

/* Logs and counts the script's answer; KAFKA_OK, KAFKA_RETRY while an order waits for a SKU
 * (SKU_PENDING), or KAFKA_FAIL for a status we do not know. */
static enum kafka_result report(const struct call *c, const struct inv_result *res, char *errbuf,
                                size_t errlen)
{
    enum stock_outcome outcome;
    const char *v[] = {res->status};
    const char *published;

    if (stock_outcome_parse(res->status, &outcome) < 0) {
        snprintf(errbuf, errlen, "unknown stock script status '%s'", res->status);
        log_errorx("event '%s': unknown stock script status '%s'", c->ev->id, res->status);
        return KAFKA_FAIL;
    }
    metrics_inc("commerce_inventory_outcomes_total", v, 1);
    if (outcome == STOCK_SKU_PENDING) {
        snprintf(errbuf, errlen,
                 "order '%s' names a SKU without stock yet: waiting for its product.sku.created "
                 "(delivery %d of at most %ld)",
                 c->em.key, c->rec->attempt, c->app->cfg->unknown_sku_attempts);
        log_info("%s", errbuf);
        return KAFKA_RETRY;
    }
    published = stock_outcome_event(outcome);
    if (res->duplicate)
        log_info("event '%s' (%s '%s') seen before: outcome '%s' re-emitted", c->ev->id,
                 c->ev->type, c->em.key, res->status);
    else if (stock_outcome_refused(outcome))
        log_warnx("%s '%s': %s%s%s", c->ev->type, c->em.key, res->status, published ? " → " : "",
                  published ? published : "");
    else
        log_info("%s '%s': %s%s%s", c->ev->type, c->em.key, res->status, published ? " → " : "",
                 published ? published : "");
    return KAFKA_OK;
}

/* Maps a store failure to the consumer's policy. */
static enum kafka_result store_failed(int rc, const char *what, char *errbuf, size_t errlen)
{
    if (rc == -ENOMEM) {
        snprintf(errbuf, errlen, "out of memory preparing %s", what);
        return KAFKA_RETRY;
    }
    /* -EIO: Redis unreachable; -EPROTO: an error reply (OOM, LOADING, …): Redis cannot take
     * the change now, whatever the message — waited out, never dead-lettered for it */
    return KAFKA_UNAVAILABLE;
}

static void crash_hook(const struct call *c)
{
    if (c->app->cfg->test_crash) {
        log_warnx("test hook: killing the process after the stock script of '%s'", c->ev->id);
        raise(SIGKILL);
    }
}

static int sku_created(struct call *c, struct rds_conn *conn, struct inv_result *res,
                       cJSON **errors, char *errbuf, size_t errlen)
{
    long long sku = 0, qty = 0;

    jsonx_int(c->ev->data, "skuId", "skuId", true, 1, INT64_MAX, &sku, errors);
    jsonx_int(c->ev->data, "initialQuantity", "initialQuantity", true, 0, STOCK_MAX_QUANTITY, &qty,
              errors);
    if (*errors)
        return -EINVAL;
    snprintf(c->order_id, sizeof(c->order_id), "%lld", sku); /* the SKU is the key here */
    return inv_sku_init(conn, &c->em, sku, qty, res, errbuf, errlen);
}

static int order_placed(struct call *c, struct rds_conn *conn, struct inv_result *res,
                        cJSON **errors, char *errbuf, size_t errlen)
{
    static const enum event_type types[] = {EVENT_STOCK_RESERVED, EVENT_STOCK_RESERVATION_FAILED};
    const struct inv_config *cfg = c->app->cfg;
    struct stock_line lines[STOCK_MAX_LINES];
    struct inv_head ok, fail;
    size_t n = 0;
    bool wait;
    int rc;

    read_order_id(c->ev->data, c->order_id, sizeof(c->order_id), errors);
    read_lines(c->ev->data, "items", lines, &n, errors);
    if (*errors)
        return -EINVAL;
    rc = prepare(c, types, 2);
    if (rc < 0)
        return rc;
    ok = (struct inv_head){c->heads[0], event_topic(event_type_name(types[0]))};
    fail = (struct inv_head){c->heads[1], event_topic(event_type_name(types[1]))};
    wait = stock_wait_unknown(c->rec->attempt, cfg->unknown_sku_attempts,
                              cfg->svc.consumer_max_attempts);
    return inv_reserve(conn, &c->em, c->order_json, &ok, &fail, lines, n, wait, res, errbuf,
                       errlen);
}

static int order_confirmed(struct call *c, struct rds_conn *conn, struct inv_result *res,
                           cJSON **errors, char *errbuf, size_t errlen)
{
    static const enum event_type types[] = {EVENT_STOCK_CONFIRMED, EVENT_STOCK_CONFIRM_FAILED};
    struct inv_head ok, fail;
    int rc;

    read_order_id(c->ev->data, c->order_id, sizeof(c->order_id), errors);
    if (*errors)
        return -EINVAL;
    rc = prepare(c, types, 2);
    if (rc < 0)
        return rc;
    ok = (struct inv_head){c->heads[0], event_topic(event_type_name(types[0]))};
    fail = (struct inv_head){c->heads[1], event_topic(event_type_name(types[1]))};
    return inv_confirm(conn, &c->em, c->order_json, &ok, &fail, res, errbuf, errlen);
}

static int order_cancelled(struct call *c, struct rds_conn *conn, struct inv_result *res,
                           cJSON **errors, char *errbuf, size_t errlen)
{
    static const enum event_type types[] = {EVENT_STOCK_RELEASED};
    const char *reason = NULL;
    struct inv_head head;
    char *reason_json;
    int rc;

    read_order_id(c->ev->data, c->order_id, sizeof(c->order_id), errors);
    jsonx_str(c->ev->data, "reason", "reason", false, REASON_MAX, &reason, errors);
    if (*errors)
        return -EINVAL;
    rc = prepare(c, types, 1);
    if (rc < 0)
        return rc;
    reason_json = reason ? json_string(reason) : strdup("null");
    if (!reason_json)
        return -ENOMEM;
    head = (struct inv_head){c->heads[0], event_topic(event_type_name(types[0]))};
    rc = inv_release(conn, &c->em, c->order_json, &head, reason_json, res, errbuf, errlen);
    free(reason_json);
    return rc;
}

static int order_refunded(struct call *c, struct rds_conn *conn, struct inv_result *res,
                          cJSON **errors, char *errbuf, size_t errlen)
{
    struct stock_line lines[STOCK_MAX_LINES];
    size_t n = 0;

    read_order_id(c->ev->data, c->order_id, sizeof(c->order_id), errors);
    read_lines(c->ev->data, "items", lines, &n, errors);
    if (*errors)
        return -EINVAL;
    return inv_refund(conn, &c->em, lines, n, res, errbuf, errlen);
}

typedef int (*type_fn)(struct call *c, struct rds_conn *conn, struct inv_result *res,
                       cJSON **errors, char *errbuf, size_t errlen);

/* The frame around every type's @fn: a Redis connection, the script, the report. */
static enum kafka_result handle(struct inv_app *app, const struct event *ev,
                                const struct kafka_record *rec, type_fn fn, char *errbuf,
                                size_t errlen)
{
    struct call c = {.app = app, .ev = ev, .rec = rec};
    struct rds_conn *conn = NULL;
    struct inv_result res;
    cJSON *errors = NULL;
    enum kafka_result kr;
    int rc;

    if (!cJSON_IsObject(ev->data)) {
        snprintf(errbuf, errlen, "invalid payload: data must be an object");
        return KAFKA_FAIL;
    }
    c.em = (struct inv_emit){.stream = app->cfg->stream,
                             .event_id = ev->id,
                             .key = c.order_id,
                             .ttl_s = app->cfg->svc.inbox_retention_s,
                             .res_ttl_s = app->cfg->res_retention_s};
    conn = rds_acquire(app->rds, errbuf, errlen);
    if (!conn) {
        kr = KAFKA_UNAVAILABLE;
        goto out;
    }
    rc = fn(&c, conn, &res, &errors, errbuf, errlen);
    if (rc == -EINVAL) {
        jsonx_errors_text(errors, errbuf, errlen);
        log_warnx("event '%s' of type '%s' refused: %s", ev->id, ev->type, errbuf);
        kr = KAFKA_FAIL;
        goto out;
    }
    if (rc < 0) {
        kr = store_failed(rc, ev->type, errbuf, errlen);
        goto out;
    }
    /* with REDIS_WAIT_REPLICAS, the offset may be committed only once a replica holds what
     * the script did: a write lost in a failover is then done again on redelivery (the
     * script's event record makes a surviving one a no-op), as the relay publishes only what
     * a replica holds (README "Redis failover") */
    rc = rds_wait(conn, errbuf, errlen);
    if (rc < 0) {
        log_warnx("event '%s' (%s): not yet on a redis replica, taken again later: %s", ev->id,
                  ev->type, errbuf);
        kr = KAFKA_UNAVAILABLE;
        goto out;
    }
    crash_hook(&c);
    kr = report(&c, &res, errbuf, errlen);
out:
    rds_release(app->rds, conn);
    cJSON_Delete(errors);
    call_release(&c);
    return kr;
}

/* on_<fn>: the consumer's handler of the type @fn reads. */
#define INV_HANDLER(fn)                                                                            \
    static enum kafka_result on_##fn(const struct event *ev, const struct kafka_record *rec,       \
                                     void *app, char *errbuf, size_t errlen)                       \
    {                                                                                              \
        return handle(app, ev, rec, fn, errbuf, errlen);                                           \
    }
INV_HANDLER(sku_created)
INV_HANDLER(order_placed)
INV_HANDLER(order_confirmed)
INV_HANDLER(order_cancelled)
INV_HANDLER(order_refunded)
#undef INV_HANDLER

/* order.placed v1 is upcast to v2 (currency KRW). */
const struct svc_handler INV_HANDLERS[] = {
    {EVENT_PRODUCT_SKU_CREATED, on_sku_created}, {EVENT_ORDER_PLACED, on_order_placed},
    {EVENT_ORDER_CONFIRMED, on_order_confirmed}, {EVENT_ORDER_CANCELLED, on_order_cancelled},
    {EVENT_ORDER_REFUNDED, on_order_refunded},   {EVENT_NONE, NULL},
};
