/* test_stock.c - inventory's pure domain: merging lines, the invariant, script statuses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../src/stock.h"

static void test_merge_keeps_first_order_and_adds(void **state)
{
    struct stock_line l[] = {{7, 1}, {3, 2}, {7, 4}, {9, 1}, {3, 1}};
    size_t n = 0;

    (void)state;
    assert_int_equal(stock_merge_lines(l, 5, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(l[0].sku_id, 7);
    assert_int_equal(l[0].quantity, 5);
    assert_int_equal(l[1].sku_id, 3);
    assert_int_equal(l[1].quantity, 3);
    assert_int_equal(l[2].sku_id, 9);
    assert_int_equal(l[2].quantity, 1);
}

static void test_merge_refuses_bad_lines(void **state)
{
    struct stock_line zero[] = {{1, 0}};
    struct stock_line neg[] = {{1, -3}};
    struct stock_line nosku[] = {{0, 1}};
    struct stock_line big[] = {{1, STOCK_MAX_QUANTITY}, {1, 1}};
    struct stock_line edge[] = {{1, STOCK_MAX_QUANTITY - 1}, {1, 1}};
    size_t n = 42;

    (void)state;
    assert_int_equal(stock_merge_lines(zero, 1, &n), -EINVAL);
    assert_int_equal(stock_merge_lines(neg, 1, &n), -EINVAL);
    assert_int_equal(stock_merge_lines(nosku, 1, &n), -EINVAL);
    assert_int_equal(stock_merge_lines(big, 2, &n), -EINVAL);
    assert_int_equal(n, 42); /* untouched on failure */
    assert_int_equal(stock_merge_lines(edge, 2, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(edge[0].quantity, STOCK_MAX_QUANTITY);
    assert_int_equal(stock_merge_lines(edge, 0, &n), 0);
    assert_int_equal(n, 0);
}

static void test_invariant(void **state)
{
    /* received − sold + returned = available + reserved */
    struct stock_counters ok = {
        .available = 4, .reserved = 3, .sold = 5, .returned = 2, .received = 10};
    struct stock_counters fresh = {0};
    struct stock_counters leak = ok, negative = ok;

    (void)state;
    assert_true(stock_invariant_ok(&ok));
    assert_true(stock_invariant_ok(&fresh));
    leak.available++;
    assert_false(stock_invariant_ok(&leak));
    negative.available = -1;
    negative.reserved = 8;
    assert_false(stock_invariant_ok(&negative));
}

static void test_outcomes(void **state)
{
    enum stock_outcome o;

    (void)state;
    assert_int_equal(stock_outcome_parse("RESERVED", &o), 0);
    assert_int_equal(o, STOCK_RESERVED);
    assert_string_equal(stock_outcome_event(o), "stock.reserved");
    assert_false(stock_outcome_refused(o));
    assert_int_equal(stock_outcome_parse("NOT_ENOUGH_STOCK", &o), 0);
    assert_string_equal(stock_outcome_event(o), "stock.reservation.failed");
    assert_true(stock_outcome_refused(o));
    assert_int_equal(stock_outcome_parse("SKU_NOT_FOUND", &o), 0);
    assert_string_equal(stock_outcome_event(o), "stock.reservation.failed");
    assert_int_equal(stock_outcome_parse("SKU_PENDING", &o), 0);
    assert_int_equal(o, STOCK_SKU_PENDING);
    assert_null(stock_outcome_event(o)); /* waits: publishes nothing */
    assert_int_equal(stock_outcome_parse("NO_RESERVATION", &o), 0);
    assert_string_equal(stock_outcome_event(o), "stock.confirm.failed");
    assert_int_equal(stock_outcome_parse("RESERVATION_RELEASED", &o), 0);
    assert_string_equal(stock_outcome_event(o), "stock.confirm.failed");
    assert_int_equal(stock_outcome_parse("CONFIRMED", &o), 0);
    assert_string_equal(stock_outcome_event(o), "stock.confirmed");
    assert_int_equal(stock_outcome_parse("RELEASED", &o), 0);
    assert_string_equal(stock_outcome_event(o), "stock.released");
    assert_int_equal(stock_outcome_parse("NOTHING_TO_RELEASE", &o), 0);
    assert_null(stock_outcome_event(o));
    assert_int_equal(stock_outcome_parse("RETURNED", &o), 0);
    assert_null(stock_outcome_event(o));
    assert_int_equal(stock_outcome_parse("INITIALISED", &o), 0);
    assert_null(stock_outcome_event(o));
    assert_int_equal(stock_outcome_parse("EXISTS", &o), 0);
    assert_int_equal(stock_outcome_parse("BOGUS", &o), -EINVAL);
}

static void test_wait_unknown(void **state)
{
    (void)state;
    /* INVENTORY_UNKNOWN_SKU_ATTEMPTS=5 (default), CONSUMER_MAX_ATTEMPTS=8: deliveries 1-4
     * wait, the 5th decides */
    assert_true(stock_wait_unknown(1, 5, 8));
    assert_true(stock_wait_unknown(4, 5, 8));
    assert_false(stock_wait_unknown(5, 5, 8));
    assert_false(stock_wait_unknown(6, 5, 8));
    /* 1: the first delivery decides */
    assert_false(stock_wait_unknown(1, 1, 8));
    /* never up to the dead-letter topic: the consumer's last attempt decides */
    assert_true(stock_wait_unknown(2, 100, 3));
    assert_false(stock_wait_unknown(3, 100, 3));
    assert_false(stock_wait_unknown(1, 5, 1));
}

static void test_adjust_statuses(void **state)
{
    enum stock_adjust a;

    (void)state;
    assert_int_equal(stock_adjust_parse("OK", &a), 0);
    assert_int_equal(a, STOCK_ADJUST_OK);
    assert_int_equal(stock_adjust_parse("SKU_NOT_FOUND", &a), 0);
    assert_int_equal(a, STOCK_ADJUST_SKU_NOT_FOUND);
    assert_int_equal(stock_adjust_parse("NOT_ENOUGH_STOCK", &a), 0);
    assert_int_equal(a, STOCK_ADJUST_NOT_ENOUGH);
    assert_int_equal(stock_adjust_parse("REPLAYED", &a), 0);
    assert_int_equal(a, STOCK_ADJUST_REPLAYED);
    assert_int_equal(stock_adjust_parse("KEY_REUSED", &a), 0);
    assert_int_equal(a, STOCK_ADJUST_KEY_REUSED);
    assert_int_equal(stock_adjust_parse("", &a), -EINVAL);
}

static void test_adjust_fingerprint(void **state)
{
    struct stock_line lines[STOCK_MAX_LINES];
    char fp[STOCK_FINGERPRINT_MAX], other[STOCK_FINGERPRINT_MAX], small[8];

    (void)state;
    lines[0] = (struct stock_line){7, 5};
    lines[1] = (struct stock_line){9, 2};
    assert_int_equal(stock_adjust_fingerprint(1, lines, 2, fp, sizeof(fp)), 0);
    assert_string_equal(fp, "+7x5,9x2");
    /* the direction and every number tell requests apart */
    assert_int_equal(stock_adjust_fingerprint(-1, lines, 2, other, sizeof(other)), 0);
    assert_string_equal(other, "-7x5,9x2");
    lines[1].quantity = 3;
    assert_int_equal(stock_adjust_fingerprint(1, lines, 2, other, sizeof(other)), 0);
    assert_string_not_equal(fp, other);
    assert_int_equal(stock_adjust_fingerprint(1, lines, 2, small, sizeof(small)), -ENOSPC);
    /* the largest request fits the documented room */
    for (size_t i = 0; i < STOCK_MAX_LINES; i++)
        lines[i] = (struct stock_line){INT64_MAX - (long long)i, STOCK_MAX_QUANTITY};
    assert_int_equal(stock_adjust_fingerprint(-1, lines, STOCK_MAX_LINES, fp, sizeof(fp)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_keeps_first_order_and_adds),
        cmocka_unit_test(test_merge_refuses_bad_lines),
        cmocka_unit_test(test_invariant),
        cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_wait_unknown),
        cmocka_unit_test(test_adjust_statuses),
        cmocka_unit_test(test_adjust_fingerprint),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
