/*
 * main.c - inventory-service wiring only: config + logging → MariaDB pool + migrations →
 * Redis pool → Kafka producer + outbox-stream relay → snapshot thread → HTTP server → event
 * consumer → wait for SIGINT/SIGTERM → tear down in reverse (readiness 503, stop the consumer,
 * the relay and the snapshot, stop HTTP, flush the producer, close the pools).
 */
#include <signal.h>

#include <mysql.h>

#include "app.h"
#include "common/contracts.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/relay.h"
#include "common/svc.h"
#include "common/worker.h"
#include "snapshot.h"

static const struct http_route routes[] = {
    {"GET", "/api/inventories/{skuId}", HTTP_AUTH_NONE, http_inventory_get},
    {"POST", "/api/inventories/bulk", HTTP_AUTH_NONE, http_inventory_bulk},
    {"POST", "/api/inventories/increase", HTTP_AUTH_ADMIN, http_inventory_bulk_increase},
    {"POST", "/api/inventories/decrease", HTTP_AUTH_ADMIN, http_inventory_bulk_decrease},
    {"POST", "/api/inventories/{skuId}/increase", HTTP_AUTH_ADMIN, http_inventory_increase},
    {"POST", "/api/inventories/{skuId}/decrease", HTTP_AUTH_ADMIN, http_inventory_decrease},
};

/* The stock events this service publishes (their topics are created in dev and tests). */
static const char *const published[] = {"stock.reserved",  "stock.reservation.failed",
                                        "stock.confirmed", "stock.confirm.failed",
                                        "stock.released",  NULL};

static int ready(void *arg, char *why, size_t whylen)
{
    struct inv_app *app = arg;
    int rc = rds_ping(app->rds, why, whylen);

    return rc < 0 ? rc : db_ping(app->pool, why, whylen);
}

static void metrics_register(void)
{
    metrics_counter("commerce_inventory_outcomes_total",
                    "stock script outcomes by status (RESERVED, NOT_ENOUGH_STOCK, …)", "outcome");
}

int main(void)
{
    static struct inv_config cfg;
    struct inv_app app = {.cfg = &cfg};
    struct jwt_key *key = NULL;
    struct kafka_producer *producer = NULL;
    struct kafka_consumer *consumer = NULL;
    struct contracts *contracts = NULL;
    struct relay *relay = NULL;
    struct worker *snap = NULL;
    struct http_server *srv = NULL;
    enum log_level level = LOG_INFO;
    char err[1024];
    sigset_t sigs;
    int status = 1;

    svc_signals_block(&sigs);
    log_init(INVENTORY_SERVICE, LOG_INFO);
    if (inv_config_load(&cfg, err, sizeof(err)) < 0) {
        log_errorx("invalid configuration: %s", err);
        return 2;
    }
    log_level_parse(cfg.svc.log_level, &level);
    log_init(INVENTORY_SERVICE, level);
    inv_config_log(&cfg);
    metrics_register();

    if (mysql_library_init(0, NULL, NULL)) {
        log_errorx("cannot initialise the mariadb client library");
        return 1;
    }
    /* MariaDB holds only the snapshot: stock changes live in Redis, so no outbox or inbox */
    if (!(key = svc_jwt_key(cfg.svc.jwt_public_key_file, "JWT_PUBLIC_KEY_FILE")) ||
        !(app.pool = svc_db_open(&cfg.svc, 0)))
        goto out;
    {
        struct rds_opts opts = {.host = cfg.redis_host,
                                .port = (unsigned)cfg.redis_port,
                                .timeout_ms = 2000,
                                .pool_size = (unsigned)cfg.redis_pool_size};
        app.rds = rds_pool_new(&opts, err, sizeof(err));
        if (!app.rds) {
            log_errorx("cannot set up the redis pool: %s", err);
            goto out;
        }
    }
    if (!(producer = svc_producer_new(&cfg.svc)))
        goto out;
    svc_topics_create(&cfg.svc, INV_CONSUMED_TYPES, published);
    if (cfg.test_crash) {
        log_warnx("test hook INVENTORY_TEST_CRASH_AFTER_SCRIPT set: relay disabled");
    } else {
        struct relay_stream_opts sopts = {.rds = app.rds,
                                          .stream = cfg.stream,
                                          .group = cfg.relay_group,
                                          .consumer = cfg.relay_name};
        struct relay_opts opts = {.producer = producer, .poll_ms = (int)cfg.svc.outbox_poll_ms};

        relay = relay_start(&opts, relay_stream_source(&sopts), err, sizeof(err));
        if (!relay) {
            log_errorx("cannot start the outbox relay: %s", err);
            goto out;
        }
    }
    snap = worker_start(&(struct worker_opts){.name = "stock snapshot",
                                              .period_ms = cfg.snapshot_s * 1000,
                                              .run = inv_snapshot_run,
                                              .arg = &app},
                        err, sizeof(err));
    if (!snap) {
        log_errorx("cannot start the snapshot thread: %s", err);
        goto out;
    }
    if (!(srv = svc_http_start(&cfg.svc, key, routes, sizeof(routes) / sizeof(routes[0]), &app,
                               ready)) ||
        !(contracts = svc_contracts_load()) ||
        !(consumer = svc_consumer_start(&cfg.svc, INV_CONSUMED_TYPES, inv_handle_event, &app,
                                        producer, contracts)))
        goto out;

    svc_signal_wait(&sigs);
    status = 0;
out:
    if (srv)
        http_server_drain(srv);
    kafka_consumer_stop(consumer);
    contracts_free(contracts); /* after the consumer: it borrows them */
    relay_stop(relay);
    worker_stop(snap);
    http_server_stop(srv);
    kafka_producer_free(producer);
    rds_pool_free(app.rds);
    db_pool_free(app.pool);
    jwt_key_free(key);
    metrics_reset();
    mysql_library_end();
    log_info("stopped");
    return status;
}
