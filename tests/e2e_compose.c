/*
 * e2e_compose.c - issue 6: docker-compose.yml is valid and cannot drift from the daemons or from
 * the local stack. No network, no Docker engine: it runs Debian's `docker-compose config`
 * (which validates and normalises the file) with a generated .env, turns the normalised YAML
 * into JSON with the python3-yaml that docker-compose itself runs on, and checks:
 *
 *   - `config` passes with every required secret set, and fails when one is missing;
 *   - each of the six services exists, runs the one image with its name as command, publishes
 *     its port (README "Architecture"), has a /health/ready health check and waits for its
 *     infrastructure with `condition: service_healthy` / `service_completed_successfully`;
 *   - its environment is exactly the contract of scripts/stack-env.sh (what `make up` gives
 *     it), plus allow-listed tunables; every variable its config tables read (CFG_ENTRY_* in
 *     common/src/config.c and the service's src/ files) is set, unless it has a default and
 *     is on the allow-list below; every contract variable is one a table reads; secrets come
 *     from .env; the key files are compose secrets;
 *   - Kafka auto topic creation is off and kafka-init creates the topics of
 *     scripts/create-topics.sh; Redis runs with appendonly + noeviction; MariaDB's init script
 *     makes each service's database; Prometheus scrapes all six;
 *   - the Grafana dashboard parses and every panel query names a metric that the code exports
 *     (a "commerce_*" string literal in common/src or a service's src);
 *   - docker-compose.cluster.yml (issue 13) passes `config` likewise; every service is there
 *     exactly twice (<svc>-service-1, -2) on its port and port + 100, each replica with the
 *     checks above and the contract's environment (plus the Sentinel settings for inventory),
 *     every variable read by a config table; the replicas differ in their identity
 *     (STACK_ENV_IDENTITY) and port only; three KRaft nodes of one cluster with replication 3,
 *     min ISR 2 (settings kafka-start.sh reads); Redis primary + replica + three Sentinels.
 * Run from the checkout's root (scripts/test.sh does).
 */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#define COMPOSE_FILE "docker-compose.yml"
#define CLUSTER_FILE "docker-compose.cluster.yml"
#define STACK_ENV "scripts/stack-env.sh"
#define DASHBOARD "deploy/grafana/dashboards/commerce.json"
#define DATASOURCE "deploy/grafana/provisioning/datasources/prometheus.yml"
#define PROMETHEUS "deploy/prometheus.yml"
#define MARIADB_INIT "deploy/mariadb/01-databases.sh"
#define KAFKA_INIT "deploy/kafka/create-topics.sh"
#define NSERVICES 6

/* The six services and their ports (README "Architecture"). */
static const struct {
    const char *name;
    int port;
} services[NSERVICES] = {
    {"user", 8081},  {"inventory", 8083}, {"catalog", 8084},
    {"order", 8085}, {"payment", 8087},   {"auth", 8089},
};

/*
 * Variables a config table reads that both stacks deliberately leave to the daemon's default
 * (tunables). Each must have a default in its table; set them in the caller's environment or
 * add them to docker-compose.yml when needed (both are allowed).
 */
static const char *const allowed_defaults[] = {
    /* common/src/config.c */
    "HTTP_THREADS",
    "HTTP_MAX_BODY",
    "HTTP_MAX_CONNECTIONS",
    "HTTP_MAX_CONNECTIONS_PER_IP",
    "HTTP_IDLE_TIMEOUT_S",
    "HTTP_HEADER_TIMEOUT_MS",
    "DB_POOL_SIZE",
    "OUTBOX_POLL_MS",
    "KAFKA_LINGER_MS",
    "INBOX_RETENTION_S",
    "INBOX_PURGE_MS",
    "CONSUMER_MAX_ATTEMPTS",
    "CONSUMER_BACKOFF_BASE_MS",
    "CONSUMER_BACKOFF_MAX_MS",
    "CONSUMER_DLQ_MAX_BYTES",
    "CONSUMER_WORKERS",
    "KAFKA_SESSION_TIMEOUT_MS",
    "SHUTDOWN_TIMEOUT_MS",
    "DB_AUTO_CREATE",
    "KAFKA_CREATE_TOPICS",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "OPENAPI_FILE", /* docs/openapi/<service>.yaml: the checkout's, and the image's /app/docs */
    /* the Kafka login: set (scripts/stack-env.sh) for the services with a principal; user and
     * auth use no Kafka and keep the defaults (PLAINTEXT, no user) */
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SASL_PASSWORD_FILE",
    /* auth-service */
    "ACCESS_TOKEN_TTL_S",
    "REFRESH_TOKEN_TTL_S",
    "LOGIN_FREE_ATTEMPTS",
    "LOGIN_DELAY_BASE_S",
    "LOGIN_DELAY_MAX_S",
    "LOGIN_IP_MAX_PER_MINUTE",
    "AUTH_HASH_THREADS",
    "AUTH_HASH_QUEUE",
    /* order-service */
    "ORDER_DEADLINE_SCAN_MS",
    /* payment-service */
    "PAYMENT_CONFIRM_WAIT_MS",
    "PAYMENT_CONFIRM_MAX_WAITERS",
    /* user-service */
    "AUTH_TIMEOUT_MS",
    /* inventory-service */
    "REDIS_POOL_SIZE",
    "INVENTORY_SNAPSHOT_S",
    "INVENTORY_OUTBOX_STREAM",
    "INVENTORY_RELAY_GROUP",
    "INVENTORY_TEST_CRASH_AFTER_SCRIPT",
    "REDIS_SENTINELS", /* "": one node (REDIS_HOST); docker-compose.cluster.yml sets them */
    "REDIS_MASTER_NAME",
    "REDIS_WAIT_REPLICAS",
    "REDIS_WAIT_TIMEOUT_MS",
    /* catalog-service: the read cache (README "Catalog read cache") */
    "CATALOG_CACHE_MAX_ENTRIES",
    "CATALOG_CACHE_POLL_MS",
    "CATALOG_CACHE_STALE_MS",
    "CATALOG_CACHE_MAX_AGE_MS",
    /* common: which requests get an access line */
    "ACCESS_LOG",
    /* inventory-service: how long a terminal reservation is kept (README "State and retention") */
    "INVENTORY_RESERVATION_RETENTION_S",
    /* inventory-service: how long an order waits for a SKU it has no stock for yet */
    "INVENTORY_UNKNOWN_SKU_ATTEMPTS",
    NULL,
};

/* common-table entries whose NULL default svc_table() fills per service */
static const char *const per_service_defaults[] = {
    "HTTP_PORT", "DB_NAME", "KAFKA_GROUP_ID", "MIGRATIONS_DIR", "OPENAPI_FILE", NULL};

/* ---- small helpers ---- */

struct strset {
    char **v;
    size_t n, cap;
};

static bool strset_has(const struct strset *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return true;
    return false;
}

static void strset_add(struct strset *s, const char *x)
{
    if (strset_has(s, x))
        return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
        assert_non_null(s->v);
    }
    s->v[s->n] = strdup(x);
    assert_non_null(s->v[s->n]);
    s->n++;
}

static void strset_release(struct strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static bool in_list(const char *const *list, const char *x)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], x) == 0)
            return true;
    return false;
}

