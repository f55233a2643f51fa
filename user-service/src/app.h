/* app.h - user-service's configuration and shared state, handed to every handler as @app. */
#ifndef USER_APP_H
#define USER_APP_H

#include "auth_client.h"
#include "common/config.h"
#include "common/db.h"
#include "common/http.h"

#define USER_SERVICE "user-service"

/* The common settings plus user-service's own (config.c). */
struct user_config {
    struct svc_config svc;          /* first: svc_config_load() fills it */
    const char *auth_url;           /* AUTH_URL: auth-service base URL, "http://host:port" */
    const char *auth_service_token; /* AUTH_SERVICE_TOKEN (secret): X-Service-Token value */
    long auth_timeout_ms;           /* AUTH_TIMEOUT_MS: connect and total per call */
};

/* config.c: the defaults of the common settings, the own ones ({NULL}-terminated) and the
 * rule across them (AUTH_URL is http(s)), for svc_main(). */
extern const struct svc_defaults USER_DEFAULTS;
extern const struct cfg_entry USER_CONFIG[];
int user_config_check(const void *cfg, char *errbuf, size_t errlen);

struct user_app {
    const struct user_config *cfg;
    struct db_pool *pool;
    struct auth_client *auth;
    struct undo_queue *undo; /* credentials to take back; see undo.h */
};

/* http_users.c */
void http_user_signup(struct http_req *req, struct http_resp *resp, void *app);
void http_user_get(struct http_req *req, struct http_resp *resp, void *app);
void http_user_update_me(struct http_req *req, struct http_resp *resp, void *app);
void http_user_delete_me(struct http_req *req, struct http_resp *resp, void *app);
void http_user_update(struct http_req *req, struct http_resp *resp, void *app);
void http_user_block(struct http_req *req, struct http_resp *resp, void *app);

#endif
