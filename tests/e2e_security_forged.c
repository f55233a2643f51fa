/*
 * e2e_security_forged.c - issue 12, "a payment.completed written by an authorised but wrong
 * producer is dead-lettered without changing the order", through the public surfaces only:
 * HTTP for the customer, and Kafka as any client allowed to write payment-events would use it
 * (the harness's producer, as tests/support/saga.h's saga_produce_event writes events).
 *
 * An order placed over HTTP reaches PAYMENT_PENDING with a READY payment; then three forged
 * payment.completed events, each otherwise valid:
 *   1. from "/inventory-service": the consumers' producer rule (docs/event-contracts.md "Who
 *      may produce what") dead-letters it;
 *   2. from "/payment-service" but naming a payment the order never learned from
 *      payment.created, and
 *   3. naming the order's payment but another paidAmount: order-service does not recognise
 *      them (docs/saga.md "The payment an order accepts") and dead-letters them;
 * each is found on payment-events.dlq with its dlq_error, and the order and the payment stay as
 * they were. The customer's real payment then confirms the order, captured exactly once.
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

#include "common/util.h"
#include "saga.h"
#include "testsup.h"

#define PRICE 8000
#define STOCK 5
#define STEP_MS 60000 /* one saga step (several Kafka hops) under ASan on a busy machine */
#define CHECK_MS 90000
#define NFORGED 3

struct fixture {
    struct saga_stack st;
    struct saga_user u;
    long long sku;
};

