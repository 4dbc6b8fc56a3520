# Build, test and demo entry points; see README.md.

SHELL     := /bin/bash
REPO      := $(CURDIR)
BUILD     := $(REPO)/build
NGX_SRC   ?= /usr/share/nginx/src
MODULE    := $(BUILD)/ngx_http_trigger_module.so
STATIC    := $(BUILD)/nginx-static
SRCS      := $(wildcard src/*.c src/*.h) config
CC_OPT    := -fPIC -g -O2 -Wall -Werror

UNIT_SRCS := src/ngx_http_trigger_event.c src/ngx_http_trigger_sign.c \
             src/ngx_http_trigger_offer.c src/ngx_http_trigger_html.c \
             src/ngx_http_trigger_template.c \
             src/ngx_http_trigger_provider.c \
             src/ngx_http_trigger_chain.c src/ngx_http_trigger_tz.c
# unit_tests.c calls the tests of the files beside it (t/unit/unit.h);
# chain_tests.c is a binary of its own.  t/00-unit.t runs each
UNIT_TESTS := t/unit/unit_tests.c t/unit/provider_tests.c
UNIT_BIN  := $(BUILD)/unit_tests
CHAIN_BIN := $(BUILD)/chain_tests
SPEC_BIN  := $(BUILD)/template_spec
SPEC_DIR  ?= $(REPO)/../shared/test-vectors/mustache-spec

# libFuzzer targets, one per parser of outside bytes: fuzz/fuzz_NAME.c
FUZZ_TIME  ?= 60
FUZZ_NAMES := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_BINS  := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)

.PHONY: all deps unit template-spec test valgrind demo bench clean static \
        fuzz fuzz-build fuzz-regress

all: $(MODULE)

# Debian's own recipe for a dynamic module (the one dh-sequence-nginx
# uses), run on a private copy of the source so nothing is written
# outside the repository.
$(BUILD)/objs/Makefile: config
	@test -f $(NGX_SRC)/conf_flags || { \
	    echo "nginx-dev is missing: run 'make deps' (as root)"; exit 1; }
	rm -rf $(BUILD)/nginx-src $(BUILD)/objs && mkdir -p $(BUILD)
	cp -a $(NGX_SRC) $(BUILD)/nginx-src
	cd $(BUILD)/nginx-src && . ./conf_flags && ./configure \
	    --with-cc-opt='$(CC_OPT)' --with-ld-opt=-fPIC \
	    "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(REPO) \
	    --builddir=$(BUILD)/objs > $(BUILD)/configure.log

# the widget is served from memory: its source becomes a C header
src/ngx_http_trigger_widget_js.h: $(wildcard widget/widget.js) util/embed-widget \
                                  widget/package-lock.json
	util/embed-widget

$(MODULE): $(BUILD)/objs/Makefile $(SRCS) src/ngx_http_trigger_widget_js.h
	$(MAKE) -f $(BUILD)/objs/Makefile -C $(BUILD)/nginx-src modules
	# a new file, not rewritten in place: running workers have it mapped
	install -m 755 $(BUILD)/objs/ngx_http_trigger_module.so $(MODULE)

# The module compiled into nginx itself, from nginx's own source tree.
$(STATIC): $(SRCS)
	src=$$(util/nginx-source) && rm -rf $(BUILD)/static \
	&& cd $$src && ./configure --with-cc-opt='$(CC_OPT)' \
	    --with-http_ssl_module --add-module=$(REPO) \
	    --builddir=$(BUILD)/static > $(BUILD)/static-configure.log \
	&& $(MAKE) -f $(BUILD)/static/Makefile > $(BUILD)/static-make.log
	install -m 755 $(BUILD)/static/nginx $(STATIC)

static: $(STATIC)

deps:
	util/install-deps

$(UNIT_BIN): $(UNIT_TESTS) t/unit/*.h $(UNIT_SRCS) src/*.h
	mkdir -p $(BUILD)
	cc -g -O1 -Wall -Wextra -Werror -Isrc -o $@ $(UNIT_TESTS) \
	    $(UNIT_SRCS) -ljansson -lcrypto

$(CHAIN_BIN): t/unit/chain_tests.c $(UNIT_SRCS) src/*.h
	mkdir -p $(BUILD)
	cc -g -O1 -Wall -Wextra -Werror -Isrc -DTEST_REPO='"$(REPO)"' \
	    -o $@ t/unit/chain_tests.c $(UNIT_SRCS) -ljansson -lcrypto

$(SPEC_BIN): t/unit/template_spec.c src/ngx_http_trigger_template.c \
             src/ngx_http_trigger_template.h
	mkdir -p $(BUILD)
	cc -g -O1 -Wall -Wextra -Werror -Isrc -o $@ t/unit/template_spec.c \
	    src/ngx_http_trigger_template.c -ljansson

# the official Mustache tests, where ../shared is (CI, developers)
template-spec: $(SPEC_BIN)
	@if test -d $(SPEC_DIR); then $(SPEC_BIN) $(SPEC_DIR); \
	else echo "1..0 # SKIP no Mustache spec tests in $(SPEC_DIR)"; fi

unit: $(UNIT_BIN) $(CHAIN_BIN) template-spec
	$(UNIT_BIN)
	$(CHAIN_BIN)

# UB aborts too, so libFuzzer keeps the input
$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $(wildcard fuzz/*.h) $(UNIT_SRCS) src/*.h
	mkdir -p $(BUILD)/fuzz
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -Wall -Wextra -Werror -Isrc \
	    -o $@ $< $(UNIT_SRCS) -ljansson -lcrypto

fuzz-build: $(FUZZ_BINS)

# each target for FUZZ_TIME seconds; not part of `make test`
fuzz: deps
	$(MAKE) fuzz-build
	util/fuzz run $(FUZZ_TIME) $(FUZZ_NAMES)

# each target once over the crashing inputs kept in fuzz/regressions/
fuzz-regress: fuzz-build
	util/fuzz regress $(FUZZ_NAMES)

test: deps
	$(MAKE) all static
	$(MAKE) unit
	prove -r t/

# the suite with nginx under valgrind: no errors, no definite leaks
valgrind: deps
	$(MAKE) all static
	$(MAKE) unit
	TEST_NGINX_VALGRIND=1 prove -r t/

demo: deps
	$(MAKE) all
	util/demo

bench: deps
	$(MAKE) all
	bench/run

clean:
	rm -rf $(BUILD)
