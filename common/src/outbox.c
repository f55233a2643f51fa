/*
 * outbox.c - the transactional outbox (see outbox.h): rows appended in the caller's
 * transaction, published by a relay thread.
 *
 * The relay's claim runs under READ COMMITTED and scans the primary key (FORCE INDEX), which
 * on MariaDB 10.11 keeps exactly the claimed rows locked: under REPEATABLE READ or through a
 * filesort InnoDB leaves every scanned row (and gaps) locked, which starves a second relay and
 * can block appends. The NOT EXISTS subquery is a non-locking consistent read, so a row whose
 * predecessor is claimed (locked) by another relay still counts as having a predecessor and is
 * not claimed: per-aggregate order holds across relays, and SKIP LOCKED keeps them from
 * claiming the same row.
 *
 * Ids are assigned at insert, so "commit order" of one aggregate equals id order as long as
 * its writers serialise on the aggregate (they lock its row), which every service does.
 */
#include "common/outbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "common/metrics.h"
#include "common/util.h"

#define OUTBOX_STATS_EVERY_MS 1000
#define OUTBOX_ERROR_MAX 500

const struct db_migration OUTBOX_MIGRATIONS[] = {
    {1, "create_outbox",
     "CREATE TABLE IF NOT EXISTS outbox (\n"
     "  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,\n"
     "  aggregate_type VARCHAR(64) NOT NULL,\n"
     "  aggregate_id VARCHAR(128) NOT NULL,\n"
     "  event_id VARCHAR(64) NOT NULL,\n"
     "  event_type VARCHAR(64) NOT NULL,\n"
     "  topic VARCHAR(249) NOT NULL,\n"
     "  msg_key VARCHAR(255) NOT NULL,\n"
     "  payload MEDIUMTEXT NOT NULL,\n"
     "  headers JSON NOT NULL,\n"
     "  traceparent VARCHAR(55) NULL,\n"
     "  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n"
     "  attempts INT NOT NULL DEFAULT 0,\n"
     "  next_attempt_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n"
     "  last_error VARCHAR(512) NULL,\n"
     "  PRIMARY KEY (id),\n"
     "  UNIQUE KEY uq_outbox_event_id (event_id),\n"
     "  KEY ix_outbox_aggregate (aggregate_type, aggregate_id, id),\n"
     "  KEY ix_outbox_next_attempt (next_attempt_at)\n"
     ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;\n"},
};
const size_t OUTBOX_NMIGRATIONS = sizeof(OUTBOX_MIGRATIONS) / sizeof(OUTBOX_MIGRATIONS[0]);

#define OUTBOX_GAUGE_BACKLOG "commerce_outbox_backlog"
#define OUTBOX_GAUGE_AGE "commerce_outbox_oldest_age_seconds"
#define OUTBOX_PUBLISHED "commerce_outbox_published_total"
#define OUTBOX_FAILURES "commerce_outbox_publish_failures_total"

struct outbox_relay {
    struct outbox_relay_opts opts;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    bool stop;         /* under mu */
    bool kicked;       /* under mu */
    int64_t stats_at_ms;
};

/* What the gauges read at scrape time. Process-wide rather than per relay: the registry
 * keeps the callback argument forever and cannot unregister, so it must outlive any relay. */
static struct {
    pthread_mutex_t mu;
    long long backlog;
    double oldest_age_s;
} outbox_gauges = {PTHREAD_MUTEX_INITIALIZER, 0, 0};

/* ---- append ---- */

int outbox_append(struct db_conn *conn, const char *aggregate_type, const char *aggregate_id,
                  const struct event *ev)
{
    struct event_header hdrs[EVENT_MAX_HEADERS];
    const char *topic;
    char *payload = NULL, *headers = NULL;
    cJSON *obj = NULL;
    size_t n;
    int rc;

    if (!aggregate_type || !*aggregate_type || !aggregate_id || !*aggregate_id || !ev ||
        !ev->id[0] || !ev->type[0])
        return -EINVAL;
    topic = event_topic(ev->type);
    if (!topic)
        return -EINVAL;
    payload = event_to_json(ev);
    obj = cJSON_CreateObject();
    if (!payload || !obj) {
        rc = -ENOMEM;
        goto out;
    }
    n = event_to_headers(ev, hdrs, EVENT_MAX_HEADERS);
    for (size_t i = 0; i < n; i++) {
        if (!cJSON_AddStringToObject(obj, hdrs[i].name, hdrs[i].value)) {
            rc = -ENOMEM;
            goto out;
        }
    }
    headers = cJSON_PrintUnformatted(obj);
    if (!headers) {
        rc = -ENOMEM;
        goto out;
    }
    rc = db_exec(conn,
                 "INSERT INTO outbox (aggregate_type, aggregate_id, event_id, event_type, topic,"
                 " msg_key, payload, headers, traceparent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (struct db_param[]){DB_STR(aggregate_type), DB_STR(aggregate_id), DB_STR(ev->id),
                                     DB_STR(ev->type), DB_STR(topic), DB_STR(aggregate_id),
                                     DB_STR(payload), DB_STR(headers),
                                     ev->traceparent[0] ? DB_STR(ev->traceparent) : DB_NULLP},
                 9, NULL, NULL);
out:
    cJSON_free(headers);
    cJSON_Delete(obj);
    free(payload);
    return rc;
}

