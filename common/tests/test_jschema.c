/*
 * test_jschema.c - unit tests of the JSON Schema subset validator (no I/O but one temp file):
 * each keyword passing and failing, the error pointers and messages, refused keywords, and the
 * uuid / date-time cases of the official 2020-12 suite (which the Debian package lacks).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/jschema.h"

static struct jschema *compile(const char *text)
{
    struct jschema *schema = NULL;
    char err[256];
    int r = jschema_compile_text(text, strlen(text), &schema, err, sizeof(err));

    if (r != 0)
        fail_msg("schema %s does not compile: %s", text, err);
    return schema;
}

/* Validates @instance (JSON text) against @schema (JSON text); returns the result, the error
 * message into @err. */
static int check(const char *schema_text, const char *instance, char *err, size_t errlen)
{
    struct jschema *schema = compile(schema_text);
    cJSON *inst = cJSON_Parse(instance);
    int r;

    assert_non_null(inst);
    r = jschema_validate(schema, inst, err, errlen);
    cJSON_Delete(inst);
    jschema_free(schema);
    return r;
}

static void ok(const char *schema, const char *instance)
{
    char err[256];

    if (check(schema, instance, err, sizeof(err)) != 0)
        fail_msg("%s should accept %s: %s", schema, instance, err);
}

/* Must fail with exactly @want as the error (NULL: any error). */
static void bad(const char *schema, const char *instance, const char *want)
{
    char err[256];

    if (check(schema, instance, err, sizeof(err)) != -EINVAL)
        fail_msg("%s should refuse %s", schema, instance);
    if (want)
        assert_string_equal(err, want);
}

/* Compiling must fail with @code and an error containing @want. */
static void refused(const char *schema_text, int code, const char *want)
{
    struct jschema *schema = NULL;
    char err[256] = "";
    int r = jschema_compile_text(schema_text, strlen(schema_text), &schema, err, sizeof(err));

    if (r != code)
        fail_msg("%s: want %d, got %d (%s)", schema_text, code, r, err);
    assert_null(schema);
    if (!strstr(err, want))
        fail_msg("%s: error '%s' lacks '%s'", schema_text, err, want);
}

static void test_type(void **state)
{
    (void)state;
    ok("{\"type\":\"integer\"}", "1");
    ok("{\"type\":\"integer\"}", "1.0");
    bad("{\"type\":\"integer\"}", "1.5", "(root): must be integer");
    bad("{\"type\":\"integer\"}", "\"1\"", "(root): must be integer");
    ok("{\"type\":\"number\"}", "1.5");
    bad("{\"type\":\"number\"}", "true", "(root): must be number");
    ok("{\"type\":\"string\"}", "\"x\"");
    ok("{\"type\":\"boolean\"}", "false");
    bad("{\"type\":\"boolean\"}", "0", NULL);
    ok("{\"type\":\"null\"}", "null");
    ok("{\"type\":\"object\"}", "{}");
    bad("{\"type\":\"object\"}", "[]", "(root): must be object");
    ok("{\"type\":\"array\"}", "[]");
    ok("{\"type\":[\"string\",\"null\"]}", "null");
    ok("{\"type\":[\"string\",\"null\"]}", "\"a\"");
    bad("{\"type\":[\"string\",\"null\"]}", "1", "(root): must be null or string");
    bad("{\"type\":[]}", "1", NULL);
    ok("{}", "[1,{\"a\":null}]");
    ok("true", "1");
    bad("false", "1", "(root): no value is allowed here");
}

static void test_properties_required(void **state)
{
    const char *s = "{\"type\":\"object\",\"required\":[\"a\"],"
                    "\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}}}";

    (void)state;
    ok(s, "{\"a\":1}");
    ok(s, "{\"a\":1,\"b\":\"x\",\"c\":[]}"); /* tolerant: unknown members pass */
    bad(s, "{\"b\":\"x\"}", "(root): missing required property 'a'");
    bad(s, "{\"a\":\"1\"}", "/a: must be integer");
    bad(s, "{\"a\":1,\"b\":2}", "/b: must be string");
    ok("{\"required\":[\"a\"]}", "[]"); /* object keywords ignore non-objects */
    /* names are case-sensitive */
    bad(s, "{\"A\":1}", "(root): missing required property 'a'");
}

static void test_additional_properties(void **state)
{
    const char *closed = "{\"properties\":{\"a\":{}},\"additionalProperties\":false}";
    const char *typed =
        "{\"properties\":{\"a\":{}},\"additionalProperties\":{\"type\":\"integer\"}}";

    (void)state;
    ok(closed, "{\"a\":1}");
    bad(closed, "{\"a\":1,\"b\":2}", "/b: additional property is not allowed");
    ok(typed, "{\"a\":\"x\",\"b\":2}");
    bad(typed, "{\"a\":\"x\",\"b\":\"y\"}", "/b: must be integer");
    ok("{\"additionalProperties\":true}", "{\"x\":1}");
}

