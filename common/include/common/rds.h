/*
 * rds.h - Redis via hiredis: a small connection pool with reconnect, and Lua scripts called
 * with EVALSHA (falling back to loading the script on NOSCRIPT, e.g. after a Redis restart).
 */
#ifndef COMMON_RDS_H
#define COMMON_RDS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

struct rds_opts {
    const char *host;
    unsigned port;
    unsigned timeout_ms;
    unsigned pool_size; /* most connections open at once (default 8) */
};

struct rds_pool;
struct rds_conn;

/* A Lua script; the SHA-1 is computed locally by rds_script_init. */
struct rds_script {
    const char *lua; /* borrowed: usually a string literal */
    char sha[41];
};

void rds_script_init(struct rds_script *script, const char *lua);

/* Returns NULL with a reason in @errbuf (only on bad options; connecting is lazy). */
struct rds_pool *rds_pool_new(const struct rds_opts *opts, char *errbuf, size_t errlen);
void rds_pool_free(struct rds_pool *pool);

/* Checks a connection out, connecting if needed; waits up to timeout_ms when pool_size are
 * already out. NULL (reason in @errbuf) when unreachable or none came free. */
struct rds_conn *rds_acquire(struct rds_pool *pool, char *errbuf, size_t errlen);
/* Returns it; a connection that saw an I/O error is closed instead of pooled. */
void rds_release(struct rds_pool *pool, struct rds_conn *conn);

/*
 * Runs a command (argv form, binary-safe). If the server had closed the connection (EOF), it
 * reconnects and sends the command once more; after a timeout or other I/O error it does not
 * (Redis may have run the command) and returns NULL.
 * Returns the reply (caller owns: freeReplyObject) or NULL on I/O failure (reason in @errbuf).
 * An error reply (REDIS_REPLY_ERROR) is returned as a reply, not NULL.
 */
redisReply *rds_command(struct rds_conn *conn, int argc, const char **argv, const size_t *argvlen,
                        char *errbuf, size_t errlen);

/* EVALSHA @script with @nkeys keys followed by @nargs args (NUL-terminated strings);
 * on NOSCRIPT it loads the script and retries. Same ownership as rds_command. */
redisReply *rds_eval(struct rds_conn *conn, const struct rds_script *script, int nkeys,
                     const char **keys, int nargs, const char **args, char *errbuf, size_t errlen);

/* Readiness: 0 if PING answers PONG, else -EIO. */
int rds_ping(struct rds_pool *pool, char *why, size_t whylen);

#endif
