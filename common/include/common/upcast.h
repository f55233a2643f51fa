/*
 * upcast.h - event payload upcasters (issue 7): consumers accept every version of a type from
 * the oldest they support to the newest, and handlers see only the newest shape.
 *
 * One upcaster per step: {type, from_version, fn} turns the payload of version from_version
 * into version from_version + 1, in place. upcast_to() chains the steps. Each step follows
 * what the newer schema says the older events meant (a default, a derived value); it never
 * removes a field, so a handler written against version N still finds N-1's fields during
 * the transition.
 *
 * A step does not validate (the consumer validated against the older schema before): what it
 * cannot derive it leaves out, so the fields it adds are optional in the newer schema.
 *
 * Steps (common/src/upcast.c):
 *   order.placed       1 → 2   adds "currency": "KRW" (v1 orders were all KRW) unless present;
 *                              no shippingAddress (v1 had none; it is optional in v2)
 *   payment.completed  1 → 2   adds "approvedAtTime" (RFC 3339 UTC with milliseconds) derived
 *                              from "approvedAt" (epoch ms), which stays; left out when
 *                              approvedAt is not a whole number of ms in years 1970..9999
 *
 * Pure functions on cJSON: no I/O, no globals besides the const table, thread-safe.
 */
#ifndef COMMON_UPCAST_H
#define COMMON_UPCAST_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* One step: upgrade @data (an object, modified in place) from from_version to from_version + 1.
 * Returns 0, -EINVAL (a payload the step refuses) or -ENOMEM. */
typedef int (*upcast_fn)(cJSON *data);

struct upcast_step {
    const char *type;
    int from_version;
    upcast_fn fn;
};

/* The table, terminated by {NULL}. */
extern const struct upcast_step UPCAST_STEPS[];

/*
 * Upgrades @data (borrowed, modified in place) of @type from version @from to version @to by
 * applying each step in turn. @from == @to is a no-op. Returns 0, or
 *   -EINVAL   @from > @to, @data is not an object, or a step refused the payload,
 *   -ENOENT   a step from..to is missing from the table,
 *   -ENOMEM
 * with the reason in @errbuf ("order.placed v1 → v2: …"). On failure @data may be half
 * upgraded: the caller drops it.
 */
int upcast_to(const char *type, int from, int to, cJSON *data, char *errbuf, size_t errlen);

/* The step upgrading @type from @from_version, or NULL. Borrowed (static). */
const struct upcast_step *upcast_find(const char *type, int from_version);

#endif
