# catalog-service: categories, products, option groups, SKUs.
$(eval $(call service_template,catalog,catalog-service))
