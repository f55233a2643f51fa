/*
 * kafka_acl.h - the Kafka principals of the services and what each may do on the broker
 * (README "Event bus security"). Pure data and rules, no librdkafka: kafka_admin.h creates
 * the ACLs, `commercectl kafka acls` drives it, svc.c checks a service against it at start.
 *
 * One principal per service that uses Kafka, named like the service (User:order-service). Its
 * ACLs come from one list, the event types (common/event_types.h: its producer and consumers
 * columns), with the topics of the topic map (event_topic(): TOPIC_<TYPE> overrides):
 *   WRITE + DESCRIBE  the topics of the types it produces (the producer column), and the
 *                     "<topic>.dlq" of each topic it consumes (its dead letters);
 *   READ + DESCRIBE   the topics it consumes;
 *   READ + DESCRIBE   its consumer group (KAFKA_GROUP_ID), when it consumes;
 *   IDEMPOTENT_WRITE  the cluster, for the idempotent producer.
 * Nothing else: no CREATE (the admin creates the topics), no other group, no other topic.
 */
#ifndef COMMON_KAFKA_ACL_H
#define COMMON_KAFKA_ACL_H

#include <stddef.h>

#include "common/event_types.h"

#define KAFKA_ACL_NAME_MAX 256
#define KAFKA_ACL_CLUSTER_NAME "kafka-cluster" /* the one cluster resource Kafka knows */

enum kafka_acl_resource {
    KAFKA_ACL_TOPIC = 1,
    KAFKA_ACL_GROUP,
    KAFKA_ACL_CLUSTER,
};

enum kafka_acl_op {
    KAFKA_ACL_READ = 1,
    KAFKA_ACL_WRITE,
    KAFKA_ACL_DESCRIBE,
    KAFKA_ACL_IDEMPOTENT_WRITE,
};

/* One ALLOW rule for a principal, on a literal resource name, from any host. */
struct kafka_acl {
    enum kafka_acl_resource resource;
    enum kafka_acl_op op;
    char name[KAFKA_ACL_NAME_MAX]; /* topic, group, or KAFKA_ACL_CLUSTER_NAME */
};

/* The services with a Kafka principal - every service event_types.h names as a producer or a
 * consumer - in name order, NULL-terminated ("catalog-service", …). Static. */
const char *const *kafka_acl_services(void);

/* The types @service consumes (event_types.h's consumers column), ended by EVENT_NONE; NULL
 * when @service has no principal. Its handler table (<svc>/src/events.c) must be the same
 * list: svc_consumer_start() refuses to start a service whose handlers differ. Static. */
const enum event_type *kafka_acl_consumed(const char *service);

/*
 * The ACLs of @service's principal (see above) into @ret (room for @max), with @group as its
 * consumer group (NULL: the service's name, the default KAFKA_GROUP_ID). Topics come from
 * event_topic(), so load the TOPIC_* overrides first (event_topics_load()). Returns the count,
 * -ENOENT for a service without a principal, -ENOBUFS when @max is too small.
 */
int kafka_acl_list(const char *service, const char *group, struct kafka_acl *ret, size_t max);

/* The topics @service uses (produced, consumed, and the .dlq of each consumed one), what the
 * admin creates before it starts, into @ret (room for @max names). Count, -ENOENT, -ENOBUFS. */
int kafka_acl_topics(const char *service, char (*ret)[KAFKA_ACL_NAME_MAX], size_t max);

/* "READ", "topic", … for listings; "?" for unknown values. Static. */
const char *kafka_acl_op_name(enum kafka_acl_op op);
const char *kafka_acl_resource_name(enum kafka_acl_resource res);

#endif
