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
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "common/event.h"
#include "common/outbox.h"
#include "common/relay.h"
#include "common/util.h"

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

static int outbox_claim(struct relay_source *src, struct relay_batch *batch, int wait_ms)
{
    struct relay_outbox *o = outbox_of(src);
    char errbuf[256];
    size_t n;
    int rc;

    (void)wait_ms; /* the core waits between rounds; relay_kick() ends the wait */
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
        const char *hj = db_result_get(o->res, i, C_HEADERS);
        const cJSON *h;
        size_t nh = 0;

        *m = (struct kafka_msg){
            .topic = db_result_get(o->res, i, C_TOPIC),
            .key = db_result_get(o->res, i, C_KEY),
            .keylen = db_result_len(o->res, i, C_KEY),
            .value = db_result_get(o->res, i, C_PAYLOAD),
            .len = db_result_len(o->res, i, C_PAYLOAD),
        };
        /* headers were written by outbox_append: a flat object of strings. content-type is
         * set here, not taken from the row: rows written before structured mode say
         * application/json, which the Kafka binding reads as binary mode. */
        o->roots[i] = hj ? cJSON_ParseWithLength(hj, db_result_len(o->res, i, C_HEADERS)) : NULL;
        cJSON_ArrayForEach (h, o->roots[i]) {
            if (nh + 1 < EVENT_MAX_HEADERS && cJSON_IsString(h) && h->string &&
                strcasecmp(h->string, "content-type") != 0)
                hdrs[nh++] = (struct event_header){h->string, h->valuestring};
        }
        hdrs[nh++] = (struct event_header){"content-type", EVENT_FORMAT_CONTENT_TYPE};
        m->headers = hdrs;
        m->nheaders = nh;
        batch->types[i] = db_result_get(o->res, i, C_TYPE);
    }
    batch->n = n;
    batch->more = n > 0; /* the next heads may be ready at once */
    return 0;
}

/* Deletes the delivered rows of the batch (those with msgs[i].result == 0) in one statement. */
static int outbox__delete(struct relay_outbox *o, const struct relay_batch *batch,
                          size_t ndelivered)
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
    for (size_t i = 0; i < batch->n; i++) {
        if (batch->msgs[i].result != 0)
            continue;
        params[k++] = DB_INT(db_result_int(o->res, i, C_ID));
        sql[len++] = '?';
        sql[len++] = k < ndelivered ? ',' : ')';
    }
    sql[len] = '\0';
    rc = db_exec(o->conn, sql, params, k, NULL, NULL);
out:
    free(params);
    free(sql);
    return rc;
}

static int outbox_settle(struct relay_source *src, struct relay_batch *batch)
{
    struct relay_outbox *o = outbox_of(src);
    size_t ndelivered = 0;
    int rc = 0;

    for (size_t i = 0; i < batch->n && rc == 0; i++) {
        const struct kafka_msg *m = &batch->msgs[i];
        long long attempts;
        int64_t delay_ms;
        char reason[OUTBOX_ERROR_MAX + 1];

        if (m->result == 0) {
            ndelivered++;
            continue;
        }
        attempts = db_result_int(o->res, i, C_ATTEMPTS);
        delay_ms =
            util_backoff_ms(attempts > OUTBOX_ATTEMPTS_MAX ? OUTBOX_ATTEMPTS_MAX : (int)attempts,
                            RELAY_BACKOFF_BASE_MS, RELAY_BACKOFF_MAX_MS);
        util_strlcpy(reason, m->error[0] ? m->error : "delivery failed", sizeof(reason));
        rc = db_exec(o->conn,
                     "UPDATE outbox SET attempts = attempts + 1,"
                     " next_attempt_at = NOW(6) + INTERVAL ? MICROSECOND, last_error = ?"
                     " WHERE id = ?",
                     (struct db_param[]){DB_INT(delay_ms * 1000), DB_STR(reason),
                                         DB_INT(db_result_int(o->res, i, C_ID))},
                     3, NULL, NULL);
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

static void outbox_free(struct relay_source *src)
{
    struct relay_outbox *o = outbox_of(src);

    if (!o)
        return;
    free(o->hdrs);
    free(o->roots);
    free(o);
}

static const struct relay_source_ops relay_outbox_ops = {
    .name = "outbox",
    .claim = outbox_claim,
    .settle = outbox_settle,
    .stats = outbox_source_stats,
    .free = outbox_free,
};

struct relay_source *relay_outbox_source(struct db_pool *pool)
{
    struct relay_outbox *o = calloc(1, sizeof(*o));

    if (!o)
        return NULL;
    o->base.ops = &relay_outbox_ops;
    o->pool = pool;
    return &o->base;
}
