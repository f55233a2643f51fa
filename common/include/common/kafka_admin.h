/* kafka_admin.h - topic and ACL administration (librdkafka wrapped once; see kafka.h). */
#ifndef COMMON_KAFKA_ADMIN_H
#define COMMON_KAFKA_ADMIN_H

#include <stddef.h>

#include "common/kafka_acl.h"
#include "common/kafka_auth.h"

/* Creates topics (partitions, replication factor 1 on a single broker) if they do not exist,
 * and waits until each has partitions in the metadata, logging in with @auth (NULL:
 * PLAINTEXT; on a broker with ACLs it needs CREATE: the admin). Used by scripts, tests and
 * dev start-up, since auto topic creation is off. 0 or -EIO with the reason in @errbuf. */
int kafka_create_topics(const char *bootstrap, const struct kafka_auth *auth,
                        const char *const *topics, int partitions, char *errbuf, size_t errlen);

/* Creates the @n ALLOW rules @acls for @principal ("User:order-service"), literal names, any
 * host, logging in with @auth (the broker's super user). Rules that exist already are kept;
 * none is removed. 0, or -EIO with the first refused rule and the reason in @errbuf. */
int kafka_acls_create(const char *bootstrap, const struct kafka_auth *auth, const char *principal,
                      const struct kafka_acl *acls, size_t n, char *errbuf, size_t errlen);

#endif
