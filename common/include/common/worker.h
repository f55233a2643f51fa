/*
 * worker.h - one stoppable periodic background thread: the home of every "run, then wait for
 * a period, a kick or the stop" loop (outbox and stream relays, the stock snapshot, the order
 * payment deadline, the sign-up undo queue, …).
 *
 * The thread calls @run, then waits for what @run asked: the returned number of milliseconds
 * (0 = run again at once, e.g. a full batch; < 0 = the default period). worker_kick() ends the
 * wait early; worker_stop() ends it and joins. A run is never interrupted: a long @run that
 * wants to return early checks worker_stopping(). Signals stay blocked in the thread (it
 * inherits the starting thread's mask: svc_signals_block() first).
 *
 * Also the primitive the connection pools wait with: worker_deadline_ms() + pthread_cond_timedwait
 * on a CLOCK_MONOTONIC condition made by worker_cond_init().
 */
#ifndef COMMON_WORKER_H
#define COMMON_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct worker;

/* One round of work. Returns the milliseconds to wait before the next round: 0 = at once,
 * > 0 = that long (a backoff, a schedule), < 0 = opts.period_ms. @w is the worker itself. */
typedef long (*worker_fn)(struct worker *w, void *arg);

struct worker_opts {
    const char *name; /* for logs and errors ("outbox relay"); borrowed */
    long period_ms;   /* the default wait between rounds (> 0) */
    worker_fn run;
    void *arg;       /* borrowed until worker_stop() */
    bool wait_first; /* wait one period before the first round (default: run at once) */
};

/* Starts the thread. NULL with a reason in @errbuf. Caller owns it: worker_stop(). */
struct worker *worker_start(const struct worker_opts *opts, char *errbuf, size_t errlen);

/* Ends the current wait now (the next round starts at once); a kick during a round makes the
 * next round start without waiting. Accepts NULL. Thread-safe. */
void worker_kick(struct worker *w);

/* True once worker_stop() was called: a long round can return early. */
bool worker_stopping(struct worker *w);

/* Lets the current round finish, stops the thread, frees. Accepts NULL. */
void worker_stop(struct worker *w);

/* Initialises @cond on CLOCK_MONOTONIC (what worker_deadline_ms() measures). 0 or an errno. */
int worker_cond_init(pthread_cond_t *cond);

/* The absolute CLOCK_MONOTONIC time @ms from now, for pthread_cond_timedwait(). */
struct timespec worker_deadline_ms(long ms);

#endif
