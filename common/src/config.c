/*
 * config.c - the table-driven environment loader and the settings every service shares.
 * This file and event_topics_load() are the only places that call getenv().
 */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/event.h"
#include "common/jwt.h"
#include "common/log.h"

static void err_append(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void err_append(char *errbuf, size_t errlen, const char *fmt, ...)
{
    size_t used = strlen(errbuf);
    va_list ap;

    if (used + 3 >= errlen)
        return;
    if (used > 0) {
        strcpy(errbuf + used, "; ");
        used += 2;
    }
    va_start(ap, fmt);
    vsnprintf(errbuf + used, errlen - used, fmt, ap);
    va_end(ap);
}

static int parse_bool(const char *s, bool *ret)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return -EINVAL;
}

static int parse_long(const char *s, long *ret)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0')
        return -EINVAL;
    *ret = v;
    return 0;
}

int cfg_load(const struct cfg_entry *table, size_t n, void *out, char *errbuf, size_t errlen)
{
    int bad = 0;

    if (errlen > 0)
        errbuf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const struct cfg_entry *e = &table[i];
        const char *v = getenv(e->name);
        char *field = (char *)out + e->offset;

        if (!v || !*v)
            v = e->def;
        if (!v || !*v) {
            if (e->required) {
                err_append(errbuf, errlen, "%s: required", e->name);
                bad = 1;
            }
            if (e->type == CFG_STR)
                *(const char **)field = NULL;
            continue;
        }
        switch (e->type) {
        case CFG_STR:
            *(const char **)field = v;
            break;
        case CFG_INT: {
            long l;
            if (parse_long(v, &l) < 0) {
                err_append(errbuf, errlen, "%s: '%s' is not an integer", e->name, v);
                bad = 1;
            } else if (e->min <= e->max && (l < e->min || l > e->max)) {
                err_append(errbuf, errlen, "%s: '%s' is out of range %ld..%ld", e->name, v, e->min,
                           e->max);
                bad = 1;
            } else {
                *(long *)field = l;
            }
            break;
        }
        case CFG_BOOL: {
            bool b;
            if (parse_bool(v, &b) < 0) {
                err_append(errbuf, errlen, "%s: '%s' is not a boolean", e->name, v);
                bad = 1;
            } else {
                *(bool *)field = b;
            }
            break;
        }
        }
    }
    return bad ? -EINVAL : 0;
}

void cfg_log(const struct cfg_entry *table, size_t n, const void *cfg)
{
    for (size_t i = 0; i < n; i++) {
        const struct cfg_entry *e = &table[i];
        const char *field = (const char *)cfg + e->offset;

        switch (e->type) {
        case CFG_STR: {
            const char *s = *(const char *const *)field;
            log_info("config %s='%s'", e->name, !s ? "" : e->secret ? "***" : s);
            break;
        }
        case CFG_INT:
            log_info("config %s=%ld", e->name, *(const long *)field);
            break;
        case CFG_BOOL:
            log_info("config %s=%s", e->name, *(const bool *)field ? "true" : "false");
            break;
        }
    }
}

#define S struct cfg_kafka_auth
static const struct cfg_entry kafka_auth_table[] = {
    CFG_ENTRY_STR("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", false, false, S, security_protocol,
                  "PLAINTEXT, SASL_PLAINTEXT or SASL_SSL"),
    CFG_ENTRY_STR("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", false, false, S, sasl_mechanism,
                  "SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN"),
    CFG_ENTRY_STR("KAFKA_SASL_USERNAME", "", false, false, S, sasl_username,
                  "the service's Kafka principal (with SASL)"),
    CFG_ENTRY_STR("KAFKA_SASL_PASSWORD", "", false, true, S, sasl_password,
                  "its password (or KAFKA_SASL_PASSWORD_FILE)"),
    CFG_ENTRY_STR("KAFKA_SASL_PASSWORD_FILE", "", false, false, S, sasl_password_file,
                  "a file whose first line is the password"),
};
#undef S

#define KAFKA_AUTH_NENTRIES (sizeof(kafka_auth_table) / sizeof(kafka_auth_table[0]))

static bool in_words(const char *s, const char *const *words)
{
    for (size_t i = 0; words[i]; i++) {
        if (strcasecmp(s, words[i]) == 0)
            return true;
    }
    return false;
}

/* The first line of @path into @out (of @outlen); 0 or -errno / -EINVAL (empty, too long). */
static int read_secret_file(const char *path, char *out, size_t outlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got;
    size_t len;

    if (fd < 0)
        return -errno;
    got = read(fd, out, outlen - 1);
    close(fd);
    if (got < 0)
        return -EIO;
    out[got] = '\0';
    len = strcspn(out, "\r\n");
    if (len == 0 || len == outlen - 1) /* nothing, or maybe cut: refuse either */
        return -EINVAL;
    out[len] = '\0';
    return 0;
}

