/*
 * kafka_consumer.h - the consumer with the failure policy every service shares (librdkafka
 * wrapped once; see kafka.h).
 *
 * One polling thread owns the rd_kafka_t; opts.workers handler threads (default 4) run the
 * handlers. Group id from configuration; enable.auto.offset.store=false, so an offset is stored
 * (and auto-committed) only once its message is finished: handled, sent to the dead-letter
 * topic, or skipped.
 *
 * Order and offsets with several workers: messages of different keys run in parallel; one
 * key's (per partition; a message without a key counts as the key "") run one at a time, in
 * offset order, never in two workers at once. Each partition's stored offset is the one after
 * the longest finished prefix, i.e. never past the lowest unfinished message, whatever finished
 * after it. The parallelism is therefore bounded by the workers and by the distinct keys with
 * messages waiting. Polled messages wait in memory until stored: a partition with
 * opts.max_buffered of them or opts.max_buffered_bytes is paused, and resumed once half is free
 * (so memory is bounded by the assigned partitions, and a partition held up by one unfinished
 * message stops only itself). With
 * workers = 1 the polling thread runs the handlers itself, one message at a time.
 *
 * For each message:
 *   - unparseable envelope → DLQ at once;
 *   - type not in opts.types → skipped (finished), debug log;
 *   - version outside [min_version, max_version] of its type → DLQ;
 *   - with opts.check: the hook validates the payload and upcasts it towards max_version (see
 *     kafka_check_fn); a refusal → DLQ with the hook's reason; a lenient answer → a warning,
 *     commerce_events_consumed_total{result="schema_invalid"}, and the handler still runs;
 *   - handler KAFKA_OK → finished;
 *   - handler KAFKA_FAIL (permanent) → DLQ;
 *   - handler KAFKA_RETRY (transient) → its key is held back (its later messages wait behind it
 *     in memory) and the message comes back after an exponential backoff with jitter, first of
 *     its key (no reordering within a key); other keys and partitions go on, and polling never
 *     stops (never exceeds max.poll.interval.ms); after max_attempts → DLQ;
 *   - handler KAFKA_UNAVAILABLE (a dependency is down) → the same wait, backoff growing up to
 *     backoff_max_ms, but the attempt is not counted: never to the DLQ for it.
 * Holding back the key rather than pausing and rewinding the partition: with other keys'
 * messages of the partition running or done, a rewind would run them again; the offset rule
 * above keeps the commit behind the held message all the same.
 * DLQ records go to "<topic>.dlq" with the original key, value and headers plus
 * dlq_original_topic, dlq_original_partition, dlq_original_offset, dlq_consumer_group,
 * dlq_service, dlq_error, dlq_attempts, dlq_time. A dead-letter copy always fits in
 * opts.dlq_max_bytes (key + value + headers): when the original would not, its value is cut to
 * fit (and, should the key and original headers alone not fit, the original headers are left
 * out: dlq_original_headers_dropped=true) and the record says so with dlq_truncated=true,
 * dlq_original_size (the value's bytes) and dlq_original_sha256 (hex of the whole value).
 * If the DLQ produce fails transiently (broker down, timeout, topic missing) the message is
 * retried like a transient failure (never lost); if it can never succeed (the record too large
 * for the DLQ topic, not authorized, refused as invalid) it is logged, counted in
 * commerce_dlq_failures_total{topic,reason} and skipped (offset stored), so one poison message
 * never stalls its partition. Fetching never stalls on size either: max.partition.fetch.bytes
 * is above the broker's largest record (message.max.bytes 1048588 by default).
 * kafka_consumer_stop(): polling stops, the running handlers finish (what they finish is
 * stored), messages not started or waiting for a retry are dropped unstored (the next owner
 * gets them again), the stored offsets are committed, then close → destroy. A partition
 * revoked in a rebalance is treated alike before the revocation completes (and its offsets
 * committed), so its next owner never runs a key's message while ours still runs an earlier one.
 * Handlers run on several threads at once: they must be thread-safe (pooled connections,
 * no shared mutable state); the thread's current msgctx is the message's.
 */
#ifndef COMMON_KAFKA_CONSUMER_H
#define COMMON_KAFKA_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include "common/event.h"
#include "common/kafka_producer.h"

