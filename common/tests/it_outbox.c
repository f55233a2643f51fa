/*
 * it_outbox.c - the transactional outbox against real MariaDB and Kafka: rollback leaves no
 * event, the relay publishes with key and ce_* headers, per-aggregate order, two relays never
 * publish a row twice, stats and gauges, the published counter, and nothing is lost while the
 * broker is unreachable; publishing at commit: at once without a claim, never ahead of an older
 * row of the aggregate, settled by the relay's stop, and handed to the relay when the delivery
 * failed. Each test uses its own database and its own topic (TOPIC_<TYPE> overrides).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <mysql.h>

#include "common/db.h"
#include "common/event.h"
#include "common/kafka.h"
#include "common/metrics.h"
#include "common/msgctx.h"
#include "common/outbox.h"
#include "common/relay.h"
#include "common/util.h"
#include "testsup.h"

#define TYPE "product.sku.created"
#define TYPE_ENV "TOPIC_PRODUCT_SKU_CREATED"
#define PARTITIONS 3

struct fixture {
    char dbname[96];
    char topic[96];
    struct db_pool *pool;
    struct kafka_producer *producer;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct db_opts opts;
    struct kafka_producer_opts popts = {0};
    struct db_conn *conn;
    char err[256];
    const char *topics[2];

    if (!f)
        return -1;
    *state = f;
    if (ts_create_database("it_outbox", f->dbname, sizeof(f->dbname)) != 0)
        return -1;
    opts = (struct db_opts){.host = ts_env("DB_HOST"),
                            .port = (unsigned)atoi(ts_env("DB_PORT")),
                            .user = ts_env("DB_USER"),
                            .password = ts_env("DB_PASSWORD"),
                            .database = f->dbname,
                            .pool_size = 4,
                            .connect_timeout_s = 5,
                            .acquire_timeout_ms = 5000};
    f->pool = db_pool_new(&opts, err, sizeof(err));
    if (!f->pool)
        goto bad;
    conn = db_acquire(f->pool, err, sizeof(err));
    if (!conn)
        goto bad;
    if (db_migrate(conn, "outbox", OUTBOX_MIGRATIONS, OUTBOX_NMIGRATIONS, err, sizeof(err))) {
        db_release(f->pool, conn);
        goto bad;
    }
    db_release(f->pool, conn);

    ts_unique("it-outbox", f->topic, sizeof(f->topic));
    setenv(TYPE_ENV, f->topic, 1);
    if (event_topics_load(err, sizeof(err)) != 0)
        goto bad;
    topics[0] = f->topic;
    topics[1] = NULL;
    if (kafka_create_topics(ts_env("KAFKA_BOOTSTRAP"), ts_kafka_auth(), topics, PARTITIONS, err,
                            sizeof(err)))
        goto bad;
    popts.bootstrap = ts_env("KAFKA_BOOTSTRAP");
    popts.client_id = "it_outbox";
    popts.message_timeout_ms = 10000;
    popts.auth = ts_kafka_auth();
    f->producer = kafka_producer_new(&popts, err, sizeof(err));
    if (!f->producer)
        goto bad;
    return 0;
bad:
    fprintf(stderr, "setup: %s\n", err);
    return -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char err[256], sql[160];
    struct db_conn *conn;

    if (!f)
        return 0;
    kafka_producer_free(f->producer);
    if (f->pool && (conn = db_acquire(f->pool, err, sizeof(err)))) {
        snprintf(sql, sizeof(sql), "DROP DATABASE `%s`", f->dbname);
        db_exec(conn, sql, NULL, 0, NULL, NULL);
        db_release(f->pool, conn);
    }
    db_pool_free(f->pool);
    unsetenv(TYPE_ENV);
    free(f);
    return 0;
}

static struct db_conn *acquire(struct fixture *f)
{
    char err[256];
    struct db_conn *conn = db_acquire(f->pool, err, sizeof(err));

    if (!conn)
        fail_msg("db_acquire: %s", err);
    return conn;
}

static long long query_int(struct fixture *f, const char *sql)
{
    struct db_conn *conn = acquire(f);
    struct db_result *res = NULL;
    long long v;

    if (db_query(conn, sql, NULL, 0, &res) != 0)
        fail_msg("%s: %s", sql, db_errmsg(conn));
    v = db_result_int(res, 0, 0);
    db_result_free(res);
    db_release(f->pool, conn);
    return v;
}

static void make_event(struct event *ev, const char *aggregate, int seq)
{
    struct msgctx ctx;
    cJSON *data = cJSON_CreateObject();

    msgctx_init_request(&ctx, NULL, NULL);
    cJSON_AddStringToObject(data, "skuId", aggregate);
    cJSON_AddNumberToObject(data, "seq", seq);
    assert_int_equal(event_init(ev, TYPE, 1, "it-outbox", aggregate, &ctx, data), 0);
}

/* Appends one event for @aggregate in its own committed transaction. */
static void append_committed(struct fixture *f, const char *aggregate, int seq, char *ret_id)
{
    struct db_conn *conn = acquire(f);
    struct event ev;

    make_event(&ev, aggregate, seq);
    assert_int_equal(db_begin(conn), 0);
    assert_int_equal(outbox_append(conn, "sku", aggregate, &ev), 0);
    assert_int_equal(db_commit(conn), 0);
    if (ret_id)
        strcpy(ret_id, ev.id);
    event_release(&ev);
    db_release(f->pool, conn);
}

