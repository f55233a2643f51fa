/* config.c - catalog-service's settings: the common table plus the read cache's. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

const struct svc_defaults CATALOG_DEFAULTS = {
    .service = CATALOG_SERVICE,
    .http_port = "8084",
    .db_name = "commerce_catalog",
    .group_id = CATALOG_SERVICE,
    .migrations_dir = "catalog-service/migrations",
};

#define S struct catalog_config
const struct cfg_entry CATALOG_CONFIG[] = {
    CFG_ENTRY_INT("CATALOG_CACHE_MAX_ENTRIES", "10000", 0, 1000000, S, cache_max_entries,
                  "responses the read cache keeps at most (0 = no cache)"),
    CFG_ENTRY_INT("CATALOG_CACHE_POLL_MS", "100", 10, 60000, S, cache_poll_ms,
                  "milliseconds between reads of the catalog generation"),
    CFG_ENTRY_INT("CATALOG_CACHE_STALE_MS", "1000", 20, 600000, S, cache_stale_ms,
                  "no cache hit later than this after the last successful generation read "
                  "started: the longest a committed change can be answered stale"),
    CFG_ENTRY_INT("CATALOG_CACHE_MAX_AGE_MS", "60000", 1, 86400000, S, cache_max_age_ms,
                  "milliseconds a cached response lives at most"),
    {0},
};
#undef S

int catalog_config_check(const void *arg, char *errbuf, size_t errlen)
{
    const struct catalog_config *cfg = arg;
    size_t used = strlen(errbuf);

    if (cfg->cache_stale_ms <= cfg->cache_poll_ms) {
        snprintf(errbuf + used, errlen - used,
                 "%sCATALOG_CACHE_STALE_MS: %ld must be above CATALOG_CACHE_POLL_MS (%ld)",
                 used ? "; " : "", cfg->cache_stale_ms, cfg->cache_poll_ms);
        return -EINVAL;
    }
    return 0;
}
