/*
 * rds.c - Redis on hiredis: a mutex-guarded pool of redisContext (not thread-safe on its own),
 * one reconnect-and-retry on I/O errors, and EVALSHA with a NOSCRIPT fallback. Failed connects,
 * I/O errors and error replies are counted in commerce_redis_errors_total{kind}.
 *
 * With Sentinel (rds_sentinel.c asks) the pool keeps the primary's address and a generation:
 * a sign of a failover (an I/O error, READONLY, a ROLE that is not master) marks the address
 * stale; the next connect asks the sentinels again and starts a new generation, and a pooled
 * connection of an older generation is closed instead of being handed out.
 */
#include "common/rds.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "common/metrics.h"
#include "common/util.h"
#include "common/worker.h"
#include "rds_internal.h"

#define RDS_METRIC_ERRORS "commerce_redis_errors_total"

struct rds_conn {
    redisContext *ctx; /* NULL after a failed reconnect */
    struct rds_pool *pool;
    unsigned gen; /* the pool's generation when it connected */
    bool broken;  /* not to be pooled again (READONLY, a failed reconnect) */
    struct rds_conn *next;
};

struct rds_pool {
    struct rds_opts opts;
    char *host;
    char *master_name;
    struct rds__addr *sentinels; /* NULL: one node */
    size_t nsentinels;
    pthread_mutex_t lock;
    pthread_cond_t freed; /* signalled when a connection is returned or closed */
    struct rds_conn *idle;
    unsigned open; /* connections that exist (idle or checked out) */
    /* Sentinel: under @lock; @discover serialises asking the sentinels */
    pthread_mutex_t discover;
    struct rds__addr primary; /* port 0: not known yet */
    unsigned gen;             /* bumped by every discovery: older connections are closed */
    bool stale;               /* a failover was seen: ask the sentinels before connecting */
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

static bool is_set(const char *s)
{
    return s && *s;
}

/* Asks the sentinels for the primary unless another thread just did (the address is not stale
 * then). Starts a new generation. 0, -ENOENT (no such master) or -EIO. */
static int rds__discover(struct rds_pool *pool, char *errbuf, size_t errlen)
{
    struct rds__addr found;
    int rc = 0;

    pthread_mutex_lock(&pool->discover);
    pthread_mutex_lock(&pool->lock);
    if (pool->primary.port && !pool->stale) {
        pthread_mutex_unlock(&pool->lock);
        goto out; /* found while we waited */
    }
    pthread_mutex_unlock(&pool->lock);
    rc = rds__sentinel_primary(pool->sentinels, pool->nsentinels, pool->master_name,
                               pool->opts.timeout_ms, &found, errbuf, errlen);
    if (rc < 0)
        goto out;
    pthread_mutex_lock(&pool->lock);
    pool->primary = found;
    pool->stale = false;
    pool->gen++;
    pthread_mutex_unlock(&pool->lock);
out:
    pthread_mutex_unlock(&pool->discover);
    return rc;
}

/* A failover was seen by a connection of generation @gen: ask the sentinels again. */
static void rds__stale(struct rds_pool *pool, unsigned gen)
{
    if (!pool->sentinels)
        return;
    pthread_mutex_lock(&pool->lock);
    if (pool->gen == gen)
        pool->stale = true;
    pthread_mutex_unlock(&pool->lock);
}

int rds_opts_check(const struct rds_opts *opts, char *errbuf, size_t errlen)
{
    struct rds__addr *sentinels = NULL;
    size_t n;

    if (is_set(opts->host) && is_set(opts->sentinels)) {
        snprintf(errbuf, errlen,
                 "REDIS_HOST and REDIS_SENTINELS are both set: give one node or the sentinels");
        return -EINVAL;
    }
    if (!is_set(opts->sentinels)) {
        if (is_set(opts->host) && opts->port)
            return 0;
        snprintf(errbuf, errlen, "redis host and port (or REDIS_SENTINELS) are required");
        return -EINVAL;
    }
    if (!is_set(opts->master_name)) {
        snprintf(errbuf, errlen, "REDIS_MASTER_NAME is required with REDIS_SENTINELS");
        return -EINVAL;
    }
    if (rds__sentinels_parse(opts->sentinels, &sentinels, &n, errbuf, errlen) < 0)
        return -EINVAL;
    free(sentinels);
    return 0;
}

struct rds_pool *rds_pool_new(const struct rds_opts *opts, char *errbuf, size_t errlen)
{
    struct rds_pool *pool;
    struct rds__addr *sentinels = NULL;
    size_t nsentinels = 0;
    int rc;

