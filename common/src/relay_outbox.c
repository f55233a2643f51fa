/*
 * relay_outbox.c - the relay source of the transactional outbox table (relay.h, outbox.h).
 *
 * A claim opens one transaction that settle commits: it takes up to a batch of rows that are
 * the *oldest unpublished row of their aggregate* (so one aggregate's events go out in commit
 * order) with SELECT … FOR UPDATE SKIP LOCKED (so two instances never publish the same row at
 * once); settle deletes the delivered rows and, for the others, bumps attempts and
 * next_attempt_at (RELAY_BACKOFF_*) and keeps last_error.
 *
 * The claim runs under READ COMMITTED and scans the primary key (FORCE INDEX), which on
 * MariaDB 10.11 keeps exactly the claimed rows locked: under REPEATABLE READ or through a
 * filesort InnoDB leaves every scanned row (and gaps) locked, which starves a second relay and
 * can block appends. The NOT EXISTS subquery is a non-locking consistent read, so a row whose
 * predecessor is claimed (locked) by another relay still counts as having a predecessor and is
 * not claimed: per-aggregate order holds across relays, and SKIP LOCKED keeps them from
 * claiming the same row.
 *
 * Publishing at commit (outbox.h): the source is the pool's outbox_sink while the relay runs.
 * At a commit, the committing thread reads the oldest row of each appended entry's aggregate in
 * statements of their own (autocommit: a fresh read, every committed row in it; one statement
 * per 16 aggregates). Only when that is the entry's row does it produce it
 * (kafka_produce_async); otherwise, or when the produce could not start, it releases the row to
 * the relay (next_attempt_at = now) and kicks it. An older row of the aggregate still there
 * means its event is not yet delivered (a row goes only once delivered), so the released one
 * waits behind it in the claim's order. The delivery report queues the row's id (delivered:
 * delete; failed: attempts + 1 and the backoff, as a failed claim) and wakes the relay, whose
 * next round settles the queue before any claim; when a row was released meanwhile that
 * settling may have unblocked it, so that round claims too.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "common/event.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/relay.h"
#include "common/util.h"
#include "common/worker.h"

#define OUTBOX_ERROR_MAX 500
#define OUTBOX_ATTEMPTS_MAX 30 /* beyond it the backoff is at its ceiling anyway */

struct relay_outbox {
    struct relay_source base; /* first: the relay sees this */
    struct db_pool *pool;
    /* the claimed batch, held from claim to settle */
    struct db_conn *conn;
    struct db_result *res;
    struct event_header *hdrs; /* batch->max * EVENT_MAX_HEADERS */
    cJSON **roots;             /* batch->max parsed header objects */
    size_t max;
    /* publishing at commit (the file comment); set by attach */
    struct outbox_sink sink;
    struct relay *relay;
    struct kafka_producer *producer;
    atomic_bool sink_set; /* attach made the sink the pool's */
    pthread_mutex_t mu;   /* guards what follows */
    pthread_cond_t idle;
    size_t inflight;          /* produced at commit, report not yet queued */
    struct outbox_done *done; /* reports to settle */
    size_t ndone, done_cap;
    bool released; /* a row was released to the claim since a claim found nothing left behind */
};

/* A delivery report of a row published at commit. */
struct outbox_done {
    long long id;
    int result;
    char error[128];
};

/* What one produce at commit carries to its report. */
struct outbox_token {
    struct relay_outbox *o;
    long long id;
    char type[64]; /* the metrics' type label */
};

/* Row columns of the claim query. */
enum { C_ID, C_TYPE, C_TOPIC, C_KEY, C_PAYLOAD, C_HEADERS, C_ATTEMPTS, C_NCOLS };

static const char OUTBOX_CLAIM[] =
    "SELECT o.id, o.event_type, o.topic, o.msg_key, o.payload, o.headers, o.attempts"
    " FROM outbox o FORCE INDEX (PRIMARY)"
    " WHERE o.next_attempt_at <= NOW(6)"
    " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.aggregate_type = o.aggregate_type"
    " AND p.aggregate_id = o.aggregate_id AND p.id < o.id)"
    " ORDER BY o.id LIMIT ? FOR UPDATE SKIP LOCKED";

static struct relay_outbox *outbox_of(struct relay_source *src)
{
    return (struct relay_outbox *)src;
}

/* Ends the claimed batch: commits when @rc is 0, else rolls back (delivered rows stay and go
 * out again: at least once). Returns the outcome. */
