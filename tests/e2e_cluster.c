/*
 * e2e_cluster.c - issue 13 "What it must show": two instances of every service on an infra of
 * the test's own (scripts/infra.sh asked for KAFKA_NODES=3 and REDIS_SENTINELS=3, in a folder
 * under TEST_STATE_DIR, so the other suites keep the harness's single-node infra), a mixed load
 * over every saga path (tests/support/saga_paths.h) from several concurrent clients spread over
 * the instances, and faults injected at set points of the run (by the main thread, while the
 * client threads place orders):
 *
 *   20 % of the orders placed   SIGKILL of one Kafka node (infra.sh kafka-2-kill), started
 *                               again after 15 s (kafka-2-start)
 *   40 %                        SIGKILL of one instance of each service, each started again
 *   60 %                        SIGKILL of the Redis primary (redis-primary-kill); Sentinel
 *                               promotes the replica; the old primary is started again
 *
 * Then every order must be terminal and end as its path must, check-invariants must find no
 * violation, and no event may be lost: every outbox table empty, inventory's stream empty with
 * nothing pending in its relay group (check-invariants --outbox-db / --stream), and lag 0 for
 * every consumer group (committed offsets against the high watermarks). The figures (orders
 * per path, wall time, each fault with when it came and how long recovery took) are printed.
 *
 * The broker and Redis faults need the cluster infra: they run when the infra says it has it
 * (KAFKA_NODES >= 3; REDIS_SENTINELS set) and are reported as skipped otherwise; with
 * E2E_CLUSTER_REQUIRE=1 a missing cluster fails the test instead.
 * Knobs: E2E_CLUSTER_ORDERS (500), E2E_CLUSTER_CLIENTS (8), E2E_CLUSTER_DEADLINE_S (60, the
 * payment deadline: above the longest a fault holds an order's events back — a Kafka node's
 * partitions are led elsewhere after the broker session timeout, the relays' backoff meanwhile
 * grows; a shorter deadline cancels orders the client paid in time, as PAYMENT_TIMEOUT),
 * E2E_CLUSTER_SEED (random; printed).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "cluster.h"
#include "saga.h"
#include "saga_paths.h"
#include "testsup.h"

#define NPRODUCTS 6
#define STOCK 900
#define TOO_MUCH 1000 /* > STOCK, and the most order-service accepts in one line */
#define STEP_MS 120000
#define SETTLE_MS 180000 /* + the payment deadline: all orders terminal after the clients */
#define CHECK_MS 90000
#define LAG_MS 90000
#define KAFKA_DOWN_MS 15000
#define FAILOVER_MS 90000
#define MAX_CLIENTS 32
#define NFAULTS 3

struct fixture;

struct client {
    struct saga_path_client path;
    pthread_t thread;
};

/* One fault: injected once @at_pct of the orders were placed. */
struct fault {
    const char *what;
    int at_pct;
    bool enabled;
    int64_t at_ms;       /* when it was injected, from the start of the load */
    int64_t recovery_ms; /* from the kill until what was killed served again */
    int failures;
    char note[256];
};

struct fixture {
    char dir[512];
    struct saga_stack st;
    long long sku[NPRODUCTS];
    int nclients, per_client, deadline_s, total;
    unsigned seed;
    int64_t start_ms;
    atomic_int placed;
    struct fault faults[NFAULTS];
    struct client clients[MAX_CLIENTS];
};

/* Stops the services, then the infra; frees @f. The services' stop status (0: all exited 0). */
static int fixture_free(struct fixture *f)
{
    int rc = saga_stack_stop(&f->st);

    if (f->dir[0] && cluster_infra_stop(f->dir) != 0)
        print_error("cluster: infra.sh stop in %s failed\n", f->dir);
    for (int t = 0; t < f->nclients; t++)
        saga_path_client_release(&f->clients[t].path);
    free(f);
    return rc;
}

