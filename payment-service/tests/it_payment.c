/*
 * it_payment.c - payment-service on real MariaDB and Kafka: the binary is started with a fresh
 * database and fresh topics for every event type; order events are produced straight to its
 * order topic (envelopes as in docs/saga.md), payment events are read back from its payment
 * topic, and the HTTP API is driven with signed tokens.
 *
 * To know that the consumer has handled an event that publishes nothing, a "marker" follows
 * it: an order.placed of a fresh order produced with the *same Kafka key* (so the same
 * partition, handled after it); once the marker's payment.created is read, the event before
 * it has been handled.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mysql.h>

#include "common/db.h"
#include "common/util.h"
#include "testsup.h"

#define PARKED_N 5 /* confirms parked at once in test_parked_confirms_hold_no_thread */
#define PARKED_N_STR "5"

#define WAIT_MS 60000
#define MAX_EVENTS 4096

struct fixture {
    struct ts_service svc;
    char db[64];
    char topic_product[64], topic_order[64], topic_stock[64], topic_payment[64];
    struct ts_consumer *payments; /* reads the payment topic from the beginning */
    cJSON *events[MAX_EVENTS];    /* every payment event read so far (parsed envelopes) */
    size_t nevents;
    char *admin;
    struct db_pool *pool; /* the service's database, for white-box steps */
};

static struct fixture *fx;

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    static const char *const types[] = {
        "PRODUCT_SKU_CREATED",  "ORDER_PLACED",    "ORDER_CONFIRMED",          "ORDER_CANCELLED",
        "ORDER_REFUNDED",       "STOCK_RESERVED",  "STOCK_RESERVATION_FAILED", "STOCK_CONFIRMED",
        "STOCK_CONFIRM_FAILED", "STOCK_RELEASED",  "PAYMENT_CREATED",          "PAYMENT_COMPLETED",
        "PAYMENT_FAILED",       "PAYMENT_REFUNDED"};
    char envbuf[20][160];
    const char *env[28];
    size_t n = 0;

    if (!f || ts_create_database("it_payment", f->db, sizeof(f->db)) < 0)
        return -1;
    ts_unique("it-pay-product", f->topic_product, sizeof(f->topic_product));
    ts_unique("it-pay-order", f->topic_order, sizeof(f->topic_order));
    ts_unique("it-pay-stock", f->topic_stock, sizeof(f->topic_stock));
    ts_unique("it-pay-payment", f->topic_payment, sizeof(f->topic_payment));
    if (ts_create_topic(f->topic_order) < 0 || ts_create_topic(f->topic_payment) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        const char *topic = !strncmp(types[i], "PRODUCT", 7) ? f->topic_product
                            : !strncmp(types[i], "ORDER", 5) ? f->topic_order
                            : !strncmp(types[i], "STOCK", 5) ? f->topic_stock
                                                             : f->topic_payment;
        snprintf(envbuf[n], sizeof(envbuf[n]), "TOPIC_%s=%s", types[i], topic);
        env[n] = envbuf[n];
        n++;
    }
    snprintf(envbuf[n], sizeof(envbuf[n]), "DB_NAME=%s", f->db);
    env[n] = envbuf[n];
    n++;
    env[n++] = "KAFKA_CREATE_TOPICS=true";
    env[n++] = "MIGRATIONS_DIR=payment-service/migrations";
    env[n++] = "PAYMENT_GATEWAY_TIMEOUT_MS=300";
    /* a confirm ahead of its payment waits (test_confirm_waits_for_its_payment), parked: more
     * wait than there are HTTP threads (test_parked_confirms_hold_no_thread); the cap is
     * unit-tested in test_confirm_wait.c */
    env[n++] = "PAYMENT_CONFIRM_WAIT_MS=8000";
    env[n++] = "PAYMENT_CONFIRM_MAX_WAITERS=" PARKED_N_STR;
    env[n++] = "HTTP_THREADS=2";
    env[n++] = "OUTBOX_POLL_MS=100";
    env[n++] = "CONSUMER_BACKOFF_BASE_MS=100";
    env[n++] = "CONSUMER_BACKOFF_MAX_MS=1000";
    env[n++] = "LOG_LEVEL=info";
    /* the inbox purge of test_inbox_purge, seen within a second */
    env[n++] = "INBOX_RETENTION_S=3600";
    env[n++] = "INBOX_PURGE_MS=200";
    env[n] = NULL;
    if (ts_service_start("payment-service", env, WAIT_MS, &f->svc) < 0)
        return -1;
    f->payments = ts_consumer_new(f->topic_payment);
    f->admin = ts_token("admin-1", "ADMIN");
    {
        struct db_opts opts = {.host = ts_env("DB_HOST"),
                               .port = (unsigned)atoi(ts_env("DB_PORT")),
                               .user = ts_env("DB_USER"),
                               .password = ts_env("DB_PASSWORD"),
                               .database = f->db,
                               .pool_size = 1,
                               .connect_timeout_s = 5,
                               .acquire_timeout_ms = 5000};
        char err[256];

        f->pool = db_pool_new(&opts, err, sizeof(err));
        if (!f->pool)
            return -1;
    }
    fx = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    /* a clean stop must exit 0 (and, under ASan, without leaks) */
    assert_int_equal(ts_service_stop(&f->svc, SIGTERM), 0);
    ts_consumer_free(f->payments);
    db_pool_free(f->pool);
    for (size_t i = 0; i < f->nevents; i++)
        cJSON_Delete(f->events[i]);
    free(f->admin);
    free(f);
    return 0;
}

