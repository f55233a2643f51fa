/*
 * kafka_acl.c - the services' Kafka principals and the ACL rule (kafka_acl.h): the ACLs and
 * topics of each service, derived from the event-type list (its producer and consumers).
 */
#include "common/kafka_acl.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/event.h"

/* At most every type's producer and two consumers: more services than the list can name. */
#define KAFKA_ACL_MAX_SERVICES (3 * EVENT_NTYPES)
#define KAFKA_ACL_SERVICE_MAX 64

/* The services with a principal - every service the event-type list names as a producer or a
 * consumer, in name order - and what each consumes (the consumers column; its handler table in
 * <svc>/src/events.c must match it: svc.c checks at start). Built once, from event_types.h. */
static char service_names[KAFKA_ACL_MAX_SERVICES][KAFKA_ACL_SERVICE_MAX];
static const char *services[KAFKA_ACL_MAX_SERVICES + 1];
static size_t nservices;
static enum event_type consumed_by[KAFKA_ACL_MAX_SERVICES][EVENT_NTYPES];
static pthread_once_t built_once = PTHREAD_ONCE_INIT;

/* Adds the @len bytes of @name to the services unless there. */
static void service_add(const char *name, size_t len)
{
    size_t i;

    if (len == 0 || len >= KAFKA_ACL_SERVICE_MAX || nservices == KAFKA_ACL_MAX_SERVICES)
        return;
    for (i = 0; i < nservices; i++) {
        if (strncmp(service_names[i], name, len) == 0 && service_names[i][len] == '\0')
            return;
    }
    /* keep name order: move the later names up one */
    for (i = nservices; i > 0 && strncmp(service_names[i - 1], name, len) > 0; i--)
        memcpy(service_names[i], service_names[i - 1], KAFKA_ACL_SERVICE_MAX);
    memcpy(service_names[i], name, len);
    service_names[i][len] = '\0';
    nservices++;
}

static void services_build(void)
{
    for (enum event_type t = EVENT_NONE + 1; t < EVENT_NTYPES; t++) {
        const char *p = event_type_consumers(t);

        service_add(event_type_producer(t), strlen(event_type_producer(t)));
        while (*p) {
            size_t len = strcspn(p, " ");

            service_add(p, len);
            p += len + strspn(p + len, " ");
        }
    }
    for (size_t i = 0; i < nservices; i++) {
        size_t n = 0;

        services[i] = service_names[i];
        for (enum event_type t = EVENT_NONE + 1; t < EVENT_NTYPES; t++) {
            if (event_type_consumed_by(t, services[i]))
                consumed_by[i][n++] = t;
        }
        consumed_by[i][n] = EVENT_NONE;
    }
    services[nservices] = NULL;
}

const char *const *kafka_acl_services(void)
{
    pthread_once(&built_once, services_build);
    return services;
}

const enum event_type *kafka_acl_consumed(const char *service)
{
    pthread_once(&built_once, services_build);
    for (size_t i = 0; service && i < nservices; i++) {
        if (strcmp(services[i], service) == 0)
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
