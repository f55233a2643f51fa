-- payment_idempotency rows older than INBOX_RETENTION_S are purged like the inbox (README
-- "State and retention"); the purge finds them by age.
ALTER TABLE payment_idempotency ADD KEY ix_payment_idempotency_created (created_at);
