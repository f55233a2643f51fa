/* app.h - inventory-service's configuration and shared state, handed to every handler. */
#ifndef INVENTORY_APP_H
#define INVENTORY_APP_H

#include <stdbool.h>

#include "common/config.h"
#include "common/db.h"
#include "common/http.h"
#include "common/kafka.h"
#include "common/rds.h"
#include "common/svc.h"

#define INVENTORY_SERVICE "inventory-service"
#define INVENTORY_SOURCE "/inventory-service"

struct inv_config {
    struct svc_config svc;
    const char *redis_host;        /* REDIS_HOST (NULL: 127.0.0.1, or Sentinel) */
    long redis_port;               /* REDIS_PORT */
    const char *redis_sentinels;   /* REDIS_SENTINELS: host:port,… (NULL: one node) */
    const char *redis_master_name; /* REDIS_MASTER_NAME */
    long redis_wait_replicas;      /* REDIS_WAIT_REPLICAS: the relay's WAIT (0: off) */
    long redis_wait_timeout_ms;    /* REDIS_WAIT_TIMEOUT_MS */
    long redis_pool_size;          /* REDIS_POOL_SIZE */
    long snapshot_s;               /* INVENTORY_SNAPSHOT_S: seconds between MariaDB snapshots */
    long res_retention_s;      /* INVENTORY_RESERVATION_RETENTION_S: TTL of a terminal inv:res */
    long unknown_sku_attempts; /* INVENTORY_UNKNOWN_SKU_ATTEMPTS: see stock_wait_unknown() */
    const char *stream;        /* INVENTORY_OUTBOX_STREAM: the Redis outbox stream */
    const char *relay_group;   /* INVENTORY_RELAY_GROUP: consumer group on that stream */
    const char *relay_name;    /* INVENTORY_RELAY_NAME: this relay's consumer name */
    bool test_crash;           /* INVENTORY_TEST_CRASH_AFTER_SCRIPT: tests only */
};

/* config.c: the defaults of the common settings and the own ones ({NULL}-terminated). */
extern const struct svc_defaults INV_DEFAULTS;
extern const struct cfg_entry INV_CONFIG[];
/* The Redis pool's options from @cfg. */
void inv_rds_opts(const struct inv_config *cfg, struct rds_opts *ret);
/* svc_desc.check: one node or Sentinel, not both; a well-formed sentinel list. */
int inv_config_check(const void *cfg, char *errbuf, size_t errlen);

struct inv_app {
    const struct inv_config *cfg;
    struct rds_pool *rds;
    struct db_pool *pool;
};

/* http_inventory.c */
void http_inventory_get(struct http_req *req, struct http_resp *resp, void *app);
void http_inventory_bulk(struct http_req *req, struct http_resp *resp, void *app);
void http_inventory_increase(struct http_req *req, struct http_resp *resp, void *app);
void http_inventory_decrease(struct http_req *req, struct http_resp *resp, void *app);
void http_inventory_bulk_increase(struct http_req *req, struct http_resp *resp, void *app);
void http_inventory_bulk_decrease(struct http_req *req, struct http_resp *resp, void *app);

/* events.c: the consumed event types and their handlers (@app is a struct inv_app),
 * terminated by {EVENT_NONE}. */
extern const struct svc_handler INV_HANDLERS[];

#endif
