/*
 * it_db.c - the MariaDB layer against a real server: parameters and result text, error
 * mapping, transactions, the pool under threads, migrations and reconnection after KILL.
 * Each run makes its own database and drops it at the end.
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
#include <unistd.h>

#include <cmocka.h>
#include <mysql.h>

#include "common/db.h"
#include "common/util.h"
#include "testsup.h"

static char dbname[96];

static struct db_pool *pool_new_ping(unsigned size, unsigned acquire_ms, unsigned ping_idle_ms)
{
    struct db_opts opts = {
        .host = ts_env("DB_HOST"),
        .port = (unsigned)atoi(ts_env("DB_PORT")),
        .user = ts_env("DB_USER"),
        .password = ts_env("DB_PASSWORD"),
        .database = dbname,
        .pool_size = size,
        .connect_timeout_s = 5,
        .acquire_timeout_ms = acquire_ms,
        .ping_idle_ms = ping_idle_ms,
    };
    char err[256];
    struct db_pool *pool = db_pool_new(&opts, err, sizeof(err));

    if (!pool)
        fail_msg("db_pool_new: %s", err);
    return pool;
}

static struct db_pool *pool_new(unsigned size, unsigned acquire_ms)
{
    return pool_new_ping(size, acquire_ms, 0);
}

static struct db_conn *acquire(struct db_pool *pool)
{
    char err[256];
    struct db_conn *conn = db_acquire(pool, err, sizeof(err));

    if (!conn)
        fail_msg("db_acquire: %s", err);
    return conn;
}

static void exec_ok(struct db_conn *conn, const char *sql)
{
    int rc = db_exec(conn, sql, NULL, 0, NULL, NULL);

    if (rc != 0)
        fail_msg("%s: %d %s", sql, rc, db_errmsg(conn));
}

static long long query_int(struct db_conn *conn, const char *sql)
{
    struct db_result *res = NULL;
    long long v;
    int rc = db_query(conn, sql, NULL, 0, &res);

    if (rc != 0)
        fail_msg("%s: %d %s", sql, rc, db_errmsg(conn));
    assert_int_equal(db_result_rows(res), 1);
    v = db_result_int(res, 0, 0);
    db_result_free(res);
    return v;
}

static int group_setup(void **state)
{
    (void)state;
    if (mysql_library_init(0, NULL, NULL))
        return -1;
    if (ts_create_database("it_db", dbname, sizeof(dbname)) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    struct db_pool *pool = pool_new(1, 1000);
    struct db_conn *conn = acquire(pool);
    char sql[160];

    (void)state;
    snprintf(sql, sizeof(sql), "DROP DATABASE `%s`", dbname);
    exec_ok(conn, sql);
    db_release(pool, conn);
    db_pool_free(pool);
    mysql_library_end();
    return 0;
}

static void test_params_and_text_results(void **state)
{
    struct db_pool *pool = pool_new(2, 2000);
    struct db_conn *conn = acquire(pool);
    struct db_result *res = NULL;
    unsigned long long affected = 0, id1 = 0, id2 = 0;
    char bin[1000], why[256];
    const char bin_short[] = {'a', '\0', 'b', '\xff', '\0'};

    (void)state;
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (char)(i % 251); /* NULs included, longer than the first fetch buffer */
    assert_int_equal(db_ping(pool, why, sizeof(why)), 0);
    exec_ok(conn, "CREATE TABLE p (id BIGINT AUTO_INCREMENT PRIMARY KEY, s VARCHAR(100) NULL,"
                  " b BLOB NULL, n BIGINT NULL, t TEXT NULL) ENGINE=InnoDB");
    assert_int_equal(db_exec(conn, "INSERT INTO p (s, b, n, t) VALUES (?, ?, ?, ?)",
                             (struct db_param[]){DB_STR("h\xc3\xa9llo \xf0\x9f\x98\x80"),
                                                 DB_STRN(bin, sizeof(bin)),
                                                 DB_INT(-9007199254740993LL), DB_NULLP},
                             4, &affected, &id1),
                     0);
    assert_int_equal(affected, 1);
    assert_true(id1 > 0);
    assert_int_equal(db_exec(conn, "INSERT INTO p (s, b, n, t) VALUES (?, ?, ?, ?)",
                             (struct db_param[]){DB_NULLP, DB_STRN(bin_short, sizeof(bin_short)),
                                                 DB_NULLP, DB_STR("")},
                             4, NULL, &id2),
                     0);
    assert_int_equal(id2, id1 + 1);

    assert_int_equal(
        db_query(conn, "SELECT id, s, b, n, t, 1.5, NULL FROM p ORDER BY id", NULL, 0, &res), 0);
    assert_int_equal(db_result_rows(res), 2);
    assert_int_equal(db_result_cols(res), 7);
    assert_int_equal(db_result_int(res, 0, 0), (long long)id1);
    assert_string_equal(db_result_get(res, 0, 1), "h\xc3\xa9llo \xf0\x9f\x98\x80");
    assert_int_equal(db_result_len(res, 0, 2), sizeof(bin));
    assert_memory_equal(db_result_get(res, 0, 2), bin, sizeof(bin));
    assert_int_equal(db_result_int(res, 0, 3), -9007199254740993LL);
    assert_null(db_result_get(res, 0, 4));
    assert_string_equal(db_result_get(res, 0, 5), "1.5");
    assert_null(db_result_get(res, 0, 6));
    assert_null(db_result_get(res, 1, 1));
    assert_int_equal(db_result_len(res, 1, 2), sizeof(bin_short));
    assert_memory_equal(db_result_get(res, 1, 2), bin_short, sizeof(bin_short));
    assert_int_equal(db_result_int(res, 1, 3), 0);
    assert_string_equal(db_result_get(res, 1, 4), "");
    assert_null(db_result_get(res, 2, 0)); /* out of range */
    db_result_free(res);

    /* parameters in WHERE, an empty result */
    assert_int_equal(db_query(conn, "SELECT s FROM p WHERE id = ? AND n = ?",
                              (struct db_param[]){DB_INT(id1), DB_INT(-9007199254740993LL)}, 2,
                              &res),
                     0);
    assert_int_equal(db_result_rows(res), 1);
    db_result_free(res);
    assert_int_equal(
        db_query(conn, "SELECT s FROM p WHERE id = ?", (struct db_param[]){DB_INT(-1)}, 1, &res),
        0);
    assert_int_equal(db_result_rows(res), 0);
    assert_int_equal(db_result_cols(res), 1);
    db_result_free(res);

    /* affected rows are rows matched, even when nothing changes */
    assert_int_equal(db_exec(conn, "UPDATE p SET n = n WHERE id = ?",
                             (struct db_param[]){DB_INT(id1)}, 1, &affected, NULL),
                     0);
    assert_int_equal(affected, 1);

    /* sessions are UTC */
    assert_int_equal(query_int(conn, "SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())"), 0);
    db_release(pool, conn);
    db_pool_free(pool);
}

