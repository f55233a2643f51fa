/*
 * test_order.c - the pure order domain: every status × input pair of the saga's transition
 * table (applied with its next status and event, ignored as a duplicate, or refused), the
 * rules around the three remembered facts, the refund rules and the discount split.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../src/order.h"

struct expect {
    enum order_verdict verdict;
    enum order_status next;
    enum order_publish publish;
    enum order_reason reason;
};

#define A(s, p, r)                                                                                 \
    {                                                                                              \
        ORDER_APPLIED, ORDER_##s, ORDER_PUB_##p, ORDER_REASON_##r                                  \
    }
#define D                                                                                          \
    {                                                                                              \
        ORDER_DUPLICATE, ORDER_INIT, ORDER_PUB_NONE, ORDER_REASON_NONE                             \
    }
#define R                                                                                          \
    {                                                                                              \
        ORDER_REFUSED, ORDER_INIT, ORDER_PUB_NONE, ORDER_REASON_NONE                               \
    }
#define X                                                                                          \
    {                                                                                              \
        ORDER_REJECTED, ORDER_INIT, ORDER_PUB_NONE, ORDER_REASON_NONE                              \
    }
#define SAME(s) A(s, NONE, NONE)

/* The state each status is tested from: the facts a normal run has when it gets there. From
 * PAYMENT_CREATED on, the order learned payment "pay-1" for 1000 from payment.created; the
 * CANCELLED and FAILED orders were cancelled after it (a payment completing then is refunded). */
#define PAY1 "pay-1", 1000
static const struct order_state base[ORDER_NSTATUS] = {
    [ORDER_INIT] = {ORDER_INIT, false, false, false, 1000, "", -1},
    [ORDER_CREATED] = {ORDER_CREATED, false, false, false, 1000, "", -1},
    [ORDER_RESERVED] = {ORDER_RESERVED, true, false, false, 1000, "", -1},
    [ORDER_PAYMENT_CREATED] = {ORDER_PAYMENT_CREATED, false, true, false, 1000, PAY1},
    [ORDER_PAYMENT_PENDING] = {ORDER_PAYMENT_PENDING, true, true, false, 1000, PAY1},
    [ORDER_PAID] = {ORDER_PAID, true, true, true, 1000, PAY1},
    [ORDER_CONFIRMED] = {ORDER_CONFIRMED, true, true, true, 1000, PAY1},
    [ORDER_PARTIALLY_REFUNDED] = {ORDER_PARTIALLY_REFUNDED, true, true, true, 1000, PAY1},
    [ORDER_REFUNDED] = {ORDER_REFUNDED, true, true, true, 1000, PAY1},
    [ORDER_CANCELLED] = {ORDER_CANCELLED, false, false, false, 1000, PAY1},
    [ORDER_FAILED] = {ORDER_FAILED, false, false, false, 1000, PAY1},
};

/* Columns: PLACE, STOCK_RESERVED, STOCK_RESERVATION_FAILED, STOCK_CONFIRMED,
 * STOCK_CONFIRM_FAILED, STOCK_RELEASED, PAYMENT_CREATED (payment "pay-1" for 1000),
 * PAYMENT_COMPLETED ("pay-1", amount = payable; rejected where no payment was learned yet),
 * PAYMENT_FAILED, PAYMENT_REFUNDED, USER_CANCEL, DEADLINE, REFUND (not all items). */
