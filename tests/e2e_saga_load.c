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
 * Each order takes one path at random: pay OK, pay declined, cancel before paying, cancel
 * after paying, pay then refund one item, too much quantity, let the payment deadline pass,
 * two concurrent confirms with different keys (one capture at most), or a confirm racing a
 * cancel (either CONFIRMED, or CANCELLED with the money refunded).
 * Knobs (environment): E2E_LOAD_THREADS (6), E2E_LOAD_ORDERS per thread (50),
 * E2E_LOAD_DEADLINE_S order-service's payment deadline (30), E2E_LOAD_SEED (random; printed).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "saga.h"
#include "testsup.h"

#define NPRODUCTS 6
#define STOCK 600
#define TOO_MUCH 1000 /* > STOCK, and the most order-service accepts in one line */
#define STEP_MS 120000
#define CLIENTS_MS 240000 /* the clients stop placing orders after this */
#define SETTLE_MS 180000  /* + the payment deadline: all orders terminal after the clients */
#define CHECK_MS 60000
#define MAX_THREADS 32

enum path {
    P_PAY_OK,
    P_DECLINED,
    P_CANCEL_BEFORE,
    P_CANCEL_AFTER,
    P_REFUND,
    P_TOO_MUCH,
    P_TIMEOUT,
    P_DOUBLE_PAY,
    P_PAY_CANCEL_RACE,
    NPATHS
};

static const char *const path_names[NPATHS] = {"pay-ok",       "declined",   "cancel-before",
                                               "cancel-after", "refund-one", "too-much",
                                               "timeout",      "double-pay", "pay-cancel-race"};

struct load_order {
    enum path path;
    char id[64];
    long place_status;
    long pay_status;
    long pay2_status;   /* the second, concurrent confirm (double-pay) */
    long action_status; /* cancel or refund */
    char final[32];
    char reason[48];
    char error[160];
};

struct fixture;

struct client {
    struct fixture *f;
    struct saga_user user;
    unsigned seed;
    int norders;
    struct load_order *orders;
    pthread_t thread;
};

struct fixture {
    struct saga_stack st;
    long long sku[NPRODUCTS];
    long long price[NPRODUCTS];
    int nthreads, per_thread, deadline_s;
    unsigned seed;
    struct timespec start;
    struct client clients[MAX_THREADS];
};

