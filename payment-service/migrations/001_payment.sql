-- payment-service schema: one payment per order, its gateway transactions, and the stored
-- answers of idempotent actions (order.placed event id for CREATE, Idempotency-Key for CONFIRM).
-- confirm_token marks a confirmation in progress (the gateway is called outside any
-- transaction), so two concurrent confirms cannot both capture.
CREATE TABLE payment (
    id                 CHAR(36) NOT NULL PRIMARY KEY,
    order_id           VARCHAR(64) NOT NULL,
    user_id            VARCHAR(64) NOT NULL,
    amount             BIGINT NOT NULL,
    refunded_amount    BIGINT NOT NULL DEFAULT 0,
    status             VARCHAR(20) NOT NULL,
    payment_key        VARCHAR(200) NULL,
    fail_reason        VARCHAR(100) NULL,
    correlation_id     VARCHAR(64) NULL,
    confirm_token      CHAR(36) NULL,
    confirm_started_at DATETIME(6) NULL,
    approved_at        DATETIME(3) NULL,
    created_at         DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at         DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY uq_payment_order (order_id),
    KEY ix_payment_user (user_id, created_at),
    CONSTRAINT ck_payment_refund CHECK (refunded_amount >= 0 AND refunded_amount <= amount)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE payment_transaction (
    id                CHAR(36) NOT NULL PRIMARY KEY,
    payment_id        CHAR(36) NOT NULL,
    type              VARCHAR(16) NOT NULL,
    status            VARCHAR(16) NOT NULL,
    pg_transaction_id VARCHAR(64) NULL,
    amount            BIGINT NOT NULL,
    reason            VARCHAR(100) NULL,
    created_at        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT fk_payment_transaction_payment FOREIGN KEY (payment_id) REFERENCES payment (id),
    KEY ix_payment_transaction_payment (payment_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE payment_idempotency (
    id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id        VARCHAR(64) NOT NULL,
    action          VARCHAR(16) NOT NULL,
    idempotency_key VARCHAR(128) NOT NULL,
    response        JSON NOT NULL,
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY uq_payment_idempotency (order_id, action, idempotency_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
