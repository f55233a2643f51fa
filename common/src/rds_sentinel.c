/*
 * rds_sentinel.c - the small Sentinel client hiredis lacks (rds.h "Sentinel"): parse the
 * sentinel list, ask the sentinels for a master's address, check a node's ROLE.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "rds_internal.h"

#define RDS_SENTINELS_MAX 16
#define RDS_SENTINEL_TIMEOUT_MAX_MS 1000 /* a dead sentinel must not hold the next one back */

int rds__sentinels_parse(const char *list, struct rds__addr **ret, size_t *ret_n, char *errbuf,
                         size_t errlen)
{
    struct rds__addr *addrs = calloc(RDS_SENTINELS_MAX, sizeof(*addrs));
    const char *p = list;
    size_t n = 0;

    if (!addrs) {
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    while (*p) {
        const char *end = strchr(p, ','), *colon;
        size_t len;
        char item[300], *e, *q = item;
        long port;

        len = end ? (size_t)(end - p) : strlen(p);
        if (len >= sizeof(item) || n == RDS_SENTINELS_MAX)
            goto bad;
        memcpy(item, p, len);
        item[len] = '\0';
        while (*q == ' ')
            q++;
        for (e = q + strlen(q); e > q && e[-1] == ' '; e--)
            e[-1] = '\0';
        colon = strrchr(q, ':');
        if (!colon || colon == q || (size_t)(colon - q) >= sizeof(addrs[n].host))
            goto bad;
        port = strtol(colon + 1, &e, 10);
        if (!colon[1] || *e || port < 1 || port > 65535)
            goto bad;
        memcpy(addrs[n].host, q, (size_t)(colon - q));
        addrs[n].port = (unsigned)port;
        n++;
        if (end && !end[1])
            goto bad; /* a trailing comma */
        p = end ? end + 1 : p + len;
    }
    if (n == 0)
        goto bad;
    *ret = addrs;
    *ret_n = n;
    return 0;
bad:
    snprintf(errbuf, errlen,
             "REDIS_SENTINELS: '%s' is not a list of host:port (comma separated, at most %d)", list,
             RDS_SENTINELS_MAX);
    free(addrs);
    return -EINVAL;
}

redisContext *rds__connect(const char *host, unsigned port, unsigned timeout_ms, char *errbuf,
                           size_t errlen)
{
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    redisContext *ctx = redisConnectWithTimeout(host, (int)port, tv);

    if (!ctx || ctx->err) {
        snprintf(errbuf, errlen, "cannot connect to redis %s:%u: %s", host, port,
                 ctx ? ctx->errstr : "out of memory");
        if (ctx)
            redisFree(ctx);
        return NULL;
    }
    redisSetTimeout(ctx, tv);
    return ctx;
}

/* One sentinel's answer: 0 and *@ret, -ENOENT (no such master), -EIO (no answer). */
static int sentinel_ask(const struct rds__addr *s, const char *name, unsigned timeout_ms,
                        struct rds__addr *ret, char *errbuf, size_t errlen)
{
    const char *argv[] = {"SENTINEL", "get-master-addr-by-name", name};
    redisContext *ctx = rds__connect(s->host, s->port, timeout_ms, errbuf, errlen);
    redisReply *reply;
    int rc = -EIO;

    if (!ctx)
        return -EIO;
    reply = redisCommandArgv(ctx, 3, argv, NULL);
    if (!reply) {
        snprintf(errbuf, errlen, "sentinel %s:%u: %s", s->host, s->port, ctx->errstr);
    } else if (reply->type == REDIS_REPLY_NIL) {
        snprintf(errbuf, errlen, "sentinel %s:%u knows no master named '%s'", s->host, s->port,
                 name);
        rc = -ENOENT;
    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
               reply->element[0]->type == REDIS_REPLY_STRING &&
               reply->element[1]->type == REDIS_REPLY_STRING) {
        util_strlcpy(ret->host, reply->element[0]->str, sizeof(ret->host));
        ret->port = (unsigned)strtoul(reply->element[1]->str, NULL, 10);
        rc = 0;
    } else {
        snprintf(errbuf, errlen, "sentinel %s:%u: unexpected answer to get-master-addr-by-name%s%s",
                 s->host, s->port, reply->type == REDIS_REPLY_ERROR ? ": " : "",
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "");
    }
    if (reply)
        freeReplyObject(reply);
    redisFree(ctx);
    return rc;
}

int rds__sentinel_primary(const struct rds__addr *sentinels, size_t n, const char *name,
                          unsigned timeout_ms, struct rds__addr *ret, char *errbuf, size_t errlen)
{
    bool answered = false;

    if (timeout_ms > RDS_SENTINEL_TIMEOUT_MAX_MS)
        timeout_ms = RDS_SENTINEL_TIMEOUT_MAX_MS;
    for (size_t i = 0; i < n; i++) {
        int rc = sentinel_ask(&sentinels[i], name, timeout_ms, ret, errbuf, errlen);

        if (rc == 0)
            return 0;
        if (rc == -ENOENT)
            answered = true;
    }
    if (!answered)
        return -EIO;
    snprintf(errbuf, errlen, "the sentinels know no master named '%s'", name);
    return -ENOENT;
}

int rds__role_is_master(redisContext *ctx, char *errbuf, size_t errlen)
{
    const char *argv[] = {"ROLE"};
    redisReply *reply = redisCommandArgv(ctx, 1, argv, NULL);
    int rc = -EIO;

    if (!reply) {
        snprintf(errbuf, errlen, "redis %s:%d: ROLE: %s", ctx->tcp.host, ctx->tcp.port,
                 ctx->errstr);
        return -EIO;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(reply->element[0]->str, "master") == 0)
        rc = 0;
    else
        snprintf(errbuf, errlen, "redis %s:%d is not the primary (ROLE: %s)", ctx->tcp.host,
                 ctx->tcp.port,
                 reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                         reply->element[0]->type == REDIS_REPLY_STRING
                     ? reply->element[0]->str
                     : "unexpected reply");
    freeReplyObject(reply);
    return rc;
}
