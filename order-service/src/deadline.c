/*
 * deadline.c - the payment-deadline scheduler: every ORDER_DEADLINE_SCAN_MS, in one
 * transaction, locks up to a batch of unpaid orders older than ORDER_PAYMENT_DEADLINE_S with
 * FOR UPDATE SKIP LOCKED (so two instances never cancel the same order twice), cancels them
 * (PAYMENT_TIMEOUT, order.cancelled through the outbox) and commits. The scan runs at READ
 * COMMITTED so its range scan takes no gap locks that would hold up new orders' inserts.
 * The same thread purges inbox rows older than INBOX_RETENTION_S once a minute.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "common/inbox.h"
#include "common/log.h"
#include "common/util.h"

#define DEADLINE_BATCH 50
#define PURGE_EVERY_MS 60000

struct order_deadline {
    struct order_app *app;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* signalled on stop */
    bool stop;
};

/* One scan; returns how many orders were cancelled, or a negative errno. */
static int deadline_scan(struct order_app *app)
{
    struct store_order *orders = NULL;
    struct order_outcome *outs = NULL;
    struct db_conn *conn;
    char err[256];
    size_t n = 0, done = 0;
    int rc;

    conn = db_acquire(app->pool, err, sizeof(err));
    if (!conn) {
        log_warnx("payment deadline scan: no database connection: %s", err);
        return -EIO;
    }
    rc = db_exec(conn, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", NULL, 0, NULL, NULL);
    if (rc == 0)
        rc = db_begin(conn);
    if (rc == 0)
        rc = store_order_overdue(conn, app->cfg->payment_deadline_s, DEADLINE_BATCH, &orders, &n);
    if (rc == 0 && n > 0) {
        outs = calloc(n, sizeof(*outs));
        if (!outs)
            rc = -ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct msgctx ctx; /* the scheduler's "request": correlation id = the order id */

        msgctx_init_request(&ctx, orders[i].id, NULL);
        rc = store_order_step(conn, &orders[i], ORDER_IN_DEADLINE, NULL, &ctx, ctx.message_id,
                              "PAYMENT_DEADLINE", NULL, NULL, &outs[i]);
    }
    if (rc == 0 && n > 0)
        rc = db_commit(conn);
    if (rc < 0) {
        db_rollback(conn);
        log_warnx("payment deadline scan failed: %s (%d)", db_errmsg(conn), rc);
    } else {
        if (n == 0)
            db_rollback(conn); /* nothing locked, nothing to keep */
        for (size_t i = 0; i < n; i++) {
            struct msgctx ctx;

            msgctx_init_request(&ctx, orders[i].id, NULL);
            msgctx_set_current(&ctx); /* log lines carry the saga id */
            order_step_done(app, &orders[i], &outs[i]);
            msgctx_set_current(NULL);
            done += outs[i].verdict == ORDER_APPLIED;
        }
    }
    db_release(app->pool, conn);
    free(outs);
    free(orders);
    return rc < 0 ? rc : (int)done;
}

/* Deletes processed-event records past their retention. */
static void inbox_cleanup(struct order_app *app)
{
    unsigned long long deleted = 0;
    struct db_conn *conn;
    char err[256];
    int rc;

    conn = db_acquire(app->pool, err, sizeof(err));
    if (!conn)
        return;
    rc = inbox_purge(conn, app->cfg->svc.inbox_retention_s, &deleted);
    if (rc < 0)
        log_warnx("inbox purge failed: %s (%d)", db_errmsg(conn), rc);
    else if (deleted > 0)
        log_info("purged %llu inbox records", deleted);
    db_release(app->pool, conn);
}

static void *deadline_main(void *arg)
{
    struct order_deadline *d = arg;
    long scan_ms = d->app->cfg->deadline_scan_ms;
    int64_t last_purge = 0;

    pthread_mutex_lock(&d->lock);
    while (!d->stop) {
        struct timespec until;

        pthread_mutex_unlock(&d->lock);
        deadline_scan(d->app);
        if (util_now_mono_ms() - last_purge >= PURGE_EVERY_MS) {
            inbox_cleanup(d->app);
            last_purge = util_now_mono_ms();
        }
        pthread_mutex_lock(&d->lock);
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += scan_ms / 1000;
        until.tv_nsec += (scan_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!d->stop && pthread_cond_timedwait(&d->cond, &d->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

struct order_deadline *order_deadline_start(struct order_app *app, char *errbuf, size_t errlen)
{
    struct order_deadline *d = calloc(1, sizeof(*d));
    pthread_condattr_t attr;
    sigset_t all, old;
    int rc;

    if (!d) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    d->app = app;
    pthread_mutex_init(&d->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cond, &attr);
    pthread_condattr_destroy(&attr);
    /* the thread inherits a mask blocking every signal: only main's sigwait() sees them */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&d->thread, NULL, deadline_main, d);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(errbuf, errlen, "pthread_create: %s", strerror(rc));
        pthread_cond_destroy(&d->cond);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return NULL;
    }
    return d;
}

void order_deadline_stop(struct order_deadline *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stop = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
    free(d);
}
