/* app.h - catalog-service's shared state, handed to every handler as @app. */
#ifndef CATALOG_APP_H
#define CATALOG_APP_H

#include "common/config.h"
#include "common/db.h"
#include "common/http.h"
#include "common/outbox.h"
#include "common/relay.h"

#define CATALOG_SERVICE "catalog-service"

struct catalog_app {
    const struct svc_config *cfg;
    struct db_pool *pool;
    struct relay *relay; /* may be NULL in tests */
};

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
