/*
 * confirm_wait.h - where a confirm waits for a payment that does not exist yet.
 *
 * A client may confirm right after placing its order, before order.placed reached this
 * service. Instead of a 404 to retry, the confirm waits (bounded by PAYMENT_CONFIRM_WAIT_MS)
 * until the payment exists: the consumer calls pay_wait_notify() after committing a new
 * payment, which wakes every waiter to look again; a waiter also looks again every
 * PAY_WAIT_RECHECK_MS, since another instance's consumer may have made it. At most
 * PAYMENT_CONFIRM_MAX_WAITERS confirms wait at once (each holds an HTTP thread); beyond them
 * pay_wait_enter() refuses and the handler answers at once what it answered before there was
 * a wait: 404, which clients retry (so existing clients keep working under any load).
 *
 * The generation counter closes the race between a look and the wait: take pay_wait_gen()
 * before looking; pay_wait_sleep() returns at once if a payment was made since.
 */
#ifndef PAYMENT_CONFIRM_WAIT_H
#define PAYMENT_CONFIRM_WAIT_H

#include <pthread.h>
#include <stdbool.h>

#define PAY_WAIT_RECHECK_MS 100 /* the longest a waiter goes without looking at the database */

struct pay_wait {
    pthread_mutex_t lock;
    pthread_cond_t made; /* CLOCK_MONOTONIC; broadcast by pay_wait_notify() */
    unsigned long gen;   /* under lock: payments made by this instance's consumer */
    int waiting, max;    /* under lock: confirms waiting now, at most @max */
};

/* Initialises @w for at most @max waiters. 0 or -1 (no condition variable). Release with
 * pay_wait_release() (after every waiter left). */
int pay_wait_init(struct pay_wait *w, int max);
void pay_wait_release(struct pay_wait *w);

/* Takes a waiter's place: true, or false when @max are waiting (nothing taken). */
bool pay_wait_enter(struct pay_wait *w);
/* Gives back the place pay_wait_enter() took. */
void pay_wait_leave(struct pay_wait *w);

/* The current generation: take it before looking at the database. */
unsigned long pay_wait_gen(struct pay_wait *w);
/* Sleeps until the generation differs from @gen or @ms passed. */
void pay_wait_sleep(struct pay_wait *w, unsigned long gen, int ms);
/* A payment was committed: wakes every waiter (the consumer, after its commit). */
void pay_wait_notify(struct pay_wait *w);

/* Confirms waiting now (the gauge commerce_payment_confirm_waiters). */
int pay_wait_count(struct pay_wait *w);

#endif
