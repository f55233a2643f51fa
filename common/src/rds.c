/*
 * rds.c - Redis on hiredis: a mutex-guarded pool of redisContext (not thread-safe on its own),
 * one reconnect-and-retry on I/O errors, and EVALSHA with a NOSCRIPT fallback. Failed connects,
 * I/O errors and error replies are counted in commerce_redis_errors_total{kind}.
 */
#include "common/rds.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "common/metrics.h"
#include "common/util.h"
#include "common/worker.h"

#define RDS_METRIC_ERRORS "commerce_redis_errors_total"

struct rds_conn {
    redisContext *ctx;
    struct rds_conn *next;
};

struct rds_pool {
    struct rds_opts opts;
    char *host;
    pthread_mutex_t lock;
    pthread_cond_t freed; /* signalled when a connection is returned or closed */
    struct rds_conn *idle;
    unsigned open; /* connections that exist (idle or checked out) */
};

/* Counts one Redis error of @kind ("connection": connect or I/O error, "reply": an error reply).
 * Registering is idempotent, so the family appears on first use (and again after a
 * metrics_reset()). */
static void rds__count_error(const char *kind)
{
    metrics_counter(RDS_METRIC_ERRORS, "Redis errors by kind (connection, reply).", "kind");
    metrics_inc(RDS_METRIC_ERRORS, (const char *const[]){kind}, 1);
}

void rds_script_init(struct rds_script *script, const char *lua)
{
    unsigned char md[SHA_DIGEST_LENGTH];

    script->lua = lua;
    SHA1((const unsigned char *)lua, strlen(lua), md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(script->sha + 2 * i, 3, "%02x", md[i]);
}

struct rds_pool *rds_pool_new(const struct rds_opts *opts, char *errbuf, size_t errlen)
{
    struct rds_pool *pool;

    if (!opts->host || !opts->port) {
        snprintf(errbuf, errlen, "redis host and port are required");
        return NULL;
    }
    pool = calloc(1, sizeof(*pool));
    if (!pool || !(pool->host = strdup(opts->host))) {
        free(pool);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    pool->opts = *opts;
    pool->opts.host = pool->host;
    if (!pool->opts.timeout_ms)
        pool->opts.timeout_ms = 2000;
    if (!pool->opts.pool_size)
        pool->opts.pool_size = 8;
    pthread_mutex_init(&pool->lock, NULL);
    worker_cond_init(&pool->freed);
    return pool;
}

static void conn_close(struct rds_conn *conn)
{
    if (!conn)
        return;
    if (conn->ctx)
        redisFree(conn->ctx);
    free(conn);
}

void rds_pool_free(struct rds_pool *pool)
{
    if (!pool)
        return;
    while (pool->idle) {
        struct rds_conn *c = pool->idle;
        pool->idle = c->next;
        conn_close(c);
    }
    pthread_cond_destroy(&pool->freed);
    pthread_mutex_destroy(&pool->lock);
    free(pool->host);
    free(pool);
}

static redisContext *connect_ctx(const struct rds_opts *opts, char *errbuf, size_t errlen)
{
    struct timeval tv = {.tv_sec = opts->timeout_ms / 1000,
                         .tv_usec = (opts->timeout_ms % 1000) * 1000};
    redisContext *ctx = redisConnectWithTimeout(opts->host, (int)opts->port, tv);

    if (!ctx || ctx->err) {
        snprintf(errbuf, errlen, "cannot connect to redis %s:%u: %s", opts->host, opts->port,
                 ctx ? ctx->errstr : "out of memory");
        if (ctx) {
            rds__count_error("connection");
            redisFree(ctx);
        }
        return NULL;
    }
    redisSetTimeout(ctx, tv);
    return ctx;
}

struct rds_conn *rds_acquire(struct rds_pool *pool, char *errbuf, size_t errlen)
{
    struct rds_conn *conn = NULL;
    struct timespec deadline = worker_deadline_ms((long)pool->opts.timeout_ms);

    pthread_mutex_lock(&pool->lock);
    /* at most pool_size connections: wait for one to come back when all are out */
    while (!pool->idle && pool->open >= pool->opts.pool_size) {
        if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT)
            break;
    }
    if (pool->idle) {
        conn = pool->idle;
        pool->idle = conn->next;
        pthread_mutex_unlock(&pool->lock);
        return conn;
    }
    if (pool->open >= pool->opts.pool_size) {
        pthread_mutex_unlock(&pool->lock);
        snprintf(errbuf, errlen, "no free redis connection within %u ms (pool of %u)",
                 pool->opts.timeout_ms, pool->opts.pool_size);
        return NULL;
    }
    pool->open++; /* reserve the slot, connect outside the lock */
    pthread_mutex_unlock(&pool->lock);

    conn = calloc(1, sizeof(*conn));
    if (conn)
        conn->ctx = connect_ctx(&pool->opts, errbuf, errlen);
    else
        snprintf(errbuf, errlen, "out of memory");
    if (!conn || !conn->ctx) {
        free(conn);
        pthread_mutex_lock(&pool->lock);
        pool->open--;
        pthread_cond_signal(&pool->freed);
        pthread_mutex_unlock(&pool->lock);
        return NULL;
    }
    return conn;
}

void rds_release(struct rds_pool *pool, struct rds_conn *conn)
{
    if (!conn)
        return;
    pthread_mutex_lock(&pool->lock);
    if (!conn->ctx || conn->ctx->err) {
        /* a connection that saw an I/O error is closed, not pooled */
        pool->open--;
        pthread_cond_signal(&pool->freed);
        pthread_mutex_unlock(&pool->lock);
        conn_close(conn);
        return;
    }
    conn->next = pool->idle;
    pool->idle = conn;
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}

/* Reconnects @conn to the address it had. 0 or -EIO. */
static int reconnect(struct rds_conn *conn, char *errbuf, size_t errlen)
{
    if (redisReconnect(conn->ctx) != REDIS_OK) {
        snprintf(errbuf, errlen, "redis reconnect failed: %s", conn->ctx->errstr);
        rds__count_error("connection");
        return -EIO;
    }
    return 0;
}

redisReply *rds_command(struct rds_conn *conn, int argc, const char **argv, const size_t *argvlen,
                        char *errbuf, size_t errlen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        redisReply *reply;

        if (conn->ctx->err && reconnect(conn, errbuf, errlen) < 0)
            return NULL;
        reply = redisCommandArgv(conn->ctx, argc, argv, argvlen);
        if (reply) {
            /* NOSCRIPT is expected once per script and Redis restart: rds_eval falls back */
            if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) != 0)
                rds__count_error("reply");
            return reply;
        }
        snprintf(errbuf, errlen, "redis i/o error: %s", conn->ctx->errstr);
        rds__count_error("connection");
        /* Only a connection the server had already closed (EOF: restart, idle kill) is retried.
         * After a timeout Redis may have run the command: sending it again could apply it
         * twice, so the caller decides. */
        if (conn->ctx->err != REDIS_ERR_EOF)
            break;
    }
    return NULL;
}

