/*
 * test_confirm_wait.c - the waiting room of confirms ahead of their payment (confirm_wait.h):
 * the cap on waiters, and the wake-up by a payment made (no lost wake-up between a look at the
 * database and the wait).
 */
#include <pthread.h>
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

/* A payment made between the look and the wait: the wait returns at once. */
static void test_made_before_the_sleep_is_not_lost(void **state)
{
    struct pay_wait w;
    unsigned long gen;

    (void)state;
    assert_int_equal(pay_wait_init(&w, 1), 0);
    gen = pay_wait_gen(&w);
    pay_wait_notify(&w);
    pay_wait_sleep(&w, gen, 3600 * 1000); /* would hang for an hour if the notify were lost */
    assert_int_not_equal(pay_wait_gen(&w), gen);
    pay_wait_release(&w);
}

struct sleeper {
    struct pay_wait *w;
    unsigned long gen;
    unsigned long woke_gen;
};

static void *sleeper_main(void *arg)
{
    struct sleeper *s = arg;

    pay_wait_sleep(s->w, s->gen, 3600 * 1000);
    s->woke_gen = pay_wait_gen(s->w);
    pay_wait_leave(s->w);
    return NULL;
}

/* A waiter asleep is woken by the notify of a payment made. */
static void test_notify_wakes_a_waiter(void **state)
{
    struct pay_wait w;
    struct sleeper s = {.w = &w};
    pthread_t th;

    (void)state;
    assert_int_equal(pay_wait_init(&w, 1), 0);
    assert_true(pay_wait_enter(&w));
    s.gen = pay_wait_gen(&w);
    assert_int_equal(pthread_create(&th, NULL, sleeper_main, &s), 0);
    pay_wait_notify(&w); /* before or during its sleep: both must end it */
    pthread_join(th, NULL);
    assert_int_equal(s.woke_gen, s.gen + 1);
    assert_int_equal(pay_wait_count(&w), 0);
    pay_wait_release(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waiters_are_capped),
        cmocka_unit_test(test_made_before_the_sleep_is_not_lost),
        cmocka_unit_test(test_notify_wakes_a_waiter),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
