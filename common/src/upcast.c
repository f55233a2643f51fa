/*
 * upcast.c - the upcaster table and its chaining (see upcast.h). Adding version N+1 of a type
 * means adding one step {type, N, fn} here; README "Changing an event" walks through it.
 */
#include "common/upcast.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

/* 9999-12-31T23:59:59.999Z: the last instant RFC 3339's four-digit year can write */
#define UPCAST_MAX_EPOCH_MS 253402300799999.0

/*
 * The steps only add what the newer version defines and the older payload implies. They do
 * not judge the payload: that is the schema's job (kafka.c validates before upcasting), and a
 * payload that lacks what a step derives from is left without the derived field, which every
 * v2 schema here makes optional.
 */

/* order.placed v1 → v2: every v1 order was in KRW; v1 had no shipping address. */
static int upcast__order_placed_v1(cJSON *data)
{
    if (cJSON_GetObjectItemCaseSensitive(data, "currency"))
        return 0; /* already set (a v1 producer ahead of its schema) */
    return cJSON_AddStringToObject(data, "currency", "KRW") ? 0 : -ENOMEM;
}

/* payment.completed v1 → v2: approvedAtTime from approvedAt (epoch ms), which stays. */
static int upcast__payment_completed_v1(cJSON *data)
{
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(data, "approvedAt");
    char when[40];

    if (cJSON_GetObjectItemCaseSensitive(data, "approvedAtTime"))
        return 0;
    if (!cJSON_IsNumber(ms) || ms->valuedouble < 0 || ms->valuedouble > UPCAST_MAX_EPOCH_MS ||
        ms->valuedouble != floor(ms->valuedouble))
        return 0; /* nothing to derive it from */
    util_rfc3339((int64_t)ms->valuedouble, when, sizeof(when));
    return cJSON_AddStringToObject(data, "approvedAtTime", when) ? 0 : -ENOMEM;
}

const struct upcast_step UPCAST_STEPS[] = {
    {"order.placed", 1, upcast__order_placed_v1},
    {"payment.completed", 1, upcast__payment_completed_v1},
    {NULL, 0, NULL},
};

const struct upcast_step *upcast_find(const char *type, int from_version)
{
    for (const struct upcast_step *s = UPCAST_STEPS; type && s->type; s++)
        if (s->from_version == from_version && strcmp(s->type, type) == 0)
            return s;
    return NULL;
}

int upcast_to(const char *type, int from, int to, cJSON *data, char *errbuf, size_t errlen)
{
    if (!type || from > to || !cJSON_IsObject(data)) {
        if (errlen)
            snprintf(errbuf, errlen, "%s v%d → v%d: cannot upcast", type ? type : "?", from, to);
        return -EINVAL;
    }
    for (int v = from; v < to; v++) {
        const struct upcast_step *s = upcast_find(type, v);
        int rc;

        if (!s) {
            if (errlen)
                snprintf(errbuf, errlen, "%s v%d → v%d: no upcaster", type, v, v + 1);
            return -ENOENT;
        }
        rc = s->fn(data);
        if (rc < 0) {
            if (errlen)
                snprintf(errbuf, errlen, "%s v%d → v%d: %s", type, v, v + 1,
                         rc == -ENOMEM ? "out of memory" : "payload refused");
            return rc;
        }
    }
    return 0;
}
