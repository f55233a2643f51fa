/* test_log.c - the access line (log_access): the same JSON line log_info() wrote for it before,
 * the ACCESS_LOG modes, and the access lines' writer (log_access_start): every line whole and in
 * order per thread, written out without a stop, and none lost when its buffer is full.
 * stderr is pointed at a temporary file or a pipe for each check. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "common/log.h"

/* Runs @fn with stderr in a temporary file; returns what was written (caller frees). */
static char *capture(void (*fn)(void *), void *arg)
{
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    char *out;
    long n;

    assert_non_null(tmp);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    fn(arg);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    n = (long)lseek(fileno(tmp), 0, SEEK_END);
    out = calloc(1, (size_t)n + 1);
    assert_non_null(out);
    assert_int_equal(pread(fileno(tmp), out, (size_t)n, 0), n);
    fclose(tmp);
    return out;
}

struct access {
    const char *method, *path;
    int status;
    double ms;
};

static void write_access(void *arg)
{
    const struct access *a = arg;

    log_access(a->method, a->path, a->status, a->ms);
}

static void write_info(void *arg)
{
    const struct access *a = arg;

    log_info("http request '%s %s' answered %d in %.1f ms", a->method, a->path, a->status, a->ms);
}

/* The line in @text parsed; the "time" checked for shape and removed. */
static cJSON *parse_line(const char *text)
{
    cJSON *j;
    const char *t;

    assert_non_null(strchr(text, '\n'));
    assert_ptr_equal(strchr(text, '\n') + 1, text + strlen(text)); /* exactly one line */
    j = cJSON_Parse(text);
    assert_non_null(j);
    t = cJSON_GetStringValue(cJSON_GetObjectItem(j, "time"));
    assert_non_null(t);
    assert_int_equal(strlen(t), 24); /* 2026-12-02T03:35:18.123Z */
    assert_int_equal(t[10], 'T');
    assert_int_equal(t[19], '.');
    assert_int_equal(t[23], 'Z');
    cJSON_DeleteItemFromObject(j, "time");
    return j;
}

static void test_access_line_is_the_line_log_info_wrote(void **state)
{
    const struct access cases[] = {
        {"GET", "/api/catalog/products/1", 200, 0.44},
        {"POST", "/api/orders", 201, 12.36}, /* ties may round apart from printf: no matter */
        {"GET", "/a\"b\\c\nd\x01/\xc3\xa9", 404, 0},
        {"DELETE", "/x", 503, 1234567.89},
    };

    (void)state;
    log_init("test-service", LOG_INFO);
    log_access_init(LOG_ACCESS_ALL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *fast = capture(write_access, (void *)&cases[i]);
        char *slow = capture(write_info, (void *)&cases[i]);
        cJSON *a = parse_line(fast), *b = parse_line(slow);
        assert_true(cJSON_Compare(a, b, 1));
        cJSON_Delete(a);
        cJSON_Delete(b);
        free(fast);
        free(slow);
    }
}

static void test_access_modes(void **state)
{
    struct access ok = {"GET", "/ok", 200, 1}, client = {"GET", "/bad", 404, 1},
                  server = {"GET", "/down", 503, 1};
    char *out;

    (void)state;
    log_init("test-service", LOG_INFO);
    log_access_init(LOG_ACCESS_ERRORS);
    out = capture(write_access, &ok);
    assert_string_equal(out, "");
    free(out);
    out = capture(write_access, &client);
    assert_non_null(strstr(out, "answered 404"));
    free(out);
    out = capture(write_access, &server);
    assert_non_null(strstr(out, "answered 503"));
    free(out);
    log_access_init(LOG_ACCESS_OFF);
    out = capture(write_access, &server);
    assert_string_equal(out, "");
    free(out);
    /* LOG_LEVEL above info: no access line whatever the mode */
    log_access_init(LOG_ACCESS_ALL);
    log_init("test-service", LOG_WARN);
    out = capture(write_access, &server);
    assert_string_equal(out, "");
    free(out);
    log_init("test-service", LOG_INFO);
}

