/*
 * it_kafka_pool.c - the consumer's worker pool (kafka_consumer.h, opts.workers) against the
 * broker in KAFKA_BOOTSTRAP: one key's events in offset order and never in two workers at once
 * while different keys overlap; the committed offset never passing an unfinished message; a
 * stop in the middle of work followed by a restart losing nothing and repeating only what was
 * at or after the lowest unfinished message; retries holding back only their key; max_attempts
 * to the DLQ while the partition goes on; KAFKA_UNAVAILABLE never to the DLQ.
 * Topics, producer and DLQ readers are it_kafka.c's (included without its tests' main).
 */
#include <inttypes.h>

#define IT_KAFKA_NO_MAIN 1
#pragma GCC diagnostic ignored "-Wunused-function" /* it_kafka.c's tests run in it_kafka */
#include "it_kafka.c"

#define POOL_MAX_CALLS 1024
#define POOL_WORKERS 4

/* One handler call, recorded when it returns. */
struct pcall {
    char key[32];
    int32_t partition;
    int64_t offset;
    int attempt;
    enum kafka_result res;
    int run; /* pool_app.run when it was made */
};

struct pool_app {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct pcall calls[POOL_MAX_CALLS];
    int ncalls;
    int run;               /* which consumer run (the test sets it) */
    int running;           /* handlers running now */
    int max_running;       /* most handlers seen running at once */
    bool await_overlap;    /* a handler alone waits (up to a deadline) for a second one */
    char busy[64][32];     /* keys in a handler now */
    bool same_key_at_once; /* a key entered a handler while in one */
    bool gate_open;        /* "slow" waits for it */
    int slow_in;           /* "slow" handlers entered */
    bool down;             /* "down" answers KAFKA_UNAVAILABLE while set */
};

static void pool_app_init(struct pool_app *app)
{
    memset(app, 0, sizeof(*app));
    pthread_mutex_init(&app->lock, NULL);
    pthread_cond_init(&app->changed, NULL);
}

static void pool_app_release(struct pool_app *app)
{
    pthread_cond_destroy(&app->changed);
    pthread_mutex_destroy(&app->lock);
}

/* An absolute CLOCK_REALTIME time @ms from now. */
static struct timespec pool_until(int ms)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return until;
}

/* Completed (KAFKA_OK) calls of keys other than @key since @key's first call (0 before it),
 * under app->lock. */
static int pool_others_after_first(const struct pool_app *app, const char *key)
{
    int i, n = 0;
    bool seen = false;

    for (i = 0; i < app->ncalls; i++) {
        if (strcmp(app->calls[i].key, key) == 0)
            seen = true;
        else if (seen)
            n += app->calls[i].res == KAFKA_OK;
    }
    return n;
}

/* Whether key @key's handler has been called (and recorded). Under app->lock. */
static bool pool_called(const struct pool_app *app, const char *key)
{
    for (int i = 0; i < app->ncalls; i++)
        if (strcmp(app->calls[i].key, key) == 0)
            return true;
    return false;
}

/* data.mode: "ok"; "slow" (waits for app->gate_open); "down" (KAFKA_UNAVAILABLE while
 * app->down); "retry" (always KAFKA_RETRY); "retry-until-other" (KAFKA_RETRY until another
 * key's event was handled after its first call); "after-r" (OK once key "r" was called: it
 * cannot all be over before "r" starts retrying, whatever the scheduling); "down-until"
 * (KAFKA_UNAVAILABLE until its data.n-th call). Runs on the pool's threads: records, never
 * asserts. */
