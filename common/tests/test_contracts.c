/*
 * test_contracts.c - unit tests of the contracts folder loader and the compatibility gate:
 * each rule with a pair of small schemas that must pass or fail (in memory), the modes and the
 * load errors on folders made in /tmp, and the repo's own contracts/ (from the repo root, or
 * $CONTRACTS_DIR).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/contracts.h"
#include "common/event.h"
#include "common/event_types.h"

/* ---- pairs of schemas ---- */

struct seen {
    int count;
    char rule[64];
    char field[128];
    char line[1024];
};

static void remember(const struct contracts_violation *v, void *arg)
{
    struct seen *seen = arg;

    if (seen->count++ == 0) {
        snprintf(seen->rule, sizeof(seen->rule), "%s", v->rule);
        snprintf(seen->field, sizeof(seen->field), "%s", v->field);
        contracts_violation_format(v, seen->line, sizeof(seen->line));
    }
}

static struct seen compare(const char *old_text, const char *new_text, unsigned rules)
{
    cJSON *old_doc = cJSON_Parse(old_text), *new_doc = cJSON_Parse(new_text);
    struct seen seen = {0};
    int n;

    assert_non_null(old_doc);
    assert_non_null(new_doc);
    n = contracts_compare(old_doc, new_doc, rules, "t.x", 1, 2, remember, &seen);
    assert_int_equal(n, seen.count);
    cJSON_Delete(old_doc);
    cJSON_Delete(new_doc);
    return seen;
}

#define B CONTRACTS_RULES_BACKWARD
#define F CONTRACTS_RULES_FORWARD

static void compatible(const char *old_text, const char *new_text, unsigned rules)
{
    struct seen seen = compare(old_text, new_text, rules);

    if (seen.count)
        fail_msg("%s -> %s should be compatible: %s", old_text, new_text, seen.line);
}

/* Must break with @rule (the first violation) at @field. */
static void breaks(const char *old_text, const char *new_text, unsigned rules, const char *rule,
                   const char *field)
{
    struct seen seen = compare(old_text, new_text, rules);

    if (seen.count == 0)
        fail_msg("%s -> %s should break with %s", old_text, new_text, rule);
    if (strcmp(seen.rule, rule) != 0 || strcmp(seen.field, field) != 0)
        fail_msg("%s -> %s: want %s at '%s', got %s", old_text, new_text, rule, field, seen.line);
}

#define V1                                                                                         \
    "{\"type\":\"object\",\"required\":[\"orderId\",\"amount\"],\"properties\":{"                  \
    "\"orderId\":{\"type\":\"string\",\"maxLength\":64},"                                          \
    "\"amount\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":1000},"                            \
    "\"reason\":{\"type\":\"string\",\"enum\":[\"A\",\"B\"]},"                                     \
    "\"items\":{\"type\":\"array\",\"maxItems\":10,\"items\":{\"type\":\"object\","                \
    "\"required\":[\"skuId\"],\"properties\":{\"skuId\":{\"type\":\"integer\"}}}},"                \
    "\"address\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}"

static void test_same_and_optional_added(void **state)
{
    (void)state;
    compatible(V1, V1, B | F);
    compatible(V1,
               "{\"type\":\"object\",\"required\":[\"orderId\",\"amount\"],\"properties\":{"
               "\"orderId\":{\"type\":\"string\",\"maxLength\":64},"
               "\"amount\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":1000},"
               "\"reason\":{\"type\":\"string\",\"enum\":[\"A\",\"B\"]},"
               "\"items\":{\"type\":\"array\",\"maxItems\":10,\"items\":{\"type\":\"object\","
               "\"required\":[\"skuId\"],\"properties\":{\"skuId\":{\"type\":\"integer\"}}}},"
               "\"address\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}},"
               "\"currency\":{\"type\":\"string\"}}}",
               B | F);
}