static const struct expect table[ORDER_NSTATUS][ORDER_NINPUT] = {
    [ORDER_INIT] = {A(CREATED, PLACED, NONE), R, R, R, R, R, R, R, R, R, R, R, R},
    [ORDER_CREATED] = {R, SAME(RESERVED), A(FAILED, CANCELLED, STOCK_RESERVATION_FAILED), D, D,
                       SAME(CREATED), SAME(PAYMENT_CREATED), X,
                       A(CANCELLED, CANCELLED, PAYMENT_FAILED), SAME(CREATED),
                       A(CANCELLED, CANCELLED, USER_CANCELLED),
                       A(CANCELLED, CANCELLED, PAYMENT_TIMEOUT), R},
    [ORDER_RESERVED] = {R, D, D, D, D, SAME(RESERVED), SAME(PAYMENT_PENDING), X,
                        A(CANCELLED, CANCELLED, PAYMENT_FAILED), SAME(RESERVED),
                        A(CANCELLED, CANCELLED, USER_CANCELLED),
                        A(CANCELLED, CANCELLED, PAYMENT_TIMEOUT), R},
    [ORDER_PAYMENT_CREATED] = {R, SAME(PAYMENT_PENDING),
                               A(FAILED, CANCELLED, STOCK_RESERVATION_FAILED), D, D,
                               SAME(PAYMENT_CREATED), D, SAME(PAYMENT_CREATED),
                               A(CANCELLED, CANCELLED, PAYMENT_FAILED),
                               SAME(PAYMENT_CREATED), A(CANCELLED, CANCELLED, USER_CANCELLED),
                               A(CANCELLED, CANCELLED, PAYMENT_TIMEOUT), R},
    [ORDER_PAYMENT_PENDING] = {R, D, D, D, D, SAME(PAYMENT_PENDING), D, A(PAID, CONFIRMED, NONE),
                               A(CANCELLED, CANCELLED, PAYMENT_FAILED), SAME(PAYMENT_PENDING),
                               A(CANCELLED, CANCELLED, USER_CANCELLED),
                               A(CANCELLED, CANCELLED, PAYMENT_TIMEOUT), R},
    [ORDER_PAID] = {R, D, D, SAME(CONFIRMED), A(CANCELLED, CANCELLED, STOCK_CONFIRM_FAILED),
                    SAME(PAID), D, D, D, SAME(PAID), A(CANCELLED, CANCELLED, USER_CANCELLED), D, R},
    [ORDER_CONFIRMED] = {R, D, D, D, D, SAME(CONFIRMED), D, D, D, SAME(CONFIRMED), R, D,
                         A(PARTIALLY_REFUNDED, REFUNDED, NONE)},
    [ORDER_PARTIALLY_REFUNDED] = {R, D, D, D, D, SAME(PARTIALLY_REFUNDED), D, D, D,
                                  SAME(PARTIALLY_REFUNDED), R, D,
                                  A(PARTIALLY_REFUNDED, REFUNDED, NONE)},
    [ORDER_REFUNDED] = {R, D, D, D, D, SAME(REFUNDED), D, D, D, SAME(REFUNDED), R, D, R},
    [ORDER_CANCELLED] = {R, D, D, D, D, SAME(CANCELLED), D,
                         A(CANCELLED, CANCELLED, PAID_AFTER_CANCEL), D, SAME(CANCELLED), D, D, R},
    [ORDER_FAILED] = {R, D, D, D, D, SAME(FAILED), D, A(FAILED, CANCELLED, PAID_AFTER_CANCEL), D,
                      SAME(FAILED), R, D, R},
};

static const char *verdict_name(enum order_verdict v)
{
    return v == ORDER_APPLIED     ? "APPLIED"
           : v == ORDER_DUPLICATE ? "DUPLICATE"
           : v == ORDER_REJECTED  ? "REJECTED"
                                  : "REFUSED";
}

static void test_every_status_and_input(void **state)
{
    struct order_args args = {
        .paid_amount = 1000, .payment_id = "pay-1", .payment_amount = 1000, .refund_all = false};
    int checked = 0;

    (void)state;
    for (int s = 0; s < ORDER_NSTATUS; s++) {
        for (int in = 0; in < ORDER_NINPUT; in++) {
            const struct expect *e = &table[s][in];
            struct order_outcome o = order_apply(&base[s], (enum order_input)in, &args);

            if (o.verdict != e->verdict)
                fail_msg("%s × %s: %s, want %s", order_status_name((enum order_status)s),
                         order_input_name((enum order_input)in), verdict_name(o.verdict),
                         verdict_name(e->verdict));
            if (e->verdict != ORDER_APPLIED) {
                /* ignored or refused: nothing changes, nothing is published */
                assert_memory_equal(&o.next, &base[s], sizeof(o.next));
                assert_int_equal(o.publish, ORDER_PUB_NONE);
            } else {
                if (o.next.status != e->next || o.publish != e->publish || o.reason != e->reason)
                    fail_msg("%s × %s: → %s pub %d reason %s, want %s pub %d reason %s",
                             order_status_name((enum order_status)s),
                             order_input_name((enum order_input)in),
                             order_status_name(o.next.status), o.publish,
                             order_reason_name(o.reason) ? order_reason_name(o.reason) : "-",
                             order_status_name(e->next), e->publish,
                             order_reason_name(e->reason) ? order_reason_name(e->reason) : "-");
            }
            checked++;
        }
    }
    assert_int_equal(checked, ORDER_NSTATUS * ORDER_NINPUT);
}

