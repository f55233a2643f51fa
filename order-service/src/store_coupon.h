/*
 * store_coupon.h - coupons in order-service's MariaDB (migrations/002_coupons.sql). Every
 * function takes a checked-out connection and returns 0 or a negative errno (db.h codes plus
 * the ones named below). It only persists: whether a coupon may be used is coupon.c's, when a
 * use is taken or given back is the saga step's (saga.c).
 *
 * Locking rule: a coupon's use count and its coupon_use rows change only while its row is
 * locked (store_coupon_lock / store_coupon_lock_id, inside the caller's transaction), so
 * concurrent orders on one coupon are serialised and a limit is never exceeded. An order's
 * row is locked before its coupon's (giving back); a new order locks its coupon first (its own
 * row does not exist yet), so the two never wait on each other in a circle.
 */
#ifndef STORE_COUPON_H
#define STORE_COUPON_H

#include "common/db.h"
#include "coupon.h"

/* Inserts the new coupon @c (its id ignored) created by @admin; its id into *@ret_id.
 * -EEXIST when the code is taken. */
int store_coupon_insert(struct db_conn *conn, const struct coupon *c, const char *admin,
                        long long *ret_id);

/* The coupon @code (a plain read). -ENOENT when none. */
int store_coupon_get(struct db_conn *conn, const char *code, struct coupon *ret);

/* SELECT … FOR UPDATE of the coupon @code inside the caller's transaction. -ENOENT when none. */
int store_coupon_lock(struct db_conn *conn, const char *code, struct coupon *ret);

/* The uses of the locked coupon @coupon_id that @user holds (not given back), read with a
 * locking read (the newest committed rows) into *@ret. */
int store_coupon_user_uses(struct db_conn *conn, long long coupon_id, const char *user,
                           long long *ret);

/*
 * Takes one use of the locked coupon @c for the order @order_id (inserted in this
 * transaction) of @user with the discount @discount: the coupon_use row, the coupon's count
 * and the order's coupon columns.
 */
int store_coupon_take(struct db_conn *conn, const struct coupon *c, const char *order_id,
                      const char *user, long long discount);

/*
 * Gives back the use of coupon @coupon_id taken by the locked order @order_id: locks the
 * coupon row, marks the use returned and lowers the count, once. *@ret_returned (may be NULL)
 * says whether a use was given back now (false: none, or given back before).
 */
int store_coupon_give_back(struct db_conn *conn, long long coupon_id, const char *order_id,
                           bool *ret_returned);

#endif