static void test_enum_const(void **state)
{
    (void)state;
    ok("{\"enum\":[\"A\",\"B\"]}", "\"B\"");
    bad("{\"enum\":[\"A\",\"B\"]}", "\"C\"", "(root): must be one of [\"A\",\"B\"]");
    ok("{\"enum\":[1]}", "1.0");
    bad("{\"enum\":[false]}", "0", NULL);
    bad("{\"enum\":[0]}", "false", NULL);
    ok("{\"enum\":[{\"a\":1,\"b\":[2]}]}", "{\"b\":[2],\"a\":1}");
    bad("{\"enum\":[{\"a\":1}]}", "{\"a\":1,\"b\":2}", NULL);
    bad("{\"enum\":[[1,2]]}", "[2,1]", NULL);
    ok("{\"const\":\"KRW\"}", "\"KRW\"");
    bad("{\"const\":\"KRW\"}", "\"krw\"", "(root): must be equal to \"KRW\"");
    ok("{\"const\":null}", "null");
    bad("{\"const\":null}", "0", NULL);
}

static void test_numbers(void **state)
{
    (void)state;
    ok("{\"minimum\":1}", "1");
    bad("{\"minimum\":1}", "0", "(root): must be >= 1");
    ok("{\"maximum\":1.5}", "1.5");
    bad("{\"maximum\":1.5}", "2", "(root): must be <= 1.5");
    bad("{\"exclusiveMinimum\":0}", "0", "(root): must be > 0");
    ok("{\"exclusiveMinimum\":0}", "0.001");
    bad("{\"exclusiveMaximum\":10}", "10", "(root): must be < 10");
    ok("{\"exclusiveMaximum\":10}", "-1e300");
    ok("{\"minimum\":1}", "\"0\""); /* numeric keywords ignore non-numbers */
}

static void test_strings(void **state)
{
    (void)state;
    ok("{\"minLength\":2}", "\"ab\"");
    bad("{\"minLength\":2}", "\"a\"", "(root): must be at least 2 characters long");
    ok("{\"maxLength\":2}", "\"\xc3\xa9\xc3\xa9\""); /* é é: 2 code points, 4 bytes */
    ok("{\"maxLength\":1}", "\"\xf0\x9f\x92\xa9\""); /* one supplementary code point */
    bad("{\"maxLength\":2}", "\"abc\"", "(root): must be at most 2 characters long");
    ok("{\"minLength\":2.0}", "\"ab\"");
    ok("{\"minLength\":5}", "5");
}

static void test_arrays(void **state)
{
    const char *s = "{\"type\":\"array\",\"minItems\":1,\"maxItems\":2,"
                    "\"items\":{\"type\":\"object\",\"required\":[\"quantity\"],"
                    "\"properties\":{\"quantity\":{\"type\":\"integer\",\"minimum\":1}}}}";

    (void)state;
    ok(s, "[{\"quantity\":1}]");
    bad(s, "[]", "(root): must have at least 1 items");
    bad(s, "[{\"quantity\":1},{\"quantity\":1},{\"quantity\":1}]",
        "(root): must have at most 2 items");
    bad(s, "[{\"quantity\":1},{\"quantity\":0}]", "/1/quantity: must be >= 1");
    bad(s, "[{}]", "/0: missing required property 'quantity'");
    ok("{\"items\":false}", "[]");
    bad("{\"items\":false}", "[1]", "/0: no value is allowed here");
}

static void test_error_pointer(void **state)
{
    const char *s = "{\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":"
                    "{\"type\":\"object\",\"properties\":{\"quantity\":{\"minimum\":1}}}},"
                    "\"a/b\":{\"properties\":{\"c~d\":{\"type\":\"string\"}}}}}";

    (void)state;
    bad(s, "{\"items\":[{\"quantity\":0}]}", "/items/0/quantity: must be >= 1");
    /* RFC 6901 escaping: ~ → ~0, / → ~1 */
    bad(s, "{\"a/b\":{\"c~d\":1}}", "/a~1b/c~0d: must be string");
}

