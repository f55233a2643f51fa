/*
 * it_order.c - order-service end to end on real MariaDB and Kafka: the binary is started with
 * a fresh database and its own topics; the other services' events (product, stock, payment)
 * are produced by the test as docs/saga.md describes them, and the order events it publishes
 * are read back from Kafka.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "testsup.h"

#define WAIT_MS 60000
#define MAX_EVENTS 512
#define SKU_A 101 /* 15000 */
#define SKU_B 102 /* 10000 */
#define SKU_C 103 /* 999 */

struct fixture {
    struct ts_service svc;
    struct ts_service svc2; /* a second instance on the same database (deadline test) */
    bool running;
    bool running2;
    char db[64];
    char group[64];
    char product_topic[64];
    char order_topic[64];
    char stock_topic[64];
    char payment_topic[64];
    struct ts_consumer *orders; /* reads order_topic */
    cJSON *events[MAX_EVENTS];  /* every order event read so far (envelopes) */
    size_t nevents;
    char *alice;
    char *bob;
    char *admin;
};

static void start(struct fixture *f, const char *deadline_env, const char *scan_env,
                  struct ts_service *ret)
{
    static const char *const order_types[] = {"PLACED", "CONFIRMED", "CANCELLED", "REFUNDED"};
    static const char *const stock_types[] = {"RESERVED", "RESERVATION_FAILED", "CONFIRMED",
                                              "CONFIRM_FAILED", "RELEASED"};
    static const char *const payment_types[] = {"CREATED", "COMPLETED", "FAILED", "REFUNDED"};
    char e[24][160];
    const char *env[32];
    size_t n = 0;

    snprintf(e[n++], sizeof(e[0]), "DB_NAME=%s", f->db);
    snprintf(e[n++], sizeof(e[0]), "KAFKA_GROUP_ID=%s", f->group);
    snprintf(e[n++], sizeof(e[0]), "TOPIC_PRODUCT_SKU_CREATED=%s", f->product_topic);
    for (size_t i = 0; i < 4; i++)
        snprintf(e[n++], sizeof(e[0]), "TOPIC_ORDER_%s=%s", order_types[i], f->order_topic);
    for (size_t i = 0; i < 5; i++)
        snprintf(e[n++], sizeof(e[0]), "TOPIC_STOCK_%s=%s", stock_types[i], f->stock_topic);
    for (size_t i = 0; i < 4; i++)
        snprintf(e[n++], sizeof(e[0]), "TOPIC_PAYMENT_%s=%s", payment_types[i], f->payment_topic);
    for (size_t i = 0; i < n; i++)
        env[i] = e[i];
    env[n++] = "KAFKA_CREATE_TOPICS=true";
    env[n++] = "MIGRATIONS_DIR=order-service/migrations";
    env[n++] = "OUTBOX_POLL_MS=100";
    env[n++] = "CONSUMER_BACKOFF_BASE_MS=50";
    env[n++] = "CONSUMER_BACKOFF_MAX_MS=500";
    env[n++] = deadline_env;
    env[n++] = scan_env;
    env[n] = NULL;
    assert_int_equal(ts_service_start("order-service", env, 60000, ret), 0);
}

/* An envelope of @type v1 with event id @id from @source. Caller frees. */
static char *envelope_from(const char *source, const char *type, const char *id,
                           const char *subject, const char *data)
{
    char *s = NULL;

    assert_true(asprintf(&s,
                         "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"%s\",\"type\":"
                         "\"%s\",\"subject\":\"%s\",\"time\":\"2026-01-01T00:00:00.000Z\","
                         "\"dataschema\":\"urn:commerce:event:%s:v1\",\"correlationid\":"
                         "\"%s\",\"causationid\":\"cause-%s\",\"data\":%s}",
                         id, source, type, subject, type, subject, id, data) > 0);
    return s;
}

/* The same from @type's producer, as consumers require. */
static char *envelope(const char *type, const char *id, const char *subject, const char *data)
{
    char source[64];

    return envelope_from(ts_event_source(type, source, sizeof(source)), type, id, subject, data);
}

/* Produces @type about @key with payload printf(@fmt, …); returns the envelope (caller
 * frees) so a test can deliver the very same event again. */
