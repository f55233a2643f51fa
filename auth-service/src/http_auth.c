/*
 * http_auth.c - /api/auth: the internal credential API (service token), login, refresh,
 * logout and the JWKS document.
 *
 * Browser clients get the refresh token also as an HttpOnly cookie (REFRESH_COOKIE, path
 * /api/auth) on login and refresh; refresh and logout take it from the body's refreshToken or,
 * when the body has none, from that cookie, which then needs the X-Requested-With header (a
 * custom header: a cross-site form cannot send it and a cross-site script would need a CORS
 * preflight, which this service never grants). See docs/security.md, "Tokens".
 *
 * Problem codes (stable; clients and user-service match on them):
 *   AUTH-400-001  invalid request fields (field errors listed; "Cookie" for a malformed one)
 *   AUTH-401-001  invalid email or password (same answer for an unknown email)
 *   AUTH-401-002  invalid refresh token (unknown, expired, revoked or reused)
 *   AUTH-401-003  missing or wrong service credential (X-Service-Token)
 *   AUTH-403-001  account is not active (INACTIVE or BLOCKED)
 *   AUTH-403-002  the refresh token cookie came without the X-Requested-With header
 *   AUTH-404-001  credential not found
 *   AUTH-409-001  email or user id already registered
 *   AUTH-429-001  too many login attempts from this client address (for this email, or in
 *                 all); Retry-After says when the next one is counted
 *   AUTH-500-001  internal error
 *   AUTH-503-001  database unavailable
 *   AUTH-503-002  the password hashing queue is full (hash_pool.h); Retry-After: 1
 * Malformed JSON bodies get COMMON-400-001/002 from the HTTP layer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "auth.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/metrics.h"
#include "crypto.h"
#include "store_auth.h"

#define SERVICE_TOKEN_HEADER "X-Service-Token"
#define LOGIN_MAX_FIELD 1024 /* login fields are not validated, only capped */
#define TOKEN_MAX_FIELD 256  /* a refresh token is 43 characters */
#define DEADLOCK_RETRIES 3
#define REFRESH_COOKIE "refresh_token"
#define REFRESH_COOKIE_PATH "/api/auth"
#define CSRF_HEADER "X-Requested-With"

/* The hashing pool's answer: -EBUSY → 503 AUTH-503-002 with Retry-After (the server is
 * saturated, not the client too eager: 429 is the throttle's), anything else → 500. */
static void reply_hash_error(struct http_resp *resp, int rc, const char *what)
{
    if (rc == -EBUSY) {
        metrics_inc(AUTH_METRIC_HASH_BUSY, NULL, 1);
        http_reply_problem(resp, 503, "AUTH-503-002", NULL,
                           "too many password checks in progress, try again shortly");
        resp->retry_after_s = 1;
        log_warnx("cannot %s: the password hashing queue is full", what);
    } else {
        http_reply_problem(resp, 500, "AUTH-500-001", NULL, "internal error");
        log_errorx("cannot %s: %d", what, rc);
    }
}

static void reply_store_error(struct http_resp *resp, int rc, const char *what)
{
    if (db_transient(rc)) {
        http_reply_problem(resp, 503, "AUTH-503-001", NULL,
                           "database unavailable, try again later");
        log_warnx("failed to %s: database unavailable (%d)", what, rc);
    } else {
        http_reply_problem(resp, 500, "AUTH-500-001", NULL, "internal error");
        log_errorx("failed to %s: %d", what, rc);
    }
}

/* Checks a connection out or replies 503; NULL then. */
static struct db_conn *acquire(struct auth_app *app, struct http_resp *resp)
{
    char err[256];
    struct db_conn *conn = db_acquire(app->pool, err, sizeof(err));

    if (!conn) {
        http_reply_problem(resp, 503, "AUTH-503-001", NULL,
                           "database unavailable, try again later");
        log_warnx("no database connection: %s", err);
    }
    return conn;
}

/* The internal API is public in the router but needs the service credential: replies 401
 * and returns false without it. */
static bool service_allowed(const struct auth_app *app, struct http_req *req,
                            struct http_resp *resp)
{
    if (crypto_secret_equal(http_header(req, SERVICE_TOKEN_HEADER), app->cfg->service_token))
        return true;
    http_reply_problem(resp, 401, "AUTH-401-003", NULL, "a valid service credential is required");
    log_warnx("refused internal call to '%s': bad or missing service credential", req->path);
    return false;
}