static int outbox__end(struct relay_outbox *o, size_t n, int rc)
{
    if (rc == 0)
        rc = db_commit(o->conn);
    if (rc < 0)
        db_rollback(o->conn);
    db_release(o->pool, o->conn);
    o->conn = NULL;
    for (size_t i = 0; i < n; i++) {
        cJSON_Delete(o->roots[i]);
        o->roots[i] = NULL;
    }
    db_result_free(o->res);
    o->res = NULL;
    return rc;
}

/* The arrays of a batch of @max (kept across rounds). 0 or -ENOMEM. */
static int outbox__reserve(struct relay_outbox *o, size_t max)
{
    if (o->max >= max)
        return 0;
    free(o->hdrs);
    free(o->roots);
    o->hdrs = calloc(max * EVENT_MAX_HEADERS, sizeof(*o->hdrs));
    o->roots = calloc(max, sizeof(*o->roots));
    o->max = o->hdrs && o->roots ? max : 0;
    return o->max ? 0 : -ENOMEM;
}

/* The Kafka headers of a row's headers column @hj (a flat object of strings, written by
 * outbox_append) into @hdrs (EVENT_MAX_HEADERS): content-type is set here, not taken from the
 * row: rows written before structured mode say application/json, which the Kafka binding reads
 * as binary mode. Returns the count; *@ret_root (cJSON_Delete) owns the strings. */
static size_t outbox__headers(const char *hj, size_t len, struct event_header *hdrs,
                              cJSON **ret_root)
{
    cJSON *root = hj ? cJSON_ParseWithLength(hj, len) : NULL;
    const cJSON *h;
    size_t nh = 0;

    cJSON_ArrayForEach (h, root) {
        if (nh + 1 < EVENT_MAX_HEADERS && cJSON_IsString(h) && h->string &&
            strcasecmp(h->string, "content-type") != 0)
            hdrs[nh++] = (struct event_header){h->string, h->valuestring};
    }
    hdrs[nh++] = (struct event_header){"content-type", EVENT_FORMAT_CONTENT_TYPE};
    *ret_root = root;
    return nh;
}

static int outbox__settle_done(struct relay_outbox *o, bool *ret_deleted);

