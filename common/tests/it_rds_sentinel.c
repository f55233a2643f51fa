/*
 * it_rds_sentinel.c - the Redis pool through Sentinel against a real primary, replica and three
 * redis-sentinel processes (tests/support/rset.h: scripts/infra.sh in a private folder, stopped
 * at the end): bad settings, discovery, a READONLY reply after a demotion, SIGKILL of the
 * primary (unavailable, never a wrong answer, then the promoted replica), and WAIT with the
 * replica stopped.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rds.h"
#include "common/util.h"
#include "rset.h"
#include "testsup.h"

#define DEADLINE_MS 60000

#define rs ts_rset_group /* the set of this binary */

static struct rds_pool *pool_new(unsigned wait_replicas, unsigned pool_size)
{
    struct rds_opts opts = {.sentinels = rs.sentinels,
                            .master_name = rs.master,
                            .timeout_ms = 1000,
                            .pool_size = pool_size,
                            .wait_replicas = wait_replicas,
                            .wait_timeout_ms = 300};
    char err[256];
    struct rds_pool *pool = rds_pool_new(&opts, err, sizeof(err));

    if (!pool)
        fail_msg("rds_pool_new: %s", err);
    return pool;
}

/* The primary's port as the first sentinel that answers names it, 0 when none does. */
static unsigned sentinel_primary(void)
{
    char list[256], *save = NULL;

    util_strlcpy(list, rs.sentinels, sizeof(list));
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        redisReply *r = ts_redis_cmd((unsigned)atoi(strchr(tok, ':') + 1),
                                     "SENTINEL get-master-addr-by-name %s", rs.master);
        unsigned port = 0;

        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
            port = (unsigned)atoi(r->element[1]->str);
        if (r)
            freeReplyObject(r);
        if (port)
            return port;
    }
    return 0;
}

/* True when INFO replication of the node on @port holds @text. */
static bool node_info_has(unsigned port, const char *text)
{
    redisReply *r = ts_redis_cmd(port, "INFO replication");
    bool yes = r && r->type == REDIS_REPLY_STRING && strstr(r->str, text);

    if (r)
        freeReplyObject(r);
    return yes;
}

/* Ready for a failover: the sentinels' primary is a master with a replica in sync, and every
 * sentinel sees a replica and the two other sentinels. */
static bool healthy(void *arg)
{
    unsigned primary = sentinel_primary(), other;
    char list[256], *save = NULL;

    (void)arg;
    if (!primary || !ts_rset_node(&rs, primary))
        return false;
    other = rs.port[3 - ts_rset_node(&rs, primary)];
    if (!node_info_has(primary, "role:master") || !node_info_has(other, "master_link_status:up"))
        return false;
    util_strlcpy(list, rs.sentinels, sizeof(list));
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        redisReply *r =
            ts_redis_cmd((unsigned)atoi(strchr(tok, ':') + 1), "SENTINEL MASTER %s", rs.master);
        bool ok = r && r->type == REDIS_REPLY_ARRAY;

        for (size_t i = 0; ok && i + 1 < r->elements; i += 2) {
            const char *k = r->element[i]->str, *v = r->element[i + 1]->str;

            if ((strcmp(k, "num-slaves") == 0 && atoi(v) < 1) ||
                (strcmp(k, "num-other-sentinels") == 0 && atoi(v) < 2) ||
                (strcmp(k, "flags") == 0 && strcmp(v, "master") != 0))
                ok = false;
        }
        if (r)
            freeReplyObject(r);
        if (!ok)
            return false;
    }
    return true;
}

static void wait_healthy(void)
{
    assert_true(ts_poll_until(healthy, NULL, DEADLINE_MS));
}

static redisReply *cmd(struct rds_conn *conn, int argc, const char **argv, char *err, size_t errlen)
{
    size_t lens[8];

    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return rds_command(conn, argc, argv, lens, err, errlen);
}

