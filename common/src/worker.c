/* worker.c - the stoppable periodic background thread (see worker.h). */
#include "common/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct worker {
    struct worker_opts opts;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;   /* under lock */
    bool kicked; /* under lock: run again without waiting */
};

int worker_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

struct timespec worker_deadline_ms(long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ms < 0)
        ms = 0;
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Waits @ms (or until a kick or the stop). Returns false once stopping. */
static bool worker_wait(struct worker *w, long ms)
{
    struct timespec until = worker_deadline_ms(ms);
    bool go;

    pthread_mutex_lock(&w->lock);
    while (!w->stop && !w->kicked && ms > 0 &&
           pthread_cond_timedwait(&w->wake, &w->lock, &until) != ETIMEDOUT)
        ;
    w->kicked = false;
    go = !w->stop;
    pthread_mutex_unlock(&w->lock);
    return go;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    if (w->opts.wait_first && !worker_wait(w, w->opts.period_ms))
        return NULL;
    for (;;) {
        long ms = w->opts.run(w, w->opts.arg);

        if (!worker_wait(w, ms < 0 ? w->opts.period_ms : ms))
            return NULL;
    }
}

struct worker *worker_start(const struct worker_opts *opts, char *errbuf, size_t errlen)
{
    struct worker *w;

    if (!opts->run || opts->period_ms <= 0) {
        snprintf(errbuf, errlen, "%s: a run function and a positive period are required",
                 opts->name ? opts->name : "worker");
        return NULL;
    }
    w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    w->opts = *opts;
    pthread_mutex_init(&w->lock, NULL);
    worker_cond_init(&w->wake);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        snprintf(errbuf, errlen, "cannot start the %s thread", opts->name ? opts->name : "worker");
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

void worker_kick(struct worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->kicked = true;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

bool worker_stopping(struct worker *w)
{
    bool stop;

    pthread_mutex_lock(&w->lock);
    stop = w->stop;
    pthread_mutex_unlock(&w->lock);
    return stop;
}

void worker_stop(struct worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
