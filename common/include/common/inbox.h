/*
 * inbox.h - idempotent consumers: processed event ids recorded per consumer group in the same
 * DB transaction as the handler's change.
 *
 * Table inbox(consumer_group, event_id, event_type, processed_at, PRIMARY KEY(consumer_group,
 * event_id)), created by INBOX_MIGRATIONS. A handler calls inbox_record() first inside its
 * transaction; -EALREADY means the event was processed before: roll back and return KAFKA_OK.
 */
#ifndef COMMON_INBOX_H
#define COMMON_INBOX_H

#include <stddef.h>

#include "common/db.h"

extern const struct db_migration INBOX_MIGRATIONS[];
extern const size_t INBOX_NMIGRATIONS;

/* 0 recorded now; -EALREADY seen before; other db.h errors. */
int inbox_record(struct db_conn *conn, const char *group, const char *event_id,
                 const char *event_type);

/* Deletes rows older than @retention_s. */
int inbox_purge(struct db_conn *conn, long retention_s, unsigned long long *ret_deleted);

/*
 * The same for another bookkeeping table kept like the inbox (e.g. payment's idempotency
 * answers): deletes the rows of @table whose DATETIME @column is older than @retention_s, in
 * chunks, so purging never holds long locks; the count into *@ret_deleted (may be NULL).
 * @table and @column are identifiers from the code (svc_desc.purge), never input; an index on
 * @column keeps it cheap. 0, -EINVAL, or db.h errors.
 */
int inbox_purge_table(struct db_conn *conn, const char *table, const char *column, long retention_s,
                      unsigned long long *ret_deleted);

#endif
