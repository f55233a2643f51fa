/*
 * outbox.h - the transactional outbox: events written in the caller's DB transaction and
 * published to Kafka by the relay (relay.h: relay_start(relay_outbox_source(pool))).
 *
 * Table outbox(id BIGINT AUTO_INCREMENT, aggregate_type, aggregate_id, event_id UNIQUE,
 * event_type, topic, msg_key, payload, headers (JSON), traceparent, created_at, attempts,
 * next_attempt_at, last_error), created by OUTBOX_MIGRATIONS.
 *
 * The relay (relay_outbox.c), each round, in one transaction, claims up to a batch of rows that
 * are the *oldest unpublished row of their aggregate* (so one aggregate's events go out in
 * commit order) with SELECT … FOR UPDATE SKIP LOCKED (so two instances never publish the same
 * row at once), produces them with kafka_produce_wait(), deletes the delivered rows and, for
 * the others, bumps attempts and next_attempt_at (exponential backoff) — then commits. While
 * the broker is down it backs off; once it is back everything pending is published (at least
 * once).
 *
 * Publishing at commit. While a relay runs on the pool (relay_outbox.c registers an
 * outbox_sink), outbox_append writes the row *held* (next_attempt_at = now + the sink's hold,
 * so no relay claims it) and hooks the transaction (db_on_end). At the commit the sink gets the
 * transaction's rows on the committing thread and sends each at once that is the oldest row of
 * its aggregate; it releases the others to the relay (next_attempt_at = now). A delivery
 * report deletes the row. A row whose process died before that is an ordinary row once the
 * hold has passed: a relay publishes it then. A rolled-back row is gone, and so is its entry.
 */
#ifndef COMMON_OUTBOX_H
#define COMMON_OUTBOX_H

#include <stddef.h>

#include "common/db.h"
#include "common/event.h"

extern const struct db_migration OUTBOX_MIGRATIONS[];
extern const size_t OUTBOX_NMIGRATIONS;

/* Appends @ev (topic from event_topic(), key @aggregate_id) inside the caller's open
 * transaction on @conn. Rows go out in id order per aggregate, so concurrent writers of one
 * aggregate must serialise on it (lock its row) for id order to be commit order.
 * Returns 0, -EINVAL (no topic for the type), -EEXIST (event id already appended) or another
 * db.h error. */
int outbox_append(struct db_conn *conn, const char *aggregate_type, const char *aggregate_id,
                  const struct event *ev);

/* ---- publishing at commit (relay_outbox.c) ---- */

/* A row appended held, handed to the sink at commit with the transaction's others (copies;
 * outbox_entry_free). */
struct outbox_entry {
    long long id;
    char *aggregate_type, *aggregate_id, *event_type, *topic, *key, *payload, *headers;
    size_t payload_len, headers_len;
};

struct outbox_sink {
    int hold_ms; /* next_attempt_at of a held row: now + this */
    /* At the commit of a transaction that appended @n entries @e (in append order), on the
     * committing thread: @conn is out of the transaction and still the caller's (the sink may
     * run statements on it). Takes the entries (outbox_entry_free each), not the array. */
    void (*committed)(struct outbox_sink *sink, struct db_conn *conn, struct outbox_entry **e,
                      size_t n);
};

/* Makes @sink the one of @pool: outbox_append on its connections writes held rows for it.
 * -EBUSY when the pool has one (the first stays: a second relay of a pool claims rows as
 * usual), -ENOMEM when there is no room. */
int outbox_sink_set(struct db_pool *pool, struct outbox_sink *sink);

/* Removes @sink from its pool and waits until no transaction holds an entry for it: on return
 * @sink gets no more calls. Accepts a sink that was never set. */
void outbox_sink_clear(struct outbox_sink *sink);

void outbox_entry_free(struct outbox_entry *e);

/* Backlog (unpublished rows) and age in seconds of the oldest (0 when empty). */
int outbox_stats(struct db_conn *conn, long long *ret_backlog, double *ret_oldest_age_s);

#endif
