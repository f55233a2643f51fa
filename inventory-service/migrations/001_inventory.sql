-- inventory-service schema: Redis holds the live stock; this table is a periodic snapshot of
-- every SKU's counters, for reporting and for recovery if Redis lost its data.
CREATE TABLE inventory_snapshot (
    sku_id    BIGINT NOT NULL PRIMARY KEY,
    available BIGINT NOT NULL,
    reserved  BIGINT NOT NULL,
    sold      BIGINT NOT NULL,
    returned  BIGINT NOT NULL,
    received  BIGINT NOT NULL,
    taken_at  DATETIME(3) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
