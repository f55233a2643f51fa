/* main.c - user-service as data: its routes, libcurl, and the auth-service client with its
 * sign-up undo queue; svc_main() runs it. */
#include <curl/curl.h>

#include "app.h"
#include "common/log.h"
#include "common/svc.h"
#include "undo.h"

#define UNDO_MAX_ATTEMPTS 20

static const struct http_route routes[] = {
    {"POST", "/api/users", HTTP_AUTH_NONE, http_user_signup},
    {"GET", "/api/users/{id}", HTTP_AUTH_USER, http_user_get},
    {"PATCH", "/api/users/me", HTTP_AUTH_USER, http_user_update_me},
    {"DELETE", "/api/users/me", HTTP_AUTH_USER, http_user_delete_me},
    {"PATCH", "/api/users/{id}", HTTP_AUTH_ADMIN, http_user_update},
    {"DELETE", "/api/users/{id}", HTTP_AUTH_ADMIN, http_user_block},
};

static struct user_config cfg;
static struct user_app app = {.cfg = &cfg};

/* not thread-safe: once, before any thread exists */
static int global_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
        return 0;
    log_errorx("cannot initialise libcurl");
    return -1;
}

static int start(struct svc *svc, void *arg)
{
    struct auth_client_opts opts = {.base_url = cfg.auth_url,
                                    .service_token = cfg.auth_service_token,
                                    .timeout_ms = cfg.auth_timeout_ms};

    (void)svc, (void)arg;
    if (!(app.auth = auth_client_new(&opts))) {
        log_errorx("cannot create the auth-service client: out of memory");
        return -1;
    }
    if (!(app.undo = undo_start(app.auth, UNDO_MAX_ATTEMPTS))) {
        log_errorx("cannot start the sign-up undo thread");
        return -1;
    }
    return 0;
}

static void stop(void *arg)
{
    (void)arg;
    undo_stop(app.undo);
    auth_client_free(app.auth);
}

static const struct svc_desc desc = {
    .name = USER_SERVICE,
    .defaults = &USER_DEFAULTS,
    .cfg = &cfg.svc,
    .config = USER_CONFIG,
    .check = user_config_check,
    .routes = routes,
    .nroutes = sizeof(routes) / sizeof(routes[0]),
    .app = &app,
    .app_pool = &app.pool,
    .global_init = global_init,
    .global_end = curl_global_cleanup,
    .start = start,
    .stop = stop,
};

int main(void)
{
    return svc_main(&desc);
}
