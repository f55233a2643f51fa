/*
 * e2e_prometheus.c - issue 6, metrics end to end on a `make up` stack: scripts/stack.sh up
 * (through scripts/stack-private.sh, in TEST_STATE_DIR/stacks/ on free loopback ports, so a
 * developer's stack is not touched) starts MariaDB, Redis, Kafka, the six services of this
 * build and Debian's prometheus with deploy/prometheus.yml, scraping every second. A few
 * orders go through the saga (3 confirmed, 1 declined) over the public HTTP APIs, then the
 * Prometheus HTTP API (/api/v1/query) is polled until the counters moved as expected: saga
 * outcomes, payments, POST /api/orders, events consumed and published, the outbox gauges of
 * catalog / order / payment, consumer lag, and every target of deploy/prometheus.yml up.
 * Then the alert rules Prometheus loaded (deploy/prometheus/alerts.yml, evaluated every second
 * too) must fire: a poison message (not JSON) on order-events, produced with the stack's admin
 * Kafka login, is dead-lettered by its consumers, and GET /api/v1/alerts must show
 * CommerceEventsDeadLettered firing for order-events — and not before the message.
 * `make down` (stack.sh down) must then succeed, leave none of the stack's eleven ports
 * listened on, and the services' logs hold no sanitizer report.
 *
 * Prometheus missing fails the test with a pointer to scripts/deps.sh (package "prometheus").
 * A stack this test leaves behind (killed by the harness's timeout) is taken down by
 * scripts/test.sh after the suite.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "saga.h"
#include "testsup.h"

#define PROM_BIN "/usr/bin/prometheus"
#define STEP_MS 60000     /* one saga step (several Kafka hops) under ASan on a busy machine */
#define METRICS_MS 120000 /* scrapes every 1 s; consumer lag comes with statistics every 5 s */
#define ALERT_MS 60000    /* a dead letter, a scrape and a rule evaluation (every 1 s) */
#define DEAD_LETTER_ALERT "CommerceEventsDeadLettered"
#define POISON_TOPIC "order-events"
#define STOCK 10
#define CONFIRMED 3
#define DECLINED 1
/* scripts/stack-private.sh's port offsets from its base (MariaDB +306 … Redis +379) */
static const int port_offsets[] = {81, 83, 84, 85, 87, 89, 90, 92, 93, 306, 379};

struct prom {
    char url[64]; /* "http://127.0.0.1:<port>" */
};

struct fixture {
    char dir[512]; /* the private stack's root (TEST_STATE_DIR/stacks/<name>) */
    int base;      /* its port base */
    char log[600]; /* stack-private.sh's output */
    bool up;
    struct saga_stack st;
    struct prom prom;
    struct saga_user user;
    long long sku;
    long long price;
};

/* ---- the private `make up` stack ---- */

