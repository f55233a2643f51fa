/* main.c - auth-service as data: its routes, and in start its signing key's JWKS, the dummy
 * hash and the ADMIN bootstrap; svc_main() runs it. It publishes and consumes no events. */
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
    if (auth_dummy_hash(&app) < 0) {
        log_errorx("cannot compute the dummy password hash");
        return -1;
    }
    return auth_bootstrap_admin(&app) < 0 ? -1 : 0;
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