enum kafka_result {
    KAFKA_OK = 0, /* done (also: duplicate, nothing to do) */
    KAFKA_RETRY,  /* transient: a deadlock, a lock wait, a failure a retry may cure */
    KAFKA_FAIL,   /* permanent: invalid payload, a rule that can never pass */
    /* a dependency (database, Redis) cannot be reached: not this message's fault, so retried
     * like KAFKA_RETRY but without counting towards max_attempts — an outage of any length
     * holds the partition back instead of dead-lettering every message that meets it */
    KAFKA_UNAVAILABLE,
};

struct kafka_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *key;
    size_t keylen;
    const char *value;
    size_t len;
    int attempt; /* 1 on first delivery */
    int version; /* the payload's version as produced (ev->version is after upcasting) */
};

/* The handler. @ev is parsed and valid for the call; the thread's current msgctx is set from
 * it. @ev->data has passed opts.check (validated and upcast): @ev->version and @ev->dataschema
 * name the version it was upcast to, @rec->version the one produced.
 * Write a reason into @errbuf when returning anything but KAFKA_OK. */
typedef enum kafka_result (*kafka_handler_fn)(const struct event *ev,
                                              const struct kafka_record *rec, void *app,
                                              char *errbuf, size_t errlen);

struct kafka_type {
    const char *type;
    int min_version;
    int max_version; /* also the version payloads are upcast to */
};

/* A check's answer for a payload that is invalid but handled anyway (any value > 0). */
#define KAFKA_CHECK_LENIENT 1

/*
 * The payload check (opts.check), called on the consumer thread before the handler with the
 * parsed @ev, its version as produced in @ev->version, and @max_version, the newest version the
 * handler takes. It validates @ev->data and upcasts it in place towards @max_version (updating
 * @ev->version and @ev->dataschema). Returns
 *   0                    the handler runs;
 *   a negative errno     never processable: to the DLQ with @reason as dlq_error;
 *   KAFKA_CHECK_LENIENT  invalid, but the handler runs (its own checks decide): @reason is
 *                        logged as a warning and counted result="schema_invalid".
 * contracts_check_event() (common/contracts.h) is the one the services use.
 */
typedef int (*kafka_check_fn)(struct event *ev, int max_version, const void *arg, char *reason,
                              size_t reasonlen);

struct kafka_consumer_opts {
    const char *bootstrap;
    const char *group_id;
    const char *service;            /* for DLQ headers and logs */
    const char *const *topics;      /* NULL-terminated */
    const struct kafka_type *types; /* handled types, terminated by {NULL} */
    kafka_handler_fn handler;
    void *app;
    struct kafka_producer *dlq_producer; /* borrowed; required */
    int max_attempts;                    /* before the DLQ (default 8) */
    int backoff_base_ms;                 /* default 200 */
    int backoff_max_ms;                  /* default 30000 */
    const char *auto_offset_reset;       /* default "earliest" */
    /* the largest dead-letter record (key + value + headers) to send, default 1000000: at most
     * the producer's message.max.bytes (librdkafka's default 1000000) and the DLQ topic's
     * max.message.bytes (the broker's default 1048588); at least 4096 */
    size_t dlq_max_bytes;
    /* session.timeout.ms (default librdkafka's 45000): how long the group waits for a member
     * that stopped heartbeating (a crash) before its partitions go to the others */
    int session_timeout_ms;
    /* optional: the payload check and its @arg (borrowed, must outlive the consumer); NULL:
     * payloads reach the handler as produced */
    kafka_check_fn check;
    const void *check_arg;
    const struct kafka_auth *auth; /* borrowed until kafka_consumer_stop(); NULL: PLAINTEXT */
    /* handler threads (default 4, at most 256): messages of different keys run in parallel,
     * one key's one at a time in offset order; 1: the handlers run on the polling thread */
    int workers;
    /* the buffer's cap per partition: polled messages not yet stored (waiting, running,
     * retrying, or done behind an unfinished one); at the cap the partition's fetching pauses
     * until half of it is free again. Defaults 64 × workers messages (at least 16) and 8 MiB of
     * keys and values */
    size_t max_buffered;
    size_t max_buffered_bytes;
};

struct kafka_consumer;

/* Creates the consumer, subscribes, and starts its thread. NULL with a reason in @errbuf. */
struct kafka_consumer *kafka_consumer_start(const struct kafka_consumer_opts *opts, char *errbuf,
                                            size_t errlen);

/* Drains and stops (see above), then frees. Accepts NULL. */
void kafka_consumer_stop(struct kafka_consumer *c);

#endif
