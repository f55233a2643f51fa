/*
 * config.h - configuration from environment variables, loaded once by a table.
 *
 * Each service describes its settings in a const table (name, type, default, range, required,
 * secret, offset into its config struct). cfg_load() reads every entry, reports *all* errors
 * at once in @errbuf, and fills the struct; main() exits 2 on failure. Nothing but cfg_load()
 * calls getenv(). String values point into the environment or at the default literal: they
 * live as long as the process and are never freed.
 */
#ifndef COMMON_CONFIG_H
#define COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/kafka_auth.h"

enum cfg_type {
    CFG_STR,  /* const char * */
    CFG_INT,  /* long, checked against [min, max] */
    CFG_BOOL, /* bool: true/false/1/0/yes/no */
};

struct cfg_entry {
    const char *name; /* environment variable */
    enum cfg_type type;
    const char *def; /* default as text; NULL = none */
    long min, max;   /* CFG_INT range (inclusive); ignored when min > max */
    bool required;   /* an empty or missing value is an error */
    bool secret;     /* masked in cfg_log() */
    size_t offset;   /* offsetof(struct your_config, field) */
    const char *help;
};

/* clang-format off */
#define CFG_ENTRY_STR(n, d, req, sec, st, f, h) \
    {(n), CFG_STR, (d), 1, 0, (req), (sec), offsetof(st, f), (h)}
#define CFG_ENTRY_INT(n, d, lo, hi, st, f, h) \
    {(n), CFG_INT, (d), (lo), (hi), false, false, offsetof(st, f), (h)}
#define CFG_ENTRY_BOOL(n, d, st, f, h) \
    {(n), CFG_BOOL, (d), 1, 0, false, false, offsetof(st, f), (h)}
/* clang-format on */

/* Loads @n entries of @table into @out. Returns 0, or -EINVAL with every problem listed in
 * @errbuf ("DB_PORT: '70000' is out of range 1..65535; JWT_PUBLIC_KEY_FILE: required"). */
int cfg_load(const struct cfg_entry *table, size_t n, void *out, char *errbuf, size_t errlen);

/* Logs the effective configuration at info level, secrets masked as "***". */
void cfg_log(const struct cfg_entry *table, size_t n, const void *cfg);

#define CFG_KAFKA_PASSWORD_MAX 512

/*
 * How a Kafka client logs in (README "Event bus security"): KAFKA_SECURITY_PROTOCOL (PLAINTEXT,
 * SASL_PLAINTEXT or SASL_SSL), KAFKA_SASL_MECHANISM (SCRAM-SHA-512), KAFKA_SASL_USERNAME and
 * KAFKA_SASL_PASSWORD (secret) or KAFKA_SASL_PASSWORD_FILE (its first line). With SASL a user
 * and exactly one of the password settings are required; without, none may be set.
 */
struct cfg_kafka_auth {
    const char *security_protocol;
    const char *sasl_mechanism;
    const char *sasl_username;
    const char *sasl_password;
    const char *sasl_password_file;
    char password_from_file[CFG_KAFKA_PASSWORD_MAX];
    struct kafka_auth auth; /* the checked settings, for the Kafka clients (points into this) */
};

/* Loads and checks the KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* settings into @out (reading the
 * password file) and fills @out->auth. Same error contract as cfg_load(). */
int cfg_kafka_auth_load(struct cfg_kafka_auth *out, char *errbuf, size_t errlen);

/* Logs the settings of cfg_kafka_auth_load() (the password masked). */
void cfg_kafka_auth_log(const struct cfg_kafka_auth *cfg);

/*
 * Settings every service has. Services embed this struct first in their own config and load
 * svc_config_table (with their own defaults in svc_config_defaults()) plus their own table.
 */
