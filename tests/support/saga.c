/*
 * saga.c - the six-service stack and the saga's client side for end-to-end tests (saga.h).
 *
 * Only public HTTP APIs, except one write at start: the catalog's sku AUTO_INCREMENT is moved
 * to a random base so SKU ids (and so inventory's Redis keys) are unique to the run.
 */
#include "saga.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/db.h"
#include "common/event.h"
#include "common/msgctx.h"

#define SAGA_START_MS 90000
#define SAGA_POLL_MS 100

static int64_t saga__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void saga__sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

bool saga_status_terminal(const char *status)
{
    static const char *const terminal[] = {"CONFIRMED",          "CANCELLED", "FAILED",
                                           "PARTIALLY_REFUNDED", "REFUNDED",  NULL};

    for (size_t i = 0; status && terminal[i]; i++) {
        if (strcmp(status, terminal[i]) == 0)
            return true;
    }
    return false;
}

/* ---- JSON field access, tolerant of the spellings the services may use ---- */

static const cJSON *saga__field(const cJSON *obj, const char *names)
{
    char buf[128];
    char *save = NULL, *name;

    if (!obj)
        return NULL;
    snprintf(buf, sizeof(buf), "%s", names);
    for (name = strtok_r(buf, "|", &save); name; name = strtok_r(NULL, "|", &save)) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);

        if (it && !cJSON_IsNull(it))
            return it;
    }
    return NULL;
}

long long saga_json_num(const cJSON *obj, const char *names)
{
    const cJSON *it = saga__field(obj, names);

    if (cJSON_IsNumber(it))
        return (long long)it->valuedouble;
    if (cJSON_IsString(it))
        return strtoll(it->valuestring, NULL, 10);
    return -1;
}

const char *saga_json_str(const cJSON *obj, const char *names)
{
    const cJSON *it = saga__field(obj, names);

    return cJSON_IsString(it) ? it->valuestring : "";
}

const char *saga_order_status(const cJSON *order)
{
    return saga_json_str(order, "status");
}

long long saga_order_payable(const cJSON *order)
{
    return saga_json_num(order, "payableAmount");
}

const char *saga_order_reason(const cJSON *order)
{
    const char *r = saga_json_str(order, "cancelReason");
    const cJSON *h;

    if (*r)
        return r;
    /* else the reason of the step into CANCELLED / FAILED (later entries, e.g. stock.released,
     * only record what followed) */
    cJSON_ArrayForEach (h, cJSON_GetObjectItem(order, "history")) {
        const char *to = saga_json_str(h, "toStatus");

        if (!strcmp(to, "CANCELLED") || !strcmp(to, "FAILED"))
            return saga_json_str(h, "reason");
    }
    return "";
}

int saga_order_item(const cJSON *order, int i, char *out, size_t outlen, long long *ret_amount)
{
    const cJSON *item = cJSON_GetArrayItem(cJSON_GetObjectItem(order, "items"), i);
    const cJSON *id = saga__field(item, "id|orderItemId");

    if (!item || !id)
        return -ENOENT;
    if (cJSON_IsString(id))
        snprintf(out, outlen, "%s", id->valuestring);
    else
        snprintf(out, outlen, "%lld", (long long)id->valuedouble);
    if (ret_amount)
        *ret_amount = saga_json_num(item, "amount");
    return 0;
}

/* ---- HTTP ---- */

static const struct ts_service *saga__instance1(const struct saga_stack *st, int i)
{
    const struct ts_service *all[SAGA_NSERVICES] = {&st->auth,      &st->user,  &st->catalog,
                                                    &st->inventory, &st->order, &st->payment};

    return all[i];
}

/* @svc's index in saga__binaries / st->env and its instance (1 …) into *@ret_k; or -1. */
static int saga__locate(const struct saga_stack *st, const struct ts_service *svc, int *ret_k)
{
    for (int i = 0; i < SAGA_NSERVICES; i++) {
        if (saga__instance1(st, i) == svc) {
            *ret_k = 1;
            return i;
        }
        for (int k = 2; k <= SAGA_INSTANCES_MAX; k++) {
            if (&st->more[i][k - 2] == svc) {
                *ret_k = k;
                return i;
            }
        }
    }
    return -1;
}

/* The address of the instance of @svc's service this request goes to: round robin over the
 * instances not being restarted. */
static const char *saga__pick(const struct saga_stack *st, const struct ts_service *svc)
{
    static _Atomic unsigned next;
    int k, i = st->instances > 1 ? saga__locate(st, svc, &k) : -1;

    if (i < 0 || k != 1)
        return svc->url;
    for (int tries = 0; tries < 2 * st->instances; tries++) {
        int n = (int)(next++ % (unsigned)st->instances);

        if (!__atomic_load_n(&st->down[i][n], __ATOMIC_ACQUIRE))
            return st->urls[i][n];
    }
    return st->urls[i][0];
}

/* With several instances a request that got no answer (its instance was killed) goes to
 * another one, as a load balancer would retry it; with one instance it is not repeated. */
static int saga__http(const struct saga_stack *st, const struct ts_service *svc, const char *method,
                      const char *path, const char *token, const char *body,
                      const char *const *headers, struct ts_resp *r)
{
    char url[512];
    int rc = -EIO;

    for (int attempt = 0; attempt < (st->instances > 1 ? 4 : 1); attempt++) {
        const char *base = saga__pick(st, svc);

        snprintf(url, sizeof(url), "%s%s", base, path);
        rc = ts_http(method, url, token, body, headers, r);
        if (rc == 0)
            break;
        if (attempt + 1 < 4 && st->instances > 1)
            saga__sleep_ms(250 * (attempt + 1)); /* the instance's restart, not a sync */
    }
    return rc;
}

