/*
 * kafka_acl.c - the services' Kafka principals and the ACL rule (kafka_acl.h): the consumed
 * types of each service, and the ACLs and topics derived from them and the event-type list.
 */
#include "common/kafka_acl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/event.h"

const char *const KAFKA_ACL_SERVICES[] = {"catalog-service", "inventory-service", "order-service",
                                          "payment-service", NULL};

/* What each service consumes: its handler table (<svc>/src/events.c), which svc.c checks
 * against this at start, and docs/event-contracts.md's consumers column. */
static const enum event_type consumed_catalog[] = {EVENT_NONE};
static const enum event_type consumed_inventory[] = {
    EVENT_PRODUCT_SKU_CREATED, EVENT_ORDER_PLACED,   EVENT_ORDER_CONFIRMED,
    EVENT_ORDER_CANCELLED,     EVENT_ORDER_REFUNDED, EVENT_NONE,
};
static const enum event_type consumed_order[] = {
    EVENT_PRODUCT_SKU_CREATED,
    EVENT_STOCK_RESERVED,
    EVENT_STOCK_RESERVATION_FAILED,
    EVENT_STOCK_CONFIRMED,
    EVENT_STOCK_CONFIRM_FAILED,
    EVENT_STOCK_RELEASED,
    EVENT_PAYMENT_CREATED,
    EVENT_PAYMENT_COMPLETED,
    EVENT_PAYMENT_FAILED,
    EVENT_PAYMENT_REFUNDED,
    EVENT_NONE,
};
static const enum event_type consumed_payment[] = {EVENT_ORDER_PLACED, EVENT_ORDER_CANCELLED,
                                                   EVENT_ORDER_REFUNDED, EVENT_NONE};

static const enum event_type *const consumed_by[] = {consumed_catalog, consumed_inventory,
                                                     consumed_order, consumed_payment};

_Static_assert(sizeof(consumed_by) / sizeof(consumed_by[0]) + 1 ==
                   sizeof(KAFKA_ACL_SERVICES) / sizeof(KAFKA_ACL_SERVICES[0]),
               "one consumed list per service");

const enum event_type *kafka_acl_consumed(const char *service)
{
    for (size_t i = 0; service && KAFKA_ACL_SERVICES[i]; i++) {
        if (strcmp(KAFKA_ACL_SERVICES[i], service) == 0)
            return consumed_by[i];
    }
    return NULL;
}

/* Appends {@res, @op, @name} to @ret (*@n of @max) unless present. 0 or -ENOBUFS. */
static int acl_add(struct kafka_acl *ret, size_t *n, size_t max, enum kafka_acl_resource res,
                   enum kafka_acl_op op, const char *name)
{
    for (size_t i = 0; i < *n; i++) {
        if (ret[i].resource == res && ret[i].op == op && strcmp(ret[i].name, name) == 0)
            return 0;
    }
    if (*n >= max || strlen(name) >= KAFKA_ACL_NAME_MAX)
        return -ENOBUFS;
    ret[*n].resource = res;
    ret[*n].op = op;
    snprintf(ret[*n].name, KAFKA_ACL_NAME_MAX, "%s", name);
    (*n)++;
    return 0;
}

/* The topic pairs of @service: what it writes and what it reads. */
static int acl_topics(const char *service, struct kafka_acl *ret, size_t *n, size_t max)
{
    const enum event_type *consumed = kafka_acl_consumed(service);
    char dlq[KAFKA_ACL_NAME_MAX];
    int rc = 0;

    if (!consumed)
        return -ENOENT;
    for (enum event_type t = EVENT_NONE + 1; rc == 0 && t < EVENT_NTYPES; t++) {
        if (strcmp(event_type_producer(t), service) == 0)
            rc = acl_add(ret, n, max, KAFKA_ACL_TOPIC, KAFKA_ACL_WRITE,
                         event_topic(event_type_name(t)));
    }
    for (size_t i = 0; rc == 0 && consumed[i] != EVENT_NONE; i++) {
        const char *topic = event_topic(event_type_name(consumed[i]));

        snprintf(dlq, sizeof(dlq), "%s.dlq", topic);
        rc = acl_add(ret, n, max, KAFKA_ACL_TOPIC, KAFKA_ACL_READ, topic);
        if (rc == 0)
            rc = acl_add(ret, n, max, KAFKA_ACL_TOPIC, KAFKA_ACL_WRITE, dlq);
    }
    return rc;
}

int kafka_acl_list(const char *service, const char *group, struct kafka_acl *ret, size_t max)
{
    size_t n = 0, ntopic;
    int rc = acl_topics(service, ret, &n, max);

    /* every topic it may read or write it may describe (metadata, offsets) */
    ntopic = n;
    for (size_t i = 0; rc == 0 && i < ntopic; i++)
        rc = acl_add(ret, &n, max, KAFKA_ACL_TOPIC, KAFKA_ACL_DESCRIBE, ret[i].name);
    if (rc == 0 && kafka_acl_consumed(service)[0] != EVENT_NONE) {
        rc = acl_add(ret, &n, max, KAFKA_ACL_GROUP, KAFKA_ACL_READ, group ? group : service);
        if (rc == 0)
            rc =
                acl_add(ret, &n, max, KAFKA_ACL_GROUP, KAFKA_ACL_DESCRIBE, group ? group : service);
    }
    if (rc == 0)
        rc = acl_add(ret, &n, max, KAFKA_ACL_CLUSTER, KAFKA_ACL_IDEMPOTENT_WRITE,
                     KAFKA_ACL_CLUSTER_NAME);
    return rc < 0 ? rc : (int)n;
}

int kafka_acl_topics(const char *service, char (*ret)[KAFKA_ACL_NAME_MAX], size_t max)
{
    struct kafka_acl acls[3 * EVENT_NTYPES];
    size_t n = 0, out = 0;
    int rc = acl_topics(service, acls, &n, sizeof(acls) / sizeof(acls[0]));

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        bool seen = false;

        for (size_t j = 0; j < out && !seen; j++)
            seen = strcmp(ret[j], acls[i].name) == 0;
        if (seen)
            continue;
        if (out >= max)
            return -ENOBUFS;
        snprintf(ret[out++], KAFKA_ACL_NAME_MAX, "%s", acls[i].name);
    }
    return (int)out;
}

const char *kafka_acl_op_name(enum kafka_acl_op op)
{
    switch (op) {
    case KAFKA_ACL_READ:
        return "READ";
    case KAFKA_ACL_WRITE:
        return "WRITE";
    case KAFKA_ACL_DESCRIBE:
        return "DESCRIBE";
    case KAFKA_ACL_IDEMPOTENT_WRITE:
        return "IDEMPOTENT_WRITE";
    }
    return "?";
}

const char *kafka_acl_resource_name(enum kafka_acl_resource res)
{
    switch (res) {
    case KAFKA_ACL_TOPIC:
        return "topic";
    case KAFKA_ACL_GROUP:
        return "group";
    case KAFKA_ACL_CLUSTER:
        return "cluster";
    }
    return "?";
}
