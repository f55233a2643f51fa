/* app.h - inventory-service's configuration and shared state, handed to every handler. */
#ifndef INVENTORY_APP_H
#define INVENTORY_APP_H

#include <stdbool.h>

#include "common/config.h"
#include "common/db.h"
#include "common/http.h"
#include "common/kafka.h"
#include "common/rds.h"

#define INVENTORY_SERVICE "inventory-service"
#define INVENTORY_SOURCE "/inventory-service"

struct inv_config {
    struct svc_config svc;
    const char *redis_host;  /* REDIS_HOST */
    long redis_port;         /* REDIS_PORT */
    long redis_pool_size;    /* REDIS_POOL_SIZE */
    long snapshot_s;         /* INVENTORY_SNAPSHOT_S: seconds between MariaDB snapshots */
    const char *stream;      /* INVENTORY_OUTBOX_STREAM: the Redis outbox stream */
    const char *relay_group; /* INVENTORY_RELAY_GROUP: consumer group on that stream */
    const char *relay_name;  /* INVENTORY_RELAY_NAME: this relay's consumer name */
    bool test_crash;         /* INVENTORY_TEST_CRASH_AFTER_SCRIPT: tests only */
};

/* config.c: loads the common settings plus inventory's own; same contract as cfg_load(). */
int inv_config_load(struct inv_config *cfg, char *errbuf, size_t errlen);
void inv_config_log(const struct inv_config *cfg);

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

/* events.c: the consumer's handler (@app is a struct inv_app). */
enum kafka_result inv_handle_event(const struct event *ev, const struct kafka_record *rec,
                                   void *app, char *errbuf, size_t errlen);

/* The event types the consumer handles, terminated by {NULL}. */
extern const struct kafka_type INV_CONSUMED_TYPES[];

#endif
