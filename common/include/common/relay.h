/*
 * relay.h - the one relay: a background worker (worker.h) that publishes what a source holds
 * to Kafka and removes an entry from the source only after the broker acknowledged it (at
 * least once; consumers dedupe by event id). One core - the round, the backoff policy, the
 * metrics - and two sources:
 *   - the transactional outbox table in MariaDB (outbox.h: relay_outbox_source),
 *   - a Redis stream that Lua scripts append to (relay_stream_source; inventory-service).
 * A source claims a batch (each aggregate's entries in order, never one entry by two
 * instances at once), the core produces it with kafka_produce_wait(), and the source settles
 * it: delivered entries removed, the others kept for the next round. After a failed round the
 * core backs off exponentially with jitter (RELAY_BACKOFF_*); relay_kick() after a commit
 * starts a round at once.
 *
 * Metrics (label source="outbox"|"stream"): commerce_outbox_published_total,
 * commerce_outbox_publish_failures_total, gauges commerce_outbox_backlog and
 * commerce_outbox_oldest_age_seconds.
 *
 * ===== implementation note for the relay's author: the source interface (struct
 * relay_source_ops) is defined here too; the names above are the public contract. =====
 */
#ifndef COMMON_RELAY_H
#define COMMON_RELAY_H

#include <stddef.h>

#include "common/db.h"
#include "common/kafka.h"
#include "common/rds.h"

struct relay;
struct relay_source;

struct relay_opts {
    struct kafka_producer *producer; /* borrowed; outlives the relay */
    int poll_ms;                     /* idle wait between rounds (default 200) */
    int batch;                       /* entries per round (default 100) */
};

/* Starts the relay of @src (taken, even on failure). NULL with a reason in @errbuf.
 * Caller owns the relay: relay_stop(). */
struct relay *relay_start(const struct relay_opts *opts, struct relay_source *src, char *errbuf,
                          size_t errlen);

/* Starts a round now (call after committing a transaction that appended events). Accepts NULL. */
void relay_kick(struct relay *r);

/* Stops after the round in flight, frees the relay and its source. Accepts NULL. */
void relay_stop(struct relay *r);

/* The outbox table of @pool (borrowed; outlives the relay). NULL on allocation failure. */
struct relay_source *relay_outbox_source(struct db_pool *pool);

struct relay_stream_opts {
    struct rds_pool *rds; /* borrowed; outlives the relay */
    const char *stream;   /* the stream the scripts append to (borrowed) */
    const char *group;    /* consumer group on it (borrowed) */
    const char *consumer; /* this relay's stable consumer name (borrowed) */
};

/* The Redis stream of @opts. NULL on allocation failure. */
struct relay_source *relay_stream_source(const struct relay_stream_opts *opts);

#endif
