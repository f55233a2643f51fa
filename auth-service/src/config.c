/* config.c - auth-service's configuration: the common settings plus its own table. */
#include "app.h"

#define S struct auth_config
const struct cfg_entry AUTH_CONFIG[] = {
    CFG_ENTRY_STR("JWT_PRIVATE_KEY_FILE", NULL, true, false, S, jwt_private_key_file,
                  "PEM (PKCS#8) ES256 private key that signs access tokens"),
    CFG_ENTRY_STR("AUTH_SERVICE_TOKEN", NULL, true, true, S, service_token,
                  "service credential required by the internal API (X-Service-Token)"),
    CFG_ENTRY_INT("ACCESS_TOKEN_TTL_S", "900", 30, 86400, S, access_ttl_s,
                  "access token lifetime in seconds"),
    CFG_ENTRY_INT("REFRESH_TOKEN_TTL_S", "1209600", 60, 31536000, S, refresh_ttl_s,
                  "refresh token lifetime in seconds"),
    CFG_ENTRY_INT("LOGIN_MAX_FAILURES", "5", 1, 1000, S, login_max_failures,
                  "failed logins for one email before it is locked"),
    CFG_ENTRY_INT("LOGIN_LOCK_S", "900", 1, 86400, S, login_lock_s,
                  "failure window and lock duration in seconds"),
    CFG_ENTRY_STR("ADMIN_EMAIL", NULL, false, false, S, admin_email,
                  "email of the ADMIN account created at start (with ADMIN_PASSWORD)"),
    CFG_ENTRY_STR("ADMIN_PASSWORD", NULL, false, true, S, admin_password,
                  "password of the ADMIN account created at start"),
    {0},
};
#undef S

const struct svc_defaults AUTH_DEFAULTS = {
    .service = AUTH_SERVICE,
    .http_port = "8089",
    .db_name = "commerce_auth",
    .group_id = AUTH_SERVICE,
    .migrations_dir = "auth-service/migrations",
};
