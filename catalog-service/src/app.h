/* app.h - catalog-service's shared state, handed to every handler as @app. */
#ifndef CATALOG_APP_H
#define CATALOG_APP_H

#include "common/config.h"
#include "common/db.h"
#include "common/http.h"
#include "common/outbox.h"
#include "common/relay.h"

#define CATALOG_SERVICE "catalog-service"

struct catalog_cache;
struct svc;
struct worker;

struct catalog_config {
    struct svc_config svc;  /* first: the common settings */
    long cache_max_entries; /* CATALOG_CACHE_MAX_ENTRIES (0 = no cache) */
    long cache_poll_ms;     /* CATALOG_CACHE_POLL_MS */
    long cache_stale_ms;    /* CATALOG_CACHE_STALE_MS */
    long cache_max_age_ms;  /* CATALOG_CACHE_MAX_AGE_MS */
};

struct catalog_app {
    const struct catalog_config *cfg;
    struct db_pool *pool;
    struct catalog_cache *cache; /* NULL without a cache */
    bool cache_poll_failing;     /* the poll job's own: logs only the changes */
};

/* config.c: the defaults of the common settings and the own ones ({NULL}-terminated). */
extern const struct svc_defaults CATALOG_DEFAULTS;
extern const struct cfg_entry CATALOG_CONFIG[];
int catalog_config_check(const void *cfg, char *errbuf, size_t errlen);

/* http_cache.c: the read cache around the public reads (README "Catalog read cache"). */
int catalog_cache_start(struct svc *svc, void *app);
void catalog_cache_stop(void *app);
/* The cache poll job (worker_fn): reads the catalog generation, syncs the cache. */
long catalog_cache_poll(struct worker *w, void *app);
long catalog_cache_poll_ms(const void *app);
/*
 * Answers a public read from the cache under @key, or calls @read and caches a 200 answer;
 * either way a 200 carries an ETag (and Cache-Control: no-cache) and becomes 304 without a
 * body when If-None-Match matches it. @key NULL: no caching, ETag only.
 */
void catalog_read_cached(struct http_req *req, struct http_resp *resp, struct catalog_app *app,
                         const char *key, http_handler_fn read);
/* The ETag (and 304) of catalog_read_cached() for an answer @resp made without the cache. */
void catalog_reply_etag(struct http_req *req, struct http_resp *resp);
/* After a write of this instance (committed or not): drops the cache at once. */
void catalog_cache_written(struct catalog_app *app);

/* http_categories.c / http_products.c */
void http_category_create(struct http_req *req, struct http_resp *resp, void *app);
void http_category_list(struct http_req *req, struct http_resp *resp, void *app);
void http_category_get(struct http_req *req, struct http_resp *resp, void *app);
void http_category_tree(struct http_req *req, struct http_resp *resp, void *app);
void http_category_create_tree(struct http_req *req, struct http_resp *resp, void *app);
void http_product_create(struct http_req *req, struct http_resp *resp, void *app);
void http_product_list(struct http_req *req, struct http_resp *resp, void *app);
void http_product_get(struct http_req *req, struct http_resp *resp, void *app);
void http_product_skus(struct http_req *req, struct http_resp *resp, void *app);
void http_product_update(struct http_req *req, struct http_resp *resp, void *app);
void http_product_set_status(struct http_req *req, struct http_resp *resp, void *app);
void http_product_delete(struct http_req *req, struct http_resp *resp, void *app);

/* Replies 503 (database unreachable) or 500 for a store error @rc. */
void catalog_reply_store_error(struct http_resp *resp, int rc, const char *what);

/* Checks out a connection or replies 503; NULL then. */
struct db_conn *catalog_acquire(struct catalog_app *app, struct http_resp *resp);

#endif