struct outbox_count {
    struct fixture *f;
    long long want;
    const char *sql;
};

static bool count_is(void *arg)
{
    struct outbox_count *c = arg;

    return query_int(c->f, c->sql) == c->want;
}

static void wait_count(struct fixture *f, const char *sql, long long want, int timeout_ms)
{
    struct outbox_count c = {f, want, sql};

    if (!ts_poll_until(count_is, &c, timeout_ms))
        fail_msg("'%s' is %lld, wanted %lld", sql, query_int(f, sql), want);
}

static struct relay *outbox_relay_poll(struct fixture *f, struct kafka_producer *producer,
                                       int batch, int poll_ms)
{
    struct relay_opts opts = {.producer = producer, .poll_ms = poll_ms, .batch = batch};
    char err[256];
    struct relay *r = relay_start(&opts, relay_outbox_source(f->pool), err, sizeof(err));

    if (!r)
        fail_msg("relay_start: %s", err);
    return r;
}

static struct relay *outbox_relay(struct fixture *f, struct kafka_producer *producer, int batch)
{
    return outbox_relay_poll(f, producer, batch, 100);
}

/* Messages ever written to @topic: the sum of its partitions' high watermarks. */
static long long topic_total(const char *topic)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];
    rd_kafka_t *rk;
    long long total = 0;

    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", ts_env("KAFKA_BOOTSTRAP"), errstr,
                                       sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    ts_kafka_conf_auth(conf);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(rk);
    for (int32_t p = 0; p < PARTITIONS; p++) {
        int64_t lo = 0, hi = 0, deadline = util_now_mono_ms() + 30000;
        rd_kafka_resp_err_t err;

        /* a fresh topic's partitions may not have a leader yet (NOT_LEADER_FOR_PARTITION,
         * LEADER_NOT_AVAILABLE): ask again until the deadline */
        while ((err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000)) &&
               util_now_mono_ms() < deadline)
            util_sleep_ms(100);
        if (err)
            fail_msg("watermarks of %s [%d]: %s", topic, (int)p, rd_kafka_err2str(err));
        total += hi - lo;
    }
    rd_kafka_destroy(rk);
    return total;
}

static int record_seq(const struct ts_record *rec)
{
    cJSON *root = cJSON_ParseWithLength(rec->value, rec->len);
    const cJSON *seq = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "data"), "seq");
    int v = cJSON_IsNumber(seq) ? seq->valueint : -1;

    cJSON_Delete(root);
    return v;
}

