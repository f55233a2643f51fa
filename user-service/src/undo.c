/* undo.c - background retries of credential deletions for sign-ups that were not kept. */
#include "undo.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/worker.h"

#define UNDO_IDLE_MS 60000 /* the wait with nothing queued (a push ends it) */
#define UNDO_BACKOFF_BASE_MS 500
#define UNDO_BACKOFF_MAX_MS 30000

struct undo_item {
    char user_id[UTIL_UUID_LEN];
    int attempts;
    int64_t due_ms; /* monotonic */
    struct undo_item *next;
};

struct undo_queue {
    struct auth_client *client;
    int max_attempts;
    pthread_mutex_t lock;
    struct undo_item *head; /* under lock */
    struct worker *worker;
};

/* Takes the first item that is due, or returns NULL and the time to wait in *@wait_ms. */
static struct undo_item *take_due(struct undo_queue *q, int64_t *wait_ms)
{
    int64_t now = util_now_mono_ms();
    struct undo_item **pp;

    *wait_ms = UNDO_IDLE_MS;
    for (pp = &q->head; *pp; pp = &(*pp)->next) {
        struct undo_item *it = *pp;
        if (it->due_ms <= now) {
            *pp = it->next;
            it->next = NULL;
            return it;
        }
        if (it->due_ms - now < *wait_ms)
            *wait_ms = it->due_ms - now;
    }
    return NULL;
}

/* Sends the DELETE of @it; frees it when done with, else queues it again with a backoff. */
static void undo_one(struct undo_queue *q, struct undo_item *it)
{
    char detail[256];
    enum auth_outcome outcome = auth_client_delete(q->client, it->user_id, detail, sizeof(detail));

    it->attempts++;
    if (outcome == AUTH_OK) {
        log_info("undid the credential of user '%s' after %d attempt(s)", it->user_id,
                 it->attempts);
        free(it);
    } else if (it->attempts >= q->max_attempts) {
        log_errorx("giving up undoing the credential of user '%s' after %d attempts: %s; "
                   "send DELETE /api/auth/%s to auth-service by hand",
                   it->user_id, it->attempts, detail, it->user_id);
        free(it);
    } else {
        it->due_ms = util_now_mono_ms() +
                     util_backoff_ms(it->attempts - 1, UNDO_BACKOFF_BASE_MS, UNDO_BACKOFF_MAX_MS);
        pthread_mutex_lock(&q->lock);
        it->next = q->head;
        q->head = it;
        pthread_mutex_unlock(&q->lock);
    }
}

/* The worker's round: every due item, then a wait until the next one is due (or a push). */
static long undo_run(struct worker *w, void *arg)
{
    struct undo_queue *q = arg;
    int64_t wait;

    for (;;) {
        struct undo_item *it;

        pthread_mutex_lock(&q->lock);
        it = take_due(q, &wait);
        pthread_mutex_unlock(&q->lock);
        if (!it)
            return (long)wait;
        undo_one(q, it);
        if (worker_stopping(w))
            return -1;
    }
}

struct undo_queue *undo_start(struct auth_client *client, int max_attempts)
{
    struct undo_queue *q = calloc(1, sizeof(*q));
    char err[128];

    if (!q)
        return NULL;
    q->client = client;
    q->max_attempts = max_attempts > 0 ? max_attempts : 1;
    pthread_mutex_init(&q->lock, NULL);
    q->worker = worker_start(
        &(struct worker_opts){
            .name = "sign-up undo", .period_ms = UNDO_IDLE_MS, .run = undo_run, .arg = q},
        err, sizeof(err));
    if (!q->worker) {
        pthread_mutex_destroy(&q->lock);
        free(q);
        return NULL;
    }
    return q;
}

void undo_push(struct undo_queue *q, const char *user_id)
{
    struct undo_item *it = calloc(1, sizeof(*it));

    if (!it) {
        log_errorx("out of memory: cannot queue the undo of user '%s'", user_id);
        return;
    }
    util_strlcpy(it->user_id, user_id, sizeof(it->user_id));
    it->due_ms = util_now_mono_ms();
    pthread_mutex_lock(&q->lock);
    it->next = q->head;
    q->head = it;
    pthread_mutex_unlock(&q->lock);
    worker_kick(q->worker);
}

void undo_stop(struct undo_queue *q)
{
    if (!q)
        return;
    worker_stop(q->worker);
    while (q->head) {
        struct undo_item *it = q->head;
        q->head = it->next;
        log_errorx("shutting down with the credential of user '%s' not undone; "
                   "send DELETE /api/auth/%s to auth-service by hand",
                   it->user_id, it->user_id);
        free(it);
    }
    pthread_mutex_destroy(&q->lock);
    free(q);
}
