/*
 * kafka_consumer.c - the consumer (kafka_consumer.h): its polling thread, the worker pool that
 * runs the handlers (one key at a time, in offset order), per-key retries with backoff, the
 * dead-letter path, offset storing up to the lowest unfinished message of each partition, the
 * rebalance callback, and the metrics (counts, handler durations, lag from librdkafka's
 * statistics). Payload checking is the caller's hook.
 *
 * The buffer: every polled message becomes an item, queued twice: on its partition's list (offset
 * order: what may be stored) and on its key's queue (what may run next). A key's queue is on the
 * ready list while it has items and none of them is in a handler; a worker takes the first ready
 * key whose backoff is over, runs its oldest item, and puts the key back (behind the others)
 * unless it has nothing left. A finished item (handled, dead-lettered, skipped) is marked done;
 * the done items at the head of their partition's list are freed and the offset after the last
 * of them stored. So a partition's stored offset never passes an unfinished message, and a key
 * never runs in two workers nor out of order. Everything here is guarded by c->mu; librdkafka's
 * calls are thread-safe.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>
#include <openssl/evp.h>

#include "common/kafka_consumer.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msgctx.h"
#include "common/util.h"
#include "common/worker.h"
#include "kafka_internal.h"

#define KAFKA_DEFAULT_MAX_ATTEMPTS 8
#define KAFKA_DEFAULT_BACKOFF_BASE_MS 200
#define KAFKA_DEFAULT_BACKOFF_MAX_MS 30000
#define KAFKA_DEFAULT_WORKERS 4
#define KAFKA_MAX_WORKERS 256
#define KAFKA_DEFAULT_BUFFERED_PER_WORKER 64
#define KAFKA_MIN_BUFFERED 16
#define KAFKA_DEFAULT_MAX_BUFFERED_BYTES (8 * 1024 * 1024)
#define KAFKA_DEFAULT_DLQ_MAX_BYTES 1000000
#define KAFKA_MIN_DLQ_MAX_BYTES 4096
/* what a record costs beyond its key, value and header bytes: librdkafka's v2 record overhead
 * (varint lengths, timestamp and offset deltas) with room to spare */
#define KAFKA_DLQ_RECORD_OVERHEAD 512
/* per header: its two length varints and librdkafka's accounting */
#define KAFKA_DLQ_HEADER_OVERHEAD 16
/* a fetch must be able to return the largest record the broker accepts (its message.max.bytes
 * default is 1048588, above librdkafka's 1048576 default of max.partition.fetch.bytes) */
#define KAFKA_MAX_PARTITION_FETCH_BYTES "2097152"

#define M_CONSUMED "commerce_events_consumed_total"
#define M_LAG "commerce_consumer_lag"
#define M_RETRIED "commerce_events_retried_total"
#define M_DEAD "commerce_events_dead_lettered_total"
#define M_DURATION "commerce_event_handler_duration_seconds"
#define M_DLQ_FAILED "commerce_dlq_failures_total"

struct kafka_keyq;

/* One polled message, from the poll until it is done and every earlier one of its partition is
 * too. Its retry state is touched only by the worker running it (its key is busy meanwhile). */
struct kafka_item {
    rd_kafka_message_t *m;    /* owned */
    struct kafka_keyq *kq;    /* its key, until done */
    struct kafka_item *pnext; /* the partition's next (offset order) */
    struct kafka_item *knext; /* the key's next */
    bool done;                /* handled, dead-lettered or skipped: its offset may be stored */
    int deliveries;           /* counted deliveries so far (KAFKA_UNAVAILABLE ones are not) */
    int outages;              /* KAFKA_UNAVAILABLE answers in a row (their backoff step) */
    int dlq_attempts; /* > 0: the dead-lettering failed; the next delivery goes to the DLQ */
    char dlq_error[256];
};

/* The unfinished items of one key of one partition, oldest first. On the ready list iff it has
 * items and none is in a handler. */
struct kafka_keyq {
    struct kafka_part *part;
    char *key; /* a copy of the message key ("" for none) */
    size_t keylen;
    struct kafka_item *head, *tail;
    bool busy;                /* its head is in a handler */
    int64_t not_before;       /* monotonic ms: its head waits for a retry until then */
    struct kafka_keyq *pnext; /* the partition's keys */
    struct kafka_keyq *rnext; /* the ready list */
};

struct kafka_part {
    char *topic;
    int32_t partition;
    struct kafka_item *head, *tail; /* buffered items, offset order */
    struct kafka_keyq *keys;
    size_t nbuffered, buffered_bytes; /* its items, their keys' and values' bytes */
    int running;                      /* its items in a handler now */
    bool revoked;                     /* being revoked: nothing of it starts any more */
    bool paused;                      /* by kafka__flow(): its buffer is full */
    struct kafka_part *next;
};

struct kafka_consumer {
    rd_kafka_t *rk;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    char *group_id;
    char *service;
    struct kafka_type *types; /* copies, terminated by {NULL} */
    kafka_handler_fn handler;
    void *app;
    struct kafka_producer *dlq;
    int max_attempts;
    int backoff_base_ms;
    int backoff_max_ms;
    size_t dlq_max_bytes;
    kafka_check_fn check;  /* NULL: no payload check */
    const void *check_arg; /* borrowed */
    int workers;           /* 1: the handlers run on the polling thread itself */
    size_t max_buffered, max_buffered_bytes;
    pthread_t *threads; /* workers > 1: the pool */
    int nthreads;

    pthread_mutex_t mu;
    pthread_cond_t work; /* a key became ready, or quit */
    pthread_cond_t idle; /* a handler returned */
    bool sync_init;
    struct kafka_part *parts;
    struct kafka_keyq *ready, *ready_tail;
    bool quit; /* the workers leave after their current handler */
};

/* A one-partition list; caller owns: rd_kafka_topic_partition_list_destroy(). */
static rd_kafka_topic_partition_list_t *kafka__tp(const char *topic, int32_t partition,
                                                  int64_t offset)
{
    rd_kafka_topic_partition_list_t *tps = rd_kafka_topic_partition_list_new(1);

    rd_kafka_topic_partition_list_add(tps, topic, partition)->offset = offset;
    return tps;
}

