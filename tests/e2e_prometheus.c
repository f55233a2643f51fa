/*
 * e2e_prometheus.c - issue 6, metrics end to end: the six services on real MariaDB, Redis and
 * Kafka (tests/support/saga.h), scraped every second by Debian's prometheus (/usr/bin/prometheus,
 * a child of this test listening on loopback only, its configuration and TSDB in
 * TEST_STATE_DIR). A few orders go through the saga (3 confirmed, 1 declined), then the
 * Prometheus HTTP API (/api/v1/query) is polled until the counters moved as expected: saga
 * outcomes, payments, POST /api/orders, events consumed and published, the outbox gauges of
 * catalog / order / payment, consumer lag, and every target up.
 *
 * Prometheus missing fails the test with a pointer to scripts/deps.sh (package "prometheus").
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "saga.h"
#include "testsup.h"

#define PROM_BIN "/usr/bin/prometheus"
#define PROM_READY_MS 120000 /* first start of the TSDB on a busy machine */
#define PROM_STOP_MS 30000
#define STEP_MS 60000     /* one saga step (several Kafka hops) under ASan on a busy machine */
#define METRICS_MS 120000 /* scrapes every 1 s; consumer lag comes with statistics every 5 s */
#define STOCK 10
#define CONFIRMED 3
#define DECLINED 1

struct prom {
    pid_t pid;
    unsigned short port;
    char url[64];  /* "http://127.0.0.1:<port>" */
    char dir[512]; /* configuration, TSDB and log: removed by prom_stop() */
    char log_path[600];
};

struct fixture {
    struct saga_stack st;
    struct prom prom;
    struct saga_user user;
    long long sku;
    long long price;
};

/* ---- prometheus as a child process ---- */

/* A port that was free a moment ago on 127.0.0.1, or 0. */
static unsigned short free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    unsigned short port = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* Writes the scrape configuration of the six services into @path. 0 or -EIO. */
static int prom_write_config(const struct saga_stack *st, const char *path)
{
    const struct {
        const char *name;
        const struct ts_service *svc;
    } targets[] = {
        {"auth", &st->auth},           {"user", &st->user},   {"catalog", &st->catalog},
        {"inventory", &st->inventory}, {"order", &st->order}, {"payment", &st->payment},
    };
    FILE *fp = fopen(path, "w");
    int rc = 0;

    if (!fp) {
        fprintf(stderr, "e2e_prometheus: cannot write '%s': %s\n", path, strerror(errno));
        return -EIO;
    }
    fprintf(fp, "# written by tests/e2e_prometheus.c: the six services of one test run\n"
                "global:\n"
                "  scrape_interval: 1s\n"
                "  scrape_timeout: 1s\n"
                "  evaluation_interval: 1s\n"
                "scrape_configs:\n"
                "  - job_name: commerce\n"
                "    metrics_path: /metrics\n"
                "    static_configs:\n");
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
        fprintf(fp, "      - targets: [\"127.0.0.1:%u\"]\n        labels: {service: %s}\n",
                targets[i].svc->port, targets[i].name);
    if (ferror(fp))
        rc = -EIO;
    if (fclose(fp) != 0)
        rc = -EIO;
    return rc;
}

static int prom_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Prints the last lines of prometheus's log (its reason when it would not start). */
static void prom_log_tail(const struct prom *p)
{
    char buf[4096];
    int fd = open(p->log_path, O_RDONLY | O_CLOEXEC);
    off_t end;
    ssize_t n;

    if (fd < 0)
        return;
    end = lseek(fd, 0, SEEK_END);
    lseek(fd, end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0, SEEK_SET);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n > 0) {
        buf[n] = '\0';
        fprintf(stderr, "--- tail of %s ---\n%s\n---\n", p->log_path, buf);
    }
}

/* Waits up to @timeout_ms for @pid to exit; its wait status into *@ret_status. 0 or -1. */
static int wait_exit(pid_t pid, int timeout_ms, int *ret_status)
{
    struct timespec step = {0, 50 * 1000000L};

    for (int waited = 0;; waited += 50) {
        pid_t r = waitpid(pid, ret_status, WNOHANG);

        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        if (waited >= timeout_ms)
            return -1;
        nanosleep(&step, NULL);
    }
}

struct prom_ready {
    struct prom *p;
    bool exited;
};

static bool prom_is_ready(void *arg)
{
    struct prom_ready *r = arg;
    char url[128];
    struct ts_resp resp = {0};
    int status;
    bool ok;

    if (waitpid(r->p->pid, &status, WNOHANG) == r->p->pid) {
        r->p->pid = 0;
        r->exited = true;
        return true;
    }
    snprintf(url, sizeof(url), "%s/-/ready", r->p->url);
    ok = ts_http("GET", url, NULL, NULL, NULL, &resp) == 0 && resp.status == 200;
    ts_resp_free(&resp);
    return ok;
}

/* Stops prometheus (SIGTERM, then SIGKILL after PROM_STOP_MS) and removes its folder. Returns
 * its exit status, 0 when it was not running. */
