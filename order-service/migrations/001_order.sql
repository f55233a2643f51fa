-- order-service schema: orders with their lines and status history, the copy of catalog
-- prices fed by product.sku.created, and refunds. Amounts are whole KRW.
CREATE TABLE orders (
    id                CHAR(36) NOT NULL PRIMARY KEY,
    user_id           VARCHAR(64) NOT NULL,
    status            VARCHAR(24) NOT NULL,
    total_amount      BIGINT NOT NULL,
    discount_amount   BIGINT NOT NULL DEFAULT 0,
    payable_amount    BIGINT NOT NULL,
    stock_reserved    TINYINT(1) NOT NULL DEFAULT 0,
    payment_created   TINYINT(1) NOT NULL DEFAULT 0,
    payment_completed TINYINT(1) NOT NULL DEFAULT 0,
    payment_id        VARCHAR(64) NULL,
    cancel_reason     VARCHAR(64) NULL,
    idempotency_key   VARCHAR(128) NULL,
    created_at        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    version           INT NOT NULL DEFAULT 0,
    UNIQUE KEY uq_orders_user_idempotency (user_id, idempotency_key),
    KEY ix_orders_user (user_id, created_at),
    KEY ix_orders_status_created (status, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE order_item (
    id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id        CHAR(36) NOT NULL,
    sku_id          BIGINT NOT NULL,
    quantity        INT NOT NULL,
    unit_price      BIGINT NOT NULL,
    line_total      BIGINT NOT NULL,
    discount_amount BIGINT NOT NULL DEFAULT 0,
    amount          BIGINT NOT NULL,
    refunded        TINYINT(1) NOT NULL DEFAULT 0,
    refund_id       CHAR(36) NULL,
    CONSTRAINT fk_order_item_order FOREIGN KEY (order_id) REFERENCES orders (id),
    KEY ix_order_item_order (order_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE order_status_history (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id    CHAR(36) NOT NULL,
    from_status VARCHAR(24) NULL,
    to_status   VARCHAR(24) NOT NULL,
    reason      VARCHAR(64) NULL,
    event_id    VARCHAR(64) NULL,
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY ix_order_status_history_order (order_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE sku_price (
    sku_id     BIGINT NOT NULL PRIMARY KEY,
    price      BIGINT NOT NULL,
    product_id BIGINT NOT NULL,
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE order_refund (
    id         CHAR(36) NOT NULL PRIMARY KEY,
    order_id   CHAR(36) NOT NULL,
    amount     BIGINT NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT fk_order_refund_order FOREIGN KEY (order_id) REFERENCES orders (id),
    KEY ix_order_refund_order (order_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