/* Counts the orders placed (the fault points). */
static void on_placed(void *arg)
{
    struct fixture *f = arg;

    atomic_fetch_add(&f->placed, 1);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct saga_opts opts = {.prefix = "e2e_cluster", .gateway_timeout_ms = 300, .instances = 2};
    const char *seed = getenv("E2E_CLUSTER_SEED");
    char name[64];

    if (!f)
        return -1;
    *state = NULL; /* a failed setup cleans up here: cmocka skips the teardown then */
    f->nclients = saga_path_env_int("E2E_CLUSTER_CLIENTS", 8, 1, MAX_CLIENTS);
    f->total = saga_path_env_int("E2E_CLUSTER_ORDERS", 500, 1, 100000);
    f->per_client = (f->total + f->nclients - 1) / f->nclients;
    f->deadline_s = saga_path_env_int("E2E_CLUSTER_DEADLINE_S", 60, 1, 3600);
    f->seed = seed && *seed ? (unsigned)strtoul(seed, NULL, 10) : (unsigned)time(NULL);
    opts.payment_deadline_s = f->deadline_s;

    /* the infra of our own; from here on the harness variables name it */
    ts_unique("e2e_cluster_infra", name, sizeof(name));
    snprintf(f->dir, sizeof(f->dir), "%s/%s", ts_env("TEST_STATE_DIR"), name);
    if (cluster_infra_start(f->dir) < 0)
        goto bad;
    print_message("cluster: infra in %s: %d Kafka node(s) (%s), Redis %s\n", f->dir,
                  cluster_kafka_nodes(), ts_env("KAFKA_BOOTSTRAP"),
                  cluster_redis_sentinels() ? "with Sentinel" : "single");
    if (saga_stack_start(&f->st, &opts) < 0)
        goto bad;
    if (saga_path_products(&f->st, "Cluster", NPRODUCTS, STOCK, STEP_MS, f->sku) < 0)
        goto bad;
    for (int t = 0; t < f->nclients; t++) {
        struct client *c = &f->clients[t];

        c->path = (struct saga_path_client){.st = &f->st,
                                            .skus = f->sku,
                                            .nskus = NPRODUCTS,
                                            .too_much = TOO_MUCH,
                                            .step_ms = STEP_MS,
                                            .seed = f->seed + (unsigned)t * 7919u,
                                            .on_placed = on_placed,
                                            .arg = f};
        if (saga_path_client_init(&c->path, "cluster", f->per_client) < 0)
            goto bad;
    }
    *state = f;
    return 0;
bad:
    fixture_free(f);
    return -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f)
        assert_int_equal(fixture_free(f), 0);
    return 0;
}

/* ---- the clients ---- */

static void *client_main(void *arg)
{
    struct client *c = arg;

    for (int i = 0; i < c->path.norders; i++)
        saga_path_run(&c->path, &c->path.orders[i]);
    return NULL;
}

/* ---- the faults ---- */

static int64_t since_start(const struct fixture *f)
{
    return saga_path_now_ms() - f->start_ms;
}

