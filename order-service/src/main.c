/*
 * main.c - order-service wiring only: config + logging → MariaDB pool + migrations → Kafka
 * producer + outbox relay → HTTP server → event consumer → payment-deadline scheduler → wait
 * for SIGINT/SIGTERM → tear down in reverse (readiness 503, stop the scheduler and the
 * consumer, stop HTTP, stop the relay, flush the producer, close the pool).
 */
#include <signal.h>

#include <mysql.h>

#include "app.h"
#include "common/contracts.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/svc.h"

static const struct http_route routes[] = {
    {"POST", "/api/orders", HTTP_AUTH_USER, http_order_create},
    {"GET", "/api/orders", HTTP_AUTH_USER, http_order_list},
    {"GET", "/api/orders/{id}", HTTP_AUTH_USER, http_order_get},
    {"POST", "/api/orders/{id}/cancel", HTTP_AUTH_USER, http_order_cancel},
    {"POST", "/api/orders/{id}/refund", HTTP_AUTH_USER, http_order_refund},
};

/* The order events this service publishes (their topics are created in dev and tests). */
static const char *const published[] = {"order.placed", "order.confirmed", "order.cancelled",
                                        "order.refunded", NULL};

static int ready(void *arg, char *why, size_t whylen)
{
    struct order_app *app = arg;

    return db_ping(app->pool, why, whylen);
}

int main(void)
{
    static struct order_config cfg;
    struct order_app app = {.cfg = &cfg};
    struct jwt_key *key = NULL;
    struct kafka_producer *producer = NULL;
    struct kafka_consumer *consumer = NULL;
    struct contracts *contracts = NULL;
    struct order_deadline *deadline = NULL;
    struct http_server *srv = NULL;
    enum log_level level = LOG_INFO;
    char err[1024];
    sigset_t sigs;
    int status = 1;

    svc_signals_block(&sigs);
    log_init(ORDER_SERVICE, LOG_INFO);
    if (order_config_load(&cfg, err, sizeof(err)) < 0) {
        log_errorx("invalid configuration: %s", err);
        return 2;
    }
    log_level_parse(cfg.svc.log_level, &level);
    log_init(ORDER_SERVICE, level);
    order_config_log(&cfg);
    order_metrics_register();

    if (mysql_library_init(0, NULL, NULL)) {
        log_errorx("cannot initialise the mariadb client library");
        return 1;
    }
    if (!(key = svc_jwt_key(cfg.svc.jwt_public_key_file, "JWT_PUBLIC_KEY_FILE")) ||
        !(app.pool = svc_db_open(&cfg.svc, SVC_TABLES_OUTBOX | SVC_TABLES_INBOX)) ||
        !(producer = svc_producer_new(&cfg.svc)))
        goto out;
    svc_topics_create(&cfg.svc, ORDER_CONSUMED_TYPES, published);
    if (!(app.relay = svc_relay_start(&cfg.svc, app.pool, producer)))
        goto out;
    if (!(srv = svc_http_start(&cfg.svc, key, routes, sizeof(routes) / sizeof(routes[0]), &app,
                               ready)) ||
        !(contracts = svc_contracts_load()) ||
        !(consumer = svc_consumer_start(&cfg.svc, ORDER_CONSUMED_TYPES, order_handle_event, &app,
                                        producer, contracts)))
        goto out;
    deadline = order_deadline_start(&app, err, sizeof(err));
    if (!deadline) {
        log_errorx("cannot start the payment deadline scheduler: %s", err);
        goto out;
    }

    svc_signal_wait(&sigs);
    status = 0;
out:
    if (srv)
        http_server_drain(srv);
    order_deadline_stop(deadline);
    kafka_consumer_stop(consumer);
    contracts_free(contracts); /* after the consumer: it borrows them */
    http_server_stop(srv);
    outbox_relay_stop(app.relay);
    kafka_producer_free(producer);
    db_pool_free(app.pool);
    jwt_key_free(key);
    metrics_reset();
    mysql_library_end();
    log_info("stopped");
    return status;
}
