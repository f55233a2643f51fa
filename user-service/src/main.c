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

static int migrate(struct db_pool *pool, const char *dir, char *err, size_t errlen)
{
    struct db_conn *conn = db_acquire(pool, err, errlen);
    int rc;

    if (!conn)
        return -EIO;
    rc = db_migrate_dir(conn, USER_SERVICE, dir, err, errlen);
    db_release(pool, conn);
    return rc;
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
    int sig, status = 1;

    /* block the stop signals before any thread starts, so only sigwait() sees them */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

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
    key = jwt_key_from_file(svc->jwt_public_key_file, err, sizeof(err));
    if (!key) {
        log_errorx("cannot load JWT_PUBLIC_KEY_FILE: %s", err);
        goto out;
    }
    {
        struct db_opts opts = {.host = svc->db_host,
                               .port = (unsigned)svc->db_port,
                               .user = svc->db_user,
                               .password = svc->db_password,
                               .database = svc->db_name,
                               .pool_size = (unsigned)svc->db_pool_size,
                               .connect_timeout_s = 5,
                               .acquire_timeout_ms = 5000,
                               .create_database = svc->db_auto_create};
        app.pool = db_pool_new(&opts, err, sizeof(err));
        if (!app.pool) {
            log_errorx("cannot set up the database pool: %s", err);
            goto out;
        }
    }
    if (migrate(app.pool, svc->migrations_dir, err, sizeof(err)) < 0) {
        log_errorx("migrations failed: %s", err);
        goto out;
    }
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
    {
        struct http_opts opts = {.bind = svc->http_bind,
                                 .port = (unsigned short)svc->http_port,
                                 .threads = (unsigned)svc->http_threads,
                                 .max_body = (size_t)svc->http_max_body,
                                 .jwt_key = key,
                                 .ready = ready};
        srv = http_server_start(&opts, routes, sizeof(routes) / sizeof(routes[0]), &app, err,
                                sizeof(err));
        if (!srv) {
            log_errorx("cannot start the http server: %s", err);
            goto out;
        }
    }
    log_info("listening on %s:%u", svc->http_bind, http_port(srv));

    if (sigwait(&sigs, &sig) == 0)
        log_info("received signal %d, shutting down", sig);
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
