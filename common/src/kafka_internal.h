/*
 * kafka_internal.h - what kafka_producer.c, kafka_consumer.c and kafka_admin.c share, private to
 * common/src: the conf every rd_kafka_t starts from (log and error callbacks to our logger), the
 * errno mapping, signal blocking for their threads, and the producer core the dead-letter path
 * uses. Nothing outside these three files includes it.
 */
#ifndef COMMON_KAFKA_INTERNAL_H
#define COMMON_KAFKA_INTERNAL_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "common/kafka.h"

#define KAFKA_POLL_MS 100 /* longest a producer or consumer thread goes without polling */

/* A conf with our log and error callbacks; NULL on allocation failure. Caller owns it until
 * rd_kafka_new() succeeded (then rk does). */
rd_kafka_conf_t *kafka__conf_new(void);

/* Sets each "name", "value" pair of the NULL-terminated @kv (a NULL value is left unset);
 * 0 or -EINVAL with the reason in @errbuf. */
int kafka__conf_set(rd_kafka_conf_t *conf, const char *const *kv, char *errbuf, size_t errlen);

/* librdkafka's error as a negative errno (-ETIMEDOUT, -ENOENT, -ENOBUFS, -EMSGSIZE, -EINVAL,
 * -EACCES for an authorization error, -EBADMSG for a record the broker refuses as invalid,
 * else -EIO); 0 for no error. */
int kafka__errno(rd_kafka_resp_err_t err);

/* Threads started here never take process signals: main() waits for them in sigwait(). */
void kafka__block_signals(void);

/* kafka_produce_wait(), optionally with prebuilt header lists (@raw[i] copied, may be NULL;
 * @raw itself may be NULL): what the consumer's dead-letter path sends with. */
int kafka__produce(struct kafka_producer *p, struct kafka_msg *msgs, size_t n,
                   rd_kafka_headers_t *const *raw);

#endif
