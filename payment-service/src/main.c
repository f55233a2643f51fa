/*
 * main.c - payment-service wiring only: config + logging → MariaDB pool + migrations →
 * Kafka producer + outbox relay → HTTP server → order-event consumer → wait for
 * SIGINT/SIGTERM → tear down in reverse (readiness 503, stop the consumer, quiesce HTTP and
 * wait for in-flight requests, stop the relay, flush the producer, close the pool).
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
    {"POST", "/api/payments/confirm", HTTP_AUTH_USER, http_payment_confirm},
    {"GET", "/api/payments/{orderId}", HTTP_AUTH_USER, http_payment_get},
};

static int ready(void *arg, char *why, size_t whylen)
{
    struct pay_app *app = arg;

    return db_ping(app->pool, why, whylen);
}

int main(void)
{
    static struct pay_config cfg;
    struct pay_app app = {.cfg = &cfg};
    struct jwt_key *key = NULL;
    struct kafka_producer *producer = NULL;
    struct kafka_consumer *consumer = NULL;
    struct contracts *contracts = NULL;
    struct http_server *srv = NULL;
    enum log_level level = LOG_INFO;
    char err[1024];
    sigset_t sigs;
    int status = 1;

    svc_signals_block(&sigs);
    log_init(PAYMENT_SERVICE, LOG_INFO);
    if (pay_config_load(&cfg, err, sizeof(err)) < 0) {
        log_errorx("invalid configuration: %s", err);
        return 2;
    }
    log_level_parse(cfg.svc.log_level, &level);
    log_init(PAYMENT_SERVICE, level);
    pay_config_log(&cfg);
    pay_metrics_register();

    if (mysql_library_init(0, NULL, NULL)) {
        log_errorx("cannot initialise the mariadb client library");
        return 1;
    }
    if (!(key = svc_jwt_key(cfg.svc.jwt_public_key_file, "JWT_PUBLIC_KEY_FILE")) ||
        !(app.pool = svc_db_open(&cfg.svc, SVC_TABLES_OUTBOX | SVC_TABLES_INBOX)) ||
        !(producer = svc_producer_new(&cfg.svc)))
        goto out;
    svc_topics_create(&cfg.svc, PAY_CONSUMED_TYPES, PAY_PUBLISHED_TYPES);
    if (!(app.relay = svc_relay_start(&cfg.svc, app.pool, producer)))
        goto out;
    if (!(srv = svc_http_start(&cfg.svc, key, routes, sizeof(routes) / sizeof(routes[0]), &app,
                               ready)) ||
        !(contracts = svc_contracts_load()) ||
        !(consumer = svc_consumer_start(&cfg.svc, PAY_CONSUMED_TYPES, pay_handle_event, &app,
                                        producer, contracts)))
        goto out;

    svc_signal_wait(&sigs);
    status = 0;
out:
    if (srv)
        http_server_drain(srv);
    kafka_consumer_stop(consumer);
    contracts_free(contracts); /* after the consumer: it borrows them */
    http_server_stop(srv);
    relay_stop(app.relay);
    kafka_producer_free(producer);
    db_pool_free(app.pool);
    jwt_key_free(key);
    metrics_reset();
    mysql_library_end();
    log_info("stopped");
    return status;
}