/* ---- order events in ---- */

/* Produces a @type event from its producer with id @id and payload @data (JSON text) about
 * @order_id, with Kafka key @key (NULL = the order id). */
static void produce_as(const char *type, const char *id, const char *order_id, const char *key,
                       const char *data)
{
    char *env = NULL, source[64];
    int len = asprintf(&env,
                       "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"%s\","
                       "\"type\":\"%s\",\"subject\":\"%s\",\"time\":\"2026-11-24T20:21:00.123Z\","
                       "\"datacontenttype\":\"application/json\","
                       "\"dataschema\":\"urn:commerce:event:%s:v1\",\"correlationid\":\"saga-%s\","
                       "\"causationid\":\"%s\",\"data\":%s}",
                       id, ts_event_source(type, source, sizeof(source)), type, order_id, type,
                       order_id, id, data);

    assert_true(len > 0);
    assert_int_equal(ts_produce(fx->topic_order, key ? key : order_id, env, (size_t)len, NULL), 0);
    free(env);
}

static void produce(const char *type, const char *id, const char *order_id, const char *data)
{
    produce_as(type, id, order_id, NULL, data);
}

static void placed_event(const char *id, const char *order_id, const char *key, const char *user_id,
                         long long amount)
{
    char data[1024];

    snprintf(data, sizeof(data),
             "{\"orderId\":\"%s\",\"userId\":\"%s\",\"totalAmount\":%lld,\"discountAmount\":0,"
             "\"payableAmount\":%lld,\"items\":[{\"orderItemId\":1,\"skuId\":7,"
             "\"quantity\":1,\"unitPrice\":%lld,\"amount\":%lld}]}",
             order_id, user_id, amount, amount, amount, amount);
    produce_as("order.placed", id, order_id, key, data);
}

static void cancelled_event(const char *id, const char *order_id, const char *reason)
{
    char data[256];

    snprintf(data, sizeof(data),
             "{\"orderId\":\"%s\",\"userId\":\"u\",\"reason\":\"%s\",\"status\":\"CANCELLED\"}",
             order_id, reason);
    produce("order.cancelled", id, order_id, data);
}

static void refunded_event(const char *id, const char *order_id, long long amount)
{
    char data[256], refund_id[UTIL_UUID_LEN];

    util_uuid(refund_id);
    snprintf(data, sizeof(data),
             "{\"orderId\":\"%s\",\"userId\":\"u\",\"refundId\":\"%s\",\"amount\":%lld,"
             "\"items\":[{\"orderItemId\":1,\"skuId\":7,\"quantity\":1,\"amount\":%lld}]}",
             order_id, refund_id, amount, amount);
    produce("order.refunded", id, order_id, data);
}

/* ---- payment events out ---- */

static int event_is(const cJSON *ev, const char *type, const char *order_id)
{
    const cJSON *t = cJSON_GetObjectItem(ev, "type");
    const cJSON *o = cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "data"), "orderId");

    return cJSON_IsString(t) && cJSON_IsString(o) && !strcmp(t->valuestring, type) &&
           !strcmp(o->valuestring, order_id);
}

static size_t count_events(const char *type, const char *order_id)
{
    size_t n = 0;

    for (size_t i = 0; i < fx->nevents; i++)
        n += (size_t)event_is(fx->events[i], type, order_id);
    return n;
}

/* Reads payment events until @want of (@type, @order_id) were seen; returns the data of the
 * last one (borrowed) or fails the test. */
static const cJSON *wait_event(const char *type, const char *order_id, size_t want)
{
    int64_t deadline = util_now_mono_ms() + WAIT_MS;

    while (count_events(type, order_id) < want) {
        struct ts_record *recs = NULL;
        size_t n;

        if (util_now_mono_ms() > deadline)
            fail_msg("no %zu x %s for order %s within %d ms", want, type, order_id, WAIT_MS);
        n = ts_consume(fx->payments, 1, 1000, &recs);
        for (size_t i = 0; i < n && fx->nevents < MAX_EVENTS; i++) {
            cJSON *ev = cJSON_ParseWithLength(recs[i].value, recs[i].len);

            assert_non_null(ev);
            assert_string_equal(
                recs[i].key,
                cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "data"), "orderId")->valuestring);
            fx->events[fx->nevents++] = ev;
        }
        ts_records_free(recs, n);
    }
    for (size_t i = fx->nevents; i-- > 0;) {
        if (event_is(fx->events[i], type, order_id))
            return cJSON_GetObjectItem(fx->events[i], "data");
    }
    return NULL;
}

/* The whole envelope of the last (@type, @order_id) event read (borrowed). */
static const cJSON *last_envelope(const char *type, const char *order_id)
{
    for (size_t i = fx->nevents; i-- > 0;) {
        if (event_is(fx->events[i], type, order_id))
            return fx->events[i];
    }
    fail_msg("no %s for order %s", type, order_id);
    return NULL;
}

/* After this returns, every event produced earlier with Kafka key @key has been handled. */
static void marker(const char *key)
{
    char id[UTIL_UUID_LEN], order[UTIL_UUID_LEN];

    util_uuid(id);
    util_uuid(order);
    placed_event(id, order, key, "marker-user", 1);
    wait_event("payment.created", order, 1);
}