/* ---- the stack ---- */

static void saga__env_add(char (*e)[256], const char **env, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void saga__env_add(char (*e)[256], const char **env, size_t *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(e[*n], 256, fmt, ap);
    va_end(ap);
    env[*n] = e[*n];
    (*n)++;
    env[*n] = NULL;
}

/* TOPIC_<TYPE> for every event type, onto the run's four topics. */
static void saga__topics(const struct saga_stack *st, char (*e)[256], const char **env, size_t *n)
{
    static const char *const types[] = {
        "PRODUCT_SKU_CREATED",      "ORDER_PLACED",     "ORDER_CONFIRMED",
        "ORDER_CANCELLED",          "ORDER_REFUNDED",   "STOCK_RESERVED",
        "STOCK_RESERVATION_FAILED", "STOCK_CONFIRMED",  "STOCK_CONFIRM_FAILED",
        "STOCK_RELEASED",           "PAYMENT_CREATED",  "PAYMENT_COMPLETED",
        "PAYMENT_FAILED",           "PAYMENT_REFUNDED", NULL};

    for (size_t i = 0; types[i]; i++) {
        const char *topic = !strncmp(types[i], "PRODUCT", 7) ? st->topic_product
                            : !strncmp(types[i], "ORDER", 5) ? st->topic_order
                            : !strncmp(types[i], "STOCK", 5) ? st->topic_stock
                                                             : st->topic_payment;

        saga__env_add(e, env, n, "TOPIC_%s=%s", types[i], topic);
    }
}

/* The environment every Kafka-using service shares: topics, fast relays, its own group. */
static void saga__common_env(const struct saga_stack *st, const char *service, const char *db,
                             char (*e)[256], const char **env, size_t *n)
{
    char group[64];

    saga__env_add(e, env, n, "DB_NAME=%s", db);
    saga__env_add(e, env, n, "MIGRATIONS_DIR=%s/migrations", service);
    saga__topics(st, e, env, n);
    ts_unique(service, group, sizeof(group));
    saga__env_add(e, env, n, "KAFKA_GROUP_ID=%s", group);
    saga__env_add(e, env, n, "KAFKA_CREATE_TOPICS=true");
    saga__env_add(e, env, n, "OUTBOX_POLL_MS=100");
    saga__env_add(e, env, n, "CONSUMER_BACKOFF_BASE_MS=100");
    saga__env_add(e, env, n, "CONSUMER_BACKOFF_MAX_MS=2000");
    /* a crashed member (saga_service_restart with SIGKILL) loses its partitions in 10 s */
    saga__env_add(e, env, n, "KAFKA_SESSION_TIMEOUT_MS=10000");
    saga__env_add(e, env, n, "LOG_LEVEL=info");
}

static const char *const saga__binaries[6] = {"auth-service",    "user-service",
                                              "catalog-service", "inventory-service",
                                              "order-service",   "payment-service"};

static void saga__env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* A heap copy of @env with room for one more entry. NULL when out of memory. */
static char **saga__env_dup(const char *const *env)
{
    size_t n = 0;
    char **copy;

    while (env[n])
        n++;
    copy = calloc(n + 2, sizeof(*copy));
    for (size_t i = 0; copy && i < n; i++) {
        copy[i] = strdup(env[i]);
        if (!copy[i]) {
            saga__env_free(copy);
            return NULL;
        }
    }
    return copy;
}

struct ts_service *saga_instance(struct saga_stack *st, const struct ts_service *svc, int k)
{
    int k1, i = saga__locate(st, svc, &k1);

    if (i < 0 || k < 1 || k > st->instances)
        return NULL;
    return k == 1 ? (struct ts_service *)saga__instance1(st, i) : &st->more[i][k - 2];
}

/*
 * Starts instance @k of service @i with st->env[i], plus what differs per instance (inventory's
 * relay consumer name) and HTTP_PORT=@port when non-zero (a restart keeps the address).
 */
static int saga__start_instance(struct saga_stack *st, int i, int k, unsigned short port)
{
    struct ts_service *svc = saga_instance(st, saga__instance1(st, i), k);
    char extra[2][64];
    const char **env;
    size_t n = 0, x = 0;
    int rc;

    if (!svc || !st->env[i])
        return -EIO;
    while (st->env[i][n])
        n++;
    env = calloc(n + 3, sizeof(*env));
    if (!env)
        return -EIO;
    memcpy(env, st->env[i], n * sizeof(*env));
    if (i == 3 && k > 1) /* inventory: its own consumer in the stream's relay group */
        snprintf(extra[x++], sizeof(extra[0]), "INVENTORY_RELAY_NAME=relay-%d", k);
    if (port)
        snprintf(extra[x++], sizeof(extra[0]), "HTTP_PORT=%u", port);
    for (size_t j = 0; j < x; j++)
        env[n + j] = extra[j];
    rc = ts_service_start(saga__binaries[i], env, SAGA_START_MS, svc);
    free(env);
    if (rc < 0) {
        fprintf(stderr, "saga: %s instance %d did not become ready\n", saga__binaries[i], k);
        memset(svc, 0, sizeof(*svc));
        return -EIO;
    }
    snprintf(st->urls[i][k - 1], sizeof(st->urls[i][k - 1]), "%s", svc->url);
    __atomic_store_n(&st->down[i][k - 1], 0, __ATOMIC_RELEASE);
    return 0;
}

/* Starts every instance of @svc (instance 1 of @st's) with @env, which is kept for
 * saga_service_restart(). */
static int saga__start(struct saga_stack *st, struct ts_service *svc, const char *const *env)
{
    int k, i = saga__locate(st, svc, &k);

    saga__env_free(st->env[i]);
    st->env[i] = saga__env_dup(env);
    if (!st->env[i])
        return -EIO;
    for (k = 1; k <= st->instances; k++) {
        if (saga__start_instance(st, i, k, 0) < 0)
            return -EIO;
    }
    return 0;
}

int saga_service_restart(struct saga_stack *st, struct ts_service *svc, int sig)
{
    int k, i = saga__locate(st, svc, &k);
    unsigned short old_port = svc->port;
    int rc;

    if (i < 0 || !st->env[i] || svc->pid <= 0) {
        fprintf(stderr, "saga: restart of a service this stack did not start\n");
        return -EIO;
    }
    /* clients leave it alone until it is back (the others serve) */
    __atomic_store_n(&st->down[i][k - 1], 1, __ATOMIC_RELEASE);
    rc = ts_service_stop(svc, sig);
    if (sig == SIGKILL ? rc != 128 + SIGKILL : rc != 0)
        fprintf(stderr, "saga: %s exited %d on signal %d\n", saga__binaries[i], rc, sig);
    /* the same address: clients and the other services keep their URL */
    if (saga__start_instance(st, i, k, old_port) < 0) {
        fprintf(stderr, "saga: %s did not become ready after its restart\n", saga__binaries[i]);
        return -EIO;
    }
    return 0;
}

/* Moves the catalog's sku AUTO_INCREMENT to st->sku_base (see saga.h). */
static int saga__sku_base(struct saga_stack *st)
{
    struct db_opts opts = {.host = ts_env("DB_HOST"),
                           .port = (unsigned)atoi(ts_env("DB_PORT")),
                           .user = ts_env("DB_USER"),
                           .password = ts_env("DB_PASSWORD"),
                           .database = st->catalog_db,
                           .pool_size = 1,
                           .connect_timeout_s = 10,
                           .acquire_timeout_ms = 10000};
    char err[256], sql[128];
    struct db_pool *pool;
    struct db_conn *conn;
    uint32_t rnd = 0;
    int rc = -EIO;

    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = (uint32_t)time(NULL);
    /* 7e12 + up to 1e12 in steps of 1000: far from 1, 2, …, below 2^53 (exact in JSON) */
    st->sku_base = 7000000000000LL + (long long)(rnd % 1000000000U) * 1000;
    pool = db_pool_new(&opts, err, sizeof(err));
    if (!pool) {
        fprintf(stderr, "saga: catalog db: %s\n", err);
        return -EIO;
    }
    conn = db_acquire(pool, err, sizeof(err));
    if (!conn) {
        fprintf(stderr, "saga: catalog db: %s\n", err);
        goto out;
    }
    snprintf(sql, sizeof(sql), "ALTER TABLE sku AUTO_INCREMENT = %lld", st->sku_base);
    rc = db_exec(conn, sql, NULL, 0, NULL, NULL);
    if (rc < 0)
        fprintf(stderr, "saga: %s: %s\n", sql, db_errmsg(conn));
    db_release(pool, conn);
out:
    db_pool_free(pool);
    return rc < 0 ? -EIO : 0;
}

static int saga__login(const struct saga_stack *st, const char *email, const char *password,
                       char *token, size_t tokenlen)
{
    char body[384];
    struct ts_resp r;
    int rc = -EIO;

    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    if (saga__http(st, &st->auth, "POST", "/api/auth/login", NULL, body, NULL, &r) < 0)
        return -EIO;
    if (r.status == 200 && cJSON_IsString(cJSON_GetObjectItem(r.json, "accessToken"))) {
        snprintf(token, tokenlen, "%s", cJSON_GetObjectItem(r.json, "accessToken")->valuestring);
        rc = 0;
    } else {
        fprintf(stderr, "saga: login of '%s': %ld %s\n", email, r.status, r.body);
    }
    ts_resp_free(&r);
    return rc;
}

int saga_stack_start(struct saga_stack *st, const struct saga_opts *opts)
{
    char e[40][256], u[48];
    const char *env[41];
    size_t n;
    const char *prefix = opts->prefix ? opts->prefix : "e2e_saga";
    char name[64];

    memset(st, 0, sizeof(*st));
    st->payment_deadline_s = opts->payment_deadline_s;
    st->instances = opts->instances > 1 ? opts->instances : 1;
    if (st->instances > SAGA_INSTANCES_MAX)
        st->instances = SAGA_INSTANCES_MAX;
#define DB(field, svc)                                                                             \
    do {                                                                                           \
        snprintf(name, sizeof(name), "%.20s_%s", prefix, svc);                                     \
        if (ts_create_database(name, st->field, sizeof(st->field)) < 0)                            \
            return -EIO;                                                                           \
    } while (0)
    DB(auth_db, "auth");
    DB(user_db, "user");
    DB(catalog_db, "cat");
    DB(inventory_db, "inv");
    DB(order_db, "order");
    DB(payment_db, "pay");
#undef DB
    snprintf(name, sizeof(name), "%.20s-product", prefix);
    ts_unique(name, st->topic_product, sizeof(st->topic_product));
    snprintf(name, sizeof(name), "%.20s-order", prefix);
    ts_unique(name, st->topic_order, sizeof(st->topic_order));
    snprintf(name, sizeof(name), "%.20s-stock", prefix);
    ts_unique(name, st->topic_stock, sizeof(st->topic_stock));
    snprintf(name, sizeof(name), "%.20s-payment", prefix);
    ts_unique(name, st->topic_payment, sizeof(st->topic_payment));
    snprintf(name, sizeof(name), "%.20s-outbox", prefix);
    ts_unique(name, st->stream, sizeof(st->stream));
    ts_unique("admin", u, sizeof(u));
    snprintf(st->admin_email, sizeof(st->admin_email), "%s@example.com", u);
    /* the topics exist before anyone subscribes (services also create them, racing) */
    if (ts_create_topic(st->topic_product) < 0 || ts_create_topic(st->topic_order) < 0 ||
        ts_create_topic(st->topic_stock) < 0 || ts_create_topic(st->topic_payment) < 0)
        return -EIO;

    /* auth */
    n = 0;
    env[0] = NULL;
    saga__env_add(e, env, &n, "DB_NAME=%s", st->auth_db);
    saga__env_add(e, env, &n, "MIGRATIONS_DIR=auth-service/migrations");
    saga__env_add(e, env, &n, "JWT_PRIVATE_KEY_FILE=%s", ts_env("JWT_PRIVATE_KEY_FILE"));
    saga__env_add(e, env, &n, "AUTH_SERVICE_TOKEN=" SAGA_SERVICE_TOKEN);
    saga__env_add(e, env, &n, "ADMIN_EMAIL=%s", st->admin_email);
    saga__env_add(e, env, &n, "ADMIN_PASSWORD=" SAGA_PASSWORD);
    saga__env_add(e, env, &n, "ACCESS_TOKEN_TTL_S=3600");
    if (saga__start(st, &st->auth, env) < 0)
        goto bad;

    /* user */
    n = 0;
    saga__env_add(e, env, &n, "DB_NAME=%s", st->user_db);
    saga__env_add(e, env, &n, "MIGRATIONS_DIR=user-service/migrations");
    saga__env_add(e, env, &n, "AUTH_URL=%s", st->auth.url);
    saga__env_add(e, env, &n, "AUTH_SERVICE_TOKEN=" SAGA_SERVICE_TOKEN);
    if (saga__start(st, &st->user, env) < 0)
        goto bad;

    /* catalog */
    n = 0;
    saga__common_env(st, "catalog-service", st->catalog_db, e, env, &n);
    if (saga__start(st, &st->catalog, env) < 0 || saga__sku_base(st) < 0)
        goto bad;

    /* inventory */
    n = 0;
    saga__common_env(st, "inventory-service", st->inventory_db, e, env, &n);
    if (getenv("REDIS_SENTINELS") && *getenv("REDIS_SENTINELS")) {
        /* Redis with failover (the infra's REDIS_SENTINELS and REDIS_MASTER_NAME are inherited):
         * no fixed node, and a stock event goes out only once a replica has its write */
        saga__env_add(e, env, &n, "REDIS_HOST=");
        saga__env_add(e, env, &n, "REDIS_WAIT_REPLICAS=1");
    } else {
        saga__env_add(e, env, &n, "REDIS_HOST=%s", ts_env("REDIS_HOST"));
        saga__env_add(e, env, &n, "REDIS_PORT=%s", ts_env("REDIS_PORT"));
    }
    saga__env_add(e, env, &n, "INVENTORY_OUTBOX_STREAM=%s", st->stream);
    saga__env_add(e, env, &n, "INVENTORY_RELAY_GROUP=%s-relay", st->stream);
    if (saga__start(st, &st->inventory, env) < 0)
        goto bad;

    /* payment */
    n = 0;
    saga__common_env(st, "payment-service", st->payment_db, e, env, &n);
    saga__env_add(e, env, &n, "PAYMENT_GATEWAY_TIMEOUT_MS=%d",
                  opts->gateway_timeout_ms > 0 ? opts->gateway_timeout_ms : 300);
    if (saga__start(st, &st->payment, env) < 0)
        goto bad;

    /* order */
    n = 0;
    saga__common_env(st, "order-service", st->order_db, e, env, &n);
    saga__env_add(e, env, &n, "ORDER_PAYMENT_DEADLINE_S=%d",
                  opts->payment_deadline_s > 0 ? opts->payment_deadline_s : 900);
    if (saga__start(st, &st->order, env) < 0)
        goto bad;

    if (saga__login(st, st->admin_email, SAGA_PASSWORD, st->admin_token, sizeof(st->admin_token)) <
        0)
        goto bad;
    return 0;
bad:
    saga_stack_stop(st);
    return -EIO;
}

int saga_stack_start_with_user(struct saga_stack *st, const struct saga_opts *opts, const char *who,
                               struct saga_user *ret_user, long long *ret_category)
{
    char name[64];

    if (saga_stack_start(st, opts) < 0)
        return -EIO;
    ts_unique(who, name, sizeof(name));
    if (saga_user_new(st, who, ret_user) < 0 || saga_category_new(st, name, ret_category) < 0) {
        saga_stack_stop(st);
        return -EIO;
    }
    return 0;
}

/* Sets @svc's url and port from "http://127.0.0.1:<port>". 0 or -EINVAL. */
static int saga__attach_url(struct ts_service *svc, const char *url)
{
    const char *colon = strrchr(url, ':');
    char *end;
    long port;

    if (strncmp(url, "http://", 7) != 0 || !colon || colon < url + 7)
        return -EINVAL;
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535 || strlen(url) >= sizeof(svc->url))
        return -EINVAL;
    memset(svc, 0, sizeof(*svc));
    svc->port = (unsigned short)port;
    memcpy(svc->url, url, strlen(url) + 1);
    return 0;
}

