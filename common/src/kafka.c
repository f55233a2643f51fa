/*
 * kafka.c - librdkafka wrapped once: the idempotent producer with its delivery-report poller,
 * the consumer thread with the failure policy of SPEC §4 (see kafka.h), and topic creation.
 *
 * Ownership rules of librdkafka kept here and nowhere else: every polled message is destroyed;
 * a conf belongs to the rd_kafka_t once rd_kafka_new() succeeded; headers handed to
 * rd_kafka_producev() belong to librdkafka once it succeeded.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msgctx.h"
#include "common/upcast.h"
#include "common/util.h"

#define KAFKA_DEFAULT_MSG_TIMEOUT_MS 10000
#define KAFKA_DEFAULT_MAX_ATTEMPTS 8
#define KAFKA_DEFAULT_BACKOFF_BASE_MS 200
#define KAFKA_DEFAULT_BACKOFF_MAX_MS 30000
#define KAFKA_POLL_MS 100 /* longest the consumer thread goes without polling */
#define KAFKA_SEEK_TIMEOUT_MS 5000
#define KAFKA_ADMIN_TIMEOUT_MS 15000

#define M_CONSUMED "commerce_events_consumed_total"
#define M_LAG "commerce_consumer_lag"
#define M_RETRIED "commerce_events_retried_total"
#define M_DEAD "commerce_events_dead_lettered_total"
#define M_DURATION "commerce_event_handler_duration_seconds"

/* ------------------------------------------------------------------------------------------ */
/* shared helpers                                                                              */

static void kafka__log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum log_level lvl = level <= 3   ? LOG_ERROR
                         : level == 4 ? LOG_WARN
                         : level <= 6 ? LOG_INFO
                                      : LOG_DEBUG;

    log_msg(lvl, "kafka '%s' %s: %s", rd_kafka_name(rk), fac, buf);
}

static void kafka__error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    char fatal[256];

    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        log_errorx("kafka '%s' fatal error: %s", rd_kafka_name(rk), fatal);
        return;
    }
    log_warnx("kafka '%s' error %s: %s", rd_kafka_name(rk),
              rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* Sets each "name", "value" pair of the NULL-terminated @kv; 0 or -EINVAL with @errbuf. */
static int kafka__conf_set(rd_kafka_conf_t *conf, const char *const *kv, char *errbuf,
                           size_t errlen)
{
    for (; kv[0]; kv += 2) {
        if (!kv[1])
            continue; /* optional setting left unset */
        if (rd_kafka_conf_set(conf, kv[0], kv[1], errbuf, errlen) != RD_KAFKA_CONF_OK)
            return -EINVAL;
    }
    return 0;
}

static rd_kafka_conf_t *kafka__conf_new(void)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (!conf)
        return NULL;
    rd_kafka_conf_set_log_cb(conf, kafka__log_cb);
    rd_kafka_conf_set_error_cb(conf, kafka__error_cb);
    return conf;
}

static int kafka__errno(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return 0;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        return -ETIMEDOUT;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return -ENOENT;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return -ENOBUFS;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return -EMSGSIZE;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return -EINVAL;
    default:
        return -EIO;
    }
}

/* Threads started here never take process signals: main() waits for them in sigwait(). */
static void kafka__block_signals(void)
{
    sigset_t all;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* producer                                                                                    */

struct kafka_producer {
    rd_kafka_t *rk;
    pthread_t poller;
    bool poller_started;
    atomic_bool stop;
    int timeout_ms;
};

/* One kafka_produce_wait() call: counts the delivery reports still to come. Lives on the
 * caller's stack; no report touches it after the count reached zero. */
struct kafka_batch {
    pthread_mutex_t lock;
    pthread_cond_t done;
    size_t outstanding;
};

/* The per-message opaque: where the delivery report writes its result. */
struct kafka_slot {
    struct kafka_batch *batch;
    struct kafka_msg *msg;
};

static void kafka__dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kafka_slot *slot = m->_private;
    struct kafka_batch *batch;

    (void)rk;
    (void)opaque;
    if (!slot)
        return;
    batch = slot->batch;
    slot->msg->result = kafka__errno(m->err);
    if (m->err)
        util_strlcpy(slot->msg->error, rd_kafka_err2str(m->err), sizeof(slot->msg->error));
    pthread_mutex_lock(&batch->lock);
    if (--batch->outstanding == 0)
        pthread_cond_broadcast(&batch->done);
    pthread_mutex_unlock(&batch->lock);
    /* @slot and @batch may be gone from here on */
}

static void *kafka__poller_main(void *arg)
{
    struct kafka_producer *p = arg;

    kafka__block_signals();
    while (!atomic_load(&p->stop))
        rd_kafka_poll(p->rk, KAFKA_POLL_MS);
    return NULL;
}

