# catalog-service: categories, products, option groups, SKUs.
CATALOG_SRC  := $(wildcard catalog-service/src/*.c)
CATALOG_OBJ  := $(CATALOG_SRC:%.c=$(BUILD)/obj/%.o)
CATALOG_LIB_OBJ := $(filter-out %/main.o,$(CATALOG_OBJ))
BINS += $(BUILD)/bin/catalog-service

$(BUILD)/bin/catalog-service: $(CATALOG_OBJ) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

CATALOG_TESTS  := $(patsubst catalog-service/tests/%.c,$(BUILD)/tests/catalog/%,$(wildcard catalog-service/tests/test_*.c))
CATALOG_ITESTS := $(patsubst catalog-service/tests/%.c,$(BUILD)/tests/catalog/%,$(wildcard catalog-service/tests/it_*.c))
TESTS  += $(CATALOG_TESTS)
ITESTS += $(CATALOG_ITESTS)

$(BUILD)/tests/catalog/%: $(BUILD)/obj/catalog-service/tests/%.o $(CATALOG_LIB_OBJ) $(TESTSUP_OBJ) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS)