/* PAYMENT_PENDING needs both facts, in either order. */
static void test_pending_in_either_order(void **state)
{
    struct order_state st = base[ORDER_CREATED];
    struct order_outcome o;

    (void)state;
    o = order_apply(&st, ORDER_IN_STOCK_RESERVED, NULL);
    o = order_apply(&o.next, ORDER_IN_PAYMENT_CREATED, NULL);
    assert_int_equal(o.next.status, ORDER_PAYMENT_PENDING);
    o = order_apply(&st, ORDER_IN_PAYMENT_CREATED, NULL);
    o = order_apply(&o.next, ORDER_IN_STOCK_RESERVED, NULL);
    assert_int_equal(o.next.status, ORDER_PAYMENT_PENDING);
    assert_true(o.next.stock_reserved && o.next.payment_created);
}

/* payment.completed before stock.reserved is remembered; PAID (and order.confirmed) follow
 * stock.reserved. The deadline then leaves the order alone. */
static void test_completed_before_reserved(void **state)
{
    struct order_args created = {.payment_id = "pay-1", .payment_amount = 1000};
    struct order_args paid = {.paid_amount = 1000, .payment_id = "pay-1"};
    struct order_outcome o;

    (void)state;
    o = order_apply(&base[ORDER_PAYMENT_CREATED], ORDER_IN_PAYMENT_COMPLETED, &paid);
    assert_int_equal(o.verdict, ORDER_APPLIED);
    assert_int_equal(o.next.status, ORDER_PAYMENT_CREATED);
    assert_true(o.next.payment_completed);
    assert_int_equal(o.publish, ORDER_PUB_NONE);
    assert_int_equal(order_apply(&o.next, ORDER_IN_DEADLINE, NULL).verdict, ORDER_DUPLICATE);
    assert_int_equal(order_apply(&o.next, ORDER_IN_PAYMENT_FAILED, NULL).verdict, ORDER_DUPLICATE);
    assert_int_equal(order_apply(&o.next, ORDER_IN_PAYMENT_COMPLETED, &paid).verdict,
                     ORDER_DUPLICATE);
    o = order_apply(&o.next, ORDER_IN_STOCK_RESERVED, NULL);
    assert_int_equal(o.next.status, ORDER_PAID);
    assert_int_equal(o.publish, ORDER_PUB_CONFIRMED);
    /* and the reservation failing instead: FAILED, so the payment is refunded */
    o = order_apply(&base[ORDER_CREATED], ORDER_IN_PAYMENT_CREATED, &created);
    o = order_apply(&o.next, ORDER_IN_PAYMENT_COMPLETED, &paid);
    o = order_apply(&o.next, ORDER_IN_STOCK_RESERVATION_FAILED, NULL);
    assert_int_equal(o.next.status, ORDER_FAILED);
    assert_int_equal(o.reason, ORDER_REASON_STOCK_RESERVATION_FAILED);
}

/* The state @s with the payment "pay-1" learned for @amount. */
static struct order_state learned(enum order_status s, long long amount)
{
    struct order_state st = base[s];

    snprintf(st.payment_id, sizeof(st.payment_id), "pay-1");
    st.payment_amount = amount;
    return st;
}

