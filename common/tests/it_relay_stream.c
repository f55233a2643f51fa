/*
 * it_relay_stream.c - the relay's Redis-stream source against real Redis and Kafka: an XADDed
 * envelope is published with its key and ce_* headers and counted in the metrics, an invalid
 * entry is dropped, published entries are acknowledged and deleted in one script (MONITOR), and an
 * entry stays in the stream until the broker acknowledged it (a relay whose broker is unreachable
 * keeps it; the next one publishes and deletes it); two relays on one stream (two instances) keep
 * each key's order: one holds the lease, takes over what a dead consumer left pending, and the
 * other takes over when it stops. Each test uses its own stream and topic.
 */
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
#include <hiredis/hiredis.h>

#include "common/event.h"
#include "common/kafka.h"
#include "common/metrics.h"
#include "common/msgctx.h"
#include "common/rds.h"
#include "common/relay.h"
#include "testsup.h"

#define TYPE "stock.reserved"
#define GROUP "it-relay"

struct fixture {
    char stream[96];
    char topic[96];
    struct rds_pool *rds;
    struct kafka_producer *producer;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct rds_opts ropts = {0};
    struct kafka_producer_opts popts = {0};
    char err[256];

    if (!f)
        return -1;
    *state = f;
    ts_unique("it-relay-stream", f->stream, sizeof(f->stream));
    ts_unique("it-relay-stock", f->topic, sizeof(f->topic));
    if (ts_create_topic(f->topic) < 0)
        return -1;
    ropts.host = ts_env("REDIS_HOST");
    ropts.port = (unsigned)atoi(ts_env("REDIS_PORT"));
    ropts.timeout_ms = 2000;
    ropts.pool_size = 2;
    f->rds = rds_pool_new(&ropts, err, sizeof(err));
    if (!f->rds)
        goto bad;
    popts.bootstrap = ts_env("KAFKA_BOOTSTRAP");
    popts.client_id = "it_relay_stream";
    popts.message_timeout_ms = 10000;
    popts.auth = ts_kafka_auth();
    f->producer = kafka_producer_new(&popts, err, sizeof(err));
    if (!f->producer)
        goto bad;
    metrics_reset(); /* each test counts from zero */
    return 0;
bad:
    fprintf(stderr, "setup: %s\n", err);
    return -1;
}

static redisReply *redis_cmd(const char *fmt, ...)
{
    redisContext *ctx = redisConnect(ts_env("REDIS_HOST"), atoi(ts_env("REDIS_PORT")));
    redisReply *r;
    va_list ap;

    assert_non_null(ctx);
    assert_int_equal(ctx->err, 0);
    va_start(ap, fmt);
    r = redisvCommand(ctx, fmt, ap);
    va_end(ap);
    redisFree(ctx);
    assert_non_null(r);
    return r;
}

static long long redis_int(const char *fmt, const char *arg)
{
    redisReply *r = redis_cmd(fmt, arg);
    long long v;

    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (!f)
        return 0;
    freeReplyObject(redis_cmd("DEL %s %s:relay-lease", f->stream, f->stream));
    kafka_producer_free(f->producer);
    rds_pool_free(f->rds);
    free(f);
    return 0;
}

static struct relay *stream_relay_named(struct fixture *f, struct kafka_producer *producer,
                                        const char *consumer)
{
    struct relay_stream_opts sopts = {
        .rds = f->rds, .stream = f->stream, .group = GROUP, .consumer = consumer};
    struct relay_opts opts = {.producer = producer, .poll_ms = 100};
    char err[256];
    struct relay *r = relay_start(&opts, relay_stream_source(&sopts), err, sizeof(err));

    if (!r)
        fail_msg("relay_start: %s", err);
    return r;
}

static struct relay *stream_relay(struct fixture *f, struct kafka_producer *producer)
{
    return stream_relay_named(f, producer, "it-relay-1");
}

/* XADDs a valid envelope of TYPE for @sku, as the stock scripts do; its id into @ret_id. */
static void xadd_event(struct fixture *f, const char *sku, char *ret_id)
{
    struct msgctx ctx;
    struct event ev;
    cJSON *data = cJSON_CreateObject();
    char *env;

    msgctx_init_request(&ctx, NULL, NULL);
    cJSON_AddStringToObject(data, "skuId", sku);
    assert_int_equal(event_init(&ev, TYPE, 1, "it-relay-stream", sku, &ctx, data), 0);
    env = event_to_json(&ev);
    assert_non_null(env);
    freeReplyObject(redis_cmd("XADD %s * topic %s key %s env %s", f->stream, f->topic, sku, env));
    strcpy(ret_id, ev.id);
    free(env);
    event_release(&ev);
}

static long long stream_len(struct fixture *f)
{
    return redis_int("XLEN %s", f->stream);
}

static bool stream_empty(void *arg)
{
    return stream_len(arg) == 0;
}

static bool metrics_show(void *arg)
{
    char *text = metrics_render();
    bool ok = text && strstr(text, arg);

    free(text);
    return ok;
}

