-- Coupons: discounts come only from them (a client never names an amount). An admin creates a
-- code with a fixed amount or a percent, a minimum order amount, a validity window and use
-- limits; an order takes a use in its own transaction (the coupon row locked) and gives it
-- back when it becomes CANCELLED or FAILED. NULL in a window end or a limit means "none".
CREATE TABLE coupon (
    id               BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    code             VARCHAR(32) NOT NULL,
    kind             VARCHAR(8) NOT NULL,       -- FIXED | PERCENT
    value            BIGINT NOT NULL,           -- FIXED: KRW off; PERCENT: 1..100
    min_order_amount BIGINT NOT NULL DEFAULT 0,
    valid_from_ms    BIGINT NULL,               -- epoch ms, inclusive
    valid_until_ms   BIGINT NULL,               -- epoch ms, exclusive
    total_limit      INT NULL,
    per_user_limit   INT NULL,
    used_count       INT NOT NULL DEFAULT 0,    -- uses taken and not given back
    created_by       VARCHAR(64) NOT NULL,
    created_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY uq_coupon_code (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One use per order; returned_at set when the order's cancel or failure gave it back.
CREATE TABLE coupon_use (
    order_id        CHAR(36) NOT NULL PRIMARY KEY,
    coupon_id       BIGINT NOT NULL,
    user_id         VARCHAR(64) NOT NULL,
    discount_amount BIGINT NOT NULL,
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    returned_at     DATETIME(6) NULL,
    CONSTRAINT fk_coupon_use_order FOREIGN KEY (order_id) REFERENCES orders (id),
    CONSTRAINT fk_coupon_use_coupon FOREIGN KEY (coupon_id) REFERENCES coupon (id),
    KEY ix_coupon_use_user (coupon_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The coupon an order used (read under the order's lock, so giving the use back locks the
-- coupon row before its use row, as taking one does).
ALTER TABLE orders
    ADD COLUMN coupon_id   BIGINT NULL,
    ADD COLUMN coupon_code VARCHAR(32) NULL;
