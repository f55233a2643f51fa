/*
 * test_coupon.c - coupons' pure rules: creation checks, usability (window, minimum, total and
 * per-user limits), the discount (fixed capped at the total, percent rounded down), codes and
 * RFC 3339 times.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../src/coupon.h"
#include "../src/order.h"

#define NOW 1767225600000LL /* 2026-01-01T00:00:00Z */

static struct coupon fixed(long long amount)
{
    struct coupon c = {.kind = COUPON_FIXED, .value = amount};

    strcpy(c.code, "SPRING-2026");
    return c;
}

static struct coupon percent(long long pct)
{
    struct coupon c = {.kind = COUPON_PERCENT, .value = pct};

    strcpy(c.code, "TEN_PCT");
    return c;
}

static void test_discount_fixed_capped(void **state)
{
    struct coupon c = fixed(3000);

    (void)state;
    assert_int_equal(coupon_discount(&c, 40000), 3000);
    assert_int_equal(coupon_discount(&c, 3000), 3000);
    assert_int_equal(coupon_discount(&c, 2999), 2999); /* never more than the total */
    assert_int_equal(coupon_discount(&c, 1), 1);
    assert_int_equal(coupon_discount(&c, 0), 0);
    c.value = ORDER_MAX_TOTAL;
    assert_int_equal(coupon_discount(&c, ORDER_MAX_TOTAL), ORDER_MAX_TOTAL);
}

static void test_discount_percent_floor(void **state)
{
    struct coupon c = percent(10);

    (void)state;
    assert_int_equal(coupon_discount(&c, 40000), 4000);
    assert_int_equal(coupon_discount(&c, 999), 99); /* 99.9 rounds down */
    assert_int_equal(coupon_discount(&c, 9), 0);
    c.value = 33;
    assert_int_equal(coupon_discount(&c, 1000), 330);
    assert_int_equal(coupon_discount(&c, 1001), 330); /* 330.33 */
    assert_int_equal(coupon_discount(&c, 1003), 330); /* 330.99 */
    c.value = 100;
    assert_int_equal(coupon_discount(&c, 12345), 12345);
    c.value = 1;
    assert_int_equal(coupon_discount(&c, 99), 0);
    assert_int_equal(coupon_discount(&c, ORDER_MAX_TOTAL), ORDER_MAX_TOTAL / 100);
    /* a discount is always a valid order_price() discount: 0..total */
    for (long long pct = 1; pct <= 100; pct++) {
        c.value = pct;
        for (long long total = 0; total < 300; total += 7) {
            long long d = coupon_discount(&c, total);

            assert_true(d >= 0 && d <= total);
            assert_true(d * 100 <= total * pct && (d + 1) * 100 > total * pct);
        }
    }
}

static void test_check_window(void **state)
{
    struct coupon c = fixed(1000);

    (void)state;
    assert_int_equal(coupon_check(&c, NOW, 5000, 0), COUPON_OK); /* no window: always */
    c.valid_from_ms = NOW;
    c.valid_until_ms = NOW + 1000;
    assert_int_equal(coupon_check(&c, NOW - 1, 5000, 0), COUPON_NOT_YET_VALID);
    assert_int_equal(coupon_check(&c, NOW, 5000, 0), COUPON_OK);
    assert_int_equal(coupon_check(&c, NOW + 999, 5000, 0), COUPON_OK);
    assert_int_equal(coupon_check(&c, NOW + 1000, 5000, 0), COUPON_EXPIRED);
    c.valid_from_ms = 0;
    assert_int_equal(coupon_check(&c, 1, 5000, 0), COUPON_OK);
    c.valid_until_ms = 0;
    c.valid_from_ms = NOW;
    assert_int_equal(coupon_check(&c, NOW * 2, 5000, 0), COUPON_OK);
}

