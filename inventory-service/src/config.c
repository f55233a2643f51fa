/* config.c - inventory-service's settings: the common table plus Redis, the snapshot period,
 * the outbox stream and a test hook. */
#include <stddef.h>

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
    CFG_ENTRY_STR("REDIS_HOST", "127.0.0.1", true, false, S, redis_host, "Redis host"),
    CFG_ENTRY_INT("REDIS_PORT", "6379", 1, 65535, S, redis_port, "Redis port"),
    CFG_ENTRY_INT("REDIS_POOL_SIZE", "8", 1, 256, S, redis_pool_size, "Redis connections"),
    CFG_ENTRY_INT("INVENTORY_SNAPSHOT_S", "60", 1, 86400, S, snapshot_s,
                  "seconds between snapshots of every SKU's counters into MariaDB"),
    CFG_ENTRY_INT("INVENTORY_RESERVATION_RETENTION_S", "691200", 1, 31536000, S, res_retention_s,
                  "seconds an order's reservation is kept once confirmed or released (keep it "
                  "above the order topic's retention: README \"State and retention\")"),
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