/* SET @key @value through @pool; true on OK. */
static bool pool_set(struct rds_pool *pool, const char *key, const char *value, char *err,
                     size_t errlen)
{
    struct rds_conn *conn = rds_acquire(pool, err, errlen);
    redisReply *r;
    bool ok;

    if (!conn)
        return false;
    r = cmd(conn, 3, (const char *[]){"SET", key, value}, err, errlen);
    ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
    if (r && !ok)
        fail_msg("SET answered something else than OK: type %d %s", r->type,
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    if (r)
        freeReplyObject(r);
    rds_release(pool, conn);
    return ok;
}

static unsigned pool_primary_port(struct rds_pool *pool)
{
    char addr[300];

    rds_primary(pool, addr, sizeof(addr));
    return strchr(addr, ':') ? (unsigned)atoi(strchr(addr, ':') + 1) : 0;
}

static void test_bad_settings(void **state)
{
    static const char *const malformed[] = {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":26379",
                                            "h:1,,h:2",  "h:1x",        "127.0.0.1:26379,"};
    struct rds_opts opts = {.sentinels = rs.sentinels, .master_name = rs.master};
    char err[256];

    (void)state;
    /* both a node and sentinels */
    opts.host = "127.0.0.1";
    opts.port = rs.port[1];
    assert_null(rds_pool_new(&opts, err, sizeof(err)));
    assert_non_null(strstr(err, "REDIS_HOST and REDIS_SENTINELS are both set"));
    opts.host = NULL;
    /* a list that is not host:port,… */
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        opts.sentinels = malformed[i];
        err[0] = '\0';
        assert_int_equal(rds_opts_check(&opts, err, sizeof(err)), -EINVAL);
        assert_null(rds_pool_new(&opts, err, sizeof(err)));
        assert_non_null(strstr(err, "REDIS_SENTINELS"));
    }
    /* no master name */
    opts.sentinels = rs.sentinels;
    opts.master_name = NULL;
    assert_null(rds_pool_new(&opts, err, sizeof(err)));
    assert_non_null(strstr(err, "REDIS_MASTER_NAME is required"));
    /* a master the sentinels do not know */
    opts.master_name = "no-such-master";
    assert_null(rds_pool_new(&opts, err, sizeof(err)));
    assert_non_null(strstr(err, "no master named 'no-such-master'"));
    /* the right settings pass the check */
    opts.master_name = rs.master;
    assert_int_equal(rds_opts_check(&opts, err, sizeof(err)), 0);
}

static void test_no_sentinel_answers_is_unavailable(void **state)
{
    /* nothing listens on port 1: the pool is made (lazy), every call is "unreachable" */
    struct rds_opts opts = {.sentinels = "127.0.0.1:1", .master_name = rs.master};
    char err[256] = "";
    struct rds_pool *pool = rds_pool_new(&opts, err, sizeof(err));

    (void)state;
    assert_non_null(pool);
    assert_null(rds_acquire(pool, err, sizeof(err)));
    assert_non_null(strstr(err, "127.0.0.1:1"));
    assert_int_equal(rds_ping(pool, err, sizeof(err)), -EIO);
    rds_pool_free(pool);
}

static void test_discovery_finds_the_primary(void **state)
{
    struct rds_pool *pool;
    char err[256], why[256], key[64];
    struct rds_conn *conn;
    redisReply *r;

    (void)state;
    wait_healthy();
    pool = pool_new(0, 2);
    assert_int_equal(pool_primary_port(pool), sentinel_primary());
    assert_int_equal(rds_ping(pool, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "primary 127.0.0.1:"));
    ts_unique("it_rds_sentinel", key, sizeof(key));
    assert_true(pool_set(pool, key, "v1", err, sizeof(err)));
    /* it went to the primary: the primary has it */
    r = ts_redis_cmd(sentinel_primary(), "GET %s", key);
    assert_non_null(r);
    assert_string_equal(r->str, "v1");
    freeReplyObject(r);
    conn = rds_acquire(pool, err, sizeof(err));
    assert_non_null(conn);
    r = cmd(conn, 1, (const char *[]){"ROLE"}, err, sizeof(err));
    assert_string_equal(r->element[0]->str, "master");
    freeReplyObject(r);
    rds_release(pool, conn);
    rds_pool_free(pool);
}

/* Runs a command on every sentinel; each must answer OK. */
static void sentinels_cmd(const char *fmt, const char *arg1, const char *arg2)
{
    char list[256], *save = NULL;

    util_strlcpy(list, rs.sentinels, sizeof(list));
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        redisReply *r = ts_redis_cmd((unsigned)atoi(strchr(tok, ':') + 1), fmt, arg1, arg2);

        assert_non_null(r);
        if (r->type == REDIS_REPLY_ERROR)
            fail_msg("sentinel %s: %s", tok, r->str);
        freeReplyObject(r);
    }
}

