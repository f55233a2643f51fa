/*
 * relay_stream.c - the relay source of a Redis stream that Lua scripts append envelopes to
 * (fields topic, key, env), e.g. inventory-service's outcome events (relay.h).
 *
 * One consumer (a stable name) in a consumer group on the stream, holding one connection
 * across rounds: a claim first re-reads its own pending entries (read but not acknowledged
 * before a crash or a failed publish), at most every PENDING_EVERY_MS or at once after a
 * failure, then blocks up to the poll period for new ones; every CLAIM_EVERY_MS it also takes
 * over entries another consumer left pending for over CLAIM_IDLE_MS (XAUTOCLAIM). Settle runs
 * XACK and XDEL, in one script, for what the broker acknowledged; the rest stays pending. An
 * entry that is not a valid envelope is logged and dropped.
 *
 * With the pool's wait_replicas (REDIS_WAIT_REPLICAS) a claimed batch goes to Kafka only after
 * rds_wait() on the relay's connection saw that many replicas acknowledge; otherwise the round
 * fails (the core backs off) and the entries stay pending. See stream__replicated().
 *
 * Several instances (one consumer name each) share the stream and the group. Reading ">" they
 * would get disjoint entries and could publish one order's stock.reserved after its
 * stock.released, so only the holder of a lease relays: the key "<stream>:relay-lease" holds
 * the holder's consumer name for LEASE_MS (SET NX PX, renewed every round by a script that
 * checks the owner). The others' rounds only try to take it. Taking it over, a relay first
 * moves every entry pending with the others to itself (XAUTOCLAIM, min-idle 0) and reads its
 * pending entries (in id order) before new ones, so per-key order holds across the handover;
 * a clean stop gives the lease back. LEASE_MS is longer than one round (a publish waits at
 * most the producer's message timeout, 10 s): a holder renews before it expires unless it
 * is gone or stalled that long between its renewal and its read (the lease is no fence).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "common/log.h"
#include "common/relay.h"
#include "common/util.h"

#define CLAIM_IDLE_MS "60000"
#define CLAIM_EVERY_MS 30000
#define PENDING_EVERY_MS 5000
#define ARGV_MAX 12 /* the longest fixed command (XREADGROUP … BLOCK …) */
#define LEASE_MS "15000"

/* One entry of a read: its id and, when valid, the parsed envelope (for its headers). */
struct stream_entry {
    const char *id;
    bool valid;
    bool sent; /* one of the batch's messages */
    struct event ev;
    struct event_header headers[EVENT_MAX_HEADERS];
};

struct relay_stream {
    struct relay_source base; /* first: the relay sees this */
    struct rds_pool *rds;
    char *stream, *group, *consumer;
    struct rds_conn *conn; /* kept across rounds; NULL after a failure */
    bool grouped;          /* the group exists (as far as we know) */
    int64_t next_pending;  /* monotonic ms: when to re-read our pending entries */
    int64_t next_claim;    /* monotonic ms: when to XAUTOCLAIM */
    /* the claimed batch, held from claim to settle */
    redisReply *reply;
    struct stream_entry *entries; /* max */
    const char **argv;            /* 1 + max: [0] the group, [1…] the ids to acknowledge */
    size_t lens[ARGV_MAX];        /* stream__cmd's argument lengths */
    size_t max, nentries;
    /* the relay lease (stream__lease) */
    char *lease_key;
    struct rds_script lease_script, release_script;
    struct rds_script ack_script; /* ACK_LUA */
    bool leader;                  /* we hold the lease and took the others' pending entries over */
};

static struct relay_stream *stream_of(struct relay_source *src)
{
    return (struct relay_stream *)src;
}

static int stream__connect(struct relay_stream *s);

static redisReply *stream__cmd(struct relay_stream *s, int argc, const char **argv, char *err,
                               size_t errlen)
{
    for (int i = 0; i < argc; i++)
        s->lens[i] = strlen(argv[i]);
    return rds_command(s->conn, argc, argv, s->lens, err, errlen);
}

/* Forgets the connection after a failure (closed by the pool if it saw an i/o error); the next
 * claim reconnects and re-reads what is pending first. */
static void stream__fail(struct relay_stream *s, int rc)
{
    if (rc == -ENOENT)
        s->grouped = false; /* the stream or group vanished (e.g. Redis flushed): recreate */
    s->next_pending = 0;
    rds_release(s->rds, s->conn);
    s->conn = NULL;
}