int saga_stack_attach(struct saga_stack *st, const char *env_path)
{
    static const char *const names[] = {"AUTH_URL",      "USER_URL",  "CATALOG_URL",
                                        "INVENTORY_URL", "ORDER_URL", "PAYMENT_URL"};
    struct ts_service *svcs[] = {&st->auth,      &st->user,  &st->catalog,
                                 &st->inventory, &st->order, &st->payment};
    char url[256], password[256];

    memset(st, 0, sizeof(*st));
    st->instances = 1;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (ts_env_file_value(env_path, names[i], url, sizeof(url)) < 0 ||
            saga__attach_url(svcs[i], url) < 0) {
            fprintf(stderr, "saga: %s has no %s=http://127.0.0.1:<port>\n", env_path, names[i]);
            return -EIO;
        }
    }
    if (ts_env_file_value(env_path, "ADMIN_EMAIL", st->admin_email, sizeof(st->admin_email)) < 0 ||
        ts_env_file_value(env_path, "ADMIN_PASSWORD", password, sizeof(password)) < 0) {
        fprintf(stderr, "saga: %s has no ADMIN_EMAIL / ADMIN_PASSWORD\n", env_path);
        return -EIO;
    }
    return saga__login(st, st->admin_email, password, st->admin_token, sizeof(st->admin_token));
}

