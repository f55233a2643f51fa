/*
 * test_worker.c - unit tests of the periodic worker (common/worker.h): the first round runs at
 * once, a kick ends a long wait, the returned delay overrides the period, a stop during a
 * long wait returns promptly, and bad options are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>

#include <cmocka.h>

#include "common/util.h"
#include "common/worker.h"

struct counter {
    atomic_int rounds;
    long next_ms; /* what run returns */
};

static long count_round(struct worker *w, void *arg)
{
    struct counter *c = arg;

    (void)w;
    atomic_fetch_add(&c->rounds, 1);
    return c->next_ms;
}

/* Polls until @c counted at least @n rounds or @ms passed. */
static int wait_rounds(struct counter *c, int n, int64_t ms)
{
    int64_t until = util_now_mono_ms() + ms;

    while (atomic_load(&c->rounds) < n && util_now_mono_ms() < until)
        util_sleep_ms(1);
    return atomic_load(&c->rounds);
}

static void test_first_round_at_once_then_kick(void **state)
{
    struct counter c = {.next_ms = -1};
    struct worker_opts opts = {.name = "t", .period_ms = 3600000, .run = count_round, .arg = &c};
    char err[128];
    struct worker *w;

    (void)state;
    w = worker_start(&opts, err, sizeof(err));
    assert_non_null(w);
    assert_int_equal(wait_rounds(&c, 1, 5000), 1);
    /* the period is an hour: only a kick brings the second round */
    worker_kick(w);
    assert_true(wait_rounds(&c, 2, 5000) >= 2);
    assert_false(worker_stopping(w));
    worker_stop(w); /* returns although the hour-long wait is running */
}

static void test_returned_delay_overrides_period(void **state)
{
    struct counter c = {.next_ms = 0};
    struct worker_opts opts = {.name = "t", .period_ms = 3600000, .run = count_round, .arg = &c};
    char err[128];
    struct worker *w = worker_start(&opts, err, sizeof(err));

    (void)state;
    assert_non_null(w);
    /* run returns 0: rounds follow each other without the hour-long period */
    assert_true(wait_rounds(&c, 50, 5000) >= 50);
    worker_stop(w);
}

static void test_wait_first(void **state)
{
    struct counter c = {.next_ms = -1};
    struct worker_opts opts = {
        .name = "t", .period_ms = 3600000, .run = count_round, .arg = &c, .wait_first = true};
    char err[128];
    struct worker *w = worker_start(&opts, err, sizeof(err));

    (void)state;
    assert_non_null(w);
    worker_stop(w);
    assert_int_equal(atomic_load(&c.rounds), 0);
}

static void test_bad_options(void **state)
{
    struct counter c = {0};
    struct worker_opts no_run = {.name = "t", .period_ms = 10};
    struct worker_opts no_period = {.name = "t", .run = count_round, .arg = &c};
    char err[128];

    (void)state;
    assert_null(worker_start(&no_run, err, sizeof(err)));
    assert_null(worker_start(&no_period, err, sizeof(err)));
    worker_stop(NULL);
    worker_kick(NULL);
}

static void test_deadline(void **state)
{
    struct timespec a = worker_deadline_ms(0), b = worker_deadline_ms(1500);
    long long diff_ms = (b.tv_sec - a.tv_sec) * 1000LL + (b.tv_nsec - a.tv_nsec) / 1000000LL;

    (void)state;
    assert_true(diff_ms >= 1500 && diff_ms < 2500);
    assert_true(b.tv_nsec >= 0 && b.tv_nsec < 1000000000L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_round_at_once_then_kick),
        cmocka_unit_test(test_returned_delay_overrides_period),
        cmocka_unit_test(test_wait_first),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