struct kafka_producer *kafka_producer_new(const struct kafka_producer_opts *opts, char *errbuf,
                                          size_t errlen)
{
    struct kafka_producer *p = NULL;
    rd_kafka_conf_t *conf = NULL;
    char timeout[16];

    if (!opts || !opts->bootstrap || !*opts->bootstrap) {
        snprintf(errbuf, errlen, "kafka bootstrap servers not set");
        goto bad;
    }
    p = calloc(1, sizeof(*p));
    conf = kafka__conf_new();
    if (!p || !conf) {
        snprintf(errbuf, errlen, "out of memory");
        goto bad;
    }
    p->timeout_ms =
        opts->message_timeout_ms > 0 ? opts->message_timeout_ms : KAFKA_DEFAULT_MSG_TIMEOUT_MS;
    atomic_init(&p->stop, false);
    snprintf(timeout, sizeof(timeout), "%d", p->timeout_ms);
    {
        /* clang-format off */
        const char *const kv[] = {
            "bootstrap.servers", opts->bootstrap,
            "client.id", opts->client_id,
            "enable.idempotence", "true",
            "linger.ms", "5",
            "message.timeout.ms", timeout,
            NULL,
        };
        /* clang-format on */

        if (kafka__conf_set(conf, kv, errbuf, errlen) < 0)
            goto bad;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, kafka__dr_cb);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, errlen);
    if (!p->rk)
        goto bad;
    conf = NULL; /* now owned by rk */
    if (pthread_create(&p->poller, NULL, kafka__poller_main, p) != 0) {
        snprintf(errbuf, errlen, "cannot start the delivery report thread");
        goto bad;
    }
    p->poller_started = true;
    return p;
bad:
    if (conf)
        rd_kafka_conf_destroy(conf);
    kafka_producer_free(p);
    return NULL;
}

void kafka_producer_free(struct kafka_producer *p)
{
    rd_kafka_resp_err_t err;

    if (!p)
        return;
    if (p->rk) {
        err = rd_kafka_flush(p->rk, p->timeout_ms + 1000);
        if (err)
            log_warnx("kafka producer flush: %d message(s) not delivered: %s",
                      rd_kafka_outq_len(p->rk), rd_kafka_err2str(err));
    }
    if (p->poller_started) {
        atomic_store(&p->stop, true);
        pthread_join(p->poller, NULL);
    }
    if (p->rk)
        rd_kafka_destroy(p->rk);
    free(p);
}

/* Builds the librdkafka header list of @msg (or copies @raw). Caller owns. */
static rd_kafka_headers_t *kafka__headers(const struct kafka_msg *msg,
                                          const rd_kafka_headers_t *raw)
{
    rd_kafka_headers_t *hdrs;
    size_t i;

    if (raw)
        return rd_kafka_headers_copy(raw);
    hdrs = rd_kafka_headers_new(msg->nheaders ? msg->nheaders : 1);
    for (i = 0; hdrs && i < msg->nheaders; i++) {
        const struct event_header *h = &msg->headers[i];

        if (rd_kafka_header_add(hdrs, h->name, -1, h->value, h->value ? -1 : 0)) {
            rd_kafka_headers_destroy(hdrs);
            return NULL;
        }
    }
    return hdrs;
}