static int prom_stop(struct prom *p)
{
    int status = 0, rc = 0;

    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        if (wait_exit(p->pid, PROM_STOP_MS, &status) < 0) {
            fprintf(stderr, "e2e_prometheus: prometheus did not stop within %d ms: killed\n",
                    PROM_STOP_MS);
            kill(p->pid, SIGKILL);
            wait_exit(p->pid, 5000, &status);
            rc = 128 + SIGKILL;
        } else {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        p->pid = 0;
    }
    if (p->dir[0]) {
        nftw(p->dir, prom_rm, 16, FTW_DEPTH | FTW_PHYS);
        p->dir[0] = '\0';
    }
    return rc;
}

/* Starts prometheus scraping @st on a free loopback port; waits for /-/ready. 0 or -EIO. */
static int prom_start(struct prom *p, const struct saga_stack *st)
{
    char name[64], config[600], tsdb[600], a_config[700], a_tsdb[700], a_listen[64];
    int logfd;
    pid_t pid, parent = getpid();
    struct prom_ready ready = {.p = p};

    memset(p, 0, sizeof(*p));
    if (access(PROM_BIN, X_OK) != 0) {
        fprintf(stderr,
                "e2e_prometheus: %s: %s — install Debian's package 'prometheus' "
                "(scripts/deps.sh does: apt-get install -y prometheus)\n",
                PROM_BIN, strerror(errno));
        return -EIO;
    }
    ts_unique("prom", name, sizeof(name));
    snprintf(p->dir, sizeof(p->dir), "%s/%s", ts_env("TEST_STATE_DIR"), name);
    if (mkdir(p->dir, 0755) != 0) {
        fprintf(stderr, "e2e_prometheus: mkdir '%s': %s\n", p->dir, strerror(errno));
        p->dir[0] = '\0';
        return -EIO;
    }
    snprintf(config, sizeof(config), "%s/prometheus.yml", p->dir);
    snprintf(tsdb, sizeof(tsdb), "%s/tsdb", p->dir);
    snprintf(p->log_path, sizeof(p->log_path), "%s/prometheus.log", p->dir);
    if (prom_write_config(st, config) < 0)
        return -EIO;
    p->port = free_port();
    if (!p->port) {
        fprintf(stderr, "e2e_prometheus: no free port: %s\n", strerror(errno));
        return -EIO;
    }
    snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%u", p->port);
    snprintf(a_config, sizeof(a_config), "--config.file=%s", config);
    snprintf(a_tsdb, sizeof(a_tsdb), "--storage.tsdb.path=%s", tsdb);
    snprintf(a_listen, sizeof(a_listen), "--web.listen-address=127.0.0.1:%u", p->port);
    char *const argv[] = {
        PROM_BIN,           a_config, a_tsdb, a_listen, "--storage.tsdb.retention.time=1h",
        "--log.level=warn", NULL};

    logfd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        fprintf(stderr, "e2e_prometheus: log '%s': %s\n", p->log_path, strerror(errno));
        return -EIO;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "e2e_prometheus: fork: %s\n", strerror(errno));
        close(logfd);
        return -EIO;
    }
    if (pid == 0) {
        /* only async-signal-safe calls until execv(); prometheus dies with the test */
        sigset_t none;
        int devnull;

        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(126);
        devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        if (chdir(p->dir) != 0)
            _exit(125);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execv(PROM_BIN, argv);
        _exit(127);
    }
    close(logfd);
    p->pid = pid;

    if (!ts_poll_until(prom_is_ready, &ready, PROM_READY_MS) || ready.exited) {
        fprintf(stderr, "e2e_prometheus: prometheus %s at %s/-/ready within %d ms\n",
                ready.exited ? "exited before it was ready" : "not ready", p->url, PROM_READY_MS);
        prom_log_tail(p);
        return -EIO;
    }
    return 0;
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

/* ---- setup ---- */

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct saga_opts opts = {
        .prefix = "e2e_prom", .payment_deadline_s = 120, .gateway_timeout_ms = 300};
    long long cat;
    char name[64];

    if (!f)
        return -1;
    if (saga_stack_start(&f->st, &opts) < 0) {
        free(f);
        return -1;
    }
    if (prom_start(&f->prom, &f->st) < 0)
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
    prom_stop(&f->prom);
    saga_stack_stop(&f->st);
    free(f);
    return -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int prom = prom_stop(&f->prom);

    /* clean stops exit 0 (and, under ASan, without leaks) */
    assert_int_equal(saga_stack_stop(&f->st), 0);
    free(f);
    if (prom != 0)
        fprintf(stderr, "e2e_prometheus: prometheus exited with %d\n", prom);
    assert_int_equal(prom, 0);
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

    placed = saga_order_place(&f->st, &f->user, &line, 1, 0, NULL, STEP_MS, id, sizeof(id));
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_move_through_prometheus),
        cmocka_unit_test(test_error_queries_are_valid),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
