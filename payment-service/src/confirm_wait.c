/* confirm_wait.c - the waiting room of confirms ahead of their payment (confirm_wait.h). */
#include "confirm_wait.h"

int pay_wait_init(struct pay_wait *w, int max)
{
    w->gen = 0;
    w->waiting = 0;
    w->max = max;
    if (pthread_mutex_init(&w->lock, NULL) != 0)
        return -1;
    w->bell = http_bell_new();
    if (!w->bell) {
        pthread_mutex_destroy(&w->lock);
        return -1;
    }
    return 0;
}

void pay_wait_release(struct pay_wait *w)
{
    http_bell_free(w->bell);
    w->bell = NULL;
    pthread_mutex_destroy(&w->lock);
}

bool pay_wait_enter(struct pay_wait *w)
{
    bool ok;

    pthread_mutex_lock(&w->lock);
    ok = w->waiting < w->max;
    if (ok)
        w->waiting++;
    pthread_mutex_unlock(&w->lock);
    return ok;
}

void pay_wait_leave(struct pay_wait *w)
{
    pthread_mutex_lock(&w->lock);
    w->waiting--;
    pthread_mutex_unlock(&w->lock);
}

unsigned long pay_wait_gen(struct pay_wait *w)
{
    unsigned long gen;

    pthread_mutex_lock(&w->lock);
    gen = w->gen;
    pthread_mutex_unlock(&w->lock);
    return gen;
}

void pay_wait_notify(struct pay_wait *w)
{
    pthread_mutex_lock(&w->lock);
    w->gen++;
    pthread_mutex_unlock(&w->lock);
    http_bell_ring(w->bell);
}

int pay_wait_count(struct pay_wait *w)
{
    int n;

    pthread_mutex_lock(&w->lock);
    n = w->waiting;
    pthread_mutex_unlock(&w->lock);
    return n;
}
