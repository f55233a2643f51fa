/* kafka_admin.h - topic administration (librdkafka wrapped once; see kafka.h). */
#ifndef COMMON_KAFKA_ADMIN_H
#define COMMON_KAFKA_ADMIN_H

#include <stddef.h>

/* Creates topics (partitions, replication factor 1 on a single broker) if they do not exist,
 * and waits until each has partitions in the metadata. Used by scripts, tests and dev start-up,
 * since auto topic creation is off. 0 or -EIO with the reason in @errbuf. */
int kafka_create_topics(const char *bootstrap, const char *const *topics, int partitions,
                        char *errbuf, size_t errlen);

#endif
