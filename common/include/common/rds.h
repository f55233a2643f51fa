/*
 * rds.h - Redis via hiredis: a small connection pool with reconnect, and Lua scripts called
 * with EVALSHA (falling back to loading the script on NOSCRIPT, e.g. after a Redis restart).
 *
 * Two ways to find Redis (README "Redis failover"):
 *   - one node: @host and @port;
 *   - Sentinel: @sentinels ("host:port,host:port", asked in order, the first that answers) and
 *     @master_name. The pool asks SENTINEL get-master-addr-by-name for the primary, checks each
 *     new connection with ROLE (it must say master) and connects. After a failover - an I/O
 *     error, a READONLY reply (a write that reached a demoted primary) or a ROLE that is not
 *     master - it drops every pooled connection and asks the sentinels again (at most
 *     RDS_DISCOVER_ATTEMPTS addresses per connect). While no primary answers, calls fail as
 *     "unreachable" (NULL / -EIO), never with a wrong answer: callers wait and retry.
 * No password: Redis and the sentinels listen on a private network (as the single node does).
 *
 * Replication (@wait_replicas > 0): rds_wait() waits until that many replicas have every write
 * the primary had accepted, so a failover cannot lose what a caller is about to announce.
 */
#ifndef COMMON_RDS_H
#define COMMON_RDS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

struct rds_opts {
    const char *host; /* one node; NULL or "" with @sentinels */
    unsigned port;
    const char *sentinels;   /* "host:port,…" (borrowed; copied); NULL or "": one node */
    const char *master_name; /* the primary's name at the sentinels; required with @sentinels */
    unsigned timeout_ms;
    unsigned pool_size;       /* most connections open at once (default 8) */
    unsigned wait_replicas;   /* rds_wait(): replicas that must have a write (0: no waiting) */
    unsigned wait_timeout_ms; /* rds_wait(): how long it waits for them (default 1000) */
};

#define RDS_DISCOVER_ATTEMPTS 2

struct rds_pool;
struct rds_conn;

/* A Lua script; the SHA-1 is computed locally by rds_script_init. */
struct rds_script {
    const char *lua; /* borrowed: usually a string literal */
    char sha[41];
};

void rds_script_init(struct rds_script *script, const char *lua);

/* Checks @opts without connecting: one node (@host and @port) or @sentinels (a well-formed
 * list) with @master_name, not both. 0 or -EINVAL with the reason in @errbuf. */
int rds_opts_check(const struct rds_opts *opts, char *errbuf, size_t errlen);

/* Returns NULL with a reason in @errbuf on bad options (rds_opts_check()), or with Sentinel
 * when sentinels answer but know no master of that name. Connecting is otherwise lazy (sentinels
 * that do not answer are not an error here: calls fail until they do). Caller owns the pool:
 * rds_pool_free(). */
struct rds_pool *rds_pool_new(const struct rds_opts *opts, char *errbuf, size_t errlen);
void rds_pool_free(struct rds_pool *pool);

/* Checks a connection out, connecting if needed; waits up to timeout_ms when pool_size are
 * already out. NULL (reason in @errbuf) when unreachable or none came free. */
struct rds_conn *rds_acquire(struct rds_pool *pool, char *errbuf, size_t errlen);
/* Returns it; a connection that saw an I/O error is closed instead of pooled. */
void rds_release(struct rds_pool *pool, struct rds_conn *conn);

/*
 * Runs a command (argv form, binary-safe). If the server had closed the connection (EOF), it
 * reconnects (with Sentinel: to the primary it asks for anew) and sends the command once more;
 * after a timeout or other I/O error it does not (Redis may have run the command) and returns
 * NULL. A READONLY reply (the node is a replica now: the command did not run) is returned as
 * NULL too; with Sentinel the command is first sent once more to the primary found anew.
 * Returns the reply (caller owns: freeReplyObject) or NULL on I/O failure (reason in @errbuf).
 * An error reply (REDIS_REPLY_ERROR) is returned as a reply, not NULL.
 */
redisReply *rds_command(struct rds_conn *conn, int argc, const char **argv, const size_t *argvlen,
                        char *errbuf, size_t errlen);

/* EVALSHA @script with @nkeys keys followed by @nargs args (NUL-terminated strings);
 * on NOSCRIPT it loads the script and retries. Same ownership as rds_command. */
redisReply *rds_eval(struct rds_conn *conn, const struct rds_script *script, int nkeys,
                     const char **keys, int nargs, const char **args, char *errbuf, size_t errlen);

/*
 * Waits until opts.wait_replicas replicas acknowledged every write the primary had accepted
 * before this call - including other connections' writes: it first sends a PUBLISH on @conn,
 * which enters the replication stream after them, then WAIT for this connection's offset.
 * 0 (also when wait_replicas is 0), -EAGAIN when fewer replicas acknowledged within
 * wait_timeout_ms (the reason in @errbuf), -EIO on an I/O failure.
 */
int rds_wait(struct rds_conn *conn, char *errbuf, size_t errlen);

/* Readiness: 0 if PING answers PONG, else -EIO. With Sentinel @why names the primary
 * ("primary 10.0.0.5:6379 (sentinel master 'commerce')") on success too. */
int rds_ping(struct rds_pool *pool, char *why, size_t whylen);

/* The primary the pool uses now, "host:port" into @out ("" before the first discovery). */
void rds_primary(struct rds_pool *pool, char *out, size_t outlen);

#endif
