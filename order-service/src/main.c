/*
 * main.c - order-service wiring only: config + logging → MariaDB pool + migrations → Kafka
 * producer + outbox relay → HTTP server → event consumer → payment-deadline scheduler → wait
 * for SIGINT/SIGTERM → tear down in reverse (readiness 503, stop the scheduler and the
 * consumer, stop HTTP, stop the relay, flush the producer, close the pool).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "app.h"
#include "common/contracts.h"
#include "common/event.h"
#include "common/inbox.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"

/* A consumed payload that fails its contract (contracts/<type>/v<N>.json), whatever its version,
 * goes to the dead-letter topic with dlq_error "schema: <pointer>: <message>"; handlers see
 * only contract-valid events (issue 7). */
#define CONSUMER_SCHEMA_POLICY KAFKA_SCHEMA_ENFORCE

#define MAX_TOPICS 32

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

static int migrate(struct db_pool *pool, const char *dir, char *err, size_t errlen)
{
    struct db_conn *conn = db_acquire(pool, err, errlen);
    int rc;

    if (!conn)
        return -EIO;
    rc = db_migrate(conn, "outbox", OUTBOX_MIGRATIONS, OUTBOX_NMIGRATIONS, err, errlen);
    if (rc == 0)
        rc = db_migrate(conn, "inbox", INBOX_MIGRATIONS, INBOX_NMIGRATIONS, err, errlen);
    if (rc == 0)
        rc = db_migrate_dir(conn, ORDER_SERVICE, dir, err, errlen);
    db_release(pool, conn);
    return rc;
}

/* Adds @topic to @list (of @n) unless present. */
static void topic_add(const char **list, size_t *n, const char *topic)
{
    if (!topic || *n >= MAX_TOPICS)
        return;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(list[i], topic) == 0)
            return;
    }
    list[(*n)++] = topic;
}

/* The consumed topics (NULL-terminated) into @ret; with @all also their dead-letter topics
 * (names written into @buf) and the published ones. */
static size_t topics_collect(const char **ret, bool all, char (*buf)[256])
{
    size_t n = 0, nconsumed;

    for (size_t i = 0; ORDER_CONSUMED_TYPES[i].type; i++)
        topic_add(ret, &n, event_topic(ORDER_CONSUMED_TYPES[i].type));
    nconsumed = n;
    if (all) {
        for (size_t i = 0; i < nconsumed; i++) {
            snprintf(buf[i], sizeof(buf[i]), "%s.dlq", ret[i]);
            topic_add(ret, &n, buf[i]);
        }
        for (size_t i = 0; published[i]; i++)
            topic_add(ret, &n, event_topic(published[i]));
    }
    ret[n] = NULL;
    return n;
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
    const char *topics[MAX_TOPICS + 1];
    char dlq[MAX_TOPICS][256];
    char err[1024];
    sigset_t sigs;
    int sig, status = 1;

    /* block the stop signals before any thread starts, so only sigwait() sees them */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

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
    key = jwt_key_from_file(cfg.svc.jwt_public_key_file, err, sizeof(err));
    if (!key) {
        log_errorx("cannot load JWT_PUBLIC_KEY_FILE: %s", err);
        goto out;
    }
    {
        struct db_opts opts = {.host = cfg.svc.db_host,
                               .port = (unsigned)cfg.svc.db_port,
                               .user = cfg.svc.db_user,
                               .password = cfg.svc.db_password,
                               .database = cfg.svc.db_name,
                               .pool_size = (unsigned)cfg.svc.db_pool_size,
                               .connect_timeout_s = 5,
                               .acquire_timeout_ms = 5000,
                               .create_database = cfg.svc.db_auto_create};
        app.pool = db_pool_new(&opts, err, sizeof(err));
        if (!app.pool) {
            log_errorx("cannot set up the database pool: %s", err);
            goto out;
        }
    }
    if (migrate(app.pool, cfg.svc.migrations_dir, err, sizeof(err)) < 0) {
        log_errorx("migrations failed: %s", err);
        goto out;
    }
    {
        struct kafka_producer_opts opts = {.bootstrap = cfg.svc.kafka_bootstrap,
                                           .client_id = ORDER_SERVICE,
                                           .message_timeout_ms = 10000};
        producer = kafka_producer_new(&opts, err, sizeof(err));
        if (!producer) {
            log_errorx("cannot create the kafka producer: %s", err);
            goto out;
        }
    }
    if (cfg.svc.kafka_create_topics) {
        topics_collect(topics, true, dlq);
        if (kafka_create_topics(cfg.svc.kafka_bootstrap, topics, 3, err, sizeof(err)) < 0)
            log_warnx("cannot create topics (the relay retries until they exist): %s", err);
    }
    {
        struct outbox_relay_opts opts = {
            .pool = app.pool, .producer = producer, .poll_ms = (int)cfg.svc.outbox_poll_ms};
        app.relay = outbox_relay_start(&opts, err, sizeof(err));
        if (!app.relay) {
            log_errorx("cannot start the outbox relay: %s", err);
            goto out;
        }
    }
    {
        struct http_opts opts = {.bind = cfg.svc.http_bind,
                                 .port = (unsigned short)cfg.svc.http_port,
                                 .threads = (unsigned)cfg.svc.http_threads,
                                 .max_body = (size_t)cfg.svc.http_max_body,
                                 .jwt_key = key,
                                 .ready = ready};
        srv = http_server_start(&opts, routes, sizeof(routes) / sizeof(routes[0]), &app, err,
                                sizeof(err));
        if (!srv) {
            log_errorx("cannot start the http server: %s", err);
            goto out;
        }
    }
    /* the event contracts every consumed payload is checked against (CONTRACTS_DEFAULT_DIR,
     * relative to the working directory: the checkout in dev and tests, /app in the image) */
    if (contracts_load_default(NULL, &contracts, err, sizeof(err)) < 0) {
        log_errorx("cannot load the event contracts: %s", err);
        goto out;
    }
    {
        struct kafka_consumer_opts opts = {
            .bootstrap = cfg.svc.kafka_bootstrap,
            .group_id = cfg.svc.kafka_group_id,
            .service = ORDER_SERVICE,
            .topics = topics,
            .types = ORDER_CONSUMED_TYPES,
            .handler = order_handle_event,
            .app = &app,
            .dlq_producer = producer,
            .max_attempts = (int)cfg.svc.consumer_max_attempts,
            .backoff_base_ms = (int)cfg.svc.consumer_backoff_base_ms,
            .backoff_max_ms = (int)cfg.svc.consumer_backoff_max_ms,
            .contracts = contracts,
            .schema_policy = CONSUMER_SCHEMA_POLICY,
        };

        topics_collect(topics, false, dlq);
        consumer = kafka_consumer_start(&opts, err, sizeof(err));
        if (!consumer) {
            log_errorx("cannot start the event consumer: %s", err);
            goto out;
        }
    }
    deadline = order_deadline_start(&app, err, sizeof(err));
    if (!deadline) {
        log_errorx("cannot start the payment deadline scheduler: %s", err);
        goto out;
    }
    log_info("listening on %s:%u", cfg.svc.http_bind, http_port(srv));

    if (sigwait(&sigs, &sig) == 0)
        log_info("received signal %d, shutting down", sig);
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
