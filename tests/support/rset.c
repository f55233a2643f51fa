/* rset.c - a private Redis primary + replica + 3 sentinels for the tests (see rset.h). */
#include "rset.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "testsup.h"

redisReply *ts_redis_cmd(unsigned port, const char *fmt, ...)
{
    struct timeval tv = {1, 0};
    redisContext *ctx = redisConnectWithTimeout("127.0.0.1", (int)port, tv);
    redisReply *r = NULL;
    va_list ap;

    if (ctx && !ctx->err) {
        redisSetTimeout(ctx, tv);
        va_start(ap, fmt);
        r = redisvCommand(ctx, fmt, ap);
        va_end(ap);
    }
    if (ctx)
        redisFree(ctx);
    return r;
}

int ts_rset_infra(const struct ts_rset *rs, const char *action)
{
    char state_var[600], log[600];
    const char *const args[] = {action, NULL};
    const char *const env[] = {state_var, NULL};

    snprintf(state_var, sizeof(state_var), "STATE_DIR=%s", rs->dir);
    snprintf(log, sizeof(log), "%s/infra.log", rs->dir);
    return ts_script("infra.sh", args, env, log);
}

/* Node 2's port from infra.sh's DIR/redis.set (REDIS2_PORT_S), 0 when absent. */
static unsigned replica_port(const char *dir)
{
    char path[600], line[256];
    unsigned port = 0;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/redis.set", dir);
    fp = fopen(path, "r");
    if (!fp)
        return 0;
    while (fgets(line, sizeof(line), fp))
        if (strncmp(line, "REDIS2_PORT_S=", 14) == 0)
            port = (unsigned)atoi(line + 14);
    fclose(fp);
    return port;
}

int ts_rset_start(struct ts_rset *rs)
{
    const char *base = getenv("TEST_STATE_DIR");
    char state_var[600], log[600], envfile[600], val[64];
    const char *const args[] = {"start", NULL};
    const char *const env[] = {state_var, "INFRA_SERVICES=redis", "REDIS_SENTINELS=3", NULL};

    memset(rs, 0, sizeof(*rs));
    snprintf(rs->dir, sizeof(rs->dir), "%s/rset.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(rs->dir)) {
        fprintf(stderr, "rset: mkdtemp %s: %s\n", rs->dir, strerror(errno));
        rs->dir[0] = '\0';
        return -EIO;
    }
    snprintf(state_var, sizeof(state_var), "STATE_DIR=%s", rs->dir);
    snprintf(log, sizeof(log), "%s/infra.log", rs->dir);
    snprintf(envfile, sizeof(envfile), "%s/env", rs->dir);
    if (ts_script("infra.sh", args, env, log) != 0) {
        ts_print_log_tail(log);
        ts_rset_stop(rs);
        return -EIO;
    }
    if (ts_env_file_value(envfile, "REDIS_SENTINELS", rs->sentinels, sizeof(rs->sentinels)) < 0 ||
        ts_env_file_value(envfile, "REDIS_MASTER_NAME", rs->master, sizeof(rs->master)) < 0 ||
        ts_env_file_value(envfile, "REDIS_PORT", val, sizeof(val)) < 0) {
        fprintf(stderr, "rset: %s lacks the Redis Sentinel lines\n", envfile);
        ts_rset_stop(rs);
        return -EIO;
    }
    rs->port[1] = (unsigned)atoi(val);
    rs->port[2] = replica_port(rs->dir);
    if (!rs->port[2]) {
        fprintf(stderr, "rset: no replica port in %s/redis.set\n", rs->dir);
        ts_rset_stop(rs);
        return -EIO;
    }
    return 0;
}

int ts_rset_node(const struct ts_rset *rs, unsigned port)
{
    return port == rs->port[1] ? 1 : port == rs->port[2] ? 2 : 0;
}

void ts_rset_stop(struct ts_rset *rs)
{
    if (!rs->dir[0])
        return;
    if (ts_rset_infra(rs, "stop") != 0)
        fprintf(stderr, "rset: infra.sh stop failed (state %s)\n", rs->dir);
    rs->dir[0] = '\0';
}

struct ts_rset ts_rset_group;

int ts_rset_group_setup(void **state)
{
    (void)state;
    return ts_rset_start(&ts_rset_group) == 0 ? 0 : -1;
}

int ts_rset_group_teardown(void **state)
{
    (void)state;
    ts_rset_stop(&ts_rset_group);
    return 0;
}
