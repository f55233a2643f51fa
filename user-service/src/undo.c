/* undo.c - background retries of credential deletions for sign-ups that were not kept. */
#include "undo.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"

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
    pthread_cond_t cond;
    struct undo_item *head;
    int stopping;
    pthread_t thread;
};

/* Takes the first item that is due, or returns NULL and the time to wait in *@wait_ms. */
static struct undo_item *take_due(struct undo_queue *q, int64_t *wait_ms)
{
    int64_t now = util_now_mono_ms();
    struct undo_item **pp;

    *wait_ms = 60000;
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

static void wait_ms_locked(struct undo_queue *q, int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&q->cond, &q->lock, &ts);
}

static void *undo_main(void *arg)
{
    struct undo_queue *q = arg;

    pthread_mutex_lock(&q->lock);
    while (!q->stopping) {
        int64_t wait;
        struct undo_item *it = take_due(q, &wait);
        char detail[256];
        enum auth_outcome outcome;

        if (!it) {
            wait_ms_locked(q, wait);
            continue;
        }
        pthread_mutex_unlock(&q->lock);
        outcome = auth_client_delete(q->client, it->user_id, detail, sizeof(detail));
        it->attempts++;
        pthread_mutex_lock(&q->lock);
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
            it->due_ms =
                util_now_mono_ms() +
                util_backoff_ms(it->attempts - 1, UNDO_BACKOFF_BASE_MS, UNDO_BACKOFF_MAX_MS);
            it->next = q->head;
            q->head = it;
        }
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

struct undo_queue *undo_start(struct auth_client *client, int max_attempts)
{
    struct undo_queue *q = calloc(1, sizeof(*q));

    if (!q)
        return NULL;
    q->client = client;
    q->max_attempts = max_attempts > 0 ? max_attempts : 1;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    if (pthread_create(&q->thread, NULL, undo_main, q) != 0) {
        pthread_cond_destroy(&q->cond);
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
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

void undo_stop(struct undo_queue *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stopping = 1;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    while (q->head) {
        struct undo_item *it = q->head;
        q->head = it->next;
        log_errorx("shutting down with the credential of user '%s' not undone; "
                   "send DELETE /api/auth/%s to auth-service by hand",
                   it->user_id, it->user_id);
        free(it);
    }
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q);
}
