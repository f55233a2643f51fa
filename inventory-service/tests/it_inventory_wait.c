/*
 * it_inventory_wait.c - inventory-service on a Redis with failover (tests/support/rset.h: a
 * primary, a replica and three sentinels of its own, stopped at the end; MariaDB and Kafka of
 * the harness): it finds the primary through the sentinels, refuses REDIS_HOST together with
 * REDIS_SENTINELS, and with REDIS_WAIT_REPLICAS=1 a reservation's stock.reserved is not
 * published, nor its order.placed done (offset), while the replica is down, and both are once
 * it is back - nothing lost; an admin's stock change answers 503 until a replica has it.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "common/util.h"
#include "rset.h"
#include "testsup.h"

#define DEADLINE_MS 60000

#define rs ts_rset_group /* the set of this binary */

struct fixture {
    struct ts_service svc;
    char db[64], product_topic[64], order_topic[64], stock_topic[64], group[64], stream[64];
    char env[16][300];
    const char *envp[24];
};

/* The service's environment: its own database, topics, group and stream, Redis through the
 * sentinels with WAIT for one replica, and @extra (may be NULL). */
static void make_env(struct fixture *f, const char *extra)
{
    static const char *const order_types[] = {"PLACED", "CONFIRMED", "CANCELLED", "REFUNDED"};
    static const char *const stock_types[] = {"RESERVED", "RESERVATION_FAILED", "CONFIRMED",
                                              "CONFIRM_FAILED", "RELEASED"};
    size_t n = 0, k = 0;

    snprintf(f->env[n++], sizeof(f->env[0]), "DB_NAME=%s", f->db);
    snprintf(f->env[n++], sizeof(f->env[0]), "TOPIC_PRODUCT_SKU_CREATED=%s", f->product_topic);
    for (size_t i = 0; i < 4; i++)
        snprintf(f->env[n++], sizeof(f->env[0]), "TOPIC_ORDER_%s=%s", order_types[i],
                 f->order_topic);
    for (size_t i = 0; i < 5; i++)
        snprintf(f->env[n++], sizeof(f->env[0]), "TOPIC_STOCK_%s=%s", stock_types[i],
                 f->stock_topic);
    snprintf(f->env[n++], sizeof(f->env[0]), "KAFKA_GROUP_ID=%s", f->group);
    snprintf(f->env[n++], sizeof(f->env[0]), "INVENTORY_OUTBOX_STREAM=%s", f->stream);
    snprintf(f->env[n++], sizeof(f->env[0]), "REDIS_SENTINELS=%s", rs.sentinels);
    snprintf(f->env[n++], sizeof(f->env[0]), "REDIS_MASTER_NAME=%s", rs.master);
    for (k = 0; k < n; k++)
        f->envp[k] = f->env[k];
    f->envp[k++] = "REDIS_HOST="; /* the harness's single Redis: unset (empty) */
    f->envp[k++] = "REDIS_WAIT_REPLICAS=1";
    f->envp[k++] = "REDIS_WAIT_TIMEOUT_MS=200";
    f->envp[k++] = "KAFKA_CREATE_TOPICS=true";
    f->envp[k++] = "MIGRATIONS_DIR=inventory-service/migrations";
    f->envp[k++] = "OUTBOX_POLL_MS=100";
    if (extra)
        f->envp[k++] = extra;
    f->envp[k] = NULL;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char dlq[80];

    if (!f || ts_create_database("it_inv_wait", f->db, sizeof(f->db)) < 0)
        return -1;
    ts_unique("it-invw-products", f->product_topic, sizeof(f->product_topic));
    ts_unique("it-invw-orders", f->order_topic, sizeof(f->order_topic));
    ts_unique("it-invw-stock", f->stock_topic, sizeof(f->stock_topic));
    ts_unique("it-invw-group", f->group, sizeof(f->group));
    ts_unique("it-invw-outbox", f->stream, sizeof(f->stream));
    snprintf(dlq, sizeof(dlq), "%s.dlq", f->order_topic);
    if (ts_create_topic(f->product_topic) < 0 || ts_create_topic(f->order_topic) < 0 ||
        ts_create_topic(f->stock_topic) < 0 || ts_create_topic(dlq) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

/* A command to the node on @port; the reply (caller frees) or a test failure. */
static redisReply *node_cmd(unsigned port, const char *cmd, const char *arg)
{
    redisReply *r = ts_redis_cmd(port, cmd, arg);

    assert_non_null(r);
    return r;
}

/* The node (1 or 2) that is primary now (ROLE of node 1). */
static int primary_node(void)
{
    redisReply *r = node_cmd(rs.port[1], "ROLE", NULL);
    int n = strcmp(r->element[0]->str, "master") == 0 ? 1 : 2;

    freeReplyObject(r);
    return n;
}

/* Produces a v1 event of @type from its producer, keyed @key. */
static void produce(const char *topic, const char *type, const char *key, const char *data)
{
    char id[UTIL_UUID_LEN], source[64], *value = NULL;

    util_uuid(id);
    assert_true(asprintf(&value,
                         "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"%s\",\"type\":"
                         "\"%s\",\"subject\":\"%s\",\"time\":\"2026-01-01T00:00:00.000Z\","
                         "\"dataschema\":\"urn:commerce:event:%s:v1\",\"correlationid\":"
                         "\"corr-%s\",\"causationid\":\"cause-%s\",\"data\":%s}",
                         id, ts_event_source(type, source, sizeof(source)), type, key, type, key,
                         id, data) > 0);
    assert_int_equal(ts_produce(topic, key, value, strlen(value), NULL), 0);
    free(value);
}

struct avail {
    struct fixture *f;
    long long sku, want;
};

static bool available_is(void *arg)
{
    struct avail *a = arg;
    struct ts_resp r;
    char url[256];
    bool ok;

    snprintf(url, sizeof(url), "%s/api/inventories/%lld", a->f->svc.url, a->sku);
    if (ts_http("GET", url, NULL, NULL, NULL, &r) < 0)
        return false;
    ok = r.status == 200 && r.json &&
         (long long)cJSON_GetObjectItem(r.json, "availableStock")->valuedouble == a->want;
    ts_resp_free(&r);
    return ok;
}

/* A new SKU with 5 units (its product.sku.created, then its stock seen over HTTP), numbered
 * from @base, into @a. */
static void new_sku(struct fixture *f, long long base, struct avail *a)
{
    char key[32], data[512];

    a->f = f;
    a->sku = base + (long long)(util_now_ms() % 1000000000LL);
    snprintf(key, sizeof(key), "%lld", a->sku);
    snprintf(data, sizeof(data),
             "{\"skuId\":%lld,\"productId\":1,\"productCode\":\"P-1\",\"price\":1000,"
             "\"optionValues\":[],\"initialQuantity\":5}",
             a->sku);
    produce(f->product_topic, "product.sku.created", key, data);
    a->want = 5;
    assert_true(ts_poll_until(available_is, a, DEADLINE_MS));
}

struct stream_q {
    unsigned port;
    const char *stream;
    long long pending_at_least; /* XPENDING count; -1: XLEN must be 0 */
};

static bool stream_state(void *arg)
{
    struct stream_q *q = arg;
    redisReply *r;
    bool ok;

    if (q->pending_at_least < 0) {
        r = node_cmd(q->port, "XLEN %s", q->stream);
        ok = r->type == REDIS_REPLY_INTEGER && r->integer == 0;
    } else {
        r = node_cmd(q->port, "XPENDING %s inventory-relay", q->stream);
        ok = r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
             r->element[0]->type == REDIS_REPLY_INTEGER &&
             r->element[0]->integer >= q->pending_at_least;
    }
    freeReplyObject(r);
    return ok;
}

/* A /metrics line of the service starting with @prefix (name and labels). */
struct metric_q {
    struct fixture *f;
    const char *prefix;
};

static bool metric_present(void *arg)
{
    struct metric_q *m = arg;
    struct ts_resp r;
    char u[256];
    bool found;

    snprintf(u, sizeof(u), "%s/metrics", m->f->svc.url);
    if (ts_http("GET", u, NULL, NULL, NULL, &r) < 0)
        return false;
    found = r.status == 200 && r.body && strstr(r.body, m->prefix);
    ts_resp_free(&r);
    return found;
}

static void test_reserved_published_only_once_a_replica_has_it(void **state)
{
    struct fixture *f = *state;
    struct ts_consumer *c;
    struct ts_record *recs = NULL;
    char order[UTIL_UUID_LEN], data[512], action[32], why[64];
    struct avail a = {.f = f};
    int replica;
    size_t n;
    cJSON *root;
    struct stream_q q = {.stream = f->stream};
    struct metric_q unavailable = {
        f, "commerce_events_consumed_total{type=\"order.placed\",result=\"unavailable\"}"};
    struct metric_q done = {f,
                            "commerce_events_consumed_total{type=\"order.placed\",result=\"ok\"}"};

    make_env(f, NULL);
    assert_int_equal(ts_service_start("inventory-service", f->envp, 60000, &f->svc), 0);
    c = ts_consumer_new(f->stock_topic);
    assert_non_null(c);
    q.port = rs.port[primary_node()];
    replica = 3 - primary_node();

    new_sku(f, 3000000000000LL, &a);

    /* the replica goes away: the reservation is made on the primary, its event is held */
    snprintf(action, sizeof(action), "redis-%d-stop", replica);
    assert_int_equal(ts_rset_infra(&rs, action), 0);
    util_uuid(order);
    snprintf(data, sizeof(data),
             "{\"orderId\":\"%s\",\"userId\":\"u-1\",\"totalAmount\":2000,\"discountAmount\":0,"
             "\"payableAmount\":2000,\"items\":[{\"orderItemId\":1,\"skuId\":%lld,"
             "\"quantity\":2,\"unitPrice\":1000,\"amount\":2000}]}",
             order, a.sku);
    produce(f->order_topic, "order.placed", order, data);
    a.want = 3;
    assert_true(ts_poll_until(available_is, &a, DEADLINE_MS)); /* reserved on the primary */
    q.pending_at_least = 1;
    assert_true(ts_poll_until(stream_state, &q, DEADLINE_MS)); /* the relay read it … */
    n = ts_consume(c, 1, 3000, &recs);                         /* … and holds it */
    ts_records_free(recs, n);
    assert_int_equal(n, 0);
    assert_true(stream_state(&q));
    /* nor is the order.placed done: its offset waits until a replica has the reservation, so
     * a failover that lost it would have it done again (README "Redis failover") */
    assert_true(ts_poll_until(metric_present, &unavailable, DEADLINE_MS));
    assert_false(metric_present(&done));

    /* the replica is back: the event goes out, once, and leaves the stream */
    snprintf(action, sizeof(action), "redis-%d-start", replica);
    assert_int_equal(ts_rset_infra(&rs, action), 0);
    n = ts_consume(c, 1, DEADLINE_MS, &recs);
    assert_int_equal(n, 1);
    util_strlcpy(why, ts_record_header(&recs[0], "ce_type"), sizeof(why));
    assert_string_equal(why, "stock.reserved");
    root = cJSON_ParseWithLength(recs[0].value, recs[0].len);
    assert_non_null(root);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(root, "data"), "orderId")->valuestring, order);
    cJSON_Delete(root);
    ts_records_free(recs, n);
    q.pending_at_least = -1;
    assert_true(ts_poll_until(stream_state, &q, DEADLINE_MS));
    assert_true(ts_poll_until(metric_present, &done, DEADLINE_MS));
    ts_consumer_free(c);
    assert_int_equal(ts_service_stop(&f->svc, SIGTERM), 0);
}

