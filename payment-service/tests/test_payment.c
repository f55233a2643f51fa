/* test_payment.c - payment domain rules: status machine, refund arithmetic, gateway simulator
 * (no I/O). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../src/payment.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_status_names_round_trip(void **state)
{
    enum payment_status all[] = {PAYMENT_READY, PAYMENT_APPROVED, PAYMENT_FAILED, PAYMENT_CANCELED,
                                 PAYMENT_PARTIAL_CANCELED};
    enum payment_status got;

    (void)state;
    for (size_t i = 0; i < N(all); i++) {
        assert_int_equal(payment_status_parse(payment_status_name(all[i]), &got), 0);
        assert_int_equal(got, all[i]);
    }
    assert_int_equal(payment_status_parse("PAID", &got), -EINVAL);
    assert_int_equal(payment_status_parse(NULL, &got), -EINVAL);
    assert_string_equal(payment_status_name((enum payment_status)42), "UNKNOWN");
}

static void test_confirm_checks(void **state)
{
    static const struct {
        enum payment_status status;
        long long amount, asked;
        enum payment_outcome want;
    } cases[] = {
        {PAYMENT_READY, 1000, 1000, PAYMENT_OK},
        {PAYMENT_READY, 1000, 999, PAYMENT_AMOUNT_MISMATCH},
        {PAYMENT_READY, 1000, 1001, PAYMENT_AMOUNT_MISMATCH},
        {PAYMENT_APPROVED, 1000, 1000, PAYMENT_NOT_READY},
        {PAYMENT_FAILED, 1000, 1000, PAYMENT_NOT_READY},
        {PAYMENT_CANCELED, 1000, 5, PAYMENT_NOT_READY}, /* status before amount */
        {PAYMENT_PARTIAL_CANCELED, 1000, 1000, PAYMENT_NOT_READY},
    };

    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        struct payment p = {.status = cases[i].status, .amount = cases[i].amount};
        assert_int_equal(payment_check_confirm(&p, cases[i].asked), cases[i].want);
    }
}

static void test_complete_only_from_ready(void **state)
{
    static const struct {
        enum payment_status from;
        int approved;
        enum payment_outcome want;
        enum payment_status to;
    } cases[] = {
        {PAYMENT_READY, 1, PAYMENT_OK, PAYMENT_APPROVED},
        {PAYMENT_READY, 0, PAYMENT_OK, PAYMENT_FAILED},
        {PAYMENT_APPROVED, 1, PAYMENT_NOT_READY, PAYMENT_APPROVED}, /* no second capture */
        {PAYMENT_CANCELED, 1, PAYMENT_NOT_READY, PAYMENT_CANCELED},
        {PAYMENT_FAILED, 1, PAYMENT_NOT_READY, PAYMENT_FAILED},
        {PAYMENT_PARTIAL_CANCELED, 0, PAYMENT_NOT_READY, PAYMENT_PARTIAL_CANCELED},
    };

    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        struct payment p = {.status = cases[i].from, .amount = 500};
        assert_int_equal(payment_complete(&p, cases[i].approved), cases[i].want);
        assert_int_equal(p.status, cases[i].to);
    }
}

static void test_cancel_in_every_status(void **state)
{
    static const struct {
        enum payment_status from;
        long long refunded;
        enum payment_outcome want;
        enum payment_status to;
        long long refund;
    } cases[] = {
        {PAYMENT_READY, 0, PAYMENT_OK, PAYMENT_CANCELED, 0},
        {PAYMENT_APPROVED, 0, PAYMENT_OK, PAYMENT_CANCELED, 10000},
        {PAYMENT_PARTIAL_CANCELED, 3000, PAYMENT_OK, PAYMENT_CANCELED, 7000},
        {PAYMENT_FAILED, 0, PAYMENT_NOOP, PAYMENT_FAILED, 0},
        {PAYMENT_CANCELED, 10000, PAYMENT_NOOP, PAYMENT_CANCELED, 0},
        {PAYMENT_CANCELED, 0, PAYMENT_NOOP, PAYMENT_CANCELED, 0},
    };

    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        struct payment p = {
            .status = cases[i].from, .amount = 10000, .refunded = cases[i].refunded};
        long long refund = -1;

        assert_int_equal(payment_cancel(&p, &refund), cases[i].want);
        assert_int_equal(p.status, cases[i].to);
        assert_int_equal(refund, cases[i].refund);
        assert_int_equal(p.refunded, cases[i].refunded + cases[i].refund);
        assert_true(p.refunded <= p.amount);
    }
}

