/*
 * ops.c - reading topics to their end for operator tools (ops.h): manual assignment of every
 * partition, from the beginning or a group's committed offsets, up to the high watermarks.
 *
 * librdkafka ownership kept here: each polled message is destroyed before the next poll (the
 * record handed out borrows from it); header values are copied so they are NUL-terminated.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "common/ops.h"
#include "common/util.h"

#define OPS_POLL_MS 200

struct ops_part {
    char *topic;
    int32_t partition;
    int64_t end; /* high watermark at start */
    bool done;
};

struct ops_reader {
    rd_kafka_t *rk;
    struct ops_part *parts;
    size_t nparts;
    size_t remaining; /* partitions not yet done */
    size_t missing;
    int64_t backlog;
    rd_kafka_message_t *cur;      /* the record handed out last */
    char *hvals[OPS_MAX_HEADERS]; /* its header value copies */
};

static void ops__release_cur(struct ops_reader *r)
{
    for (size_t i = 0; i < OPS_MAX_HEADERS; i++) {
        free(r->hvals[i]);
        r->hvals[i] = NULL;
    }
    if (r->cur)
        rd_kafka_message_destroy(r->cur);
    r->cur = NULL;
}

static void ops__done(struct ops_reader *r, struct ops_part *p)
{
    if (!p->done) {
        p->done = true;
        r->remaining--;
    }
}

static struct ops_part *ops__part(struct ops_reader *r, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < r->nparts; i++) {
        if (r->parts[i].partition == partition && strcmp(r->parts[i].topic, topic) == 0)
            return &r->parts[i];
    }
    return NULL;
}

/* Adds every partition of @topic to r->parts with its high watermark, and to @list at its
 * start offset (filled in later from the group). 0, 1 when the topic does not exist, -EIO. */
