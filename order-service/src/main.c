/*
 * main.c - order-service wiring only: config + logging → MariaDB pool + migrations → Kafka
 * producer + outbox relay → HTTP server → event consumer → payment-deadline scheduler → wait
 * for SIGINT/SIGTERM → tear down in reverse (readiness 503, stop the scheduler and the
 * consumer, stop HTTP, stop the relay, flush the producer, close the pool).
 */
#include <signal.h>
#include <string.h>

#include <mysql.h>

#include "app.h"
#include "common/contracts.h"
#include "common/event_types.h"
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

/* The consumed types of ORDER_HANDLERS (each from v1 up to its published version) into
 * @ret, and the types this service publishes into @ret_published; both terminated. Until
 * svc_main() derives them. */
static void event_lists(struct kafka_type *ret, const char **ret_published)
{
    size_t n = 0;

    for (const struct svc_handler *h = ORDER_HANDLERS; h->handle; h++)
        ret[n++] = (struct kafka_type){event_type_name(h->type), 1, event_type_version(h->type)};
    ret[n] = (struct kafka_type){NULL, 0, 0};
    n = 0;
    for (int t = EVENT_NONE + 1; t < EVENT_NTYPES; t++) {
        if (strcmp(event_type_producer((enum event_type)t), ORDER_SERVICE) == 0)
            ret_published[n++] = event_type_name((enum event_type)t);
    }
    ret_published[n] = NULL;
}

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
    struct worker *deadline = NULL;
    struct kafka_type consumed[EVENT_NTYPES + 1];
    const char *published[EVENT_NTYPES + 1];
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
    event_lists(consumed, published);
    svc_topics_create(&cfg.svc, consumed, published);
    if (!(app.relay = svc_relay_start(&cfg.svc, app.pool, producer)))
        goto out;
    if (!(srv = svc_http_start(&cfg.svc, key, routes, sizeof(routes) / sizeof(routes[0]), &app,
                               ready)) ||
        !(contracts = svc_contracts_load()) ||
        !(consumer = svc_consumer_start(&cfg.svc, consumed, order_handle_event, &app, producer,
                                        contracts)))
        goto out;
    deadline = worker_start(&(struct worker_opts){.name = "payment deadline",
                                                  .period_ms = cfg.deadline_scan_ms,
                                                  .run = order_deadline_run,
                                                  .arg = &app},
                            err, sizeof(err));
    if (!deadline) {
        log_errorx("cannot start the payment deadline scheduler: %s", err);
        goto out;
    }

    svc_signal_wait(&sigs);
    status = 0;
out:
    if (srv)
        http_server_drain(srv);
    worker_stop(deadline);
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