static void kafka__store_offset(struct kafka_consumer *c, const char *topic, int32_t partition,
                                int64_t offset)
{
    rd_kafka_topic_partition_list_t *tps = kafka__tp(topic, partition, offset);
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, tps);

    if (err || tps->elems[0].err)
        log_warnx("cannot store offset %" PRId64 " of '%s' [%" PRId32 "]: %s", offset, topic,
                  partition, rd_kafka_err2str(err ? err : tps->elems[0].err));
    rd_kafka_topic_partition_list_destroy(tps);
}

/* -- the buffer (all under c->mu) ----------------------------------------------------------- */

static struct kafka_part *kafka__part_find(struct kafka_consumer *c, const char *topic,
                                           int32_t partition)
{
    struct kafka_part *part;

    for (part = c->parts; part; part = part->next)
        if (part->partition == partition && strcmp(part->topic, topic) == 0)
            return part;
    return NULL;
}

static void kafka__ready_push(struct kafka_consumer *c, struct kafka_keyq *kq)
{
    kq->rnext = NULL;
    if (c->ready_tail)
        c->ready_tail->rnext = kq;
    else
        c->ready = kq;
    c->ready_tail = kq;
}

/* Unlinks @kq (after @prev, NULL: the first) from the ready list. */
static void kafka__ready_unlink(struct kafka_consumer *c, struct kafka_keyq *prev,
                                struct kafka_keyq *kq)
{
    if (prev)
        prev->rnext = kq->rnext;
    else
        c->ready = kq->rnext;
    if (c->ready_tail == kq)
        c->ready_tail = prev;
    kq->rnext = NULL;
}

static void kafka__ready_remove(struct kafka_consumer *c, struct kafka_keyq *kq)
{
    struct kafka_keyq *prev = NULL, *k;

    for (k = c->ready; k; prev = k, k = k->rnext) {
        if (k == kq) {
            kafka__ready_unlink(c, prev, kq);
            return;
        }
    }
}

static void kafka__item_free(struct kafka_part *part, struct kafka_item *it)
{
    part->nbuffered--;
    part->buffered_bytes -= it->m->len + it->m->key_len;
    rd_kafka_message_destroy(it->m);
    free(it);
}

/* Unlinks the empty, idle @kq from its partition and frees it. */
static void kafka__keyq_free(struct kafka_keyq *kq)
{
    struct kafka_keyq **pp;

    for (pp = &kq->part->keys; *pp; pp = &(*pp)->pnext) {
        if (*pp == kq) {
            *pp = kq->pnext;
            break;
        }
    }
    free(kq->key);
    free(kq);
}

/*
 * Takes @m into the buffer (ownership passes in every case). Returns 0, or -ENOMEM when it could
 * not be tracked: @m is then destroyed unstored (a restart redelivers it) and the caller stops.
 */
static int kafka__enqueue(struct kafka_consumer *c, rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    const char *key = m->key ? m->key : "";
    struct kafka_part *part;
    struct kafka_keyq *kq = NULL;
    struct kafka_item *it = calloc(1, sizeof(*it));
    bool ready = false;

    if (!it)
        goto nomem;
    it->m = m;
    pthread_mutex_lock(&c->mu);
    part = kafka__part_find(c, topic, m->partition);
    if (!part) {
        part = calloc(1, sizeof(*part));
        if (part)
            part->topic = strdup(topic);
        if (!part || !part->topic) {
            free(part);
            goto nomem_locked;
        }
        part->partition = m->partition;
        part->next = c->parts;
        c->parts = part;
    }
    for (kq = part->keys; kq; kq = kq->pnext)
        if (kq->keylen == m->key_len && memcmp(kq->key, key, m->key_len) == 0)
            break;
    if (!kq) {
        kq = calloc(1, sizeof(*kq));
        if (kq)
            kq->key = malloc(m->key_len + 1);
        if (!kq || !kq->key) {
            free(kq);
            goto nomem_locked;
        }
        memcpy(kq->key, key, m->key_len);
        kq->key[m->key_len] = '\0';
        kq->keylen = m->key_len;
        kq->part = part;
        kq->pnext = part->keys;
        part->keys = kq;
    }
    it->kq = kq;
    if (part->tail)
        part->tail->pnext = it;
    else
        part->head = it;
    part->tail = it;
    if (kq->tail) {
        kq->tail->knext = it;
    } else {
        kq->head = it;
        kq->not_before = 0;
        if (!kq->busy) {
            kafka__ready_push(c, kq);
            ready = true;
        }
    }
    kq->tail = it;
    part->nbuffered++;
    part->buffered_bytes += m->len + m->key_len;
    pthread_mutex_unlock(&c->mu);
    /* after the unlock: a worker woken under the lock could preempt this thread on its CPU only
     * to wait for the lock, and be woken a second time (a waiter re-checks under the lock, so
     * no wake-up is lost) */
    if (ready)
        pthread_cond_signal(&c->work);
    return 0;
nomem_locked:
    pthread_mutex_unlock(&c->mu);
nomem:
    log_errorx("out of memory buffering '%s' [%" PRId32 "] offset %" PRId64 "; stopping", topic,
               m->partition, m->offset);
    free(it);
    rd_kafka_message_destroy(m);
    return -ENOMEM;
}

/*
 * The next item to run: the oldest of the first ready key whose backoff is over (its key then
 * busy), or NULL with the ms until the earliest backoff ends in @ret_wait (-1: none waits).
 */
static struct kafka_item *kafka__take(struct kafka_consumer *c, int64_t *ret_wait)
{
    int64_t now = util_now_mono_ms(), wait = -1;
    struct kafka_keyq *prev = NULL, *kq;

    for (kq = c->ready; kq; prev = kq, kq = kq->rnext) {
        if (kq->part->revoked)
            continue;
        if (kq->not_before > now) {
            if (wait < 0 || kq->not_before - now < wait)
                wait = kq->not_before - now;
            continue;
        }
        kafka__ready_unlink(c, prev, kq);
        kq->busy = true;
        kq->part->running++;
        return kq->head;
    }
    *ret_wait = wait;
    return NULL;
}