static void test_rollback_then_commit_publishes(void **state)
{
    struct fixture *f = *state;
    struct db_conn *conn = acquire(f);
    struct ts_consumer *consumer;
    struct ts_record *recs = NULL;
    struct relay *relay;
    struct db_result *res = NULL;
    struct event ev, other;
    char sku[64];
    cJSON *headers;

    ts_unique("sku", sku, sizeof(sku));
    make_event(&ev, sku, 0);

    /* rolled back: no row */
    assert_int_equal(db_begin(conn), 0);
    assert_int_equal(outbox_append(conn, "sku", sku, &ev), 0);
    assert_int_equal(db_rollback(conn), 0);
    db_release(f->pool, conn);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM outbox"), 0);

    /* committed: one row with the topic, key and headers */
    conn = acquire(f);
    assert_int_equal(db_begin(conn), 0);
    assert_int_equal(outbox_append(conn, "sku", sku, &ev), 0);
    assert_int_equal(outbox_append(conn, "sku", sku, &ev), -EEXIST); /* event id is unique */
    assert_int_equal(db_commit(conn), 0);
    assert_int_equal(db_query(conn,
                              "SELECT topic, msg_key, event_type, headers, attempts,"
                              " traceparent FROM outbox",
                              NULL, 0, &res),
                     0);
    assert_int_equal(db_result_rows(res), 1);
    assert_string_equal(db_result_get(res, 0, 0), f->topic);
    assert_string_equal(db_result_get(res, 0, 1), sku);
    assert_string_equal(db_result_get(res, 0, 2), TYPE);
    headers = cJSON_Parse(db_result_get(res, 0, 3));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(headers, "ce_id")), ev.id);
    cJSON_Delete(headers);
    assert_int_equal(db_result_int(res, 0, 4), 0);
    assert_string_equal(db_result_get(res, 0, 5), ev.traceparent);
    db_result_free(res);

    /* a type without a topic is refused */
    other = ev;
    other.data = NULL;
    strcpy(other.type, "no.such.type");
    strcpy(other.id, "00000000-0000-4000-8000-000000000000");
    assert_int_equal(outbox_append(conn, "sku", sku, &other), -EINVAL);
    /* a row written before structured mode: the relay publishes it structured all the same */
    assert_int_equal(db_exec(conn,
                             "UPDATE outbox SET headers = JSON_SET(headers, '$.\"content-type\"',"
                             " 'application/json')",
                             NULL, 0, NULL, NULL),
                     0);
    db_release(f->pool, conn);

    relay = outbox_relay(f, f->producer, 100);
    relay_kick(relay);
    consumer = ts_consumer_new(f->topic);
    assert_non_null(consumer);
    assert_int_equal(ts_consume(consumer, 1, 30000, &recs), 1);
    assert_string_equal(recs[0].key, sku);
    assert_string_equal(ts_record_header(&recs[0], "ce_id"), ev.id);
    assert_string_equal(ts_record_header(&recs[0], "ce_type"), TYPE);
    assert_string_equal(ts_record_header(&recs[0], "ce_specversion"), "1.0");
    assert_string_equal(ts_record_header(&recs[0], "ce_source"), "it-outbox");
    assert_string_equal(ts_record_header(&recs[0], "ce_correlationid"), ev.correlationid);
    assert_string_equal(ts_record_header(&recs[0], "ce_traceparent"), ev.traceparent);
    assert_string_equal(ts_record_header(&recs[0], "content-type"), "application/cloudevents+json");
    assert_int_equal(record_seq(&recs[0]), 0);
    wait_count(f, "SELECT COUNT(*) FROM outbox", 0, 10000); /* delivered rows are deleted */
    ts_records_free(recs, 1);
    ts_consumer_free(consumer);
    relay_stop(relay);
    assert_int_equal(topic_total(f->topic), 1);
    event_release(&ev);
}

#define AGGS 5
#define PER_AGG 10

/* Every row of the AGGS aggregates exactly once on the topic (PER_AGG each), each aggregate's in
 * append order (one key, one partition). */
static void assert_once_in_order(const char *topic, char aggs[AGGS][64])
{
    struct ts_consumer *consumer;
    struct ts_record *recs = NULL;
    int next[AGGS] = {0};
    size_t n;

    consumer = ts_consumer_new(topic);
    assert_non_null(consumer);
    n = ts_consume(consumer, AGGS * PER_AGG, 30000, &recs);
    assert_int_equal(n, AGGS * PER_AGG);
    for (size_t i = 0; i < n; i++) {
        int a;

        for (a = 0; a < AGGS && strcmp(recs[i].key, aggs[a]) != 0; a++)
            ;
        assert_true(a < AGGS);
        assert_int_equal(record_seq(&recs[i]), next[a]);
        next[a]++;
    }
    for (int a = 0; a < AGGS; a++)
        assert_int_equal(next[a], PER_AGG);
    ts_records_free(recs, n);
    ts_consumer_free(consumer);
}