static void test_required_removed(void **state)
{
    (void)state;
    breaks("{\"required\":[\"a\",\"b\"],\"properties\":{\"a\":{},\"b\":{}}}",
           "{\"required\":[\"a\"],\"properties\":{\"a\":{}}}", B, "required-removed", "b");
    /* still declared but optional: consumers relying on it break all the same */
    breaks("{\"required\":[\"a\",\"b\"],\"properties\":{\"a\":{},\"b\":{}}}",
           "{\"required\":[\"a\"],\"properties\":{\"a\":{},\"b\":{}}}", B, "required-removed", "b");
    /* an optional field may go */
    compatible("{\"required\":[\"a\"],\"properties\":{\"a\":{},\"b\":{}}}",
               "{\"required\":[\"a\"],\"properties\":{\"a\":{}}}", B);
    /* nested in array items */
    breaks("{\"properties\":{\"items\":{\"items\":{\"required\":[\"skuId\"]}}}}",
           "{\"properties\":{\"items\":{\"items\":{}}}}", B, "required-removed", "items[].skuId");
}

static void test_required_added(void **state)
{
    (void)state;
    breaks("{\"properties\":{\"a\":{}}}",
           "{\"required\":[\"c\"],\"properties\":{\"a\":{},\"c\":{\"type\":\"string\"}}}", B,
           "required-added", "c");
    /* with a default, old events are read with it */
    compatible("{\"properties\":{\"a\":{}}}",
               "{\"required\":[\"c\"],\"properties\":{\"a\":{},"
               "\"c\":{\"type\":\"string\",\"default\":\"KRW\"}}}",
               B);
    /* an optional field becoming required */
    breaks("{\"properties\":{\"a\":{}}}", "{\"required\":[\"a\"],\"properties\":{\"a\":{}}}", B,
           "required-added", "a");
    /* old readers do not care about a new required field */
    compatible("{\"properties\":{\"a\":{}}}",
               "{\"required\":[\"c\"],\"properties\":{\"a\":{},\"c\":{}}}", F);
    /* nested object */
    breaks("{\"properties\":{\"address\":{\"properties\":{}}}}",
           "{\"properties\":{\"address\":{\"required\":[\"zip\"],\"properties\":{\"zip\":{}}}}}", B,
           "required-added", "address.zip");
}

static void test_renamed(void **state)
{
    struct seen seen;

    (void)state;
    breaks("{\"required\":[\"userId\"],\"properties\":{\"userId\":{\"type\":\"string\"}}}",
           "{\"required\":[\"buyerId\"],\"properties\":{\"buyerId\":{\"type\":\"string\"}}}", B,
           "renamed", "userId");
    seen = compare("{\"required\":[\"userId\"],\"properties\":{\"userId\":{}}}",
                   "{\"required\":[\"buyerId\"],\"properties\":{\"buyerId\":{}}}", B);
    assert_int_equal(seen.count, 1); /* one rename, not also a required-added */
    assert_non_null(strstr(seen.line, "'userId'"));
    assert_non_null(strstr(seen.line, "'buyerId'"));
    assert_non_null(strstr(seen.line, "t.x v2 (vs v1): renamed"));
    /* the new name optional: still a rename */
    breaks("{\"required\":[\"approvedAt\"],\"properties\":{\"approvedAt\":{}}}",
           "{\"properties\":{\"approvedAtTime\":{}}}", B, "renamed", "approvedAt");
}

static void test_type_changed(void **state)
{
    (void)state;
    breaks("{\"properties\":{\"a\":{\"type\":\"integer\"}}}",
           "{\"properties\":{\"a\":{\"type\":\"string\"}}}", B, "type-changed", "a");
    breaks("{\"properties\":{\"a\":{\"type\":[\"string\",\"null\"]}}}",
           "{\"properties\":{\"a\":{\"type\":\"string\"}}}", B, "type-changed", "a");
    breaks("{\"properties\":{\"a\":{}}}", "{\"properties\":{\"a\":{\"type\":\"string\"}}}", B,
           "type-changed", "a");
    /* widening: fine for new readers, not for old ones */
    compatible("{\"properties\":{\"a\":{\"type\":\"integer\"}}}",
               "{\"properties\":{\"a\":{\"type\":\"number\"}}}", B);
    compatible("{\"properties\":{\"a\":{\"type\":\"string\"}}}",
               "{\"properties\":{\"a\":{\"type\":[\"string\",\"null\"]}}}", B);
    breaks("{\"properties\":{\"a\":{\"type\":\"integer\"}}}",
           "{\"properties\":{\"a\":{\"type\":\"number\"}}}", F, "type-changed", "a");
    /* in array items and nested objects */
    breaks(V1,
           "{\"type\":\"object\",\"required\":[\"orderId\",\"amount\"],\"properties\":{"
           "\"orderId\":{\"type\":\"string\",\"maxLength\":64},"
           "\"amount\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":1000},"
           "\"reason\":{\"type\":\"string\",\"enum\":[\"A\",\"B\"]},"
           "\"items\":{\"type\":\"array\",\"maxItems\":10,\"items\":{\"type\":\"object\","
           "\"required\":[\"skuId\"],\"properties\":{\"skuId\":{\"type\":\"string\"}}}},"
           "\"address\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}",
           B, "type-changed", "items[].skuId");
    breaks("{\"properties\":{\"address\":{\"properties\":{\"city\":{\"type\":\"string\"}}}}}",
           "{\"properties\":{\"address\":{\"properties\":{\"city\":{\"type\":\"object\"}}}}}", B,
           "type-changed", "address.city");
    breaks("{\"properties\":{\"a\":{}}}", "{\"properties\":{\"a\":false}}", B, "type-changed", "a");
}

