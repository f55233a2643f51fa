/* main.c - auth-service as data: its routes, and in start its signing key's JWKS, the dummy
 * hash and the ADMIN bootstrap; svc_main() runs it. It publishes and consumes no events. */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "app.h"
#include "auth.h"
#include "common/log.h"
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

static struct auth_config cfg;
static struct auth_app app = {.cfg = &cfg};
static cJSON *jwks;

/* the signing key: only auth-service has it (it verifies with it too) */
static const char *jwt_key_file(const void *arg, const char **ret_setting)
{
    (void)arg;
    *ret_setting = "JWT_PRIVATE_KEY_FILE";
    return cfg.jwt_private_key_file;
}

static int start(struct svc *svc, void *arg)
{
    char err[1024];

    (void)arg;
    if (strlen(cfg.service_token) < 16)
        log_warnx("AUTH_SERVICE_TOKEN is shorter than 16 characters: use a long random secret");
    app.key = svc->key;
    if (crypto_jwks_from_file(cfg.jwt_private_key_file, &jwks, err, sizeof(err)) < 0) {
        log_errorx("cannot build the JWKS from JWT_PRIVATE_KEY_FILE: %s", err);
        return -1;
    }
    app.jwks = jwks;
    if (make_dummy_hash(&app) < 0) {
        log_errorx("cannot compute the dummy password hash");
        return -1;
    }
    return bootstrap_admin(&app) < 0 ? -1 : 0;
}

static void stop(void *arg)
{
    (void)arg;
    cJSON_Delete(jwks);
}

static const struct svc_desc desc = {
    .name = AUTH_SERVICE,
    .defaults = &AUTH_DEFAULTS,
    .cfg = &cfg.svc,
    .config = AUTH_CONFIG,
    .routes = routes,
    .nroutes = sizeof(routes) / sizeof(routes[0]),
    .app = &app,
    .app_pool = &app.pool,
    .start = start,
    .stop = stop,
    .jwt_key_file = jwt_key_file,
};

int main(void)
{
    return svc_main(&desc);
}