static void test_order_and_two_relays(void **state)
{
    struct fixture *f = *state;
    struct relay *r1, *r2;
    char aggs[AGGS][64];

    for (int a = 0; a < AGGS; a++)
        ts_unique("sku", aggs[a], sizeof(aggs[a]));
    /* half before the relays start, half while they run */
    for (int s = 0; s < PER_AGG / 2; s++)
        for (int a = 0; a < AGGS; a++)
            append_committed(f, aggs[a], s, NULL);
    /* small batches so the two relays interleave a lot */
    r1 = outbox_relay(f, f->producer, 2);
    r2 = outbox_relay(f, f->producer, 3);
    for (int s = PER_AGG / 2; s < PER_AGG; s++) {
        for (int a = 0; a < AGGS; a++) {
            append_committed(f, aggs[a], s, NULL);
            relay_kick(a % 2 ? r1 : r2);
        }
    }
    wait_count(f, "SELECT COUNT(*) FROM outbox", 0, 60000);
    relay_stop(r1);
    relay_stop(r2);

    /* every row exactly once: the topic holds as many messages as rows were appended */
    assert_int_equal(topic_total(f->topic), AGGS * PER_AGG);
    assert_once_in_order(f->topic, aggs);
}

/* A head claimed by someone else (another relay's lock) holds back its whole aggregate and
 * nothing else: the claim skips it and does not take its successor. */
static void test_locked_head_holds_back_its_aggregate(void **state)
{
    struct fixture *f = *state;
    struct db_conn *holder;
    struct db_result *res = NULL;
    struct relay *relay;
    struct ts_consumer *consumer;
    struct ts_record *recs = NULL;
    char a[64], b[64], sql[256];
    int next_b = 0, next_a = 0;
    size_t n;

    ts_unique("sku", a, sizeof(a));
    ts_unique("sku", b, sizeof(b));
    append_committed(f, a, 0, NULL);
    append_committed(f, b, 0, NULL);
    append_committed(f, a, 1, NULL);
    append_committed(f, b, 1, NULL);
    append_committed(f, b, 2, NULL);

    holder = acquire(f);
    assert_int_equal(db_begin(holder), 0);
    assert_int_equal(
        db_query(holder, "SELECT id FROM outbox ORDER BY id LIMIT 1 FOR UPDATE", NULL, 0, &res), 0);
    assert_int_equal(db_result_rows(res), 1);
    db_result_free(res);

    relay = outbox_relay(f, f->producer, 100);
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM outbox WHERE aggregate_id = '%s'", b);
    wait_count(f, sql, 0, 30000);
    /* b drained while a's head was locked: a's second row (older than b's last two) stayed */
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM outbox WHERE aggregate_id = '%s'", a);
    assert_int_equal(query_int(f, sql), 2);
    assert_int_equal(topic_total(f->topic), 3);

    assert_int_equal(db_rollback(holder), 0); /* the "other relay" gave up its claim */
    db_release(f->pool, holder);
    relay_kick(relay);
    wait_count(f, sql, 0, 30000);
    relay_stop(relay);

    consumer = ts_consumer_new(f->topic);
    assert_non_null(consumer);
    n = ts_consume(consumer, 5, 30000, &recs);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(recs[i].key, a) == 0)
            assert_int_equal(record_seq(&recs[i]), next_a++);
        else
            assert_int_equal(record_seq(&recs[i]), next_b++);
    }
    assert_int_equal(next_a, 2);
    assert_int_equal(next_b, 3);
    ts_records_free(recs, n);
    ts_consumer_free(consumer);
}

static bool metrics_show(void *arg)
{
    char *text = metrics_render();
    bool ok = text && strstr(text, arg);

    free(text);
    return ok;
}

static void test_stats_and_gauges(void **state)
{
    struct fixture *f = *state;
    struct db_conn *conn = acquire(f);
    long long backlog = -1;
    double age = -1;
    struct relay *relay;
    char sku[64];

    assert_int_equal(outbox_stats(conn, &backlog, &age), 0);
    assert_int_equal(backlog, 0);
    assert_true(age == 0.0);
    db_release(f->pool, conn);

    ts_unique("sku", sku, sizeof(sku));
    for (int s = 0; s < 3; s++)
        append_committed(f, sku, s, NULL);
    conn = acquire(f);
    /* the oldest is 10 s old and not due, so a relay leaves all three alone */
    assert_int_equal(db_exec(conn,
                             "UPDATE outbox SET created_at = NOW(6) - INTERVAL 10 SECOND,"
                             " next_attempt_at = NOW(6) + INTERVAL 1 HOUR ORDER BY id LIMIT 1",
                             NULL, 0, NULL, NULL),
                     0);
    assert_int_equal(outbox_stats(conn, &backlog, &age), 0);
    assert_int_equal(backlog, 3);
    assert_true(age >= 10.0 && age < 60.0);
    db_release(f->pool, conn);

    relay = outbox_relay(f, f->producer, 10);
    assert_true(
        ts_poll_until(metrics_show, "\ncommerce_outbox_backlog{source=\"outbox\"} 3\n", 10000));
    relay_stop(relay);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM outbox"), 3);
    assert_int_equal(topic_total(f->topic), 0);
}