static void test_enum(void **state)
{
    (void)state;
    breaks("{\"properties\":{\"r\":{\"enum\":[\"A\",\"B\"]}}}",
           "{\"properties\":{\"r\":{\"enum\":[\"A\"]}}}", B, "enum-narrowed", "r");
    breaks("{\"properties\":{\"r\":{\"type\":\"string\"}}}",
           "{\"properties\":{\"r\":{\"enum\":[\"A\"]}}}", B, "enum-narrowed", "r");
    breaks("{\"properties\":{\"c\":{\"enum\":[\"KRW\",\"USD\"]}}}",
           "{\"properties\":{\"c\":{\"const\":\"KRW\"}}}", B, "enum-narrowed", "c");
    compatible("{\"properties\":{\"r\":{\"enum\":[\"A\"]}}}",
               "{\"properties\":{\"r\":{\"enum\":[\"B\",\"A\"]}}}", B);
    compatible("{\"properties\":{\"c\":{\"const\":\"KRW\"}}}",
               "{\"properties\":{\"c\":{\"enum\":[\"KRW\",\"USD\"]}}}", B);
    breaks("{\"properties\":{\"r\":{\"enum\":[\"A\"]}}}",
           "{\"properties\":{\"r\":{\"enum\":[\"A\",\"B\"]}}}", F, "enum-widened", "r");
}

static void test_range(void **state)
{
    (void)state;
    breaks("{\"properties\":{\"q\":{\"minimum\":0}}}", "{\"properties\":{\"q\":{\"minimum\":1}}}",
           B, "range-narrowed", "q");
    breaks("{\"properties\":{\"q\":{\"maximum\":10}}}", "{\"properties\":{\"q\":{\"maximum\":9}}}",
           B, "range-narrowed", "q");
    breaks("{\"properties\":{\"q\":{}}}", "{\"properties\":{\"q\":{\"maximum\":9}}}", B,
           "range-narrowed", "q");
    breaks("{\"properties\":{\"q\":{\"minimum\":0}}}",
           "{\"properties\":{\"q\":{\"exclusiveMinimum\":0}}}", B, "range-narrowed", "q");
    compatible("{\"properties\":{\"q\":{\"exclusiveMinimum\":0}}}",
               "{\"properties\":{\"q\":{\"minimum\":0}}}", B);
    compatible("{\"properties\":{\"q\":{\"minimum\":1,\"maximum\":9}}}",
               "{\"properties\":{\"q\":{\"minimum\":0}}}", B);
    breaks("{\"properties\":{\"q\":{\"minimum\":1}}}", "{\"properties\":{\"q\":{\"minimum\":0}}}",
           F, "range-widened", "q");
    breaks("{\"properties\":{\"items\":{\"items\":{\"properties\":{\"n\":{\"minimum\":1}}}}}}",
           "{\"properties\":{\"items\":{\"items\":{\"properties\":{\"n\":{\"minimum\":2}}}}}}", B,
           "range-narrowed", "items[].n");
}