static void fault_note(struct fault *ft, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fault_note(struct fault *ft, const char *fmt, ...)
{
    size_t used = strlen(ft->note);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(ft->note + used, sizeof(ft->note) - used, fmt, ap);
    va_end(ap);
}

/* One Kafka node killed, started again after KAFKA_DOWN_MS. */
static void fault_kafka(struct fixture *f, struct fault *ft)
{
    int64_t t0 = saga_path_now_ms();
    int rc = ts_infra("kafka-2-kill");

    (void)f;
    if (rc != 0) {
        ft->failures++;
        fault_note(ft, "kafka-2-kill exited %d; ", rc);
    }
    /* the node stays down this long by design (the 15 s), not to wait for anything */
    while (saga_path_now_ms() - t0 < KAFKA_DOWN_MS)
        nanosleep(&(struct timespec){.tv_nsec = 100000000L}, NULL);
    rc = ts_infra("kafka-2-start");
    if (rc != 0) {
        ft->failures++;
        fault_note(ft, "kafka-2-start exited %d; ", rc);
    }
    ft->recovery_ms = saga_path_now_ms() - t0;
    fault_note(ft, "down %d s, back after %lld ms", KAFKA_DOWN_MS / 1000,
               (long long)ft->recovery_ms);
}

/* Instance 1 of every service killed with SIGKILL and started again, one after the other. */
static void fault_instances(struct fixture *f, struct fault *ft)
{
    struct ts_service *svcs[] = {&f->st.inventory, &f->st.order, &f->st.payment,
                                 &f->st.catalog,   &f->st.user,  &f->st.auth};
    static const char *const names[] = {"inventory", "order", "payment", "catalog", "user", "auth"};
    int64_t t0 = saga_path_now_ms();

    for (size_t i = 0; i < sizeof(svcs) / sizeof(svcs[0]); i++) {
        int64_t t = saga_path_now_ms();

        if (saga_service_restart(&f->st, svcs[i], SIGKILL) < 0) {
            ft->failures++;
            fault_note(ft, "%s did not come back; ", names[i]);
            continue;
        }
        fault_note(ft, "%s %lld ms; ", names[i], (long long)(saga_path_now_ms() - t));
    }
    ft->recovery_ms = saga_path_now_ms() - t0;
}

struct redis_addr {
    char host[128];
    int port;
};

static bool primary_moved(void *arg)
{
    const struct redis_addr *old = arg;
    struct redis_addr now;

    return cluster_redis_primary(now.host, sizeof(now.host), &now.port) == 0 &&
           (now.port != old->port || strcmp(now.host, old->host) != 0);
}

static bool inventory_serves(void *arg)
{
    struct fixture *f = arg;
    long long a, r;

    return saga_stock_get(&f->st, f->sku[0], &a, &r) == 0;
}

/* The Redis primary killed; Sentinel promotes the replica; the old primary started again. */
static void fault_redis(struct fixture *f, struct fault *ft)
{
    struct redis_addr old;
    int64_t t0;
    int rc;

    if (cluster_redis_primary(old.host, sizeof(old.host), &old.port) < 0) {
        ft->failures++;
        fault_note(ft, "no primary known; ");
        return;
    }
    t0 = saga_path_now_ms();
    rc = ts_infra("redis-primary-kill");
    if (rc != 0) {
        ft->failures++;
        fault_note(ft, "redis-primary-kill exited %d; ", rc);
        return;
    }
    if (!ts_poll_until(primary_moved, &old, FAILOVER_MS)) {
        ft->failures++;
        fault_note(ft, "no promotion within %d s; ", FAILOVER_MS / 1000);
    } else {
        fault_note(ft, "promoted after %lld ms; ", (long long)(saga_path_now_ms() - t0));
    }
    if (!ts_poll_until(inventory_serves, f, FAILOVER_MS)) {
        ft->failures++;
        fault_note(ft, "inventory does not read stock again; ");
    }
    ft->recovery_ms = saga_path_now_ms() - t0;
    /* the old primary comes back (as a replica of the new one) */
    rc = ts_infra(old.port == atoi(ts_env("REDIS_PORT")) ? "redis-1-start" : "redis-2-start");
    if (rc != 0) {
        ft->failures++;
        fault_note(ft, "old primary did not start again (%d); ", rc);
    }
}

struct fault_point {
    struct fixture *f;
    int pct;
};

static bool reached(void *arg)
{
    const struct fault_point *at = arg;

    return atomic_load(&at->f->placed) * 100 >= at->pct * at->f->total;
}

static void run_faults(struct fixture *f)
{
    void (*run[NFAULTS])(struct fixture *, struct fault *) = {fault_kafka, fault_instances,
                                                              fault_redis};

    for (int i = 0; i < NFAULTS; i++) {
        struct fault *ft = &f->faults[i];

        struct fault_point at = {f, ft->at_pct};

        if (!ft->enabled)
            continue;
        /* the clients' own pace decides when: the placed-order count, polled */
        if (!ts_poll_until(reached, &at, STEP_MS * 4)) {
            ft->failures++;
            fault_note(ft, "never reached %d %% of the orders; ", ft->at_pct);
            continue;
        }
        ft->at_ms = since_start(f);
        run[i](f, ft);
    }
}

/* ---- the checks after the run ---- */

/* Lag 0 in every consumer group, polled (offsets are committed periodically). */
static bool no_lag(void *arg)
{
    struct fixture *f = arg;
    const char *const inv_topics[] = {f->st.topic_product, f->st.topic_order, NULL};
    const char *const pay_topics[] = {f->st.topic_order, NULL};
    const char *const ord_topics[] = {f->st.topic_product, f->st.topic_stock, f->st.topic_payment,
                                      NULL};
    const struct {
        struct ts_service *svc;
        const char *const *topics;
    } groups[] = {
        {&f->st.inventory, inv_topics}, {&f->st.payment, pay_topics}, {&f->st.order, ord_topics}};
    bool ok = true;

    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        const char *group = saga_env_value(&f->st, groups[i].svc, "KAFKA_GROUP_ID");
        char detail[1024];
        long long lag =
            group ? cluster_group_lag(group, groups[i].topics, detail, sizeof(detail)) : -EIO;

        if (lag != 0) {
            ok = false;
            print_message("cluster: group %s: lag %lld %s\n", group ? group : "?", lag, detail);
        }
    }
    return ok;
}

/* The checker reads the current Redis primary (after a failover, not the first one). */
static void point_checker_at_primary(void)
{
    char host[128], port[16];
    int p;

    if (cluster_redis_primary(host, sizeof(host), &p) == 0) {
        snprintf(port, sizeof(port), "%d", p);
        setenv("REDIS_HOST", host, 1);
        setenv("REDIS_PORT", port, 1);
    }
}