static void test_check_minimum_and_limits(void **state)
{
    struct coupon c = fixed(1000);

    (void)state;
    c.min_order = 5000;
    assert_int_equal(coupon_check(&c, NOW, 4999, 0), COUPON_BELOW_MINIMUM);
    assert_int_equal(coupon_check(&c, NOW, 5000, 0), COUPON_OK);
    c.total_limit = 3;
    c.used = 2;
    assert_int_equal(coupon_check(&c, NOW, 5000, 0), COUPON_OK);
    c.used = 3;
    assert_int_equal(coupon_check(&c, NOW, 5000, 0), COUPON_EXHAUSTED);
    c.used = 0;
    c.per_user_limit = 1;
    assert_int_equal(coupon_check(&c, NOW, 5000, 0), COUPON_OK);
    assert_int_equal(coupon_check(&c, NOW, 5000, 1), COUPON_USER_EXHAUSTED);
    c.per_user_limit = 0; /* unlimited per user */
    assert_int_equal(coupon_check(&c, NOW, 5000, 1000), COUPON_OK);
    /* the order of the checks: window, minimum, total, per user */
    c.total_limit = 1;
    c.used = 1;
    c.per_user_limit = 1;
    assert_int_equal(coupon_check(&c, NOW, 5000, 1), COUPON_EXHAUSTED);
    assert_int_equal(coupon_check(&c, NOW, 1, 1), COUPON_BELOW_MINIMUM);
    c.valid_until_ms = NOW;
    assert_int_equal(coupon_check(&c, NOW, 1, 1), COUPON_EXPIRED);
}

static void test_codes(void **state)
{
    (void)state;
    assert_true(coupon_code_valid("ABC"));
    assert_true(coupon_code_valid("SPRING-2026_X"));
    assert_true(coupon_code_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345")); /* 32 */
    assert_false(coupon_code_valid("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"));
    assert_false(coupon_code_valid("AB"));
    assert_false(coupon_code_valid(""));
    assert_false(coupon_code_valid(NULL));
    assert_false(coupon_code_valid("spring"));
    assert_false(coupon_code_valid("SPR ING"));
    assert_false(coupon_code_valid("SPR%3F"));
    assert_false(coupon_code_valid("\xc3\x89TE"));
    assert_string_equal(coupon_verdict_name(COUPON_EXHAUSTED), "EXHAUSTED");
    assert_string_equal(coupon_verdict_name(COUPON_USER_EXHAUSTED), "USER_EXHAUSTED");
    assert_null(coupon_verdict_name(COUPON_OK));
    assert_null(coupon_verdict_name((enum coupon_verdict)99));
}

static bool has_field(const struct coupon_error *errs, size_t n, const char *field)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(errs[i].field, field) == 0)
            return true;
    }
    return false;
}

static void test_validate(void **state)
{
    struct coupon_error errs[8];
    struct coupon c = fixed(1000);
    size_t n;

    (void)state;
    assert_int_equal(coupon_validate(&c, errs, 8), 0);
    c = percent(100);
    c.min_order = 0;
    c.valid_from_ms = NOW;
    c.valid_until_ms = NOW + 1;
    c.total_limit = 1;
    c.per_user_limit = 1;
    assert_int_equal(coupon_validate(&c, errs, 8), 0);

    c = percent(0);
    assert_int_equal(coupon_validate(&c, errs, 8), 1);
    assert_string_equal(errs[0].field, "percent");
    c = percent(101);
    assert_int_equal(coupon_validate(&c, errs, 8), 1);
    c = fixed(0);
    assert_int_equal(coupon_validate(&c, errs, 8), 1);
    assert_string_equal(errs[0].field, "amount");
    c = fixed(-5);
    assert_int_equal(coupon_validate(&c, errs, 8), 1);
    c = fixed(ORDER_MAX_TOTAL + 1);
    assert_int_equal(coupon_validate(&c, errs, 8), 1);

    /* every problem at once */
    c = fixed(0);
    strcpy(c.code, "no");
    c.min_order = -1;
    c.valid_from_ms = NOW;
    c.valid_until_ms = NOW;
    c.total_limit = -1;
    c.per_user_limit = COUPON_LIMIT_MAX + 1;
    n = coupon_validate(&c, errs, 8);
    assert_int_equal(n, 6);
    assert_true(has_field(errs, n, "code"));
    assert_true(has_field(errs, n, "amount"));
    assert_true(has_field(errs, n, "minOrderAmount"));
    assert_true(has_field(errs, n, "validUntil"));
    assert_true(has_field(errs, n, "totalLimit"));
    assert_true(has_field(errs, n, "perUserLimit"));
    /* only @maxerr are written */
    assert_int_equal(coupon_validate(&c, errs, 2), 2);
}

