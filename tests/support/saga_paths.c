/* saga_paths.c - the saga paths of the load tests' clients (saga_paths.h). */
#include "saga_paths.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const saga_path_names[SAGA_NPATHS] = {"pay-ok",       "declined",   "cancel-before",
                                                  "cancel-after", "refund-one", "too-much",
                                                  "timeout",      "double-pay", "pay-cancel-race"};

int64_t saga_path_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void saga_path_error(struct saga_path_order *o, const char *fmt, ...)
{
    va_list ap;

    if (o->error[0])
        return; /* the first error is the interesting one */
    va_start(ap, fmt);
    vsnprintf(o->error, sizeof(o->error), fmt, ap);
    va_end(ap);
}

static long long paths__payable(struct saga_path_client *c, struct saga_path_order *o)
{
    cJSON *j = NULL;
    long long amount = -1;

    if (saga_order_get(c->st, c->user.token, o->id, &j) == 200)
        amount = saga_order_payable(j);
    cJSON_Delete(j);
    return amount;
}

static void paths__pay(struct saga_path_client *c, struct saga_path_order *o, const char *key)
{
    long long amount = paths__payable(c, o);

    if (amount <= 0) {
        saga_path_error(o, "no payable amount");
        return;
    }
    o->pay_status = saga_pay(c->st, c->user.token, o->id, amount, key, c->step_ms, NULL, 0);
}

/* One request of a concurrent pair: a confirm (with @key) or, when @key is NULL, a cancel. */
struct paths_racer {
    struct saga_path_client *c;
    struct saga_path_order *o;
    long long amount;
    const char *key;
    long status;
    pthread_t thread;
};

static void *paths__racer_main(void *arg)
{
    struct paths_racer *r = arg;

    if (r->key)
        r->status = saga_pay(r->c->st, r->c->user.token, r->o->id, r->amount, r->key, r->c->step_ms,
                             NULL, 0);
    else
        r->status = saga_order_cancel(r->c->st, r->c->user.token, r->o->id);
    return NULL;
}

/* Runs @a and @b at the same time (the first in a new thread). */
static void paths__race(struct paths_racer *a, struct paths_racer *b)
{
    if (pthread_create(&a->thread, NULL, paths__racer_main, a) != 0) {
        paths__racer_main(a);
        paths__racer_main(b);
        return;
    }
    paths__racer_main(b);
    pthread_join(a->thread, NULL);
}

static void paths__refund(struct saga_path_client *c, struct saga_path_order *o, const char *key)
{
    char item[64], status[32];
    const char *items[1] = {item};
    cJSON *j = NULL;

    paths__pay(c, o, key);
    if (o->pay_status != 200) {
        saga_path_error(o, "pay: %ld", o->pay_status);
        return;
    }
    if (saga_order_wait(c->st, c->user.token, o->id, "CONFIRMED", c->step_ms, status,
                        sizeof(status), &j) < 0) {
        saga_path_error(o, "not CONFIRMED for the refund (last %s)", status);
        cJSON_Delete(j);
        return;
    }
    if (saga_order_item(j, 0, item, sizeof(item), NULL) < 0) {
        saga_path_error(o, "no items in the order body");
        cJSON_Delete(j);
        return;
    }
    cJSON_Delete(j);
    o->action_status = saga_order_refund(c->st, c->user.token, o->id, items, 1);
    if (o->action_status / 100 != 2)
        saga_path_error(o, "refund: %ld", o->action_status);
}

static void paths__double_pay(struct saga_path_client *c, struct saga_path_order *o,
                              const char *key)
{
    char key2[64];
    struct paths_racer a = {c, o, paths__payable(c, o), key, 0, 0}, b = a;

    snprintf(key2, sizeof(key2), "%s_bis", key);
    b.key = key2;
    /* both wait for the payment to exist first, so they really meet at READY */
    saga_order_wait(c->st, c->user.token, o->id, "PAYMENT_PENDING", c->step_ms, NULL, 0, NULL);
    paths__race(&a, &b);
    o->pay_status = a.status;
    o->pay2_status = b.status;
    /* one capture: one 200, the other refused (409, or 200 replayed is a double capture the
     * checker would see) */
    if ((a.status == 200) + (b.status == 200) != 1)
        saga_path_error(o, "double pay: %ld and %ld", a.status, b.status);
}