static void test_access_parse(void **state)
{
    enum log_access mode = LOG_ACCESS_OFF;

    (void)state;
    assert_int_equal(log_access_parse("all", &mode), 0);
    assert_int_equal(mode, LOG_ACCESS_ALL);
    assert_int_equal(log_access_parse("errors", &mode), 0);
    assert_int_equal(mode, LOG_ACCESS_ERRORS);
    assert_int_equal(log_access_parse("off", &mode), 0);
    assert_int_equal(mode, LOG_ACCESS_OFF);
    assert_int_equal(log_access_parse("ALL", &mode), -EINVAL);
    assert_int_equal(log_access_parse("", &mode), -EINVAL);
    assert_int_equal(log_access_parse(NULL, &mode), -EINVAL);
    assert_int_equal(mode, LOG_ACCESS_OFF);
}

/* ---- the access lines' writer ---- */

#define WRITERS 4
#define PER_WRITER 3000

static void *write_many(void *arg)
{
    long t = (long)arg;
    char path[64];

    for (int i = 0; i < PER_WRITER; i++) {
        snprintf(path, sizeof(path), "/t%ld/%d", t, i);
        log_access("GET", path, 200, 0.1);
    }
    return NULL;
}

static void start_write_stop(void *arg)
{
    pthread_t th[WRITERS];

    (void)arg;
    assert_int_equal(log_access_start(64 * 1024), 0);
    for (long t = 0; t < WRITERS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, write_many, (void *)t), 0);
    for (long t = 0; t < WRITERS; t++)
        pthread_join(th[t], NULL);
    log_access_stop();
}

/* Lines from four threads, far more than the buffer holds at once: every one written out by the
 * stop, whole, each thread's in its order. */
static void test_writer_keeps_every_line_in_order(void **state)
{
    int next[WRITERS] = {0};
    char *out, *line, *save = NULL;
    size_t n = 0;

    (void)state;
    log_init("test-service", LOG_INFO);
    log_access_init(LOG_ACCESS_ALL);
    out = capture(start_write_stop, NULL);
    for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        const char *msg;
        int t, i;

        assert_non_null(j);
        msg = cJSON_GetStringValue(cJSON_GetObjectItem(j, "message"));
        assert_non_null(msg);
        if (sscanf(msg, "http request 'GET /t%d/%d'", &t, &i) != 2)
            fail_msg("not an access line: %s", msg);
        assert_true(t >= 0 && t < WRITERS);
        assert_int_equal(i, next[t]);
        next[t]++;
        n++;
        cJSON_Delete(j);
    }
    assert_int_equal(n, WRITERS * PER_WRITER);
    free(out);
}

/* stderr as a pipe; the read end into *@ret_rd, the old stderr into *@ret_saved. */
static void stderr_to_pipe(int *ret_rd, int *ret_saved)
{
    int fds[2];

    assert_int_equal(pipe(fds), 0);
    *ret_saved = dup(STDERR_FILENO);
    assert_true(*ret_saved >= 0);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    close(fds[1]);
    *ret_rd = fds[0];
}

static void stderr_back(int saved)
{
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
}

/* Appends what @fd has within @timeout_ms (until EOF when @timeout_ms < 0) to @buf. */
static size_t drain(int fd, char *buf, size_t used, size_t cap, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    while (used + 1 < cap && poll(&p, 1, timeout_ms < 0 ? 10000 : timeout_ms) > 0) {
        ssize_t r = read(fd, buf + used, cap - 1 - used);

        if (r <= 0)
            break;
        used += (size_t)r;
        if (timeout_ms >= 0 && memchr(buf, '\n', used))
            break;
    }
    buf[used] = '\0';
    return used;
}

