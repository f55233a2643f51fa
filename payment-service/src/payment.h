/*
 * payment.h - payment domain rules, pure C (no I/O, no JSON, no database).
 *
 * A payment exists per order from order.placed on, READY for the order's payable amount.
 * Status machine (anything not listed changes nothing):
 *
 *   READY            --confirm approved-->  APPROVED          (captured = amount)
 *   READY            --confirm declined-->  FAILED            (gateway decline or timeout)
 *   READY            --order.cancelled-->   CANCELED          (nothing captured, no refund)
 *   APPROVED         --order.cancelled-->   CANCELED          (refund everything not yet refunded)
 *   PARTIAL_CANCELED --order.cancelled-->   CANCELED          (same)
 *   APPROVED         --order.refunded(a)--> PARTIAL_CANCELED  (or CANCELED when nothing remains)
 *   PARTIAL_CANCELED --order.refunded(a)--> PARTIAL_CANCELED  (or CANCELED)
 *
 * Refund arithmetic: a refund never exceeds captured − refunded; a request for more is cut to
 * what remains (the caller logs it). FAILED and CANCELED are terminal.
 *
 * The gateway simulator decides from the client's paymentKey, deterministically:
 *   "fail_<CODE>"  declined, reason "DECLINED_<CODE>" (CODE upper-cased, [A-Z0-9_] only,
 *                  at most 32 characters; "DECLINED_UNKNOWN" when empty);
 *   "slow_…"       no answer within the gateway timeout: reason "GATEWAY_TIMEOUT"; the caller
 *                  waits min(timeout + 100 ms, 2 s) to make the delay visible but keep tests fast;
 *   anything else  approved, pg transaction id "pg_" + the first 16 hex digits of
 *                  sha256(paymentKey).
 */
#ifndef PAYMENT_H
#define PAYMENT_H

#include <stddef.h>

#define PAYMENT_MAX_AMOUNT 1000000000000LL /* KRW */
#define PAYMENT_MAX_KEY 200                /* paymentKey length */
#define PAYMENT_REASON_MAX 64              /* "DECLINED_<CODE>" and friends, with the NUL */
#define PAYMENT_PG_ID_MAX 24               /* "pg_" + 16 hex + NUL fits */
#define PAYMENT_SLOW_WAIT_CAP_MS 2000

enum payment_status {
    PAYMENT_READY = 0,
    PAYMENT_APPROVED,
    PAYMENT_FAILED,
    PAYMENT_CANCELED,
    PAYMENT_PARTIAL_CANCELED,
};

/* The rules see only these fields. */
struct payment {
    enum payment_status status;
    long long amount;   /* payable amount of the order = what a confirm captures */
    long long refunded; /* refunded so far */
};

enum payment_outcome {
    PAYMENT_OK = 0,          /* the change applies (see the function) */
    PAYMENT_NOOP,            /* nothing to do: already done, or nothing captured */
    PAYMENT_NOT_READY,       /* confirm on a payment that is not READY */
    PAYMENT_AMOUNT_MISMATCH, /* confirm amount ≠ payment amount */
    PAYMENT_INVALID,         /* a refund amount ≤ 0 */
};

/* "READY", "APPROVED", …; "UNKNOWN" for a value outside the enum. Static storage. */
const char *payment_status_name(enum payment_status status);

/* Parses a status name. 0 or -EINVAL. */
int payment_status_parse(const char *name, enum payment_status *ret_status);

/* Captured − refunded: what a refund may still return. */
long long payment_remaining(const struct payment *p);

/* May @p be confirmed for @amount? PAYMENT_OK, PAYMENT_NOT_READY or PAYMENT_AMOUNT_MISMATCH.
 * Status is checked first (a cancelled payment is 409 whatever the amount). */
enum payment_outcome payment_check_confirm(const struct payment *p, long long amount);

/* The gateway's answer applied: READY → APPROVED (@approved) or FAILED. PAYMENT_OK, or
 * PAYMENT_NOT_READY (unchanged) when @p is no longer READY. */
enum payment_outcome payment_complete(struct payment *p, int approved);

/*
 * order.cancelled: READY → CANCELED with *@ret_refund = 0; APPROVED / PARTIAL_CANCELED →
 * CANCELED with *@ret_refund = the remaining amount (refunded updated). PAYMENT_OK then;
 * PAYMENT_NOOP for FAILED / CANCELED (unchanged, *@ret_refund = 0).
 */
enum payment_outcome payment_cancel(struct payment *p, long long *ret_refund);

/*
 * order.refunded for @amount: on APPROVED / PARTIAL_CANCELED refunds min(@amount, remaining)
 * into *@ret_refund and moves to PARTIAL_CANCELED, or CANCELED when nothing remains
 * (PAYMENT_OK). PAYMENT_NOOP when nothing is captured (READY, FAILED, CANCELED);
 * PAYMENT_INVALID for @amount ≤ 0. *@ret_refund is 0 unless PAYMENT_OK.
 */
enum payment_outcome payment_refund(struct payment *p, long long amount, long long *ret_refund);

enum payment_gateway_result {
    PAYMENT_GATEWAY_APPROVED = 0,
    PAYMENT_GATEWAY_DECLINED,
    PAYMENT_GATEWAY_TIMEOUT,
};

struct payment_gateway_decision {
    enum payment_gateway_result result;
    char reason[PAYMENT_REASON_MAX];  /* "" when approved */
    char pg_tx_id[PAYMENT_PG_ID_MAX]; /* "" unless approved */
    long long delay_ms;               /* how long the simulated gateway takes to answer */
};

/* The simulator's decision for @payment_key (see the top of this file) under a gateway
 * timeout of @timeout_ms. Always fills @ret. */
void payment_gateway_decide(const char *payment_key, long long timeout_ms,
                            struct payment_gateway_decision *ret);

/* A deterministic gateway id for a refund: "pg_" + 16 hex of sha256(@seed). */
void payment_pg_id(const char *seed, char *out, size_t outlen);

#endif