static void test_parse_time(void **state)
{
    long long ms = -1;

    (void)state;
    assert_int_equal(coupon_parse_time("2026-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, NOW);
    assert_int_equal(coupon_parse_time("2026-01-01T09:00:00+09:00", &ms), 0);
    assert_int_equal(ms, NOW);
    assert_int_equal(coupon_parse_time("2025-12-31T23:30:00-00:30", &ms), 0);
    assert_int_equal(ms, NOW);
    assert_int_equal(coupon_parse_time("2026-01-01T00:00:00.123456Z", &ms), 0);
    assert_int_equal(ms, NOW + 123);
    assert_int_equal(coupon_parse_time("2026-01-01t00:00:01.5z", &ms), 0);
    assert_int_equal(ms, NOW + 1500);
    assert_int_equal(coupon_parse_time("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(coupon_parse_time("2024-02-29T12:00:00Z", &ms), 0);
    assert_int_equal(ms, 1709208000000LL);
    assert_int_equal(coupon_parse_time("9999-12-31T23:59:59Z", &ms), 0);
    assert_int_equal(ms, 253402300799000LL);

    ms = 7;
    assert_int_equal(coupon_parse_time("2025-02-29T00:00:00Z", &ms), -EINVAL); /* not leap */
    assert_int_equal(coupon_parse_time("2026-13-01T00:00:00Z", &ms), -EINVAL);
    assert_int_equal(coupon_parse_time("2026-01-00T00:00:00Z", &ms), -EINVAL);
    assert_int_equal(coupon_parse_time("2026-01-01T24:00:00Z", &ms), -EINVAL);
    assert_int_equal(coupon_parse_time("2026-01-01T00:60:00Z", &ms), -EINVAL);
    assert_int_equal(coupon_parse_time("2026-01-01T00:00:00", &ms), -EINVAL); /* no zone */
    assert_int_equal(coupon_parse_time("2026-01-01 00:00:00Z", &ms), -EINVAL);
    assert_int_equal(coupon_parse_time("2026-01-01T00:00:00.Z", &ms), -EINVAL);
    assert_int_equal(coupon_parse_time("2026-01-01T00:00:00Zjunk", &ms), -EINVAL);
    assert_int_equal(coupon_parse_time("2026-01-01T00:00:00+0900", &ms), -EINVAL);
    assert_int_equal(coupon_parse_time("1969-12-31T23:59:59Z", &ms), -EINVAL);
    assert_int_equal(coupon_parse_time("1970-01-01T00:00:00+01:00", &ms), -EINVAL);
    assert_int_equal(coupon_parse_time("2026-01-01", &ms), -EINVAL);
    assert_int_equal(coupon_parse_time("", &ms), -EINVAL);
    assert_int_equal(coupon_parse_time(NULL, &ms), -EINVAL);
    assert_int_equal(ms, 7); /* untouched on failure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discount_fixed_capped),
        cmocka_unit_test(test_discount_percent_floor),
        cmocka_unit_test(test_check_window),
        cmocka_unit_test(test_check_minimum_and_limits),
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_parse_time),
    };

    return cmocka_run_group_tests_name("coupon", tests, NULL, NULL);
}