/* kafka_produce_wait(), optionally with prebuilt header lists (@raw[i] copied, may be NULL). */
static int kafka__produce(struct kafka_producer *p, struct kafka_msg *msgs, size_t n,
                          rd_kafka_headers_t *const *raw)
{
    struct kafka_batch batch = {.outstanding = 0};
    struct kafka_slot *slots;
    int64_t deadline = util_now_mono_ms() + p->timeout_ms;
    size_t i;
    int r = 0;

    for (i = 0; i < n; i++) {
        msgs[i].result = 0;
        msgs[i].error[0] = '\0';
    }
    if (n == 0)
        return 0;
    slots = calloc(n, sizeof(*slots));
    if (!slots) {
        for (i = 0; i < n; i++) {
            msgs[i].result = -ENOMEM;
            util_strlcpy(msgs[i].error, "out of memory", sizeof(msgs[i].error));
        }
        return -EIO;
    }
    pthread_mutex_init(&batch.lock, NULL);
    pthread_cond_init(&batch.done, NULL);

    for (i = 0; i < n; i++) {
        struct kafka_msg *msg = &msgs[i];
        rd_kafka_headers_t *hdrs = kafka__headers(msg, raw ? raw[i] : NULL);
        rd_kafka_resp_err_t err;

        if (!hdrs) {
            msg->result = -ENOMEM;
            util_strlcpy(msg->error, "out of memory", sizeof(msg->error));
            continue;
        }
        slots[i] = (struct kafka_slot){&batch, msg};
        /* counted before the send: the report may arrive before producev() returns */
        pthread_mutex_lock(&batch.lock);
        batch.outstanding++;
        pthread_mutex_unlock(&batch.lock);
        for (;;) {
            err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(msg->topic),
                                    RD_KAFKA_V_KEY(msg->key, msg->key ? msg->keylen : 0),
                                    RD_KAFKA_V_VALUE((void *)msg->value, msg->len),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(&slots[i]),
                                    RD_KAFKA_V_END);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || util_now_mono_ms() >= deadline)
                break;
            /* the local queue is full: give the poller a moment to drain reports */
            rd_kafka_poll(p->rk, 10);
        }
        if (err) {
            rd_kafka_headers_destroy(hdrs);
            msg->result = kafka__errno(err);
            util_strlcpy(msg->error, rd_kafka_err2str(err), sizeof(msg->error));
            pthread_mutex_lock(&batch.lock);
            batch.outstanding--;
            pthread_mutex_unlock(&batch.lock);
            continue;
        }
        hdrs = NULL; /* now owned by rk */
    }

    /* librdkafka reports every message within message.timeout.ms, so this ends. */
    pthread_mutex_lock(&batch.lock);
    while (batch.outstanding > 0)
        pthread_cond_wait(&batch.done, &batch.lock);
    pthread_mutex_unlock(&batch.lock);
    pthread_cond_destroy(&batch.done);
    pthread_mutex_destroy(&batch.lock);
    free(slots);

    for (i = 0; i < n; i++)
        if (msgs[i].result != 0)
            r = -EIO;
    return r;
}

int kafka_produce_wait(struct kafka_producer *p, struct kafka_msg *msgs, size_t n)
{
    return kafka__produce(p, msgs, n, NULL);
}

int kafka_publish_event(struct kafka_producer *p, const struct event *ev, const char *key)
{
    struct event_header hdrs[EVENT_MAX_HEADERS];
    struct kafka_msg msg;
    const char *topic = event_topic(ev->type);
    char *json;
    int r;

    if (!topic)
        return -EINVAL;
    json = event_to_json(ev);
    if (!json)
        return -EIO;
    memset(&msg, 0, sizeof(msg));
    msg.topic = topic;
    msg.key = key;
    msg.keylen = key ? strlen(key) : 0;
    msg.value = json;
    msg.len = strlen(json);
    msg.headers = hdrs;
    msg.nheaders = event_to_headers(ev, hdrs, EVENT_MAX_HEADERS);
    r = kafka_produce_wait(p, &msg, 1);
    free(json);
    return r;
}

