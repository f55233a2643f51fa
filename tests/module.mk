# tests/support/: helpers linked into every test binary (env, HTTP client, Kafka test
# consumer, poll-with-deadline). Included first: other modules' rules name TESTSUP_OBJ.
TESTSUP_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/support/*.c))
