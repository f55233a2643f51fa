/*
 * rset.h - a private Redis with failover for the tests: a primary, one replica and three
 * sentinels started by scripts/infra.sh (REDIS_SENTINELS=3, INFRA_SERVICES=redis) in a fresh
 * folder under TEST_STATE_DIR, stopped by ts_rset_stop(). Nothing here uses cmocka.
 */
#ifndef TS_RSET_H
#define TS_RSET_H

struct ts_rset {
    char dir[512];       /* the infra state folder (its logs/ holds the servers' logs) */
    char sentinels[256]; /* REDIS_SENTINELS: "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3" */
    char master[64];     /* REDIS_MASTER_NAME */
    unsigned port[3];    /* port[1], port[2]: node 1 (the first primary) and node 2 */
};

/* Starts the set and waits until every sentinel sees the primary, the replica and the other
 * sentinels. 0, or -EIO (the reason on stderr; what started is stopped). */
int ts_rset_start(struct ts_rset *rs);

/* Runs "infra.sh @action" on the set: "redis-primary-kill", "redis-2-stop", "redis-1-start"…
 * Returns the exit status. */
int ts_rset_infra(const struct ts_rset *rs, const char *action);

/* The node (1 or 2) that @port belongs to, 0 for neither. */
int ts_rset_node(const struct ts_rset *rs, unsigned port);

/* A command straight to the node or sentinel on 127.0.0.1:@port (1 s timeouts); the reply
 * (caller frees: freeReplyObject) or NULL when it does not answer. */
struct redisReply *ts_redis_cmd(unsigned port, const char *fmt, ...);

/* Stops everything the set runs. Accepts a set that never started. */
void ts_rset_stop(struct ts_rset *rs);

/* One set for a test binary: a cmocka group setup (0 or -1) and teardown around
 * ts_rset_start(&ts_rset_group) and ts_rset_stop(). */
extern struct ts_rset ts_rset_group;
int ts_rset_group_setup(void **state);
int ts_rset_group_teardown(void **state);

#endif
