/* store_auth.c - auth-service's MariaDB adapter (see store_auth.h). */
#include "store_auth.h"

#include <errno.h>
#include <string.h>

#include "common/util.h"

#define USER_AGENT_MAX 512

int store_credential_create(struct db_conn *conn, const char *user_id, const char *email,
                            const char *password_hash, const char *provider, enum auth_role role)
{
    struct db_param p[] = {DB_STR(user_id), DB_STR(email), DB_STR(password_hash), DB_STR(provider),
                           DB_STR(auth_role_name(role))};

    return db_exec(conn,
                   "INSERT INTO credential (user_id, email, password_hash, provider, role) "
                   "VALUES (?, ?, ?, ?, ?)",
                   p, 5, NULL, NULL);
}

enum { CRED_USER_ID, CRED_EMAIL, CRED_HASH, CRED_ROLE, CRED_STATUS };
#define CRED_COLS "user_id, email, password_hash, role, status"

/* Copies row 0 of a CRED_COLS result; -EINVAL for values the domain does not know. */
static int credential_from(const struct db_result *res, struct store_credential *ret)
{
    struct store_credential c;

    memset(&c, 0, sizeof(c));
    util_strlcpy(c.user_id, db_result_get(res, 0, CRED_USER_ID), sizeof(c.user_id));
    util_strlcpy(c.email, db_result_get(res, 0, CRED_EMAIL), sizeof(c.email));
    util_strlcpy(c.password_hash, db_result_get(res, 0, CRED_HASH), sizeof(c.password_hash));
    if (auth_role_parse(db_result_get(res, 0, CRED_ROLE), &c.role) < 0 ||
        auth_status_parse(db_result_get(res, 0, CRED_STATUS), &c.status) < 0)
        return -EINVAL;
    *ret = c;
    return 0;
}

int store_credential_by_email(struct db_conn *conn, const char *email, struct store_credential *ret)
{
    struct db_param p[] = {DB_STR(email)};
    struct db_result *res;
    int rc = db_query_one(conn, "SELECT " CRED_COLS " FROM credential WHERE email = ?", p, 1, &res);

    if (rc < 0)
        return rc;
    rc = credential_from(res, ret);
    db_result_free(res);
    return rc;
}

static int credential_by_id_locked(struct db_conn *conn, const char *user_id,
                                   struct store_credential *ret)
{
    struct db_param p[] = {DB_STR(user_id)};
    struct db_result *res;
    int rc = db_query_one(conn, "SELECT " CRED_COLS " FROM credential WHERE user_id = ? FOR UPDATE",
                          p, 1, &res);

    if (rc < 0)
        return rc;
    rc = credential_from(res, ret);
    db_result_free(res);
    return rc;
}

int store_credential_set_status(struct db_conn *conn, const char *user_id, enum auth_status status)
{
    unsigned long long matched = 0;
    int rc = db_begin(conn);

    if (rc < 0)
        return rc;
    {
        struct db_param p[] = {DB_STR(auth_status_name(status)), DB_STR(user_id)};
        rc =
            db_exec(conn, "UPDATE credential SET status = ?, updated_at = NOW(6) WHERE user_id = ?",
                    p, 2, &matched, NULL);
        if (rc < 0)
            goto rollback;
        if (matched == 0) {
            rc = -ENOENT;
            goto rollback;
        }
    }
    if (auth_status_revokes(status)) {
        struct db_param p[] = {DB_STR(user_id)};
        rc = db_exec(conn,
                     "UPDATE refresh_token SET revoked_at = NOW(6) "
                     "WHERE user_id = ? AND revoked_at IS NULL",
                     p, 1, NULL, NULL);
        if (rc < 0)
            goto rollback;
    }
    rc = db_commit(conn);
    if (rc < 0)
        goto rollback;
    return 0;
rollback:
    db_rollback(conn);
    return rc;
}