/* ---- HTTP ---- */

static long http(const char *method, const char *path, const char *token, const char *body,
                 const char *idem_key, struct ts_resp *ret)
{
    char url[256], header[200];
    const char *headers[2] = {NULL, NULL};

    snprintf(url, sizeof(url), "%s%s", fx->svc.url, path);
    if (idem_key) {
        snprintf(header, sizeof(header), "Idempotency-Key: %s", idem_key);
        headers[0] = header;
    }
    assert_int_equal(ts_http(method, url, token, body, headers, ret), 0);
    return ret->status;
}

static long confirm(const char *token, const char *order_id, long long amount, const char *key,
                    const char *idem_key, struct ts_resp *ret)
{
    char body[512];

    snprintf(body, sizeof(body), "{\"orderId\":\"%s\",\"amount\":%lld,\"paymentKey\":\"%s\"}",
             order_id, amount, key);
    return http("POST", "/api/payments/confirm", token, body, idem_key, ret);
}

static const char *jstr(const cJSON *obj, const char *name)
{
    const cJSON *j = cJSON_GetObjectItem(obj, name);

    return cJSON_IsString(j) ? j->valuestring : "";
}

static long long jnum(const cJSON *obj, const char *name)
{
    const cJSON *j = cJSON_GetObjectItem(obj, name);

    return cJSON_IsNumber(j) ? (long long)j->valuedouble : -1;
}

/* GET /api/payments/{order} as admin: the payment (caller frees). */
static cJSON *payment(const char *order_id)
{
    struct ts_resp r;
    char path[128];
    cJSON *j;

    snprintf(path, sizeof(path), "/api/payments/%s", order_id);
    if (http("GET", path, fx->admin, NULL, NULL, &r) != 200)
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    j = r.json;
    r.json = NULL;
    ts_resp_free(&r);
    return j;
}

static void assert_status(const char *order_id, const char *status)
{
    cJSON *p = payment(order_id);

    assert_string_equal(jstr(p, "status"), status);
    cJSON_Delete(p);
}

static void assert_problem(const struct ts_resp *r, long status, const char *code)
{
    if (r->status != status || strcmp(jstr(r->json, "code"), code) != 0)
        fail_msg("want %ld %s, got %ld %s", status, code, r->status, r->body);
    assert_string_equal(r->content_type, "application/problem+json");
}

/* A new order of @amount for a new user: order.placed, then its payment.created. */
struct order {
    char id[UTIL_UUID_LEN];
    char user[64];
    char *token;
    long long amount;
};

static void order_new(struct order *o, long long amount)
{
    char ev_id[UTIL_UUID_LEN];
    const cJSON *data;

    util_uuid(o->id);
    ts_unique("user", o->user, sizeof(o->user));
    o->token = ts_token(o->user, "USER");
    o->amount = amount;
    util_uuid(ev_id);
    placed_event(ev_id, o->id, NULL, o->user, amount);
    data = wait_event("payment.created", o->id, 1);
    assert_string_equal(jstr(data, "userId"), o->user);
    assert_int_equal(jnum(data, "amount"), amount);
    assert_string_equal(jstr(data, "status"), "READY");
    assert_true(util_is_uuid(jstr(data, "paymentId")));
}

static void order_free(struct order *o)
{
    free(o->token);
}

static void approve(struct order *o)
{
    struct ts_resp r;

    if (confirm(o->token, o->id, o->amount, "tok_ok", NULL, &r) != 200)
        fail_msg("confirm: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    wait_event("payment.completed", o->id, 1);
}

/* ---- tests ---- */

static void test_placed_creates_one_ready_payment(void **state)
{
    struct order o;
    struct ts_resp r;
    char path[128], dup_id[UTIL_UUID_LEN];
    char *other = ts_token("someone-else", "USER");
    cJSON *p;

    (void)state;
    order_new(&o, 15000);
    snprintf(path, sizeof(path), "/api/payments/%s", o.id);
    assert_int_equal(http("GET", path, o.token, NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "status"), "READY");
    assert_int_equal(jnum(r.json, "amount"), 15000);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "transactions")), 0);
    ts_resp_free(&r);
    assert_int_equal(http("GET", path, other, NULL, NULL, &r), 404);
    assert_problem(&r, 404, "PAYMENT-404-001");
    ts_resp_free(&r);
    assert_int_equal(http("GET", path, NULL, NULL, NULL, &r), 401);
    ts_resp_free(&r);

    /* the same order placed again, under a new event id and a different amount: no change */
    util_uuid(dup_id);
    placed_event(dup_id, o.id, NULL, o.user, 99);
    marker(o.id);
    assert_int_equal(count_events("payment.created", o.id), 1);
    p = payment(o.id);
    assert_int_equal(jnum(p, "amount"), 15000);
    cJSON_Delete(p);
    free(other);
    order_free(&o);
}