int kafka_producer_ping(struct kafka_producer *p, int timeout_ms, char *why, size_t whylen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err;
    int r = 0;

    err = rd_kafka_metadata(p->rk, 0, NULL, &md, timeout_ms);
    if (err) {
        snprintf(why, whylen, "kafka metadata: %s", rd_kafka_err2str(err));
        r = -EIO;
    } else if (md->broker_cnt == 0) {
        snprintf(why, whylen, "kafka metadata lists no broker");
        r = -EIO;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* consumer                                                                                    */

/* A partition whose current message failed transiently: paused and rewound until resume_at.
 * Only the consumer thread touches these (the rebalance callback runs on it too). */
struct kafka_retry {
    char *topic;
    int32_t partition;
    int64_t offset;    /* the message being retried */
    int deliveries;    /* counted deliveries so far (KAFKA_UNAVAILABLE ones are not) */
    int outages;       /* KAFKA_UNAVAILABLE answers in a row (their backoff step) */
    int64_t resume_at; /* monotonic ms; 0 once resumed */
    bool need_seek;    /* the rewind failed: do it again before resuming */
    int dlq_attempts;  /* > 0: the dead-lettering failed; the next delivery goes to the DLQ */
    char dlq_error[256];
    struct kafka_retry *next;
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
    const struct contracts *contracts; /* borrowed; NULL: no validation */
    enum kafka_schema_policy schema_policy;
    struct kafka_retry *retries;
};

static struct kafka_retry *kafka__retry_find(struct kafka_consumer *c, const char *topic,
                                             int32_t partition)
{
    struct kafka_retry *rt;

    for (rt = c->retries; rt; rt = rt->next)
        if (rt->partition == partition && strcmp(rt->topic, topic) == 0)
            return rt;
    return NULL;
}

static void kafka__retry_drop(struct kafka_consumer *c, struct kafka_retry *rt)
{
    struct kafka_retry **pp;

    if (!rt)
        return;
    for (pp = &c->retries; *pp; pp = &(*pp)->next) {
        if (*pp == rt) {
            *pp = rt->next;
            break;
        }
    }
    free(rt->topic);
    free(rt);
}

/* A one-partition list; caller owns: rd_kafka_topic_partition_list_destroy(). */
static rd_kafka_topic_partition_list_t *kafka__tp(const char *topic, int32_t partition,
                                                  int64_t offset)
{
    rd_kafka_topic_partition_list_t *tps = rd_kafka_topic_partition_list_new(1);

    rd_kafka_topic_partition_list_add(tps, topic, partition)->offset = offset;
    return tps;
}

/* Rewinds the partition to @rt->offset; 0 or -EIO. */
static int kafka__seek(struct kafka_consumer *c, struct kafka_retry *rt)
{
    rd_kafka_topic_partition_list_t *tps = kafka__tp(rt->topic, rt->partition, rt->offset);
    rd_kafka_error_t *error;
    int r = 0;

    error = rd_kafka_seek_partitions(c->rk, tps, KAFKA_SEEK_TIMEOUT_MS);
    if (error) {
        log_errorx("cannot rewind '%s' [%" PRId32 "] to %" PRId64 ": %s", rt->topic, rt->partition,
                   rt->offset, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        r = -EIO;
    } else if (tps->elems[0].err) {
        log_errorx("cannot rewind '%s' [%" PRId32 "] to %" PRId64 ": %s", rt->topic, rt->partition,
                   rt->offset, rd_kafka_err2str(tps->elems[0].err));
        r = -EIO;
    }
    rd_kafka_topic_partition_list_destroy(tps);
    return r;
}

/* Pauses the message's partition and rewinds it, to come back after the backoff of @step
 * (0, 1, …); @deliveries is what counts towards max_attempts. Returns the partition's retry
 * record, or NULL when it could not be tracked (the consumer is then stopping). */
static struct kafka_retry *kafka__retry_later(struct kafka_consumer *c, const rd_kafka_message_t *m,
                                              struct kafka_retry *rt, int deliveries, int step)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_topic_partition_list_t *tps;
    int64_t delay;

    if (!rt) {
        rt = calloc(1, sizeof(*rt));
        if (rt)
            rt->topic = strdup(topic);
        if (!rt || !rt->topic) {
            free(rt);
            /* cannot track it: stop here rather than skip it; a restart redelivers */
            log_errorx("out of memory tracking a retry of '%s' [%" PRId32 "]; stopping", topic,
                       m->partition);
            atomic_store(&c->stop, true);
            return NULL;
        }
        rt->partition = m->partition;
        rt->next = c->retries;
        c->retries = rt;
    }
    rt->offset = m->offset;
    rt->deliveries = deliveries;
    delay = util_backoff_ms(step, c->backoff_base_ms, c->backoff_max_ms);
    rt->resume_at = util_now_mono_ms() + (delay > 0 ? delay : 1);

    tps = kafka__tp(topic, m->partition, RD_KAFKA_OFFSET_INVALID);
    rd_kafka_pause_partitions(c->rk, tps);
    rd_kafka_topic_partition_list_destroy(tps);
    rt->need_seek = kafka__seek(c, rt) < 0;
    log_info("retrying '%s' [%" PRId32 "] offset %" PRId64 " in %" PRId64 " ms (attempt %d)", topic,
             m->partition, m->offset, delay, deliveries + 1);
    return rt;
}

/* Resumes the partitions whose backoff is over; returns how long the next poll may wait. */
static int kafka__resume_due(struct kafka_consumer *c)
{
    int64_t now = util_now_mono_ms(), wait = KAFKA_POLL_MS;
    struct kafka_retry *rt;

    for (rt = c->retries; rt; rt = rt->next) {
        rd_kafka_topic_partition_list_t *tps;

        if (rt->resume_at == 0)
            continue;
        if (rt->resume_at > now) {
            if (rt->resume_at - now < wait)
                wait = rt->resume_at - now;
            continue;
        }
        if (rt->need_seek && kafka__seek(c, rt) < 0) {
            rt->resume_at = now + 1000; /* still paused; try the rewind again later */
            continue;
        }
        rt->need_seek = false;
        rt->resume_at = 0;
        tps = kafka__tp(rt->topic, rt->partition, RD_KAFKA_OFFSET_INVALID);
        rd_kafka_resume_partitions(c->rk, tps);
        rd_kafka_topic_partition_list_destroy(tps);
    }
    return (int)wait;
}

static void kafka__store_offset(struct kafka_consumer *c, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *tps =
        kafka__tp(rd_kafka_topic_name(m->rkt), m->partition, m->offset + 1);
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, tps);

    if (err || tps->elems[0].err)
        log_warnx("cannot store offset %" PRId64 " of '%s' [%" PRId32 "]: %s", m->offset + 1,
                  rd_kafka_topic_name(m->rkt), m->partition,
                  rd_kafka_err2str(err ? err : tps->elems[0].err));
    rd_kafka_topic_partition_list_destroy(tps);
}

static void kafka__count(const char *type, const char *result)
{
    const char *v[] = {type, result};

    metrics_inc(M_CONSUMED, v, 1);
}

/* Sends @m to "<topic>.dlq"; 0 or -EIO. */
static int kafka__dead_letter(struct kafka_consumer *c, const rd_kafka_message_t *m,
                              const char *error, int attempts)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_headers_t *orig = NULL, *hdrs = NULL;
    struct kafka_msg msg;
    char dlq_topic[300], part[16], off[24], att[16], now[40];
    int r = -EIO;

    snprintf(dlq_topic, sizeof(dlq_topic), "%s.dlq", topic);
    snprintf(part, sizeof(part), "%" PRId32, m->partition);
    snprintf(off, sizeof(off), "%" PRId64, m->offset);
    snprintf(att, sizeof(att), "%d", attempts);
    util_rfc3339(util_now_ms(), now, sizeof(now));

    /* the original headers, byte for byte, then ours */
    if (rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = rd_kafka_headers_copy(orig);
    else
        hdrs = rd_kafka_headers_new(8);
    if (!hdrs)
        goto out;
    if (rd_kafka_header_add(hdrs, "dlq_original_topic", -1, topic, -1) ||
        rd_kafka_header_add(hdrs, "dlq_original_partition", -1, part, -1) ||
        rd_kafka_header_add(hdrs, "dlq_original_offset", -1, off, -1) ||
        rd_kafka_header_add(hdrs, "dlq_consumer_group", -1, c->group_id, -1) ||
        rd_kafka_header_add(hdrs, "dlq_service", -1, c->service, -1) ||
        rd_kafka_header_add(hdrs, "dlq_error", -1, error, -1) ||
        rd_kafka_header_add(hdrs, "dlq_attempts", -1, att, -1) ||
        rd_kafka_header_add(hdrs, "dlq_time", -1, now, -1))
        goto out;

    memset(&msg, 0, sizeof(msg));
    msg.topic = dlq_topic;
    msg.key = m->key;
    msg.keylen = m->key_len;
    msg.value = m->payload;
    msg.len = m->len;
    r = kafka__produce(c->dlq, &msg, 1, &hdrs);
    if (r < 0)
        log_errorx("cannot dead-letter '%s' [%" PRId32 "] offset %" PRId64 " to '%s': %s", topic,
                   m->partition, m->offset, dlq_topic, msg.error);
    else
        log_warnx("dead-lettered '%s' [%" PRId32 "] offset %" PRId64 " to '%s' after %d "
                  "attempt(s): %s",
                  topic, m->partition, m->offset, dlq_topic, attempts, error);
out:
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    return r;
}

/* Dead-letters @m and moves on, or, when that fails, comes back to it like a transient
 * failure (never lost, never skipped). */
static void kafka__to_dlq(struct kafka_consumer *c, const rd_kafka_message_t *m,
                          struct kafka_retry *rt, int delivery, const char *mtype,
                          const char *error, int attempts)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    const char *v[] = {topic};

    if (kafka__dead_letter(c, m, error, attempts) == 0) {
        kafka__store_offset(c, m);
        kafka__retry_drop(c, rt);
        metrics_inc(M_DEAD, v, 1);
        kafka__count(mtype, "dead_lettered");
        return;
    }
    rt = kafka__retry_later(c, m, rt, delivery, delivery - 1);
    if (rt) {
        rt->dlq_attempts = attempts;
        util_strlcpy(rt->dlq_error, error, sizeof(rt->dlq_error));
    }
    kafka__count(mtype, "dlq_failed");
}

