/* main.c - inventory-service as data: its routes, the events it consumes, the Redis pool, the
 * outbox-stream relay and the snapshot job; svc_main() runs it. MariaDB holds only the
 * snapshot: stock changes live in Redis, so no outbox or inbox tables. */
#include <pthread.h>
#include <string.h>

#include "app.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/svc.h"
#include "common/util.h"
#include "snapshot.h"

static const struct http_route routes[] = {
    {"GET", "/api/inventories/{skuId}", HTTP_AUTH_NONE, http_inventory_get},
    {"POST", "/api/inventories/bulk", HTTP_AUTH_NONE, http_inventory_bulk},
    {"POST", "/api/inventories/increase", HTTP_AUTH_ADMIN, http_inventory_bulk_increase},
    {"POST", "/api/inventories/decrease", HTTP_AUTH_ADMIN, http_inventory_bulk_decrease},
    {"POST", "/api/inventories/{skuId}/increase", HTTP_AUTH_ADMIN, http_inventory_increase},
    {"POST", "/api/inventories/{skuId}/decrease", HTTP_AUTH_ADMIN, http_inventory_decrease},
};

static struct inv_config cfg;
static struct inv_app app = {.cfg = &cfg};

static void metrics_register(void)
{
    metrics_counter("commerce_inventory_outcomes_total",
                    "stock script outcomes by status (RESERVED, NOT_ENOUGH_STOCK, …)", "outcome");
}

static int start(struct svc *svc, void *arg)
{
    struct rds_opts opts;
    char err[512], primary[300];

    (void)svc, (void)arg;
    inv_rds_opts(&cfg, &opts);
    if (cfg.svc.consumer_workers > cfg.redis_pool_size) /* each handler holds one connection */
        log_warnx("CONSUMER_WORKERS (%ld) is above REDIS_POOL_SIZE (%ld): handlers will wait for "
                  "a redis connection",
                  cfg.svc.consumer_workers, cfg.redis_pool_size);
    app.rds = rds_pool_new(&opts, err, sizeof(err));
    if (!app.rds) {
        log_errorx("cannot set up the redis pool: %s", err);
        return -1;
    }
    if (opts.sentinels) {
        rds_primary(app.rds, primary, sizeof(primary));
        log_info("redis through sentinels '%s', master '%s': primary '%s'", opts.sentinels,
                 opts.master_name, primary[0] ? primary : "(not found yet)");
    }
    return 0;
}

static void stop(void *arg)
{
    (void)arg;
    rds_pool_free(app.rds);
}

/* Readiness is Redis answering PING (with Sentinel: the primary; @why names it, and a new one
 * is logged once). */
static int ready(void *arg, char *why, size_t whylen)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char last[300];
    char primary[300];
    int rc = rds_ping(app.rds, why, whylen);

    (void)arg;
    if (rc < 0 || !cfg.redis_sentinels)
        return rc;
    rds_primary(app.rds, primary, sizeof(primary));
    pthread_mutex_lock(&lock);
    if (strcmp(primary, last) != 0) {
        log_info("redis primary is now '%s' (%s)", primary, why);
        util_strlcpy(last, primary, sizeof(last));
    }
    pthread_mutex_unlock(&lock);
    return 0;
}

static struct relay_source *relay_source(struct svc *svc, void *arg)
{
    (void)svc, (void)arg;
    if (cfg.test_crash) {
        log_warnx("test hook INVENTORY_TEST_CRASH_AFTER_SCRIPT set: relay disabled");
        return NULL;
    }
    return relay_stream_source(&(struct relay_stream_opts){.rds = app.rds,
                                                           .stream = cfg.stream,
                                                           .group = cfg.relay_group,
                                                           .consumer = cfg.relay_name});
}

static long snapshot_ms(const void *arg)
{
    (void)arg;
    return cfg.snapshot_s * 1000;
}

static const struct svc_job jobs[] = {
    {"stock snapshot", inv_snapshot_run, snapshot_ms},
    {NULL, NULL, NULL},
};

static const struct svc_desc desc = {
    .name = INVENTORY_SERVICE,
    .defaults = &INV_DEFAULTS,
    .cfg = &cfg.svc,
    .config = INV_CONFIG,
    .check = inv_config_check,
    .routes = routes,
    .nroutes = sizeof(routes) / sizeof(routes[0]),
    .handlers = INV_HANDLERS,
    .jobs = jobs,
    .app = &app,
    .app_pool = &app.pool,
    .relay_source = relay_source,
    .metrics_register = metrics_register,
    .start = start,
    .stop = stop,
    .ready = ready,
};

int main(void)
{
    return svc_main(&desc);
}
