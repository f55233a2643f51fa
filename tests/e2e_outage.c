/*
 * e2e_outage.c - the saga rides out its infrastructure going away (README, failure handling:
 * an unreachable MariaDB, Redis or broker is waited out, HTTP keeps serving, nothing lost): the six
 * services on the harness's MariaDB, Redis and Kafka (tests/support/saga.h), which this test
 * stops and starts again (scripts/infra.sh through ts_infra()).
 *
 *   - Kafka down: POST /api/orders still answers 201 (the events wait in order-service's
 *     outbox); once the broker is back every order goes through to CONFIRMED;
 *   - Redis down for longer than the consumer's retry budget (inventory-service's
 *     order.placed handler answered "unavailable" more than CONSUMER_MAX_ATTEMPTS times, read
 *     from its /metrics): no order.placed is dead-lettered; once Redis is back the stock is
 *     reserved and the orders are confirmed;
 *   - MariaDB down likewise: a product.sku.created produced meanwhile is not dead-lettered by
 *     order-service; once MariaDB is back the SKU has its price and can be ordered.
 * Each ends with tools/check-invariants over the stack.
 *
 * The outages last until the service's own metrics show it waited past the retry budget: a
 * condition polled with a deadline, not a sleep.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "saga.h"
#include "testsup.h"

#define ORDERS 3
#define STOCK 20
#define PRICE 8000
#define STEP_MS 90000   /* a saga step after an outage: reconnects and backoffs (max 2 s) */
#define OUTAGE_MS 60000 /* until the consumer has waited past its retry budget */
#define CHECK_MS 90000
/* CONSUMER_MAX_ATTEMPTS the services run with (the default: saga.c does not set it) */
#define MAX_ATTEMPTS 8

struct fixture {
    struct saga_stack st;
    struct saga_user u;
    long long cat;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct saga_opts opts = {
        .prefix = "e2e_outage", .payment_deadline_s = 900, .gateway_timeout_ms = 300};