int saga_stack_stop(struct saga_stack *st)
{
    static const int order[] = {4, 5, 3, 2, 1, 0}; /* order, payment, inventory, catalog, … */
    int first = 0;

    for (size_t j = 0; j < sizeof(order) / sizeof(order[0]); j++) {
        for (int k = SAGA_INSTANCES_MAX; k >= 1; k--) {
            struct ts_service *svc = k == 1 ? (struct ts_service *)saga__instance1(st, order[j])
                                            : &st->more[order[j]][k - 2];
            int rc;

            if (svc->pid <= 0)
                continue;
            rc = ts_service_stop(svc, SIGTERM);
            if (rc != 0) {
                fprintf(stderr, "saga: service on port %u exited %d (log %s)\n", svc->port, rc,
                        svc->log_path);
                if (!first)
                    first = rc;
            }
            svc->pid = 0;
        }
    }
    for (size_t i = 0; i < 6; i++) {
        saga__env_free(st->env[i]);
        st->env[i] = NULL;
    }
    return first;
}

/* ---- users and products ---- */

int saga_user_new(const struct saga_stack *st, const char *prefix, struct saga_user *ret)
{
    char u[64], body[512];
    struct ts_resp r;
    const cJSON *id;

    memset(ret, 0, sizeof(*ret));
    ts_unique(prefix, u, sizeof(u));
    snprintf(ret->email, sizeof(ret->email), "%s@example.com", u);
    snprintf(body, sizeof(body),
             "{\"email\":\"%s\",\"password\":\"" SAGA_PASSWORD "\",\"name\":\"Saga Tester\","
             "\"phone\":\"010-1234-5678\"}",
             ret->email);
    if (saga__http(st, &st->user, "POST", "/api/users", NULL, body, NULL, &r) < 0)
        return -EIO;
    id = cJSON_GetObjectItem(r.json, "id");
    if (r.status != 201 || !id) {
        fprintf(stderr, "saga: sign-up of '%s': %ld %s\n", ret->email, r.status, r.body);
        ts_resp_free(&r);
        return -EIO;
    }
    if (cJSON_IsString(id))
        snprintf(ret->id, sizeof(ret->id), "%s", id->valuestring);
    else
        snprintf(ret->id, sizeof(ret->id), "%lld", (long long)id->valuedouble);
    ts_resp_free(&r);
    return saga__login(st, ret->email, SAGA_PASSWORD, ret->token, sizeof(ret->token));
}

