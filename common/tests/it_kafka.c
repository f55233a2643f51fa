/*
 * it_kafka.c - integration tests of the producer and the consumer's failure policy (kafka.h)
 * against the broker in KAFKA_BOOTSTRAP. Every test makes its own topics and group.
 *
 * it_kafka_mock.c includes this file with IT_KAFKA_MOCK defined to run the same tests against
 * librdkafka's mock cluster, the harness's fallback broker; it_kafka_pool_w1.c with
 * IT_KAFKA_WORKERS 1 to run them on a consumer that handles on its polling thread (here: the
 * default pool); it_kafka_pool.c with IT_KAFKA_NO_MAIN for its helpers.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <openssl/evp.h>
#ifdef IT_KAFKA_MOCK
#include <librdkafka/rdkafka_mock.h>
#endif

#include "common/contracts.h"
#include "common/event.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msgctx.h"
#include "common/util.h"
#include "testsup.h"

#define DEADLINE_MS 30000
#define MAX_CALLS 64
#ifndef IT_KAFKA_WORKERS
#define IT_KAFKA_WORKERS 0 /* the consumer's default */
#endif

static char bootstrap[256];

#ifdef IT_KAFKA_MOCK
#define it_auth ((const struct kafka_auth *)NULL) /* the mock cluster takes anyone */
#else
#define it_auth ts_kafka_auth() /* the harness's admin on a broker with SASL */
#endif

#ifdef IT_KAFKA_MOCK
static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;
/* the mock cluster's own handle stays alive for the whole run */
#define assert_all_destroyed() ((void)0)
#else
#define assert_all_destroyed() assert_int_equal(rd_kafka_wait_destroyed(10000), 0)
#endif

/* ------------------------------------------------------------------------------------------ */
/* the test application: a scripted handler that records each call                            */

struct call {
    char id[64];
    char key[64];
    char mode[32];
    char correlation[64];
    int attempt;
    int64_t offset;
    int version;  /* ev->version, after the check */
    int produced; /* rec->version */
};

struct app {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct call calls[MAX_CALLS];
    int ncalls;
};

/* data.mode: "ok", "fail", "retry" (always), "retry-until" (OK from attempt data.n on),
 * "down-until" (KAFKA_UNAVAILABLE until the handler's data.n-th call of this event). */
static enum kafka_result handler(const struct event *ev, const struct kafka_record *rec, void *arg,
                                 char *errbuf, size_t errlen)
{
    struct app *app = arg;
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(ev->data, "mode");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(ev->data, "n");
    const struct msgctx *ctx = msgctx_current();
    const char *m = cJSON_IsString(mode) ? mode->valuestring : "ok";
    enum kafka_result res = KAFKA_OK;
    struct call *call;
    int seen = 0; /* earlier calls of this event */

    pthread_mutex_lock(&app->lock);
    for (int i = 0; i < app->ncalls; i++)
        seen += strcmp(app->calls[i].id, ev->id) == 0;
    if (app->ncalls < MAX_CALLS) {
        call = &app->calls[app->ncalls++];
        memset(call, 0, sizeof(*call));
        util_strlcpy(call->id, ev->id, sizeof(call->id));
        snprintf(call->key, sizeof(call->key), "%.*s", (int)rec->keylen, rec->key ? rec->key : "");
        util_strlcpy(call->mode, m, sizeof(call->mode));
        util_strlcpy(call->correlation, ctx ? ctx->correlation_id : "", sizeof(call->correlation));
        call->attempt = rec->attempt;
        call->offset = rec->offset;
        call->version = ev->version;
        call->produced = rec->version;
    }
    pthread_cond_broadcast(&app->changed);
    pthread_mutex_unlock(&app->lock);

    if (strcmp(m, "fail") == 0) {
        snprintf(errbuf, errlen, "permanently broken");
        res = KAFKA_FAIL;
    } else if (strcmp(m, "retry") == 0 ||
               (strcmp(m, "retry-until") == 0 && rec->attempt < (int)n->valuedouble)) {
        snprintf(errbuf, errlen, "database down");
        res = KAFKA_RETRY;
    } else if (strcmp(m, "down-until") == 0 && seen + 1 < (int)n->valuedouble) {
        snprintf(errbuf, errlen, "database unreachable");
        res = KAFKA_UNAVAILABLE;
    }
    return res;
}

static void app_init(struct app *app)
{
    memset(app, 0, sizeof(*app));
    pthread_mutex_init(&app->lock, NULL);
    pthread_cond_init(&app->changed, NULL);
}

static void app_release(struct app *app)
{
    pthread_cond_destroy(&app->changed);
    pthread_mutex_destroy(&app->lock);
}

/* Waits until the handler ran @n times; returns the count reached. */
static int app_wait_calls(struct app *app, int n, int timeout_ms)
{
    struct timespec until;
    int got;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&app->lock);
    while (app->ncalls < n) {
        if (pthread_cond_timedwait(&app->changed, &app->lock, &until) == ETIMEDOUT)
            break;
    }
    got = app->ncalls;
    pthread_mutex_unlock(&app->lock);
    return got;
}

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                     */

static void unique(const char *prefix, char *out, size_t outlen)
{
    char uuid[UTIL_UUID_LEN];

    util_uuid(uuid);
    snprintf(out, outlen, "%s-%.12s", prefix, uuid + 24);
}

/* Makes "<topic>" and "<topic>.dlq" with @partitions partitions. */
static void make_topics(const char *topic, int partitions)
{
    char dlq[200], err[256] = "";
    const char *topics[] = {topic, dlq, NULL};

    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
#ifdef IT_KAFKA_MOCK
    /* the mock's auto-created topics have 4 partitions; these tests read partition 0 */
    rd_kafka_mock_topic_create(mock, topic, partitions, 1); /* may exist already */
    rd_kafka_mock_topic_create(mock, dlq, partitions, 1);
#endif
    if (kafka_create_topics(bootstrap, it_auth, topics, partitions, err, sizeof(err)) != 0)
        fail_msg("create topics: %s", err);
}

static struct kafka_producer *producer_linger(int timeout_ms, int linger_ms)
{
    struct kafka_producer_opts opts = {bootstrap, "it-kafka", timeout_ms, it_auth, linger_ms};
    struct kafka_producer *p;
    char err[256];

    p = kafka_producer_new(&opts, err, sizeof(err));
    if (!p)
        fail_msg("producer: %s", err);
    return p;
}