/* The whole file, NUL-terminated; NULL if it cannot be read. Caller frees. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0, got;

    if (!f)
        return NULL;
    do {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Runs @cmd with sh -c and returns its stdout (caller frees); *ret_status: exit status or -1. */
static char *run(const char *cmd, int *ret_status)
{
    FILE *p = popen(cmd, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    int st;

    assert_non_null(p);
    do {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
        got = fread(buf + len, 1, cap - len, p);
        len += got;
    } while (got > 0);
    buf[len] = '\0';
    st = pclose(p);
    *ret_status = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
    return buf;
}

/* ---- the fixture: docker-compose config once per file, as JSON ---- */

/* One compose file, validated and normalised. */
struct compose {
    const char *file;
    cJSON *config; /* the normalised compose file */
    char *config_out;
    int config_status;
    int noenv_status;
};

struct fixture {
    char tmp[200];
    char err[512]; /* why the fixture is unusable; "" when it is */
    cJSON *config; /* docker-compose.yml, normalised (base.config) */
    char *config_out;
    int config_status;
    int noenv_status;
    struct compose cluster; /* docker-compose.cluster.yml */
};

static void fixture_fail(struct fixture *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fixture_fail(struct fixture *f, const char *fmt, ...)
{
    va_list ap;

    if (f->err[0])
        return;
    va_start(ap, fmt);
    vsnprintf(f->err, sizeof(f->err), fmt, ap);
    va_end(ap);
}

/* Writes NAME=test-value for every ${NAME:?…} the compose file requires. */
static int write_env(const char *compose, const char *path)
{
    FILE *out = fopen(path, "w");
    const char *p = compose;

    if (!out)
        return -errno;
    while ((p = strstr(p, "${")) != NULL) {
        const char *name = p + 2, *end = name;

        while ((*end >= 'A' && *end <= 'Z') || (*end >= '0' && *end <= '9') || *end == '_')
            end++;
        if (end > name && strncmp(end, ":?", 2) == 0)
            fprintf(out, "%.*s=test%.*s\n", (int)(end - name), name, (int)(end - name), name);
        p = end;
    }
    fclose(out);
    return 0;
}

/* `docker-compose config` of @c->file with a generated .env (and once with an empty one), the
 * result as JSON into @c; what went wrong into the fixture's error. */
static void compose_load(struct fixture *f, struct compose *c)
{
    char cmd[2048], *compose = NULL, *json = NULL;
    int st;

    compose = slurp(c->file);
    if (!compose) {
        fixture_fail(f, "cannot read %s: run the test from the checkout's root", c->file);
        return;
    }
    snprintf(cmd, sizeof(cmd), "%s/env", f->tmp);
    if (write_env(compose, cmd) < 0) {
        fixture_fail(f, "cannot write %s", cmd);
        goto out;
    }
    snprintf(cmd, sizeof(cmd), "%s/empty.env", f->tmp);
    {
        FILE *empty = fopen(cmd, "w");
        if (!empty) {
            fixture_fail(f, "cannot write %s", cmd);
            goto out;
        }
        fclose(empty);
    }

    /* a clean environment: only the generated .env decides */
    snprintf(cmd, sizeof(cmd),
             "env -i PATH=\"$PATH\" HOME=\"%s\" docker-compose -f %s"
             " --env-file %s/env config 2>%s/config.err >%s/config.yml",
             f->tmp, c->file, f->tmp, f->tmp, f->tmp);
    free(run(cmd, &c->config_status));
    snprintf(cmd, sizeof(cmd), "%s/config.err", f->tmp);
    c->config_out = slurp(cmd);
    snprintf(cmd, sizeof(cmd),
             "env -i PATH=\"$PATH\" HOME=\"%s\" docker-compose -f %s"
             " --env-file %s/empty.env config >/dev/null 2>&1",
             f->tmp, c->file, f->tmp);
    free(run(cmd, &c->noenv_status));
    if (c->config_status != 0) {
        fixture_fail(f, "docker-compose -f %s config failed (%d): %s", c->file, c->config_status,
                     c->config_out ? c->config_out : "");
        goto out;
    }
    /* YAML → JSON with the python3 (and python3-yaml) docker-compose runs on */
    snprintf(cmd, sizeof(cmd),
             "py=$(sed -n '1s/^#! *//p' \"$(command -v docker-compose)\"); "
             "case \"$py\" in */python3*) ;; *) py=/usr/bin/python3 ;; esac; "
             "$py -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'"
             " <%s/config.yml",
             f->tmp);
    json = run(cmd, &st);
    if (st != 0) {
        fixture_fail(f, "cannot convert the normalised YAML to JSON (python3-yaml, a "
                        "dependency of docker-compose, missing?)");
        goto out;
    }
    c->config = cJSON_Parse(json);
    if (!cJSON_IsObject(c->config))
        fixture_fail(f, "the normalised %s is not a mapping", c->file);
out:
    free(json);
    free(compose);
}

static int group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct compose base = {.file = COMPOSE_FILE};
    char *out;
    int st;

    if (!f)
        return -1;
    *state = f;
    f->cluster.file = CLUSTER_FILE;
    snprintf(f->tmp, sizeof(f->tmp), "%s/e2e_compose.XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (strlen(f->tmp) >= sizeof(f->tmp) - 1 || !mkdtemp(f->tmp)) {
        fixture_fail(f, "cannot make a temporary folder");
        f->tmp[0] = '\0';
        return 0;
    }
    out = run("command -v docker-compose", &st);
    free(out);
    if (st != 0) {
        fixture_fail(f, "docker-compose not found: install Debian's docker-compose package "
                        "(scripts/deps.sh lists it)");
        return 0;
    }
    compose_load(f, &base);
    f->config = base.config;
    f->config_out = base.config_out;
    f->config_status = base.config_status;
    f->noenv_status = base.noenv_status;
    compose_load(f, &f->cluster);
    return 0;
}

static int group_teardown(void **state)
{
    static const char *const files[] = {"env", "empty.env", "config.yml", "config.err"};
    struct fixture *f = *state;
    char path[256];

    if (!f)
        return 0;
    if (f->tmp[0]) {
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", f->tmp, files[i]);
            unlink(path);
        }
        rmdir(f->tmp);
    }
    cJSON_Delete(f->config);
    free(f->config_out);
    cJSON_Delete(f->cluster.config);
    free(f->cluster.config_out);
    free(f);
    return 0;
}

static struct fixture *fixture(void **state)
{
    struct fixture *f = *state;

    if (f->err[0])
        fail_msg("%s", f->err);
    return f;
}

/* Drift is reported all at once: problem() records one finding, problems_check() fails the
 * test if there were any (after the test released what it holds). */
static int nproblems;

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void problem(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    print_error("drift: %s\n", msg);
    nproblems++;
}

static void problems_check(void)
{
    int n = nproblems;

    nproblems = 0;
    if (n > 0)
        fail_msg("%d problem(s), listed above", n);
}

/* Service @name of the compose file @c (a problem recorded when it has none). */
static cJSON *svc_in(const struct compose *c, const char *name)
{
    cJSON *svcs = cJSON_GetObjectItemCaseSensitive(c->config, "services");
    cJSON *s = cJSON_GetObjectItemCaseSensitive(svcs, name);

    if (!cJSON_IsObject(s)) {
        problem("%s has no service '%s'", c->file, name);
        return NULL;
    }
    return s;
}

