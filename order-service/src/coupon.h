/*
 * coupon.h - coupons' pure rules: what an admin may create, whether a coupon may be used now by
 * a user for an order's subtotal, and the discount it gives. No I/O, no JSON.
 *
 * Discounts come only from coupons: a client never names an amount. A coupon takes either a
 * fixed amount off (capped at the order total) or a percentage (rounded down to whole won).
 * The discount is then split across the order's lines by order_price() (order.h) exactly as
 * any discount is. Taking a use and giving it back are the saga step's (saga.c); the counts
 * these rules see are read under the coupon's row lock.
 */
#ifndef COUPON_H
#define COUPON_H

#include <stdbool.h>
#include <stddef.h>

#define COUPON_CODE_MIN 3
#define COUPON_CODE_MAX 32
#define COUPON_LIMIT_MAX 100000000LL /* uses, total or per user */
/* coupon_code_valid()'s rule, as a field error says it */
#define COUPON_CODE_RULE "must be 3..32 characters of A-Z, 0-9, '-' and '_'"

enum coupon_kind {
    COUPON_FIXED = 0, /* value: KRW off, 1..ORDER_MAX_TOTAL */
    COUPON_PERCENT,   /* value: percent off, 1..100 */
};

/* A coupon as the rules see it. 0 in a limit or a window end means "none". */
struct coupon {
    long long id; /* the store's */
    char code[COUPON_CODE_MAX + 1];
    enum coupon_kind kind;
    long long value;
    long long min_order;      /* the subtotal must be at least this (KRW) */
    long long valid_from_ms;  /* usable from this instant on (epoch ms) */
    long long valid_until_ms; /* usable before this instant (epoch ms) */
    long long total_limit;    /* uses in all */
    long long per_user_limit; /* uses per user */
    long long used;           /* uses taken and not given back */
};

/* Why a coupon cannot be used (COUPON_OK: it can). */
enum coupon_verdict {
    COUPON_OK = 0,
    COUPON_UNKNOWN,        /* no coupon has this code (the store finds none) */
    COUPON_NOT_YET_VALID,  /* now < valid_from */
    COUPON_EXPIRED,        /* now >= valid_until */
    COUPON_BELOW_MINIMUM,  /* subtotal < min_order */
    COUPON_EXHAUSTED,      /* used >= total_limit */
    COUPON_USER_EXHAUSTED, /* the user's uses >= per_user_limit */
};

/* A validation problem on one request field ("percent"). */
struct coupon_error {
    const char *field;   /* static */
    const char *message; /* static */
};

/* True when @code is COUPON_CODE_MIN..COUPON_CODE_MAX of A-Z, 0-9, '-' and '_'. */
bool coupon_code_valid(const char *code);

/*
 * Checks a new coupon's values (the HTTP layer has checked JSON types and that exactly one of
 * amount / percent was given). Writes up to @maxerr errors into @errs; returns their count
 * (0: valid). Rules: the code (coupon_code_valid), percent 1..100, amount 1..ORDER_MAX_TOTAL,
 * minOrderAmount 0..ORDER_MAX_TOTAL, validFrom before validUntil when both are set, limits
 * 1..COUPON_LIMIT_MAX when set.
 */
size_t coupon_validate(const struct coupon *c, struct coupon_error *errs, size_t maxerr);

/*
 * Whether @c may be used at @now_ms by a user who holds @user_uses of its uses, for an order
 * whose subtotal (before any discount) is @subtotal. Checked in this order: window, minimum,
 * total limit, per-user limit.
 */
enum coupon_verdict coupon_check(const struct coupon *c, long long now_ms, long long subtotal,
                                 long long user_uses);

/*
 * The discount @c gives on @subtotal (>= 0): a fixed amount capped at the subtotal, or
 * floor(subtotal * percent / 100). Always 0..subtotal.
 */
long long coupon_discount(const struct coupon *c, long long subtotal);

/* "UNKNOWN", "EXPIRED", …; NULL for COUPON_OK and out-of-range values. */
const char *coupon_verdict_name(enum coupon_verdict v);

/*
 * Parses an RFC 3339 date-time "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)" (1970..9999, not before
 * the epoch) into epoch milliseconds (the fraction truncated to ms). 0 or -EINVAL.
 */
int coupon_parse_time(const char *s, long long *ret_ms);

#endif
