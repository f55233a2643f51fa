/*
 * db.h - MariaDB access: a connection pool safe for the HTTP thread pool, prepared statements
 * only, transactions, and migrations.
 *
 * A MYSQL handle is not thread-safe, so each request or event checks one connection out of the
 * pool (db_acquire) and returns it (db_release). A checked-out connection idle for ping_idle_ms
 * or more is pinged and reconnected when the server went away (restart), so callers see at most
 * one failed call; one used more recently is not (a restart takes longer), and db_begin sends
 * its START TRANSACTION once more on a new session when the old one turns out to be lost.
 *
 * Each connection keeps its most recently used prepared statements (keyed by the SQL text), so
 * a statement run before on that connection costs one round trip, not a prepare and a close.
 *
 * Every statement is a prepared statement with typed parameters; results come back as text
 * (NULL for SQL NULL) which is all the services need and keeps the adapters small.
 *
 * Errors: 0 on success or a negative errno:
 *   -EEXIST   duplicate key (ER_DUP_ENTRY)
 *   -EDEADLK  deadlock or lock wait timeout: retry the transaction
 *   -EIO      connection lost / server unreachable: transient, retry later
 *   -EINVAL   SQL error (a bug): permanent
 * db_transient(rc) tells whether a retry may help. The server's message is kept per connection
 * (db_errmsg).
 *
 * Sessions use utf8mb4 and time_zone '+00:00' (NOW() and DATETIME values are UTC), autocommit
 * outside db_begin. A connection lost outside a transaction is reopened by the next call; one
 * lost inside a transaction makes every call -EIO until db_rollback/db_release.
 */
#ifndef COMMON_DB_H
#define COMMON_DB_H

#include <stdbool.h>
#include <stddef.h>

struct db_opts {
    const char *host;
    unsigned port;
    const char *user;
    const char *password;
    const char *database;
    unsigned pool_size;          /* connections, opened lazily */
    unsigned connect_timeout_s;  /* also read/write timeout */
    unsigned acquire_timeout_ms; /* how long db_acquire waits for a free connection */
    unsigned ping_idle_ms;       /* db_acquire pings a connection idle this long (0: 1000) */
    bool create_database;        /* CREATE DATABASE IF NOT EXISTS at db_pool_new (dev/test) */
};

struct db_pool;
struct db_conn;
struct db_result;

enum db_type { DB_T_NULL = 0, DB_T_STR, DB_T_INT };

struct db_param {
    enum db_type type;
    const char *s; /* DB_T_STR: borrowed for the call */
    size_t len;
    long long i;
};

#define DB_STR(x) ((struct db_param){.type = DB_T_STR, .s = (x), .len = strlen(x)})
#define DB_STRN(x, n) ((struct db_param){.type = DB_T_STR, .s = (x), .len = (n)})
#define DB_INT(x) ((struct db_param){.type = DB_T_INT, .i = (long long)(x)})
#define DB_NULLP ((struct db_param){.type = DB_T_NULL})

/* Creates a pool; no connection is made until needed, except that with create_database the
 * database is created first. Returns NULL with a reason in @errbuf. Caller owns: db_pool_free. */
struct db_pool *db_pool_new(const struct db_opts *opts, char *errbuf, size_t errlen);

/* Closes every connection. All connections must have been released. Accepts NULL. */
void db_pool_free(struct db_pool *pool);

/* Checks a connection out, (re)connecting as needed. Returns NULL if none could be had within
 * acquire_timeout_ms or the server is unreachable (reason in @errbuf). Return it with db_release.
 */
struct db_conn *db_acquire(struct db_pool *pool, char *errbuf, size_t errlen);

/* Returns @conn to @pool. A connection left inside a transaction is rolled back first. */
void db_release(struct db_pool *pool, struct db_conn *conn);

/* Readiness: 0 if a connection can be had and answers, else -EIO (reason in @why). */
int db_ping(struct db_pool *pool, char *why, size_t whylen);

int db_begin(struct db_conn *conn);
int db_commit(struct db_conn *conn);
int db_rollback(struct db_conn *conn);

/* A hook of the transaction open on @conn: @fn(@conn, @arg, committed) runs once when it ends,
 * on the thread ending it, hooks in the order registered. committed is true after db_commit
 * succeeded (then @conn is outside the transaction and still the caller's: @fn may run
 * statements on it), false after db_rollback, a failed db_commit (which may have committed:
 * the session was lost) or db_release inside the transaction. 0, -EINVAL outside a
 * transaction, -ENOMEM. */
typedef void db_end_fn(struct db_conn *conn, void *arg, bool committed);
int db_on_end(struct db_conn *conn, db_end_fn *fn, void *arg);

/* The @arg of the open transaction's first hook with @fn (one hook gathering a transaction's
 * work), NULL when there is none. */
void *db_on_end_arg(const struct db_conn *conn, db_end_fn *fn);

/* The pool @conn belongs to. */
struct db_pool *db_conn_pool(const struct db_conn *conn);

/* Runs a prepared statement that returns no rows. @ret_affected and @ret_insert_id may be NULL;
 * affected rows are rows *matched* (CLIENT_FOUND_ROWS), also when the values did not change. */
int db_exec(struct db_conn *conn, const char *sql, const struct db_param *params, size_t nparams,
            unsigned long long *ret_affected, unsigned long long *ret_insert_id);

/* Runs a prepared query; on success *@ret owns every row (free with db_result_free). */
int db_query(struct db_conn *conn, const char *sql, const struct db_param *params, size_t nparams,
             struct db_result **ret);

/* Like db_query() for a statement that must match a row: -ENOENT (and no result) when it
 * matched none. */
int db_query_one(struct db_conn *conn, const char *sql, const struct db_param *params,
                 size_t nparams, struct db_result **ret);

size_t db_result_rows(const struct db_result *res);
size_t db_result_cols(const struct db_result *res);
/* Cell as text, NULL for SQL NULL. Borrowed from @res. */
const char *db_result_get(const struct db_result *res, size_t row, size_t col);
/* Cell as integer (0 for NULL or non-numeric). */
long long db_result_int(const struct db_result *res, size_t row, size_t col);
/* Length of the cell in bytes (binary-safe). */
size_t db_result_len(const struct db_result *res, size_t row, size_t col);
void db_result_free(struct db_result *res);

/* The last server error message on @conn (borrowed). */
const char *db_errmsg(const struct db_conn *conn);

/* 1 if @rc (from any call above) may succeed on retry (-EIO, -EDEADLK), else 0. */
int db_transient(int rc);

/* Migrations: applied in version order, each recorded in schema_migrations(scope, version,
 * name, applied_at); already applied ones are skipped; concurrent starters serialise on a
 * named lock. A migration's SQL may hold several statements separated by ';' at line end. */
struct db_migration {
    int version;
    const char *name;
    const char *sql;
};

int db_migrate(struct db_conn *conn, const char *scope, const struct db_migration *migrations,
               size_t n, char *errbuf, size_t errlen);

/* Applies <dir>/NNN_name.sql files (NNN = version) under @scope. */
int db_migrate_dir(struct db_conn *conn, const char *scope, const char *dir, char *errbuf,
                   size_t errlen);

#endif
