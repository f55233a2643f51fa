/*
 * db.c - MariaDB access (see db.h): a mutex + condvar pool of lazily opened connections,
 * prepared statements with results fetched as text, transactions and migrations.
 *
 * Sessions run with utf8mb4, time_zone '+00:00' (so NOW(6) and DATETIME columns are UTC in
 * every service) and autocommit on; db_begin starts an explicit transaction. Affected rows
 * are rows *matched* (CLIENT_FOUND_ROWS), so "UPDATE … WHERE id=? AND status=?" reports 1 even
 * when the new values equal the old ones.
 *
 * Errors are counted in commerce_db_errors_total{kind} where they are mapped: connection (failed
 * connects, lost sessions), deadlock (and lock wait timeouts), duplicate (key) and sql (the rest).
 *
 * Round trips are what a hop pays for, so each connection keeps its last DB_STMT_CACHE prepared
 * statements (keyed by their SQL text; least recently used evicted): a statement seen before is
 * one round trip (execute) instead of three packets (prepare, execute, close). A connection is
 * pinged at checkout only when it was idle for ping_idle_ms (DB_PING_IDLE_MS) or more: a server
 * that restarted meanwhile (which takes longer than that) is noticed there, a lost session costs
 * db_begin nothing (it starts the transaction on a new one) and any other call the one failed
 * call db.h promises.
 */
#include "common/db.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "common/metrics.h"
#include "common/util.h"
#include "common/worker.h"

#define DB_METRIC_ERRORS "commerce_db_errors_total"
#define DB_DEFAULT_TIMEOUT_S 5
#define DB_DEFAULT_ACQUIRE_MS 5000
#define DB_CELL_BUF 256                   /* first fetch buffer per column; larger is re-fetched */
#define DB_MIGRATION_MAX_BYTES (4u << 20) /* cap on one migration file */
#define DB_MIGRATE_LOCK_S 30
#define DB_STMT_CACHE 32     /* prepared statements kept per connection */
#define DB_PING_IDLE_MS 1000 /* default: checkout pings a connection idle at least this long */

/* A hook of the open transaction (db_on_end). */
struct db_end {
    db_end_fn *fn;
    void *arg;
};

/* A prepared statement kept on its connection. */
struct db_stmt {
    char *sql;               /* its text (owned); NULL: a free slot */
    size_t len;              /* strlen(sql) */
    MYSQL_STMT *stmt;        /* prepared on the connection */
    unsigned long long used; /* the connection's tick at its last use: LRU */
};

struct db_conn {
    MYSQL *mysql;     /* NULL until connected */
    bool busy;        /* checked out */
    bool in_tx;       /* inside db_begin … db_commit/db_rollback */
    bool broken;      /* the connection was lost: reconnect before the next use */
    char errmsg[512]; /* last error, for db_errmsg */
    struct db_pool *pool;
    struct db_stmt stmts[DB_STMT_CACHE]; /* prepared statements kept (db__stmt_*) */
    unsigned long long tick;             /* statements run: the LRU clock */
    int64_t released_ms;                 /* monotonic ms of the last db_release, 0 = never */
    struct db_end *ends;                 /* db_on_end() hooks of the open transaction */
    size_t nends, ends_cap;
};

struct db_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *host, *user, *password, *database;
    unsigned port;
    unsigned timeout_s;
    unsigned acquire_ms;
    unsigned ping_idle_ms;
    unsigned n;
    struct db_conn *conns;
};

struct db_cell {
    char *s; /* NUL-terminated copy, NULL for SQL NULL */
    size_t len;
};

struct db_result {
    size_t nrows, ncols, cap; /* cap in rows */
    struct db_cell *cells;    /* row-major */
};

/* ---- errors ---- */

/* Counts one MariaDB error in commerce_db_errors_total{kind}: connection, deadlock, duplicate or
 * sql. Registering is idempotent, so the family appears on first use (and again after a
 * metrics_reset()). */
static void db__count_error(const char *kind)
{
    metrics_counter(DB_METRIC_ERRORS,
                    "MariaDB errors by kind (connection, deadlock, duplicate, sql).", "kind");
    metrics_inc(DB_METRIC_ERRORS, (const char *const[]){kind}, 1);
}

static const char *db__error_kind(int rc)
{
    switch (rc) {
    case -EEXIST:
        return "duplicate";
    case -EDEADLK:
        return "deadlock";
    case -EIO:
        return "connection";
    default:
        return "sql";
    }
}

static int db__map_errno(unsigned err)
{
    switch (err) {
    case ER_DUP_ENTRY:
        return -EEXIST;
    case ER_LOCK_DEADLOCK:
    case ER_LOCK_WAIT_TIMEOUT:
        return -EDEADLK;
    case CR_CONNECTION_ERROR:  /* 2002 */
    case CR_CONN_HOST_ERROR:   /* 2003 */
    case CR_SERVER_GONE_ERROR: /* 2006 */
    case CR_SERVER_LOST:       /* 2013 */
    case CR_SERVER_LOST_EXTENDED:
    case ER_CONNECTION_KILLED: /* 1927 */
    case ER_SERVER_SHUTDOWN:   /* 1053 */
    case ER_CON_COUNT_ERROR:   /* 1040 too many connections */
    case 4031:                 /* ER_CLIENT_INTERACTION_TIMEOUT (10.6+) */
        return -EIO;
    default:
        return -EINVAL;
    }
}