static bool port_free(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((unsigned short)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    bool ok;

    if (fd < 0)
        return false;
    /* a listener makes bind fail; a closed connection's TIME_WAIT does not */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* A port base (a multiple of 100 in 10000..31900, below Linux's ephemeral range) whose eleven
 * ports were free a moment ago, or 0. */
static int pick_port_base(void)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        unsigned int r = 0;
        int base;
        bool ok = true;

        if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
            return 0;
        base = 10000 + (int)(r % 220) * 100;
        for (size_t i = 0; ok && i < sizeof(port_offsets) / sizeof(port_offsets[0]); i++)
            ok = port_free(base + port_offsets[i]);
        if (ok)
            return base;
    }
    return 0;
}

/* `make up` in f->dir: 0 or -EIO (the script's output tail on stderr). */
static int stack_up(struct fixture *f)
{
    char name[64], base_s[16], stacks[400], env_path[600], build[600];
    int base, rc;

    if (access(PROM_BIN, X_OK) != 0) {
        fprintf(stderr,
                "e2e_prometheus: %s: %s — install Debian's package 'prometheus' "
                "(scripts/deps.sh does: apt-get install -y prometheus)\n",
                PROM_BIN, strerror(errno));
        return -EIO;
    }
    f->base = base = pick_port_base();
    if (!base) {
        fprintf(stderr, "e2e_prometheus: no free port range for the stack\n");
        return -EIO;
    }
    snprintf(stacks, sizeof(stacks), "%s/stacks", ts_env("TEST_STATE_DIR"));
    if (mkdir(stacks, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "e2e_prometheus: mkdir '%s': %s\n", stacks, strerror(errno));
        return -EIO;
    }
    ts_unique("prom", name, sizeof(name));
    snprintf(f->dir, sizeof(f->dir), "%s/%s", stacks, name);
    snprintf(f->log, sizeof(f->log), "%s/%s.log", stacks, name);
    snprintf(base_s, sizeof(base_s), "%d", base);
    snprintf(build, sizeof(build), "STACK_BUILD=%s", ts_env("BUILD_DIR"));
    const char *const args[] = {"up", f->dir, base_s, NULL};
    /* this build's binaries (ASan under make test), Prometheus scraping every second */
    const char *const env[] = {build, "STACK_NO_BUILD=1", "PROMETHEUS_SCRAPE_INTERVAL=1s",
                               "READY_DEADLINE_S=120", NULL};

    f->up = true; /* whatever part started is taken down by teardown */
    rc = ts_script("stack-private.sh", args, env, f->log);
    if (rc != 0) {
        fprintf(stderr, "e2e_prometheus: scripts/stack-private.sh up exited %d\n", rc);
        ts_print_log_tail(f->log);
        return -EIO;
    }
    snprintf(env_path, sizeof(env_path), "%s/.run/env", f->dir);
    if (ts_env_file_value(env_path, "PROMETHEUS_URL", f->prom.url, sizeof(f->prom.url)) != 0) {
        fprintf(stderr, "e2e_prometheus: make up started no prometheus (no PROMETHEUS_URL)\n");
        ts_print_log_tail(f->log);
        return -EIO;
    }
    return saga_stack_attach(&f->st, env_path) < 0 ? -EIO : 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Sanitizer reports in the services' logs of the stack: how many logs have one. */
static int sanitizer_reports(const struct fixture *f)
{
    static const char *const svcs[] = {"auth", "user", "catalog", "inventory", "order", "payment"};
    int bad = 0;

    for (size_t i = 0; i < sizeof(svcs) / sizeof(svcs[0]); i++) {
        char path[700], line[1024];
        FILE *fp;
        bool hit = false;

        snprintf(path, sizeof(path), "%s/.run/logs/%s-service.log", f->dir, svcs[i]);
        fp = fopen(path, "r");
        if (!fp)
            continue;
        while (!hit && fgets(line, sizeof(line), fp))
            hit = strstr(line, "ERROR: AddressSanitizer") || strstr(line, "ERROR: LeakSanitizer") ||
                  strstr(line, "runtime error:");
        fclose(fp);
        if (hit) {
            fprintf(stderr, "e2e_prometheus: sanitizer report in %s\n", path);
            ts_print_log_tail(path);
            bad++;
        }
    }
    return bad;
}

/* `make down`; the stack's folder is removed when it went down cleanly. The script's status,
 * else how many problems were found after it (sanitizer reports, ports still listened on). */
static int stack_down(struct fixture *f)
{
    int rc, reports;

    if (!f->up)
        return 0;
    f->up = false;
    const char *const args[] = {"down", f->dir, NULL};
    rc = ts_script("stack-private.sh", args, NULL, f->log);
    if (rc != 0) {
        fprintf(stderr, "e2e_prometheus: scripts/stack-private.sh down exited %d\n", rc);
        ts_print_log_tail(f->log);
        return rc;
    }
    reports = sanitizer_reports(f);
    /* nothing of the stack listens any more */
    for (size_t i = 0; i < sizeof(port_offsets) / sizeof(port_offsets[0]); i++) {
        if (!port_free(f->base + port_offsets[i])) {
            fprintf(stderr, "e2e_prometheus: port %d still in use after make down\n",
                    f->base + port_offsets[i]);
            reports++;
        }
    }
    if (reports == 0) {
        nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        remove(f->log);
    }
    return reports;
}

/*
 * GET /api/v1/query?query=@expr: the sum of the instant vector's sample values into *@ret_sum
 * and their count into *@ret_n (0 when the vector is empty). 0, or -EIO (no answer, not a
 * "success" vector; the reason into @why).
 */
static int prom_query(const struct prom *p, const char *expr, double *ret_sum, int *ret_n,
                      char *why, size_t whylen)
{
    char *q = curl_easy_escape(NULL, expr, 0);
    char *url = NULL;
    struct ts_resp resp = {0};
    cJSON *status, *data, *type, *result, *sample;
    double sum = 0;
    int n = 0, rc = -EIO;

    if (!q || asprintf(&url, "%s/api/v1/query?query=%s", p->url, q) < 0) {
        url = NULL;
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    if (ts_http("GET", url, NULL, NULL, NULL, &resp) < 0) {
        snprintf(why, whylen, "no answer from %s", p->url);
        goto out;
    }
    status = cJSON_GetObjectItemCaseSensitive(resp.json, "status");
    data = cJSON_GetObjectItemCaseSensitive(resp.json, "data");
    type = cJSON_GetObjectItemCaseSensitive(data, "resultType");
    result = cJSON_GetObjectItemCaseSensitive(data, "result");
    if (resp.status != 200 || !cJSON_IsString(status) ||
        strcmp(status->valuestring, "success") != 0 || !cJSON_IsString(type) ||
        strcmp(type->valuestring, "vector") != 0 || !cJSON_IsArray(result)) {
        snprintf(why, whylen, "HTTP %ld: %.300s", resp.status, resp.body ? resp.body : "");
        goto out;
    }
    cJSON_ArrayForEach (sample, result) {
        /* "value": [<unix time>, "<number as a string>"] */
        cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(sample, "value"), 1);

        if (!cJSON_IsString(v)) {
            snprintf(why, whylen, "a sample without a value: %.300s", resp.body);
            goto out;
        }
        sum += strtod(v->valuestring, NULL);
        n++;
    }
    *ret_sum = sum;
    *ret_n = n;
    rc = 0;
out:
    ts_resp_free(&resp);
    free(url);
    curl_free(q);
    return rc;
}

/*
 * GET /api/v1/alerts: the state ("pending", "firing") of the alert @name whose label topic is
 * @topic into @state, "" when there is none. 0, or -EIO (the reason into @why).
 */
static int prom_alert_state(const struct prom *p, const char *name, const char *topic, char *state,
                            size_t statelen, char *why, size_t whylen)
{
    char url[128];
    struct ts_resp resp = {0};
    cJSON *alert;
    int rc = -EIO;

    snprintf(url, sizeof(url), "%s/api/v1/alerts", p->url);
    if (ts_http("GET", url, NULL, NULL, NULL, &resp) < 0) {
        snprintf(why, whylen, "no answer from %s", p->url);
        goto out;
    }
    cJSON *alerts = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(resp.json, "data"), "alerts");
    if (resp.status != 200 || !cJSON_IsArray(alerts)) {
        snprintf(why, whylen, "HTTP %ld: %.300s", resp.status, resp.body ? resp.body : "");
        goto out;
    }
    snprintf(state, statelen, "%s", "");
    cJSON_ArrayForEach (alert, alerts) {
        cJSON *labels = cJSON_GetObjectItemCaseSensitive(alert, "labels");
        cJSON *n = cJSON_GetObjectItemCaseSensitive(labels, "alertname");
        cJSON *t = cJSON_GetObjectItemCaseSensitive(labels, "topic");
        cJSON *st = cJSON_GetObjectItemCaseSensitive(alert, "state");

        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0 && cJSON_IsString(t) &&
            strcmp(t->valuestring, topic) == 0 && cJSON_IsString(st) &&
            strcmp(state, "firing") != 0)
            snprintf(state, statelen, "%s", st->valuestring);
    }
    rc = 0;
out:
    ts_resp_free(&resp);
    return rc;
}