static enum kafka_result pool_handler(const struct event *ev, const struct kafka_record *rec,
                                      void *arg, char *errbuf, size_t errlen)
{
    struct pool_app *app = arg;
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(ev->data, "mode");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(ev->data, "n");
    const char *m = cJSON_IsString(mode) ? mode->valuestring : "ok";
    enum kafka_result res = KAFKA_OK;
    char key[32];
    int i, slot = -1, seen = 0;

    snprintf(key, sizeof(key), "%.*s", (int)rec->keylen, rec->key ? rec->key : "");
    pthread_mutex_lock(&app->lock);
    for (i = 0; i < 64; i++) {
        if (app->busy[i][0] && strcmp(app->busy[i], key) == 0)
            app->same_key_at_once = true;
        if (!app->busy[i][0] && slot < 0)
            slot = i;
    }
    if (slot >= 0)
        util_strlcpy(app->busy[slot], key, sizeof(app->busy[slot]));
    app->running++;
    if (app->running > app->max_running)
        app->max_running = app->running;
    pthread_cond_broadcast(&app->changed);
    if (app->await_overlap && app->max_running < 2) {
        struct timespec until = pool_until(DEADLINE_MS);

        while (app->max_running < 2 &&
               pthread_cond_timedwait(&app->changed, &app->lock, &until) != ETIMEDOUT)
            ;
        app->await_overlap = false; /* once is enough (and a serial consumer waits once) */
    }
    if (strcmp(m, "slow") == 0) {
        struct timespec until = pool_until(DEADLINE_MS);

        app->slow_in++;
        pthread_cond_broadcast(&app->changed);
        while (!app->gate_open &&
               pthread_cond_timedwait(&app->changed, &app->lock, &until) != ETIMEDOUT)
            ;
    } else if (strcmp(m, "after-r") == 0) {
        struct timespec until = pool_until(DEADLINE_MS);

        while (!pool_called(app, "r") &&
               pthread_cond_timedwait(&app->changed, &app->lock, &until) != ETIMEDOUT)
            ;
    } else if (strcmp(m, "down") == 0 && app->down) {
        res = KAFKA_UNAVAILABLE;
    } else if (strcmp(m, "retry") == 0) {
        res = KAFKA_RETRY;
    } else if (strcmp(m, "retry-until-other") == 0 && pool_others_after_first(app, key) == 0) {
        res = KAFKA_RETRY;
    } else if (strcmp(m, "down-until") == 0) {
        for (i = 0; i < app->ncalls; i++)
            seen += app->calls[i].offset == rec->offset && strcmp(app->calls[i].key, key) == 0;
        if (seen + 1 < (int)n->valuedouble)
            res = KAFKA_UNAVAILABLE;
    }
    if (res != KAFKA_OK)
        snprintf(errbuf, errlen, "scripted %s", m);
    if (app->ncalls < POOL_MAX_CALLS) {
        struct pcall *call = &app->calls[app->ncalls++];

        util_strlcpy(call->key, key, sizeof(call->key));
        call->partition = rec->partition;
        call->offset = rec->offset;
        call->attempt = rec->attempt;
        call->res = res;
        call->run = app->run;
    }
    app->running--;
    if (slot >= 0)
        app->busy[slot][0] = '\0';
    pthread_cond_broadcast(&app->changed);
    pthread_mutex_unlock(&app->lock);
    return res;
}

static struct kafka_consumer *pool_consumer(const char *topic, const char *group,
                                            struct pool_app *app, struct kafka_producer *dlq,
                                            int workers, int max_attempts, int backoff_base_ms,
                                            int backoff_max_ms, size_t max_buffered)
{
    const char *topics[] = {topic, NULL};
    struct kafka_consumer_opts opts = {
        .bootstrap = bootstrap,
        .group_id = group,
        .service = "it-service",
        .topics = topics,
        .types = TYPES,
        .handler = pool_handler,
        .app = app,
        .dlq_producer = dlq,
        .max_attempts = max_attempts,
        .backoff_base_ms = backoff_base_ms,
        .backoff_max_ms = backoff_max_ms,
        .auth = it_auth,
        .workers = workers,
        .max_buffered = max_buffered,
    };
    struct kafka_consumer *c;
    char err[256];

    c = kafka_consumer_start(&opts, err, sizeof(err));
    if (!c)
        fail_msg("consumer: %s", err);
    return c;
}

/* Completed (KAFKA_OK) calls of @offset of partition 0 in run @run (-1: any), under lock. */
static int pool_done(const struct pool_app *app, int64_t offset, int run)
{
    int i, n = 0;

    for (i = 0; i < app->ncalls; i++)
        n += app->calls[i].partition == 0 && app->calls[i].offset == offset &&
             app->calls[i].res == KAFKA_OK && (run < 0 || app->calls[i].run == run);
    return n;
}