static redisReply *evalsha(struct rds_conn *conn, const char *verb, const char *body, int nkeys,
                           const char **keys, int nargs, const char **args, char *errbuf,
                           size_t errlen)
{
    int argc = 3 + nkeys + nargs;
    const char **argv = calloc((size_t)argc, sizeof(*argv));
    size_t *lens = calloc((size_t)argc, sizeof(*lens));
    char nk[16];
    redisReply *reply = NULL;

    if (!argv || !lens) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[0] = verb;
    argv[1] = body;
    argv[2] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[3 + i] = keys[i];
    for (int i = 0; i < nargs; i++)
        argv[3 + nkeys + i] = args[i];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    reply = rds_command(conn, argc, argv, lens, errbuf, errlen);
out:
    free(argv);
    free(lens);
    return reply;
}

redisReply *rds_eval(struct rds_conn *conn, const struct rds_script *script, int nkeys,
                     const char **keys, int nargs, const char **args, char *errbuf, size_t errlen)
{
    redisReply *reply =
        evalsha(conn, "EVALSHA", script->sha, nkeys, keys, nargs, args, errbuf, errlen);

    if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        /* not cached (Redis restarted or flushed): EVAL loads and runs it in one go */
        freeReplyObject(reply);
        reply = evalsha(conn, "EVAL", script->lua, nkeys, keys, nargs, args, errbuf, errlen);
    }
    return reply;
}

int rds_ping(struct rds_pool *pool, char *why, size_t whylen)
{
    const char *argv[] = {"PING"};
    size_t lens[] = {4};
    struct rds_conn *conn = rds_acquire(pool, why, whylen);
    redisReply *reply;
    int rc = -EIO;

    if (!conn)
        return -EIO;
    reply = rds_command(conn, 1, argv, lens, why, whylen);
    if (reply && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0)
        rc = 0;
    else if (reply)
        snprintf(why, whylen, "unexpected redis reply to PING");
    if (reply)
        freeReplyObject(reply);
    rds_release(pool, conn);
    return rc;
}
