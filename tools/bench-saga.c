/*
 * bench-saga - end-to-end saga load driver for scripts/bench.sh (`make bench`).
 *
 * K client threads place and pay N orders in total through the public HTTP APIs, one order in
 * flight per client: POST /api/orders (1 unit of one SKU), POST /api/payments/confirm
 * (retried on 404 PAYMENT-404-001 until payment-service has the READY payment), then
 * GET /api/orders/{id} every POLL_MS until the status is terminal. Measured per order:
 *   client   POST start → the poll that first sees CONFIRMED (includes the client's own
 *            payment call and up to POLL_MS of polling granularity)
 *   server   the order's history: createdAt of CREATED → createdAt of CONFIRMED (one clock,
 *            MariaDB's NOW(6)); includes the client's payment call, not the polling
 * Bounded: stops issuing new orders and gives up on open ones at --deadline seconds.
 *
 * usage: bench-saga --order-url URL --payment-url URL --token JWT --sku ID
 *                   [--orders N(500)] [--clients K(16)] [--deadline S(180)] [--poll-ms MS(25)]
 * Prints human lines on stderr and one machine line on stdout:
 *   RESULT orders=N confirmed=C failed=F unfinished=U wall_s=… rate=… cli_p50_ms=… cli_p99_ms=…
 *          srv_p50_ms=… srv_p99_ms=… post_p50_ms=… post_p99_ms=… pay_retries=R
 * Exit 0 when every order reached CONFIRMED, 1 otherwise, 2 on bad usage.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct opts {
    const char *order_url, *payment_url, *token;
    long sku, orders, clients, deadline_s, poll_ms;
};

struct sample {
    double cli_ms, srv_ms, post_ms;
    int outcome; /* 0 unfinished, 1 confirmed, 2 other terminal / error */
};

static struct opts O = {NULL, NULL, NULL, 0, 500, 16, 180, 25};
static struct sample *S;
static atomic_long next_index;
static atomic_long pay_retries;
static double t_start, t_deadline;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct buf {
    char *p;
    size_t n;
};

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t add = size * nmemb;
    char *p = realloc(b->p, b->n + add + 1);
    if (!p)
        return 0;
    memcpy(p + b->n, data, add);
    b->p = p;
    b->n += add;
    b->p[b->n] = '\0';
    return add;
}

/* One request on @c; returns the HTTP status (0 on transport error), the body in @out
 * (caller frees out->p). */
static long request(CURL *c, const char *method, const char *url, const char *body,
                    struct curl_slist *hdrs, struct buf *out)
{
    long code = 0;
    out->p = NULL;
    out->n = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) != CURLE_OK)
        return 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

/* "2026-11-24T21:40:01.123456Z" → seconds since midnight-ish epoch (only differences matter) */
static double parse_ts(const char *s)
{
    struct tm tm;
    double frac = 0;
    const char *p;
    memset(&tm, 0, sizeof(tm));
    p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    if (*p == '.')
        frac = strtod(p, NULL);
    return (double)timegm(&tm) + frac;
}

/* history CREATED → CONFIRMED in ms, or -1 */
static double history_ms(const cJSON *order)
{
    const cJSON *h, *e;
    double created = -1, confirmed = -1;
    h = cJSON_GetObjectItemCaseSensitive(order, "history");
    cJSON_ArrayForEach (e, h) {
        const cJSON *to = cJSON_GetObjectItemCaseSensitive(e, "toStatus");
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(e, "createdAt");
        if (!cJSON_IsString(to) || !cJSON_IsString(at))
            continue;
        if (strcmp(to->valuestring, "CREATED") == 0 && created < 0)
            created = parse_ts(at->valuestring);
        else if (strcmp(to->valuestring, "CONFIRMED") == 0)
            confirmed = parse_ts(at->valuestring);
    }
    return created >= 0 && confirmed >= 0 ? (confirmed - created) * 1000.0 : -1;
}

static bool terminal(const char *st)
{
    static const char *const t[] = {"CONFIRMED", "CANCELLED", "FAILED", "REFUNDED",
                                    "PARTIALLY_REFUNDED"};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(st, t[i]) == 0)
            return true;
    return false;
}