static void test_length(void **state)
{
    (void)state;
    breaks("{\"properties\":{\"s\":{\"maxLength\":64}}}",
           "{\"properties\":{\"s\":{\"maxLength\":32}}}", B, "length-narrowed", "s");
    breaks("{\"properties\":{\"s\":{}}}", "{\"properties\":{\"s\":{\"minLength\":1}}}", B,
           "length-narrowed", "s");
    breaks("{\"properties\":{\"l\":{\"maxItems\":100}}}",
           "{\"properties\":{\"l\":{\"maxItems\":50}}}", B, "length-narrowed", "l");
    compatible("{\"properties\":{\"s\":{\"maxLength\":32}}}",
               "{\"properties\":{\"s\":{\"maxLength\":64}}}", B);
    breaks("{\"properties\":{\"s\":{\"maxLength\":32}}}",
           "{\"properties\":{\"s\":{\"maxLength\":64}}}", F, "length-widened", "s");
}

static void test_format_and_closed(void **state)
{
    (void)state;
    breaks("{\"properties\":{\"id\":{\"type\":\"string\"}}}",
           "{\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"}}}", B,
           "format-changed", "id");
    compatible("{\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"}}}",
               "{\"properties\":{\"id\":{\"type\":\"string\"}}}", B);
    breaks("{\"properties\":{\"a\":{}}}",
           "{\"properties\":{\"a\":{}},\"additionalProperties\":false}", B, "closed", "");
    breaks("{\"properties\":{\"a\":{}},\"additionalProperties\":false}",
           "{\"properties\":{\"a\":{},\"b\":{}},\"additionalProperties\":false}", F, "closed", "b");
}

/* ---- folders ---- */

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (strchr(name, '/')) {
        char sub[512];

        snprintf(sub, sizeof(sub), "%s/%.*s", dir, (int)(strrchr(name, '/') - name), name);
        mkdir(sub, 0700);
    }
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void rm_rf(const char *dir)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static char *make_dir(char *tmpl)
{
    char *dir = mkdtemp(tmpl);

    assert_non_null(dir);
    return dir;
}

/* Writes @type/v@v.json with the right $id and @body (the members after it). */
static void write_version(const char *dir, const char *type, int v, const char *body)
{
    char name[128], text[2048];

    snprintf(name, sizeof(name), "%s/v%d.json", type, v);
    snprintf(text, sizeof(text), "{\"$id\":\"urn:commerce:event:%s:v%d\"%s%s}", type, v,
             *body ? "," : "", body);
    write_file(dir, name, text);
}

/* the transitive case: v2 drops optional x, v3 brings it back with another type */
static void write_transitive(const char *dir, const char *mode)
{
    char compat[256];

    write_version(dir, "t.x", 1, "\"properties\":{\"x\":{\"type\":\"integer\"}}");
    write_version(dir, "t.x", 2, "\"properties\":{}");
    write_version(dir, "t.x", 3, "\"properties\":{\"x\":{\"type\":\"string\"}}");
    snprintf(compat, sizeof(compat),
             "{\"default\":\"BACKWARD_TRANSITIVE\",\"types\":{\"t.x\":\"%s\"}}", mode);
    write_file(dir, "compatibility.json", compat);
}

static void test_modes(void **state)
{
    char tmpl[] = "/tmp/test_contracts_XXXXXX";
    char *dir = make_dir(tmpl);
    char err[2048];
    struct contracts *c;

    (void)state;
    write_transitive(dir, "BACKWARD");
    assert_int_equal(contracts_check(dir, err, sizeof(err)), 0);

    write_transitive(dir, "BACKWARD_TRANSITIVE");
    assert_int_equal(contracts_check(dir, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "t.x v3 (vs v1): type-changed: field 'x'"));
    assert_null(strstr(err, "vs v2"));

    write_transitive(dir, "NONE");
    assert_int_equal(contracts_check(dir, err, sizeof(err)), 0);

    write_transitive(dir, "FULL_TRANSITIVE");
    assert_int_equal(contracts_check(dir, err, sizeof(err)), -EINVAL);

    /* a new required field: FORWARD passes, BACKWARD and FULL do not */
    write_version(dir, "t.x", 2, "\"required\":[\"y\"],\"properties\":{\"y\":{}}");
    write_version(dir, "t.x", 3, "\"required\":[\"y\"],\"properties\":{\"y\":{}}");
    write_file(dir, "compatibility.json", "{\"types\":{\"t.x\":\"FORWARD\"}}");
    assert_int_equal(contracts_check(dir, err, sizeof(err)), 0);
    write_file(dir, "compatibility.json", "{\"types\":{\"t.x\":\"FULL\"}}");
    assert_int_equal(contracts_check(dir, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "t.x v2 (vs v1): required-added: field 'y'"));

    /* no compatibility.json: BACKWARD_TRANSITIVE */
    write_file(dir, "compatibility.json", "{}");
    assert_int_equal(contracts_load(dir, &c, err, sizeof(err)), 0);
    assert_int_equal(contracts_mode(c, "t.x"), CONTRACTS_BACKWARD_TRANSITIVE);
    assert_int_equal(contracts_latest(c, "t.x"), 3);
    assert_int_equal(contracts_latest(c, "t.y"), 0);
    contracts_free(c);
    rm_rf(dir);
}

