/*
 * test_http_park.c - parked requests (http_park()): a real server on 127.0.0.1 (port 0) with
 * a pool of two threads, called over raw sockets. Parked requests hold no thread (more are
 * parked than there are threads while another request is answered); a bell's ring, the
 * recheck, the deadline, the cap, a client that goes away and the server's stop each end a
 * park exactly once; a ring between the handler's look and its park is not lost.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/http.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "testsup.h"

#define WAIT_MS 10000   /* the longest a test waits for anything */
#define LONG_PARK 60000 /* a park that would outlast the test: only a wake ends it */

struct app {
    struct http_bell *bell;
    atomic_int made;      /* what parked requests wait for: 1 = there */
    atomic_int runs;      /* handler runs */
    atomic_int gone_runs; /* handler runs with HTTP_WAKE_GONE */
};

static struct app app;

/* GET /park?wait=ms&recheck=ms&nobell=1&ring=1: 200 {"wake"} once app.made, else parks (ring=1:
 * rings the bell itself between its look and its park); 503 {"wake","rc"} when it may not. */
static void h_park(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct app *a = arg;
    long wait = http_query_long(req, resp, "wait", LONG_PARK, 1, LONG_PARK);
    long recheck = http_query_long(req, resp, "recheck", 0, 0, LONG_PARK);
    cJSON *json = cJSON_CreateObject();
    int rc;

    atomic_fetch_add(&a->runs, 1);
    if (req->wake == HTTP_WAKE_GONE)
        atomic_fetch_add(&a->gone_runs, 1);
    cJSON_AddNumberToObject(json, "wake", req->wake);
    if (atomic_load(&a->made)) {
        http_reply_json(resp, 200, json);
        return;
    }
    if (http_query(req, "ring") && req->wake == HTTP_WAKE_NONE) {
        atomic_store(&a->made, 1); /* made and rung after the look, before the park */
        http_bell_ring(a->bell);
    }
    rc = http_park(req, http_query(req, "nobell") ? NULL : a->bell, wait, recheck);
    if (rc == 0) {
        cJSON_Delete(json);
        return;
    }
    cJSON_AddNumberToObject(json, "rc", rc);
    http_reply_json(resp, 503, json);
}

static const struct http_route routes[] = {
    {"GET", "/park", HTTP_AUTH_NONE, h_park},
};

static struct http_server *start(unsigned max_parked)
{
    struct http_opts opts = {
        .bind = "127.0.0.1", .threads = 2, .max_parked = max_parked, .idle_timeout_s = 60};
    char err[256] = "";
    struct http_server *srv = http_server_start(&opts, routes, 1, &app, err, sizeof(err));

    if (!srv)
        fail_msg("http_server_start: %s", err);
    return srv;
}

/* A connection to @srv that sent GET @target (Connection: close). */
static int send_get(struct http_server *srv, const char *target)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(http_port(srv))};
    char req[512];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                       target);

    assert_true(fd >= 0);
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(send(fd, req, (size_t)len, 0), len);
    return fd;
}

/* True when @fd has something to read now (an answer begun, or the end). */
static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, 0) == 1;
}

/* Reads the whole answer on @fd (until the server closes; at most WAIT_MS), closes @fd, and
 * returns the status; the body's "wake" into *@ret_wake. */
static int read_answer(int fd, int *ret_wake)
{
    char buf[4096];
    size_t len = 0;
    int64_t until = util_now_mono_ms() + WAIT_MS;
    int status = 0;
    const char *wake;

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = until - util_now_mono_ms();
        ssize_t n;

        assert_true(left > 0); /* no answer within WAIT_MS */
        if (poll(&p, 1, (int)left) != 1)
            continue;
        n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &status), 1);
    wake = strstr(buf, "\"wake\":");
    *ret_wake = wake ? atoi(wake + 7) : -1;
    return status;
}

static bool parked_is(void *arg)
{
    return http_parked_count() == *(unsigned *)arg;
}

/* Polls until http_parked_count() is @n. */
static void wait_parked(unsigned n)
{
    assert_true(ts_poll_until(parked_is, &n, WAIT_MS));
}

static int setup(void **state)
{
    (void)state;
    atomic_store(&app.made, 0);
    atomic_store(&app.runs, 0);
    atomic_store(&app.gone_runs, 0);
    return 0;
}

/* Four parked (two threads): another request is answered while all four still wait; then a
 * ring answers each once. */