static void one_order(CURL *c, struct curl_slist *hdrs, struct sample *smp)
{
    char url[512], body[512], id[64] = "";
    struct buf b;
    long code, amount = 0;
    double t0 = now_s(), t1;
    cJSON *j;

    /* 1. place (422 until order-service has consumed product.sku.created: retry) */
    snprintf(url, sizeof(url), "%s/api/orders", O.order_url);
    snprintf(body, sizeof(body), "{\"items\":[{\"skuId\":%ld,\"quantity\":1}]}", O.sku);
    for (;;) {
        code = request(c, "POST", url, body, hdrs, &b);
        if (code == 201 || code == 200)
            break;
        free(b.p);
        if (code != 422 || now_s() > t_deadline) {
            fprintf(stderr, "bench-saga: POST /api/orders: HTTP %ld\n", code);
            smp->outcome = 2;
            return;
        }
        sleep_ms(100);
    }
    t1 = now_s();
    smp->post_ms = (t1 - t0) * 1000.0;
    j = cJSON_Parse(b.p ? b.p : "");
    free(b.p);
    if (j) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "id");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "payableAmount");
        if (cJSON_IsString(v))
            snprintf(id, sizeof(id), "%s", v->valuestring);
        if (cJSON_IsNumber(a))
            amount = (long)a->valuedouble;
        cJSON_Delete(j);
    }
    if (!id[0]) {
        smp->outcome = 2;
        return;
    }

    /* 2. pay (404 PAYMENT-404-001 until payment-service has consumed order.placed) */
    snprintf(url, sizeof(url), "%s/api/payments/confirm", O.payment_url);
    snprintf(body, sizeof(body), "{\"orderId\":\"%s\",\"amount\":%ld,\"paymentKey\":\"bench_%s\"}",
             id, amount, id);
    for (;;) {
        code = request(c, "POST", url, body, hdrs, &b);
        bool retry = code == 404 && b.p && strstr(b.p, "PAYMENT-404-001");
        free(b.p);
        if (!retry)
            break;
        atomic_fetch_add(&pay_retries, 1);
        if (now_s() > t_deadline)
            return; /* unfinished */
        sleep_ms(O.poll_ms);
    }
    if (code != 200) {
        fprintf(stderr, "bench-saga: pay %s: HTTP %ld\n", id, code);
        smp->outcome = 2;
        return;
    }

    /* 3. poll until terminal */
    snprintf(url, sizeof(url), "%s/api/orders/%s", O.order_url, id);
    for (;;) {
        code = request(c, "GET", url, NULL, hdrs, &b);
        if (code == 200 && (j = cJSON_Parse(b.p ? b.p : "")) != NULL) {
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
            if (cJSON_IsString(st) && terminal(st->valuestring)) {
                if (strcmp(st->valuestring, "CONFIRMED") == 0) {
                    smp->cli_ms = (now_s() - t0) * 1000.0;
                    smp->srv_ms = history_ms(j);
                    smp->outcome = 1;
                } else {
                    fprintf(stderr, "bench-saga: order %s ended %s\n", id, st->valuestring);
                    smp->outcome = 2;
                }
                cJSON_Delete(j);
                free(b.p);
                return;
            }
            cJSON_Delete(j);
        }
        free(b.p);
        if (now_s() > t_deadline)
            return;
        sleep_ms(O.poll_ms);
    }
}