/* POST of an admin's increase of @sku by @qty under Idempotency-Key @key into @r. */
static void admin_increase(struct fixture *f, long long sku, int qty, const char *key,
                           struct ts_resp *r)
{
    char url[256], body[64], hdr[200], *token = ts_token("admin-1", "ADMIN");
    const char *headers[] = {hdr, NULL};

    assert_non_null(token);
    snprintf(url, sizeof(url), "%s/api/inventories/%lld/increase", f->svc.url, sku);
    snprintf(body, sizeof(body), "{\"quantity\":%d}", qty);
    snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", key);
    assert_int_equal(ts_http("POST", url, token, body, headers, r), 0);
    free(token);
}

struct repeat {
    struct fixture *f;
    long long sku;
    const char *key;
    long long available; /* the 200's availableStock */
};

/* The same increase again: true once it answers 200 (a 503 while the replica catches up). */
static bool increase_answered(void *arg)
{
    struct repeat *q = arg;
    struct ts_resp r;
    bool ok;

    admin_increase(q->f, q->sku, 3, q->key, &r);
    ok = r.status == 200 && r.json;
    if (ok)
        q->available = (long long)cJSON_GetObjectItem(r.json, "availableStock")->valuedouble;
    else
        assert_int_equal(r.status, 503);
    ts_resp_free(&r);
    return ok;
}