static void load_fails(const char *dir, int code, const char *want)
{
    struct contracts *c = NULL;
    char err[1024] = "";
    int r = contracts_load(dir, &c, err, sizeof(err));

    if (r != code || !strstr(err, want))
        fail_msg("load: want %d '%s', got %d '%s'", code, want, r, err);
    assert_null(c);
}

static void test_load_errors(void **state)
{
    char tmpl[] = "/tmp/test_contracts_XXXXXX";
    char *dir = make_dir(tmpl);
    char path[600];

    (void)state;
    load_fails("/nonexistent/contracts", -ENOENT, "/nonexistent/contracts");

    write_file(dir, "t.x/v1.json", "{\"$id\":\"urn:commerce:event:t.y:v1\"}");
    load_fails(dir, -EINVAL, "\"$id\" must be \"urn:commerce:event:t.x:v1\"");

    write_version(dir, "t.x", 1, "\"properties\":{\"a\":{\"pattern\":\"x\"}}");
    load_fails(dir, -EINVAL, "/properties/a/pattern: unsupported keyword 'pattern'");

    write_version(dir, "t.x", 1, "");
    write_version(dir, "t.x", 3, "");
    load_fails(dir, -EINVAL, "v2.json missing");
    snprintf(path, sizeof(path), "%s/t.x/v3.json", dir);
    unlink(path);

    write_file(dir, "t.x/v1.jsn.json", "{}");
    load_fails(dir, -EINVAL, "not a version file");
    snprintf(path, sizeof(path), "%s/t.x/v1.jsn.json", dir);
    unlink(path);

    write_file(dir, "compatibility.json", "{\"types\":{\"t.z\":\"BACKWARD\"}}");
    load_fails(dir, -EINVAL, "no schema folder for type 't.z'");
    write_file(dir, "compatibility.json", "{\"types\":{\"t.x\":\"SIDEWAYS\"}}");
    load_fails(dir, -EINVAL, "/types/t.x: unknown mode");
    write_file(dir, "compatibility.json", "{\"types\":");
    load_fails(dir, -EINVAL, "not valid JSON");
    rm_rf(dir);
}

