/* config.c - user-service's settings: the common table plus the auth-service client's. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

#define S struct user_config
const struct cfg_entry USER_CONFIG[] = {
    CFG_ENTRY_STR("AUTH_URL", NULL, true, false, S, auth_url,
                  "auth-service base URL, e.g. http://127.0.0.1:8089"),
    CFG_ENTRY_STR("AUTH_SERVICE_TOKEN", NULL, true, true, S, auth_service_token,
                  "service credential sent to auth-service's internal API"),
    CFG_ENTRY_INT("AUTH_TIMEOUT_MS", "3000", 100, 60000, S, auth_timeout_ms,
                  "connect and total timeout of one auth-service call"),
    {0},
};
#undef S

const struct svc_defaults USER_DEFAULTS = {
    .service = USER_SERVICE,
    .http_port = "8081",
    .db_name = "commerce_user",
    .group_id = USER_SERVICE,
    .migrations_dir = "user-service/migrations",
};

int user_config_check(const void *arg, char *errbuf, size_t errlen)
{
    const struct user_config *cfg = arg;
    size_t used = strlen(errbuf);

    if (!cfg->auth_url || strncmp(cfg->auth_url, "http://", 7) == 0 ||
        strncmp(cfg->auth_url, "https://", 8) == 0)
        return 0;
    snprintf(errbuf + used, errlen - used, "%sAUTH_URL: '%s' is not an http(s) URL",
             used ? "; " : "", cfg->auth_url);
    return -EINVAL;
}
