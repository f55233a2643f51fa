/*
 * kafka_admin.c - topic and ACL administration (kafka_admin.h): CreateTopics through a
 * short-lived client, then waiting until every topic has partitions in the metadata; CreateAcls
 * the same way.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <librdkafka/rdkafka.h>

#include "common/kafka_admin.h"
#include "common/log.h"
#include "common/util.h"
#include "kafka_internal.h"

#define KAFKA_ADMIN_TIMEOUT_MS 15000

/* Waits until every topic has partitions in the metadata (on librdkafka's mock cluster, which
 * has no CreateTopics, the metadata request itself creates them). 0 or -EIO. */
static int kafka__topics_ready(rd_kafka_t *rk, const char *const *topics, char *errbuf,
                               size_t errlen)
{
    int64_t deadline = util_now_mono_ms() + KAFKA_ADMIN_TIMEOUT_MS;
    size_t i;

    for (i = 0; topics[i]; i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topics[i], NULL);
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;

        if (!rkt) {
            snprintf(errbuf, errlen, "topic '%s': %s", topics[i],
                     rd_kafka_err2str(rd_kafka_last_error()));
            return -EIO;
        }
        while (util_now_mono_ms() < deadline) {
            const struct rd_kafka_metadata *md = NULL;

            err = rd_kafka_metadata(rk, 0, rkt, &md, 2000);
            if (!err && md->topic_cnt == 1 && md->topics[0].err)
                err = md->topics[0].err;
            else if (!err && (md->topic_cnt != 1 || md->topics[0].partition_cnt == 0))
                err = RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE;
            if (md)
                rd_kafka_metadata_destroy(md);
            if (!err)
                break;
            rd_kafka_poll(rk, 100); /* metadata not propagated yet: wait a little */
        }
        rd_kafka_topic_destroy(rkt);
        if (err) {
            snprintf(errbuf, errlen, "topic '%s' not available: %s", topics[i],
                     rd_kafka_err2str(err));
            return -EIO;
        }
    }
    return 0;
}

static bool kafka__has_broker(const struct rd_kafka_metadata *md, int32_t id)
{
    int i;

    for (i = 0; id >= 0 && i < md->broker_cnt; i++)
        if (md->brokers[i].id == id)
            return true;
    return false;
}

/* A short-lived admin client of @bootstrap logging in with @auth; NULL with the reason. */
static rd_kafka_t *kafka__admin_new(const char *bootstrap, const struct kafka_auth *auth,
                                    char *errbuf, size_t errlen)
{
    rd_kafka_conf_t *conf = kafka__conf_new();
    rd_kafka_t *rk;

    if (!conf) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errbuf, errlen) ||
        kafka_auth_apply(conf, auth, errbuf, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, errlen);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk; /* conf now owned by rk */
}

int kafka_create_topics(const char *bootstrap, const struct kafka_auth *auth,
                        const char *const *topics, int partitions, char *errbuf, size_t errlen)
{
    rd_kafka_t *rk = NULL;
    rd_kafka_NewTopic_t **newts = NULL;
    rd_kafka_AdminOptions_t *options = NULL;
    rd_kafka_queue_t *queue = NULL;
    rd_kafka_event_t *rkev = NULL;
    const rd_kafka_CreateTopics_result_t *res;
    const rd_kafka_topic_result_t **tres;
    size_t n = 0, i, cnt;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err;
    bool unsupported = false;
    int r = -EIO;

    if (!bootstrap || !topics) {
        snprintf(errbuf, errlen, "kafka bootstrap and topics are required");
        return -EIO;
    }
    while (topics[n])
        n++;
    if (n == 0)
        return 0;
    rk = kafka__admin_new(bootstrap, auth, errbuf, errlen);
    if (!rk)
        goto out;

    err = rd_kafka_metadata(rk, 0, NULL, &md, 10000);
    if (err) {
        snprintf(errbuf, errlen, "kafka metadata: %s", rd_kafka_err2str(err));
        goto out;
    }
    if (!kafka__has_broker(md, rd_kafka_controllerid(rk, 5000))) {
        /* librdkafka's mock cluster names a controller that is not one of its brokers and has
         * no CreateTopics; its topics appear on the first metadata request that allows it
         * (kafka__topics_ready) */
        unsupported = true;
        goto ready;
    }
    newts = calloc(n, sizeof(*newts));
    if (!newts) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        /* replication factor -1: the broker's default.replication.factor (3 on a cluster) */
        newts[i] =
            rd_kafka_NewTopic_new(topics[i], partitions > 0 ? partitions : 1, -1, errbuf, errlen);
        if (!newts[i])
            goto out;
    }
    options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    if (!options ||
        rd_kafka_AdminOptions_set_operation_timeout(options, KAFKA_ADMIN_TIMEOUT_MS - 5000, errbuf,
                                                    errlen) ||
        rd_kafka_AdminOptions_set_request_timeout(options, KAFKA_ADMIN_TIMEOUT_MS, errbuf, errlen))
        goto out;
    queue = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, newts, n, options, queue);
    rkev = rd_kafka_queue_poll(queue, KAFKA_ADMIN_TIMEOUT_MS + 5000);
    if (!rkev) {
        snprintf(errbuf, errlen, "create topics: timed out");
        goto out;
    }
    if (rd_kafka_event_error(rkev) == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
        unsupported = true; /* the mock cluster: topics appear on first metadata request */
    } else if (rd_kafka_event_error(rkev)) {
        snprintf(errbuf, errlen, "create topics: %s", rd_kafka_event_error_string(rkev));
        goto out;
    } else {
        res = rd_kafka_event_CreateTopics_result(rkev);
        tres = rd_kafka_CreateTopics_result_topics(res, &cnt);
        for (i = 0; i < cnt; i++) {
            err = rd_kafka_topic_result_error(tres[i]);
            if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
                unsupported = true;
            } else if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(errbuf, errlen, "create topic '%s': %s",
                         rd_kafka_topic_result_name(tres[i]),
                         rd_kafka_topic_result_error_string(tres[i]));
                goto out;
            }
        }
    }