static char *send(const char *topic, const char *type, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static char *send(const char *topic, const char *type, const char *key, const char *fmt, ...)
{
    char id[UTIL_UUID_LEN], *data = NULL, *value;
    va_list ap;

    va_start(ap, fmt);
    assert_true(vasprintf(&data, fmt, ap) > 0);
    va_end(ap);
    util_uuid(id);
    value = envelope(type, id, key, data);
    free(data);
    assert_int_equal(ts_produce(topic, key, value, strlen(value), NULL), 0);
    return value;
}

static void send_free(const char *topic, const char *type, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void send_free(const char *topic, const char *type, const char *key, const char *fmt, ...)
{
    char id[UTIL_UUID_LEN], *data = NULL, *value;
    va_list ap;

    va_start(ap, fmt);
    assert_true(vasprintf(&data, fmt, ap) > 0);
    va_end(ap);
    util_uuid(id);
    value = envelope(type, id, key, data);
    free(data);
    assert_int_equal(ts_produce(topic, key, value, strlen(value), NULL), 0);
    free(value);
}

static void resend(const char *topic, const char *key, const char *value)
{
    assert_int_equal(ts_produce(topic, key, value, strlen(value), NULL), 0);
}

static void sku_created(struct fixture *f, long long sku, long long price)
{
    char key[32];

    snprintf(key, sizeof(key), "%lld", sku);
    send_free(f->product_topic, "product.sku.created", key,
              "{\"skuId\":%lld,\"productId\":7,\"productCode\":\"P00000007\",\"price\":%lld,"
              "\"optionValues\":[],\"initialQuantity\":10}",
              sku, price);
}

static int setup_fixture(struct fixture *f, const char *deadline_env, const char *scan_env)
{
    if (ts_create_database("it_order", f->db, sizeof(f->db)) < 0)
        return -1;
    ts_unique("it-order-group", f->group, sizeof(f->group));
    ts_unique("it-order-products", f->product_topic, sizeof(f->product_topic));
    ts_unique("it-order-orders", f->order_topic, sizeof(f->order_topic));
    ts_unique("it-order-stock", f->stock_topic, sizeof(f->stock_topic));
    ts_unique("it-order-payments", f->payment_topic, sizeof(f->payment_topic));
    if (ts_create_topic(f->product_topic) < 0 || ts_create_topic(f->order_topic) < 0 ||
        ts_create_topic(f->stock_topic) < 0 || ts_create_topic(f->payment_topic) < 0)
        return -1;
    start(f, deadline_env, scan_env, &f->svc);
    f->running = true;
    f->orders = ts_consumer_new(f->order_topic);
    f->alice = ts_token("alice-0001", "USER");
    f->bob = ts_token("bob-0002", "USER");
    f->admin = ts_token("admin-0003", "ADMIN");
    sku_created(f, SKU_A, 15000);
    sku_created(f, SKU_B, 10000);
    sku_created(f, SKU_C, 999);
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (setup_fixture(f, "ORDER_PAYMENT_DEADLINE_S=3600", "ORDER_DEADLINE_SCAN_MS=1000") < 0)
        return -1;
    *state = f;
    return 0;
}

static int setup_deadline(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (setup_fixture(f, "ORDER_PAYMENT_DEADLINE_S=3", "ORDER_DEADLINE_SCAN_MS=100") < 0)
        return -1;
    /* a second instance scanning the same orders: no order may be cancelled twice */
    start(f, "ORDER_PAYMENT_DEADLINE_S=3", "ORDER_DEADLINE_SCAN_MS=100", &f->svc2);
    f->running2 = true;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    /* a clean stop must exit 0 (and, under ASan, without leaks) */
    if (f->running)
        assert_int_equal(ts_service_stop(&f->svc, SIGTERM), 0);
    if (f->running2)
        assert_int_equal(ts_service_stop(&f->svc2, SIGTERM), 0);
    ts_consumer_free(f->orders);
    for (size_t i = 0; i < f->nevents; i++)
        cJSON_Delete(f->events[i]);
    free(f->alice);
    free(f->bob);
    free(f->admin);
    free(f);
    return 0;
}

/* ---- HTTP ---- */

static long http(struct fixture *f, const char *method, const char *path, const char *token,
                 const char *body, const char *const *headers, cJSON **ret)
{
    char u[256];
    struct ts_resp r;
    long status;

    snprintf(u, sizeof(u), "%.63s%.180s", f->svc.url, path);
    assert_int_equal(ts_http(method, u, token, body, headers, &r), 0);
    status = r.status;
    if (status >= 400)
        assert_non_null(strstr(r.content_type, "application/problem+json"));
    if (ret) {
        *ret = r.json;
        r.json = NULL;
    }
    ts_resp_free(&r);
    return status;
}

static const char *str(const cJSON *j, const char *name)
{
    const cJSON *it = cJSON_GetObjectItem(j, name);

    return cJSON_IsString(it) ? it->valuestring : "";
}

static long long num(const cJSON *j, const char *name)
{
    const cJSON *it = cJSON_GetObjectItem(j, name);

    return cJSON_IsNumber(it) ? (long long)it->valuedouble : -1;
}

/* POST /api/orders; waits (while 422) for prices fed by product.sku.created. The id goes to
 * @ret_id; returns the status. */
static long place(struct fixture *f, const char *token, const char *body, const char *key,
                  char ret_id[UTIL_UUID_LEN], cJSON **ret)
{
    char hdr[200];
    const char *headers[] = {hdr, NULL};
    cJSON *j = NULL;
    long status;

    snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", key ? key : "");
    for (int tries = 0;; tries++) {
        status = http(f, "POST", "/api/orders", token, body, key ? headers : NULL, &j);
        /* only an unknown SKU is waited out (a refused coupon is 422 too) */
        if (status != 422 || strcmp(str(j, "code"), "ORDER-422-001") != 0 || tries >= WAIT_MS / 200)
            break;
        cJSON_Delete(j);
        j = NULL;
        util_sleep_ms(200); /* a retry delay, not synchronisation: the loop checks the result */
    }
    if (ret_id)
        snprintf(ret_id, UTIL_UUID_LEN, "%s", str(j, "id"));
    if (ret)
        *ret = j;
    else
        cJSON_Delete(j);
    return status;
}

static cJSON *get_order(struct fixture *f, const char *id)
{
    char path[96];
    cJSON *j = NULL;

    snprintf(path, sizeof(path), "/api/orders/%s", id);
    assert_int_equal(http(f, "GET", path, f->alice, NULL, NULL, &j), 200);
    return j;
}

struct status_wait {
    struct fixture *f;
    const char *id;
    const char *status;
    const char *history_reason; /* or: wait for a history row with this reason */
};

static bool status_is(void *arg)
{
    struct status_wait *w = arg;
    cJSON *j = get_order(w->f, w->id);
    bool ok;

    if (w->history_reason) {
        const cJSON *h;

        ok = false;
        cJSON_ArrayForEach (h, cJSON_GetObjectItem(j, "history")) {
            if (strcmp(str(h, "reason"), w->history_reason) == 0)
                ok = true;
        }
    } else {
        ok = strcmp(str(j, "status"), w->status) == 0;
    }
    cJSON_Delete(j);
    return ok;
}

static void wait_status(struct fixture *f, const char *id, const char *status)
{
    struct status_wait w = {f, id, status, NULL};

    if (!ts_poll_until(status_is, &w, WAIT_MS)) {
        cJSON *j = get_order(f, id);
        char *s = cJSON_PrintUnformatted(j);

        fail_msg("order %s never reached %s: %s", id, status, s);
    }
}

static void wait_history(struct fixture *f, const char *id, const char *reason)
{
    struct status_wait w = {f, id, NULL, reason};

    assert_true(ts_poll_until(status_is, &w, WAIT_MS));
}

/* Count of history rows into @to. */
static int history_count(struct fixture *f, const char *id, const char *to)
{
    cJSON *j = get_order(f, id);
    const cJSON *h;
    int n = 0;

    cJSON_ArrayForEach (h, cJSON_GetObjectItem(j, "history")) {
        n += strcmp(str(h, "toStatus"), to) == 0;
    }
    cJSON_Delete(j);
    return n;
}

/* ---- order events ---- */

static void read_events(struct fixture *f, int timeout_ms)
{
    struct ts_record *recs = NULL;
    size_t n = ts_consume(f->orders, 64, timeout_ms, &recs);

    for (size_t i = 0; i < n; i++) {
        cJSON *ev = cJSON_ParseWithLength(recs[i].value, recs[i].len);
        const cJSON *data = cJSON_GetObjectItem(ev, "data");

        assert_non_null(ev);
        /* key = subject = orderId = correlation id: the saga id is the order id */
        assert_string_equal(recs[i].key, str(data, "orderId"));
        assert_string_equal(str(ev, "subject"), str(data, "orderId"));
        assert_string_equal(str(ev, "correlationid"), str(data, "orderId"));
        assert_string_equal(ts_record_header(&recs[i], "ce_type"), str(ev, "type"));
        assert_true(f->nevents < MAX_EVENTS);
        f->events[f->nevents++] = ev;
    }
    ts_records_free(recs, n);
}

/* Distinct @type events (by envelope id) about order @id. Publishing is at least once: a
 * record the relay sends again after a lost acknowledgement carries the same event id and is
 * the same event, so it is counted once. */
static size_t count_events(struct fixture *f, const char *id, const char *type)
{
    size_t n = 0;

    for (size_t i = 0; i < f->nevents; i++) {
        const cJSON *data = cJSON_GetObjectItem(f->events[i], "data");
        bool seen = false;

        if (strcmp(str(f->events[i], "type"), type) != 0 || strcmp(str(data, "orderId"), id) != 0)
            continue;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(str(f->events[j], "id"), str(f->events[i], "id")) == 0;
        n += !seen;
    }
    return n;
}

/* The first @type event about order @id (its data), waiting for it. Borrowed from @f. */
static const cJSON *wait_event(struct fixture *f, const char *id, const char *type)
{
    int64_t deadline = util_now_mono_ms() + WAIT_MS;

    for (;;) {
        for (size_t i = 0; i < f->nevents; i++) {
            const cJSON *data = cJSON_GetObjectItem(f->events[i], "data");

            if (strcmp(str(f->events[i], "type"), type) == 0 &&
                strcmp(str(data, "orderId"), id) == 0)
                return data;
        }
        if (util_now_mono_ms() > deadline)
            fail_msg("no %s for order %s", type, id);
        read_events(f, 500);
    }
}

static const char *one_line = "{\"items\":[{\"skuId\":103,\"quantity\":1}]}";

/* Creates a coupon as admin with a fresh code "<@prefix>_<HEX>" and the other members @fields;
 * the code into @ret_code. */
static void coupon_new(struct fixture *f, const char *prefix, const char *fields, char *ret_code,
                       size_t codelen)
{
    char code[48], body[512];
    cJSON *j = NULL;

    ts_unique(prefix, code, sizeof(code));
    for (char *p = code; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    snprintf(body, sizeof(body), "{\"code\":\"%s\",%s}", code, fields);
    assert_int_equal(http(f, "POST", "/api/coupons", f->admin, body, NULL, &j), 201);
    assert_string_equal(str(j, "code"), code);
    cJSON_Delete(j);
    snprintf(ret_code, codelen, "%s", code);
}

/* The coupon's uses taken and not given back (GET /api/coupons/{code} as admin). */
static long long coupon_used(struct fixture *f, const char *code)
{
    char path[96];
    cJSON *j = NULL;
    long long used;

    snprintf(path, sizeof(path), "/api/coupons/%s", code);
    assert_int_equal(http(f, "GET", path, f->admin, NULL, NULL, &j), 200);
    used = num(j, "used");
    cJSON_Delete(j);
    return used;
}

/* An order body of @lines (JSON array members) with couponCode @code, into @out. */
static const char *with_coupon(char *out, size_t outlen, const char *lines, const char *code)
{
    snprintf(out, outlen, "{\"items\":[%s],\"couponCode\":\"%s\"}", lines, code);
    return out;
}
/* ---- tests ---- */

/* Place, both facts in either order, pay, confirm, refund one item then the other. */
static void test_happy_path_and_refunds(void **state)
{
    struct fixture *f = *state;
    char id[UTIL_UUID_LEN], path[128], body[256], code[48];
    const cJSON *placed, *items, *ev;
    long long item1, item2;
    cJSON *o = NULL;

    /* the discount: 10 % of 40000 from a coupon (a client never names an amount) */
    coupon_new(f, "happy", "\"percent\":10", code, sizeof(code));
    with_coupon(body, sizeof(body), "{\"skuId\":101,\"quantity\":2},{\"skuId\":102,\"quantity\":1}",
                code);
    assert_int_equal(place(f, f->alice, body, NULL, id, &o), 201);
    assert_string_equal(str(o, "status"), "CREATED");
    assert_int_equal(num(o, "totalAmount"), 40000);
    assert_int_equal(num(o, "discountAmount"), 4000);
    assert_int_equal(num(o, "payableAmount"), 36000);
    assert_string_equal(str(o, "couponCode"), code);
    cJSON_Delete(o);

    placed = wait_event(f, id, "order.placed");
    assert_string_equal(str(placed, "userId"), "alice-0001");
    assert_int_equal(num(placed, "totalAmount"), 40000);
    assert_int_equal(num(placed, "discountAmount"), 4000);
    assert_int_equal(num(placed, "payableAmount"), 36000);
    items = cJSON_GetObjectItem(placed, "items");
    assert_int_equal(cJSON_GetArraySize(items), 2);
    /* 4000 split 30000 : 10000 → 3000 + 1000 */
    assert_int_equal(num(cJSON_GetArrayItem(items, 0), "skuId"), SKU_A);
    assert_int_equal(num(cJSON_GetArrayItem(items, 0), "unitPrice"), 15000);
    assert_int_equal(num(cJSON_GetArrayItem(items, 0), "quantity"), 2);
    assert_int_equal(num(cJSON_GetArrayItem(items, 0), "amount"), 27000);
    assert_int_equal(num(cJSON_GetArrayItem(items, 1), "amount"), 9000);
    item1 = num(cJSON_GetArrayItem(items, 0), "orderItemId");
    item2 = num(cJSON_GetArrayItem(items, 1), "orderItemId");
    assert_true(item1 > 0 && item2 > 0);

    /* payment first, then stock: PAYMENT_PENDING either way */
    send_free(f->payment_topic, "payment.created", id,
              "{\"orderId\":\"%s\",\"paymentId\":\"pay-%s\",\"userId\":\"alice-0001\","
              "\"amount\":36000,\"status\":\"READY\"}",
              id, id);
    wait_status(f, id, "PAYMENT_CREATED");
    send_free(f->stock_topic, "stock.reserved", id,
              "{\"orderId\":\"%s\",\"items\":[{\"skuId\":101,\"quantity\":2},"
              "{\"skuId\":102,\"quantity\":1}]}",
              id);
    wait_status(f, id, "PAYMENT_PENDING");

    send_free(f->payment_topic, "payment.completed", id,
              "{\"orderId\":\"%s\",\"paymentId\":\"pay-%s\",\"transactionId\":\"tx-1\","
              "\"paidAmount\":36000,\"currency\":\"KRW\",\"approvedAt\":1767225600000}",
              id, id);
    wait_status(f, id, "PAID");
    ev = wait_event(f, id, "order.confirmed");
    assert_int_equal(num(ev, "payableAmount"), 36000);

    send_free(f->stock_topic, "stock.confirmed", id,
              "{\"orderId\":\"%s\",\"items\":[{\"skuId\":101,\"quantity\":2}]}", id);
    wait_status(f, id, "CONFIRMED");
    o = get_order(f, id);
    assert_int_equal(strncmp(str(o, "paymentId"), "pay-", 4), 0);
    cJSON_Delete(o);

    /* too late to cancel */
    snprintf(path, sizeof(path), "/api/orders/%s/cancel", id);
    assert_int_equal(http(f, "POST", path, f->alice, NULL, NULL, &o), 409);
    assert_string_equal(str(o, "code"), "ORDER-409-001");
    cJSON_Delete(o);

    /* refund the first line: PARTIALLY_REFUNDED and that line's payable share */
    snprintf(path, sizeof(path), "/api/orders/%s/refund", id);
    snprintf(body, sizeof(body), "{\"itemIds\":[%lld]}", item1);
    assert_int_equal(http(f, "POST", path, f->alice, body, NULL, &o), 200);
    assert_string_equal(str(o, "status"), "PARTIALLY_REFUNDED");
    assert_int_equal(num(o, "refundAmount"), 27000);
    cJSON_Delete(o);
    ev = wait_event(f, id, "order.refunded");
    assert_int_equal(num(ev, "amount"), 27000);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(ev, "items")), 1);
    assert_int_equal(num(cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "items"), 0), "skuId"), SKU_A);
    assert_int_equal(num(cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "items"), 0), "quantity"), 2);
    /* the same item again: refused; someone else: not found; an item of no order: 422 */
    assert_int_equal(http(f, "POST", path, f->alice, body, NULL, NULL), 409);
    assert_int_equal(http(f, "POST", path, f->bob, body, NULL, NULL), 404);
    assert_int_equal(http(f, "POST", path, f->alice, "{\"itemIds\":[999999]}", NULL, NULL), 422);
    /* the rest: REFUNDED */
    snprintf(body, sizeof(body), "{\"itemIds\":[%lld]}", item2);
    assert_int_equal(http(f, "POST", path, f->alice, body, NULL, &o), 200);
    assert_string_equal(str(o, "status"), "REFUNDED");
    cJSON_Delete(o);
    o = get_order(f, id);
    assert_true(cJSON_IsTrue(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "items"), 0), "refunded")));
    cJSON_Delete(o);
}