/* Whether GET /api/v1/rules lists the alerting rule @name. */
static bool prom_rule_loaded(const struct prom *p, const char *name)
{
    char url[128], want[128];
    struct ts_resp resp = {0};
    bool found;

    snprintf(url, sizeof(url), "%s/api/v1/rules?type=alert", p->url);
    snprintf(want, sizeof(want), "\"name\":\"%s\"", name);
    found = ts_http("GET", url, NULL, NULL, NULL, &resp) == 0 && resp.status == 200 && resp.body &&
            strstr(resp.body, want);
    ts_resp_free(&resp);
    return found;
}

/* Points this process's Kafka clients (ts_produce) at the stack's broker with its admin login
 * (the stack's .run/env); the harness's broker is not used by this test. 0 or -EIO. */
static int use_stack_kafka(const struct fixture *f)
{
    static const char *const names[] = {"KAFKA_BOOTSTRAP", "KAFKA_SECURITY_PROTOCOL",
                                        "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME",
                                        "KAFKA_SASL_PASSWORD"};
    char env_path[600], value[512];

    snprintf(env_path, sizeof(env_path), "%s/.run/env", f->dir);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int rc = ts_env_file_value(env_path, names[i], value, sizeof(value));

        if (rc == -ENOENT && i > 0) {
            unsetenv(names[i]); /* a broker without SASL */
            continue;
        }
        if (rc < 0 || setenv(names[i], value, 1) != 0) {
            fprintf(stderr, "e2e_prometheus: %s: no %s\n", env_path, names[i]);
            return -EIO;
        }
    }
    return 0;
}

