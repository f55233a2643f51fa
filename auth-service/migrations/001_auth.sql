-- auth-service schema: credentials (Argon2id hashes only), rotating refresh tokens (SHA-256 of
-- the token only), per-email failed-login throttling, and the history of successful logins.
CREATE TABLE credential (
    user_id       VARCHAR(64) NOT NULL PRIMARY KEY,
    email         VARCHAR(254) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    provider      VARCHAR(32) NOT NULL DEFAULT 'LOCAL',
    role          VARCHAR(16) NOT NULL DEFAULT 'USER',
    status        VARCHAR(16) NOT NULL DEFAULT 'ACTIVE',
    created_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY uq_credential_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE refresh_token (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    token_hash  CHAR(64) NOT NULL,
    family_id   CHAR(36) NOT NULL,
    user_id     VARCHAR(64) NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     DATETIME(6) NULL,
    revoked_at  DATETIME(6) NULL,
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY uq_refresh_token_hash (token_hash),
    KEY ix_refresh_token_family (family_id),
    KEY ix_refresh_token_user (user_id),
    CONSTRAINT fk_refresh_token_user FOREIGN KEY (user_id) REFERENCES credential (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE login_throttle (
    email        VARCHAR(254) NOT NULL PRIMARY KEY,
    failures     INT NOT NULL DEFAULT 0,
    window_start BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE login_history (
    id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id    VARCHAR(64) NOT NULL,
    ip         VARCHAR(45) NULL,
    user_agent VARCHAR(512) NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY ix_login_history_user (user_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
