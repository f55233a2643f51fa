/*
 * outbox.c - the transactional outbox (see outbox.h): rows appended in the caller's
 * transaction; relay_outbox.c publishes them.
 *
 * Ids are assigned at insert, so "commit order" of one aggregate equals id order as long as
 * its writers serialise on the aggregate (they lock its row), which every service does.
 */
#include "common/outbox.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

const struct db_migration OUTBOX_MIGRATIONS[] = {
    {1, "create_outbox",
     "CREATE TABLE IF NOT EXISTS outbox (\n"
     "  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,\n"
     "  aggregate_type VARCHAR(64) NOT NULL,\n"
     "  aggregate_id VARCHAR(128) NOT NULL,\n"
     "  event_id VARCHAR(64) NOT NULL,\n"
     "  event_type VARCHAR(64) NOT NULL,\n"
     "  topic VARCHAR(249) NOT NULL,\n"
     "  msg_key VARCHAR(255) NOT NULL,\n"
     "  payload MEDIUMTEXT NOT NULL,\n"
     "  headers JSON NOT NULL,\n"
     "  traceparent VARCHAR(55) NULL,\n"
     "  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n"
     "  attempts INT NOT NULL DEFAULT 0,\n"
     "  next_attempt_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n"
     "  last_error VARCHAR(512) NULL,\n"
     "  PRIMARY KEY (id),\n"
     "  UNIQUE KEY uq_outbox_event_id (event_id),\n"
     "  KEY ix_outbox_aggregate (aggregate_type, aggregate_id, id),\n"
     "  KEY ix_outbox_next_attempt (next_attempt_at)\n"
     ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;\n"},
};
const size_t OUTBOX_NMIGRATIONS = sizeof(OUTBOX_MIGRATIONS) / sizeof(OUTBOX_MIGRATIONS[0]);

/* ---- append ---- */

int outbox_append(struct db_conn *conn, const char *aggregate_type, const char *aggregate_id,
                  const struct event *ev)
{
    struct event_header hdrs[EVENT_MAX_HEADERS];
    const char *topic;
    char *payload = NULL, *headers = NULL;
    cJSON *obj = NULL;
    size_t n;
    int rc;

    if (!aggregate_type || !*aggregate_type || !aggregate_id || !*aggregate_id || !ev ||
        !ev->id[0] || !ev->type[0])
        return -EINVAL;
    topic = event_topic(ev->type);
    if (!topic)
        return -EINVAL;
    payload = event_to_json(ev);
    obj = cJSON_CreateObject();
    if (!payload || !obj) {
        rc = -ENOMEM;
        goto out;
    }
    n = event_to_headers(ev, hdrs, EVENT_MAX_HEADERS);
    for (size_t i = 0; i < n; i++) {
        if (!cJSON_AddStringToObject(obj, hdrs[i].name, hdrs[i].value)) {
            rc = -ENOMEM;
            goto out;
        }
    }
    headers = cJSON_PrintUnformatted(obj);
    if (!headers) {
        rc = -ENOMEM;
        goto out;
    }
    rc = db_exec(conn,
                 "INSERT INTO outbox (aggregate_type, aggregate_id, event_id, event_type, topic,"
                 " msg_key, payload, headers, traceparent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (struct db_param[]){DB_STR(aggregate_type), DB_STR(aggregate_id), DB_STR(ev->id),
                                     DB_STR(ev->type), DB_STR(topic), DB_STR(aggregate_id),
                                     DB_STR(payload), DB_STR(headers),
                                     ev->traceparent[0] ? DB_STR(ev->traceparent) : DB_NULLP},
                 9, NULL, NULL);
out:
    cJSON_free(headers);
    cJSON_Delete(obj);
    free(payload);
    return rc;
}

int outbox_stats(struct db_conn *conn, long long *ret_backlog, double *ret_oldest_age_s)
{
    struct db_result *res = NULL;
    int rc;

    rc = db_query(conn,
                  "SELECT COUNT(*), COALESCE(TIMESTAMPDIFF(MICROSECOND, MIN(created_at),"
                  " NOW(6)), 0) FROM outbox",
                  NULL, 0, &res);
    if (rc < 0)
        return rc;
    if (ret_backlog)
        *ret_backlog = db_result_int(res, 0, 0);
    if (ret_oldest_age_s) {
        long long us = db_result_int(res, 0, 1);

        *ret_oldest_age_s = us > 0 ? (double)us / 1e6 : 0.0;
    }
    db_result_free(res);
    return 0;
}