/* stock.reserved first, then payment.created; a payment created and captured for the wrong
 * amount (998 of a payable 999) is refused: CANCELLED with AMOUNT_MISMATCH so the payment is
 * refunded. */
static void test_amount_mismatch(void **state)
{
    struct fixture *f = *state;
    char id[UTIL_UUID_LEN];
    const cJSON *ev;
    cJSON *o;

    assert_int_equal(place(f, f->alice, one_line, NULL, id, NULL), 201);
    send_free(f->stock_topic, "stock.reserved", id,
              "{\"orderId\":\"%s\",\"items\":[{\"skuId\":103,\"quantity\":1}]}", id);
    wait_status(f, id, "RESERVED");
    send_free(f->payment_topic, "payment.created", id,
              "{\"orderId\":\"%s\",\"paymentId\":\"p-%s\",\"userId\":\"alice-0001\","
              "\"amount\":998,\"status\":\"READY\"}",
              id, id);
    wait_status(f, id, "PAYMENT_PENDING");
    send_free(f->payment_topic, "payment.completed", id,
              "{\"orderId\":\"%s\",\"paymentId\":\"p-%s\",\"transactionId\":\"tx-p\","
              "\"paidAmount\":998,\"currency\":\"KRW\",\"approvedAt\":1767225600000}",
              id, id);
    wait_status(f, id, "CANCELLED");
    ev = wait_event(f, id, "order.cancelled");
    assert_string_equal(str(ev, "reason"), "AMOUNT_MISMATCH");
    assert_string_equal(str(ev, "status"), "CANCELLED");
    assert_int_equal(count_events(f, id, "order.confirmed"), 0);
    o = get_order(f, id);
    assert_string_equal(str(o, "cancelReason"), "AMOUNT_MISMATCH");
    cJSON_Delete(o);
}

static void test_reservation_failed(void **state)
{
    struct fixture *f = *state;
    char id[UTIL_UUID_LEN];
    const cJSON *ev;

    assert_int_equal(place(f, f->alice, one_line, NULL, id, NULL), 201);
    send_free(f->stock_topic, "stock.reservation.failed", id,
              "{\"orderId\":\"%s\",\"reason\":\"NOT_ENOUGH_STOCK\",\"failedItems\":[{\"skuId\":"
              "103,\"requestedQuantity\":1,\"availableQuantity\":0}]}",
              id);
    wait_status(f, id, "FAILED");
    ev = wait_event(f, id, "order.cancelled");
    assert_string_equal(str(ev, "reason"), "STOCK_RESERVATION_FAILED");
    assert_string_equal(str(ev, "status"), "FAILED");
    assert_string_equal(str(ev, "userId"), "alice-0001");
}

