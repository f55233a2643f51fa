/* store_user.c - user-service's MariaDB adapter (see store_user.h). */
#include "store_user.h"

#include <errno.h>
#include <string.h>

#define USER_COLS                                                                                  \
    "id, email, name, phone, status, "                                                             \
    "DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%fZ'), "                                           \
    "DATE_FORMAT(updated_at, '%Y-%m-%dT%H:%i:%s.%fZ')"

int store_user_insert(struct db_conn *conn, const char *id, const char *email, const char *name,
                      const char *phone)
{
    struct db_param p[] = {DB_STR(id), DB_STR(email), DB_STR(name), DB_STR(phone)};

    return db_exec(conn,
                   "INSERT INTO user (id, email, name, phone, status) "
                   "VALUES (?, ?, ?, ?, 'ACTIVE')",
                   p, 4, NULL, NULL);
}

int store_user_delete(struct db_conn *conn, const char *id)
{
    struct db_param p[] = {DB_STR(id)};
    unsigned long long affected = 0;
    int rc = db_exec(conn, "DELETE FROM user WHERE id = ?", p, 1, &affected, NULL);

    if (rc < 0)
        return rc;
    return affected ? 0 : -ENOENT;
}

/* The one row @sql (with one parameter, @id) matches; -ENOENT when none. */
static int query_by_id(struct db_conn *conn, const char *sql, const char *id,
                       struct db_result **ret)
{
    struct db_param p[] = {DB_STR(id)};

    return db_query_one(conn, sql, p, 1, ret);
}

int store_user_get(struct db_conn *conn, const char *id, struct db_result **ret)
{
    return query_by_id(conn, "SELECT " USER_COLS " FROM user WHERE id = ?", id, ret);
}

int store_user_lock(struct db_conn *conn, const char *id, struct db_result **ret)
{
    return query_by_id(conn, "SELECT " USER_COLS " FROM user WHERE id = ? FOR UPDATE", id, ret);
}

int store_user_update(struct db_conn *conn, const char *id, const char *name, const char *phone,
                      const char *status)
{
    /* NULL parameters keep the column: COALESCE(NULL, name) = name */
    struct db_param p[] = {name ? DB_STR(name) : DB_NULLP, phone ? DB_STR(phone) : DB_NULLP,
                           status ? DB_STR(status) : DB_NULLP, DB_STR(id)};
    unsigned long long affected = 0;
    int rc = db_exec(conn,
                     "UPDATE user SET name = COALESCE(?, name), phone = COALESCE(?, phone), "
                     "status = COALESCE(?, status), updated_at = CURRENT_TIMESTAMP(6) "
                     "WHERE id = ?",
                     p, 4, &affected, NULL);

    if (rc < 0)
        return rc;
    return affected ? 0 : -ENOENT;
}