static void *client(void *arg)
{
    char auth[4096];
    struct curl_slist *hdrs = NULL;
    CURL *c = curl_easy_init();
    long i;
    (void)arg;
    if (!c)
        return NULL;
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", O.token);
    hdrs = curl_slist_append(hdrs, auth);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    while ((i = atomic_fetch_add(&next_index, 1)) < O.orders && now_s() < t_deadline)
        one_order(c, hdrs, &S[i]);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* nearest-rank percentile of @n sorted values */
static double pct(const double *v, size_t n, double p)
{
    size_t k;
    if (n == 0)
        return -1;
    k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    return v[k > n ? n - 1 : k - 1];
}

/* Prints the usage to @fp and exits with @status (0 for --help, 2 for a usage error). */
static void usage(FILE *fp, int status)
{
    fprintf(fp, "usage: bench-saga --order-url URL --payment-url URL --token JWT --sku ID\n"
                "                  [--orders N] [--clients K] [--deadline S] [--poll-ms MS]\n");
    exit(status);
}

int main(int argc, char **argv)
{
    pthread_t *th;
    double *cli, *srv, *post, wall;
    size_t ncli = 0, nsrv = 0, npost = 0;
    long confirmed = 0, failed = 0, unfinished = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            usage(stdout, 0);
        if (!v)
            usage(stderr, 2);
        if (strcmp(a, "--order-url") == 0)
            O.order_url = v;
        else if (strcmp(a, "--payment-url") == 0)
            O.payment_url = v;
        else if (strcmp(a, "--token") == 0)
            O.token = v;
        else if (strcmp(a, "--sku") == 0)
            O.sku = atol(v);
        else if (strcmp(a, "--orders") == 0)
            O.orders = atol(v);
        else if (strcmp(a, "--clients") == 0)
            O.clients = atol(v);
        else if (strcmp(a, "--deadline") == 0)
            O.deadline_s = atol(v);
        else if (strcmp(a, "--poll-ms") == 0)
            O.poll_ms = atol(v);
        else
            usage(stderr, 2);
        i++;
    }
    if (!O.order_url || !O.payment_url || !O.token || O.sku <= 0 || O.orders <= 0 ||
        O.clients <= 0 || O.deadline_s <= 0 || O.poll_ms <= 0)
        usage(stderr, 2);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    S = calloc((size_t)O.orders, sizeof(*S));
    th = calloc((size_t)O.clients, sizeof(*th));
    if (!S || !th)
        return 1;
    t_start = now_s();
    t_deadline = t_start + (double)O.deadline_s;
    for (long i = 0; i < O.clients; i++)
        if (pthread_create(&th[i], NULL, client, NULL) != 0)
            return 1;
    for (long i = 0; i < O.clients; i++)
        pthread_join(th[i], NULL);
    wall = now_s() - t_start;

    cli = calloc((size_t)O.orders, sizeof(double));
    srv = calloc((size_t)O.orders, sizeof(double));
    post = calloc((size_t)O.orders, sizeof(double));
    if (!cli || !srv || !post)
        return 1;
    for (long i = 0; i < O.orders; i++) {
        if (S[i].post_ms > 0)
            post[npost++] = S[i].post_ms;
        if (S[i].outcome == 1) {
            confirmed++;
            cli[ncli++] = S[i].cli_ms;
            if (S[i].srv_ms >= 0)
                srv[nsrv++] = S[i].srv_ms;
        } else if (S[i].outcome == 2) {
            failed++;
        } else {
            unfinished++;
        }
    }
    qsort(cli, ncli, sizeof(double), cmp_double);
    qsort(srv, nsrv, sizeof(double), cmp_double);
    qsort(post, npost, sizeof(double), cmp_double);
    fprintf(stderr,
            "bench-saga: %ld orders, %ld clients: %ld CONFIRMED, %ld failed, %ld unfinished in "
            "%.2f s (%.1f orders/s)\n",
            O.orders, O.clients, confirmed, failed, unfinished, wall, (double)confirmed / wall);
    printf("RESULT orders=%ld confirmed=%ld failed=%ld unfinished=%ld wall_s=%.2f rate=%.1f "
           "cli_p50_ms=%.0f cli_p99_ms=%.0f srv_p50_ms=%.0f srv_p99_ms=%.0f post_p50_ms=%.1f "
           "post_p99_ms=%.1f pay_retries=%ld\n",
           O.orders, confirmed, failed, unfinished, wall, (double)confirmed / wall,
           pct(cli, ncli, 50), pct(cli, ncli, 99), pct(srv, nsrv, 50), pct(srv, nsrv, 99),
           pct(post, npost, 50), pct(post, npost, 99), atomic_load(&pay_retries));
    free(cli);
    free(srv);
    free(post);
    free(S);
    free(th);
    curl_global_cleanup();
    return confirmed == O.orders ? 0 : 1;
}