int outbox_stats(struct db_conn *conn, long long *ret_backlog, double *ret_oldest_age_s)
{
    struct db_result *res = NULL;
    int rc;

    rc = db_query(conn,
                  "SELECT COUNT(*), COALESCE(TIMESTAMPDIFF(MICROSECOND, MIN(created_at),"
                  " NOW(6)), 0) FROM outbox",
                  NULL, 0, &res);
    if (rc < 0)
        return rc;
    if (ret_backlog)
        *ret_backlog = db_result_int(res, 0, 0);
    if (ret_oldest_age_s) {
        long long us = db_result_int(res, 0, 1);

        *ret_oldest_age_s = us > 0 ? (double)us / 1e6 : 0.0;
    }
    db_result_free(res);
    return 0;
}

/* ---- relay ---- */

static double outbox__gauge_backlog(void *arg)
{
    double v;

    (void)arg;
    pthread_mutex_lock(&outbox_gauges.mu);
    v = (double)outbox_gauges.backlog;
    pthread_mutex_unlock(&outbox_gauges.mu);
    return v;
}

static double outbox__gauge_age(void *arg)
{
    double v;

    (void)arg;
    pthread_mutex_lock(&outbox_gauges.mu);
    v = outbox_gauges.oldest_age_s;
    pthread_mutex_unlock(&outbox_gauges.mu);
    return v;
}

/* Refreshes the cached gauges at most every OUTBOX_STATS_EVERY_MS (COUNT(*) is a scan). */
static void outbox__refresh_stats(struct outbox_relay *r, struct db_conn *conn)
{
    int64_t now = util_now_mono_ms();
    long long backlog;
    double age;

    if (r->stats_at_ms && now - r->stats_at_ms < OUTBOX_STATS_EVERY_MS)
        return;
    if (outbox_stats(conn, &backlog, &age) < 0)
        return;
    r->stats_at_ms = now;
    pthread_mutex_lock(&outbox_gauges.mu);
    outbox_gauges.backlog = backlog;
    outbox_gauges.oldest_age_s = age;
    pthread_mutex_unlock(&outbox_gauges.mu);
}

/* Row columns of the claim query. */
enum { C_ID, C_TYPE, C_TOPIC, C_KEY, C_PAYLOAD, C_HEADERS, C_ATTEMPTS, C_NCOLS };

static const char OUTBOX_CLAIM[] =
    "SELECT o.id, o.event_type, o.topic, o.msg_key, o.payload, o.headers, o.attempts"
    " FROM outbox o FORCE INDEX (PRIMARY)"
    " WHERE o.next_attempt_at <= NOW(6)"
    " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.aggregate_type = o.aggregate_type"
    " AND p.aggregate_id = o.aggregate_id AND p.id < o.id)"
    " ORDER BY o.id LIMIT ? FOR UPDATE SKIP LOCKED";

