/*
 * http_users.c - /api/users: sign-up (which creates the credential in auth-service), read a
 * profile, change one's own profile, close one's own account, and the administrator's update
 * and block.
 *
 * Every status change is made in auth-service first (so a blocked or closed account can no
 * longer log in) and then locally, with the user's row locked for the whole exchange; when
 * auth-service does not accept it the local status stays as it was.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "undo.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/util.h"
#include "store_user.h"
#include "user.h"

#define USER_PROVIDER "LOCAL"
#define USER_JSON_MAXLEN 4096 /* type check only; user.c checks the real limits */
#define USER_MAX_ERRORS 8

static void reply_store_error(struct http_resp *resp, int rc, const char *what)
{
    if (db_transient(rc)) {
        http_reply_problem(resp, 503, "USER-503-002", NULL,
                           "database unavailable, try again later");
        log_warnx("failed to %s: database unavailable (%d)", what, rc);
    } else {
        http_reply_problem(resp, 500, "USER-500-001", NULL, "internal error");
        log_errorx("failed to %s: %d", what, rc);
    }
}

static struct db_conn *acquire(struct user_app *app, struct http_resp *resp)
{
    char err[256];
    struct db_conn *conn = db_acquire(app->pool, err, sizeof(err));

    if (!conn) {
        http_reply_problem(resp, 503, "USER-503-002", NULL,
                           "database unavailable, try again later");
        log_warnx("no database connection: %s", err);
    }
    return conn;
}

/* The problem for an auth-service call that did not succeed. */
static void reply_auth_error(struct http_resp *resp, enum auth_outcome outcome, const char *what,
                             const char *detail)
{
    if (outcome == AUTH_UNAVAILABLE) {
        http_reply_problem(resp, 503, "USER-503-001", NULL,
                           "the authentication service is unavailable, try again later");
        log_warnx("auth-service unavailable to %s: %s", what, detail);
    } else {
        http_reply_problem(resp, 502, "USER-502-001", NULL,
                           "the authentication service gave an unexpected answer");
        log_errorx("auth-service refused to %s: %s", what, detail);
    }
}

static void reply_field_errors(struct http_resp *resp, const struct user_error *errs, size_t nerr,
                               const char *detail)
{
    cJSON *errors = NULL;

    for (size_t i = 0; i < nerr; i++)
        jsonx_field_error(&errors, errs[i].field, errs[i].message);
    http_reply_problem(resp, 400, "USER-400-001", errors, "%s", detail);
}

static cJSON *user_json(const struct db_result *res)
{
    cJSON *u = cJSON_CreateObject();

    if (!u)
        return NULL;
    cJSON_AddStringToObject(u, "id", db_result_get(res, 0, USER_COL_ID));
    cJSON_AddStringToObject(u, "email", db_result_get(res, 0, USER_COL_EMAIL));
    cJSON_AddStringToObject(u, "name", db_result_get(res, 0, USER_COL_NAME));
    cJSON_AddStringToObject(u, "phone", db_result_get(res, 0, USER_COL_PHONE));
    cJSON_AddStringToObject(u, "status", db_result_get(res, 0, USER_COL_STATUS));
    cJSON_AddStringToObject(u, "createdAt", db_result_get(res, 0, USER_COL_CREATED));
    cJSON_AddStringToObject(u, "updatedAt", db_result_get(res, 0, USER_COL_UPDATED));
    return u;
}

/* Reads and replies user @id (200 or @status). */
static void reply_user(struct db_conn *conn, const char *id, int status, struct http_resp *resp)
{
    struct db_result *res = NULL;
    int rc = store_user_get(conn, id, &res);

    if (rc == -ENOENT)
        http_reply_problem(resp, 404, "USER-404-001", NULL, "user not found");
    else if (rc < 0)
        reply_store_error(resp, rc, "read user");
    else
        http_reply_json(resp, status, user_json(res));
    db_result_free(res);
}

/* Copies the path's {id} in lower case into @out; false (and a 404 in @resp) when it is not a
 * UUID, since no user can have such an id. */
static bool path_id(struct http_req *req, struct http_resp *resp, char out[UTIL_UUID_LEN])
{
    const char *id = http_param(req, "id");

    if (!id || !util_is_uuid(id)) {
        http_reply_problem(resp, 404, "USER-404-001", NULL, "user not found");
        return false;
    }
    for (size_t i = 0; i < UTIL_UUID_LEN; i++)
        out[i] = (char)tolower((unsigned char)id[i]);
    return true;
}

static bool is_admin(const struct http_req *req)
{
    return req->principal && (req->principal->roles & JWT_ROLE_ADMIN);
}

/* Queues the removal of the credential of a sign-up that was not kept (see undo.h): the
 * client gets its answer now, the DELETE is retried in the background. */
static void undo_credential(struct user_app *app, const char *id)
{
    undo_push(app->undo, id);
}

