/*
 * relay.h - publishes the outcome events that the stock scripts left in the Redis outbox
 * stream, deleting each entry only after Kafka acknowledged it (at least once; consumers
 * dedupe by event id).
 *
 * One thread, one consumer (a stable name) in a consumer group on the stream: it first
 * re-reads its own pending entries (those read but not acknowledged before a crash or a
 * failed publish), then blocks for new ones; every 30 s it also takes over entries another
 * consumer left pending for over a minute (XAUTOCLAIM). After the broker acknowledged an
 * entry: XACK and XDEL. A publish failure leaves the entry pending and is retried with
 * exponential backoff. An entry that is not a valid envelope is logged and dropped.
 */
#ifndef INVENTORY_RELAY_H
#define INVENTORY_RELAY_H

#include <stddef.h>

#include "common/kafka.h"
#include "common/rds.h"

struct inv_relay_opts {
    struct rds_pool *rds;            /* borrowed */
    struct kafka_producer *producer; /* borrowed; outlives the relay */
    const char *stream;
    const char *group;
    const char *consumer;
    int poll_ms; /* how long one read blocks (and the stop latency) */
};

struct inv_relay;

/* Starts the thread. NULL with a reason in @errbuf. The strings in @opts are borrowed. */
struct inv_relay *inv_relay_start(const struct inv_relay_opts *opts, char *errbuf, size_t errlen);

/* Stops after the batch in flight, then frees. Accepts NULL. */
void inv_relay_stop(struct inv_relay *relay);

#endif