static void reply_field_errors(struct http_resp *resp, const struct auth_error *errs, size_t n,
                               cJSON *errors)
{
    for (size_t i = 0; i < n; i++)
        jsonx_field_error(&errors, errs[i].field, errs[i].message);
    http_reply_problem(resp, 400, "AUTH-400-001", errors, "invalid request");
}

void http_auth_create(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct auth_app *app = arg;
    struct auth_credential c = {0};
    struct auth_error errs[4];
    char email[AUTH_MAX_EMAIL + 1], hash[CRYPTO_ENCODED_MAX];
    struct db_conn *conn = NULL;
    cJSON *body = NULL, *errors = NULL, *out;
    size_t nerr = 0;
    int rc;

    if (!service_allowed(app, req, resp))
        return;
    body = http_json_body(req, resp);
    if (!body)
        return;
    jsonx_str(body, "userId", "userId", true, LOGIN_MAX_FIELD, &c.user_id, &errors);
    jsonx_str(body, "email", "email", true, LOGIN_MAX_FIELD, &c.email, &errors);
    jsonx_str(body, "password", "password", true, LOGIN_MAX_FIELD, &c.password, &errors);
    jsonx_str(body, "provider", "provider", false, LOGIN_MAX_FIELD, &c.provider, &errors);
    /* "role" is ignored on purpose: credentials made here are always USER */
    if (errors || auth_validate_credential(&c, errs, 4, &nerr) != AUTH_OK) {
        reply_field_errors(resp, errs, nerr, errors);
        goto out;
    }
    auth_email_normalize(c.email, email, sizeof(email));
    rc = hash_pool_hash(app->hash, c.password, strlen(c.password), hash);
    if (rc < 0) {
        reply_hash_error(resp, rc, "hash a new password");
        goto out;
    }
    conn = acquire(app, resp);
    if (!conn)
        goto out;
    rc = store_credential_create(conn, c.user_id, email, hash,
                                 c.provider ? c.provider : AUTH_DEFAULT_PROVIDER, AUTH_ROLE_USER);
    if (rc == -EEXIST) {
        http_reply_problem(resp, 409, "AUTH-409-001", NULL,
                           "a credential with this email or user id already exists");
        goto out;
    }
    if (rc < 0) {
        reply_store_error(resp, rc, "create credential");
        goto out;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "userId", c.user_id);
    cJSON_AddStringToObject(out, "email", email);
    http_reply_json(resp, 201, out);
    log_info("created credential for user '%s'", c.user_id);
out:
    if (conn)
        db_release(app->pool, conn);
    cJSON_Delete(body);
}

void http_auth_status(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct auth_app *app = arg;
    const char *user_id = http_param(req, "userId"), *name = NULL;
    enum auth_status status = AUTH_STATUS_ACTIVE;
    struct db_conn *conn = NULL;
    cJSON *body = NULL, *errors = NULL;
    int rc = -EDEADLK;

    if (!service_allowed(app, req, resp))
        return;
    if (!auth_user_id_valid(user_id)) {
        http_reply_problem(resp, 404, "AUTH-404-001", NULL, "credential not found");
        return;
    }
    body = http_json_body(req, resp);
    if (!body)
        return;
    if (jsonx_str(body, "status", "status", true, 16, &name, &errors) == 0 &&
        auth_status_parse(name, &status) < 0)
        jsonx_field_error(&errors, "status", "must be one of ACTIVE, INACTIVE, BLOCKED");
    if (errors) {
        http_reply_problem(resp, 400, "AUTH-400-001", errors, "invalid request");
        goto out;
    }
    conn = acquire(app, resp);
    if (!conn)
        goto out;
    for (int attempt = 0; attempt < DEADLOCK_RETRIES && rc == -EDEADLK; attempt++)
        rc = store_credential_set_status(conn, user_id, status);
    if (rc == -ENOENT) {
        http_reply_problem(resp, 404, "AUTH-404-001", NULL, "credential not found");
    } else if (rc < 0) {
        reply_store_error(resp, rc, "set credential status");
    } else {
        http_reply_json(resp, 204, NULL);
        log_info("set status of user '%s' to %s", user_id, auth_status_name(status));
    }
out:
    if (conn)
        db_release(app->pool, conn);
    cJSON_Delete(body);
}

