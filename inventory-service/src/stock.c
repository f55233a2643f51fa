/* stock.c - inventory's pure domain: merging order lines, the counter invariant, and the
 * meaning of the stock scripts' status words. */
#include "stock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int stock_merge_lines(struct stock_line *lines, size_t n, size_t *ret_n)
{
    size_t out = 0;

    for (size_t i = 0; i < n; i++) {
        size_t j;

        if (lines[i].sku_id <= 0 || lines[i].quantity <= 0 ||
            lines[i].quantity > STOCK_MAX_QUANTITY)
            return -EINVAL;
        for (j = 0; j < out; j++) {
            if (lines[j].sku_id == lines[i].sku_id)
                break;
        }
        if (j < out) {
            if (lines[j].quantity > STOCK_MAX_QUANTITY - lines[i].quantity)
                return -EINVAL;
            lines[j].quantity += lines[i].quantity;
        } else {
            lines[out++] = lines[i];
        }
    }
    *ret_n = out;
    return 0;
}

bool stock_invariant_ok(const struct stock_counters *c)
{
    if (c->available < 0 || c->reserved < 0 || c->sold < 0 || c->returned < 0 || c->received < 0)
        return false;
    /* each counter is a sum of quantities ≤ 10^9 per event: far below 2^62, so these sums
     * cannot overflow */
    return c->received - c->sold + c->returned == c->available + c->reserved;
}

static const struct {
    const char *status;
    enum stock_outcome outcome;
    enum event_type event; /* published type, EVENT_NONE = none */
    bool refused;
} outcomes[] = {
    {"INITIALISED", STOCK_INITIALISED, EVENT_NONE, false},
    {"EXISTS", STOCK_ALREADY_EXISTS, EVENT_NONE, false},
    {"RESERVED", STOCK_RESERVED, EVENT_STOCK_RESERVED, false},
    {"NOT_ENOUGH_STOCK", STOCK_NOT_ENOUGH_STOCK, EVENT_STOCK_RESERVATION_FAILED, true},
    {"SKU_NOT_FOUND", STOCK_SKU_NOT_FOUND, EVENT_STOCK_RESERVATION_FAILED, true},
    {"SKU_PENDING", STOCK_SKU_PENDING, EVENT_NONE, false},
    {"ORDER_DECIDED", STOCK_ORDER_DECIDED, EVENT_NONE, true},
    {"CONFIRMED", STOCK_CONFIRMED, EVENT_STOCK_CONFIRMED, false},
    {"NO_RESERVATION", STOCK_NO_RESERVATION, EVENT_STOCK_CONFIRM_FAILED, true},
    {"RESERVATION_RELEASED", STOCK_RESERVATION_RELEASED, EVENT_STOCK_CONFIRM_FAILED, true},
    {"RELEASED", STOCK_RELEASED, EVENT_STOCK_RELEASED, false},
    {"NOTHING_TO_RELEASE", STOCK_NOTHING_TO_RELEASE, EVENT_NONE, false},
    {"RETURNED", STOCK_RETURNED, EVENT_NONE, false},
    {"NOT_CONFIRMED", STOCK_NOT_CONFIRMED, EVENT_NONE, true},
};

#define NOUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))

int stock_outcome_parse(const char *status, enum stock_outcome *ret)
{
    for (size_t i = 0; i < NOUTCOMES; i++) {
        if (strcmp(outcomes[i].status, status) == 0) {
            *ret = outcomes[i].outcome;
            return 0;
        }
    }
    return -EINVAL;
}

const char *stock_outcome_event(enum stock_outcome outcome)
{
    for (size_t i = 0; i < NOUTCOMES; i++) {
        if (outcomes[i].outcome == outcome)
            return event_type_name(outcomes[i].event);
    }
    return NULL;
}

bool stock_outcome_refused(enum stock_outcome outcome)
{
    for (size_t i = 0; i < NOUTCOMES; i++) {
        if (outcomes[i].outcome == outcome)
            return outcomes[i].refused;
    }
    return false;
}

bool stock_wait_unknown(int attempt, long wait_attempts, long max_attempts)
{
    return attempt < wait_attempts && attempt < max_attempts;
}

int stock_adjust_parse(const char *status, enum stock_adjust *ret)
{
    if (strcmp(status, "OK") == 0)
        *ret = STOCK_ADJUST_OK;
    else if (strcmp(status, "SKU_NOT_FOUND") == 0)
        *ret = STOCK_ADJUST_SKU_NOT_FOUND;
    else if (strcmp(status, "NOT_ENOUGH_STOCK") == 0)
        *ret = STOCK_ADJUST_NOT_ENOUGH;
    else if (strcmp(status, "REPLAYED") == 0)
        *ret = STOCK_ADJUST_REPLAYED;
    else if (strcmp(status, "KEY_REUSED") == 0)
        *ret = STOCK_ADJUST_KEY_REUSED;
    else
        return -EINVAL;
    return 0;
}

int stock_adjust_fingerprint(int sign, const struct stock_line *lines, size_t n, char *out,
                             size_t outlen)
{
    size_t used;
    int w;

    if (outlen < 2)
        return -ENOSPC;
    out[0] = sign < 0 ? '-' : '+';
    out[1] = '\0';
    used = 1;
    for (size_t i = 0; i < n; i++) {
        w = snprintf(out + used, outlen - used, "%s%lldx%lld", i ? "," : "", lines[i].sku_id,
                     lines[i].quantity);
        if (w < 0 || (size_t)w >= outlen - used)
            return -ENOSPC;
        used += (size_t)w;
    }
    return 0;
}
