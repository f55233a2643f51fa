/*
 * e2e_crash.c - the saga survives a crash of each of its services (docs/saga.md invariants "after
 * any interleaving, duplicate delivery, restart or crash"): the six services on real MariaDB,
 * Redis and Kafka (tests/support/saga.h), driven through the public HTTP APIs.
 *
 * One test per saga service (inventory, order, payment), each with its own two SKUs. A round:
 *   1. ORDERS orders are placed (one or two lines each);
 *   2. the service is killed with SIGKILL while their events are in flight (outbox rows or
 *      stream entries not yet published, records consumed but offsets not committed) and
 *      started again on the same port with the same database, topics and consumer group;
 *   3. half of the orders are paid, then the service is killed and restarted again while the
 *      payments, confirmations and stock confirmations are in flight;
 *   4. the other half is paid.
 * Then every order must be CONFIRMED with its payment APPROVED for the payable amount, the two
 * SKUs must show exactly the sold units gone and nothing left reserved, and
 * tools/check-invariants must find nothing (no double charge, stock equation holds) across
 * every order of the stack.
 *
 * When exactly the kill lands is not controlled (it is a real process crash): what is asserted
 * must hold for every point, so the test cannot pass by luck, only fail by a bug.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "saga.h"
#include "testsup.h"

#define ORDERS 6
#define STOCK 50
#define PRICE_A 11000
#define PRICE_B 2500
/* one saga step under ASan on a busy machine, plus a crashed consumer's session (10 s) */
#define STEP_MS 90000
#define CHECK_MS 90000

struct fixture {
    struct saga_stack st;
    struct saga_user u;
    long long cat;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct saga_opts opts = {
        .prefix = "e2e_crash", .payment_deadline_s = 900, .gateway_timeout_ms = 300};

    if (!f || saga_stack_start_with_user(&f->st, &opts, "crash", &f->u, &f->cat) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    /* the restarted services, too, stop cleanly (exit 0, no leak under ASan) */
    assert_int_equal(saga_stack_stop(&f->st), 0);
    free(f);
    return 0;
}

/* Pays @id once it is PAYMENT_PENDING; asserts the amount and that it was approved. */
static void pay(struct fixture *f, const char *id, long long want_payable)
{
    long long payable = -1;
    long http = saga_pay_when_pending(&f->st, f->u.token, id, STEP_MS, &payable);

    if (http != 200)
        fail_msg("pay %s: want 200, got %ld (see above)", id, http);
    assert_int_equal(payable, want_payable);
}

static void crash_round(struct fixture *f, struct ts_service *victim, const char *victim_name)
{
    char ids[ORDERS][64], status[32], name[64];
    long long sku_a, sku_b, payable[ORDERS], sold_a = 0, sold_b = 0, a, r;
    cJSON *j;

    snprintf(name, sizeof(name), "%s crash A", victim_name);
    assert_int_equal(saga_product_new(&f->st, f->cat, name, PRICE_A, STOCK, &sku_a), 0);
    snprintf(name, sizeof(name), "%s crash B", victim_name);
    assert_int_equal(saga_product_new(&f->st, f->cat, name, PRICE_B, STOCK, &sku_b), 0);
    assert_int_equal(saga_stock_wait(&f->st, sku_a, STEP_MS), 0);
    assert_int_equal(saga_stock_wait(&f->st, sku_b, STEP_MS), 0);

    /* 1. the orders: odd ones with a second line of two units */
    for (int i = 0; i < ORDERS; i++) {
        struct saga_line lines[2] = {{sku_a, 1}, {sku_b, 2}};
        size_t n = i % 2 ? 2 : 1;
        long http =
            saga_order_place(&f->st, &f->u, lines, n, NULL, NULL, STEP_MS, ids[i], sizeof(ids[i]));

        if (http != 201 && http != 200)
            fail_msg("POST /api/orders %d: %ld", i, http);
        payable[i] = PRICE_A + (n == 2 ? 2 * PRICE_B : 0);
        sold_a += 1;
        sold_b += n == 2 ? 2 : 0;
    }
    /* 2. crash while order.placed / stock.reserved / payment.created are in flight */
    if (saga_service_restart(&f->st, victim, SIGKILL) < 0)
        fail_msg("%s-service did not come back after SIGKILL", victim_name);
    /* 3. pay half, crash again while those captures and confirmations are in flight */
    for (int i = 0; i < ORDERS / 2; i++)
        pay(f, ids[i], payable[i]);
    if (saga_service_restart(&f->st, victim, SIGKILL) < 0)
        fail_msg("%s-service did not come back after the second SIGKILL", victim_name);
    /* 4. pay the rest */
    for (int i = ORDERS / 2; i < ORDERS; i++)
        pay(f, ids[i], payable[i]);

    /* every order confirmed, charged once for its amount */
    for (int i = 0; i < ORDERS; i++) {
        j = NULL;
        if (saga_order_wait(&f->st, f->u.token, ids[i], "CONFIRMED", STEP_MS, status,
                            sizeof(status), &j) < 0)
            fail_msg("order %s: want CONFIRMED within %d ms, last %s", ids[i], STEP_MS, status);
        cJSON_Delete(j);
        j = NULL;
        if (saga_payment_wait(&f->st, f->u.token, ids[i], "APPROVED", 0, STEP_MS, &j) != 200)
            fail_msg("payment of %s: not APPROVED with nothing refunded", ids[i]);
        assert_int_equal(saga_json_num(j, "amount"), payable[i]);
        cJSON_Delete(j);
    }
    /* the sold units gone, nothing left reserved */
    if (saga_stock_wait_for(&f->st, sku_a, STOCK - sold_a, 0, STEP_MS, &a, &r) < 0)
        fail_msg("sku A: want %lld/0 available/reserved, got %lld/%lld", STOCK - sold_a, a, r);
    if (saga_stock_wait_for(&f->st, sku_b, STOCK - sold_b, 0, STEP_MS, &a, &r) < 0)
        fail_msg("sku B: want %lld/0 available/reserved, got %lld/%lld", STOCK - sold_b, a, r);
    {
        char out[8192];
        int rc = saga_check_invariants_until(&f->st, CHECK_MS, out, sizeof(out));

        if (rc != 0)
            fail_msg("check-invariants exited %d:\n%s", rc, out);
    }
}

static void test_inventory_crash(void **state)
{
    struct fixture *f = *state;

    crash_round(f, &f->st.inventory, "inventory");
}

static void test_order_crash(void **state)
{
    struct fixture *f = *state;

    crash_round(f, &f->st.order, "order");
}

static void test_payment_crash(void **state)
{
    struct fixture *f = *state;

    crash_round(f, &f->st.payment, "payment");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inventory_crash),
        cmocka_unit_test(test_order_crash),
        cmocka_unit_test(test_payment_crash),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
