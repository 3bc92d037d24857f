# vkgw build. `make` builds everything; `make test` runs every test;
# `make run` starts the server; `make debug` builds with ASan+UBSan into
# build/debug. Missing Debian packages are installed first (deploy/).

CC       := gcc
AR       := gcc-ar
BUILD    ?= build
OPT      ?= -O2 -flto=auto
SAN      ?=
CFLAGS   := -std=gnu11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Werror -fno-strict-aliasing $(SAN) -MMD -MP
LDFLAGS  := $(OPT) $(SAN)
LDLIBS   := -luring

VKERN_SRC := $(wildcard vkern/*.c)
VKERN_OBJ := $(VKERN_SRC:%.c=$(BUILD)/%.o)
LIBVKERN  := $(BUILD)/libvkern.a

# The gateway: everything above vkern, as one library (the program's main
# lives in deploy/gw_main.c, outside it).
GW_SRC    := $(wildcard gateway/*.c config/*.c filters/*.c upstreams/*.c)
GW_OBJ    := $(GW_SRC:%.c=$(BUILD)/%.o)
LIBGW     := $(BUILD)/libgw.a
# BoringSSL (Debian's android-libboringssl-dev), for TLS and the filters' crypto.
BORINGSSL_INC := /usr/include/android
BORINGSSL_LIB := /usr/lib/x86_64-linux-gnu/android
GW_LDLIBS := -ljansson -lmaxminddb -lcrypt -L$(BORINGSSL_LIB) -Wl,-rpath,$(BORINGSSL_LIB) -lssl -lcrypto -lsystemd

EXAMPLES     := $(patsubst vkern/examples/%.c,$(BUILD)/%,$(wildcard vkern/examples/*.c))
UNIT_TESTS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/test_vk_*.c))
GW_TESTS     := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/test_gw_*.c))
E2E_CLIENTS  := $(patsubst tests/e2e/%.c,$(BUILD)/tests/e2e/%,$(wildcard tests/e2e/*.c))
TEST_SERVICES := $(patsubst tests/services/%.c,$(BUILD)/tests/services/%,$(wildcard tests/services/*.c))
DEPS_STAMP   := $(BUILD)/.deps-installed

# Objects are kept between builds (they are intermediate to pattern rules).
.SECONDARY:

.PHONY: all deps run test unit e2e check-layers debug test-debug bench bench-vkern bench-proxy bench-tls bench-reload bench-idle format format-check clean

all: $(DEPS_STAMP) $(LIBVKERN) $(LIBGW) $(BUILD)/vkgw $(EXAMPLES) $(UNIT_TESTS) $(GW_TESTS) $(E2E_CLIENTS) $(TEST_SERVICES)

# Installs what is missing (needs root or sudo); a no-op when all is there.
$(DEPS_STAMP): deploy/install-deps.sh
	@deploy/install-deps.sh --check 2>/dev/null || deploy/install-deps.sh
	@mkdir -p $(@D) && touch $@

deps:
	deploy/install-deps.sh

# Layers (docs/gateway-design.md): each directory compiles with the include
# paths at or below it, so a header from a layer above cannot be found.
# The program (deploy/), tests and benchmarks see every layer.
INC := -Ivkern -Iconfig -Igateway -Iupstreams -Ifilters -Ideploy
$(BUILD)/vkern/%.o: INC := -Ivkern
$(BUILD)/config/%.o: INC := -Iconfig
$(BUILD)/gateway/%.o: INC := -Igateway -Iconfig -Ivkern
$(BUILD)/upstreams/%.o: INC := -Iupstreams -Igateway -Iconfig -Ivkern
$(BUILD)/filters/%.o: INC := -Ifilters -Igateway -Iconfig -Ivkern

# Only the filters and the gateway's TLS (gw_tls*.c) see BoringSSL's
# headers (as system headers: its own warnings are not ours).
$(BUILD)/filters/%.o: CFLAGS += -isystem $(BORINGSSL_INC)
$(BUILD)/gateway/gw_tls.o $(BUILD)/gateway/gw_tls_%.o: CFLAGS += -isystem $(BORINGSSL_INC)
$(BUILD)/tests/unit/test_gw_tls.o $(BUILD)/tests/unit/test_gw_jwt.o $(BUILD)/tests/unit/test_gw_filter_%.o: CFLAGS += -isystem $(BORINGSSL_INC)

$(BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(INC) -c $< -o $@

# Made anew, not updated: a source removed from the tree leaves the archive.
$(LIBVKERN): $(VKERN_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(LIBGW): $(GW_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/%: $(BUILD)/vkern/examples/%.o $(LIBVKERN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/unit/test_vk_%: $(BUILD)/tests/unit/test_vk_%.o $(LIBVKERN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

$(BUILD)/tests/unit/test_gw_%: $(BUILD)/tests/unit/test_gw_%.o $(LIBGW) $(LIBVKERN)
	$(CC) $(LDFLAGS) $^ $(GW_LDLIBS) $(LDLIBS) -lcmocka -o $@

# The pipeline's test counts the calls that mark a user's filter code as
# untrusted: its own definitions, linked first, stand in for vkern's
# (--wrap does not reach calls between LTO objects).
$(BUILD)/tests/unit/test_gw_pipeline: LDFLAGS += -Wl,--allow-multiple-definition

$(BUILD)/tests/e2e/%: $(BUILD)/tests/e2e/%.o
	$(CC) $(LDFLAGS) $^ -o $@

$(BUILD)/vkgw: $(BUILD)/deploy/gw_main.o $(LIBGW) $(LIBVKERN)
	$(CC) $(LDFLAGS) $^ $(GW_LDLIBS) $(LDLIBS) -o $@

# Services that exist only for tests (fault injection and the like).
$(BUILD)/tests/services/%: $(BUILD)/tests/services/%.o $(LIBGW) $(LIBVKERN)
	$(CC) $(LDFLAGS) $^ $(GW_LDLIBS) $(LDLIBS) -o $@

# The filters docs/filters.md shows are real code, compiled as a filter is
# (gateway's interfaces and below) and linked into a gateway of their own
# that tests/e2e/gw_filter_examples.sh runs.
EXAMPLE_FILTERS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard docs/examples/*.c))
$(BUILD)/docs/examples/%.o: INC := -Ifilters -Igateway -Iconfig -Ivkern
$(BUILD)/tests/services/gw_example_gateway: $(BUILD)/tests/services/gw_example_gateway.o $(EXAMPLE_FILTERS) $(LIBGW) $(LIBVKERN)
	$(CC) $(LDFLAGS) $^ $(GW_LDLIBS) $(LDLIBS) -o $@

# The gateway on the bundled config, in front of a demo upstream (the vkern
# hello service on 127.0.0.1:8081, stopped with the gateway).
run: all
	@$(BUILD)/vk_hello -a 127.0.0.1 -p 8081 -k 1 >/dev/null & demo=$$!; \
	trap 'kill $$demo 2>/dev/null' EXIT INT TERM; \
	$(BUILD)/vkgw -c config/examples/default.json

test: all
	BUILD=$(BUILD) tests/run-tests.sh

# Also run by `make test` (tests/e2e/layers.sh); catches relative includes
# ("../") that the include paths above cannot.
check-layers:
	bash tests/e2e/layers.sh

unit: all
	BUILD=$(BUILD) tests/run-tests.sh unit

e2e: all
	BUILD=$(BUILD) tests/run-tests.sh e2e

debug:
	$(MAKE) BUILD=build/debug OPT="-O0" SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" all

test-debug:
	$(MAKE) BUILD=build/debug OPT="-O0" SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" test

bench: bench-vkern

bench-vkern: all $(BUILD)/bench/mprotect_cost
	$(BUILD)/bench/mprotect_cost
	bench/bench-vkern.sh $(BUILD)/vk_hello

# The proxy suite, then the authentication filters' (BENCH_SUITE=auth), rate
# limiting's (BENCH_SUITE=ratelimit) and geo lookups' (BENCH_SUITE=geo).
bench-proxy: all $(BUILD)/bench/ecdsa_speed
	bench/bench-proxy.sh $(BUILD)/vkgw $(BUILD)/bench/floor_proxy
	BENCH_SUITE=auth bench/bench-proxy.sh $(BUILD)/vkgw $(BUILD)/bench/floor_proxy
	BENCH_SUITE=ratelimit bench/bench-proxy.sh $(BUILD)/vkgw $(BUILD)/bench/floor_proxy
	BENCH_SUITE=geo bench/bench-proxy.sh $(BUILD)/vkgw $(BUILD)/bench/floor_proxy
	BENCH_SUITE=retry bench/bench-proxy.sh $(BUILD)/vkgw $(BUILD)/bench/floor_proxy

bench-tls: all
	bench/bench-tls.sh $(BUILD)/vkgw

bench-reload: all
	bench/bench-reload.sh $(BUILD)/vkgw

bench-idle: all
	bench/bench-idle-rss.sh $(BUILD)/vkgw $(BUILD)/vk_hello

$(BUILD)/bench/mprotect_cost: bench/mprotect_cost.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -pthread $< -o $@

# BoringSSL's own ECDSA P-256 verify rate, for the auth suite.
$(BUILD)/bench/ecdsa_speed: bench/ecdsa_speed.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -isystem $(BORINGSSL_INC) $(LDFLAGS) $< -L$(BORINGSSL_LIB) -Wl,-rpath,$(BORINGSSL_LIB) -lcrypto -o $@

# The floor proxy is in `all`: tests/e2e/bench_floor_proxy.sh checks it.
all: $(BUILD)/bench/floor_proxy

$(BUILD)/bench/floor_proxy: bench/floor_proxy.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $< -o $@

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