/* Service @name of docker-compose.yml. */
static cJSON *svc_json(struct fixture *f, const char *name)
{
    const struct compose base = {.file = COMPOSE_FILE, .config = f->config};

    return svc_in(&base, name);
}

static const char *env_value(cJSON *svc, const char *name)
{
    cJSON *env = cJSON_GetObjectItemCaseSensitive(svc, "environment");
    cJSON *v = cJSON_GetObjectItemCaseSensitive(env, name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- the contract (scripts/stack-env.sh) and the config tables ---- */

/* SERVICE_ENV_<svc> of stack-env.sh into @ret. -1 (a problem recorded) when a name has no
 * value rule in stack_env_value or the service is unknown. */
static int contract(const char *svc, struct strset *ret)
{
    char cmd[1024], *out, *tok, *save = NULL;
    int st;

    snprintf(cmd, sizeof(cmd),
             "bash -c 'set -eu; . " STACK_ENV "; ROOT=/r RUN=/r/.run; v=SERVICE_ENV_%s; "
             "for n in ${!v}; do stack_env_value %s $n >/dev/null || exit 1; done; "
             "printf \"%%s\\n\" ${!v}' 2>&1",
             svc, svc);
    out = run(cmd, &st);
    if (st != 0) {
        problem(STACK_ENV " for '%s' failed: %s", svc, out);
        free(out);
        return -1;
    }
    for (tok = strtok_r(out, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save))
        strset_add(ret, tok);
    free(out);
    if (ret->n == 0) {
        problem(STACK_ENV ": SERVICE_ENV_%s is empty", svc);
        return -1;
    }
    return 0;
}

struct table_entry {
    char name[96];
    bool has_default;
    bool secret; /* CFG_ENTRY_STR's secret flag */
};

struct tables {
    struct table_entry e[256];
    size_t n;
};

/* Adds the CFG_ENTRY_* names of the C file @path; @common: svc_table() fills per-service
 * defaults there. Returns -ENOENT when the file does not exist. */
static int tables_scan(struct tables *t, const char *path, bool common)
{
    static const char *re_src = "CFG_ENTRY_(STR|INT|BOOL)\\([[:space:]]*\"([A-Z0-9_]+)\""
                                "[[:space:]]*,[[:space:]]*(NULL|\"[^\"]*\"|[A-Z_][A-Z0-9_]*)"
                                "([[:space:]]*,[[:space:]]*(true|false)[[:space:]]*,"
                                "[[:space:]]*(true|false))?";
    char *src = slurp(path);
    regex_t re;
    regmatch_t m[7];
    const char *p;

    if (!src)
        return -ENOENT;
    assert_int_equal(regcomp(&re, re_src, REG_EXTENDED), 0);
    for (p = src; regexec(&re, p, 7, m, 0) == 0; p += m[0].rm_eo) {
        struct table_entry *e = &t->e[t->n];
        int len = (int)(m[2].rm_eo - m[2].rm_so);

        assert_true(t->n < sizeof(t->e) / sizeof(t->e[0]));
        assert_true(len < (int)sizeof(e->name));
        memcpy(e->name, p + m[2].rm_so, (size_t)len);
        e->name[len] = '\0';
        e->has_default = strncmp(p + m[3].rm_so, "NULL", 4) != 0 ||
                         (common && in_list(per_service_defaults, e->name));
        e->secret = m[6].rm_so >= 0 && strncmp(p + m[6].rm_so, "true", 4) == 0;
        t->n++;
    }
    regfree(&re);
    free(src);
    return 0;
}

/* The names @svc's daemon reads: the common table and every CFG_ENTRY_* in its src/.
 * Returns whether the service's sources exist yet. */
static bool tables_load(const char *svc, struct tables *t)
{
    char cmd[256], *out, *tok, *save = NULL;
    int st;

    memset(t, 0, sizeof(*t));
    assert_int_equal(tables_scan(t, "common/src/config.c", true), 0);
    if (t->n < 10)
        problem("found only %zu CFG_ENTRY_* names in common/src/config.c: parser out of date?",
                t->n);
    snprintf(cmd, sizeof(cmd), "ls %s-service/src/*.c 2>/dev/null", svc);
    out = run(cmd, &st);
    for (tok = strtok_r(out, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save))
        assert_int_equal(tables_scan(t, tok, false), 0);
    free(out);
    return st == 0;
}

static const struct table_entry *tables_find(const struct tables *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->e[i].name, name) == 0)
            return &t->e[i];
    return NULL;
}

/* ---- tests ---- */

static void test_config_valid(void **state)
{
    struct fixture *f = fixture(state);

    assert_int_equal(f->config_status, 0);
    /* the secrets are required: without .env, config refuses the file */
    if (f->noenv_status == 0)
        fail_msg("docker-compose config passed without .env: secrets must use ${NAME:?…}");
}

/* The checks of one service (or replica) @s named @name: services[@i] on HTTP port @hport. */
static void check_service_at(cJSON *s, const char *name, size_t i, int hport, const char **image)
{
    char port[16], url[96];
    cJSON *cmd, *ports, *p, *hc, *test, *t, *img;
    const char *v;
    bool published = false, checks_ready = false;

    snprintf(port, sizeof(port), "%d", hport);
    snprintf(url, sizeof(url), "127.0.0.1:%d/health/ready", hport);

    /* one image for all six; the command names the service */
    img = cJSON_GetObjectItemCaseSensitive(s, "image");
    if (!cJSON_IsString(img))
        problem("%s: no image", name);
    else if (!*image)
        *image = img->valuestring;
    else if (strcmp(*image, img->valuestring) != 0)
        problem("%s: image '%s', the others '%s'", name, img->valuestring, *image);
    cmd = cJSON_GetObjectItemCaseSensitive(s, "command");
    if (!cJSON_IsArray(cmd) || !cJSON_IsString(cJSON_GetArrayItem(cmd, 0)) ||
        strcmp(cJSON_GetArrayItem(cmd, 0)->valuestring, services[i].name) != 0)
        problem("%s: command must be [\"%s\"]", name, services[i].name);

    ports = cJSON_GetObjectItemCaseSensitive(s, "ports");
    cJSON_ArrayForEach (p, ports) {
        cJSON *pub = cJSON_GetObjectItemCaseSensitive(p, "published");
        cJSON *tgt = cJSON_GetObjectItemCaseSensitive(p, "target");
        if (cJSON_IsNumber(pub) && cJSON_IsNumber(tgt) && pub->valueint == hport &&
            tgt->valueint == hport)
            published = true;
    }
    if (!published)
        problem("%s: port %d is not published as %d:%d", name, hport, hport, hport);
    if (!(v = env_value(s, "HTTP_PORT")) || strcmp(v, port) != 0)
        problem("%s: HTTP_PORT must be %s", name, port);
    if (!(v = env_value(s, "HTTP_BIND")) || strcmp(v, "0.0.0.0") != 0)
        problem("%s: HTTP_BIND must be 0.0.0.0 (reachable from the other containers)", name);

    hc = cJSON_GetObjectItemCaseSensitive(s, "healthcheck");
    test = cJSON_GetObjectItemCaseSensitive(hc, "test");
    cJSON_ArrayForEach (t, test) {
        if (cJSON_IsString(t) && strstr(t->valuestring, url))
            checks_ready = true;
    }
    if (!checks_ready)
        problem("%s: the health check must call http://%s", name, url);

    /* key files are compose secrets (from .run/, made by make env) */
    for (size_t k = 0; k < 2; k++) {
        static const char *const keyvars[] = {"JWT_PUBLIC_KEY_FILE", "JWT_PRIVATE_KEY_FILE"};
        cJSON *sec;
        bool listed = false;

        if (!(v = env_value(s, keyvars[k])))
            continue;
        if (strncmp(v, "/run/secrets/", 13) != 0) {
            problem("%s: %s must be a /run/secrets/ file", name, keyvars[k]);
            continue;
        }
        cJSON_ArrayForEach (sec, cJSON_GetObjectItemCaseSensitive(s, "secrets")) {
            cJSON *src = cJSON_GetObjectItemCaseSensitive(sec, "source");
            if ((cJSON_IsString(src) && strcmp(src->valuestring, v + 13) == 0) ||
                (cJSON_IsString(sec) && strcmp(sec->valuestring, v + 13) == 0))
                listed = true;
        }
        if (!listed)
            problem("%s: %s is %s but the service does not mount that secret", name, keyvars[k], v);
    }
}