/* The payment learned was created for 999 of a payable 1000, and captured for that. */
static void test_amount_mismatch(void **state)
{
    struct order_args wrong = {.paid_amount = 999, .payment_id = "pay-1"};
    struct order_state st;
    struct order_outcome o;

    (void)state;
    for (int s = ORDER_CREATED; s <= ORDER_PAYMENT_PENDING; s++) {
        st = learned((enum order_status)s, 999);
        o = order_apply(&st, ORDER_IN_PAYMENT_COMPLETED, &wrong);
        assert_int_equal(o.verdict, ORDER_APPLIED);
        assert_int_equal(o.next.status, ORDER_CANCELLED);
        assert_int_equal(o.publish, ORDER_PUB_CANCELLED);
        assert_int_equal(o.reason, ORDER_REASON_AMOUNT_MISMATCH);
    }
    /* terminal: unchanged, but order.cancelled so the payment is refunded */
    st = learned(ORDER_CANCELLED, 999);
    o = order_apply(&st, ORDER_IN_PAYMENT_COMPLETED, &wrong);
    assert_int_equal(o.next.status, ORDER_CANCELLED);
    assert_int_equal(o.reason, ORDER_REASON_AMOUNT_MISMATCH);
    /* captured once already: never a second outcome */
    st = learned(ORDER_PAID, 999);
    o = order_apply(&st, ORDER_IN_PAYMENT_COMPLETED, &wrong);
    assert_int_equal(o.verdict, ORDER_DUPLICATE);
    /* no payment and no amount at all: nothing to recognise */
    o = order_apply(&base[ORDER_PAYMENT_PENDING], ORDER_IN_PAYMENT_COMPLETED, NULL);
    assert_int_equal(o.verdict, ORDER_REJECTED);
}

/* payment.created teaches the order its payment once, in any status. */
static void test_payment_learned(void **state)
{
    struct order_args created = {.payment_id = "pay-1", .payment_amount = 1000};
    struct order_args other = {.payment_id = "pay-2", .payment_amount = 5};
    struct order_args paid = {.paid_amount = 1000, .payment_id = "pay-1"};
    char long_id[ORDER_PAYMENT_ID_MAX + 2];
    struct order_state st;
    struct order_outcome o;

    (void)state;
    o = order_apply(&base[ORDER_RESERVED], ORDER_IN_PAYMENT_CREATED, &created);
    assert_int_equal(o.next.status, ORDER_PAYMENT_PENDING);
    assert_string_equal(o.next.payment_id, "pay-1");
    assert_int_equal(o.next.payment_amount, 1000);
    /* another payment.created names no other payment */
    st = o.next;
    o = order_apply(&st, ORDER_IN_PAYMENT_CREATED, &other);
    assert_int_equal(o.verdict, ORDER_DUPLICATE);
    assert_memory_equal(&o.next, &st, sizeof(st));
    assert_int_equal(order_apply(&st, ORDER_IN_PAYMENT_COMPLETED,
                                 &(struct order_args){.paid_amount = 5, .payment_id = "pay-2"})
                         .verdict,
                     ORDER_REJECTED);
    /* learned after a cancel: recorded only (status unchanged), so a payment completing then is
     * recognised and refunded */
    st = base[ORDER_CANCELLED];
    st.payment_id[0] = '\0';
    o = order_apply(&st, ORDER_IN_PAYMENT_CREATED, &created);
    assert_int_equal(o.verdict, ORDER_APPLIED);
    assert_int_equal(o.next.status, ORDER_CANCELLED);
    assert_int_equal(o.publish, ORDER_PUB_NONE);
    assert_string_equal(o.next.payment_id, "pay-1");
    o = order_apply(&o.next, ORDER_IN_PAYMENT_COMPLETED, &paid);
    assert_int_equal(o.verdict, ORDER_APPLIED);
    assert_int_equal(o.reason, ORDER_REASON_PAID_AFTER_CANCEL);
    assert_int_equal(o.publish, ORDER_PUB_CANCELLED);
    /* an id longer than the schemas allow is not learned */
    memset(long_id, 'p', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    o = order_apply(&base[ORDER_CREATED], ORDER_IN_PAYMENT_CREATED,
                    &(struct order_args){.payment_id = long_id, .payment_amount = 1000});
    assert_int_equal(o.next.payment_id[0], '\0');
}

/* A payment.completed that is not the payment learned, for its amount, is rejected in every
 * status: nothing changes, nothing is published. */
static void test_payment_not_recognised(void **state)
{
    const struct order_args forged[] = {
        {.paid_amount = 1000, .payment_id = "pay-2"}, /* another payment */
        {.paid_amount = 1, .payment_id = "pay-1"},    /* the payment, another amount */
        {.paid_amount = 1001, .payment_id = "pay-1"},
        {.paid_amount = 1000, .payment_id = NULL}, /* none named */
        {.paid_amount = 1000, .payment_id = ""},
    };
    int checked = 0;

    (void)state;
    for (int s = ORDER_CREATED; s < ORDER_NSTATUS; s++) {
        struct order_state unlearned = base[s];

        unlearned.payment_id[0] = '\0';
        for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
            const struct order_state *from[] = {&base[s], &unlearned};

            for (size_t k = 0; k < 2; k++) {
                struct order_outcome o =
                    order_apply(from[k], ORDER_IN_PAYMENT_COMPLETED, &forged[i]);

                if (o.verdict != ORDER_REJECTED)
                    fail_msg("%s × forged %zu (%s): %s", order_status_name((enum order_status)s), i,
                             k ? "nothing learned" : "learned", verdict_name(o.verdict));
                assert_memory_equal(&o.next, from[k], sizeof(o.next));
                assert_int_equal(o.publish, ORDER_PUB_NONE);
                checked++;
            }
        }
        /* the genuine one, before anything was learned */
        assert_int_equal(
            order_apply(&unlearned, ORDER_IN_PAYMENT_COMPLETED,
                        &(struct order_args){.paid_amount = 1000, .payment_id = "pay-1"})
                .verdict,
            ORDER_REJECTED);
    }
    assert_int_equal(checked, (ORDER_NSTATUS - 1) * 5 * 2);
}

