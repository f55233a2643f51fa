/* config.c - inventory-service's settings: the common table plus Redis (one node or Sentinel,
 * replication WAIT), the snapshot period, the outbox stream and a test hook. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

const struct svc_defaults INV_DEFAULTS = {
    .service = INVENTORY_SERVICE,
    .http_port = "8083",
    .db_name = "commerce_inventory",
    .group_id = INVENTORY_SERVICE,
    .migrations_dir = "inventory-service/migrations",
};

#define S struct inv_config
const struct cfg_entry INV_CONFIG[] = {
    CFG_ENTRY_STR("REDIS_HOST", NULL, false, false, S, redis_host,
                  "Redis host (one node; default 127.0.0.1 unless REDIS_SENTINELS)"),
    CFG_ENTRY_INT("REDIS_PORT", "6379", 1, 65535, S, redis_port, "Redis port"),
    CFG_ENTRY_STR("REDIS_SENTINELS", "", false, false, S, redis_sentinels,
                  "Sentinel host:port list (comma separated) instead of REDIS_HOST"),
    CFG_ENTRY_STR("REDIS_MASTER_NAME", "", false, false, S, redis_master_name,
                  "the primary's name at the sentinels (with REDIS_SENTINELS)"),
    CFG_ENTRY_INT("REDIS_WAIT_REPLICAS", "0", 0, 16, S, redis_wait_replicas,
                  "replicas that must hold a stock event before it is published, a consumed "
                  "event's changes before it is done, and an admin's stock change before it is "
                  "answered 200 (0: none)"),
    CFG_ENTRY_INT(
        "REDIS_WAIT_TIMEOUT_MS", "1000", 1, 60000, S, redis_wait_timeout_ms,
        "how long the relay, a handler or an admin's change waits for them before a retry"),
    CFG_ENTRY_INT("REDIS_POOL_SIZE", "8", 1, 256, S, redis_pool_size, "Redis connections"),
    CFG_ENTRY_INT("INVENTORY_SNAPSHOT_S", "60", 1, 86400, S, snapshot_s,
                  "seconds between snapshots of every SKU's counters into MariaDB"),
    CFG_ENTRY_INT("INVENTORY_RESERVATION_RETENTION_S", "691200", 1, 31536000, S, res_retention_s,
                  "seconds an order's reservation is kept once confirmed or released (keep it "
                  "above the order topic's retention: README \"State and retention\")"),
    CFG_ENTRY_INT("INVENTORY_UNKNOWN_SKU_ATTEMPTS", "5", 1, 1000, S, unknown_sku_attempts,
                  "deliveries of an order.placed naming a SKU without stock before it fails "
                  "SKU_NOT_FOUND: the earlier ones wait for the SKU's product.sku.created, "
                  "retried with the consumer's backoff (1: fail at once; at most "
                  "CONSUMER_MAX_ATTEMPTS counts)"),
    CFG_ENTRY_STR("INVENTORY_OUTBOX_STREAM", "inv:outbox", true, false, S, stream,
                  "Redis stream holding stock events until Kafka acknowledged them"),
    CFG_ENTRY_STR("INVENTORY_RELAY_GROUP", "inventory-relay", true, false, S, relay_group,
                  "consumer group of the relay on the outbox stream"),
    CFG_ENTRY_STR("INVENTORY_RELAY_NAME", "relay-1", true, false, S, relay_name,
                  "this instance's consumer name in that group (stable across restarts)"),
    CFG_ENTRY_BOOL("INVENTORY_TEST_CRASH_AFTER_SCRIPT", "false", S, test_crash,
                   "tests only: no relay, and SIGKILL right after the first stock script"),
    {0},
};
#undef S

void inv_rds_opts(const struct inv_config *cfg, struct rds_opts *ret)
{
    bool sentinel = cfg->redis_sentinels && *cfg->redis_sentinels;

    *ret = (struct rds_opts){
        .host = cfg->redis_host ? cfg->redis_host
                : sentinel      ? NULL
                                : "127.0.0.1",
        .port = (unsigned)cfg->redis_port,
        .sentinels = cfg->redis_sentinels,
        .master_name = cfg->redis_master_name,
        .timeout_ms = 2000,
        .pool_size = (unsigned)cfg->redis_pool_size,
        .wait_replicas = (unsigned)cfg->redis_wait_replicas,
        .wait_timeout_ms = (unsigned)cfg->redis_wait_timeout_ms,
    };
}

int inv_config_check(const void *arg, char *errbuf, size_t errlen)
{
    struct rds_opts opts;
    size_t used = strlen(errbuf);
    char why[256];

    inv_rds_opts(arg, &opts);
    if (rds_opts_check(&opts, why, sizeof(why)) == 0)
        return 0;
    snprintf(errbuf + used, errlen - used, "%s%s", used ? "; " : "", why);
    return -EINVAL;
}
