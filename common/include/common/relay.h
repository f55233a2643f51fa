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
 * core backs off exponentially with jitter (RELAY_BACKOFF_*); relay_kick() starts a claiming
 * round at once.
 *
 * Metrics (label source="outbox"|"stream"): commerce_outbox_published_total{source,type},
 * commerce_outbox_publish_failures_total{source}, gauges commerce_outbox_backlog{source} and
 * commerce_outbox_oldest_age_seconds{source} (refreshed at most once a second).
 *
 * The outbox source also publishes at commit (outbox.h): the committing thread produces the
 * row itself with kafka_produce_async(), and the delivery report hands it back to the relay,
 * whose next round removes it (or keeps it with a backoff when it failed) without claiming
 * anything. A round claims when relay_kick() asked for it, when the period has passed since
 * the last claim, or when the previous claim left more.
 *
 * A round that claimed entries and delivered none (or whose source failed) backs off; kicks
 * during a backoff do not shorten it, so commits cannot make a relay hammer a broker that is
 * down. A source keeps what was not delivered for a later round (the outbox with a per-row
 * backoff of the same policy, the stream as pending entries).
 */
#ifndef COMMON_RELAY_H
#define COMMON_RELAY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/db.h"
#include "common/kafka.h"
#include "common/rds.h"

/* The one backoff policy (util_backoff_ms: exponential with jitter) of failed rounds and, in
 * the outbox, of a row's next attempt. */
#define RELAY_BACKOFF_BASE_MS 500
#define RELAY_BACKOFF_MAX_MS 30000

struct relay;
struct relay_opts;

/* ---- the source interface (for relay_outbox.c, relay_stream.c) ---- */

/* One round's batch. The core owns the arrays (room for @max); claim fills @n messages (their
 * strings borrowed from the source until settle) and their event types; the core produces
 * them and sets each msgs[i].result; settle sees the results. */
struct relay_batch {
    struct kafka_msg *msgs;
    const char **types; /* event type of each message: the metrics' type label */
    size_t max;
    size_t n;
    bool more; /* set by claim: run the next round at once (more is ready, or claim waited) */
    bool settle_only; /* set by the core: only settle what was published at commit; claim only
                       * when that may have unblocked a successor (n stays 0 otherwise) */
};

struct relay_source;

struct relay_source_ops {
    const char *name; /* the metrics' source label: "outbox", "stream" */
    /* Claims up to batch->max entries, waiting at most @wait_ms for some if the source can
     * block. 0 (settle follows, even with n == 0) or a negative errno (nothing held). */
    int (*claim)(struct relay_source *src, struct relay_batch *batch, int wait_ms);
    /* Removes the delivered entries, keeps the others; releases what claim held. 0 or a
     * negative errno (delivered entries may then go out again: at least once). */
    int (*settle)(struct relay_source *src, struct relay_batch *batch);
    /* Entries not yet published and the age in seconds of the oldest (0 when empty). */
    int (*stats)(struct relay_source *src, long long *ret_backlog, double *ret_oldest_age_s);
    void (*free)(struct relay_source *src);
    /* Optional: the relay started (@r and its options are there until detach), and is about
     * to stop (after detach returns nothing of the source calls into @r any more). */
    void (*attach)(struct relay_source *src, struct relay *r, const struct relay_opts *opts);
    void (*detach)(struct relay_source *src);
};

/* A source embeds this as its first member; the relay calls ops->free() when it stops. */
struct relay_source {
    const struct relay_source_ops *ops;
};

/* ---- the relay ---- */

struct relay_opts {
    struct kafka_producer *producer; /* borrowed; outlives the relay */
    int poll_ms;                     /* idle wait between rounds (default 200) */
    int batch;                       /* entries per round (default 100) */
    /* how long a row published at commit stays the committing thread's (outbox.h) before a
     * relay takes it as its own: above the producer's message timeout (default 15000) */
    int hold_ms;
};

/* Starts the relay of @src (taken, even on failure). NULL with a reason in @errbuf.
 * Caller owns the relay: relay_stop(). */
struct relay *relay_start(const struct relay_opts *opts, struct relay_source *src, char *errbuf,
                          size_t errlen);

/* Starts a round that claims now (rows appended outside a running relay's pool, or released to
 * it). Accepts NULL. */
void relay_kick(struct relay *r);

/* For a source: starts a round now that settles what was published at commit (claims only if
 * relay_kick() asked, or the period passed). */
void relay_wake(struct relay *r);

/* For a source: counts one entry it published outside a round (the metrics of the header). */
void relay_count(struct relay *r, const char *type, bool delivered);

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