static void test_refund_all(void **state)
{
    struct order_args all = {.refund_all = true};
    struct order_outcome o;

    (void)state;
    o = order_apply(&base[ORDER_CONFIRMED], ORDER_IN_REFUND, &all);
    assert_int_equal(o.next.status, ORDER_REFUNDED);
    o = order_apply(&base[ORDER_PARTIALLY_REFUNDED], ORDER_IN_REFUND, &all);
    assert_int_equal(o.next.status, ORDER_REFUNDED);
    assert_int_equal(o.publish, ORDER_PUB_REFUNDED);
}

/* ---- the refund rules ---- */

static const struct order_item three[] = {
    {11, 101, 2, 26000, false},
    {12, 102, 1, 10000, false},
    {13, 103, 1, 999, true},
};

static void test_refund_plan_some_and_all(void **state)
{
    const long long one[] = {12}, rest[] = {12, 11};
    struct order_refund r;

    (void)state;
    assert_int_equal(order_refund_plan(&base[ORDER_CONFIRMED], three, 3, one, 1, &r), 0);
    assert_int_equal(r.amount, 10000);
    assert_int_equal(r.n, 1);
    assert_false(r.all);
    assert_false(r.chosen[0]);
    assert_true(r.chosen[1]);
    assert_false(r.chosen[2]);
    /* every unrefunded item, in any order: the whole order is refunded */
    assert_int_equal(order_refund_plan(&base[ORDER_PARTIALLY_REFUNDED], three, 3, rest, 2, &r), 0);
    assert_int_equal(r.amount, 36000);
    assert_true(r.all);
    assert_true(r.chosen[0] && r.chosen[1] && !r.chosen[2]);
}

static void test_refund_plan_status(void **state)
{
    const long long one[] = {11};
    struct order_refund r;

    (void)state;
    for (int s = 0; s < ORDER_NSTATUS; s++) {
        int rc = order_refund_plan(&base[s], three, 3, one, 1, &r);

        if (s == ORDER_CONFIRMED || s == ORDER_PARTIALLY_REFUNDED)
            assert_int_equal(rc, 0);
        else
            assert_int_equal(rc, -EPERM);
    }
}