static void test_validate(void **state)
{
    char tmpl[] = "/tmp/test_contracts_XXXXXX";
    char *dir = make_dir(tmpl);
    struct contracts *c;
    char err[512];
    cJSON *data;

    (void)state;
    write_version(
        dir, "t.x", 1,
        "\"type\":\"object\",\"required\":[\"n\"],\"properties\":{\"n\":{\"minimum\":1}}");
    write_file(dir, "envelope.json", "{\"type\":\"object\",\"required\":[\"data\"]}");
    assert_int_equal(contracts_load(dir, &c, err, sizeof(err)), 0);
    assert_non_null(contracts_envelope(c));
    assert_int_equal(contracts_ntypes(c), 1);
    assert_string_equal(contracts_type(c, 0), "t.x");
    assert_null(contracts_type(c, 1));
    data = cJSON_Parse("{\"n\":0}");
    assert_int_equal(contracts_validate(c, "t.x", 1, data, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "/n: must be >= 1");
    assert_int_equal(contracts_validate(c, "t.x", 2, data, err, sizeof(err)), -ENOENT);
    assert_int_equal(contracts_validate(c, "t.y", 1, data, err, sizeof(err)), -ENOENT);
    cJSON_Delete(data);
    data = cJSON_Parse("{\"n\":1}");
    assert_int_equal(contracts_validate(c, "t.x", 1, data, err, sizeof(err)), 0);
    cJSON_Delete(data);
    contracts_free(c);
    contracts_free(NULL);
    rm_rf(dir);
}

static const char *repo_contracts(void)
{
    const char *dir = getenv("CONTRACTS_DIR");

    return dir && *dir ? dir : "contracts";
}

/* the repo's contracts load, pass the gate, and accept the documented examples */
static void test_repo_contracts(void **state)
{
    static const struct {
        const char *type, *data;
        const char *error; /* NULL: valid */
    } EXAMPLES[] = {
        {"product.sku.created",
         "{\"skuId\":42,\"productId\":7,\"productCode\":\"P00000007\",\"price\":12500,"
         "\"optionValues\":[{\"group\":\"Color\",\"option\":\"Blue\",\"additionalPrice\":500}],"
         "\"initialQuantity\":10}",
         NULL},
        {"order.placed",
         "{\"orderId\":\"3f0e4a1c-2b6d-4c1e-9a77-0d5b6f7e8a90\",\"userId\":\"u-1\","
         "\"totalAmount\":20000,\"discountAmount\":1000,\"payableAmount\":19000,\"items\":"
         "[{\"orderItemId\":1,\"skuId\":42,\"quantity\":2,\"unitPrice\":10000,\"amount\":19000}],"
         "\"futureField\":true}",
         NULL},
        {"order.placed",
         "{\"orderId\":\"o-1\",\"userId\":\"u-1\",\"totalAmount\":1,\"discountAmount\":0,"
         "\"payableAmount\":1,\"items\":[{\"orderItemId\":1,\"skuId\":42,\"quantity\":0,"
         "\"unitPrice\":1,\"amount\":1}]}",
         "/items/0/quantity: must be >= 1"},
        {"order.cancelled",
         "{\"orderId\":\"o-1\",\"userId\":\"u-1\",\"reason\":\"PAYMENT_TIMEOUT\","
         "\"status\":\"CANCELLED\"}",
         NULL},
        {"stock.released",
         "{\"orderId\":\"o-1\",\"items\":[{\"skuId\":1,\"quantity\":1}],"
         "\"reason\":null}",
         NULL},
        {"stock.reservation.failed",
         "{\"orderId\":\"o-1\",\"reason\":\"OUT_OF_STOCK\",\"failedItems\":[]}",
         "/reason: must be one of [\"NOT_ENOUGH_STOCK\",\"SKU_NOT_FOUND\"]"},
        {"payment.completed",
         "{\"orderId\":\"o-1\",\"paymentId\":\"p-1\",\"transactionId\":\"tx-1\","
         "\"paidAmount\":19000,\"currency\":\"KRW\",\"approvedAt\":1764000000000}",
         NULL},
        {"payment.completed",
         "{\"orderId\":\"o-1\",\"paymentId\":\"p-1\",\"transactionId\":\"tx-1\","
         "\"paidAmount\":19000,\"currency\":\"KRW\"}",
         "(root): missing required property 'approvedAt'"},
    };
    struct contracts *c;
    char err[4096];

    (void)state;
    if (contracts_check(repo_contracts(), err, sizeof(err)) != 0)
        fail_msg("the repo's contracts fail the gate: %s", err);
    assert_int_equal(contracts_load(repo_contracts(), &c, err, sizeof(err)), 0);
    assert_non_null(contracts_envelope(c));
    for (enum event_type t = EVENT_NONE + 1; t < EVENT_NTYPES; t++)
        if (!contracts_schema(c, event_type_name(t), 1))
            fail_msg("no contract for %s v1", event_type_name(t));
    for (size_t i = 0; i < sizeof(EXAMPLES) / sizeof(EXAMPLES[0]); i++) {
        cJSON *data = cJSON_Parse(EXAMPLES[i].data);
        int r;

        assert_non_null(data);
        r = contracts_validate(c, EXAMPLES[i].type, 1, data, err, sizeof(err));
        if (EXAMPLES[i].error) {
            assert_int_equal(r, -EINVAL);
            assert_string_equal(err, EXAMPLES[i].error);
        } else if (r != 0) {
            fail_msg("%s example refused: %s", EXAMPLES[i].type, err);
        }
        cJSON_Delete(data);
    }
    contracts_free(c);
}

/* event_types.h and contracts/ name the same types: each type of the table has v1..vN with
 * N its published version and nothing newer, and each folder of contracts/ is in the table */
static void test_event_types_match_contracts(void **state)
{
    struct contracts *c;
    char err[4096], path[512];
    struct stat st;

    (void)state;
    if (contracts_load(repo_contracts(), &c, err, sizeof(err)) != 0)
        fail_msg("cannot load the repo's contracts: %s", err);
    for (enum event_type t = EVENT_NONE + 1; t < EVENT_NTYPES; t++) {
        const char *name = event_type_name(t);
        int n = event_type_max_version(t);

        assert_true(n >= 1);
        for (int v = 1; v <= n; v++)
            if (!contracts_schema(c, name, v))
                fail_msg("%s is read up to v%d but contracts/ has no v%d", name, n, v);
        if (contracts_latest(c, name) != n)
            fail_msg("%s is read up to v%d but its newest contract is v%d", name, n,
                     contracts_latest(c, name));
        snprintf(path, sizeof(path), "%s/%s/v%d.json", repo_contracts(), name, n + 1);
        if (stat(path, &st) == 0)
            fail_msg("%s exists, newer than the v%d consumers read", path, n);
    }
    for (size_t i = 0; i < contracts_ntypes(c); i++)
        if (event_type_parse(contracts_type(c, i)) == EVENT_NONE)
            fail_msg("contracts/%s is not in event_types.h", contracts_type(c, i));
    contracts_free(c);
}

/* A payload of @type v@version parsed from @json (the data only), from @source. */
static void check_event_from(struct event *ev, const char *source, const char *type, int version,
                             const char *json)
{
    cJSON *data = cJSON_Parse(json);

    assert_non_null(data);
    assert_int_equal(event_init(ev, type, version, source, "s-1", NULL, data), 0);
}

/* The same from @type's producer, as the producer rule wants it. */
static void check_event(struct event *ev, const char *type, int version, const char *json)
{
    char source[96];

    snprintf(source, sizeof(source), "/%s", event_type_producer(event_type_parse(type)));
    check_event_from(ev, source, type, version, json);
}

/* the consumer's payload check: validate, upcast, and the policies' answers */
static void test_check_payload(void **state)
{
    static const char *const PLACED_V1 =
        "{\"orderId\":\"o-1\",\"userId\":\"u-1\",\"totalAmount\":1,\"discountAmount\":0,"
        "\"payableAmount\":1,\"items\":[{\"orderItemId\":1,\"skuId\":42,\"quantity\":%d,"
        "\"unitPrice\":1,\"amount\":1}]}";
    const char *type = event_type_name(EVENT_ORDER_PLACED);
    struct contracts *c;
    struct event ev;
    char json[512], reason[600], urn[160];

    (void)state;
    assert_int_equal(contracts_load(repo_contracts(), &c, reason, sizeof(reason)), 0);
    event_schema_urn(type, 2, urn, sizeof(urn));

    /* valid v1: upcast to v2 (currency added), version and dataschema follow */
    snprintf(json, sizeof(json), PLACED_V1, 1);
    check_event(&ev, type, 1, json);
    assert_int_equal(contracts_check_event(&ev, 2, c, reason, sizeof(reason)), 0);
    assert_int_equal(ev.version, 2);
    assert_string_equal(ev.dataschema, urn);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ev.data, "currency")->valuestring, "KRW");
    event_release(&ev);

    /* a handler that takes only v1: validated, not upcast */
    check_event(&ev, type, 1, json);
    assert_int_equal(contracts_check_event(&ev, 1, c, reason, sizeof(reason)), 0);
    assert_int_equal(ev.version, 1);
    event_release(&ev);

    /* invalid v1: refused when enforced, accepted (and upcast) by the lenient policy */
    snprintf(json, sizeof(json), PLACED_V1, 0);
    check_event(&ev, type, 1, json);
    assert_int_equal(contracts_check_event(&ev, 2, c, reason, sizeof(reason)), -EINVAL);
    assert_string_equal(reason, "schema: /items/0/quantity: must be >= 1");
    assert_int_equal(ev.version, 1);
    reason[0] = '\0';
    assert_int_equal(contracts_check_event_lenient_v1(&ev, 2, c, reason, sizeof(reason)),
                     CONTRACTS_CHECK_LENIENT);
    assert_string_equal(reason, "schema: /items/0/quantity: must be >= 1");
    assert_int_equal(ev.version, 2);
    event_release(&ev);

    /* the lenient policy is for v1 only */
    check_event(&ev, type, 2, json);
    assert_int_equal(contracts_check_event_lenient_v1(&ev, 2, c, reason, sizeof(reason)), -EINVAL);
    event_release(&ev);

    /* a version the contracts do not know */
    check_event(&ev, type, 9, json);
    assert_int_equal(contracts_check_event_lenient_v1(&ev, 9, c, reason, sizeof(reason)), -ENOENT);
    assert_string_equal(reason, "schema: no schema for 'order.placed' v9");
    event_release(&ev);

    /* no contracts: upcast only */
    check_event(&ev, type, 1, json);
    assert_int_equal(contracts_check_event(&ev, 2, NULL, reason, sizeof(reason)), 0);
    assert_int_equal(ev.version, 2);
    event_release(&ev);
    contracts_free(c);
}