static struct kafka_producer *producer(int timeout_ms)
{
    return producer_linger(timeout_ms, 0);
}

static const struct kafka_type TYPES[] = {
    {"order.placed", 1, 2},
    {"order.cancelled", 1, 1},
    {NULL, 0, 0},
};

/* consumer() with the payload check @check (may be NULL) and its @check_arg. */
static const int CHECK_ARG = 42;

static struct kafka_consumer *consumer_checked_arg(const char *topic, const char *group,
                                                   struct app *app, struct kafka_producer *dlq,
                                                   kafka_check_fn check, const void *check_arg)
{
    const char *topics[] = {topic, NULL};
    struct kafka_consumer_opts opts = {
        .bootstrap = bootstrap,
        .group_id = group,
        .service = "it-service",
        .topics = topics,
        .types = TYPES,
        .handler = handler,
        .app = app,
        .dlq_producer = dlq,
        .max_attempts = 3,
        .backoff_base_ms = 20,
        .backoff_max_ms = 80,
        .check = check,
        .check_arg = check_arg,
        .auth = it_auth,
        .workers = IT_KAFKA_WORKERS,
    };
    struct kafka_consumer *c;
    char err[256];

    c = kafka_consumer_start(&opts, err, sizeof(err));
    if (!c)
        fail_msg("consumer: %s", err);
    return c;
}

/* consumer_checked_arg() with the arg &CHECK_ARG. */
static struct kafka_consumer *consumer_checked(const char *topic, const char *group,
                                               struct app *app, struct kafka_producer *dlq,
                                               kafka_check_fn check)
{
    return consumer_checked_arg(topic, group, app, dlq, check, &CHECK_ARG);
}

static struct kafka_consumer *consumer(const char *topic, const char *group, struct app *app,
                                       struct kafka_producer *dlq)
{
    return consumer_checked(topic, group, app, dlq, NULL);
}

/* The payload check of test_check_hook, by data.mode: "refuse" → refused; else "upcast" to
 * @max_version, and "lenient" → invalid but handled. Runs on the consumer thread, so it
 * answers instead of asserting. */
static int check(struct event *ev, int max_version, const void *arg, char *reason, size_t reasonlen)
{
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(ev->data, "mode");
    const char *m = cJSON_IsString(mode) ? mode->valuestring : "";

    if (arg != &CHECK_ARG) {
        snprintf(reason, reasonlen, "check: wrong arg");
        return -EINVAL;
    }
    if (strcmp(m, "refuse") == 0) {
        snprintf(reason, reasonlen, "schema: /n: must be >= 1");
        return -EINVAL;
    }
    ev->version = max_version;
    if (strcmp(m, "lenient") == 0) {
        snprintf(reason, reasonlen, "schema: /n: lenient");
        return KAFKA_CHECK_LENIENT;
    }
    return 0;
}

/* Produces one event of @type/@version from @source with data {mode, n} and, when
 * @wire_size > 0, a "pad" string that makes the record's key, value and header bytes add up to
 * @wire_size; its id goes to @ret_id, its value to @ret_value (caller frees; may be NULL). */
static void send_event_full(struct kafka_producer *p, const char *topic, const char *source,
                            const char *key, const char *type, int version, const char *mode, int n,
                            size_t wire_size, char *ret_id, char **ret_value)
{
    struct event_header hdrs[EVENT_MAX_HEADERS];
    struct kafka_msg msg;
    struct msgctx ctx;
    struct event ev;
    cJSON *data = cJSON_CreateObject();
    char *json;

    cJSON_AddStringToObject(data, "mode", mode);
    cJSON_AddNumberToObject(data, "n", n);
    msgctx_init_request(&ctx, "saga-1", NULL);
    assert_int_equal(event_init(&ev, type, version, source, key, &ctx, data), 0);
    if (wire_size > 0) {
        size_t nh = event_to_headers(&ev, hdrs, EVENT_MAX_HEADERS), fixed, i;
        char *pad;

        cJSON_AddStringToObject(ev.data, "pad", "");
        json = event_to_json(&ev);
        assert_non_null(json);
        fixed = strlen(key) + strlen(json);
        for (i = 0; i < nh; i++)
            fixed += strlen(hdrs[i].name) + (hdrs[i].value ? strlen(hdrs[i].value) : 0);
        free(json);
        assert_true(wire_size > fixed);
        pad = malloc(wire_size - fixed + 1);
        assert_non_null(pad);
        memset(pad, 'x', wire_size - fixed);
        pad[wire_size - fixed] = '\0';
        cJSON_ReplaceItemInObject(ev.data, "pad", cJSON_CreateString(pad));
        free(pad);
    }
    json = event_to_json(&ev);
    assert_non_null(json);
    memset(&msg, 0, sizeof(msg));
    msg.topic = topic;
    msg.key = key;
    msg.keylen = strlen(key);
    msg.value = json;
    msg.len = strlen(json);
    msg.headers = hdrs;
    msg.nheaders = event_to_headers(&ev, hdrs, EVENT_MAX_HEADERS);
    assert_int_equal(kafka_produce_wait(p, &msg, 1), 0);
    assert_int_equal(msg.result, 0);
    if (ret_id)
        strcpy(ret_id, ev.id);
    if (ret_value)
        *ret_value = json;
    else
        free(json);
    event_release(&ev);
}

/* send_event_full() as "it-kafka" (consumers without the producer rule take any source). */
static void send_event_sized(struct kafka_producer *p, const char *topic, const char *key,
                             const char *type, int version, const char *mode, int n,
                             size_t wire_size, char *ret_id, char **ret_value)
{
    send_event_full(p, topic, "it-kafka", key, type, version, mode, n, wire_size, ret_id,
                    ret_value);
}

/* send_event_full() from @source, without padding. */
static void send_event_from(struct kafka_producer *p, const char *topic, const char *source,
                            const char *key, const char *type, int version, const char *mode, int n,
                            char *ret_id)
{
    send_event_full(p, topic, source, key, type, version, mode, n, 0, ret_id, NULL);
}

/* Produces one event of @type/@version with data {mode, n}; its id goes to @ret_id. */
static void send_event(struct kafka_producer *p, const char *topic, const char *key,
                       const char *type, int version, const char *mode, int n, char *ret_id)
{
    send_event_sized(p, topic, key, type, version, mode, n, 0, ret_id, NULL);
}

