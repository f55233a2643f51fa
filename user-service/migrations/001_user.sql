-- user-service schema: one row per user profile. The id is the UUID user-service generates at
-- sign-up and hands to auth-service as the credential's userId (the tokens' "sub"). The email
-- is unique without regard to case (utf8mb4_unicode_ci).
CREATE TABLE user (
    id         CHAR(36) NOT NULL PRIMARY KEY,
    email      VARCHAR(254) NOT NULL,
    name       VARCHAR(50) NOT NULL,
    phone      VARCHAR(13) NOT NULL,
    status     VARCHAR(16) NOT NULL DEFAULT 'ACTIVE',
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY uq_user_email (email),
    CONSTRAINT ck_user_status CHECK (status IN ('ACTIVE', 'INACTIVE', 'BLOCKED'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
