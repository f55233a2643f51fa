# auth-service: credentials, refresh tokens, signing key.
$(eval $(call service_template,auth,auth-service))
