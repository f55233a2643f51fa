/* main.c - auth-service as data: its routes, and in start its key set and JWKS, the hashing
 * pool, the dummy hash and the ADMIN bootstrap; svc_main() runs it. It publishes and consumes no
 * events. */
#include <string.h>

#include "app.h"
#include "common/log.h"
#include "common/svc.h"

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

/* The signing key (svc->key, from JWT_PRIVATE_KEY_FILE) gets the verify set of every service
 * (JWT_PUBLIC_KEY_FILE) added, so the JWKS publishes every key of a rotation. The signer must
 * be in that set: a token the other services cannot verify is never issued. */
static int keys_start(struct svc *svc)
{
    char err[512];
    struct jwt_key *pub = jwt_key_from_file(cfg.svc.jwt_public_key_file, err, sizeof(err));
    int rc = -1;

    if (!pub) {
        log_errorx("cannot load JWT_PUBLIC_KEY_FILE: %s", err);
        return -1;
    }
    if (!jwt_key_has_kid(pub, jwt_key_signer_kid(svc->key))) {
        log_errorx("the key of JWT_PRIVATE_KEY_FILE (kid '%s') is not in JWT_PUBLIC_KEY_FILE: "
                   "add its public key there (and to every service) first",
                   jwt_key_signer_kid(svc->key));
        goto out;
    }
    if (jwt_key_merge(svc->key, pub, err, sizeof(err)) < 0) {
        log_errorx("cannot add JWT_PUBLIC_KEY_FILE to the signing key: %s", err);
        goto out;
    }
    jwks = jwt_key_jwks(svc->key);
    if (!jwks) {
        log_errorx("cannot build the JWKS");
        goto out;
    }
    app.key = svc->key;
    app.jwks = jwks;
    log_info("signing access tokens with kid '%s'", jwt_key_signer_kid(svc->key));
    rc = 0;
out:
    jwt_key_free(pub);
    return rc;
}

/* Before any thread: the Argon2 buffers are returned to the OS when freed (hash_pool.h). */
static int global_init(void)
{
    auth_hash_malloc_tune();
    return 0;
}

static int start(struct svc *svc, void *arg)
{
    char err[256];

    (void)arg;
    if (strlen(cfg.service_token) < 16)
        log_warnx("AUTH_SERVICE_TOKEN is shorter than 16 characters: use a long random secret");
    if (keys_start(svc) < 0)
        return -1;
    app.hash = hash_pool_new((int)cfg.hash_threads, (int)cfg.hash_queue, err, sizeof(err));
    if (!app.hash) {
        log_errorx("cannot start the password hashing pool: %s", err);
        return -1;
    }
    if (auth_dummy_hash(&app) < 0) {
        log_errorx("cannot make the dummy password hash");
        return -1;
    }
    return auth_bootstrap_admin(&app) < 0 ? -1 : 0;
}

static void stop(void *arg)
{
    (void)arg;
    hash_pool_free(app.hash);
    app.hash = NULL;
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
    .global_init = global_init,
    .start = start,
    .stop = stop,
    .jwt_key_file = jwt_key_file,
    .metrics_register = http_auth_metrics_register,
};

int main(void)
{
    return svc_main(&desc);
}
