/*
 * test_upcast.c - unit tests of the upcasters (common/upcast.h): each step's result, chaining
 * and its errors, and two properties checked against the repo's contracts/ (from the repo
 * root, or $CONTRACTS_DIR): every version step of every type has an upcaster, and a payload
 * valid against version N is valid against N+1 once upcast.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/contracts.h"
#include "common/upcast.h"

#define ORDER_V1                                                                                   \
    "{\"orderId\":\"o-1\",\"userId\":\"u-1\",\"totalAmount\":20000,\"discountAmount\":1000,"       \
    "\"payableAmount\":19000,\"items\":[{\"orderItemId\":1,\"skuId\":42,\"quantity\":2,"           \
    "\"unitPrice\":10000,\"amount\":19000}]}"
#define PAYMENT_V1                                                                                 \
    "{\"orderId\":\"o-1\",\"paymentId\":\"p-1\",\"transactionId\":\"tx-1\",\"paidAmount\":19000,"  \
    "\"currency\":\"KRW\",\"approvedAt\":1764000000123}"

static const char *repo_contracts(void)
{
    const char *dir = getenv("CONTRACTS_DIR");

    return dir && *dir ? dir : CONTRACTS_DEFAULT_DIR;
}

static cJSON *parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);

    assert_non_null(j);
    return j;
}

static const char *str_of(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* order.placed v1 → v2: currency KRW added, nothing removed, no shipping address invented */
static void test_order_placed_v1_to_v2(void **state)
{
    cJSON *data = parse(ORDER_V1);
    char err[256] = "";

    (void)state;
    assert_int_equal(upcast_to("order.placed", 1, 2, data, err, sizeof(err)), 0);
    assert_string_equal(str_of(data, "currency"), "KRW");
    assert_null(cJSON_GetObjectItemCaseSensitive(data, "shippingAddress"));
    assert_string_equal(str_of(data, "orderId"), "o-1");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(data, "items")), 1);
    cJSON_Delete(data);
}

/* a currency already there is kept as it is (the schema judges it, not the upcaster) */
static void test_order_placed_existing_currency(void **state)
{
    cJSON *data = parse("{\"orderId\":\"o-1\",\"currency\":\"KRW\"}");
    char err[256] = "";

    (void)state;
    assert_int_equal(upcast_to("order.placed", 1, 2, data, err, sizeof(err)), 0);
    assert_int_equal(cJSON_GetArraySize(data), 2);
    cJSON_Delete(data);
    data = parse("{\"orderId\":\"o-1\",\"currency\":7}");
    assert_int_equal(upcast_to("order.placed", 1, 2, data, err, sizeof(err)), 0);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(data, "currency")));
    cJSON_Delete(data);
}

/* payment.completed v1 → v2: approvedAtTime derived from approvedAt, which stays */
static void test_payment_completed_v1_to_v2(void **state)
{
    cJSON *data = parse(PAYMENT_V1);
    const cJSON *ms;
    char err[256] = "";

    (void)state;
    assert_int_equal(upcast_to("payment.completed", 1, 2, data, err, sizeof(err)), 0);
    assert_string_equal(str_of(data, "approvedAtTime"), "2025-11-24T16:00:00.123Z");
    ms = cJSON_GetObjectItemCaseSensitive(data, "approvedAt");
    assert_true(cJSON_IsNumber(ms));
    assert_true(ms->valuedouble == 1764000000123.0);
    cJSON_Delete(data);

    /* epoch 0 is a valid instant */
    data = parse("{\"approvedAt\":0}");
    assert_int_equal(upcast_to("payment.completed", 1, 2, data, err, sizeof(err)), 0);
    assert_string_equal(str_of(data, "approvedAtTime"), "1970-01-01T00:00:00.000Z");
    cJSON_Delete(data);

    /* an approvedAtTime already there wins */
    data = parse("{\"approvedAt\":0,\"approvedAtTime\":\"2026-01-01T00:00:00Z\"}");
    assert_int_equal(upcast_to("payment.completed", 1, 2, data, err, sizeof(err)), 0);
    assert_string_equal(str_of(data, "approvedAtTime"), "2026-01-01T00:00:00Z");
    cJSON_Delete(data);
}

/* approvedAt missing, negative, fractional, beyond year 9999 or not a number: nothing to derive
 * approvedAtTime from, so it is left out (optional in v2) and the rest is untouched */
