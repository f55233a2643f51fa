# common/: the static library every service links, and its tests.
COMMON_SRC := $(wildcard common/src/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
COMMON_LIB := $(BUILD)/lib/libcommon.a

# rebuilt from scratch: `ar rcs` never drops the member of a source file that was deleted or
# renamed, and a stale member can win the link
$(COMMON_LIB): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# common/tests/test_*.c are unit tests, common/tests/it_*.c integration tests;
# tests/support/*.c (TESTSUP_OBJ) is linked into both.
COMMON_TESTS  := $(patsubst common/tests/%.c,$(BUILD)/tests/common/%,$(wildcard common/tests/test_*.c))
COMMON_ITESTS := $(patsubst common/tests/%.c,$(BUILD)/tests/common/%,$(wildcard common/tests/it_*.c))
TESTS  += $(COMMON_TESTS)
ITESTS += $(COMMON_ITESTS)

$(BUILD)/tests/common/%: $(BUILD)/obj/common/tests/%.o $(TESTSUP_OBJ) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS)