    if (!f || saga_stack_start_with_user(&f->st, &opts, "outage", &f->u, &f->cat) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    /* whatever a test stopped is running again for the next suite */
    assert_int_equal(ts_infra("kafka-start"), 0);
    assert_int_equal(ts_infra("redis-start"), 0);
    assert_int_equal(ts_infra("mariadb-start"), 0);
    assert_int_equal(saga_stack_stop(&f->st), 0);
    free(f);
    return 0;
}

/* ---- helpers ---- */

/* A SKU with STOCK units at PRICE, known to inventory. */
static long long new_sku(struct fixture *f, const char *name)
{
    long long sku;

    assert_int_equal(saga_product_new(&f->st, f->cat, name, PRICE, STOCK, &sku), 0);
    assert_int_equal(saga_stock_wait(&f->st, sku, STEP_MS), 0);
    return sku;
}

/* Pays @id once it is PAYMENT_PENDING and waits for CONFIRMED. */
static void pay_and_confirm(struct fixture *f, const char *id)
{
    char status[32] = "";
    cJSON *j = NULL;
    long http = saga_pay_when_pending(&f->st, f->u.token, id, STEP_MS, NULL);

    if (http != 200)
        fail_msg("pay %s: want 200, got %ld (see above)", id, http);
    if (saga_order_wait(&f->st, f->u.token, id, "CONFIRMED", STEP_MS, status, sizeof(status), &j) <
        0)
        fail_msg("order %s: want CONFIRMED within %d ms, last %s", id, STEP_MS, status);
    cJSON_Delete(j);
}

static void place(struct fixture *f, long long sku, char *id, size_t idlen)
{
    struct saga_line line = {sku, 1};
    long http = saga_order_place(&f->st, &f->u, &line, 1, NULL, NULL, STEP_MS, id, idlen);

    if (http != 201 && http != 200)
        fail_msg("POST /api/orders: %ld", http);
}

static void invariants_hold(struct fixture *f)
{
    char out[8192];
    int rc = saga_check_invariants_until(&f->st, CHECK_MS, out, sizeof(out));

    if (rc != 0)
        fail_msg("check-invariants exited %d:\n%s", rc, out);
}

/* The sum of the samples of @series (a metric name with its label set's beginning, e.g.
 * 'commerce_events_consumed_total{type="order.placed",result="unavailable"') on @svc's
 * /metrics; -1 when it cannot be read. */
static double metric_sum(const struct ts_service *svc, const char *series)
{
    char url[128];
    struct ts_resp r = {0};
    double sum = 0;
    size_t len = strlen(series);

    snprintf(url, sizeof(url), "%s/metrics", svc->url);
    if (ts_http("GET", url, NULL, NULL, NULL, &r) < 0 || r.status != 200 || !r.body) {
        ts_resp_free(&r);
        return -1;
    }
    for (const char *l = r.body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *sp;

        if (strncmp(l, series, len) != 0)
            continue;
        sp = strchr(l, ' ');
        if (sp)
            sum += strtod(sp + 1, NULL);
    }
    ts_resp_free(&r);
    return sum;
}

struct waited {
    const struct ts_service *svc;
    const char *series;
    double want, last;
};

static bool waited_enough(void *arg)
{
    struct waited *w = arg;

    w->last = metric_sum(w->svc, w->series);
    return w->last >= w->want;
}

/* Polls until @svc's @series reached @want: the consumer waited that many times. */
static void wait_metric(const struct ts_service *svc, const char *series, double want)
{
    struct waited w = {.svc = svc, .series = series, .want = want};

    if (!ts_poll_until(waited_enough, &w, OUTAGE_MS))
        fail_msg("%s: %g, want >= %g within %d ms", series, w.last, want, OUTAGE_MS);
}

/* ---- tests ---- */

static void test_orders_taken_while_kafka_is_down(void **state)
{
    struct fixture *f = *state;
    long long sku = new_sku(f, "kafka outage");
    char ids[ORDERS][64];
    cJSON *j;

    /* the first order makes sure order-service has the SKU's price */
    place(f, sku, ids[0], sizeof(ids[0]));
    assert_int_equal(ts_infra("kafka-stop"), 0);
    for (int i = 1; i < ORDERS; i++) {
        place(f, sku, ids[i], sizeof(ids[i]));
        j = NULL;
        assert_int_equal(saga_order_get(&f->st, f->u.token, ids[i], &j), 200);
        assert_string_equal(saga_order_status(j), "CREATED");
        cJSON_Delete(j);
    }
    assert_int_equal(ts_infra("kafka-start"), 0);
    for (int i = 0; i < ORDERS; i++)
        pay_and_confirm(f, ids[i]);
    if (saga_stock_wait_for(&f->st, sku, STOCK - ORDERS, 0, STEP_MS, NULL, NULL) < 0)
        fail_msg("stock of %lld: want %d available, 0 reserved", sku, STOCK - ORDERS);
    invariants_hold(f);
}

static void test_redis_outage_longer_than_the_retry_budget(void **state)
{
    struct fixture *f = *state;
    long long sku = new_sku(f, "redis outage");
    const char *series =
        "commerce_events_consumed_total{type=\"order.placed\",result=\"unavailable\"";
    double before = metric_sum(&f->st.inventory, series);
    char ids[ORDERS][64];

    assert_true(before >= 0);
    /* the price is known before Redis goes: order-service answers 201 without it */
    place(f, sku, ids[0], sizeof(ids[0]));
    pay_and_confirm(f, ids[0]);
    assert_int_equal(ts_infra("redis-stop"), 0);
    for (int i = 1; i < ORDERS; i++)
        place(f, sku, ids[i], sizeof(ids[i]));
    /* inventory waited for Redis more often than it may retry a failing message */
    wait_metric(&f->st.inventory, series, before + MAX_ATTEMPTS + 2);
    assert_int_equal(ts_infra("redis-start"), 0);
    for (int i = 1; i < ORDERS; i++)
        pay_and_confirm(f, ids[i]);
    if (saga_stock_wait_for(&f->st, sku, STOCK - ORDERS, 0, STEP_MS, NULL, NULL) < 0)
        fail_msg("stock of %lld: want %d available, 0 reserved", sku, STOCK - ORDERS);
    invariants_hold(f);
}

static void test_database_outage_longer_than_the_retry_budget(void **state)
{
    struct fixture *f = *state;
    const char *series =
        "commerce_events_consumed_total{type=\"product.sku.created\",result=\"unavailable\"";
    double before = metric_sum(&f->st.order, series);
    /* far above the SKUs the catalog hands out in this run (from st.sku_base) */
    long long sku = f->st.sku_base + 900;
    char key[32], id[64];
    cJSON *data;

    assert_true(before >= 0);
    assert_int_equal(ts_infra("mariadb-stop"), 0);
    /* a SKU announced while MariaDB is down, as catalog-service would */
    snprintf(key, sizeof(key), "%lld", sku);
    data = cJSON_CreateObject();
    cJSON_AddNumberToObject(data, "skuId", (double)sku);
    cJSON_AddNumberToObject(data, "productId", (double)sku);
    cJSON_AddStringToObject(data, "productCode", "OUTAGE-1");
    cJSON_AddNumberToObject(data, "price", PRICE);
    cJSON_AddItemToObject(data, "optionValues", cJSON_CreateArray());
    cJSON_AddNumberToObject(data, "initialQuantity", STOCK);
    assert_int_equal(saga_produce_event(f->st.topic_product, "product.sku.created", 1,
                                        "/catalog-service", key, data, NULL),
                     0);
    wait_metric(&f->st.order, series, before + MAX_ATTEMPTS + 2);
    assert_int_equal(ts_infra("mariadb-start"), 0);
    /* order-service took the price once MariaDB was back (saga_order_place retries its 422
     * while the price is unknown: a dead-lettered event would leave it unknown for good) */
    place(f, sku, id, sizeof(id));
    pay_and_confirm(f, id);
    if (saga_stock_wait_for(&f->st, sku, STOCK - 1, 0, STEP_MS, NULL, NULL) < 0)
        fail_msg("stock of %lld: want %d available, 0 reserved", sku, STOCK - 1);
    invariants_hold(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders_taken_while_kafka_is_down),
        cmocka_unit_test(test_redis_outage_longer_than_the_retry_budget),
        cmocka_unit_test(test_database_outage_longer_than_the_retry_budget),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
