/* svc.c - the start-up and shut-down steps every daemon's main() shares (see svc.h). */
#include "common/svc.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/contracts.h"
#include "common/event.h"
#include "common/event_types.h"
#include "common/inbox.h"
#include "common/kafka_acl.h"
#include "common/log.h"
#include "common/outbox.h"

#define SVC_MAX_TOPICS 32
#define SVC_TOPIC_PARTITIONS 3

/* contracts_check_event() answers in kafka_check_fn's terms (they cannot include each other) */
_Static_assert(CONTRACTS_CHECK_LENIENT == KAFKA_CHECK_LENIENT, "lenient answers differ");

void svc_signals_block(sigset_t *ret_sigs)
{
    sigemptyset(ret_sigs);
    sigaddset(ret_sigs, SIGINT);
    sigaddset(ret_sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, ret_sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void svc_signal_wait(const sigset_t *sigs)
{
    int sig;

    if (sigwait(sigs, &sig) == 0)
        log_info("received signal %d, shutting down", sig);
}

struct jwt_key *svc_jwt_key(const char *path, const char *setting)
{
    char err[512];
    struct jwt_key *key = jwt_key_from_file(path, err, sizeof(err));

    if (!key)
        log_errorx("cannot load %s: %s", setting, err);
    return key;
}

static int migrate(struct db_pool *pool, const struct svc_config *cfg, unsigned tables, char *err,
                   size_t errlen)
{
    struct db_conn *conn = db_acquire(pool, err, errlen);
    int rc = 0;

    if (!conn)
        return -EIO;
    if (tables & SVC_TABLES_OUTBOX)
        rc = db_migrate(conn, "outbox", OUTBOX_MIGRATIONS, OUTBOX_NMIGRATIONS, err, errlen);
    if (rc == 0 && (tables & SVC_TABLES_INBOX))
        rc = db_migrate(conn, "inbox", INBOX_MIGRATIONS, INBOX_NMIGRATIONS, err, errlen);
    if (rc == 0)
        rc = db_migrate_dir(conn, cfg->service, cfg->migrations_dir, err, errlen);
    db_release(pool, conn);
    return rc;
}

struct db_pool *svc_db_open(const struct svc_config *cfg, unsigned tables)
{
    struct db_opts opts = {.host = cfg->db_host,
                           .port = (unsigned)cfg->db_port,
                           .user = cfg->db_user,
                           .password = cfg->db_password,
                           .database = cfg->db_name,
                           .pool_size = (unsigned)cfg->db_pool_size,
                           .connect_timeout_s = 5,
                           .acquire_timeout_ms = 5000,
                           .create_database = cfg->db_auto_create};
    char err[1024];
    struct db_pool *pool = db_pool_new(&opts, err, sizeof(err));

    if (!pool) {
        log_errorx("cannot set up the database pool: %s", err);
        return NULL;
    }
    if (migrate(pool, cfg, tables, err, sizeof(err)) < 0) {
        log_errorx("migrations failed: %s", err);
        db_pool_free(pool);
        return NULL;
    }
    return pool;
}

struct kafka_producer *svc_producer_new(const struct svc_config *cfg)
{
    struct kafka_producer_opts opts = {
        .bootstrap = cfg->kafka_bootstrap,
        .client_id = cfg->service,
        .message_timeout_ms = 10000,
        .auth = &cfg->kafka_auth.auth,
        .linger_ms = (int)cfg->kafka_linger_ms,
    };
    char err[512];
    struct kafka_producer *p = kafka_producer_new(&opts, err, sizeof(err));

    if (!p)
        log_errorx("cannot create the kafka producer: %s", err);
    return p;
}

/* Adds @topic to @list (of *@n, room for @max) unless present. */
static void topic_add(const char **list, size_t *n, size_t max, const char *topic)
{
    if (!topic || *n >= max)
        return;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(list[i], topic) == 0)
            return;
    }
    list[(*n)++] = topic;
}

size_t svc_consumed_topics(const struct kafka_type *consumed, const char **ret, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; consumed && consumed[i].type; i++)
        topic_add(ret, &n, max, event_topic(consumed[i].type));
    ret[n] = NULL;
    return n;
}

void svc_topics_create(const struct svc_config *cfg, const struct kafka_type *consumed)
{
    const char *topics[2 * SVC_MAX_TOPICS + 1];
    char dlq[SVC_MAX_TOPICS][256];
    size_t n, nbase;
    char err[512];

    if (!cfg->kafka_create_topics)
        return;
    n = svc_consumed_topics(consumed, topics, SVC_MAX_TOPICS);
    for (enum event_type t = EVENT_NONE + 1; t < EVENT_NTYPES; t++) {
        if (strcmp(event_type_producer(t), cfg->service) == 0)
            topic_add(topics, &n, SVC_MAX_TOPICS, event_topic(event_type_name(t)));
    }
    nbase = n;
    for (size_t i = 0; i < nbase; i++) {
        snprintf(dlq[i], sizeof(dlq[i]), "%s.dlq", topics[i]);
        topic_add(topics, &n, 2 * SVC_MAX_TOPICS, dlq[i]);
    }
    topics[n] = NULL;
    if (kafka_create_topics(cfg->kafka_bootstrap, &cfg->kafka_auth.auth, topics,
                            SVC_TOPIC_PARTITIONS, err, sizeof(err)) < 0)
        log_warnx("cannot create topics (relays and consumers retry until they exist): %s", err);
}

