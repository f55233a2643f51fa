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
 * With --events, after the run it reads the saga's events of its own orders back from the
 * broker (KAFKA_BOOTSTRAP and the login of KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM,
 * KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD: the admin's of the stack's .run/env) — the topics
 * order-events, stock-events and payment-events from the run's start time (offsetsForTimes) —
 * keyed by order id, typed by the ce_type header, timed by the Kafka message timestamp
 * (CreateTime: when the producing service handed the event to librdkafka — at the commit or
 * from its relay; 1 ms resolution) — and reports per order the hops, each the time from the
 * event that causes a step to the event that step produces (both transactions, the publish and
 * the broker included):
 *   placed>reserved      order.placed → stock.reserved            (inventory-service)
 *   placed>pcreated      order.placed → payment.created           (payment-service)
 *   completed>confirmed  later of payment.completed and stock.reserved → order.confirmed
 *                                                                  (order-service)
 *   confirmed>sconfirmed order.confirmed → stock.confirmed         (inventory-service)
 * and the client's own think time: from max(POST answered, payment.created) to the moment the
 * client sent the confirm that succeeded (its retry sleeps; 0 when the server waits for the
 * payment); "srvx" = server CREATED → CONFIRMED minus that think time.
 *
 * --order-url and --payment-url may each be a comma-separated list (every instance of the service,
 * e.g. .run/env's ORDER_URLS): client k (0-based) sends all its requests to the (k mod n)-th URL of
 * each list, so the clients are spread round robin over the instances.
 *
 * usage: bench-saga --order-url URL[,URL…] --payment-url URL[,URL…] --token JWT --sku ID
 *                   [--orders N(500)] [--clients K(16)] [--deadline S(180)] [--poll-ms MS(25)]
 *                   [--events]
 * Prints human lines on stderr and machine lines on stdout:
 *   RESULT orders=N confirmed=C failed=F unfinished=U wall_s=… rate=… cli_p50_ms=… cli_p99_ms=…
 *          srv_p50_ms=… srv_p99_ms=… post_p50_ms=… post_p99_ms=… pay_retries=R
 *          srvx_p50_ms=… srvx_p99_ms=… think_p50_ms=…       (-1 without --events)
 *   HOP name=NAME n=… p50_ms=… p99_ms=…   (--events: one per hop above, "all" for all four,
 *                                            "pcreated>completed" for the client's confirm)
 * Exit 0 when every order reached CONFIRMED, 1 otherwise (or when --events could not read the
 * events), 2 on bad usage.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct opts {
    const char *order_url, *payment_url, *token;
    long sku, orders, clients, deadline_s, poll_ms;
    bool events;
};

/* the saga's events of one order, by type (EV_*) */
enum { EV_PLACED, EV_RESERVED, EV_PCREATED, EV_PCOMPLETED, EV_OCONFIRMED, EV_SCONFIRMED, EV_N };
static const char *const EV_NAMES[EV_N] = {"order.placed",    "stock.reserved",
                                           "payment.created", "payment.completed",
                                           "order.confirmed", "stock.confirmed"};

struct sample {
    double cli_ms, srv_ms, post_ms;
    int outcome; /* 0 unfinished, 1 confirmed, 2 other terminal / error */
    char id[64];
    double post_done_wall_ms, confirm_sent_wall_ms; /* CLOCK_REALTIME, ms */
    double ev_ms[EV_N];                             /* Kafka timestamps, ms; 0 = not seen */
};

/* the longest --events may read (a 2-core box loaded by others reads slowly) */
#define EVENTS_READ_MAX_S 120.0

static struct opts O = {NULL, NULL, NULL, 0, 500, 16, 180, 25, false};

/* the instances' base URLs of --order-url / --payment-url (comma-separated lists) */
#define URLS_MAX 16
struct urls {
    char *v[URLS_MAX];
    int n;
};
static struct urls order_urls, payment_urls;

/* Splits the comma-separated @list into @u (a copy; empty items skipped); false when it has no
 * URL or more than URLS_MAX. */
static bool urls_parse(const char *list, struct urls *u)
{
    char *copy = strdup(list), *save = NULL, *tok;
    if (!copy)
        return false;
    u->n = 0;
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (u->n == URLS_MAX)
            return false; /* copy kept: the items before point into it */
        u->v[u->n++] = tok;
    }
    if (u->n == 0)
        free(copy);
    return u->n > 0;
}
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

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
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

static void one_order(CURL *c, struct curl_slist *hdrs, const char *order_url,
                      const char *payment_url, struct sample *smp)
{
    char url[512], body[512], id[64] = "";
    struct buf b;
    long code, amount = 0;
    double t0 = now_s(), t1;
    cJSON *j;

    /* 1. place (422 until order-service has consumed product.sku.created: retry) */
    snprintf(url, sizeof(url), "%s/api/orders", order_url);
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
    smp->post_done_wall_ms = wall_ms();
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
    snprintf(smp->id, sizeof(smp->id), "%s", id);

    /* 2. pay (404 PAYMENT-404-001 until payment-service has consumed order.placed) */
    snprintf(url, sizeof(url), "%s/api/payments/confirm", payment_url);
    snprintf(body, sizeof(body), "{\"orderId\":\"%s\",\"amount\":%ld,\"paymentKey\":\"bench_%s\"}",
             id, amount, id);
    for (;;) {
        smp->confirm_sent_wall_ms = wall_ms();
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
    snprintf(url, sizeof(url), "%s/api/orders/%s", order_url, id);
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

/* client thread number @arg (0-based): its instance of each service is the (arg mod n)-th URL */
static void *client(void *arg)
{
    char auth[4096];
    struct curl_slist *hdrs = NULL;
    CURL *c = curl_easy_init();
    long i, k = (long)(intptr_t)arg;
    const char *order_url = order_urls.v[k % order_urls.n];
    const char *payment_url = payment_urls.v[k % payment_urls.n];
    if (!c)
        return NULL;
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", O.token);
    hdrs = curl_slist_append(hdrs, auth);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    while ((i = atomic_fetch_add(&next_index, 1)) < O.orders && now_s() < t_deadline)
        one_order(c, hdrs, order_url, payment_url, &S[i]);
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

static const char *env_or_null(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* the consumer for --events: the stack's broker with the login of the environment */
static rd_kafka_t *events_consumer(char *errbuf, size_t errlen)
{
    const char *proto = env_or_null("KAFKA_SECURITY_PROTOCOL");
    bool sasl = proto && strncmp(proto, "SASL_", 5) == 0;
    const char *mech = env_or_null("KAFKA_SASL_MECHANISM");
    const char *kv[] = {
        "bootstrap.servers",  env_or_null("KAFKA_BOOTSTRAP"),
        "group.id",           "bench-saga",
        "enable.auto.commit", "false",
        "security.protocol",  proto,
        "sasl.mechanisms",    sasl ? (mech ? mech : "SCRAM-SHA-512") : NULL,
        "sasl.username",      sasl ? env_or_null("KAFKA_SASL_USERNAME") : NULL,
        "sasl.password",      sasl ? env_or_null("KAFKA_SASL_PASSWORD") : NULL,
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    if (!kv[1]) {
        snprintf(errbuf, errlen, "KAFKA_BOOTSTRAP is not set");
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i += 2)
        if (kv[i + 1] &&
            rd_kafka_conf_set(conf, kv[i], kv[i + 1], errbuf, errlen) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errbuf, errlen);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk); /* conf is owned by rk */
    return rk;
}

static int cmp_sample_id(const void *a, const void *b)
{
    const struct sample *x = *(const struct sample *const *)a,
                        *y = *(const struct sample *const *)b;
    return strcmp(x->id, y->id);
}

/* the sample of order @id in @idx (sorted by id), or NULL */
static struct sample *sample_find(struct sample **idx, size_t n, const char *id, size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strncmp(idx[mid]->id, id, len);
        if (c == 0 && idx[mid]->id[len] != '\0')
            c = 1;
        if (c == 0)
            return idx[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Records @m's timestamp in its order's sample when it is one of the saga's events. */
static void events_record(rd_kafka_message_t *m, struct sample **idx, size_t n)
{
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_timestamp_type_t tstype;
    const void *val = NULL;
    size_t vlen = 0;
    struct sample *smp;
    int64_t ts;

    if (!m->key || m->key_len == 0 || m->key_len >= sizeof(smp->id) ||
        !(smp = sample_find(idx, n, m->key, m->key_len)))
        return;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, "ce_type", &val, &vlen) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        !val)
        return;
    ts = rd_kafka_message_timestamp(m, &tstype);
    if (ts <= 0)
        return;
    for (int t = 0; t < EV_N; t++)
        if (strlen(EV_NAMES[t]) == vlen && memcmp(EV_NAMES[t], val, vlen) == 0 &&
            smp->ev_ms[t] == 0)
            smp->ev_ms[t] = (double)ts;
}

/* Reads the saga's events of the confirmed orders back (see the file comment): from @from_ms
 * (wall clock) on, until every partition is read up to its end as of the start of the read and
 * every confirmed order has its stock.confirmed (or 5 s more have passed without a message),
 * EVENTS_READ_MAX_S at most. 0, or -1 with the error on stderr. */
static int events_read(double from_ms)
{
    static const char *const topics[] = {"order-events", "stock-events", "payment-events"};
    char errbuf[512];
    rd_kafka_t *rk = events_consumer(errbuf, sizeof(errbuf));
    rd_kafka_topic_partition_list_t *parts = NULL;
    const struct rd_kafka_metadata *md = NULL;
    struct sample **idx = NULL;
    size_t n = 0, want = 0, have = 0;
    int64_t *end = NULL, *pos = NULL;
    double start, last;
    int r = -1;

    if (!rk) {
        fprintf(stderr, "bench-saga: events: %s\n", errbuf);
        return -1;
    }
    if (!(idx = calloc((size_t)O.orders, sizeof(*idx))))
        goto out;
    for (long i = 0; i < O.orders; i++)
        if (S[i].outcome == 1 && S[i].id[0]) {
            idx[n++] = &S[i];
            want++;
        }
    qsort(idx, n, sizeof(*idx), cmp_sample_id);
    if (rd_kafka_metadata(rk, 1, NULL, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "bench-saga: events: no metadata from the broker\n");
        goto out;
    }
    parts = rd_kafka_topic_partition_list_new(16);
    for (int t = 0; t < md->topic_cnt; t++)
        for (size_t k = 0; k < sizeof(topics) / sizeof(topics[0]); k++)
            if (strcmp(md->topics[t].topic, topics[k]) == 0)
                for (int p = 0; p < md->topics[t].partition_cnt; p++)
                    rd_kafka_topic_partition_list_add(parts, topics[k],
                                                      md->topics[t].partitions[p].id)
                        ->offset = (int64_t)from_ms;
    if (parts->cnt == 0) {
        fprintf(stderr, "bench-saga: events: the broker has none of the saga's topics\n");
        goto out;
    }
    if (rd_kafka_offsets_for_times(rk, parts, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_assign(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "bench-saga: events: cannot seek to the run's start\n");
        goto out;
    }
    /* where each partition ends now, and where the read stands (-1: nothing to read there) */
    end = calloc((size_t)parts->cnt, sizeof(*end));
    pos = calloc((size_t)parts->cnt, sizeof(*pos));
    if (!end || !pos)
        goto out;
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, parts->elems[i].topic, parts->elems[i].partition,
                                             &lo, &hi, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "bench-saga: events: no watermarks of %s\n", parts->elems[i].topic);
            goto out;
        }
        end[i] = hi;
        pos[i] = parts->elems[i].offset < 0 ? hi : parts->elems[i].offset;
    }
    start = last = now_s();
    while (now_s() - start < EVENTS_READ_MAX_S) {
        rd_kafka_message_t *m;
        bool at_end = true;
        for (int i = 0; i < parts->cnt; i++)
            if (pos[i] < end[i])
                at_end = false;
        if (at_end && (have == want || now_s() - last >= 5.0))
            break;
        if (!(m = rd_kafka_consumer_poll(rk, 200)))
            continue;
        if (!m->err) {
            for (int i = 0; i < parts->cnt; i++)
                if (parts->elems[i].partition == m->partition &&
                    strcmp(parts->elems[i].topic, rd_kafka_topic_name(m->rkt)) == 0)
                    pos[i] = m->offset + 1;
            struct sample *smp = m->key && m->key_len < sizeof(smp->id)
                                     ? sample_find(idx, n, m->key, m->key_len)
                                     : NULL;
            bool had = smp && smp->ev_ms[EV_SCONFIRMED] > 0;
            events_record(m, idx, n);
            if (smp && !had && smp->ev_ms[EV_SCONFIRMED] > 0)
                have++;
            last = now_s();
        }
        rd_kafka_message_destroy(m);
    }
    if (have < want)
        fprintf(stderr, "bench-saga: events: %zu of %zu orders without stock.confirmed\n",
                want - have, want);
    r = 0;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(end);
    free(pos);
    free(idx);
    return r;
}

/* one hop's percentiles as a HOP line; @v is sorted here */
static void hop_print(const char *name, double *v, size_t n)
{
    qsort(v, n, sizeof(double), cmp_double);
    printf("HOP name=%s n=%zu p50_ms=%.0f p99_ms=%.0f\n", name, n, pct(v, n, 50), pct(v, n, 99));
}

/* The HOP lines and the think-time corrected server latency (the file comment). */
static void hops_report(double *ret_srvx50, double *ret_srvx99, double *ret_think50)
{
    enum { H_RES, H_PCR, H_CONF, H_SCONF, H_ALL, H_CLIENT, H_N };
    static const char *const names[H_N] = {"placed>reserved",
                                           "placed>pcreated",
                                           "completed>confirmed",
                                           "confirmed>sconfirmed",
                                           "all",
                                           "pcreated>completed"};
    double *v[H_N], *srvx, *think;
    size_t nv[H_N] = {0}, nsrvx = 0, nthink = 0;
    size_t cap = (size_t)O.orders * 4 + 1;

    for (int h = 0; h < H_N; h++)
        v[h] = calloc(cap, sizeof(double));
    srvx = calloc(cap, sizeof(double));
    think = calloc(cap, sizeof(double));
    if (!srvx || !think)
        goto out;
    for (int h = 0; h < H_N; h++)
        if (!v[h])
            goto out;
    for (long i = 0; i < O.orders; i++) {
        const double *e = S[i].ev_ms;
        double hop[4] = {-1, -1, -1, -1};
        if (S[i].outcome != 1)
            continue;
        if (e[EV_PLACED] > 0 && e[EV_RESERVED] > 0)
            hop[H_RES] = e[EV_RESERVED] - e[EV_PLACED];
        if (e[EV_PLACED] > 0 && e[EV_PCREATED] > 0)
            hop[H_PCR] = e[EV_PCREATED] - e[EV_PLACED];
        if (e[EV_PCOMPLETED] > 0 && e[EV_RESERVED] > 0 && e[EV_OCONFIRMED] > 0)
            hop[H_CONF] = e[EV_OCONFIRMED] -
                          (e[EV_PCOMPLETED] > e[EV_RESERVED] ? e[EV_PCOMPLETED] : e[EV_RESERVED]);
        if (e[EV_OCONFIRMED] > 0 && e[EV_SCONFIRMED] > 0)
            hop[H_SCONF] = e[EV_SCONFIRMED] - e[EV_OCONFIRMED];
        for (int h = 0; h < 4; h++)
            if (hop[h] >= 0) {
                v[h][nv[h]++] = hop[h];
                v[H_ALL][nv[H_ALL]++] = hop[h];
            }
        if (e[EV_PCREATED] > 0 && e[EV_PCOMPLETED] > 0)
            v[H_CLIENT][nv[H_CLIENT]++] = e[EV_PCOMPLETED] - e[EV_PCREATED];
        if (e[EV_PCREATED] > 0 && S[i].srv_ms >= 0) {
            double from =
                S[i].post_done_wall_ms > e[EV_PCREATED] ? S[i].post_done_wall_ms : e[EV_PCREATED];
            double t = S[i].confirm_sent_wall_ms - from;
            if (t < 0)
                t = 0;
            think[nthink++] = t;
            srvx[nsrvx++] = S[i].srv_ms - t;
        }
    }
    for (int h = 0; h < H_N; h++)
        hop_print(names[h], v[h], nv[h]);
    qsort(srvx, nsrvx, sizeof(double), cmp_double);
    qsort(think, nthink, sizeof(double), cmp_double);
    *ret_srvx50 = pct(srvx, nsrvx, 50);
    *ret_srvx99 = pct(srvx, nsrvx, 99);
    *ret_think50 = pct(think, nthink, 50);
out:
    for (int h = 0; h < H_N; h++)
        free(v[h]);
    free(srvx);
    free(think);
}

/* Prints the usage to @fp and exits with @status (0 for --help, 2 for a usage error). */
static void usage(FILE *fp, int status)
{
    fprintf(fp, "usage: bench-saga --order-url URL[,URL...] --payment-url URL[,URL...]\n"
                "                  --token JWT --sku ID\n"
                "                  [--orders N] [--clients K] [--deadline S] [--poll-ms MS]\n"
                "                  [--events]\n");
    exit(status);
}

int main(int argc, char **argv)
{
    pthread_t *th;
    double *cli, *srv, *post, wall, t_start_wall_ms;
    double srvx50 = -1, srvx99 = -1, think50 = -1;
    int events_rc = 0;
    size_t ncli = 0, nsrv = 0, npost = 0;
    long confirmed = 0, failed = 0, unfinished = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            usage(stdout, 0);
        if (strcmp(a, "--events") == 0) {
            O.events = true;
            continue;
        }
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
        O.clients <= 0 || O.deadline_s <= 0 || O.poll_ms <= 0 ||
        !urls_parse(O.order_url, &order_urls) || !urls_parse(O.payment_url, &payment_urls))
        usage(stderr, 2);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    S = calloc((size_t)O.orders, sizeof(*S));
    th = calloc((size_t)O.clients, sizeof(*th));
    if (!S || !th)
        return 1;
    t_start = now_s();
    t_start_wall_ms = wall_ms();
    t_deadline = t_start + (double)O.deadline_s;
    for (long i = 0; i < O.clients; i++)
        if (pthread_create(&th[i], NULL, client, (void *)(intptr_t)i) != 0)
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
    if (O.events) {
        /* a second of margin: Kafka's timestamps are the producer's clock in whole ms */
        events_rc = events_read(t_start_wall_ms - 1000.0);
        if (events_rc == 0)
            hops_report(&srvx50, &srvx99, &think50);
    }
    printf("RESULT orders=%ld confirmed=%ld failed=%ld unfinished=%ld wall_s=%.2f rate=%.1f "
           "cli_p50_ms=%.0f cli_p99_ms=%.0f srv_p50_ms=%.0f srv_p99_ms=%.0f post_p50_ms=%.1f "
           "post_p99_ms=%.1f pay_retries=%ld srvx_p50_ms=%.0f srvx_p99_ms=%.0f "
           "think_p50_ms=%.1f\n",
           O.orders, confirmed, failed, unfinished, wall, (double)confirmed / wall,
           pct(cli, ncli, 50), pct(cli, ncli, 99), pct(srv, nsrv, 50), pct(srv, nsrv, 99),
           pct(post, npost, 50), pct(post, npost, 99), atomic_load(&pay_retries), srvx50, srvx99,
           think50);
    free(cli);
    free(srv);
    free(post);
    free(S);
    free(th);
    curl_global_cleanup();
    return confirmed == O.orders && events_rc == 0 ? 0 : 1;
}
