/*
 * test_metrics.c - the Prometheus registry: exact text format, escaping, histograms, gauges,
 * registration rules and thread safety.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/metrics.h"

static int reset(void **state)
{
    (void)state;
    metrics_reset();
    return 0;
}

static void assert_render(const char *want)
{
    char *text = metrics_render();

    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
}

static void test_counter_without_labels_starts_at_zero(void **state)
{
    (void)state;
    assert_int_equal(metrics_counter("test_jobs_total", "Jobs done.", ""), 0);
    assert_render("# HELP test_jobs_total Jobs done.\n"
                  "# TYPE test_jobs_total counter\n"
                  "test_jobs_total 0\n");
    metrics_inc("test_jobs_total", NULL, 1);
    metrics_inc("test_jobs_total", NULL, 2.5);
    metrics_inc("test_jobs_total", NULL, -1); /* counters never go down: ignored */
    assert_render("# HELP test_jobs_total Jobs done.\n"
                  "# TYPE test_jobs_total counter\n"
                  "test_jobs_total 3.5\n");
}

static void test_labels_are_escaped_and_series_kept_in_order(void **state)
{
    (void)state;
    assert_int_equal(metrics_counter("test_req_total", "Help with \\ and\nnewline.", "a,b"), 0);
    metrics_inc("test_req_total", (const char *const[]){"x", "y"}, 1);
    metrics_inc("test_req_total", (const char *const[]){"q\"uote", "back\\slash\nnl"}, 1);
    metrics_inc("test_req_total", (const char *const[]){"x", "y"}, 1);
    assert_render("# HELP test_req_total Help with \\\\ and\\nnewline.\n"
                  "# TYPE test_req_total counter\n"
                  "test_req_total{a=\"x\",b=\"y\"} 2\n"
                  "test_req_total{a=\"q\\\"uote\",b=\"back\\\\slash\\nnl\"} 1\n");
}

static void test_histogram_exact_text(void **state)
{
    static const double buckets[] = {0.25, 0.5, 1};

    (void)state;
    assert_int_equal(metrics_histogram("test_latency_seconds", "Latency.", "op", buckets, 3), 0);
    /* le is inclusive: 0.5 lands in the 0.5 bucket; 3 only in +Inf */
    metrics_observe("test_latency_seconds", (const char *const[]){"read"}, 0.125);
    metrics_observe("test_latency_seconds", (const char *const[]){"read"}, 0.5);
    metrics_observe("test_latency_seconds", (const char *const[]){"read"}, 0.75);
    metrics_observe("test_latency_seconds", (const char *const[]){"read"}, 3);
    assert_render("# HELP test_latency_seconds Latency.\n"
                  "# TYPE test_latency_seconds histogram\n"
                  "test_latency_seconds_bucket{op=\"read\",le=\"0.25\"} 1\n"
                  "test_latency_seconds_bucket{op=\"read\",le=\"0.5\"} 2\n"
                  "test_latency_seconds_bucket{op=\"read\",le=\"1\"} 3\n"
                  "test_latency_seconds_bucket{op=\"read\",le=\"+Inf\"} 4\n"
                  "test_latency_seconds_sum{op=\"read\"} 4.375\n"
                  "test_latency_seconds_count{op=\"read\"} 4\n");
}

static void test_histogram_without_labels_and_default_buckets(void **state)
{
    char *text;

    (void)state;
    assert_int_equal(metrics_histogram("test_wait_seconds", "Wait.", "", METRICS_LATENCY_BUCKETS,
                                       METRICS_LATENCY_NBUCKETS),
                     0);
    metrics_observe("test_wait_seconds", NULL, 0.007);
    text = metrics_render();
    assert_non_null(text);
    assert_non_null(strstr(text, "test_wait_seconds_bucket{le=\"0.005\"} 0\n"
                                 "test_wait_seconds_bucket{le=\"0.01\"} 1\n"));
    assert_non_null(strstr(text, "test_wait_seconds_bucket{le=\"10\"} 1\n"
                                 "test_wait_seconds_bucket{le=\"+Inf\"} 1\n"
                                 "test_wait_seconds_sum 0.007\n"
                                 "test_wait_seconds_count 1\n"));
    free(text);
}

static double read_fn(void *arg)
{
    return *(double *)arg;
}