int cfg_kafka_auth_load(struct cfg_kafka_auth *out, char *errbuf, size_t errlen)
{
    static const char *const protocols[] = {"PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", NULL};
    static const char *const mechanisms[] = {"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN", NULL};
    int rc;

    memset(out, 0, sizeof(*out));
    rc = cfg_load(kafka_auth_table, KAFKA_AUTH_NENTRIES, out, errbuf, errlen);
    if (!in_words(out->security_protocol, protocols)) {
        err_append(errbuf, errlen,
                   "KAFKA_SECURITY_PROTOCOL: '%s' is not one of PLAINTEXT, SASL_PLAINTEXT, "
                   "SASL_SSL",
                   out->security_protocol);
        return -EINVAL;
    }
    out->auth.security_protocol = out->security_protocol;
    if (strncasecmp(out->security_protocol, "SASL_", 5) != 0) {
        /* credentials without SASL are a mistake: the service would connect unauthenticated */
        if (out->sasl_username || out->sasl_password || out->sasl_password_file) {
            err_append(errbuf, errlen,
                       "KAFKA_SASL_USERNAME/PASSWORD: set, but KAFKA_SECURITY_PROTOCOL is %s "
                       "(set SASL_PLAINTEXT or SASL_SSL)",
                       out->security_protocol);
            rc = -EINVAL;
        }
        return rc;
    }
    if (!in_words(out->sasl_mechanism, mechanisms)) {
        err_append(errbuf, errlen,
                   "KAFKA_SASL_MECHANISM: '%s' is not one of SCRAM-SHA-512, SCRAM-SHA-256, PLAIN",
                   out->sasl_mechanism);
        rc = -EINVAL;
    }
    if (!out->sasl_username) {
        err_append(errbuf, errlen, "KAFKA_SASL_USERNAME: required with %s", out->security_protocol);
        rc = -EINVAL;
    }
    if (out->sasl_password && out->sasl_password_file) {
        err_append(errbuf, errlen, "KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE: set one");
        rc = -EINVAL;
    } else if (out->sasl_password_file) {
        int r = read_secret_file(out->sasl_password_file, out->password_from_file,
                                 sizeof(out->password_from_file));
        if (r < 0) {
            err_append(errbuf, errlen,
                       "KAFKA_SASL_PASSWORD_FILE: cannot read a password from '%s': %s",
                       out->sasl_password_file,
                       r == -EINVAL ? "empty first line or too long" : strerror(-r));
            rc = -EINVAL;
        }
        out->auth.sasl_password = out->password_from_file;
    } else if (!out->sasl_password) {
        err_append(errbuf, errlen,
                   "KAFKA_SASL_PASSWORD: required with %s (or KAFKA_SASL_PASSWORD_FILE)",
                   out->security_protocol);
        rc = -EINVAL;
    } else {
        out->auth.sasl_password = out->sasl_password;
    }
    out->auth.sasl_mechanism = out->sasl_mechanism;
    out->auth.sasl_username = out->sasl_username;
    return rc;
}

void cfg_kafka_auth_log(const struct cfg_kafka_auth *cfg)
{
    cfg_log(kafka_auth_table, KAFKA_AUTH_NENTRIES, cfg);
}