static void test_payment_failed(void **state)
{
    struct fixture *f = *state;
    char id[UTIL_UUID_LEN];
    const cJSON *ev;

    assert_int_equal(place(f, f->alice, one_line, NULL, id, NULL), 201);
    send_free(f->stock_topic, "stock.reserved", id,
              "{\"orderId\":\"%s\",\"items\":[{\"skuId\":103,\"quantity\":1}]}", id);
    send_free(f->payment_topic, "payment.created", id,
              "{\"orderId\":\"%s\",\"paymentId\":\"p-%s\",\"userId\":\"alice-0001\","
              "\"amount\":999,\"status\":\"READY\"}",
              id, id);
    wait_status(f, id, "PAYMENT_PENDING");
    send_free(f->payment_topic, "payment.failed", id,
              "{\"orderId\":\"%s\",\"paymentId\":\"p\",\"reason\":\"DECLINED_CARD\","
              "\"failedAt\":1767225600000}",
              id);
    wait_status(f, id, "CANCELLED");
    ev = wait_event(f, id, "order.cancelled");
    assert_string_equal(str(ev, "reason"), "PAYMENT_FAILED");
    assert_string_equal(str(ev, "status"), "CANCELLED");
}

/* Redelivered events (same id) and stale ones (new id, no longer applicable) change nothing
 * and publish nothing. */
static void test_duplicates(void **state)
{
    struct fixture *f = *state;
    char id[UTIL_UUID_LEN];
    char *reserved, *completed;
    const cJSON *ev;

    assert_int_equal(place(f, f->alice, one_line, NULL, id, NULL), 201);
    reserved = send(f->stock_topic, "stock.reserved", id,
                    "{\"orderId\":\"%s\",\"items\":[{\"skuId\":103,\"quantity\":1}]}", id);
    resend(f->stock_topic, id, reserved);
    send_free(f->stock_topic, "stock.reserved", id,
              "{\"orderId\":\"%s\",\"items\":[{\"skuId\":103,\"quantity\":1}]}", id);
    /* stock.released is recorded in the history: a marker that everything before it on the
     * stock topic (same key, same partition) has been handled */
    send_free(f->stock_topic, "stock.released", id,
              "{\"orderId\":\"%s\",\"items\":[],\"reason\":\"TEST_MARKER\"}", id);
    wait_history(f, id, "stock.released");
    assert_int_equal(history_count(f, id, "RESERVED"), 2); /* RESERVED once + the marker */

    send_free(f->payment_topic, "payment.created", id,
              "{\"orderId\":\"%s\",\"paymentId\":\"p-1\",\"userId\":\"alice-0001\","
              "\"amount\":999,\"status\":\"READY\"}",
              id);
    completed = send(f->payment_topic, "payment.completed", id,
                     "{\"orderId\":\"%s\",\"paymentId\":\"p-1\",\"transactionId\":\"tx-1\","
                     "\"paidAmount\":999,\"currency\":\"KRW\",\"approvedAt\":1767225600000}",
                     id);
    wait_status(f, id, "PAID");
    resend(f->payment_topic, id, completed);
    send_free(f->payment_topic, "payment.completed", id,
              "{\"orderId\":\"%s\",\"paymentId\":\"p-1\",\"transactionId\":\"tx-1\","
              "\"paidAmount\":999,\"currency\":\"KRW\",\"approvedAt\":1767225600000}",
              id);
    send_free(f->payment_topic, "payment.refunded", id,
              "{\"orderId\":\"%s\",\"paymentId\":\"p-1\",\"transactionId\":\"tx-1\","
              "\"refundedAmount\":0,\"totalRefunded\":0,\"remainingAmount\":999,"
              "\"reason\":null}",
              id);
    wait_history(f, id, "payment.refunded");
    assert_int_equal(history_count(f, id, "PAID"), 2); /* PAID once + the marker */
    /* cancel after payment: order.cancelled comes after every earlier event of the order */
    {
        char path[96];

        snprintf(path, sizeof(path), "/api/orders/%s/cancel", id);
        assert_int_equal(http(f, "POST", path, f->alice, NULL, NULL, NULL), 200);
        /* a repeated cancel answers like the first */
        assert_int_equal(http(f, "POST", path, f->alice, NULL, NULL, NULL), 200);
    }
    ev = wait_event(f, id, "order.cancelled");
    assert_string_equal(str(ev, "reason"), "USER_CANCELLED");
    assert_int_equal(count_events(f, id, "order.confirmed"), 1);
    assert_int_equal(count_events(f, id, "order.placed"), 1);
    free(reserved);
    free(completed);
}

/* Other users cannot read or cancel; ADMIN can read; the owner cancels before payment. */
static void test_ownership_and_cancel(void **state)
{
    struct fixture *f = *state;
    char id[UTIL_UUID_LEN], path[128];
    const cJSON *ev;
    cJSON *o = NULL;

    assert_int_equal(place(f, f->alice, one_line, NULL, id, NULL), 201);
    snprintf(path, sizeof(path), "/api/orders/%s", id);
    assert_int_equal(http(f, "GET", path, f->bob, NULL, NULL, &o), 404);
    assert_string_equal(str(o, "code"), "ORDER-404-001");
    cJSON_Delete(o);
    assert_int_equal(http(f, "GET", path, f->admin, NULL, NULL, NULL), 200);
    snprintf(path, sizeof(path), "/api/orders/%s/cancel", id);
    assert_int_equal(http(f, "POST", path, f->bob, NULL, NULL, NULL), 404);
    assert_int_equal(http(f, "POST", path, f->alice, NULL, NULL, &o), 200);
    assert_string_equal(str(o, "status"), "CANCELLED");
    assert_string_equal(str(o, "cancelReason"), "USER_CANCELLED");
    cJSON_Delete(o);
    ev = wait_event(f, id, "order.cancelled");
    assert_string_equal(str(ev, "reason"), "USER_CANCELLED");

    /* a payment completing after the cancel: the order stays CANCELLED and asks for a refund
     * (it learns the payment from a payment.created that arrives after the cancel) */
    send_free(f->payment_topic, "payment.created", id,
              "{\"orderId\":\"%s\",\"paymentId\":\"late\",\"userId\":\"alice-0001\","
              "\"amount\":999,\"status\":\"READY\"}",
              id);
    send_free(f->payment_topic, "payment.completed", id,
              "{\"orderId\":\"%s\",\"paymentId\":\"late\",\"transactionId\":\"tx-late\","
              "\"paidAmount\":999,\"currency\":\"KRW\",\"approvedAt\":1767225600000}",
              id);
    wait_history(f, id, "PAID_AFTER_CANCEL");
    o = get_order(f, id);
    assert_string_equal(str(o, "status"), "CANCELLED");
    cJSON_Delete(o);
    for (int64_t end = util_now_mono_ms() + WAIT_MS;
         count_events(f, id, "order.cancelled") < 2 && util_now_mono_ms() < end;)
        read_events(f, 500);
    assert_int_equal(count_events(f, id, "order.cancelled"), 2);

    /* B's list does not show A's orders */
    assert_int_equal(http(f, "GET", "/api/orders?page=0&size=5", f->bob, NULL, NULL, &o), 200);
    assert_int_equal(num(o, "totalElements"), 0);
    cJSON_Delete(o);
    assert_int_equal(http(f, "GET", "/api/orders?page=0&size=2", f->alice, NULL, NULL, &o), 200);
    assert_true(num(o, "totalElements") >= 1);
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(o, "content")) <= 2);
    cJSON_Delete(o);
}

/* The same Idempotency-Key twice: one order, one order.placed; another user's same key is
 * another order. */
static void test_idempotency_key(void **state)
{
    struct fixture *f = *state;
    char id1[UTIL_UUID_LEN], id2[UTIL_UUID_LEN], id3[UTIL_UUID_LEN], key[64];

    ts_unique("idem", key, sizeof(key));
    assert_int_equal(place(f, f->alice, one_line, key, id1, NULL), 201);
    assert_int_equal(place(f, f->alice, one_line, key, id2, NULL), 200);
    assert_string_equal(id1, id2);
    assert_int_equal(place(f, f->bob, one_line, key, id3, NULL), 201);
    assert_string_not_equal(id1, id3);
    /* bob's order.placed comes after alice's on the order topic only if they share a
     * partition, so wait for both and then give the relay a moment beyond */
    wait_event(f, id1, "order.placed");
    wait_event(f, id3, "order.placed");
    read_events(f, 2000);
    assert_int_equal(count_events(f, id1, "order.placed"), 1);
}

/* An invalid payload goes to the dead-letter topic; an unknown order is skipped; either way
 * the consumer moves on to the next event. */
