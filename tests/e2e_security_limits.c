/*
 * e2e_security_limits.c - issue 12, "poison input never blocks a partition" and "HTTP limits",
 * through the public surfaces of the six running services (tests/support/saga.h):
 *
 *   - a ~1 MB stock.* message (close to the broker's message.max.bytes, 1048588) on every
 *     partition of stock-events: order-service cannot use it, its dead-letter copy would be over
 *     the limit, so it lands on stock-events.dlq cut (dlq_truncated, dlq_original_size,
 *     dlq_original_sha256) and an order placed afterwards still reaches CONFIRMED;
 *   - 1,100 idle connections from 127.0.0.2 to one service: a normal client on 127.0.0.1 gets
 *     its GET /health/live answers within a bounded time, and the flood keeps at most
 *     HTTP_MAX_CONNECTIONS_PER_IP (64) of its connections;
 *   - a client that trickles its header byte by byte is cut off at HTTP_HEADER_TIMEOUT_MS
 *     (10 s by default) although each byte resets the idle timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <librdkafka/rdkafka.h>

#include "common/event.h"
#include "common/msgctx.h"
#include "common/util.h"
#include "saga.h"
#include "testsup.h"

#define STEP_MS 60000
#define POISON_BYTES 1040000 /* value + key + headers: under the broker's 1048588 */
#define FLOOD 1100
#define PER_IP 64               /* HTTP_MAX_CONNECTIONS_PER_IP's default */
#define HEADER_TIMEOUT_MS 10000 /* HTTP_HEADER_TIMEOUT_MS's default */

struct fixture {
    struct saga_stack st;
    struct saga_user user;
    long long sku;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct saga_opts opts = {
        .prefix = "e2e_seclim", .payment_deadline_s = 120, .gateway_timeout_ms = 300};
    long long cat;

    if (!f)
        return -1;
    if (saga_stack_start_with_user(&f->st, &opts, "seclim", &f->user, &cat) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    if (saga_product_new(&f->st, cat, "Limits product", 5000, 10, &f->sku) < 0 ||
        saga_stock_wait(&f->st, f->sku, STEP_MS) < 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(saga_stack_stop(&f->st), 0);
    free(f);
    return 0;
}

/* ---- poison ---- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    int *failed = opaque;

    (void)rk;
    if (m->err)
        (*failed)++;
}

/*
 * Produces a stock.reserved event for an unknown order, padded to POISON_BYTES, to each of the
 * @topic's partitions (so whichever partition the next order's key hashes to, the poison is
 * ahead of it). Its producer allows records up to the broker's limit. The number of partitions
 * into *@ret_n, the size of each value into *@ret_len.
 */
static void produce_poison(const char *topic, int *ret_n, size_t *ret_len)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt;
    rd_kafka_t *rk;
    char err[256];
    int failed = 0, parts, i;

    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", ts_env("KAFKA_BOOTSTRAP"), err, sizeof(err)),
        RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "message.max.bytes", "1048576", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    ts_kafka_conf_auth(conf); /* the harness's admin: the poison comes from outside the services */
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, &failed);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(rk);
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    assert_int_equal(rd_kafka_metadata(rk, 0, rkt, &md, 10000), 0);
    assert_int_equal(md->topic_cnt, 1);
    parts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    assert_true(parts > 0);

    for (i = 0; i < parts; i++) {
        struct event_header hdrs[EVENT_MAX_HEADERS];
        rd_kafka_headers_t *kh = rd_kafka_headers_new(EVENT_MAX_HEADERS);
        cJSON *data = cJSON_CreateObject();
        char key[64], order[UTIL_UUID_LEN], *json, *pad;
        struct msgctx ctx;
        struct event ev;
        size_t n, fixed;

        util_uuid(order);
        snprintf(key, sizeof(key), "%s", order);
        cJSON_AddStringToObject(data, "orderId", order);
        cJSON_AddStringToObject(data, "pad", "");
        msgctx_init_request(&ctx, key, NULL);
        assert_int_equal(
            event_init(&ev, "stock.reserved", 1, "/e2e-security-limits", key, &ctx, data), 0);
        json = event_to_json(&ev);
        n = event_to_headers(&ev, hdrs, EVENT_MAX_HEADERS);
        fixed = strlen(key) + strlen(json);
        for (size_t h = 0; h < n; h++)
            fixed += strlen(hdrs[h].name) + strlen(hdrs[h].value);
        free(json);
        pad = malloc(POISON_BYTES - fixed + 1);
        assert_non_null(pad);
        memset(pad, 'p', POISON_BYTES - fixed);
        pad[POISON_BYTES - fixed] = '\0';
        cJSON_ReplaceItemInObject(ev.data, "pad", cJSON_CreateString(pad));
        free(pad);
        json = event_to_json(&ev);
        assert_non_null(json);
        *ret_len = strlen(json);
        for (size_t h = 0; h < n; h++)
            rd_kafka_header_add(kh, hdrs[h].name, -1, hdrs[h].value, -1);
        assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(i),
                                           RD_KAFKA_V_KEY(key, strlen(key)),
                                           RD_KAFKA_V_VALUE(json, strlen(json)),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_HEADERS(kh), RD_KAFKA_V_END),
                         0);
        free(json);
        event_release(&ev);
    }
    assert_int_equal(rd_kafka_flush(rk, 30000), 0);
    assert_int_equal(failed, 0);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    *ret_n = parts;
}