int store_login_reserve(struct db_conn *conn, const char *email, const char *ip,
                        const struct auth_login_limits *lim, int64_t now, int64_t *ret_wait_s)
{
    struct db_param pk[] = {DB_STR(email), DB_STR(ip)}, ak[] = {DB_STR(ip)};
    struct auth_login_pair pair;
    struct auth_login_ip addr;
    struct db_result *res;
    int64_t wait;
    int rc;

    /* the rows exist before the transaction, so the locks below are plain X locks (an insert
     * inside it would take S first and deadlock with a concurrent attempt) */
    rc =
        db_exec(conn, "INSERT IGNORE INTO login_pair (email, ip) VALUES (?, ?)", pk, 2, NULL, NULL);
    if (rc == 0)
        rc = db_exec(conn, "INSERT IGNORE INTO login_address (ip) VALUES (?)", ak, 1, NULL, NULL);
    if (rc == 0)
        rc = db_begin(conn);
    if (rc < 0)
        return rc;
    rc = db_query_one(conn,
                      "SELECT failures, last_at FROM login_pair WHERE email = ? AND ip = ? "
                      "FOR UPDATE",
                      pk, 2, &res);
    if (rc < 0)
        goto rollback;
    pair.failures = (long)db_result_int(res, 0, 0);
    pair.last_at = db_result_int(res, 0, 1);
    db_result_free(res);
    rc = db_query_one(conn,
                      "SELECT attempts, window_start FROM login_address WHERE ip = ? FOR UPDATE",
                      ak, 1, &res);
    if (rc < 0)
        goto rollback;
    addr.attempts = (long)db_result_int(res, 0, 0);
    addr.window_start = db_result_int(res, 0, 1);
    db_result_free(res);

    wait = auth_login_reserve(lim, &pair, &addr, now);
    if (wait == 0) {
        struct db_param pp[] = {DB_INT(pair.failures), DB_INT(pair.last_at), DB_STR(email),
                                DB_STR(ip)};
        struct db_param ap[] = {DB_INT(addr.attempts), DB_INT(addr.window_start), DB_STR(ip)};

        rc = db_exec(conn,
                     "UPDATE login_pair SET failures = ?, last_at = ? WHERE email = ? AND ip = ?",
                     pp, 4, NULL, NULL);
        if (rc == 0)
            rc = db_exec(conn,
                         "UPDATE login_address SET attempts = ?, window_start = ? WHERE ip = ?", ap,
                         3, NULL, NULL);
        if (rc < 0)
            goto rollback;
    }
    rc = db_commit(conn);
    if (rc < 0)
        goto rollback;
    *ret_wait_s = wait;
    return 0;
rollback:
    db_rollback(conn);
    return rc;
}

int store_login_forget(struct db_conn *conn, const char *email, const char *ip)
{
    struct db_param p[] = {DB_STR(email), DB_STR(ip)};

    return db_exec(conn, "DELETE FROM login_pair WHERE email = ? AND ip = ?", p, 2, NULL, NULL);
}

/* Inserts a fresh token of @family_id; the token goes to @ret_token. */
static int refresh_insert(struct db_conn *conn, const char *user_id, const char *family_id,
                          int64_t expires_at, char ret_token[CRYPTO_REFRESH_LEN])
{
    char token[CRYPTO_REFRESH_LEN], digest[CRYPTO_DIGEST_HEX_LEN];
    int rc = crypto_refresh_new(token);

    if (rc < 0)
        return rc;
    crypto_sha256_hex(token, strlen(token), digest);
    {
        struct db_param p[] = {DB_STR(digest), DB_STR(family_id), DB_STR(user_id),
                               DB_INT(expires_at)};
        rc = db_exec(conn,
                     "INSERT INTO refresh_token (token_hash, family_id, user_id, expires_at) "
                     "VALUES (?, ?, ?, ?)",
                     p, 4, NULL, NULL);
    }
    if (rc == 0)
        memcpy(ret_token, token, sizeof(token));
    return rc;
}

int store_refresh_issue(struct db_conn *conn, const char *user_id, int64_t now, int64_t ttl_s,
                        char ret_token[CRYPTO_REFRESH_LEN])
{
    char family[UTIL_UUID_LEN];

    util_uuid(family);
    return refresh_insert(conn, user_id, family, now + ttl_s, ret_token);
}

static int revoke_family(struct db_conn *conn, const char *family_id)
{
    struct db_param p[] = {DB_STR(family_id)};

    return db_exec(conn,
                   "UPDATE refresh_token SET revoked_at = NOW(6) "
                   "WHERE family_id = ? AND revoked_at IS NULL",
                   p, 1, NULL, NULL);
}

enum { RT_ID, RT_FAMILY, RT_USER, RT_EXPIRES, RT_USED, RT_REVOKED };

int store_refresh_rotate(struct db_conn *conn, const char *token, int64_t now, int64_t ttl_s,
                         enum auth_refresh_decision *ret_decision,
                         struct store_credential *ret_cred, char ret_token[CRYPTO_REFRESH_LEN])
{
    char digest[CRYPTO_DIGEST_HEX_LEN], family[UTIL_UUID_LEN], user_id[AUTH_MAX_USER_ID + 1];
    struct auth_refresh_state state;
    enum auth_refresh_decision decision;
    struct store_credential cred;
    struct db_result *res;
    long long id;
    int rc;