static const struct kafka_type *kafka__type_find(const struct kafka_consumer *c, const char *type)
{
    const struct kafka_type *t;

    for (t = c->types; t->type; t++)
        if (strcmp(t->type, type) == 0)
            return t;
    return NULL;
}

/* The NUL-terminated copies of @m's ce_* headers that event_parse() falls back to. */
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

        if (!val || strncmp(name, "ce_", 3) != 0)
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
 * Validates @ev's data against its (type, version) schema when the consumer has contracts,
 * then upcasts it towards @kt->max_version as far as the upcaster table goes (updating
 * ev->version and ev->dataschema). Returns 0, or -EINVAL with the dead-letter reason in
 * @reason: "schema: <pointer>: <message>", "schema: no schema for …" or "upcast: …".
 */
static int kafka__check_payload(struct kafka_consumer *c, struct event *ev,
                                const struct kafka_type *kt, const rd_kafka_message_t *m,
                                char *reason, size_t reasonlen)
{
    char err[400];
    int rc, to;

    if (c->contracts) {
        err[0] = '\0';
        rc = contracts_validate(c->contracts, ev->type, ev->version, ev->data, err, sizeof(err));
        if (rc == -ENOENT) {
            snprintf(reason, reasonlen, "schema: no schema for '%s' v%d", ev->type, ev->version);
            return -EINVAL; /* a version the contracts do not know is never processable */
        }
        if (rc < 0) {
            snprintf(reason, reasonlen, "schema: %s", err);
            if (c->schema_policy != KAFKA_SCHEMA_LENIENT_V1 || ev->version != 1)
                return -EINVAL;
            log_warnx("event '%s' (%s v%d) from '%s' [%" PRId32 "] offset %" PRId64
                      " is invalid; handled anyway: %s",
                      ev->id, ev->type, ev->version, rd_kafka_topic_name(m->rkt), m->partition,
                      m->offset, reason);
            kafka__count(event_topic(ev->type) ? ev->type : "unknown", "schema_invalid");
            reason[0] = '\0';
        }
    }
    for (to = ev->version; to < kt->max_version && upcast_find(ev->type, to); to++)
        ;
    if (to == ev->version)
        return 0;
    err[0] = '\0';
    rc = upcast_to(ev->type, ev->version, to, ev->data, err, sizeof(err));
    if (rc < 0) {
        snprintf(reason, reasonlen, "upcast: %s", err);
        return -EINVAL;
    }
    ev->version = to;
    event_schema_urn(ev->type, to, ev->dataschema, sizeof(ev->dataschema));
    return 0;
}