static void paths__pay_cancel_race(struct saga_path_client *c, struct saga_path_order *o,
                                   const char *key)
{
    struct paths_racer a = {c, o, paths__payable(c, o), key, 0, 0}, b = {c, o, 0, NULL, 0, 0};

    saga_order_wait(c->st, c->user.token, o->id, "PAYMENT_PENDING", c->step_ms, NULL, 0, NULL);
    paths__race(&a, &b);
    o->pay_status = a.status;
    o->action_status = b.status;
}

void saga_path_run(struct saga_path_client *c, struct saga_path_order *o)
{
    struct saga_line lines[2];
    size_t n = 1 + (size_t)(rand_r(&c->seed) % 2);
    char key[48];

    o->path = (enum saga_path)(rand_r(&c->seed) % SAGA_NPATHS);
    for (size_t i = 0; i < n; i++) {
        lines[i].sku = c->skus[(size_t)rand_r(&c->seed) % c->nskus];
        lines[i].quantity = 1 + rand_r(&c->seed) % 3;
    }
    if (n == 2 && lines[1].sku == lines[0].sku)
        n = 1;
    if (o->path == SAGA_P_TOO_MUCH)
        lines[0].quantity = c->too_much;
    o->place_status =
        saga_order_place(c->st, &c->user, lines, n, NULL, NULL, c->step_ms, o->id, sizeof(o->id));
    if (o->place_status != 201 && o->place_status != 200) {
        saga_path_error(o, "POST /api/orders: %ld", o->place_status);
        return;
    }
    if (c->on_placed)
        c->on_placed(c->arg);
    snprintf(key, sizeof(key), "card_%u", (unsigned)rand_r(&c->seed));
    switch (o->path) {
    case SAGA_P_PAY_OK:
        paths__pay(c, o, key);
        if (o->pay_status != 200)
            saga_path_error(o, "pay: %ld", o->pay_status);
        break;
    case SAGA_P_DECLINED:
        paths__pay(c, o, "fail_CARD");
        if (o->pay_status != 402)
            saga_path_error(o, "declined pay: %ld", o->pay_status);
        break;
    case SAGA_P_CANCEL_BEFORE:
        o->action_status = saga_order_cancel(c->st, c->user.token, o->id);
        if (o->action_status / 100 != 2)
            saga_path_error(o, "cancel: %ld", o->action_status);
        break;
    case SAGA_P_CANCEL_AFTER:
        paths__pay(c, o, key);
        if (o->pay_status != 200)
            saga_path_error(o, "pay: %ld", o->pay_status);
        /* 409 when the order was CONFIRMED first: allowed, it then stays CONFIRMED */
        o->action_status = saga_order_cancel(c->st, c->user.token, o->id);
        if (o->action_status / 100 != 2 && o->action_status != 409)
            saga_path_error(o, "cancel after pay: %ld", o->action_status);
        break;
    case SAGA_P_REFUND:
        paths__refund(c, o, key);
        break;
    case SAGA_P_DOUBLE_PAY:
        paths__double_pay(c, o, key);
        break;
    case SAGA_P_PAY_CANCEL_RACE:
        paths__pay_cancel_race(c, o, key);
        break;
    case SAGA_P_TOO_MUCH:
    case SAGA_P_TIMEOUT:
    case SAGA_NPATHS:
        break;
    }
}

void saga_path_settle(struct saga_path_client *c, int64_t deadline_ms)
{
    for (int i = 0; i < c->norders; i++) {
        struct saga_path_order *o = &c->orders[i];
        int64_t left = deadline_ms - saga_path_now_ms();
        cJSON *j = NULL;

        if (!o->id[0])
            continue;
        saga_order_wait(c->st, c->user.token, o->id, NULL, left > 0 ? (int)left : 0, o->final,
                        sizeof(o->final), &j);
        snprintf(o->reason, sizeof(o->reason), "%s", j ? saga_order_reason(j) : "");
        cJSON_Delete(j);
    }
}

