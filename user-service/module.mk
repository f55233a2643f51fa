# user-service: user profiles; sign-up calls auth-service.
$(eval $(call service_template,user,user-service))
