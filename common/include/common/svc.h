/*
 * svc.h - the start-up and shut-down steps every daemon's main() shares.
 *
 * STYLE: main.c wires in order — config + logging → mysql_library_init() → stores → producer →
 * HTTP + consumer threads → wait for a signal → tear down in reverse. These are those steps
 * for the settings in struct svc_config, so each main() reads as the list of its own steps.
 * They are for main() only: unlike the rest of common/, each logs what failed (with the
 * setting to look at) and returns NULL or a negative errno, and main() exits.
 */
#ifndef COMMON_SVC_H
#define COMMON_SVC_H

#include <signal.h>
#include <stddef.h>

#include "common/config.h"
#include "common/db.h"
#include "common/event_types.h"
#include "common/http.h"
#include "common/jwt.h"
#include "common/kafka.h"
#include "common/relay.h"
#include "common/worker.h"

struct contracts;

/* Blocks SIGINT and SIGTERM in the calling thread — call it first, so every thread started
 * later inherits the mask and only svc_signal_wait() sees them — and ignores SIGPIPE. */
void svc_signals_block(sigset_t *ret_sigs);

/* Waits for SIGINT or SIGTERM and logs which one came. */
void svc_signal_wait(const sigset_t *sigs);

/* Loads the ES256 key in PEM file @path (@setting names the variable for the message). */
struct jwt_key *svc_jwt_key(const char *path, const char *setting);

/* The library tables a service's database needs besides its own migrations. */
#define SVC_TABLES_OUTBOX 1u /* outbox.h */
#define SVC_TABLES_INBOX 2u  /* inbox.h */

/* A bookkeeping table of the service purged like the inbox (svc_desc.purge): rows whose
 * DATETIME @column is older than INBOX_RETENTION_S go every INBOX_PURGE_MS. */
struct svc_purge {
    const char *table;
    const char *column;
};

/*
 * Opens the MariaDB pool of @cfg (DB_*; DB_AUTO_CREATE creates the database) and applies the
 * migrations: the library tables in @tables, then @cfg->migrations_dir under the scope
 * @cfg->service. Caller owns the pool: db_pool_free().
 */
struct db_pool *svc_db_open(const struct svc_config *cfg, unsigned tables);

/* The idempotent producer of @cfg (KAFKA_BOOTSTRAP, logging in as KAFKA_SASL_USERNAME with
 * KAFKA_SECURITY_PROTOCOL=SASL_*), client id = the service. Caller owns it:
 * kafka_producer_free(). */
struct kafka_producer *svc_producer_new(const struct svc_config *cfg);

/* The distinct topics of @consumed (terminated by {NULL}) into @ret, NULL-terminated;
 * @ret has room for @max topics plus the NULL. Returns the count. */
size_t svc_consumed_topics(const struct kafka_type *consumed, const char **ret, size_t max);

/* With KAFKA_CREATE_TOPICS (dev and tests; production creates them with a script): creates
 * the topics of the @consumed types (terminated by {NULL}; may be NULL) and of the types
 * @cfg->service publishes (event_type_producer() in common/event_types.h), each with its
 * "<topic>.dlq" twin. A failure is only a warning: the relays and consumers retry until the
 * topics exist. */
void svc_topics_create(const struct svc_config *cfg, const struct kafka_type *consumed);

/* The event contracts in CONTRACTS_DEFAULT_DIR ("contracts", relative to the working
 * directory: the checkout in dev and tests, /app in the image). Caller owns them:
 * contracts_free(), after the consumer that borrows them is stopped. */
struct contracts *svc_contracts_load(void);

/*
 * Starts the consumer of @cfg (KAFKA_BOOTSTRAP, KAFKA_GROUP_ID, CONSUMER_*, its principal) on
 * the topics of @types, calling @handler with @app; refuses (NULL) when @types is not the list
 * common/kafka_acl.h grants @cfg->service. Every payload is validated against @contracts and
 * upcast to the newest version the handler takes (the consumer's check hook is
 * contracts_check_event(); with @contracts NULL it only upcasts); what fails its contract, and
 * what never succeeds, goes to "<topic>.dlq" through @dlq. All borrowed until
 * kafka_consumer_stop().
 */
struct kafka_consumer *svc_consumer_start(const struct svc_config *cfg,
                                          const struct kafka_type *types, kafka_handler_fn handler,
                                          void *app, struct kafka_producer *dlq,
                                          const struct contracts *contracts);

/* What a consumer does with a handler's database failure @rc (common/db.h codes): -EIO (the
 * server unreachable, the connection lost) → KAFKA_UNAVAILABLE, waited out; -EDEADLK →
 * KAFKA_RETRY; anything else (a bug, a constraint) → KAFKA_FAIL. */
enum kafka_result svc_db_result(int rc);

/* HTTP_THREADS 0 (the default): twice the online CPUs, at least SVC_HTTP_THREADS_MIN and at
 * most SVC_HTTP_THREADS_MAX. Handlers that only compute (catalog's cached reads) want about one
 * thread per CPU: more runnable threads than CPUs add run-queue waits to the tail (on 2 CPUs, 8
 * threads made a read's p99 two to three times longer; docs/benchmarks.md); handlers that wait
 * on MariaDB or another service want some more. A parked request (http_park) holds none.
 * @configured > 0 is returned as it is. */
