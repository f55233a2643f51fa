# tools/: small helper programs (mock Kafka broker for machines without a JDK, dev-token, and the
# `make bench` tools bench-saga, bench-hop and bench-ready).
TOOLS := $(patsubst tools/%.c,$(BUILD)/bin/%,$(wildcard tools/*.c))
BINS  += $(TOOLS)

$(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