/* A published row counts once in commerce_outbox_published_total{source="outbox",type}. */
static void test_metrics_count_published(void **state)
{
    struct fixture *f = *state;
    struct relay *relay;
    char sku[64];

    metrics_reset(); /* the counter starts from this test's relay */
    ts_unique("sku", sku, sizeof(sku));
    append_committed(f, sku, 0, NULL);
    relay = outbox_relay(f, f->producer, 10);
    wait_count(f, "SELECT COUNT(*) FROM outbox", 0, 30000);
    /* the counter moves before the delete commits */
    assert_true(
        metrics_show("\ncommerce_outbox_published_total{source=\"outbox\",type=\"" TYPE "\"} 1\n"));
    assert_true(
        ts_poll_until(metrics_show, "\ncommerce_outbox_backlog{source=\"outbox\"} 0\n", 10000));
    relay_stop(relay);
    assert_int_equal(topic_total(f->topic), 1);
}

static void test_broker_unreachable_loses_nothing(void **state)
{
    struct fixture *f = *state;
    struct kafka_producer_opts popts = {
        .bootstrap = "127.0.0.1:1", .client_id = "it_outbox_down", .message_timeout_ms = 1000};
    struct kafka_producer *down;
    struct relay *relay;
    struct ts_consumer *consumer;
    struct ts_record *recs = NULL;
    char a[64], b[64], err[256];
    int next_a = 0, next_b = 0;
    size_t n;

    down = kafka_producer_new(&popts, err, sizeof(err));
    assert_non_null(down);
    ts_unique("sku", a, sizeof(a));
    ts_unique("sku", b, sizeof(b));
    append_committed(f, a, 0, NULL);
    append_committed(f, a, 1, NULL);
    append_committed(f, b, 0, NULL);

    relay = outbox_relay(f, down, 100);
    /* both heads failed at least twice (backoff, then retried); the second row of a waits */
    wait_count(f, "SELECT COUNT(*) FROM outbox WHERE attempts >= 2 AND last_error IS NOT NULL", 2,
               30000);
    relay_stop(relay);
    kafka_producer_free(down);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM outbox"), 3);
    assert_int_equal(query_int(f, "SELECT attempts FROM outbox ORDER BY id LIMIT 1 OFFSET 1"), 0);
    assert_int_equal(topic_total(f->topic), 0);

    /* the broker is back: everything pending goes out, in order */
    relay = outbox_relay(f, f->producer, 100);
    wait_count(f, "SELECT COUNT(*) FROM outbox", 0, 30000);
    relay_stop(relay);
    consumer = ts_consumer_new(f->topic);
    assert_non_null(consumer);
    n = ts_consume(consumer, 3, 30000, &recs);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(recs[i].key, a) == 0)
            assert_int_equal(record_seq(&recs[i]), next_a++);
        else
            assert_int_equal(record_seq(&recs[i]), next_b++);
    }
    assert_int_equal(next_a, 2);
    assert_int_equal(next_b, 1);
    ts_records_free(recs, n);
    ts_consumer_free(consumer);
    assert_int_equal(topic_total(f->topic), 3);
}

/* The relay claims once, at its start, and then only after a minute: what goes out meanwhile
 * went at commit. */
#define NO_CLAIM_MS 60000

/* Outbox rows of @sku that no relay may claim yet (held for the committing thread). */
static long long held_rows(struct fixture *f, const char *sku)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM outbox WHERE aggregate_id = '%s' AND next_attempt_at > NOW(6)",
             sku);
    return query_int(f, sql);
}

/* With a relay running on the pool a committed event goes out at the commit: held from the
 * claim while its transaction is open, produced by the committing thread, deleted by the relay
 * once delivered, without any claim (the relay's next claim is a minute away). A rolled-back
 * one never goes. */
