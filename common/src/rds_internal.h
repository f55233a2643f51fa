/*
 * rds_internal.h - what rds.c takes from rds_sentinel.c (finding the primary through Sentinel),
 * private to common/src. Nothing else includes it.
 */
#ifndef COMMON_RDS_INTERNAL_H
#define COMMON_RDS_INTERNAL_H

#include <stddef.h>

#include <hiredis/hiredis.h>

struct rds__addr {
    char host[256];
    unsigned port;
};

/* Parses "host:port,host:port" (spaces around items allowed) into a new array (caller owns:
 * free()). 0, -EINVAL (the reason in @errbuf) or -ENOMEM. */
int rds__sentinels_parse(const char *list, struct rds__addr **ret, size_t *ret_n, char *errbuf,
                         size_t errlen);

/* Asks the @n sentinels in order for the address of master @name; the first that names one
 * wins. 0 and *@ret, -ENOENT when those that answered know no such master, -EIO when none
 * answered (reasons in @errbuf). */
int rds__sentinel_primary(const struct rds__addr *sentinels, size_t n, const char *name,
                          unsigned timeout_ms, struct rds__addr *ret, char *errbuf, size_t errlen);

/* 0 when ROLE on @ctx says master, else -EIO (a replica, a sentinel, or an i/o error). */
int rds__role_is_master(redisContext *ctx, char *errbuf, size_t errlen);

/* A connection to @host:@port with @timeout_ms for connecting and for each reply; NULL with the
 * reason in @errbuf. Caller owns it: redisFree(). */
redisContext *rds__connect(const char *host, unsigned port, unsigned timeout_ms, char *errbuf,
                           size_t errlen);

#endif