static void test_invalid_and_unknown_events(void **state)
{
    struct fixture *f = *state;
    char id[UTIL_UUID_LEN], other[UTIL_UUID_LEN], dlq[96];
    struct ts_consumer *c;
    struct ts_record *recs = NULL;
    size_t n;

    assert_int_equal(place(f, f->alice, one_line, NULL, id, NULL), 201);
    util_uuid(other);
    send_free(f->payment_topic, "payment.created", other,
              "{\"orderId\":\"%s\",\"paymentId\":\"p\",\"userId\":\"alice-0001\","
              "\"amount\":1,\"status\":\"READY\"}",
              other);
    send_free(f->payment_topic, "payment.completed", id,
              "{\"orderId\":\"%s\",\"paymentId\":\"p\",\"transactionId\":\"tx-p\","
              "\"paidAmount\":\"lots\",\"currency\":\"KRW\",\"approvedAt\":1767225600000}",
              id);
    send_free(f->payment_topic, "payment.created", id,
              "{\"orderId\":\"%s\",\"paymentId\":\"p-%s\",\"userId\":\"alice-0001\","
              "\"amount\":999,\"status\":\"READY\"}",
              id, id);
    wait_status(f, id, "PAYMENT_CREATED");
    snprintf(dlq, sizeof(dlq), "%s.dlq", f->payment_topic);
    c = ts_consumer_new(dlq);
    n = ts_consume(c, 1, WAIT_MS, &recs);
    assert_int_equal(n, 1);
    assert_string_equal(recs[0].key, id);
    /* the schema validator refuses it, naming the field */
    assert_int_equal(strncmp(ts_record_header(&recs[0], "dlq_error"), "schema: ", 8), 0);
    assert_non_null(strstr(ts_record_header(&recs[0], "dlq_error"), "paidAmount"));
    ts_records_free(recs, n);
    ts_consumer_free(c);
}

/* The dead letters of @topic about order @key, until @want of them arrived (WAIT_MS); returns
 * how many, their dlq_error headers into @ret_errors (copies, caller frees). */
static size_t dead_letters(const char *topic, const char *key, size_t want, char **ret_errors)
{
    char dlq[96];
    struct ts_consumer *c;
    size_t got = 0;
    int64_t deadline = util_now_mono_ms() + WAIT_MS;

    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    c = ts_consumer_new(dlq);
    while (got < want && util_now_mono_ms() < deadline) {
        struct ts_record *recs = NULL;
        size_t n = ts_consume(c, 16, 500, &recs);

        for (size_t i = 0; i < n && got < want; i++) {
            if (recs[i].key && strcmp(recs[i].key, key) == 0)
                ret_errors[got++] = strdup(ts_record_header(&recs[i], "dlq_error"));
        }
        ts_records_free(recs, n);
    }
    ts_consumer_free(c);
    return got;
}

/* A payment.completed that does not come from payment-service, or that names a payment the
 * order never learned from payment.created, or another amount, is dead-lettered and changes
 * nothing; the real one still pays the order. Before any payment.created, none is accepted. */
static void test_payment_not_recognised(void **state)
{
    static const char *const completed = "{\"orderId\":\"%s\",\"paymentId\":\"%s\","
                                         "\"transactionId\":\"tx-f\",\"paidAmount\":%d,"
                                         "\"currency\":\"KRW\",\"approvedAt\":1767225600000}";
    struct fixture *f = *state;
    char id[UTIL_UUID_LEN], early[UTIL_UUID_LEN], pay[64], id2[UTIL_UUID_LEN], data[512];
    char *errors[4] = {NULL}, *value;
    cJSON *o;

    assert_int_equal(place(f, f->alice, one_line, NULL, id, NULL), 201);
    snprintf(pay, sizeof(pay), "p-%s", id);
    send_free(f->stock_topic, "stock.reserved", id,
              "{\"orderId\":\"%s\",\"items\":[{\"skuId\":103,\"quantity\":1}]}", id);
    send_free(f->payment_topic, "payment.created", id,
              "{\"orderId\":\"%s\",\"paymentId\":\"%s\",\"userId\":\"alice-0001\","
              "\"amount\":999,\"status\":\"READY\"}",
              id, pay);
    wait_status(f, id, "PAYMENT_PENDING");

    /* 1: from another service; 2: a payment never learned; 3: the payment, another amount */
    util_uuid(id2);
    snprintf(data, sizeof(data), completed, id, pay, 999);
    value = envelope_from("/inventory-service", "payment.completed", id2, id, data);
    assert_int_equal(ts_produce(f->payment_topic, id, value, strlen(value), NULL), 0);
    free(value);
    send_free(f->payment_topic, "payment.completed", id, completed, id, "forged", 999);
    send_free(f->payment_topic, "payment.completed", id, completed, id, pay, 1);
    assert_int_equal(dead_letters(f->payment_topic, id, 3, errors), 3);
    assert_string_equal(errors[0], "source: '/inventory-service' is not the producer of "
                                   "payment.completed ('/payment-service')");
    assert_non_null(strstr(errors[1], "payment not recognised"));
    assert_non_null(strstr(errors[1], "'forged'"));
    assert_non_null(strstr(errors[2], "payment not recognised"));
    assert_non_null(strstr(errors[2], "for 1;"));
    o = get_order(f, id);
    assert_string_equal(str(o, "status"), "PAYMENT_PENDING");
    assert_int_equal(history_count(f, id, "PAID"), 0);
    cJSON_Delete(o);

    /* the real one: PAID, one order.confirmed */
    send_free(f->payment_topic, "payment.completed", id, completed, id, pay, 999);
    wait_status(f, id, "PAID");
    wait_event(f, id, "order.confirmed");
    assert_int_equal(count_events(f, id, "order.confirmed"), 1);

    /* no payment.created yet: nothing is recognised */
    assert_int_equal(place(f, f->alice, one_line, NULL, early, NULL), 201);
    send_free(f->payment_topic, "payment.completed", early, completed, early, "p-early", 999);
    assert_int_equal(dead_letters(f->payment_topic, early, 1, errors + 3), 1);
    assert_non_null(strstr(errors[3], "has learned no payment"));
    o = get_order(f, early);
    assert_string_equal(str(o, "status"), "CREATED");
    cJSON_Delete(o);
    for (size_t i = 0; i < 4; i++)
        free(errors[i]);
}

struct racer {
    struct fixture *f;
    const char *key;
    const char *body; /* NULL: one_line */
    long status;
    char id[UTIL_UUID_LEN];
};

/* One POST /api/orders with the racers' shared key (no cmocka asserts off the main thread). */
static void *race_place(void *arg)
{
    struct racer *r = arg;
    char u[128], hdr[200];
    const char *headers[] = {hdr, NULL};
    struct ts_resp resp;

    snprintf(u, sizeof(u), "%.63s/api/orders", r->f->svc.url);
    snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", r->key);
    if (ts_http("POST", u, r->f->alice, r->body ? r->body : one_line, headers, &resp) == 0) {
        r->status = resp.status;
        snprintf(r->id, sizeof(r->id), "%s", str(resp.json, "id"));
        ts_resp_free(&resp);
    }
    return NULL;
}

/* Concurrent requests with one key (and @body): one 201, the others 200 with the same order,
 * one order.placed. */
static void idempotency_race(struct fixture *f, const char *body)
{
    struct racer racers[6];
    pthread_t threads[6];
    char key[64];
    int created = 0;

    ts_unique("race", key, sizeof(key));
    for (size_t i = 0; i < 6; i++) {
        racers[i] = (struct racer){.f = f, .key = key, .body = body};
        assert_int_equal(pthread_create(&threads[i], NULL, race_place, &racers[i]), 0);
    }
    for (size_t i = 0; i < 6; i++)
        pthread_join(threads[i], NULL);
    for (size_t i = 0; i < 6; i++) {
        if (racers[i].status != 200 && racers[i].status != 201)
            fail_msg("racer %zu: status %ld", i, racers[i].status);
        created += racers[i].status == 201;
        assert_string_equal(racers[i].id, racers[0].id);
    }
    assert_int_equal(created, 1);
    wait_event(f, racers[0].id, "order.placed");
    read_events(f, 1000);
    assert_int_equal(count_events(f, racers[0].id, "order.placed"), 1);
}

static void test_idempotency_race(void **state)
{
    idempotency_race(*state, NULL);
}

/* The field of the first error of a problem body ("" when none). */
static const char *first_error_field(const cJSON *problem)
{
    return str(cJSON_GetArrayItem(cJSON_GetObjectItem(problem, "errors"), 0), "field");
}

/* POST /api/orders @body is refused: 400 ORDER-400-001, its first field error on @field with a
 * message containing @says. */