static void check_service(struct fixture *f, size_t i, const char **image)
{
    char name[64];
    cJSON *s;

    snprintf(name, sizeof(name), "%s-service", services[i].name);
    if ((s = svc_json(f, name)))
        check_service_at(s, name, i, services[i].port, image);
}

static void test_services(void **state)
{
    struct fixture *f = fixture(state);
    const char *image = NULL;

    for (size_t i = 0; i < NSERVICES; i++)
        check_service(f, i, &image);
    problems_check();
}

static void test_env_matches_contract(void **state)
{
    struct fixture *f = fixture(state);
    char *out;
    int st;

    /* the contract covers the six */
    out = run("bash -c '. " STACK_ENV "; echo \" $STACK_ENV_SERVICES \"'", &st);
    if (st != 0)
        problem(STACK_ENV " cannot be sourced: %s", out);
    for (size_t i = 0; i < NSERVICES && st == 0; i++) {
        char word[32];
        snprintf(word, sizeof(word), " %s ", services[i].name);
        if (!strstr(out, word))
            problem(STACK_ENV ": STACK_ENV_SERVICES lacks %s", services[i].name);
    }
    free(out);

    for (size_t i = 0; i < NSERVICES; i++) {
        struct strset want = {0};
        char name[64];
        cJSON *s, *env, *v;

        snprintf(name, sizeof(name), "%s-service", services[i].name);
        if (!(s = svc_json(f, name)) || contract(services[i].name, &want) < 0) {
            strset_release(&want);
            continue;
        }
        env = cJSON_GetObjectItemCaseSensitive(s, "environment");
        for (size_t j = 0; j < want.n; j++)
            if (!cJSON_GetObjectItemCaseSensitive(env, want.v[j]))
                problem("%s: %s is in " STACK_ENV " but not in docker-compose.yml", name,
                        want.v[j]);
        cJSON_ArrayForEach (v, env) {
            if (!strset_has(&want, v->string) && !in_list(allowed_defaults, v->string))
                problem("%s: docker-compose.yml sets %s, which " STACK_ENV
                        " does not list (make up would not set it)",
                        name, v->string);
        }
        strset_release(&want);
    }
    problems_check();
}

static void check_tables(struct fixture *f, size_t i, struct strset *all)
{
    struct strset want = {0};
    struct tables *t = calloc(1, sizeof(*t));
    char name[64];
    cJSON *s;
    bool have_src;

    assert_non_null(t);
    snprintf(name, sizeof(name), "%s-service", services[i].name);
    if (!(s = svc_json(f, name)) || contract(services[i].name, &want) < 0)
        goto out;
    have_src = tables_load(services[i].name, t);

    /* everything the daemon reads is set, or a deliberately defaulted tunable */
    for (size_t j = 0; j < t->n; j++) {
        const struct table_entry *e = &t->e[j];

        strset_add(all, e->name);
        /* a secret comes from .env (the generated test .env gives "test<NAME>" values) */
        if (e->secret && env_value(s, e->name) && strncmp(env_value(s, e->name), "test", 4) != 0)
            problem("%s: %s is a secret: its value must come from .env (${NAME:?run make env})",
                    name, e->name);
        if (env_value(s, e->name))
            continue;
        if (!in_list(allowed_defaults, e->name))
            problem("%s reads %s: missing from docker-compose.yml and " STACK_ENV
                    " (or add it to the allow-list of tests/e2e_compose.c if its default is "
                    "right for both stacks)",
                    name, e->name);
        else if (!e->has_default)
            problem("%s: %s is allow-listed as defaulted but has no default", name, e->name);
    }
    /* and the contract names nothing the daemon does not read */
    if (have_src) {
        for (size_t j = 0; j < want.n; j++)
            if (!tables_find(t, want.v[j]))
                problem(STACK_ENV ": %s lists %s, which no CFG_ENTRY_* of %s reads", name,
                        want.v[j], name);
    } else {
        print_message("note: %s/src does not exist yet: its own variables are unchecked\n", name);
    }
out:
    strset_release(&want);
    free(t);
}

static void test_contract_matches_config_tables(void **state)
{
    struct fixture *f = fixture(state);
    struct strset all = {0};

    for (size_t i = 0; i < NSERVICES; i++)
        check_tables(f, i, &all);
    /* no stale allow-list entries */
    for (size_t i = 0; allowed_defaults[i]; i++)
        if (!strset_has(&all, allowed_defaults[i]))
            problem("allow-list entry %s is read by no config table: remove it",
                    allowed_defaults[i]);
    strset_release(&all);
    problems_check();
}

static void expect_dep(cJSON *svc, const char *name, const char *dep, const char *cond)
{
    cJSON *deps = cJSON_GetObjectItemCaseSensitive(svc, "depends_on");
    cJSON *d = cJSON_GetObjectItemCaseSensitive(deps, dep);
    cJSON *c = cJSON_GetObjectItemCaseSensitive(d, "condition");

    if (!cJSON_IsString(c) || strcmp(c->valuestring, cond) != 0)
        problem("%s: depends_on %s must have condition: %s", name, dep, cond);
}

static void test_depends_on(void **state)
{
    struct fixture *f = fixture(state);
    cJSON *init;

    for (size_t i = 0; i < NSERVICES; i++) {
        char name[64];
        cJSON *s, *deps, *d;

        snprintf(name, sizeof(name), "%s-service", services[i].name);
        if (!(s = svc_json(f, name)))
            continue;
        expect_dep(s, name, "mariadb", "service_healthy");
        expect_dep(s, name, "kafka", "service_healthy");
        expect_dep(s, name, "kafka-init", "service_completed_successfully");
        if (strcmp(services[i].name, "inventory") == 0)
            expect_dep(s, name, "redis", "service_healthy");
        if (strcmp(services[i].name, "user") == 0)
            expect_dep(s, name, "auth-service", "service_healthy");
        /* never a bare "started"; whatever is waited for healthy has a health check */
        deps = cJSON_GetObjectItemCaseSensitive(s, "depends_on");
        cJSON_ArrayForEach (d, deps) {
            cJSON *c = cJSON_GetObjectItemCaseSensitive(d, "condition");
            cJSON *dep;

            if (!cJSON_IsString(c) ||
                (strcmp(c->valuestring, "service_healthy") != 0 &&
                 strcmp(c->valuestring, "service_completed_successfully") != 0)) {
                problem("%s: depends_on %s without a health/completion condition", name, d->string);
                continue;
            }
            dep = svc_json(f, d->string);
            if (dep && strcmp(c->valuestring, "service_healthy") == 0 &&
                !cJSON_GetObjectItemCaseSensitive(dep, "healthcheck"))
                problem("%s waits for %s to be healthy, which has no healthcheck", name, d->string);
        }
    }
    if ((init = svc_json(f, "kafka-init")))
        expect_dep(init, "kafka-init", "kafka", "service_healthy");
    problems_check();
}