static void send_raw(struct kafka_producer *p, const char *topic, const char *key,
                     const char *value)
{
    const struct event_header hdrs[] = {{"x-raw", "yes"}};
    struct kafka_msg msg = {
        .topic = topic,
        .key = key,
        .keylen = strlen(key),
        .value = value,
        .len = strlen(value),
        .headers = hdrs,
        .nheaders = 1,
    };

    assert_int_equal(kafka_produce_wait(p, &msg, 1), 0);
}

/* A consumed record, copied, for checks on DLQ and round-trip topics. */
struct rec {
    char *key;
    char *value;
    size_t len;
    int nh;
    char *hname[32];
    char *hval[32];
};

static const char *rec_header(const struct rec *r, const char *name)
{
    int i;

    for (i = 0; i < r->nh; i++)
        if (strcmp(r->hname[i], name) == 0)
            return r->hval[i];
    return NULL;
}

static void recs_free(struct rec *recs, int n)
{
    int i, j;

    for (i = 0; i < n; i++) {
        free(recs[i].key);
        free(recs[i].value);
        for (j = 0; j < recs[i].nh; j++) {
            free(recs[i].hname[j]);
            free(recs[i].hval[j]);
        }
    }
}

/* Reads up to @want records of partition 0 of @topic from the beginning (no group). */
static int read_topic(const char *topic, struct rec *out, int want, int timeout_ms)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *tps;
    rd_kafka_t *rk;
    int64_t deadline = util_now_mono_ms() + timeout_ms;
    char err[256];
    int n = 0;

    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(kafka_auth_apply(conf, it_auth, err, sizeof(err)), 0);
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", "it-reader", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(rk);
    conf = NULL; /* now owned by rk */
    rd_kafka_poll_set_consumer(rk);
    tps = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tps, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, tps), 0);
    rd_kafka_topic_partition_list_destroy(tps);

    while (n < want && util_now_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        rd_kafka_headers_t *hdrs;
        const char *name;
        const void *val;
        size_t size, idx;

        if (!m)
            continue;
        if (!m->err) {
            struct rec *r = &out[n++];

            memset(r, 0, sizeof(*r));
            r->key = strndup(m->key ? m->key : "", m->key_len);
            r->value = strndup(m->payload ? m->payload : "", m->len);
            r->len = m->len;
            if (rd_kafka_message_headers(m, &hdrs) == 0)
                for (idx = 0; r->nh < 32 && !rd_kafka_header_get_all(hdrs, idx, &name, &val, &size);
                     idx++) {
                    r->hname[r->nh] = strdup(name);
                    r->hval[r->nh] = strndup(val ? val : "", size);
                    r->nh++;
                }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

/* The end offset of partition 0 of @topic. */
static int64_t high_watermark(const char *topic)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    int64_t lo = -1, hi = -1;
    char err[256];

    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
    assert_int_equal(kafka_auth_apply(conf, it_auth, err, sizeof(err)), 0);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(rk);
    {
        /* a fresh topic may not have a partition leader yet: ask again until the deadline */
        int64_t deadline = util_now_mono_ms() + 30000;
        rd_kafka_resp_err_t e;

        while ((e = rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, 10000)) &&
               util_now_mono_ms() < deadline)
            util_sleep_ms(100);
        assert_int_equal(e, 0);
    }
    rd_kafka_destroy(rk);
    return hi;
}

static void finish(struct kafka_consumer *c, struct kafka_producer *p, struct app *app)
{
    kafka_consumer_stop(c);
    kafka_producer_free(p);
    app_release(app);
    assert_all_destroyed();
}

static void check_dlq_headers(const struct rec *r, const char *topic, const char *attempts,
                              const char *error_part)
{
    static const char *const names[] = {
        "dlq_original_topic",  "dlq_original_partition",
        "dlq_original_offset", "dlq_consumer_group",
        "dlq_service",         "dlq_error",
        "dlq_attempts",        "dlq_time",
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!rec_header(r, names[i]))
            fail_msg("dlq header '%s' missing", names[i]);
    assert_string_equal(rec_header(r, "dlq_original_topic"), topic);
    assert_string_equal(rec_header(r, "dlq_original_partition"), "0");
    assert_string_equal(rec_header(r, "dlq_service"), "it-service");
    assert_string_equal(rec_header(r, "dlq_attempts"), attempts);
    if (!strstr(rec_header(r, "dlq_error"), error_part))
        fail_msg("dlq_error '%s' lacks '%s'", rec_header(r, "dlq_error"), error_part);
}

/* ------------------------------------------------------------------------------------------ */
/* tests                                                                                       */

static void test_round_trip(void **state)
{
    char topic[96], group[96], id[3][64];
    struct kafka_producer *p;
    struct kafka_consumer *c;
    struct rec recs[3];
    struct app app;
    char why[256];
    int i;

    (void)state;
    unique("it-rt", topic, sizeof(topic));
    unique("g-rt", group, sizeof(group));
    make_topics(topic, 1);
    p = producer(10000);
    assert_int_equal(kafka_producer_ping(p, 10000, why, sizeof(why)), 0);
    app_init(&app);
    c = consumer(topic, group, &app, p);

    send_event(p, topic, "order-1", "order.placed", 1, "ok", 0, id[0]);
    send_event(p, topic, "order-1", "order.cancelled", 1, "ok", 0, id[1]);
    send_event(p, topic, "order-1", "order.placed", 2, "ok", 0, id[2]);
    assert_int_equal(app_wait_calls(&app, 3, DEADLINE_MS), 3);
    for (i = 0; i < 3; i++) {
        assert_string_equal(app.calls[i].id, id[i]);
        assert_string_equal(app.calls[i].key, "order-1");
        assert_string_equal(app.calls[i].correlation, "saga-1"); /* current msgctx was set */
        assert_int_equal(app.calls[i].attempt, 1);
    }

    /* the ce_* headers and the body travel as produced */
    assert_int_equal(read_topic(topic, recs, 3, DEADLINE_MS), 3);
    for (i = 0; i < 3; i++) {
        assert_string_equal(recs[i].key, "order-1");
        assert_string_equal(rec_header(&recs[i], "ce_id"), id[i]);
        assert_string_equal(rec_header(&recs[i], "ce_specversion"), "1.0");
        assert_string_equal(rec_header(&recs[i], "ce_correlationid"), "saga-1");
        assert_string_equal(rec_header(&recs[i], "content-type"), "application/cloudevents+json");
        assert_non_null(strstr(recs[i].value, id[i]));
    }
    assert_string_equal(rec_header(&recs[1], "ce_type"), "order.cancelled");
    recs_free(recs, 3);

    /* creating existing topics is fine */
    make_topics(topic, 1);
    finish(c, p, &app);
}

