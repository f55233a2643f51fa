/*
 * kafka.h - librdkafka wrapped once: an idempotent producer and a consumer with the failure
 * policy of SPEC §4.
 *
 * Producer: enable.idempotence=true (acks=all, ordered per partition), one per process, with
 * its own delivery-report poller thread. kafka_produce_wait() sends a batch and blocks until
 * each message has its delivery report (bounded by message_timeout_ms), which is what the
 * outbox relay needs to delete only what the broker acknowledged.
 *
 * Consumer: one thread owning its rd_kafka_t; group id from configuration;
 * enable.auto.offset.store=false, so an offset is stored (and auto-committed) only after its
 * handler succeeded or the message went to the dead-letter topic. For each message:
 *   - unparseable envelope → DLQ at once;
 *   - type not in opts.types → skipped (offset stored), debug log;
 *   - version outside [min_version, max_version] of its type → DLQ;
 *   - with opts.contracts: `data` invalid against the schema of its (type, version), or no such
 *     schema → DLQ with dlq_error "schema: <instance pointer>: <message>"
 *     (KAFKA_SCHEMA_LENIENT_V1 only logs it and goes on for a v1 payload);
 *   - `data` upcast step by step (common/upcast.h) from its version towards max_version, as
 *     far as the upcaster table goes, so a handler sees the newest shape; a step that refuses
 *     the payload → DLQ ("upcast: …");
 *   - handler KAFKA_OK → offset stored;
 *   - handler KAFKA_FAIL (permanent) → DLQ;
 *   - handler KAFKA_RETRY (transient) → the partition is paused and rewound to this offset,
 *     and resumed after an exponential backoff with jitter, so the same message comes back
 *     first (no reordering within a key) while the thread keeps polling (never exceeds
 *     max.poll.interval.ms) and other partitions go on; after max_attempts → DLQ;
 *   - handler KAFKA_UNAVAILABLE (a dependency is down) → the same pause and rewind, backoff
 *     growing up to backoff_max_ms, but the attempt is not counted: never to the DLQ for it.
 * DLQ records go to "<topic>.dlq" with the original key, value and headers plus
 * dlq_original_topic, dlq_original_partition, dlq_original_offset, dlq_consumer_group,
 * dlq_service, dlq_error, dlq_attempts, dlq_time. If the DLQ produce itself fails the message
 * is retried like a transient failure (never lost, never skipped).
 * kafka_consumer_stop(): the in-flight handler finishes, stored offsets are committed, then
 * close → destroy.
 */
#ifndef COMMON_KAFKA_H
#define COMMON_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "common/contracts.h"
#include "common/event.h"

struct kafka_producer_opts {
    const char *bootstrap;
    const char *client_id;
    int message_timeout_ms; /* delivery deadline per message (default 10000) */
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

/* Produces @n messages (copied) and waits for every delivery report.
 * Returns 0 when all were delivered, else -EIO (see each msg's result). */
int kafka_produce_wait(struct kafka_producer *p, struct kafka_msg *msgs, size_t n);

/* Convenience: one event to its topic (event_topic) with key @key. 0 or -EIO/-EINVAL. */
int kafka_publish_event(struct kafka_producer *p, const struct event *ev, const char *key);

/* Broker reachability for readiness: 0 if metadata could be fetched within @timeout_ms. */
int kafka_producer_ping(struct kafka_producer *p, int timeout_ms, char *why, size_t whylen);

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
 * it. @ev->data is already validated (with opts.contracts) and upcast: @ev->version and
 * @ev->dataschema name the version it was upcast to, @rec->version the one produced.
 * Write a reason into @errbuf when returning anything but KAFKA_OK. */
typedef enum kafka_result (*kafka_handler_fn)(const struct event *ev,
                                              const struct kafka_record *rec, void *app,
                                              char *errbuf, size_t errlen);

struct kafka_type {
    const char *type;
    int min_version;
    int max_version; /* also the version payloads are upcast to */
};

/* What a schema-invalid payload does (with opts.contracts set). */
enum kafka_schema_policy {
    KAFKA_SCHEMA_ENFORCE = 0, /* to the DLQ, "schema: <pointer>: <message>" (the default) */
    /* a migration aid: an invalid *v1* payload (v1 producers and fixtures predate the
     * contracts) gets a warning and commerce_events_consumed_total{result="schema_invalid"},
     * and the handler still runs (its own checks decide); every newer version is enforced */
    KAFKA_SCHEMA_LENIENT_V1,
};

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
    /* session.timeout.ms (default librdkafka's 45000): how long the group waits for a member
     * that stopped heartbeating (a crash) before its partitions go to the others */
    int session_timeout_ms;
    /* optional: validate every handled payload against contracts_schema(type, version);
     * borrowed, must outlive the consumer (load with contracts_load_default()) */
    const struct contracts *contracts;
    enum kafka_schema_policy schema_policy;
};

struct kafka_consumer;

/* Creates the consumer, subscribes, and starts its thread. NULL with a reason in @errbuf. */
struct kafka_consumer *kafka_consumer_start(const struct kafka_consumer_opts *opts, char *errbuf,
                                            size_t errlen);

/* Drains and stops (see above), then frees. Accepts NULL. */
void kafka_consumer_stop(struct kafka_consumer *c);

/* Creates topics (partitions, replication factor 1 on a single broker) if they do not exist.
 * Used by scripts and tests, since auto topic creation is off. 0 or -EIO. */
int kafka_create_topics(const char *bootstrap, const char *const *topics, int partitions,
                        char *errbuf, size_t errlen);

#endif
