/* relay.c - the Redis-stream outbox relay (see relay.h). */
#include "relay.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/event.h"
#include "common/log.h"
#include "common/util.h"

#define BATCH 100
#define CLAIM_IDLE_MS "60000"
#define CLAIM_EVERY_MS 30000
#define PENDING_EVERY_MS 5000
#define BACKOFF_BASE_MS 200
#define BACKOFF_MAX_MS 10000

struct inv_relay {
    struct inv_relay_opts opts;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
};

/* One entry of a read: its id and, when valid, the message to send. */
struct entry {
    const char *id;
    bool valid;
    struct event ev;
    struct event_header headers[EVENT_MAX_HEADERS];
};

/* Waits @ms or until stopped. Returns true when stopping. */
static bool relay_wait(struct inv_relay *r, int64_t ms)
{
    struct timespec ts;
    bool stop;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&r->lock);
    while (!r->stop && pthread_cond_timedwait(&r->wake, &r->lock, &ts) == 0)
        ;
    stop = r->stop;
    pthread_mutex_unlock(&r->lock);
    return stop;
}

static bool relay_stopping(struct inv_relay *r)
{
    bool stop;

    pthread_mutex_lock(&r->lock);
    stop = r->stop;
    pthread_mutex_unlock(&r->lock);
    return stop;
}

static redisReply *cmd(struct rds_conn *conn, int argc, const char **argv, char *err, size_t errlen)
{
    size_t lens[8 + 2 * BATCH];

    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return rds_command(conn, argc, argv, lens, err, errlen);
}

/* XGROUP CREATE … MKSTREAM; an existing group is fine. 0 or -EIO. */
static int ensure_group(struct inv_relay *r, struct rds_conn *conn)
{
    const char *argv[] = {"XGROUP", "CREATE", r->opts.stream, r->opts.group, "0", "MKSTREAM"};
    char err[256];
    redisReply *reply = cmd(conn, 6, argv, err, sizeof(err));
    int rc = 0;

    if (!reply) {
        log_warnx("relay: cannot create group '%s' on '%s': %s", r->opts.group, r->opts.stream,
                  err);
        return -EIO;
    }
    if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9) != 0) {
        log_warnx("relay: cannot create group '%s' on '%s': %s", r->opts.group, r->opts.stream,
                  reply->str);
        rc = -EIO;
    }
    freeReplyObject(reply);
    return rc;
}

/* Field @name of a stream entry's field list, or NULL. */
static const redisReply *field(const redisReply *fields, const char *name)
{
    if (!fields || fields->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *f = fields->element[i];

        if (f->type == REDIS_REPLY_STRING && strcmp(f->str, name) == 0 &&
            fields->element[i + 1]->type == REDIS_REPLY_STRING)
            return fields->element[i + 1];
    }
    return NULL;
}

/* XACK and XDEL of @n ids. 0 or -EIO. */
static int ack(struct inv_relay *r, struct rds_conn *conn, const char **ids, size_t n)
{
    const char *argv[3 + BATCH];
    char err[256];
    redisReply *reply;
    int rc = 0;

    if (n == 0)
        return 0;
    argv[0] = "XACK";
    argv[1] = r->opts.stream;
    argv[2] = r->opts.group;
    memcpy(argv + 3, ids, n * sizeof(*ids));
    reply = cmd(conn, (int)(3 + n), argv, err, sizeof(err));
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        rc = -EIO;
    if (reply)
        freeReplyObject(reply);
    argv[0] = "XDEL";
    argv[1] = r->opts.stream;
    memcpy(argv + 2, ids, n * sizeof(*ids));
    reply = cmd(conn, (int)(2 + n), argv, err, sizeof(err));
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        rc = -EIO;
    if (reply)
        freeReplyObject(reply);
    if (rc < 0)
        log_warnx("relay: cannot acknowledge %zu entries of '%s' (they will be sent again)", n,
                  r->opts.stream);
    return rc;
}

/*
 * Publishes the entries of an XREADGROUP reply and acknowledges what the broker took.
 * Returns the number of entries read (≥ 0), -EAGAIN when some could not be published,
 * -ENOENT when the group is missing, -EIO on a Redis failure.
 */