/* ---- setup ---- */

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    long long cat;
    char name[64];

    if (!f)
        return -1;
    if (stack_up(f) < 0)
        goto bad;
    if (saga_user_new(&f->st, "prom", &f->user) < 0)
        goto bad;
    ts_unique("Prom", name, sizeof(name));
    if (saga_category_new(&f->st, name, &cat) < 0)
        goto bad;
    f->price = 5000;
    if (saga_product_new(&f->st, cat, "Prometheus product", f->price, STOCK, &f->sku) < 0 ||
        saga_stock_wait(&f->st, f->sku, STEP_MS) < 0)
        goto bad;
    *state = f;
    return 0;

bad:
    /* cmocka runs no group teardown after a failed setup */
    stack_down(f);
    free(f);
    return -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = stack_down(f);

    free(f);
    /* a clean `make down`; the services exited without a sanitizer report */
    assert_int_equal(rc, 0);
    return 0;
}

/* ---- helpers that assert ---- */

/* Places a one-unit order, pays it with @key (@http is the expected answer: 200 or 402) and
 * waits for @want. */
static void order_and_pay(struct fixture *f, const char *key, long http, const char *want)
{
    struct saga_line line = {f->sku, 1};
    char id[64], status[32], body[1024], pkey[96];
    long placed, paid;
    cJSON *j = NULL;

    placed = saga_order_place(&f->st, &f->user, &line, 1, NULL, NULL, STEP_MS, id, sizeof(id));
    if (placed != 201 && placed != 200)
        fail_msg("POST /api/orders: %ld", placed);
    if (saga_order_wait(&f->st, f->user.token, id, "PAYMENT_PENDING", STEP_MS, status,
                        sizeof(status), NULL) < 0)
        fail_msg("order %s: not PAYMENT_PENDING within %d ms (last %s)", id, STEP_MS, status);
    static int paid_n;

    snprintf(pkey, sizeof(pkey), "%s_prom%d", key, ++paid_n);
    paid = saga_pay(&f->st, f->user.token, id, f->price, pkey, STEP_MS, body, sizeof(body));
    if (paid != http)
        fail_msg("pay %s with '%s': want %ld, got %ld %s", id, pkey, http, paid, body);
    if (saga_order_wait(&f->st, f->user.token, id, want, STEP_MS, status, sizeof(status), &j) < 0)
        fail_msg("order %s: want %s within %d ms, last status %s", id, want, STEP_MS, status);
    cJSON_Delete(j);
}

/* What the API must show once the orders went through: the query's sample values summed are at
 * least @min (an empty result never passes). */
struct expect {
    const char *expr;
    double min;
};

static const struct expect expects[] = {
    {"sum(commerce_saga_outcomes_total{status=\"CONFIRMED\"})", CONFIRMED},
    {"sum(commerce_saga_outcomes_total{status=\"CANCELLED\",reason=\"PAYMENT_FAILED\"})", DECLINED},
    {"sum(commerce_saga_duration_seconds_count)", CONFIRMED + DECLINED},
    {"sum(commerce_payments_total{result=\"approved\"})", CONFIRMED},
    {"sum(commerce_payments_total{result=\"declined\"})", DECLINED},
    {"sum(commerce_http_requests_total{service=\"order\",route=\"/api/orders\",method=\"POST\"})",
     CONFIRMED + DECLINED},
    {"sum(commerce_http_request_duration_seconds_count{service=\"payment\"})",
     CONFIRMED + DECLINED},
    {"sum(commerce_events_consumed_total{result=\"ok\"})", 1},
    {"sum(commerce_event_handler_duration_seconds_count)", 1},
    {"sum(commerce_outbox_published_total)", 1},
    {"count(commerce_outbox_backlog{service=\"catalog\"})", 1},
    {"count(commerce_outbox_backlog{service=\"order\"})", 1},
    {"count(commerce_outbox_backlog{service=\"payment\"})", 1},
    {"count(commerce_outbox_oldest_age_seconds)", 3},
    {"count(commerce_consumer_lag)", 1},
    {"count(up{job=\"commerce\"} == 1)", 6},
};

#define NEXPECTS (sizeof(expects) / sizeof(expects[0]))

struct poll_state {
    const struct prom *prom;
    bool met[NEXPECTS];
    double last[NEXPECTS];
    int last_n[NEXPECTS];
    char why[NEXPECTS][400];
};

static bool all_met(void *arg)
{
    struct poll_state *ps = arg;
    bool all = true;

    for (size_t i = 0; i < NEXPECTS; i++) {
        double sum = 0;
        int n = 0;

        if (ps->met[i])
            continue; /* counters only grow: once seen, it holds */
        if (prom_query(ps->prom, expects[i].expr, &sum, &n, ps->why[i], sizeof(ps->why[i])) == 0) {
            ps->last[i] = sum;
            ps->last_n[i] = n;
            ps->why[i][0] = '\0';
            ps->met[i] = n > 0 && sum >= expects[i].min;
        }
        all = all && ps->met[i];
    }
    return all;
}