/* With a linger (KAFKA_LINGER_MS) kafka_produce_wait() flushes its batch instead of waiting it
 * out: every message is delivered, in order, and each caller gets its own reports. */
static void test_linger_batch_is_flushed(void **state)
{
    enum { N = 3 };
    char topic[96], val[N][32];
    struct kafka_producer *p;
    struct kafka_msg msgs[N];
    struct rec recs[N + 1];

    (void)state;
    unique("it-linger", topic, sizeof(topic));
    make_topics(topic, 1);
    p = producer_linger(10000, 1000);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            snprintf(val[i], sizeof(val[i]), "v-%d-%d", round, i);
            msgs[i] = (struct kafka_msg){.topic = topic,
                                         .key = "order-1",
                                         .keylen = 7,
                                         .value = val[i],
                                         .len = strlen(val[i])};
        }
        /* a batch of one, then of several */
        assert_int_equal(kafka_produce_wait(p, msgs, round == 0 ? 1 : N), 0);
        for (int i = 0; i < (round == 0 ? 1 : N); i++)
            assert_int_equal(msgs[i].result, 0);
    }
    assert_int_equal(read_topic(topic, recs, 1 + N, DEADLINE_MS), 1 + N);
    assert_string_equal(recs[0].value, "v-0-0");
    for (int i = 0; i < N; i++) {
        snprintf(val[i], sizeof(val[i]), "v-1-%d", i);
        assert_string_equal(recs[1 + i].value, val[i]);
    }
    recs_free(recs, 1 + N);
    kafka_producer_free(p);
    assert_all_destroyed();
}

/* A producer that hit a fatal error (as a refused InitProducerId makes it) is renewed by the
 * next produce call: a batch in flight fails, the next one is delivered, in key order. */
static void test_fatal_producer_is_renewed(void **state)
{
    char topic[96], why[256];
    struct kafka_producer *p;
    struct kafka_msg msg;
    struct rec recs[2];

    (void)state;
    unique("it-fatal", topic, sizeof(topic));
    make_topics(topic, 1);
    p = producer(10000);
    msg = (struct kafka_msg){
        .topic = topic, .key = "order-1", .keylen = 7, .value = "before", .len = 6};
    assert_int_equal(kafka_produce_wait(p, &msg, 1), 0);
    assert_int_equal(kafka_producer_test_fatal(p, "it_kafka: scripted fatal error"), 0);
    msg = (struct kafka_msg){
        .topic = topic, .key = "order-1", .keylen = 7, .value = "after", .len = 5};
    assert_int_equal(kafka_produce_wait(p, &msg, 1), 0);
    assert_int_equal(msg.result, 0);
    /* the readiness probe sees a working producer again */
    assert_int_equal(kafka_producer_ping(p, 5000, why, sizeof(why)), 0);
    assert_int_equal(read_topic(topic, recs, 2, DEADLINE_MS), 2);
    assert_string_equal(recs[0].value, "before");
    assert_string_equal(recs[1].value, "after");
    recs_free(recs, 2);
    kafka_producer_free(p);
    assert_all_destroyed();
}

static void test_publish_event_uses_topic_map(void **state)
{
    char topic[96], err[256];
    struct kafka_producer *p;
    struct event ev;
    struct rec recs[1];

    (void)state;
    unique("it-map", topic, sizeof(topic));
    make_topics(topic, 1);
    setenv("TOPIC_ORDER_REFUNDED", topic, 1);
    assert_int_equal(event_topics_load(err, sizeof(err)), 0);
    p = producer(10000);
    assert_int_equal(event_init(&ev, "order.refunded", 1, "it-kafka", "o-9", NULL, NULL), 0);
    assert_int_equal(kafka_publish_event(p, &ev, "o-9"), 0);
    assert_int_equal(read_topic(topic, recs, 1, DEADLINE_MS), 1);
    assert_string_equal(recs[0].key, "o-9");
    assert_string_equal(rec_header(&recs[0], "ce_type"), "order.refunded");
    assert_string_equal(rec_header(&recs[0], "ce_id"), ev.id);
    recs_free(recs, 1);
    event_release(&ev);
    unsetenv("TOPIC_ORDER_REFUNDED");
    assert_int_equal(event_topics_load(err, sizeof(err)), 0);
    kafka_producer_free(p);
    assert_all_destroyed();
}

static void test_malformed_and_exhausted_go_to_dlq(void **state)
{
    char topic[96], dlq[128], group[96], id[2][64];
    static const char garbage[] = "{this is not json";
    struct kafka_producer *p;
    struct kafka_consumer *c;
    struct rec recs[2];
    struct app app;
    char *metrics;
    int i;

    (void)state;
    unique("it-dlq", topic, sizeof(topic));
    unique("g-dlq", group, sizeof(group));
    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    make_topics(topic, 1);
    p = producer(10000);
    app_init(&app);

    send_raw(p, topic, "order-2", garbage);
    send_event(p, topic, "order-2", "order.placed", 1, "retry", 0, id[0]);
    send_event(p, topic, "order-2", "order.placed", 1, "ok", 0, id[1]);
    c = consumer(topic, group, &app, p);

    /* 3 attempts of the always-failing one, then the next message on the partition */
    assert_int_equal(app_wait_calls(&app, 4, DEADLINE_MS), 4);
    for (i = 0; i < 3; i++) {
        assert_string_equal(app.calls[i].id, id[0]);
        assert_int_equal(app.calls[i].attempt, i + 1);
    }
    assert_string_equal(app.calls[3].id, id[1]);
    assert_int_equal(app.calls[3].attempt, 1);

    assert_int_equal(read_topic(dlq, recs, 2, DEADLINE_MS), 2);
    /* the malformed one: original bytes and headers, attempts 1 */
    assert_int_equal(recs[0].len, strlen(garbage));
    assert_memory_equal(recs[0].value, garbage, recs[0].len);
    assert_string_equal(recs[0].key, "order-2");
    assert_string_equal(rec_header(&recs[0], "x-raw"), "yes");
    check_dlq_headers(&recs[0], topic, "1", "invalid event envelope");
    assert_string_equal(rec_header(&recs[0], "dlq_original_offset"), "0");
    assert_string_equal(rec_header(&recs[0], "dlq_consumer_group"), group);
    /* the exhausted one */
    assert_non_null(strstr(recs[1].value, id[0]));
    assert_string_equal(rec_header(&recs[1], "ce_id"), id[0]);
    check_dlq_headers(&recs[1], topic, "3", "database down");
    assert_string_equal(rec_header(&recs[1], "dlq_original_offset"), "1");
    recs_free(recs, 2);

    metrics = metrics_render();
    assert_non_null(metrics);
    assert_non_null(strstr(metrics, "commerce_events_dead_lettered_total"));
    assert_non_null(strstr(metrics, "commerce_events_retried_total"));
    free(metrics);
    finish(c, p, &app);
}