/* A MONITOR connection to the harness's Redis (what every client runs, as it runs). */
static redisContext *monitor_open(void)
{
    struct timeval tv = {2, 0};
    redisContext *ctx =
        redisConnectWithTimeout(ts_env("REDIS_HOST"), atoi(ts_env("REDIS_PORT")), tv);
    redisReply *r;

    assert_non_null(ctx);
    assert_int_equal(ctx->err, 0);
    assert_int_equal(redisSetTimeout(ctx, tv), REDIS_OK);
    r = redisCommand(ctx, "MONITOR");
    assert_non_null(r);
    freeReplyObject(r);
    return ctx;
}

/* Reads @ctx's MONITOR lines until the XDEL of @stream (or 2 s without a line): every XACK and
 * XDEL of @stream must come from a script ("[0 lua]"), so that a primary's crash cannot
 * replicate the XACK without the XDEL. Returns the XDELs seen. */
static int monitor_acks_in_scripts(redisContext *ctx, const char *stream)
{
    char quoted[128];
    void *reply;
    int xdel = 0;

    snprintf(quoted, sizeof(quoted), "\"%s\"", stream);
    while (!xdel && redisGetReply(ctx, &reply) == REDIS_OK) {
        redisReply *r = reply;

        if (r->type == REDIS_REPLY_STATUS && strstr(r->str, quoted) &&
            (strstr(r->str, "\"XACK\"") || strstr(r->str, "\"XDEL\""))) {
            if (!strstr(r->str, " lua] "))
                fail_msg("acknowledged outside a script: %s", r->str);
            xdel += strstr(r->str, "\"XDEL\"") != NULL;
        }
        freeReplyObject(r);
    }
    return xdel;
}

static void test_publishes_then_deletes(void **state)
{
    struct fixture *f = *state;
    struct ts_consumer *consumer;
    struct ts_record *recs = NULL;
    struct relay *relay;
    redisContext *mon;
    char sku[64], id[64];
    size_t n;

    ts_unique("sku", sku, sizeof(sku));
    /* not an envelope: logged and dropped, never published */
    freeReplyObject(redis_cmd("XADD %s * topic %s key %s env %s", f->stream, f->topic, sku,
                              "{\"not\":\"an envelope\"}"));
    xadd_event(f, sku, id);
    assert_int_equal(stream_len(f), 2);

    mon = monitor_open();
    relay = stream_relay(f, f->producer);
    consumer = ts_consumer_new(f->topic);
    assert_non_null(consumer);
    assert_int_equal(ts_consume(consumer, 1, 30000, &recs), 1);
    assert_string_equal(recs[0].key, sku);
    assert_string_equal(ts_record_header(&recs[0], "ce_id"), id);
    assert_string_equal(ts_record_header(&recs[0], "ce_type"), TYPE);
    if (!ts_poll_until(stream_empty, f, 10000))
        fail_msg("stream %s still holds %lld entries", f->stream, stream_len(f));
    assert_int_equal(monitor_acks_in_scripts(mon, f->stream), 1);
    redisFree(mon);
    assert_true(ts_poll_until(
        metrics_show, "\ncommerce_outbox_published_total{source=\"stream\",type=\"" TYPE "\"} 1\n",
        10000));
    assert_true(
        ts_poll_until(metrics_show, "\ncommerce_outbox_backlog{source=\"stream\"} 0\n", 10000));
    relay_stop(relay);
    ts_records_free(recs, 1);
    recs = NULL;
    /* nothing else went out: the dropped entry is not on the topic */
    n = ts_consume(consumer, 1, 2000, &recs);
    ts_records_free(recs, n);
    assert_int_equal(n, 0);
    ts_consumer_free(consumer);
}

static void test_kept_until_delivered(void **state)
{
    struct fixture *f = *state;
    struct kafka_producer_opts popts = {
        .bootstrap = "127.0.0.1:1", .client_id = "it_relay_stream_down", .message_timeout_ms = 500};
    struct kafka_producer *down;
    struct ts_consumer *consumer;
    struct ts_record *recs = NULL;
    struct relay *relay;
    char sku[64], id[64], err[256];

    down = kafka_producer_new(&popts, err, sizeof(err));
    assert_non_null(down);
    ts_unique("sku", sku, sizeof(sku));
    xadd_event(f, sku, id);

    /* the broker is unreachable: the publication fails and the entry stays */
    relay = stream_relay(f, down);
    assert_true(ts_poll_until(
        metrics_show, "\ncommerce_outbox_publish_failures_total{source=\"stream\"} ", 30000));
    relay_stop(relay);
    kafka_producer_free(down);
    assert_int_equal(stream_len(f), 1);
    /* the gauge was refreshed before the failed round */
    assert_true(metrics_show("\ncommerce_outbox_backlog{source=\"stream\"} 1\n"));

    /* the broker is back: the pending entry is published, then deleted */
    relay = stream_relay(f, f->producer);
    consumer = ts_consumer_new(f->topic);
    assert_non_null(consumer);
    assert_int_equal(ts_consume(consumer, 1, 30000, &recs), 1);
    assert_string_equal(ts_record_header(&recs[0], "ce_id"), id);
    if (!ts_poll_until(stream_empty, f, 10000))
        fail_msg("stream %s still holds %lld entries", f->stream, stream_len(f));
    relay_stop(relay);
    ts_records_free(recs, 1);
    ts_consumer_free(consumer);
}

