/* test_jsonx.c - typed JSON field reads: UTF-8, embedded NULs, integers past 2^53. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/jsonx.h"

/* The message of the only field error in @errors. */
static const char *only_error(const cJSON *errors)
{
    assert_int_equal(cJSON_GetArraySize(errors), 1);
    return cJSON_GetObjectItem(cJSON_GetArrayItem(errors, 0), "message")->valuestring;
}

static void test_strings_must_be_utf8(void **state)
{
    static const char *const bad[] = {
        "\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "caf\xc3", "\x80"};
    static const char *const good[] = {
        "", "plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x91\x95", "\xf4\x8f\xbf\xbf"};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *obj = cJSON_CreateObject(), *errors = NULL;
        const char *v = NULL;

        assert_false(jsonx_utf8_valid(bad[i], strlen(bad[i])));
        cJSON_AddStringToObject(obj, "name", bad[i]);
        assert_int_equal(jsonx_str(obj, "name", "name", true, 100, &v, &errors), -EINVAL);
        assert_null(v);
        assert_string_equal(only_error(errors), "must be valid UTF-8");
        cJSON_Delete(errors);
        cJSON_Delete(obj);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        cJSON *obj = cJSON_CreateObject(), *errors = NULL;
        const char *v = NULL;

        assert_true(jsonx_utf8_valid(good[i], strlen(good[i])));
        cJSON_AddStringToObject(obj, "name", good[i]);
        assert_int_equal(jsonx_str(obj, "name", "name", true, 100, &v, &errors), 0);
        assert_string_equal(v, good[i]);
        assert_null(errors);
        cJSON_Delete(obj);
    }
}

static void test_nul_escapes_are_found(void **state)
{
    static const char with[] = "{\"email\":\"a@x.test\\u0000@evil.com\"}";
    static const char escaped_backslash[] = "{\"s\":\"\\\\u0000\"}";
    static const char quote_then[] = "{\"s\":\"\\\"\",\"t\":\"\\u0000\"}";
    static const char outside[] = "{\"u0000\":1}";

    (void)state;
    assert_true(jsonx_has_nul_escape(with, strlen(with)));
    assert_true(jsonx_has_nul_escape(quote_then, strlen(quote_then)));
    assert_false(jsonx_has_nul_escape(escaped_backslash, strlen(escaped_backslash)));
    assert_false(jsonx_has_nul_escape(outside, strlen(outside)));
    /* what cJSON makes of it: the string ends at the NUL (why the raw text is checked) */
    {
        cJSON *obj = cJSON_Parse(with);
        assert_string_equal(cJSON_GetObjectItem(obj, "email")->valuestring, "a@x.test");
        cJSON_Delete(obj);
    }
}

static void test_ints_past_2_to_53_are_refused_not_wrapped(void **state)
{
    static const char *const bad[] = {"9223372036854775807", "9223372036854775808",
                                      "9007199254740993", "1e19", "-9223372036854775808"};
    long long v = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[64];
        cJSON *obj, *errors = NULL;

        snprintf(text, sizeof(text), "{\"skuId\":%s}", bad[i]);
        obj = cJSON_Parse(text);
        v = 0;
        assert_int_equal(jsonx_int(obj, "skuId", "skuId", true, 1, INT64_MAX, &v, &errors),
                         -EINVAL);
        assert_int_equal(v, 0);
        assert_string_equal(only_error(errors), "must be between 1 and 9007199254740991");
        cJSON_Delete(errors);
        cJSON_Delete(obj);
    }
    {
        cJSON *obj = cJSON_Parse("{\"skuId\":9007199254740991}"), *errors = NULL;
        assert_int_equal(jsonx_int(obj, "skuId", "skuId", true, 1, INT64_MAX, &v, &errors), 0);
        assert_int_equal(v, JSONX_INT_EXACT_MAX);
        cJSON_Delete(obj);
    }
    {
        cJSON *obj = cJSON_Parse("{\"n\":-9007199254740991}"), *errors = NULL;
        assert_int_equal(jsonx_int(obj, "n", "n", true, INT64_MIN, 0, &v, &errors), 0);
        assert_int_equal(v, -JSONX_INT_EXACT_MAX);
        cJSON_Delete(obj);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_must_be_utf8),
        cmocka_unit_test(test_nul_escapes_are_found),
        cmocka_unit_test(test_ints_past_2_to_53_are_refused_not_wrapped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
