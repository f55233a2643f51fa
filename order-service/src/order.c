/* order.c - the order saga's state machine, pricing and refund rules (see order.h). Pure: no
 * I/O. */
#include "order.h"

#include <errno.h>
#include <string.h>

static const char *const status_names[ORDER_NSTATUS] = {
    "INIT",   "CREATED",   "RESERVED",           "PAYMENT_CREATED", "PAYMENT_PENDING",
    "PAID",   "CONFIRMED", "PARTIALLY_REFUNDED", "REFUNDED",        "CANCELLED",
    "FAILED",
};

static const char *const input_names[ORDER_NINPUT] = {
    "PLACE",
    "STOCK_RESERVED",
    "STOCK_RESERVATION_FAILED",
    "STOCK_CONFIRMED",
    "STOCK_CONFIRM_FAILED",
    "STOCK_RELEASED",
    "PAYMENT_CREATED",
    "PAYMENT_COMPLETED",
    "PAYMENT_FAILED",
    "PAYMENT_REFUNDED",
    "USER_CANCEL",
    "DEADLINE",
    "REFUND",
};

static const char *const reason_names[] = {
    NULL,
    "USER_CANCELLED",
    "PAYMENT_FAILED",
    "PAYMENT_TIMEOUT",
    "STOCK_RESERVATION_FAILED",
    "STOCK_CONFIRM_FAILED",
    "PAID_AFTER_CANCEL",
    "AMOUNT_MISMATCH",
};

const char *order_status_name(enum order_status s)
{
    return (unsigned)s < ORDER_NSTATUS ? status_names[s] : NULL;
}

const char *order_input_name(enum order_input in)
{
    return (unsigned)in < ORDER_NINPUT ? input_names[in] : NULL;
}

const char *order_reason_name(enum order_reason r)
{
    return (unsigned)r < sizeof(reason_names) / sizeof(reason_names[0]) ? reason_names[r] : NULL;
}

int order_status_parse(const char *s, enum order_status *ret)
{
    for (int i = 0; s && i < ORDER_NSTATUS; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *ret = (enum order_status)i;
            return 0;
        }
    }
    return -EINVAL;
}

bool order_is_terminal(enum order_status s)
{
    return s == ORDER_CONFIRMED || s == ORDER_PARTIALLY_REFUNDED || s == ORDER_REFUNDED ||
           s == ORDER_CANCELLED || s == ORDER_FAILED;
}

/* CREATED, RESERVED, PAYMENT_CREATED, PAYMENT_PENDING: alive and not yet paid. */
static bool before_paid(enum order_status s)
{
    return s >= ORDER_CREATED && s < ORDER_PAID;
}

/* The status the three facts imply for an order that is alive and before CONFIRMED. */
static enum order_status derived(const struct order_state *st)
{
    if (st->stock_reserved && st->payment_completed)
        return ORDER_PAID;
    if (st->stock_reserved && st->payment_created)
        return ORDER_PAYMENT_PENDING;
    if (st->stock_reserved)
        return ORDER_RESERVED;
    if (st->payment_created || st->payment_completed)
        return ORDER_PAYMENT_CREATED;
    return ORDER_CREATED;
}

static void to(struct order_outcome *o, enum order_status s, enum order_publish pub,
               enum order_reason reason)
{
    o->verdict = ORDER_APPLIED;
    o->next.status = s;
    o->publish = pub;
    o->reason = reason;
}

/* payment.created: the table rows "CREATED" and "RESERVED / PAYMENT_CREATED", and the payment
 * learned once, whatever the status (a payment completing after a cancel must still be
 * recognised so that PAID_AFTER_CANCEL asks for its refund). */
static void payment_created(const struct order_state *cur, const struct order_args *args,
                            struct order_outcome *o)
{
    const char *id = args && args->payment_id ? args->payment_id : "";
    size_t len = strnlen(id, ORDER_PAYMENT_ID_MAX + 1);
    bool learn = !cur->payment_id[0] && len > 0 && len <= ORDER_PAYMENT_ID_MAX;
    enum order_status s;

    if (learn) {
        memcpy(o->next.payment_id, id, len);
        o->next.payment_id[len] = '\0';
        o->next.payment_amount = args->payment_amount;
    }
    if (cur->status == ORDER_CREATED || cur->status == ORDER_RESERVED) {
        o->next.payment_created = true;
        s = derived(&o->next);
        to(o, s, s == ORDER_PAID ? ORDER_PUB_CONFIRMED : ORDER_PUB_NONE, ORDER_REASON_NONE);
    } else if (learn) {
        to(o, cur->status, ORDER_PUB_NONE, ORDER_REASON_NONE); /* recorded in the history */
    }
}

