/*
 * stock.h - inventory's pure domain: order lines, the per-SKU counters and their invariant,
 * and what a stock script's answer means. No I/O, no adapter headers.
 *
 * Counters per SKU (all ≥ 0):
 *   received  units put into stock (initial quantity + admin increases − admin decreases)
 *   sold      units of confirmed orders (cumulative)
 *   returned  units given back by refunds (cumulative)
 *   available units that may be reserved
 *   reserved  units held by orders not yet confirmed or released
 * Invariant: received − sold + returned = available + reserved.
 *
 * The atomic changes themselves run in Redis (scripts.c); this module prepares their input
 * (merged lines) and interprets their answer (a status word) into an outcome.
 */
#ifndef INVENTORY_STOCK_H
#define INVENTORY_STOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "common/event_types.h"

#define STOCK_MAX_LINES 100             /* lines per order or bulk request */
#define STOCK_MAX_QUANTITY 1000000000LL /* per line, also after merging */

struct stock_line {
    long long sku_id;
    long long quantity;
};

struct stock_counters {
    long long available;
    long long reserved;
    long long sold;
    long long returned;
    long long received;
};

/*
 * Merges lines naming the same SKU (quantities added) in place, keeping the order in which
 * each SKU first appears; the merged count goes to *@ret_n. Returns 0, or -EINVAL when a SKU id
 * or quantity is not positive, or a merged quantity exceeds STOCK_MAX_QUANTITY (then @lines is
 * left partly merged and must not be used).
 */
int stock_merge_lines(struct stock_line *lines, size_t n, size_t *ret_n);

/* True when every counter is ≥ 0 and received − sold + returned = available + reserved. */
bool stock_invariant_ok(const struct stock_counters *c);

/* What an event's script did. */
enum stock_outcome {
    STOCK_INITIALISED = 0,      /* product.sku.created: stock set up */
    STOCK_ALREADY_EXISTS,       /* product.sku.created for a SKU that has stock: unchanged */
    STOCK_RESERVED,             /* order.placed: every line reserved */
    STOCK_NOT_ENOUGH_STOCK,     /* order.placed: nothing reserved, some line short */
    STOCK_SKU_NOT_FOUND,        /* order.placed: nothing reserved, some SKU unknown */
    STOCK_SKU_PENDING,          /* order.placed: some SKU unknown yet, nothing done: retried */
    STOCK_ORDER_DECIDED,        /* order.placed for an order already confirmed or released */
    STOCK_CONFIRMED,            /* order.confirmed: the reservation is a sale */
    STOCK_NO_RESERVATION,       /* order.confirmed: nothing reserved for the order */
    STOCK_RESERVATION_RELEASED, /* order.confirmed: the reservation was released before */
    STOCK_RELEASED,             /* order.cancelled: the reservation went back to available */
    STOCK_NOTHING_TO_RELEASE,   /* order.cancelled: no reservation held (none, or done) */
    STOCK_RETURNED,             /* order.refunded: sold units returned (maybe zero) */
    STOCK_NOT_CONFIRMED,        /* order.refunded for an order that was never a sale */
};

/* The script's status word ("RESERVED", "NOT_ENOUGH_STOCK", …) as an outcome.
 * Returns 0 or -EINVAL for a word this version does not know. */
int stock_outcome_parse(const char *status, enum stock_outcome *ret);

/* The stock.* event type an outcome publishes, or NULL when it publishes nothing. */
const char *stock_outcome_event(enum stock_outcome outcome);

/* True when the outcome is a business refusal worth a warning in the log (not an error). */
bool stock_outcome_refused(enum stock_outcome outcome);

/*
 * Whether delivery @attempt (1 on the first) of an order.placed may still wait for a SKU that
 * has no stock yet (its product.sku.created comes on another topic and can be taken after the
 * order): true while @attempt is below @wait_attempts (INVENTORY_UNKNOWN_SKU_ATTEMPTS) and below
 * @max_attempts (CONSUMER_MAX_ATTEMPTS), so the last delivery always decides and a waiting
 * order never reaches the dead-letter topic.
 */
bool stock_wait_unknown(int attempt, long wait_attempts, long max_attempts);

/* Admin increase / decrease: the script's status word as an answer. */
enum stock_adjust {
    STOCK_ADJUST_OK = 0,
    STOCK_ADJUST_SKU_NOT_FOUND, /* 404: nothing changed */
    STOCK_ADJUST_NOT_ENOUGH,    /* 409: a decrease would make available negative */
    STOCK_ADJUST_REPLAYED,      /* 200: this Idempotency-Key's request was applied already */
    STOCK_ADJUST_KEY_REUSED,    /* 422: the Idempotency-Key belongs to a different request */
};

int stock_adjust_parse(const char *status, enum stock_adjust *ret);

/* How long an admin change's Idempotency-Key is remembered (a client's retries fall within). */
#define STOCK_IDEM_TTL_S 86400
#define STOCK_IDEM_KEY_MAX 128 /* characters of an Idempotency-Key */
/* Room for stock_adjust_fingerprint() of STOCK_MAX_LINES lines. */
#define STOCK_FINGERPRINT_MAX (2 + STOCK_MAX_LINES * 42)

/*
 * What identifies an admin change for its Idempotency-Key: the direction and the (merged)
 * lines, e.g. "+7x5,9x2" — the same request retried gives the same text, another request
 * another. 0, or -ENOSPC when @outlen is too small.
 */
int stock_adjust_fingerprint(int sign, const struct stock_line *lines, size_t n, char *out,
                             size_t outlen);

#endif