static void test_parked_hold_no_thread_and_a_ring_answers_all(void **state)
{
    struct http_server *srv = start(0);
    int fds[4], fd, wake;

    (void)state;
    for (int i = 0; i < 4; i++)
        fds[i] = send_get(srv, "/park");
    wait_parked(4);
    fd = send_get(srv, "/health/live");
    assert_int_equal(read_answer(fd, &wake), 200);
    /* answered while the four are parked: none has an answer yet */
    assert_int_equal(http_parked_count(), 4);
    for (int i = 0; i < 4; i++)
        assert_false(readable(fds[i]));
    atomic_store(&app.made, 1);
    http_bell_ring(app.bell);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(read_answer(fds[i], &wake), 200);
        assert_int_equal(wake, HTTP_WAKE_BELL);
    }
    assert_int_equal(atomic_load(&app.runs), 8); /* each: the first run and the one after */
    assert_int_equal(http_parked_count(), 0);
    http_server_stop(srv);
}

/* A ring between the handler's look and its park wakes it at once (else: LONG_PARK). */
static void test_a_ring_before_the_park_is_not_lost(void **state)
{
    struct http_server *srv = start(0);
    int wake;

    (void)state;
    assert_int_equal(read_answer(send_get(srv, "/park?ring=1"), &wake), 200);
    assert_int_equal(wake, HTTP_WAKE_BELL);
    http_server_stop(srv);
}

/* Without a ring, the recheck runs the handler again; at the deadline it must answer. */
static void test_recheck_and_deadline(void **state)
{
    struct http_server *srv = start(0);
    int fd, wake;

    (void)state;
    fd = send_get(srv, "/park?nobell=1&recheck=20");
    wait_parked(1);
    atomic_store(&app.made, 1);
    assert_int_equal(read_answer(fd, &wake), 200);
    assert_int_equal(wake, HTTP_WAKE_RECHECK);

    atomic_store(&app.made, 0);
    assert_int_equal(read_answer(send_get(srv, "/park?wait=30&recheck=10"), &wake), 503);
    assert_int_equal(wake, HTTP_WAKE_DEADLINE);
    http_server_stop(srv);
}

/* Beyond max_parked, http_park() refuses and the handler answers at once. */
static void test_the_cap_answers_at_once(void **state)
{
    struct http_server *srv = start(2);
    int fds[2], wake;

    (void)state;
    fds[0] = send_get(srv, "/park");
    fds[1] = send_get(srv, "/park");
    wait_parked(2);
    assert_int_equal(read_answer(send_get(srv, "/park"), &wake), 503);
    assert_int_equal(wake, HTTP_WAKE_NONE);
    atomic_store(&app.made, 1);
    http_bell_ring(app.bell);
    for (int i = 0; i < 2; i++)
        assert_int_equal(read_answer(fds[i], &wake), 200);
    http_server_stop(srv);
}

static bool gone_ran(void *arg)
{
    (void)arg;
    return atomic_load(&app.gone_runs) == 1 && http_parked_count() == 0;
}

/* A client that goes away while parked: its handler runs once more (GONE), nothing else. */
static void test_a_client_gone_is_dropped(void **state)
{
    struct http_server *srv = start(0);
    int fd;

    (void)state;
    fd = send_get(srv, "/park");
    wait_parked(1);
    close(fd);
    if (!ts_poll_until(gone_ran, NULL, WAIT_MS))
        fail_msg("runs %d gone %d parked %u", atomic_load(&app.runs), atomic_load(&app.gone_runs),
                 http_parked_count());
    assert_int_equal(atomic_load(&app.runs), 2);
    http_server_stop(srv);
}

/* The server's stop answers every parked request (STOP) before it returns. */
static void test_stop_answers_the_parked(void **state)
{
    struct http_server *srv = start(0);
    int fds[3], wake;

    (void)state;
    for (int i = 0; i < 3; i++)
        fds[i] = send_get(srv, "/park");
    wait_parked(3);
    http_server_stop(srv);
    assert_int_equal(http_parked_count(), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(read_answer(fds[i], &wake), 503);
        assert_int_equal(wake, HTTP_WAKE_STOP);
    }
    assert_int_equal(atomic_load(&app.runs), 6);
}

static int group_setup(void **state)
{
    (void)state;
    log_init("test_http_park", LOG_WARN);
    app.bell = http_bell_new();
    return app.bell ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    http_bell_free(app.bell);
    metrics_reset();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_parked_hold_no_thread_and_a_ring_answers_all, setup),
        cmocka_unit_test_setup(test_a_ring_before_the_park_is_not_lost, setup),
        cmocka_unit_test_setup(test_recheck_and_deadline, setup),
        cmocka_unit_test_setup(test_the_cap_answers_at_once, setup),
        cmocka_unit_test_setup(test_a_client_gone_is_dropped, setup),
        cmocka_unit_test_setup(test_stop_answers_the_parked, setup),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