static void test_confirm_approves_and_key_replays(void **state)
{
    struct order o;
    struct ts_resp r1, r2, r3;
    const cJSON *done;
    char key[64];

    (void)state;
    order_new(&o, 12000);
    ts_unique("idem", key, sizeof(key));
    assert_int_equal(confirm(o.token, o.id, 12000, "tok_abc", key, &r1), 200);
    assert_string_equal(jstr(r1.json, "status"), "APPROVED");
    assert_string_equal(jstr(r1.json, "orderId"), o.id);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r1.json, "transactions")), 1);
    done = wait_event("payment.completed", o.id, 1);
    assert_int_equal(jnum(done, "paidAmount"), 12000);
    assert_string_equal(jstr(done, "currency"), "KRW");
    assert_true(jnum(done, "approvedAt") > 1700000000000LL);
    assert_true(strncmp(jstr(done, "transactionId"), "pg_", 3) == 0);
    assert_string_equal(jstr(done, "paymentId"), jstr(r1.json, "paymentId"));
    {
        /* the saga's correlation id (from order.placed) travels on; keyed and about the order */
        const cJSON *env = last_envelope("payment.completed", o.id);
        char corr[64];

        snprintf(corr, sizeof(corr), "saga-%s", o.id);
        assert_string_equal(jstr(env, "correlationid"), corr);
        assert_string_equal(jstr(env, "subject"), o.id);
        assert_string_equal(jstr(env, "source"), "/payment-service");
        /* v2 (contracts/payment.completed/v2.json): approvedAtTime beside approvedAt */
        assert_string_equal(jstr(env, "dataschema"), "urn:commerce:event:payment.completed:v2");
        assert_int_equal(strlen(jstr(done, "approvedAtTime")), 24); /* 2026-…T…:…:….mmmZ */
        assert_int_equal(jstr(done, "approvedAtTime")[23], 'Z');
    }

    /* the same key: the same answer, nothing done again */
    assert_int_equal(confirm(o.token, o.id, 12000, "tok_abc", key, &r2), 200);
    assert_string_equal(r1.body, r2.body);
    /* another key: the payment is no longer READY */
    assert_int_equal(confirm(o.token, o.id, 12000, "tok_abc", "other-key", &r3), 409);
    assert_problem(&r3, 409, "PAYMENT-409-002");
    marker(o.id);
    assert_int_equal(count_events("payment.completed", o.id), 1);
    ts_resp_free(&r1);
    ts_resp_free(&r2);
    ts_resp_free(&r3);
    order_free(&o);
}

struct racer {
    struct order *o;
    int i;
    long status;
};

static void *race(void *arg)
{
    struct racer *rc = arg;
    char body[256], url[256], header[64];
    const char *headers[] = {header, NULL};
    struct ts_resp r;

    snprintf(body, sizeof(body), "{\"orderId\":\"%s\",\"amount\":%lld,\"paymentKey\":\"tok_%d\"}",
             rc->o->id, rc->o->amount, rc->i);
    snprintf(url, sizeof(url), "%s/api/payments/confirm", fx->svc.url);
    snprintf(header, sizeof(header), "Idempotency-Key: race-%d", rc->i);
    rc->status = ts_http("POST", url, rc->o->token, body, headers, &r) == 0 ? r.status : -1;
    ts_resp_free(&r);
    return NULL;
}

static void test_concurrent_confirms_capture_once(void **state)
{
    enum { RACERS = 4 };
    struct order o;
    struct racer racers[RACERS];
    pthread_t th[RACERS];
    int ok = 0, conflict = 0, approvals = 0;
    const cJSON *t;
    cJSON *p;

    (void)state;
    order_new(&o, 5000);
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (struct racer){.o = &o, .i = i};
        assert_int_equal(pthread_create(&th[i], NULL, race, &racers[i]), 0);
    }
    for (int i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        ok += racers[i].status == 200;
        conflict += racers[i].status == 409;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(conflict, RACERS - 1);
    p = payment(o.id);
    assert_string_equal(jstr(p, "status"), "APPROVED");
    cJSON_ArrayForEach (t, cJSON_GetObjectItem(p, "transactions"))
        approvals += !strcmp(jstr(t, "type"), "APPROVAL") && !strcmp(jstr(t, "status"), "SUCCESS");
    assert_int_equal(approvals, 1);
    cJSON_Delete(p);
    wait_event("payment.completed", o.id, 1);
    marker(o.id);
    assert_int_equal(count_events("payment.completed", o.id), 1);
    order_free(&o);
}

static void test_decline_and_timeout_fail_the_payment(void **state)
{
    struct order a, b;
    struct ts_resp r;
    const cJSON *failed;
    cJSON *p;

    (void)state;
    order_new(&a, 7000);
    assert_int_equal(confirm(a.token, a.id, 7000, "fail_card_limit", NULL, &r), 402);
    assert_problem(&r, 402, "PAYMENT-402-001");
    assert_string_equal(jstr(r.json, "reason"), "DECLINED_CARD_LIMIT");
    ts_resp_free(&r);
    failed = wait_event("payment.failed", a.id, 1);
    assert_string_equal(jstr(failed, "reason"), "DECLINED_CARD_LIMIT");
    assert_true(jnum(failed, "failedAt") > 1700000000000LL);
    p = payment(a.id);
    assert_string_equal(jstr(p, "status"), "FAILED");
    assert_string_equal(jstr(p, "failReason"), "DECLINED_CARD_LIMIT");
    assert_string_equal(
        jstr(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "transactions"), 0), "status"), "FAILED");
    cJSON_Delete(p);
    /* a failed payment cannot be confirmed again */
    assert_int_equal(confirm(a.token, a.id, 7000, "tok_ok", NULL, &r), 409);
    assert_problem(&r, 409, "PAYMENT-409-002");
    ts_resp_free(&r);

    order_new(&b, 8000);
    assert_int_equal(confirm(b.token, b.id, 8000, "slow_bank", "slow-key", &r), 504);
    assert_problem(&r, 504, "PAYMENT-504-001");
    assert_string_equal(jstr(r.json, "reason"), "GATEWAY_TIMEOUT");
    ts_resp_free(&r);
    failed = wait_event("payment.failed", b.id, 1);
    assert_string_equal(jstr(failed, "reason"), "GATEWAY_TIMEOUT");
    /* the stored answer comes back for the same key, quickly and without a second event */
    assert_int_equal(confirm(b.token, b.id, 8000, "slow_bank", "slow-key", &r), 504);
    assert_string_equal(jstr(r.json, "reason"), "GATEWAY_TIMEOUT");
    ts_resp_free(&r);
    assert_status(b.id, "FAILED");
    order_free(&a);
    order_free(&b);
}

