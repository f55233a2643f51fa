-- catalog-service schema: a category tree, products with option groups, and one SKU per
-- combination of options. Products are soft-deleted (status DELETED).
CREATE TABLE category (
    id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name       VARCHAR(200) NOT NULL,
    parent_id  BIGINT NULL,
    depth      INT NOT NULL DEFAULT 0,
    ordering   INT NOT NULL DEFAULT 0,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT fk_category_parent FOREIGN KEY (parent_id) REFERENCES category (id),
    UNIQUE KEY uq_category_sibling_name (parent_id, name),
    KEY ix_category_parent (parent_id, ordering)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE product (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    code        VARCHAR(32) NULL UNIQUE,
    name        VARCHAR(200) NOT NULL,
    description TEXT NULL,
    brand       VARCHAR(100) NULL,
    price       BIGINT NOT NULL,
    category_id BIGINT NOT NULL,
    status      VARCHAR(16) NOT NULL DEFAULT 'ACTIVE',
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    deleted_at  DATETIME(6) NULL,
    CONSTRAINT fk_product_category FOREIGN KEY (category_id) REFERENCES category (id),
    KEY ix_product_category (category_id, status, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE option_group (
    id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    product_id BIGINT NOT NULL,
    name       VARCHAR(200) NOT NULL,
    ordering   INT NOT NULL DEFAULT 0,
    position   INT NOT NULL,
    CONSTRAINT fk_option_group_product FOREIGN KEY (product_id) REFERENCES product (id),
    UNIQUE KEY uq_option_group_position (product_id, position)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE option_value (
    id               BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    option_group_id  BIGINT NOT NULL,
    name             VARCHAR(200) NOT NULL,
    additional_price BIGINT NOT NULL DEFAULT 0,
    position         INT NOT NULL,
    CONSTRAINT fk_option_value_group FOREIGN KEY (option_group_id) REFERENCES option_group (id),
    UNIQUE KEY uq_option_value_position (option_group_id, position)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE sku (
    id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    product_id    BIGINT NOT NULL,
    code          VARCHAR(64) NOT NULL UNIQUE,
    price         BIGINT NOT NULL,
    option_values JSON NOT NULL,
    created_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT fk_sku_product FOREIGN KEY (product_id) REFERENCES product (id),
    KEY ix_sku_product (product_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
