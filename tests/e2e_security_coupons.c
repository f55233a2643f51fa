/*
 * e2e_security_coupons.c - issue 12, "discounts come from the server", through the public HTTP
 * APIs only (tests/support/saga.h starts the six services; coupons are made by the bootstrap
 * admin at POST /api/coupons):
 *
 *   - a coupon order pays exactly the coupon-discounted amount: the order's payable amount is
 *     the list price minus the coupon's discount, the payment is confirmed for that amount, the
 *     order reaches CONFIRMED and the payment's amount is that amount;
 *   - a client's discountAmount is refused (400 naming the field), whatever its value, and no
 *     order is made;
 *   - a coupon past its limit is refused (409 ORDER-409-004) and takes no use;
 *   - a cancelled order gives its use back: the next order can use the coupon.
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

#define STOCK 20
#define PRICE 12000
#define STEP_MS 60000 /* one saga step (several Kafka hops) under ASan on a busy machine */

struct fixture {
    struct saga_stack st;
    struct saga_user a, b;
    long long sku;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct saga_opts opts = {
        .prefix = "e2e_sec_coupons", .payment_deadline_s = 900, .gateway_timeout_ms = 3000};
    long long cat;

    if (!f)
        return -1;
    if (saga_stack_start_with_user(&f->st, &opts, "coupon-a", &f->a, &cat) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    if (saga_user_new(&f->st, "coupon-b", &f->b) < 0 ||
        saga_product_new(&f->st, cat, "Coupon mug", PRICE, STOCK, &f->sku) < 0 ||
        saga_stock_wait(&f->st, f->sku, STEP_MS) < 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(saga_stack_stop(&f->st), 0);
    free(f);
    return 0;
}

/* @method @path of order-service with @body as @token; the status, the body into *@ret
 * (caller owns; may be NULL). */
static long order_http(struct fixture *f, const char *method, const char *path, const char *token,
                       const char *body, cJSON **ret)
{
    char url[256];
    struct ts_resp r;
    long status;

    snprintf(url, sizeof(url), "%s%s", f->st.order.url, path);
    assert_int_equal(ts_http(method, url, token, body, NULL, &r), 0);
    status = r.status;
    if (status >= 400)
        assert_non_null(strstr(r.content_type, "application/problem+json"));
    if (ret) {
        *ret = r.json;
        r.json = NULL;
    }
    ts_resp_free(&r);
    return status;
}

/* The coupon's uses taken and not given back, as the admin reads them. */
static long long coupon_used(struct fixture *f, const char *code)
{
    char path[96];
    cJSON *j = NULL;
    long long used;

    snprintf(path, sizeof(path), "/api/coupons/%s", code);
    assert_int_equal(order_http(f, "GET", path, f->st.admin_token, NULL, &j), 200);
    used = saga_json_num(j, "used");
    cJSON_Delete(j);
    return used;
}

/* The number of @u's orders. */
static long long order_count(struct fixture *f, const struct saga_user *u)
{
    cJSON *j = NULL;
    long long n;

    assert_int_equal(order_http(f, "GET", "/api/orders?page=0&size=1", u->token, NULL, &j), 200);
    n = saga_json_num(j, "totalElements");
    cJSON_Delete(j);
    return n;
}

/* Places @qty units with @coupon as @u; the id into @id. Returns the HTTP status. */
static long place(struct fixture *f, const struct saga_user *u, int qty, const char *coupon,
                  char *id, size_t idlen)
{
    struct saga_line line = {f->sku, qty};

    return saga_order_place(&f->st, u, &line, 1, coupon, NULL, STEP_MS, id, idlen);
}

static cJSON *wait_status(struct fixture *f, const struct saga_user *u, const char *id,
                          const char *want)
{
    char status[32];
    cJSON *j = NULL;

    if (saga_order_wait(&f->st, u->token, id, want, STEP_MS, status, sizeof(status), &j) < 0)
        fail_msg("order %s: want %s, last status %s", id, want, status);
    return j;
}

/* 15 % off 2 × 12000: the order, the payment and the captured amount are 20400. */
static void test_coupon_order_pays_the_discounted_amount(void **state)
{
    struct fixture *f = *state;
    char code[64], id[64], body[1024];
    long long payable = 0;
    long status;
    cJSON *j;

    assert_int_equal(saga_coupon_new(&f->st, "\"percent\":15,\"totalLimit\":5", code, sizeof(code)),
                     0);
    assert_int_equal(place(f, &f->a, 2, code, id, sizeof(id)), 201);
    j = wait_status(f, &f->a, id, "PAYMENT_PENDING");
    payable = saga_order_payable(j);
    assert_int_equal(saga_json_num(j, "totalAmount"), 2 * PRICE);
    assert_int_equal(saga_json_num(j, "discountAmount"), 2 * PRICE * 15 / 100);
    assert_int_equal(payable, 2 * PRICE - 2 * PRICE * 15 / 100);
    assert_string_equal(saga_json_str(j, "couponCode"), code);
    cJSON_Delete(j);
    assert_int_equal(coupon_used(f, code), 1);

    status =
        saga_pay(&f->st, f->a.token, id, payable, "card_ok_coupon", STEP_MS, body, sizeof(body));
    if (status != 200)
        fail_msg("pay %lld for %s: %ld %s", payable, id, status, body);
    j = wait_status(f, &f->a, id, "CONFIRMED");
    cJSON_Delete(j);
    j = NULL;
    assert_int_equal(saga_payment_wait(&f->st, f->a.token, id, "APPROVED", -1, STEP_MS, &j), 200);
    assert_int_equal(saga_json_num(j, "amount"), payable);
    cJSON_Delete(j);
}

/* A client's discountAmount is refused, however small, and makes no order. */
static void test_client_discount_refused(void **state)
{
    static const char *const amounts[] = {"24000", "1", "0", "null", "\"24000\""};
    struct fixture *f = *state;
    long long before = order_count(f, &f->a);
    char body[256];
    cJSON *j = NULL;

    for (size_t i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++) {
        const cJSON *err;

        snprintf(body, sizeof(body),
                 "{\"items\":[{\"skuId\":%lld,\"quantity\":2}],\"discountAmount\":%s}", f->sku,
                 amounts[i]);
        assert_int_equal(order_http(f, "POST", "/api/orders", f->a.token, body, &j), 400);
        assert_string_equal(saga_json_str(j, "code"), "ORDER-400-001");
        err = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "errors"), 0);
        assert_string_equal(saga_json_str(err, "field"), "discountAmount");
        assert_non_null(strstr(saga_json_str(err, "message"), "coupon"));
        cJSON_Delete(j);
        j = NULL;
    }
    assert_int_equal(order_count(f, &f->a), before);
}