/* Deletes the delivered rows of @res (those with msgs[i].result == 0) in one statement. */
static int outbox__delete(struct db_conn *conn, const struct db_result *res,
                          const struct kafka_msg *msgs, size_t n, size_t ndelivered)
{
    static const char head[] = "DELETE FROM outbox WHERE id IN (";
    struct db_param *params = NULL;
    char *sql = NULL;
    size_t k = 0, len;
    int rc;

    if (!ndelivered)
        return 0;
    params = calloc(ndelivered, sizeof(*params));
    sql = malloc(sizeof(head) + 2 * ndelivered + 1);
    if (!params || !sql) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(sql, head, sizeof(head) - 1);
    len = sizeof(head) - 1;
    for (size_t i = 0; i < n; i++) {
        if (msgs[i].result != 0)
            continue;
        params[k++] = DB_INT(db_result_int(res, i, C_ID));
        sql[len++] = '?';
        sql[len++] = k < ndelivered ? ',' : ')';
    }
    sql[len] = '\0';
    rc = db_exec(conn, sql, params, k, NULL, NULL);
out:
    free(params);
    free(sql);
    return rc;
}

/*
 * One round: claim, produce, delete/bump, commit. *@ret_claimed and *@ret_delivered say what
 * happened. Returns 0 or a negative errno (database trouble).
 */
static int outbox__round(struct outbox_relay *r, size_t *ret_claimed, size_t *ret_delivered)
{
    struct db_conn *conn;
    struct db_result *res = NULL;
    struct kafka_msg *msgs = NULL;
    struct event_header *hdrs = NULL;
    cJSON **roots = NULL;
    char errbuf[256];
    size_t n = 0, ndelivered = 0;
    int rc;

    *ret_claimed = 0;
    *ret_delivered = 0;
    conn = db_acquire(r->opts.pool, errbuf, sizeof(errbuf));
    if (!conn)
        return -EIO;
    outbox__refresh_stats(r, conn);

    /* one-shot: applies to the next transaction only, the pooled session keeps its default */
    rc = db_exec(conn, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", NULL, 0, NULL, NULL);
    if (rc == 0)
        rc = db_begin(conn);
    if (rc == 0)
        rc = db_query(conn, OUTBOX_CLAIM, (struct db_param[]){DB_INT(r->opts.batch)}, 1, &res);
    if (rc < 0)
        goto out;
    n = db_result_rows(res);
    if (n == 0)
        goto commit;

    msgs = calloc(n, sizeof(*msgs));
    hdrs = calloc(n * EVENT_MAX_HEADERS, sizeof(*hdrs));
    roots = calloc(n, sizeof(*roots));
    if (!msgs || !hdrs || !roots) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct kafka_msg *m = &msgs[i];
        const char *hj = db_result_get(res, i, C_HEADERS);
        const cJSON *h;
        size_t nh = 0;

        m->topic = db_result_get(res, i, C_TOPIC);
        m->key = db_result_get(res, i, C_KEY);
        m->keylen = db_result_len(res, i, C_KEY);
        m->value = db_result_get(res, i, C_PAYLOAD);
        m->len = db_result_len(res, i, C_PAYLOAD);
        /* headers were written by outbox_append: a flat object of strings */
        roots[i] = hj ? cJSON_ParseWithLength(hj, db_result_len(res, i, C_HEADERS)) : NULL;
        cJSON_ArrayForEach (h, roots[i]) {
            if (nh < EVENT_MAX_HEADERS && cJSON_IsString(h) && h->string)
                hdrs[i * EVENT_MAX_HEADERS + nh++] =
                    (struct event_header){h->string, h->valuestring};
        }
        m->headers = &hdrs[i * EVENT_MAX_HEADERS];
        m->nheaders = nh;
    }

    kafka_produce_wait(r->opts.producer, msgs, n); /* per-message results below */

    for (size_t i = 0; i < n; i++) {
        const char *type = db_result_get(res, i, C_TYPE);

        if (msgs[i].result == 0) {
            ndelivered++;
            metrics_inc(OUTBOX_PUBLISHED, (const char *const[]){type}, 1);
            continue;
        }
        long long attempts = db_result_int(res, i, C_ATTEMPTS);
        int64_t delay_ms = util_backoff_ms(attempts > 30 ? 30 : (int)attempts,
                                           r->opts.backoff_base_ms, r->opts.backoff_max_ms);
        char reason[OUTBOX_ERROR_MAX + 1];

        metrics_inc(OUTBOX_FAILURES, NULL, 1);
        util_strlcpy(reason, msgs[i].error[0] ? msgs[i].error : "delivery failed", sizeof(reason));
        rc = db_exec(conn,
                     "UPDATE outbox SET attempts = attempts + 1,"
                     " next_attempt_at = NOW(6) + INTERVAL ? MICROSECOND, last_error = ?"
                     " WHERE id = ?",
                     (struct db_param[]){DB_INT(delay_ms * 1000), DB_STR(reason),
                                         DB_INT(db_result_int(res, i, C_ID))},
                     3, NULL, NULL);
        if (rc < 0)
            goto out;
    }
    rc = outbox__delete(conn, res, msgs, n, ndelivered);
    if (rc < 0)
        goto out;
commit:
    rc = db_commit(conn);
    if (rc == 0) {
        *ret_claimed = n;
        *ret_delivered = ndelivered;
    }
out:
    if (rc < 0)
        db_rollback(conn); /* delivered rows stay and go out again: at least once */
    db_release(r->opts.pool, conn);
    if (roots)
        for (size_t i = 0; i < n; i++)
            cJSON_Delete(roots[i]);
    free(roots);
    free(hdrs);
    free(msgs);
    db_result_free(res);
    return rc;
}

