# wabridge — plain GNU make. `make` builds ./wabridge; `make check` sets up, builds a
# sanitizer build and runs every test tier; `make run` serves on the embedded defaults.

PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
DATADIR   ?= $(PREFIX)/share
SYSCONFDIR ?= /etc
DESTDIR   ?=

CC        ?= cc
CFLAGS    ?= -O2 -g
WARN      := -std=c17 -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wstrict-prototypes \
             -Wmissing-prototypes -Wold-style-definition -Wpointer-arith \
             -Wwrite-strings -Wundef -Wvla -Wnull-dereference -Wimplicit-fallthrough \
             -Wno-unused-parameter -Werror=implicit-function-declaration
DEFS      := -D_GNU_SOURCE -DG_LOG_DOMAIN=\"wabridge\" \
             -DGLIB_VERSION_MIN_REQUIRED=GLIB_VERSION_2_74 \
             -DWB_DATADIR=\"$(DATADIR)/wabridge\"

PKGS      := libetpan gnutls gmime-3.0 libcurl libxml-2.0 sqlite3 libpq jansson libmicrohttpd
# pkg-config output lives in its own variables so `make CFLAGS=...` keeps the -I flags.
# They are expanded when a recipe runs (=, not :=): on a fresh machine pkg-config and the
# libraries only exist after the deps step has installed them.
# libetpan's .pc leaks a dpkg -specs= flag that silently makes non-PIE binaries: drop it.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(filter-out -specs=%,$(shell pkg-config --libs $(PKGS)))

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SRCS      := $(wildcard src/*.c)
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
HDRS      := $(wildcard include/*.h)
TEMPLATES := $(wildcard templates/*)
UNIT_SRCS := $(wildcard tests/unit/test-*.c)
TEST_HDRS := $(wildcard tests/unit/*.h)

# libFuzzer targets (tests/fuzz/fuzz-NAME.c, corpus in tests/fuzz/corpus/NAME/), built
# with clang into build/fuzz/. `make fuzz` runs each for FUZZ_TIME seconds.
FUZZ_CC    ?= clang
FUZZ_TIME  ?= 600
FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
              -fno-omit-frame-pointer -g -O1
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_OBJS  := $(patsubst src/%.c,build/fuzz/%.o,$(LIB_SRCS)) build/fuzz/resources.o
FUZZ_BINS  := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))

# Normal build in build/, sanitizer build in build/san/.
OBJS      := $(patsubst src/%.c,build/%.o,$(SRCS)) build/resources.o
LIB_OBJS  := $(patsubst src/%.c,build/%.o,$(LIB_SRCS)) build/resources.o
SAN_OBJS  := $(patsubst src/%.c,build/san/%.o,$(SRCS)) build/san/resources.o
SAN_LIB_OBJS := $(patsubst src/%.c,build/san/%.o,$(LIB_SRCS)) build/san/resources.o
UNIT_BINS := $(patsubst tests/unit/%.c,build/san/%,$(UNIT_SRCS))

# Short build lines; `make V=1` shows the whole commands.
Q  = $(if $(V),,@)
say = $(if $(V),,@printf '  %-6s %s\n' $(1) $(2))

ALL_CFLAGS = $(WARN) $(DEFS) -Iinclude -Ibuild $(PKG_CFLAGS) $(CFLAGS)

.PHONY: all deps run check check-valgrind fuzz bench install uninstall clean distclean
all: deps wabridge

# Self set-up: installs missing Debian packages when root, else prints the command.
deps: build/.deps-ok
build/.deps-ok: tools/deps.sh
	@sh tools/deps.sh
	@mkdir -p build && touch $@

wabridge: $(OBJS)
	$(call say,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(PKG_LIBS)

build/%.o: src/%.c $(HDRS) | build/.deps-ok
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/resources.c: templates/wabridge.gresource.xml $(TEMPLATES) | build/.deps-ok
	@mkdir -p build
	$(call say,GEN,$@)
	$(Q)glib-compile-resources --sourcedir=templates --generate-source --target=$@ $<
build/resources.o: build/resources.c
	$(call say,CC,$@)
	$(Q)$(CC) $(DEFS) $(PKG_CFLAGS) $(CFLAGS) -w -c -o $@ $<
build/san/resources.o: build/resources.c
	@mkdir -p build/san
	$(call say,CC,$@)
	$(Q)$(CC) $(DEFS) $(PKG_CFLAGS) $(CFLAGS) $(SAN_FLAGS) -w -c -o $@ $<

build/san/%.o: src/%.c $(HDRS) | build/.deps-ok
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -c -o $@ $<

build/san/wabridge: $(SAN_OBJS)
	$(call say,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) $(LDFLAGS) -o $@ $(SAN_OBJS) $(PKG_LIBS)

build/san/test-%: tests/unit/test-%.c $(SAN_LIB_OBJS) $(HDRS) $(TEST_HDRS)
	$(call say,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -o $@ $< $(SAN_LIB_OBJS) $(PKG_LIBS)

# The fuzz build: clang (installed by the test deps), same warnings as the others.
build/fuzz/%.o: src/%.c $(HDRS) | build/.deps-test-ok
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(FUZZ_CC) $(ALL_CFLAGS) $(FUZZ_FLAGS) -c -o $@ $<
build/fuzz/resources.o: build/resources.c | build/.deps-test-ok
	@mkdir -p build/fuzz
	$(call say,CC,$@)
	$(Q)$(FUZZ_CC) $(DEFS) $(PKG_CFLAGS) $(CFLAGS) $(FUZZ_FLAGS) -w -c -o $@ $<
# Named in an explicit rule, the objects are not intermediate files that make deletes.
$(FUZZ_BINS): $(FUZZ_OBJS) tests/fuzz/fuzz.h
build/fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(HDRS)
	$(call say,LINK,$@)
	$(Q)$(FUZZ_CC) $(ALL_CFLAGS) $(subst -fsanitize=fuzzer-no-link,-fsanitize=fuzzer,$(FUZZ_FLAGS)) \
	  -o $@ $< $(FUZZ_OBJS) $(PKG_LIBS)

# The test command of the README: everything, against the sanitizer build, and each
# fuzz target briefly over its corpus.
build/.deps-test-ok: tools/deps.sh
	@WB_DEPS=test sh tools/deps.sh
	@mkdir -p build && touch $@

check: deps build/.deps-test-ok wabridge build/san/wabridge $(UNIT_BINS) $(FUZZ_BINS)
	@WABRIDGE=$(CURDIR)/build/san/wabridge WB_UNIT_DIR=$(CURDIR)/build/san \
	  WB_FUZZ_DIR=$(CURDIR)/build/fuzz sh tests/run-all.sh

# Each fuzz target for FUZZ_TIME seconds on a copy of its corpus, one after another;
# fails on a finding. WB_ONLY=NAME runs the targets whose name contains NAME.
fuzz: deps build/.deps-test-ok $(FUZZ_BINS)
	@FUZZ_TIME=$(FUZZ_TIME) sh tests/fuzz/run.sh long $(FUZZ_BINS)

# Same suite with the normal build under valgrind (slower; not part of check).
check-valgrind: deps build/.deps-test-ok wabridge $(patsubst tests/unit/%.c,build/%,$(UNIT_SRCS))
	@WABRIDGE=$(CURDIR)/wabridge WB_UNIT_DIR=$(CURDIR)/build WB_VALGRIND=1 WABRIDGE_REGEX_JIT=0 \
	  sh tests/run-all.sh

build/test-%: tests/unit/test-%.c $(LIB_OBJS) $(HDRS) $(TEST_HDRS)
	$(call say,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_OBJS) $(PKG_LIBS)

# Throughput, latency and memory of the daemon, delivery speed against plain IMAP APPEND
# on a private Dovecot, and the state database's size: prints figures and their ratios to
# the targets. WB_BENCH_ONLY=LETTERS runs only those sections (tests/bench/run.sh).
bench: deps build/.deps-test-ok wabridge build/bench-parse
	@sh tests/bench/run.sh

build/bench-parse: tests/bench/parse.c $(LIB_OBJS) $(HDRS)
	$(call say,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -O2 -o $@ $< $(LIB_OBJS) $(PKG_LIBS)

# Serve on the embedded defaults: state and Maildirs under ./wabridge-data/.
run: all
	./wabridge serve

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/wabridge/templates \
	  $(DESTDIR)$(DATADIR)/doc/wabridge
	install -m 755 wabridge $(DESTDIR)$(BINDIR)/wabridge
	install -m 644 templates/*.txt templates/*.html $(DESTDIR)$(DATADIR)/wabridge/templates/
	install -d $(DESTDIR)$(DATADIR)/doc/wabridge/postfix
	install -m 644 README.md contrib/wabridge.conf.example contrib/whatsapp-templates.md \
	  contrib/wabridge-reply.forward contrib/wabridge-reply.procmailrc \
	  $(DESTDIR)$(DATADIR)/doc/wabridge/
	install -m 644 contrib/postfix/* $(DESTDIR)$(DATADIR)/doc/wabridge/postfix/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/wabridge
	rm -rf $(DESTDIR)$(DATADIR)/wabridge $(DESTDIR)$(DATADIR)/doc/wabridge

clean:
	rm -rf build wabridge

distclean: clean
	rm -rf wabridge-data