/* Internal DELETE /api/auth/{userId}: user-service undoes a sign-up whose outcome it could not
 * know (timeout after sending, or its own commit failed after our 201). Idempotent: 204 also
 * when there is no such credential. */
void http_auth_delete(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct auth_app *app = arg;
    const char *user_id = http_param(req, "userId");
    struct db_conn *conn;
    int rc = -EDEADLK;

    if (!service_allowed(app, req, resp))
        return;
    if (!auth_user_id_valid(user_id)) {
        http_reply_problem(resp, 404, "AUTH-404-001", NULL, "credential not found");
        return;
    }
    conn = acquire(app, resp);
    if (!conn)
        return;
    for (int attempt = 0; attempt < DEADLOCK_RETRIES && rc == -EDEADLK; attempt++)
        rc = store_credential_delete(conn, user_id);
    if (rc < 0) {
        reply_store_error(resp, rc, "delete credential");
    } else {
        http_reply_json(resp, 204, NULL);
        log_info("deleted credential of user '%s' (sign-up undone)", user_id);
    }
    db_release(app->pool, conn);
}

/* Sets the refresh token cookie to @refresh for REFRESH_TOKEN_TTL_S, or clears it (NULL). */
static void set_refresh_cookie(const struct auth_app *app, struct http_resp *resp,
                               const char *refresh)
{
    char cookie[HTTP_RESP_HEADER_VALUE_MAX];

    snprintf(cookie, sizeof(cookie),
             REFRESH_COOKIE "=%s; Path=" REFRESH_COOKIE_PATH
                            "; Max-Age=%ld; HttpOnly; Secure; SameSite=Strict",
             refresh ? refresh : "", refresh ? app->cfg->refresh_ttl_s : 0L);
    if (http_resp_header(resp, "Set-Cookie", cookie) < 0)
        log_errorx("cannot set the refresh token cookie");
}

/* Signs an access token for @cred and replies 200 with it and @refresh (in the body and the
 * cookie). */
static void reply_tokens(struct auth_app *app, struct http_resp *resp,
                         const struct store_credential *cred, const char *refresh, int64_t now)
{
    struct jwt_principal p;
    char *access = NULL;
    cJSON *out;
    int rc;

    rc = auth_principal_build(cred->user_id, cred->email, cred->role, &p);
    if (rc == 0)
        rc = jwt_sign(app->key, &p, now, app->cfg->access_ttl_s, &access);
    if (rc < 0) {
        http_reply_problem(resp, 500, "AUTH-500-001", NULL, "internal error");
        log_errorx("cannot sign an access token for user '%s': %d", cred->user_id, rc);
        return;
    }
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "accessToken", access);
    cJSON_AddStringToObject(out, "refreshToken", refresh);
    cJSON_AddStringToObject(out, "tokenType", "Bearer");
    cJSON_AddNumberToObject(out, "expiresIn", (double)app->cfg->access_ttl_s);
    http_reply_json(resp, 200, out);
    set_refresh_cookie(app, resp, refresh);
    free(access);
}

static void reply_bad_login(struct http_resp *resp)
{
    http_reply_problem(resp, 401, "AUTH-401-001", NULL, "invalid email or password");
}

/* The client address a login is throttled by: the TCP peer (behind a reverse proxy, the
 * proxy's address; X-Forwarded-For is not trusted, anyone can write it). */
static const char *login_address(const struct http_req *req)
{
    return req->remote_addr[0] ? req->remote_addr : "unknown";
}

/* Counts the attempt before any password check; false after replying 429 or an error. */
static bool login_reserve(struct auth_app *app, struct db_conn *conn, struct http_resp *resp,
                          const char *email, const char *ip, int64_t now)
{
    int64_t wait = 0;
    int rc = -EDEADLK;

    /* -ENOENT: a concurrent success deleted the pair between its insert and its lock */
    for (int attempt = 0; attempt < DEADLOCK_RETRIES && (rc == -EDEADLK || rc == -ENOENT);
         attempt++)
        rc = store_login_reserve(conn, email, ip, &app->cfg->login, now, &wait);
    if (rc < 0) {
        reply_store_error(resp, rc, "count a login attempt");
        return false;
    }
    if (wait > 0) {
        metrics_inc(AUTH_METRIC_THROTTLED, NULL, 1);
        http_reply_problem(resp, 429, "AUTH-429-001", NULL,
                           "too many login attempts, try again in %lld seconds", (long long)wait);
        resp->retry_after_s = (long)wait;
        return false;
    }
    return true;
}