static void kafka__handle(struct kafka_consumer *c, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    struct kafka_retry *rt = kafka__retry_find(c, topic, m->partition);
    struct kafka_ce_headers hs = {.n = 0};
    const struct kafka_type *kt;
    struct kafka_record rec;
    struct event ev;
    struct msgctx ctx;
    enum kafka_result res;
    const char *mtype = "unknown";
    char err[512], reason[600];
    int64_t t0;
    int delivery, produced_version = 0;

    memset(&ev, 0, sizeof(ev));
    if (rt && rt->offset != m->offset) {
        /* not the message we were retrying (e.g. the partition moved): start afresh */
        kafka__retry_drop(c, rt);
        rt = NULL;
    }
    delivery = rt ? rt->deliveries + 1 : 1;
    if (rt && rt->dlq_attempts > 0) {
        char error[sizeof(rt->dlq_error)];

        util_strlcpy(error, rt->dlq_error, sizeof(error));
        kafka__to_dlq(c, m, rt, delivery, mtype, error, rt->dlq_attempts);
        return;
    }

    kafka__ce_headers(m, &hs);
    err[0] = '\0';
    if (event_parse(m->payload, m->len, hs.h, hs.n, &ev, err, sizeof(err)) < 0) {
        snprintf(reason, sizeof(reason), "invalid event envelope: %s", err);
        kafka__to_dlq(c, m, rt, delivery, mtype, reason, 1);
        goto out;
    }
    if (event_topic(ev.type))
        mtype = ev.type; /* a bounded label set: only known types name their series */

    produced_version = ev.version;
    kt = kafka__type_find(c, ev.type);
    if (!kt) {
        log_debug("skipping event '%s' of type '%s' from '%s' [%" PRId32 "]", ev.id, ev.type, topic,
                  m->partition);
        kafka__store_offset(c, m);
        kafka__retry_drop(c, rt);
        kafka__count(mtype, "skipped");
        goto out;
    }
    if (ev.version < kt->min_version || ev.version > kt->max_version) {
        snprintf(reason, sizeof(reason), "unsupported version %d of '%s' (accepts %d..%d)",
                 ev.version, ev.type, kt->min_version, kt->max_version);
        kafka__to_dlq(c, m, rt, delivery, mtype, reason, 1);
        goto out;
    }

    if (kafka__check_payload(c, &ev, kt, m, reason, sizeof(reason)) < 0) {
        kafka__to_dlq(c, m, rt, delivery, mtype, reason, 1);
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
        kafka__store_offset(c, m);
        kafka__retry_drop(c, rt);
        kafka__count(mtype, "ok");
        break;
    case KAFKA_RETRY:
        if (delivery >= c->max_attempts) {
            snprintf(reason, sizeof(reason), "gave up after %d attempts: %s", delivery,
                     err[0] ? err : "transient failure");
            kafka__to_dlq(c, m, rt, delivery, mtype, reason, delivery);
            break;
        }
        log_warnx("event '%s' failed transiently (attempt %d of %d): %s", ev.id, delivery,
                  c->max_attempts, err[0] ? err : "no reason given");
        rt = kafka__retry_later(c, m, rt, delivery, delivery - 1);
        if (rt)
            rt->outages = 0;
        {
            const char *v[] = {mtype};

            metrics_inc(M_RETRIED, v, 1);
        }
        kafka__count(mtype, "retry");
        break;
    case KAFKA_UNAVAILABLE: {
        int outages = rt ? rt->outages : 0;
        const char *v[] = {mtype};

        /* not counted: delivery - 1 attempts stand, the backoff grows with the outage */
        log_warnx("event '%s' waits for a dependency (%d time(s) in a row; attempt %d of %d "
                  "stays): %s",
                  ev.id, outages + 1, delivery, c->max_attempts, err[0] ? err : "unavailable");
        rt = kafka__retry_later(c, m, rt, delivery - 1, outages);
        if (rt)
            rt->outages = outages + 1;
        metrics_inc(M_RETRIED, v, 1);
        kafka__count(mtype, "unavailable");
        break;
    }
    case KAFKA_FAIL:
    default:
        kafka__to_dlq(c, m, rt, delivery, mtype, err[0] ? err : "permanent failure", delivery);
        break;
    }
    msgctx_set_current(NULL);
out:
    event_release(&ev);
    kafka__ce_headers_free(&hs);
}