#define KEYS 4
#define PER_KEY 10

/* The consumer name in the stream's relay lease, or "" when nobody holds it. */
static void lease_holder(struct fixture *f, char *out, size_t outlen)
{
    redisReply *r = redis_cmd("GET %s:relay-lease", f->stream);

    snprintf(out, outlen, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

/* Reads @want new events and checks that each key's events came in the order of @ids (a key's
 * first copy of each event; a repeat of an earlier one is a tolerated duplicate); @next holds
 * each key's count of events seen so far, across calls. */
static void expect_key_order(struct ts_consumer *consumer, char (*skus)[64], size_t nkeys,
                             char (*ids)[PER_KEY + 2][64], const size_t *nids, size_t *next,
                             size_t want)
{
    struct ts_record *recs = NULL;
    size_t got = 0, n;

    while (got < want) {
        n = ts_consume(consumer, want - got, 30000, &recs);
        if (n == 0)
            fail_msg("only %zu of %zu events were published", got, want);
        for (size_t i = 0; i < n; i++) {
            const char *id = ts_record_header(&recs[i], "ce_id");
            size_t k = 0;
            bool dup = false;

            while (k < nkeys && strcmp(recs[i].key, skus[k]) != 0)
                k++;
            assert_true(k < nkeys);
            for (size_t j = 0; j < next[k]; j++)
                dup = dup || !strcmp(ids[k][j], id);
            if (dup)
                continue;
            if (next[k] >= nids[k] || strcmp(ids[k][next[k]], id) != 0)
                fail_msg("key %s: event %s arrived where #%zu (%s) was due", skus[k], id, next[k],
                         next[k] < nids[k] ? ids[k][next[k]] : "none");
            next[k]++;
            got++;
        }
        ts_records_free(recs, n);
        recs = NULL;
    }
}

static void test_two_relays_keep_key_order(void **state)
{
    struct fixture *f = *state;
    char skus[KEYS][64], ids[KEYS][PER_KEY + 2][64], holder[64], after[64];
    size_t nids[KEYS] = {0}, seen[KEYS] = {0};
    struct ts_consumer *consumer;
    struct relay *a, *b;

    for (size_t k = 0; k < KEYS; k++)
        ts_unique("sku", skus[k], sizeof(skus[k]));
    /* the first half, before the relays; a dead consumer of the group read the first three
     * (pending with it, idle far below the periodic claim's minute): the lease holder must
     * take them over and send them first */
    for (size_t i = 0; i < PER_KEY / 2; i++) {
        for (size_t k = 0; k < KEYS; k++)
            xadd_event(f, skus[k], ids[k][nids[k]++]);
    }
    freeReplyObject(redis_cmd("XGROUP CREATE %s " GROUP " 0 MKSTREAM", f->stream));
    freeReplyObject(
        redis_cmd("XREADGROUP GROUP " GROUP " it-relay-dead COUNT 3 STREAMS %s >", f->stream));
    consumer = ts_consumer_new(f->topic);
    assert_non_null(consumer);
    a = stream_relay_named(f, f->producer, "it-relay-1");
    b = stream_relay_named(f, f->producer, "it-relay-2");
    /* the second half while both run */
    for (size_t i = PER_KEY / 2; i < PER_KEY; i++) {
        for (size_t k = 0; k < KEYS; k++)
            xadd_event(f, skus[k], ids[k][nids[k]++]);
    }
    expect_key_order(consumer, skus, KEYS, ids, nids, seen, KEYS * PER_KEY);
    if (!ts_poll_until(stream_empty, f, 10000))
        fail_msg("stream %s still holds %lld entries", f->stream, stream_len(f));
    lease_holder(f, holder, sizeof(holder));
    assert_true(!strcmp(holder, "it-relay-1") || !strcmp(holder, "it-relay-2"));

    /* the holder stops (gives the lease back): the other relays what comes next */
    if (!strcmp(holder, "it-relay-1")) {
        relay_stop(a);
        a = NULL;
    } else {
        relay_stop(b);
        b = NULL;
    }
    for (size_t k = 0; k < KEYS; k++)
        xadd_event(f, skus[k], ids[k][nids[k]++]);
    expect_key_order(consumer, skus, KEYS, ids, nids, seen, KEYS);
    lease_holder(f, after, sizeof(after));
    assert_string_not_equal(after, holder);
    assert_true(!strcmp(after, "it-relay-1") || !strcmp(after, "it-relay-2"));
    relay_stop(a);
    relay_stop(b);
    ts_consumer_free(consumer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_publishes_then_deletes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kept_until_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_relays_keep_key_order, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    metrics_reset();
    return rc;
}