static void test_confirm_refusals(void **state)
{
    struct order o;
    struct ts_resp r;
    char *other = ts_token("intruder", "USER");
    char unknown[UTIL_UUID_LEN];

    (void)state;
    order_new(&o, 9000);
    assert_int_equal(confirm(o.token, o.id, 8999, "tok_ok", NULL, &r), 422);
    assert_problem(&r, 422, "PAYMENT-422-001");
    ts_resp_free(&r);
    assert_int_equal(confirm(other, o.id, 9000, "tok_ok", NULL, &r), 404);
    assert_problem(&r, 404, "PAYMENT-404-001");
    ts_resp_free(&r);
    assert_int_equal(confirm(fx->admin, o.id, 9000, "tok_ok", NULL, &r), 404);
    ts_resp_free(&r);
    util_uuid(unknown);
    /* an unknown order answers like another user's: confirm is no existence oracle */
    assert_int_equal(confirm(o.token, unknown, 9000, "tok_ok", NULL, &r), 404);
    assert_problem(&r, 404, "PAYMENT-404-001");
    ts_resp_free(&r);
    assert_int_equal(http("POST", "/api/payments/confirm", o.token, "{\"orderId\":5}", NULL, &r),
                     400);
    assert_problem(&r, 400, "PAYMENT-400-001");
    ts_resp_free(&r);
    assert_int_equal(confirm(NULL, o.id, 9000, "tok_ok", NULL, &r), 401);
    ts_resp_free(&r);
    assert_status(o.id, "READY");
    free(other);
    order_free(&o);
}

/* A confirm in a thread of its own (it may wait in the service). */
struct early {
    const char *token;
    const char *order_id;
    long long amount;
    struct ts_resp r;
    long status;
    atomic_bool done; /* the answer came */
};

static void *early_confirm(void *arg)
{
    struct early *e = arg;
    char body[256], url[256];

    snprintf(body, sizeof(body), "{\"orderId\":\"%s\",\"amount\":%lld,\"paymentKey\":\"tok_ok\"}",
             e->order_id, e->amount);
    snprintf(url, sizeof(url), "%s/api/payments/confirm", fx->svc.url);
    e->status = ts_http("POST", url, e->token, body, NULL, &e->r) == 0 ? e->r.status : -1;
    atomic_store(&e->done, true);
    return NULL;
}

/* The service's log has the line *@arg. */
static bool log_has(void *arg)
{
    FILE *f = fopen(fx->svc.log_path, "r");
    char line[4096];
    bool found = false;

    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, arg) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* The gauge commerce_payment_confirm_waiters is 0. */
static bool no_waiters(void *arg)
{
    struct ts_resp r;
    bool ok;

    (void)arg;
    if (http("GET", "/metrics", NULL, NULL, NULL, &r) != 200)
        return false;
    ok = strstr(r.body, "\ncommerce_payment_confirm_waiters 0\n") != NULL;
    ts_resp_free(&r);
    return ok;
}

/* A confirm sent before payment-service has the payment (here even before order.placed) waits
 * for it and is approved, without the client retrying. */
static void test_confirm_waits_for_its_payment(void **state)
{
    struct order o = {.amount = 6500};
    struct early e;
    char ev_id[UTIL_UUID_LEN];
    char waits[128];
    pthread_t th;

    (void)state;
    util_uuid(o.id);
    ts_unique("early", o.user, sizeof(o.user));
    o.token = ts_token(o.user, "USER");
    e = (struct early){.token = o.token, .order_id = o.id, .amount = o.amount};
    assert_int_equal(pthread_create(&th, NULL, early_confirm, &e), 0);
    /* it waits in the service: the payment does not exist yet (watched in the log: a request
     * to the service could land on the HTTP thread that waits) */
    snprintf(waits, sizeof(waits), "confirm of order '%s' waits for its payment", o.id);
    assert_true(ts_poll_until(log_has, waits, WAIT_MS));
    util_uuid(ev_id);
    placed_event(ev_id, o.id, NULL, o.user, o.amount);
    pthread_join(th, NULL);
    if (e.status != 200)
        fail_msg("early confirm: %ld %s", e.status, e.r.body ? e.r.body : "");
    assert_string_equal(jstr(e.r.json, "status"), "APPROVED");
    assert_string_equal(jstr(e.r.json, "orderId"), o.id);
    ts_resp_free(&e.r);
    wait_event("payment.completed", o.id, 1);
    assert_true(ts_poll_until(no_waiters, NULL, WAIT_MS));
    assert_int_equal(http("GET", "/metrics", NULL, NULL, NULL, &e.r), 200);
    assert_non_null(strstr(e.r.body, "commerce_payment_confirm_waits_total{result=\"found\"} 1"));
    ts_resp_free(&e.r);
    order_free(&o);
}

