/*
 * it_consumer_inbox.c - the consumer wrapper and the inbox together, on real Kafka and MariaDB:
 * an event delivered twice (a redelivery after a crash, or a producer retry) changes the
 * database once, and a handler whose database is briefly unreachable is retried, not skipped.
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

#include <cmocka.h>
#include <mysql.h>

#include "common/db.h"
#include "common/event.h"
#include "common/inbox.h"
#include "common/kafka.h"
#include "common/metrics.h"
#include "testsup.h"

struct app {
    struct db_pool *pool;
    const char *group;
    pthread_mutex_t lock;
    int calls;      /* handler invocations */
    int fail_first; /* answer KAFKA_RETRY this many times first */
};

/* The handler: one transaction holding the inbox record and the change. */
static enum kafka_result handle(const struct event *ev, const struct kafka_record *rec, void *arg,
                                char *errbuf, size_t errlen)
{
    struct app *app = arg;
    struct db_conn *conn;
    int rc, fail;

    (void)rec;
    pthread_mutex_lock(&app->lock);
    app->calls++;
    fail = app->fail_first > 0 ? app->fail_first-- : 0;
    pthread_mutex_unlock(&app->lock);
    if (fail) {
        snprintf(errbuf, errlen, "simulated database outage");
        return KAFKA_RETRY;
    }
    conn = db_acquire(app->pool, errbuf, errlen);
    if (!conn)
        return KAFKA_RETRY;
    rc = db_begin(conn);
    if (rc == 0)
        rc = inbox_record(conn, app->group, ev->id, ev->type);
    if (rc == -EALREADY) {
        db_rollback(conn);
        db_release(app->pool, conn);
        return KAFKA_OK; /* seen before: nothing to do */
    }
    if (rc == 0) {
        struct db_param p[] = {DB_STR(ev->subject)};
        rc = db_exec(conn, "UPDATE counter SET n = n + 1 WHERE name = ?", p, 1, NULL, NULL);
    }
    if (rc == 0)
        rc = db_commit(conn);
    if (rc < 0) {
        db_rollback(conn);
        snprintf(errbuf, errlen, "db error %d", rc);
    }
    db_release(app->pool, conn);
    return rc == 0 ? KAFKA_OK : db_transient(rc) ? KAFKA_RETRY : KAFKA_FAIL;
}

static struct db_pool *pool_for(const char *db)
{
    struct db_opts opts = {.host = ts_env("DB_HOST"),
                           .port = (unsigned)atoi(ts_env("DB_PORT")),
                           .user = ts_env("DB_USER"),
                           .password = ts_env("DB_PASSWORD"),
                           .database = db,
                           .pool_size = 4,
                           .connect_timeout_s = 5,
                           .acquire_timeout_ms = 5000};
    char err[256];
    struct db_pool *pool = db_pool_new(&opts, err, sizeof(err));
    struct db_conn *conn;

    assert_non_null(pool);
    conn = db_acquire(pool, err, sizeof(err));
    assert_non_null(conn);
    assert_int_equal(
        db_migrate(conn, "inbox", INBOX_MIGRATIONS, INBOX_NMIGRATIONS, err, sizeof(err)), 0);
    assert_int_equal(db_exec(conn,
                             "CREATE TABLE counter (name VARCHAR(64) PRIMARY KEY, n INT NOT NULL)",
                             NULL, 0, NULL, NULL),
                     0);
    assert_int_equal(
        db_exec(conn, "INSERT INTO counter VALUES ('a', 0), ('b', 0)", NULL, 0, NULL, NULL), 0);
    db_release(pool, conn);
    return pool;
}

static long long counter(struct db_pool *pool, const char *name)
{
    char err[256];
    struct db_conn *conn = db_acquire(pool, err, sizeof(err));
    struct db_result *res = NULL;
    struct db_param p[] = {DB_STR(name)};
    long long n;

    assert_non_null(conn);
    assert_int_equal(db_query(conn, "SELECT n FROM counter WHERE name = ?", p, 1, &res), 0);
    n = db_result_int(res, 0, 0);
    db_result_free(res);
    db_release(pool, conn);
    return n;
}

/* An envelope for event @id about @subject. Caller frees. */
static char *envelope(const char *id, const char *subject)
{
    char *s = malloc(512);

    snprintf(s, 512,
             "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/it\",\"type\":\"order.placed\","
             "\"subject\":\"%s\",\"dataschema\":\"urn:commerce:event:order.placed:v1\","
             "\"correlationid\":\"%s\",\"data\":{\"orderId\":\"%s\"}}",
             id, subject, subject, subject);
    return s;
}

struct wait_arg {
    struct app *app;
    int calls;
};

struct lag_arg {
    const char *group;
};

