/*
 * store_payment.h - payment-service's MariaDB adapter. Every function takes a checked-out
 * connection and returns 0 or a negative errno (db.h codes plus the ones named below).
 * Writers run inside the caller's transaction; outbox rows of one order are written while
 * its payment row is locked (store_payment_get with @for_update), so their id order is their
 * commit order (outbox.h).
 */
#ifndef STORE_PAYMENT_H
#define STORE_PAYMENT_H

#include <cjson/cJSON.h>

#include "common/db.h"
#include "common/event_types.h"
#include "common/msgctx.h"
#include "payment.h"

#define PAY_ID_MAX 64 /* order and user ids */
#define PAY_REASON_MAX 100
#define PAY_IDEM_KEY_MAX 128

/* One payment row, copied out of the result. */
struct pay_row {
    char id[37];
    char order_id[PAY_ID_MAX + 1];
    char user_id[PAY_ID_MAX + 1];
    struct payment p;
    char payment_key[PAYMENT_MAX_KEY + 1]; /* "" until a confirm started */
    char fail_reason[PAY_REASON_MAX + 1];  /* "" when none */
    char correlation_id[MSGCTX_ID_MAX];    /* the saga id from order.placed ("" if none) */
    char confirm_token[37];                /* "" unless a confirm is in progress */
    long long confirm_age_ms;              /* age of that confirm */
    long long approved_ms;                 /* epoch ms, 0 when not approved */
    char approved_at[32];                  /* RFC 3339, "" when not approved */
    char created_at[32];
    char updated_at[32];
};

/* Reads the payment of @order_id into @ret; with @for_update locks the row until the end of
 * the caller's transaction. -ENOENT when there is none. */
int store_payment_get(struct db_conn *conn, const char *order_id, int for_update,
                      struct pay_row *ret);

/* Inserts a new payment (id, order, user, amount, status, correlation id from @row).
 * -EEXIST when the order already has one. */
int store_payment_insert(struct db_conn *conn, const struct pay_row *row);

/* Writes back status, refunded amount, fail reason, approved time and the confirm token
 * ("" clears it) of @row. */
int store_payment_save(struct db_conn *conn, const struct pay_row *row);

/* Marks a confirmation in progress: token, start time now, payment key. */
int store_payment_confirm_start(struct db_conn *conn, const char *payment_id, const char *token,
                                const char *payment_key);

/* Appends a transaction; its new id goes to @ret_id (37 bytes). @pg_id, @reason may be NULL. */
int store_tx_insert(struct db_conn *conn, const char *payment_id, const char *type,
                    const char *status, const char *pg_id, long long amount, const char *reason,
                    char *ret_id);

/* Transactions of a payment, oldest first: id, type, status, pg_transaction_id, amount,
 * reason, created_at (RFC 3339). Caller owns *@ret (db_result_free). */
enum { TX_ID, TX_TYPE, TX_STATUS, TX_PG_ID, TX_AMOUNT, TX_REASON, TX_CREATED };
int store_tx_list(struct db_conn *conn, const char *payment_id, struct db_result **ret);

/* The stored response of (@order_id, @action, @key). Caller owns *@ret_response: free().
 * -ENOENT when none. */
int store_idem_get(struct db_conn *conn, const char *order_id, const char *action, const char *key,
                   char **ret_response);

/* Stores @response (JSON text) for (@order_id, @action, @key); -EEXIST when present. */
int store_idem_put(struct db_conn *conn, const char *order_id, const char *action, const char *key,
                   const char *response);

/*
 * Appends a @type event about order @order_id to the outbox (key and subject = order id; the
 * version event_types.h publishes it at: payment.completed v2 adds approvedAtTime and keeps
 * approvedAt),
 * as a child of @ctx, with the saga's @correlation_id when non-empty. Takes ownership of
 * @data. -ENOMEM, -EINVAL or a db.h error.
 */
int store_emit(struct db_conn *conn, enum event_type type, const char *order_id,
               const struct msgctx *ctx, const char *correlation_id, cJSON *data);

#endif