static void test_poison_is_dead_lettered_and_orders_go_on(void **state)
{
    struct fixture *f = *state;
    struct saga_line line = {f->sku, 1};
    struct ts_consumer *c;
    struct ts_record *recs = NULL;
    char dlq[96], id[64], status[32], size[24];
    size_t got, len = 0, i;
    int parts = 0, cut = 0;

    snprintf(dlq, sizeof(dlq), "%s.dlq", f->st.topic_stock);
    produce_poison(f->st.topic_stock, &parts, &len);

    /* placed after the poison: its stock.reserved comes behind one on its partition */
    {
        long st = saga_order_place(&f->st, &f->user, &line, 1, 0, NULL, STEP_MS, id, sizeof(id));

        if (st != 201 && st != 200)
            fail_msg("POST /api/orders: %ld", st);
    }
    assert_int_equal(saga_pay_when_pending(&f->st, f->user.token, id, STEP_MS, NULL), 200);
    if (saga_order_wait(&f->st, f->user.token, id, "CONFIRMED", STEP_MS, status, sizeof(status),
                        NULL) < 0)
        fail_msg("order %s: %s, not CONFIRMED", id, status);

    /* each poison message is on the DLQ, cut to fit, saying so */
    c = ts_consumer_new(dlq);
    assert_non_null(c);
    got = ts_consume(c, (size_t)parts, STEP_MS, &recs);
    snprintf(size, sizeof(size), "%zu", len);
    for (i = 0; i < got; i++) {
        const char *t = ts_record_header(&recs[i], "dlq_truncated");
        const char *sz = ts_record_header(&recs[i], "dlq_original_size");
        const char *sha = ts_record_header(&recs[i], "dlq_original_sha256");

        if (!t || strcmp(t, "true") != 0)
            continue;
        assert_non_null(sz);
        assert_string_equal(sz, size);
        assert_non_null(sha);
        assert_int_equal(strlen(sha), 64);
        assert_non_null(ts_record_header(&recs[i], "dlq_error"));
        assert_string_equal(ts_record_header(&recs[i], "dlq_original_topic"), f->st.topic_stock);
        assert_true(recs[i].len < len && recs[i].len <= 1000000);
        cut++;
    }
    ts_records_free(recs, got);
    ts_consumer_free(c);
    assert_int_equal(cut, parts);
}

/* ---- HTTP limits ---- */

/* Raises this process's soft RLIMIT_NOFILE to hold the flood. */
static void fd_room(rlim_t need)
{
    struct rlimit rl;

    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        skip(); /* the machine's hard limit cannot hold the test's own sockets */
}

/* A TCP connection from @src to 127.0.0.1:@port, or -1 when the server does not take it within
 * 2 s (a full listen queue). */
static int tcp_from(const char *src, unsigned short port)
{
    struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    struct timeval tv = {.tv_sec = 2};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    inet_pton(AF_INET, src, &from.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    to.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* True when the server closed @fd (end of stream or reset), without waiting. */
static bool closed_by_server(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);

    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static int count_open(const int *fds, int n)
{
    int open = 0;

    for (int i = 0; i < n; i++)
        open += fds[i] >= 0 && !closed_by_server(fds[i]);
    return open;
}

static void test_idle_flood_from_one_address_leaves_others_served(void **state)
{
    struct fixture *f = *state;
    unsigned short port = f->st.catalog.port;
    static int fds[FLOOD];
    char url[128];
    int i, open = FLOOD;

    fd_room(FLOOD + 256);
    for (i = 0; i < FLOOD; i++)
        fds[i] = tcp_from("127.0.0.2", port);

    /* the normal client is answered, each time within the bound */
    snprintf(url, sizeof(url), "%s/health/live", f->st.catalog.url);
    for (i = 0; i < 5; i++) {
        struct ts_resp resp;
        int64_t t0 = util_now_mono_ms();

        assert_int_equal(ts_http("GET", url, NULL, NULL, NULL, &resp), 0);
        assert_int_equal(resp.status, 200);
        ts_resp_free(&resp);
        assert_true(util_now_mono_ms() - t0 < 3000);
    }
    /* the flood keeps no more than its per-address share */
    for (int64_t deadline = util_now_mono_ms() + 10000; util_now_mono_ms() < deadline;) {
        struct pollfd pfd = {.fd = fds[0] >= 0 ? fds[0] : 0, .events = POLLIN};

        open = count_open(fds, FLOOD);
        if (open <= PER_IP)
            break;
        poll(&pfd, 1, 100);
    }
    assert_true(open <= PER_IP);
    for (i = 0; i < FLOOD; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static void test_trickled_header_is_cut_off(void **state)
{
    struct fixture *f = *state;
    static const char req[] = "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    int64_t t0, cut_after = -1;
    int fd = tcp_from("127.0.0.1", f->st.catalog.port);
    size_t i = 0;

    assert_true(fd >= 0);
    t0 = util_now_mono_ms();
    while (util_now_mono_ms() - t0 < HEADER_TIMEOUT_MS + 10000) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        char c = i < sizeof(req) - 1 ? req[i] : 'a';

        if (send(fd, &c, 1, MSG_NOSIGNAL) < 0 || closed_by_server(fd)) {
            cut_after = util_now_mono_ms() - t0;
            break;
        }
        i++;
        /* the client's pace (what is under test), not synchronisation */
        poll(&pfd, 1, 250);
    }
    close(fd);
    if (cut_after < 0)
        fail_msg("still connected after %d ms of trickling", HEADER_TIMEOUT_MS + 10000);
    assert_true(cut_after >= HEADER_TIMEOUT_MS - 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poison_is_dead_lettered_and_orders_go_on),
        cmocka_unit_test(test_idle_flood_from_one_address_leaves_others_served),
        cmocka_unit_test(test_trickled_header_is_cut_off),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
