/*
 * inbox.c - processed event ids per consumer group (see inbox.h).
 *
 * The primary key does the work: a second INSERT of the same (group, event id) fails with a
 * duplicate key, and one racing with an uncommitted first waits for its outcome.
 */
#include "common/inbox.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define INBOX_PURGE_CHUNK 5000 /* rows per DELETE, so purging never holds long locks */

const struct db_migration INBOX_MIGRATIONS[] = {
    {1, "create_inbox",
     "CREATE TABLE IF NOT EXISTS inbox (\n"
     "  consumer_group VARCHAR(128) NOT NULL,\n"
     "  event_id VARCHAR(64) NOT NULL,\n"
     "  event_type VARCHAR(64) NOT NULL,\n"
     "  processed_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n"
     "  PRIMARY KEY (consumer_group, event_id),\n"
     "  KEY ix_inbox_processed_at (processed_at)\n"
     ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;\n"},
};
const size_t INBOX_NMIGRATIONS = sizeof(INBOX_MIGRATIONS) / sizeof(INBOX_MIGRATIONS[0]);

int inbox_record(struct db_conn *conn, const char *group, const char *event_id,
                 const char *event_type)
{
    int rc;

    if (!group || !*group || !event_id || !*event_id)
        return -EINVAL;
    rc = db_exec(
        conn, "INSERT INTO inbox (consumer_group, event_id, event_type) VALUES (?, ?, ?)",
        (struct db_param[]){DB_STR(group), DB_STR(event_id), DB_STR(event_type ? event_type : "")},
        3, NULL, NULL);
    return rc == -EEXIST ? -EALREADY : rc;
}

/* A plain SQL identifier: letters, digits, '_' (the table and column names of the code). */
static bool inbox_identifier(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

int inbox_purge_table(struct db_conn *conn, const char *table, const char *column, long retention_s,
                      unsigned long long *ret_deleted)
{
    unsigned long long total = 0, n;
    char sql[256];
    int rc;

    if (retention_s < 0 || !inbox_identifier(table) || !inbox_identifier(column))
        return -EINVAL;
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s < NOW(6) - INTERVAL ? SECOND LIMIT ?",
             table, column);
    do {
        rc = db_exec(conn, sql, (struct db_param[]){DB_INT(retention_s), DB_INT(INBOX_PURGE_CHUNK)},
                     2, &n, NULL);
        if (rc < 0)
            return rc;
        total += n;
    } while (n == INBOX_PURGE_CHUNK);
    if (ret_deleted)
        *ret_deleted = total;
    return 0;
}

int inbox_purge(struct db_conn *conn, long retention_s, unsigned long long *ret_deleted)
{
    return inbox_purge_table(conn, "inbox", "processed_at", retention_s, ret_deleted);
}
