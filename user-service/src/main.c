/*
 * main.c - user-service wiring only: config + logging → libcurl and the MariaDB client library
 * (both before any thread) → pool + migrations → auth-service client → HTTP server → wait for
 * SIGINT/SIGTERM → tear down in reverse (readiness 503, quiesce HTTP and wait for in-flight
 * requests, close the pool).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <mysql.h>

#include "app.h"
#include "undo.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/svc.h"

static const struct http_route routes[] = {
    {"POST", "/api/users", HTTP_AUTH_NONE, http_user_signup},
    {"GET", "/api/users/{id}", HTTP_AUTH_USER, http_user_get},
    {"PATCH", "/api/users/me", HTTP_AUTH_USER, http_user_update_me},
    {"DELETE", "/api/users/me", HTTP_AUTH_USER, http_user_delete_me},
    {"PATCH", "/api/users/{id}", HTTP_AUTH_ADMIN, http_user_update},
    {"DELETE", "/api/users/{id}", HTTP_AUTH_ADMIN, http_user_block},
};

static int ready(void *arg, char *why, size_t whylen)
{
    struct user_app *app = arg;

    return db_ping(app->pool, why, whylen);
}

int main(void)
{
    struct user_config cfg;
    struct user_app app = {.cfg = &cfg};
    const struct svc_config *svc = &cfg.svc;
    struct jwt_key *key = NULL;
    struct http_server *srv = NULL;
    enum log_level level = LOG_INFO;
    bool curl_ready = false, mysql_ready = false;
    char err[1024];
    sigset_t sigs;
    int status = 1;

    svc_signals_block(&sigs);
    log_init(USER_SERVICE, LOG_INFO);
    if (user_config_load(&cfg, err, sizeof(err)) < 0) {
        log_errorx("invalid configuration: %s", err);
        return 2;
    }
    log_level_parse(svc->log_level, &level);
    log_init(USER_SERVICE, level);
    user_config_log(&cfg);

    /* not thread-safe: once, before the HTTP thread pool exists */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_errorx("cannot initialise libcurl");
        goto out;
    }
    curl_ready = true;
    if (mysql_library_init(0, NULL, NULL)) {
        log_errorx("cannot initialise the mariadb client library");
        goto out;
    }
    mysql_ready = true;
    if (!(key = svc_jwt_key(svc->jwt_public_key_file, "JWT_PUBLIC_KEY_FILE")) ||
        !(app.pool = svc_db_open(svc, 0)))
        goto out;
    {
        struct auth_client_opts opts = {.base_url = cfg.auth_url,
                                        .service_token = cfg.auth_service_token,
                                        .timeout_ms = cfg.auth_timeout_ms};
        app.auth = auth_client_new(&opts);
        if (!app.auth) {
            log_errorx("cannot create the auth-service client: out of memory");
            goto out;
        }
        app.undo = undo_start(app.auth, 20);
        if (!app.undo) {
            log_errorx("cannot start the sign-up undo thread");
            goto out;
        }
    }
    srv = svc_http_start(svc, key, routes, sizeof(routes) / sizeof(routes[0]), &app, ready);
    if (!srv)
        goto out;

    svc_signal_wait(&sigs);
    status = 0;
out:
    if (srv) {
        http_server_drain(srv);
        http_server_stop(srv);
    }
    undo_stop(app.undo);
    auth_client_free(app.auth);
    db_pool_free(app.pool);
    jwt_key_free(key);
    metrics_reset();
    if (mysql_ready)
        mysql_library_end();
    if (curl_ready)
        curl_global_cleanup();
    log_info("stopped");
    return status;
}