static void test_payment_completed_bad_approved_at(void **state)
{
    static const char *const BAD[] = {
        "{}",
        "{\"approvedAt\":-1}",
        "{\"approvedAt\":1.5}",
        "{\"approvedAt\":253402300800000}",
        "{\"approvedAt\":\"1764000000000\"}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        cJSON *data = parse(BAD[i]);
        char err[256] = "";

        assert_int_equal(upcast_to("payment.completed", 1, 2, data, err, sizeof(err)), 0);
        if (cJSON_GetObjectItemCaseSensitive(data, "approvedAtTime"))
            fail_msg("derived approvedAtTime from %s", BAD[i]);
        cJSON_Delete(data);
    }
}

/* from == to is a no-op; a missing step, a downgrade or a non-object are errors */
static void test_chain_errors(void **state)
{
    cJSON *data = parse(ORDER_V1);
    cJSON *arr = parse("[]");
    char err[256] = "";

    (void)state;
    assert_int_equal(upcast_to("order.placed", 2, 2, data, err, sizeof(err)), 0);
    assert_null(cJSON_GetObjectItemCaseSensitive(data, "currency"));
    assert_int_equal(upcast_to("order.placed", 2, 3, data, err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "order.placed v2 → v3: no upcaster");
    assert_int_equal(upcast_to("stock.reserved", 1, 2, data, err, sizeof(err)), -ENOENT);
    assert_int_equal(upcast_to("order.placed", 2, 1, data, err, sizeof(err)), -EINVAL);
    assert_int_equal(upcast_to("order.placed", 1, 2, arr, err, sizeof(err)), -EINVAL);
    assert_int_equal(upcast_to(NULL, 1, 2, data, NULL, 0), -EINVAL);
    assert_null(upcast_find("order.placed", 2));
    assert_null(upcast_find(NULL, 1));
    assert_non_null(upcast_find("payment.completed", 1));
    cJSON_Delete(arr);
    cJSON_Delete(data);
}

/* every type's versions 1..latest are linked by upcasters, and each step targets a version
 * the contracts have */
static void test_every_step_has_an_upcaster(void **state)
{
    struct contracts *c;
    char err[1024];

    (void)state;
    if (contracts_load(repo_contracts(), &c, err, sizeof(err)) < 0)
        fail_msg("contracts: %s", err);
    for (size_t i = 0; i < contracts_ntypes(c); i++) {
        const char *type = contracts_type(c, i);

        for (int v = 1; v < contracts_latest(c, type); v++)
            if (!upcast_find(type, v))
                fail_msg("%s: no upcaster v%d → v%d in common/src/upcast.c", type, v, v + 1);
    }
    for (const struct upcast_step *s = UPCAST_STEPS; s->type; s++)
        if (!contracts_schema(c, s->type, s->from_version + 1))
            fail_msg("upcaster %s v%d has no contract v%d", s->type, s->from_version,
                     s->from_version + 1);
    contracts_free(c);
}

/* a valid v1 payload is a valid v2 payload once upcast */
static void test_upcast_result_is_valid(void **state)
{
    static const struct {
        const char *type, *data;
    } V1[] = {{"order.placed", ORDER_V1}, {"payment.completed", PAYMENT_V1}};
    struct contracts *c;
    char err[1024];

    (void)state;
    if (contracts_load(repo_contracts(), &c, err, sizeof(err)) < 0)
        fail_msg("contracts: %s", err);
    for (size_t i = 0; i < sizeof(V1) / sizeof(V1[0]); i++) {
        cJSON *data = parse(V1[i].data);
        int latest = contracts_latest(c, V1[i].type);

        if (contracts_validate(c, V1[i].type, 1, data, err, sizeof(err)) != 0)
            fail_msg("%s v1 example invalid: %s", V1[i].type, err);
        assert_int_equal(upcast_to(V1[i].type, 1, latest, data, err, sizeof(err)), 0);
        if (contracts_validate(c, V1[i].type, latest, data, err, sizeof(err)) != 0)
            fail_msg("%s upcast to v%d invalid: %s", V1[i].type, latest, err);
        cJSON_Delete(data);
    }
    contracts_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_placed_v1_to_v2),
        cmocka_unit_test(test_order_placed_existing_currency),
        cmocka_unit_test(test_payment_completed_v1_to_v2),
        cmocka_unit_test(test_payment_completed_bad_approved_at),
        cmocka_unit_test(test_chain_errors),
        cmocka_unit_test(test_every_step_has_an_upcaster),
        cmocka_unit_test(test_upcast_result_is_valid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