ready:
    if (unsupported)
        log_debug("kafka: CreateTopics unsupported by the broker, relying on auto-creation");
    r = kafka__topics_ready(rk, topics, errbuf, errlen);
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkev)
        rd_kafka_event_destroy(rkev);
    if (queue)
        rd_kafka_queue_destroy(queue);
    if (options)
        rd_kafka_AdminOptions_destroy(options);
    for (i = 0; newts && i < n; i++)
        if (newts[i])
            rd_kafka_NewTopic_destroy(newts[i]);
    free(newts);
    if (rk)
        rd_kafka_destroy(rk);
    return r;
}

static rd_kafka_ResourceType_t kafka__acl_restype(enum kafka_acl_resource res)
{
    switch (res) {
    case KAFKA_ACL_TOPIC:
        return RD_KAFKA_RESOURCE_TOPIC;
    case KAFKA_ACL_GROUP:
        return RD_KAFKA_RESOURCE_GROUP;
    case KAFKA_ACL_CLUSTER:
        return RD_KAFKA_RESOURCE_BROKER; /* librdkafka's name for Kafka's cluster resource */
    }
    return RD_KAFKA_RESOURCE_UNKNOWN;
}

static rd_kafka_AclOperation_t kafka__acl_op(enum kafka_acl_op op)
{
    switch (op) {
    case KAFKA_ACL_READ:
        return RD_KAFKA_ACL_OPERATION_READ;
    case KAFKA_ACL_WRITE:
        return RD_KAFKA_ACL_OPERATION_WRITE;
    case KAFKA_ACL_DESCRIBE:
        return RD_KAFKA_ACL_OPERATION_DESCRIBE;
    case KAFKA_ACL_IDEMPOTENT_WRITE:
        return RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE;
    }
    return RD_KAFKA_ACL_OPERATION_UNKNOWN;
}

int kafka_acls_create(const char *bootstrap, const struct kafka_auth *auth, const char *principal,
                      const struct kafka_acl *acls, size_t n, char *errbuf, size_t errlen)
{
    rd_kafka_t *rk = NULL;
    rd_kafka_AclBinding_t **bindings = NULL;
    rd_kafka_AdminOptions_t *options = NULL;
    rd_kafka_queue_t *queue = NULL;
    rd_kafka_event_t *rkev = NULL;
    const rd_kafka_acl_result_t **results;
    size_t i, cnt;
    int r = -EIO;

    if (!bootstrap || !principal) {
        snprintf(errbuf, errlen, "kafka bootstrap and principal are required");
        return -EIO;
    }
    if (n == 0)
        return 0;
    rk = kafka__admin_new(bootstrap, auth, errbuf, errlen);
    bindings = calloc(n, sizeof(*bindings));
    if (!rk || !bindings) {
        if (rk)
            snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        bindings[i] = rd_kafka_AclBinding_new(kafka__acl_restype(acls[i].resource), acls[i].name,
                                              RD_KAFKA_RESOURCE_PATTERN_LITERAL, principal, "*",
                                              kafka__acl_op(acls[i].op),
                                              RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, errbuf, errlen);
        if (!bindings[i])
            goto out;
    }
    options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATEACLS);
    if (!options ||
        rd_kafka_AdminOptions_set_request_timeout(options, KAFKA_ADMIN_TIMEOUT_MS, errbuf, errlen))
        goto out;
    queue = rd_kafka_queue_new(rk);
    rd_kafka_CreateAcls(rk, bindings, n, options, queue);
    rkev = rd_kafka_queue_poll(queue, KAFKA_ADMIN_TIMEOUT_MS + 5000);
    if (!rkev) {
        snprintf(errbuf, errlen, "create acls: timed out");
        goto out;
    }
    if (rd_kafka_event_error(rkev)) {
        snprintf(errbuf, errlen, "create acls: %s", rd_kafka_event_error_string(rkev));
        goto out;
    }
    results = rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(rkev), &cnt);
    for (i = 0; i < cnt; i++) {
        const rd_kafka_error_t *error = rd_kafka_acl_result_error(results[i]);

        if (error && rd_kafka_error_code(error)) {
            snprintf(errbuf, errlen, "create acl %s %s '%s' for %s: %s",
                     kafka_acl_op_name(acls[i].op), kafka_acl_resource_name(acls[i].resource),
                     acls[i].name, principal, rd_kafka_error_string(error));
            goto out;
        }
    }
    r = 0;
out:
    if (rkev)
        rd_kafka_event_destroy(rkev);
    if (queue)
        rd_kafka_queue_destroy(queue);
    if (options)
        rd_kafka_AdminOptions_destroy(options);
    for (i = 0; bindings && i < n; i++)
        if (bindings[i])
            rd_kafka_AclBinding_destroy(bindings[i]);
    free(bindings);
    if (rk)
        rd_kafka_destroy(rk);
    return r;
}
