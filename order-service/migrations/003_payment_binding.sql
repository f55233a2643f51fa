-- The payment an order learned from payment.created (docs/saga.md "The payment an order
-- accepts"): payment_id was already kept; its amount joins it. A payment.completed is applied
-- only when it names this payment id and this amount.
ALTER TABLE orders ADD COLUMN payment_amount BIGINT NULL AFTER payment_id;

-- Orders that learned their payment before this column: payment-service creates the payment
-- for the order's payable amount (docs/saga.md "Payment"), so that is the amount it learned.
UPDATE orders SET payment_amount = payable_amount
    WHERE payment_id IS NOT NULL AND payment_amount IS NULL;
