/*
 * e2e_saga_load.c - issue 5 under load: a mixed run of orders from several concurrent clients
 * through the public HTTP APIs of the six services (tests/support/saga.h), then
 *
 *   - every order reaches a terminal status (CONFIRMED, CANCELLED, FAILED, PARTIALLY_REFUNDED,
 *     REFUNDED) within a deadline — else the test fails listing the stuck orders;
 *   - each path ends where it must (a declined payment CANCELLED, too much quantity FAILED, …);
 *   - tools/check-invariants exits 0 on the run's stores: stock conservation per SKU and
 *     agreement with the orders, captured − refunded per order, no second capture.
 *
 * Each order takes one path at random (tests/support/saga_paths.h): pay OK, pay declined,
 * cancel before paying, cancel after paying, pay then refund one item, too much quantity, let
 * the payment deadline pass, two concurrent confirms with different keys (one capture at most),
 * or a confirm racing a cancel (either CONFIRMED, or CANCELLED with the money refunded).
 * Knobs (environment): E2E_LOAD_THREADS (6), E2E_LOAD_ORDERS per thread (50),
 * E2E_LOAD_DEADLINE_S order-service's payment deadline (30), E2E_LOAD_SEED (random; printed).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "saga.h"
#include "saga_paths.h"
#include "testsup.h"

#define NPRODUCTS 6
#define STOCK 600
#define TOO_MUCH 1000 /* > STOCK, and the most order-service accepts in one line */
#define STEP_MS 120000
#define CLIENTS_MS 240000 /* the clients stop placing orders after this */
#define SETTLE_MS 180000  /* + the payment deadline: all orders terminal after the clients */
#define CHECK_MS 60000
#define MAX_THREADS 32

struct fixture;

struct client {
    struct fixture *f;
    struct saga_path_client path;
    pthread_t thread;
};

struct fixture {
    struct saga_stack st;
    long long sku[NPRODUCTS];
    int nthreads, per_thread, deadline_s;
    unsigned seed;
    struct timespec start;
    struct client clients[MAX_THREADS];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct saga_opts opts = {.prefix = "e2e_load", .gateway_timeout_ms = 300};
    const char *seed = getenv("E2E_LOAD_SEED");

    if (!f)
        return -1;
    f->nthreads = saga_path_env_int("E2E_LOAD_THREADS", 6, 1, MAX_THREADS);
    f->per_thread = saga_path_env_int("E2E_LOAD_ORDERS", 50, 1, 10000);
    f->deadline_s = saga_path_env_int("E2E_LOAD_DEADLINE_S", 30, 1, 3600);
    f->seed = seed && *seed ? (unsigned)strtoul(seed, NULL, 10) : (unsigned)time(NULL);
    opts.payment_deadline_s = f->deadline_s;
    if (saga_stack_start(&f->st, &opts) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    if (saga_path_products(&f->st, "Load", NPRODUCTS, STOCK, STEP_MS, f->sku) < 0)
        return -1;
    for (int t = 0; t < f->nthreads; t++) {
        struct client *c = &f->clients[t];

        c->f = f;
        c->path = (struct saga_path_client){.st = &f->st,
                                            .skus = f->sku,
                                            .nskus = NPRODUCTS,
                                            .too_much = TOO_MUCH,
                                            .step_ms = STEP_MS,
                                            .seed = f->seed + (unsigned)t * 7919u};
        if (saga_path_client_init(&c->path, "load", f->per_thread) < 0)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(saga_stack_stop(&f->st), 0);
    for (int t = 0; t < f->nthreads; t++)
        saga_path_client_release(&f->clients[t].path);
    free(f);
    return 0;
}

/* ---- one client ---- */

static void *client_main(void *arg)
{
    struct client *c = arg;

    for (int i = 0; i < c->path.norders; i++) {
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - c->f->start.tv_sec) * 1000 > CLIENTS_MS) {
            saga_path_error(&c->path.orders[i], "not placed: the clients' %d s were up",
                            CLIENTS_MS / 1000);
            continue;
        }
        saga_path_run(&c->path, &c->path.orders[i]);
    }
    return NULL;
}

/* ---- the run ---- */

static void test_mixed_load_ends_terminal_with_invariants(void **state)
{
    struct fixture *f = *state;
    static char out[1 << 17];
    int total = f->nthreads * f->per_thread;
    struct saga_path_tally tally = {0};
    struct timespec t0, t1, t2;
    int64_t deadline;
    int rc;

    print_message("load: %d threads x %d orders, payment deadline %d s, seed %u\n", f->nthreads,
                  f->per_thread, f->deadline_s, f->seed);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    f->start = t0;
    for (int t = 0; t < f->nthreads; t++)
        assert_int_equal(pthread_create(&f->clients[t].thread, NULL, client_main, &f->clients[t]),
                         0);
    for (int t = 0; t < f->nthreads; t++)
        pthread_join(f->clients[t].thread, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("load: clients done in %ld s\n", (long)(t1.tv_sec - t0.tv_sec));

    /* every order terminal: one shared deadline for all of them */
    deadline = saga_path_now_ms() + SETTLE_MS + f->deadline_s * 1000;
    for (int t = 0; t < f->nthreads; t++)
        saga_path_settle(&f->clients[t].path, deadline);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    print_message("load: all orders settled %ld s after the clients\n",
                  (long)(t2.tv_sec - t1.tv_sec));

    for (int t = 0; t < f->nthreads; t++)
        saga_path_judge(&tally, &f->clients[t].path, t);
    saga_path_tally_print(&tally, "load");

    rc = saga_check_invariants_until(&f->st, CHECK_MS, out, sizeof(out));
    print_message("%s", out);
    if (tally.pending || tally.errors || tally.wrong || rc != 0)
        fail_msg("load of %d orders: %d not terminal, %d client errors, %d wrong ends, "
                 "check-invariants exit %d (seed %u; lists above)",
                 total, tally.pending, tally.errors, tally.wrong, rc, f->seed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_load_ends_terminal_with_invariants),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