static void test_error_mapping(void **state)
{
    struct db_pool *pool = pool_new(1, 2000);
    struct db_conn *conn = acquire(pool);
    struct db_result *res = NULL;

    (void)state;
    exec_ok(conn, "CREATE TABLE e (id INT PRIMARY KEY, code VARCHAR(10) UNIQUE) ENGINE=InnoDB");
    assert_int_equal(db_exec(conn, "INSERT INTO e VALUES (?, ?)",
                             (struct db_param[]){DB_INT(1), DB_STR("a")}, 2, NULL, NULL),
                     0);
    assert_int_equal(db_exec(conn, "INSERT INTO e VALUES (?, ?)",
                             (struct db_param[]){DB_INT(2), DB_STR("a")}, 2, NULL, NULL),
                     -EEXIST);
    assert_non_null(strstr(db_errmsg(conn), "Duplicate"));
    assert_int_equal(db_transient(-EEXIST), 0);
    assert_int_equal(db_exec(conn, "INSERT INTO e VALUES (?, ?)",
                             (struct db_param[]){DB_INT(1), DB_STR("b")}, 2, NULL, NULL),
                     -EEXIST);
    assert_int_equal(db_exec(conn, "SELEKT 1", NULL, 0, NULL, NULL), -EINVAL);
    assert_int_equal(db_query(conn, "SELECT * FROM no_such_table", NULL, 0, &res), -EINVAL);
    assert_int_equal(
        db_exec(conn, "INSERT INTO e VALUES (?, ?)", (struct db_param[]){DB_INT(3)}, 1, NULL, NULL),
        -EINVAL); /* parameter count */
    assert_int_equal(db_transient(-EINVAL), 0);
    assert_int_equal(db_transient(-EIO), 1);
    assert_int_equal(db_transient(-EDEADLK), 1);
    /* the connection is still usable after errors */
    assert_int_equal(query_int(conn, "SELECT COUNT(*) FROM e"), 1);
    db_release(pool, conn);
    db_pool_free(pool);
}

