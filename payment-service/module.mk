# payment-service: payments, transactions, idempotency; a built-in gateway simulator.
$(eval $(call service_template,payment,payment-service))