/* One line and no stop: the writer writes it out by itself, within its period. */
static void test_writer_flushes_without_stop(void **state)
{
    static char buf[8192];
    int rd, saved;

    (void)state;
    log_init("test-service", LOG_INFO);
    log_access_init(LOG_ACCESS_ALL);
    stderr_to_pipe(&rd, &saved);
    assert_int_equal(log_access_start(64 * 1024), 0);
    log_access("GET", "/alone", 200, 1);
    drain(rd, buf, 0, sizeof(buf), 10000); /* a deadline, not a sleep: returns with the line */
    assert_non_null(strstr(buf, "http request 'GET /alone' answered 200"));
    log_access_stop();
    stderr_back(saved);
    close(rd);
}

/* Nobody reads the log at first: the writer blocks in write(2) on the full pipe, the buffer
 * fills, and the caller waits for room, as it waited for its own write(2) before; once the log
 * is read again, every line comes out, in order. */
struct burst {
    int total;
    bool done;
};

static void *write_burst(void *arg)
{
    struct burst *b = arg;
    char path[32];

    for (int i = 0; i < b->total; i++) {
        snprintf(path, sizeof(path), "/b/%d", i);
        log_access("GET", path, 200, 1);
    }
    __atomic_store_n(&b->done, true, __ATOMIC_RELEASE);
    return NULL;
}

static void test_writer_full_buffer_waits_and_loses_nothing(void **state)
{
    static char buf[4 * 1024 * 1024];
    struct burst b = {.total = 5000}; /* ~700 KiB: far above the pipe's 64 KiB and the buffer */
    struct pollfd p;
    pthread_t th;
    int rd, saved, next = 0, i;
    size_t used = 0;
    char *line;

    (void)state;
    log_init("test-service", LOG_INFO);
    log_access_init(LOG_ACCESS_ALL);
    stderr_to_pipe(&rd, &saved);
    assert_int_equal(log_access_start(8 * 1024), 0);
    assert_int_equal(pthread_create(&th, NULL, write_burst, &b), 0);
    /* the pipe fills while nobody reads it: the writer is stuck, and the caller cannot be
     * done (it has far more to write than the pipe and the buffers hold) */
    p = (struct pollfd){.fd = rd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_false(__atomic_load_n(&b.done, __ATOMIC_ACQUIRE));
    /* read: everything comes out */
    while (!__atomic_load_n(&b.done, __ATOMIC_ACQUIRE))
        used = drain(rd, buf, used, sizeof(buf), 10);
    pthread_join(th, NULL);
    fcntl(rd, F_SETFL, fcntl(rd, F_GETFL) | O_NONBLOCK);
    used = drain(rd, buf, used, sizeof(buf), 0);
    log_access_stop();
    stderr_back(saved);
    used = drain(rd, buf, used, sizeof(buf), -1);
    close(rd);
    for (line = strstr(buf, "GET /b/"); line; line = strstr(line + 1, "GET /b/")) {
        assert_int_equal(sscanf(line, "GET /b/%d'", &i), 1);
        assert_int_equal(i, next);
        next++;
    }
    assert_int_equal(next, b.total);
}

static void test_writer_not_started_when_off(void **state)
{
    struct access server = {"GET", "/down", 503, 1};
    char *out;

    (void)state;
    log_init("test-service", LOG_INFO);
    log_access_init(LOG_ACCESS_OFF);
    assert_int_equal(log_access_start(64 * 1024), 0); /* nothing to write: no thread */
    out = capture(write_access, &server);
    assert_string_equal(out, "");
    free(out);
    log_access_stop();
    log_access_init(LOG_ACCESS_ALL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_access_line_is_the_line_log_info_wrote),
        cmocka_unit_test(test_access_modes),
        cmocka_unit_test(test_access_parse),
        cmocka_unit_test(test_writer_keeps_every_line_in_order),
        cmocka_unit_test(test_writer_flushes_without_stop),
        cmocka_unit_test(test_writer_full_buffer_waits_and_loses_nothing),
        cmocka_unit_test(test_writer_not_started_when_off),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