static void test_transactions(void **state)
{
    struct db_pool *pool = pool_new(2, 2000);
    struct db_conn *conn = acquire(pool);
    struct db_conn *other = acquire(pool);

    (void)state;
    exec_ok(conn, "CREATE TABLE x (id INT PRIMARY KEY) ENGINE=InnoDB");

    assert_int_equal(db_begin(conn), 0);
    assert_int_equal(db_begin(conn), -EINVAL); /* no nesting */
    assert_int_equal(
        db_exec(conn, "INSERT INTO x VALUES (?)", (struct db_param[]){DB_INT(1)}, 1, NULL, NULL),
        0);
    assert_int_equal(
        db_exec(conn, "INSERT INTO x VALUES (?)", (struct db_param[]){DB_INT(2)}, 1, NULL, NULL),
        0);
    assert_int_equal(query_int(other, "SELECT COUNT(*) FROM x"), 0); /* not yet visible */
    assert_int_equal(db_rollback(conn), 0);
    assert_int_equal(query_int(conn, "SELECT COUNT(*) FROM x"), 0);

    assert_int_equal(db_begin(conn), 0);
    assert_int_equal(
        db_exec(conn, "INSERT INTO x VALUES (?)", (struct db_param[]){DB_INT(3)}, 1, NULL, NULL),
        0);
    assert_int_equal(db_commit(conn), 0);
    assert_int_equal(db_commit(conn), -EINVAL); /* none open */
    assert_int_equal(query_int(other, "SELECT COUNT(*) FROM x"), 1);

    /* autocommit is back on after the transaction */
    assert_int_equal(
        db_exec(conn, "INSERT INTO x VALUES (?)", (struct db_param[]){DB_INT(4)}, 1, NULL, NULL),
        0);
    assert_int_equal(query_int(other, "SELECT COUNT(*) FROM x"), 2);

    /* released inside a transaction: rolled back */
    assert_int_equal(db_begin(conn), 0);
    assert_int_equal(
        db_exec(conn, "INSERT INTO x VALUES (?)", (struct db_param[]){DB_INT(5)}, 1, NULL, NULL),
        0);
    db_release(pool, conn);
    assert_int_equal(query_int(other, "SELECT COUNT(*) FROM x"), 2);
    conn = acquire(pool);
    assert_int_equal(query_int(conn, "SELECT @@in_transaction"), 0);
    db_release(pool, conn);
    db_release(pool, other);
    db_pool_free(pool);
}

/* What db_on_end's hooks saw: "<tag><committed> " per call, and whether a committed hook could
 * read the committed row on its connection. */
struct ends {
    char log[128];
    long long seen; /* COUNT(*) of y read by the hook on the connection, -1 = not read */
};

static void end_log(struct db_conn *conn, void *arg, bool committed, char tag)
{
    struct ends *e = arg;
    size_t len = strlen(e->log);

    snprintf(e->log + len, sizeof(e->log) - len, "%c%d ", tag, committed);
    if (committed && tag == 'a')
        e->seen = query_int(conn, "SELECT COUNT(*) FROM y"); /* outside the transaction now */
}

static void end_a(struct db_conn *conn, void *arg, bool committed)
{
    end_log(conn, arg, committed, 'a');
}

static void end_b(struct db_conn *conn, void *arg, bool committed)
{
    end_log(conn, arg, committed, 'b');
}

static void kill_session(struct db_conn *watcher, long long id);