struct contracts *svc_contracts_load(void)
{
    struct contracts *contracts = NULL;
    char err[1024];

    if (contracts_load_default(NULL, &contracts, err, sizeof(err)) < 0) {
        log_errorx("cannot load the event contracts: %s", err);
        return NULL;
    }
    return contracts;
}

enum kafka_result svc_db_result(int rc)
{
    if (rc == -EIO)
        return KAFKA_UNAVAILABLE;
    return db_transient(rc) ? KAFKA_RETRY : KAFKA_FAIL;
}

/* Whether @types (terminated by {NULL}) is the list kafka_acl.h grants @service READ on: a
 * handler added without it would fail on the broker with an authorisation error, so say so
 * now. -EINVAL (logged) when they differ; 0 when equal or @service has no principal. */
static int svc_acl_check(const char *service, const struct kafka_type *types)
{
    const enum event_type *granted = kafka_acl_consumed(service);
    size_t ngranted = 0, ntypes = 0;

    if (!granted)
        return 0;
    while (granted[ngranted] != EVENT_NONE)
        ngranted++;
    for (; types && types[ntypes].type; ntypes++) {
        size_t i = 0;

        while (i < ngranted && strcmp(event_type_name(granted[i]), types[ntypes].type) != 0)
            i++;
        if (i == ngranted) {
            log_errorx("%s handles '%s' but is not among that type's consumers in "
                       "common/include/common/event_types.h (its Kafka ACLs come from there)",
                       service, types[ntypes].type);
            return -EINVAL;
        }
    }
    if (ntypes != ngranted) {
        log_errorx("event_types.h names %s a consumer of %zu types but it handles %zu: make "
                   "the consumers column its handler table",
                   service, ngranted, ntypes);
        return -EINVAL;
    }
    return 0;
}

struct kafka_consumer *svc_consumer_start(const struct svc_config *cfg,
                                          const struct kafka_type *types, kafka_handler_fn handler,
                                          void *app, struct kafka_producer *dlq,
                                          const struct contracts *contracts)
{
    const char *topics[SVC_MAX_TOPICS + 1];
    struct kafka_consumer_opts opts = {
        .bootstrap = cfg->kafka_bootstrap,
        .group_id = cfg->kafka_group_id,
        .service = cfg->service,
        .topics = topics,
        .types = types,
        .handler = handler,
        .app = app,
        .dlq_producer = dlq,
        .max_attempts = (int)cfg->consumer_max_attempts,
        .backoff_base_ms = (int)cfg->consumer_backoff_base_ms,
        .backoff_max_ms = (int)cfg->consumer_backoff_max_ms,
        .session_timeout_ms = (int)cfg->kafka_session_timeout_ms,
        .dlq_max_bytes = (size_t)cfg->consumer_dlq_max_bytes,
        .workers = (int)cfg->consumer_workers,
        .check = contracts_check_event, /* validates, then upcasts (upcast only without) */
        .check_arg = contracts,
        .auth = &cfg->kafka_auth.auth,
    };
    char err[512];
    struct kafka_consumer *c;

    if (svc_acl_check(cfg->service, types) < 0)
        return NULL;
    svc_consumed_topics(types, topics, SVC_MAX_TOPICS);
    if (cfg->consumer_workers > cfg->db_pool_size)
        log_warnx("CONSUMER_WORKERS (%ld) is above DB_POOL_SIZE (%ld): handlers will wait for "
                  "a database connection",
                  cfg->consumer_workers, cfg->db_pool_size);
    c = kafka_consumer_start(&opts, err, sizeof(err));
    if (!c)
        log_errorx("cannot start the event consumer: %s", err);
    return c;
}

unsigned svc_http_threads(long configured)
{
    long n = 2 * sysconf(_SC_NPROCESSORS_ONLN);

    if (configured > 0)
        return (unsigned)configured;
    if (n < SVC_HTTP_THREADS_MIN)
        n = SVC_HTTP_THREADS_MIN;
    return (unsigned)(n > SVC_HTTP_THREADS_MAX ? SVC_HTTP_THREADS_MAX : n);
}

struct http_server *svc_http_start(const struct svc_config *cfg, const struct jwt_key *key,
                                   const struct http_route *routes, size_t nroutes, void *app,
                                   http_ready_fn ready)
{
    struct http_opts opts = {.bind = cfg->http_bind,
                             .port = (unsigned short)cfg->http_port,
                             .threads = svc_http_threads(cfg->http_threads),
                             .max_body = (size_t)cfg->http_max_body,
                             .max_connections = (unsigned)cfg->http_max_connections,
                             .max_connections_per_ip = (unsigned)cfg->http_max_connections_per_ip,
                             .idle_timeout_s = (unsigned)cfg->http_idle_timeout_s,
                             .header_timeout_ms = (unsigned)cfg->http_header_timeout_ms,
                             .jwt_key = key,
                             .ready = ready};
    char err[512];
    struct http_server *srv = http_server_start(&opts, routes, nroutes, app, err, sizeof(err));

    if (!srv)
        log_errorx("cannot start the http server: %s", err);
    else
        log_info("listening on %s:%u", cfg->http_bind, http_port(srv));
    return srv;
}