static void test_cluster_under_faults(void **state)
{
    struct fixture *f = *state;
    static char out[1 << 17];
    char extra[1024];
    struct saga_path_tally tally = {0};
    int64_t t_clients, t_settled, t_checked, deadline;
    bool kafka_cluster = cluster_kafka_nodes() >= 3, sentinel = cluster_redis_sentinels();
    int rc, faults_failed = 0;
    bool lag_ok;

    if (getenv("E2E_CLUSTER_REQUIRE") && !strcmp(getenv("E2E_CLUSTER_REQUIRE"), "1") &&
        (!kafka_cluster || !sentinel))
        fail_msg("E2E_CLUSTER_REQUIRE=1 but the infra has %d Kafka node(s) and %s: the cluster "
                 "mode of scripts/infra.sh (KAFKA_NODES=3, REDIS_SENTINELS=3) is missing",
                 cluster_kafka_nodes(), sentinel ? "Sentinel" : "no Sentinel");
    f->faults[0] =
        (struct fault){.what = "kafka node SIGKILL", .at_pct = 20, .enabled = kafka_cluster};
    f->faults[1] = (struct fault){.what = "instance SIGKILL x6", .at_pct = 40, .enabled = true};
    f->faults[2] =
        (struct fault){.what = "redis primary SIGKILL", .at_pct = 60, .enabled = sentinel};
    print_message("cluster: %d clients x %d orders over 2 instances of each service, payment "
                  "deadline %d s, seed %u\n",
                  f->nclients, f->per_client, f->deadline_s, f->seed);

    f->start_ms = saga_path_now_ms();
    for (int t = 0; t < f->nclients; t++)
        assert_int_equal(pthread_create(&f->clients[t].thread, NULL, client_main, &f->clients[t]),
                         0);
    /* the faults from this (the main) thread: a restarted service dies with the thread that
     * started it (PR_SET_PDEATHSIG, testsup.c) */
    run_faults(f);
    for (int t = 0; t < f->nclients; t++)
        pthread_join(f->clients[t].thread, NULL);
    t_clients = since_start(f);

    /* every order terminal: one shared deadline */
    deadline = saga_path_now_ms() + SETTLE_MS + f->deadline_s * 1000;
    for (int t = 0; t < f->nclients; t++)
        saga_path_settle(&f->clients[t].path, deadline);
    t_settled = since_start(f);
    for (int t = 0; t < f->nclients; t++)
        saga_path_judge(&tally, &f->clients[t].path, t);

    /* the invariants and no event lost */
    point_checker_at_primary();
    snprintf(extra, sizeof(extra),
             "--outbox-db '%s' --outbox-db '%s' --outbox-db '%s' --stream '%s' "
             "--stream-group '%s-relay'",
             f->st.catalog_db, f->st.order_db, f->st.payment_db, f->st.stream, f->st.stream);
    rc = saga_check_invariants_with_until(&f->st, extra, CHECK_MS, out, sizeof(out));
    lag_ok = ts_poll_until(no_lag, f, LAG_MS);
    t_checked = since_start(f);

    /* the figures */
    saga_path_tally_print(&tally, "cluster");
    print_message("%s", out);
    print_message("cluster: %d orders placed by %d clients; clients done after %lld s, all "
                  "terminal after %lld s, checks done after %lld s\n",
                  atomic_load(&f->placed), f->nclients, (long long)t_clients / 1000,
                  (long long)t_settled / 1000, (long long)t_checked / 1000);
    for (int i = 0; i < NFAULTS; i++) {
        const struct fault *ft = &f->faults[i];

        if (!ft->enabled)
            print_message("cluster: fault %-22s skipped (the infra has no %s)\n", ft->what,
                          i == 0 ? "Kafka cluster" : "Sentinel");
        else
            print_message("cluster: fault %-22s at %d %% (t=%lld s), recovered in %lld ms: %s\n",
                          ft->what, ft->at_pct, (long long)ft->at_ms / 1000,
                          (long long)ft->recovery_ms, ft->note);
        faults_failed += ft->failures;
    }
    print_message("cluster: consumer lag %s\n", lag_ok ? "0 in every group" : "LEFT (above)");

    if (tally.pending || tally.errors || tally.wrong || rc != 0 || !lag_ok || faults_failed)
        fail_msg("cluster run of %d orders: %d not terminal, %d client errors, %d wrong ends, "
                 "check-invariants exit %d, lag %s, %d fault step(s) failed (seed %u; above)",
                 tally.orders, tally.pending, tally.errors, tally.wrong, rc, lag_ok ? "0" : "left",
                 faults_failed, f->seed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_under_faults),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