#define S struct svc_config
/* Defaults marked NULL here are filled per service from struct svc_defaults. */
static const struct cfg_entry svc_table_template[] = {
    CFG_ENTRY_INT("HTTP_PORT", NULL, 0, 65535, S, http_port, "HTTP listen port"),
    CFG_ENTRY_STR("HTTP_BIND", "127.0.0.1", false, false, S, http_bind, "HTTP listen address"),
    CFG_ENTRY_INT("HTTP_THREADS", "0", 0, 256, S, http_threads,
                  "HTTP worker threads; 0: twice the online CPUs, 4 to 64 (svc_http_threads)"),
    CFG_ENTRY_INT("HTTP_MAX_BODY", "65536", 1024, 16777216, S, http_max_body,
                  "largest accepted request body in bytes"),
    CFG_ENTRY_INT("HTTP_MAX_CONNECTIONS", "1000", 16, 1000000, S, http_max_connections,
                  "open HTTP connections at most; beyond it new ones are closed at once"),
    CFG_ENTRY_INT("HTTP_MAX_CONNECTIONS_PER_IP", "64", 1, 1000000, S, http_max_connections_per_ip,
                  "open HTTP connections per client address at most"),
    CFG_ENTRY_INT("HTTP_IDLE_TIMEOUT_S", "30", 1, 3600, S, http_idle_timeout_s,
                  "an HTTP connection idle this long is closed"),
    CFG_ENTRY_INT("HTTP_HEADER_TIMEOUT_MS", "10000", 100, 600000, S, http_header_timeout_ms,
                  "a request's header must be complete this soon after the connection opened or "
                  "the previous answer, however slowly it trickles in"),
    CFG_ENTRY_STR("LOG_LEVEL", "info", false, false, S, log_level, "debug, info, warn, error"),
    CFG_ENTRY_STR("ACCESS_LOG", "all", false, false, S, access_log,
                  "which answered requests get an access line: all, errors (status >= 400), off"),
    CFG_ENTRY_STR("DB_HOST", "127.0.0.1", true, false, S, db_host, "MariaDB host"),
    CFG_ENTRY_INT("DB_PORT", "3306", 1, 65535, S, db_port, "MariaDB port"),
    CFG_ENTRY_STR("DB_USER", "commerce", true, false, S, db_user, "MariaDB user"),
    CFG_ENTRY_STR("DB_PASSWORD", "", false, true, S, db_password, "MariaDB password"),
    CFG_ENTRY_STR("DB_NAME", NULL, true, false, S, db_name, "MariaDB database"),
    CFG_ENTRY_INT("DB_POOL_SIZE", "8", 1, 256, S, db_pool_size, "MariaDB connections"),
    CFG_ENTRY_STR("KAFKA_BOOTSTRAP", "127.0.0.1:9092", true, false, S, kafka_bootstrap,
                  "Kafka bootstrap servers"),
    CFG_ENTRY_INT("KAFKA_LINGER_MS", "0", 0, 1000, S, kafka_linger_ms,
                  "producer linger.ms (a relay's batch is flushed at once whatever it is)"),
    CFG_ENTRY_STR("KAFKA_GROUP_ID", NULL, true, false, S, kafka_group_id, "consumer group id"),
    CFG_ENTRY_STR("JWT_PUBLIC_KEY_FILE", NULL, true, false, S, jwt_public_key_file,
                  "PEM public keys tokens are verified with (ES256; several during a rotation)"),
    CFG_ENTRY_STR("JWT_ISSUER", JWT_DEFAULT_ISSUER, true, false, S, jwt_issuer,
                  "the iss of access tokens: written by auth-service, required by every service"),
    CFG_ENTRY_STR("JWT_AUDIENCE", JWT_DEFAULT_AUDIENCE, true, false, S, jwt_audience,
                  "the aud of access tokens: written by auth-service, required by every service"),
    CFG_ENTRY_STR("MIGRATIONS_DIR", NULL, true, false, S, migrations_dir,
                  "folder of NNN_name.sql migrations"),
    CFG_ENTRY_STR("OPENAPI_FILE", NULL, true, false, S, openapi_file,
                  "the OpenAPI document served at GET /openapi.yaml (default "
                  "docs/openapi/<service>.yaml, relative to the working directory)"),
    CFG_ENTRY_INT("OUTBOX_POLL_MS", "200", 10, 60000, S, outbox_poll_ms,
                  "how often the outbox relay claims rows by itself (ms)"),
    CFG_ENTRY_INT("INBOX_RETENTION_S", "604800", 60, 31536000, S, inbox_retention_s,
                  "how long processed event ids are kept"),
    CFG_ENTRY_INT("INBOX_PURGE_MS", "60000", 100, 86400000, S, inbox_purge_ms,
                  "how often processed event ids past INBOX_RETENTION_S are deleted"),
    CFG_ENTRY_INT("CONSUMER_MAX_ATTEMPTS", "8", 1, 1000, S, consumer_max_attempts,
                  "handler attempts before the dead-letter topic"),
    CFG_ENTRY_INT("CONSUMER_BACKOFF_BASE_MS", "200", 1, 600000, S, consumer_backoff_base_ms,
                  "first retry delay"),
    CFG_ENTRY_INT("CONSUMER_BACKOFF_MAX_MS", "30000", 1, 3600000, S, consumer_backoff_max_ms,
                  "largest retry delay"),
    CFG_ENTRY_INT("CONSUMER_DLQ_MAX_BYTES", "1000000", 4096, 1000000, S, consumer_dlq_max_bytes,
                  "largest dead-letter record; a larger original is cut to fit"),
    CFG_ENTRY_INT("CONSUMER_WORKERS", "4", 1, 256, S, consumer_workers,
                  "event handler threads: different keys in parallel, one key in order; 1: the "
                  "polling thread handles every event"),
    CFG_ENTRY_INT("KAFKA_SESSION_TIMEOUT_MS", "45000", 6000, 300000, S, kafka_session_timeout_ms,
                  "consumer group session timeout: how soon a crashed member's partitions move"),
    CFG_ENTRY_INT("SHUTDOWN_TIMEOUT_MS", "10000", 100, 600000, S, shutdown_timeout_ms,
                  "deadline for a clean shutdown"),
    CFG_ENTRY_BOOL("DB_AUTO_CREATE", "false", S, db_auto_create,
                   "create the database at start (dev and tests)"),
    CFG_ENTRY_BOOL("KAFKA_CREATE_TOPICS", "false", S, kafka_create_topics,
                   "create the service's topics at start (dev and tests)"),
};
#undef S

