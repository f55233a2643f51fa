/* app.h - auth-service's configuration and shared state, handed to every handler as @app. */
#ifndef AUTH_APP_H
#define AUTH_APP_H

#include <cjson/cJSON.h>

#include "common/config.h"
#include "common/db.h"
#include "common/http.h"
#include "auth.h"
#include "common/jwt.h"
#include "crypto.h"
#include "hash_pool.h"

#define AUTH_SERVICE "auth-service"

/* The common settings first, then auth-service's own (config.c's table). */
struct auth_config {
    struct svc_config svc;
    const char *jwt_private_key_file; /* JWT_PRIVATE_KEY_FILE: ES256 PKCS#8 PEM */
    const char *service_token;        /* AUTH_SERVICE_TOKEN (secret): the internal API's key */
    long access_ttl_s;                /* ACCESS_TOKEN_TTL_S */
    long refresh_ttl_s;               /* REFRESH_TOKEN_TTL_S */
    struct auth_login_limits login;   /* LOGIN_FREE_ATTEMPTS, LOGIN_DELAY_BASE_S, … */
    const char *admin_email;          /* ADMIN_EMAIL (optional) */
    const char *admin_password;       /* ADMIN_PASSWORD (optional, secret) */
    long hash_threads;                /* AUTH_HASH_THREADS: Argon2id workers */
    long hash_queue;                  /* AUTH_HASH_QUEUE: jobs that may wait for one */
};

/* config.c: the defaults of the common settings and the own ones ({NULL}-terminated), for
 * svc_main(). */
extern const struct svc_defaults AUTH_DEFAULTS;
extern const struct cfg_entry AUTH_CONFIG[];

struct auth_app {
    const struct auth_config *cfg;
    struct db_pool *pool;
    /* signs access tokens with JWT_PRIVATE_KEY_FILE; holds the JWT_PUBLIC_KEY_FILE keys too */
    const struct jwt_key *key;
    const cJSON *jwks;      /* the published key set (every public key), built once at start */
    struct hash_pool *hash; /* every Argon2id hash and verification runs here (hash_pool.h) */
    /* verified against when the email is unknown, so both failures cost the same */
    char dummy_hash[CRYPTO_ENCODED_MAX];
};

/* bootstrap.c, at start: the dummy hash, verified against when a login names an unknown email
 * (0 or -EIO; no Argon2 run); the ADMIN credential from ADMIN_EMAIL / ADMIN_PASSWORD when
 * missing (hashed on app->hash; 0, or a negative errno, logged). */
int auth_dummy_hash(struct auth_app *app);
int auth_bootstrap_admin(struct auth_app *app);

/* http_auth.c */
void http_auth_create(struct http_req *req, struct http_resp *resp, void *app);
void http_auth_status(struct http_req *req, struct http_resp *resp, void *app);
void http_auth_delete(struct http_req *req, struct http_resp *resp, void *app);
void http_auth_login(struct http_req *req, struct http_resp *resp, void *app);
void http_auth_refresh(struct http_req *req, struct http_resp *resp, void *app);
void http_auth_logout(struct http_req *req, struct http_resp *resp, void *app);
void http_auth_jwks(struct http_req *req, struct http_resp *resp, void *app);
/* Registers the login metrics (svc_desc.metrics_register). */
void http_auth_metrics_register(void);

#define AUTH_METRIC_CHECKS "commerce_login_password_checks_total"
#define AUTH_METRIC_THROTTLED "commerce_login_throttled_total"
#define AUTH_METRIC_HASH_BUSY "commerce_password_hash_refused_total"

#endif