/* Whether a payment.completed names the payment the order learned, for its amount. */
static bool payment_recognised(const struct order_state *cur, const struct order_args *args)
{
    return args && args->payment_id && cur->payment_id[0] &&
           strcmp(args->payment_id, cur->payment_id) == 0 &&
           args->paid_amount == cur->payment_amount;
}

/* payment.completed: see the table rows "any non-terminal before PAID", "CANCELLED / FAILED",
 * "payment.completed with amount ≠ payable" and "not the payment learned". */
static void payment_completed(const struct order_state *cur, const struct order_args *args,
                              struct order_outcome *o)
{
    long long paid;

    if (!payment_recognised(cur, args)) {
        o->verdict = ORDER_REJECTED;
        return;
    }
    paid = args->paid_amount;
    if (cur->payment_completed)
        return; /* captured once already: a duplicate, never a second capture */
    o->next.payment_completed = true;
    if (paid != cur->payable_amount) {
        if (order_is_terminal(cur->status))
            to(o, cur->status, ORDER_PUB_CANCELLED, ORDER_REASON_AMOUNT_MISMATCH);
        else
            to(o, ORDER_CANCELLED, ORDER_PUB_CANCELLED, ORDER_REASON_AMOUNT_MISMATCH);
        return;
    }
    if (cur->status == ORDER_CANCELLED || cur->status == ORDER_FAILED) {
        to(o, cur->status, ORDER_PUB_CANCELLED, ORDER_REASON_PAID_AFTER_CANCEL);
        return;
    }
    if (!before_paid(cur->status))
        return; /* CONFIRMED or a refund status without a recorded payment: stale */
    /* PAID if stock is reserved, else remembered until stock.reserved */
    {
        enum order_status s = derived(&o->next);

        if (s == ORDER_PAID)
            to(o, s, ORDER_PUB_CONFIRMED, ORDER_REASON_NONE);
        else
            to(o, cur->status, ORDER_PUB_NONE, ORDER_REASON_NONE);
    }
}

struct order_outcome order_apply(const struct order_state *cur, enum order_input in,
                                 const struct order_args *args)
{
    struct order_outcome o = {.verdict = ORDER_DUPLICATE, .next = *cur};
    enum order_status s = cur->status;

    if (s == ORDER_INIT || (unsigned)s >= ORDER_NSTATUS) {
        if (s == ORDER_INIT && in == ORDER_IN_PLACE)
            to(&o, ORDER_CREATED, ORDER_PUB_PLACED, ORDER_REASON_NONE);
        else
            o.verdict = ORDER_REFUSED;
        return o;
    }
    switch (in) {
    case ORDER_IN_PLACE:
        o.verdict = ORDER_REFUSED; /* the order exists already */
        break;
    case ORDER_IN_STOCK_RESERVED:
        if (s == ORDER_CREATED || s == ORDER_PAYMENT_CREATED) {
            o.next.stock_reserved = true;
            s = derived(&o.next);
            to(&o, s, s == ORDER_PAID ? ORDER_PUB_CONFIRMED : ORDER_PUB_NONE, ORDER_REASON_NONE);
        }
        break;
    case ORDER_IN_PAYMENT_CREATED:
        payment_created(cur, args, &o);
        break;
    case ORDER_IN_PAYMENT_COMPLETED:
        payment_completed(cur, args, &o);
        break;
    case ORDER_IN_STOCK_CONFIRMED:
        if (s == ORDER_PAID)
            to(&o, ORDER_CONFIRMED, ORDER_PUB_NONE, ORDER_REASON_NONE);
        break;
    case ORDER_IN_STOCK_CONFIRM_FAILED:
        if (s == ORDER_PAID)
            to(&o, ORDER_CANCELLED, ORDER_PUB_CANCELLED, ORDER_REASON_STOCK_CONFIRM_FAILED);
        break;
    case ORDER_IN_STOCK_RESERVATION_FAILED:
        if (before_paid(s) && !cur->stock_reserved)
            to(&o, ORDER_FAILED, ORDER_PUB_CANCELLED, ORDER_REASON_STOCK_RESERVATION_FAILED);
        break;
    case ORDER_IN_PAYMENT_FAILED:
        if (before_paid(s) && !cur->payment_completed)
            to(&o, ORDER_CANCELLED, ORDER_PUB_CANCELLED, ORDER_REASON_PAYMENT_FAILED);
        break;
    case ORDER_IN_STOCK_RELEASED:
    case ORDER_IN_PAYMENT_REFUNDED:
        to(&o, s, ORDER_PUB_NONE, ORDER_REASON_NONE); /* recorded in the history only */
        break;
    case ORDER_IN_USER_CANCEL:
        if (before_paid(s) || s == ORDER_PAID)
            to(&o, ORDER_CANCELLED, ORDER_PUB_CANCELLED, ORDER_REASON_USER_CANCELLED);
        else if (s != ORDER_CANCELLED)
            o.verdict = ORDER_REFUSED; /* a repeated cancel is a duplicate */
        break;
    case ORDER_IN_DEADLINE:
        if (before_paid(s) && !cur->payment_completed)
            to(&o, ORDER_CANCELLED, ORDER_PUB_CANCELLED, ORDER_REASON_PAYMENT_TIMEOUT);
        break;
    case ORDER_IN_REFUND:
        if (s == ORDER_CONFIRMED || s == ORDER_PARTIALLY_REFUNDED)
            to(&o, args && args->refund_all ? ORDER_REFUNDED : ORDER_PARTIALLY_REFUNDED,
               ORDER_PUB_REFUNDED, ORDER_REASON_NONE);
        else
            o.verdict = ORDER_REFUSED;
        break;
    default:
        o.verdict = ORDER_REFUSED;
        break;
    }
    if (o.verdict != ORDER_APPLIED)
        o.next = *cur;
    return o;
}