static void test_partial_refund_arithmetic(void **state)
{
    static const struct {
        enum payment_status from;
        long long refunded, asked;
        enum payment_outcome want;
        enum payment_status to;
        long long refund;
    } cases[] = {
        {PAYMENT_APPROVED, 0, 4000, PAYMENT_OK, PAYMENT_PARTIAL_CANCELED, 4000},
        {PAYMENT_APPROVED, 0, 10000, PAYMENT_OK, PAYMENT_CANCELED, 10000},
        {PAYMENT_PARTIAL_CANCELED, 4000, 6000, PAYMENT_OK, PAYMENT_CANCELED, 6000},
        {PAYMENT_PARTIAL_CANCELED, 4000, 1, PAYMENT_OK, PAYMENT_PARTIAL_CANCELED, 1},
        /* never more than captured − refunded */
        {PAYMENT_PARTIAL_CANCELED, 4000, 9000, PAYMENT_OK, PAYMENT_CANCELED, 6000},
        {PAYMENT_APPROVED, 0, 20000, PAYMENT_OK, PAYMENT_CANCELED, 10000},
        /* nothing captured: nothing to refund */
        {PAYMENT_READY, 0, 4000, PAYMENT_NOOP, PAYMENT_READY, 0},
        {PAYMENT_FAILED, 0, 4000, PAYMENT_NOOP, PAYMENT_FAILED, 0},
        {PAYMENT_CANCELED, 10000, 1, PAYMENT_NOOP, PAYMENT_CANCELED, 0},
        {PAYMENT_APPROVED, 0, 0, PAYMENT_INVALID, PAYMENT_APPROVED, 0},
        {PAYMENT_APPROVED, 0, -5, PAYMENT_INVALID, PAYMENT_APPROVED, 0},
    };

    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        struct payment p = {
            .status = cases[i].from, .amount = 10000, .refunded = cases[i].refunded};
        long long refund = -1;

        assert_int_equal(payment_refund(&p, cases[i].asked, &refund), cases[i].want);
        assert_int_equal(p.status, cases[i].to);
        assert_int_equal(refund, cases[i].refund);
        assert_int_equal(p.refunded, cases[i].refunded + cases[i].refund);
    }
}

static void test_remaining(void **state)
{
    struct payment ready = {PAYMENT_READY, 100, 0}, ok = {PAYMENT_APPROVED, 100, 0},
                   part = {PAYMENT_PARTIAL_CANCELED, 100, 30}, gone = {PAYMENT_CANCELED, 100, 100};

    (void)state;
    assert_int_equal(payment_remaining(&ready), 0);
    assert_int_equal(payment_remaining(&ok), 100);
    assert_int_equal(payment_remaining(&part), 70);
    assert_int_equal(payment_remaining(&gone), 0);
}

static void test_gateway_simulator(void **state)
{
    static const struct {
        const char *key;
        long long timeout_ms;
        enum payment_gateway_result result;
        const char *reason;
        long long delay_ms;
    } cases[] = {
        {"fail_card_limit", 3000, PAYMENT_GATEWAY_DECLINED, "DECLINED_CARD_LIMIT", 0},
        {"fail_INSUFFICIENT", 3000, PAYMENT_GATEWAY_DECLINED, "DECLINED_INSUFFICIENT", 0},
        {"fail_a-b c", 3000, PAYMENT_GATEWAY_DECLINED, "DECLINED_A_B_C", 0},
        {"fail_", 3000, PAYMENT_GATEWAY_DECLINED, "DECLINED_UNKNOWN", 0},
        {"fail_0123456789012345678901234567890123456789", 3000, PAYMENT_GATEWAY_DECLINED,
         "DECLINED_01234567890123456789012345678901", 0},
        {"slow_x", 300, PAYMENT_GATEWAY_TIMEOUT, "GATEWAY_TIMEOUT", 400},
        {"slow_", 3000, PAYMENT_GATEWAY_TIMEOUT, "GATEWAY_TIMEOUT", PAYMENT_SLOW_WAIT_CAP_MS},
        {"tok_123", 3000, PAYMENT_GATEWAY_APPROVED, "", 0},
        {"FAIL_upper_is_not_a_decline", 3000, PAYMENT_GATEWAY_APPROVED, "", 0},
    };

    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        struct payment_gateway_decision d;

        payment_gateway_decide(cases[i].key, cases[i].timeout_ms, &d);
        assert_int_equal(d.result, cases[i].result);
        assert_string_equal(d.reason, cases[i].reason);
        assert_int_equal(d.delay_ms, cases[i].delay_ms);
        if (d.result == PAYMENT_GATEWAY_APPROVED) {
            assert_int_equal(strlen(d.pg_tx_id), 19);
            assert_memory_equal(d.pg_tx_id, "pg_", 3);
        } else {
            assert_string_equal(d.pg_tx_id, "");
        }
    }
}

static void test_pg_id_is_deterministic_sha256(void **state)
{
    struct payment_gateway_decision a, b, c;
    char id[PAYMENT_PG_ID_MAX];

    (void)state;
    payment_gateway_decide("tok_same", 3000, &a);
    payment_gateway_decide("tok_same", 3000, &b);
    payment_gateway_decide("tok_other", 3000, &c);
    assert_string_equal(a.pg_tx_id, b.pg_tx_id);
    assert_string_not_equal(a.pg_tx_id, c.pg_tx_id);
    /* sha256("abc") = ba7816bf8f01cfea… */
    payment_pg_id("abc", id, sizeof(id));
    assert_string_equal(id, "pg_ba7816bf8f01cfea");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names_round_trip),
        cmocka_unit_test(test_confirm_checks),
        cmocka_unit_test(test_complete_only_from_ready),
        cmocka_unit_test(test_cancel_in_every_status),
        cmocka_unit_test(test_partial_refund_arithmetic),
        cmocka_unit_test(test_remaining),
        cmocka_unit_test(test_gateway_simulator),
        cmocka_unit_test(test_pg_id_is_deterministic_sha256),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