static int env_int(const char *name, int def, int min, int max)
{
    const char *v = getenv(name);
    int n = v && *v ? atoi(v) : def;

    return n < min ? min : n > max ? max : n;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct saga_opts opts = {.prefix = "e2e_load", .gateway_timeout_ms = 300};
    long long cat;
    char name[64];
    const char *seed = getenv("E2E_LOAD_SEED");

    if (!f)
        return -1;
    f->nthreads = env_int("E2E_LOAD_THREADS", 6, 1, MAX_THREADS);
    f->per_thread = env_int("E2E_LOAD_ORDERS", 50, 1, 10000);
    f->deadline_s = env_int("E2E_LOAD_DEADLINE_S", 30, 1, 3600);
    f->seed = seed && *seed ? (unsigned)strtoul(seed, NULL, 10) : (unsigned)time(NULL);
    opts.payment_deadline_s = f->deadline_s;
    if (saga_stack_start(&f->st, &opts) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    ts_unique("Load", name, sizeof(name));
    if (saga_category_new(&f->st, name, &cat) < 0)
        return -1;
    for (int i = 0; i < NPRODUCTS; i++) {
        f->price[i] = 1000 + 700 * i;
        snprintf(name, sizeof(name), "Load product %d", i);
        if (saga_product_new(&f->st, cat, name, f->price[i], STOCK, &f->sku[i]) < 0)
            return -1;
    }
    for (int i = 0; i < NPRODUCTS; i++) {
        if (saga_stock_wait(&f->st, f->sku[i], STEP_MS) < 0)
            return -1;
    }
    for (int t = 0; t < f->nthreads; t++) {
        struct client *c = &f->clients[t];

        c->f = f;
        c->seed = f->seed + (unsigned)t * 7919u;
        c->norders = f->per_thread;
        c->orders = calloc((size_t)c->norders, sizeof(*c->orders));
        if (!c->orders || saga_user_new(&f->st, "load", &c->user) < 0)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(saga_stack_stop(&f->st), 0);
    for (int t = 0; t < f->nthreads; t++)
        free(f->clients[t].orders);
    free(f);
    return 0;
}

/* ---- one client ---- */

static void order_error(struct load_order *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void order_error(struct load_order *o, const char *fmt, ...)
{
    va_list ap;

    if (o->error[0])
        return; /* the first error is the interesting one */
    va_start(ap, fmt);
    vsnprintf(o->error, sizeof(o->error), fmt, ap);
    va_end(ap);
}

static long long payable_of(struct client *c, struct load_order *o)
{
    cJSON *j = NULL;
    long long amount = -1;

    if (saga_order_get(&c->f->st, c->user.token, o->id, &j) == 200)
        amount = saga_order_payable(j);
    cJSON_Delete(j);
    return amount;
}

static void pay(struct client *c, struct load_order *o, const char *key)
{
    long long amount = payable_of(c, o);

    if (amount <= 0) {
        order_error(o, "no payable amount");
        return;
    }
    o->pay_status = saga_pay(&c->f->st, c->user.token, o->id, amount, key, STEP_MS, NULL, 0);
}

/* One request of a concurrent pair: a confirm (with @key) or, when @key is NULL, a cancel. */
struct racer {
    struct client *c;
    struct load_order *o;
    long long amount;
    const char *key;
    long status;
    pthread_t thread;
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;

    if (r->key)
        r->status =
            saga_pay(&r->c->f->st, r->c->user.token, r->o->id, r->amount, r->key, STEP_MS, NULL, 0);
    else
        r->status = saga_order_cancel(&r->c->f->st, r->c->user.token, r->o->id);
    return NULL;
}

/* Runs @a and @b at the same time (the first in a new thread). */
static void race(struct racer *a, struct racer *b)
{
    if (pthread_create(&a->thread, NULL, racer_main, a) != 0) {
        racer_main(a);
        racer_main(b);
        return;
    }
    racer_main(b);
    pthread_join(a->thread, NULL);
}

static void run_order(struct client *c, struct load_order *o)
{
    struct fixture *f = c->f;
    struct saga_line lines[2];
    size_t n = 1 + (size_t)(rand_r(&c->seed) % 2);
    char key[48];

    o->path = (enum path)(rand_r(&c->seed) % NPATHS);
    for (size_t i = 0; i < n; i++) {
        lines[i].sku = f->sku[rand_r(&c->seed) % NPRODUCTS];
        lines[i].quantity = 1 + rand_r(&c->seed) % 3;
    }
    if (n == 2 && lines[1].sku == lines[0].sku)
        n = 1;
    if (o->path == P_TOO_MUCH)
        lines[0].quantity = TOO_MUCH;
    o->place_status =
        saga_order_place(&f->st, &c->user, lines, n, NULL, NULL, STEP_MS, o->id, sizeof(o->id));
    if (o->place_status != 201 && o->place_status != 200) {
        order_error(o, "POST /api/orders: %ld", o->place_status);
        return;
    }
    snprintf(key, sizeof(key), "card_%u", (unsigned)rand_r(&c->seed));
    switch (o->path) {
    case P_PAY_OK:
        pay(c, o, key);
        if (o->pay_status != 200)
            order_error(o, "pay: %ld", o->pay_status);
        break;
    case P_DECLINED:
        pay(c, o, "fail_CARD");
        if (o->pay_status != 402)
            order_error(o, "declined pay: %ld", o->pay_status);
        break;
    case P_CANCEL_BEFORE:
        o->action_status = saga_order_cancel(&f->st, c->user.token, o->id);
        if (o->action_status / 100 != 2)
            order_error(o, "cancel: %ld", o->action_status);
        break;
    case P_CANCEL_AFTER:
        pay(c, o, key);
        if (o->pay_status != 200)
            order_error(o, "pay: %ld", o->pay_status);
        /* 409 when the order was CONFIRMED first: allowed, it then stays CONFIRMED */
        o->action_status = saga_order_cancel(&f->st, c->user.token, o->id);
        if (o->action_status / 100 != 2 && o->action_status != 409)
            order_error(o, "cancel after pay: %ld", o->action_status);
        break;
    case P_REFUND: {
        char item[64], status[32];
        const char *items[1] = {item};
        cJSON *j = NULL;

        pay(c, o, key);
        if (o->pay_status != 200) {
            order_error(o, "pay: %ld", o->pay_status);
            break;
        }
        if (saga_order_wait(&f->st, c->user.token, o->id, "CONFIRMED", STEP_MS, status,
                            sizeof(status), &j) < 0) {
            order_error(o, "not CONFIRMED for the refund (last %s)", status);
            cJSON_Delete(j);
            break;
        }
        if (saga_order_item(j, 0, item, sizeof(item), NULL) < 0) {
            order_error(o, "no items in the order body");
            cJSON_Delete(j);
            break;
        }
        cJSON_Delete(j);
        o->action_status = saga_order_refund(&f->st, c->user.token, o->id, items, 1);
        if (o->action_status / 100 != 2)
            order_error(o, "refund: %ld", o->action_status);
        break;
    }
    case P_DOUBLE_PAY: {
        char key2[64];
        struct racer a = {c, o, payable_of(c, o), key, 0, 0}, b = a;

        snprintf(key2, sizeof(key2), "%s_bis", key);
        b.key = key2;
        /* both wait for the payment to exist first, so they really meet at READY */
        saga_order_wait(&f->st, c->user.token, o->id, "PAYMENT_PENDING", STEP_MS, NULL, 0, NULL);
        race(&a, &b);
        o->pay_status = a.status;
        o->pay2_status = b.status;
        /* one capture: one 200, the other refused (409, or 200 replayed is a double capture
         * the checker would see) */
        if ((a.status == 200) + (b.status == 200) != 1)
            order_error(o, "double pay: %ld and %ld", a.status, b.status);
        break;
    }
    case P_PAY_CANCEL_RACE: {
        struct racer a = {c, o, payable_of(c, o), key, 0, 0}, b = {c, o, 0, NULL, 0, 0};

        saga_order_wait(&f->st, c->user.token, o->id, "PAYMENT_PENDING", STEP_MS, NULL, 0, NULL);
        race(&a, &b);
        o->pay_status = a.status;
        o->action_status = b.status;
        break;
    }
    case P_TOO_MUCH:
    case P_TIMEOUT:
    case NPATHS:
        break;
    }
}

static void *client_main(void *arg)
{
    struct client *c = arg;

    for (int i = 0; i < c->norders; i++) {
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - c->f->start.tv_sec) * 1000 > CLIENTS_MS) {
            order_error(&c->orders[i], "not placed: the clients' %d s were up", CLIENTS_MS / 1000);
            continue;
        }
        run_order(c, &c->orders[i]);
    }
    return NULL;
}

/* ---- the run ---- */

/* Whether @o's final status is what its path must end in. */
static bool path_ok(const struct load_order *o)
{
    const char *s = o->final;

    switch (o->path) {
    case P_PAY_OK:
        return !strcmp(s, "CONFIRMED");
    case P_DECLINED:
        return !strcmp(s, "CANCELLED") && !strcmp(o->reason, "PAYMENT_FAILED");
    case P_CANCEL_BEFORE:
        return !strcmp(s, "CANCELLED");
    case P_CANCEL_AFTER:
        return !strcmp(s, "CANCELLED") || (o->action_status == 409 && !strcmp(s, "CONFIRMED"));
    case P_REFUND:
        return !strcmp(s, "PARTIALLY_REFUNDED") || !strcmp(s, "REFUNDED");
    case P_TOO_MUCH:
        return !strcmp(s, "FAILED");
    case P_TIMEOUT:
        return !strcmp(s, "CANCELLED") && !strcmp(o->reason, "PAYMENT_TIMEOUT");
    case P_DOUBLE_PAY:
        return !strcmp(s, "CONFIRMED");
    case P_PAY_CANCEL_RACE:
        /* the cancel won (whatever the confirm answered: the money is refunded, which the
         * checker verifies), or it came too late (409) after a successful confirm */
        return !strcmp(s, "CANCELLED") ||
               (!strcmp(s, "CONFIRMED") && o->pay_status == 200 && o->action_status == 409);
    case NPATHS:
        break;
    }
    return false;
}

static void test_mixed_load_ends_terminal_with_invariants(void **state)
{
    struct fixture *f = *state;
    static char out[1 << 17];
    int total = f->nthreads * f->per_thread, pending = 0, wrong = 0, errors = 0;
    int tally[NPATHS][6] = {{0}};
    static const char *const finals[6] = {"CONFIRMED",          "CANCELLED", "FAILED",
                                          "PARTIALLY_REFUNDED", "REFUNDED",  "other"};
    struct timespec t0, t1, t2;
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
    for (int t = 0; t < f->nthreads; t++) {
        struct client *c = &f->clients[t];

        for (int i = 0; i < c->norders; i++) {
            struct load_order *o = &c->orders[i];
            struct timespec now;
            int left;
            cJSON *j = NULL;

            if (!o->id[0])
                continue;
            clock_gettime(CLOCK_MONOTONIC, &now);
            left = SETTLE_MS + f->deadline_s * 1000 -
                   (int)((now.tv_sec - t1.tv_sec) * 1000 + (now.tv_nsec - t1.tv_nsec) / 1000000);
            saga_order_wait(&f->st, c->user.token, o->id, NULL, left > 0 ? left : 0, o->final,
                            sizeof(o->final), &j);
            snprintf(o->reason, sizeof(o->reason), "%s", j ? saga_order_reason(j) : "");
            cJSON_Delete(j);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t2);
    print_message("load: all orders settled %ld s after the clients\n",
                  (long)(t2.tv_sec - t1.tv_sec));

    for (int t = 0; t < f->nthreads; t++) {
        struct client *c = &f->clients[t];

        for (int i = 0; i < c->norders; i++) {
            struct load_order *o = &c->orders[i];
            int k = 5;

            for (int s = 0; s < 5; s++) {
                if (!strcmp(o->final, finals[s]))
                    k = s;
            }
            tally[o->path][k]++;
            if (!o->id[0] || o->error[0]) {
                errors++;
                print_error("  client %d order %d (%s) %s: %s\n", t, i, path_names[o->path],
                            o->id[0] ? o->id : "-", o->error);
            } else if (!saga_status_terminal(o->final)) {
                pending++;
                print_error("  NOT TERMINAL: order %s (%s) stuck at %s\n", o->id,
                            path_names[o->path], o->final);
            } else if (!path_ok(o)) {
                wrong++;
                print_error("  WRONG END: order %s (%s) ended %s %s (pay %ld / %ld, action "
                            "%ld)\n",
                            o->id, path_names[o->path], o->final, o->reason, o->pay_status,
                            o->pay2_status, o->action_status);
            }
        }
    }
    print_message("load: %-15s %9s %9s %6s %9s %8s %5s\n", "path", "CONFIRMED", "CANCELLED",
                  "FAILED", "PART_REF", "REFUNDED", "other");
    for (int p = 0; p < NPATHS; p++)
        print_message("load: %-15s %9d %9d %6d %9d %8d %5d\n", path_names[p], tally[p][0],
                      tally[p][1], tally[p][2], tally[p][3], tally[p][4], tally[p][5]);

    rc = saga_check_invariants_until(&f->st, CHECK_MS, out, sizeof(out));
    print_message("%s", out);
    if (pending || errors || wrong || rc != 0)
        fail_msg("load of %d orders: %d not terminal, %d client errors, %d wrong ends, "
                 "check-invariants exit %d (seed %u; lists above)",
                 total, pending, errors, wrong, rc, f->seed);
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