/* db_on_end: hooks run once, in order, when the transaction ends, committed or not. */
static void test_transaction_end_hooks(void **state)
{
    struct db_pool *pool = pool_new(1, 2000);
    struct db_pool *admin = pool_new(1, 2000);
    struct db_conn *watcher = acquire(admin);
    struct db_conn *conn = acquire(pool);
    struct ends e = {.seen = -1};

    (void)state;
    exec_ok(conn, "CREATE TABLE y (id INT PRIMARY KEY) ENGINE=InnoDB");
    assert_int_equal(db_on_end(conn, end_a, &e), -EINVAL); /* no transaction */

    /* committed: both, in order, after the commit (the row visible, autocommit back on) */
    assert_int_equal(db_begin(conn), 0);
    exec_ok(conn, "INSERT INTO y VALUES (1)");
    assert_null(db_on_end_arg(conn, end_a));
    assert_int_equal(db_on_end(conn, end_a, &e), 0);
    assert_int_equal(db_on_end(conn, end_b, &e), 0);
    assert_ptr_equal(db_on_end_arg(conn, end_b), &e); /* a hook gathering the transaction */
    assert_string_equal(e.log, "");                   /* not before the end */
    assert_int_equal(db_commit(conn), 0);
    assert_string_equal(e.log, "a1 b1 ");
    assert_int_equal(e.seen, 1);
    assert_null(db_on_end_arg(conn, end_a)); /* ended with its transaction */

    /* rolled back; then a transaction without hooks calls none */
    e = (struct ends){.seen = -1};
    assert_int_equal(db_begin(conn), 0);
    for (int i = 0; i < 9; i++) /* beyond the first allocation */
        assert_int_equal(db_on_end(conn, i % 2 ? end_b : end_a, &e), 0);
    assert_int_equal(db_rollback(conn), 0);
    assert_string_equal(e.log, "a0 b0 a0 b0 a0 b0 a0 b0 a0 ");
    assert_int_equal(db_begin(conn), 0);
    assert_int_equal(db_commit(conn), 0);
    assert_string_equal(e.log, "a0 b0 a0 b0 a0 b0 a0 b0 a0 ");

    /* released inside the transaction: not committed */
    e = (struct ends){.seen = -1};
    assert_int_equal(db_begin(conn), 0);
    exec_ok(conn, "INSERT INTO y VALUES (2)");
    assert_int_equal(db_on_end(conn, end_a, &e), 0);
    db_release(pool, conn);
    assert_string_equal(e.log, "a0 ");
    assert_int_equal(e.seen, -1);

    /* a commit that fails (the session lost inside the transaction): not committed */
    conn = acquire(pool);
    e = (struct ends){.seen = -1};
    assert_int_equal(db_begin(conn), 0);
    exec_ok(conn, "INSERT INTO y VALUES (3)");
    assert_int_equal(db_on_end(conn, end_a, &e), 0);
    kill_session(watcher, query_int(conn, "SELECT CONNECTION_ID()"));
    assert_int_equal(db_commit(conn), -EIO);
    assert_string_equal(e.log, "a0 ");
    db_release(pool, conn);
    conn = acquire(pool);
    assert_int_equal(query_int(conn, "SELECT COUNT(*) FROM y"), 1);
    db_release(pool, conn);
    db_release(admin, watcher);
    db_pool_free(admin);
    db_pool_free(pool);
}

#define POOL_THREADS 8
#define POOL_ROUNDS 25

struct worker {
    struct db_pool *pool;
    int n;
    int failures;
};

static void *pool_worker(void *arg)
{
    struct worker *w = arg;
    char err[256];

    for (int i = 0; i < POOL_ROUNDS; i++) {
        struct db_conn *conn = db_acquire(w->pool, err, sizeof(err));

        if (!conn) {
            w->failures++;
            continue;
        }
        if (db_begin(conn) != 0 ||
            db_exec(conn, "INSERT INTO w (worker, i) VALUES (?, ?)",
                    (struct db_param[]){DB_INT(w->n), DB_INT(i)}, 2, NULL, NULL) != 0 ||
            db_commit(conn) != 0)
            w->failures++;
        db_release(w->pool, conn);
    }
    return NULL;
}

static void test_pool_threads(void **state)
{
    struct db_pool *pool = pool_new(3, 10000);
    struct worker workers[POOL_THREADS];
    pthread_t threads[POOL_THREADS];
    struct db_conn *conn = acquire(pool);
    struct db_pool *tiny;
    struct db_conn *held;
    char err[256];

    (void)state;
    exec_ok(conn, "CREATE TABLE w (worker INT, i INT, PRIMARY KEY (worker, i)) ENGINE=InnoDB");
    db_release(pool, conn);
    for (int t = 0; t < POOL_THREADS; t++) {
        workers[t] = (struct worker){pool, t, 0};
        assert_int_equal(pthread_create(&threads[t], NULL, pool_worker, &workers[t]), 0);
    }
    for (int t = 0; t < POOL_THREADS; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(workers[t].failures, 0);
    }
    conn = acquire(pool);
    assert_int_equal(query_int(conn, "SELECT COUNT(*) FROM w"), POOL_THREADS * POOL_ROUNDS);
    /* never more sessions than the pool size (only this pool uses the database now) */
    {
        struct db_result *res = NULL;

        assert_int_equal(db_query(conn,
                                  "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
                                  " WHERE DB = ?",
                                  (struct db_param[]){DB_STR(dbname)}, 1, &res),
                         0);
        assert_in_range(db_result_int(res, 0, 0), 1, 3);
        db_result_free(res);
    }
    db_release(pool, conn);

    /* a pool of one: a second acquire times out while the first is held */
    tiny = pool_new(1, 200);
    held = acquire(tiny);
    assert_null(db_acquire(tiny, err, sizeof(err)));
    assert_non_null(strstr(err, "no free"));
    db_release(tiny, held);
    held = acquire(tiny);
    db_release(tiny, held);
    db_pool_free(tiny);
    db_pool_free(pool);
}

