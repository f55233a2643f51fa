/*
 * e2e_versions.c - issue 7 end to end: event versions through the running services
 * (tests/support/saga.h starts the six of them on the run's own topics).
 *
 *   - mixed order.placed: v1 and v2 events interleaved on the order topic reach inventory and
 *     payment; every order, whatever its version, gets the v2 outcome (its units reserved, a
 *     READY payment for its payable amount), and none is dead-lettered;
 *   - mixed payment.completed: real orders (placed over HTTP; order-service publishes
 *     order.placed v2 with currency and the request's shippingAddress) are paid by a v1 event,
 *     a v2 event and the real payment API; all three reach CONFIRMED and their stock is sold;
 *   - rolling upgrade, old producer → new consumers: the recorded v1 events of
 *     tests/fixtures/v1-events.json, replayed, give the same outcomes;
 *   - the reverse, new producer → old consumer: BACKWARD_TRANSITIVE (contracts/
 *     compatibility.json) promises only that new consumers read old events, not that old
 *     consumers read new ones. A consumer that accepts only v1 (an in-test consumer with
 *     max_version 1) sends a v2 event to the dead-letter topic instead of mis-processing it;
 *     so consumers are upgraded before producers (README "Changing an event"). The same
 *     in-test consumer, accepting v1..v2 with contracts, shows the wrapper's schema check
 *     (dlq_error "schema: …") and that a v1 payload reaches the handler upcast to v2.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/contracts.h"
#include "common/event.h"
#include "common/kafka.h"
#include "common/msgctx.h"
#include "common/util.h"
#include "saga.h"
#include "testsup.h"

#define STOCK 20
#define PRICE 8000
#define STEP_MS 60000 /* one saga step (several Kafka hops) under ASan on a busy machine */
#define QUIET_MS 3000 /* how long "nothing arrives" is watched for */
#define FIXTURE "tests/fixtures/v1-events.json"
#define NMIXED 6

enum { SKU_MIXED, SKU_PAID, SKU_REPLAY, SKU_PROBE, NSKUS };

struct fixture {
    struct saga_stack st;
    struct saga_user u;
    char uid[64]; /* the user id in the user's orders and payments (the token's subject) */
    long long sku[NSKUS];
};