static void kafka__rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct kafka_consumer *c = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    int i;

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
        if (!rd_kafka_assignment_lost(rk)) {
            /* what was handled stays handled for the next owner */
            rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, NULL, 0);

            if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
                log_warnx("kafka group '%s': commit on revoke: %s", c->group_id,
                          rd_kafka_err2str(cerr));
        }
        for (i = 0; i < parts->cnt; i++) {
            struct kafka_retry *rt =
                kafka__retry_find(c, parts->elems[i].topic, parts->elems[i].partition);

            if (rt && rt->resume_at) {
                rd_kafka_topic_partition_list_t *tps =
                    kafka__tp(rt->topic, rt->partition, RD_KAFKA_OFFSET_INVALID);

                rd_kafka_resume_partitions(rk, tps);
                rd_kafka_topic_partition_list_destroy(tps);
            }
            kafka__retry_drop(c, rt);
        }
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
        break;
    default:
        log_errorx("kafka group '%s': rebalance failed: %s", c->group_id, rd_kafka_err2str(err));
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

static void *kafka__consumer_main(void *arg)
{
    struct kafka_consumer *c = arg;
    rd_kafka_resp_err_t err;

    kafka__block_signals();
    while (!atomic_load(&c->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, kafka__resume_due(c));

        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_warnx("kafka consume: %s", rd_kafka_message_errstr(m));
        } else {
            kafka__handle(c, m);
        }
        rd_kafka_message_destroy(m);
    }

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
    while (c->retries)
        kafka__retry_drop(c, c->retries);
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
    c->contracts = opts->contracts;
    c->schema_policy = opts->schema_policy;
    c->max_attempts = opts->max_attempts > 0 ? opts->max_attempts : KAFKA_DEFAULT_MAX_ATTEMPTS;
    c->backoff_base_ms =
        opts->backoff_base_ms > 0 ? opts->backoff_base_ms : KAFKA_DEFAULT_BACKOFF_BASE_MS;
    c->backoff_max_ms =
        opts->backoff_max_ms > 0 ? opts->backoff_max_ms : KAFKA_DEFAULT_BACKOFF_MAX_MS;
    if (c->backoff_max_ms < c->backoff_base_ms)
        c->backoff_max_ms = c->backoff_base_ms;

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
            "auto.offset.reset", opts->auto_offset_reset ? opts->auto_offset_reset : "earliest",
            /* statistics feed the consumer-lag gauge (kafka__stats_cb) */
            "statistics.interval.ms", "5000",
            NULL,
        };
        /* clang-format on */

        if (kafka__conf_set(conf, kv, errbuf, errlen) < 0)
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
    if (pthread_create(&c->thread, NULL, kafka__consumer_main, c) != 0) {
        snprintf(errbuf, errlen, "cannot start the consumer thread");
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

/* ------------------------------------------------------------------------------------------ */
/* topics                                                                                      */

/* Waits until every topic has partitions in the metadata (on librdkafka's mock cluster, which
 * has no CreateTopics, the metadata request itself creates them). 0 or -EIO. */
static int kafka__topics_ready(rd_kafka_t *rk, const char *const *topics, char *errbuf,
                               size_t errlen)
{
    int64_t deadline = util_now_mono_ms() + KAFKA_ADMIN_TIMEOUT_MS;
    size_t i;

    for (i = 0; topics[i]; i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topics[i], NULL);
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;

        if (!rkt) {
            snprintf(errbuf, errlen, "topic '%s': %s", topics[i],
                     rd_kafka_err2str(rd_kafka_last_error()));
            return -EIO;
        }
        while (util_now_mono_ms() < deadline) {
            const struct rd_kafka_metadata *md = NULL;

            err = rd_kafka_metadata(rk, 0, rkt, &md, 2000);
            if (!err && md->topic_cnt == 1 && md->topics[0].err)
                err = md->topics[0].err;
            else if (!err && (md->topic_cnt != 1 || md->topics[0].partition_cnt == 0))
                err = RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE;
            if (md)
                rd_kafka_metadata_destroy(md);
            if (!err)
                break;
            rd_kafka_poll(rk, 100); /* metadata not propagated yet: wait a little */
        }
        rd_kafka_topic_destroy(rkt);
        if (err) {
            snprintf(errbuf, errlen, "topic '%s' not available: %s", topics[i],
                     rd_kafka_err2str(err));
            return -EIO;
        }
    }
    return 0;
}