/* ---- tests ---- */

static void test_counters_move_through_prometheus(void **state)
{
    struct fixture *f = *state;
    struct poll_state *ps;
    bool ok;

    for (int i = 0; i < CONFIRMED; i++)
        order_and_pay(f, "card_ok", 200, "CONFIRMED");
    for (int i = 0; i < DECLINED; i++)
        order_and_pay(f, "fail_CARD", 402, "CANCELLED");

    ps = calloc(1, sizeof(*ps)); /* after the steps that may fail (fail_msg jumps out) */
    assert_non_null(ps);
    ps->prom = &f->prom;
    ok = ts_poll_until(all_met, ps, METRICS_MS);
    for (size_t i = 0; i < NEXPECTS; i++) {
        if (ps->met[i])
            continue;
        if (ps->why[i][0])
            fprintf(stderr, "e2e_prometheus: %s: %s\n", expects[i].expr, ps->why[i]);
        else
            fprintf(stderr, "e2e_prometheus: %s = %g over %d series, want >= %g\n", expects[i].expr,
                    ps->last[i], ps->last_n[i], expects[i].min);
    }
    free(ps);
    if (!ok)
        fail_msg("the metrics did not move as expected within %d ms (see above)", METRICS_MS);
}

/* The new error counters are series Prometheus can query (no series is fine: no errors). */
static void test_error_queries_are_valid(void **state)
{
    struct fixture *f = *state;
    static const char *const exprs[] = {
        "sum by (service, kind) (rate(commerce_db_errors_total[1m]))",
        "sum by (service, kind) (rate(commerce_redis_errors_total[1m]))",
        "max by (group, topic) (commerce_consumer_lag)",
    };

    for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
        char why[400];
        double sum;
        int n;

        if (prom_query(&f->prom, exprs[i], &sum, &n, why, sizeof(why)) < 0)
            fail_msg("%s: %s", exprs[i], why);
    }
}

struct alert_poll {
    const struct prom *prom;
    char state[32];
    char why[400];
};

static bool dead_letter_alert_firing(void *arg)
{
    struct alert_poll *ap = arg;

    if (prom_alert_state(ap->prom, DEAD_LETTER_ALERT, POISON_TOPIC, ap->state, sizeof(ap->state),
                         ap->why, sizeof(ap->why)) < 0)
        return false;
    ap->why[0] = '\0';
    return strcmp(ap->state, "firing") == 0;
}

/* deploy/prometheus/alerts.yml, loaded by the stack's Prometheus: a poison message on
 * order-events is dead-lettered by its consumers and CommerceEventsDeadLettered fires. */
static void test_dead_letter_alert_fires(void **state)
{
    static const char poison[] = "{this is not an event";
    struct fixture *f = *state;
    struct alert_poll ap = {.prom = &f->prom};

    /* the rules are loaded, and nothing was dead-lettered on order-events so far */
    if (!prom_rule_loaded(&f->prom, DEAD_LETTER_ALERT))
        fail_msg("the stack's Prometheus has no alert rule " DEAD_LETTER_ALERT
                 " (GET /api/v1/rules; deploy/prometheus.yml rule_files)");
    if (prom_alert_state(&f->prom, DEAD_LETTER_ALERT, POISON_TOPIC, ap.state, sizeof(ap.state),
                         ap.why, sizeof(ap.why)) < 0)
        fail_msg("GET /api/v1/alerts: %s", ap.why);
    if (ap.state[0])
        fail_msg("%s is %s for %s before any poison message", DEAD_LETTER_ALERT, ap.state,
                 POISON_TOPIC);

    assert_int_equal(use_stack_kafka(f), 0);
    assert_int_equal(ts_produce(POISON_TOPIC, "poison", poison, sizeof(poison) - 1, NULL), 0);
    if (!ts_poll_until(dead_letter_alert_firing, &ap, ALERT_MS))
        fail_msg("%s{topic=\"%s\"} not firing within %d ms after a poison message (state '%s'%s%s)",
                 DEAD_LETTER_ALERT, POISON_TOPIC, ALERT_MS, ap.state, ap.why[0] ? ": " : "",
                 ap.why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_move_through_prometheus),
        cmocka_unit_test(test_error_queries_are_valid),
        cmocka_unit_test(test_dead_letter_alert_fires),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
