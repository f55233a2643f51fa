/*
 * kafka_producer.c - the idempotent producer (kafka_producer.h): its delivery-report poller,
 * kafka_produce_wait() and the batch it waits on, kafka_publish_event() and the readiness ping.
 *
 * A fatal error of the idempotent producer (librdkafka gives up on it for good: e.g.
 * InitProducerId refused because the principal's IdempotentWrite ACL has not reached that broker
 * yet, or the producer fenced) would leave a process that never publishes again. So the next
 * kafka_produce_wait() renews it: a new rd_kafka_t from a copy of the configuration (a new
 * producer id) becomes the current one. Each user of an rd_kafka_t (a produce call, the poller,
 * the ping) holds a reference to it; a replaced one is destroyed by whoever drops its last
 * reference, and until then a produce call still waiting on it polls it itself (the poller
 * moved on). What the dead one had not delivered is reported failed and sent again by its
 * caller (the relays keep it): at least once, as ever.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "common/kafka_producer.h"
#include "common/log.h"
#include "common/util.h"
#include "common/worker.h"
#include "kafka_internal.h"

#define KAFKA_DEFAULT_MSG_TIMEOUT_MS 10000

/* One rd_kafka_t and its users: the producer's own reference while it is the current one, and
 * one per call using it. */
struct kafka_rk {
    rd_kafka_t *rk;
    unsigned refs;
};

struct kafka_producer {
    pthread_mutex_t mu; /* guards cur and every refs */
    struct kafka_rk *cur;
    rd_kafka_conf_t *conf; /* a copy of the configuration, for a renewal */
    pthread_t poller;
    bool poller_started;
    atomic_bool stop;
    int timeout_ms;
    int linger_ms; /* linger.ms; > 0: kafka__produce flushes its batch instead of lingering */
};

/* One kafka_produce_wait() call: counts the delivery reports still to come. Lives on the
 * caller's stack; no report touches it after the count reached zero. */
struct kafka_batch {
    pthread_mutex_t lock;
    pthread_cond_t done; /* on CLOCK_MONOTONIC (worker_cond_init) */
    size_t outstanding;
};

/* The per-message opaque: where the delivery report writes its result (kafka_produce_wait), or
 * whom it calls (kafka_produce_async: @done set, the slot allocated for the one message). */
struct kafka_slot {
    struct kafka_batch *batch;
    struct kafka_msg *msg;
    kafka_done_fn *done;
    void *arg;
};

static void kafka__dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kafka_slot *slot = m->_private;
    struct kafka_batch *batch;

    (void)rk;
    (void)opaque;
    if (!slot)
        return;
    if (slot->done) {
        slot->done(slot->arg, kafka__errno(m->err), m->err ? rd_kafka_err2str(m->err) : "");
        free(slot);
        return;
    }
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

/* A reference to the current rd_kafka_t. */
static struct kafka_rk *kafka__hold(struct kafka_producer *p)
{
    struct kafka_rk *h;

    pthread_mutex_lock(&p->mu);
    h = p->cur;
    h->refs++;
    pthread_mutex_unlock(&p->mu);
    return h;
}

/* Drops a reference; the last one of a replaced rd_kafka_t destroys it. */
static void kafka__drop(struct kafka_producer *p, struct kafka_rk *h)
{
    bool last;

    pthread_mutex_lock(&p->mu);
    last = --h->refs == 0;
    pthread_mutex_unlock(&p->mu);
    if (last) {
        /* what a replaced one still holds fails now, each kafka_produce_async() caller told */
        rd_kafka_purge(h->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(h->rk, 0);
        rd_kafka_destroy(h->rk);
        free(h);
    }
}

static bool kafka__replaced(struct kafka_producer *p, const struct kafka_rk *h)
{
    bool replaced;

    pthread_mutex_lock(&p->mu);
    replaced = p->cur != h;
    pthread_mutex_unlock(&p->mu);
    return replaced;
}

/* Makes a new rd_kafka_t current in place of @h, which hit a fatal error (see the top of this
 * file), unless another call did already. */
static void kafka__renew(struct kafka_producer *p, struct kafka_rk *h)
{
    char fatal[256], errbuf[512];
    struct kafka_rk *nh = NULL;
    rd_kafka_conf_t *conf;
    bool installed = false;

    if (kafka__replaced(p, h))
        return;
    rd_kafka_fatal_error(h->rk, fatal, sizeof(fatal));
    conf = rd_kafka_conf_dup(p->conf);
    nh = calloc(1, sizeof(*nh));
    if (conf && nh)
        nh->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, sizeof(errbuf));
    else
        snprintf(errbuf, sizeof(errbuf), "out of memory");
    if (!nh || !nh->rk) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        free(nh);
        log_errorx("kafka '%s': cannot renew the producer after its fatal error (%s): %s",
                   rd_kafka_name(h->rk), fatal, errbuf);
        return;
    }
    nh->refs = 1; /* the producer's own */
    pthread_mutex_lock(&p->mu);
    if (p->cur == h) {
        p->cur = nh;
        h->refs--; /* the producer's own; the caller still holds one */
        installed = true;
    }
    pthread_mutex_unlock(&p->mu);
    if (!installed) {
        rd_kafka_destroy(nh->rk);
        free(nh);
        return;
    }
    log_warnx("kafka '%s': producer renewed as '%s' after its fatal error: %s",
              rd_kafka_name(h->rk), rd_kafka_name(nh->rk), fatal);
}

