/*
 * order.h - the order saga's pure domain: statuses, the transition table of docs/saga.md,
 * pricing (the discount split across lines), amount validation and the refund rules. No I/O, no
 * JSON.
 *
 * An order remembers three facts - stock reserved, payment created, payment completed - and
 * its status follows from them. order_apply() is the whole state machine: given the current
 * state and an input (an event consumed, a user command, the payment deadline) it says whether
 * the input is applied, ignored as a duplicate / stale event, refused or rejected, and what to
 * publish. Events that do not fit are never errors: they are duplicates or stale (KAFKA_OK);
 * user commands that do not fit are refused (HTTP 409). The one exception is an event that
 * contradicts what the order learned - a payment.completed for a payment the order never
 * learned from payment.created, or for another amount: rejected (the consumer dead-letters it).
 */
#ifndef ORDER_H
#define ORDER_H

#include <stdbool.h>
#include <stddef.h>

enum order_status {
    ORDER_INIT = 0,
    ORDER_CREATED,
    ORDER_RESERVED,
    ORDER_PAYMENT_CREATED,
    ORDER_PAYMENT_PENDING,
    ORDER_PAID,
    ORDER_CONFIRMED,
    ORDER_PARTIALLY_REFUNDED,
    ORDER_REFUNDED,
    ORDER_CANCELLED,
    ORDER_FAILED,
    ORDER_NSTATUS
};

enum order_input {
    ORDER_IN_PLACE = 0,                /* POST /api/orders */
    ORDER_IN_STOCK_RESERVED,           /* stock.reserved */
    ORDER_IN_STOCK_RESERVATION_FAILED, /* stock.reservation.failed */
    ORDER_IN_STOCK_CONFIRMED,          /* stock.confirmed */
    ORDER_IN_STOCK_CONFIRM_FAILED,     /* stock.confirm.failed */
    ORDER_IN_STOCK_RELEASED,           /* stock.released */
    ORDER_IN_PAYMENT_CREATED,          /* payment.created */
    ORDER_IN_PAYMENT_COMPLETED,        /* payment.completed (paid amount in the args) */
    ORDER_IN_PAYMENT_FAILED,           /* payment.failed */
    ORDER_IN_PAYMENT_REFUNDED,         /* payment.refunded */
    ORDER_IN_USER_CANCEL,              /* POST /api/orders/{id}/cancel */
    ORDER_IN_DEADLINE,                 /* ORDER_PAYMENT_DEADLINE_S passed */
    ORDER_IN_REFUND,                   /* POST /api/orders/{id}/refund */
    ORDER_NINPUT
};

enum order_verdict {
    ORDER_APPLIED = 0, /* write next state + history (+ the event to publish) */
    ORDER_DUPLICATE,   /* duplicate or stale: ignored, recorded nowhere */
    ORDER_REFUSED,     /* not allowed now (user commands: 409) */
    /* an event the order cannot recognise (payment.completed not matching the payment learned
     * from payment.created): nothing is written, not even the inbox; dead-lettered */
    ORDER_REJECTED,
};

enum order_publish {
    ORDER_PUB_NONE = 0,
    ORDER_PUB_PLACED,
    ORDER_PUB_CONFIRMED,
    ORDER_PUB_CANCELLED,
    ORDER_PUB_REFUNDED,
};

enum order_reason {
    ORDER_REASON_NONE = 0,
    ORDER_REASON_USER_CANCELLED,
    ORDER_REASON_PAYMENT_FAILED,
    ORDER_REASON_PAYMENT_TIMEOUT,
    ORDER_REASON_STOCK_RESERVATION_FAILED,
    ORDER_REASON_STOCK_CONFIRM_FAILED,
    ORDER_REASON_PAID_AFTER_CANCEL,
    ORDER_REASON_AMOUNT_MISMATCH,
};

#define ORDER_PAYMENT_ID_MAX 64 /* the payment.* schemas' bound */

struct order_state {
    enum order_status status;
    bool stock_reserved;
    bool payment_created;
    bool payment_completed;
    long long payable_amount;
    /* the payment learned from the first payment.created (payment_id "" until then): the
     * only one a payment.completed may name, for exactly its amount */
    char payment_id[ORDER_PAYMENT_ID_MAX + 1];
    long long payment_amount;
};

/* What an input carries beyond its kind. */
struct order_args {
    long long paid_amount;    /* ORDER_IN_PAYMENT_COMPLETED */
    const char *payment_id;   /* ORDER_IN_PAYMENT_CREATED, ORDER_IN_PAYMENT_COMPLETED */
    long long payment_amount; /* ORDER_IN_PAYMENT_CREATED: the payment's amount */
    bool refund_all;          /* ORDER_IN_REFUND: after it no item of the order is unrefunded */
};

