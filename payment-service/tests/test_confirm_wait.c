/*
 * test_confirm_wait.c - the waiting room of confirms ahead of their payment (confirm_wait.h):
 * the cap on waiters, and the count of payments made whose notify wakes the parked confirms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../src/confirm_wait.h"

static void test_waiters_are_capped(void **state)
{
    struct pay_wait w;

    (void)state;
    assert_int_equal(pay_wait_init(&w, 2), 0);
    assert_true(pay_wait_enter(&w));
    assert_true(pay_wait_enter(&w));
    assert_false(pay_wait_enter(&w)); /* the third is refused: answered at once */
    assert_int_equal(pay_wait_count(&w), 2);
    pay_wait_leave(&w);
    assert_true(pay_wait_enter(&w)); /* a place given back can be taken again */
    pay_wait_leave(&w);
    pay_wait_leave(&w);
    assert_int_equal(pay_wait_count(&w), 0);
    pay_wait_release(&w);

    assert_int_equal(pay_wait_init(&w, 0), 0);
    assert_false(pay_wait_enter(&w)); /* PAYMENT_CONFIRM_MAX_WAITERS=0: nobody waits */
    pay_wait_release(&w);
}

/* A payment made counts in the generation (parked confirms are woken by its bell: the park
 * and the ring are tested in common/tests/test_http.c). */
static void test_notify_counts_payments_made(void **state)
{
    struct pay_wait w;
    unsigned long gen;

    (void)state;
    assert_int_equal(pay_wait_init(&w, 1), 0);
    assert_non_null(w.bell);
    gen = pay_wait_gen(&w);
    pay_wait_notify(&w); /* rings a bell nobody is parked on: nothing else happens */
    assert_int_equal(pay_wait_gen(&w), gen + 1);
    assert_int_equal(pay_wait_count(&w), 0);
    pay_wait_release(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waiters_are_capped),
        cmocka_unit_test(test_notify_counts_payments_made),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