void http_auth_login(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct auth_app *app = arg;
    const char *email_in = NULL, *password = NULL, *ip = login_address(req);
    char email[AUTH_MAX_EMAIL + 1], refresh[CRYPTO_REFRESH_LEN];
    struct store_credential cred;
    struct db_conn *conn = NULL;
    cJSON *body = NULL, *errors = NULL;
    int64_t now = (int64_t)time(NULL);
    bool known = false, ok = false;
    int rc;

    body = http_json_body(req, resp);
    if (!body)
        return;
    jsonx_str(body, "email", "email", true, LOGIN_MAX_FIELD, &email_in, &errors);
    jsonx_str(body, "password", "password", true, LOGIN_MAX_FIELD, &password, &errors);
    if (errors) {
        http_reply_problem(resp, 400, "AUTH-400-001", errors, "invalid request");
        goto out;
    }
    /* an address that cannot exist is treated exactly like an unknown one (and throttled
     * under the empty email) */
    if (auth_email_normalize(email_in, email, sizeof(email)) < 0 || !auth_email_valid(email))
        email[0] = '\0';
    conn = acquire(app, resp);
    if (!conn || !login_reserve(app, conn, resp, email, ip, now))
        goto out;
    if (email[0]) {
        rc = store_credential_by_email(conn, email, &cred);
        if (rc < 0 && rc != -ENOENT) {
            reply_store_error(resp, rc, "read credential");
            goto out;
        }
        known = rc == 0;
    }
    /* always one Argon2id verification, so an unknown email costs what a wrong password does;
     * refused when the hashing queue is full (the attempt stays counted: a flood of refusals
     * must not reset the throttle) */
    rc = hash_pool_verify(app->hash, known ? cred.password_hash : app->dummy_hash, password,
                          strlen(password), &ok);
    if (rc < 0) {
        reply_hash_error(resp, rc, "check a password");
        goto out;
    }
    metrics_inc(AUTH_METRIC_CHECKS, NULL, 1);
    if (!ok || !known) {
        reply_bad_login(resp); /* already counted as a failure by login_reserve() */
        goto out;
    }
    if (cred.status != AUTH_STATUS_ACTIVE) {
        http_reply_problem(resp, 403, "AUTH-403-001", NULL, "account is %s",
                           auth_status_name(cred.status));
        log_info("refused login of %s user '%s'", auth_status_name(cred.status), cred.user_id);
        goto out;
    }
    rc = store_login_forget(conn, email, ip);
    if (rc == 0)
        rc = store_refresh_issue(conn, cred.user_id, now, app->cfg->refresh_ttl_s, refresh);
    if (rc < 0) {
        reply_store_error(resp, rc, "issue refresh token");
        goto out;
    }
    rc = store_login_record(conn, cred.user_id, req->remote_addr[0] ? req->remote_addr : NULL,
                            http_header(req, "User-Agent"));
    if (rc < 0)
        log_warnx("cannot record the login of user '%s': %d", cred.user_id, rc);
    reply_tokens(app, resp, &cred, refresh, now);
    log_info("user '%s' logged in", cred.user_id);
out:
    if (conn)
        db_release(app->pool, conn);
    cJSON_Delete(body);
}

/* The refresh token of a refresh or logout: the body's refreshToken, else the cookie. */
struct refresh_in {
    cJSON *body; /* the parsed body (NULL when empty); owned */
    char cookie[TOKEN_MAX_FIELD + 1];
    bool from_cookie;
};

/* Finds the refresh token (see the file's top comment); NULL after replying 400 or 403. The
 * result is borrowed from @in: refresh_in_release() it. */
static const char *refresh_token(struct http_req *req, struct http_resp *resp,
                                 struct refresh_in *in)
{
    cJSON *errors = NULL;
    const char *token = NULL;
    int rc;