int order_split_discount(const long long *weights, size_t n, long long discount,
                         long long *ret_shares)
{
    long long sum = 0, given = 0;

    if (n == 0 || discount < 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (weights[i] < 0 || __builtin_add_overflow(sum, weights[i], &sum))
            return -EINVAL;
    }
    if (discount > sum)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        ret_shares[i] = sum ? (long long)((__int128)discount * weights[i] / sum) : 0;
        given += ret_shares[i];
    }
    /* hand the rest out one unit at a time, largest remainder first, earlier line on ties */
    while (given < discount) {
        size_t best = 0;
        __int128 best_rem = -1;

        for (size_t i = 0; i < n; i++) {
            __int128 r = (__int128)discount * weights[i] % sum;

            /* a line that already got its extra unit sorts below every other */
            if ((__int128)ret_shares[i] * sum > (__int128)discount * weights[i])
                r = -1;
            if (r > best_rem) {
                best_rem = r;
                best = i;
            }
        }
        ret_shares[best]++;
        given++;
    }
    return 0;
}

int order_price(struct order_line *lines, size_t n, long long discount, struct order_totals *ret)
{
    long long weights[ORDER_MAX_ITEMS], shares[ORDER_MAX_ITEMS];
    long long total = 0;
    int rc;

    if (n == 0 || n > ORDER_MAX_ITEMS || discount < 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (lines[i].quantity < 1 || lines[i].quantity > ORDER_MAX_QUANTITY ||
            lines[i].unit_price < 1 || lines[i].unit_price > ORDER_MAX_PRICE)
            return -EINVAL;
        lines[i].line_total = lines[i].unit_price * lines[i].quantity;
        weights[i] = lines[i].line_total;
        total += lines[i].line_total; /* ≤ 50 * 1000 * 1e12: no overflow */
    }
    if (total > ORDER_MAX_TOTAL)
        return -E2BIG;
    if (discount > total)
        return -ERANGE;
    rc = order_split_discount(weights, n, discount, shares);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        lines[i].discount = shares[i];
        lines[i].amount = lines[i].line_total - shares[i];
    }
    ret->total = total;
    ret->discount = discount;
    ret->payable = total - discount;
    return 0;
}

int order_refund_plan(const struct order_state *st, const struct order_item *items, size_t nitems,
                      const long long *ids, size_t nids, struct order_refund *ret)
{
    size_t unrefunded = 0;

    memset(ret, 0, sizeof(*ret));
    if (order_apply(st, ORDER_IN_REFUND, NULL).verdict != ORDER_APPLIED)
        return -EPERM;
    if (nids == 0 || nids > ORDER_MAX_ITEMS)
        return -EINVAL;
    if (nitems > ORDER_MAX_ITEMS)
        nitems = ORDER_MAX_ITEMS;
    for (size_t r = 0; r < nitems; r++)
        unrefunded += !items[r].refunded;
    for (size_t i = 0; i < nids; i++) {
        size_t r;

        for (size_t k = 0; k < i; k++) {
            if (ids[k] == ids[i])
                return -EINVAL;
        }
        for (r = 0; r < nitems && items[r].id != ids[i]; r++)
            ;
        if (r == nitems) {
            ret->item = ids[i];
            return -ENOENT;
        }
        if (items[r].refunded) {
            ret->item = ids[i];
            return -EALREADY;
        }
        ret->chosen[r] = true;
        ret->amount += items[r].amount;
    }
    ret->n = nids;
    ret->all = nids == unrefunded;
    return 0;
}