static void refused_field(struct fixture *f, const char *body, const char *field, const char *says)
{
    const cJSON *err;
    cJSON *o = NULL;

    assert_int_equal(http(f, "POST", "/api/orders", f->alice, body, NULL, &o), 400);
    assert_string_equal(str(o, "code"), "ORDER-400-001");
    assert_string_equal(first_error_field(o), field);
    err = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "errors"), 0);
    assert_non_null(strstr(str(err, "message"), says));
    cJSON_Delete(o);
}

static void test_bad_input(void **state)
{
    struct fixture *f = *state;
    char many[4096], path[96];
    size_t used;
    cJSON *o = NULL;

    assert_int_equal(http(f, "POST", "/api/orders", NULL, one_line, NULL, NULL), 401);
    assert_int_equal(http(f, "POST", "/api/orders", f->alice, "{\"items\":[]}", NULL, &o), 400);
    assert_string_equal(str(o, "code"), "ORDER-400-001");
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(o, "errors")) >= 1);
    cJSON_Delete(o);
    assert_int_equal(http(f, "POST", "/api/orders", f->alice,
                          "{\"items\":[{\"skuId\":103,\"quantity\":0}]}", NULL, NULL),
                     400);
    assert_int_equal(http(f, "POST", "/api/orders", f->alice,
                          "{\"items\":[{\"skuId\":103,\"quantity\":1001}]}", NULL, NULL),
                     400);
    assert_int_equal(http(f, "POST", "/api/orders", f->alice,
                          "{\"items\":[{\"skuId\":103,\"quantity\":1}],\"discountAmount\":-1}",
                          NULL, NULL),
                     400);
    assert_int_equal(http(f, "POST", "/api/orders", f->alice,
                          "{\"items\":[{\"skuId\":103,\"quantity\":1}],\"discountAmount\":1000}",
                          NULL, &o),
                     400);
    assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "errors"), 0), "field"),
                        "discountAmount");
    cJSON_Delete(o);
    /* discounts come only from coupons: any discountAmount is refused, also 0 */
    refused_field(f, "{\"items\":[{\"skuId\":103,\"quantity\":1}],\"discountAmount\":0}",
                  "discountAmount", "coupon");
    refused_field(f, "{\"items\":[{\"skuId\":103,\"quantity\":1}],\"couponCode\":\"a b\"}",
                  "couponCode", "A-Z");
    refused_field(f, "{\"items\":[{\"skuId\":103,\"quantity\":1}],\"couponCode\":7}", "couponCode",
                  "");
    used = (size_t)snprintf(many, sizeof(many), "{\"items\":[");
    for (int i = 0; i < 51; i++)
        used += (size_t)snprintf(many + used, sizeof(many) - used,
                                 "%s{\"skuId\":103,\"quantity\":1}", i ? "," : "");
    snprintf(many + used, sizeof(many) - used, "]}");
    assert_int_equal(http(f, "POST", "/api/orders", f->alice, many, NULL, NULL), 400);
    assert_int_equal(http(f, "POST", "/api/orders", f->alice, "{not json", NULL, NULL), 400);
    assert_int_equal(http(f, "POST", "/api/orders", f->alice,
                          "{\"items\":[{\"skuId\":424242,\"quantity\":1}]}", NULL, &o),
                     422);
    assert_string_equal(str(o, "code"), "ORDER-422-001");
    cJSON_Delete(o);
    assert_int_equal(http(f, "GET", "/api/orders/00000000-0000-4000-8000-000000000000", f->alice,
                          NULL, NULL, NULL),
                     404);
    assert_int_equal(http(f, "GET", "/api/orders/not-an-id", f->alice, NULL, NULL, NULL), 404);
    assert_int_equal(http(f, "GET", "/api/orders?size=0", f->alice, NULL, NULL, NULL), 400);
    /* refund before CONFIRMED */
    {
        char id[UTIL_UUID_LEN];

        assert_int_equal(place(f, f->alice, one_line, NULL, id, NULL), 201);
        snprintf(path, sizeof(path), "/api/orders/%s/refund", id);
        assert_int_equal(http(f, "POST", path, f->alice, "{\"itemIds\":[1]}", NULL, NULL), 409);
        assert_int_equal(http(f, "POST", path, f->alice, "{\"itemIds\":[]}", NULL, NULL), 400);
    }
}

/* The value of the sample @series ("name{labels}") in /metrics; 0 when absent. With @must,
 * asserts the page holds it too. */
static double metric(struct fixture *f, const char *series, const char *must)
{
    struct ts_resp r;
    char u[128];
    const char *at;
    double v = 0;

    snprintf(u, sizeof(u), "%.63s/metrics", f->svc.url);
    assert_int_equal(ts_http("GET", u, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    if (must)
        assert_non_null(strstr(r.body, must));
    for (at = strstr(r.body, series); at; at = strstr(at + 1, series)) {
        if ((at == r.body || at[-1] == '\n') && at[strlen(series)] == ' ') {
            v = strtod(at + strlen(series) + 1, NULL);
            break;
        }
    }
    ts_resp_free(&r);
    return v;
}

/* A user cancel counts one CANCELLED saga end (with its reason) and observes its duration. */
static void test_metrics(void **state)
{
    static const char *const cancelled =
        "commerce_saga_outcomes_total{status=\"CANCELLED\",reason=\"USER_CANCELLED\"}";
    static const char *const ended = "commerce_saga_duration_seconds_count";
    struct fixture *f = *state;
    char id[UTIL_UUID_LEN], path[128];
    double before, ended_before;
    cJSON *o = NULL;

    before = metric(f, cancelled, NULL);
    ended_before = metric(f, ended, NULL);
    assert_int_equal(place(f, f->alice, one_line, NULL, id, NULL), 201);
    snprintf(path, sizeof(path), "/api/orders/%s/cancel", id);
    assert_int_equal(http(f, "POST", path, f->alice, NULL, NULL, &o), 200);
    assert_string_equal(str(o, "status"), "CANCELLED");
    cJSON_Delete(o);
    /* counted after the commit, before the reply; polled all the same */
    for (int64_t end = util_now_mono_ms() + WAIT_MS;
         metric(f, cancelled, NULL) < before + 1 && util_now_mono_ms() < end;)
        read_events(f, 100);
    assert_true(metric(f, cancelled, "commerce_saga_outcomes_total{status=\"CANCELLED\"") ==
                before + 1);
    assert_true(metric(f, ended, "commerce_saga_duration_seconds_bucket") >= ended_before + 1);
}

/* Unpaid orders are cancelled after ORDER_PAYMENT_DEADLINE_S (3 s here) exactly once, with
 * two instances scanning the same database. */
static void test_payment_deadline(void **state)
{
    struct fixture *f = *state;
    char ids[8][UTIL_UUID_LEN];
    const cJSON *ev;
    cJSON *o;

    for (size_t i = 0; i < 8; i++)
        assert_int_equal(place(f, f->alice, one_line, NULL, ids[i], NULL), 201);
    for (size_t i = 0; i < 8; i++) {
        wait_status(f, ids[i], "CANCELLED");
        ev = wait_event(f, ids[i], "order.cancelled");
        assert_string_equal(str(ev, "reason"), "PAYMENT_TIMEOUT");
        assert_string_equal(str(ev, "status"), "CANCELLED");
    }
    o = get_order(f, ids[0]);
    assert_string_equal(str(o, "cancelReason"), "PAYMENT_TIMEOUT");
    cJSON_Delete(o);
    /* later scans of either instance leave them alone */
    read_events(f, 2000);
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(count_events(f, ids[i], "order.cancelled"), 1);
        assert_int_equal(history_count(f, ids[i], "CANCELLED"), 1);
    }
}

/* ---- coupons ---- */

/* Admin API: created (201 with Location), read back, duplicates 409, bad input 400 naming the
 * field, users 403. */
static void test_coupon_admin(void **state)
{
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"code\":\"lower-case\",\"amount\":100}", "code"},
        {"{\"code\":\"AB\",\"amount\":100}", "code"},
        {"{\"code\":\"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456\",\"amount\":100}", "code"},
        {"{\"amount\":100}", "code"},
        {"{\"code\":\"BAD-PCT\",\"percent\":0}", "percent"},
        {"{\"code\":\"BAD-PCT\",\"percent\":101}", "percent"},
        {"{\"code\":\"BAD-PCT\",\"percent\":10.5}", "percent"},
        {"{\"code\":\"BAD-AMT\",\"amount\":0}", "amount"},
        {"{\"code\":\"BAD-AMT\",\"amount\":-100}", "amount"},
        {"{\"code\":\"BAD-NONE\"}", "amount"},
        {"{\"code\":\"BAD-BOTH\",\"amount\":100,\"percent\":10}", "percent"},
        {"{\"code\":\"BAD-MIN\",\"amount\":100,\"minOrderAmount\":-1}", "minOrderAmount"},
        {"{\"code\":\"BAD-WIN\",\"amount\":100,\"validFrom\":\"2026-02-01T00:00:00Z\","
         "\"validUntil\":\"2026-01-01T00:00:00Z\"}",
         "validUntil"},
        {"{\"code\":\"BAD-WIN\",\"amount\":100,\"validFrom\":\"tomorrow\"}", "validFrom"},
        {"{\"code\":\"BAD-LIM\",\"amount\":100,\"totalLimit\":0}", "totalLimit"},
        {"{\"code\":\"BAD-LIM\",\"amount\":100,\"perUserLimit\":0}", "perUserLimit"},
    };
    struct fixture *f = *state;
    char code[48], body[256], path[96];
    cJSON *o = NULL;

    ts_unique("ADMIN", code, sizeof(code));
    for (char *p = code; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    snprintf(body, sizeof(body),
             "{\"code\":\"%s\",\"amount\":2500,\"minOrderAmount\":10000,\"validFrom\":"
             "\"2026-01-01T09:00:00+09:00\",\"validUntil\":\"2099-01-01T00:00:00Z\","
             "\"totalLimit\":10,\"perUserLimit\":2}",
             code);
    assert_int_equal(http(f, "POST", "/api/coupons", f->alice, body, NULL, NULL), 403);
    assert_int_equal(http(f, "POST", "/api/coupons", f->admin, body, NULL, &o), 201);
    assert_string_equal(str(o, "type"), "FIXED");
    assert_int_equal(num(o, "amount"), 2500);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "percent")));
    assert_string_equal(str(o, "validFrom"), "2026-01-01T00:00:00.000Z");
    assert_int_equal(num(o, "used"), 0);
    cJSON_Delete(o);
    assert_int_equal(http(f, "POST", "/api/coupons", f->admin, body, NULL, &o), 409);
    assert_string_equal(str(o, "code"), "ORDER-409-006");
    cJSON_Delete(o);

    snprintf(path, sizeof(path), "/api/coupons/%s", code);
    assert_int_equal(http(f, "GET", path, f->alice, NULL, NULL, NULL), 403);
    assert_int_equal(http(f, "GET", path, f->admin, NULL, NULL, &o), 200);
    assert_string_equal(str(o, "code"), code);
    assert_int_equal(num(o, "minOrderAmount"), 10000);
    assert_int_equal(num(o, "totalLimit"), 10);
    assert_int_equal(num(o, "perUserLimit"), 2);
    assert_string_equal(str(o, "validUntil"), "2099-01-01T00:00:00.000Z");
    cJSON_Delete(o);
    assert_int_equal(http(f, "GET", "/api/coupons/NO-SUCH-COUPON", f->admin, NULL, NULL, &o), 404);
    assert_string_equal(str(o, "code"), "ORDER-404-002");
    cJSON_Delete(o);
    assert_int_equal(http(f, "GET", "/api/coupons/not%20a%20code", f->admin, NULL, NULL, NULL),
                     404);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long status = http(f, "POST", "/api/coupons", f->admin, bad[i].body, NULL, &o);

        if (status != 400 || strcmp(first_error_field(o), bad[i].field) != 0)
            fail_msg("%s: %ld, first error on '%s' (want 400 on '%s')", bad[i].body, status,
                     first_error_field(o), bad[i].field);
        assert_string_equal(str(o, "code"), "ORDER-400-001");
        cJSON_Delete(o);
        o = NULL;
    }
}

