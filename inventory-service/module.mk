# inventory-service: stock per SKU in Redis, driven by events.
$(eval $(call service_template,inventory,inventory-service))