static void test_permanent_failure_dlq_at_once(void **state)
{
    char topic[96], dlq[128], group[96], id[2][64];
    struct kafka_producer *p;
    struct kafka_consumer *c;
    struct rec recs[1];
    struct app app;

    (void)state;
    unique("it-fail", topic, sizeof(topic));
    unique("g-fail", group, sizeof(group));
    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    make_topics(topic, 1);
    p = producer(10000);
    app_init(&app);
    send_event(p, topic, "order-3", "order.placed", 1, "fail", 0, id[0]);
    send_event(p, topic, "order-3", "order.placed", 1, "ok", 0, id[1]);
    c = consumer(topic, group, &app, p);

    assert_int_equal(app_wait_calls(&app, 2, DEADLINE_MS), 2);
    assert_string_equal(app.calls[0].id, id[0]);
    assert_string_equal(app.calls[1].id, id[1]);
    assert_int_equal(read_topic(dlq, recs, 1, DEADLINE_MS), 1);
    check_dlq_headers(&recs[0], topic, "1", "permanently broken");
    assert_string_equal(rec_header(&recs[0], "ce_id"), id[0]);
    recs_free(recs, 1);
    /* no retry happened: exactly two handler calls */
    assert_int_equal(app_wait_calls(&app, 3, 300), 2);
    finish(c, p, &app);
}

static void test_transient_then_success_keeps_key_order(void **state)
{
    char topic[96], group[96], id[4][64];
    struct kafka_producer *p;
    struct kafka_consumer *c;
    struct app app;
    int i;

    (void)state;
    unique("it-order", topic, sizeof(topic));
    unique("g-order", group, sizeof(group));
    make_topics(topic, 1);
    p = producer(10000);
    app_init(&app);
    send_event(p, topic, "order-4", "order.placed", 1, "retry-until", 3, id[0]);
    send_event(p, topic, "order-4", "order.placed", 1, "ok", 0, id[1]);
    send_event(p, topic, "order-4", "order.cancelled", 1, "ok", 0, id[2]);
    send_event(p, topic, "order-4", "order.placed", 2, "ok", 0, id[3]);
    c = consumer(topic, group, &app, p);

    assert_int_equal(app_wait_calls(&app, 6, DEADLINE_MS), 6);
    for (i = 0; i < 3; i++) {
        assert_string_equal(app.calls[i].id, id[0]);
        assert_int_equal(app.calls[i].attempt, i + 1);
        assert_int_equal(app.calls[i].offset, 0);
    }
    for (i = 1; i < 4; i++) {
        assert_string_equal(app.calls[2 + i].id, id[i]);
        assert_int_equal(app.calls[2 + i].attempt, 1);
    }
    /* handled exactly once more, nothing redelivered afterwards */
    assert_int_equal(app_wait_calls(&app, 7, 500), 6);
    finish(c, p, &app);
}

/* A dependency outage longer than max_attempts (3) deliveries: the message waits (its attempt
 * stays 1), is handled once the outage is over, and the key's next message comes after it;
 * nothing is dead-lettered. */
static void test_unavailable_is_waited_out(void **state)
{
    char topic[96], group[96], id[2][64];
    struct kafka_producer *p;
    struct kafka_consumer *c;
    struct app app;
    char *metrics;
    int i;

    (void)state;
    unique("it-down", topic, sizeof(topic));
    unique("g-down", group, sizeof(group));
    make_topics(topic, 1);
    p = producer(10000);
    app_init(&app);
    send_event(p, topic, "order-9", "order.placed", 1, "down-until", 7, id[0]);
    send_event(p, topic, "order-9", "order.cancelled", 1, "ok", 0, id[1]);
    c = consumer(topic, group, &app, p);

    assert_int_equal(app_wait_calls(&app, 8, DEADLINE_MS), 8);
    for (i = 0; i < 7; i++) {
        assert_string_equal(app.calls[i].id, id[0]);
        assert_int_equal(app.calls[i].attempt, 1);
        assert_int_equal(app.calls[i].offset, 0);
    }
    assert_string_equal(app.calls[7].id, id[1]);
    assert_int_equal(app.calls[7].attempt, 1);
    assert_int_equal(app_wait_calls(&app, 9, 500), 8);
    metrics = metrics_render();
    assert_non_null(metrics);
    assert_non_null(strstr(metrics, "result=\"unavailable\""));
    free(metrics);
    finish(c, p, &app);
}

static void test_version_out_of_range_and_unknown_type(void **state)
{
    char topic[96], dlq[128], group[96], id[4][64];
    struct kafka_producer *p;
    struct kafka_consumer *c;
    struct rec recs[1];
    struct app app;

    (void)state;
    unique("it-ver", topic, sizeof(topic));
    unique("g-ver", group, sizeof(group));
    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    make_topics(topic, 1);
    p = producer(10000);
    app_init(&app);
    send_event(p, topic, "order-5", "order.placed", 3, "ok", 0, id[0]);      /* too new */
    send_event(p, topic, "order-5", "order.cancelled", 2, "ok", 0, id[1]);   /* too new */
    send_event(p, topic, "order-5", "payment.completed", 1, "ok", 0, id[2]); /* not handled */
    send_event(p, topic, "order-5", "order.placed", 2, "ok", 0, id[3]);
    c = consumer(topic, group, &app, p);

    assert_int_equal(app_wait_calls(&app, 1, DEADLINE_MS), 1);
    assert_string_equal(app.calls[0].id, id[3]);
    assert_int_equal(read_topic(dlq, recs, 1, DEADLINE_MS), 1);
    check_dlq_headers(&recs[0], topic, "1", "unsupported version 3");
    assert_string_equal(rec_header(&recs[0], "ce_id"), id[0]);
    recs_free(recs, 1);
    /* the dead-lettering is synchronous, so by now the DLQ is complete: two versions, and the
     * skipped type is not there */
    assert_int_equal(high_watermark(dlq), 2);
    finish(c, p, &app);
}