static const struct db_migration MIGS_V1[] = {
    {2, "add_rows",
     "-- a comment line; with a semicolon\n"
     "INSERT INTO m (id, label) VALUES (1, 'one');\n"
     "\n"
     "  ;\n"
     "INSERT INTO m (id, label)\n"
     "  VALUES (2, 'two;still');\n"},
    {1, "create_m",
     "CREATE TABLE m (\n"
     "  id INT PRIMARY KEY,\n"
     "  label VARCHAR(32) NOT NULL\n"
     ") ENGINE=InnoDB;\n"
     "-- trailing comment\n"},
};

struct migrate_arg {
    struct db_pool *pool;
    int rc;
};

static void *migrate_worker(void *arg)
{
    struct migrate_arg *a = arg;
    char err[256];
    struct db_conn *conn = db_acquire(a->pool, err, sizeof(err));

    if (!conn) {
        a->rc = -EIO;
        return NULL;
    }
    a->rc = db_migrate(conn, "itm", MIGS_V1, 2, err, sizeof(err));
    db_release(a->pool, conn);
    return NULL;
}

static void test_migrate(void **state)
{
    struct db_pool *pool = pool_new(4, 5000);
    struct migrate_arg args[3];
    pthread_t threads[3];
    struct db_conn *conn;
    struct db_result *res = NULL;
    char err[256];
    const struct db_migration v2[] = {
        MIGS_V1[0],
        MIGS_V1[1],
        {3, "more", "INSERT INTO m (id, label) VALUES (3, 'three');"}, /* no trailing newline */
    };
    const struct db_migration bad[] = {{4, "broken",
                                        "INSERT INTO m VALUES (4, 'x');\n"
                                        "INSERT INTO nope VALUES (1);\n"}};
    const struct db_migration dup[] = {{7, "a", "SELECT 1;"}, {7, "b", "SELECT 2;"}};

    (void)state;
    /* three starters at once: each migration runs exactly once */
    for (int t = 0; t < 3; t++) {
        args[t] = (struct migrate_arg){pool, 1};
        assert_int_equal(pthread_create(&threads[t], NULL, migrate_worker, &args[t]), 0);
    }
    for (int t = 0; t < 3; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(args[t].rc, 0);
    }
    conn = acquire(pool);
    assert_int_equal(query_int(conn, "SELECT COUNT(*) FROM m"), 2);
    assert_int_equal(db_query(conn, "SELECT label FROM m WHERE id = 2", NULL, 0, &res), 0);
    assert_string_equal(db_result_get(res, 0, 0), "two;still");
    db_result_free(res);

    /* idempotent re-run, then one more version */
    assert_int_equal(db_migrate(conn, "itm", MIGS_V1, 2, err, sizeof(err)), 0);
    assert_int_equal(db_migrate(conn, "itm", v2, 3, err, sizeof(err)), 0);
    assert_int_equal(query_int(conn, "SELECT COUNT(*) FROM m"), 3);
    assert_int_equal(db_query(conn,
                              "SELECT version, name FROM schema_migrations WHERE scope = ?"
                              " ORDER BY version",
                              (struct db_param[]){DB_STR("itm")}, 1, &res),
                     0);
    assert_int_equal(db_result_rows(res), 3);
    assert_string_equal(db_result_get(res, 0, 1), "create_m");
    assert_string_equal(db_result_get(res, 2, 1), "more");
    db_result_free(res);

    /* another scope has its own versions */
    assert_int_equal(db_migrate(conn, "other", (struct db_migration[]){{1, "x", "SELECT 1;"}}, 1,
                                err, sizeof(err)),
                     0);

    /* a failing migration is reported and not recorded */
    assert_int_equal(db_migrate(conn, "itm", bad, 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "004_broken"));
    assert_non_null(strstr(err, "statement 2"));
    assert_int_equal(query_int(conn, "SELECT COUNT(*) FROM schema_migrations WHERE version = 4"),
                     0);
    assert_int_equal(db_migrate(conn, "itm", dup, 2, err, sizeof(err)), -EINVAL);
    /* the named lock was released every time */
    assert_int_equal(query_int(conn, "SELECT IS_FREE_LOCK('schema_migrations')"), 1);
    db_release(pool, conn);
    db_pool_free(pool);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_migrate_dir(void **state)
{
    struct db_pool *pool = pool_new(1, 2000);
    struct db_conn *conn = acquire(pool);
    struct db_result *res = NULL;
    char dir[] = "/tmp/it_db_migXXXXXX", err[256], path[600];
    const char *names[] = {"010_fill.sql", "002_add_col.sql", "001_init.sql", "README.txt"};

    (void)state;
    assert_non_null(mkdtemp(dir));
    /* each depends on the one before, so lexical-by-creation or readdir order would fail */
    write_file(dir, names[0], "INSERT INTO d (id, extra) VALUES (1, 'x');\n");
    write_file(dir, names[1], "-- second\nALTER TABLE d ADD COLUMN extra VARCHAR(8);\n");
    write_file(dir, names[2], "CREATE TABLE d (id INT PRIMARY KEY);\n");
    write_file(dir, names[3], "not sql");
    assert_int_equal(db_migrate_dir(conn, "dir", dir, err, sizeof(err)), 0);
    assert_int_equal(db_migrate_dir(conn, "dir", dir, err, sizeof(err)), 0);
    assert_int_equal(db_query(conn,
                              "SELECT version, name FROM schema_migrations WHERE scope = 'dir'"
                              " ORDER BY applied_at, version",
                              NULL, 0, &res),
                     0);
    assert_int_equal(db_result_rows(res), 3);
    assert_int_equal(db_result_int(res, 0, 0), 1);
    assert_string_equal(db_result_get(res, 0, 1), "init");
    assert_int_equal(db_result_int(res, 1, 0), 2);
    assert_int_equal(db_result_int(res, 2, 0), 10);
    assert_string_equal(db_result_get(res, 2, 1), "fill");
    db_result_free(res);
    assert_int_equal(query_int(conn, "SELECT COUNT(*) FROM d WHERE extra = 'x'"), 1);
    assert_int_equal(db_migrate_dir(conn, "dir", "/nonexistent/dir", err, sizeof(err)), -ENOENT);

    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    db_release(pool, conn);
    db_pool_free(pool);
}

struct gone_arg {
    struct db_conn *watcher;
    long long id;
};

static bool session_gone(void *arg)
{
    struct gone_arg *g = arg;
    struct db_result *res = NULL;
    bool gone;

    if (db_query(g->watcher, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?",
                 (struct db_param[]){DB_INT(g->id)}, 1, &res) != 0)
        return false;
    gone = db_result_int(res, 0, 0) == 0;
    db_result_free(res);
    return gone;
}

static void kill_session(struct db_conn *watcher, long long id)
{
    struct gone_arg g = {watcher, id};
    char sql[64];

    snprintf(sql, sizeof(sql), "KILL %lld", id);
    exec_ok(watcher, sql);
    assert_true(ts_poll_until(session_gone, &g, 5000));
}

/* The clock passed *@arg (ms): a connection released before is idle past a 1 ms ping_idle_ms. */
static bool idle_past_ping(void *arg)
{
    return util_now_mono_ms() >= *(int64_t *)arg;
}

static void test_reconnect_after_kill(void **state)
{
    struct db_pool *pool = pool_new_ping(1, 2000, 1); /* every checkout after 1 ms pings */
    struct db_pool *admin = pool_new(1, 2000);
    struct db_conn *watcher = acquire(admin);
    struct db_conn *conn = acquire(pool);
    struct db_result *res = NULL;
    long long id1, id2, id3;
    char why[256];

    (void)state;
    id1 = query_int(conn, "SELECT CONNECTION_ID()");
    db_release(pool, conn);

    /* killed while idle in the pool (longer than ping_idle_ms): the next acquire pings and
     * reconnects */
    kill_session(watcher, id1);
    assert_true(ts_poll_until(idle_past_ping, &(int64_t){util_now_mono_ms() + 2}, 1000));
    conn = acquire(pool);
    id2 = query_int(conn, "SELECT CONNECTION_ID()");
    assert_int_not_equal(id1, id2);

    /* killed while checked out: one failed call, then the connection is reopened */
    kill_session(watcher, id2);
    assert_int_equal(db_query(conn, "SELECT CONNECTION_ID()", NULL, 0, &res), -EIO);
    id3 = query_int(conn, "SELECT CONNECTION_ID()");
    assert_int_not_equal(id3, id2);

    /* killed inside a transaction: the loss is reported, never silently retried */
    assert_int_equal(db_begin(conn), 0);
    kill_session(watcher, id3);
    assert_int_equal(db_exec(conn, "SELECT 1", NULL, 0, NULL, NULL), -EIO);
    assert_int_equal(db_exec(conn, "SELECT 1", NULL, 0, NULL, NULL), -EIO);
    assert_int_equal(db_commit(conn), -EIO);
    db_release(pool, conn);
    assert_int_equal(db_ping(pool, why, sizeof(why)), 0);

    db_release(admin, watcher);
    db_pool_free(admin);
    db_pool_free(pool);
}

/* Com_stmt_prepare / Com_stmt_close of @conn's own session so far. */
static void stmt_counts(struct db_conn *conn, long long *prepares, long long *closes)
{
    struct db_result *res = NULL;

    if (db_query(conn,
                 "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.SESSION_STATUS"
                 " WHERE VARIABLE_NAME IN ('COM_STMT_PREPARE', 'COM_STMT_CLOSE')"
                 " ORDER BY VARIABLE_NAME",
                 NULL, 0, &res) != 0)
        fail_msg("session status: %s", db_errmsg(conn));
    assert_int_equal(db_result_rows(res), 2);
    *closes = db_result_int(res, 0, 1);   /* COM_STMT_CLOSE sorts first */
    *prepares = db_result_int(res, 1, 1); /* COM_STMT_PREPARE */
    db_result_free(res);
}

/* A statement run again on a connection is not prepared again, whatever its parameters and
 * whether its last run failed on a key; past DB_STMT_CACHE statements the least recently used
 * are closed and prepared again when needed, with the right answers throughout. */
static void test_statements_are_kept(void **state)
{
    struct db_pool *pool = pool_new(1, 2000);
    struct db_conn *conn = acquire(pool);
    struct db_result *res = NULL;
    long long p0, c0, p1, c1;
    char sql[96];

    (void)state;
    exec_ok(conn, "CREATE TABLE IF NOT EXISTS kept (id INT PRIMARY KEY, v VARCHAR(16))");
    exec_ok(conn, "DELETE FROM kept");
    stmt_counts(conn, &p0, &c0); /* the status query itself is kept from here on */
    stmt_counts(conn, &p0, &c0);
    for (int i = 0; i < 5; i++) {
        char v[16];

        snprintf(v, sizeof(v), "v%d", i);
        assert_int_equal(db_exec(conn, "INSERT INTO kept (id, v) VALUES (?, ?)",
                                 (struct db_param[]){DB_INT(i), DB_STR(v)}, 2, NULL, NULL),
                         0);
        assert_int_equal(db_query(conn, "SELECT v FROM kept WHERE id = ?",
                                  (struct db_param[]){DB_INT(i)}, 1, &res),
                         0);
        assert_string_equal(db_result_get(res, 0, 0), v);
        db_result_free(res);
    }
    /* a duplicate key, then the same statement with a fresh key */
    assert_int_equal(db_exec(conn, "INSERT INTO kept (id, v) VALUES (?, ?)",
                             (struct db_param[]){DB_INT(0), DB_STR("dup")}, 2, NULL, NULL),
                     -EEXIST);
    assert_int_equal(db_exec(conn, "INSERT INTO kept (id, v) VALUES (?, ?)",
                             (struct db_param[]){DB_INT(9), DB_STR("v9")}, 2, NULL, NULL),
                     0);
    /* a wrong parameter count is refused and leaves the kept statement usable */
    assert_int_equal(db_query(conn, "SELECT v FROM kept WHERE id = ?", NULL, 0, &res), -EINVAL);
    assert_int_equal(
        db_query(conn, "SELECT v FROM kept WHERE id = ?", (struct db_param[]){DB_INT(9)}, 1, &res),
        0);
    assert_string_equal(db_result_get(res, 0, 0), "v9");
    db_result_free(res);
    /* db_exec of a statement with rows nobody reads: kept, and the session stays in step */
    for (int i = 0; i < 2; i++)
        assert_int_equal(db_exec(conn, "SELECT id FROM kept ORDER BY id", NULL, 0, NULL, NULL), 0);
    assert_int_equal(
        db_query(conn, "SELECT v FROM kept WHERE id = ?", (struct db_param[]){DB_INT(4)}, 1, &res),
        0);
    assert_string_equal(db_result_get(res, 0, 0), "v4");
    db_result_free(res);
    stmt_counts(conn, &p1, &c1);
    assert_int_equal(p1 - p0, 3); /* the INSERT, the SELECT and the unread SELECT, once each */
    assert_int_equal(c1 - c0, 0);

    /* 40 distinct statements: more than are kept; each answers its own value */
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 40; i++) {
            snprintf(sql, sizeof(sql), "SELECT ? + %d", i);
            assert_int_equal(db_query(conn, sql, (struct db_param[]){DB_INT(1000)}, 1, &res), 0);
            assert_int_equal(db_result_int(res, 0, 0), 1000 + i);
            db_result_free(res);
        }
    stmt_counts(conn, &p0, &c0);
    assert_true(p0 - p1 > 40); /* evicted ones were prepared again in the second round */
    assert_true(c0 - c1 > 0);  /* and the evicted were closed on the server */
    assert_true(c0 - c1 <= p0 - p1);
    exec_ok(conn, "DROP TABLE kept");
    db_release(pool, conn);
    db_pool_free(pool);
}