/* Waits until @pred(app, arg) holds; returns whether it did before the deadline. */
static bool pool_wait(struct pool_app *app, bool (*pred)(const struct pool_app *, const void *),
                      const void *arg)
{
    struct timespec until = pool_until(DEADLINE_MS);
    bool ok;

    pthread_mutex_lock(&app->lock);
    while (!(ok = pred(app, arg)) &&
           pthread_cond_timedwait(&app->changed, &app->lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&app->lock);
    return ok;
}

/* The offsets, terminated by -1, all completed in run @run. */
struct pool_want {
    const int64_t *offsets;
    int run;
    int slow_in; /* and at least this many "slow" handlers entered */
};

static bool pool_pred_done(const struct pool_app *app, const void *arg)
{
    const struct pool_want *w = arg;

    for (const int64_t *o = w->offsets; *o >= 0; o++)
        if (pool_done(app, *o, w->run) == 0)
            return false;
    return app->slow_in >= w->slow_in;
}

static bool pool_pred_ncalls(const struct pool_app *app, const void *arg)
{
    return app->ncalls >= *(const int *)arg;
}

/* The group's committed offset of partition 0 of @topic (RD_KAFKA_OFFSET_INVALID: none). */
static int64_t pool_committed(const char *group, const char *topic)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *tps;
    rd_kafka_t *rk;
    int64_t off;
    char err[256];

    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(kafka_auth_apply(conf, it_auth, err, sizeof(err)), 0);
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(rk);
    conf = NULL; /* now owned by rk */
    tps = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tps, topic, 0);
    {
        /* a group's coordinator may still be loading its offsets: ask again until the deadline */
        int64_t deadline = util_now_mono_ms() + DEADLINE_MS;
        rd_kafka_resp_err_t e;

        while (((e = rd_kafka_committed(rk, tps, 10000)) || tps->elems[0].err) &&
               util_now_mono_ms() < deadline) {
            fprintf(stderr, "committed offset of '%s': %s; asking again\n", group,
                    rd_kafka_err2str(e ? e : tps->elems[0].err));
            util_sleep_ms(200);
        }
        assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_int_equal(tps->elems[0].err, RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    off = tps->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(tps);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return off;
}

/* What every test here makes: its topics (and "<topic>.dlq"), group, producer and app. */
struct pool_env {
    char topic[96], dlq[128], group[96];
    struct kafka_producer *p;
    struct pool_app app;
};

static struct pool_env *pool_env_new(const char *name, int partitions)
{
    struct pool_env *t = calloc(1, sizeof(*t));
    char prefix[64];

    assert_non_null(t);
    unique(name, t->topic, sizeof(t->topic));
    snprintf(prefix, sizeof(prefix), "g-%s", name);
    unique(prefix, t->group, sizeof(t->group));
    snprintf(t->dlq, sizeof(t->dlq), "%s.dlq", t->topic);
    make_topics(t->topic, partitions);
    t->p = producer(10000);
    pool_app_init(&t->app);
    t->app.run = 1;
    return t;
}

static void pool_env_free(struct pool_env *t)
{
    kafka_producer_free(t->p);
    pool_app_release(&t->app);
    free(t);
    assert_all_destroyed();
}

/* ------------------------------------------------------------------------------------------ */

#define ORDER_KEYS 24
#define ORDER_PER_KEY 6

/* Many keys on 3 partitions and 4 workers: each key's events in offset order, never two of a
 * key at once, every event once, and handlers of different keys overlapping. */
static void test_pool_key_order(void **state)
{
    struct pool_env *t = pool_env_new("it-pool-order", 3);
    struct pool_app *app = &t->app;
    char key[32];
    struct kafka_consumer *c;
    int i, k, total = ORDER_KEYS * ORDER_PER_KEY;

    (void)state;
    app->await_overlap = true;
    for (i = 0; i < ORDER_PER_KEY; i++) {
        for (k = 0; k < ORDER_KEYS; k++) {
            snprintf(key, sizeof(key), "order-%02d", k);
            send_event(t->p, t->topic, key, "order.placed", 1, "ok", 0, NULL);
        }
    }
    c = pool_consumer(t->topic, t->group, app, t->p, POOL_WORKERS, 3, 20, 80, 0);
    assert_true(pool_wait(app, pool_pred_ncalls, &total));
    kafka_consumer_stop(c);

    assert_int_equal(app->ncalls, total); /* each once */
    assert_false(app->same_key_at_once);
    assert_true(app->max_running >= 2);
    for (k = 0; k < ORDER_KEYS; k++) {
        int64_t last = -1;
        int32_t part = -1;
        int n = 0;

        snprintf(key, sizeof(key), "order-%02d", k);
        for (i = 0; i < app->ncalls; i++) {
            const struct pcall *call = &app->calls[i];

            if (strcmp(call->key, key) != 0)
                continue;
            assert_int_equal(call->res, KAFKA_OK);
            if (part >= 0)
                assert_int_equal(call->partition, part); /* one key, one partition */
            part = call->partition;
            if (call->offset <= last)
                fail_msg("key %s: offset %" PRId64 " after %" PRId64, key, call->offset, last);
            last = call->offset;
            n++;
        }
        assert_int_equal(n, ORDER_PER_KEY);
    }
    pool_env_free(t);
}

struct pool_stopper {
    struct kafka_consumer *c;
    struct pool_app *app;
    bool started;
};

/* Stops the consumer (as SIGTERM does) on its own thread: the test opens the gate meanwhile. */
static void *pool_stop_main(void *arg)
{
    struct pool_stopper *s = arg;

    pthread_mutex_lock(&s->app->lock);
    s->started = true;
    pthread_cond_broadcast(&s->app->changed);
    pthread_mutex_unlock(&s->app->lock);
    kafka_consumer_stop(s->c);
    return NULL;
}

static bool pool_pred_stopper(const struct pool_app *app, const void *arg)
{
    (void)app;
    return ((const struct pool_stopper *)arg)->started;
}

/*
 * Offset safety and drain. One partition:
 *   0 a ok | 1 s slow (in its handler at the stop) | 2 b ok | 3 r down (waits for a retry at the
 *   stop) | 4..7 c..f ok | 8 r ok (behind 3) | 9 s ok (behind 1)
 * While 1 and 3 are unfinished, 4..7 finish but 8 and 9 do not start. Stopped with 1 in its
 * handler: 1 finishes, and the commit is 3 (the lowest unfinished), though 4..7 are done. After
 * a restart (and a marker at 10) everything from 3 is handled; nothing below 3 twice.
 */
static void test_pool_offsets_and_stop(void **state)
{
    struct pool_env *t = pool_env_new("it-pool-safe", 1);
    struct pool_app *app = &t->app;
    static const int64_t first[] = {0, 2, 4, 5, 6, 7, -1};
    static const int64_t second[] = {3, 4, 5, 6, 7, 8, 9, 10, -1};
    static const char *const keys[] = {"a", "s", "b", "r", "c", "d", "e", "f", "r", "s"};
    static const char *const modes[] = {"ok", "slow", "ok", "down", "ok",
                                        "ok", "ok",   "ok", "ok",   "ok"};
    struct pool_want want1 = {first, 1, 1}, want2 = {second, 2, 0};
    struct pool_stopper stopper;
    pthread_t th;
    int64_t committed;
    int i;

    (void)state;
    app->down = true;
    for (i = 0; i < 10; i++)
        send_event(t->p, t->topic, keys[i], "order.placed", 1, modes[i], 0, NULL);
    /* long backoffs: 3 waits for its retry when the stop comes */
    stopper.c = pool_consumer(t->topic, t->group, app, t->p, POOL_WORKERS, 3, 60000, 60000, 0);
    stopper.app = app;
    stopper.started = false;

    assert_true(pool_wait(app, pool_pred_done, &want1));
    pthread_mutex_lock(&app->lock);
    assert_int_equal(pool_done(app, 8, -1), 0); /* behind 3 of its key */
    assert_int_equal(pool_done(app, 9, -1), 0); /* behind 1 of its key */
    assert_int_equal(pool_done(app, 1, -1), 0);
    pthread_mutex_unlock(&app->lock);

    /* the stop, with 1 in its handler: it finishes, then the commit */
    assert_int_equal(pthread_create(&th, NULL, pool_stop_main, &stopper), 0);
    assert_true(pool_wait(app, pool_pred_stopper, &stopper));
    pthread_mutex_lock(&app->lock);
    app->gate_open = true;
    pthread_cond_broadcast(&app->changed);
    pthread_mutex_unlock(&app->lock);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(pool_done(app, 1, 1), 1);
    assert_false(app->same_key_at_once);
    committed = pool_committed(t->group, t->topic);
    assert_int_equal(committed, 3); /* 4..7 are done, 3 is not */

    /* the restart: 3 onwards again (3 and 8 for the first time), nothing below 3 again */
    app->run = 2;
    app->down = false;
    stopper.c = pool_consumer(t->topic, t->group, app, t->p, POOL_WORKERS, 3, 20, 80, 0);
    send_event(t->p, t->topic, "z", "order.placed", 1, "ok", 0, NULL);
    assert_true(pool_wait(app, pool_pred_done, &want2));
    kafka_consumer_stop(stopper.c);
    for (i = 0; i < 3; i++)
        assert_int_equal(pool_done(app, i, -1), 1);
    assert_int_equal(pool_done(app, 3, -1), 1);
    assert_int_equal(pool_done(app, 8, -1), 1);
    for (i = 4; i <= 10; i++)
        assert_int_equal(pool_done(app, i, 2), 1); /* at-least-once of what was at/after 3 */
    assert_false(app->same_key_at_once);
    assert_int_equal(pool_committed(t->group, t->topic), 11);
    pool_env_free(t);
}

/* KAFKA_RETRY holds back its key only: its later events wait, another key's go on meanwhile
 * (the retried one answers RETRY until then), and nothing is dead-lettered. */
static void test_pool_retry_keeps_key_order(void **state)
{
    struct pool_env *t = pool_env_new("it-pool-retry", 1);
    struct pool_app *app = &t->app;
    static const int64_t want_offsets[] = {0, 1, 2, 3, 4, 5, -1};
    struct pool_want want = {want_offsets, 1, 0};
    struct kafka_consumer *c;
    int i, tries = 0, after = 0, ok0 = -1;
    bool other_first = false;

    (void)state;
    send_event(t->p, t->topic, "r", "order.placed", 1, "retry-until-other", 0, NULL); /* 0 */
    send_event(t->p, t->topic, "r", "order.placed", 1, "ok", 0, NULL);                /* 1 */
    send_event(t->p, t->topic, "r", "order.cancelled", 1, "ok", 0, NULL);             /* 2 */
    send_event(t->p, t->topic, "o1", "order.placed", 1, "after-r", 0, NULL);          /* 3 */
    send_event(t->p, t->topic, "o2", "order.placed", 1, "after-r", 0, NULL);          /* 4 */
    send_event(t->p, t->topic, "o3", "order.placed", 1, "after-r", 0, NULL);          /* 5 */
    c = pool_consumer(t->topic, t->group, app, t->p, POOL_WORKERS, 8, 20, 80, 0);
    assert_true(pool_wait(app, pool_pred_done, &want));
    kafka_consumer_stop(c);

    /* "r": offset 0 with attempts 1, 2, … until its OK, then 1 and 2 once each */
    for (i = 0; i < app->ncalls; i++) {
        const struct pcall *call = &app->calls[i];

        if (strcmp(call->key, "r") != 0) {
            other_first = other_first || (call->res == KAFKA_OK && tries > 0 && ok0 < 0);
            continue;
        }
        if (ok0 < 0) {
            assert_int_equal(call->offset, 0);
            assert_int_equal(call->attempt, ++tries);
            if (call->res == KAFKA_OK)
                ok0 = i;
            else
                assert_int_equal(call->res, KAFKA_RETRY);
        } else {
            assert_int_equal(call->offset, ++after);
            assert_int_equal(call->attempt, 1);
        }
    }
    assert_true(ok0 >= 0);
    assert_true(tries >= 2); /* it was retried */
    assert_int_equal(after, 2);
    assert_true(other_first); /* another key was handled while "r" waited */
    assert_false(app->same_key_at_once);
    assert_int_equal(high_watermark(t->dlq), 0);
    assert_int_equal(pool_committed(t->group, t->topic), 6);
    pool_env_free(t);
}

/* max_attempts (3) of KAFKA_RETRY → the DLQ, and the key and partition go on; a dependency
 * outage longer than max_attempts deliveries (KAFKA_UNAVAILABLE) never reaches the DLQ. */
static void test_pool_dlq_and_unavailable(void **state)
{
    struct pool_env *t = pool_env_new("it-pool-dlq", 1);
    struct pool_app *app = &t->app;
    static const int64_t want_offsets[] = {1, 2, 3, 4, -1};
    struct pool_want want = {want_offsets, 1, 0};
    char id[64];
    struct kafka_consumer *c;
    struct rec recs[1] = {{.key = NULL}};
    int i, x = 0, u = 0;

    (void)state;
    send_event(t->p, t->topic, "x", "order.placed", 1, "retry", 0, id);        /* 0 */
    send_event(t->p, t->topic, "x", "order.placed", 1, "ok", 0, NULL);         /* 1 */
    send_event(t->p, t->topic, "u", "order.placed", 1, "down-until", 6, NULL); /* 2 */
    send_event(t->p, t->topic, "u", "order.cancelled", 1, "ok", 0, NULL);      /* 3 */
    send_event(t->p, t->topic, "o", "order.placed", 1, "ok", 0, NULL);         /* 4 */
    c = pool_consumer(t->topic, t->group, app, t->p, POOL_WORKERS, 3, 20, 80, 0);
    assert_true(pool_wait(app, pool_pred_done, &want));
    kafka_consumer_stop(c);

    for (i = 0; i < app->ncalls; i++) {
        const struct pcall *call = &app->calls[i];

        if (strcmp(call->key, "x") == 0) {
            /* 0 three times (attempts 1..3), then 1 */
            assert_int_equal(call->offset, x < 3 ? 0 : 1);
            assert_int_equal(call->attempt, x < 3 ? x + 1 : 1);
            x++;
        } else if (strcmp(call->key, "u") == 0) {
            /* 2 six times, its attempt never counted up, then 3 */
            assert_int_equal(call->offset, u < 6 ? 2 : 3);
            assert_int_equal(call->attempt, 1);
            u++;
        }
    }
    assert_int_equal(x, 4);
    assert_int_equal(u, 7);
    assert_int_equal(read_topic(t->dlq, recs, 1, DEADLINE_MS), 1);
    check_dlq_headers(&recs[0], t->topic, "3", "scripted retry");
    assert_string_equal(rec_header(&recs[0], "ce_id"), id);
    recs_free(recs, 1);
    assert_int_equal(high_watermark(t->dlq), 1); /* the outage sent nothing there */
    assert_int_equal(pool_committed(t->group, t->topic), 5);
    pool_env_free(t);
}

/* Messages done behind an unfinished one stay buffered: at opts.max_buffered (16) the
 * partition's fetching pauses, so with the partition's first message in its handler at most 15
 * later ones run; once it finishes, the rest follows. */
static void test_pool_buffer_cap(void **state)
{
    struct pool_env *t = pool_env_new("it-pool-cap", 1);
    struct pool_app *app = &t->app;
    static const int64_t none[] = {-1};
    struct pool_want slow = {none, 1, 1};
    char key[32];
    struct kafka_consumer *c;
    int i, others = 15, all = 61, done;

    (void)state;
    send_event(t->p, t->topic, "s", "order.placed", 1, "slow", 0, NULL);
    for (i = 1; i < all; i++) {
        snprintf(key, sizeof(key), "k%02d", i);
        send_event(t->p, t->topic, key, "order.placed", 1, "ok", 0, NULL);
    }
    c = pool_consumer(t->topic, t->group, app, t->p, POOL_WORKERS, 3, 20, 80, 16);
    assert_true(pool_wait(app, pool_pred_done, &slow));
    /* calls are recorded as they return: the slow one's is not among them yet */
    assert_true(pool_wait(app, pool_pred_ncalls, &others));
    /* a broker round trip later, still no more than the buffer holds */
    assert_int_equal(high_watermark(t->topic), all);
    pthread_mutex_lock(&app->lock);
    done = app->ncalls;
    app->gate_open = true;
    pthread_cond_broadcast(&app->changed);
    pthread_mutex_unlock(&app->lock);
    assert_int_equal(done, others);
    assert_true(pool_wait(app, pool_pred_ncalls, &all));
    kafka_consumer_stop(c);
    assert_int_equal(app->ncalls, all);
    assert_int_equal(pool_committed(t->group, t->topic), all);
    pool_env_free(t);
}

int main(void)
{
    const char *only = getenv("IT_KAFKA_ONLY"); /* a test name pattern, for debugging */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_key_order),
        cmocka_unit_test(test_pool_offsets_and_stop),
        cmocka_unit_test(test_pool_retry_keeps_key_order),
        cmocka_unit_test(test_pool_dlq_and_unavailable),
        cmocka_unit_test(test_pool_buffer_cap),
    };

    if (only)
        cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, setup, teardown);
}