/* The payload check hook: a refusal dead-letters with its reason, a lenient answer is counted
 * and handled, and what it upcast reaches the handler (the produced version in rec). */
static void test_check_hook(void **state)
{
    char topic[96], dlq[128], group[96], id[4][64];
    struct kafka_producer *p;
    struct kafka_consumer *c;
    struct rec recs[1];
    struct app app;
    char *metrics;

    (void)state;
    unique("it-check", topic, sizeof(topic));
    unique("g-check", group, sizeof(group));
    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    make_topics(topic, 1);
    p = producer(10000);
    app_init(&app);
    send_event(p, topic, "order-8", "order.placed", 1, "refuse", 0, id[0]);
    send_event(p, topic, "order-8", "order.placed", 1, "lenient", 0, id[1]);
    send_event(p, topic, "order-8", "order.placed", 1, "ok", 0, id[2]);
    send_event(p, topic, "order-8", "order.cancelled", 1, "ok", 0, id[3]);
    c = consumer_checked(topic, group, &app, p, check);

    assert_int_equal(app_wait_calls(&app, 3, DEADLINE_MS), 3);
    assert_string_equal(app.calls[0].id, id[1]);
    assert_int_equal(app.calls[0].version, 2);
    assert_int_equal(app.calls[0].produced, 1);
    assert_string_equal(app.calls[1].id, id[2]);
    assert_int_equal(app.calls[1].version, 2);
    assert_int_equal(app.calls[1].produced, 1);
    assert_string_equal(app.calls[2].id, id[3]);
    assert_int_equal(app.calls[2].version, 1);
    assert_int_equal(read_topic(dlq, recs, 1, DEADLINE_MS), 1);
    check_dlq_headers(&recs[0], topic, "1", "schema: /n: must be >= 1");
    assert_string_equal(rec_header(&recs[0], "ce_id"), id[0]);
    recs_free(recs, 1);
    assert_int_equal(high_watermark(dlq), 1);
    metrics = metrics_render();
    assert_non_null(metrics);
    assert_non_null(strstr(metrics, "type=\"order.placed\",result=\"schema_invalid\"} 1"));
    free(metrics);
    finish(c, p, &app);
}

/* The services' check (contracts_check_event, here without contracts: upcast only) refuses an
 * event whose source is not its type's producer: dead-lettered with the reason, counted
 * result="wrong_source", the handler never called; the producer's own event goes through. */
static void test_wrong_source_dead_lettered(void **state)
{
    char topic[96], dlq[128], group[96], id[3][64];
    struct kafka_producer *p;
    struct kafka_consumer *c;
    struct rec recs[2];
    struct app app;
    char *metrics;

    (void)state;
    unique("it-source", topic, sizeof(topic));
    unique("g-source", group, sizeof(group));
    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    make_topics(topic, 1);
    p = producer(10000);
    app_init(&app);
    send_event_from(p, topic, "/inventory-service", "order-7", "order.placed", 2, "ok", 0, id[0]);
    send_event_from(p, topic, "it-kafka", "order-7", "order.cancelled", 1, "ok", 0, id[1]);
    send_event_from(p, topic, "/order-service", "order-7", "order.placed", 2, "ok", 0, id[2]);
    c = consumer_checked_arg(topic, group, &app, p, contracts_check_event, NULL);

    assert_int_equal(app_wait_calls(&app, 1, DEADLINE_MS), 1);
    assert_string_equal(app.calls[0].id, id[2]);
    assert_int_equal(read_topic(dlq, recs, 2, DEADLINE_MS), 2);
    check_dlq_headers(&recs[0], topic, "1",
                      "source: '/inventory-service' is not the producer of order.placed "
                      "('/order-service')");
    assert_string_equal(rec_header(&recs[0], "ce_id"), id[0]);
    check_dlq_headers(&recs[1], topic, "1", "source: 'it-kafka' is not the producer");
    assert_string_equal(rec_header(&recs[1], "ce_id"), id[1]);
    recs_free(recs, 2);
    assert_int_equal(high_watermark(dlq), 2);
    assert_int_equal(app_wait_calls(&app, 1, 0), 1); /* the refused ones never reached it */
    metrics = metrics_render();
    assert_non_null(metrics);
    assert_non_null(strstr(metrics, "type=\"order.placed\",result=\"wrong_source\"} 1"));
    assert_non_null(strstr(metrics, "type=\"order.cancelled\",result=\"wrong_source\"} 1"));
    free(metrics);
    finish(c, p, &app);
}

#ifndef IT_KAFKA_MOCK
static void test_stop_commits_offsets(void **state)
{
    char topic[96], group[96], id[4][64];
    struct kafka_producer *p;
    struct kafka_consumer *c;
    struct app app;

    (void)state;
    unique("it-commit", topic, sizeof(topic));
    unique("g-commit", group, sizeof(group));
    make_topics(topic, 1);
    p = producer(10000);
    app_init(&app);
    send_event(p, topic, "order-6", "order.placed", 1, "ok", 0, id[0]);
    send_event(p, topic, "order-6", "order.placed", 1, "ok", 0, id[1]);
    send_event(p, topic, "order-6", "order.placed", 1, "ok", 0, id[2]);
    c = consumer(topic, group, &app, p);
    assert_int_equal(app_wait_calls(&app, 3, DEADLINE_MS), 3);
    kafka_consumer_stop(c);

    /* the next member of the group starts after what was handled */
    app.ncalls = 0;
    c = consumer(topic, group, &app, p);
    send_event(p, topic, "order-6", "order.placed", 1, "ok", 0, id[3]);
    assert_int_equal(app_wait_calls(&app, 1, DEADLINE_MS), 1);
    assert_string_equal(app.calls[0].id, id[3]);
    assert_int_equal(app.calls[0].offset, 3);
    finish(c, p, &app);
}

