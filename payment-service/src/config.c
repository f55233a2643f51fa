/* config.c - payment-service's settings: the common table plus the gateway timeout. */
#include <stddef.h>

#include "app.h"

const struct svc_defaults PAY_DEFAULTS = {
    .service = PAYMENT_SERVICE,
    .http_port = "8087",
    .db_name = "commerce_payment",
    .group_id = PAYMENT_SERVICE,
    .migrations_dir = "payment-service/migrations",
};

#define S struct pay_config
const struct cfg_entry PAY_CONFIG[] = {
    CFG_ENTRY_INT("PAYMENT_GATEWAY_TIMEOUT_MS", "3000", 50, 60000, S, gateway_timeout_ms,
                  "how long a confirm waits for the (simulated) gateway before GATEWAY_TIMEOUT"),
    {0},
};
#undef S