static void test_commit_publishes_at_once(void **state)
{
    struct fixture *f = *state;
    struct relay *relay = outbox_relay_poll(f, f->producer, 100, NO_CLAIM_MS);
    struct ts_consumer *consumer;
    struct ts_record *recs = NULL;
    struct db_conn *conn;
    struct event ev, gone;
    char sku[64];

    ts_unique("sku", sku, sizeof(sku));
    make_event(&gone, sku, -1);
    conn = acquire(f);
    assert_int_equal(db_begin(conn), 0);
    assert_int_equal(outbox_append(conn, "sku", sku, &gone), 0);
    assert_int_equal(held_rows(f, sku), 0); /* not visible outside the transaction */
    assert_int_equal(db_rollback(conn), 0);

    make_event(&ev, sku, 0);
    assert_int_equal(db_begin(conn), 0);
    assert_int_equal(outbox_append(conn, "sku", sku, &ev), 0);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM outbox"), 0);
    assert_int_equal(db_commit(conn), 0);
    db_release(f->pool, conn);

    consumer = ts_consumer_new(f->topic);
    assert_non_null(consumer);
    assert_int_equal(ts_consume(consumer, 1, 30000, &recs), 1);
    assert_string_equal(recs[0].key, sku);
    assert_string_equal(ts_record_header(&recs[0], "ce_id"), ev.id);
    assert_string_equal(ts_record_header(&recs[0], "content-type"), "application/cloudevents+json");
    assert_int_equal(record_seq(&recs[0]), 0);
    wait_count(f, "SELECT COUNT(*) FROM outbox", 0, 10000); /* deleted by the report */
    relay_stop(relay);
    assert_int_equal(topic_total(f->topic), 1);
    ts_records_free(recs, 1);
    ts_consumer_free(consumer);
    event_release(&ev);
    event_release(&gone);
}

/* Appends event @seq of @sku before any relay runs (an ordinary row) and holds it for 2 s, as
 * a process that died after its commit leaves it. */
static void append_held_by_the_dead(struct fixture *f, const char *sku, int seq)
{
    struct db_conn *conn;
    char sql[256];

    append_committed(f, sku, seq, NULL);
    conn = acquire(f);
    snprintf(sql, sizeof(sql),
             "UPDATE outbox SET next_attempt_at = NOW(6) + INTERVAL 2 SECOND"
             " WHERE aggregate_id = '%s'",
             sku);
    assert_int_equal(db_exec(conn, sql, NULL, 0, NULL, NULL), 0);
    db_release(f->pool, conn);
}

/* An event committed behind an older row of its aggregate (here a row held by a process that
 * died: due in 2 s) is not sent by the committing thread: it waits for the older one in the
 * claim's order, and both then go out, oldest first. */
static void test_commit_behind_an_older_row_waits(void **state)
{
    struct fixture *f = *state;
    struct ts_consumer *consumer;
    struct ts_record *recs = NULL;
    struct relay *relay;
    char sku[64];
    size_t n;

    ts_unique("sku", sku, sizeof(sku));
    append_held_by_the_dead(f, sku, 0);
    assert_int_equal(held_rows(f, sku), 1);

    relay = outbox_relay_poll(f, f->producer, 100, 500);
    append_committed(f, sku, 1, NULL);
    append_committed(f, sku, 2, NULL);
    /* the two new rows were released to the claim, not held */
    assert_int_equal(held_rows(f, sku), 1);
    wait_count(f, "SELECT COUNT(*) FROM outbox", 0, 30000);
    relay_stop(relay);

    consumer = ts_consumer_new(f->topic);
    assert_non_null(consumer);
    n = ts_consume(consumer, 3, 30000, &recs);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(record_seq(&recs[i]), (int)i);
    ts_records_free(recs, n);
    ts_consumer_free(consumer);
    assert_int_equal(topic_total(f->topic), 3);
}

/* Events committed back to back on one aggregate, and on others in between, while the relay
 * runs: per aggregate in commit order, each exactly once (a successor released while its
 * predecessor's report was still out is claimed once that report is settled, not a minute
 * later). */
static void test_commits_in_a_row_keep_their_order(void **state)
{
    struct fixture *f = *state;
    struct relay *relay = outbox_relay_poll(f, f->producer, 100, NO_CLAIM_MS);
    char aggs[AGGS][64];

    for (int a = 0; a < AGGS; a++)
        ts_unique("sku", aggs[a], sizeof(aggs[a]));
    for (int s = 0; s < PER_AGG; s++)
        for (int a = 0; a < AGGS; a++)
            append_committed(f, aggs[a], s, NULL);
    wait_count(f, "SELECT COUNT(*) FROM outbox", 0, 30000);
    relay_stop(relay);
    assert_int_equal(topic_total(f->topic), AGGS * PER_AGG);
    assert_once_in_order(f->topic, aggs);
}