/* POSTs @body as admin to @path and returns the answer's id, or -EIO. */
static int saga__admin_create(const struct saga_stack *st, const struct ts_service *svc,
                              const char *path, const char *body, cJSON **ret)
{
    struct ts_resp r;

    if (saga__http(st, svc, "POST", path, st->admin_token, body, NULL, &r) < 0)
        return -EIO;
    if (r.status != 201 || !r.json) {
        fprintf(stderr, "saga: POST %s: %ld %s\n", path, r.status, r.body);
        ts_resp_free(&r);
        return -EIO;
    }
    *ret = r.json;
    r.json = NULL;
    ts_resp_free(&r);
    return 0;
}

int saga_coupon_new(const struct saga_stack *st, const char *fields, char *ret_code, size_t codelen)
{
    char code[48], body[1024];
    cJSON *j = NULL;

    ts_unique("E2E", code, sizeof(code));
    for (char *p = code; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    snprintf(body, sizeof(body), "{\"code\":\"%s\",%s}", code, fields);
    if (saga__admin_create(st, &st->order, "/api/coupons", body, &j) < 0)
        return -EIO;
    cJSON_Delete(j);
    snprintf(ret_code, codelen, "%s", code);
    return 0;
}

int saga_category_new(const struct saga_stack *st, const char *name, long long *ret_id)
{
    char body[256];
    cJSON *j = NULL;

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"ordering\":1}", name);
    if (saga__admin_create(st, &st->catalog, "/api/catalog/categories", body, &j) < 0)
        return -EIO;
    *ret_id = saga_json_num(j, "id");
    cJSON_Delete(j);
    return 0;
}

