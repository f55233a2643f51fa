/*
 * event.h - the CloudEvents 1.0 envelope on Kafka and the event-type → topic map
 * (docs/event-contracts.md).
 *
 * We publish in the Kafka protocol binding's structured content mode: key = aggregate id
 * (order id for order/stock/payment events, SKU id for product events); header
 * content-type: application/cloudevents+json; value = the JSON envelope
 *   {"specversion":"1.0","id","source","type","subject","time","datacontenttype":
 *    "application/json","dataschema","correlationid","causationid","traceparent","data":{…}}
 * and, for routing and kcat, the same attributes as headers ce_specversion, ce_id, ce_source,
 * ce_type, ce_subject, ce_time, ce_dataschema, ce_correlationid, ce_causationid,
 * ce_traceparent.
 *
 * We consume both content modes, chosen by the content-type header: structured
 * (application/cloudevents+json; the attributes from the value, a missing one from its ce_*
 * header) and binary (any other or no content-type: the value is data, the attributes are the
 * ce_* headers, content-type is datacontenttype). A value that is a JSON object with
 * "specversion" is read as an envelope whatever its content-type (our messages from before
 * structured mode carried application/json).
 *
 * dataschema is "urn:commerce:event:<type>:v<N>"; the version N is parsed from it.
 */
#ifndef COMMON_EVENT_H
#define COMMON_EVENT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/event_types.h"
#include "common/msgctx.h"

#define EVENT_SPECVERSION "1.0"
#define EVENT_MAX_HEADERS 16
/* The Kafka content-type of a structured event: the JSON event format's media type. */
#define EVENT_FORMAT_CONTENT_TYPE "application/cloudevents+json"
/* The only datacontenttype we write and read. */
#define EVENT_DATA_CONTENT_TYPE "application/json"

/* How a consumed message carried its event (the Kafka binding's content modes). */
enum event_mode {
    EVENT_MODE_STRUCTURED = 0, /* the value is the envelope */
    EVENT_MODE_BINARY,         /* the value is data; the attributes are ce_* headers */
};

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
    enum event_mode mode; /* set by event_parse() */
    cJSON *data;          /* owned; freed by event_release */
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

/* The ce_* headers and content-type: application/cloudevents+json (structured mode);
 * pointers borrowed from @ev. Returns the count (≤ EVENT_MAX_HEADERS). */
size_t event_to_headers(const struct event *ev, struct event_header *out, size_t max);

/*
 * Parses a consumed message: value @payload and its @headers (the ce_* ones and content-type;
 * others are ignored), in the content mode content-type selects (see the top of this file).
 * Returns 0, or -EINVAL (not JSON, not an object, an event format other than JSON, a
 * datacontenttype other than application/json, a required attribute missing, bad
 * specversion, unparseable dataschema version) with the reason in @errbuf. Required:
 * specversion, id, source, type, dataschema (naming @type) and data (a JSON object, so
 * ret->data is never NULL); subject, time and the ids may be absent (empty).
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
