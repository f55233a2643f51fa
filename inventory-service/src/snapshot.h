/*
 * snapshot.h - copies every SKU's counters from Redis into MariaDB
 * (commerce_inventory.inventory_snapshot) for reporting and recovery: once on demand, or
 * periodically on a worker (inv_snapshot_run). Each SKU's row is read with one HMGET, so it is
 * consistent in itself (not across SKUs).
 */
#ifndef INVENTORY_SNAPSHOT_H
#define INVENTORY_SNAPSHOT_H

#include <stddef.h>

#include "common/db.h"
#include "common/rds.h"
#include "common/worker.h"

/* One pass: SCAN inv:sku:* and upsert every SKU. Returns the number of SKUs written, or -EIO
 * (Redis or MariaDB unavailable; reason in @errbuf). */
long inv_snapshot_once(struct rds_pool *rds, struct db_pool *pool, char *errbuf, size_t errlen);

/* A worker_fn (worker.h) running inv_snapshot_once on @app (a struct inv_app: its rds and
 * pool) and logging the outcome; start it with period INVENTORY_SNAPSHOT_S (cfg snapshot_s
 * * 1000). Returns -1: the worker's period. */
long inv_snapshot_run(struct worker *w, void *app);

#endif