static bool array_has(cJSON *arr, const char *s)
{
    cJSON *x;

    cJSON_ArrayForEach (x, arr) {
        if (cJSON_IsString(x) && strcmp(x->valuestring, s) == 0)
            return true;
    }
    return false;
}

/* Kafka: no auto-created topics; the one-shot kafka-init creates those of create-topics.sh */
static void check_kafka(struct fixture *f)
{
    cJSON *kafka = svc_json(f, "kafka"), *init = svc_json(f, "kafka-init");
    char *topics, *tok, *save = NULL, *script;
    const char *v;
    int st;

    if (!kafka || !init)
        return;
    if (!(v = env_value(kafka, "KAFKA_AUTO_CREATE_TOPICS_ENABLE")) || strcmp(v, "false") != 0)
        problem("kafka: KAFKA_AUTO_CREATE_TOPICS_ENABLE must be \"false\"");
    if (!cJSON_GetObjectItemCaseSensitive(kafka, "healthcheck"))
        problem("kafka: no healthcheck");
    if (!(v = env_value(init, "TOPIC_PARTITIONS")) || strcmp(v, "3") != 0)
        problem("kafka-init: TOPIC_PARTITIONS must be 3");
    if (!(script = slurp(KAFKA_INIT))) {
        problem("cannot read " KAFKA_INIT);
        return;
    }
    if (!strstr(script, "/opt/kafka/bin/kafka-topics.sh") || !strstr(script, "\"$base.dlq\""))
        problem(KAFKA_INIT ": must create each topic and its .dlq with kafka-topics.sh");
    topics = run("bash scripts/create-topics.sh --list", &st);
    if (st != 0)
        problem("scripts/create-topics.sh --list failed");
    for (tok = strtok_r(topics, "\n", &save); tok && st == 0; tok = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(tok);
        if (n > 4 && strcmp(tok + n - 4, ".dlq") == 0)
            continue; /* made from its source topic's name */
        if (!strstr(script, tok))
            problem(KAFKA_INIT " does not create topic %s (scripts/create-topics.sh does)", tok);
    }
    free(topics);
    free(script);
}

/* Redis: AOF, never evict stock counters */
static void check_redis(struct fixture *f)
{
    cJSON *redis = svc_json(f, "redis"), *cmd;

    if (!redis)
        return;
    cmd = cJSON_GetObjectItemCaseSensitive(redis, "command");
    if (!array_has(cmd, "--appendonly") || !array_has(cmd, "yes") ||
        !array_has(cmd, "--maxmemory-policy") || !array_has(cmd, "noeviction"))
        problem("redis: command must hold --appendonly yes --maxmemory-policy noeviction");
    if (!cJSON_GetObjectItemCaseSensitive(redis, "healthcheck"))
        problem("redis: no healthcheck");
}

/* MariaDB: the init script is mounted and makes every service's database and account; each
 * service uses them; Prometheus scrapes each. */