/* A reference to the current rd_kafka_t, renewed first when it failed fatally (see the top of
 * this file): what a produce call and the readiness probe use. */
static struct kafka_rk *kafka__hold_live(struct kafka_producer *p)
{
    struct kafka_rk *h = kafka__hold(p);

    if (rd_kafka_fatal_error(h->rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kafka__renew(p, h);
        kafka__drop(p, h);
        h = kafka__hold(p);
    }
    return h;
}

/* Hands @msg (copied) with the header list @hdrs (librdkafka's on success) to @rk. */
static rd_kafka_resp_err_t kafka__producev(rd_kafka_t *rk, const struct kafka_msg *msg,
                                           rd_kafka_headers_t *hdrs, struct kafka_slot *slot)
{
    return rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(msg->topic), RD_KAFKA_V_KEY(msg->key, msg->key ? msg->keylen : 0),
        RD_KAFKA_V_VALUE((void *)msg->value, msg->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(slot), RD_KAFKA_V_END);
}

int kafka_producer_test_fatal(struct kafka_producer *p, const char *reason)
{
    struct kafka_rk *h = kafka__hold(p);
    rd_kafka_resp_err_t err =
        rd_kafka_test_fatal_error(h->rk, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, reason);

    kafka__drop(p, h);
    return err ? -EIO : 0;
}

static void *kafka__poller_main(void *arg)
{
    struct kafka_producer *p = arg;

    kafka__block_signals();
    while (!atomic_load(&p->stop)) {
        struct kafka_rk *h = kafka__hold(p);

        rd_kafka_poll(h->rk, KAFKA_POLL_MS);
        kafka__drop(p, h);
    }
    return NULL;
}

struct kafka_producer *kafka_producer_new(const struct kafka_producer_opts *opts, char *errbuf,
                                          size_t errlen)
{
    struct kafka_producer *p = NULL;
    rd_kafka_conf_t *conf = NULL;
    char timeout[16], linger[16];

    if (!opts || !opts->bootstrap || !*opts->bootstrap) {
        snprintf(errbuf, errlen, "kafka bootstrap servers not set");
        goto bad;
    }
    p = calloc(1, sizeof(*p));
    if (p)
        pthread_mutex_init(&p->mu, NULL);
    conf = kafka__conf_new();
    if (!p || !conf || !(p->cur = calloc(1, sizeof(*p->cur)))) {
        snprintf(errbuf, errlen, "out of memory");
        goto bad;
    }
    p->cur->refs = 1; /* the producer's own */
    p->timeout_ms =
        opts->message_timeout_ms > 0 ? opts->message_timeout_ms : KAFKA_DEFAULT_MSG_TIMEOUT_MS;
    p->linger_ms = opts->linger_ms > 0 ? opts->linger_ms : 0;
    atomic_init(&p->stop, false);
    snprintf(timeout, sizeof(timeout), "%d", p->timeout_ms);
    snprintf(linger, sizeof(linger), "%d", p->linger_ms);
    {
        /* clang-format off */
        const char *const kv[] = {
            "bootstrap.servers", opts->bootstrap,
            "client.id", opts->client_id,
            "enable.idempotence", "true",
            "linger.ms", linger,
            "message.timeout.ms", timeout,
            NULL,
        };
        /* clang-format on */

        if (kafka__conf_set(conf, kv, errbuf, errlen) < 0 ||
            kafka_auth_apply(conf, opts->auth, errbuf, errlen) < 0)
            goto bad;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, kafka__dr_cb);
    p->conf = rd_kafka_conf_dup(conf);
    if (!p->conf) {
        snprintf(errbuf, errlen, "out of memory");
        goto bad;
    }
    p->cur->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, errlen);
    if (!p->cur->rk)
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
    /* no call is using the producer any more: cur holds only the producer's own reference */
    if (p->cur && p->cur->rk) {
        err = rd_kafka_flush(p->cur->rk, p->timeout_ms + 1000);
        if (err)
            log_warnx("kafka producer flush: %d message(s) not delivered: %s",
                      rd_kafka_outq_len(p->cur->rk), rd_kafka_err2str(err));
    }
    if (p->poller_started) {
        atomic_store(&p->stop, true);
        pthread_join(p->poller, NULL);
    }
    if (p->cur) {
        if (p->cur->rk)
            rd_kafka_destroy(p->cur->rk);
        free(p->cur);
    }
    if (p->conf)
        rd_kafka_conf_destroy(p->conf);
    pthread_mutex_destroy(&p->mu);
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

/*
 * With linger.ms > 0, librdkafka would hold @batch for the linger although its caller has
 * nothing more to add and waits for it: a batch of one would wait the whole linger. Flushing
 * sends it at once (rd_kafka_flush() ignores linger.ms while it runs). A flush waits for every
 * message of the producer, also other threads', so it runs in slices of one linger, checking
 * this batch in between: at most one linger more when others keep producing. From @deadline on
 * the caller's condition wait takes over (message.timeout.ms bounds it).
 */
static void kafka__flush_batch(struct kafka_producer *p, rd_kafka_t *rk, struct kafka_batch *batch,
                               int64_t deadline)
{
    if (p->linger_ms == 0)
        return; /* sent at once anyway */
    for (;;) {
        int64_t left = deadline - util_now_mono_ms();
        size_t outstanding;

        pthread_mutex_lock(&batch->lock);
        outstanding = batch->outstanding;
        pthread_mutex_unlock(&batch->lock);
        if (outstanding == 0 || left <= 0)
            return;
        rd_kafka_flush(rk, (int)(left < p->linger_ms ? left : p->linger_ms));
    }
}

/* kafka_produce_wait(), optionally with prebuilt header lists (@raw[i] copied, may be NULL). */
int kafka__produce(struct kafka_producer *p, struct kafka_msg *msgs, size_t n,
                   rd_kafka_headers_t *const *raw)
{
    struct kafka_batch batch = {.outstanding = 0};
    struct kafka_slot *slots;
    struct kafka_rk *h;
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
    worker_cond_init(&batch.done);
    h = kafka__hold_live(p);

    for (i = 0; i < n; i++) {
        struct kafka_msg *msg = &msgs[i];
        rd_kafka_headers_t *hdrs = kafka__headers(msg, raw ? raw[i] : NULL);
        rd_kafka_resp_err_t err;

        if (!hdrs) {
            msg->result = -ENOMEM;
            util_strlcpy(msg->error, "out of memory", sizeof(msg->error));
            continue;
        }
        slots[i] = (struct kafka_slot){.batch = &batch, .msg = msg};
        /* counted before the send: the report may arrive before producev() returns */
        pthread_mutex_lock(&batch.lock);
        batch.outstanding++;
        pthread_mutex_unlock(&batch.lock);
        for (;;) {
            err = kafka__producev(h->rk, msg, hdrs, &slots[i]);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || util_now_mono_ms() >= deadline)
                break;
            /* the local queue is full: give the poller a moment to drain reports */
            rd_kafka_poll(h->rk, 10);
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

    kafka__flush_batch(p, h->rk, &batch, deadline);
    /* librdkafka reports every message within message.timeout.ms (a fatal error fails them at
     * once), so this ends: the poller serves the reports of the current rd_kafka_t, this call
     * those of one replaced meanwhile */
    pthread_mutex_lock(&batch.lock);
    while (batch.outstanding > 0) {
        struct timespec until = worker_deadline_ms(KAFKA_POLL_MS);

        if (!kafka__replaced(p, h)) {
            pthread_cond_timedwait(&batch.done, &batch.lock, &until);
            continue;
        }
        pthread_mutex_unlock(&batch.lock);
        rd_kafka_poll(h->rk, KAFKA_POLL_MS);
        pthread_mutex_lock(&batch.lock);
    }
    pthread_mutex_unlock(&batch.lock);
    kafka__drop(p, h);
    pthread_cond_destroy(&batch.done);
    pthread_mutex_destroy(&batch.lock);
    free(slots);

    for (i = 0; i < n; i++)
        if (msgs[i].result != 0)
            r = -EIO;
    return r;
}

int kafka_produce_async(struct kafka_producer *p, const struct kafka_msg *msg, kafka_done_fn *done,
                        void *arg)
{
    struct kafka_slot *slot = calloc(1, sizeof(*slot));
    rd_kafka_headers_t *hdrs = kafka__headers(msg, NULL);
    rd_kafka_resp_err_t err;
    struct kafka_rk *h;

    if (!slot || !hdrs || !done) {
        free(slot);
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return done ? -ENOMEM : -EINVAL;
    }
    *slot = (struct kafka_slot){.done = done, .arg = arg};
    h = kafka__hold_live(p);
    err = kafka__producev(h->rk, msg, hdrs, slot);
    kafka__drop(p, h);
    if (err) {
        rd_kafka_headers_destroy(hdrs);
        free(slot);
        return kafka__errno(err);
    }
    return 0; /* @hdrs and @slot are librdkafka's now */
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
    /* the readiness probe renews a dead producer even while nothing is produced */
    struct kafka_rk *h = kafka__hold_live(p);
    rd_kafka_resp_err_t err;
    int r = 0;

    err = rd_kafka_metadata(h->rk, 0, NULL, &md, timeout_ms);
    kafka__drop(p, h);
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