/* The gauge commerce_payment_confirm_waiters is *@arg (read through /metrics: answered). */
static bool waiters_are(void *arg)
{
    struct ts_resp r;
    char want[64];
    bool ok;

    snprintf(want, sizeof(want), "\ncommerce_payment_confirm_waiters %d\n", *(int *)arg);
    if (http("GET", "/metrics", NULL, NULL, NULL, &r) != 200)
        return false;
    ok = strstr(r.body, want) != NULL;
    ts_resp_free(&r);
    return ok;
}

/* More confirms wait than the service has HTTP threads (2), and the service still answers
 * other requests while they wait; then their payments are made and each is approved. */
static void test_parked_confirms_hold_no_thread(void **state)
{
    struct order o[PARKED_N];
    struct early *e = calloc(PARKED_N, sizeof(*e));
    pthread_t th[PARKED_N];
    struct ts_resp r;
    int n = PARKED_N;

    (void)state;
    assert_non_null(e);
    for (int i = 0; i < n; i++) {
        util_uuid(o[i].id);
        ts_unique("parked", o[i].user, sizeof(o[i].user));
        o[i].token = ts_token(o[i].user, "USER");
        o[i].amount = 1000 + i;
        e[i] = (struct early){.token = o[i].token, .order_id = o[i].id, .amount = o[i].amount};
        assert_int_equal(pthread_create(&th[i], NULL, early_confirm, &e[i]), 0);
    }
    /* all wait at once: the gauge says so through /metrics, answered while they wait */
    assert_true(ts_poll_until(waiters_are, &n, WAIT_MS));
    assert_int_equal(http("GET", "/health/live", NULL, NULL, NULL, &r), 200);
    ts_resp_free(&r);
    /* answered while every confirm still waits: none has its answer, the gauge is unchanged */
    for (int i = 0; i < n; i++)
        assert_false(atomic_load(&e[i].done));
    assert_true(waiters_are(&n));
    for (int i = 0; i < n; i++) {
        char ev_id[UTIL_UUID_LEN];
        util_uuid(ev_id);
        placed_event(ev_id, o[i].id, NULL, o[i].user, o[i].amount);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        if (e[i].status != 200)
            fail_msg("parked confirm %d: %ld %s", i, e[i].status, e[i].r.body ? e[i].r.body : "");
        assert_string_equal(jstr(e[i].r.json, "status"), "APPROVED");
        assert_string_equal(jstr(e[i].r.json, "orderId"), o[i].id);
        ts_resp_free(&e[i].r);
        wait_event("payment.completed", o[i].id, 1);
        order_free(&o[i]);
    }
    assert_true(ts_poll_until(no_waiters, NULL, WAIT_MS));
    free(e);
}

static void test_cancel_ready_payment_publishes_nothing(void **state)
{
    struct order o;
    struct ts_resp r;
    char id[UTIL_UUID_LEN];

    (void)state;
    order_new(&o, 4000);
    util_uuid(id);
    cancelled_event(id, o.id, "USER_CANCELLED");
    marker(o.id);
    assert_status(o.id, "CANCELED");
    assert_int_equal(count_events("payment.refunded", o.id), 0);
    assert_int_equal(confirm(o.token, o.id, 4000, "tok_ok", NULL, &r), 409);
    assert_problem(&r, 409, "PAYMENT-409-002");
    ts_resp_free(&r);
    order_free(&o);
}

static void test_cancel_approved_refunds_everything_once(void **state)
{
    struct order o;
    char id[UTIL_UUID_LEN];
    const cJSON *ref;
    cJSON *p;

    (void)state;
    order_new(&o, 11000);
    approve(&o);
    util_uuid(id);
    cancelled_event(id, o.id, "PAID_AFTER_CANCEL");
    ref = wait_event("payment.refunded", o.id, 1);
    assert_int_equal(jnum(ref, "refundedAmount"), 11000);
    assert_int_equal(jnum(ref, "totalRefunded"), 11000);
    assert_int_equal(jnum(ref, "remainingAmount"), 0);
    assert_string_equal(jstr(ref, "reason"), "PAID_AFTER_CANCEL");
    /* the same event again, then another cancel: nothing more */
    cancelled_event(id, o.id, "PAID_AFTER_CANCEL");
    util_uuid(id);
    cancelled_event(id, o.id, "USER_CANCELLED");
    marker(o.id);
    assert_int_equal(count_events("payment.refunded", o.id), 1);
    p = payment(o.id);
    assert_string_equal(jstr(p, "status"), "CANCELED");
    assert_int_equal(jnum(p, "refundedAmount"), 11000);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "transactions")), 2);
    cJSON_Delete(p);
    order_free(&o);
}