void http_user_signup(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct user_app *app = arg;
    cJSON *body = http_json_body(req, resp), *errors = NULL;
    struct user_signup s = {0};
    struct user_error errs[USER_MAX_ERRORS];
    size_t nerr = 0;
    char id[UTIL_UUID_LEN], detail[256];
    struct db_conn *conn = NULL;
    enum auth_outcome outcome;
    long retry_after_s = 0;
    int rc;

    if (!body)
        return;
    jsonx_str(body, "email", "email", false, USER_JSON_MAXLEN, &s.email, &errors);
    jsonx_str(body, "password", "password", false, USER_JSON_MAXLEN, &s.password, &errors);
    jsonx_str(body, "name", "name", false, USER_JSON_MAXLEN, &s.name, &errors);
    jsonx_str(body, "phone", "phone", false, USER_JSON_MAXLEN, &s.phone, &errors);
    if (errors) {
        http_reply_problem(resp, 400, "USER-400-001", errors, "invalid sign-up request");
        goto out;
    }
    if (user_validate_signup(&s, errs, USER_MAX_ERRORS, &nerr) != USER_OK) {
        reply_field_errors(resp, errs, nerr, "invalid sign-up request");
        goto out;
    }
    conn = acquire(app, resp);
    if (!conn)
        goto out;

    /*
     * The row is inserted in a transaction that stays open while auth-service creates the
     * credential: committed when it did, rolled back (the undo) when it did not. A crash in
     * between leaves no row either, and the unique email key holds off a concurrent sign-up
     * with the same email until this one is decided.
     */
    util_uuid(id);
    rc = db_begin(conn);
    if (rc == 0)
        rc = store_user_insert(conn, id, s.email, s.name, s.phone);
    if (rc == -EEXIST) {
        http_reply_problem(resp, 409, "USER-409-001", NULL, "the email is already registered");
        goto out;
    }
    if (rc < 0) {
        reply_store_error(resp, rc, "insert user");
        goto out;
    }
    outcome = auth_client_create(app->auth, id, s.email, s.password, USER_PROVIDER, detail,
                                 sizeof(detail), &retry_after_s);
    if (outcome != AUTH_OK) {
        rc = db_rollback(conn);
        if (rc < 0)
            log_warnx("rollback of sign-up of user '%s' failed (%d); the server drops it", id, rc);
        if (outcome == AUTH_CONFLICT) {
            http_reply_problem(resp, 409, "USER-409-001", NULL, "the email is already registered");
            log_info("sign-up of user '%s' refused: auth-service has the email", id);
        } else {
            reply_auth_error(resp, outcome, "create a credential", detail);
            if (outcome == AUTH_UNAVAILABLE && retry_after_s > 0)
                resp->retry_after_s = retry_after_s; /* auth-service's, passed on */
            /* auth-service may have created the credential before the answer was lost */
            undo_credential(app, id);
        }
        goto out;
    }
    rc = db_commit(conn);
    if (rc < 0) {
        /* auth-service holds a credential without a profile: take it back */
        log_errorx("profile of user '%s' was not committed (%d); undoing its credential", id, rc);
        undo_credential(app, id);
        reply_store_error(resp, rc, "commit user");
        goto out;
    }
    log_info("user '%s' signed up", id);
    snprintf(resp->location, sizeof(resp->location), "/api/users/%s", id);
    reply_user(conn, id, 201, resp);
out:
    if (conn)
        db_release(app->pool, conn);
    cJSON_Delete(body);
}

void http_user_get(struct http_req *req, struct http_resp *resp, void *arg)
{
    struct user_app *app = arg;
    char id[UTIL_UUID_LEN];
    struct db_conn *conn;

    if (!path_id(req, resp, id))
        return;
    /* before the lookup, so other users' ids cannot be probed */
    if (!user_can_access(req->principal->sub, is_admin(req), id)) {
        http_reply_problem(resp, 403, "USER-403-001", NULL, "you may read only your own profile");
        return;
    }
    conn = acquire(app, resp);
    if (!conn)
        return;
    reply_user(conn, id, 200, resp);
    db_release(app->pool, conn);
}

/*
 * Locks user @id, checks and applies @to (NULL = no status change) together with @name and
 * @phone (NULL = unchanged): the status first in auth-service, then everything locally. On
 * success answers 200 with the user (or 204 when @no_content). @by_admin selects the status
 * rules (user_status_change).
 */