static void check_mariadb_prometheus(struct fixture *f)
{
    cJSON *mariadb = svc_json(f, "mariadb"), *vol;
    char *initsql = slurp(MARIADB_INIT), *prom = slurp(PROMETHEUS);
    const char *loop;
    bool mounted = false;

    if (!mariadb || !initsql || !prom) {
        problem("no mariadb service, or cannot read " MARIADB_INIT " or " PROMETHEUS);
        goto out;
    }
    if (!cJSON_GetObjectItemCaseSensitive(mariadb, "healthcheck"))
        problem("mariadb: no healthcheck");
    cJSON_ArrayForEach (vol, cJSON_GetObjectItemCaseSensitive(mariadb, "volumes")) {
        cJSON *tgt = cJSON_GetObjectItemCaseSensitive(vol, "target");
        if (cJSON_IsString(tgt) &&
            strncmp(tgt->valuestring, "/docker-entrypoint-initdb.d/", 28) == 0)
            mounted = true;
        if (cJSON_IsString(vol) && strstr(vol->valuestring, ":/docker-entrypoint-initdb.d/"))
            mounted = true;
    }
    if (!mounted)
        problem("mariadb: " MARIADB_INIT " is not mounted in /docker-entrypoint-initdb.d/");
    loop = strstr(initsql, "for svc in ");
    for (size_t i = 0; i < NSERVICES; i++) {
        char name[64], word[96], target[96], pwvar[64];
        const char *v, *pw;
        cJSON *s;

        snprintf(name, sizeof(name), "%s-service", services[i].name);
        if (!(s = svc_json(f, name)))
            continue;
        snprintf(word, sizeof(word), " %s", services[i].name);
        if (!loop || !strstr(loop, word))
            problem(MARIADB_INIT ": no database for %s", name);
        snprintf(word, sizeof(word), "commerce_%s", services[i].name);
        if (!(v = env_value(s, "DB_NAME")) || strcmp(v, word) != 0)
            problem("%s: DB_NAME must be %s (the database the init script makes)", name, word);
        if (!(v = env_value(s, "DB_USER")) || strcmp(v, services[i].name) != 0)
            problem("%s: DB_USER must be %s (its own account)", name, services[i].name);
        snprintf(pwvar, sizeof(pwvar), "DB_PASSWORD_%s", services[i].name);
        for (char *c = pwvar; *c; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
        if (!(pw = env_value(mariadb, pwvar)) || !(v = env_value(s, "DB_PASSWORD")) ||
            strcmp(pw, v) != 0)
            problem("%s: DB_PASSWORD differs from mariadb's %s", name, pwvar);
        snprintf(word, sizeof(word), "/app/%s/migrations", name);
        if (!(v = env_value(s, "MIGRATIONS_DIR")) || strcmp(v, word) != 0)
            problem("%s: MIGRATIONS_DIR must be %s (the image's layout)", name, word);
        if (!(v = env_value(s, "KAFKA_BOOTSTRAP")) || strcmp(v, "kafka:9092") != 0)
            problem("%s: KAFKA_BOOTSTRAP must be kafka:9092", name);
        snprintf(target, sizeof(target), "\"%s:%d\"", name, services[i].port);
        if (!strstr(prom, target))
            problem(PROMETHEUS " does not scrape %s", target);
    }
out:
    free(initsql);
    free(prom);
}

static void test_infra(void **state)
{
    struct fixture *f = fixture(state);

    check_kafka(f);
    check_redis(f);
    check_mariadb_prometheus(f);
    problems_check();
}

/* ---- docker-compose.cluster.yml: the same contract, two replicas, the clustered infra ---- */

#define REPLICAS 2
#define KAFKA_NODES 3
#define CLUSTER_BOOTSTRAP "kafka-1:9092,kafka-2:9092,kafka-3:9092"
#define CLUSTER_SENTINELS "sentinel1:26379,sentinel2:26379,sentinel3:26379"
#define KAFKA_START "deploy/kafka/kafka-start.sh"

/* What the cluster file sets beyond the contract of scripts/stack-env.sh: inventory-service's
 * Redis through Sentinel (README "Configuration"). */
static const char *const cluster_settings[] = {"REDIS_SENTINELS", "REDIS_MASTER_NAME",
                                               "REDIS_WAIT_REPLICAS", NULL};

/* Variables whose value differs between two replicas by design, besides the identity
 * (STACK_ENV_IDENTITY): each replica's own port and the auth-service replica it asks. */
static const char *const per_replica[] = {"HTTP_PORT", "AUTH_URL", NULL};

static struct compose *cluster(void **state)
{
    return &fixture(state)->cluster;
}

/* STACK_ENV_IDENTITY of scripts/stack-env.sh into @ret. */
static void identity_vars(struct strset *ret)
{
    char *out, *tok, *save = NULL;
    int st;

    out = run("bash -c '. " STACK_ENV "; printf \"%s\\n\" $STACK_ENV_IDENTITY'", &st);
    if (st != 0)
        problem(STACK_ENV ": STACK_ENV_IDENTITY cannot be read: %s", out);
    for (tok = strtok_r(out, "\n", &save); tok && st == 0; tok = strtok_r(NULL, "\n", &save))
        strset_add(ret, tok);
    free(out);
    if (st == 0 && ret->n == 0)
        problem(STACK_ENV ": STACK_ENV_IDENTITY is empty (inventory's INVENTORY_RELAY_NAME?)");
}

static void test_cluster_config_valid(void **state)
{
    struct compose *c = cluster(state);

    assert_int_equal(c->config_status, 0);
    if (c->noenv_status == 0)
        fail_msg(CLUSTER_FILE " passed config without .env: secrets must use ${NAME:?…}");
}

/* Replica @s (@name) of services[@i] on @port: the environment is the contract (plus the
 * allow-listed tunables and, for inventory, the Sentinel settings), on the cluster's Kafka and
 * database, waiting for the clustered infra. */
static void check_replica(const struct compose *c, cJSON *s, const char *name, size_t i,
                          int replica)
{
    struct strset want = {0};
    cJSON *env = cJSON_GetObjectItemCaseSensitive(s, "environment"), *v, *mariadb;
    bool inventory = strcmp(services[i].name, "inventory") == 0;
    char word[96], pwvar[64];
    const char *x, *pw;

    if (contract(services[i].name, &want) == 0) {
        for (size_t j = 0; j < want.n; j++)
            if (!cJSON_GetObjectItemCaseSensitive(env, want.v[j]))
                problem("%s: %s is in " STACK_ENV " but not in " CLUSTER_FILE, name, want.v[j]);
        cJSON_ArrayForEach (v, env) {
            if (!strset_has(&want, v->string) && !in_list(allowed_defaults, v->string) &&
                !(inventory && in_list(cluster_settings, v->string)))
                problem("%s: " CLUSTER_FILE " sets %s, which " STACK_ENV " does not list", name,
                        v->string);
        }
    }
    strset_release(&want);
    if (!(x = env_value(s, "KAFKA_BOOTSTRAP")) || strcmp(x, CLUSTER_BOOTSTRAP) != 0)
        problem("%s: KAFKA_BOOTSTRAP must be " CLUSTER_BOOTSTRAP " (every node)", name);
    snprintf(word, sizeof(word), "commerce_%s", services[i].name);
    if (!(x = env_value(s, "DB_NAME")) || strcmp(x, word) != 0)
        problem("%s: DB_NAME must be %s (shared by the replicas)", name, word);
    snprintf(word, sizeof(word), "%s-service", services[i].name);
    if (!(x = env_value(s, "KAFKA_GROUP_ID")) || strcmp(x, word) != 0)
        problem("%s: KAFKA_GROUP_ID must be %s (one consumer group for the replicas)", name, word);
    if (!(x = env_value(s, "DB_USER")) || strcmp(x, services[i].name) != 0)
        problem("%s: DB_USER must be %s", name, services[i].name);
    snprintf(pwvar, sizeof(pwvar), "DB_PASSWORD_%s", services[i].name);
    for (char *p = pwvar; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    if ((mariadb = svc_in(c, "mariadb")) &&
        (!(pw = env_value(mariadb, pwvar)) || !(x = env_value(s, "DB_PASSWORD")) ||
         strcmp(pw, x) != 0))
        problem("%s: DB_PASSWORD differs from mariadb's %s", name, pwvar);
    snprintf(word, sizeof(word), "/app/%s-service/migrations", services[i].name);
    if (!(x = env_value(s, "MIGRATIONS_DIR")) || strcmp(x, word) != 0)
        problem("%s: MIGRATIONS_DIR must be %s (the image's layout)", name, word);

    expect_dep(s, name, "mariadb", "service_healthy");
    for (int n = 1; n <= KAFKA_NODES; n++) {
        snprintf(word, sizeof(word), "kafka-%d", n);
        expect_dep(s, name, word, "service_healthy");
    }
    expect_dep(s, name, "kafka-init", "service_completed_successfully");
    expect_dep(s, name, "kafka-acls", "service_completed_successfully");
    if (inventory) {
        expect_dep(s, name, "redis-1", "service_healthy");
        for (int n = 1; n <= 3; n++) {
            snprintf(word, sizeof(word), "sentinel%d", n);
            expect_dep(s, name, word, "service_healthy");
        }
        if (!(x = env_value(s, "REDIS_SENTINELS")) || strcmp(x, CLUSTER_SENTINELS) != 0)
            problem("%s: REDIS_SENTINELS must be " CLUSTER_SENTINELS, name);
        if (!(x = env_value(s, "REDIS_MASTER_NAME")) || strcmp(x, "commerce") != 0)
            problem("%s: REDIS_MASTER_NAME must be commerce (what the Sentinels monitor)", name);
        if (!(x = env_value(s, "REDIS_WAIT_REPLICAS")) || strcmp(x, "1") != 0)
            problem("%s: REDIS_WAIT_REPLICAS must be 1 (a reservation reaches the replica)", name);
    }
    if (strcmp(services[i].name, "user") == 0) {
        snprintf(word, sizeof(word), "auth-service-%d", replica);
        expect_dep(s, name, word, "service_healthy");
    }
}

/* The two replicas of services[@i] differ exactly where an instance must (its identity, its
 * port) and agree everywhere else. */
static void check_replicas_differ(cJSON *const *rs, size_t i, const struct strset *ident)
{
    cJSON *env0 = cJSON_GetObjectItemCaseSensitive(rs[0], "environment");
    cJSON *env1 = cJSON_GetObjectItemCaseSensitive(rs[1], "environment"), *v;

    cJSON_ArrayForEach (v, env0) {
        cJSON *w = cJSON_GetObjectItemCaseSensitive(env1, v->string);
        bool same =
            cJSON_IsString(v) && cJSON_IsString(w) && strcmp(v->valuestring, w->valuestring) == 0;

        if (strset_has(ident, v->string) && (same || !w))
            problem("%s-service: both replicas have %s='%s': it is an instance's identity "
                    "(" STACK_ENV " STACK_ENV_IDENTITY) and must differ",
                    services[i].name, v->string, cJSON_IsString(v) ? v->valuestring : "");
        else if (!strset_has(ident, v->string) && !in_list(per_replica, v->string) && !same)
            problem("%s-service: the replicas differ in %s (only the identity and the port may)",
                    services[i].name, v->string);
    }
    /* an identity variable the service reads is set on both */
    for (size_t j = 0; j < ident->n; j++) {
        bool a = cJSON_GetObjectItemCaseSensitive(env0, ident->v[j]) != NULL;
        bool b = cJSON_GetObjectItemCaseSensitive(env1, ident->v[j]) != NULL;
        if (a != b)
            problem("%s-service: %s is set on one replica only", services[i].name, ident->v[j]);
    }
}

static void test_cluster_services(void **state)
{
    struct compose *c = cluster(state);
    struct strset ident = {0};
    cJSON *svcs = cJSON_GetObjectItemCaseSensitive(c->config, "services"), *x;
    const char *image = NULL;

    identity_vars(&ident);
    for (size_t i = 0; i < NSERVICES; i++) {
        cJSON *rs[REPLICAS] = {NULL};
        char name[64], prefix[64];
        int count = 0;

        /* exactly the replicas: <svc>-service-1 and -2, no plain <svc>-service */
        snprintf(prefix, sizeof(prefix), "%s-service", services[i].name);
        cJSON_ArrayForEach (x, svcs) {
            if (strncmp(x->string, prefix, strlen(prefix)) == 0)
                count++;
        }
        if (count != REPLICAS)
            problem(CLUSTER_FILE ": %d services named %s*, want %d replicas", count, prefix,
                    REPLICAS);
        for (int k = 1; k <= REPLICAS; k++) {
            snprintf(name, sizeof(name), "%s-service-%d", services[i].name, k);
            if (!(rs[k - 1] = svc_in(c, name)))
                continue;
            /* replica k on the service's port + 100*(k-1), like make up INSTANCES=2 */
            check_service_at(rs[k - 1], name, i, services[i].port + 100 * (k - 1), &image);
            check_replica(c, rs[k - 1], name, i, k);
        }
        if (rs[0] && rs[1])
            check_replicas_differ(rs, i, &ident);
    }
    strset_release(&ident);
    problems_check();
}

/* Every variable the cluster file gives a replica is one its daemon reads (the Sentinel
 * settings once inventory-service's Redis client reads them). */
static void test_cluster_settings_in_tables(void **state)
{
    struct compose *c = cluster(state);

    for (size_t i = 0; i < NSERVICES; i++) {
        struct tables *t = calloc(1, sizeof(*t));
        char name[64];
        cJSON *s, *v;

        assert_non_null(t);
        snprintf(name, sizeof(name), "%s-service-1", services[i].name);
        if ((s = svc_in(c, name)) && tables_load(services[i].name, t)) {
            cJSON_ArrayForEach (v, cJSON_GetObjectItemCaseSensitive(s, "environment")) {
                if (tables_find(t, v->string))
                    continue;
                if (in_list(cluster_settings, v->string))
                    print_message("note: %s does not read %s yet (Redis through Sentinel)\n", name,
                                  v->string);
                else
                    problem("%s: " CLUSTER_FILE " sets %s, which no CFG_ENTRY_* of %s-service "
                            "reads",
                            name, v->string, services[i].name);
            }
        }
        free(t);
    }
    problems_check();
}

/* A string's presence in the joined command of service @s. */
static bool command_has(cJSON *s, const char *needle)
{
    cJSON *x;

    cJSON_ArrayForEach (x, cJSON_GetObjectItemCaseSensitive(s, "command")) {
        if (cJSON_IsString(x) && strstr(x->valuestring, needle))
            return true;
    }
    return false;
}

static void check_cluster_kafka(const struct compose *c)
{
    char name[32], want[32];
    const char *id0 = NULL, *v;
    char *script = slurp(KAFKA_START);
    cJSON *k, *init;

    /* the start script takes every setting the nodes are given */
    static const char *const node_vars[] = {"KAFKA_NODE_ID",       "KAFKA_ADVERTISED_HOST",
                                            "KAFKA_QUORUM_VOTERS", "KAFKA_REPLICATION",
                                            "KAFKA_MIN_ISR",       "KAFKA_HOST_ADVERTISED"};
    for (size_t j = 0; j < sizeof(node_vars) / sizeof(node_vars[0]); j++) {
        char ref[64];
        snprintf(ref, sizeof(ref), "${%s", node_vars[j]);
        if (!script || !strstr(script, ref))
            problem(KAFKA_START " does not read %s", node_vars[j]);
    }
    free(script);
    for (int n = 1; n <= KAFKA_NODES; n++) {
        snprintf(name, sizeof(name), "kafka-%d", n);
        if (!(k = svc_in(c, name)))
            continue;
        snprintf(want, sizeof(want), "%d", n);
        if (!(v = env_value(k, "KAFKA_NODE_ID")) || strcmp(v, want) != 0)
            problem("%s: KAFKA_NODE_ID must be %d", name, n);
        if (!(v = env_value(k, "KAFKA_ADVERTISED_HOST")) || strcmp(v, name) != 0)
            problem("%s: KAFKA_ADVERTISED_HOST must be %s", name, name);
        if (!(v = env_value(k, "KAFKA_QUORUM_VOTERS")) ||
            strcmp(v, "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093") != 0)
            problem("%s: KAFKA_QUORUM_VOTERS must name the three nodes", name);
        if (!(v = env_value(k, "KAFKA_REPLICATION")) || strcmp(v, "3") != 0)
            problem("%s: KAFKA_REPLICATION must be 3", name);
        if (!(v = env_value(k, "KAFKA_MIN_ISR")) || strcmp(v, "2") != 0)
            problem("%s: KAFKA_MIN_ISR must be 2", name);
        if (!(v = env_value(k, "KAFKA_AUTO_CREATE_TOPICS_ENABLE")) || strcmp(v, "false") != 0)
            problem("%s: KAFKA_AUTO_CREATE_TOPICS_ENABLE must be \"false\"", name);
        if (!(v = env_value(k, "CLUSTER_ID")))
            problem("%s: no CLUSTER_ID", name);
        else if (!id0)
            id0 = v;
        else if (strcmp(id0, v) != 0)
            problem("%s: CLUSTER_ID differs from kafka-1's (one cluster)", name);
        if (!cJSON_GetObjectItemCaseSensitive(k, "healthcheck"))
            problem("%s: no healthcheck", name);
    }
    if ((init = svc_in(c, "kafka-init"))) {
        if (!(v = env_value(init, "TOPIC_REPLICATION")) || strcmp(v, "3") != 0)
            problem("kafka-init: TOPIC_REPLICATION must be 3");
        if (!(v = env_value(init, "TOPIC_PARTITIONS")) || strcmp(v, "3") != 0)
            problem("kafka-init: TOPIC_PARTITIONS must be 3");
        if (!(v = env_value(init, "KAFKA_BOOTSTRAP")) || strcmp(v, CLUSTER_BOOTSTRAP) != 0)
            problem("kafka-init: KAFKA_BOOTSTRAP must be " CLUSTER_BOOTSTRAP);
        for (int n = 1; n <= KAFKA_NODES; n++) {
            snprintf(name, sizeof(name), "kafka-%d", n);
            expect_dep(init, "kafka-init", name, "service_healthy");
        }
    }
}

static void check_cluster_redis(const struct compose *c)
{
    cJSON *r1 = svc_in(c, "redis-1"), *r2 = svc_in(c, "redis-2"), *s;
    char name[32];

    for (int n = 1; n <= 2; n++) {
        cJSON *r = n == 1 ? r1 : r2, *cmd;
        if (!r)
            continue;
        cmd = cJSON_GetObjectItemCaseSensitive(r, "command");
        if (!array_has(cmd, "--appendonly") || !array_has(cmd, "yes") ||
            !array_has(cmd, "--maxmemory-policy") || !array_has(cmd, "noeviction"))
            problem("redis-%d: command must hold --appendonly yes --maxmemory-policy noeviction",
                    n);
        if (!cJSON_GetObjectItemCaseSensitive(r, "healthcheck"))
            problem("redis-%d: no healthcheck", n);
    }
    if (r2 && (!array_has(cJSON_GetObjectItemCaseSensitive(r2, "command"), "--replicaof") ||
               !array_has(cJSON_GetObjectItemCaseSensitive(r2, "command"), "redis-1")))
        problem("redis-2: must start as a replica of redis-1 (--replicaof redis-1 6379)");
    for (int n = 1; n <= 3; n++) {
        snprintf(name, sizeof(name), "sentinel%d", n);
        if (!(s = svc_in(c, name)))
            continue;
        if (!command_has(s, "redis-sentinel") ||
            !command_has(s, "sentinel monitor commerce redis-1 6379 2"))
            problem("%s: must run redis-sentinel monitoring redis-1 as commerce, quorum 2", name);
        if (!cJSON_GetObjectItemCaseSensitive(s, "healthcheck"))
            problem("%s: no healthcheck", name);
    }
}

static void test_cluster_infra(void **state)
{
    struct compose *c = cluster(state);
    cJSON *mariadb;

    check_cluster_kafka(c);
    check_cluster_redis(c);
    if ((mariadb = svc_in(c, "mariadb")) &&
        !cJSON_GetObjectItemCaseSensitive(mariadb, "healthcheck"))
        problem("mariadb: no healthcheck");
    problems_check();
}

/* The metric names the code exports: "commerce_*" string literals in common/src and every
 * service's src, less the database names. */
static void exported_metrics(struct strset *ret)
{
    char *out, *tok, *save = NULL;
    int st;

    out = run("grep -rhoE '\"commerce_[a-z0-9_]+\"' common/src *-service/src --include='*.c' "
              "--include='*.h' | tr -d '\"' | sort -u",
              &st);
    for (tok = strtok_r(out, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
        bool db = false;
        for (size_t i = 0; i < NSERVICES; i++)
            if (strcmp(tok + strlen("commerce_"), services[i].name) == 0)
                db = true;
        if (!db)
            strset_add(ret, tok);
    }
    free(out);
    if (ret->n < 5)
        problem("found only %zu exported metric names in the code", ret->n);
}

static bool metric_known(const struct strset *known, const char *name)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    char base[128];

    if (strset_has(known, name))
        return true;
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(name), k = strlen(suffixes[i]);
        if (n > k && n - k < sizeof(base) && strcmp(name + n - k, suffixes[i]) == 0) {
            memcpy(base, name, n - k);
            base[n - k] = '\0';
            if (strset_has(known, base))
                return true;
        }
    }
    return false;
}

/* Checks the metric names of one panel query. */
static void check_expr(const char *panel, const char *expr, const struct strset *known)
{
    const char *e;
    int named = 0;

    for (e = expr; (e = strstr(e, "commerce_")) != NULL;) {
        char name[128];
        size_t n = 0;

        while ((e[n] >= 'a' && e[n] <= 'z') || (e[n] >= '0' && e[n] <= '9') || e[n] == '_')
            n++;
        if (n >= sizeof(name))
            n = sizeof(name) - 1;
        memcpy(name, e, n);
        name[n] = '\0';
        if (!metric_known(known, name))
            problem("panel '%s': metric %s is exported by no service (query: %s)", panel, name,
                    expr);
        named++;
        e += n;
    }
    if (named == 0)
        problem("panel '%s': query names no commerce_* metric: %s", panel, expr);
}

/* Checks every target expr of @panels (and of rows' nested panels); counts them. */
static void check_panels(cJSON *panels, const struct strset *known, int *nexpr)
{
    cJSON *p;

    cJSON_ArrayForEach (p, panels) {
        cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
        cJSON *title = cJSON_GetObjectItemCaseSensitive(p, "title");
        const char *t = cJSON_IsString(title) ? title->valuestring : "?";
        cJSON *targets = cJSON_GetObjectItemCaseSensitive(p, "targets"), *tg;

        check_panels(cJSON_GetObjectItemCaseSensitive(p, "panels"), known, nexpr);
        if (cJSON_IsString(type) &&
            (strcmp(type->valuestring, "row") == 0 || strcmp(type->valuestring, "text") == 0))
            continue;
        if (cJSON_GetArraySize(targets) == 0)
            problem("panel '%s' has no query", t);
        cJSON_ArrayForEach (tg, targets) {
            cJSON *expr = cJSON_GetObjectItemCaseSensitive(tg, "expr");

            if (!cJSON_IsString(expr) || !*expr->valuestring) {
                problem("panel '%s': a target without expr", t);
                continue;
            }
            (*nexpr)++;
            check_expr(t, expr->valuestring, known);
        }
    }
}

static void test_dashboard(void **state)
{
    struct strset known = {0};
    char *text = slurp(DASHBOARD), *ds = slurp(DATASOURCE);
    cJSON *dash = NULL;
    int nexpr = 0;

    (void)state; /* needs no docker-compose */
    if (!text || !ds) {
        problem("cannot read " DASHBOARD " or " DATASOURCE);
        goto out;
    }
    if (!(dash = cJSON_Parse(text))) {
        problem(DASHBOARD " is not valid JSON (near: %.40s)", cJSON_GetErrorPtr());
        goto out;
    }
    exported_metrics(&known);
    check_panels(cJSON_GetObjectItemCaseSensitive(dash, "panels"), &known, &nexpr);
    if (nexpr < 10)
        problem(DASHBOARD ": only %d queries", nexpr);
    /* the panels' datasource is the provisioned one */
    if (!strstr(ds, "uid: prometheus") || !strstr(text, "\"uid\": \"prometheus\""))
        problem("the dashboard's datasource uid must be the provisioned 'prometheus'");
out:
    cJSON_Delete(dash);
    strset_release(&known);
    free(text);
    free(ds);
    problems_check();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_valid),
        cmocka_unit_test(test_services),
        cmocka_unit_test(test_env_matches_contract),
        cmocka_unit_test(test_contract_matches_config_tables),
        cmocka_unit_test(test_depends_on),
        cmocka_unit_test(test_infra),
        cmocka_unit_test(test_dashboard),
        cmocka_unit_test(test_cluster_config_valid),
        cmocka_unit_test(test_cluster_services),
        cmocka_unit_test(test_cluster_settings_in_tables),
        cmocka_unit_test(test_cluster_infra),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
