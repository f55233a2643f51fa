/* coupon.c - coupons' rules (see coupon.h). Pure: no I/O. */
#include "coupon.h"

#include <errno.h>
#include <string.h>

#include "order.h"

static const char *const verdict_names[] = {
    NULL, "UNKNOWN", "NOT_YET_VALID", "EXPIRED", "BELOW_MINIMUM", "EXHAUSTED", "USER_EXHAUSTED",
};

const char *coupon_verdict_name(enum coupon_verdict v)
{
    return (unsigned)v < sizeof(verdict_names) / sizeof(verdict_names[0]) ? verdict_names[v] : NULL;
}

bool coupon_code_valid(const char *code)
{
    size_t n = code ? strlen(code) : 0;

    if (n < COUPON_CODE_MIN || n > COUPON_CODE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = code[i];

        if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return false;
    }
    return true;
}

static void add(struct coupon_error *errs, size_t maxerr, size_t *n, const char *field,
                const char *message)
{
    if (*n < maxerr)
        errs[*n] = (struct coupon_error){field, message};
    (*n)++;
}

size_t coupon_validate(const struct coupon *c, struct coupon_error *errs, size_t maxerr)
{
    size_t n = 0;

    if (!coupon_code_valid(c->code))
        add(errs, maxerr, &n, "code", COUPON_CODE_RULE);
    if (c->kind == COUPON_PERCENT && (c->value < 1 || c->value > 100))
        add(errs, maxerr, &n, "percent", "must be 1..100");
    if (c->kind == COUPON_FIXED && (c->value < 1 || c->value > ORDER_MAX_TOTAL))
        add(errs, maxerr, &n, "amount", "must be greater than 0 (KRW, at most 10^12)");
    if (c->min_order < 0 || c->min_order > ORDER_MAX_TOTAL)
        add(errs, maxerr, &n, "minOrderAmount", "must be 0..10^12 (KRW)");
    if (c->valid_from_ms && c->valid_until_ms && c->valid_from_ms >= c->valid_until_ms)
        add(errs, maxerr, &n, "validUntil", "must be after validFrom");
    if (c->total_limit && (c->total_limit < 1 || c->total_limit > COUPON_LIMIT_MAX))
        add(errs, maxerr, &n, "totalLimit", "must be at least 1 (at most 10^8)");
    if (c->per_user_limit && (c->per_user_limit < 1 || c->per_user_limit > COUPON_LIMIT_MAX))
        add(errs, maxerr, &n, "perUserLimit", "must be at least 1 (at most 10^8)");
    return n < maxerr ? n : maxerr;
}

enum coupon_verdict coupon_check(const struct coupon *c, long long now_ms, long long subtotal,
                                 long long user_uses)
{
    if (c->valid_from_ms && now_ms < c->valid_from_ms)
        return COUPON_NOT_YET_VALID;
    if (c->valid_until_ms && now_ms >= c->valid_until_ms)
        return COUPON_EXPIRED;
    if (subtotal < c->min_order)
        return COUPON_BELOW_MINIMUM;
    if (c->total_limit && c->used >= c->total_limit)
        return COUPON_EXHAUSTED;
    if (c->per_user_limit && user_uses >= c->per_user_limit)
        return COUPON_USER_EXHAUSTED;
    return COUPON_OK;
}

long long coupon_discount(const struct coupon *c, long long subtotal)
{
    long long d;

    if (subtotal <= 0 || c->value <= 0)
        return 0;
    if (c->kind == COUPON_PERCENT)
        d = (long long)((__int128)subtotal * (c->value > 100 ? 100 : c->value) / 100);
    else
        d = c->value;
    return d < subtotal ? d : subtotal;
}

/* @n decimal digits at @s into *@ret; 0 or -EINVAL. */
static int digits(const char *s, int n, int *ret)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long long days_from_civil(int y, int m, int d)
{
    long long era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int coupon_parse_time(const char *s, long long *ret_ms)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, ms = 0, oh = 0, om = 0, sign = 0;
    long long t;
    const char *p;

    if (!s || strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
        s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -EINVAL;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)) ||
        h > 23 || mi > 59 || sec > 59)
        return -EINVAL;
    p = s + 19;
    if (*p == '.') {
        int scale = 100, nd = 0;

        for (p++; *p >= '0' && *p <= '9'; p++, nd++) {
            ms += (*p - '0') * scale;
            scale /= 10;
        }
        if (nd == 0 || nd > 9)
            return -EINVAL;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        sign = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2, &oh) == 0 &&
               p[3] == ':' && digits(p + 4, 2, &om) == 0 && oh <= 23 && om <= 59) {
        sign = *p == '+' ? 1 : -1;
    } else {
        return -EINVAL;
    }
    t = ((days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + sec) -
         sign * (oh * 3600LL + om * 60LL)) *
            1000LL +
        ms;
    if (t < 0)
        return -EINVAL; /* before 1970 once the offset is applied */
    *ret_ms = t;
    return 0;
}