#define SVC_HTTP_THREADS_MIN 4
#define SVC_HTTP_THREADS_MAX 64
unsigned svc_http_threads(long configured);

/* Starts the HTTP server of @cfg (HTTP_BIND, HTTP_PORT, HTTP_THREADS, HTTP_MAX_BODY) with
 * @routes, verifying tokens with @key. @routes, @key and @app are borrowed until
 * http_server_stop(). */
struct http_server *svc_http_start(const struct svc_config *cfg, const struct jwt_key *key,
                                   const struct http_route *routes, size_t nroutes, void *app,
                                   http_ready_fn ready);

/* ===================== a service described by data, run by svc_main() ===================== */

/* One consumed event type and its handler. A service's table ends with {EVENT_NONE, NULL};
 * the consumed types (each from v1 up to event_type_max_version(), older payloads upcast) and
 * their topics come from it, and svc_main()'s dispatcher calls the handler of the type. */
struct svc_handler {
    enum event_type type;
    kafka_handler_fn handle; /* @app is svc_desc.app */
};

struct svc;

/* A background job: a worker (worker.h) started after the relay and stopped before it.
 * @run gets svc_desc.app. Its period comes from the configuration, hence a function. */
struct svc_job {
    const char *name; /* "payment deadline" (logs) */
    worker_fn run;    /* arg = svc_desc.app */
    long (*period_ms)(const void *app);
};

/*
 * A service. svc_main() runs one defined lifecycle for every daemon:
 *   block signals → load config (common table + @config, then @check; every error at once,
 *   exit 2) → log → @metrics_register → @global_init (libraries that must start before any
 *   thread) → mysql_library_init → JWT key → MariaDB pool + migrations (@tables) → @start (the
 *   service's own stores and clients) → producer (when it publishes or consumes) → topics
 *   (dev) → relay (@relay_source) → jobs (@jobs, plus the purge of the inbox and @purge) →
 *   HTTP → contracts + consumer (@handlers) → sigwait →
 *   readiness 503 + drain HTTP → stop the consumer → free the contracts → stop the jobs →
 *   stop HTTP → stop the relay → flush the producer → @stop → close the pool → free the key →
 *   metrics_reset → library ends (@global_end last).
 * Every NULL/0 field means "this service has none". One service per process.
 */
struct svc_desc {
    const char *name;                    /* "order-service" */
    const struct svc_defaults *defaults; /* per-service defaults of the common settings */
    struct svc_config *cfg;              /* the service's config struct, svc_config first */
    const struct cfg_entry *config;      /* its own settings (into cfg), ended by {NULL} */
    /* rules across settings, after loading: appends its problems to @errbuf ("; " between
     * them) and returns -EINVAL, or 0 */
    int (*check)(const void *cfg, char *errbuf, size_t errlen);
    unsigned tables; /* SVC_TABLES_* besides its own migrations */
    /* its own tables purged with the inbox; terminated by {NULL}; may be NULL */
    const struct svc_purge *purge;
    const struct http_route *routes;
    size_t nroutes;
    const struct svc_handler *handlers; /* consumed types; NULL: consumes nothing */
    const struct svc_job *jobs;         /* terminated by {NULL}; may be NULL */
    void *app;                          /* handed to routes, handlers, jobs, hooks */
    /* where the app keeps the pool (set before @start) */
    struct db_pool **app_pool;
    /* the relay's source; NULL: no relay. svc_relay_outbox() for the outbox table. A hook
     * that returns NULL runs this process without a relay (it logs why). */
    struct relay_source *(*relay_source)(struct svc *svc, void *app);
    void (*metrics_register)(void);
    int (*global_init)(void); /* 0 or -1 (logged); before any thread */
    void (*global_end)(void);
    int (*start)(struct svc *svc, void *app);          /* 0 or -1 (logged) */
    void (*stop)(void *app);                           /* accepts a half-started app */
    int (*ready)(void *app, char *why, size_t whylen); /* before the database ping */
    /* the key tokens are verified with: NULL = JWT_PUBLIC_KEY_FILE; auth-service names its
     * private key's file (it signs with it too) */
    const char *(*jwt_key_file)(const void *app, const char **ret_setting);
};

/* What svc_main() built, handed to @start and kept by the app (borrowed until svc_main()
 * returns). */
struct svc {
    const struct svc_desc *desc;
    const struct svc_config *cfg;
    struct jwt_key *key;
    struct db_pool *pool;
    struct kafka_producer *producer; /* NULL for a service that neither publishes nor consumes */
    struct relay *relay;             /* NULL without a relay (and in tests) */
};

/* The relay source of most services: the outbox table of svc->pool. */
struct relay_source *svc_relay_outbox(struct svc *svc, void *app);

/* Runs the service of @desc; returns main()'s exit status (0 after a signal, 1 on a start
 * failure, 2 on invalid configuration). */
int svc_main(const struct svc_desc *desc);

#endif