struct order_outcome {
    enum order_verdict verdict;
    struct order_state next; /* == the current state unless APPLIED */
    enum order_publish publish;
    enum order_reason reason; /* of order.cancelled (and the history row) */
};

/*
 * The transition table of docs/saga.md. @args may be NULL for inputs without arguments.
 * Rules beyond the table: the first payment.created teaches the order its payment (id and
 * amount) in any status - where the table has no transition the step only records it (status
 * unchanged, a history row) - and a later one names no other; a payment.completed whose
 * paymentId and paidAmount are not the learned ones is ORDER_REJECTED before any other rule; a
 * payment.completed after one was already recorded is a duplicate (an order is never captured
 * twice); the deadline does not cancel an order whose payment completed (it waits for
 * stock.reserved); INIT accepts only ORDER_IN_PLACE.
 */
struct order_outcome order_apply(const struct order_state *cur, enum order_input in,
                                 const struct order_args *args);

/* CONFIRMED, PARTIALLY_REFUNDED, REFUNDED, CANCELLED, FAILED. */
bool order_is_terminal(enum order_status s);

/* Names as stored and shown ("PAYMENT_PENDING"); NULL for out-of-range values. */
const char *order_status_name(enum order_status s);
const char *order_input_name(enum order_input in);
const char *order_reason_name(enum order_reason r);

/* Parses a status name; -EINVAL when unknown. */
int order_status_parse(const char *s, enum order_status *ret);

/* ---- pricing ---- */
#define ORDER_MAX_ITEMS 50
#define ORDER_MAX_QUANTITY 1000
#define ORDER_MAX_PRICE 1000000000000LL /* per unit, KRW */
#define ORDER_MAX_TOTAL 1000000000000LL /* per order (the order.placed schema's bound) */

struct order_line {
    long long sku_id;
    long long quantity;
    long long unit_price;
    long long line_total; /* out: unit_price * quantity */
    long long discount;   /* out: this line's share of the order discount */
    long long amount;     /* out: line_total - discount */
};

struct order_totals {
    long long total;
    long long discount;
    long long payable;
};

/*
 * Splits @discount over @n lines in proportion to @weights in whole units, summing exactly to
 * @discount (largest remainder; ties go to the earlier line). @ret_shares gets n values.
 * Returns 0, or -EINVAL when n == 0, a weight is negative, discount < 0 or discount > the sum
 * of the weights (with weights summing to 0 only discount 0 is valid).
 */
int order_split_discount(const long long *weights, size_t n, long long discount,
                         long long *ret_shares);

/*
 * Prices @n lines (quantity and unit_price set): fills line_total, discount and amount of each
 * and @ret. Returns 0, -EINVAL (n outside 1..ORDER_MAX_ITEMS, quantity outside
 * 1..ORDER_MAX_QUANTITY, unit price outside 1..ORDER_MAX_PRICE, discount < 0), -E2BIG (total
 * above ORDER_MAX_TOTAL) or -ERANGE (discount > total).
 */
int order_price(struct order_line *lines, size_t n, long long discount, struct order_totals *ret);

/* ---- refunds ---- */

/* An item of an order as the refund rules see it. */
struct order_item {
    long long id;
    long long sku_id;
    long long quantity;
    long long amount; /* the line's payable share: what refunding it gives back */
    bool refunded;
};

/* What order_refund_plan() decided. */
struct order_refund {
    bool chosen[ORDER_MAX_ITEMS]; /* per item of the order, in the order's item order */
    size_t n;                     /* how many items are refunded */
    long long amount;             /* the sum of the chosen items' amounts */
    bool all;                     /* afterwards no item is unrefunded (order_args.refund_all) */
    long long item;               /* on -ENOENT / -EALREADY: the offending item id */
};

/*
 * The refund rules: refunding the items @ids (@nids of them) of an order in state @st with
 * items @items (@nitems; only the first ORDER_MAX_ITEMS are looked at). Fills @ret and returns
 * 0, or -EPERM when the status allows no refund (order_apply() refuses ORDER_IN_REFUND),
 * -EINVAL when @nids is outside 1..ORDER_MAX_ITEMS or an id is listed twice, -ENOENT when an
 * id is not an item of the order, -EALREADY when its item is refunded already (ret->item
 * names the first offending id, in @ids order).
 */
int order_refund_plan(const struct order_state *st, const struct order_item *items, size_t nitems,
                      const long long *ids, size_t nids, struct order_refund *ret);

#endif
