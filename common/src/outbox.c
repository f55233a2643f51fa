/*
 * outbox.c - the transactional outbox (see outbox.h): rows appended in the caller's
 * transaction; relay_outbox.c publishes them.
 *
 * Ids are assigned at insert, so "commit order" of one aggregate equals id order as long as
 * its writers serialise on the aggregate (they lock its row), which every service does.
 */
#include "common/outbox.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <cjson/cJSON.h>

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

/* ---- the sinks: one per pool whose relay publishes at commit ---- */

#define OUTBOX_SINKS 8 /* pools with a relay in one process (one per service; tests more) */

static struct outbox_sinks {
    pthread_mutex_t mu;
    pthread_cond_t idle; /* a slot's users fell to zero */
    struct {
        struct db_pool *pool; /* NULL: a free slot */
        struct outbox_sink *sink;
        unsigned users; /* entries handed out, not yet back from their transaction's end */
    } slot[OUTBOX_SINKS];
} outbox_sinks = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{0}}};

int outbox_sink_set(struct db_pool *pool, struct outbox_sink *sink)
{
    int rc = -ENOMEM;

    pthread_mutex_lock(&outbox_sinks.mu);
    for (size_t i = 0; i < OUTBOX_SINKS; i++) {
        if (outbox_sinks.slot[i].pool == pool) {
            rc = -EBUSY;
            break;
        }
    }
    for (size_t i = 0; rc == -ENOMEM && i < OUTBOX_SINKS; i++) {
        if (!outbox_sinks.slot[i].pool && !outbox_sinks.slot[i].users) {
            outbox_sinks.slot[i].pool = pool;
            outbox_sinks.slot[i].sink = sink;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&outbox_sinks.mu);
    return rc;
}

void outbox_sink_clear(struct outbox_sink *sink)
{
    pthread_mutex_lock(&outbox_sinks.mu);
    for (size_t i = 0; i < OUTBOX_SINKS; i++) {
        if (outbox_sinks.slot[i].sink != sink)
            continue;
        outbox_sinks.slot[i].pool = NULL; /* no new entries */
        while (outbox_sinks.slot[i].users > 0)
            pthread_cond_wait(&outbox_sinks.idle, &outbox_sinks.mu);
        outbox_sinks.slot[i].sink = NULL;
    }
    pthread_mutex_unlock(&outbox_sinks.mu);
}

/* The slot of @pool's sink (*@ret_sink) with one more user, or -1. */
static int outbox__sink_take(struct db_pool *pool, struct outbox_sink **ret_sink)
{
    int k = -1;

    pthread_mutex_lock(&outbox_sinks.mu);
    for (int i = 0; i < OUTBOX_SINKS && k < 0; i++) {
        if (outbox_sinks.slot[i].pool == pool) {
            outbox_sinks.slot[i].users++;
            *ret_sink = outbox_sinks.slot[i].sink;
            k = i;
        }
    }
    pthread_mutex_unlock(&outbox_sinks.mu);
    return k;
}

static void outbox__sink_give(int k)
{
    pthread_mutex_lock(&outbox_sinks.mu);
    if (--outbox_sinks.slot[k].users == 0)
        pthread_cond_broadcast(&outbox_sinks.idle);
    pthread_mutex_unlock(&outbox_sinks.mu);
}

void outbox_entry_free(struct outbox_entry *e)
{
    if (!e)
        return;
    free(e->aggregate_type);
    free(e->aggregate_id);
    free(e->event_type);
    free(e->topic);
    free(e->key);
    free(e->payload);
    free(e->headers);
    free(e);
}

/* What one transaction appended held, owned by its hook, and the sink (slot) it counts in. */
struct outbox_held {
    struct outbox_sink *sink;
    int slot;
    struct outbox_entry **e;
    size_t n, cap;
};

static void outbox__ended(struct db_conn *conn, void *arg, bool committed)
{
    struct outbox_held *h = arg;

    if (committed) /* a user of the slot: the sink is still there (outbox_sink_clear waits) */
        h->sink->committed(h->sink, conn, h->e, h->n);
    else
        for (size_t i = 0; i < h->n; i++)
            outbox_entry_free(h->e[i]);
    outbox__sink_give(h->slot);
    free(h->e);
    free(h);
}

/* The entry of a row about to be appended: copies of what the sink publishes. NULL: no memory. */
static struct outbox_entry *outbox__entry(const char *aggregate_type, const char *aggregate_id,
                                          const struct event *ev, const char *topic,
                                          const char *payload, const char *headers)
{
    struct outbox_entry *e = calloc(1, sizeof(*e));

    if (!e)
        return NULL;
    e->aggregate_type = strdup(aggregate_type);
    e->aggregate_id = strdup(aggregate_id);
    e->event_type = strdup(ev->type);
    e->topic = strdup(topic);
    e->key = strdup(aggregate_id);
    e->payload = strdup(payload);
    e->headers = strdup(headers);
    if (!e->aggregate_type || !e->aggregate_id || !e->event_type || !e->topic || !e->key ||
        !e->payload || !e->headers) {
        outbox_entry_free(e);
        return NULL;
    }
    e->payload_len = strlen(payload);
    e->headers_len = strlen(headers);
    return e;
}

/* ---- append ---- */

/* Drops a batch outbox__held() made that got no hook. */
static void outbox__held_drop(struct outbox_held *h)
{
    outbox__sink_give(h->slot);
    free(h->e);
    free(h);
}

/* The transaction's batch of held rows with room for one more: the one its hook has, or a new
 * one (*@ret_fresh; its hook not yet registered) when @conn's pool has a sink. NULL: none. */
static struct outbox_held *outbox__held(struct db_conn *conn, bool *ret_fresh)
{
    struct outbox_held *h = db_on_end_arg(conn, outbox__ended);
    struct outbox_sink *sink = NULL;
    int k;

    *ret_fresh = false;
    if (!h) {
        k = outbox__sink_take(db_conn_pool(conn), &sink);
        if (k < 0)
            return NULL;
        h = calloc(1, sizeof(*h));
        if (!h) {
            outbox__sink_give(k);
            return NULL;
        }
        *h = (struct outbox_held){.sink = sink, .slot = k};
        *ret_fresh = true;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 4;
        struct outbox_entry **e = realloc(h->e, cap * sizeof(*e));

        if (!e) {
            if (*ret_fresh)
                outbox__held_drop(h);
            return NULL;
        }
        h->e = e;
        h->cap = cap;
    }
    return h;
}

/* Inserts the row: held for the pool's sink and handed to it at commit when there is one (and
 * memory for its entry), else due at once. */
static int outbox__insert(struct db_conn *conn, const char *aggregate_type,
                          const char *aggregate_id, const struct event *ev, const char *topic,
                          const char *payload, const char *headers)
{
    struct db_param prm[] = {DB_STR(aggregate_type),
                             DB_STR(aggregate_id),
                             DB_STR(ev->id),
                             DB_STR(ev->type),
                             DB_STR(topic),
                             DB_STR(aggregate_id),
                             DB_STR(payload),
                             DB_STR(headers),
                             ev->traceparent[0] ? DB_STR(ev->traceparent) : DB_NULLP,
                             DB_INT(0)};
    bool fresh;
    struct outbox_held *h = outbox__held(conn, &fresh);
    struct outbox_entry *e =
        h ? outbox__entry(aggregate_type, aggregate_id, ev, topic, payload, headers) : NULL;
    unsigned long long id = 0;
    int rc;

    if (!e && h && fresh)
        outbox__held_drop(h);
    if (e) /* held; else due at once */
        prm[9] = DB_INT((long long)h->sink->hold_ms * 1000);
    rc = db_exec(conn,
                 "INSERT INTO outbox (aggregate_type, aggregate_id, event_id, event_type, topic,"
                 " msg_key, payload, headers, traceparent, next_attempt_at)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(6) + INTERVAL ? MICROSECOND)",
                 prm, 10, NULL, &id);
    if (!e)
        return rc;
    if (rc == 0 && fresh && (rc = db_on_end(conn, outbox__ended, h)) < 0) {
        /* no hook: the row is the relay's at once */
        rc = db_exec(conn, "UPDATE outbox SET next_attempt_at = NOW(6) WHERE id = ?",
                     (struct db_param[]){DB_INT((long long)id)}, 1, NULL, NULL);
        outbox_entry_free(e);
        outbox__held_drop(h);
        return rc;
    }
    if (rc < 0) {
        outbox_entry_free(e);
        if (fresh)
            outbox__held_drop(h);
        return rc;
    }
    e->id = (long long)id;
    h->e[h->n++] = e;
    return 0;
}

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
    rc = outbox__insert(conn, aggregate_type, aggregate_id, ev, topic, payload, headers);
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