/* An admin's stock change is answered 200 only once a replica holds it: while the replica is
 * down it answers 503 with Retry-After (the primary has the change, which a failover could
 * lose), and the same request under the same Idempotency-Key answers 200 once the replica is
 * back, the change made once. */
static void test_admin_change_answered_once_a_replica_has_it(void **state)
{
    struct fixture *f = *state;
    char key[48], action[32];
    struct avail a;
    struct repeat q = {.f = f};
    struct ts_resp r;
    int replica;

    make_env(f, NULL);
    assert_int_equal(ts_service_start("inventory-service", f->envp, 60000, &f->svc), 0);
    replica = 3 - primary_node();
    new_sku(f, 3100000000000LL, &a);

    snprintf(action, sizeof(action), "redis-%d-stop", replica);
    assert_int_equal(ts_rset_infra(&rs, action), 0);
    ts_unique("invw-inc", key, sizeof(key));
    admin_increase(f, a.sku, 3, key, &r);
    assert_int_equal(r.status, 503);
    assert_non_null(r.json);
    assert_string_equal(cJSON_GetObjectItem(r.json, "code")->valuestring, "INVENTORY-503-001");
    assert_string_equal(r.retry_after, "1");
    ts_resp_free(&r);
    a.want = 8; /* on the primary only */
    assert_true(available_is(&a));

    snprintf(action, sizeof(action), "redis-%d-start", replica);
    assert_int_equal(ts_rset_infra(&rs, action), 0);
    q.sku = a.sku;
    q.key = key;
    assert_true(ts_poll_until(increase_answered, &q, DEADLINE_MS));
    assert_int_equal(q.available, 8); /* made once */
    assert_true(available_is(&a));
    assert_int_equal(ts_service_stop(&f->svc, SIGTERM), 0);
}