/* Creates @topic (1 partition) with the topic setting max.message.bytes = @max_bytes. */
static void create_topic_max_bytes(const char *topic, const char *max_bytes)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_NewTopic_t *nt;
    rd_kafka_queue_t *q;
    rd_kafka_event_t *ev;
    const rd_kafka_CreateTopics_result_t *res;
    const rd_kafka_topic_result_t **tr;
    rd_kafka_t *rk;
    char err[256];
    size_t n;

    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    ts_kafka_conf_auth(conf);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(rk);
    nt = rd_kafka_NewTopic_new(topic, 1, 1, err, sizeof(err));
    assert_non_null(nt);
    assert_int_equal(rd_kafka_NewTopic_set_config(nt, "max.message.bytes", max_bytes), 0);
    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, 30000);
    assert_non_null(ev);
    res = rd_kafka_event_CreateTopics_result(ev);
    assert_non_null(res);
    tr = rd_kafka_CreateTopics_result_topics(res, &n);
    assert_int_equal(n, 1);
    if (rd_kafka_topic_result_error(tr[0]))
        fail_msg("create '%s': %s", topic, rd_kafka_topic_result_error_string(tr[0]));
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    (void)high_watermark(topic); /* waits for its leader */
}

/* A dead-letter topic that can never take the copy (its max.message.bytes is below it): the
 * message is logged, counted in commerce_dlq_failures_total and skipped, never retried
 * forever; the next message is handled and a copy that fits still goes to that DLQ. */
static void test_dlq_that_never_accepts_is_skipped(void **state)
{
    char topic[96], dlq[128], group[96], id[3][64], err[256], want[256];
    const char *only[] = {topic, NULL};
    struct kafka_producer *p;
    struct kafka_consumer *c;
    struct rec recs[1];
    struct app app;
    char *text;

    (void)state;
    unique("it-dlqtiny", topic, sizeof(topic));
    unique("g-dlqtiny", group, sizeof(group));
    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    assert_int_equal(kafka_create_topics(bootstrap, it_auth, only, 1, err, sizeof(err)), 0);
    create_topic_max_bytes(dlq, "3000");
    p = producer(10000);
    app_init(&app);
    send_event_sized(p, topic, "order-5", "order.placed", 1, "fail", 0, 20000, id[0], NULL);
    send_event(p, topic, "order-5", "order.placed", 1, "ok", 0, id[1]);
    send_event(p, topic, "order-5", "order.placed", 1, "fail", 0, id[2]);
    c = consumer(topic, group, &app, p);

    assert_int_equal(app_wait_calls(&app, 3, DEADLINE_MS), 3);
    assert_string_equal(app.calls[0].id, id[0]);
    assert_int_equal(app.calls[0].attempt, 1);
    assert_string_equal(app.calls[1].id, id[1]);
    assert_string_equal(app.calls[2].id, id[2]);
    /* only the small one reached the DLQ: the producer survived the refusal */
    assert_int_equal(read_topic(dlq, recs, 1, DEADLINE_MS), 1);
    assert_string_equal(rec_header(&recs[0], "ce_id"), id[2]);
    recs_free(recs, 1);
    assert_int_equal(high_watermark(dlq), 1);
    text = metrics_render();
    assert_non_null(text);
    snprintf(want, sizeof(want), "commerce_dlq_failures_total{topic=\"%s\",reason=\"too_large\"} 1",
             topic);
    if (!strstr(text, want))
        fail_msg("no '%s' in:\n%s", want, text);
    free(text);
    finish(c, p, &app);
}

static void test_dlq_produce_failure_is_retried(void **state)
{
    char topic[96], dlq[128], group[96], id[2][64], err[256];
    const char *dlq_topics[2];
    struct kafka_producer *p, *dlq_p;
    struct kafka_consumer *c;
    struct rec recs[1];
    struct app app;

    (void)state;
    unique("it-dlqfail", topic, sizeof(topic));
    unique("g-dlqfail", group, sizeof(group));
    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    dlq_topics[0] = dlq;
    dlq_topics[1] = NULL;
    {
        const char *only[] = {topic, NULL};

        assert_int_equal(kafka_create_topics(bootstrap, it_auth, only, 1, err, sizeof(err)), 0);
    }
    p = producer(10000);
    dlq_p = producer(500); /* the DLQ topic does not exist yet: its produce times out */
    app_init(&app);
    send_event(p, topic, "order-7", "order.placed", 1, "fail", 0, id[0]);
    send_event(p, topic, "order-7", "order.placed", 1, "ok", 0, id[1]);
    c = consumer(topic, group, &app, dlq_p);

    assert_int_equal(app_wait_calls(&app, 1, DEADLINE_MS), 1);
    /* still stuck on the first message: the next one is not handled */
    assert_int_equal(app_wait_calls(&app, 2, 1500), 1);
    assert_int_equal(kafka_create_topics(bootstrap, it_auth, dlq_topics, 1, err, sizeof(err)), 0);
    assert_int_equal(app_wait_calls(&app, 2, DEADLINE_MS), 2);
    assert_string_equal(app.calls[1].id, id[1]);
    assert_int_equal(read_topic(dlq, recs, 1, DEADLINE_MS), 1);
    check_dlq_headers(&recs[0], topic, "1", "permanently broken");
    recs_free(recs, 1);
    kafka_consumer_stop(c);
    kafka_producer_free(dlq_p);
    kafka_producer_free(p);
    app_release(&app);
    assert_all_destroyed();
}
#endif