int saga_product_new(const struct saga_stack *st, long long category, const char *name,
                     long long price, int quantity, long long *ret_sku)
{
    char body[512];
    cJSON *j = NULL;
    const cJSON *skus, *sku;
    int rc = -EIO;

    snprintf(body, sizeof(body),
             "{\"name\":\"%s\",\"description\":\"saga test\",\"price\":%lld,\"categoryId\":%lld,"
             "\"brand\":\"acme\",\"initialQuantity\":%d}",
             name, price, category, quantity);
    if (saga__admin_create(st, &st->catalog, "/api/catalog/products", body, &j) < 0)
        return -EIO;
    skus = cJSON_GetObjectItem(j, "skus");
    sku = cJSON_IsArray(skus) && cJSON_GetArraySize(skus) == 1 ? cJSON_GetArrayItem(skus, 0) : NULL;
    if (sku && saga_json_num(sku, "id") > 0) {
        *ret_sku = saga_json_num(sku, "id");
        rc = 0;
    } else {
        char *s = cJSON_PrintUnformatted(j);

        fprintf(stderr, "saga: product '%s' has not exactly one SKU: %s\n", name, s);
        cJSON_free(s);
    }
    cJSON_Delete(j);
    return rc;
}

int saga_stock_get(const struct saga_stack *st, long long sku, long long *ret_available,
                   long long *ret_reserved)
{
    char path[96];
    struct ts_resp r;
    int rc;

    snprintf(path, sizeof(path), "/api/inventories/%lld", sku);
    if (saga__http(st, &st->inventory, "GET", path, NULL, NULL, NULL, &r) < 0)
        return -EIO;
    if (r.status == 200) {
        *ret_available = saga_json_num(r.json, "availableStock");
        *ret_reserved = saga_json_num(r.json, "reservedStock");
        rc = 0;
    } else {
        rc = r.status == 404 ? -ENOENT : -EIO;
    }
    ts_resp_free(&r);
    return rc;
}

int saga_stock_wait(const struct saga_stack *st, long long sku, int timeout_ms)
{
    int64_t deadline = saga__now_ms() + timeout_ms;
    long long a, res;

    for (;;) {
        if (saga_stock_get(st, sku, &a, &res) == 0)
            return 0;
        if (saga__now_ms() >= deadline) {
            fprintf(stderr, "saga: inventory does not know sku %lld after %d ms\n", sku,
                    timeout_ms);
            return -ETIMEDOUT;
        }
        saga__sleep_ms(SAGA_POLL_MS);
    }
}

int saga_stock_wait_for(const struct saga_stack *st, long long sku, long long available,
                        long long reserved, int timeout_ms, long long *ret_available,
                        long long *ret_reserved)
{
    int64_t deadline = saga__now_ms() + timeout_ms;
    long long a = -1, r = -1;
    int rc;

    for (;;) {
        rc = saga_stock_get(st, sku, &a, &r);
        if (rc == 0 && a == available && r == reserved)
            break;
        if (saga__now_ms() >= deadline) {
            rc = -ETIMEDOUT;
            break;
        }
        saga__sleep_ms(SAGA_POLL_MS);
    }
    if (ret_available)
        *ret_available = a;
    if (ret_reserved)
        *ret_reserved = r;
    return rc;
}

/* ---- orders ---- */

static void saga__copy_id(const cJSON *j, char *out, size_t outlen)
{
    const cJSON *id = saga__field(j, "id|orderId");

    if (cJSON_IsString(id))
        snprintf(out, outlen, "%s", id->valuestring);
    else if (cJSON_IsNumber(id))
        snprintf(out, outlen, "%lld", (long long)id->valuedouble);
    else if (outlen)
        out[0] = '\0';
}

long saga_order_place(const struct saga_stack *st, const struct saga_user *user,
                      const struct saga_line *lines, size_t n, const char *coupon,
                      const char *idem_key, int catalog_wait_ms, char *ret_id, size_t idlen)
{
    char body[2048], hdr[160];
    const char *headers[] = {hdr, NULL};
    size_t used;
    int64_t deadline = saga__now_ms() + catalog_wait_ms;
    struct ts_resp r;
    long status;

    used = (size_t)snprintf(body, sizeof(body), "{\"items\":[");
    for (size_t i = 0; i < n && used < sizeof(body); i++)
        used +=
            (size_t)snprintf(body + used, sizeof(body) - used, "%s{\"skuId\":%lld,\"quantity\":%d}",
                             i ? "," : "", lines[i].sku, lines[i].quantity);
    if (used < sizeof(body) && coupon)
        snprintf(body + used, sizeof(body) - used, "],\"couponCode\":\"%s\"}", coupon);
    else if (used < sizeof(body))
        snprintf(body + used, sizeof(body) - used, "]}");
    snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", idem_key ? idem_key : "");
    for (;;) {
        if (saga__http(st, &st->order, "POST", "/api/orders", user->token, body,
                       idem_key ? headers : NULL, &r) < 0)
            return -EIO;
        status = r.status;
        /* only an unknown SKU is waited out (a refused coupon is 422 too) */
        if (status != 422 || strcmp(saga_json_str(r.json, "code"), "ORDER-422-001") != 0 ||
            saga__now_ms() >= deadline)
            break;
        ts_resp_free(&r);
        saga__sleep_ms(200);
    }
    if (status == 200 || status == 201)
        saga__copy_id(r.json, ret_id, idlen);
    else
        fprintf(stderr, "saga: POST /api/orders %s: %ld %s\n", body, status, r.body);
    ts_resp_free(&r);
    return status;
}

