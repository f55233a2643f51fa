/*
 * cluster.h - support for tests/e2e_cluster.c: a private infra of its own (scripts/infra.sh in a
 * folder under TEST_STATE_DIR, asked for KAFKA_NODES=3 and REDIS_SENTINELS=3), what that infra
 * turned out to have, the current Redis primary (through Sentinel when there is one), and the
 * "no event lost" checks a test makes after a run: consumer lag per group from committed offsets
 * and high watermarks (librdkafka, as the Kafka admin).
 *
 * Call the infra functions from the main thread before any other thread starts: they change
 * this process's environment (the harness variables of testsup.h then name the private infra).
 */
#ifndef CLUSTER_H
#define CLUSTER_H

#include <stddef.h>

/*
 * Starts scripts/infra.sh in @dir (STATE_DIR; created) with KAFKA_NODES=3 and REDIS_SENTINELS=3
 * and without the harness's KAFKA_BOOTSTRAP (its own brokers), then exports every variable of
 * @dir/env into this process (DB_*, REDIS_*, KAFKA_*, TEST_STATE_DIR = @dir, …), so services,
 * ts_infra() actions and the checker use it. Its output goes to @dir.log. 0 or -EIO.
 */
int cluster_infra_start(const char *dir);

/* scripts/infra.sh stop for @dir. Its exit status. */
int cluster_infra_stop(const char *dir);

/* Kafka brokers of the infra: KAFKA_NODES when the env file said, else the addresses in
 * KAFKA_BOOTSTRAP. */
int cluster_kafka_nodes(void);

/* Whether Redis runs with Sentinel (REDIS_SENTINELS set: "host:port,…"). */
int cluster_redis_sentinels(void);

/*
 * The current Redis primary: with Sentinel, what the first answering sentinel names for
 * REDIS_MASTER_NAME (SENTINEL get-master-addr-by-name); else REDIS_HOST / REDIS_PORT.
 * 0 or -EIO.
 */
int cluster_redis_primary(char *host, size_t hostlen, int *ret_port);

/*
 * Messages of @topics (NULL-terminated) that consumer group @group has not committed yet: per
 * partition high watermark − committed offset (− low watermark when it committed nothing).
 * A partition with lag is described in @detail ("topic/p: lag n; …"). The lag, or -EIO.
 */
long long cluster_group_lag(const char *group, const char *const *topics, char *detail,
                            size_t detaillen);

#endif