/* the official draft 2020-12 optional/format/uuid.json cases */
static void test_format_uuid(void **state)
{
    static const struct {
        const char *data;
        bool valid;
    } CASES[] = {
        {"2EB8AA08-AA98-11EA-B4AA-73B441D16380", true},
        {"2eb8aa08-aa98-11ea-b4aa-73b441d16380", true},
        {"2eb8aa08-AA98-11ea-B4Aa-73B441D16380", true},
        {"00000000-0000-0000-0000-000000000000", true},
        {"2eb8aa08-aa98-11ea-b4aa-73b441d1638", false},
        {"2eb8aa08-aa98-11ea-73b441d16380", false},
        {"2eb8aa08-aa98-11ea-b4ga-73b441d16380", false},
        {"2eb8aa08aa9811eab4aa73b441d16380", false},
        {"2eb8aa08aa98-11ea-b4aa73b441d16380", false},
        {"2eb8-aa08-aa98-11ea-b4aa73b44-1d16380", false},
        {"2eb8aa08aa9811eab4aa73b441d16380----", false},
        {"2eb8aa0-8aa98-11e-ab4aa7-3b441d16380", false},
        {"98d80576-482e-427f-8434-7f86890ab222", true},
        {"99c17cbb-656f-564a-940f-1a4568f03487", true},
        {"99c17cbb-656f-664a-940f-1a4568f03487", true},
        {"99c17cbb-656f-f64a-940f-1a4568f03487", true},
        {"urn:uuid:2eb8aa08-aa98-11ea-b4aa-73b441d16380", false},
    };
    struct jschema *schema = compile("{\"format\":\"uuid\"}");
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        cJSON *inst = cJSON_CreateString(CASES[i].data);
        int r = jschema_validate(schema, inst, err, sizeof(err));

        if ((r == 0) != CASES[i].valid)
            fail_msg("uuid '%s': want %s", CASES[i].data, CASES[i].valid ? "valid" : "invalid");
        if (r)
            assert_string_equal(err, "(root): must be a uuid");
        cJSON_Delete(inst);
    }
    ok("{\"format\":\"uuid\"}", "12"); /* formats ignore non-strings */
    jschema_free(schema);
}

/* the official draft 2020-12 optional/format/date-time.json cases */
static void test_format_date_time(void **state)
{
    static const struct {
        const char *data;
        bool valid;
    } CASES[] = {
        {"1963-06-19T08:30:06.283185Z", true},
        {"1963-06-19T08:30:06Z", true},
        {"1937-01-01T12:00:27.87+00:20", true},
        {"1990-12-31T15:59:50.123-08:00", true},
        {"1998-12-31T23:59:60Z", true},
        {"1998-12-31T15:59:60.123-08:00", true},
        {"1998-12-31T23:59:61Z", false},
        {"1998-12-31T23:58:60Z", false},
        {"1998-12-31T22:59:60Z", false},
        {"1990-02-31T15:59:59.123-08:00", false},
        {"1990-12-31T15:59:59-24:00", false},
        {"1963-06-19T08:30:06.28123+01:00Z", false},
        {"1990-12-31T24:00:00Z", false},
        {"1990-12-31T15:60:00Z", false},
        {"1990-12-31T10:00:00+10:60", false},
        {"06/19/1963 08:30:06 PST", false},
        {"1963-06-19t08:30:06.283185z", true},
        {"2013-350T01:01:01", false},
        {"1963-6-19T08:30:06.283185Z", false},
        {"1963-06-1T08:30:06.283185Z", false},
        {"1963-06-1\xe0\xa7\xaaT00:00:00Z", false},
        {"1963-06-11T0\xe0\xa7\xaa:00:00Z", false},
        {"+11963-06-19T08:30:06.283185Z", false},
        {"1985-04-12T00:59:59.999999999999999Z", true},
        /* beyond the suite: leap years, missing parts */
        {"2024-02-29T00:00:00Z", true},
        {"2023-02-29T00:00:00Z", false},
        {"2000-02-29T00:00:00Z", true},
        {"1900-02-29T00:00:00Z", false},
        {"2026-11-24T20:21:00.Z", false},
        {"2026-11-24T20:21:00", false},
        {"2026-11-24", false},
    };
    struct jschema *schema = compile("{\"format\":\"date-time\"}");
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        cJSON *inst = cJSON_CreateString(CASES[i].data);
        int r = jschema_validate(schema, inst, err, sizeof(err));

        if ((r == 0) != CASES[i].valid)
            fail_msg("date-time '%s': want %s", CASES[i].data,
                     CASES[i].valid ? "valid" : "invalid");
        if (r)
            assert_string_equal(err, "(root): must be an RFC 3339 date-time");
        cJSON_Delete(inst);
    }
    jschema_free(schema);
}

static void test_annotations(void **state)
{
    (void)state;
    ok("{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"urn:x\","
       "\"title\":\"t\",\"description\":\"d\",\"$comment\":\"c\","
       "\"properties\":{\"a\":{\"default\":5,\"description\":\"x\"}}}",
       "{}");
}