/*
 * After @it's handler: @retry_at 0 → @it is done: off its key, and the partition's done head
 * items freed with the offset after them stored; else its key waits until @retry_at (monotonic
 * ms) with @it first. The key goes back on the ready list unless it has nothing left. No worker
 * is woken for it: the calling thread takes the next ready item itself before it waits (each
 * caller loops back to kafka__take() under the same hold of c->mu), and waking the idle ones
 * after every event would only have them find nothing, on the CPU the next hop needs.
 */
static void kafka__finish(struct kafka_consumer *c, struct kafka_item *it, int64_t retry_at)
{
    struct kafka_keyq *kq = it->kq;
    struct kafka_part *part = kq->part;

    kq->busy = false;
    part->running--;
    if (retry_at) {
        kq->not_before = retry_at;
    } else {
        int64_t next = -1;

        it->done = true;
        it->kq = NULL;
        kq->head = it->knext;
        if (!kq->head)
            kq->tail = NULL;
        kq->not_before = 0;
        while (part->head && part->head->done) {
            struct kafka_item *first = part->head;

            part->head = first->pnext;
            next = first->m->offset + 1;
            kafka__item_free(part, first);
        }
        if (!part->head)
            part->tail = NULL;
        if (next >= 0)
            kafka__store_offset(c, part->topic, part->partition, next);
    }
    if (kq->head)
        kafka__ready_push(c, kq);
    else
        kafka__keyq_free(kq);
    pthread_cond_broadcast(&c->idle); /* kafka__revoke() may wait for this handler */
}

/* Forgets @part and everything buffered of it, nothing stored (its handlers have returned). */
static void kafka__part_discard(struct kafka_consumer *c, struct kafka_part *part)
{
    struct kafka_part **pp;

    while (part->keys) {
        struct kafka_keyq *kq = part->keys;

        kafka__ready_remove(c, kq);
        kq->head = kq->tail = NULL;
        kafka__keyq_free(kq);
    }
    while (part->head) {
        struct kafka_item *it = part->head;

        part->head = it->pnext;
        kafka__item_free(part, it);
    }
    for (pp = &c->parts; *pp; pp = &(*pp)->next) {
        if (*pp == part) {
            *pp = part->next;
            break;
        }
    }
    free(part->topic);
    free(part);
}

/* Pauses each partition whose buffer is full, resumes it once half of it is free again
 * (polling thread). Messages a poll still returns meanwhile are buffered all the same. A
 * partition held up by one unfinished message stops only itself, as a partition did before
 * there were workers. */
static void kafka__flow(struct kafka_consumer *c)
{
    rd_kafka_topic_partition_list_t *pause = rd_kafka_topic_partition_list_new(0);
    rd_kafka_topic_partition_list_t *resume = rd_kafka_topic_partition_list_new(0);
    struct kafka_part *part;

    pthread_mutex_lock(&c->mu);
    for (part = c->parts; part; part = part->next) {
        bool full =
            part->nbuffered >= c->max_buffered || part->buffered_bytes >= c->max_buffered_bytes;
        bool low = part->nbuffered <= c->max_buffered / 2 &&
                   part->buffered_bytes <= c->max_buffered_bytes / 2;

        if (part->paused ? !low : !full)
            continue;
        part->paused = !part->paused;
        rd_kafka_topic_partition_list_add(part->paused ? pause : resume, part->topic,
                                          part->partition);
        log_info("kafka group '%s': '%s' [%" PRId32 "] has %zu messages (%zu bytes) buffered: "
                 "fetching %s",
                 c->group_id, part->topic, part->partition, part->nbuffered, part->buffered_bytes,
                 part->paused ? "paused" : "resumed");
    }
    pthread_mutex_unlock(&c->mu);
    if (pause->cnt)
        rd_kafka_pause_partitions(c->rk, pause);
    if (resume->cnt)
        rd_kafka_resume_partitions(c->rk, resume);
    rd_kafka_topic_partition_list_destroy(pause);
    rd_kafka_topic_partition_list_destroy(resume);
}

/* The next retry of @it, after the backoff of @step (0, 1, …); @deliveries is what counts
 * towards max_attempts. Returns when (monotonic ms). */
static int64_t kafka__retry_later(struct kafka_consumer *c, struct kafka_item *it, int deliveries,
                                  int step)
{
    const rd_kafka_message_t *m = it->m;
    int64_t delay = util_backoff_ms(step, c->backoff_base_ms, c->backoff_max_ms);

    if (delay <= 0)
        delay = 1;
    it->deliveries = deliveries;
    log_info("retrying '%s' [%" PRId32 "] offset %" PRId64 " in %" PRId64 " ms (attempt %d)",
             rd_kafka_topic_name(m->rkt), m->partition, m->offset, delay, deliveries + 1);
    return util_now_mono_ms() + delay;
}

static void kafka__count(const char *type, const char *result)
{
    const char *v[] = {type, result};

    metrics_inc(M_CONSUMED, v, 1);
}

/* What a header costs in a record. */
static size_t kafka__header_size(const char *name, size_t vlen)
{
    return strlen(name) + vlen + KAFKA_DLQ_HEADER_OVERHEAD;
}

