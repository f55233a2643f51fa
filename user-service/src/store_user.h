/*
 * store_user.h - user-service's MariaDB adapter. Every function takes a checked-out connection
 * and returns 0 or a negative errno (db.h codes plus the ones named below). Results are rows of
 * text owned by the caller (db_result_free).
 */
#ifndef STORE_USER_H
#define STORE_USER_H

#include "common/db.h"

/* Column order of user rows. */
enum {
    USER_COL_ID,
    USER_COL_EMAIL,
    USER_COL_NAME,
    USER_COL_PHONE,
    USER_COL_STATUS,
    USER_COL_CREATED,
    USER_COL_UPDATED
};

/* Inserts an ACTIVE user. -EEXIST when the email (any case) is taken. */
int store_user_insert(struct db_conn *conn, const char *id, const char *email, const char *name,
                      const char *phone);

/* Removes user @id (the sign-up undo). -ENOENT when it is not there. */
int store_user_delete(struct db_conn *conn, const char *id);

/* One user row. -ENOENT when missing. */
int store_user_get(struct db_conn *conn, const char *id, struct db_result **ret);

/* Same inside a transaction, locking the row (SELECT … FOR UPDATE) until commit/rollback. */
int store_user_lock(struct db_conn *conn, const char *id, struct db_result **ret);

/* Updates the non-NULL fields of user @id and updated_at. -ENOENT when missing. */
int store_user_update(struct db_conn *conn, const char *id, const char *name, const char *phone,
                      const char *status);

#endif