static int setup(void **state)
{
    /* a payment deadline far beyond the test: only the events under test move the order */
    struct saga_opts opts = {
        .prefix = "e2e_sec_forged", .payment_deadline_s = 3600, .gateway_timeout_ms = 300};
    struct fixture *f = calloc(1, sizeof(*f));
    long long cat;

    if (!f)
        return -1;
    if (saga_stack_start_with_user(&f->st, &opts, "forged", &f->u, &cat) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    if (saga_product_new(&f->st, cat, "Forged product", PRICE, STOCK, &f->sku) < 0 ||
        saga_stock_wait(&f->st, f->sku, STEP_MS) < 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    /* clean stops exit 0 (and, under ASan, without leaks) */
    assert_int_equal(saga_stack_stop(&f->st), 0);
    free(f);
    return 0;
}

/* A payment.completed v2 payload, as payment-service writes one. Caller owns. */
static cJSON *completed_data(const char *order, const char *payment, long long amount)
{
    cJSON *d = cJSON_CreateObject();
    int64_t now = util_now_ms();
    char when[40];

    util_rfc3339(now, when, sizeof(when));
    cJSON_AddStringToObject(d, "orderId", order);
    cJSON_AddStringToObject(d, "paymentId", payment);
    cJSON_AddStringToObject(d, "transactionId", "pg_forged");
    cJSON_AddNumberToObject(d, "paidAmount", (double)amount);
    cJSON_AddStringToObject(d, "currency", "KRW");
    cJSON_AddNumberToObject(d, "approvedAt", (double)now);
    cJSON_AddStringToObject(d, "approvedAtTime", when);
    return d;
}

/* Reads @topic's dead letters until each of the @n event ids @ids has one (STEP_MS); their
 * dlq_error headers into @ret_errors[i] (copies, caller frees) and the dlq_service into
 * @ret_service (the first). */
static void read_dead_letters(const char *topic, char (*ids)[64], size_t n, char **ret_errors,
                              char *ret_service, size_t servicelen)
{
    char dlq[128];
    struct ts_consumer *c;
    size_t found = 0;
    int64_t deadline = util_now_mono_ms() + STEP_MS;

    snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
    c = ts_consumer_new(dlq);
    assert_non_null(c);
    while (found < n && util_now_mono_ms() < deadline) {
        struct ts_record *recs = NULL;
        size_t got = ts_consume(c, 16, 1000, &recs);

        for (size_t i = 0; i < got; i++) {
            const char *id = ts_record_header(&recs[i], "ce_id");
            const char *error = ts_record_header(&recs[i], "dlq_error");
            const char *service = ts_record_header(&recs[i], "dlq_service");

            for (size_t k = 0; id && k < n; k++) {
                if (strcmp(id, ids[k]) != 0 || ret_errors[k])
                    continue;
                ret_errors[k] = strdup(error ? error : "");
                snprintf(ret_service, servicelen, "%s", service ? service : "");
                found++;
            }
        }
        ts_records_free(recs, got);
    }
    ts_consumer_free(c);
    for (size_t k = 0; k < n; k++)
        if (!ret_errors[k])
            fail_msg("forged event %zu (%s) was not dead-lettered on %s", k + 1, ids[k], dlq);
}

/* The order's history rows into @to. */
static int history_into(const cJSON *order, const char *to)
{
    const cJSON *h;
    int n = 0;

    cJSON_ArrayForEach (h, cJSON_GetObjectItem(order, "history"))
        n += strcmp(saga_json_str(h, "toStatus"), to) == 0;
    return n;
}

/* The payment's transactions of @type with status SUCCESS. */
static int transactions(const cJSON *payment, const char *type)
{
    const cJSON *t;
    int n = 0;

    cJSON_ArrayForEach (t, cJSON_GetObjectItem(payment, "transactions"))
        n += strcmp(saga_json_str(t, "type"), type) == 0 &&
             strcmp(saga_json_str(t, "status"), "SUCCESS") == 0;
    return n;
}

static void test_forged_payment_completed(void **state)
{
    struct fixture *f = *state;
    struct saga_line line = {f->sku, 1};
    char order[UTIL_UUID_LEN], payment[96], ids[NFORGED][64], status[32], service[64] = "";
    char body[1024], out[4096];
    char *errors[NFORGED] = {NULL};
    long long amount;
    cJSON *j = NULL;
    long http;

    /* an order waiting for its payment, and the READY payment payment-service made for it */
    http = saga_order_place(&f->st, &f->u, &line, 1, NULL, NULL, STEP_MS, order, sizeof(order));
    assert_int_equal(http, 201);
    assert_int_equal(saga_order_wait(&f->st, f->u.token, order, "PAYMENT_PENDING", STEP_MS, status,
                                     sizeof(status), NULL),
                     0);
    http = saga_payment_wait(&f->st, f->u.token, order, "READY", -1, STEP_MS, &j);
    assert_int_equal(http, 200);
    snprintf(payment, sizeof(payment), "%s", saga_json_str(j, "paymentId"));
    amount = saga_json_num(j, "amount");
    cJSON_Delete(j);
    assert_true(payment[0] != '\0');
    assert_int_equal(amount, PRICE);

    /* 1: another service's principal speaks for payment-service */
    assert_int_equal(saga_produce_event(f->st.topic_payment, "payment.completed", 2,
                                        "/inventory-service", order,
                                        completed_data(order, payment, amount), ids[0]),
                     0);
    /* 2: the right source, a payment the order never learned */
    assert_int_equal(saga_produce_event(f->st.topic_payment, "payment.completed", 2,
                                        "/payment-service", order,
                                        completed_data(order, "pay-forged", amount), ids[1]),
                     0);
    /* 3: the order's payment, another amount */
    assert_int_equal(saga_produce_event(f->st.topic_payment, "payment.completed", 2,
                                        "/payment-service", order,
                                        completed_data(order, payment, amount - 1), ids[2]),
                     0);

    read_dead_letters(f->st.topic_payment, ids, NFORGED, errors, service, sizeof(service));
    assert_string_equal(service, "order-service");
    assert_string_equal(errors[0], "source: '/inventory-service' is not the producer of "
                                   "payment.completed ('/payment-service')");
    assert_non_null(strstr(errors[1], "payment not recognised"));
    assert_non_null(strstr(errors[1], "'pay-forged'"));
    assert_non_null(strstr(errors[2], "payment not recognised"));
    assert_non_null(strstr(errors[2], payment));
    for (size_t k = 0; k < NFORGED; k++)
        free(errors[k]);

    /* dead-lettered after the forged events were handled: nothing moved */
    assert_int_equal(saga_order_get(&f->st, f->u.token, order, &j), 200);
    assert_string_equal(saga_order_status(j), "PAYMENT_PENDING");
    assert_int_equal(history_into(j, "PAID"), 0);
    cJSON_Delete(j);
    assert_int_equal(saga_payment_get(&f->st, f->u.token, order, &j), 200);
    assert_string_equal(saga_json_str(j, "status"), "READY");
    assert_int_equal(transactions(j, "APPROVAL"), 0);
    cJSON_Delete(j);

    /* the customer's real payment still confirms the order, captured once */
    http =
        saga_pay(&f->st, f->u.token, order, amount, "card_ok_forged", STEP_MS, body, sizeof(body));
    if (http != 200)
        fail_msg("pay %s: %ld %s", order, http, body);
    assert_int_equal(saga_order_wait(&f->st, f->u.token, order, "CONFIRMED", STEP_MS, status,
                                     sizeof(status), &j),
                     0);
    assert_int_equal(history_into(j, "PAID"), 1);
    cJSON_Delete(j);
    assert_int_equal(saga_payment_get(&f->st, f->u.token, order, &j), 200);
    assert_string_equal(saga_json_str(j, "status"), "APPROVED");
    assert_int_equal(saga_json_num(j, "amount"), amount);
    assert_int_equal(saga_json_num(j, "refundedAmount"), 0);
    assert_int_equal(transactions(j, "APPROVAL"), 1);
    cJSON_Delete(j);
    if (saga_check_invariants_until(&f->st, CHECK_MS, out, sizeof(out)) != 0)
        fail_msg("invariants: %s", out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forged_payment_completed),
    };

    return cmocka_run_group_tests_name("e2e_security_forged", tests, setup, teardown);
}
