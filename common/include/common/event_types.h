/*
 * event_types.h - the one list of event types. Everything else that names a type comes from
 * it: the names (event_type_name), the default topics (event.h's topic map), the version each
 * type is published at, the service that produces it and the ones that consume it - hence
 * each service's Kafka ACLs (kafka_acl.h) and published list; svc_main() checks a service's
 * handler table against the consumers column at start. A new event type is one line here plus
 * its schema in contracts/<type>/v1.json.
 *
 * X(ID, "type", "default topic", "producing service", version published, newest version read,
 *   "consuming services" (space-separated))
 * The newest version read is the newest in contracts/<type>/ (test_contracts checks it):
 * consumers take every version from 1 up to it, older ones upcast (common/upcast.h). The
 * version published may stay one behind it while the consumers that read the new version are
 * deployed (README "Changing an event"): raise "read" first, "published" in a later release.
 */
#ifndef COMMON_EVENT_TYPES_H
#define COMMON_EVENT_TYPES_H

#include <stdbool.h>

/* clang-format off */
#define EVENT_TYPE_LIST(X)                                                                        \
    X(PRODUCT_SKU_CREATED,      "product.sku.created",      "product-events", "catalog-service",   1, 1, "inventory-service order-service") \
    X(ORDER_PLACED,             "order.placed",             "order-events",   "order-service",     2, 2, "inventory-service payment-service") \
    X(ORDER_CONFIRMED,          "order.confirmed",          "order-events",   "order-service",     1, 1, "inventory-service") \
    X(ORDER_CANCELLED,          "order.cancelled",          "order-events",   "order-service",     1, 1, "inventory-service payment-service") \
    X(ORDER_REFUNDED,           "order.refunded",           "order-events",   "order-service",     1, 1, "inventory-service payment-service") \
    X(STOCK_RESERVED,           "stock.reserved",           "stock-events",   "inventory-service", 1, 1, "order-service") \
    X(STOCK_RESERVATION_FAILED, "stock.reservation.failed", "stock-events",   "inventory-service", 1, 1, "order-service") \
    X(STOCK_CONFIRMED,          "stock.confirmed",          "stock-events",   "inventory-service", 1, 1, "order-service") \
    X(STOCK_CONFIRM_FAILED,     "stock.confirm.failed",     "stock-events",   "inventory-service", 1, 1, "order-service") \
    X(STOCK_RELEASED,           "stock.released",           "stock-events",   "inventory-service", 1, 1, "order-service") \
    X(PAYMENT_CREATED,          "payment.created",          "payment-events", "payment-service",   1, 1, "order-service") \
    X(PAYMENT_COMPLETED,        "payment.completed",        "payment-events", "payment-service",   2, 2, "order-service") \
    X(PAYMENT_FAILED,           "payment.failed",           "payment-events", "payment-service",   1, 1, "order-service") \
    X(PAYMENT_REFUNDED,         "payment.refunded",         "payment-events", "payment-service",   1, 1, "order-service")
/* clang-format on */

enum event_type {
    EVENT_NONE = 0, /* "no type": an unknown name, the end of a list */
#define EVENT_TYPE_ENUM(id, name, topic, producer, published, read, consumers) EVENT_##id,
    EVENT_TYPE_LIST(EVENT_TYPE_ENUM)
#undef EVENT_TYPE_ENUM
        EVENT_NTYPES
};

/* "order.placed"; NULL for EVENT_NONE and out-of-range values. Static storage. */
const char *event_type_name(enum event_type t);

/* The type named @name; EVENT_NONE when unknown (or NULL). */
enum event_type event_type_parse(const char *name);

/* The default topic ("order-events"; TOPIC_<TYPE> overrides it: event_topic()). */
const char *event_type_default_topic(enum event_type t);

/* The service that produces @t ("order-service"). */
const char *event_type_producer(enum event_type t);

/* The version @t is published at; 0 for EVENT_NONE. */
int event_type_version(enum event_type t);

/* The newest version of @t that consumers read (the newest contract; older ones are upcast
 * to it); 0 for EVENT_NONE. */
int event_type_max_version(enum event_type t);

/* The services that consume @t, space-separated ("inventory-service payment-service"); ""
 * for EVENT_NONE. Static. */
const char *event_type_consumers(enum event_type t);

/* Whether @service ("order-service") is one of @t's consumers. */
bool event_type_consumed_by(enum event_type t, const char *service);

#endif