/* XGROUP CREATE … MKSTREAM; an existing group is fine. 0 or -EIO. */
static int stream__ensure_group(struct relay_stream *s)
{
    const char *argv[] = {"XGROUP", "CREATE", s->stream, s->group, "0", "MKSTREAM"};
    char err[256];
    redisReply *reply = stream__cmd(s, 6, argv, err, sizeof(err));
    int rc = 0;

    if (!reply) {
        log_warnx("relay: cannot create group '%s' on '%s': %s", s->group, s->stream, err);
        return -EIO;
    }
    if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9) != 0) {
        log_warnx("relay: cannot create group '%s' on '%s': %s", s->group, s->stream, reply->str);
        rc = -EIO;
    }
    freeReplyObject(reply);
    return rc;
}

/* Takes over entries other consumers left pending too long; they become our pending ones. */
static void stream__autoclaim(struct relay_stream *s)
{
    const char *argv[] = {"XAUTOCLAIM", s->stream, s->group, s->consumer, CLAIM_IDLE_MS,
                          "0-0",        "COUNT",   "100",    "JUSTID"};
    char err[256];
    redisReply *reply = stream__cmd(s, 9, argv, err, sizeof(err));

    if (reply)
        freeReplyObject(reply);
}

/* The lease script: renews it when @consumer holds it (1), takes it when free (2), else 0. */
static const char LEASE_LUA[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end\n"
    "if cur then return 0 end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2\n";
/* Gives the lease back when @consumer holds it. */
static const char LEASE_RELEASE_LUA[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

/* Acknowledges and deletes entries at once: ARGV the group, then the ids. Two commands from
 * the relay could be cut between them by a primary's crash, the XACK replicated and the XDEL
 * not, leaving entries in the stream that no read returns again. A script's writes reach the
 * replicas together. Returns XDEL's count. */
static const char ACK_LUA[] = "redis.call('XACK', KEYS[1], unpack(ARGV))\n"
                              "return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))\n";

/* Why a reply to a lease or take-over command is not what was asked: the I/O error @err, Redis's
 * error, or a reply of another shape. */
static const char *stream__why(const redisReply *reply, const char *err)
{
    if (!reply)
        return err;
    return reply->type == REDIS_REPLY_ERROR ? reply->str : "bad reply";
}

/* Moves every entry pending with another consumer of the group to us (XAUTOCLAIM with
 * min-idle 0, page by page). 0 or -EIO. */
static int stream__take_over(struct relay_stream *s)
{
    char cursor[64] = "0-0", err[256];

    for (int page = 0; page < 1000; page++) {
        const char *argv[] = {"XAUTOCLAIM", s->stream, s->group, s->consumer, "0",
                              cursor,       "COUNT",   "100",    "JUSTID"};
        redisReply *reply = stream__cmd(s, 9, argv, err, sizeof(err));

        if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
            reply->element[0]->type != REDIS_REPLY_STRING) {
            log_warnx("relay: cannot take over the pending entries of '%s': %s", s->stream,
                      stream__why(reply, err));
            if (reply)
                freeReplyObject(reply);
            return -EIO;
        }
        util_strlcpy(cursor, reply->element[0]->str, sizeof(cursor));
        freeReplyObject(reply);
        if (strcmp(cursor, "0-0") == 0)
            return 0;
    }
    return 0;
}

/*
 * The lease round: 1 when this relay holds the lease (renewed; after taking it over, the
 * others' pending entries are ours and our pending entries are read first), 0 when another
 * relay holds it, -EIO when Redis failed.
 */
static int stream__lease(struct relay_stream *s)
{
    const char *keys[] = {s->lease_key};
    const char *args[] = {s->consumer, LEASE_MS};
    char err[256];
    redisReply *reply = rds_eval(s->conn, &s->lease_script, 1, keys, 2, args, err, sizeof(err));
    long long held;

    if (!reply || reply->type != REDIS_REPLY_INTEGER) {
        log_warnx("relay: cannot renew the lease of '%s': %s", s->stream, stream__why(reply, err));
        if (reply)
            freeReplyObject(reply);
        return -EIO;
    }
    held = reply->integer;
    freeReplyObject(reply);
    if (held == 0) {
        s->leader = false;
        return 0;
    }
    if (!s->leader) {
        if (stream__take_over(s) < 0)
            return -EIO; /* still ours: the next round takes over again */
        log_info("relay: '%s' relays '%s' now (lease taken)", s->consumer, s->stream);
        s->leader = true;
        s->next_pending = 0; /* the pending entries (ours and the taken ones) first */
    }
    return 1;
}

/* Gives the lease back (a clean stop), so another instance takes over at once. */
static void stream__lease_release(struct relay_stream *s)
{
    const char *keys[] = {s->lease_key};
    const char *args[] = {s->consumer};
    char err[256];
    redisReply *reply;

    if (!s->leader || !s->lease_key || stream__connect(s) < 0)
        return;
    reply = rds_eval(s->conn, &s->release_script, 1, keys, 1, args, err, sizeof(err));
    if (reply)
        freeReplyObject(reply);
    s->leader = false;
}

/* Field @name of a stream entry's field list, or NULL. */
static const redisReply *stream__field(const redisReply *fields, const char *name)
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

/*
 * Turns the entries of the XREADGROUP reply s->reply into the batch's messages. Returns the
 * number of entries read (≥ 0), -ENOENT when the group is missing, -EIO on a Redis error.
 */
static int stream__parse(struct relay_stream *s, struct relay_batch *batch)
{
    const redisReply *reply = s->reply, *entries;
    size_t n;

    if (reply->type == REDIS_REPLY_NIL)
        return 0; /* BLOCK timed out */
    if (reply->type == REDIS_REPLY_ERROR) {
        if (strncmp(reply->str, "NOGROUP", 7) == 0)
            return -ENOENT;
        log_warnx("relay: cannot read '%s': %s", s->stream, reply->str);
        return -EIO;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_ARRAY || reply->element[0]->elements < 2)
        return 0;
    entries = reply->element[0]->element[1];
    n = entries->type == REDIS_REPLY_ARRAY ? entries->elements : 0;
    if (n > s->max)
        n = s->max;
    for (size_t i = 0; i < n; i++) {
        const redisReply *ent = entries->element[i];
        struct stream_entry *e = &s->entries[i];
        const redisReply *topic, *key, *env;
        char err[256];

        if (ent->type != REDIS_REPLY_ARRAY || ent->elements < 2 ||
            ent->element[0]->type != REDIS_REPLY_STRING)
            continue;
        e->id = ent->element[0]->str;
        topic = stream__field(ent->element[1], "topic");
        key = stream__field(ent->element[1], "key");
        env = stream__field(ent->element[1], "env");
        if (!topic || !key || !env)
            continue; /* deleted while pending, or not ours: nothing to send, acknowledged */
        if (event_parse(env->str, env->len, NULL, 0, &e->ev, err, sizeof(err)) < 0) {
            log_errorx("relay: dropping entry '%s' of '%s': %s", e->id, s->stream, err);
            continue;
        }
        e->valid = true;
        e->sent = true;
        batch->msgs[batch->n] = (struct kafka_msg){
            .topic = topic->str,
            .key = key->str,
            .keylen = key->len,
            .value = env->str,
            .len = env->len,
            .headers = e->headers,
            .nheaders = event_to_headers(&e->ev, e->headers, EVENT_MAX_HEADERS),
        };
        batch->types[batch->n++] = e->ev.type;
    }
    s->nentries = n;
    return (int)n;
}

/* XREADGROUP from @from ("0": our pending entries, ">": new ones) into the batch. */
static int stream__read(struct relay_stream *s, struct relay_batch *batch, const char *from,
                        int block_ms)
{
    char count[16], block[16], err[256];
    const char *argv[ARGV_MAX];
    int argc = 0, rc;

    snprintf(count, sizeof(count), "%zu", s->max);
    snprintf(block, sizeof(block), "%d", block_ms);
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = s->group;
    argv[argc++] = s->consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = count;
    if (block_ms > 0) {
        argv[argc++] = "BLOCK";
        argv[argc++] = block;
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = s->stream;
    argv[argc++] = from;
    s->reply = stream__cmd(s, argc, argv, err, sizeof(err));
    if (!s->reply) {
        log_warnx("relay: cannot read '%s': %s", s->stream, err);
        return -EIO;
    }
    rc = stream__parse(s, batch);
    if (rc <= 0) {
        freeReplyObject(s->reply);
        s->reply = NULL;
    }
    return rc;
}

/* Releases what a claim parsed (the events, the reply); the entries stay as Redis has them. */
static void stream__drop(struct relay_stream *s)
{
    for (size_t i = 0; i < s->nentries; i++) {
        if (s->entries[i].valid)
            event_release(&s->entries[i].ev);
    }
    memset(s->entries, 0, s->nentries * sizeof(*s->entries));
    s->nentries = 0;
    if (s->reply)
        freeReplyObject(s->reply);
    s->reply = NULL;
}

/*
 * Publishing waits for replication: a stream entry's event is announced only once a replica
 * holds it and the change it reports. Why WAIT on this connection covers the reservation: the
 * script that reserved (counters, reservation, inv:evt record and this stream entry) ran
 * atomically on another connection before we could read its entry, so its writes sit in the
 * primary's single, ordered replication stream ahead of anything we send now; rds_wait() sends
 * a PUBLISH (itself replicated, so this connection's offset becomes the stream's current end -
 * an XREADGROUP of pending entries would not move it) and WAITs for that offset. A replica that
 * acknowledged it has every entry of the batch and every write behind them. Fewer replicas in
 * time: the batch is not produced (still pending here; -EAGAIN, the relay backs off and reads
 * it again) - availability given up rather than announcing what a failover could lose.
 */
static int stream__replicated(struct relay_stream *s, struct relay_batch *batch)
{
    char err[256];
    int rc = rds_wait(s->conn, err, sizeof(err));

    if (rc == 0)
        return 0;
    log_warnx("relay: holding %zu entries of '%s' until a redis replica has them: %s", batch->n,
              s->stream, err);
    stream__drop(s);
    batch->n = 0;
    return rc;
}

/* The arrays of a batch of @max (kept across rounds). 0 or -ENOMEM. */
static int stream__reserve(struct relay_stream *s, size_t max)
{
    if (s->max >= max)
        return 0;
    free(s->entries);
    free(s->argv);
    s->entries = calloc(max, sizeof(*s->entries));
    s->argv = calloc(1 + max, sizeof(*s->argv));
    s->max = s->entries && s->argv ? max : 0;
    return s->max ? 0 : -ENOMEM;
}

/* The connection kept across rounds. 0 or -EIO. */
static int stream__connect(struct relay_stream *s)
{
    char err[256];

    if (s->conn)
        return 0;
    s->conn = rds_acquire(s->rds, err, sizeof(err));
    if (!s->conn) {
        log_warnx("relay: redis unavailable: %s", err);
        return -EIO;
    }
    return 0;
}

static int stream_claim(struct relay_source *src, struct relay_batch *batch, int wait_ms)
{
    struct relay_stream *s = stream_of(src);
    int64_t now;
    int rc;

    if (stream__reserve(s, batch->max) < 0)
        return -ENOMEM;
    rc = stream__connect(s);
    if (rc < 0)
        return rc;
    if (!s->grouped) {
        rc = stream__ensure_group(s);
        if (rc < 0)
            goto failed;
        s->grouped = true;
    }
    rc = stream__lease(s);
    if (rc < 0)
        goto failed;
    if (rc == 0)
        return 0; /* another instance relays: nothing claimed, wait a period */
    now = util_now_mono_ms();
    if (now >= s->next_claim) {
        stream__autoclaim(s);
        s->next_claim = now + CLAIM_EVERY_MS;
    }
    batch->more = true; /* pending entries may follow, or the read below waited */
    if (now >= s->next_pending) {
        rc = stream__read(s, batch, "0", 0);
        if (rc < 0)
            goto failed;
        if (rc > 0) {
            rc = stream__replicated(s, batch);
            if (rc < 0)
                goto failed;
            return 0;
        }
        s->next_pending = now + PENDING_EVERY_MS;
    }
    rc = stream__read(s, batch, ">", wait_ms);
    if (rc > 0)
        rc = stream__replicated(s, batch);
    if (rc < 0)
        goto failed;
    return 0;
failed:
    stream__fail(s, rc);
    return rc;
}

/* XACK and XDEL of the @n ids in s->argv[1…], in one script. 0 or -EIO. */
static int stream__ack(struct relay_stream *s, size_t n)
{
    const char *keys[] = {s->stream};
    char err[256];
    redisReply *reply;
    int rc;

    s->argv[0] = s->group; /* the script's ARGV: the group, then the ids */
    reply = rds_eval(s->conn, &s->ack_script, 1, keys, (int)(1 + n), s->argv, err, sizeof(err));
    rc = reply && reply->type != REDIS_REPLY_ERROR ? 0 : -EIO;
    if (rc < 0)
        log_warnx("relay: cannot acknowledge %zu entries of '%s' (they will be sent again): %s", n,
                  s->stream, stream__why(reply, err));
    if (reply)
        freeReplyObject(reply);
    return rc;
}

static int stream_settle(struct relay_source *src, struct relay_batch *batch)
{
    struct relay_stream *s = stream_of(src);
    size_t ndone = 0, m = 0;
    int rc = 0;

    for (size_t i = 0; i < s->nentries; i++) {
        struct stream_entry *e = &s->entries[i];

        if (!e->id)
            continue;
        if (e->sent) {
            const struct kafka_msg *msg = &batch->msgs[m++];

            if (msg->result != 0) {
                log_warnx("relay: cannot publish '%s' to '%s' (kept for a retry): %s", e->ev.id,
                          msg->topic, msg->error);
                s->next_pending = 0; /* retried first in the next round */
                continue;
            }
        }
        s->argv[1 + ndone++] = e->id; /* delivered, or invalid: dropped */
    }
    if (ndone > 0)
        rc = stream__ack(s, ndone);
    stream__drop(s);
    if (rc < 0)
        stream__fail(s, rc);
    return rc;
}

/* Backlog = XLEN (delivered entries are deleted); age = the oldest entry id's milliseconds. */
static int stream_stats(struct relay_source *src, long long *ret_backlog, double *ret_oldest_age_s)
{
    struct relay_stream *s = stream_of(src);
    const char *xlen[] = {"XLEN", s->stream};
    const char *xrange[] = {"XRANGE", s->stream, "-", "+", "COUNT", "1"};
    redisReply *len = NULL, *first = NULL;
    char err[256];
    double age = 0;
    int rc = -EIO;

    if (stream__reserve(s, 1) < 0)
        return -ENOMEM;
    if (stream__connect(s) < 0)
        return -EIO;
    len = stream__cmd(s, 2, xlen, err, sizeof(err));
    first = stream__cmd(s, 6, xrange, err, sizeof(err));
    if (!len || len->type != REDIS_REPLY_INTEGER || !first || first->type != REDIS_REPLY_ARRAY)
        goto out;
    if (first->elements > 0 && first->element[0]->type == REDIS_REPLY_ARRAY &&
        first->element[0]->elements > 0 &&
        first->element[0]->element[0]->type == REDIS_REPLY_STRING) {
        long long ms = strtoll(first->element[0]->element[0]->str, NULL, 10);
        int64_t now = util_now_ms();

        age = ms > 0 && now > ms ? (double)(now - ms) / 1000.0 : 0.0;
    }
    *ret_backlog = len->integer;
    *ret_oldest_age_s = age;
    rc = 0;
out:
    if (len)
        freeReplyObject(len);
    if (first)
        freeReplyObject(first);
    if (rc < 0)
        stream__fail(s, rc);
    return rc;
}

static void stream_free(struct relay_source *src)
{
    struct relay_stream *s = stream_of(src);

    if (!s)
        return;
    stream__lease_release(s);
    rds_release(s->rds, s->conn);
    free(s->entries);
    free(s->argv);
    free(s->stream);
    free(s->group);
    free(s->consumer);
    free(s->lease_key);
    free(s);
}

static const struct relay_source_ops relay_stream_ops = {
    .name = "stream",
    .claim = stream_claim,
    .settle = stream_settle,
    .stats = stream_stats,
    .free = stream_free,
};

struct relay_source *relay_stream_source(const struct relay_stream_opts *opts)
{
    struct relay_stream *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->base.ops = &relay_stream_ops;
    s->rds = opts->rds;
    s->stream = strdup(opts->stream);
    s->group = strdup(opts->group);
    s->consumer = strdup(opts->consumer);
    s->lease_key = malloc(strlen(opts->stream) + sizeof(":relay-lease"));
    if (s->lease_key)
        sprintf(s->lease_key, "%s:relay-lease", opts->stream);
    rds_script_init(&s->lease_script, LEASE_LUA);
    rds_script_init(&s->release_script, LEASE_RELEASE_LUA);
    rds_script_init(&s->ack_script, ACK_LUA);
    if (!s->stream || !s->group || !s->consumer || !s->lease_key) {
        stream_free(&s->base);
        return NULL;
    }
    return &s->base;
}