long saga_order_get(const struct saga_stack *st, const char *token, const char *id, cJSON **ret)
{
    char path[160];
    struct ts_resp r;
    long status;

    if (ret)
        *ret = NULL;
    snprintf(path, sizeof(path), "/api/orders/%s", id);
    if (saga__http(st, &st->order, "GET", path, token, NULL, NULL, &r) < 0)
        return -EIO;
    status = r.status;
    if (status == 200 && ret) {
        *ret = r.json;
        r.json = NULL;
    }
    ts_resp_free(&r);
    return status;
}

int saga_order_wait(const struct saga_stack *st, const char *token, const char *id,
                    const char *want, int timeout_ms, char *ret_status, size_t statuslen,
                    cJSON **ret)
{
    int64_t deadline = saga__now_ms() + timeout_ms;
    cJSON *j = NULL;
    int rc;

    if (ret)
        *ret = NULL;
    for (;;) {
        long status = saga_order_get(st, token, id, &j);
        const char *s = j ? saga_order_status(j) : "";

        if (ret_status && statuslen)
            snprintf(ret_status, statuslen, "%s", status == 200 ? s : "?");
        if (status == 200 && (want ? strcmp(s, want) == 0 : saga_status_terminal(s))) {
            rc = 0;
            break;
        }
        if (saga__now_ms() >= deadline) {
            rc = -ETIMEDOUT;
            break;
        }
        cJSON_Delete(j);
        j = NULL;
        saga__sleep_ms(SAGA_POLL_MS);
    }
    if (ret)
        *ret = j;
    else
        cJSON_Delete(j);
    return rc;
}

long saga_pay(const struct saga_stack *st, const char *token, const char *order_id,
              long long amount, const char *payment_key, int timeout_ms, char *ret_body,
              size_t bodylen)
{
    char body[384];
    int64_t deadline = saga__now_ms() + timeout_ms;
    struct ts_resp r;
    long status;

    snprintf(body, sizeof(body), "{\"orderId\":\"%s\",\"amount\":%lld,\"paymentKey\":\"%s\"}",
             order_id, amount, payment_key);
    for (;;) {
        if (saga__http(st, &st->payment, "POST", "/api/payments/confirm", token, body, NULL, &r) <
            0)
            return -EIO;
        status = r.status;
        /* 404 PAYMENT-404-001: no payment (yet) for this user, retry; 409 PAYMENT-409-002: it
         * is not READY, final */
        if (status != 404 || saga__now_ms() >= deadline)
            break;
        ts_resp_free(&r);
        saga__sleep_ms(SAGA_POLL_MS);
    }
    if (ret_body && bodylen)
        snprintf(ret_body, bodylen, "%s", r.body ? r.body : "");
    ts_resp_free(&r);
    return status;
}

long saga_pay_when_pending(const struct saga_stack *st, const char *token, const char *id,
                           int timeout_ms, long long *ret_payable)
{
    char status[32] = "", body[1024], key[96];
    cJSON *j = NULL;
    long long payable;
    long http;
    int rc;

    rc = saga_order_wait(st, token, id, "PAYMENT_PENDING", timeout_ms, status, sizeof(status), &j);
    if (rc < 0) {
        fprintf(stderr, "saga: order %s not PAYMENT_PENDING within %d ms (last '%s')\n", id,
                timeout_ms, status);
        cJSON_Delete(j);
        return rc;
    }
    payable = saga_order_payable(j);
    cJSON_Delete(j);
    if (ret_payable)
        *ret_payable = payable;
    snprintf(key, sizeof(key), "card_ok_%s", id);
    http = saga_pay(st, token, id, payable, key, timeout_ms, body, sizeof(body));
    if (http != 200)
        fprintf(stderr, "saga: pay %s: %ld %s\n", id, http, body);
    return http;
}

long saga_order_cancel(const struct saga_stack *st, const char *token, const char *id)
{
    char path[160];
    struct ts_resp r;
    long status;

    snprintf(path, sizeof(path), "/api/orders/%s/cancel", id);
    if (saga__http(st, &st->order, "POST", path, token, NULL, NULL, &r) < 0)
        return -EIO;
    status = r.status;
    if (status >= 500)
        fprintf(stderr, "saga: cancel of %s: %ld %s\n", id, status, r.body);
    ts_resp_free(&r);
    return status;
}

long saga_order_refund(const struct saga_stack *st, const char *token, const char *id,
                       const char *const *item_ids, size_t n)
{
    char path[160];
    cJSON *body = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(body, "itemIds");
    char *text;
    struct ts_resp r;
    long status;

    for (size_t i = 0; i < n; i++) {
        char *end = NULL;
        long long v = strtoll(item_ids[i], &end, 10);

        /* numeric ids travel as numbers, others (UUIDs) as strings */
        if (end && *end == '\0' && end != item_ids[i])
            cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)v));
        else
            cJSON_AddItemToArray(arr, cJSON_CreateString(item_ids[i]));
    }
    text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    snprintf(path, sizeof(path), "/api/orders/%s/refund", id);
    if (saga__http(st, &st->order, "POST", path, token, text, NULL, &r) < 0) {
        cJSON_free(text);
        return -EIO;
    }
    status = r.status;
    if (status >= 300)
        fprintf(stderr, "saga: refund of %s %s: %ld %s\n", id, text, status, r.body);
    cJSON_free(text);
    ts_resp_free(&r);
    return status;
}

