/*
 * ops.h - reading topics to their end, for operator tools (commercectl trace / dlq).
 *
 * An ops_reader assigns every partition of the given topics (no group subscription, so no
 * rebalance) and reads each one from its start offset up to the high watermark it had when
 * the reader was created, then reports the end. Records produced after that are not read.
 *
 * Start offsets: without a group, the beginning of each partition; with a group, its
 * committed offset (the beginning where it has none). Nothing is committed automatically:
 * ops_reader_commit() commits one record synchronously, which is how `dlq replay` keeps its
 * progress.
 *
 * Topics that do not exist are skipped and counted (ops_reader_missing()); auto topic creation
 * is off on the broker and a reader never creates one.
 */
#ifndef COMMON_OPS_H
#define COMMON_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "common/event.h"
#include "common/kafka_auth.h"

#define OPS_MAX_HEADERS 32

/* One record. Everything is borrowed from the reader until the next ops_reader_next() or
 * ops_reader_free(); header values are NUL-terminated copies (binary values are cut at NUL). */
struct ops_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* broker/producer timestamp, -1 if none */
    const char *key;      /* NULL when the record has none */
    size_t keylen;
    const char *value; /* may be NULL (tombstone) */
    size_t len;
    struct event_header headers[OPS_MAX_HEADERS];
    size_t nheaders;
};

struct ops_reader;

/*
 * Connects to @bootstrap (logging in with @auth, borrowed until ops_reader_free(); NULL:
 * PLAINTEXT) and assigns every partition of the NULL-terminated @topics, from the
 * committed offsets of @group (NULL: a throwaway group, from the beginning) up to the current
 * high watermarks. Metadata and watermark queries wait at most @timeout_ms each.
 * Returns NULL with a reason in @errbuf. Caller owns: ops_reader_free().
 */
struct ops_reader *ops_reader_new(const char *bootstrap, const struct kafka_auth *auth,
                                  const char *group, const char *const *topics, int timeout_ms,
                                  char *errbuf, size_t errlen);

/*
 * The next record into *@ret (borrowed, see struct ops_record). Returns 1 with a record, 0 when
 * every partition reached its end, -ETIMEDOUT when @timeout_ms passed first (reason in @errbuf),
 * -ENOMEM; broker errors are retried by librdkafka and show in the -ETIMEDOUT reason.
 */
int ops_reader_next(struct ops_reader *r, int timeout_ms, struct ops_record *ret, char *errbuf,
                    size_t errlen);

/* Commits @rec's offset + 1 for the reader's group, synchronously. 0 or -EIO (@errbuf). */
int ops_reader_commit(struct ops_reader *r, const struct ops_record *rec, char *errbuf,
                      size_t errlen);

/* How many of the topics given to ops_reader_new() did not exist. */
size_t ops_reader_missing(const struct ops_reader *r);

/* Records left to read when created (sum over partitions of high watermark - start). */
int64_t ops_reader_backlog(const struct ops_reader *r);

/* Closes and frees. Accepts NULL. */
void ops_reader_free(struct ops_reader *r);

/* The value of header @name in @rec, or NULL (borrowed). */
const char *ops_record_header(const struct ops_record *rec, const char *name);

#endif