static void change_user(struct user_app *app, struct http_resp *resp, const char *id,
                        const char *name, const char *phone, const enum user_status *to,
                        bool by_admin, bool no_content)
{
    struct db_conn *conn = acquire(app, resp);
    struct db_result *res = NULL;
    enum user_status from;
    const char *to_name = NULL;
    bool auth_changed = false;
    char detail[256];
    int rc;

    if (!conn)
        return;
    rc = db_begin(conn);
    if (rc == 0)
        rc = store_user_lock(conn, id, &res);
    if (rc == -ENOENT) {
        http_reply_problem(resp, 404, "USER-404-001", NULL, "user not found");
        goto out;
    }
    if (rc < 0) {
        reply_store_error(resp, rc, "read user");
        goto out;
    }
    if (user_status_parse(db_result_get(res, 0, USER_COL_STATUS), &from) < 0) {
        log_errorx("user '%s' has an unknown status '%s'", id,
                   db_result_get(res, 0, USER_COL_STATUS));
        http_reply_problem(resp, 500, "USER-500-001", NULL, "internal error");
        goto out;
    }
    if (!by_admin && from != USER_ACTIVE) {
        http_reply_problem(resp, 403, "USER-403-002", NULL, "the account is %s",
                           from == USER_BLOCKED ? "blocked" : "closed");
        goto out;
    }
    if (to) {
        switch (user_status_change(from, *to, by_admin)) {
        case USER_OK:
            to_name = user_status_name(*to);
            break;
        case USER_NOOP:
            break;
        default:
            http_reply_problem(resp, 409, "USER-409-002", NULL,
                               "the status cannot change from %s to %s", user_status_name(from),
                               user_status_name(*to));
            goto out;
        }
    }
    if (to_name) {
        enum auth_outcome outcome =
            auth_client_set_status(app->auth, id, to_name, detail, sizeof(detail));
        if (outcome != AUTH_OK) {
            reply_auth_error(resp, outcome, "change a credential's status", detail);
            goto out;
        }
        auth_changed = true;
    }
    rc = store_user_update(conn, id, name, phone, to_name);
    if (rc == 0)
        rc = db_commit(conn);
    if (rc < 0) {
        reply_store_error(resp, rc, "update user");
        goto out;
    }
    auth_changed = false;
    if (to_name)
        log_info("user '%s' status %s -> %s", id, user_status_name(from), to_name);
    if (no_content)
        http_reply_json(resp, 204, NULL);
    else
        reply_user(conn, id, 200, resp);
out:
    if (auth_changed) {
        /* the local change failed after auth-service took it: put auth-service back */
        enum auth_outcome outcome =
            auth_client_set_status(app->auth, id, user_status_name(from), detail, sizeof(detail));
        if (outcome != AUTH_OK)
            log_errorx("user '%s' is %s in auth-service but %s here: %s", id, to_name,
                       user_status_name(from), detail);
    }
    db_result_free(res);
    db_release(app->pool, conn); /* rolls back an open transaction */
}

/* Reads the optional {name, phone} (and, for @with_status, status) of an update request.
 * Returns false with a 400 in @resp on a problem. */
static bool parse_update(struct http_req *req, struct http_resp *resp, cJSON **ret_body,
                         const char **name, const char **phone, bool with_status,
                         enum user_status *status, bool *has_status)
{
    cJSON *body = http_json_body(req, resp), *errors = NULL;
    const char *status_s = NULL;
    struct user_error errs[USER_MAX_ERRORS];
    size_t nerr = 0;

    *has_status = false;
    if (!body)
        return false;
    *ret_body = body;
    jsonx_str(body, "name", "name", false, USER_JSON_MAXLEN, name, &errors);
    jsonx_str(body, "phone", "phone", false, USER_JSON_MAXLEN, phone, &errors);
    if (with_status &&
        jsonx_str(body, "status", "status", false, USER_JSON_MAXLEN, &status_s, &errors) == 0) {
        if (user_status_parse(status_s, status) < 0)
            jsonx_field_error(&errors, "status", "must be ACTIVE, INACTIVE or BLOCKED");
        else
            *has_status = true;
    }
    if (errors) {
        http_reply_problem(resp, 400, "USER-400-001", errors, "invalid update");
        return false;
    }
    if (user_validate_update(*name, *phone, *has_status, errs, USER_MAX_ERRORS, &nerr) != USER_OK) {
        reply_field_errors(resp, errs, nerr, "invalid update");
        return false;
    }
    return true;
}

void http_user_update_me(struct http_req *req, struct http_resp *resp, void *arg)
{
    const char *name = NULL, *phone = NULL;
    enum user_status status;
    bool has_status;
    cJSON *body = NULL;

    if (parse_update(req, resp, &body, &name, &phone, false, &status, &has_status))
        change_user(arg, resp, req->principal->sub, name, phone, NULL, false, false);
    cJSON_Delete(body);
}

void http_user_delete_me(struct http_req *req, struct http_resp *resp, void *arg)
{
    const enum user_status to = USER_INACTIVE;

    change_user(arg, resp, req->principal->sub, NULL, NULL, &to, false, true);
}

void http_user_update(struct http_req *req, struct http_resp *resp, void *arg)
{
    const char *name = NULL, *phone = NULL;
    enum user_status status;
    bool has_status;
    cJSON *body = NULL;
    char id[UTIL_UUID_LEN];

    if (!path_id(req, resp, id))
        return;
    if (parse_update(req, resp, &body, &name, &phone, true, &status, &has_status))
        change_user(arg, resp, id, name, phone, has_status ? &status : NULL, true, false);
    cJSON_Delete(body);
}

void http_user_block(struct http_req *req, struct http_resp *resp, void *arg)
{
    const enum user_status to = USER_BLOCKED;
    char id[UTIL_UUID_LEN];

    if (!path_id(req, resp, id))
        return;
    change_user(arg, resp, id, NULL, NULL, &to, true, true);
}
