/* config.c - order-service's settings: the common table plus the payment deadline. */
#include <stddef.h>

#include "app.h"

const struct svc_defaults ORDER_DEFAULTS = {
    .service = ORDER_SERVICE,
    .http_port = "8085",
    .db_name = "commerce_order",
    .group_id = ORDER_SERVICE,
    .migrations_dir = "order-service/migrations",
};

#define S struct order_config
const struct cfg_entry ORDER_CONFIG[] = {
    CFG_ENTRY_INT("ORDER_PAYMENT_DEADLINE_S", "900", 1, 86400 * 7, S, payment_deadline_s,
                  "seconds an order may stay unpaid before it is cancelled (PAYMENT_TIMEOUT)"),
    CFG_ENTRY_INT("ORDER_DEADLINE_SCAN_MS", "1000", 50, 3600000, S, deadline_scan_ms,
                  "milliseconds between scans for orders past the payment deadline"),
    {0},
};
#undef S
