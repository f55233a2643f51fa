/* config.c - order-service's settings: the common table plus the payment deadline. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

static const struct svc_defaults defaults = {
    .service = ORDER_SERVICE,
    .http_port = "8085",
    .db_name = "commerce_order",
    .group_id = ORDER_SERVICE,
    .migrations_dir = "order-service/migrations",
};

#define S struct order_config
static const struct cfg_entry table[] = {
    CFG_ENTRY_INT("ORDER_PAYMENT_DEADLINE_S", "900", 1, 86400 * 7, S, payment_deadline_s,
                  "seconds an order may stay unpaid before it is cancelled (PAYMENT_TIMEOUT)"),
    CFG_ENTRY_INT("ORDER_DEADLINE_SCAN_MS", "1000", 50, 3600000, S, deadline_scan_ms,
                  "milliseconds between scans for orders past the payment deadline"),
};
#undef S

#define NENTRIES (sizeof(table) / sizeof(table[0]))

int order_config_load(struct order_config *cfg, char *errbuf, size_t errlen)
{
    return svc_config_load_own(&cfg->svc, &defaults, table, NENTRIES, cfg, errbuf, errlen);
}

void order_config_log(const struct order_config *cfg)
{
    svc_config_log(&cfg->svc);
    cfg_log(table, NENTRIES, cfg);
}
