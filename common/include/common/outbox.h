/*
 * outbox.h - the transactional outbox: events written in the caller's DB transaction and
 * published to Kafka by a relay thread.
 *
 * Table outbox(id BIGINT AUTO_INCREMENT, aggregate_type, aggregate_id, event_id UNIQUE,
 * event_type, topic, msg_key, payload, headers (JSON), traceparent, created_at, attempts,
 * next_attempt_at, last_error), created by OUTBOX_MIGRATIONS.
 *
 * Relay: each round, in one transaction, claims up to batch rows that are the *oldest
 * unpublished row of their aggregate* (so one aggregate's events go out in commit order) with
 * SELECT … FOR UPDATE SKIP LOCKED (so two instances never publish the same row at once),
 * produces them with kafka_produce_wait(), deletes the delivered rows and, for the others,
 * bumps attempts and next_attempt_at (exponential backoff) — then commits. While the broker
 * is down it backs off; once it is back everything pending is published (at least once).
 */
#ifndef COMMON_OUTBOX_H
#define COMMON_OUTBOX_H

#include <stddef.h>

#include "common/db.h"
#include "common/event.h"
#include "common/kafka.h"

extern const struct db_migration OUTBOX_MIGRATIONS[];
extern const size_t OUTBOX_NMIGRATIONS;

/* Appends @ev (topic from event_topic(), key @aggregate_id) inside the caller's open
 * transaction on @conn. Rows go out in id order per aggregate, so concurrent writers of one
 * aggregate must serialise on it (lock its row) for id order to be commit order.
 * Returns 0, -EINVAL (no topic for the type), -EEXIST (event id already appended) or another
 * db.h error. */
int outbox_append(struct db_conn *conn, const char *aggregate_type, const char *aggregate_id,
                  const struct event *ev);

struct outbox_relay_opts {
    struct db_pool *pool;            /* borrowed */
    struct kafka_producer *producer; /* borrowed */
    int poll_ms;                     /* idle wait between rounds (default 200) */
    int batch;                       /* rows per round (default 100) */
    int backoff_base_ms;             /* default 500 */
    int backoff_max_ms;              /* default 30000 */
};

struct outbox_relay;

/* Starts the relay thread and registers the gauges commerce_outbox_backlog and
 * commerce_outbox_oldest_age_seconds. NULL with a reason in @errbuf. */
struct outbox_relay *outbox_relay_start(const struct outbox_relay_opts *opts, char *errbuf,
                                        size_t errlen);

/* Wakes the relay now (call after committing a transaction that appended events). */
void outbox_relay_kick(struct outbox_relay *r);

/* Stops after the current round; frees. Accepts NULL. */
void outbox_relay_stop(struct outbox_relay *r);

/* Backlog (unpublished rows) and age in seconds of the oldest (0 when empty). */
int outbox_stats(struct db_conn *conn, long long *ret_backlog, double *ret_oldest_age_s);

#endif