/* Records the error of @mysql (or @stmt when not NULL) on @conn and maps it. */
static int db__fail(struct db_conn *conn, MYSQL_STMT *stmt)
{
    unsigned err = stmt ? mysql_stmt_errno(stmt) : mysql_errno(conn->mysql);
    const char *msg = stmt ? mysql_stmt_error(stmt) : mysql_error(conn->mysql);
    int rc = db__map_errno(err);

    snprintf(conn->errmsg, sizeof(conn->errmsg), "%u: %s", err, msg ? msg : "");
    db__count_error(db__error_kind(rc));
    if (rc == -EIO)
        conn->broken = true;
    return rc;
}

static void db__set_msg(struct db_conn *conn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void db__set_msg(struct db_conn *conn, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(conn->errmsg, sizeof(conn->errmsg), fmt, ap);
    va_end(ap);
}

int db_transient(int rc)
{
    return rc == -EIO || rc == -EDEADLK;
}

const char *db_errmsg(const struct db_conn *conn)
{
    return conn ? conn->errmsg : "";
}

struct db_pool *db_conn_pool(const struct db_conn *conn)
{
    return conn->pool;
}

/* ---- prepared statements kept per connection ---- */

static void db__stmt_drop(struct db_stmt *st)
{
    if (st->stmt)
        mysql_stmt_close(st->stmt);
    free(st->sql);
    *st = (struct db_stmt){0};
}

/* The kept statement of @sql on @conn, or NULL. */
static struct db_stmt *db__stmt_find(struct db_conn *conn, const char *sql, size_t len)
{
    for (size_t i = 0; i < DB_STMT_CACHE; i++) {
        struct db_stmt *st = &conn->stmts[i];

        if (st->sql && st->len == len && memcmp(st->sql, sql, len) == 0)
            return st;
    }
    return NULL;
}

/* Keeps @stmt (prepared from @sql) on @conn, evicting the least recently used; the slot, or
 * NULL when out of memory (the caller then closes @stmt after use). */
static struct db_stmt *db__stmt_keep(struct db_conn *conn, const char *sql, size_t len,
                                     MYSQL_STMT *stmt)
{
    struct db_stmt *victim = &conn->stmts[0];
    char *copy = malloc(len + 1);

    if (!copy)
        return NULL;
    memcpy(copy, sql, len + 1);
    for (size_t i = 0; i < DB_STMT_CACHE; i++) {
        struct db_stmt *st = &conn->stmts[i];

        if (!st->sql) {
            victim = st;
            break;
        }
        if (st->used < victim->used)
            victim = st;
    }
    db__stmt_drop(victim);
    *victim = (struct db_stmt){.sql = copy, .len = len, .stmt = stmt, .used = ++conn->tick};
    return victim;
}

/* Ends one use of @stmt: a kept statement (@st) stays prepared for the next call unless @failed
 * (a result read only in part: its state is unknown); any other is closed. */
static void db__stmt_done(MYSQL_STMT *stmt, struct db_stmt *st, bool failed)
{
    if (!stmt)
        return;
    if (!st) {
        mysql_stmt_close(stmt);
    } else if (failed) {
        db__stmt_drop(st);
    } else {
        mysql_stmt_free_result(stmt);
    }
}

/* ---- connections ---- */

static void db__ended(struct db_conn *conn, bool committed);

static void db__close(struct db_conn *conn)
{
    for (size_t i = 0; i < DB_STMT_CACHE; i++)
        db__stmt_drop(&conn->stmts[i]);
    if (conn->mysql)
        mysql_close(conn->mysql);
    conn->mysql = NULL;
    if (conn->in_tx) {
        conn->in_tx = false;
        db__ended(conn, false);
    }
    conn->broken = false;
}

/* Opens a session on @pool's server; @database may be NULL. NULL with a reason in @errbuf. */
static MYSQL *db__open(const struct db_pool *pool, const char *database, char *errbuf,
                       size_t errlen)
{
    MYSQL *mysql = mysql_init(NULL);
    unsigned timeout = pool->timeout_s;
    my_bool off = 0;

    if (!mysql) {
        snprintf(errbuf, errlen, "mysql_init: out of memory");
        return NULL;
    }
    mysql_options(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(mysql, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_options(mysql, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    mysql_options(mysql, MYSQL_OPT_RECONNECT, &off); /* we reconnect ourselves, visibly */
    mysql_options(mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options(mysql, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
    if (!mysql_real_connect(mysql, pool->host, pool->user, pool->password, database, pool->port,
                            NULL, CLIENT_FOUND_ROWS)) {
        snprintf(errbuf, errlen, "cannot connect to mariadb %s:%u: %u: %s", pool->host, pool->port,
                 mysql_errno(mysql), mysql_error(mysql));
        db__count_error("connection");
        mysql_close(mysql);
        return NULL;
    }
    if (mysql_autocommit(mysql, 1)) {
        snprintf(errbuf, errlen, "autocommit: %s", mysql_error(mysql));
        mysql_close(mysql);
        return NULL;
    }
    return mysql;
}

/* Makes @conn usable: connects if it is not, else (with @ping) pings and reconnects if the
 * server went away. 0 or -EIO with a reason in @errbuf. */
static int db__ensure(struct db_conn *conn, bool ping, char *errbuf, size_t errlen)
{
    if (conn->mysql && !conn->broken && (!ping || mysql_ping(conn->mysql) == 0))
        return 0;
    db__close(conn);
    conn->mysql = db__open(conn->pool, conn->pool->database, errbuf, errlen);
    if (!conn->mysql) {
        db__set_msg(conn, "%s", errbuf);
        return -EIO;
    }
    conn->errmsg[0] = '\0';
    return 0;
}

/* Before a statement: a connection lost outside a transaction is reopened, so a caller sees
 * at most one failed call; inside a transaction the loss is reported (its work is gone). */
static int db__ready(struct db_conn *conn)
{
    char errbuf[256];

    if (!conn->mysql || conn->broken) {
        if (conn->in_tx) {
            db__set_msg(conn, "connection lost inside a transaction");
            return -EIO;
        }
        return db__ensure(conn, false, errbuf, sizeof(errbuf));
    }
    return 0;
}

static int db__valid_ident(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '$')
            return 0;
    return n > 0 && n <= 64;
}

static char *db__strdup0(const char *s)
{
    return strdup(s ? s : "");
}

struct db_pool *db_pool_new(const struct db_opts *opts, char *errbuf, size_t errlen)
{
    struct db_pool *pool = NULL;
    MYSQL *mysql = NULL;
    char sql[160];

    if (!opts || !opts->host || !opts->user || !opts->database || !opts->pool_size) {
        snprintf(errbuf, errlen, "db: host, user, database and pool_size are required");
        return NULL;
    }
    if (opts->create_database && !db__valid_ident(opts->database)) {
        snprintf(errbuf, errlen, "db: invalid database name '%s'", opts->database);
        return NULL;
    }
    pool = calloc(1, sizeof(*pool));
    if (!pool) {
        snprintf(errbuf, errlen, "db: out of memory");
        return NULL;
    }
    pthread_mutex_init(&pool->mu, NULL);
    worker_cond_init(&pool->cv);
    pool->conns = calloc(opts->pool_size, sizeof(*pool->conns));
    pool->host = db__strdup0(opts->host);
    pool->user = db__strdup0(opts->user);
    pool->password = db__strdup0(opts->password);
    pool->database = db__strdup0(opts->database);
    if (!pool->conns || !pool->host || !pool->user || !pool->password || !pool->database) {
        snprintf(errbuf, errlen, "db: out of memory");
        goto bad;
    }
    pool->n = opts->pool_size;
    pool->port = opts->port ? opts->port : 3306;
    pool->timeout_s = opts->connect_timeout_s ? opts->connect_timeout_s : DB_DEFAULT_TIMEOUT_S;
    pool->acquire_ms = opts->acquire_timeout_ms ? opts->acquire_timeout_ms : DB_DEFAULT_ACQUIRE_MS;
    pool->ping_idle_ms = opts->ping_idle_ms ? opts->ping_idle_ms : DB_PING_IDLE_MS;
    for (unsigned i = 0; i < pool->n; i++)
        pool->conns[i].pool = pool;

    if (opts->create_database) {
        mysql = db__open(pool, NULL, errbuf, errlen);
        if (!mysql)
            goto bad;
        /* an identifier cannot be a parameter; the name was checked above */
        snprintf(sql, sizeof(sql),
                 "CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 "
                 "COLLATE utf8mb4_unicode_ci",
                 pool->database);
        if (mysql_query(mysql, sql)) {
            snprintf(errbuf, errlen, "create database '%s': %s", pool->database,
                     mysql_error(mysql));
            goto bad;
        }
        mysql_close(mysql);
    }
    return pool;

bad:
    if (mysql)
        mysql_close(mysql);
    db_pool_free(pool);
    return NULL;
}

void db_pool_free(struct db_pool *pool)
{
    if (!pool)
        return;
    for (unsigned i = 0; i < pool->n; i++)
        db__close(&pool->conns[i]);
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool->host);
    free(pool->user);
    free(pool->password);
    free(pool->database);
    free(pool->conns);
    free(pool);
}

/* A free connection, preferring one already open; NULL if all are busy. Under pool->mu. */
static struct db_conn *db__take(struct db_pool *pool)
{
    struct db_conn *closed = NULL;

    for (unsigned i = 0; i < pool->n; i++) {
        struct db_conn *conn = &pool->conns[i];

        if (conn->busy)
            continue;
        if (conn->mysql) {
            conn->busy = true;
            return conn;
        }
        if (!closed)
            closed = conn;
    }
    if (closed)
        closed->busy = true;
    return closed;
}

/* db_acquire(); @ping: ping the connection whatever its idle time (readiness). */
static struct db_conn *db__acquire(struct db_pool *pool, bool ping, char *errbuf, size_t errlen)
{
    struct db_conn *conn;
    struct timespec deadline = worker_deadline_ms((long)pool->acquire_ms);
    int rc = 0;

    pthread_mutex_lock(&pool->mu);
    while (!(conn = db__take(pool)) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&pool->cv, &pool->mu, &deadline);
    pthread_mutex_unlock(&pool->mu);
    if (!conn) {
        snprintf(errbuf, errlen, "no free database connection within %u ms", pool->acquire_ms);
        return NULL;
    }
    /* a connection used a moment ago is not pinged: a restarted server took longer */
    if (db__ensure(conn,
                   ping || !conn->released_ms ||
                       util_now_mono_ms() - conn->released_ms >= (int64_t)pool->ping_idle_ms,
                   errbuf, errlen) < 0) {
        db__close(conn);
        pthread_mutex_lock(&pool->mu);
        conn->busy = false;
        pthread_cond_signal(&pool->cv);
        pthread_mutex_unlock(&pool->mu);
        return NULL;
    }
    return conn;
}

struct db_conn *db_acquire(struct db_pool *pool, char *errbuf, size_t errlen)
{
    return db__acquire(pool, false, errbuf, errlen);
}

void db_release(struct db_pool *pool, struct db_conn *conn)
{
    if (!conn)
        return;
    if (conn->in_tx)
        db_rollback(conn);
    if (conn->broken)
        db__close(conn);
    conn->released_ms = util_now_mono_ms();
    pthread_mutex_lock(&pool->mu);
    conn->busy = false;
    pthread_cond_signal(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}

int db_ping(struct db_pool *pool, char *why, size_t whylen)
{
    /* readiness always asks the server, however recently the connection answered */
    struct db_conn *conn = db__acquire(pool, true, why, whylen);

    if (!conn)
        return -EIO;
    db_release(pool, conn);
    return 0;
}

/* ---- transactions ---- */

int db_on_end(struct db_conn *conn, db_end_fn *fn, void *arg)
{
    if (!conn->in_tx || !fn)
        return -EINVAL;
    if (conn->nends == conn->ends_cap) {
        size_t cap = conn->ends_cap ? 2 * conn->ends_cap : 4;
        struct db_end *e = realloc(conn->ends, cap * sizeof(*e));

        if (!e)
            return -ENOMEM;
        conn->ends = e;
        conn->ends_cap = cap;
    }
    conn->ends[conn->nends++] = (struct db_end){fn, arg};
    return 0;
}

void *db_on_end_arg(const struct db_conn *conn, db_end_fn *fn)
{
    for (size_t i = 0; conn->in_tx && i < conn->nends; i++)
        if (conn->ends[i].fn == fn)
            return conn->ends[i].arg;
    return NULL;
}

/* The transaction ended: its hooks, in the order registered. They may use @conn (and register
 * hooks of a new transaction), so the list is taken first. */
static void db__ended(struct db_conn *conn, bool committed)
{
    struct db_end *ends = conn->ends;
    size_t n = conn->nends;

    conn->ends = NULL;
    conn->nends = conn->ends_cap = 0;
    for (size_t i = 0; i < n; i++)
        ends[i].fn(conn, ends[i].arg, committed);
    free(ends);
}

int db_begin(struct db_conn *conn)
{
    int rc;

    if (conn->in_tx) {
        db__set_msg(conn, "db_begin: already in a transaction");
        return -EINVAL;
    }
    /* START TRANSACTION changes nothing: on a session lost while idle (checkout pings only
     * connections idle for DB_PING_IDLE_MS) it is sent once more on a new one */
    for (int attempt = 0;; attempt++) {
        rc = db__ready(conn);
        if (rc < 0)
            return rc;
        if (mysql_query(conn->mysql, "START TRANSACTION") == 0)
            break;
        rc = db__fail(conn, NULL);
        if (rc != -EIO || attempt > 0)
            return rc;
    }
    conn->in_tx = true;
    return 0;
}

int db_commit(struct db_conn *conn)
{
    int rc = 0;

    if (!conn->in_tx) {
        db__set_msg(conn, "db_commit: no transaction");
        return -EINVAL;
    }
    if (conn->broken) {
        db__set_msg(conn, "connection lost inside a transaction");
        rc = -EIO;
    } else if (mysql_commit(conn->mysql)) {
        rc = db__fail(conn, NULL);
    }
    conn->in_tx = false;
    db__ended(conn, rc == 0);
    return rc;
}

int db_rollback(struct db_conn *conn)
{
    int rc = 0;

    if (!conn->in_tx)
        return 0;
    /* on a lost connection the server has discarded the transaction already */
    if (!conn->broken && mysql_rollback(conn->mysql))
        rc = db__fail(conn, NULL);
    conn->in_tx = false;
    db__ended(conn, false);
    return rc == -EIO ? 0 : rc;
}

/* ---- statements ---- */

/* A statement of @sql ready to execute on @conn: the kept one (*@ret_st set), else a new one,
 * kept when there is memory for it. The server refusing more prepared statements
 * (max_prepared_stmt_count) empties this connection's cache and tries once more. */
static int db__stmt_get(struct db_conn *conn, const char *sql, MYSQL_STMT **ret,
                        struct db_stmt **ret_st)
{
    size_t len = strlen(sql);
    struct db_stmt *st = db__stmt_find(conn, sql, len);
    MYSQL_STMT *stmt;

    if (st) {
        st->used = ++conn->tick;
        *ret = st->stmt;
        *ret_st = st;
        return 0;
    }
    for (int attempt = 0;; attempt++) {
        stmt = mysql_stmt_init(conn->mysql);
        if (!stmt)
            return db__fail(conn, NULL);
        if (mysql_stmt_prepare(stmt, sql, (unsigned long)len) == 0)
            break;
        if (attempt == 0 && mysql_stmt_errno(stmt) == ER_MAX_PREPARED_STMT_COUNT_REACHED) {
            mysql_stmt_close(stmt);
            for (size_t i = 0; i < DB_STMT_CACHE; i++)
                db__stmt_drop(&conn->stmts[i]);
            continue;
        }
        {
            int rc = db__fail(conn, stmt);

            mysql_stmt_close(stmt);
            return rc;
        }
    }
    *ret = stmt;
    *ret_st = db__stmt_keep(conn, sql, len, stmt);
    return 0;
}

/* Binds @params to @stmt and executes it. 0 or the mapped error (recorded on @conn). */
static int db__execute(struct db_conn *conn, MYSQL_STMT *stmt, const struct db_param *params,
                       size_t nparams)
{
    MYSQL_BIND *bind = NULL;
    unsigned long *lens = NULL;
    int rc = 0;

    if (mysql_stmt_param_count(stmt) != nparams) {
        db__set_msg(conn, "statement has %lu parameters, %zu given", mysql_stmt_param_count(stmt),
                    nparams);
        return -EINVAL;
    }
    if (nparams) {
        bind = calloc(nparams, sizeof(*bind));
        lens = calloc(nparams, sizeof(*lens));
        if (!bind || !lens) {
            db__set_msg(conn, "out of memory");
            rc = -ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < nparams; i++) {
            switch (params[i].type) {
            case DB_T_STR:
                if (!params[i].s) {
                    bind[i].buffer_type = MYSQL_TYPE_NULL;
                    break;
                }
                lens[i] = params[i].len;
                bind[i].buffer_type = MYSQL_TYPE_STRING;
                bind[i].buffer = (void *)params[i].s;
                bind[i].buffer_length = params[i].len;
                bind[i].length = &lens[i];
                break;
            case DB_T_INT:
                bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
                bind[i].buffer = (void *)&params[i].i;
                break;
            case DB_T_NULL:
            default:
                bind[i].buffer_type = MYSQL_TYPE_NULL;
                break;
            }
        }
        if (mysql_stmt_bind_param(stmt, bind)) {
            rc = db__fail(conn, stmt);
            goto out;
        }
    }
    if (mysql_stmt_execute(stmt))
        rc = db__fail(conn, stmt);
out:
    free(bind);
    free(lens);
    return rc;
}

/* Prepares (or takes the kept statement of) @sql and executes it with @params. On success
 * *@ret is the statement and *@ret_st its slot when kept: end the use with db__stmt_done(). */
static int db__prepare(struct db_conn *conn, const char *sql, const struct db_param *params,
                       size_t nparams, MYSQL_STMT **ret, struct db_stmt **ret_st)
{
    MYSQL_STMT *stmt = NULL;
    struct db_stmt *st = NULL;
    int rc;

    rc = db__ready(conn);
    if (rc < 0)
        return rc;
    rc = db__stmt_get(conn, sql, &stmt, &st);
    if (rc < 0)
        return rc;
    rc = db__execute(conn, stmt, params, nparams);
    if (rc < 0) {
        /* the server answered with an error (a duplicate key, a deadlock): the statement stays
         * prepared; a lost session drops every kept statement when it is closed */
        db__stmt_done(stmt, st, false);
        return rc;
    }
    *ret = stmt;
    *ret_st = st;
    return 0;
}

int db_exec(struct db_conn *conn, const char *sql, const struct db_param *params, size_t nparams,
            unsigned long long *ret_affected, unsigned long long *ret_insert_id)
{
    MYSQL_STMT *stmt = NULL;
    struct db_stmt *st = NULL;
    int rc;

    rc = db__prepare(conn, sql, params, nparams, &stmt, &st);
    if (rc < 0)
        return rc;
    if (ret_affected)
        *ret_affected = (unsigned long long)mysql_stmt_affected_rows(stmt);
    if (ret_insert_id)
        *ret_insert_id = (unsigned long long)mysql_stmt_insert_id(stmt);
    db__stmt_done(stmt, st, false);
    return 0;
}

void db_result_free(struct db_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->nrows * res->ncols; i++)
        free(res->cells[i].s);
    free(res->cells);
    free(res);
}

/* Appends the fetched row in @bind (re-fetching truncated columns) to @res. */
static int db__take_row(struct db_conn *conn, MYSQL_STMT *stmt, MYSQL_BIND *bind,
                        struct db_result *res)
{
    struct db_cell *row;

    if (res->nrows == res->cap) {
        size_t cap = res->cap ? res->cap * 2 : 16;
        struct db_cell *cells = realloc(res->cells, cap * res->ncols * sizeof(*cells));

        if (!cells)
            return -ENOMEM;
        res->cells = cells;
        res->cap = cap;
    }
    row = &res->cells[res->nrows * res->ncols];
    memset(row, 0, res->ncols * sizeof(*row));
    res->nrows++; /* counted now so db_result_free sees the cells */
    for (size_t c = 0; c < res->ncols; c++) {
        unsigned long len = *bind[c].length;

        if (*bind[c].is_null)
            continue;
        row[c].s = malloc(len + 1);
        if (!row[c].s)
            return -ENOMEM;
        row[c].len = len;
        if (len <= bind[c].buffer_length) {
            memcpy(row[c].s, bind[c].buffer, len);
        } else {
            MYSQL_BIND one = {0};
            unsigned long got = 0;

            one.buffer_type = MYSQL_TYPE_STRING;
            one.buffer = row[c].s;
            one.buffer_length = len + 1;
            one.length = &got;
            if (mysql_stmt_fetch_column(stmt, &one, (unsigned)c, 0))
                return db__fail(conn, stmt);
        }
        row[c].s[len] = '\0';
    }
    return 0;
}

int db_query(struct db_conn *conn, const char *sql, const struct db_param *params, size_t nparams,
             struct db_result **ret)
{
    MYSQL_STMT *stmt = NULL;
    struct db_stmt *st = NULL;
    MYSQL_RES *meta = NULL;
    MYSQL_BIND *bind = NULL;
    unsigned long *lens = NULL;
    my_bool *nulls = NULL, *errs = NULL;
    char *bufs = NULL;
    struct db_result *res = NULL;
    size_t ncols;
    int rc;

    rc = db__prepare(conn, sql, params, nparams, &stmt, &st);
    if (rc < 0)
        return rc;
    res = calloc(1, sizeof(*res));
    if (!res)
        goto oom;
    meta = mysql_stmt_result_metadata(stmt);
    ncols = meta ? mysql_num_fields(meta) : 0;
    res->ncols = ncols;
    if (ncols) {
        bind = calloc(ncols, sizeof(*bind));
        lens = calloc(ncols, sizeof(*lens));
        nulls = calloc(ncols, sizeof(*nulls));
        errs = calloc(ncols, sizeof(*errs));
        bufs = malloc(ncols * DB_CELL_BUF);
        if (!bind || !lens || !nulls || !errs || !bufs)
            goto oom;
        for (size_t c = 0; c < ncols; c++) {
            bind[c].buffer_type = MYSQL_TYPE_STRING;
            bind[c].buffer = bufs + c * DB_CELL_BUF;
            bind[c].buffer_length = DB_CELL_BUF;
            bind[c].length = &lens[c];
            bind[c].is_null = &nulls[c];
            bind[c].error = &errs[c];
        }
        if (mysql_stmt_bind_result(stmt, bind)) {
            rc = db__fail(conn, stmt);
            goto out;
        }
        for (;;) {
            int f = mysql_stmt_fetch(stmt);

            if (f == MYSQL_NO_DATA)
                break;
            if (f == 1) {
                rc = db__fail(conn, stmt);
                goto out;
            }
            /* 0 or MYSQL_DATA_TRUNCATED: db__take_row re-fetches long columns */
            rc = db__take_row(conn, stmt, bind, res);
            if (rc == -ENOMEM)
                goto oom;
            if (rc < 0)
                goto out;
        }
    }
    *ret = res;
    res = NULL;
    rc = 0;
    goto out;
oom:
    db__set_msg(conn, "out of memory");
    rc = -ENOMEM;
out:
    if (meta)
        mysql_free_result(meta);
    db__stmt_done(stmt, st, rc < 0);
    db_result_free(res);
    free(bind);
    free(lens);
    free(nulls);
    free(errs);
    free(bufs);
    return rc;
}

size_t db_result_rows(const struct db_result *res)
{
    return res ? res->nrows : 0;
}

size_t db_result_cols(const struct db_result *res)
{
    return res ? res->ncols : 0;
}

static const struct db_cell *db__cell(const struct db_result *res, size_t row, size_t col)
{
    if (!res || row >= res->nrows || col >= res->ncols)
        return NULL;
    return &res->cells[row * res->ncols + col];
}

const char *db_result_get(const struct db_result *res, size_t row, size_t col)
{
    const struct db_cell *cell = db__cell(res, row, col);

    return cell ? cell->s : NULL;
}

long long db_result_int(const struct db_result *res, size_t row, size_t col)
{
    const char *s = db_result_get(res, row, col);

    return s ? strtoll(s, NULL, 10) : 0;
}

size_t db_result_len(const struct db_result *res, size_t row, size_t col)
{
    const struct db_cell *cell = db__cell(res, row, col);

    return cell ? cell->len : 0;
}

/* ---- migrations ---- */

/* Runs one trusted statement through the text protocol (DDL that the prepared protocol may
 * refuse), discarding any result set. */
static int db__run_text(struct db_conn *conn, const char *sql, size_t len)
{
    MYSQL_RES *r;

    if (mysql_real_query(conn->mysql, sql, (unsigned long)len))
        return db__fail(conn, NULL);
    do {
        r = mysql_store_result(conn->mysql);
        if (r)
            mysql_free_result(r);
        else if (mysql_field_count(conn->mysql))
            return db__fail(conn, NULL);
    } while (mysql_next_result(conn->mysql) == 0);
    if (mysql_errno(conn->mysql))
        return db__fail(conn, NULL);
    return 0;
}

/* Splits @sql into statements ending with ';' at the end of a line; lines starting with "--"
 * are comments. Calls db__run_text for each non-empty one. On failure *@ret_index is the
 * 1-based statement number. */
static int db__run_script(struct db_conn *conn, const char *sql, int *ret_index)
{
    size_t cap = strlen(sql) + 1, len = 0;
    char *stmt = malloc(cap);
    const char *line = sql;
    int index = 0, rc = 0;

    *ret_index = 0;
    if (!stmt)
        return -ENOMEM;
    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        const char *p = line, *end = line + n;
        bool last;

        while (p < end && isspace((unsigned char)*p))
            p++;
        while (end > p && isspace((unsigned char)end[-1]))
            end--;
        if (!(end - p >= 2 && p[0] == '-' && p[1] == '-')) {
            last = end > p && end[-1] == ';';
            memcpy(stmt + len, line, (size_t)(end - line) - (last ? 1 : 0));
            len += (size_t)(end - line) - (last ? 1 : 0);
            stmt[len++] = '\n';
            if (last) {
                size_t k = 0;

                while (k < len && isspace((unsigned char)stmt[k]))
                    k++;
                if (k < len) {
                    index++;
                    rc = db__run_text(conn, stmt, len);
                    if (rc < 0)
                        goto out;
                }
                len = 0;
            }
        }
        line = eol ? eol + 1 : line + n;
    }
    for (size_t k = 0; k < len; k++) {
        if (!isspace((unsigned char)stmt[k])) {
            index++;
            rc = db__run_text(conn, stmt, len);
            break;
        }
    }
out:
    *ret_index = index;
    free(stmt);
    return rc;
}

static int db__cmp_migration(const void *a, const void *b)
{
    const struct db_migration *x = *(const struct db_migration *const *)a;
    const struct db_migration *y = *(const struct db_migration *const *)b;

    return (x->version > y->version) - (x->version < y->version);
}

static const char DB_MIGRATIONS_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " scope VARCHAR(64) NOT NULL,"
    " version INT NOT NULL,"
    " name VARCHAR(255) NOT NULL,"
    " applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
    " PRIMARY KEY (scope, version)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

int db_migrate(struct db_conn *conn, const char *scope, const struct db_migration *migrations,
               size_t n, char *errbuf, size_t errlen)
{
    const struct db_migration **sorted = NULL;
    struct db_result *res = NULL;
    bool locked = false;
    int rc, index = 0;

    if (!scope || !*scope || strlen(scope) > 64 || (n && !migrations)) {
        snprintf(errbuf, errlen, "migrate: bad scope or migrations");
        return -EINVAL;
    }
    if (conn->in_tx) {
        snprintf(errbuf, errlen, "migrate: connection is inside a transaction");
        return -EINVAL;
    }
    sorted = calloc(n ? n : 1, sizeof(*sorted));
    if (!sorted) {
        snprintf(errbuf, errlen, "migrate: out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!migrations[i].sql || !migrations[i].name) {
            snprintf(errbuf, errlen, "migrate %s: migration %d has no name or sql", scope,
                     migrations[i].version);
            rc = -EINVAL;
            goto out;
        }
        sorted[i] = &migrations[i];
    }
    qsort(sorted, n, sizeof(*sorted), db__cmp_migration);
    for (size_t i = 1; i < n; i++) {
        if (sorted[i]->version == sorted[i - 1]->version) {
            snprintf(errbuf, errlen, "migrate %s: duplicate version %d", scope, sorted[i]->version);
            rc = -EINVAL;
            goto out;
        }
    }

    rc = db_query(conn, "SELECT GET_LOCK('schema_migrations', ?)",
                  (struct db_param[]){DB_INT(DB_MIGRATE_LOCK_S)}, 1, &res);
    if (rc < 0) {
        snprintf(errbuf, errlen, "migrate %s: get_lock: %s", scope, db_errmsg(conn));
        goto out;
    }
    if (db_result_int(res, 0, 0) != 1) {
        snprintf(errbuf, errlen, "migrate %s: another instance holds the migration lock", scope);
        rc = -EDEADLK;
        goto out;
    }
    locked = true;
    db_result_free(res);
    res = NULL;

    rc = db__run_text(conn, DB_MIGRATIONS_TABLE, strlen(DB_MIGRATIONS_TABLE));
    if (rc < 0) {
        snprintf(errbuf, errlen, "migrate %s: create schema_migrations: %s", scope,
                 db_errmsg(conn));
        goto out;
    }
    rc = db_query(conn, "SELECT version FROM schema_migrations WHERE scope = ?",
                  (struct db_param[]){DB_STR(scope)}, 1, &res);
    if (rc < 0) {
        snprintf(errbuf, errlen, "migrate %s: %s", scope, db_errmsg(conn));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct db_migration *m = sorted[i];
        bool applied = false;

        for (size_t r = 0; r < db_result_rows(res) && !applied; r++)
            applied = db_result_int(res, r, 0) == m->version;
        if (applied)
            continue;
        rc = db__run_script(conn, m->sql, &index);
        if (rc < 0) {
            snprintf(errbuf, errlen, "migrate %s %03d_%s: statement %d: %s", scope, m->version,
                     m->name, index, rc == -ENOMEM ? "out of memory" : db_errmsg(conn));
            goto out;
        }
        rc = db_exec(conn, "INSERT INTO schema_migrations (scope, version, name) VALUES (?, ?, ?)",
                     (struct db_param[]){DB_STR(scope), DB_INT(m->version), DB_STR(m->name)}, 3,
                     NULL, NULL);
        if (rc < 0) {
            snprintf(errbuf, errlen, "migrate %s %03d_%s: record: %s", scope, m->version, m->name,
                     db_errmsg(conn));
            goto out;
        }
    }
    rc = 0;
out:
    if (locked) {
        db_result_free(res);
        res = NULL;
        /* best effort: the lock also goes away with the session */
        if (db_query(conn, "SELECT RELEASE_LOCK('schema_migrations')", NULL, 0, &res) == 0)
            db_result_free(res);
        res = NULL;
    }
    db_result_free(res);
    free(sorted);
    return rc;
}

struct db__file {
    int version;
    char *name;
    char *sql;
};

static int db__cmp_file(const void *a, const void *b)
{
    const struct db__file *x = a, *y = b;

    return (x->version > y->version) - (x->version < y->version);
}

int db_migrate_dir(struct db_conn *conn, const char *scope, const char *dir, char *errbuf,
                   size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct db__file *files = NULL;
    struct db_migration *migs = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (!d) {
        rc = -errno;
        snprintf(errbuf, errlen, "migrations dir '%s': %s", dir, strerror(-rc));
        return rc;
    }
    while ((de = readdir(d))) {
        const char *s = de->d_name, *us;
        size_t len = strlen(s);
        char *end, path[PATH_MAX];
        long v;

        if (!isdigit((unsigned char)s[0]) || len < 5 || strcmp(s + len - 4, ".sql") != 0)
            continue;
        errno = 0;
        v = strtol(s, &end, 10);
        us = end;
        if (errno || *us != '_' || v < 0 || v > INT_MAX) {
            snprintf(errbuf, errlen, "migration file '%s' is not NNN_name.sql", s);
            rc = -EINVAL;
            goto out;
        }
        if (n == cap) {
            struct db__file *p;

            cap = cap ? cap * 2 : 16;
            p = realloc(files, cap * sizeof(*files));
            if (!p)
                goto oom;
            files = p;
        }
        files[n].version = (int)v;
        files[n].name = strndup(us + 1, (size_t)(s + len - 4 - (us + 1)));
        files[n].sql = NULL;
        if (!files[n].name)
            goto oom;
        n++;
        snprintf(path, sizeof(path), "%s/%s", dir, s);
        rc = util_read_file(path, DB_MIGRATION_MAX_BYTES, &files[n - 1].sql, NULL);
        if (rc < 0) {
            snprintf(errbuf, errlen, "read '%s': %s", path, strerror(-rc));
            goto out;
        }
    }
    qsort(files, n, sizeof(*files), db__cmp_file);
    migs = calloc(n ? n : 1, sizeof(*migs));
    if (!migs)
        goto oom;
    for (size_t i = 0; i < n; i++)
        migs[i] = (struct db_migration){files[i].version, files[i].name, files[i].sql};
    rc = db_migrate(conn, scope, migs, n, errbuf, errlen);
    goto out;
oom:
    snprintf(errbuf, errlen, "migrations dir '%s': out of memory", dir);
    rc = -ENOMEM;
out:
    closedir(d);
    for (size_t i = 0; i < n; i++) {
        free(files[i].name);
        free(files[i].sql);
    }
    free(files);
    free(migs);
    return rc;
}

int db_query_one(struct db_conn *conn, const char *sql, const struct db_param *params,
                 size_t nparams, struct db_result **ret)
{
    struct db_result *res;
    int rc = db_query(conn, sql, params, nparams, &res);

    if (rc < 0)
        return rc;
    if (db_result_rows(res) == 0) {
        db_result_free(res);
        return -ENOENT;
    }
    *ret = res;
    return 0;
}