/* the producer rule: only the service event_types.h names speaks for a type */
static void test_check_source(void **state)
{
    const char *type = event_type_name(EVENT_PAYMENT_COMPLETED);
    static const char *const wrong[] = {"/inventory-service", "payment-service",
                                        "/payment-service/x", "/payment", "//payment-service"};
    struct contracts *c;
    struct event ev;
    char reason[600];

    (void)state;
    assert_int_equal(contracts_load(repo_contracts(), &c, reason, sizeof(reason)), 0);
    check_event_from(&ev, "/payment-service", type, 2, "{}");
    assert_int_equal(contracts_check_source(&ev, reason, sizeof(reason)), 0);
    event_release(&ev);
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        check_event_from(&ev, wrong[i], type, 2, "{}");
        reason[0] = '\0';
        assert_int_equal(contracts_check_source(&ev, reason, sizeof(reason)), -EPERM);
        assert_non_null(strstr(reason, "is not the producer of payment.completed "
                                       "('/payment-service')"));
        event_release(&ev);
    }
    check_event_from(&ev, "/inventory-service", type, 2, "{}");
    assert_int_equal(contracts_check_source(&ev, reason, sizeof(reason)), -EPERM);
    assert_string_equal(reason, "source: '/inventory-service' is not the producer of "
                                "payment.completed ('/payment-service')");
    /* the consumer's check refuses it before the schema (this payload is invalid too), under
     * either policy and without contracts */
    reason[0] = '\0';
    assert_int_equal(contracts_check_event(&ev, 2, c, reason, sizeof(reason)), -EPERM);
    assert_int_equal(strncmp(reason, "source: ", 8), 0);
    assert_int_equal(contracts_check_event_lenient_v1(&ev, 2, c, reason, sizeof(reason)), -EPERM);
    assert_int_equal(contracts_check_event(&ev, 2, NULL, reason, sizeof(reason)), -EPERM);
    event_release(&ev);

    /* a type the list does not name has no producer to speak for it */
    check_event_from(&ev, "/payment-service", "payment.forged", 1, "{}");
    assert_int_equal(contracts_check_event(&ev, 1, NULL, reason, sizeof(reason)), -EPERM);
    assert_string_equal(reason, "source: no producer is named for 'payment.forged'");
    event_release(&ev);

    /* every listed type is accepted from its own producer */
    for (int t = EVENT_NONE + 1; t < EVENT_NTYPES; t++) {
        char source[96];

        snprintf(source, sizeof(source), "/%s", event_type_producer((enum event_type)t));
        check_event_from(&ev, source, event_type_name((enum event_type)t), 1, "{}");
        assert_int_equal(contracts_check_source(&ev, reason, sizeof(reason)), 0);
        event_release(&ev);
    }
    contracts_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_and_optional_added),
        cmocka_unit_test(test_required_removed),
        cmocka_unit_test(test_required_added),
        cmocka_unit_test(test_renamed),
        cmocka_unit_test(test_type_changed),
        cmocka_unit_test(test_enum),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_length),
        cmocka_unit_test(test_format_and_closed),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_repo_contracts),
        cmocka_unit_test(test_event_types_match_contracts),
        cmocka_unit_test(test_check_payload),
        cmocka_unit_test(test_check_source),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
