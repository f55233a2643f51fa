/*
 * snapshot.h - copies every SKU's counters from Redis into MariaDB
 * (commerce_inventory.inventory_snapshot) for reporting and recovery: once on demand, or
 * periodically from a thread. Each SKU's row is read with one HMGET, so it is consistent in
 * itself (not across SKUs).
 */
#ifndef INVENTORY_SNAPSHOT_H
#define INVENTORY_SNAPSHOT_H

#include <stddef.h>

#include "common/db.h"
#include "common/rds.h"

/* One pass: SCAN inv:sku:* and upsert every SKU. Returns the number of SKUs written, or -EIO
 * (Redis or MariaDB unavailable; reason in @errbuf). */
long inv_snapshot_once(struct rds_pool *rds, struct db_pool *pool, char *errbuf, size_t errlen);

struct inv_snapshot;

/* Starts a thread running inv_snapshot_once every @interval_s seconds (first pass at once).
 * Pools borrowed. NULL with a reason in @errbuf. */
struct inv_snapshot *inv_snapshot_start(struct rds_pool *rds, struct db_pool *pool, long interval_s,
                                        char *errbuf, size_t errlen);

/* Stops (after the pass in progress) and frees. Accepts NULL. */
void inv_snapshot_stop(struct inv_snapshot *snap);

#endif