static void test_refused(void **state)
{
    (void)state;
    refused("{\"properties\":{\"sku\":{\"pattern\":\"^P\"}}}", -EOPNOTSUPP,
            "/properties/sku/pattern: unsupported keyword 'pattern'");
    refused("{\"$ref\":\"#/$defs/a\"}", -EOPNOTSUPP, "/$ref: unsupported keyword '$ref'");
    refused("{\"items\":{\"oneOf\":[]}}", -EOPNOTSUPP, "/items/oneOf: unsupported keyword");
    refused("{\"additionalProperties\":{\"allOf\":[]}}", -EOPNOTSUPP,
            "/additionalProperties/allOf");
    refused("{\"format\":\"email\"}", -EOPNOTSUPP, "/format: unsupported format 'email'");
    refused("{\"$schema\":\"http://json-schema.org/draft-07/schema#\"}", -EOPNOTSUPP,
            "/$schema: unsupported $schema");
    refused("{\"items\":[{}]}", -EOPNOTSUPP, "/items: unsupported");
    refused("{\"minimum\":\"1\"}", -EINVAL, "/minimum: must be a number");
    refused("{\"minLength\":-1}", -EINVAL, "/minLength: must be a non-negative integer");
    refused("{\"maxItems\":1.5}", -EINVAL, "/maxItems");
    refused("{\"required\":[1]}", -EINVAL, "/required: must be an array of strings");
    refused("{\"type\":\"text\"}", -EINVAL, "/type: unknown type 'text'");
    refused("{\"enum\":{}}", -EINVAL, "/enum: must be an array");
    refused("{\"properties\":[]}", -EINVAL, "/properties: must be an object");
    refused("{\"properties\":{\"a\":1}}", -EINVAL, "/properties/a: a schema must be");
    refused("{\"title\":1}", -EINVAL, "/title: must be a string");
    refused("[]", -EINVAL, "(root): a schema must be");
    refused("{\"a\":", -EINVAL, "not valid JSON");
    /* data inside enum, const and default is not looked at */
    ok("{\"enum\":[{\"pattern\":1}],\"default\":{\"$ref\":1}}", "{\"pattern\":1}");
}

static void test_depth(void **state)
{
    char text[2048] = "";
    struct jschema *schema = NULL;
    char err[1024];

    (void)state;
    for (int i = 0; i < JSCHEMA_MAX_DEPTH + 2; i++)
        strcat(text, "{\"items\":");
    strcat(text, "{}");
    for (int i = 0; i < JSCHEMA_MAX_DEPTH + 2; i++)
        strcat(text, "}");
    assert_int_equal(jschema_compile_text(text, strlen(text), &schema, err, sizeof(err)), -EINVAL);
    if (!strstr(err, "nested deeper"))
        fail_msg("unexpected error '%s'", err);
}

static void test_document_id_and_file(void **state)
{
    char path[] = "/tmp/test_jschema_XXXXXX";
    const char *text = "{\"$id\":\"urn:commerce:event:x:v1\",\"type\":\"object\"}";
    struct jschema *schema = NULL;
    char err[256];
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(jschema_load_file(path, &schema, err, sizeof(err)), 0);
    assert_string_equal(jschema_id(schema), "urn:commerce:event:x:v1");
    assert_true(cJSON_IsObject(jschema_document(schema)));
    jschema_free(schema);
    unlink(path);
    assert_int_equal(jschema_load_file(path, &schema, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, path));

    schema = compile("{\"type\":\"object\"}");
    assert_null(jschema_id(schema));
    jschema_free(schema);
    jschema_free(NULL);
}

static void test_equal(void **state)
{
    cJSON *a = cJSON_Parse("{\"x\":[1,{\"y\":null}],\"z\":\"s\"}");
    cJSON *b = cJSON_Parse("{\"z\":\"s\",\"x\":[1.0,{\"y\":null}]}");
    cJSON *c = cJSON_Parse("{\"z\":\"s\",\"x\":[1,{\"y\":false}]}");

    (void)state;
    assert_true(jschema_equal(a, b));
    assert_false(jschema_equal(a, c));
    assert_true(jschema_equal(NULL, NULL));
    assert_false(jschema_equal(a, NULL));
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type),
        cmocka_unit_test(test_properties_required),
        cmocka_unit_test(test_additional_properties),
        cmocka_unit_test(test_enum_const),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_error_pointer),
        cmocka_unit_test(test_format_uuid),
        cmocka_unit_test(test_format_date_time),
        cmocka_unit_test(test_annotations),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_document_id_and_file),
        cmocka_unit_test(test_equal),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