static void test_refund_plan_refused_items(void **state)
{
    const long long unknown[] = {11, 99, 13}, refunded[] = {11, 13, 99}, twice[] = {11, 11};
    struct order_item many[ORDER_MAX_ITEMS + 1];
    const long long last[] = {ORDER_MAX_ITEMS + 1};
    struct order_refund r;

    (void)state;
    /* the first offending id, in the request's order */
    assert_int_equal(order_refund_plan(&base[ORDER_CONFIRMED], three, 3, unknown, 3, &r), -ENOENT);
    assert_int_equal(r.item, 99);
    assert_int_equal(order_refund_plan(&base[ORDER_CONFIRMED], three, 3, refunded, 3, &r),
                     -EALREADY);
    assert_int_equal(r.item, 13);
    assert_int_equal(order_refund_plan(&base[ORDER_CONFIRMED], three, 3, twice, 2, &r), -EINVAL);
    assert_int_equal(order_refund_plan(&base[ORDER_CONFIRMED], three, 3, twice, 0, &r), -EINVAL);
    /* only the first ORDER_MAX_ITEMS items of an order are looked at */
    for (size_t i = 0; i < ORDER_MAX_ITEMS + 1; i++)
        many[i] = (struct order_item){(long long)i + 1, 101, 1, 100, false};
    assert_int_equal(
        order_refund_plan(&base[ORDER_CONFIRMED], many, ORDER_MAX_ITEMS + 1, last, 1, &r), -ENOENT);
    assert_int_equal(r.item, ORDER_MAX_ITEMS + 1);
}

static void test_names(void **state)
{
    enum order_status s;

    (void)state;
    for (int i = 0; i < ORDER_NSTATUS; i++) {
        assert_int_equal(order_status_parse(order_status_name((enum order_status)i), &s), 0);
        assert_int_equal(s, i);
    }
    assert_int_equal(order_status_parse("PAYED", &s), -EINVAL);
    assert_null(order_status_name(ORDER_NSTATUS));
    assert_string_equal(order_reason_name(ORDER_REASON_PAID_AFTER_CANCEL), "PAID_AFTER_CANCEL");
    assert_null(order_reason_name(ORDER_REASON_NONE));
    assert_true(order_is_terminal(ORDER_FAILED));
    assert_false(order_is_terminal(ORDER_PAID));
}

/* ---- the discount split ---- */

static long long sum(const long long *v, size_t n)
{
    long long s = 0;

    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s;
}

static void test_split_exact_and_proportional(void **state)
{
    const long long w[] = {10000, 20000, 30000};
    long long out[3];

    (void)state;
    assert_int_equal(order_split_discount(w, 3, 6000, out), 0);
    assert_int_equal(out[0], 1000);
    assert_int_equal(out[1], 2000);
    assert_int_equal(out[2], 3000);
}

static void test_split_remainders(void **state)
{
    const long long w[] = {1, 1, 1};
    const long long w2[] = {3333, 3333, 3334};
    const long long w3[] = {5, 3, 2}; /* 7 × (0.5, 0.3, 0.2) = 3.5, 2.1, 1.4 */
    long long out[3];

    (void)state;
    assert_int_equal(order_split_discount(w, 3, 2, out), 0);
    assert_int_equal(sum(out, 3), 2); /* 2/3 each: ties go to the earlier lines */
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], 0);
    assert_int_equal(order_split_discount(w2, 3, 1000, out), 0);
    assert_int_equal(sum(out, 3), 1000);
    assert_int_equal(out[0], 333);
    assert_int_equal(out[1], 333);
    assert_int_equal(out[2], 334);
    assert_int_equal(order_split_discount(w3, 3, 7, out), 0);
    /* floors 3, 2, 1 (6); remainders .5 .1 .4 → the extra unit to the first */
    assert_int_equal(out[0], 4);
    assert_int_equal(out[1], 2);
    assert_int_equal(out[2], 1);
}

static void test_split_edges(void **state)
{
    const long long w[] = {700, 300};
    const long long one[] = {12345};
    const long long zero[] = {0, 0};
    long long out[2];

    (void)state;
    assert_int_equal(order_split_discount(w, 2, 0, out), 0); /* no discount */
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 0);
    assert_int_equal(order_split_discount(w, 2, 1000, out), 0); /* discount = total */
    assert_int_equal(out[0], 700);
    assert_int_equal(out[1], 300);
    assert_int_equal(order_split_discount(one, 1, 999, out), 0); /* one line takes it all */
    assert_int_equal(out[0], 999);
    assert_int_equal(order_split_discount(zero, 2, 0, out), 0);
    assert_int_equal(order_split_discount(w, 2, 1001, out), -EINVAL); /* more than total */
    assert_int_equal(order_split_discount(w, 2, -1, out), -EINVAL);
    assert_int_equal(order_split_discount(w, 0, 0, out), -EINVAL);
    assert_int_equal(order_split_discount(zero, 2, 1, out), -EINVAL);
}