struct svc_config {
    const char *service;              /* fixed by the binary, not from the environment */
    long http_port;                   /* HTTP_PORT */
    const char *http_bind;            /* HTTP_BIND, default 127.0.0.1 */
    long http_threads;                /* HTTP_THREADS */
    long http_max_body;               /* HTTP_MAX_BODY bytes */
    long http_max_connections;        /* HTTP_MAX_CONNECTIONS */
    long http_max_connections_per_ip; /* HTTP_MAX_CONNECTIONS_PER_IP */
    long http_idle_timeout_s;         /* HTTP_IDLE_TIMEOUT_S */
    long http_header_timeout_ms;      /* HTTP_HEADER_TIMEOUT_MS */
    const char *log_level;            /* LOG_LEVEL */
    const char *access_log;           /* ACCESS_LOG: all, errors, off */
    const char *db_host;              /* DB_HOST */
    long db_port;                     /* DB_PORT */
    const char *db_user;              /* DB_USER */
    const char *db_password;          /* DB_PASSWORD (secret) */
    const char *db_name;              /* DB_NAME, default per service (commerce_catalog, …) */
    long db_pool_size;                /* DB_POOL_SIZE */
    const char *kafka_bootstrap;      /* KAFKA_BOOTSTRAP */
    const char *kafka_group_id;       /* KAFKA_GROUP_ID, default per service */
    long kafka_linger_ms;             /* KAFKA_LINGER_MS: the producer's linger.ms */
    const char *jwt_public_key_file;  /* JWT_PUBLIC_KEY_FILE: PEM public key(s) of auth-service */
    const char *jwt_issuer;           /* JWT_ISSUER: the tokens' iss */
    const char *jwt_audience;         /* JWT_AUDIENCE: the tokens' aud */
    const char *migrations_dir;       /* MIGRATIONS_DIR, default "<service>/migrations" */
    const char *openapi_file;         /* OPENAPI_FILE: served at GET /openapi.yaml */
    char openapi_default[96];         /* its default, "docs/openapi/<short name>.yaml" */
    long outbox_poll_ms;              /* OUTBOX_POLL_MS */
    long inbox_retention_s;           /* INBOX_RETENTION_S */
    long inbox_purge_ms;              /* INBOX_PURGE_MS: the inbox purge's period */
    long consumer_max_attempts;       /* CONSUMER_MAX_ATTEMPTS before the DLQ */
    long consumer_backoff_base_ms;    /* CONSUMER_BACKOFF_BASE_MS */
    long consumer_backoff_max_ms;     /* CONSUMER_BACKOFF_MAX_MS */
    long consumer_dlq_max_bytes;      /* CONSUMER_DLQ_MAX_BYTES: largest dead-letter record */
    long consumer_workers;            /* CONSUMER_WORKERS: event handler threads */
    long kafka_session_timeout_ms;    /* KAFKA_SESSION_TIMEOUT_MS */
    long shutdown_timeout_ms;         /* SHUTDOWN_TIMEOUT_MS */
    bool db_auto_create;              /* DB_AUTO_CREATE: create the database at start (dev/test) */
    bool kafka_create_topics;         /* KAFKA_CREATE_TOPICS: create this service's topics at start
                                         (dev/test; production creates them with a script) */
    struct cfg_kafka_auth kafka_auth; /* KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*: its principal */
};

/* Per-service defaults that differ between services. */
struct svc_defaults {
    const char *service;        /* "catalog-service" */
    const char *http_port;      /* "8084" */
    const char *db_name;        /* "commerce_catalog" */
    const char *group_id;       /* "catalog-service" */
    const char *migrations_dir; /* "catalog-service/migrations" */
    const char *http_threads;   /* HTTP_THREADS' default; NULL: "0" (svc_http_threads) */
};

/* Loads the common settings into @cfg using @defs for per-service defaults. Same error
 * contract as cfg_load(). */
int svc_config_load(struct svc_config *cfg, const struct svc_defaults *defs, char *errbuf,
                    size_t errlen);

/* svc_config_load() plus the service's own @n entries of @table into @own (the service's
 * config struct, which embeds @svc); every problem of both is reported in @errbuf. */
int svc_config_load_own(struct svc_config *svc, const struct svc_defaults *defs,
                        const struct cfg_entry *table, size_t n, void *own, char *errbuf,
                        size_t errlen);

/* Logs the common settings (secrets masked). */
void svc_config_log(const struct svc_config *cfg);

#endif