    crypto_sha256_hex(token, strlen(token), digest);
    rc = db_begin(conn);
    if (rc < 0)
        return rc;
    {
        struct db_param p[] = {DB_STR(digest)};
        rc = db_query_one(
            conn,
            "SELECT id, family_id, user_id, expires_at, used_at IS NOT NULL, "
            "revoked_at IS NOT NULL FROM refresh_token WHERE token_hash = ? FOR UPDATE",
            p, 1, &res);
        if (rc < 0)
            goto rollback;
    }
    id = db_result_int(res, 0, RT_ID);
    util_strlcpy(family, db_result_get(res, 0, RT_FAMILY), sizeof(family));
    util_strlcpy(user_id, db_result_get(res, 0, RT_USER), sizeof(user_id));
    state.expires_at = db_result_int(res, 0, RT_EXPIRES);
    state.used = db_result_int(res, 0, RT_USED) != 0;
    state.revoked = db_result_int(res, 0, RT_REVOKED) != 0;
    db_result_free(res);

    decision = auth_refresh_decide(&state, now);
    if (decision == AUTH_REFRESH_REUSED) {
        rc = revoke_family(conn, family);
        if (rc < 0)
            goto rollback;
    } else if (decision == AUTH_REFRESH_VALID) {
        struct db_param p[] = {DB_INT(id)};

        rc = db_exec(conn, "UPDATE refresh_token SET used_at = NOW(6) WHERE id = ?", p, 1, NULL,
                     NULL);
        if (rc < 0)
            goto rollback;
        rc = credential_by_id_locked(conn, user_id, &cred);
        if (rc == 0 && cred.status != AUTH_STATUS_ACTIVE)
            rc = -EACCES;
        if (rc == -ENOENT || rc == -EACCES) {
            /* the account is gone or disabled: end the session for good */
            int rc2 = revoke_family(conn, family);
            if (rc2 < 0 || (rc2 = db_commit(conn)) < 0) {
                rc = rc2;
                goto rollback;
            }
            return -EACCES;
        }
        if (rc < 0)
            goto rollback;
        rc = refresh_insert(conn, user_id, family, now + ttl_s, ret_token);
        if (rc < 0)
            goto rollback;
    }
    rc = db_commit(conn);
    if (rc < 0)
        goto rollback;
    *ret_decision = decision;
    if (decision == AUTH_REFRESH_VALID)
        *ret_cred = cred;
    return 0;
rollback:
    db_rollback(conn);
    return rc;
}

int store_refresh_revoke_family(struct db_conn *conn, const char *token)
{
    char digest[CRYPTO_DIGEST_HEX_LEN];
    unsigned long long matched = 0;
    int rc;

    crypto_sha256_hex(token, strlen(token), digest);
    {
        /* one statement: the family of the token's row, whatever state it is in */
        struct db_param p[] = {DB_STR(digest)};
        rc = db_exec(conn,
                     "UPDATE refresh_token t JOIN refresh_token s ON s.family_id = t.family_id "
                     "SET t.revoked_at = COALESCE(t.revoked_at, NOW(6)) WHERE s.token_hash = ?",
                     p, 1, &matched, NULL);
    }
    if (rc == 0 && matched == 0)
        rc = -ENOENT;
    return rc;
}

int store_login_record(struct db_conn *conn, const char *user_id, const char *ip,
                       const char *user_agent)
{
    char agent[USER_AGENT_MAX + 1];
    size_t n = 0;

    /* printable ASCII only: a header is not trusted to be valid UTF-8 */
    for (; user_agent && user_agent[n] && n < USER_AGENT_MAX; n++) {
        unsigned char ch = (unsigned char)user_agent[n];
        agent[n] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    agent[n] = '\0';
    {
        struct db_param p[] = {DB_STR(user_id), ip ? DB_STR(ip) : DB_NULLP,
                               user_agent ? DB_STR(agent) : DB_NULLP};
        return db_exec(conn, "INSERT INTO login_history (user_id, ip, user_agent) VALUES (?, ?, ?)",
                       p, 3, NULL, NULL);
    }
}

int store_credential_delete(struct db_conn *conn, const char *user_id)
{
    static const char *const sql[] = {
        "DELETE r FROM refresh_token r JOIN credential c ON c.user_id = r.user_id "
        "WHERE c.user_id = ? AND c.role = 'USER'",
        "DELETE h FROM login_history h JOIN credential c ON c.user_id = h.user_id "
        "WHERE c.user_id = ? AND c.role = 'USER'",
        "DELETE FROM credential WHERE user_id = ? AND role = 'USER'",
    };
    struct db_param p[] = {DB_STR(user_id)};
    int rc = db_begin(conn);

    for (size_t i = 0; rc == 0 && i < sizeof(sql) / sizeof(sql[0]); i++)
        rc = db_exec(conn, sql[i], p, 1, NULL, NULL);
    if (rc == 0)
        rc = db_commit(conn);
    if (rc < 0)
        db_rollback(conn);
    return rc;
}