/* Many pseudo-random cases: exact sum, each share within one unit of its exact proportion,
 * never above the line total. */
static void test_split_properties(void **state)
{
    unsigned long long x = 88172645463325252ULL;
    long long w[ORDER_MAX_ITEMS], out[ORDER_MAX_ITEMS];

    (void)state;
    for (int round = 0; round < 2000; round++) {
        size_t n = 0;
        long long total, discount;

        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        n = 1 + x % ORDER_MAX_ITEMS;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            w[i] = (long long)(1 + x % 1000) * (long long)(1 + (x >> 20) % 100000);
        }
        total = sum(w, n);
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        discount = (long long)(x % (unsigned long long)(total + 1));
        assert_int_equal(order_split_discount(w, n, discount, out), 0);
        assert_int_equal(sum(out, n), discount);
        for (size_t i = 0; i < n; i++) {
            long double exact = (long double)discount * w[i] / total;

            assert_true(out[i] >= 0 && out[i] <= w[i]);
            assert_true((long double)out[i] > exact - 1 && (long double)out[i] < exact + 1);
        }
    }
}

static void test_price(void **state)
{
    struct order_line lines[2] = {{.sku_id = 1, .quantity = 2, .unit_price = 15000},
                                  {.sku_id = 2, .quantity = 1, .unit_price = 10000}};
    struct order_totals t;

    (void)state;
    assert_int_equal(order_price(lines, 2, 4000, &t), 0);
    assert_int_equal(t.total, 40000);
    assert_int_equal(t.payable, 36000);
    assert_int_equal(lines[0].line_total, 30000);
    assert_int_equal(lines[0].discount, 3000);
    assert_int_equal(lines[0].amount, 27000);
    assert_int_equal(lines[1].amount, 9000);
    assert_int_equal(lines[0].amount + lines[1].amount, t.payable);
    assert_int_equal(order_price(lines, 2, 40001, &t), -ERANGE);
    assert_int_equal(order_price(lines, 2, -1, &t), -EINVAL);
    lines[1].quantity = ORDER_MAX_QUANTITY + 1;
    assert_int_equal(order_price(lines, 2, 0, &t), -EINVAL);
    lines[1].quantity = 0;
    assert_int_equal(order_price(lines, 2, 0, &t), -EINVAL);
    assert_int_equal(order_price(lines, 0, 0, &t), -EINVAL);
    assert_int_equal(order_price(lines, ORDER_MAX_ITEMS + 1, 0, &t), -EINVAL);
    /* the order total is bounded */
    lines[0].quantity = 1000;
    lines[0].unit_price = ORDER_MAX_PRICE;
    lines[1].quantity = 1;
    assert_int_equal(order_price(lines, 2, 0, &t), -E2BIG);
    lines[0].quantity = 1;
    lines[1].unit_price = 1;
    assert_int_equal(order_price(lines, 2, 0, &t), -E2BIG);
    lines[0].unit_price = ORDER_MAX_PRICE - 1;
    assert_int_equal(order_price(lines, 2, ORDER_MAX_TOTAL, &t), 0);
    assert_int_equal(t.payable, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_status_and_input),
        cmocka_unit_test(test_pending_in_either_order),
        cmocka_unit_test(test_completed_before_reserved),
        cmocka_unit_test(test_amount_mismatch),
        cmocka_unit_test(test_payment_learned),
        cmocka_unit_test(test_payment_not_recognised),
        cmocka_unit_test(test_refund_all),
        cmocka_unit_test(test_refund_plan_some_and_all),
        cmocka_unit_test(test_refund_plan_status),
        cmocka_unit_test(test_refund_plan_refused_items),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_split_exact_and_proportional),
        cmocka_unit_test(test_split_remainders),
        cmocka_unit_test(test_split_edges),
        cmocka_unit_test(test_split_properties),
        cmocka_unit_test(test_price),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
