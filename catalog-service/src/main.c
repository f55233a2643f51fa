/*
 * main.c - catalog-service wiring only: config + logging → MariaDB pool + migrations →
 * Kafka producer + outbox relay → HTTP server → wait for SIGINT/SIGTERM → tear down in
 * reverse (readiness 503, quiesce HTTP and wait for in-flight requests, stop the relay,
 * flush the producer, close the pool).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "app.h"
#include "common/event.h"
#include "common/inbox.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"

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

static int migrate(struct db_pool *pool, const char *dir, char *err, size_t errlen)
{
    struct db_conn *conn = db_acquire(pool, err, errlen);
    int rc;

    if (!conn)
        return -EIO;
    rc = db_migrate(conn, "outbox", OUTBOX_MIGRATIONS, OUTBOX_NMIGRATIONS, err, errlen);
    if (rc == 0)
        rc = db_migrate_dir(conn, CATALOG_SERVICE, dir, err, errlen);
    db_release(pool, conn);
    return rc;
}

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
    int sig, status = 1;

    /* block the stop signals before any thread starts, so only sigwait() sees them */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

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
    key = jwt_key_from_file(cfg.jwt_public_key_file, err, sizeof(err));
    if (!key) {
        log_errorx("cannot load JWT_PUBLIC_KEY_FILE: %s", err);
        goto out;
    }
    {
        struct db_opts opts = {.host = cfg.db_host,
                               .port = (unsigned)cfg.db_port,
                               .user = cfg.db_user,
                               .password = cfg.db_password,
                               .database = cfg.db_name,
                               .pool_size = (unsigned)cfg.db_pool_size,
                               .connect_timeout_s = 5,
                               .acquire_timeout_ms = 5000,
                               .create_database = cfg.db_auto_create};
        app.pool = db_pool_new(&opts, err, sizeof(err));
        if (!app.pool) {
            log_errorx("cannot set up the database pool: %s", err);
            goto out;
        }
    }
    if (migrate(app.pool, cfg.migrations_dir, err, sizeof(err)) < 0) {
        log_errorx("migrations failed: %s", err);
        goto out;
    }
    {
        struct kafka_producer_opts opts = {.bootstrap = cfg.kafka_bootstrap,
                                           .client_id = CATALOG_SERVICE,
                                           .message_timeout_ms = 10000};
        producer = kafka_producer_new(&opts, err, sizeof(err));
        if (!producer) {
            log_errorx("cannot create the kafka producer: %s", err);
            goto out;
        }
    }
    if (cfg.kafka_create_topics) {
        const char *topic = event_topic("product.sku.created");
        char dlq[256];
        const char *topics[3] = {topic, dlq, NULL};

        snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
        if (kafka_create_topics(cfg.kafka_bootstrap, topics, 3, err, sizeof(err)) < 0)
            log_warnx("cannot create topics (the relay retries until they exist): %s", err);
    }
    {
        struct outbox_relay_opts opts = {.pool = app.pool,
                                         .producer = producer,
                                         .poll_ms = (int)cfg.outbox_poll_ms};
        app.relay = outbox_relay_start(&opts, err, sizeof(err));
        if (!app.relay) {
            log_errorx("cannot start the outbox relay: %s", err);
            goto out;
        }
    }
    {
        struct http_opts opts = {.bind = cfg.http_bind,
                                 .port = (unsigned short)cfg.http_port,
                                 .threads = (unsigned)cfg.http_threads,
                                 .max_body = (size_t)cfg.http_max_body,
                                 .jwt_key = key,
                                 .ready = ready};
        srv = http_server_start(&opts, routes, sizeof(routes) / sizeof(routes[0]), &app, err,
                                sizeof(err));
        if (!srv) {
            log_errorx("cannot start the http server: %s", err);
            goto out;
        }
    }
    log_info("listening on %s:%u", cfg.http_bind, http_port(srv));

    if (sigwait(&sigs, &sig) == 0)
        log_info("received signal %d, shutting down", sig);
    status = 0;
out:
    if (srv) {
        http_server_drain(srv);
        http_server_stop(srv);
    }
    outbox_relay_stop(app.relay);
    kafka_producer_free(producer);
    db_pool_free(app.pool);
    jwt_key_free(key);
    metrics_reset();
    mysql_library_end();
    log_info("stopped");
    return status;
}
