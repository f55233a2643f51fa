# Top-level, non-recursive build. Each part contributes a module.mk.
#   make            release build into build/
#   make test       unit + integration tests under ASan/UBSan against real MariaDB, Redis, Kafka
#   make run|up|down  local stack (see README); `make up INSTANCES=2 KAFKA_NODES=3`: two
#                   instances of every service on a 3-node Kafka cluster (scripts/stack.sh)
# SAN=1 builds with AddressSanitizer + UBSan into build/asan (what `make test` uses).

CC      ?= cc
SAN     ?= 0
ifeq ($(SAN),1)
BUILD   ?= build/asan
else
BUILD   ?= build
endif

PKGS    := rdkafka libmicrohttpd libmariadb hiredis libcjson openssl libcurl uuid libargon2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla -Wno-format-nonliteral
CFLAGS  := -std=c11 -D_GNU_SOURCE -g -pthread $(WARN) -Icommon/include $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lm -pthread
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS  += -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong
endif

# every folder with a module.mk is a service
SERVICES := $(patsubst %/module.mk,%,$(wildcard *-service/module.mk))
BINS     :=
TESTS    :=            # unit tests: no I/O
ITESTS   :=            # integration tests: need MariaDB/Redis/Kafka from the harness

.PHONY: all test test-unit check run up down demo env bench clean format format-check distclean
# keep every object: test objects are otherwise deleted as intermediates and rebuilt each time
.SECONDARY:
all:

# A service: $(1) short name (catalog), $(2) folder (catalog-service). Builds
# $(BUILD)/bin/$(2) from $(2)/src/*.c, and one test binary per $(2)/tests/{test,it}_*.c linked
# with every object of the service but main.o.
define service_template
$(1)_SRC := $$(wildcard $(2)/src/*.c)
$(1)_OBJ := $$($(1)_SRC:%.c=$$(BUILD)/obj/%.o)
$(1)_LIB_OBJ := $$(filter-out %/main.o,$$($(1)_OBJ))
BINS += $$(BUILD)/bin/$(2)
TESTS += $$(patsubst $(2)/tests/%.c,$$(BUILD)/tests/$(1)/%,$$(wildcard $(2)/tests/test_*.c))
ITESTS += $$(patsubst $(2)/tests/%.c,$$(BUILD)/tests/$(1)/%,$$(wildcard $(2)/tests/it_*.c))

$$(BUILD)/bin/$(2): $$($(1)_OBJ) $$(COMMON_LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)

$$(BUILD)/tests/$(1)/%: $$(BUILD)/obj/$(2)/tests/%.o $$($(1)_LIB_OBJ) $$(TESTSUP_OBJ) $$(COMMON_LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ -lcmocka $$(LDLIBS)
endef

include tests/module.mk
include common/module.mk
include tools/module.mk
include $(foreach s,$(SERVICES),$(s)/module.mk)
include tests/e2e.mk

all: $(COMMON_LIB) $(BINS) $(TESTS) $(ITESTS)

# test code sees the test-support header
$(BUILD)/obj/%.o: CFLAGS += -Itests/support

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# the harness: installs what is missing, starts MariaDB/Redis/Kafka, runs every suite, stops all
test:
	bash scripts/test.sh

# only the pure unit tests (no servers needed)
test-unit:
	$(MAKE) SAN=1 build-tests
	bash scripts/test.sh --unit-only

build-tests: $(COMMON_LIB) $(BINS) $(TESTS) $(ITESTS)
.PHONY: build-tests

# the Dockerfile built with podman and one order through its six service containers against the
# harness's servers (scripts/test-image.sh; README "The image test")
test-image:
	bash scripts/test-image.sh
.PHONY: test-image

# throughput and latency on this machine (results: docs/benchmarks.md); builds what it needs
bench:
	bash scripts/bench.sh

# secrets for docker-compose.yml and the local stack (.env, .run/jwt-*.pem; never committed)
env:
	bash scripts/env.sh

# the local stack's shape (scripts/stack.sh): instances of every service, Kafka nodes (empty:
# what .run/ was first started with, else 1)
INSTANCES   ?= 1
KAFKA_NODES ?=
run:
	INSTANCES=$(INSTANCES) KAFKA_NODES=$(KAFKA_NODES) bash scripts/stack.sh run
up:
	INSTANCES=$(INSTANCES) KAFKA_NODES=$(KAFKA_NODES) bash scripts/stack.sh up
down:
	bash scripts/stack.sh down
# README "Your first order": one order from sign-up to CONFIRMED and its trace, on the stack of
# `make up` (scripts/demo --help for the other endings)
demo:
	bash scripts/demo

# the tracked C files (every C file outside build/ where git is missing)
FORMAT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null || \
                     find . -path ./build -prune -o -path ./.deps -prune -o -name '*.[ch]' -print)
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC) && echo "format-check: $(words $(FORMAT_SRC)) files clean"

# the domain code (pure rules, unit-tested without I/O) includes no adapter header: neither a
# library's (libmicrohttpd, librdkafka, MariaDB, hiredis, cJSON) nor common/'s wrappers of them
DOMAIN_FILES := $(wildcard catalog-service/src/catalog.[ch] auth-service/src/auth.[ch] \
                  user-service/src/user.[ch] inventory-service/src/stock.[ch] \
                  order-service/src/order.[ch] order-service/src/coupon.[ch] \
                  payment-service/src/payment.[ch])
check-layers:
	@! grep -nE '#include [<"](microhttpd|librdkafka|mysql|mariadb|hiredis|cjson|cJSON|common/(http|db|kafka|rds|event|outbox|inbox|jsonx)\.h)' \
	    $(DOMAIN_FILES) /dev/null \
	  || { echo "check-layers: domain code must not include adapter headers"; exit 1; }
	@echo "check-layers: $(words $(DOMAIN_FILES)) domain files include no adapter header"
.PHONY: check-layers

# docs/event-contracts.md's payload reference, regenerated from the schemas under contracts/
# (between its "contracts:begin" / "contracts:end" markers); test_contracts_doc fails when the
# checked-in page differs
contracts: $(BUILD)/bin/gen-contracts-doc
	$(BUILD)/bin/gen-contracts-doc --write docs/event-contracts.md contracts
.PHONY: contracts

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