static bool kafka__has_broker(const struct rd_kafka_metadata *md, int32_t id)
{
    int i;

    for (i = 0; id >= 0 && i < md->broker_cnt; i++)
        if (md->brokers[i].id == id)
            return true;
    return false;
}

int kafka_create_topics(const char *bootstrap, const char *const *topics, int partitions,
                        char *errbuf, size_t errlen)
{
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_NewTopic_t **newts = NULL;
    rd_kafka_AdminOptions_t *options = NULL;
    rd_kafka_queue_t *queue = NULL;
    rd_kafka_event_t *rkev = NULL;
    const rd_kafka_CreateTopics_result_t *res;
    const rd_kafka_topic_result_t **tres;
    size_t n = 0, i, cnt;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err;
    bool unsupported = false;
    int r = -EIO;

    if (!bootstrap || !topics) {
        snprintf(errbuf, errlen, "kafka bootstrap and topics are required");
        return -EIO;
    }
    while (topics[n])
        n++;
    if (n == 0)
        return 0;
    conf = kafka__conf_new();
    if (!conf || rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errbuf, errlen))
        goto out;
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, errlen);
    if (!rk)
        goto out;
    conf = NULL; /* now owned by rk */

    err = rd_kafka_metadata(rk, 0, NULL, &md, 10000);
    if (err) {
        snprintf(errbuf, errlen, "kafka metadata: %s", rd_kafka_err2str(err));
        goto out;
    }
    if (!kafka__has_broker(md, rd_kafka_controllerid(rk, 5000))) {
        /* librdkafka's mock cluster names a controller that is not one of its brokers and has
         * no CreateTopics; its topics appear on the first metadata request that allows it
         * (kafka__topics_ready) */
        unsupported = true;
        goto ready;
    }
    newts = calloc(n, sizeof(*newts));
    if (!newts) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        newts[i] =
            rd_kafka_NewTopic_new(topics[i], partitions > 0 ? partitions : 1, 1, errbuf, errlen);
        if (!newts[i])
            goto out;
    }
    options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    if (!options ||
        rd_kafka_AdminOptions_set_operation_timeout(options, KAFKA_ADMIN_TIMEOUT_MS - 5000, errbuf,
                                                    errlen) ||
        rd_kafka_AdminOptions_set_request_timeout(options, KAFKA_ADMIN_TIMEOUT_MS, errbuf, errlen))
        goto out;
    queue = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, newts, n, options, queue);
    rkev = rd_kafka_queue_poll(queue, KAFKA_ADMIN_TIMEOUT_MS + 5000);
    if (!rkev) {
        snprintf(errbuf, errlen, "create topics: timed out");
        goto out;
    }
    if (rd_kafka_event_error(rkev) == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
        unsupported = true; /* the mock cluster: topics appear on first metadata request */
    } else if (rd_kafka_event_error(rkev)) {
        snprintf(errbuf, errlen, "create topics: %s", rd_kafka_event_error_string(rkev));
        goto out;
    } else {
        res = rd_kafka_event_CreateTopics_result(rkev);
        tres = rd_kafka_CreateTopics_result_topics(res, &cnt);
        for (i = 0; i < cnt; i++) {
            err = rd_kafka_topic_result_error(tres[i]);
            if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
                unsupported = true;
            } else if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(errbuf, errlen, "create topic '%s': %s",
                         rd_kafka_topic_result_name(tres[i]),
                         rd_kafka_topic_result_error_string(tres[i]));
                goto out;
            }
        }
    }
ready:
    if (unsupported)
        log_debug("kafka: CreateTopics unsupported by the broker, relying on auto-creation");
    r = kafka__topics_ready(rk, topics, errbuf, errlen);
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkev)
        rd_kafka_event_destroy(rkev);
    if (queue)
        rd_kafka_queue_destroy(queue);
    if (options)
        rd_kafka_AdminOptions_destroy(options);
    for (i = 0; newts && i < n; i++)
        if (newts[i])
            rd_kafka_NewTopic_destroy(newts[i]);
    free(newts);
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (rk)
        rd_kafka_destroy(rk);
    return r;
}