/* Orders @lines (JSON array members) with a fresh coupon of @fields as alice: the order and
 * its order.placed carry @discount and @payable. */
static void expect_discount(struct fixture *f, const char *fields, const char *lines,
                            long long discount, long long payable)
{
    char code[48], body[256], id[UTIL_UUID_LEN];
    const cJSON *placed;
    cJSON *o = NULL;

    coupon_new(f, "disc", fields, code, sizeof(code));
    assert_int_equal(place(f, f->alice, with_coupon(body, sizeof(body), lines, code), NULL, id, &o),
                     201);
    assert_int_equal(num(o, "discountAmount"), discount);
    assert_int_equal(num(o, "payableAmount"), payable);
    cJSON_Delete(o);
    placed = wait_event(f, id, "order.placed");
    assert_int_equal(num(placed, "discountAmount"), discount);
    assert_int_equal(num(placed, "payableAmount"), payable);
    assert_int_equal(coupon_used(f, code), 1);
}

/* Orders @lines with coupon @code as @token: refused with @status and problem code @problem. */
static void expect_refused(struct fixture *f, const char *token, const char *lines,
                           const char *code, long status, const char *problem)
{
    char body[256];
    cJSON *o = NULL;

    assert_int_equal(place(f, token, with_coupon(body, sizeof(body), lines, code), NULL, NULL, &o),
                     status);
    assert_string_equal(str(o, "code"), problem);
    cJSON_Delete(o);
}

/* An order pays exactly the coupon's discount (fixed capped at the total, percent rounded
 * down); each kind of unusable coupon is refused with its own code and writes nothing. */
static void test_coupon_discounts_and_refusals(void **state)
{
    static const char *const sku_a = "{\"skuId\":101,\"quantity\":1}"; /* 15000 */
    static const char *const sku_c = "{\"skuId\":103,\"quantity\":1}"; /* 999 */
    struct fixture *f = *state;
    char code[48];

    /* fixed, capped at the total: 999 - 5000 → pays 0 */
    expect_discount(f, "\"amount\":5000", sku_c, 999, 0);
    /* percent rounded down: 33 % of 999 = 329.67 → 329 */
    expect_discount(f, "\"percent\":33", sku_c, 329, 670);
    /* exactly the minimum is enough */
    expect_discount(f, "\"amount\":100,\"minOrderAmount\":15000", sku_a, 100, 14900);

    expect_refused(f, f->alice, sku_a, "NO-SUCH-CODE", 422, "ORDER-422-003");
    coupon_new(f, "later", "\"amount\":100,\"validFrom\":\"2099-01-01T00:00:00Z\"", code,
               sizeof(code));
    expect_refused(f, f->alice, sku_a, code, 422, "ORDER-422-004");
    coupon_new(f, "old",
               "\"amount\":100,\"validFrom\":\"2020-01-01T00:00:00Z\",\"validUntil\":"
               "\"2020-06-01T00:00:00Z\"",
               code, sizeof(code));
    expect_refused(f, f->alice, sku_a, code, 422, "ORDER-422-005");
    coupon_new(f, "min", "\"amount\":100,\"minOrderAmount\":15001", code, sizeof(code));
    expect_refused(f, f->alice, sku_a, code, 422, "ORDER-422-006");
    assert_int_equal(coupon_used(f, code), 0); /* a refusal takes no use */
}

/* Total and per-user limits: uses are counted and a coupon past its limit is refused. */
static void test_coupon_limits(void **state)
{
    static const char *const sku_a = "{\"skuId\":101,\"quantity\":1}";
    struct fixture *f = *state;
    char code[48], body[256], id[UTIL_UUID_LEN], *carol = ts_token("carol-0004", "USER");

    coupon_new(f, "lim", "\"amount\":1000,\"totalLimit\":2,\"perUserLimit\":1", code, sizeof(code));
    with_coupon(body, sizeof(body), sku_a, code);
    assert_int_equal(place(f, f->alice, body, NULL, id, NULL), 201);
    assert_int_equal(coupon_used(f, code), 1);
    /* alice has used hers */
    expect_refused(f, f->alice, sku_a, code, 409, "ORDER-409-005");
    assert_int_equal(place(f, f->bob, body, NULL, NULL, NULL), 201);
    assert_int_equal(coupon_used(f, code), 2);
    /* no uses left for anyone */
    expect_refused(f, carol, sku_a, code, 409, "ORDER-409-004");
    assert_int_equal(coupon_used(f, code), 2);
    /* the same Idempotency-Key again answers the order it made, taking no second use */
    {
        char key[64], first[UTIL_UUID_LEN], again[UTIL_UUID_LEN];

        coupon_new(f, "idem", "\"amount\":1000,\"totalLimit\":5", code, sizeof(code));
        with_coupon(body, sizeof(body), sku_a, code);
        ts_unique("idem-coupon", key, sizeof(key));
        assert_int_equal(place(f, carol, body, key, first, NULL), 201);
        assert_int_equal(place(f, carol, body, key, again, NULL), 200);
        assert_string_equal(first, again);
        assert_int_equal(coupon_used(f, code), 1);
    }
    free(carol);
}

