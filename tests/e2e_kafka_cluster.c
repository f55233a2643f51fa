/*
 * e2e_kafka_cluster.c - issue 13: the saga rides through a Kafka broker's death. The six
 * services (tests/support/saga.h) run on a private 3-node KRaft cluster (ts_kafka_cluster_start:
 * replication factor 3, min.insync.replicas 2) next to the harness's MariaDB and Redis, while
 * client threads place and pay orders continuously:
 *
 *   1. with all three nodes up, the run's topics have 3 replicas in sync and orders go through;
 *   2. node 1 is killed (SIGKILL); orders placed after the kill still reach CONFIRMED while it
 *      is down (the partitions it led get new leaders; the producers' acks=all is met by the
 *      two in sync; the consumer groups whose coordinator it was find the next one);
 *   3. 15 s after the kill it is started again and rejoins: every partition has 3 in sync
 *      replicas again;
 *   4. the clients stop; every order placed reaches CONFIRMED, the relays' backlogs are empty
 *      and no consumer has lag (commerce_outbox_backlog, commerce_consumer_lag of /metrics), and
 *      tools/check-invariants holds.
 * Needs the Apache broker (skipped with the mock one). Every wait is a poll with a deadline;
 * the 15 s between the kill and the restart are the scenario's.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "saga.h"
#include "testsup.h"

#define NODES 3
#define KILLED_NODE 1
#define DOWN_MS 15000 /* the scenario: the node stays dead this long */
#define CLIENTS 2
#define NPRODUCTS 4
#define STOCK 1000
#define PRICE 5000
#define MAX_ORDERS 2000
#define BEFORE_KILL 6 /* orders confirmed before the kill */
#define DURING_DOWN 4 /* orders placed after the kill confirmed while the node is down */
#define AFTER_START 4 /* orders placed after the restart */
#define STEP_MS 90000 /* a saga step (order placed → payable, pay → confirmed) */
#define PHASE_MS 120000
#define DRAIN_MS 90000
#define CHECK_MS 60000

enum phase { PH_UP, PH_DOWN, PH_RESTARTED };

struct placed {
    char id[64];
    enum phase phase;
    long place_status;
    long pay_status;
};

struct fixture;

struct client {
    struct fixture *f;
    struct saga_user user;
    unsigned seed;
    pthread_t thread;
};

