/* snapshot.c - periodic copy of every SKU's counters from Redis into MariaDB (snapshot.h). */
#include "snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "common/log.h"
#include "scripts.h"
#include "stock.h"

#define SCAN_COUNT "200"

static const char upsert_sql[] =
    "INSERT INTO inventory_snapshot (sku_id, available, reserved, sold, returned, received,"
    " taken_at) VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3)) ON DUPLICATE KEY UPDATE"
    " available = VALUES(available), reserved = VALUES(reserved), sold = VALUES(sold),"
    " returned = VALUES(returned), received = VALUES(received), taken_at = VALUES(taken_at)";

/* The SKU id of key "inv:sku:<id>", or 0. */
static long long sku_of(const char *key)
{
    static const char prefix[] = "inv:sku:";
    char *end;
    long long id;

    if (strncmp(key, prefix, sizeof(prefix) - 1) != 0)
        return 0;
    id = strtoll(key + sizeof(prefix) - 1, &end, 10);
    return *end == '\0' && id > 0 ? id : 0;
}

/* Writes the SKUs named by @keys (one SCAN page) in one transaction. Count or -EIO. */
static long write_page(struct rds_conn *rconn, struct db_conn *conn, const redisReply *keys,
                       char *errbuf, size_t errlen)
{
    long written = 0;
    int rc = db_begin(conn);

    if (rc < 0)
        goto out;
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        const char *argv[] = {"HMGET", NULL,       "available", "reserved",
                              "sold",  "returned", "received"};
        size_t lens[7];
        struct stock_counters c;
        redisReply *reply;
        long long sku;
        int r;

        if (k->type != REDIS_REPLY_STRING || !(sku = sku_of(k->str)))
            continue;
        argv[1] = k->str;
        for (size_t a = 0; a < 7; a++)
            lens[a] = strlen(argv[a]);
        reply = rds_command(rconn, 7, argv, lens, errbuf, errlen);
        if (!reply) {
            rc = -EIO;
            goto out;
        }
        r = inv_counters_from_reply(reply, &c);
        freeReplyObject(reply);
        if (r < 0)
            continue; /* gone since the SCAN, or not a stock hash */
        if (!stock_invariant_ok(&c))
            log_errorx("stock invariant broken for sku '%lld': available %lld reserved %lld "
                       "sold %lld returned %lld received %lld",
                       sku, c.available, c.reserved, c.sold, c.returned, c.received);
        {
            struct db_param p[] = {DB_INT(sku),    DB_INT(c.available), DB_INT(c.reserved),
                                   DB_INT(c.sold), DB_INT(c.returned),  DB_INT(c.received)};

            rc = db_exec(conn, upsert_sql, p, 6, NULL, NULL);
        }
        if (rc < 0) {
            snprintf(errbuf, errlen, "cannot write snapshot of sku '%lld': %s", sku,
                     db_errmsg(conn));
            goto out;
        }
        written++;
    }
    rc = db_commit(conn);
    if (rc < 0)
        snprintf(errbuf, errlen, "cannot commit the snapshot: %s", db_errmsg(conn));
out:
    if (rc < 0) {
        db_rollback(conn);
        return -EIO;
    }
    return written;
}

long inv_snapshot_once(struct rds_pool *rds, struct db_pool *pool, char *errbuf, size_t errlen)
{
    struct rds_conn *rconn = NULL;
    struct db_conn *conn = NULL;
    char cursor[32] = "0";
    long total = 0, rc = -EIO;

    rconn = rds_acquire(rds, errbuf, errlen);
    if (!rconn)
        goto out;
    conn = db_acquire(pool, errbuf, errlen);
    if (!conn)
        goto out;
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", "inv:sku:*", "COUNT", SCAN_COUNT};
        size_t lens[6];
        redisReply *reply;
        long n;

        for (size_t a = 0; a < 6; a++)
            lens[a] = strlen(argv[a]);
        reply = rds_command(rconn, 6, argv, lens, errbuf, errlen);
        if (!reply)
            goto out;
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
            reply->element[0]->type != REDIS_REPLY_STRING ||
            reply->element[1]->type != REDIS_REPLY_ARRAY) {
            snprintf(errbuf, errlen, "unexpected reply to SCAN");
            freeReplyObject(reply);
            goto out;
        }
        snprintf(cursor, sizeof(cursor), "%s", reply->element[0]->str);
        n = write_page(rconn, conn, reply->element[1], errbuf, errlen);
        freeReplyObject(reply);
        if (n < 0)
            goto out;
        total += n;
    } while (strcmp(cursor, "0") != 0);
    rc = total;
out:
    if (conn)
        db_release(pool, conn);
    rds_release(rds, rconn);
    return rc;
}

long inv_snapshot_run(struct worker *w, void *arg)
{
    struct inv_app *app = arg;
    char err[512] = "";
    long n = inv_snapshot_once(app->rds, app->pool, err, sizeof(err));

    (void)w;
    if (n < 0)
        log_warnx("stock snapshot failed (next try in %ld s): %s", app->cfg->snapshot_s, err);
    else
        log_debug("stock snapshot of %ld skus written", n);
    return -1; /* the period: INVENTORY_SNAPSHOT_S */
}