/* Runs "SELECT ? + @i" on @conn and checks the answer. */
static void select_plus(struct db_conn *conn, int i)
{
    struct db_result *res = NULL;
    char sql[64];

    snprintf(sql, sizeof(sql), "SELECT ? + %d", i);
    assert_int_equal(db_query(conn, sql, (struct db_param[]){DB_INT(1000)}, 1, &res), 0);
    assert_int_equal(db_result_int(res, 0, 0), 1000 + i);
    db_result_free(res);
}

/* A full cache evicts the statement used longest ago, not one used a moment ago. The cache
 * holds 32: the status query and S1..S31 fill it. */
static void test_least_recently_used_is_evicted(void **state)
{
    struct db_pool *pool = pool_new(1, 2000);
    struct db_conn *conn = acquire(pool);
    long long p0, c0, p1, c1;

    (void)state;
    stmt_counts(conn, &p0, &c0); /* the status query: kept, and now the oldest */
    for (int i = 1; i <= 31; i++)
        select_plus(conn, i);
    select_plus(conn, 1);  /* S1 used again: S2 is now the oldest after the status query */
    select_plus(conn, 32); /* evicts the status query */
    select_plus(conn, 1);  /* still kept */
    select_plus(conn, 33); /* evicts S2 */
    select_plus(conn, 32); /* still kept */
    stmt_counts(conn, &p1, &c1);
    /* S1..S33 once each and the status query again; nothing used recently prepared twice */
    assert_int_equal(p1 - p0, 34);
    assert_int_equal(c1 - c0, 3); /* the status query, S2 and, for its return, S3 */
    db_release(pool, conn);
    db_pool_free(pool);
}

