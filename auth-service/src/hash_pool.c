/* hash_pool.c - Argon2id on a fixed pool of threads with a bounded queue (hash_pool.h). */
#include "hash_pool.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define HASH_MMAP_THRESHOLD (1024 * 1024) /* well below an Argon2 buffer (19 MiB) */

enum hash_kind { HASH_NEW, HASH_VERIFY };

/* One request, on its caller's stack until done. */
struct hash_job {
    enum hash_kind kind;
    const char *encoded; /* HASH_VERIFY */
    const char *password;
    size_t len;
    char *out; /* HASH_NEW: CRYPTO_ENCODED_MAX bytes */
    int rc;
    bool ok;
    bool done; /* under the pool's lock */
    struct hash_job *next;
};

struct hash_pool {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a job was queued, or stop */
    pthread_cond_t done; /* a job finished: its caller looks */
    struct hash_job *head, *tail;
    int waiting, max_waiting;
    bool stop;
    pthread_t *threads;
    int nthreads;
};

static void hash__run(struct hash_job *job)
{
    if (job->kind == HASH_NEW) {
        job->rc = crypto_password_hash(job->password, job->len, job->out);
    } else {
        job->ok = crypto_password_verify(job->encoded, job->password, job->len);
        job->rc = 0;
    }
}

static void *hash__worker(void *arg)
{
    struct hash_pool *hp = arg;
    struct hash_job *job;

    pthread_mutex_lock(&hp->lock);
    for (;;) {
        while (!hp->head && !hp->stop)
            pthread_cond_wait(&hp->work, &hp->lock);
        if (!hp->head)
            break; /* stopping and nothing left */
        job = hp->head;
        hp->head = job->next;
        if (!hp->head)
            hp->tail = NULL;
        hp->waiting--;
        pthread_mutex_unlock(&hp->lock);
        hash__run(job);
        pthread_mutex_lock(&hp->lock);
        job->done = true;
        pthread_cond_broadcast(&hp->done);
    }
    pthread_mutex_unlock(&hp->lock);
    return NULL;
}

/* Queues @job and waits for it. 0 (see job->rc) or -EBUSY. */
static int hash__submit(struct hash_pool *hp, struct hash_job *job)
{
    pthread_mutex_lock(&hp->lock);
    if (hp->waiting >= hp->max_waiting) {
        pthread_mutex_unlock(&hp->lock);
        return -EBUSY;
    }
    job->done = false;
    job->next = NULL;
    if (hp->tail)
        hp->tail->next = job;
    else
        hp->head = job;
    hp->tail = job;
    hp->waiting++;
    pthread_cond_signal(&hp->work);
    while (!job->done)
        pthread_cond_wait(&hp->done, &hp->lock);
    pthread_mutex_unlock(&hp->lock);
    return 0;
}

struct hash_pool *hash_pool_new(int threads, int queue, char *errbuf, size_t errlen)
{
    struct hash_pool *hp = calloc(1, sizeof(*hp));

    if (!hp || !(hp->threads = calloc((size_t)threads, sizeof(*hp->threads)))) {
        snprintf(errbuf, errlen, "out of memory");
        free(hp);
        return NULL;
    }
    pthread_mutex_init(&hp->lock, NULL);
    pthread_cond_init(&hp->work, NULL);
    pthread_cond_init(&hp->done, NULL);
    /* a running job has left the queue: @queue more may wait behind @threads running ones */
    hp->max_waiting = queue;
    for (; hp->nthreads < threads; hp->nthreads++) {
        if (pthread_create(&hp->threads[hp->nthreads], NULL, hash__worker, hp) != 0) {
            snprintf(errbuf, errlen, "cannot start hashing thread %d", hp->nthreads + 1);
            hash_pool_free(hp);
            return NULL;
        }
    }
    return hp;
}

void hash_pool_free(struct hash_pool *hp)
{
    if (!hp)
        return;
    pthread_mutex_lock(&hp->lock);
    hp->stop = true;
    pthread_cond_broadcast(&hp->work);
    pthread_mutex_unlock(&hp->lock);
    for (int i = 0; i < hp->nthreads; i++)
        pthread_join(hp->threads[i], NULL);
    pthread_cond_destroy(&hp->done);
    pthread_cond_destroy(&hp->work);
    pthread_mutex_destroy(&hp->lock);
    free(hp->threads);
    free(hp);
}

int hash_pool_hash(struct hash_pool *hp, const char *password, size_t len,
                   char out[CRYPTO_ENCODED_MAX])
{
    struct hash_job job = {.kind = HASH_NEW, .password = password, .len = len, .out = out};
    int rc = hash__submit(hp, &job);

    return rc < 0 ? rc : job.rc;
}

int hash_pool_verify(struct hash_pool *hp, const char *encoded, const char *password, size_t len,
                     bool *ret_ok)
{
    struct hash_job job = {
        .kind = HASH_VERIFY, .encoded = encoded, .password = password, .len = len};
    int rc = hash__submit(hp, &job);

    if (rc == 0)
        *ret_ok = job.ok;
    return rc;
}

int hash_pool_waiting(struct hash_pool *hp)
{
    int n;

    pthread_mutex_lock(&hp->lock);
    n = hp->waiting;
    pthread_mutex_unlock(&hp->lock);
    return n;
}

void auth_hash_malloc_tune(void)
{
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, HASH_MMAP_THRESHOLD);
#endif
}
