/*
 * deadline.c - the payment-deadline scheduler, a worker (common/worker.h) run every
 * ORDER_DEADLINE_SCAN_MS: reads up to a batch of unpaid orders older than
 * ORDER_PAYMENT_DEADLINE_S (a plain read: no locks, so no gap locks that would hold up new
 * orders' inserts) and runs the saga step ORDER_IN_DEADLINE for each. The step locks the
 * order and re-checks it, so two instances never cancel the same order twice: the second
 * finds it CANCELLED, a duplicate.
 */
#include <errno.h>

#include "app.h"
#include "common/log.h"

#define DEADLINE_BATCH 50

/* Cancels order @id for PAYMENT_TIMEOUT (when still unpaid). 1 when it did, 0, or < 0. */
static int deadline_cancel(struct db_conn *conn, const char *id)
{
    struct msgctx ctx; /* the scheduler's "request": correlation id = the order id */
    struct saga_result step;
    int rc;

    msgctx_init_request(&ctx, id, NULL);
    msgctx_set_current(&ctx); /* log lines carry the saga id */
    {
        struct saga_input in = {.in = ORDER_IN_DEADLINE,
                                .order_id = id,
                                .ctx = &ctx,
                                .event_id = ctx.message_id,
                                .note = "PAYMENT_DEADLINE"};

        rc = order_saga_step(conn, &in, &step);
    }
    if (rc < 0 && rc != -ENOENT)
        log_warnx("payment deadline scan failed: %s (%d)", step.errmsg, rc);
    msgctx_set_current(NULL);
    if (rc < 0)
        return rc == -ENOENT ? 0 : rc;
    return step.out.verdict == ORDER_APPLIED;
}

long order_deadline_run(struct worker *w, void *arg)
{
    struct order_app *app = arg;
    char ids[DEADLINE_BATCH][UTIL_UUID_LEN];
    struct db_conn *conn;
    char err[256];
    size_t n = 0;
    int rc;

    conn = db_acquire(app->pool, err, sizeof(err));
    if (!conn) {
        log_warnx("payment deadline scan: no database connection: %s", err);
        return -1;
    }
    rc = store_order_overdue(conn, app->cfg->payment_deadline_s, DEADLINE_BATCH, ids, &n);
    if (rc < 0)
        log_warnx("payment deadline scan failed: %s (%d)", db_errmsg(conn), rc);
    for (size_t i = 0; rc == 0 && i < n && !worker_stopping(w); i++)
        rc = deadline_cancel(conn, ids[i]) < 0 ? -EIO : 0;
    db_release(app->pool, conn);
    return -1;
}