#define SVC_NENTRIES (sizeof(svc_table_template) / sizeof(svc_table_template[0]))

/* The per-service defaults of the common table; @openapi_default: OPENAPI_FILE's. */
static void svc_table(const struct svc_defaults *defs, const char *openapi_default,
                      struct cfg_entry *table)
{
    memcpy(table, svc_table_template, sizeof(svc_table_template));
    for (size_t i = 0; i < SVC_NENTRIES; i++) {
        if (strcmp(table[i].name, "HTTP_PORT") == 0)
            table[i].def = defs->http_port;
        else if (strcmp(table[i].name, "DB_NAME") == 0)
            table[i].def = defs->db_name;
        else if (strcmp(table[i].name, "KAFKA_GROUP_ID") == 0)
            table[i].def = defs->group_id;
        else if (strcmp(table[i].name, "MIGRATIONS_DIR") == 0)
            table[i].def = defs->migrations_dir;
        else if (strcmp(table[i].name, "OPENAPI_FILE") == 0)
            table[i].def = openapi_default;
        else if (strcmp(table[i].name, "HTTP_THREADS") == 0 && defs->http_threads)
            table[i].def = defs->http_threads;
    }
}

int svc_config_load(struct svc_config *cfg, const struct svc_defaults *defs, char *errbuf,
                    size_t errlen)
{
    struct cfg_entry table[SVC_NENTRIES];
    enum log_level lvl;
    enum log_access access;
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    cfg->service = defs->service;
    /* "catalog-service" → docs/openapi/catalog.yaml (kept in @cfg: the default is borrowed) */
    snprintf(cfg->openapi_default, sizeof(cfg->openapi_default), "docs/openapi/%.*s.yaml",
             (int)strcspn(defs->service, "-"), defs->service);
    svc_table(defs, cfg->openapi_default, table);
    rc = cfg_load(table, SVC_NENTRIES, cfg, errbuf, errlen);
    if (cfg->log_level && log_level_parse(cfg->log_level, &lvl) < 0) {
        err_append(errbuf, errlen, "LOG_LEVEL: '%s' is not one of debug, info, warn, error",
                   cfg->log_level);
        rc = -EINVAL;
    }
    if (cfg->access_log && log_access_parse(cfg->access_log, &access) < 0) {
        err_append(errbuf, errlen, "ACCESS_LOG: '%s' is not one of all, errors, off",
                   cfg->access_log);
        rc = -EINVAL;
    }
    if (cfg->consumer_backoff_base_ms > cfg->consumer_backoff_max_ms) {
        err_append(errbuf, errlen, "CONSUMER_BACKOFF_BASE_MS: larger than CONSUMER_BACKOFF_MAX_MS");
        rc = -EINVAL;
    }
    {
        char kafka_err[512] = "";
        if (cfg_kafka_auth_load(&cfg->kafka_auth, kafka_err, sizeof(kafka_err)) < 0) {
            err_append(errbuf, errlen, "%s", kafka_err);
            rc = -EINVAL;
        }
    }
    {
        char topic_err[256] = "";
        if (event_topics_load(topic_err, sizeof(topic_err)) < 0) {
            err_append(errbuf, errlen, "%s", topic_err);
            rc = -EINVAL;
        }
    }
    return rc;
}

int svc_config_load_own(struct svc_config *svc, const struct svc_defaults *defs,
                        const struct cfg_entry *table, size_t n, void *own, char *errbuf,
                        size_t errlen)
{
    char mine[1024];
    int rc = svc_config_load(svc, defs, errbuf, errlen);

    if (cfg_load(table, n, own, mine, sizeof(mine)) < 0) {
        err_append(errbuf, errlen, "%s", mine);
        rc = -EINVAL;
    }
    return rc;
}

void svc_config_log(const struct svc_config *cfg)
{
    struct svc_defaults defs = {.service = cfg->service};
    struct cfg_entry table[SVC_NENTRIES];

    svc_table(&defs, cfg->openapi_default, table);
    cfg_log(table, SVC_NENTRIES, cfg);
    cfg_kafka_auth_log(&cfg->kafka_auth);
}
