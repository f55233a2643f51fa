/*
 * it_inbox.c - the inbox against a real MariaDB: first record wins, duplicates are
 * -EALREADY per consumer group, a rolled-back record does not count, purge by age.
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
#include <mysql.h>

#include "common/db.h"
#include "common/inbox.h"
#include "testsup.h"

static char dbname[96];
static struct db_pool *pool;

static int group_setup(void **state)
{
    struct db_opts opts = {0};
    struct db_conn *conn;
    char err[256];

    (void)state;
    if (mysql_library_init(0, NULL, NULL))
        return -1;
    if (ts_create_database("it_inbox", dbname, sizeof(dbname)) != 0)
        return -1;
    opts = (struct db_opts){.host = ts_env("DB_HOST"),
                            .port = (unsigned)atoi(ts_env("DB_PORT")),
                            .user = ts_env("DB_USER"),
                            .password = ts_env("DB_PASSWORD"),
                            .database = dbname,
                            .pool_size = 2,
                            .connect_timeout_s = 5,
                            .acquire_timeout_ms = 2000};
    pool = db_pool_new(&opts, err, sizeof(err));
    if (!pool)
        return -1;
    conn = db_acquire(pool, err, sizeof(err));
    if (!conn)
        return -1;
    if (db_migrate(conn, "inbox", INBOX_MIGRATIONS, INBOX_NMIGRATIONS, err, sizeof(err)) ||
        db_migrate(conn, "inbox", INBOX_MIGRATIONS, INBOX_NMIGRATIONS, err, sizeof(err))) {
        fprintf(stderr, "migrate: %s\n", err);
        db_release(pool, conn);
        return -1;
    }
    db_release(pool, conn);
    return 0;
}

static int group_teardown(void **state)
{
    char err[256], sql[160];
    struct db_conn *conn = db_acquire(pool, err, sizeof(err));

    (void)state;
    if (conn) {
        snprintf(sql, sizeof(sql), "DROP DATABASE `%s`", dbname);
        db_exec(conn, sql, NULL, 0, NULL, NULL);
        db_release(pool, conn);
    }
    db_pool_free(pool);
    mysql_library_end();
    return 0;
}

static struct db_conn *acquire(void)
{
    char err[256];
    struct db_conn *conn = db_acquire(pool, err, sizeof(err));

    if (!conn)
        fail_msg("db_acquire: %s", err);
    return conn;
}

static long long count(struct db_conn *conn, const char *group)
{
    struct db_result *res = NULL;
    long long n;

    assert_int_equal(db_query(conn, "SELECT COUNT(*) FROM inbox WHERE consumer_group = ?",
                              (struct db_param[]){DB_STR(group)}, 1, &res),
                     0);
    n = db_result_int(res, 0, 0);
    db_result_free(res);
    return n;
}

static void test_record_once_per_group(void **state)
{
    struct db_conn *conn = acquire();
    char id[64];

    (void)state;
    ts_unique("evt", id, sizeof(id));
    assert_int_equal(inbox_record(conn, "g1", id, "order.placed"), 0);
    assert_int_equal(inbox_record(conn, "g1", id, "order.placed"), -EALREADY);
    assert_int_equal(inbox_record(conn, "g2", id, "order.placed"), 0);
    assert_int_equal(inbox_record(conn, "g1", "", "order.placed"), -EINVAL);
    assert_int_equal(count(conn, "g1"), 1);

    /* inside a transaction: a duplicate is reported and the transaction is still usable */
    assert_int_equal(db_begin(conn), 0);
    assert_int_equal(inbox_record(conn, "g1", id, "order.placed"), -EALREADY);
    assert_int_equal(inbox_record(conn, "g3", id, "order.placed"), 0);
    assert_int_equal(db_commit(conn), 0);
    assert_int_equal(count(conn, "g3"), 1);
    db_release(pool, conn);
}

static void test_rollback_forgets(void **state)
{
    struct db_conn *conn = acquire();
    char id[64];

    (void)state;
    ts_unique("evt", id, sizeof(id));
    assert_int_equal(db_begin(conn), 0);
    assert_int_equal(inbox_record(conn, "rb", id, "stock.reserved"), 0);
    assert_int_equal(db_rollback(conn), 0);
    /* the handler failed and rolled back: the redelivery is processed again */
    assert_int_equal(db_begin(conn), 0);
    assert_int_equal(inbox_record(conn, "rb", id, "stock.reserved"), 0);
    assert_int_equal(db_commit(conn), 0);
    assert_int_equal(inbox_record(conn, "rb", id, "stock.reserved"), -EALREADY);
    db_release(pool, conn);
}

static void test_purge(void **state)
{
    struct db_conn *conn = acquire();
    unsigned long long deleted = 99;
    char id[64];

    (void)state;
    for (int i = 0; i < 5; i++) {
        ts_unique("old", id, sizeof(id));
        assert_int_equal(inbox_record(conn, "purge", id, "payment.created"), 0);
    }
    assert_int_equal(db_exec(conn,
                             "UPDATE inbox SET processed_at = NOW(6) - INTERVAL 2 DAY"
                             " WHERE consumer_group = 'purge'",
                             NULL, 0, NULL, NULL),
                     0);
    ts_unique("new", id, sizeof(id));
    assert_int_equal(inbox_record(conn, "purge", id, "payment.created"), 0);
    assert_int_equal(inbox_purge(conn, 86400, &deleted), 0);
    assert_int_equal(deleted, 5);
    assert_int_equal(count(conn, "purge"), 1);
    assert_int_equal(inbox_record(conn, "purge", id, "payment.created"), -EALREADY);
    assert_int_equal(inbox_purge(conn, 86400, &deleted), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(inbox_purge(conn, -1, NULL), -EINVAL);
    db_release(pool, conn);
}

/* Another table purged the same way; names that are not plain identifiers are refused before
 * any SQL is built. */
static void test_purge_table(void **state)
{
    struct db_conn *conn = acquire();
    unsigned long long deleted = 99;
    char id[64];

    (void)state;
    ts_unique("tbl-old", id, sizeof(id));
    assert_int_equal(inbox_record(conn, "purge-table", id, "payment.created"), 0);
    assert_int_equal(db_exec(conn,
                             "UPDATE inbox SET processed_at = NOW(6) - INTERVAL 2 DAY"
                             " WHERE consumer_group = 'purge-table'",
                             NULL, 0, NULL, NULL),
                     0);
    ts_unique("tbl-new", id, sizeof(id));
    assert_int_equal(inbox_record(conn, "purge-table", id, "payment.created"), 0);
    assert_int_equal(inbox_purge_table(conn, "inbox", "processed_at", 86400, &deleted), 0);
    assert_true(deleted >= 1);
    assert_int_equal(count(conn, "purge-table"), 1);
    assert_int_equal(inbox_purge_table(conn, "inbox; DROP TABLE inbox", "processed_at", 1, NULL),
                     -EINVAL);
    assert_int_equal(inbox_purge_table(conn, "inbox", "processed_at < NOW() OR 1", 1, NULL),
                     -EINVAL);
    assert_int_equal(inbox_purge_table(conn, "", "processed_at", 1, NULL), -EINVAL);
    assert_int_equal(inbox_purge_table(conn, "inbox", NULL, 1, NULL), -EINVAL);
    assert_int_equal(count(conn, "purge-table"), 1);
    db_release(pool, conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_once_per_group),
        cmocka_unit_test(test_rollback_forgets),
        cmocka_unit_test(test_purge),
        cmocka_unit_test(test_purge_table),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