/* A session lost while the connection sat in the pool for less than ping_idle_ms (no ping at
 * checkout): db_begin starts the transaction on a new session, kept statements are prepared
 * there again; any other first call fails once, as db.h says. */
static void test_lost_session_without_ping(void **state)
{
    struct db_pool *pool = pool_new_ping(1, 2000, 60000);
    struct db_pool *admin = pool_new(1, 2000);
    struct db_conn *watcher = acquire(admin);
    struct db_conn *conn = acquire(pool);
    struct db_result *res = NULL;
    long long id1, id2, id3;

    (void)state;
    id1 = query_int(conn, "SELECT CONNECTION_ID()");
    db_release(pool, conn);
    kill_session(watcher, id1);

    conn = acquire(pool); /* used a moment ago: not pinged */
    assert_int_equal(db_begin(conn), 0);
    id2 = query_int(conn, "SELECT CONNECTION_ID()"); /* the kept statement, prepared anew */
    assert_int_not_equal(id1, id2);
    assert_int_equal(db_commit(conn), 0);
    db_release(pool, conn);
    kill_session(watcher, id2);

    conn = acquire(pool);
    assert_int_equal(db_query(conn, "SELECT CONNECTION_ID()", NULL, 0, &res), -EIO);
    id3 = query_int(conn, "SELECT CONNECTION_ID()");
    assert_int_not_equal(id3, id2);
    db_release(pool, conn);
    db_release(admin, watcher);
    db_pool_free(admin);
    db_pool_free(pool);
}

