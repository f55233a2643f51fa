/*
 * http_cache.c - the read cache around catalog-service's public reads (README "Catalog read
 * cache"): a hit answers from memory without touching MariaDB; every 200 of these reads
 * carries a strong ETag and turns into 304 when If-None-Match matches it. The poll job keeps
 * the cache in step with the catalog generation every write raises (store_catalog.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cache.h"
#include "common/log.h"
#include "common/svc.h"
#include "common/util.h"
#include "store_catalog.h"

int catalog_cache_start(struct svc *svc, void *arg)
{
    struct catalog_app *app = arg;
    const struct catalog_config *cfg = app->cfg;
    struct catalog_cache_opts opts = {.max_entries = (size_t)cfg->cache_max_entries,
                                      .max_age_ms = cfg->cache_max_age_ms,
                                      .stale_ms = cfg->cache_stale_ms};

    (void)svc;
    if (cfg->cache_max_entries == 0) {
        log_info("catalog read cache off (CATALOG_CACHE_MAX_ENTRIES=0)");
        return 0;
    }
    app->cache = catalog_cache_new(&opts);
    if (!app->cache) {
        log_errorx("cannot allocate the catalog read cache");
        return -1;
    }
    return 0;
}

void catalog_cache_stop(void *arg)
{
    struct catalog_app *app = arg;

    catalog_cache_free(app->cache);
    app->cache = NULL;
}

long catalog_cache_poll_ms(const void *arg)
{
    const struct catalog_app *app = arg;

    return app->cfg->cache_poll_ms;
}

long catalog_cache_poll(struct worker *w, void *arg)
{
    struct catalog_app *app = arg;
    /* taken before the query: the cache stays in sync from here, never from a later time */
    int64_t started = util_now_mono_ms();
    long long generation = 0;
    struct db_conn *conn;
    char err[256] = "";
    int rc = -EIO;

    (void)w;
    if (!app->cache)
        return -1;
    conn = db_acquire(app->pool, err, sizeof(err));
    if (conn) {
        rc = store_generation_get(conn, &generation);
        if (rc < 0)
            snprintf(err, sizeof(err), "%s", db_errmsg(conn));
        db_release(app->pool, conn);
    }
    if (rc == 0) {
        catalog_cache_sync(app->cache, generation, started);
        if (app->cache_poll_failing)
            log_info("catalog generation read again: the read cache serves hits");
        app->cache_poll_failing = false;
    } else if (!app->cache_poll_failing) {
        /* logged once per outage; hits stop CATALOG_CACHE_STALE_MS after the last good read */
        log_warnx("cannot read the catalog generation (%d: %s): reads go to the database", rc, err);
        app->cache_poll_failing = true;
    }
    return -1;
}

void catalog_cache_written(struct catalog_app *app)
{
    if (app->cache)
        catalog_cache_flush(app->cache);
}

/* Adds the validators to a 200 and turns it into a 304 when If-None-Match matches. */
static void reply_validated(struct http_req *req, struct http_resp *resp, const char *etag,
                            const char *x_cache)
{
    const char *inm = http_header(req, "If-None-Match");

    http_resp_header(resp, "ETag", etag);
    http_resp_header(resp, "Cache-Control", "no-cache");
    http_resp_header(resp, "X-Cache", x_cache);
    if (inm && catalog_etag_match(inm, etag)) {
        free(resp->body);
        resp->body = NULL;
        resp->status = 304;
    }
}

void catalog_reply_etag(struct http_req *req, struct http_resp *resp)
{
    char etag[CATALOG_ETAG_MAX];

    if (resp->status != 200 || !resp->body)
        return;
    catalog_etag(resp->body, strlen(resp->body), etag);
    reply_validated(req, resp, etag, "miss");
}

void catalog_read_cached(struct http_req *req, struct http_resp *resp, struct catalog_app *app,
                         const char *key, http_handler_fn read)
{
    char etag[CATALOG_ETAG_MAX];
    uint64_t epoch = 0;
    size_t len;
    char *body;

    if (!key || !app->cache) {
        read(req, resp, app);
        catalog_reply_etag(req, resp);
        return;
    }
    if (catalog_cache_get(app->cache, key, util_now_mono_ms(), &body, &len, etag) == 0) {
        resp->status = 200;
        resp->body = body;
        reply_validated(req, resp, etag, "hit");
        return;
    }
    epoch = catalog_cache_epoch(app->cache);
    read(req, resp, app);
    if (resp->status != 200 || !resp->body)
        return; /* a 404, a 503: never cached */
    len = strlen(resp->body);
    catalog_etag(resp->body, len, etag);
    catalog_cache_put(app->cache, key, resp->body, len, etag, epoch, util_now_mono_ms());
    reply_validated(req, resp, etag, "miss");
}