static void test_partial_refunds_then_the_rest(void **state)
{
    struct order o;
    char id[UTIL_UUID_LEN];
    const cJSON *ref;
    cJSON *p;

    (void)state;
    order_new(&o, 10000);
    approve(&o);
    util_uuid(id);
    refunded_event(id, o.id, 3000);
    ref = wait_event("payment.refunded", o.id, 1);
    assert_int_equal(jnum(ref, "refundedAmount"), 3000);
    assert_int_equal(jnum(ref, "remainingAmount"), 7000);
    assert_status(o.id, "PARTIAL_CANCELED");
    refunded_event(id, o.id, 3000); /* the same event id: a redelivery */
    marker(o.id);
    assert_int_equal(count_events("payment.refunded", o.id), 1);

    util_uuid(id);
    refunded_event(id, o.id, 7000);
    ref = wait_event("payment.refunded", o.id, 2);
    assert_int_equal(jnum(ref, "refundedAmount"), 7000);
    assert_int_equal(jnum(ref, "totalRefunded"), 10000);
    assert_int_equal(jnum(ref, "remainingAmount"), 0);
    p = payment(o.id);
    assert_string_equal(jstr(p, "status"), "CANCELED");
    assert_int_equal(jnum(p, "refundedAmount"), 10000);
    cJSON_Delete(p);

    /* nothing left: a further refund or cancel changes nothing */
    util_uuid(id);
    refunded_event(id, o.id, 1);
    util_uuid(id);
    cancelled_event(id, o.id, "USER_CANCELLED");
    marker(o.id);
    assert_int_equal(count_events("payment.refunded", o.id), 2);
    order_free(&o);
}

static void test_unknown_order_and_invalid_payload(void **state)
{
    char order[UTIL_UUID_LEN], id[UTIL_UUID_LEN], dlq[96], data[512];
    struct ts_consumer *c;
    struct ts_record *recs = NULL;
    size_t n;

    (void)state;
    /* a cancel for an order payment never heard of: acknowledged, the consumer moves on */
    util_uuid(order);
    util_uuid(id);
    cancelled_event(id, order, "USER_CANCELLED");
    /* an order.placed without payableAmount (otherwise complete): to the dead-letter topic */
    util_uuid(id);
    snprintf(data, sizeof(data),
             "{\"orderId\":\"%s\",\"userId\":\"u\",\"totalAmount\":1000,\"discountAmount\":0,"
             "\"items\":[{\"orderItemId\":1,\"skuId\":7,\"quantity\":1,\"unitPrice\":1000,"
             "\"amount\":1000}]}",
             order);
    produce("order.placed", id, order, data);
    marker(order);
    snprintf(dlq, sizeof(dlq), "%s.dlq", fx->topic_order);
    c = ts_consumer_new(dlq);
    n = ts_consume(c, 1, WAIT_MS, &recs);
    assert_int_equal(n, 1);
    /* refused by the schema validator, which names the field */
    assert_int_equal(strncmp(ts_record_header(&recs[0], "dlq_error"), "schema: ", 8), 0);
    assert_non_null(strstr(ts_record_header(&recs[0], "dlq_error"), "payableAmount"));
    ts_records_free(recs, n);
    ts_consumer_free(c);
}

/* Runs @sql with the order id as its one parameter on the service's database. */
static void db_exec_order(const char *sql, const char *order_id)
{
    char err[256];
    struct db_conn *conn = db_acquire(fx->pool, err, sizeof(err));
    struct db_param p[] = {DB_STR(order_id)};
    unsigned long long affected = 0;

    assert_non_null(conn);
    assert_int_equal(db_exec(conn, sql, p, 1, &affected, NULL), 0);
    assert_int_equal(affected, 1);
    db_release(fx->pool, conn);
}

/* A confirm in progress (its token on the row) blocks others; one abandoned by a crash
 * (older than the gateway timeout + 10 s) does not. */
static void test_confirm_in_progress_and_abandoned(void **state)
{
    struct order o;
    struct ts_resp r;

    (void)state;
    order_new(&o, 6000);
    db_exec_order("UPDATE payment SET confirm_token = '00000000-0000-4000-8000-000000000000', "
                  "confirm_started_at = NOW(6) WHERE order_id = ?",
                  o.id);
    assert_int_equal(confirm(o.token, o.id, 6000, "tok_ok", NULL, &r), 409);
    assert_problem(&r, 409, "PAYMENT-409-002");
    assert_non_null(strstr(jstr(r.json, "detail"), "in progress"));
    ts_resp_free(&r);
    db_exec_order("UPDATE payment SET confirm_started_at = NOW(6) - INTERVAL 1 HOUR "
                  "WHERE order_id = ?",
                  o.id);
    assert_int_equal(confirm(o.token, o.id, 6000, "tok_ok", NULL, &r), 200);
    assert_string_equal(jstr(r.json, "status"), "APPROVED");
    ts_resp_free(&r);
    wait_event("payment.completed", o.id, 1);
    marker(o.id);
    assert_int_equal(count_events("payment.completed", o.id), 1);
    order_free(&o);
}

#define INBOX_COUNT_SQL "SELECT COUNT(*) FROM inbox WHERE event_id = ?"
#define IDEM_COUNT_SQL "SELECT COUNT(*) FROM payment_idempotency WHERE idempotency_key = ?"

