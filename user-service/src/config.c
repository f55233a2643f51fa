/* config.c - user-service's settings: the common table plus the auth-service client's. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "common/log.h"

#define S struct user_config
static const struct cfg_entry user_table[] = {
    CFG_ENTRY_STR("AUTH_URL", NULL, true, false, S, auth_url,
                  "auth-service base URL, e.g. http://127.0.0.1:8089"),
    CFG_ENTRY_STR("AUTH_SERVICE_TOKEN", NULL, true, true, S, auth_service_token,
                  "service credential sent to auth-service's internal API"),
    CFG_ENTRY_INT("AUTH_TIMEOUT_MS", "3000", 100, 60000, S, auth_timeout_ms,
                  "connect and total timeout of one auth-service call"),
};
#undef S

#define USER_NENTRIES (sizeof(user_table) / sizeof(user_table[0]))

static const struct svc_defaults defaults = {
    .service = USER_SERVICE,
    .http_port = "8081",
    .db_name = "commerce_user",
    .group_id = USER_SERVICE,
    .migrations_dir = "user-service/migrations",
};

int user_config_load(struct user_config *cfg, char *errbuf, size_t errlen)
{
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    rc = svc_config_load_own(&cfg->svc, &defaults, user_table, USER_NENTRIES, cfg, errbuf, errlen);
    if (cfg->auth_url && strncmp(cfg->auth_url, "http://", 7) != 0 &&
        strncmp(cfg->auth_url, "https://", 8) != 0) {
        size_t used = strlen(errbuf);
        snprintf(errbuf + used, errlen - used, "%sAUTH_URL: '%s' is not an http(s) URL",
                 used ? "; " : "", cfg->auth_url);
        rc = -EINVAL;
    }
    return rc < 0 ? rc : 0;
}

void user_config_log(const struct user_config *cfg)
{
    svc_config_log(&cfg->svc);
    cfg_log(user_table, USER_NENTRIES, cfg);
}