static int ops__add_topic(struct ops_reader *r, const char *topic,
                          rd_kafka_topic_partition_list_t *list, int timeout_ms, char *errbuf,
                          size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt;
    rd_kafka_resp_err_t err;
    struct ops_part *parts;
    int rc = -EIO;

    rkt = rd_kafka_topic_new(r->rk, topic, NULL);
    if (!rkt) {
        snprintf(errbuf, errlen, "topic '%s': %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -EIO;
    }
    err = rd_kafka_metadata(r->rk, 0, rkt, &md, timeout_ms);
    if (err) {
        snprintf(errbuf, errlen, "metadata of '%s': %s", topic, rd_kafka_err2str(err));
        goto out;
    }
    if (md->topic_cnt != 1 || md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        md->topics[0].partition_cnt == 0) {
        rc = 1;
        goto out;
    }
    if (md->topics[0].err) {
        snprintf(errbuf, errlen, "metadata of '%s': %s", topic,
                 rd_kafka_err2str(md->topics[0].err));
        goto out;
    }
    parts = realloc(r->parts, (r->nparts + (size_t)md->topics[0].partition_cnt) * sizeof(*parts));
    if (!parts) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    r->parts = parts;
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int32_t id = md->topics[0].partitions[i].id;
        int64_t lo = 0, hi = 0;
        struct ops_part *p = &r->parts[r->nparts];

        err = rd_kafka_query_watermark_offsets(r->rk, topic, id, &lo, &hi, timeout_ms);
        if (err) {
            snprintf(errbuf, errlen, "watermarks of '%s' [%" PRId32 "]: %s", topic, id,
                     rd_kafka_err2str(err));
            goto out;
        }
        p->topic = strdup(topic);
        if (!p->topic) {
            snprintf(errbuf, errlen, "out of memory");
            goto out;
        }
        p->partition = id;
        p->end = hi;
        p->done = false;
        r->nparts++;
        r->remaining++;
        /* the low watermark for now; a group's committed offset replaces it */
        rd_kafka_topic_partition_list_add(list, topic, id)->offset = lo;
    }
    rc = 0;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

struct ops_reader *ops_reader_new(const char *bootstrap, const struct kafka_auth *auth,
                                  const char *group, const char *const *topics, int timeout_ms,
                                  char *errbuf, size_t errlen)
{
    struct ops_reader *r = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *list = NULL;
    rd_kafka_topic_partition_list_t *assign = NULL;
    rd_kafka_resp_err_t err;
    char tmp_group[64], uuid[UTIL_UUID_LEN];

    if (!bootstrap || !*bootstrap || !topics) {
        snprintf(errbuf, errlen, "bootstrap servers and topics are required");
        return NULL;
    }
    if (!group) {
        util_uuid(uuid);
        snprintf(tmp_group, sizeof(tmp_group), "commercectl-%s", uuid);
        group = tmp_group;
    }
    r = calloc(1, sizeof(*r));
    conf = rd_kafka_conf_new();
    if (!r || !conf) {
        snprintf(errbuf, errlen, "out of memory");
        goto bad;
    }
    {
        /* clang-format off */
        const char *const kv[] = {
            "bootstrap.servers", bootstrap,
            "group.id", group,
            "enable.auto.commit", "false",
            "enable.auto.offset.store", "false",
            "enable.partition.eof", "true",
            "auto.offset.reset", "earliest",
            "log_level", "3",
            NULL,
        };
        /* clang-format on */

        for (size_t i = 0; kv[i]; i += 2) {
            if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], errbuf, errlen) != RD_KAFKA_CONF_OK)
                goto bad;
        }
        if (kafka_auth_apply(conf, auth, errbuf, errlen) < 0)
            goto bad;
    }
    r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errbuf, errlen);
    if (!r->rk)
        goto bad;
    conf = NULL; /* now owned by rk */
    rd_kafka_poll_set_consumer(r->rk);

    list = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; topics[i]; i++) {
        int rc = ops__add_topic(r, topics[i], list, timeout_ms, errbuf, errlen);

        if (rc < 0)
            goto bad;
        if (rc == 1)
            r->missing++;
    }
    if (list->cnt > 0) {
        rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(list);

        /* committed offsets of the group (RD_KAFKA_OFFSET_INVALID where it has none) */
        err = rd_kafka_committed(r->rk, committed, timeout_ms);
        if (err) {
            snprintf(errbuf, errlen, "committed offsets of group '%s': %s", group,
                     rd_kafka_err2str(err));
            rd_kafka_topic_partition_list_destroy(committed);
            goto bad;
        }
        assign = rd_kafka_topic_partition_list_new(list->cnt);
        for (int i = 0; i < list->cnt; i++) {
            const rd_kafka_topic_partition_t *c = &committed->elems[i];
            int64_t start = list->elems[i].offset;
            struct ops_part *p = ops__part(r, c->topic, c->partition);

            if (c->offset >= 0 && c->offset > start)
                start = c->offset;
            if (start >= p->end) {
                ops__done(r, p);
                continue;
            }
            r->backlog += p->end - start;
            rd_kafka_topic_partition_list_add(assign, c->topic, c->partition)->offset = start;
        }
        rd_kafka_topic_partition_list_destroy(committed);
        err = rd_kafka_assign(r->rk, assign);
        if (err) {
            snprintf(errbuf, errlen, "assign: %s", rd_kafka_err2str(err));
            goto bad;
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (assign)
        rd_kafka_topic_partition_list_destroy(assign);
    return r;
bad:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (list)
        rd_kafka_topic_partition_list_destroy(list);
    if (assign)
        rd_kafka_topic_partition_list_destroy(assign);
    ops_reader_free(r);
    return NULL;
}

int ops_reader_next(struct ops_reader *r, int timeout_ms, struct ops_record *ret, char *errbuf,
                    size_t errlen)
{
    int64_t deadline = util_now_mono_ms() + timeout_ms;
    char last_error[256] = "";

    ops__release_cur(r);
    while (r->remaining > 0) {
        int64_t left = deadline - util_now_mono_ms();
        rd_kafka_message_t *m;
        struct ops_part *p;
        rd_kafka_headers_t *hdrs = NULL;

        if (left <= 0) {
            snprintf(errbuf, errlen, "%zu partition(s) not read to the end in time%s%s",
                     r->remaining, last_error[0] ? ": " : "", last_error);
            return -ETIMEDOUT;
        }
        m = rd_kafka_consumer_poll(r->rk, left < OPS_POLL_MS ? (int)left : OPS_POLL_MS);
        if (!m)
            continue;
        p = m->rkt ? ops__part(r, rd_kafka_topic_name(m->rkt), m->partition) : NULL;
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && p)
                ops__done(r, p);
            else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                /* mostly informational (broker down for a moment): librdkafka retries */
                snprintf(last_error, sizeof(last_error), "%s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (!p || p->done || m->offset >= p->end) {
            if (p)
                ops__done(r, p);
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->offset + 1 >= p->end)
            ops__done(r, p);

        r->cur = m;
        memset(ret, 0, sizeof(*ret));
        ret->topic = p->topic;
        ret->partition = m->partition;
        ret->offset = m->offset;
        ret->timestamp_ms = rd_kafka_message_timestamp(m, NULL);
        ret->key = m->key;
        ret->keylen = m->key_len;
        ret->value = m->payload;
        ret->len = m->len;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            const char *name;
            const void *val;
            size_t size;

            for (size_t i = 0; ret->nheaders < OPS_MAX_HEADERS &&
                               !rd_kafka_header_get_all(hdrs, i, &name, &val, &size);
                 i++) {
                char *copy = val ? strndup(val, size) : strdup("");

                if (!copy) {
                    snprintf(errbuf, errlen, "out of memory");
                    return -ENOMEM;
                }
                r->hvals[ret->nheaders] = copy;
                ret->headers[ret->nheaders].name = name; /* borrowed from m */
                ret->headers[ret->nheaders].value = copy;
                ret->nheaders++;
            }
        }
        return 1;
    }
    return 0;
}

int ops_reader_commit(struct ops_reader *r, const struct ops_record *rec, char *errbuf,
                      size_t errlen)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t err;

    rd_kafka_topic_partition_list_add(list, rec->topic, rec->partition)->offset = rec->offset + 1;
    err = rd_kafka_commit(r->rk, list, 0 /* synchronous */);
    if (!err && list->elems[0].err)
        err = list->elems[0].err;
    rd_kafka_topic_partition_list_destroy(list);
    if (err) {
        snprintf(errbuf, errlen, "commit of '%s' [%" PRId32 "] offset %" PRId64 ": %s", rec->topic,
                 rec->partition, rec->offset + 1, rd_kafka_err2str(err));
        return -EIO;
    }
    return 0;
}

size_t ops_reader_missing(const struct ops_reader *r)
{
    return r->missing;
}

int64_t ops_reader_backlog(const struct ops_reader *r)
{
    return r->backlog;
}

void ops_reader_free(struct ops_reader *r)
{
    if (!r)
        return;
    ops__release_cur(r);
    if (r->rk) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    for (size_t i = 0; i < r->nparts; i++)
        free(r->parts[i].topic);
    free(r->parts);
    free(r);
}

const char *ops_record_header(const struct ops_record *rec, const char *name)
{
    /* the last one wins, like a re-sent header overriding an earlier one */
    for (size_t i = rec->nheaders; i-- > 0;) {
        if (strcmp(rec->headers[i].name, name) == 0)
            return rec->headers[i].value;
    }
    return NULL;
}
