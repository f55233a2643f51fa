# order-service: orders, items, status history; the saga's coordinator by choreography.
$(eval $(call service_template,order,order-service))