/* The lower-case hex SHA-256 of @len bytes at @data. */
static void sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;

    assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
    for (i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* A failing message near the largest record a producer sends (librdkafka's message.max.bytes,
 * 1000000): its dead-letter copy, with the dlq_* headers, would not fit, so it goes cut, says
 * so, and the partition moves on. */
static void test_oversized_dead_letter_is_cut(void **state)
{
    char topic[96], dlq[128], group[96], id[2][64], sha[65];
    const size_t wire = 999000; /* key + value + headers */
    struct kafka_producer *p;
    struct kafka_consumer *c;
    struct rec recs[1];
    struct app app;
    char *value = NULL;
    size_t total = 0;
    int i;

    (void)state;
    unique("it-big", topic, sizeof(topic));
    unique("g-big", group, sizeof(group));
    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    make_topics(topic, 1);
    p = producer(30000);
    app_init(&app);
    send_event_sized(p, topic, "order-9", "order.placed", 1, "fail", 0, wire, id[0], &value);
    send_event(p, topic, "order-9", "order.placed", 1, "ok", 0, id[1]);
    c = consumer(topic, group, &app, p);

    /* the failed one is dead-lettered and the next one on the partition handled */
    assert_int_equal(app_wait_calls(&app, 2, DEADLINE_MS), 2);
    assert_string_equal(app.calls[0].id, id[0]);
    assert_string_equal(app.calls[1].id, id[1]);
    assert_int_equal(read_topic(dlq, recs, 1, DEADLINE_MS), 1);
    check_dlq_headers(&recs[0], topic, "1", "permanently broken");
    assert_non_null(rec_header(&recs[0], "dlq_truncated"));
    assert_string_equal(rec_header(&recs[0], "dlq_truncated"), "true");
    {
        char size[24];

        snprintf(size, sizeof(size), "%zu", strlen(value));
        assert_string_equal(rec_header(&recs[0], "dlq_original_size"), size);
    }
    sha256_hex(value, strlen(value), sha);
    assert_string_equal(rec_header(&recs[0], "dlq_original_sha256"), sha);
    /* a prefix of the original, the original headers kept, all within the limit */
    assert_true(recs[0].len > 900000 && recs[0].len < strlen(value));
    assert_memory_equal(recs[0].value, value, recs[0].len);
    assert_string_equal(recs[0].key, "order-9");
    assert_string_equal(rec_header(&recs[0], "ce_id"), id[0]);
    total = strlen(recs[0].key) + recs[0].len;
    for (i = 0; i < recs[0].nh; i++)
        total += strlen(recs[0].hname[i]) + strlen(recs[0].hval[i]);
    assert_true(total <= 1000000);
    recs_free(recs, 1);
    free(value);
    finish(c, p, &app);
}

static void test_dead_broker(void **state)
{
    struct kafka_producer_opts opts = {"127.0.0.1:1", "it-dead", 1000, NULL, 0};
    struct kafka_producer *p;
    struct kafka_msg msgs[2];
    char err[256];
    int64_t t0;
    int i;

    (void)state;
    p = kafka_producer_new(&opts, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(kafka_producer_ping(p, 500, err, sizeof(err)), -EIO);
    assert_true(err[0] != '\0');
    memset(msgs, 0, sizeof(msgs));
    for (i = 0; i < 2; i++) {
        msgs[i].topic = "it-nowhere";
        msgs[i].key = "k";
        msgs[i].keylen = 1;
        msgs[i].value = "v";
        msgs[i].len = 1;
    }
    t0 = util_now_mono_ms();
    assert_int_equal(kafka_produce_wait(p, msgs, 2), -EIO);
    assert_true(util_now_mono_ms() - t0 < 10000);
    for (i = 0; i < 2; i++) {
        assert_true(msgs[i].result < 0);
        assert_true(msgs[i].error[0] != '\0');
    }
    kafka_producer_free(p);
    assert_all_destroyed();
}

#ifdef IT_KAFKA_MOCK
/* The mock has no CreateTopics: kafka_create_topics() falls back to auto-creation. */
static void test_mock_create_topics_fallback(void **state)
{
    char topic[96], err[256] = "", id[64];
    const char *topics[] = {topic, NULL};
    struct kafka_producer *p;
    int n = 0, i;

    (void)state;
    unique("it-mockct", topic, sizeof(topic));
    if (kafka_create_topics(bootstrap, it_auth, topics, 1, err, sizeof(err)) != 0)
        fail_msg("create topics on the mock: %s", err);
    p = producer(10000);
    send_event(p, topic, "k", "order.placed", 1, "ok", 0, id);
    kafka_producer_free(p);
    /* whichever partition the key went to, the record is there */
    for (i = 0; i < 4 && n == 0; i++) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_t *rk;
        int64_t lo = -1, hi = -1;

        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        assert_non_null(rk);
        if (rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 5000) == 0 && hi > 0)
            n = (int)hi;
        rd_kafka_destroy(rk);
    }
    assert_int_equal(n, 1);
}
#endif

/* ------------------------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    log_init("it-kafka", getenv("IT_KAFKA_DEBUG") ? LOG_DEBUG : LOG_WARN);
#ifdef IT_KAFKA_MOCK
    {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char err[256];

        /* the mock cluster lives on a throwaway handle; its topics get 1 partition */
        mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (!mock_rk)
            return -1;
        mock = rd_kafka_mock_cluster_new(mock_rk, 1);
        if (!mock)
            return -1;
        util_strlcpy(bootstrap, rd_kafka_mock_cluster_bootstraps(mock), sizeof(bootstrap));
    }
#else
    if (!getenv("KAFKA_BOOTSTRAP") || !*getenv("KAFKA_BOOTSTRAP")) {
        fprintf(stderr, "KAFKA_BOOTSTRAP is not set\n");
        return -1;
    }
    util_strlcpy(bootstrap, getenv("KAFKA_BOOTSTRAP"), sizeof(bootstrap));
#endif
    return 0;
}

static int teardown(void **state)
{
    (void)state;
#ifdef IT_KAFKA_MOCK
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
#endif
    metrics_reset();
    return 0;
}

#ifndef IT_KAFKA_NO_MAIN
int main(void)
{
    const char *only = getenv("IT_KAFKA_ONLY"); /* a test name pattern, for debugging */

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_linger_batch_is_flushed),
        cmocka_unit_test(test_fatal_producer_is_renewed),
        cmocka_unit_test(test_publish_event_uses_topic_map),
        cmocka_unit_test(test_malformed_and_exhausted_go_to_dlq),
        cmocka_unit_test(test_permanent_failure_dlq_at_once),
        cmocka_unit_test(test_transient_then_success_keeps_key_order),
        cmocka_unit_test(test_unavailable_is_waited_out),
        cmocka_unit_test(test_version_out_of_range_and_unknown_type),
        cmocka_unit_test(test_check_hook),
        cmocka_unit_test(test_oversized_dead_letter_is_cut),
        cmocka_unit_test(test_wrong_source_dead_lettered),
#ifdef IT_KAFKA_MOCK
        /* not test_stop_commits_offsets: the 2.0.2 mock holds a departed member until its
         * session times out (45 s) before the next member gets the partition; it passes, slowly */
        cmocka_unit_test(test_mock_create_topics_fallback),
#else
        cmocka_unit_test(test_stop_commits_offsets),
        /* the mock cluster auto-creates any topic, so there is no missing DLQ topic there */
        cmocka_unit_test(test_dlq_produce_failure_is_retried),
        cmocka_unit_test(test_dlq_that_never_accepts_is_skipped),
#endif
        cmocka_unit_test(test_dead_broker),
    };

    if (only)
        cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, setup, teardown);
}
#endif