static bool node_is_replica(void *arg)
{
    return node_info_has(*(unsigned *)arg, "master_link_status:up");
}

static void test_readonly_triggers_rediscovery(void **state)
{
    struct rds_pool *pool;
    char err[256], key[64], port[16];
    struct rds_conn *conn;
    redisReply *r;
    unsigned old, next;

    (void)state;
    wait_healthy();
    pool = pool_new(0, 1); /* one connection: the one made before the switch is reused */
    old = pool_primary_port(pool);
    next = rs.port[3 - ts_rset_node(&rs, old)];
    ts_unique("it_rds_readonly", key, sizeof(key));
    assert_true(pool_set(pool, key, "before", err, sizeof(err)));
    /* A switch the sentinels do not make (they forget the master meanwhile): a failover by
     * Sentinel kills the old primary's client connections, so a READONLY reply comes from a
     * demotion it did not make, or a connection made just before its switch. Here the old
     * primary keeps our pooled connection. */
    sentinels_cmd("SENTINEL REMOVE %s", rs.master, NULL);
    r = ts_redis_cmd(next, "REPLICAOF NO ONE");
    assert_non_null(r);
    freeReplyObject(r);
    r = ts_redis_cmd(old, "REPLICAOF 127.0.0.1 %u", next);
    assert_non_null(r);
    freeReplyObject(r);
    assert_true(ts_poll_until(node_is_replica, &old, DEADLINE_MS));
    snprintf(port, sizeof(port), "%u", next);
    sentinels_cmd("SENTINEL MONITOR %s 127.0.0.1 %s 2", rs.master, port);
    sentinels_cmd("SENTINEL SET %s down-after-milliseconds 1000", rs.master, NULL);
    sentinels_cmd("SENTINEL SET %s failover-timeout 3000", rs.master, NULL);
    /* the pooled connection still talks to the demoted node (a read works there) … */
    conn = rds_acquire(pool, err, sizeof(err));
    assert_non_null(conn);
    r = cmd(conn, 1, (const char *[]){"ROLE"}, err, sizeof(err));
    assert_non_null(r);
    assert_string_equal(r->element[0]->str, "slave");
    freeReplyObject(r);
    /* … a write there answers READONLY: the pool asks the sentinels again and the write goes to
     * the new primary */
    r = cmd(conn, 3, (const char *[]){"SET", key, "after"}, err, sizeof(err));
    if (!r)
        fail_msg("SET after the switch: %s", err);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    r = cmd(conn, 1, (const char *[]){"ROLE"}, err, sizeof(err));
    assert_string_equal(r->element[0]->str, "master");
    freeReplyObject(r);
    rds_release(pool, conn);
    assert_int_equal(pool_primary_port(pool), next);
    r = ts_redis_cmd(next, "GET %s", key);
    assert_string_equal(r->str, "after");
    freeReplyObject(r);
    rds_pool_free(pool);
}

struct after_kill {
    struct rds_pool *pool;
    char key[64];
    int round;
    int unavailable; /* calls that failed as unreachable */
};

/* One write and read back through the pool: true when both succeeded with the right value;
 * a failure must be "unreachable" (NULL), never another answer. */
static bool write_read(void *arg)
{
    struct after_kill *a = arg;
    char err[256] = "", value[32];
    struct rds_conn *conn;
    redisReply *r;
    bool ok = false;

    snprintf(value, sizeof(value), "v%d", ++a->round);
    conn = rds_acquire(a->pool, err, sizeof(err));
    if (!conn) {
        assert_true(err[0] != '\0');
        a->unavailable++;
        return false;
    }
    r = cmd(conn, 3, (const char *[]){"SET", a->key, value}, err, sizeof(err));
    if (r) {
        if (r->type != REDIS_REPLY_STATUS)
            fail_msg("SET during the failover answered type %d: %s", r->type,
                     r->type == REDIS_REPLY_ERROR ? r->str : "");
        freeReplyObject(r);
        r = cmd(conn, 2, (const char *[]){"GET", a->key}, err, sizeof(err));
        if (r) {
            assert_int_equal(r->type, REDIS_REPLY_STRING);
            assert_string_equal(r->str, value); /* never a wrong answer */
            ok = true;
            freeReplyObject(r);
        }
    }
    if (!ok) {
        assert_true(err[0] != '\0');
        a->unavailable++;
    }
    rds_release(a->pool, conn);
    return ok;
}