struct child {
    pid_t pid;
    int status;
};

static bool exited(void *arg)
{
    struct child *ch = arg;

    return waitpid(ch->pid, &ch->status, WNOHANG) == ch->pid;
}

static void test_host_and_sentinels_refused(void **state)
{
    struct fixture *f = *state;
    char path[512], log[512], text[4096] = "";
    struct child ch;
    FILE *fp;
    size_t len;

    make_env(f, "REDIS_HOST=127.0.0.1");
    snprintf(path, sizeof(path), "%s/bin/inventory-service", ts_env("BUILD_DIR"));
    snprintf(log, sizeof(log), "%s/it_inventory_wait.refused.log", ts_env("TEST_STATE_DIR"));
    ch.pid = fork();
    assert_true(ch.pid >= 0);
    if (ch.pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        for (size_t i = 0; f->envp[i]; i++)
            putenv((char *)f->envp[i]);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    if (!ts_poll_until(exited, &ch, DEADLINE_MS)) {
        kill(ch.pid, SIGKILL);
        waitpid(ch.pid, &ch.status, 0);
        fail_msg("inventory-service with REDIS_HOST and REDIS_SENTINELS did not exit");
    }
    assert_true(WIFEXITED(ch.status));
    assert_int_equal(WEXITSTATUS(ch.status), 2); /* invalid configuration */
    fp = fopen(log, "r");
    assert_non_null(fp);
    len = fread(text, 1, sizeof(text) - 1, fp);
    text[len] = '\0';
    fclose(fp);
    assert_non_null(strstr(text, "REDIS_HOST and REDIS_SENTINELS are both set"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_host_and_sentinels_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserved_published_only_once_a_replica_has_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_admin_change_answered_once_a_replica_has_it, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, ts_rset_group_setup, ts_rset_group_teardown);
}
