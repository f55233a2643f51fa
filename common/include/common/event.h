/*
 * event.h - the CloudEvents 1.0 envelope and the event-type → topic map
 * (docs/event-contracts.md).
 *
 * On Kafka an event is: key = aggregate id (order id for order/stock/payment events, SKU id
 * for product events); value = the JSON envelope
 *   {"specversion":"1.0","id","source","type","subject","time","datacontenttype":
 *    "application/json","dataschema","correlationid","causationid","traceparent","data":{…}}
 * and the same attributes as headers ce_specversion, ce_id, ce_source, ce_type, ce_subject,
 * ce_time, ce_dataschema, ce_correlationid, ce_causationid, ce_traceparent, plus
 * content-type: application/json.
 *
 * dataschema is "urn:commerce:event:<type>:v<N>"; the version N is parsed from it.
 * Parsing reads the body first and falls back to the headers for missing attributes.
 */
#ifndef COMMON_EVENT_H
#define COMMON_EVENT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/event_types.h"
#include "common/msgctx.h"

#define EVENT_SPECVERSION "1.0"
#define EVENT_MAX_HEADERS 16

struct event_header {
    const char *name;
    const char *value; /* NUL-terminated */
};

struct event {
    char id[64];
    char source[128];
    char type[64];
    char subject[128];
    char time[40];
    char dataschema[160];
    char correlationid[64];
    char causationid[64];
    char traceparent[56];
    int version;
    cJSON *data; /* owned; freed by event_release */
};

/*
 * Fills @ev for a new event: id (from @ctx->message_id when it is set, else a new UUID),
 * time now, dataschema from @type and @version, ids from @ctx (use msgctx_child() of the
 * context being handled). Takes ownership of @data even on failure. Returns 0 or -EINVAL.
 */
int event_init(struct event *ev, const char *type, int version, const char *source,
               const char *subject, const struct msgctx *ctx, cJSON *data);

/* Frees @ev->data. Accepts a zeroed struct. */
void event_release(struct event *ev);

/* The JSON envelope. Caller owns: free(). NULL on allocation failure. */
char *event_to_json(const struct event *ev);

/* The ce_* headers; pointers borrowed from @ev. Returns the count (≤ EVENT_MAX_HEADERS). */
size_t event_to_headers(const struct event *ev, struct event_header *out, size_t max);

/*
 * Parses a consumed message. Returns 0, or -EINVAL (not JSON, not an object, a required
 * attribute missing, bad specversion, unparseable dataschema version) with the reason in
 * @errbuf. Required: specversion, id, source, type, dataschema (naming @type) and data (an
 * object, so ret->data is never NULL); subject, time and the ids may be absent (empty).
 * On success the caller owns @ret: event_release().
 */
int event_parse(const char *payload, size_t len, const struct event_header *headers,
                size_t nheaders, struct event *ret, char *errbuf, size_t errlen);

/* The dataschema URN for @type and @version. */
void event_schema_urn(const char *type, int version, char *out, size_t outlen);

/*
 * Topic map. The defaults (event_types.h) keep one aggregate's events ordered in one topic:
 *   product.*  → product-events     order.* → order-events
 *   stock.*    → stock-events       payment.* → payment-events
 * overridden per type by TOPIC_<TYPE> (dots → underscores, upper case), e.g.
 * TOPIC_ORDER_PLACED=orders-v2. Dead letters go to "<topic>.dlq".
 */

/* Loads the overrides from the environment (call once from main, via the config loader).
 * Returns 0 or -EINVAL with the problem in @errbuf. */
int event_topics_load(char *errbuf, size_t errlen);

/* Topic for an event type; NULL for an unknown type. Borrowed (static storage). */
const char *event_topic(const char *type);

/* Every known event type's name, in event_types.h's order (NULL-terminated, static). */
extern const char *const EVENT_TYPES[];

#endif