static void test_gauges(void **state)
{
    double depth = 7;

    (void)state;
    assert_int_equal(metrics_gauge("test_pool_size", "Pool size.", "pool"), 0);
    assert_int_equal(metrics_gauge_fn("test_queue_depth", "Queue depth.", read_fn, &depth), 0);
    metrics_set("test_pool_size", (const char *const[]){"db"}, 8);
    metrics_inc("test_pool_size", (const char *const[]){"db"}, -3); /* gauges may go down */
    assert_render("# HELP test_pool_size Pool size.\n"
                  "# TYPE test_pool_size gauge\n"
                  "test_pool_size{pool=\"db\"} 5\n"
                  "# HELP test_queue_depth Queue depth.\n"
                  "# TYPE test_queue_depth gauge\n"
                  "test_queue_depth 7\n");
    depth = 0.1; /* read at render time */
    char *text = metrics_render();
    assert_non_null(strstr(text, "test_queue_depth 0.1\n"));
    free(text);
    metrics_reset(); /* before @depth goes out of scope */
}

static void test_registration_rules(void **state)
{
    static const double bad_buckets[] = {1, 0.5};

    (void)state;
    assert_int_equal(metrics_counter("1bad", "x", ""), -EINVAL);
    assert_int_equal(metrics_counter("bad-name", "x", ""), -EINVAL);
    assert_int_equal(metrics_counter("test_ok_total", "x", "bad-label"), -EINVAL);
    assert_int_equal(metrics_counter("test_ok_total", "x", "__reserved"), -EINVAL);
    assert_int_equal(metrics_counter("test_ok_total", "x", "a,a"), -EINVAL);
    assert_int_equal(metrics_histogram("test_h", "x", "le", NULL, 0), -EINVAL);
    assert_int_equal(metrics_histogram("test_h", "x", "", bad_buckets, 2), -EINVAL);

    assert_int_equal(metrics_counter("test_ok_total", "x", "a"), 0);
    metrics_inc("test_ok_total", (const char *const[]){"v"}, 1);
    /* same name again: no-op, the series survive; another kind: refused */
    assert_int_equal(metrics_counter("test_ok_total", "other help", "a"), 0);
    assert_int_equal(metrics_gauge("test_ok_total", "x", "a"), -EINVAL);
    /* wrong operations and unknown names are ignored */
    metrics_set("test_ok_total", (const char *const[]){"v"}, 100);
    metrics_observe("test_ok_total", (const char *const[]){"v"}, 100);
    metrics_inc("test_ok_total", NULL, 1);
    metrics_inc("test_unknown_total", NULL, 1);
    assert_render("# HELP test_ok_total x\n"
                  "# TYPE test_ok_total counter\n"
                  "test_ok_total{a=\"v\"} 1\n");
    metrics_reset();
    assert_render("");
}

#define NTHREADS 8
#define NINCS 5000

static void *inc_thread(void *arg)
{
    const char *label = arg;

    for (int i = 0; i < NINCS; i++) {
        metrics_inc("test_race_total", (const char *const[]){label}, 1);
        metrics_observe("test_race_seconds", NULL, 0.001);
    }
    return NULL;
}

static void test_concurrent_updates_are_not_lost(void **state)
{
    pthread_t threads[NTHREADS];
    char want[128];
    char *text;

    (void)state;
    assert_int_equal(metrics_counter("test_race_total", "x", "t"), 0);
    assert_int_equal(metrics_histogram("test_race_seconds", "x", "", METRICS_LATENCY_BUCKETS,
                                       METRICS_LATENCY_NBUCKETS),
                     0);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, inc_thread, i % 2 ? "odd" : "even"), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(threads[i], NULL);
    text = metrics_render();
    snprintf(want, sizeof(want), "test_race_total{t=\"even\"} %d\n", NTHREADS / 2 * NINCS);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "test_race_total{t=\"odd\"} %d\n", NTHREADS / 2 * NINCS);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "test_race_seconds_count %d\n", NTHREADS * NINCS);
    assert_non_null(strstr(text, want));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counter_without_labels_starts_at_zero, reset, reset),
        cmocka_unit_test_setup_teardown(test_labels_are_escaped_and_series_kept_in_order, reset,
                                        reset),
        cmocka_unit_test_setup_teardown(test_histogram_exact_text, reset, reset),
        cmocka_unit_test_setup_teardown(test_histogram_without_labels_and_default_buckets, reset,
                                        reset),
        cmocka_unit_test_setup_teardown(test_gauges, reset, reset),
        cmocka_unit_test_setup_teardown(test_registration_rules, reset, reset),
        cmocka_unit_test_setup_teardown(test_concurrent_updates_are_not_lost, reset, reset),
    };

    log_init("test_metrics", LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
