/*
 * store_auth.h - auth-service's MariaDB adapter. Every function takes a checked-out connection
 * and returns 0 or a negative errno (db.h codes plus the ones named below). Tokens are never
 * stored: only their SHA-256 (crypto_sha256_hex). Times are epoch seconds from the caller.
 */
#ifndef STORE_AUTH_H
#define STORE_AUTH_H

#include <stdint.h>

#include "auth.h"
#include "common/db.h"
#include "crypto.h"

/* One credential row, copied out of the result. */
struct store_credential {
    char user_id[AUTH_MAX_USER_ID + 1];
    char email[AUTH_MAX_EMAIL + 1];
    char password_hash[256];
    enum auth_role role;
    enum auth_status status;
};

/* Inserts an ACTIVE credential. -EEXIST when the email or the user id is taken. */
int store_credential_create(struct db_conn *conn, const char *user_id, const char *email,
                            const char *password_hash, const char *provider, enum auth_role role);

/* The credential with @email (normalised). -ENOENT when none. */
int store_credential_by_email(struct db_conn *conn, const char *email,
                              struct store_credential *ret);

/* Sets the status; a status that ends sessions also revokes every refresh token of the user,
 * in the same transaction. -ENOENT unknown user. */
int store_credential_set_status(struct db_conn *conn, const char *user_id, enum auth_status status);

/* Deletes a USER credential with its refresh tokens and login history (undoing a sign-up
 * whose profile was not kept). ADMIN credentials are never deleted. 0 also when there was
 * none (idempotent). */
int store_credential_delete(struct db_conn *conn, const char *user_id);

/*
 * Counts a login attempt of @email from @ip at @now before its password is checked: in one
 * transaction both rows are locked (pair first, then address: one order, no deadlock),
 * auth_login_reserve() decides and the counters are written. So concurrent attempts are
 * decided one after the other and at most the allowed number reach the password check.
 * *@ret_wait_s gets 0 (go ahead) or the seconds to wait (nothing counted).
 */
int store_login_reserve(struct db_conn *conn, const char *email, const char *ip,
                        const struct auth_login_limits *lim, int64_t now, int64_t *ret_wait_s);

/* Forgets the failures of the (@email, @ip) pair (after a successful login). */
int store_login_forget(struct db_conn *conn, const char *email, const char *ip);

/* Issues a refresh token for @user_id in a new family valid until @now + @ttl_s; the token
 * goes to @ret_token. */
int store_refresh_issue(struct db_conn *conn, const char *user_id, int64_t now, int64_t ttl_s,
                        char ret_token[CRYPTO_REFRESH_LEN]);

/*
 * Presents @token at @now, in one transaction with the row locked (SELECT … FOR UPDATE), so
 * two concurrent presentations of one token cannot both rotate it. *@ret_decision says what
 * happened:
 *   AUTH_REFRESH_VALID    marked used; a new token of the same family (valid @ttl_s) is in
 *                         @ret_token and the credential in *@ret_cred
 *   AUTH_REFRESH_REUSED   the whole family was revoked
 *   AUTH_REFRESH_EXPIRED / AUTH_REFRESH_REVOKED  nothing changed
 * Returns -ENOENT for an unknown token, -EACCES when the credential is no longer ACTIVE (the
 * family is then revoked).
 */
int store_refresh_rotate(struct db_conn *conn, const char *token, int64_t now, int64_t ttl_s,
                         enum auth_refresh_decision *ret_decision,
                         struct store_credential *ret_cred, char ret_token[CRYPTO_REFRESH_LEN]);

/* Revokes the family of @token. -ENOENT for an unknown token. */
int store_refresh_revoke_family(struct db_conn *conn, const char *token);

/* Appends to login_history; @ip and @user_agent may be NULL (the agent is cut to 512 bytes). */
int store_login_record(struct db_conn *conn, const char *user_id, const char *ip,
                       const char *user_agent);

#endif