struct fixture {
    char cluster[1024];
    struct saga_stack st;
    bool started;  /* the cluster runs */
    bool stack_up; /* the six services run */
    struct client clients[CLIENTS];
    int nthreads; /* client threads running */
    long long cat, skus[NPRODUCTS];
    pthread_mutex_t lock;
    struct placed orders[MAX_ORDERS];
    size_t norders;
    atomic_int phase;
    atomic_bool stop;
    atomic_int failures; /* client steps that did not answer as expected */
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the clients: place, wait until payable, pay; over and over ---- */

static void *client_main(void *arg)
{
    struct client *c = arg;
    struct fixture *f = c->f;

    while (!atomic_load(&f->stop)) {
        struct saga_line line = {f->skus[rand_r(&c->seed) % NPRODUCTS], 1};
        struct placed p = {.phase = (enum phase)atomic_load(&f->phase)};

        p.place_status =
            saga_order_place(&f->st, &c->user, &line, 1, NULL, NULL, STEP_MS, p.id, sizeof(p.id));
        if (p.place_status == 201)
            p.pay_status = saga_pay_when_pending(&f->st, c->user.token, p.id, STEP_MS, NULL);
        if (p.place_status != 201 || p.pay_status != 200) {
            fprintf(stderr, "client: order %s: place %ld, pay %ld\n", p.id, p.place_status,
                    p.pay_status);
            atomic_fetch_add(&f->failures, 1);
        }
        pthread_mutex_lock(&f->lock);
        if (f->norders < MAX_ORDERS && p.id[0])
            f->orders[f->norders++] = p;
        pthread_mutex_unlock(&f->lock);
    }
    return NULL;
}

/* ---- conditions polled ---- */

struct confirmed_cond {
    struct fixture *f;
    const char *token;
    enum phase phase;
    size_t want;
    size_t have;
};

/* True when @want orders of @phase are CONFIRMED (the clients pay them; this only reads). */
static bool confirmed_in_phase(void *arg)
{
    struct confirmed_cond *cc = arg;
    struct fixture *f = cc->f;
    size_t n, confirmed = 0;

    pthread_mutex_lock(&f->lock);
    n = f->norders;
    pthread_mutex_unlock(&f->lock);
    for (size_t i = 0; i < n && confirmed < cc->want; i++) {
        char id[64];
        cJSON *o = NULL;

        pthread_mutex_lock(&f->lock);
        if (f->orders[i].phase != cc->phase) {
            pthread_mutex_unlock(&f->lock);
            continue;
        }
        snprintf(id, sizeof(id), "%s", f->orders[i].id);
        pthread_mutex_unlock(&f->lock);
        if (saga_order_get(&f->st, cc->token, id, &o) == 200 &&
            strcmp(saga_order_status(o), "CONFIRMED") == 0)
            confirmed++;
        cJSON_Delete(o);
    }
    cc->have = confirmed;
    return confirmed >= cc->want;
}

struct elapsed_cond {
    int64_t since;
    int ms;
};

static bool elapsed(void *arg)
{
    struct elapsed_cond *e = arg;

    return now_ms() - e->since >= e->ms;
}

/* The run's four topics: the fewest replicas and in-sync replicas of any partition. */
struct replicas_cond {
    struct fixture *f;
    int want_isr;
    int min_replicas, min_isr;
};

static bool topics_replicated(void *arg)
{
    struct replicas_cond *rc = arg;
    const char *topics[] = {rc->f->st.topic_order, rc->f->st.topic_stock, rc->f->st.topic_payment,
                            rc->f->st.topic_product};
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    bool ok = true;

    rc->min_replicas = rc->min_isr = 1000;
    if (rd_kafka_conf_set(conf, "bootstrap.servers", getenv("KAFKA_BOOTSTRAP"), errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return false;
    }
    ts_kafka_conf_auth(conf);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return false;
    }
    conf = NULL; /* now owned by rk */
    for (size_t t = 0; t < sizeof(topics) / sizeof(topics[0]) && ok; t++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topics[t], NULL);

        if (!rkt || rd_kafka_metadata(rk, 0, rkt, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            md->topic_cnt != 1 || md->topics[0].partition_cnt < 1) {
            ok = false;
        } else {
            for (int p = 0; p < md->topics[0].partition_cnt; p++) {
                const rd_kafka_metadata_partition_t *part = &md->topics[0].partitions[p];
                if (part->replica_cnt < rc->min_replicas)
                    rc->min_replicas = part->replica_cnt;
                if (part->isr_cnt < rc->min_isr)
                    rc->min_isr = part->isr_cnt;
            }
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        if (rkt)
            rd_kafka_topic_destroy(rkt);
    }
    rd_kafka_destroy(rk);
    return ok && rc->min_isr >= rc->want_isr;
}

/* Sum of the values of metric @name in a Prometheus text body; *@ret_n series, *@ret_max the
 * largest value. */
static double metric_sum(const char *body, const char *name, int *ret_n, double *ret_max)
{
    size_t len = strlen(name);
    double sum = 0;

    *ret_n = 0;
    *ret_max = -1e300;
    for (const char *l = body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *v;

        if (strncmp(l, name, len) != 0 || (l[len] != '{' && l[len] != ' '))
            continue;
        v = l[len] == '{' ? strchr(l, '}') : l + len;
        if (!v)
            continue;
        double x = strtod(v + 1, NULL);
        sum += x;
        if (x > *ret_max)
            *ret_max = x;
        (*ret_n)++;
    }
    return sum;
}

struct drain_cond {
    struct fixture *f;
    char why[256];
};

/* True when every relay's backlog is 0 and no consumer partition has lag (> 0), with at least
 * one lag series seen (the statistics are there). */
static bool drained(void *arg)
{
    struct drain_cond *d = arg;
    const struct ts_service *svcs[] = {&d->f->st.catalog, &d->f->st.inventory, &d->f->st.order,
                                       &d->f->st.payment};
    int lag_series = 0;

    for (size_t i = 0; i < sizeof(svcs) / sizeof(svcs[0]); i++) {
        char url[128];
        struct ts_resp r;
        int n;
        double max, backlog;

        snprintf(url, sizeof(url), "%s/metrics", svcs[i]->url);
        if (ts_http("GET", url, NULL, NULL, NULL, &r) < 0 || r.status != 200) {
            snprintf(d->why, sizeof(d->why), "%s: no /metrics", url);
            ts_resp_free(&r);
            return false;
        }
        backlog = metric_sum(r.body, "commerce_outbox_backlog", &n, &max);
        if (backlog > 0) {
            snprintf(d->why, sizeof(d->why), "%s: outbox backlog %.0f", url, backlog);
            ts_resp_free(&r);
            return false;
        }
        metric_sum(r.body, "commerce_consumer_lag", &n, &max);
        ts_resp_free(&r);
        if (n > 0 && max > 0) {
            snprintf(d->why, sizeof(d->why), "%s: consumer lag up to %.0f", url, max);
            return false;
        }
        lag_series += n;
    }
    if (lag_series == 0) {
        snprintf(d->why, sizeof(d->why), "no commerce_consumer_lag series yet");
        return false;
    }
    return true;
}

/* ---- setup / teardown ---- */

/* Stops the client threads (they finish the order in hand). */
static void clients_stop(struct fixture *f)
{
    atomic_store(&f->stop, true);
    for (int i = 0; i < f->nthreads; i++)
        pthread_join(f->clients[i].thread, NULL);
    f->nthreads = 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    int rc;

    if (!f)
        return -1;
    pthread_mutex_init(&f->lock, NULL);
    *state = f;
    rc = ts_kafka_cluster_start(NODES, f->cluster, sizeof(f->cluster));
    if (rc == -ENOTSUP)
        return 0; /* the test skips */
    if (rc < 0)
        return -1;
    f->started = true;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = 0;

    if (!f)
        return 0;
    /* after a failed assertion: what the test left running */
    clients_stop(f);
    if (f->stack_up)
        saga_stack_stop(&f->st);
    if (f->cluster[0] && ts_kafka_cluster_stop(f->cluster) != 0)
        rc = -1;
    pthread_mutex_destroy(&f->lock);
    free(f);
    return rc;
}

/* ---- the test ---- */

static void print_orders(struct fixture *f)
{
    size_t count[3] = {0};

    for (size_t i = 0; i < f->norders; i++)
        count[f->orders[i].phase]++;
    print_message("orders: %zu with 3 nodes, %zu with node %d dead, %zu after its restart\n",
                  count[PH_UP], count[PH_DOWN], KILLED_NODE, count[PH_RESTARTED]);
}

static void test_broker_death(void **state)
{
    struct fixture *f = *state;
    struct saga_opts opts = {
        .prefix = "e2e_kcluster", .payment_deadline_s = 900, .gateway_timeout_ms = 300};
    struct client *clients = f->clients;
    const char *admin;
    char action[32], out[4096];
    int64_t killed_at, t0;

    if (!f->started)
        skip();
    assert_int_equal(
        saga_stack_start_with_user(&f->st, &opts, "kcluster", &clients[0].user, &f->cat), 0);
    f->stack_up = true;
    admin = f->st.admin_token; /* reads every order (GET /api/orders/{id} as ADMIN) */
    for (int i = 0; i < NPRODUCTS; i++) {
        char name[48];
        snprintf(name, sizeof(name), "kcluster product %d", i);
        assert_int_equal(saga_product_new(&f->st, f->cat, name, PRICE, STOCK, &f->skus[i]), 0);
        assert_int_equal(saga_stock_wait(&f->st, f->skus[i], STEP_MS), 0);
    }
    /* 1. the run's topics have a replica on every node, all in sync */
    struct replicas_cond rep = {.f = f, .want_isr = NODES};
    if (!ts_poll_until(topics_replicated, &rep, PHASE_MS))
        fail_msg("topics not replicated 3 times in sync: %d replicas, %d in sync", rep.min_replicas,
                 rep.min_isr);
    assert_int_equal(rep.min_replicas, NODES);

    for (int i = 0; i < CLIENTS; i++) {
        clients[i].f = f;
        clients[i].seed = (unsigned)time(NULL) + (unsigned)i * 7919u;
        if (i > 0)
            assert_int_equal(saga_user_new(&f->st, "kcluster", &clients[i].user), 0);
    }
    atomic_store(&f->phase, PH_UP);
    for (int i = 0; i < CLIENTS; i++) {
        assert_int_equal(pthread_create(&clients[i].thread, NULL, client_main, &clients[i]), 0);
        f->nthreads++;
    }

    struct confirmed_cond cc = {.f = f, .token = admin, .phase = PH_UP, .want = BEFORE_KILL};
    t0 = now_ms();
    if (!ts_poll_until(confirmed_in_phase, &cc, PHASE_MS))
        fail_msg("only %zu orders CONFIRMED with all nodes up", cc.have);
    print_message("%zu orders confirmed with 3 nodes in %lld ms\n", cc.have,
                  (long long)(now_ms() - t0));

    /* 2. SIGKILL one node; orders placed from now on must go through without it */
    snprintf(action, sizeof(action), "kafka-%d-kill", KILLED_NODE);
    atomic_store(&f->phase, PH_DOWN);
    assert_int_equal(ts_infra_in(f->cluster, action), 0);
    killed_at = now_ms();
    cc.phase = PH_DOWN;
    cc.want = DURING_DOWN;
    if (!ts_poll_until(confirmed_in_phase, &cc, PHASE_MS))
        fail_msg("only %zu of %d orders placed with node %d dead were CONFIRMED", cc.have,
                 DURING_DOWN, KILLED_NODE);
    print_message("%zu orders placed after the kill confirmed in %lld ms with node %d dead\n",
                  cc.have, (long long)(now_ms() - killed_at), KILLED_NODE);
    /* the node stays dead DOWN_MS in all (the scenario's time, not a synchronisation) */
    struct elapsed_cond e = {.since = killed_at, .ms = DOWN_MS};
    ts_poll_until(elapsed, &e, DOWN_MS + 1000);

    /* 3. it comes back and catches up: every partition 3 in sync again */
    snprintf(action, sizeof(action), "kafka-%d-start", KILLED_NODE);
    t0 = now_ms();
    assert_int_equal(ts_infra_in(f->cluster, action), 0);
    atomic_store(&f->phase, PH_RESTARTED);
    print_message("node %d restarted in %lld ms\n", KILLED_NODE, (long long)(now_ms() - t0));
    cc.phase = PH_RESTARTED;
    cc.want = AFTER_START;
    if (!ts_poll_until(confirmed_in_phase, &cc, PHASE_MS))
        fail_msg("only %zu orders placed after the restart CONFIRMED", cc.have);
    rep.want_isr = NODES;
    if (!ts_poll_until(topics_replicated, &rep, PHASE_MS))
        fail_msg("node %d did not rejoin: %d in sync replicas at least", KILLED_NODE, rep.min_isr);

    /* 4. stop the clients; everything placed ends CONFIRMED, nothing left behind */
    clients_stop(f);
    print_orders(f);
    assert_int_equal(atomic_load(&f->failures), 0);
    size_t stuck = 0;
    for (size_t i = 0; i < f->norders; i++) {
        char status[32] = "";
        if (saga_order_wait(&f->st, admin, f->orders[i].id, "CONFIRMED", STEP_MS, status,
                            sizeof(status), NULL) < 0) {
            print_error("order %s (phase %d) ended '%s', not CONFIRMED\n", f->orders[i].id,
                        (int)f->orders[i].phase, status);
            stuck++;
        }
    }
    assert_int_equal(stuck, 0);

    struct drain_cond d = {.f = f};
    if (!ts_poll_until(drained, &d, DRAIN_MS))
        fail_msg("the backlogs did not drain: %s", d.why);
    if (saga_check_invariants_until(&f->st, CHECK_MS, out, sizeof(out)) != 0)
        fail_msg("check-invariants: %s", out);
    f->stack_up = false;
    assert_int_equal(saga_stack_stop(&f->st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broker_death),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
