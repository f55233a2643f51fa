/*
 * kafka_admin.c - topic administration (kafka_admin.h): CreateTopics through a short-lived
 * client, then waiting until every topic has partitions in the metadata.
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

int kafka_create_topics(const char *bootstrap, const char *const *topics, int partitions,
                        char *errbuf, size_t errlen)
{
    rd_kafka_conf_t *conf = NULL;
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
    conf = kafka__conf_new();
    if (!conf || rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errbuf, errlen))
        goto out;
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, errlen);
    if (!rk)
        goto out;
    conf = NULL; /* now owned by rk */

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
        newts[i] =
            rd_kafka_NewTopic_new(topics[i], partitions > 0 ? partitions : 1, 1, errbuf, errlen);
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
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (rk)
        rd_kafka_destroy(rk);
    return r;
}