static void test_primary_killed_then_promoted(void **state)
{
    struct after_kill a = {0};
    char err[256], kept[64], action[32];
    unsigned old;
    int64_t t0, t1;
    redisReply *r;
    struct rds_conn *conn;

    (void)state;
    wait_healthy();
    a.pool = pool_new(1, 2);
    ts_unique("it_rds_failover", a.key, sizeof(a.key));
    ts_unique("it_rds_kept", kept, sizeof(kept));
    /* a write a replica acknowledged (WAIT) survives the loss of the primary */
    assert_true(pool_set(a.pool, kept, "acknowledged", err, sizeof(err)));
    conn = rds_acquire(a.pool, err, sizeof(err));
    assert_non_null(conn);
    assert_int_equal(rds_wait(conn, err, sizeof(err)), 0);
    rds_release(a.pool, conn);
    old = pool_primary_port(a.pool);

    t0 = util_now_mono_ms();
    assert_int_equal(ts_rset_infra(&rs, "redis-primary-kill"), 0);
    /* calls fail as unreachable until the sentinels promoted the replica, then succeed */
    assert_true(ts_poll_until(write_read, &a, DEADLINE_MS));
    t1 = util_now_mono_ms();
    print_message("failover: writes back on the new primary %lld ms after SIGKILL (%d calls "
                  "unavailable meanwhile)\n",
                  (long long)(t1 - t0), a.unavailable);
    assert_true(a.unavailable >= 1); /* the sentinels wait down-after-milliseconds first */
    assert_int_not_equal(pool_primary_port(a.pool), old);
    assert_int_equal(pool_primary_port(a.pool), sentinel_primary());
    r = ts_redis_cmd(sentinel_primary(), "GET %s", kept);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "acknowledged");
    freeReplyObject(r);
    rds_pool_free(a.pool);

    /* the killed node comes back as a replica of the new primary */
    snprintf(action, sizeof(action), "redis-%d-start", ts_rset_node(&rs, old));
    assert_int_equal(ts_rset_infra(&rs, action), 0);
    assert_true(ts_poll_until(node_is_replica, &old, DEADLINE_MS));
    wait_healthy();
}

struct waited {
    struct rds_pool *pool;
};

static bool wait_ok(void *arg)
{
    struct waited *w = arg;
    char err[256];
    struct rds_conn *conn = rds_acquire(w->pool, err, sizeof(err));
    int rc;

    if (!conn)
        return false;
    rc = rds_wait(conn, err, sizeof(err));
    rds_release(w->pool, conn);
    return rc == 0;
}

static void test_wait_needs_the_replica(void **state)
{
    struct waited w;
    char err[256], key[64], action[32];
    struct rds_conn *conn;
    unsigned replica;

    (void)state;
    wait_healthy();
    w.pool = pool_new(1, 2);
    replica = rs.port[3 - ts_rset_node(&rs, pool_primary_port(w.pool))];
    ts_unique("it_rds_wait", key, sizeof(key));
    assert_true(pool_set(w.pool, key, "1", err, sizeof(err)));
    assert_true(wait_ok(&w));

    snprintf(action, sizeof(action), "redis-%d-stop", ts_rset_node(&rs, replica));
    assert_int_equal(ts_rset_infra(&rs, action), 0);
    assert_true(pool_set(w.pool, key, "2", err, sizeof(err)));
    conn = rds_acquire(w.pool, err, sizeof(err));
    assert_non_null(conn);
    assert_int_equal(rds_wait(conn, err, sizeof(err)), -EAGAIN);
    assert_non_null(strstr(err, "0 of 1 redis replicas"));
    rds_release(w.pool, conn);

    snprintf(action, sizeof(action), "redis-%d-start", ts_rset_node(&rs, replica));
    assert_int_equal(ts_rset_infra(&rs, action), 0);
    assert_true(ts_poll_until(wait_ok, &w, DEADLINE_MS));
    rds_pool_free(w.pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_settings),
        cmocka_unit_test(test_no_sentinel_answers_is_unavailable),
        cmocka_unit_test(test_discovery_finds_the_primary),
        cmocka_unit_test(test_readonly_triggers_rediscovery),
        cmocka_unit_test(test_primary_killed_then_promoted),
        cmocka_unit_test(test_wait_needs_the_replica),
    };

    return cmocka_run_group_tests(tests, ts_rset_group_setup, ts_rset_group_teardown);
}
