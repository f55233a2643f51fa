# tests/e2e_*.c: cross-service end-to-end tests through the public HTTP APIs and Kafka.
E2E_TESTS := $(patsubst tests/%.c,$(BUILD)/tests/e2e/%,$(wildcard tests/e2e_*.c))
ITESTS += $(E2E_TESTS)

$(BUILD)/tests/e2e/%: $(BUILD)/obj/tests/%.o $(TESTSUP_OBJ) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS)