static int setup(void **state)
{
    /* a payment deadline far beyond the test: only the events under test move the orders */
    struct saga_opts opts = {
        .prefix = "e2e_versions", .payment_deadline_s = 3600, .gateway_timeout_ms = 300};
    struct fixture *f = calloc(1, sizeof(*f));
    long long cat;
    char name[64];

    if (!f)
        return -1;
    if (saga_stack_start(&f->st, &opts) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    if (saga_user_new(&f->st, "versions", &f->u) < 0)
        return -1;
    ts_unique("Versions", name, sizeof(name));
    if (saga_category_new(&f->st, name, &cat) < 0)
        return -1;
    for (int i = 0; i < NSKUS; i++) {
        snprintf(name, sizeof(name), "Versions product %d", i);
        if (saga_product_new(&f->st, cat, name, PRICE, STOCK, &f->sku[i]) < 0 ||
            saga_stock_wait(&f->st, f->sku[i], STEP_MS) < 0)
            return -1;
    }
    /* a probe order tells the user id order-service and payment-service see */
    {
        struct saga_line line = {f->sku[SKU_PROBE], 1};
        char id[64];
        cJSON *j = NULL;

        if (saga_order_place(&f->st, &f->u, &line, 1, NULL, NULL, STEP_MS, id, sizeof(id)) != 201 ||
            saga_order_get(&f->st, f->u.token, id, &j) != 200)
            return -1;
        snprintf(f->uid, sizeof(f->uid), "%s", saga_json_str(j, "userId"));
        cJSON_Delete(j);
        if (!f->uid[0])
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc;

    if (!f)
        return 0;
    rc = saga_stack_stop(&f->st);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* ---- producing events as a producer of either version would ---- */

/* Produces @data (consumed) as @type version @version from @type's producer with key and
 * subject @order to @topic (saga_produce_event); the event id into @ret_id (may be NULL). */
static void produce_event(const char *topic, const char *type, int version, const char *order,
                          cJSON *data, char *ret_id)
{
    char source[64];

    assert_non_null(data);
    assert_int_equal(saga_produce_event(topic, type, version,
                                        ts_event_source(type, source, sizeof(source)), order, data,
                                        ret_id),
                     0);
}

/* An order.placed payload of one line (@qty units of @sku at PRICE); v2 adds the currency
 * and, with @address, a shipping address. Caller owns. */
static cJSON *placed_data(const char *order, const char *user, long long sku, int qty, int version,
                          bool address)
{
    cJSON *d = cJSON_CreateObject(), *items, *it;

    cJSON_AddStringToObject(d, "orderId", order);
    cJSON_AddStringToObject(d, "userId", user);
    cJSON_AddNumberToObject(d, "totalAmount", (double)PRICE * qty);
    cJSON_AddNumberToObject(d, "discountAmount", 0);
    cJSON_AddNumberToObject(d, "payableAmount", (double)PRICE * qty);
    items = cJSON_AddArrayToObject(d, "items");
    it = cJSON_CreateObject();
    cJSON_AddItemToArray(items, it);
    cJSON_AddNumberToObject(it, "orderItemId", 1);
    cJSON_AddNumberToObject(it, "skuId", (double)sku);
    cJSON_AddNumberToObject(it, "quantity", qty);
    cJSON_AddNumberToObject(it, "unitPrice", PRICE);
    cJSON_AddNumberToObject(it, "amount", (double)PRICE * qty);
    if (version >= 2) {
        cJSON_AddStringToObject(d, "currency", "KRW");
        if (address) {
            cJSON *a = cJSON_AddObjectToObject(d, "shippingAddress");

            cJSON_AddStringToObject(a, "recipient", "Kim Minji");
            cJSON_AddStringToObject(a, "line1", "12 Teheran-ro");
            cJSON_AddStringToObject(a, "city", "Seoul");
            cJSON_AddStringToObject(a, "postalCode", "06236");
            cJSON_AddStringToObject(a, "country", "KR");
        }
    }
    return d;
}

/* A payment.completed payload; v2 adds approvedAtTime. Caller owns. */
static cJSON *completed_data(const char *order, const char *payment, long long amount, int version)
{
    cJSON *d = cJSON_CreateObject();
    int64_t now = util_now_ms();

    cJSON_AddStringToObject(d, "orderId", order);
    cJSON_AddStringToObject(d, "paymentId", payment);
    cJSON_AddStringToObject(d, "transactionId", "pg_e2e_versions");
    cJSON_AddNumberToObject(d, "paidAmount", (double)amount);
    cJSON_AddStringToObject(d, "currency", "KRW");
    cJSON_AddNumberToObject(d, "approvedAt", (double)now);
    if (version >= 2) {
        char when[40];

        util_rfc3339(now, when, sizeof(when));
        cJSON_AddStringToObject(d, "approvedAtTime", when);
    }
    return d;
}

/* ---- reading outcomes through the APIs ---- */

static void wait_stock(struct fixture *f, long long sku, long long available, long long reserved)
{
    long long a, r;

    if (saga_stock_wait_for(&f->st, sku, available, reserved, STEP_MS, &a, &r) < 0)
        fail_msg("sku %lld: stock available %lld reserved %lld, want %lld / %lld", sku, a, r,
                 available, reserved);
}

/* Waits for the READY payment of @order; asserts its amount; its id into @ret_id. */
static void wait_ready_payment(struct fixture *f, const char *order, long long amount, char *ret_id,
                               size_t idlen)
{
    cJSON *j = NULL;
    long http = saga_payment_wait(&f->st, f->u.token, order, "READY", -1, STEP_MS, &j);

    if (http != 200) {
        char *s = j ? cJSON_PrintUnformatted(j) : NULL;

        fail_msg("payment of %s: want READY, got %ld %s", order, http, s ? s : "");
    }
    assert_int_equal(saga_json_num(j, "amount"), amount);
    assert_string_equal(saga_json_str(j, "currency"), "KRW");
    if (ret_id)
        snprintf(ret_id, idlen, "%s", saga_json_str(j, "paymentId"));
    cJSON_Delete(j);
}

static cJSON *wait_status(struct fixture *f, const char *id, const char *want)
{
    char status[32] = "";
    cJSON *j = NULL;

    if (saga_order_wait(&f->st, f->u.token, id, want, STEP_MS, status, sizeof(status), &j) < 0) {
        char *s = j ? cJSON_PrintUnformatted(j) : NULL;

        fail_msg("order %s: want %s, last status %s: %s", id, want, status, s ? s : "");
    }
    return j;
}

/* No record keyed by any of @keys arrives on @topic's dead-letter topic within QUIET_MS. */
static void assert_not_dead_lettered(const char *topic, char (*keys)[UTIL_UUID_LEN], size_t n)
{
    char dlq[128];
    struct ts_consumer *c;
    struct ts_record *recs = NULL;
    size_t got;

    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    c = ts_consumer_new(dlq);
    assert_non_null(c);
    got = ts_consume(c, 1000, QUIET_MS, &recs);
    for (size_t i = 0; i < got; i++)
        for (size_t k = 0; k < n; k++)
            if (recs[i].key && strcmp(recs[i].key, keys[k]) == 0)
                fail_msg("event of %s dead-lettered: %s", keys[k],
                         ts_record_header(&recs[i], "dlq_error"));
    ts_records_free(recs, got);
    ts_consumer_free(c);
}

/* ---- tests ---- */

/* v1 and v2 order.placed interleaved: inventory and payment treat them alike */
static void test_mixed_order_placed(void **state)
{
    struct fixture *f = *state;
    char orders[NMIXED][UTIL_UUID_LEN];
    long long sku = f->sku[SKU_MIXED];

    for (int i = 0; i < NMIXED; i++) {
        int version = i % 2 ? 2 : 1;

        util_uuid(orders[i]);
        produce_event(f->st.topic_order, "order.placed", version, orders[i],
                      placed_data(orders[i], f->uid, sku, 1, version, i == 3), NULL);
    }
    /* all or nothing per order: every one reserved its unit */
    wait_stock(f, sku, STOCK - NMIXED, NMIXED);
    for (int i = 0; i < NMIXED; i++)
        wait_ready_payment(f, orders[i], PRICE, NULL, 0);
    assert_not_dead_lettered(f->st.topic_order, orders, NMIXED);
}

/* Places an order over HTTP with a shipping address; its id into @id. */
static void place_with_address(struct fixture *f, long long sku, char *id, size_t idlen)
{
    char url[256], body[512];
    struct ts_resp r;
    const cJSON *jid;

    snprintf(url, sizeof(url), "%s/api/orders", f->st.order.url);
    snprintf(body, sizeof(body),
             "{\"items\":[{\"skuId\":%lld,\"quantity\":1}],"
             "\"shippingAddress\":{\"recipient\":\"Lee Jiho\",\"line1\":\"7 Sejong-daero\","
             "\"line2\":\"3F\",\"city\":\"Seoul\",\"postalCode\":\"04524\",\"country\":\"KR\"}}",
             sku);
    assert_int_equal(ts_http("POST", url, f->u.token, body, NULL, &r), 0);
    if (r.status != 201)
        fail_msg("POST /api/orders with shippingAddress: %ld %s", r.status, r.body);
    jid = cJSON_GetObjectItem(r.json, "id");
    assert_true(cJSON_IsString(jid));
    snprintf(id, idlen, "%s", jid->valuestring);
    ts_resp_free(&r);

    /* a bad address is refused with the field named */
    snprintf(body, sizeof(body),
             "{\"items\":[{\"skuId\":%lld,\"quantity\":1}],\"shippingAddress\":{\"recipient\":"
             "\"x\",\"line1\":\"y\",\"city\":\"z\",\"postalCode\":\"1\",\"country\":\"KOR\"}}",
             sku);
    assert_int_equal(ts_http("POST", url, f->u.token, body, NULL, &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "shippingAddress.country"));
    ts_resp_free(&r);
}

/* order-service publishes order.placed v2: currency, and the address when the request had one */
static void assert_placed_v2(struct fixture *f, const char *order)
{
    struct ts_consumer *c = ts_consumer_new(f->st.topic_order);
    int64_t deadline = util_now_mono_ms() + STEP_MS;
    bool found = false;

    assert_non_null(c);
    while (!found && util_now_mono_ms() < deadline) {
        struct ts_record *recs = NULL;
        size_t n = ts_consume(c, 1, 1000, &recs);

        for (size_t i = 0; i < n && !found; i++) {
            cJSON *env, *data, *addr;

            if (!recs[i].key || strcmp(recs[i].key, order) != 0)
                continue;
            env = cJSON_Parse(recs[i].value);
            if (!env || strcmp(saga_json_str(env, "type"), "order.placed") != 0) {
                cJSON_Delete(env);
                continue;
            }
            found = true;
            assert_string_equal(saga_json_str(env, "dataschema"),
                                "urn:commerce:event:order.placed:v2");
            assert_string_equal(ts_record_header(&recs[i], "ce_dataschema"),
                                "urn:commerce:event:order.placed:v2");
            data = cJSON_GetObjectItem(env, "data");
            assert_string_equal(saga_json_str(data, "currency"), "KRW");
            addr = cJSON_GetObjectItem(data, "shippingAddress");
            assert_non_null(addr);
            assert_string_equal(saga_json_str(addr, "city"), "Seoul");
            assert_string_equal(saga_json_str(addr, "line2"), "3F");
            assert_string_equal(saga_json_str(addr, "country"), "KR");
            cJSON_Delete(env);
        }
        ts_records_free(recs, n);
    }
    ts_consumer_free(c);
    if (!found)
        fail_msg("no order.placed of %s on %s", order, f->st.topic_order);
}

/* v1 and v2 payment.completed and the real payment API: order-service confirms all alike */
static void test_mixed_payment_completed(void **state)
{
    struct fixture *f = *state;
    long long sku = f->sku[SKU_PAID];
    struct saga_line line = {sku, 1};
    char ids[3][UTIL_UUID_LEN], pay_ids[3][96];
    char body[1024];
    long status;

    /* ids[1] with a shipping address, the others without */
    status = saga_order_place(&f->st, &f->u, &line, 1, NULL, NULL, STEP_MS, ids[0], sizeof(ids[0]));
    assert_int_equal(status, 201);
    place_with_address(f, sku, ids[1], sizeof(ids[1]));
    status = saga_order_place(&f->st, &f->u, &line, 1, NULL, NULL, STEP_MS, ids[2], sizeof(ids[2]));
    assert_int_equal(status, 201);
    assert_placed_v2(f, ids[1]);
    for (int i = 0; i < 3; i++) {
        cJSON_Delete(wait_status(f, ids[i], "PAYMENT_PENDING"));
        wait_ready_payment(f, ids[i], PRICE, pay_ids[i], sizeof(pay_ids[i]));
    }
    wait_stock(f, sku, STOCK - 3, 3);

    /* paid by a v1 event, a v2 event, and the payment API (whatever version it publishes) */
    produce_event(f->st.topic_payment, "payment.completed", 1, ids[0],
                  completed_data(ids[0], pay_ids[0], PRICE, 1), NULL);
    produce_event(f->st.topic_payment, "payment.completed", 2, ids[1],
                  completed_data(ids[1], pay_ids[1], PRICE, 2), NULL);
    status = saga_pay(&f->st, f->u.token, ids[2], PRICE, "card_ok_versions", STEP_MS, body,
                      sizeof(body));
    if (status != 200)
        fail_msg("pay %s: %ld %s", ids[2], status, body);
    for (int i = 0; i < 3; i++)
        cJSON_Delete(wait_status(f, ids[i], "CONFIRMED"));
    wait_stock(f, sku, STOCK - 3, 0);
    assert_not_dead_lettered(f->st.topic_payment, ids, 3);
}

/* Replaces the string @name of @obj (when present) with @value. */
static void set_str(cJSON *obj, const char *name, const char *value)
{
    if (cJSON_GetObjectItem(obj, name))
        cJSON_ReplaceItemInObject(obj, name, cJSON_CreateString(value));
}

static void set_num(cJSON *obj, const char *name, double value)
{
    if (cJSON_GetObjectItem(obj, name))
        cJSON_ReplaceItemInObject(obj, name, cJSON_CreateNumber(value));
}

/* Replays recorded event @rec (from the fixture) for @order, with a fresh event id; @tweak
 * (may be NULL) adjusts its data. */
static void replay(struct fixture *f, const cJSON *rec, const char *order,
                   void (*tweak)(cJSON *data, void *arg), void *arg)
{
    const char *kind = saga_json_str(rec, "topic");
    const char *topic = strcmp(kind, "order") == 0 ? f->st.topic_order : f->st.topic_payment;
    cJSON *value = cJSON_Duplicate(cJSON_GetObjectItem(rec, "value"), true);
    const cJSON *hdrs = cJSON_GetObjectItem(rec, "headers"), *h;
    const char *flat[2 * EVENT_MAX_HEADERS + 1];
    char id[UTIL_UUID_LEN], *json;
    size_t n = 0;

    assert_non_null(value);
    util_uuid(id);
    set_str(value, "id", id);
    set_str(value, "subject", order);
    set_str(value, "correlationid", order);
    set_str(cJSON_GetObjectItem(value, "data"), "orderId", order);
    if (tweak)
        tweak(cJSON_GetObjectItem(value, "data"), arg);
    json = cJSON_PrintUnformatted(value);
    assert_non_null(json);
    cJSON_ArrayForEach (h, hdrs) {
        const char *v = h->valuestring;

        if (n + 1 >= 2 * EVENT_MAX_HEADERS)
            break;
        if (strcmp(h->string, "ce_id") == 0)
            v = id;
        else if (strcmp(h->string, "ce_subject") == 0 || strcmp(h->string, "ce_correlationid") == 0)
            v = order;
        flat[n++] = h->string;
        flat[n++] = v;
    }
    flat[n] = NULL;
    assert_int_equal(ts_produce(topic, order, json, strlen(json), flat), 0);
    cJSON_free(json);
    cJSON_Delete(value);
}

struct placed_tweak {
    const char *user;
    long long sku;
};

static void tweak_placed(cJSON *data, void *arg)
{
    struct placed_tweak *t = arg;
    cJSON *it;

    set_str(data, "userId", t->user);
    cJSON_ArrayForEach (it, cJSON_GetObjectItem(data, "items"))
        set_num(it, "skuId", (double)t->sku);
}

struct completed_tweak {
    const char *payment;
    long long amount;
};

static void tweak_completed(cJSON *data, void *arg)
{
    struct completed_tweak *t = arg;

    set_str(data, "paymentId", t->payment);
    set_num(data, "paidAmount", (double)t->amount);
}

/* Rolling upgrade, old producer → new consumers: recorded v1 events give the v2 outcomes */
static void test_rolling_upgrade_replays_recorded_v1(void **state)
{
    struct fixture *f = *state;
    long long sku = f->sku[SKU_REPLAY];
    struct placed_tweak pt = {f->uid, sku};
    cJSON *fx = NULL, *placed = NULL, *completed = NULL, *rec, *j;
    char *text;
    char replayed[1][UTIL_UUID_LEN], paid[1][UTIL_UUID_LEN], pay_id[96];
    long long qty = 0, payable = 0;

    /* the fixture, as an old producer wrote it */
    {
        FILE *fp = fopen(FIXTURE, "rb");
        long len;

        if (!fp)
            fail_msg("cannot open %s (run from the repo root)", FIXTURE);
        assert_int_equal(fseek(fp, 0, SEEK_END), 0);
        len = ftell(fp);
        rewind(fp);
        text = calloc(1, (size_t)len + 1);
        assert_non_null(text);
        assert_int_equal(fread(text, 1, (size_t)len, fp), (size_t)len);
        fclose(fp);
        fx = cJSON_Parse(text);
        free(text);
    }
    assert_non_null(fx);
    cJSON_ArrayForEach (rec, cJSON_GetObjectItem(fx, "events")) {
        const char *type = saga_json_str(cJSON_GetObjectItem(rec, "value"), "type");

        assert_string_equal(saga_json_str(cJSON_GetObjectItem(rec, "value"), "dataschema"),
                            strcmp(type, "order.placed") == 0
                                ? "urn:commerce:event:order.placed:v1"
                                : "urn:commerce:event:payment.completed:v1");
        if (strcmp(type, "order.placed") == 0)
            placed = rec;
        else if (strcmp(type, "payment.completed") == 0)
            completed = rec;
    }
    assert_non_null(placed);
    assert_non_null(completed);
    {
        const cJSON *data = cJSON_GetObjectItem(cJSON_GetObjectItem(placed, "value"), "data");

        qty = saga_json_num(cJSON_GetArrayItem(cJSON_GetObjectItem(data, "items"), 0), "quantity");
        payable = saga_json_num(data, "payableAmount");
        assert_true(qty > 0 && payable > 0);
    }

    /* order.placed v1 → inventory reserves, payment opens a READY payment */
    util_uuid(replayed[0]);
    replay(f, placed, replayed[0], tweak_placed, &pt);
    wait_stock(f, sku, STOCK - qty, qty);
    wait_ready_payment(f, replayed[0], payable, NULL, 0);
    assert_not_dead_lettered(f->st.topic_order, replayed, 1);

    /* payment.completed v1 → order-service confirms a real order */
    {
        struct saga_line line = {sku, 1};
        struct completed_tweak ct;
        long status = saga_order_place(&f->st, &f->u, &line, 1, NULL, NULL, STEP_MS, paid[0],
                                       sizeof(paid[0]));

        assert_int_equal(status, 201);
        cJSON_Delete(wait_status(f, paid[0], "PAYMENT_PENDING"));
        wait_ready_payment(f, paid[0], PRICE, pay_id, sizeof(pay_id));
        ct.payment = pay_id;
        ct.amount = PRICE;
        replay(f, completed, paid[0], tweak_completed, &ct);
        j = wait_status(f, paid[0], "CONFIRMED");
        cJSON_Delete(j);
        wait_stock(f, sku, STOCK - qty - 1, qty);
        assert_not_dead_lettered(f->st.topic_payment, paid, 1);
    }
    cJSON_Delete(fx);
}

/* ---- the reverse: an in-test consumer of its own topic ---- */

struct seen {
    pthread_mutex_t lock;
    int n;
    char id[8][64];
    int version[8];  /* ev->version: after upcasting */
    int produced[8]; /* rec->version */
    char currency[8][8];
};

static enum kafka_result record_event(const struct event *ev, const struct kafka_record *rec,
                                      void *app, char *errbuf, size_t errlen)
{
    struct seen *s = app;
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(ev->data, "currency");

    (void)errbuf;
    (void)errlen;
    pthread_mutex_lock(&s->lock);
    if (s->n < 8) {
        snprintf(s->id[s->n], sizeof(s->id[s->n]), "%s", ev->id);
        s->version[s->n] = ev->version;
        s->produced[s->n] = rec->version;
        snprintf(s->currency[s->n], sizeof(s->currency[s->n]), "%s",
                 cJSON_IsString(cur) ? cur->valuestring : "");
        s->n++;
    }
    pthread_mutex_unlock(&s->lock);
    return KAFKA_OK;
}

struct wait_n {
    struct seen *s;
    int n;
};

static bool seen_reached(void *arg)
{
    struct wait_n *w = arg;
    bool done;

    pthread_mutex_lock(&w->s->lock);
    done = w->s->n >= w->n;
    pthread_mutex_unlock(&w->s->lock);
    return done;
}

/* Starts a consumer of a fresh topic accepting order.placed 1..@max_version, with contracts. */
static struct kafka_consumer *consumer_start(const char *topic, int max_version,
                                             const struct contracts *contracts,
                                             struct kafka_producer *dlq, struct seen *s)
{
    const char *topics[] = {topic, NULL};
    const struct kafka_type types[] = {{"order.placed", 1, max_version}, {NULL, 0, 0}};
    char group[96], err[512];
    struct kafka_consumer_opts opts = {
        .bootstrap = ts_env("KAFKA_BOOTSTRAP"),
        .service = "e2e-versions",
        .topics = topics,
        .types = types,
        .handler = record_event,
        .app = s,
        .dlq_producer = dlq,
        .check = contracts_check_event,
        .check_arg = contracts,
        .auth = ts_kafka_auth(),
    };
    struct kafka_consumer *c;

    ts_unique("e2e-versions", group, sizeof(group));
    opts.group_id = group;
    c = kafka_consumer_start(&opts, err, sizeof(err));
    if (!c)
        fail_msg("consumer: %s", err);
    return c;
}

/* Reads @want dead letters of @topic, then asserts no more arrive within QUIET_MS. */
static size_t read_dlq(const char *topic, size_t want, struct ts_record **ret)
{
    char dlq[128];
    struct ts_consumer *c;
    struct ts_record *more = NULL;
    size_t n, extra;

    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    c = ts_consumer_new(dlq);
    assert_non_null(c);
    n = ts_consume(c, want, STEP_MS, ret);
    extra = ts_consume(c, 1, QUIET_MS, &more);
    ts_records_free(more, extra);
    ts_consumer_free(c);
    assert_int_equal(extra, 0);
    return n;
}

static void make_topic(char *topic, size_t len, const char *prefix)
{
    char dlq[160];

    ts_unique(prefix, topic, len);
    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    assert_int_equal(ts_create_topic(topic), 0);
    assert_int_equal(ts_create_topic(dlq), 0);
}

static void test_v1_only_consumer_dead_letters_v2(void **state)
{
    struct fixture *f = *state;
    struct seen s = {.n = 0};
    struct wait_n w = {&s, 0};
    struct contracts *contracts = NULL;
    struct kafka_producer *dlq;
    struct kafka_consumer *c;
    struct ts_record *recs = NULL;
    struct kafka_producer_opts popts = {.bootstrap = ts_env("KAFKA_BOOTSTRAP"),
                                        .client_id = "e2e-versions",
                                        .auth = ts_kafka_auth()};
    char topic[128], err[512], o1[UTIL_UUID_LEN], o2[UTIL_UUID_LEN], o3[UTIL_UUID_LEN];
    char id1[64], id2[64], id3[64];
    size_t n;

    pthread_mutex_init(&s.lock, NULL);
    if (contracts_load_default(NULL, &contracts, err, sizeof(err)) < 0)
        fail_msg("contracts: %s", err);
    dlq = kafka_producer_new(&popts, err, sizeof(err));
    if (!dlq)
        fail_msg("producer: %s", err);

    /* an old consumer (v1 only): v2 goes to the DLQ, v1 is handled */
    make_topic(topic, sizeof(topic), "e2e_versions_old");
    c = consumer_start(topic, 1, contracts, dlq, &s);
    util_uuid(o1);
    util_uuid(o2);
    produce_event(topic, "order.placed", 2, o1, placed_data(o1, "u-1", 7, 1, 2, true), id1);
    produce_event(topic, "order.placed", 1, o2, placed_data(o2, "u-1", 7, 1, 1, false), id2);
    w.n = 1;
    assert_true(ts_poll_until(seen_reached, &w, STEP_MS));
    n = read_dlq(topic, 1, &recs);
    assert_int_equal(n, 1);
    assert_string_equal(recs[0].key, o1);
    assert_non_null(strstr(ts_record_header(&recs[0], "dlq_error"), "unsupported version 2"));
    ts_records_free(recs, n);
    kafka_consumer_stop(c);
    assert_int_equal(s.n, 1); /* the v2 event never reached the v1 handler */
    assert_string_equal(s.id[0], id2);
    assert_int_equal(s.version[0], 1);
    assert_string_equal(s.currency[0], ""); /* nothing invented for a v1 handler */

    /* a new consumer (v1..v2): v1 upcast, schema-invalid to the DLQ, v2 as is */
    s.n = 0;
    make_topic(topic, sizeof(topic), "e2e_versions_new");
    c = consumer_start(topic, 2, contracts, dlq, &s);
    util_uuid(o3);
    produce_event(topic, "order.placed", 1, o1, placed_data(o1, "u-1", 7, 1, 1, false), id1);
    {
        cJSON *bad = placed_data(o3, "u-1", 7, 1, 1, false);

        cJSON_DeleteItemFromObject(bad, "totalAmount");
        produce_event(topic, "order.placed", 1, o3, bad, NULL);
    }
    produce_event(topic, "order.placed", 2, o2, placed_data(o2, "u-1", 7, 1, 2, true), id3);
    w.n = 2;
    assert_true(ts_poll_until(seen_reached, &w, STEP_MS));
    n = read_dlq(topic, 1, &recs);
    assert_int_equal(n, 1);
    assert_string_equal(recs[0].key, o3);
    assert_string_equal(ts_record_header(&recs[0], "dlq_error"),
                        "schema: (root): missing required property 'totalAmount'");
    ts_records_free(recs, n);
    kafka_consumer_stop(c);
    assert_int_equal(s.n, 2);
    {
        /* different keys, so different partitions: Kafka orders them only per key */
        int a = strcmp(s.id[0], id1) == 0 ? 0 : 1, b = 1 - a;

        assert_string_equal(s.id[a], id1);
        assert_int_equal(s.produced[a], 1);
        assert_int_equal(s.version[a], 2);
        assert_string_equal(s.currency[a], "KRW");
        assert_string_equal(s.id[b], id3);
        assert_int_equal(s.produced[b], 2);
        assert_int_equal(s.version[b], 2);
    }

    (void)f;
    (void)id2;
    kafka_producer_free(dlq);
    contracts_free(contracts);
    pthread_mutex_destroy(&s.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_only_consumer_dead_letters_v2),
        cmocka_unit_test(test_mixed_order_placed),
        cmocka_unit_test(test_mixed_payment_completed),
        cmocka_unit_test(test_rolling_upgrade_replays_recorded_v1),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