bool saga_path_ok(const struct saga_path_order *o)
{
    const char *s = o->final;

    switch (o->path) {
    case SAGA_P_PAY_OK:
        return !strcmp(s, "CONFIRMED");
    case SAGA_P_DECLINED:
        return !strcmp(s, "CANCELLED") && !strcmp(o->reason, "PAYMENT_FAILED");
    case SAGA_P_CANCEL_BEFORE:
        return !strcmp(s, "CANCELLED");
    case SAGA_P_CANCEL_AFTER:
        return !strcmp(s, "CANCELLED") || (o->action_status == 409 && !strcmp(s, "CONFIRMED"));
    case SAGA_P_REFUND:
        return !strcmp(s, "PARTIALLY_REFUNDED") || !strcmp(s, "REFUNDED");
    case SAGA_P_TOO_MUCH:
        return !strcmp(s, "FAILED");
    case SAGA_P_TIMEOUT:
        return !strcmp(s, "CANCELLED") && !strcmp(o->reason, "PAYMENT_TIMEOUT");
    case SAGA_P_DOUBLE_PAY:
        return !strcmp(s, "CONFIRMED");
    case SAGA_P_PAY_CANCEL_RACE:
        /* the cancel won (whatever the confirm answered: the money is refunded, which the
         * checker verifies), or it came too late (409) after a successful confirm */
        return !strcmp(s, "CANCELLED") ||
               (!strcmp(s, "CONFIRMED") && o->pay_status == 200 && o->action_status == 409);
    case SAGA_NPATHS:
        break;
    }
    return false;
}

static void paths__judge(struct saga_path_tally *t, const struct saga_path_order *o,
                         const char *who)
{
    static const char *const finals[5] = {"CONFIRMED", "CANCELLED", "FAILED", "PARTIALLY_REFUNDED",
                                          "REFUNDED"};
    int k = 5;

    for (int s = 0; s < 5; s++) {
        if (!strcmp(o->final, finals[s]))
            k = s;
    }
    t->ends[o->path][k]++;
    t->orders++;
    if (!o->id[0] || o->error[0]) {
        t->errors++;
        fprintf(stderr, "  %s (%s) %s: %s\n", who, saga_path_names[o->path], o->id[0] ? o->id : "-",
                o->error);
    } else if (!saga_status_terminal(o->final)) {
        t->pending++;
        fprintf(stderr, "  NOT TERMINAL: %s %s (%s) stuck at %s\n", who, o->id,
                saga_path_names[o->path], o->final);
    } else if (!saga_path_ok(o)) {
        t->wrong++;
        fprintf(stderr, "  WRONG END: %s %s (%s) ended %s %s (pay %ld / %ld, action %ld)\n", who,
                o->id, saga_path_names[o->path], o->final, o->reason, o->pay_status, o->pay2_status,
                o->action_status);
    }
}

void saga_path_judge(struct saga_path_tally *t, const struct saga_path_client *c, int index)
{
    for (int i = 0; i < c->norders; i++) {
        char who[48];

        snprintf(who, sizeof(who), "client %d order %d", index, i);
        paths__judge(t, &c->orders[i], who);
    }
}

void saga_path_tally_print(const struct saga_path_tally *t, const char *label)
{
    printf("%s: %-15s %9s %9s %6s %9s %8s %5s\n", label, "path", "CONFIRMED", "CANCELLED", "FAILED",
           "PART_REF", "REFUNDED", "other");
    for (int p = 0; p < SAGA_NPATHS; p++)
        printf("%s: %-15s %9d %9d %6d %9d %8d %5d\n", label, saga_path_names[p], t->ends[p][0],
               t->ends[p][1], t->ends[p][2], t->ends[p][3], t->ends[p][4], t->ends[p][5]);
    fflush(stdout);
}

int saga_path_client_init(struct saga_path_client *c, const char *who, int norders)
{
    c->norders = norders;
    c->orders = calloc((size_t)norders, sizeof(*c->orders));
    if (!c->orders)
        return -EIO;
    return saga_user_new(c->st, who, &c->user);
}

void saga_path_client_release(struct saga_path_client *c)
{
    free(c->orders);
    c->orders = NULL;
    c->norders = 0;
}

int saga_path_products(const struct saga_stack *st, const char *prefix, int n, int stock,
                       int timeout_ms, long long *ret_skus)
{
    char name[64];
    long long cat;

    ts_unique(prefix, name, sizeof(name));
    if (saga_category_new(st, name, &cat) < 0)
        return -EIO;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "%s product %d", prefix, i);
        if (saga_product_new(st, cat, name, 1000 + 700 * i, stock, &ret_skus[i]) < 0)
            return -EIO;
    }
    for (int i = 0; i < n; i++) {
        if (saga_stock_wait(st, ret_skus[i], timeout_ms) < 0)
            return -EIO;
    }
    return 0;
}

int saga_path_env_int(const char *name, int def, int min, int max)
{
    const char *v = getenv(name);
    int n = v && *v ? atoi(v) : def;

    return n < min ? min : n > max ? max : n;
}