/* A coupon with one use: the second order is refused and takes nothing; cancelling the first
 * gives the use back, and the next order takes it. */
static void test_coupon_limit_and_give_back(void **state)
{
    struct fixture *f = *state;
    char code[64], first[64], second[64];
    long long before;
    cJSON *j = NULL;

    assert_int_equal(
        saga_coupon_new(&f->st, "\"amount\":3000,\"totalLimit\":1", code, sizeof(code)), 0);
    assert_int_equal(place(f, &f->a, 1, code, first, sizeof(first)), 201);
    assert_int_equal(coupon_used(f, code), 1);

    /* past its limit */
    before = order_count(f, &f->b);
    {
        char body[256];

        snprintf(body, sizeof(body),
                 "{\"items\":[{\"skuId\":%lld,\"quantity\":1}],\"couponCode\":\"%s\"}", f->sku,
                 code);
        assert_int_equal(order_http(f, "POST", "/api/orders", f->b.token, body, &j), 409);
        assert_string_equal(saga_json_str(j, "code"), "ORDER-409-004");
        cJSON_Delete(j);
        j = NULL;
    }
    assert_int_equal(order_count(f, &f->b), before);
    assert_int_equal(coupon_used(f, code), 1);

    /* the first order is cancelled (its stock reserved, its payment READY): the use is back */
    j = wait_status(f, &f->a, first, "PAYMENT_PENDING");
    cJSON_Delete(j);
    assert_int_equal(saga_order_cancel(&f->st, f->a.token, first), 200);
    j = wait_status(f, &f->a, first, "CANCELLED");
    cJSON_Delete(j);
    assert_int_equal(coupon_used(f, code), 0);

    /* the next order uses it, for exactly its discount */
    assert_int_equal(place(f, &f->b, 1, code, second, sizeof(second)), 201);
    assert_int_equal(coupon_used(f, code), 1);
    j = wait_status(f, &f->b, second, "PAYMENT_PENDING");
    assert_int_equal(saga_order_payable(j), PRICE - 3000);
    cJSON_Delete(j);
    assert_int_equal(saga_order_cancel(&f->st, f->b.token, second), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coupon_order_pays_the_discounted_amount),
        cmocka_unit_test(test_client_discount_refused),
        cmocka_unit_test(test_coupon_limit_and_give_back),
    };

    return cmocka_run_group_tests_name("e2e_security_coupons", tests, setup, teardown);
}
