/*
 * confirm_wait.h - where a confirm waits for a payment that does not exist yet.
 *
 * A client may confirm right after placing its order, before order.placed reached this
 * service. Instead of a 404 to retry, the confirm waits (bounded by PAYMENT_CONFIRM_WAIT_MS)
 * until the payment exists. It waits parked (http_park() on the bell here), holding no HTTP
 * thread and no database connection: the consumer calls pay_wait_notify() after committing a
 * new payment, which rings the bell so every parked confirm looks again; a parked confirm also
 * looks again every PAY_WAIT_RECHECK_MS, since another instance's consumer may have made it.
 * At most PAYMENT_CONFIRM_MAX_WAITERS confirms wait at once (a parked request costs its
 * connection and a little memory, no thread); beyond them pay_wait_enter() refuses and the
 * handler answers at once what it answered before there was a wait: 404, which clients retry
 * (so existing clients keep working under any load).
 */
#ifndef PAYMENT_CONFIRM_WAIT_H
#define PAYMENT_CONFIRM_WAIT_H

#include <pthread.h>
#include <stdbool.h>

#include "common/http.h"

#define PAY_WAIT_RECHECK_MS 100 /* the longest a waiter goes without looking at the database */

struct pay_wait {
    pthread_mutex_t lock;
    struct http_bell *bell; /* rung by pay_wait_notify(); parked confirms wait on it */
    unsigned long gen;      /* under lock: payments made by this instance's consumer */
    int waiting, max;       /* under lock: confirms waiting now, at most @max */
};

/* Initialises @w for at most @max waiters. 0 or -1 (out of memory). Release with
 * pay_wait_release() (after the HTTP server stopped: no confirm is parked any more). */
int pay_wait_init(struct pay_wait *w, int max);
void pay_wait_release(struct pay_wait *w);

/* Takes a waiter's place: true, or false when @max are waiting (nothing taken). */
bool pay_wait_enter(struct pay_wait *w);
/* Gives back the place pay_wait_enter() took. */
void pay_wait_leave(struct pay_wait *w);

/* The current generation (payments made so far). */
unsigned long pay_wait_gen(struct pay_wait *w);
/* A payment was committed: every parked confirm looks again (the consumer, after its commit). */
void pay_wait_notify(struct pay_wait *w);

/* Confirms waiting now (the gauge commerce_payment_confirm_waiters). */
int pay_wait_count(struct pay_wait *w);

#endif