/* A cancelled order gives its use back, once: the next order can use the coupon. */
static void test_coupon_given_back_on_cancel(void **state)
{
    static const char *const sku_a = "{\"skuId\":101,\"quantity\":1}";
    struct fixture *f = *state;
    char code[48], body[256], id[UTIL_UUID_LEN], path[96];
    char *carol = ts_token("carol-0005", "USER"), *dave = ts_token("dave-0006", "USER");
    cJSON *o = NULL;

    coupon_new(f, "back", "\"amount\":1000,\"totalLimit\":2,\"perUserLimit\":1", code,
               sizeof(code));
    with_coupon(body, sizeof(body), sku_a, code);
    assert_int_equal(place(f, f->alice, body, NULL, id, NULL), 201);
    assert_int_equal(place(f, f->bob, body, NULL, NULL, NULL), 201);
    expect_refused(f, carol, sku_a, code, 409, "ORDER-409-004");
    snprintf(path, sizeof(path), "/api/orders/%s/cancel", id);
    assert_int_equal(http(f, "POST", path, f->alice, NULL, NULL, NULL), 200);
    assert_int_equal(coupon_used(f, code), 1);
    /* a repeated cancel gives nothing back twice (bob's use stays taken) */
    assert_int_equal(http(f, "POST", path, f->alice, NULL, NULL, NULL), 200);
    assert_int_equal(coupon_used(f, code), 1);
    /* the next order can use it */
    assert_int_equal(place(f, carol, body, NULL, NULL, &o), 201);
    assert_int_equal(num(o, "payableAmount"), 14000);
    cJSON_Delete(o);
    assert_int_equal(coupon_used(f, code), 2);
    expect_refused(f, dave, sku_a, code, 409, "ORDER-409-004");
    free(carol);
    free(dave);
}

/* A FAILED order (stock not reservable) gives its use back once, however often the event
 * comes; the other order's use stays taken. */
static void test_coupon_given_back_on_failed(void **state)
{
    static const char *const sku_a = "{\"skuId\":101,\"quantity\":1}";
    static const char *const failed_fmt =
        "{\"orderId\":\"%s\",\"reason\":\"NOT_ENOUGH_STOCK\",\"failedItems\":[{\"skuId\":"
        "101,\"requestedQuantity\":1,\"availableQuantity\":0}]}";
    struct fixture *f = *state;
    char code[48], body[256], id1[UTIL_UUID_LEN], id2[UTIL_UUID_LEN], path[96], *failed;

    coupon_new(f, "fail", "\"amount\":1000,\"totalLimit\":2", code, sizeof(code));
    with_coupon(body, sizeof(body), sku_a, code);
    assert_int_equal(place(f, f->alice, body, NULL, id1, NULL), 201);
    assert_int_equal(place(f, f->bob, body, NULL, id2, NULL), 201);
    assert_int_equal(coupon_used(f, code), 2);
    failed = send(f->stock_topic, "stock.reservation.failed", id1, failed_fmt, id1);
    wait_status(f, id1, "FAILED");
    assert_int_equal(coupon_used(f, code), 1);
    /* the same event again, a new one, a cancel: still one use given back */
    resend(f->stock_topic, id1, failed);
    send_free(f->stock_topic, "stock.reservation.failed", id1, failed_fmt, id1);
    snprintf(path, sizeof(path), "/api/orders/%s/cancel", id1);
    assert_int_equal(http(f, "POST", path, f->alice, NULL, NULL, NULL), 409);
    send_free(f->stock_topic, "stock.released", id1,
              "{\"orderId\":\"%s\",\"items\":[],\"reason\":\"TEST_MARKER\"}", id1);
    wait_history(f, id1, "stock.released"); /* everything before it on the partition is done */
    assert_int_equal(history_count(f, id1, "FAILED"), 2); /* FAILED once + the marker */
    assert_int_equal(coupon_used(f, code), 1);
    free(failed);
}

struct coupon_racer {
    struct fixture *f;
    char *token;
    const char *body;
    long status;
    char code[32];
};

/* One POST /api/orders (no cmocka asserts off the main thread). */
static void *race_coupon(void *arg)
{
    struct coupon_racer *r = arg;
    struct ts_resp resp;
    char u[128];

    snprintf(u, sizeof(u), "%.63s/api/orders", r->f->svc.url);
    if (ts_http("POST", u, r->token, r->body, NULL, &resp) == 0) {
        r->status = resp.status;
        snprintf(r->code, sizeof(r->code), "%s", str(resp.json, "code"));
        ts_resp_free(&resp);
    }
    return NULL;
}

/* @n parallel orders of @body, by @n users (or one when @one_user); the number of 201s. */
static int race(struct fixture *f, const char *body, size_t n, bool one_user, const char *refused)
{
    struct coupon_racer racers[16];
    pthread_t threads[16];
    int created = 0;

    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        char sub[32];

        snprintf(sub, sizeof(sub), "racer-%zu", one_user ? (size_t)0 : i);
        racers[i] = (struct coupon_racer){.f = f, .token = ts_token(sub, "USER"), .body = body};
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, race_coupon, &racers[i]), 0);
    for (size_t i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    for (size_t i = 0; i < n; i++) {
        if (racers[i].status != 201 &&
            !(racers[i].status == 409 && strcmp(racers[i].code, refused) == 0))
            fail_msg("racer %zu: %ld %s", i, racers[i].status, racers[i].code);
        created += racers[i].status == 201;
        free(racers[i].token);
    }
    return created;
}

/* N parallel orders on a coupon with total limit K never take more than K uses; the same for
 * one user and a per-user limit. */
static void test_coupon_concurrency(void **state)
{
    static const char *const sku_a = "{\"skuId\":101,\"quantity\":1}";
    struct fixture *f = *state;
    char code[48], body[256];

    /* the prices are known before the race (place() waits for them) */
    assert_int_equal(
        place(f, f->alice, "{\"items\":[{\"skuId\":101,\"quantity\":1}]}", NULL, NULL, NULL), 201);
    coupon_new(f, "race", "\"amount\":1000,\"totalLimit\":3", code, sizeof(code));
    assert_int_equal(
        race(f, with_coupon(body, sizeof(body), sku_a, code), 12, false, "ORDER-409-004"), 3);
    assert_int_equal(coupon_used(f, code), 3);
    coupon_new(f, "race1", "\"percent\":5,\"perUserLimit\":2", code, sizeof(code));
    assert_int_equal(
        race(f, with_coupon(body, sizeof(body), sku_a, code), 8, true, "ORDER-409-005"), 2);
    assert_int_equal(coupon_used(f, code), 2);
    /* one Idempotency-Key, a coupon with one use: the losers answer the winner's order */
    coupon_new(f, "race-idem", "\"amount\":100,\"totalLimit\":1", code, sizeof(code));
    idempotency_race(f, with_coupon(body, sizeof(body), sku_a, code));
    assert_int_equal(coupon_used(f, code), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_happy_path_and_refunds),
        cmocka_unit_test(test_amount_mismatch),
        cmocka_unit_test(test_reservation_failed),
        cmocka_unit_test(test_payment_failed),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_ownership_and_cancel),
        cmocka_unit_test(test_invalid_and_unknown_events),
        cmocka_unit_test(test_payment_not_recognised), /* after: it reads the same dead letters */
        cmocka_unit_test(test_idempotency_key),
        cmocka_unit_test(test_idempotency_race),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_coupon_admin),
        cmocka_unit_test(test_coupon_discounts_and_refusals),
        cmocka_unit_test(test_coupon_limits),
        cmocka_unit_test(test_coupon_given_back_on_cancel),
        cmocka_unit_test(test_coupon_given_back_on_failed),
        cmocka_unit_test(test_coupon_concurrency),
    };
    const struct CMUnitTest deadline_tests[] = {
        cmocka_unit_test(test_payment_deadline),
    };
    int failed = cmocka_run_group_tests_name("order", tests, setup, teardown);

    return failed +
           cmocka_run_group_tests_name("order-deadline", deadline_tests, setup_deadline, teardown);
}