/* One transaction appending many events (more than one oldest-row query holds) over a few
 * aggregates, the first of which has an older row held by a process that died (due in 2 s): at
 * the commit each other aggregate's first event goes out, everything else waits in the claim's
 * order; every event once, each aggregate's in append order (the first aggregate's only after
 * its older row). */
static void test_one_transaction_many_events(void **state)
{
    struct fixture *f = *state;
    struct relay *relay;
    struct db_conn *conn;
    char aggs[AGGS][64];

    for (int a = 0; a < AGGS; a++)
        ts_unique("sku", aggs[a], sizeof(aggs[a]));
    append_held_by_the_dead(f, aggs[0], 0);
    relay = outbox_relay_poll(f, f->producer, 100, 500);
    conn = acquire(f);
    assert_int_equal(db_begin(conn), 0);
    for (int s = 0; s < PER_AGG; s++) {
        for (int a = s == 0 ? 1 : 0; a < AGGS; a++) {
            struct event ev;

            make_event(&ev, aggs[a], s);
            assert_int_equal(outbox_append(conn, "sku", aggs[a], &ev), 0);
            event_release(&ev);
        }
    }
    assert_int_equal(db_commit(conn), 0);
    db_release(f->pool, conn);
    wait_count(f, "SELECT COUNT(*) FROM outbox", 0, 30000);
    relay_stop(relay);
    assert_int_equal(topic_total(f->topic), AGGS * PER_AGG);
    assert_once_in_order(f->topic, aggs);
}

/* The relay's stop waits for the reports of what went out at commit and settles them: no row
 * is left to go out twice. */
static void test_stop_settles_what_went_at_commit(void **state)
{
    struct fixture *f = *state;
    struct relay *relay = outbox_relay_poll(f, f->producer, 100, NO_CLAIM_MS);
    char sku[64];

    ts_unique("sku", sku, sizeof(sku));
    for (int s = 0; s < 3; s++) {
        char other[64];

        ts_unique("sku", other, sizeof(other));
        append_committed(f, other, s, NULL);
    }
    relay_stop(relay);
    assert_int_equal(query_int(f, "SELECT COUNT(*) FROM outbox"), 0);
    assert_int_equal(topic_total(f->topic), 3);
}

/* A delivery that fails after the commit hands the row to the relay (one attempt counted, the
 * reason kept, the backoff); a relay with a broker then publishes it. */
static void test_failed_delivery_at_commit_goes_to_the_relay(void **state)
{
    struct fixture *f = *state;
    struct kafka_producer_opts popts = {
        .bootstrap = "127.0.0.1:1", .client_id = "it_outbox_down", .message_timeout_ms = 1000};
    struct kafka_producer *down;
    struct relay *relay;
    char sku[64], err[256];

    down = kafka_producer_new(&popts, err, sizeof(err));
    assert_non_null(down);
    relay = outbox_relay_poll(f, down, 100, NO_CLAIM_MS);
    ts_unique("sku", sku, sizeof(sku));
    append_committed(f, sku, 0, NULL);
    wait_count(f, "SELECT COUNT(*) FROM outbox WHERE attempts = 1 AND last_error IS NOT NULL", 1,
               30000);
    relay_stop(relay);
    kafka_producer_free(down);
    assert_int_equal(topic_total(f->topic), 0);

    relay = outbox_relay(f, f->producer, 100);
    wait_count(f, "SELECT COUNT(*) FROM outbox", 0, 30000);
    relay_stop(relay);
    assert_int_equal(topic_total(f->topic), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rollback_then_commit_publishes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_and_two_relays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locked_head_holds_back_its_aggregate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_and_gauges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_count_published, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broker_unreachable_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_publishes_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_behind_an_older_row_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commits_in_a_row_keep_their_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_transaction_many_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_settles_what_went_at_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_delivery_at_commit_goes_to_the_relay, setup,
                                        teardown),
    };
    int rc;

    if (mysql_library_init(0, NULL, NULL))
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_reset();
    mysql_library_end();
    return rc;
}