long saga_payment_get(const struct saga_stack *st, const char *token, const char *order_id,
                      cJSON **ret)
{
    char path[160];
    struct ts_resp r;
    long status;

    *ret = NULL;
    snprintf(path, sizeof(path), "/api/payments/%s", order_id);
    if (saga__http(st, &st->payment, "GET", path, token, NULL, NULL, &r) < 0)
        return -EIO;
    status = r.status;
    if (status == 200) {
        *ret = r.json;
        r.json = NULL;
    }
    ts_resp_free(&r);
    return status;
}

long saga_payment_wait(const struct saga_stack *st, const char *token, const char *order_id,
                       const char *status, long long refunded, int timeout_ms, cJSON **ret)
{
    int64_t deadline = saga__now_ms() + timeout_ms;
    cJSON *j = NULL;
    long http;

    for (;;) {
        http = saga_payment_get(st, token, order_id, &j);
        if (http == 200 && !strcmp(saga_json_str(j, "status"), status) &&
            (refunded < 0 || saga_json_num(j, "refundedAmount") == refunded))
            break;
        if (saga__now_ms() >= deadline) {
            http = -ETIMEDOUT;
            break;
        }
        cJSON_Delete(j);
        j = NULL;
        saga__sleep_ms(SAGA_POLL_MS);
    }
    *ret = j;
    return http;
}

/* ---- the invariant checker ---- */

int saga_check_invariants_with(const struct saga_stack *st, const char *extra, char *out,
                               size_t outlen)
{
    char cmd[2048], min[32], max[32];
    FILE *p;
    size_t used = 0;
    int status;

    snprintf(min, sizeof(min), "%lld", st->sku_base);
    snprintf(max, sizeof(max), "%lld", st->sku_base + 999);
    snprintf(cmd, sizeof(cmd),
             "'%s/bin/check-invariants' --order-db '%s' --payment-db '%s' --sku-min %s "
             "--sku-max %s %s 2>&1",
             ts_env("BUILD_DIR"), st->order_db, st->payment_db, min, max, extra ? extra : "");
    fflush(NULL);
    p = popen(cmd, "r");
    if (!p)
        return -EIO;
    if (outlen)
        out[0] = '\0';
    for (;;) {
        char buf[4096];
        size_t got = fread(buf, 1, sizeof(buf), p);

        if (got == 0)
            break;
        if (outlen && used + 1 < outlen) {
            size_t take = got < outlen - used - 1 ? got : outlen - used - 1;

            memcpy(out + used, buf, take);
            used += take;
            out[used] = '\0';
        }
    }
    status = pclose(p);
    if (status < 0 || !WIFEXITED(status))
        return -EIO;
    return WEXITSTATUS(status);
}

int saga_check_invariants(const struct saga_stack *st, char *out, size_t outlen)
{
    return saga_check_invariants_with(st, NULL, out, outlen);
}

int saga_check_invariants_with_until(const struct saga_stack *st, const char *extra, int timeout_ms,
                                     char *out, size_t outlen)
{
    int64_t deadline = saga__now_ms() + timeout_ms;
    int rc;

    for (;;) {
        rc = saga_check_invariants_with(st, extra, out, outlen);
        if (rc == 0 || rc == -EIO || rc == 2 || saga__now_ms() >= deadline)
            return rc;
        saga__sleep_ms(1000);
    }
}

int saga_check_invariants_until(const struct saga_stack *st, int timeout_ms, char *out,
                                size_t outlen)
{
    return saga_check_invariants_with_until(st, NULL, timeout_ms, out, outlen);
}

const char *saga_env_value(const struct saga_stack *st, const struct ts_service *svc,
                           const char *name)
{
    int k, i = saga__locate(st, svc, &k);
    size_t len = strlen(name);

    for (size_t j = 0; i >= 0 && st->env[i] && st->env[i][j]; j++) {
        if (!strncmp(st->env[i][j], name, len) && st->env[i][j][len] == '=')
            return st->env[i][j] + len + 1;
    }
    return NULL;
}

/* ---- events ---- */

int saga_produce_event(const char *topic, const char *type, int version, const char *source,
                       const char *key, cJSON *data, char *ret_id)
{
    struct event_header hdrs[EVENT_MAX_HEADERS];
    const char *flat[2 * EVENT_MAX_HEADERS + 1];
    struct msgctx ctx;
    struct event ev;
    size_t n;
    char *json;
    int rc;

    if (!data)
        return -EIO;
    msgctx_init_request(&ctx, key, NULL);
    if (event_init(&ev, type, version, source, key, &ctx, data) < 0) {
        fprintf(stderr, "saga: cannot make a %s v%d event\n", type, version);
        return -EIO;
    }
    json = event_to_json(&ev);
    n = event_to_headers(&ev, hdrs, EVENT_MAX_HEADERS);
    for (size_t i = 0; i < n; i++) {
        flat[2 * i] = hdrs[i].name;
        flat[2 * i + 1] = hdrs[i].value;
    }
    flat[2 * n] = NULL;
    rc = json && ts_produce(topic, key, json, strlen(json), flat) == 0 ? 0 : -EIO;
    if (rc == 0 && ret_id)
        snprintf(ret_id, 64, "%s", ev.id);
    free(json);
    event_release(&ev);
    return rc;
}