/* Waits until @ms pass, stop, or (when @kickable) a kick. */
static void outbox__wait(struct outbox_relay *r, int64_t ms, bool kickable)
{
    struct timespec deadline;

    if (ms <= 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    while (!r->stop && !(kickable && r->kicked))
        if (pthread_cond_timedwait(&r->cv, &r->mu, &deadline) != 0)
            break;
    r->kicked = false;
    pthread_mutex_unlock(&r->mu);
}

static bool outbox__stopping(struct outbox_relay *r)
{
    bool stop;

    pthread_mutex_lock(&r->mu);
    stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    return stop;
}

static void *outbox__run(void *arg)
{
    struct outbox_relay *r = arg;
    int failing = 0; /* consecutive rounds that delivered nothing because of a failure */

    while (!outbox__stopping(r)) {
        size_t claimed, delivered;
        int rc = outbox__round(r, &claimed, &delivered);

        if (rc < 0 || (claimed > 0 && delivered == 0)) {
            /* database or broker down: back off, deaf to kicks, so commits cannot spin us */
            outbox__wait(r,
                         util_backoff_ms(failing, r->opts.backoff_base_ms, r->opts.backoff_max_ms),
                         false);
            if (failing < 30)
                failing++;
            continue;
        }
        failing = 0;
        if (claimed == 0)
            outbox__wait(r, r->opts.poll_ms, true);
        /* else: the next heads may be ready at once */
    }
    return NULL;
}

struct outbox_relay *outbox_relay_start(const struct outbox_relay_opts *opts, char *errbuf,
                                        size_t errlen)
{
    struct outbox_relay *r;
    pthread_condattr_t ca;
    int err;

    if (!opts || !opts->pool || !opts->producer) {
        snprintf(errbuf, errlen, "outbox relay: pool and producer are required");
        return NULL;
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(errbuf, errlen, "outbox relay: out of memory");
        return NULL;
    }
    r->opts = *opts;
    if (r->opts.poll_ms <= 0)
        r->opts.poll_ms = 200;
    if (r->opts.batch <= 0)
        r->opts.batch = 100;
    if (r->opts.backoff_base_ms <= 0)
        r->opts.backoff_base_ms = 500;
    if (r->opts.backoff_max_ms <= 0)
        r->opts.backoff_max_ms = 30000;
    if (r->opts.backoff_max_ms < r->opts.backoff_base_ms)
        r->opts.backoff_max_ms = r->opts.backoff_base_ms;

    metrics_gauge_fn(OUTBOX_GAUGE_BACKLOG, "Outbox rows not yet published.", outbox__gauge_backlog,
                     NULL);
    metrics_gauge_fn(OUTBOX_GAUGE_AGE, "Age in seconds of the oldest unpublished outbox row.",
                     outbox__gauge_age, NULL);
    metrics_counter(OUTBOX_PUBLISHED, "Outbox events published to Kafka.", "type");
    metrics_counter(OUTBOX_FAILURES, "Outbox events whose publication failed (retried).", "");

    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    err = pthread_create(&r->thread, NULL, outbox__run, r);
    if (err) {
        snprintf(errbuf, errlen, "outbox relay: pthread_create: %s", strerror(err));
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return NULL;
    }
    return r;
}

void outbox_relay_kick(struct outbox_relay *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->kicked = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void outbox_relay_stop(struct outbox_relay *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
