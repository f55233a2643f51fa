/* it_rds.c - the Redis helper against a real Redis: commands, scripts, NOSCRIPT, reconnect. */
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
#include "testsup.h"

static struct rds_pool *pool_from_env(void)
{
    struct rds_opts opts = {.host = ts_env("REDIS_HOST"),
                            .port = (unsigned)atoi(ts_env("REDIS_PORT")),
                            .timeout_ms = 2000};
    char err[256];
    struct rds_pool *pool = rds_pool_new(&opts, err, sizeof(err));

    assert_non_null(pool);
    return pool;
}

static redisReply *cmd(struct rds_conn *conn, int argc, const char **argv)
{
    size_t lens[8];
    char err[256];

    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return rds_command(conn, argc, argv, lens, err, sizeof(err));
}

static void test_ping_and_set_get(void **state)
{
    struct rds_pool *pool = pool_from_env();
    char why[256], key[64], err[256];
    struct rds_conn *conn;
    redisReply *r;

    (void)state;
    assert_int_equal(rds_ping(pool, why, sizeof(why)), 0);
    ts_unique("it_rds", key, sizeof(key));
    conn = rds_acquire(pool, err, sizeof(err));
    assert_non_null(conn);
    r = cmd(conn, 3, (const char *[]){"SET", key, "v1"});
    assert_non_null(r);
    freeReplyObject(r);
    r = cmd(conn, 2, (const char *[]){"GET", key});
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "v1");
    freeReplyObject(r);
    r = cmd(conn, 2, (const char *[]){"DEL", key});
    freeReplyObject(r);
    rds_release(pool, conn);
    rds_pool_free(pool);
}

static const char *incr_lua = "return redis.call('INCRBY', KEYS[1], ARGV[1])";

static void test_script_and_noscript_fallback(void **state)
{
    struct rds_pool *pool = pool_from_env();
    struct rds_script script;
    char key[64], err[256];
    struct rds_conn *conn = rds_acquire(pool, err, sizeof(err));
    redisReply *r;
    const char *keys[1];

    (void)state;
    rds_script_init(&script, incr_lua);
    assert_int_equal(strlen(script.sha), 40);
    ts_unique("it_rds_script", key, sizeof(key));
    keys[0] = key;
    /* make sure the script is not cached: the first call must fall back to EVAL */
    r = cmd(conn, 2, (const char *[]){"SCRIPT", "FLUSH"});
    freeReplyObject(r);
    r = rds_eval(conn, &script, 1, keys, 1, (const char *[]){"5"}, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 5);
    freeReplyObject(r);
    /* now EVALSHA hits the cache (EVAL caches the script) */
    r = cmd(conn, 3, (const char *[]){"SCRIPT", "EXISTS", script.sha});
    assert_int_equal(r->element[0]->integer, 1);
    freeReplyObject(r);
    r = rds_eval(conn, &script, 1, keys, 1, (const char *[]){"2"}, err, sizeof(err));
    assert_int_equal(r->integer, 7);
    freeReplyObject(r);
    r = cmd(conn, 2, (const char *[]){"DEL", key});
    freeReplyObject(r);
    rds_release(pool, conn);
    rds_pool_free(pool);
}

static void test_reconnect_after_kill(void **state)
{
    struct rds_pool *pool = pool_from_env();
    char err[256], id[32];
    struct rds_conn *victim = rds_acquire(pool, err, sizeof(err));
    struct rds_conn *killer = rds_acquire(pool, err, sizeof(err));
    redisReply *r;

    (void)state;
    assert_non_null(victim);
    assert_non_null(killer);
    r = cmd(victim, 2, (const char *[]){"CLIENT", "ID"});
    snprintf(id, sizeof(id), "%lld", r->integer);
    freeReplyObject(r);
    r = cmd(killer, 4, (const char *[]){"CLIENT", "KILL", "ID", id});
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    /* the victim's connection is gone; the helper reconnects and the command succeeds */
    r = cmd(victim, 1, (const char *[]){"PING"});
    assert_non_null(r);
    assert_string_equal(r->str, "PONG");
    freeReplyObject(r);
    rds_release(pool, victim);
    rds_release(pool, killer);
    rds_pool_free(pool);
}

static void test_pool_is_bounded(void **state)
{
    struct rds_opts opts = {.host = ts_env("REDIS_HOST"),
                            .port = (unsigned)atoi(ts_env("REDIS_PORT")),
                            .timeout_ms = 300,
                            .pool_size = 1};
    char err[256];
    struct rds_pool *pool = rds_pool_new(&opts, err, sizeof(err));
    struct rds_conn *a, *b;

    (void)state;
    a = rds_acquire(pool, err, sizeof(err));
    assert_non_null(a);
    /* the only connection is out: the next caller waits, then is told so */
    b = rds_acquire(pool, err, sizeof(err));
    assert_null(b);
    assert_non_null(strstr(err, "no free redis connection"));
    rds_release(pool, a);
    b = rds_acquire(pool, err, sizeof(err));
    assert_ptr_equal(b, a); /* the same connection, reused */
    rds_release(pool, b);
    rds_pool_free(pool);
}

static void test_unreachable(void **state)
{
    struct rds_opts opts = {.host = "127.0.0.1", .port = 1, .timeout_ms = 500};
    char err[256];
    struct rds_pool *pool = rds_pool_new(&opts, err, sizeof(err));

    (void)state;
    assert_int_equal(rds_ping(pool, err, sizeof(err)), -EIO);
    assert_non_null(strstr(err, "cannot connect"));
    rds_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping_and_set_get),
        cmocka_unit_test(test_script_and_noscript_fallback),
        cmocka_unit_test(test_reconnect_after_kill),
        cmocka_unit_test(test_pool_is_bounded),
        cmocka_unit_test(test_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
