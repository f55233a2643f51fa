/*
 * relay.c - the relay's core (see relay.h): one worker round is claim → kafka_produce_wait →
 * settle, with one backoff policy and one set of metrics for every source.
 */
#include "common/relay.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/metrics.h"
#include "common/util.h"
#include "common/worker.h"

#define RELAY_STATS_EVERY_MS 1000
#define RELAY_FAILING_MAX 30
#define RELAY_HOLD_MS 15000 /* the producer's message timeout (10 s) and a margin */

#define RELAY_GAUGE_BACKLOG "commerce_outbox_backlog"
#define RELAY_GAUGE_AGE "commerce_outbox_oldest_age_seconds"
#define RELAY_PUBLISHED "commerce_outbox_published_total"
#define RELAY_FAILURES "commerce_outbox_publish_failures_total"

struct relay {
    struct relay_opts opts;
    struct relay_source *src;
    struct worker *worker;
    struct relay_batch batch;
    int failing;           /* failed rounds in a row: the backoff step */
    int64_t backoff_until; /* monotonic ms; kicks before it do not start a round */
    int64_t stats_at;      /* monotonic ms of the last gauge refresh, 0 = never */
    int64_t claim_at;      /* monotonic ms from which a round claims without a kick */
    atomic_bool claim_due; /* relay_kick() since the last claim */
    bool attached;         /* src->ops->attach ran: detach before the stop */
};

/* Refreshes the gauges at most every RELAY_STATS_EVERY_MS (the outbox's COUNT(*) is a scan). */
static void relay__refresh_stats(struct relay *r)
{
    const char *const label[] = {r->src->ops->name};
    int64_t now = util_now_mono_ms();
    long long backlog;
    double age;

    if (r->stats_at && now - r->stats_at < RELAY_STATS_EVERY_MS)
        return;
    if (r->src->ops->stats(r->src, &backlog, &age) < 0)
        return;
    r->stats_at = now;
    metrics_set(RELAY_GAUGE_BACKLOG, label, (double)backlog);
    metrics_set(RELAY_GAUGE_AGE, label, age);
}

/* Claims, produces, settles. Returns 0 or a negative errno; *@ret_delivered counts. */
static int relay__once(struct relay *r, bool settle_only, size_t *ret_delivered)
{
    struct relay_batch *b = &r->batch;
    size_t delivered = 0;
    int rc;

    b->n = 0;
    b->more = false;
    b->settle_only = settle_only;
    rc = r->src->ops->claim(r->src, b, r->opts.poll_ms);
    if (rc < 0)
        return rc;
    if (b->n > 0)
        kafka_produce_wait(r->opts.producer, b->msgs, b->n); /* per-message results below */
    for (size_t i = 0; i < b->n; i++) {
        delivered += b->msgs[i].result == 0;
        relay_count(r, b->types[i], b->msgs[i].result == 0);
    }
    *ret_delivered = delivered;
    return r->src->ops->settle(r->src, b);
}

/* The worker's round: the wait it returns is the backoff, 0 (more at once) or the period. */
static long relay__round(struct worker *w, void *arg)
{
    struct relay *r = arg;
    int64_t now = util_now_mono_ms();
    size_t delivered = 0;
    bool settle_only;
    int64_t delay;
    int rc;

    (void)w;
    if (now < r->backoff_until)
        return (long)(r->backoff_until - now); /* woken by a kick: the backoff stands */
    settle_only = !atomic_exchange(&r->claim_due, false) && now < r->claim_at;
    if (!settle_only)
        r->claim_at = now + r->opts.poll_ms;
    rc = relay__once(r, settle_only, &delivered);
    /* after the batch went out, not before: the gauges' queries never delay a hop */
    relay__refresh_stats(r);
    if (rc == 0 && (r->batch.n == 0 || delivered > 0)) {
        if (!settle_only)
            r->failing = 0;
        if (r->batch.more) {
            r->claim_at = 0; /* the next round claims, at once */
            return 0;
        }
        now = util_now_mono_ms();
        return r->claim_at > now ? (long)(r->claim_at - now) : 0;
    }
    /* the source or the broker is down: back off */
    delay = util_backoff_ms(r->failing, RELAY_BACKOFF_BASE_MS, RELAY_BACKOFF_MAX_MS);
    if (r->failing < RELAY_FAILING_MAX)
        r->failing++;
    r->backoff_until = util_now_mono_ms() + delay;
    r->claim_at = r->backoff_until; /* the round after the backoff claims */
    return (long)delay;
}

