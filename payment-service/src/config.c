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
    CFG_ENTRY_INT("PAYMENT_CONFIRM_WAIT_MS", "3000", 0, 30000, S, confirm_wait_ms,
                  "how long a confirm waits for a payment not made yet before 404 (0: no wait)"),
    CFG_ENTRY_INT("PAYMENT_CONFIRM_MAX_WAITERS", "256", 0, 1024, S, confirm_max_waiters,
                  "confirms waiting at once at most (parked: a connection and a little memory "
                  "each, no HTTP thread); more: 404 at once"),
    {0},
};
#undef S