/* The lower-case hex SHA-256 of @len bytes at @data into @hex (65 bytes); "" on failure. */
static void kafka__sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;

    hex[0] = '\0';
    if (EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return;
    for (i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/*
 * Fits the dead-letter copy of @m into c->dlq_max_bytes: the key, value and original headers
 * as they are when they fit beside our dlq_* headers (@ours bytes); else the value is cut
 * (and, when the key and the original headers alone do not fit, the original headers are left
 * out and the key cut too). Writes the lengths to send; returns true when anything was cut.
 */
static bool kafka__dlq_fit(const struct kafka_consumer *c, const rd_kafka_message_t *m,
                           size_t orig_headers, size_t ours, size_t *ret_keylen, size_t *ret_len,
                           bool *ret_keep_headers)
{
    size_t budget = 0, klen = m->key_len, hlen = orig_headers;

    if (c->dlq_max_bytes > ours + KAFKA_DLQ_RECORD_OVERHEAD)
        budget = c->dlq_max_bytes - ours - KAFKA_DLQ_RECORD_OVERHEAD;
    *ret_keep_headers = true;
    if (klen + hlen + m->len <= budget) {
        *ret_keylen = klen;
        *ret_len = m->len;
        return false;
    }
    if (klen + hlen > budget) {
        hlen = 0;
        *ret_keep_headers = false;
    }
    if (klen > budget)
        klen = budget;
    *ret_keylen = klen;
    *ret_len = budget - klen - hlen;
    return true;
}

/* Sends @m to "<topic>.dlq", cut to fit (kafka__dlq_fit). 0, or the producer's negative errno
 * (see kafka__dlq_permanent) with librdkafka's reason in @why. */
static int kafka__dead_letter(struct kafka_consumer *c, const rd_kafka_message_t *m,
                              const char *error, int attempts, char *why, size_t whylen)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_headers_t *orig = NULL, *hdrs = NULL;
    struct kafka_msg msg;
    char dlq_topic[300], part[16], off[24], att[16], now[40], size[24], sha[65];
    size_t orig_size = 0, ours = 0, keylen, len, i;
    bool truncated, keep_headers;
    const char *name;
    const void *val;
    size_t vsize;
    int r = -ENOMEM;

    snprintf(dlq_topic, sizeof(dlq_topic), "%s.dlq", topic);
    snprintf(part, sizeof(part), "%" PRId32, m->partition);
    snprintf(off, sizeof(off), "%" PRId64, m->offset);
    snprintf(att, sizeof(att), "%d", attempts);
    snprintf(size, sizeof(size), "%zu", m->len);
    util_rfc3339(util_now_ms(), now, sizeof(now));
    util_strlcpy(why, "out of memory", whylen);

    const char *const mine[][2] = {
        {"dlq_original_topic", topic}, {"dlq_original_partition", part},
        {"dlq_original_offset", off},  {"dlq_consumer_group", c->group_id},
        {"dlq_service", c->service},   {"dlq_error", error},
        {"dlq_attempts", att},         {"dlq_time", now},
    };
    const size_t nmine = sizeof(mine) / sizeof(mine[0]);

    if (rd_kafka_message_headers(m, &orig) != RD_KAFKA_RESP_ERR_NO_ERROR)
        orig = NULL;
    for (i = 0; orig && rd_kafka_header_get_all(orig, i, &name, &val, &vsize) == 0; i++)
        orig_size += kafka__header_size(name, vsize);
    for (i = 0; i < nmine; i++)
        ours += kafka__header_size(mine[i][0], strlen(mine[i][1]));
    /* room for the headers a cut adds (sha256 hex: 64 bytes) */
    ours += kafka__header_size("dlq_truncated", 4) + kafka__header_size("dlq_original_size", 20) +
            kafka__header_size("dlq_original_sha256", 64) +
            kafka__header_size("dlq_original_headers_dropped", 4);
    truncated = kafka__dlq_fit(c, m, orig_size, ours, &keylen, &len, &keep_headers);

    /* the original headers, byte for byte (unless they had to go), then ours */
    hdrs = orig && keep_headers ? rd_kafka_headers_copy(orig) : rd_kafka_headers_new(nmine + 4);
    if (!hdrs)
        goto out;
    for (i = 0; i < nmine; i++)
        if (rd_kafka_header_add(hdrs, mine[i][0], -1, mine[i][1], -1))
            goto out;
    if (truncated) {
        kafka__sha256_hex(m->payload, m->len, sha);
        if (rd_kafka_header_add(hdrs, "dlq_truncated", -1, "true", -1) ||
            rd_kafka_header_add(hdrs, "dlq_original_size", -1, size, -1) ||
            rd_kafka_header_add(hdrs, "dlq_original_sha256", -1, sha, -1) ||
            (!keep_headers &&
             rd_kafka_header_add(hdrs, "dlq_original_headers_dropped", -1, "true", -1)))
            goto out;
    }

    memset(&msg, 0, sizeof(msg));
    msg.topic = dlq_topic;
    msg.key = m->key;
    msg.keylen = keylen;
    msg.value = m->payload;
    msg.len = len;
    r = kafka__produce(c->dlq, &msg, 1, &hdrs);
    if (r < 0) {
        r = msg.result < 0 ? msg.result : -EIO;
        util_strlcpy(why, msg.error, whylen);
        log_errorx("cannot dead-letter '%s' [%" PRId32 "] offset %" PRId64 " to '%s': %s", topic,
                   m->partition, m->offset, dlq_topic, msg.error);
    } else if (truncated) {
        log_warnx("dead-lettered '%s' [%" PRId32 "] offset %" PRId64 " to '%s' after %d "
                  "attempt(s), cut from %zu to %zu bytes (sha256 %s): %s",
                  topic, m->partition, m->offset, dlq_topic, attempts, m->len, len, sha, error);
    } else {
        log_warnx("dead-lettered '%s' [%" PRId32 "] offset %" PRId64 " to '%s' after %d "
                  "attempt(s): %s",
                  topic, m->partition, m->offset, dlq_topic, attempts, error);
    }
out:
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    return r;
}

/* The metric label of a dead-letter produce that can never succeed, or NULL when the failure
 * is transient (a broker down, a timeout, a topic not created yet: retried, never lost). */
static const char *kafka__dlq_permanent(int err)
{
    switch (err) {
    case -EMSGSIZE:
        return "too_large";
    case -EACCES:
        return "unauthorized";
    case -EBADMSG:
        return "invalid_record";
    case -EINVAL:
        return "invalid";
    default:
        return NULL;
    }
}
/* Dead-letters @it and moves on: returns 0 (done). When the dead-letter produce fails
 * transiently, comes back to @it like a transient failure (never lost): returns when; when it
 * can never succeed, logs, counts commerce_dlq_failures_total and skips @it (returns 0: its
 * partition must not stall on it). */
static int64_t kafka__to_dlq(struct kafka_consumer *c, struct kafka_item *it, int delivery,
                             const char *mtype, const char *error, int attempts)
{
    const rd_kafka_message_t *m = it->m;
    const char *topic = rd_kafka_topic_name(m->rkt);
    const char *v[] = {topic};
    const char *permanent;
    char why[128];
    int64_t when;
    int r;

    r = kafka__dead_letter(c, m, error, attempts, why, sizeof(why));
    if (r == 0) {
        metrics_inc(M_DEAD, v, 1);
        kafka__count(mtype, "dead_lettered");
        return 0;
    }
    permanent = kafka__dlq_permanent(r);
    if (permanent) {
        const char *labels[] = {topic, permanent};

        log_errorx("skipping '%s' [%" PRId32 "] offset %" PRId64 " (%zu bytes): its dead-letter "
                   "copy can never be written (%s); it failed with: %s",
                   topic, m->partition, m->offset, m->len, why, error);
        metrics_inc(M_DLQ_FAILED, labels, 1);
        kafka__count(mtype, "dlq_skipped");
        return 0;
    }
    when = kafka__retry_later(c, it, delivery, delivery - 1);
    it->dlq_attempts = attempts;
    if (error != it->dlq_error)
        util_strlcpy(it->dlq_error, error, sizeof(it->dlq_error));
    kafka__count(mtype, "dlq_failed");
    return when;
}

static const struct kafka_type *kafka__type_find(const struct kafka_consumer *c, const char *type)
{
    const struct kafka_type *t;

    for (t = c->types; t->type; t++)
        if (strcmp(t->type, type) == 0)
            return t;
    return NULL;
}

/* NUL-terminated copies of @m's ce_* and content-type headers, which event_parse() reads
 * (the content-type picks the content mode). */
struct kafka_ce_headers {
    struct event_header h[EVENT_MAX_HEADERS];
    char *val[EVENT_MAX_HEADERS];
    size_t n;
};

static void kafka__ce_headers(const rd_kafka_message_t *m, struct kafka_ce_headers *out)
{
    rd_kafka_headers_t *hdrs;
    const char *name;
    const void *val;
    size_t size, idx;

    out->n = 0;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    for (idx = 0;
         out->n < EVENT_MAX_HEADERS && rd_kafka_header_get_all(hdrs, idx, &name, &val, &size) == 0;
         idx++) {
        char *copy;

        if (!val || (strncmp(name, "ce_", 3) != 0 && strcasecmp(name, "content-type") != 0))
            continue;
        copy = strndup(val, size);
        if (!copy)
            continue; /* parsing then reports the attribute missing */
        out->val[out->n] = copy;
        out->h[out->n] = (struct event_header){name, copy};
        out->n++;
    }
}

static void kafka__ce_headers_free(struct kafka_ce_headers *hs)
{
    size_t i;

    for (i = 0; i < hs->n; i++)
        free(hs->val[i]);
    hs->n = 0;
}

/*
 * Runs the consumer's payload check (kafka_check_fn) on @ev, handled by @kt. Returns 0 (the
 * handler runs; a lenient answer is logged and counted here), or -EINVAL with the dead-letter
 * reason in @reason.
 */
static int kafka__check_payload(struct kafka_consumer *c, struct event *ev,
                                const struct kafka_type *kt, const rd_kafka_message_t *m,
                                const char *mtype, char *reason, size_t reasonlen)
{
    int produced = ev->version, rc;

    if (!c->check)
        return 0;
    reason[0] = '\0';
    rc = c->check(ev, kt->max_version, c->check_arg, reason, reasonlen);
    if (rc < 0) {
        if (!reason[0])
            snprintf(reason, reasonlen, "payload check failed");
        return -EINVAL;
    }
    if (rc > 0) {
        log_warnx("event '%s' (%s v%d) from '%s' [%" PRId32 "] offset %" PRId64
                  " is invalid; handled anyway: %s",
                  ev->id, ev->type, produced, rd_kafka_topic_name(m->rkt), m->partition, m->offset,
                  reason);
        kafka__count(mtype, "schema_invalid");
    }
    return 0;
}

/* Runs @it through the failure policy (kafka_consumer.h) on the calling thread. Returns 0 when
 * it is done (handled, dead-lettered, skipped), else when to run it again (monotonic ms). */
static int64_t kafka__handle(struct kafka_consumer *c, struct kafka_item *it)
{
    const rd_kafka_message_t *m = it->m;
    const char *topic = rd_kafka_topic_name(m->rkt);
    struct kafka_ce_headers hs = {.n = 0};
    const struct kafka_type *kt;
    struct kafka_record rec;
    struct event ev;
    struct msgctx ctx;
    enum kafka_result res;
    const char *mtype = "unknown";
    char err[512], reason[600];
    int64_t t0, when = 0;
    int delivery = it->deliveries + 1, produced_version = 0;

    memset(&ev, 0, sizeof(ev));
    if (it->dlq_attempts > 0)
        return kafka__to_dlq(c, it, delivery, mtype, it->dlq_error, it->dlq_attempts);

    kafka__ce_headers(m, &hs);
    err[0] = '\0';
    if (event_parse(m->payload, m->len, hs.h, hs.n, &ev, err, sizeof(err)) < 0) {
        snprintf(reason, sizeof(reason), "invalid event envelope: %s", err);
        when = kafka__to_dlq(c, it, delivery, mtype, reason, 1);
        goto out;
    }
    if (event_topic(ev.type))
        mtype = ev.type; /* a bounded label set: only known types name their series */

    produced_version = ev.version;
    kt = kafka__type_find(c, ev.type);
    if (!kt) {
        log_debug("skipping event '%s' of type '%s' from '%s' [%" PRId32 "]", ev.id, ev.type, topic,
                  m->partition);
        kafka__count(mtype, "skipped");
        goto out;
    }
    if (ev.version < kt->min_version || ev.version > kt->max_version) {
        snprintf(reason, sizeof(reason), "unsupported version %d of '%s' (accepts %d..%d)",
                 ev.version, ev.type, kt->min_version, kt->max_version);
        when = kafka__to_dlq(c, it, delivery, mtype, reason, 1);
        goto out;
    }

    if (kafka__check_payload(c, &ev, kt, m, mtype, reason, sizeof(reason)) < 0) {
        when = kafka__to_dlq(c, it, delivery, mtype, reason, 1);
        goto out;
    }

    rec = (struct kafka_record){
        .topic = topic,
        .partition = m->partition,
        .offset = m->offset,
        .key = m->key,
        .keylen = m->key_len,
        .value = m->payload,
        .len = m->len,
        .attempt = delivery,
        .version = produced_version,
    };
    msgctx_init_event(&ctx, ev.id, ev.correlationid, ev.causationid, ev.traceparent);
    msgctx_set_current(&ctx);
    err[0] = '\0';
    t0 = util_now_mono_ms();
    res = c->handler(&ev, &rec, c->app, err, sizeof(err));
    {
        const char *v[] = {mtype};

        metrics_observe(M_DURATION, v, (double)(util_now_mono_ms() - t0) / 1000.0);
    }
    switch (res) {
    case KAFKA_OK:
        kafka__count(mtype, "ok");
        break;
    case KAFKA_RETRY:
        if (delivery >= c->max_attempts) {
            snprintf(reason, sizeof(reason), "gave up after %d attempts: %s", delivery,
                     err[0] ? err : "transient failure");
            when = kafka__to_dlq(c, it, delivery, mtype, reason, delivery);
            break;
        }
        log_warnx("event '%s' failed transiently (attempt %d of %d): %s", ev.id, delivery,
                  c->max_attempts, err[0] ? err : "no reason given");
        when = kafka__retry_later(c, it, delivery, delivery - 1);
        it->outages = 0;
        {
            const char *v[] = {mtype};

            metrics_inc(M_RETRIED, v, 1);
        }
        kafka__count(mtype, "retry");
        break;
    case KAFKA_UNAVAILABLE: {
        const char *v[] = {mtype};

        /* not counted: delivery - 1 attempts stand, the backoff grows with the outage */
        log_warnx("event '%s' waits for a dependency (%d time(s) in a row; attempt %d of %d "
                  "stays): %s",
                  ev.id, it->outages + 1, delivery, c->max_attempts, err[0] ? err : "unavailable");
        when = kafka__retry_later(c, it, delivery - 1, it->outages);
        it->outages++;
        metrics_inc(M_RETRIED, v, 1);
        kafka__count(mtype, "unavailable");
        break;
    }
    case KAFKA_FAIL:
    default:
        when = kafka__to_dlq(c, it, delivery, mtype, err[0] ? err : "permanent failure", delivery);
        break;
    }
    msgctx_set_current(NULL);
out:
    event_release(&ev);
    kafka__ce_headers_free(&hs);
    return when;
}

/* Runs @it (taken by kafka__take(); c->mu held on entry and on return). */
static void kafka__run(struct kafka_consumer *c, struct kafka_item *it)
{
    int64_t when;

    pthread_mutex_unlock(&c->mu);
    when = kafka__handle(c, it);
    pthread_mutex_lock(&c->mu);
    kafka__finish(c, it, when);
}

/* A pool thread (workers > 1): runs ready items until quit. Taking and waiting happen under
 * one hold of c->mu, so no wake-up is missed. */
static void *kafka__worker_main(void *arg)
{
    struct kafka_consumer *c = arg;

    kafka__block_signals();
    pthread_mutex_lock(&c->mu);
    while (!c->quit) {
        int64_t wait = -1;
        struct kafka_item *it = kafka__take(c, &wait);
        struct timespec until;

        if (it) {
            kafka__run(c, it);
            continue;
        }
        /* woken by a key becoming ready or quit; a backoff's end is waited for here */
        until = worker_deadline_ms(wait < 0 || wait > 1000 ? 1000 : (long)wait);
        pthread_cond_timedwait(&c->work, &c->mu, &until);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Revocation of @parts: nothing of them starts any more, their running handlers finish (and
 * store what they finish), then what is left of them is dropped unstored: the next owner starts
 * at the lowest unfinished message, and nothing of ours runs after that. NULL: all of them. */
static void kafka__revoke(struct kafka_consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *paused = rd_kafka_topic_partition_list_new(0);
    struct kafka_part **pp, *part;
    bool running;
    int i;

    pthread_mutex_lock(&c->mu);
    for (part = c->parts; !parts && part; part = part->next)
        part->revoked = true;
    for (i = 0; parts && i < parts->cnt; i++) {
        part = kafka__part_find(c, parts->elems[i].topic, parts->elems[i].partition);
        if (part)
            part->revoked = true;
    }
    do {
        running = false;
        for (part = c->parts; part; part = part->next)
            running = running || (part->revoked && part->running > 0);
        if (running)
            pthread_cond_wait(&c->idle, &c->mu);
    } while (running);
    for (pp = &c->parts; *pp;) {
        if (!(*pp)->revoked) {
            pp = &(*pp)->next;
            continue;
        }
        if ((*pp)->paused)
            rd_kafka_topic_partition_list_add(paused, (*pp)->topic, (*pp)->partition);
        kafka__part_discard(c, *pp); /* unlinks it: *pp is the next one */
    }
    pthread_mutex_unlock(&c->mu);
    /* a partition comes back unpaused should it be assigned to us again */
    if (paused->cnt)
        rd_kafka_resume_partitions(c->rk, paused);
    rd_kafka_topic_partition_list_destroy(paused);
}

static void kafka__rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct kafka_consumer *c = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        log_info("kafka group '%s': %d partition(s) assigned", c->group_id, parts->cnt);
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        log_info("kafka group '%s': %d partition(s) revoked", c->group_id, parts->cnt);
        kafka__revoke(c, parts);
        if (!rd_kafka_assignment_lost(rk)) {
            /* what was handled stays handled for the next owner */
            rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, NULL, 0);

            if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
                log_warnx("kafka group '%s': commit on revoke: %s", c->group_id,
                          rd_kafka_err2str(cerr));
        }
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
        break;
    default:
        log_errorx("kafka group '%s': rebalance failed: %s", c->group_id, rd_kafka_err2str(err));
        kafka__revoke(c, NULL);
        aerr = rd_kafka_assign(rk, NULL);
        break;
    }
    if (error) {
        log_errorx("kafka group '%s': assignment: %s", c->group_id, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (aerr) {
        log_errorx("kafka group '%s': assignment: %s", c->group_id, rd_kafka_err2str(aerr));
    }
}

/* Lets the pool threads finish their running handlers and joins them. */
static void kafka__pool_quit(struct kafka_consumer *c)
{
    int i;

    pthread_mutex_lock(&c->mu);
    c->quit = true;
    pthread_cond_broadcast(&c->work);
    pthread_mutex_unlock(&c->mu);
    for (i = 0; i < c->nthreads; i++)
        pthread_join(c->threads[i], NULL);
    c->nthreads = 0;
}

/* The polling thread: polls into the buffer, pauses and resumes fetching by the buffer's fill,
 * and with one worker runs the handlers itself between polls. On stop: the running handlers
 * finish, the rest is dropped unstored, the stored offsets are committed, then close. */
static void *kafka__consumer_main(void *arg)
{
    struct kafka_consumer *c = arg;
    rd_kafka_resp_err_t err;

    kafka__block_signals();
    while (!atomic_load(&c->stop)) {
        int64_t wait = KAFKA_POLL_MS;
        rd_kafka_message_t *m;

        if (c->workers == 1) {
            struct kafka_item *it;

            pthread_mutex_lock(&c->mu);
            it = kafka__take(c, &wait);
            if (it) {
                kafka__run(c, it);
                wait = 0; /* poll without waiting, then the next one */
            } else if (wait < 0 || wait > KAFKA_POLL_MS) {
                wait = KAFKA_POLL_MS;
            }
            pthread_mutex_unlock(&c->mu);
        }
        kafka__flow(c);
        m = rd_kafka_consumer_poll(c->rk, (int)wait);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_warnx("kafka consume: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        } else if (kafka__enqueue(c, m) < 0) {
            atomic_store(&c->stop, true);
        }
    }

    kafka__pool_quit(c);
    kafka__revoke(c, NULL); /* what never ran or waits for a retry: redelivered to the next */

    err = rd_kafka_commit(c->rk, NULL, 0); /* synchronous: the stored offsets */
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warnx("kafka group '%s': final commit: %s", c->group_id, rd_kafka_err2str(err));
    err = rd_kafka_consumer_close(c->rk);
    if (err)
        log_warnx("kafka group '%s': close: %s", c->group_id, rd_kafka_err2str(err));
    return NULL;
}

static void kafka__consumer_free(struct kafka_consumer *c)
{
    struct kafka_type *t;

    if (!c)
        return;
    if (c->rk)
        rd_kafka_destroy(c->rk);
    if (c->sync_init) {
        while (c->parts) /* a start that failed after polling began */
            kafka__part_discard(c, c->parts);
        pthread_cond_destroy(&c->idle);
        pthread_cond_destroy(&c->work);
        pthread_mutex_destroy(&c->mu);
    }
    free(c->threads);
    for (t = c->types; t && t->type; t++)
        free((char *)t->type);
    free(c->types);
    free(c->group_id);
    free(c->service);
    free(c);
}

static void kafka__metrics_register(void)
{
    metrics_counter(M_CONSUMED, "Events consumed, by type and outcome.", "type,result");
    metrics_gauge(M_LAG,
                  "Messages behind the partition's end, per assigned partition "
                  "(librdkafka statistics, every 5 s).",
                  "group,topic,partition");
    metrics_counter(M_RETRIED, "Event deliveries that failed transiently and will be retried.",
                    "type");
    metrics_counter(M_DEAD, "Events sent to a dead-letter topic, by source topic.", "topic");
    metrics_counter(M_DLQ_FAILED,
                    "Events skipped because their dead-letter copy can never be written "
                    "(too large, not authorized, refused as invalid), by source topic and reason.",
                    "topic,reason");
    metrics_histogram(M_DURATION, "Time spent in event handlers.", "type", METRICS_LATENCY_BUCKETS,
                      METRICS_LATENCY_NBUCKETS);
}

/* librdkafka statistics (JSON, every statistics.interval.ms, served by the consumer's poll):
 * the lag of each assigned partition becomes commerce_consumer_lag{group,topic,partition}.
 * Returns 0: librdkafka frees @json. */
static int kafka__stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    struct kafka_consumer *c = opaque;
    cJSON *root = cJSON_ParseWithLength(json, json_len);
    const cJSON *topic, *part;

    (void)rk;
    cJSON_ArrayForEach (topic, cJSON_GetObjectItemCaseSensitive(root, "topics")) {
        cJSON_ArrayForEach (part, cJSON_GetObjectItemCaseSensitive(topic, "partitions")) {
            const cJSON *lag = cJSON_GetObjectItemCaseSensitive(part, "consumer_lag");
            const cJSON *assigned = cJSON_GetObjectItemCaseSensitive(part, "fetch_state");
            const char *labels[3];

            /* "-1" is librdkafka's internal unassigned partition; -1 lag means unknown */
            if (!part->string || strcmp(part->string, "-1") == 0 || !cJSON_IsNumber(lag) ||
                lag->valuedouble < 0 || !cJSON_IsString(assigned) ||
                strcmp(assigned->valuestring, "active") != 0)
                continue;
            labels[0] = c->group_id;
            labels[1] = topic->string;
            labels[2] = part->string;
            metrics_set(M_LAG, labels, lag->valuedouble);
        }
    }
    cJSON_Delete(root);
    return 0;
}

struct kafka_consumer *kafka_consumer_start(const struct kafka_consumer_opts *opts, char *errbuf,
                                            size_t errlen)
{
    struct kafka_consumer *c = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *subs = NULL;
    rd_kafka_resp_err_t err;
    size_t ntypes = 0, i;

    if (!opts || !opts->bootstrap || !opts->group_id || !*opts->group_id || !opts->topics ||
        !opts->topics[0] || !opts->types || !opts->handler || !opts->dlq_producer) {
        snprintf(errbuf, errlen,
                 "kafka consumer: bootstrap, group id, topics, types, handler "
                 "and dlq producer are required");
        goto bad;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        goto nomem;
    atomic_init(&c->stop, false);
    while (opts->types[ntypes].type)
        ntypes++;
    c->types = calloc(ntypes + 1, sizeof(*c->types));
    c->group_id = strdup(opts->group_id);
    c->service = strdup(opts->service ? opts->service : "unknown");
    if (!c->types || !c->group_id || !c->service)
        goto nomem;
    for (i = 0; i < ntypes; i++) {
        c->types[i] = opts->types[i];
        c->types[i].type = strdup(opts->types[i].type);
        if (!c->types[i].type)
            goto nomem;
    }
    c->handler = opts->handler;
    c->app = opts->app;
    c->dlq = opts->dlq_producer;
    c->check = opts->check;
    c->check_arg = opts->check_arg;
    c->max_attempts = opts->max_attempts > 0 ? opts->max_attempts : KAFKA_DEFAULT_MAX_ATTEMPTS;
    c->backoff_base_ms =
        opts->backoff_base_ms > 0 ? opts->backoff_base_ms : KAFKA_DEFAULT_BACKOFF_BASE_MS;
    c->backoff_max_ms =
        opts->backoff_max_ms > 0 ? opts->backoff_max_ms : KAFKA_DEFAULT_BACKOFF_MAX_MS;
    if (c->backoff_max_ms < c->backoff_base_ms)
        c->backoff_max_ms = c->backoff_base_ms;
    c->dlq_max_bytes = opts->dlq_max_bytes > 0 ? opts->dlq_max_bytes : KAFKA_DEFAULT_DLQ_MAX_BYTES;
    if (c->dlq_max_bytes < KAFKA_MIN_DLQ_MAX_BYTES)
        c->dlq_max_bytes = KAFKA_MIN_DLQ_MAX_BYTES;
    c->workers = opts->workers > 0 ? opts->workers : KAFKA_DEFAULT_WORKERS;
    if (c->workers > KAFKA_MAX_WORKERS)
        c->workers = KAFKA_MAX_WORKERS;
    c->max_buffered = opts->max_buffered > 0
                          ? opts->max_buffered
                          : (size_t)c->workers * KAFKA_DEFAULT_BUFFERED_PER_WORKER;
    if (c->max_buffered < KAFKA_MIN_BUFFERED)
        c->max_buffered = KAFKA_MIN_BUFFERED;
    c->max_buffered_bytes =
        opts->max_buffered_bytes > 0 ? opts->max_buffered_bytes : KAFKA_DEFAULT_MAX_BUFFERED_BYTES;
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        goto nomem;
    if (worker_cond_init(&c->work) != 0) {
        pthread_mutex_destroy(&c->mu);
        goto nomem;
    }
    if (worker_cond_init(&c->idle) != 0) {
        pthread_cond_destroy(&c->work);
        pthread_mutex_destroy(&c->mu);
        goto nomem;
    }
    c->sync_init = true;
    if (c->workers > 1) {
        c->threads = calloc((size_t)c->workers, sizeof(*c->threads));
        if (!c->threads)
            goto nomem;
    }

    conf = kafka__conf_new();
    if (!conf)
        goto nomem;
    {
        char session[16];

        snprintf(session, sizeof(session), "%d",
                 opts->session_timeout_ms > 0 ? opts->session_timeout_ms : 45000);
        /* clang-format off */
        const char *const kv[] = {
            "bootstrap.servers", opts->bootstrap,
            "group.id", opts->group_id,
            "session.timeout.ms", session,
            "client.id", opts->service,
            "enable.auto.commit", "true",
            "enable.auto.offset.store", "false",
            "enable.partition.eof", "false",
            "max.partition.fetch.bytes", KAFKA_MAX_PARTITION_FETCH_BYTES,
            "auto.offset.reset", opts->auto_offset_reset ? opts->auto_offset_reset : "earliest",
            /* statistics feed the consumer-lag gauge (kafka__stats_cb) */
            "statistics.interval.ms", "5000",
            NULL,
        };
        /* clang-format on */

        if (kafka__conf_set(conf, kv, errbuf, errlen) < 0 ||
            kafka_auth_apply(conf, opts->auth, errbuf, errlen) < 0)
            goto bad;
    }
    rd_kafka_conf_set_rebalance_cb(conf, kafka__rebalance_cb);
    rd_kafka_conf_set_stats_cb(conf, kafka__stats_cb);
    rd_kafka_conf_set_opaque(conf, c);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errbuf, errlen);
    if (!c->rk)
        goto bad;
    conf = NULL; /* now owned by rk */
    rd_kafka_poll_set_consumer(c->rk);

    for (i = 0; opts->topics[i]; i++)
        ;
    subs = rd_kafka_topic_partition_list_new((int)i);
    for (i = 0; opts->topics[i]; i++)
        rd_kafka_topic_partition_list_add(subs, opts->topics[i], RD_KAFKA_PARTITION_UA);
    err = rd_kafka_subscribe(c->rk, subs);
    if (err) {
        snprintf(errbuf, errlen, "kafka subscribe: %s", rd_kafka_err2str(err));
        goto bad;
    }
    kafka__metrics_register();
    for (i = 0; c->workers > 1 && i < (size_t)c->workers; i++) {
        if (pthread_create(&c->threads[i], NULL, kafka__worker_main, c) != 0) {
            snprintf(errbuf, errlen, "cannot start the consumer's worker threads");
            kafka__pool_quit(c);
            rd_kafka_consumer_close(c->rk);
            goto bad;
        }
        c->nthreads++;
    }
    if (pthread_create(&c->thread, NULL, kafka__consumer_main, c) != 0) {
        snprintf(errbuf, errlen, "cannot start the consumer thread");
        kafka__pool_quit(c);
        rd_kafka_consumer_close(c->rk);
        goto bad;
    }
    c->thread_started = true;
    rd_kafka_topic_partition_list_destroy(subs);
    return c;
nomem:
    snprintf(errbuf, errlen, "out of memory");
bad:
    if (subs)
        rd_kafka_topic_partition_list_destroy(subs);
    if (conf)
        rd_kafka_conf_destroy(conf);
    kafka__consumer_free(c);
    return NULL;
}

void kafka_consumer_stop(struct kafka_consumer *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, true);
    if (c->thread_started)
        pthread_join(c->thread, NULL); /* the thread commits and closes */
    kafka__consumer_free(c);
}