static void relay__free(struct relay *r)
{
    if (r->src)
        r->src->ops->free(r->src);
    free(r->batch.msgs);
    free(r->batch.types);
    free(r);
}

struct relay *relay_start(const struct relay_opts *opts, struct relay_source *src, char *errbuf,
                          size_t errlen)
{
    struct worker_opts wopts = {0};
    struct relay *r;

    if (!src) {
        snprintf(errbuf, errlen, "relay: no source (out of memory)");
        return NULL;
    }
    if (!opts || !opts->producer) {
        snprintf(errbuf, errlen, "%s relay: a producer is required", src->ops->name);
        src->ops->free(src);
        return NULL;
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(errbuf, errlen, "%s relay: out of memory", src->ops->name);
        src->ops->free(src);
        return NULL;
    }
    r->src = src; /* now owned by r */
    r->opts = *opts;
    if (r->opts.poll_ms <= 0)
        r->opts.poll_ms = 200;
    if (r->opts.batch <= 0)
        r->opts.batch = 100;
    if (r->opts.hold_ms <= 0)
        r->opts.hold_ms = RELAY_HOLD_MS;
    atomic_init(&r->claim_due, false);
    r->batch.max = (size_t)r->opts.batch;
    r->batch.msgs = calloc(r->batch.max, sizeof(*r->batch.msgs));
    r->batch.types = calloc(r->batch.max, sizeof(*r->batch.types));
    if (!r->batch.msgs || !r->batch.types) {
        snprintf(errbuf, errlen, "%s relay: out of memory", src->ops->name);
        relay__free(r);
        return NULL;
    }

    metrics_gauge(RELAY_GAUGE_BACKLOG,
                  "Relay entries (outbox rows, stream entries) not yet "
                  "published.",
                  "source");
    metrics_gauge(RELAY_GAUGE_AGE, "Age in seconds of the oldest unpublished relay entry.",
                  "source");
    metrics_counter(RELAY_PUBLISHED, "Events the relays published to Kafka.", "source,type");
    metrics_counter(RELAY_FAILURES, "Events whose publication failed (retried).", "source");

    wopts.name = src->ops->name;
    wopts.period_ms = r->opts.poll_ms;
    wopts.run = relay__round;
    wopts.arg = r;
    r->worker = worker_start(&wopts, errbuf, errlen);
    if (!r->worker) {
        relay__free(r);
        return NULL;
    }
    if (src->ops->attach) {
        src->ops->attach(src, r, &r->opts);
        r->attached = true;
    }
    return r;
}

void relay_kick(struct relay *r)
{
    if (!r)
        return;
    atomic_store(&r->claim_due, true);
    worker_kick(r->worker);
}

void relay_wake(struct relay *r)
{
    if (r)
        worker_kick(r->worker);
}

void relay_count(struct relay *r, const char *type, bool delivered)
{
    const char *name = r->src->ops->name;

    if (delivered)
        metrics_inc(RELAY_PUBLISHED, (const char *const[]){name, type}, 1);
    else
        metrics_inc(RELAY_FAILURES, (const char *const[]){name}, 1);
}

void relay_stop(struct relay *r)
{
    if (!r)
        return;
    /* what was published at commit is settled first, while the worker still runs */
    if (r->attached)
        r->src->ops->detach(r->src);
    worker_stop(r->worker);
    relay__free(r);
}