    if (rds_opts_check(opts, errbuf, errlen) < 0)
        return NULL;
    if (is_set(opts->sentinels) &&
        rds__sentinels_parse(opts->sentinels, &sentinels, &nsentinels, errbuf, errlen) < 0)
        return NULL;
    pool = calloc(1, sizeof(*pool));
    if (!pool || !(pool->host = strdup(is_set(opts->host) ? opts->host : "")) ||
        !(pool->master_name = strdup(is_set(opts->master_name) ? opts->master_name : ""))) {
        if (pool)
            free(pool->host);
        free(pool);
        free(sentinels);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    pool->opts = *opts;
    pool->opts.host = pool->host;
    pool->opts.sentinels = NULL; /* parsed into pool->sentinels */
    pool->opts.master_name = pool->master_name;
    pool->sentinels = sentinels; /* now owned by pool */
    pool->nsentinels = nsentinels;
    if (!pool->opts.timeout_ms)
        pool->opts.timeout_ms = 2000;
    if (!pool->opts.pool_size)
        pool->opts.pool_size = 8;
    if (!pool->opts.wait_timeout_ms)
        pool->opts.wait_timeout_ms = 1000;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_mutex_init(&pool->discover, NULL);
    worker_cond_init(&pool->freed);
    if (pool->sentinels) {
        /* a wrong master name is a configuration error; sentinels that do not answer are not */
        rc = rds__discover(pool, errbuf, errlen);
        if (rc == -ENOENT) {
            rds_pool_free(pool);
            return NULL;
        }
    }
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
    pthread_mutex_destroy(&pool->discover);
    pthread_mutex_destroy(&pool->lock);
    free(pool->sentinels);
    free(pool->master_name);
    free(pool->host);
    free(pool);
}

/* A connection to the node (one node), or to the primary the sentinels name, checked with ROLE;
 * with Sentinel, after a failed attempt the address is stale and the next attempt asks again
 * (RDS_DISCOVER_ATTEMPTS in all). *@ret_gen: the generation it belongs to. */
static redisContext *connect_ctx(struct rds_pool *pool, unsigned *ret_gen, char *errbuf,
                                 size_t errlen)
{
    redisContext *ctx = NULL;

    if (!pool->sentinels) {
        ctx = rds__connect(pool->opts.host, pool->opts.port, pool->opts.timeout_ms, errbuf, errlen);
        if (!ctx)
            rds__count_error("connection");
        *ret_gen = 0;
        return ctx;
    }
    for (int attempt = 0; attempt < RDS_DISCOVER_ATTEMPTS; attempt++) {
        struct rds__addr primary;
        unsigned gen;
        bool known;

        pthread_mutex_lock(&pool->lock);
        known = pool->primary.port && !pool->stale;
        pthread_mutex_unlock(&pool->lock);
        if (!known && rds__discover(pool, errbuf, errlen) < 0)
            break;
        pthread_mutex_lock(&pool->lock);
        primary = pool->primary;
        gen = pool->gen;
        pthread_mutex_unlock(&pool->lock);
        ctx = rds__connect(primary.host, primary.port, pool->opts.timeout_ms, errbuf, errlen);
        if (ctx && rds__role_is_master(ctx, errbuf, errlen) == 0) {
            *ret_gen = gen;
            return ctx;
        }
        if (ctx)
            redisFree(ctx);
        ctx = NULL;
        rds__count_error("connection");
        rds__stale(pool, gen);
    }
    return NULL;
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
    while (pool->idle && pool->sentinels && (pool->idle->gen != pool->gen || pool->stale)) {
        /* from before a failover: it may point at a demoted or dead primary */
        conn = pool->idle;
        pool->idle = conn->next;
        pool->open--;
        conn_close(conn);
        conn = NULL;
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
    if (conn) {
        conn->pool = pool;
        conn->ctx = connect_ctx(pool, &conn->gen, errbuf, errlen);
    } else
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
    if (!conn->ctx || conn->ctx->err || conn->broken ||
        (pool->sentinels && (conn->gen != pool->gen || pool->stale))) {
        /* a connection that saw an I/O error or a failover is closed, not pooled */
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

/* Reconnects @conn: to the address it had (one node), or to the primary the sentinels name
 * now. 0 or -EIO. */
static int reconnect(struct rds_conn *conn, char *errbuf, size_t errlen)
{
    struct rds_pool *pool = conn->pool;

    if (pool->sentinels) {
        if (conn->ctx)
            redisFree(conn->ctx);
        conn->ctx = connect_ctx(pool, &conn->gen, errbuf, errlen);
        conn->broken = !conn->ctx;
        return conn->ctx ? 0 : -EIO;
    }
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
    bool fresh = false; /* reconnect before sending: the node was demoted */

    for (int attempt = 0; attempt < 2; attempt++) {
        redisReply *reply;

        if ((fresh || !conn->ctx || conn->ctx->err) && reconnect(conn, errbuf, errlen) < 0)
            return NULL;
        reply = redisCommandArgv(conn->ctx, argc, argv, argvlen);
        if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "READONLY", 8) == 0) {
            /* a replica now (a failover demoted it): the command did not run, so it is safe to
             * send once more to the primary the sentinels name; else unreachable */
            snprintf(errbuf, errlen, "redis %s:%d is a replica now (failover): %s",
                     conn->ctx->tcp.host, conn->ctx->tcp.port, reply->str);
            freeReplyObject(reply);
            rds__count_error("connection");
            conn->broken = true;
            rds__stale(conn->pool, conn->gen);
            if (!conn->pool->sentinels)
                return NULL;
            fresh = true;
            continue;
        }
        if (reply) {
            /* NOSCRIPT is expected once per script and Redis restart: rds_eval falls back */
            if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) != 0)
                rds__count_error("reply");
            return reply;
        }
        snprintf(errbuf, errlen, "redis i/o error: %s", conn->ctx->errstr);
        rds__count_error("connection");
        rds__stale(conn->pool, conn->gen);
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

int rds_wait(struct rds_conn *conn, char *errbuf, size_t errlen)
{
    const struct rds_opts *opts = &conn->pool->opts;
    const char *publish[] = {"PUBLISH", "__rds_wait", "1"};
    char n[16], ms[16];
    const char *wait[] = {"WAIT", n, ms};
    size_t lens[3];
    redisReply *reply;
    long long acked;

    if (!opts->wait_replicas)
        return 0;
    /* WAIT waits for this connection's last write: the PUBLISH (replicated, after every write
     * the primary had accepted) makes that the current end of the replication stream */
    for (int i = 0; i < 3; i++)
        lens[i] = strlen(publish[i]);
    reply = rds_command(conn, 3, publish, lens, errbuf, errlen);
    if (!reply)
        return -EIO;
    freeReplyObject(reply);
    snprintf(n, sizeof(n), "%u", opts->wait_replicas);
    snprintf(ms, sizeof(ms), "%u", opts->wait_timeout_ms);
    for (int i = 0; i < 3; i++)
        lens[i] = strlen(wait[i]);
    reply = rds_command(conn, 3, wait, lens, errbuf, errlen);
    if (!reply)
        return -EIO;
    if (reply->type != REDIS_REPLY_INTEGER) {
        snprintf(errbuf, errlen, "unexpected redis reply to WAIT%s%s",
                 reply->type == REDIS_REPLY_ERROR ? ": " : "",
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        freeReplyObject(reply);
        return -EIO;
    }
    acked = reply->integer;
    freeReplyObject(reply);
    if (acked < (long long)opts->wait_replicas) {
        snprintf(errbuf, errlen, "%lld of %u redis replicas acknowledged within %u ms", acked,
                 opts->wait_replicas, opts->wait_timeout_ms);
        return -EAGAIN;
    }
    return 0;
}

void rds_primary(struct rds_pool *pool, char *out, size_t outlen)
{
    pthread_mutex_lock(&pool->lock);
    if (!pool->sentinels)
        snprintf(out, outlen, "%s:%u", pool->opts.host, pool->opts.port);
    else if (pool->primary.port)
        snprintf(out, outlen, "%s:%u", pool->primary.host, pool->primary.port);
    else if (outlen)
        out[0] = '\0';
    pthread_mutex_unlock(&pool->lock);
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
    if (rc == 0 && pool->sentinels)
        snprintf(why, whylen, "primary %s:%d (sentinel master '%s')", conn->ctx->tcp.host,
                 conn->ctx->tcp.port, pool->master_name);
    rds_release(pool, conn);
    return rc;
}
