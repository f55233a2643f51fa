/* config.c - payment-service's settings: the common table plus the gateway timeout. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "app.h"

static const struct svc_defaults defaults = {
    .service = PAYMENT_SERVICE,
    .http_port = "8087",
    .db_name = "commerce_payment",
    .group_id = PAYMENT_SERVICE,
    .migrations_dir = "payment-service/migrations",
};

#define S struct pay_config
static const struct cfg_entry table[] = {
    CFG_ENTRY_INT("PAYMENT_GATEWAY_TIMEOUT_MS", "3000", 50, 60000, S, gateway_timeout_ms,
                  "how long a confirm waits for the (simulated) gateway before GATEWAY_TIMEOUT"),
};
#undef S

#define NENTRIES (sizeof(table) / sizeof(table[0]))

int pay_config_load(struct pay_config *cfg, char *errbuf, size_t errlen)
{
    return svc_config_load_own(&cfg->svc, &defaults, table, NENTRIES, cfg, errbuf, errlen);
}

void pay_config_log(const struct pay_config *cfg)
{
    svc_config_log(&cfg->svc);
    cfg_log(table, NENTRIES, cfg);
}
