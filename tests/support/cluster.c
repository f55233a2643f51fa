/* cluster.c - the cluster test's private infra and its "no event lost" checks (cluster.h). */
#include "cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "testsup.h"

/* Exports every "export NAME=value …" of the env file @path into this process. 0 or -EIO. */
static int cluster__env_load(const char *path)
{
    char line[4096];
    FILE *fp = fopen(path, "r");

    if (!fp) {
        fprintf(stderr, "cluster: %s: cannot read\n", path);
        return -EIO;
    }
    while (fgets(line, sizeof(line), fp)) {
        char *save = NULL;

        if (strncmp(line, "export ", 7) != 0)
            continue;
        for (char *tok = strtok_r(line + 7, " \n", &save); tok;
             tok = strtok_r(NULL, " \n", &save)) {
            char *eq = strchr(tok, '=');

            if (!eq || eq == tok)
                continue;
            *eq = '\0';
            setenv(tok, eq + 1, 1);
        }
    }
    fclose(fp);
    return 0;
}

int cluster_infra_start(const char *dir)
{
    char state[1024], log[1100], env[1100];
    const char *const args[] = {"start", NULL};
    const char *const over[] = {state, "KAFKA_NODES=3", "REDIS_SENTINELS=3", "KAFKA_BOOTSTRAP",
                                NULL};
    int rc;

    mkdir(dir, 0755);
    snprintf(state, sizeof(state), "STATE_DIR=%s", dir);
    snprintf(log, sizeof(log), "%s.log", dir);
    rc = ts_script("infra.sh", args, over, log);
    if (rc != 0) {
        fprintf(stderr, "cluster: infra.sh start in %s exited %d\n", dir, rc);
        ts_print_log_tail(log);
        return -EIO;
    }
    snprintf(env, sizeof(env), "%s/env", dir);
    if (cluster__env_load(env) < 0)
        return -EIO;
    setenv("TEST_STATE_DIR", dir, 1); /* ts_infra() actions and service logs go there */
    return 0;
}

int cluster_infra_stop(const char *dir)
{
    char state[1024], log[1100];
    const char *const args[] = {"stop", NULL};
    const char *const over[] = {state, NULL};

    snprintf(state, sizeof(state), "STATE_DIR=%s", dir);
    snprintf(log, sizeof(log), "%s.log", dir);
    return ts_script("infra.sh", args, over, log);
}

int cluster_kafka_nodes(void)
{
    const char *nodes = getenv("KAFKA_NODES"), *bootstrap = getenv("KAFKA_BOOTSTRAP");
    int n = 1;

    if (nodes && *nodes)
        return atoi(nodes);
    for (const char *p = bootstrap ? bootstrap : ""; *p; p++)
        n += *p == ',';
    return n;
}

int cluster_redis_sentinels(void)
{
    const char *s = getenv("REDIS_SENTINELS");

    return s && *s;
}

/* Asks the sentinel at @addr ("host:port") for the primary of @name. 0 or -EIO. */
static int cluster__ask_sentinel(const char *addr, const char *name, char *host, size_t hostlen,
                                 int *ret_port)
{
    char h[256];
    const char *colon = strrchr(addr, ':');
    struct timeval tv = {.tv_sec = 2};
    redisContext *ctx;
    redisReply *r;
    int rc = -EIO;

    if (!colon || (size_t)(colon - addr) >= sizeof(h))
        return -EIO;
    memcpy(h, addr, (size_t)(colon - addr));
    h[colon - addr] = '\0';
    ctx = redisConnectWithTimeout(h, atoi(colon + 1), tv);
    if (!ctx || ctx->err) {
        redisFree(ctx);
        return -EIO;
    }
    r = redisCommand(ctx, "SENTINEL get-master-addr-by-name %s", name);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING) {
        snprintf(host, hostlen, "%s", r->element[0]->str);
        *ret_port = atoi(r->element[1]->str);
        rc = 0;
    }
    if (r)
        freeReplyObject(r);
    redisFree(ctx);
    return rc;
}

int cluster_redis_primary(char *host, size_t hostlen, int *ret_port)
{
    const char *sentinels = getenv("REDIS_SENTINELS"), *name = getenv("REDIS_MASTER_NAME");
    char list[1024], *save = NULL;

    if (!cluster_redis_sentinels()) {
        snprintf(host, hostlen, "%s", ts_env("REDIS_HOST"));
        *ret_port = atoi(ts_env("REDIS_PORT"));
        return 0;
    }
    snprintf(list, sizeof(list), "%s", sentinels);
    for (char *a = strtok_r(list, ", ", &save); a; a = strtok_r(NULL, ", ", &save)) {
        if (cluster__ask_sentinel(a, name && *name ? name : "commerce", host, hostlen, ret_port) ==
            0)
            return 0;
    }
    fprintf(stderr, "cluster: no sentinel of '%s' named the primary\n", sentinels);
    return -EIO;
}

/* A consumer handle of @group that never joins it (no subscribe): reads its commits only. */
static rd_kafka_t *cluster__group_reader(const char *group)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    if (rd_kafka_conf_set(conf, "bootstrap.servers", ts_env("KAFKA_BOOTSTRAP"), errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
        fprintf(stderr, "cluster: kafka configuration: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    ts_kafka_conf_auth(conf);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "cluster: kafka consumer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk; /* conf now owned by rk */
}

/* Adds every partition of @topic to @parts. 0 or -EIO. */
static int cluster__partitions(rd_kafka_t *rk, const char *topic,
                               rd_kafka_topic_partition_list_t *parts)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int rc = -EIO;

    if (!rkt)
        return -EIO;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            for (int p = 0; p < md->topics[0].partition_cnt; p++)
                rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[p].id);
            rc = 0;
        }
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return rc;
}

long long cluster_group_lag(const char *group, const char *const *topics, char *detail,
                            size_t detaillen)
{
    rd_kafka_t *rk = cluster__group_reader(group);
    rd_kafka_topic_partition_list_t *parts;
    long long lag = 0;
    size_t used = 0;

    if (detaillen)
        detail[0] = '\0';
    if (!rk)
        return -EIO;
    parts = rd_kafka_topic_partition_list_new(16);
    for (size_t t = 0; topics[t]; t++) {
        if (cluster__partitions(rk, topics[t], parts) < 0) {
            fprintf(stderr, "cluster: no metadata of topic %s\n", topics[t]);
            lag = -EIO;
            goto out;
        }
    }
    if (rd_kafka_committed(rk, parts, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "cluster: committed offsets of group %s: not available\n", group);
        lag = -EIO;
        goto out;
    }
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        int64_t low = 0, high = 0, behind;

        if (rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &low, &high, 10000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "cluster: watermarks of %s/%d: not available\n", tp->topic,
                    (int)tp->partition);
            lag = -EIO;
            goto out;
        }
        behind = high - (tp->offset >= 0 ? tp->offset : low);
        if (behind > 0) {
            lag += behind;
            if (used < detaillen)
                used += (size_t)snprintf(detail + used, detaillen - used, "%s/%d: lag %lld; ",
                                         tp->topic, (int)tp->partition, (long long)behind);
        }
    }
out:
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
    return lag;
}
