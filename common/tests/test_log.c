/* test_log.c - the access line (log_access): the same JSON line log_info() wrote for it before,
 * and the ACCESS_LOG modes. stderr is pointed at a temporary file for each check. */
#include <errno.h>
#include <setjmp.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_access_line_is_the_line_log_info_wrote),
        cmocka_unit_test(test_access_modes),
        cmocka_unit_test(test_access_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