static int outbox_claim(struct relay_source *src, struct relay_batch *batch, int wait_ms)
{
    struct relay_outbox *o = outbox_of(src);
    char errbuf[256];
    size_t n;
    int rc;

    (void)wait_ms; /* the core waits between rounds; relay_kick() ends the wait */
    if (atomic_load(&o->sink_set)) {
        bool deleted = false, released;

        rc = outbox__settle_done(o, &deleted);
        if (rc < 0)
            return rc;
        pthread_mutex_lock(&o->mu);
        released = o->released;
        pthread_mutex_unlock(&o->mu);
        if (batch->settle_only && !(deleted && released))
            return 0; /* nothing claimed, nothing held: settle has nothing to do */
    }
    if (outbox__reserve(o, batch->max) < 0)
        return -ENOMEM;
    o->conn = db_acquire(o->pool, errbuf, sizeof(errbuf));
    if (!o->conn)
        return -EIO;
    /* one-shot: applies to the next transaction only, the pooled session keeps its default */
    rc = db_exec(o->conn, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", NULL, 0, NULL, NULL);
    if (rc == 0)
        rc = db_begin(o->conn);
    if (rc == 0)
        rc = db_query(o->conn, OUTBOX_CLAIM, (struct db_param[]){DB_INT((long long)batch->max)}, 1,
                      &o->res);
    if (rc < 0)
        return outbox__end(o, 0, rc);
    n = db_result_rows(o->res);
    if (n > batch->max)
        n = batch->max;
    for (size_t i = 0; i < n; i++) {
        struct kafka_msg *m = &batch->msgs[i];
        struct event_header *hdrs = &o->hdrs[i * EVENT_MAX_HEADERS];

        *m = (struct kafka_msg){
            .topic = db_result_get(o->res, i, C_TOPIC),
            .key = db_result_get(o->res, i, C_KEY),
            .keylen = db_result_len(o->res, i, C_KEY),
            .value = db_result_get(o->res, i, C_PAYLOAD),
            .len = db_result_len(o->res, i, C_PAYLOAD),
            .headers = hdrs,
        };
        m->nheaders = outbox__headers(db_result_get(o->res, i, C_HEADERS),
                                      db_result_len(o->res, i, C_HEADERS), hdrs, &o->roots[i]);
        batch->types[i] = db_result_get(o->res, i, C_TYPE);
    }
    batch->n = n;
    batch->more = n > 0; /* the next heads may be ready at once */
    if (n == 0 && atomic_load(&o->sink_set)) {
        /* nothing ready: a released row left behind waits for a report still to come, if any */
        pthread_mutex_lock(&o->mu);
        if (o->inflight == 0 && o->ndone == 0)
            o->released = false;
        pthread_mutex_unlock(&o->mu);
    }
    return 0;
}

/* Deletes the rows of @ids (@n > 0) in one statement. */
static int outbox__delete_ids(struct db_conn *conn, const long long *ids, size_t n)
{
    static const char head[] = "DELETE FROM outbox WHERE id IN (";
    struct db_param *params = calloc(n, sizeof(*params));
    char *sql = malloc(sizeof(head) + 2 * n + 1);
    size_t len = sizeof(head) - 1;
    int rc = -ENOMEM;

    if (params && sql) {
        memcpy(sql, head, len);
        for (size_t i = 0; i < n; i++) {
            params[i] = DB_INT(ids[i]);
            sql[len++] = '?';
            sql[len++] = i + 1 < n ? ',' : ')';
        }
        sql[len] = '\0';
        rc = db_exec(conn, sql, params, n, NULL, NULL);
    }
    free(params);
    free(sql);
    return rc;
}

/* Deletes the delivered rows of the batch (those with msgs[i].result == 0) in one statement. */
static int outbox__delete(struct relay_outbox *o, const struct relay_batch *batch,
                          size_t ndelivered)
{
    long long *ids;
    size_t k = 0;
    int rc;

    if (!ndelivered)
        return 0;
    ids = calloc(ndelivered, sizeof(*ids));
    if (!ids)
        return -ENOMEM;
    for (size_t i = 0; i < batch->n; i++)
        if (batch->msgs[i].result == 0)
            ids[k++] = db_result_int(o->res, i, C_ID);
    rc = outbox__delete_ids(o->conn, ids, k);
    free(ids);
    return rc;
}

/* A row not delivered: one attempt more (it had @attempts), due again after the backoff. */
static int outbox__retry_later(struct db_conn *conn, long long id, long long attempts,
                               const char *error)
{
    int64_t delay_ms =
        util_backoff_ms(attempts > OUTBOX_ATTEMPTS_MAX ? OUTBOX_ATTEMPTS_MAX : (int)attempts,
                        RELAY_BACKOFF_BASE_MS, RELAY_BACKOFF_MAX_MS);
    char reason[OUTBOX_ERROR_MAX + 1];

    util_strlcpy(reason, error && error[0] ? error : "delivery failed", sizeof(reason));
    return db_exec(conn,
                   "UPDATE outbox SET attempts = attempts + 1,"
                   " next_attempt_at = NOW(6) + INTERVAL ? MICROSECOND, last_error = ?"
                   " WHERE id = ?",
                   (struct db_param[]){DB_INT(delay_ms * 1000), DB_STR(reason), DB_INT(id)}, 3,
                   NULL, NULL);
}

static int outbox_settle(struct relay_source *src, struct relay_batch *batch)
{
    struct relay_outbox *o = outbox_of(src);
    size_t ndelivered = 0;
    int rc = 0;

    if (!o->conn)
        return 0; /* a round that only settled what was published at commit */
    for (size_t i = 0; i < batch->n && rc == 0; i++) {
        const struct kafka_msg *m = &batch->msgs[i];

        if (m->result == 0)
            ndelivered++;
        else
            rc = outbox__retry_later(o->conn, db_result_int(o->res, i, C_ID),
                                     db_result_int(o->res, i, C_ATTEMPTS), m->error);
    }
    if (rc == 0)
        rc = outbox__delete(o, batch, ndelivered);
    return outbox__end(o, batch->n, rc);
}

static int outbox_source_stats(struct relay_source *src, long long *ret_backlog,
                               double *ret_oldest_age_s)
{
    struct relay_outbox *o = outbox_of(src);
    char errbuf[256];
    struct db_conn *conn = db_acquire(o->pool, errbuf, sizeof(errbuf));
    int rc;

    if (!conn)
        return -EIO;
    rc = outbox_stats(conn, ret_backlog, ret_oldest_age_s);
    db_release(o->pool, conn);
    return rc;
}

/* ---- publishing at commit ---- */

/* The delivery report of a row produced at commit (the producer's report thread): queued for
 * the relay's next round, which it wakes. */
static void outbox__delivered(void *arg, int result, const char *error)
{
    struct outbox_token *t = arg;
    struct relay_outbox *o = t->o;
    struct outbox_done d = {.id = t->id, .result = result};
    bool queued = false;
    struct relay *r;

    util_strlcpy(d.error, error ? error : "", sizeof(d.error));
    pthread_mutex_lock(&o->mu);
    r = o->relay; /* NULL once a detach gave up waiting for this report */
    if (o->ndone == o->done_cap) {
        size_t cap = o->done_cap ? 2 * o->done_cap : 64;
        struct outbox_done *nd = realloc(o->done, cap * sizeof(*nd));

        if (nd) {
            o->done = nd;
            o->done_cap = cap;
        }
    }
    if (o->ndone < o->done_cap) {
        o->done[o->ndone++] = d;
        queued = true;
    }
    pthread_mutex_unlock(&o->mu);
    if (!queued) /* no memory: the row stays held, and goes out again after the hold */
        log_warnx("outbox: the report of row %lld was dropped (out of memory)", t->id);
    if (r) { /* before inflight falls: detach waits for it */
        relay_count(r, t->type, result == 0);
        relay_wake(r);
    }
    pthread_mutex_lock(&o->mu);
    if (--o->inflight == 0)
        pthread_cond_broadcast(&o->idle);
    pthread_mutex_unlock(&o->mu);
    free(t);
}

/* Settles the queued reports: delivered rows deleted, the others kept with the backoff.
 * *@ret_deleted tells whether a row went. What could not be settled stays queued. */
static int outbox__settle_done(struct relay_outbox *o, bool *ret_deleted)
{
    struct outbox_done *done, *left;
    long long *ids = NULL;
    size_t n, nids = 0, nleft = 0, failed_at;
    bool deletes_done = false;
    struct db_conn *conn;
    char errbuf[256];
    int rc = 0;

    pthread_mutex_lock(&o->mu);
    done = o->done;
    n = o->ndone;
    o->done = NULL;
    o->ndone = o->done_cap = 0;
    pthread_mutex_unlock(&o->mu);
    if (n == 0)
        return 0;
    failed_at = n; /* the first failed report not settled */
    conn = db_acquire(o->pool, errbuf, sizeof(errbuf));
    ids = calloc(n, sizeof(*ids));
    if (!conn || !ids) {
        rc = conn ? -ENOMEM : -EIO;
        failed_at = 0;
        goto out;
    }
    for (size_t k = 0; k < n; k++)
        if (done[k].result == 0)
            ids[nids++] = done[k].id;
    if (nids > 0)
        rc = outbox__delete_ids(conn, ids, nids);
    if (rc < 0) {
        failed_at = 0;
        goto out;
    }
    deletes_done = true;
    *ret_deleted = nids > 0;
    /* a row produced at commit had no attempt before */
    for (size_t k = 0; k < n && rc == 0; k++) {
        if (done[k].result != 0)
            rc = outbox__retry_later(conn, done[k].id, 0, done[k].error);
        if (rc < 0)
            failed_at = k;
    }
out:
    if (conn)
        db_release(o->pool, conn);
    free(ids);
    /* back to the queue, before what came meanwhile: what was not settled (the deletes when
     * they failed, the failed reports from the one whose update failed on) */
    left = done;
    for (size_t k = 0; k < n; k++)
        if (done[k].result == 0 ? !deletes_done : k >= failed_at)
            left[nleft++] = done[k];
    if (nleft > 0) {
        struct outbox_done *all;

        pthread_mutex_lock(&o->mu);
        all = malloc((nleft + o->ndone) * sizeof(*all));
        if (all) {
            memcpy(all, left, nleft * sizeof(*all));
            if (o->ndone)
                memcpy(all + nleft, o->done, o->ndone * sizeof(*all));
            free(o->done);
            o->done = all;
            o->ndone += nleft;
            o->done_cap = o->ndone;
        }
        pthread_mutex_unlock(&o->mu);
        if (!all)
            log_warnx("outbox: %zu report(s) dropped (out of memory): their rows go out again "
                      "once their hold has passed",
                      nleft);
    }
    free(done);
    return rc;
}

/* Releases a held row to the claim (next_attempt_at = now) and asks the relay for a claim. */
static void outbox__release(struct relay_outbox *o, struct db_conn *conn, long long id)
{
    int rc = db_exec(conn, "UPDATE outbox SET next_attempt_at = NOW(6) WHERE id = ?",
                     (struct db_param[]){DB_INT(id)}, 1, NULL, NULL);

    if (rc < 0) /* it goes once the hold has passed */
        log_warnx("outbox: cannot release row %lld to the relay: %s", id, db_errmsg(conn));
    pthread_mutex_lock(&o->mu);
    o->released = true;
    pthread_mutex_unlock(&o->mu);
    relay_kick(o->relay);
}

#define OUTBOX_OLDEST_CHUNK 16 /* aggregates per oldest-row query of a transaction's rows */

/* The oldest row of each entry's aggregate into @min[i] (0 when it has none), in statements of
 * their own: one for a single entry, else one per OUTBOX_OLDEST_CHUNK entries (a short chunk
 * repeats its last entry, so there are two statement texts in all). 0 or a db.h error. */
static int outbox__oldest(struct db_conn *conn, struct outbox_entry **e, size_t n, long long *min)
{
    static const char one[] =
        "SELECT aggregate_type, aggregate_id, MIN(id) FROM outbox"
        " WHERE aggregate_type = ? AND aggregate_id = ? GROUP BY aggregate_type, aggregate_id";
    static const char head[] = "SELECT aggregate_type, aggregate_id, MIN(id) FROM outbox WHERE ";
    static const char pair[] = "(aggregate_type = ? AND aggregate_id = ?) OR ";
    static const char tail[] = "FALSE GROUP BY aggregate_type, aggregate_id";
    char sql[sizeof(head) + OUTBOX_OLDEST_CHUNK * (sizeof(pair) - 1) + sizeof(tail)];
    struct db_param prm[2 * OUTBOX_OLDEST_CHUNK];
    size_t len = sizeof(head) - 1;
    int rc = 0;

    if (n > 1) { /* the chunk's text; one entry (most commits) has its own */
        memcpy(sql, head, len);
        for (size_t k = 0; k < OUTBOX_OLDEST_CHUNK; k++, len += sizeof(pair) - 1)
            memcpy(sql + len, pair, sizeof(pair) - 1);
        memcpy(sql + len, tail, sizeof(tail));
    }
    for (size_t i = 0; i < n; i++)
        min[i] = 0;
    for (size_t from = 0; from < n && rc == 0; from += OUTBOX_OLDEST_CHUNK) {
        size_t cnt = n == 1 ? 1 : OUTBOX_OLDEST_CHUNK;
        struct db_result *res = NULL;

        for (size_t k = 0; k < cnt; k++) {
            const struct outbox_entry *x = e[from + k < n ? from + k : n - 1];

            prm[2 * k] = DB_STR(x->aggregate_type);
            prm[2 * k + 1] = DB_STR(x->aggregate_id);
        }
        rc = db_query(conn, n == 1 ? one : sql, prm, 2 * cnt, &res);
        for (size_t r = 0; rc == 0 && r < db_result_rows(res); r++)
            for (size_t i = from; i < n && i < from + cnt; i++)
                if (strcmp(db_result_get(res, r, 0), e[i]->aggregate_type) == 0 &&
                    strcmp(db_result_get(res, r, 1), e[i]->aggregate_id) == 0)
                    min[i] = db_result_int(res, r, 2);
        db_result_free(res);
    }
    return rc;
}

/* Produces @e at once; the row goes to the claim instead when that cannot start. */
static void outbox__produce(struct relay_outbox *o, struct db_conn *conn,
                            const struct outbox_entry *e)
{
    struct event_header hdrs[EVENT_MAX_HEADERS];
    struct outbox_token *t = calloc(1, sizeof(*t));
    struct kafka_msg msg;
    cJSON *root = NULL;
    int rc;

    if (!t) {
        outbox__release(o, conn, e->id);
        return;
    }
    *t = (struct outbox_token){.o = o, .id = e->id};
    util_strlcpy(t->type, e->event_type, sizeof(t->type));
    msg = (struct kafka_msg){.topic = e->topic,
                             .key = e->key,
                             .keylen = strlen(e->key),
                             .value = e->payload,
                             .len = e->payload_len,
                             .headers = hdrs};
    msg.nheaders = outbox__headers(e->headers, e->headers_len, hdrs, &root);
    pthread_mutex_lock(&o->mu);
    o->inflight++;
    pthread_mutex_unlock(&o->mu);
    rc = kafka_produce_async(o->producer, &msg, outbox__delivered, t);
    cJSON_Delete(root);
    if (rc < 0) {
        pthread_mutex_lock(&o->mu);
        if (--o->inflight == 0)
            pthread_cond_broadcast(&o->idle);
        pthread_mutex_unlock(&o->mu);
        free(t);
        outbox__release(o, conn, e->id);
    }
}

/* The sink: the committing thread's part (the file comment). */
static void outbox__committed(struct outbox_sink *sink, struct db_conn *conn,
                              struct outbox_entry **e, size_t n)
{
    struct relay_outbox *o =
        (struct relay_outbox *)((char *)sink - offsetof(struct relay_outbox, sink));
    long long *min = malloc(n * sizeof(*min)); /* outbox__oldest fills it */
    int rc = min ? outbox__oldest(conn, e, n, min) : -ENOMEM;

    for (size_t i = 0; i < n; i++) {
        if (rc < 0) /* not known to be the oldest: the hold decides */
            log_warnx("outbox: row %lld waits for its hold (%d ms): cannot read its aggregate: "
                      "%s",
                      e[i]->id, sink->hold_ms, rc == -ENOMEM ? "out of memory" : db_errmsg(conn));
        else if (min[i] == e[i]->id)
            outbox__produce(o, conn, e[i]);
        else /* an older row goes first: the claim's order */
            outbox__release(o, conn, e[i]->id);
        outbox_entry_free(e[i]);
    }
    free(min);
}

static void outbox_attach(struct relay_source *src, struct relay *r, const struct relay_opts *opts)
{
    struct relay_outbox *o = outbox_of(src);

    o->relay = r;
    o->producer = opts->producer;
    o->sink.hold_ms = opts->hold_ms;
    o->sink.committed = outbox__committed;
    /* a second relay of the pool (tests) only claims */
    atomic_store(&o->sink_set, outbox_sink_set(o->pool, &o->sink) == 0);
}

/* No more rows at commit; every report in; what they say settled (bounded by the hold: a
 * report that never came leaves its row held, and a later relay publishes it). */
static void outbox_detach(struct relay_source *src)
{
    struct relay_outbox *o = outbox_of(src);
    struct timespec until = worker_deadline_ms(o->sink.hold_ms);
    bool deleted = false;
    size_t late = 0;

    if (!atomic_load(&o->sink_set))
        return;
    outbox_sink_clear(&o->sink);
    pthread_mutex_lock(&o->mu);
    while (o->inflight > 0 && pthread_cond_timedwait(&o->idle, &o->mu, &until) != ETIMEDOUT)
        ;
    late = o->inflight;
    if (late)
        o->relay = NULL; /* a report after this touches only @o, which then stays */
    pthread_mutex_unlock(&o->mu);
    if (late)
        log_errorx("outbox: %zu delivery report(s) did not come within %d ms; their rows go out "
                   "again once their hold has passed",
                   late, o->sink.hold_ms);
    if (outbox__settle_done(o, &deleted) < 0)
        log_warnx("outbox: reports of rows published at commit not settled; the rows go out "
                  "again once their hold has passed");
}

static void outbox_free(struct relay_source *src)
{
    struct relay_outbox *o = outbox_of(src);
    bool late;

    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    late = o->inflight > 0;
    pthread_mutex_unlock(&o->mu);
    if (late)
        return; /* a report may still come (detach logged it): the memory stays its */
    free(o->hdrs);
    free(o->roots);
    free(o->done);
    pthread_cond_destroy(&o->idle);
    pthread_mutex_destroy(&o->mu);
    free(o);
}

static const struct relay_source_ops relay_outbox_ops = {
    .name = "outbox",
    .claim = outbox_claim,
    .settle = outbox_settle,
    .stats = outbox_source_stats,
    .free = outbox_free,
    .attach = outbox_attach,
    .detach = outbox_detach,
};

struct relay_source *relay_outbox_source(struct db_pool *pool)
{
    struct relay_outbox *o = calloc(1, sizeof(*o));

    if (!o)
        return NULL;
    o->base.ops = &relay_outbox_ops;
    o->pool = pool;
    atomic_init(&o->sink_set, false);
    pthread_mutex_init(&o->mu, NULL);
    if (worker_cond_init(&o->idle) != 0) {
        pthread_mutex_destroy(&o->mu);
        free(o);
        return NULL;
    }
    return &o->base;
}