/* The count @sql (one string parameter, @key) answers; -1 when the query fails. */
static long long count_rows(const char *sql, const char *key)
{
    char err[256];
    struct db_conn *conn = db_acquire(fx->pool, err, sizeof(err));
    struct db_result *res = NULL;
    long long n = -1;

    if (!conn)
        return -1;
    if (db_query_one(conn, sql, (struct db_param[]){DB_STR(key)}, 1, &res) == 0)
        n = db_result_int(res, 0, 0);
    db_result_free(res);
    db_release(fx->pool, conn);
    return n;
}

static bool inbox_gone(void *arg)
{
    return count_rows(INBOX_COUNT_SQL, arg) == 0;
}

/* svc_main's inbox purge runs in payment-service (INBOX_PURGE_MS=200 here): a row older than
 * INBOX_RETENTION_S (3600) goes, a younger one stays. */
static void test_inbox_purge(void **state)
{
    static const char *const sql = "INSERT INTO inbox (consumer_group, event_id, event_type, "
                                   "processed_at) VALUES ('payment-service', ?, 'order.placed', "
                                   "NOW(6) - INTERVAL ? SECOND)";
    char old_id[64], young_id[64], err[256];
    struct db_conn *conn = db_acquire(fx->pool, err, sizeof(err));
    unsigned long long affected = 0;

    (void)state;
    assert_non_null(conn);
    ts_unique("inbox-old", old_id, sizeof(old_id));
    ts_unique("inbox-young", young_id, sizeof(young_id));
    assert_int_equal(
        db_exec(conn, sql, (struct db_param[]){DB_STR(old_id), DB_INT(7200)}, 2, &affected, NULL),
        0);
    assert_int_equal(affected, 1);
    assert_int_equal(
        db_exec(conn, sql, (struct db_param[]){DB_STR(young_id), DB_INT(1800)}, 2, &affected, NULL),
        0);
    assert_int_equal(affected, 1);
    db_release(fx->pool, conn);
    assert_true(ts_poll_until(inbox_gone, old_id, 10000));
    assert_int_equal(count_rows(INBOX_COUNT_SQL, young_id), 1);
}

static bool idem_gone(void *arg)
{
    return count_rows(IDEM_COUNT_SQL, arg) == 0;
}

/* The stored answers of idempotent actions are bookkeeping purged with the inbox
 * (svc_desc.purge): a row older than INBOX_RETENTION_S (3600) goes, a younger one stays. */
static void test_idempotency_purge(void **state)
{
    static const char *const sql = "INSERT INTO payment_idempotency (order_id, action, "
                                   "idempotency_key, response, created_at) VALUES (?, 'CONFIRM', "
                                   "?, '{}', NOW(6) - INTERVAL ? SECOND)";
    char order[64], old_key[64], young_key[64], err[256];
    struct db_conn *conn = db_acquire(fx->pool, err, sizeof(err));
    unsigned long long affected = 0;

    (void)state;
    assert_non_null(conn);
    ts_unique("idem-order", order, sizeof(order));
    ts_unique("idem-old", old_key, sizeof(old_key));
    ts_unique("idem-young", young_key, sizeof(young_key));
    assert_int_equal(db_exec(conn, sql,
                             (struct db_param[]){DB_STR(order), DB_STR(old_key), DB_INT(7200)}, 3,
                             &affected, NULL),
                     0);
    assert_int_equal(affected, 1);
    assert_int_equal(db_exec(conn, sql,
                             (struct db_param[]){DB_STR(order), DB_STR(young_key), DB_INT(1800)}, 3,
                             &affected, NULL),
                     0);
    assert_int_equal(affected, 1);
    db_release(fx->pool, conn);
    assert_true(ts_poll_until(idem_gone, old_key, 10000));
    assert_int_equal(count_rows(IDEM_COUNT_SQL, young_key), 1);
}

static void test_health_and_metrics(void **state)
{
    struct ts_resp r;

    (void)state;
    assert_int_equal(http("GET", "/health/ready", NULL, NULL, NULL, &r), 200);
    ts_resp_free(&r);
    assert_int_equal(http("GET", "/metrics", NULL, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "commerce_payments_total{result=\"approved\"}"));
    assert_non_null(strstr(r.body, "commerce_payment_captured_amount_total"));
    assert_non_null(strstr(r.body, "commerce_payment_refunded_amount_total"));
    ts_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placed_creates_one_ready_payment),
        cmocka_unit_test(test_confirm_approves_and_key_replays),
        cmocka_unit_test(test_concurrent_confirms_capture_once),
        cmocka_unit_test(test_decline_and_timeout_fail_the_payment),
        cmocka_unit_test(test_confirm_refusals),
        cmocka_unit_test(test_confirm_waits_for_its_payment),
        cmocka_unit_test(test_parked_confirms_hold_no_thread),
        cmocka_unit_test(test_cancel_ready_payment_publishes_nothing),
        cmocka_unit_test(test_cancel_approved_refunds_everything_once),
        cmocka_unit_test(test_partial_refunds_then_the_rest),
        cmocka_unit_test(test_unknown_order_and_invalid_payload),
        cmocka_unit_test(test_confirm_in_progress_and_abandoned),
        cmocka_unit_test(test_inbox_purge),
        cmocka_unit_test(test_idempotency_purge),
        cmocka_unit_test(test_health_and_metrics),
    };
    int rc;

    mysql_library_init(0, NULL, NULL);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    mysql_library_end();
    return rc;
}