    /* the Cookie header is checked whenever it is sent, even when the body has the token: a
     * malformed or oversized one is refused, never silently ignored */
    rc = http_cookie(req, REFRESH_COOKIE, in->cookie, sizeof(in->cookie));
    if (rc < 0 && rc != -ENOENT) {
        jsonx_field_error(&errors, "Cookie", "malformed or oversized Cookie header");
        goto bad;
    }
    if (req->body_len > 0) {
        in->body = http_json_body(req, resp);
        if (!in->body)
            return NULL;
        jsonx_str(in->body, "refreshToken", "refreshToken", false, TOKEN_MAX_FIELD, &token,
                  &errors);
        if (errors)
            goto bad;
        if (token)
            return token;
    }
    if (rc == -ENOENT) {
        jsonx_field_error(&errors, "refreshToken",
                          "is required (in the body, or the " REFRESH_COOKIE " cookie)");
        goto bad;
    }
    if (!http_header(req, CSRF_HEADER)) {
        http_reply_problem(resp, 403, "AUTH-403-002", NULL,
                           "the " REFRESH_COOKIE " cookie needs the " CSRF_HEADER " header");
        return NULL;
    }
    in->from_cookie = true;
    return in->cookie;
bad:
    http_reply_problem(resp, 400, "AUTH-400-001", errors, "invalid request");
    return NULL;
}

static void refresh_in_release(struct refresh_in *in)
{
    cJSON_Delete(in->body);
}

void http_auth_refresh(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct auth_app *app = arg;
    enum auth_refresh_decision decision = AUTH_REFRESH_REVOKED;
    char refresh[CRYPTO_REFRESH_LEN];
    struct store_credential cred;
    struct db_conn *conn = NULL;
    struct refresh_in in = {0};
    int64_t now = (int64_t)time(NULL);
    const char *token = refresh_token(req, resp, &in);
    int rc = -EDEADLK;

    if (!token)
        goto out; /* the body may have been parsed */
    conn = acquire(app, resp);
    if (!conn)
        goto out;
    for (int attempt = 0; attempt < DEADLOCK_RETRIES && rc == -EDEADLK; attempt++)
        rc = store_refresh_rotate(conn, token, now, app->cfg->refresh_ttl_s, &decision, &cred,
                                  refresh);
    if (rc == -EACCES) {
        http_reply_problem(resp, 403, "AUTH-403-001", NULL, "account is not active");
        goto out;
    }
    if (rc < 0 && rc != -ENOENT) {
        reply_store_error(resp, rc, "rotate refresh token");
        goto out;
    }
    if (rc == -ENOENT || decision != AUTH_REFRESH_VALID) {
        if (rc == 0 && decision == AUTH_REFRESH_REUSED)
            log_warnx("refresh token reused: revoked its family");
        http_reply_problem(resp, 401, "AUTH-401-002", NULL, "invalid refresh token");
        if (in.from_cookie) /* it will never work again: the browser may forget it */
            set_refresh_cookie(app, resp, NULL);
        goto out;
    }
    reply_tokens(app, resp, &cred, refresh, now);
out:
    if (conn)
        db_release(app->pool, conn);
    refresh_in_release(&in);
}

void http_auth_logout(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct auth_app *app = arg;
    struct db_conn *conn = NULL;
    struct refresh_in in = {0};
    const char *token = refresh_token(req, resp, &in);
    int rc;

    if (!token)
        goto out;
    conn = acquire(app, resp);
    if (!conn)
        goto out;
    rc = store_refresh_revoke_family(conn, token);
    /* an unknown token gets the same 204: logout is no oracle for valid tokens */
    if (rc < 0 && rc != -ENOENT) {
        reply_store_error(resp, rc, "revoke refresh token");
    } else {
        http_reply_json(resp, 204, NULL);
        set_refresh_cookie(app, resp, NULL);
    }
out:
    if (conn)
        db_release(app->pool, conn);
    refresh_in_release(&in);
}

void http_auth_metrics_register(void)
{
    metrics_counter(AUTH_METRIC_CHECKS, "Password (Argon2id) checks run by logins.", "");
    metrics_counter(AUTH_METRIC_THROTTLED,
                    "Login attempts refused with 429 before any password check.", "");
    metrics_counter(AUTH_METRIC_HASH_BUSY,
                    "Password hashes and checks refused with 503: the hashing queue was full.", "");
}

void http_auth_jwks(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct auth_app *app = arg;

    (void)req;
    http_reply_json(resp, 200, cJSON_Duplicate(app->jwks, 1));
}