/* True once the lag gauge shows this group caught up (0) on some partition. */
static bool lag_reported(void *arg)
{
    struct lag_arg *l = arg;
    char needle[160];
    char *text = metrics_render();
    bool found;

    snprintf(needle, sizeof(needle), "commerce_consumer_lag{group=\"%s\"", l->group);
    found = text && strstr(text, needle) && strstr(strstr(text, needle), "} 0\n");
    free(text);
    return found;
}

static bool calls_reached(void *arg)
{
    struct wait_arg *w = arg;
    int calls;

    pthread_mutex_lock(&w->app->lock);
    calls = w->app->calls;
    pthread_mutex_unlock(&w->app->lock);
    return calls >= w->calls;
}

static void run(int fail_first, void (*produce)(const char *topic), int want_calls,
                long long want_a, long long want_b)
{
    char db[64], topic[64], group[64], err[256];
    struct app app = {.fail_first = fail_first};
    struct kafka_producer_opts popts = {.bootstrap = ts_env("KAFKA_BOOTSTRAP"),
                                        .client_id = "it-consumer-inbox",
                                        .message_timeout_ms = 10000,
                                        .auth = ts_kafka_auth()};
    struct kafka_producer *dlq;
    struct kafka_consumer *c;
    const char *topics[2];
    const struct kafka_type types[] = {{"order.placed", 1, 1}, {NULL, 0, 0}};
    struct wait_arg w;

    assert_int_equal(ts_create_database("it_consumer_inbox", db, sizeof(db)), 0);
    ts_unique("it-consumer-inbox", topic, sizeof(topic));
    ts_unique("it-group", group, sizeof(group));
    assert_int_equal(ts_create_topic(topic), 0);
    app.pool = pool_for(db);
    app.group = group;
    pthread_mutex_init(&app.lock, NULL);
    produce(topic);

    dlq = kafka_producer_new(&popts, err, sizeof(err));
    assert_non_null(dlq);
    topics[0] = topic;
    topics[1] = NULL;
    {
        struct kafka_consumer_opts copts = {.bootstrap = ts_env("KAFKA_BOOTSTRAP"),
                                            .auth = ts_kafka_auth(),
                                            .group_id = group,
                                            .service = "it",
                                            .topics = topics,
                                            .types = types,
                                            .handler = handle,
                                            .app = &app,
                                            .dlq_producer = dlq,
                                            .max_attempts = 10,
                                            .backoff_base_ms = 20,
                                            .backoff_max_ms = 100};
        c = kafka_consumer_start(&copts, err, sizeof(err));
    }
    assert_non_null(c);
    w.app = &app;
    w.calls = want_calls;
    assert_true(ts_poll_until(calls_reached, &w, 60000));
    {
        /* the consumer's statistics report the lag per partition: 0 once all is handled */
        struct lag_arg l = {group};
        assert_true(ts_poll_until(lag_reported, &l, 30000));
    }
    kafka_consumer_stop(c);
    assert_int_equal(app.calls, want_calls);
    assert_int_equal(counter(app.pool, "a"), want_a);
    assert_int_equal(counter(app.pool, "b"), want_b);
    kafka_producer_free(dlq);
    db_pool_free(app.pool);
    pthread_mutex_destroy(&app.lock);
}

/* e1 about a, then e1 again (a redelivery), then e2 about b: a=1, b=1, three handler calls. */
static void produce_duplicate(const char *topic)
{
    char *e1 = envelope("0b7e6c55-0000-4000-8000-000000000001", "a");
    char *e2 = envelope("0b7e6c55-0000-4000-8000-000000000002", "b");

    assert_int_equal(ts_produce(topic, "k", e1, strlen(e1), NULL), 0);
    assert_int_equal(ts_produce(topic, "k", e1, strlen(e1), NULL), 0);
    assert_int_equal(ts_produce(topic, "k", e2, strlen(e2), NULL), 0);
    free(e1);
    free(e2);
}

static void test_redelivered_event_processed_once(void **state)
{
    (void)state;
    run(0, produce_duplicate, 3, 1, 1);
}

/* e1 fails twice (transient) then succeeds; e2 on the same key comes after it: 4 calls. */
static void produce_two(const char *topic)
{
    char *e1 = envelope("0b7e6c55-0000-4000-8000-000000000011", "a");
    char *e2 = envelope("0b7e6c55-0000-4000-8000-000000000012", "b");

    assert_int_equal(ts_produce(topic, "k", e1, strlen(e1), NULL), 0);
    assert_int_equal(ts_produce(topic, "k", e2, strlen(e2), NULL), 0);
    free(e1);
    free(e2);
}

static void test_transient_failure_retried_not_skipped(void **state)
{
    (void)state;
    run(2, produce_two, 4, 1, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redelivered_event_processed_once),
        cmocka_unit_test(test_transient_failure_retried_not_skipped),
    };
    int rc;

    mysql_library_init(0, NULL, NULL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    mysql_library_end();
    return rc;
}
