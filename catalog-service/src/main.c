/* main.c - catalog-service as data: its routes, the outbox relay and the read cache's poll
 * job; svc_main() runs it. */
#include "app.h"
#include "common/svc.h"

static const struct http_route routes[] = {
    {"POST", "/api/catalog/categories", HTTP_AUTH_ADMIN, http_category_create},
    {"GET", "/api/catalog/categories", HTTP_AUTH_NONE, http_category_list},
    {"GET", "/api/catalog/categories/tree", HTTP_AUTH_NONE, http_category_tree},
    {"POST", "/api/catalog/categories/tree", HTTP_AUTH_ADMIN, http_category_create_tree},
    {"GET", "/api/catalog/categories/{id}", HTTP_AUTH_NONE, http_category_get},
    {"POST", "/api/catalog/products", HTTP_AUTH_ADMIN, http_product_create},
    {"GET", "/api/catalog/products", HTTP_AUTH_NONE, http_product_list},
    {"GET", "/api/catalog/products/{id}", HTTP_AUTH_NONE, http_product_get},
    {"GET", "/api/catalog/products/{id}/skus", HTTP_AUTH_NONE, http_product_skus},
    {"PUT", "/api/catalog/products/{id}", HTTP_AUTH_ADMIN, http_product_update},
    {"DELETE", "/api/catalog/products/{id}", HTTP_AUTH_ADMIN, http_product_delete},
    {"PUT", "/api/catalog/products/{id}/status", HTTP_AUTH_ADMIN, http_product_set_status},
};

static const struct svc_job jobs[] = {
    {"catalog cache poll", catalog_cache_poll, catalog_cache_poll_ms},
    {NULL, NULL, NULL},
};

static struct catalog_config cfg;
static struct catalog_app app = {.cfg = &cfg};

static const struct svc_desc desc = {
    .name = CATALOG_SERVICE,
    .defaults = &CATALOG_DEFAULTS,
    .cfg = &cfg.svc,
    .config = CATALOG_CONFIG,
    .check = catalog_config_check,
    .tables = SVC_TABLES_OUTBOX,
    .routes = routes,
    .nroutes = sizeof(routes) / sizeof(routes[0]),
    .jobs = jobs,
    .app = &app,
    .app_pool = &app.pool,
    .relay_source = svc_relay_outbox,
    .start = catalog_cache_start,
    .stop = catalog_cache_stop,
};

int main(void)
{
    return svc_main(&desc);
}