static int publish(struct inv_relay *r, struct rds_conn *conn, const redisReply *reply)
{
    const redisReply *entries;
    struct entry *e = NULL;
    struct kafka_msg *msgs = NULL;
    size_t *idx = NULL;
    const char *done[BATCH];
    size_t n, nmsgs = 0, ndone = 0;
    int rc;

    if (reply->type == REDIS_REPLY_NIL)
        return 0; /* BLOCK timed out */
    if (reply->type == REDIS_REPLY_ERROR) {
        if (strncmp(reply->str, "NOGROUP", 7) == 0)
            return -ENOENT;
        log_warnx("relay: cannot read '%s': %s", r->opts.stream, reply->str);
        return -EIO;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_ARRAY || reply->element[0]->elements < 2)
        return 0;
    entries = reply->element[0]->element[1];
    n = entries->type == REDIS_REPLY_ARRAY ? entries->elements : 0;
    if (n > BATCH)
        n = BATCH;
    if (n == 0)
        return 0;
    e = calloc(n, sizeof(*e));
    msgs = calloc(n, sizeof(*msgs));
    idx = calloc(n, sizeof(*idx));
    if (!e || !msgs || !idx) {
        rc = -EAGAIN;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *ent = entries->element[i];
        const redisReply *topic, *key, *env;
        char err[256];

        if (ent->type != REDIS_REPLY_ARRAY || ent->elements < 2 ||
            ent->element[0]->type != REDIS_REPLY_STRING)
            continue;
        e[i].id = ent->element[0]->str;
        topic = field(ent->element[1], "topic");
        key = field(ent->element[1], "key");
        env = field(ent->element[1], "env");
        if (!topic || !key || !env) {
            /* deleted while pending, or not ours: nothing to send */
            done[ndone++] = e[i].id;
            continue;
        }
        if (event_parse(env->str, env->len, NULL, 0, &e[i].ev, err, sizeof(err)) < 0) {
            log_errorx("relay: dropping entry '%s' of '%s': %s", e[i].id, r->opts.stream, err);
            done[ndone++] = e[i].id;
            continue;
        }
        e[i].valid = true;
        msgs[nmsgs] = (struct kafka_msg){
            .topic = topic->str,
            .key = key->str,
            .keylen = key->len,
            .value = env->str,
            .len = env->len,
            .headers = e[i].headers,
            .nheaders = event_to_headers(&e[i].ev, e[i].headers, EVENT_MAX_HEADERS),
        };
        idx[nmsgs++] = i;
    }
    rc = (int)n;
    if (nmsgs > 0 && kafka_produce_wait(r->opts.producer, msgs, nmsgs) < 0)
        rc = -EAGAIN;
    for (size_t m = 0; m < nmsgs; m++) {
        if (msgs[m].result == 0) {
            done[ndone++] = e[idx[m]].id;
        } else {
            log_warnx("relay: cannot publish '%s' to '%s' (kept for a retry): %s", e[idx[m]].ev.id,
                      msgs[m].topic, msgs[m].error);
        }
    }
    if (ack(r, conn, done, ndone) < 0 && rc >= 0)
        rc = -EIO;
out:
    for (size_t i = 0; e && i < n; i++) {
        if (e[i].valid)
            event_release(&e[i].ev);
    }
    free(e);
    free(msgs);
    free(idx);
    return rc;
}

/* XREADGROUP from @from ("0": our pending entries, ">": new ones). */
static int read_batch(struct inv_relay *r, struct rds_conn *conn, const char *from, int block_ms)
{
    char count[16], block[16], err[256];
    const char *argv[12];
    int argc = 0, rc;
    redisReply *reply;

    snprintf(count, sizeof(count), "%d", BATCH);
    snprintf(block, sizeof(block), "%d", block_ms);
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = r->opts.group;
    argv[argc++] = r->opts.consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = count;
    if (block_ms > 0) {
        argv[argc++] = "BLOCK";
        argv[argc++] = block;
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = r->opts.stream;
    argv[argc++] = from;
    reply = cmd(conn, argc, argv, err, sizeof(err));
    if (!reply) {
        log_warnx("relay: cannot read '%s': %s", r->opts.stream, err);
        return -EIO;
    }
    rc = publish(r, conn, reply);
    freeReplyObject(reply);
    return rc;
}

/* Takes over entries other consumers left pending too long; they become our pending ones. */
static void claim(struct inv_relay *r, struct rds_conn *conn)
{
    const char *argv[] = {"XAUTOCLAIM",     r->opts.stream, r->opts.group,
                          r->opts.consumer, CLAIM_IDLE_MS,  "0-0",
                          "COUNT",          "100",          "JUSTID"};
    char err[256];
    redisReply *reply = cmd(conn, 9, argv, err, sizeof(err));

    if (reply)
        freeReplyObject(reply);
}

static void *relay_main(void *arg)
{
    struct inv_relay *r = arg;
    struct rds_conn *conn = NULL;
    bool group = false;
    int attempt = 0;
    int64_t next_pending = 0, next_claim = 0;

    while (!relay_stopping(r)) {
        char err[256];
        int64_t now;
        int rc;

        if (!conn) {
            conn = rds_acquire(r->opts.rds, err, sizeof(err));
            if (!conn) {
                log_warnx("relay: redis unavailable: %s", err);
                relay_wait(r, util_backoff_ms(attempt++, BACKOFF_BASE_MS, BACKOFF_MAX_MS));
                continue;
            }
        }
        if (!group) {
            rc = ensure_group(r, conn);
            if (rc < 0)
                goto failed;
            group = true;
        }
        now = util_now_mono_ms();
        if (now >= next_claim) {
            claim(r, conn);
            next_claim = now + CLAIM_EVERY_MS;
        }
        if (now >= next_pending) {
            rc = read_batch(r, conn, "0", 0);
            if (rc < 0)
                goto failed;
            attempt = 0;
            if (rc > 0)
                continue; /* more of our pending entries may follow */
            next_pending = now + PENDING_EVERY_MS;
        }
        rc = read_batch(r, conn, ">", r->opts.poll_ms);
        if (rc < 0)
            goto failed;
        attempt = 0;
        continue;
    failed:
        if (rc == -ENOENT)
            group = false; /* the stream or group vanished (e.g. Redis flushed): recreate */
        next_pending = 0;  /* retry what is pending first */
        rds_release(r->opts.rds, conn); /* closed if it saw an i/o error */
        conn = NULL;
        relay_wait(r, util_backoff_ms(attempt++, BACKOFF_BASE_MS, BACKOFF_MAX_MS));
    }
    rds_release(r->opts.rds, conn);
    return NULL;
}

struct inv_relay *inv_relay_start(const struct inv_relay_opts *opts, char *errbuf, size_t errlen)
{
    struct inv_relay *r = calloc(1, sizeof(*r));
    pthread_condattr_t attr;

    if (!r) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    r->opts = *opts;
    if (r->opts.poll_ms <= 0)
        r->opts.poll_ms = 200;
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
        snprintf(errbuf, errlen, "cannot start the relay thread");
        pthread_cond_destroy(&r->wake);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
    }
    return r;
}

void inv_relay_stop(struct inv_relay *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_broadcast(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