static void test_unreachable(void **state)
{
    struct db_opts opts = {
        .host = "127.0.0.1",
        .port = 1,
        .user = "x",
        .password = "y",
        .database = "z",
        .pool_size = 1,
        .connect_timeout_s = 2,
        .acquire_timeout_ms = 500,
    };
    char err[256], why[256];
    struct db_pool *pool = db_pool_new(&opts, err, sizeof(err)); /* lazy: succeeds */

    (void)state;
    assert_non_null(pool);
    assert_null(db_acquire(pool, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot connect"));
    assert_int_equal(db_ping(pool, why, sizeof(why)), -EIO);
    db_pool_free(pool);
    opts.create_database = true;
    opts.database = "bad name";
    assert_null(db_pool_new(&opts, err, sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_and_text_results),
        cmocka_unit_test(test_error_mapping),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_transaction_end_hooks),
        cmocka_unit_test(test_pool_threads),
        cmocka_unit_test(test_migrate),
        cmocka_unit_test(test_migrate_dir),
        cmocka_unit_test(test_reconnect_after_kill),
        cmocka_unit_test(test_statements_are_kept),
        cmocka_unit_test(test_least_recently_used_is_evicted),
        cmocka_unit_test(test_lost_session_without_ping),
        cmocka_unit_test(test_unreachable),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
