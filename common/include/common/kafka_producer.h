/*
 * kafka_producer.h - the idempotent producer (librdkafka wrapped once; see kafka.h).
 *
 * enable.idempotence=true (acks=all, ordered per partition), one per process, with its own
 * delivery-report poller thread. kafka_produce_wait() sends a batch and blocks until each
 * message has its delivery report (bounded by message_timeout_ms), which is what the outbox
 * relay needs to delete only what the broker acknowledged.
 *
 * linger.ms is 0 by default (KAFKA_LINGER_MS): a relay's round is already its batch, and while
 * a request is in flight librdkafka gathers what is produced meanwhile into the next one. With
 * a linger set, kafka_produce_wait() still does not wait it out: its caller has nothing more
 * to add, so it flushes its batch at once.
 *
 * A producer librdkafka declares fatally failed (a refused InitProducerId: the principal's
 * IdempotentWrite ACL not yet applied on that broker of a cluster; a fenced producer) is
 * renewed by the next kafka_produce_wait() or kafka_producer_ping(): a new one with the same
 * configuration takes over; what the dead one had not delivered is reported failed (callers
 * keep it and send it again).
 */
#ifndef COMMON_KAFKA_PRODUCER_H
#define COMMON_KAFKA_PRODUCER_H

#include <stddef.h>

#include "common/event.h"
#include "common/kafka_auth.h"

struct kafka_producer_opts {
    const char *bootstrap;
    const char *client_id;
    int message_timeout_ms;        /* delivery deadline per message (default 10000) */
    const struct kafka_auth *auth; /* borrowed until kafka_producer_free(); NULL: PLAINTEXT */
    int linger_ms;                 /* linger.ms (default 0: every message is sent at once) */
};

struct kafka_producer;

/* Returns NULL with a reason in @errbuf. Caller owns: kafka_producer_free (flushes first). */
struct kafka_producer *kafka_producer_new(const struct kafka_producer_opts *opts, char *errbuf,
                                          size_t errlen);
void kafka_producer_free(struct kafka_producer *p);

struct kafka_msg {
    const char *topic;
    const char *key; /* may be NULL */
    size_t keylen;
    const void *value;
    size_t len;
    const struct event_header *headers;
    size_t nheaders;
    int result;      /* out: 0 delivered, negative errno otherwise */
    char error[128]; /* out: librdkafka's reason when result != 0 */
};

/* Produces @n messages (copied) and waits for every delivery report (never a linger).
 * Returns 0 when all were delivered, else -EIO (see each msg's result). */
int kafka_produce_wait(struct kafka_producer *p, struct kafka_msg *msgs, size_t n);

/* The report of kafka_produce_async(): @result 0 when delivered, else a negative errno with
 * librdkafka's reason in @error. Runs on the producer's delivery-report thread (or whichever
 * thread serves the reports: kafka_producer_free's flush). */
typedef void kafka_done_fn(void *arg, int result, const char *error);

/* Produces @msg (copied) without waiting: 0 when librdkafka took it, and then @done(@arg, …)
 * runs exactly once, within message_timeout_ms (a producer replaced after a fatal error fails
 * what it still held). A negative errno when it was not taken (a full local queue: -ENOBUFS),
 * and @done never runs. linger.ms applies: a message may wait for it. */
int kafka_produce_async(struct kafka_producer *p, const struct kafka_msg *msg, kafka_done_fn *done,
                        void *arg);

/* Convenience: one event to its topic (event_topic) with key @key. 0 or -EIO/-EINVAL. */
int kafka_publish_event(struct kafka_producer *p, const struct event *ev, const char *key);

/* Broker reachability for readiness: 0 if metadata could be fetched within @timeout_ms. */
int kafka_producer_ping(struct kafka_producer *p, int timeout_ms, char *why, size_t whylen);

/* Tests only: makes the producer's current librdkafka handle fail fatally (as a refused
 * InitProducerId would), so the next kafka_produce_wait() or ping renews it. 0 or -EIO. */
int kafka_producer_test_fatal(struct kafka_producer *p, const char *reason);

#endif
