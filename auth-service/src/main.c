/*
 * main.c - auth-service wiring only: config + logging → signing key and JWKS → MariaDB pool +
 * migrations → bootstrap ADMIN credential → HTTP server → wait for SIGINT/SIGTERM → tear down
 * in reverse (readiness 503, quiesce HTTP and wait for in-flight requests, close the pool).
 * auth-service publishes no events and consumes none.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "app.h"
#include "auth.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/svc.h"
#include "crypto.h"
#include "store_auth.h"

static const struct http_route routes[] = {
    /* internal: public for the router, guarded by X-Service-Token in the handlers */
    {"POST", "/api/auth", HTTP_AUTH_NONE, http_auth_create},
    {"PATCH", "/api/auth/{userId}/status", HTTP_AUTH_NONE, http_auth_status},
    {"DELETE", "/api/auth/{userId}", HTTP_AUTH_NONE, http_auth_delete},
    {"POST", "/api/auth/login", HTTP_AUTH_NONE, http_auth_login},
    {"POST", "/api/auth/refresh", HTTP_AUTH_NONE, http_auth_refresh},
    {"POST", "/api/auth/logout", HTTP_AUTH_NONE, http_auth_logout},
    {"GET", "/api/auth/jwks", HTTP_AUTH_NONE, http_auth_jwks},
};

static int ready(void *arg, char *why, size_t whylen)
{
    struct auth_app *app = arg;

    return db_ping(app->pool, why, whylen);
}

/* A hash of a random password, verified against when a login names an unknown email. */
static int make_dummy_hash(struct auth_app *app)
{
    unsigned char raw[24];
    char password[40];
    int rc;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -EIO;
    crypto_b64url(raw, sizeof(raw), password);
    rc = crypto_password_hash(password, strlen(password), app->dummy_hash);
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(password, sizeof(password));
    return rc;
}

/* Creates the ADMIN credential from ADMIN_EMAIL / ADMIN_PASSWORD when missing. */
static int bootstrap_admin(struct auth_app *app)
{
    const struct auth_config *cfg = app->cfg;
    char email[AUTH_MAX_EMAIL + 1], user_id[37], hash[CRYPTO_ENCODED_MAX];
    struct db_conn *conn;
    char err[256];
    int rc;

    if (!cfg->admin_email && !cfg->admin_password)
        return 0;
    if (!cfg->admin_email || !cfg->admin_password) {
        log_warnx("ADMIN_EMAIL and ADMIN_PASSWORD go together: no admin account created");
        return 0;
    }
    if (auth_email_normalize(cfg->admin_email, email, sizeof(email)) < 0 ||
        !auth_email_valid(email)) {
        log_errorx("ADMIN_EMAIL '%s' is not a valid email address", cfg->admin_email);
        return -EINVAL;
    }
    if (!auth_password_valid(cfg->admin_password)) {
        log_errorx("ADMIN_PASSWORD must be %d to %d bytes long", AUTH_MIN_PASSWORD,
                   AUTH_MAX_PASSWORD);
        return -EINVAL;
    }
    crypto_admin_user_id(email, user_id);
    rc = crypto_password_hash(cfg->admin_password, strlen(cfg->admin_password), hash);
    if (rc < 0) {
        log_errorx("cannot hash the admin password: %d", rc);
        return rc;
    }
    conn = db_acquire(app->pool, err, sizeof(err));
    if (!conn) {
        log_errorx("cannot bootstrap the admin account: %s", err);
        return -EIO;
    }
    rc =
        store_credential_create(conn, user_id, email, hash, AUTH_DEFAULT_PROVIDER, AUTH_ROLE_ADMIN);
    if (rc == 0) {
        log_info("created admin account '%s' (user '%s')", email, user_id);
    } else if (rc == -EEXIST) {
        struct store_credential cred;
        if (store_credential_by_email(conn, email, &cred) == 0 && cred.role != AUTH_ROLE_ADMIN)
            log_warnx("ADMIN_EMAIL '%s' belongs to a USER credential: not promoted", email);
        else
            log_info("admin account '%s' exists", email);
        rc = 0;
    } else {
        log_errorx("cannot create the admin account: %s", db_errmsg(conn));
    }
    db_release(app->pool, conn);
    return rc;
}

int main(void)
{
    struct auth_config cfg;
    struct auth_app app = {.cfg = &cfg};
    struct jwt_key *key = NULL;
    cJSON *jwks = NULL;
    struct http_server *srv = NULL;
    enum log_level level = LOG_INFO;
    char err[2048];
    sigset_t sigs;
    int status = 1;

    svc_signals_block(&sigs);
    log_init(AUTH_SERVICE, LOG_INFO);
    if (auth_config_load(&cfg, err, sizeof(err)) < 0) {
        log_errorx("invalid configuration: %s", err);
        return 2;
    }
    log_level_parse(cfg.svc.log_level, &level);
    log_init(AUTH_SERVICE, level);
    auth_config_log(&cfg);
    if (strlen(cfg.service_token) < 16)
        log_warnx("AUTH_SERVICE_TOKEN is shorter than 16 characters: use a long random secret");

    if (mysql_library_init(0, NULL, NULL)) {
        log_errorx("cannot initialise the mariadb client library");
        return 1;
    }
    /* the signing key: only auth-service has it (it verifies with it too) */
    key = svc_jwt_key(cfg.jwt_private_key_file, "JWT_PRIVATE_KEY_FILE");
    if (!key)
        goto out;
    if (crypto_jwks_from_file(cfg.jwt_private_key_file, &jwks, err, sizeof(err)) < 0) {
        log_errorx("cannot build the JWKS from JWT_PRIVATE_KEY_FILE: %s", err);
        goto out;
    }
    app.key = key;
    app.jwks = jwks;
    if (make_dummy_hash(&app) < 0) {
        log_errorx("cannot compute the dummy password hash");
        goto out;
    }
    app.pool = svc_db_open(&cfg.svc, 0);
    if (!app.pool)
        goto out;
    if (bootstrap_admin(&app) < 0)
        goto out;
    srv = svc_http_start(&cfg.svc, key, routes, sizeof(routes) / sizeof(routes[0]), &app, ready);
    if (!srv)
        goto out;

    svc_signal_wait(&sigs);
    status = 0;
out:
    if (srv) {
        http_server_drain(srv);
        http_server_stop(srv);
    }
    db_pool_free(app.pool);
    cJSON_Delete(jwks);
    jwt_key_free(key);
    metrics_reset();
    mysql_library_end();
    log_info("stopped");
    return status;
}
