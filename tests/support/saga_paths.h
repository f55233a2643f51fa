/*
 * saga_paths.h - the saga paths a load test's clients take (tests/e2e_saga_load.c,
 * tests/e2e_cluster.c): each order takes one path at random - pay OK, pay declined, cancel
 * before paying, cancel after paying, pay then refund one item, too much quantity, let the
 * payment deadline pass, two concurrent confirms with different keys (one capture at most), or
 * a confirm racing a cancel (either CONFIRMED, or CANCELLED with the money refunded) - through
 * the public HTTP APIs (saga.h); then where each path must end, and a tally of the ends.
 *
 * Safe from several client threads (each with its own struct saga_path_client and orders).
 * No cmocka assertions: problems are recorded in the order (error) and printed by the judge.
 */
#ifndef SAGA_PATHS_H
#define SAGA_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "saga.h"

enum saga_path {
    SAGA_P_PAY_OK,
    SAGA_P_DECLINED,
    SAGA_P_CANCEL_BEFORE,
    SAGA_P_CANCEL_AFTER,
    SAGA_P_REFUND,
    SAGA_P_TOO_MUCH,
    SAGA_P_TIMEOUT,
    SAGA_P_DOUBLE_PAY,
    SAGA_P_PAY_CANCEL_RACE,
    SAGA_NPATHS
};

extern const char *const saga_path_names[SAGA_NPATHS];

/* One order of a client: its path, what the client's requests answered, how it ended. */
struct saga_path_order {
    enum saga_path path;
    char id[64];
    long place_status;
    long pay_status;
    long pay2_status;   /* the second, concurrent confirm (double-pay) */
    long action_status; /* cancel or refund */
    char final[32];
    char reason[48];
    char error[160]; /* the first problem a request met ("" when none) */
};

/* One client: its user, what it orders with (borrowed; set by the test) and its orders. */
struct saga_path_client {
    const struct saga_stack *st;
    struct saga_user user; /* signed up by saga_path_client_init() */
    const long long *skus; /* the SKUs to order from */
    size_t nskus;
    int too_much; /* a quantity above any SKU's stock (the too-much path) */
    int step_ms;  /* the wait for one saga step */
    unsigned seed;
    void (*on_placed)(void *arg); /* called after each order was placed (may be NULL) */
    void *arg;
    int norders;
    struct saga_path_order *orders; /* norders, owned: saga_path_client_release() */
};

/* Signs up the client's user ("<@who>_…") and allocates @norders orders; the other members are
 * the caller's. 0 or -EIO. */
int saga_path_client_init(struct saga_path_client *c, const char *who, int norders);

/* Frees the orders. */
void saga_path_client_release(struct saga_path_client *c);

/* Records the first problem of @o (later ones are dropped). */
void saga_path_error(struct saga_path_order *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Picks a path and one or two lines at random (c->seed), places the order and drives it along
 * the path; what happened goes into @o. */
void saga_path_run(struct saga_path_client *c, struct saga_path_order *o);

/* Waits until each placed order of @c is terminal or the monotonic @deadline_ms passes; the
 * final statuses and reasons into its orders. */
void saga_path_settle(struct saga_path_client *c, int64_t deadline_ms);

/* Whether @o's final status is what its path must end in. */
bool saga_path_ok(const struct saga_path_order *o);

/* The ends of a run per path, and the problems found. */
struct saga_path_tally {
    int ends[SAGA_NPATHS][6]; /* CONFIRMED CANCELLED FAILED PARTIALLY_REFUNDED REFUNDED other */
    int orders, errors, pending, wrong;
};

/* Counts the orders of @c (client number @index) into @t; prints (stderr) each client error,
 * non-terminal order and wrong end. */
void saga_path_judge(struct saga_path_tally *t, const struct saga_path_client *c, int index);

/* Prints the table of ends per path, each line starting with @label. */
void saga_path_tally_print(const struct saga_path_tally *t, const char *label);

/* The monotonic clock in ms (the deadlines above). */
int64_t saga_path_now_ms(void);

/* A category "<@prefix>_…" with @n products of @stock units each (prices 1000 + 700·i, one SKU
 * each; ids into @ret_skus), waited until inventory knows every SKU (@timeout_ms each).
 * 0 or -EIO. */
int saga_path_products(const struct saga_stack *st, const char *prefix, int n, int stock,
                       int timeout_ms, long long *ret_skus);

/* The integer environment variable @name clamped to @min … @max, @def when unset. */
int saga_path_env_int(const char *name, int def, int min, int max);

#endif
