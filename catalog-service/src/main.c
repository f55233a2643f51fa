/*
 * main.c - catalog-service wiring only: config + logging → MariaDB pool + migrations →
 * Kafka producer + outbox relay → HTTP server → wait for SIGINT/SIGTERM → tear down in
 * reverse (readiness 503, quiesce HTTP and wait for in-flight requests, stop the relay,
 * flush the producer, close the pool).
 */
#include <signal.h>

#include <mysql.h>

#include "app.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/svc.h"

static const struct http_route routes[] = {
    {"POST", "/api/catalog/categories", HTTP_AUTH_ADMIN, http_category_create},
    {"GET", "/api/catalog/categories", HTTP_AUTH_NONE, http_category_list},
    {"GET", "/api/catalog/categories/tree", HTTP_AUTH_NONE, http_category_tree},
    {"GET", "/api/catalog/categories/{id}", HTTP_AUTH_NONE, http_category_get},
    {"POST", "/api/catalog/products", HTTP_AUTH_ADMIN, http_product_create},
    {"GET", "/api/catalog/products", HTTP_AUTH_NONE, http_product_list},
    {"GET", "/api/catalog/products/{id}", HTTP_AUTH_NONE, http_product_get},
    {"GET", "/api/catalog/products/{id}/skus", HTTP_AUTH_NONE, http_product_skus},
    {"PUT", "/api/catalog/products/{id}", HTTP_AUTH_ADMIN, http_product_update},
    {"DELETE", "/api/catalog/products/{id}", HTTP_AUTH_ADMIN, http_product_delete},
};

static const struct svc_defaults defaults = {
    .service = CATALOG_SERVICE,
    .http_port = "8084",
    .db_name = "commerce_catalog",
    .group_id = CATALOG_SERVICE,
    .migrations_dir = "catalog-service/migrations",
};

static int ready(void *arg, char *why, size_t whylen)
{
    struct catalog_app *app = arg;

    return db_ping(app->pool, why, whylen);
}

/* The event types catalog-service publishes (their topics are created in dev and tests). */
static const char *const published[] = {"product.sku.created", NULL};

int main(void)
{
    struct svc_config cfg;
    struct catalog_app app = {.cfg = &cfg};
    struct jwt_key *key = NULL;
    struct kafka_producer *producer = NULL;
    struct http_server *srv = NULL;
    enum log_level level = LOG_INFO;
    char err[1024];
    sigset_t sigs;
    int status = 1;

    svc_signals_block(&sigs);
    log_init(CATALOG_SERVICE, LOG_INFO);
    if (svc_config_load(&cfg, &defaults, err, sizeof(err)) < 0) {
        log_errorx("invalid configuration: %s", err);
        return 2;
    }
    log_level_parse(cfg.log_level, &level);
    log_init(CATALOG_SERVICE, level);
    svc_config_log(&cfg);

    if (mysql_library_init(0, NULL, NULL)) {
        log_errorx("cannot initialise the mariadb client library");
        return 1;
    }
    if (!(key = svc_jwt_key(cfg.jwt_public_key_file, "JWT_PUBLIC_KEY_FILE")) ||
        !(app.pool = svc_db_open(&cfg, SVC_TABLES_OUTBOX)) || !(producer = svc_producer_new(&cfg)))
        goto out;
    svc_topics_create(&cfg, NULL, published);
    if (!(app.relay = svc_relay_start(&cfg, app.pool, producer)))
        goto out;
    srv = svc_http_start(&cfg, key, routes, sizeof(routes) / sizeof(routes[0]), &app, ready);
    if (!srv)
        goto out;

    svc_signal_wait(&sigs);
    status = 0;
out:
    if (srv) {
        http_server_drain(srv);
        http_server_stop(srv);
    }
    relay_stop(app.relay);
    kafka_producer_free(producer);
    db_pool_free(app.pool);
    jwt_key_free(key);
    metrics_reset();
    mysql_library_end();
    log_info("stopped");
    return status;
}
