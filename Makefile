# Spool — top-level GNU Makefile.
#   make                      build bin/spool-api bin/spool-worker bin/adminctl
#   make SANITIZE=address,undefined   sanitized build (objects kept apart in build/san)
#   make up | down | reset | demo     local stack
#   make check                unit + integration tests (starts the stack if needed)
#   make check-cluster        the clustered tests (t0770, t0810) against a clustered stack
#   make bench                benchmarks (prints numbers): Spool against the machine's ceilings
#                             (bench/ built by bench-bins), then the jobs query language
#   make version | dist       print the version | build/spool-<version>.tar.gz
#   V=1                       show full commands

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
SANITIZE ?=

PKGS     := libmicrohttpd librabbitmq libpq libcurl libssl libcrypto jansson inih libsystemd uuid zlib

# pkg-config is asked when a rule first needs its answer, and only once, never while
# the Makefile is read: `make deps|check|up|demo` install the libraries first, and a
# sub-make that builds afterwards finds them. Where they are missing, the build stops
# with one message saying what to do instead of pkg-config's complaints.
pkg_missing = $(strip $(foreach p,$(1),$(if $(shell pkg-config --exists $(p) 2>/dev/null && echo y),,$(p))))
pkgconf = $(if $(shell pkg-config --exists $(2) 2>/dev/null && echo y),$(shell pkg-config $(1) $(2)),$(error \
  missing libraries ($(call pkg_missing,$(2))): run 'make deps' (scripts/deps.sh) to install them))
PKG_CFLAGS    = $(eval PKG_CFLAGS := $$(call pkgconf,--cflags,$$(PKGS)))$(PKG_CFLAGS)
PKG_LIBS      = $(eval PKG_LIBS := $$(call pkgconf,--libs,$$(PKGS)))$(PKG_LIBS)
CURSES_CFLAGS = $(eval CURSES_CFLAGS := $$(call pkgconf,--cflags,ncursesw))$(CURSES_CFLAGS)
CURSES_LIBS   = $(eval CURSES_LIBS := $$(call pkgconf,--libs,ncursesw))$(CURSES_LIBS)
CMOCKA_LIBS   = $(eval CMOCKA_LIBS := $$(call pkgconf,--libs,cmocka))$(CMOCKA_LIBS)

# The version (scripts/version.sh: git describe in a checkout, VERSION in a tarball),
# asked once when a rule first needs it. Only shared/version.o is compiled with it:
# build/version changes when the version does, which recompiles that one object and
# relinks the programs.
SPOOL_VERSION = $(eval SPOOL_VERSION := $$(or $$(shell scripts/version.sh),$$(error \
  cannot tell the version: see scripts/version.sh)))$(SPOOL_VERSION)

WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wwrite-strings -Wpointer-arith -Wcast-qual -Wundef -Wvla -fno-common -Werror

# The release build is hardened as Debian builds its packages: CFLAGS, CPPFLAGS and
# LDFLAGS are dpkg-buildflags' with hardening=+all (-fstack-protector-strong,
# -D_FORTIFY_SOURCE=2, -Wl,-z,relro -Wl,-z,now; PIE is gcc's default on Debian), asked
# once when a rule first needs them, or the same by hand where dpkg-buildflags is
# missing. DEB_BUILD_MAINT_OPTIONS and DEB_CFLAGS_APPEND etc. in the environment are
# honoured; CFLAGS, CPPFLAGS or LDFLAGS given to make replace them. The sanitized build
# keeps -O2 -g. dpkg-buildflags' -Wformat is left out: it would lower WARN's -Wformat=2.
buildflags = $(or $(shell DEB_BUILD_MAINT_OPTIONS="hardening=+all $$DEB_BUILD_MAINT_OPTIONS" \
  dpkg-buildflags --get $(1) 2>/dev/null),$(2))
ifeq ($(SANITIZE),)
CFLAGS   ?= $(eval CFLAGS := $$(call buildflags,CFLAGS,-g -O2 -fstack-protector-strong \
  -Werror=format-security -fPIE))$(CFLAGS)
CPPFLAGS ?= $(eval CPPFLAGS := $$(call buildflags,CPPFLAGS,-D_FORTIFY_SOURCE=2))$(CPPFLAGS)
LDFLAGS  ?= $(eval LDFLAGS := $$(call buildflags,LDFLAGS,-Wl$$(comma)-z$$(comma)relro \
  -Wl$$(comma)-z$$(comma)now -pie))$(LDFLAGS)
else
CFLAGS   ?= -O2 -g
endif
comma := ,
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE $(CPPFLAGS) $(WARN) $(filter-out -Wformat,$(CFLAGS)) -MMD -MP -Ishared \
  $(PKG_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) -pthread

ifneq ($(SANITIZE),)
ALL_CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_LDFLAGS += -fsanitize=$(SANITIZE)
BUILD := build/san
else
BUILD := build/rel
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRC    := $(sort $(wildcard shared/*.c))
API_SRC    := $(sort $(wildcard daemons/api/*.c))
WORKER_SRC := $(sort $(wildcard daemons/worker/*.c))
ADM_SRC    := $(sort $(wildcard adminctl/*.c))
UNIT_SRC   := $(sort $(wildcard tests/unit/test-*.c))
TOOL_SRC   := $(sort $(wildcard tests/tools/*.c))
BENCH_SRC  := $(sort $(wildcard bench/*.c))

LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o)
API_OBJ    := $(API_SRC:%.c=$(BUILD)/%.o)
WORKER_OBJ := $(WORKER_SRC:%.c=$(BUILD)/%.o)
ADM_OBJ    := $(ADM_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_BIN   := $(TOOL_SRC:tests/tools/%.c=bin/tools/%)
BENCH_BIN  := $(BENCH_SRC:bench/%.c=bin/bench/%)

LIBSPOOL := $(BUILD)/libspool.a
BINS := bin/spool-api bin/spool-worker bin/adminctl

.PHONY: FORCE all clean check check-cluster unit unit-bins integration up down reset demo bench bench-bins install uninstall deps lint-man \
        fuzz fuzz-bins
all: $(BINS) $(TOOL_BIN)

# $(BUILD)/flags holds the flags the objects were compiled with, rewritten when they
# change (another CFLAGS, dpkg-buildflags' answer, the directory), which recompiles them.
BUILD_FLAGS = $(CPPFLAGS) $(CFLAGS) $(LDFLAGS)
$(BUILD)/flags: FORCE
	@mkdir -p $(BUILD); [ "$$(cat $@ 2>/dev/null)" = '$(BUILD_FLAGS)' ] || echo '$(BUILD_FLAGS)' >$@

$(BUILD)/%.o: %.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(if $(filter adminctl/%,$<),$(CURSES_CFLAGS)) -c -o $@ $<

$(LIBSPOOL): $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# bin/ holds one flavour at a time (release or sanitized) while the objects of both
# are kept: build/flavor names the one bin/ was linked from, and is rewritten when
# the flavour changes, so that switching relinks every program.
FLAVOR := $(if $(SANITIZE),san:$(SANITIZE),rel)
build/flavor: FORCE
	@mkdir -p build; [ "$$(cat $@ 2>/dev/null)" = "$(FLAVOR)" ] || echo "$(FLAVOR)" >$@

bin/spool-api bin/spool-worker bin/adminctl $(TOOL_BIN) $(BENCH_BIN): build/flavor

FORCE:

build/version: FORCE
	@mkdir -p build; [ "$$(cat $@ 2>/dev/null)" = "$(SPOOL_VERSION)" ] || echo "$(SPOOL_VERSION)" >$@

$(BUILD)/shared/version.o: build/version
$(BUILD)/shared/version.o: ALL_CFLAGS += -DSPOOL_VERSION='"$(SPOOL_VERSION)"'

bin/spool-api: $(API_OBJ) $(LIBSPOOL)
	@mkdir -p bin
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(API_OBJ) $(LIBSPOOL) $(PKG_LIBS) -lm

bin/spool-worker: $(WORKER_OBJ) $(LIBSPOOL)
	@mkdir -p bin
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(WORKER_OBJ) $(LIBSPOOL) $(PKG_LIBS) -lm

bin/adminctl: $(ADM_OBJ) $(LIBSPOOL)
	@mkdir -p bin
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(ADM_OBJ) $(LIBSPOOL) $(PKG_LIBS) $(CURSES_LIBS) -lm

# A unit test of a program's own module (a daemon's, adminctl's) names its object here.
UNIT_EXTRA_test-validate := $(BUILD)/daemons/api/validate.o
$(BUILD)/tests/test-validate: $(UNIT_EXTRA_test-validate)
UNIT_EXTRA_test-ratelimit := $(BUILD)/daemons/api/ratelimit.o
$(BUILD)/tests/test-ratelimit: $(UNIT_EXTRA_test-ratelimit)
UNIT_EXTRA_test-query := $(BUILD)/adminctl/query.o
UNIT_CFLAGS_test-query := -Iadminctl
$(BUILD)/tests/test-query: $(UNIT_EXTRA_test-query)
UNIT_EXTRA_test-events := $(BUILD)/adminctl/events.o
$(BUILD)/tests/test-events: $(UNIT_EXTRA_test-events)
UNIT_EXTRA_test-context := $(BUILD)/adminctl/context.o $(BUILD)/adminctl/table.o
$(BUILD)/tests/test-context: $(UNIT_EXTRA_test-context)
# A unit test that replaces library functions with its own __wrap_NAME (ld --wrap) names them here.
UNIT_WRAP_test-jobops := job_cancel job_request_cancel

$(BUILD)/tests/%: tests/unit/%.c $(LIBSPOOL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(UNIT_CFLAGS_$*) -Wno-missing-prototypes $(ALL_LDFLAGS) $(UNIT_WRAP_$*:%=-Wl,--wrap=%) -o $@ $< $(UNIT_EXTRA_$*) $(LIBSPOOL) $(PKG_LIBS) $(CMOCKA_LIBS) -lm

# Small programs linked with libspool that integration tests drive.
bin/tools/%: tests/tools/%.c $(LIBSPOOL)
	@mkdir -p bin/tools
	@$(if $(Q),echo "  TOOL    $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBSPOOL) $(PKG_LIBS) -lm

# The benchmark's own programs (bench/): a paced load, and the ceilings it compares
# Spool's figures with. Standalone: only the libraries' headers and libraries.
bin/bench/%: bench/%.c $(BUILD)/flags
	@mkdir -p bin/bench
	@$(if $(Q),echo "  BENCH   $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(PKG_LIBS) -lm

bench-bins: $(BENCH_BIN)

unit: $(UNIT_BIN)
	$(Q)scripts/run-unit.sh $(UNIT_BIN)

integration: all bench-bins
	$(Q)scripts/run-integration.sh

# The clustered tests (tests/t*-cluster*.sh) against the running stack, which must be a
# clustered one (SPOOL_RABBITMQ_NODES=3 SPOOL_API_INSTANCES=3 SPOOL_WORKERS=3
# scripts/stack.sh up); they skip on another. Ends with "N passed, N failed".
check-cluster: all
	$(Q)SPOOL_TEST_TIMEOUT=$${SPOOL_TEST_TIMEOUT:-900} scripts/run-integration.sh cluster

# check, up and demo first install what a fresh machine lacks, then rebuild in a
# sub-make so that pkg-config sees the libraries just installed.
check: deps
	$(Q)$(MAKE) --no-print-directory all unit-bins bench-bins
	$(Q)scripts/check.sh $(UNIT_BIN)

unit-bins: $(UNIT_BIN)

deps:
	$(Q)scripts/deps.sh

up: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/stack.sh up

down:
	$(Q)scripts/stack.sh down

reset:
	$(Q)scripts/stack.sh reset

demo: up
	$(Q)scripts/demo.sh

bench: up
	$(Q)$(MAKE) --no-print-directory bench-bins
	$(Q)scripts/bench.sh
	$(Q)scripts/bench-query.sh

lint-man:
	$(Q)mandoc -Tlint -Wwarning man/*.[0-9]

# ---- install -----------------------------------------------------------------------
#   make install [PREFIX=/usr/local] [DESTDIR=] [SYSCONFDIR=/etc] [UNITDIR=/lib/systemd/system]
#                [SYSUSERSDIR=PREFIX/lib/sysusers.d] [TMPFILESDIR=PREFIX/lib/tmpfiles.d] [CREATE_USER=yes|no]
# Binaries in PREFIX/bin, man pages in PREFIX/share/man, the logo in PREFIX/share/spool;
# the units in UNITDIR with ExecStart pointing at PREFIX/bin; the sample configs in
# SYSCONFDIR/spool (0640), never over an existing file. UNITDIR is not under PREFIX:
# /lib/systemd/system is where Debian (bookworm) packages put units and systemd always
# reads it, whereas PREFIX/lib/systemd/system is only read for /usr and /usr/local.
# make uninstall removes all of that except the configs an administrator changed (a
# config still identical to the sample is removed) and the directories that are left
# non-empty; it names what it keeps. It never removes the user spool nor /var/lib/spool
# (files they own may be elsewhere; the package's purge removes /var/lib/spool).
#
# The system user "spool" and /var/lib/spool: etc/sysusers.d/spool.conf and
# etc/tmpfiles.d/spool.conf go to SYSUSERSDIR and TMPFILESDIR (PREFIX/lib/..., which
# systemd reads for /usr and /usr/local). CREATE_USER=yes then applies them
# (systemd-sysusers, systemd-tmpfiles --create, with --root=DESTDIR when DESTDIR is set)
# and gives the configs it installs the group spool; it is the default for root without
# DESTDIR. With DESTDIR (a package's staging tree) nothing is applied by default: the
# package's postinst does it on the target.
SYSCONFDIR  ?= /etc
UNITDIR     ?= /lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
CREATE_USER ?= $(if $(DESTDIR),no,$(if $(filter 0,$(shell id -u)),yes,no))
SYSTEMD_ROOT = $(if $(DESTDIR),--root=$(DESTDIR))
UNITS      := spool-api.service spool-worker@.service spool-migrate.service
CONFIGS    := api.ini worker.ini adminctl.ini
# the units and sample configs name /usr/local/ (the default PREFIX): made PREFIX's here
INSTALL_SED := sed -e 's\#/usr/local/\#$(PREFIX)/\#g'

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man5 \
	    $(DESTDIR)$(PREFIX)/share/man/man7 $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/spool $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/spool \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 etc/sysusers.d/spool.conf $(DESTDIR)$(SYSUSERSDIR)/spool.conf
	install -m 644 etc/tmpfiles.d/spool.conf $(DESTDIR)$(TMPFILESDIR)/spool.conf
	for m in man/*.[578]; do [ -f "$$m" ] || continue; s=$${m##*.}; \
	    install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done
	install -m 644 etc/logo.png $(DESTDIR)$(PREFIX)/share/spool/logo.png
	for u in $(UNITS); do $(INSTALL_SED) etc/systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u.tmp && \
	    chmod 644 $(DESTDIR)$(UNITDIR)/$$u.tmp && mv $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u; done
ifeq ($(CREATE_USER),yes)
	systemd-sysusers $(SYSTEMD_ROOT) $(DESTDIR)$(SYSUSERSDIR)/spool.conf
	systemd-tmpfiles $(SYSTEMD_ROOT) --create $(DESTDIR)$(TMPFILESDIR)/spool.conf
else
	@echo "install: the user spool and /var/lib/spool are not made (CREATE_USER=yes to make them)"
endif
	g=spool; [ -z "$(DESTDIR)" ] || g=$$(awk -F: '$$1 == "spool" { print $$3 }' $(DESTDIR)/etc/group 2>/dev/null); \
	for c in $(CONFIGS); do d=$(DESTDIR)$(SYSCONFDIR)/spool/$$c; \
	    if [ -e "$$d" ]; then echo "install: keeping the existing $$d"; continue; fi; \
	    $(INSTALL_SED) etc/$$c >"$$d.tmp" && chmod 640 "$$d.tmp" && \
	    { [ "$(CREATE_USER)" != yes ] || chgrp "$$g" "$$d.tmp"; } && mv "$$d.tmp" "$$d"; done

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(BINS))
	for m in man/*.[578]; do [ -f "$$m" ] || continue; s=$${m##*.}; \
	    rm -f $(DESTDIR)$(PREFIX)/share/man/man$$s/$${m##*/}; done
	rm -f $(DESTDIR)$(PREFIX)/share/spool/logo.png $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) \
	    $(DESTDIR)$(SYSUSERSDIR)/spool.conf $(DESTDIR)$(TMPFILESDIR)/spool.conf
	-rmdir $(DESTDIR)$(PREFIX)/share/spool 2>/dev/null
	for c in $(CONFIGS); do d=$(DESTDIR)$(SYSCONFDIR)/spool/$$c; [ -e "$$d" ] || continue; \
	    if $(INSTALL_SED) etc/$$c | cmp -s - "$$d"; then rm -f "$$d"; \
	    else echo "uninstall: keeping $$d (changed since install)"; fi; done
	-rmdir $(DESTDIR)$(SYSCONFDIR)/spool 2>/dev/null || \
	    echo "uninstall: keeping $(DESTDIR)$(SYSCONFDIR)/spool (not empty)"

# make deb: build/spool_<version>_<arch>.deb (scripts/mkdeb.sh, packaging/). Always a
# release build, whatever SANITIZE says and whatever bin/ holds: the binaries are linked
# from build/rel into build/deb/bin (packaging/deb.mk), then `make install` stages them
# with PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/lib/systemd/system; bin/ is not touched.
.PHONY: deb
deb:
	$(Q)MAKE='$(MAKE)' scripts/mkdeb.sh

# make version: print the version (scripts/version.sh).
# make dist: build/spool-<version>.tar.gz, HEAD's tree (git archive) with VERSION
# holding that whole version, which a build outside git then reads.
.PHONY: version dist
version:
	@echo $(SPOOL_VERSION)

dist:
	$(Q)v=$$(scripts/version.sh --commit) && d=build/dist/spool-$$v && rm -rf build/dist && \
	    mkdir -p build/dist && git archive --prefix=spool-$$v/ HEAD | tar -x -C build/dist && \
	    echo "$$v" >$$d/VERSION && \
	    tar -C build/dist --sort=name --owner=0 --group=0 --numeric-owner \
	        --mtime=@$$(git log -1 --format=%ct) -cf - spool-$$v | gzip -9n >build/spool-$$v.tar.gz && \
	    rm -rf build/dist && echo build/spool-$$v.tar.gz

clean:
	rm -rf build bin

# ---- fuzz: libFuzzer targets (clang), a separate libspool in build/fuzz ----------
#   make fuzz                 build every tests/fuzz/fuzz-*.c and run each FUZZ_SECONDS
#   make fuzz-bins            only build them (build/fuzz/fuzz-*)
# fuzz-http links the API's pure request checks (daemons/api/validate.c) and libspool;
# fuzz-query adminctl's query language (adminctl/query.c);
# fuzz-server links all of spool-api but main.c, with the functions FUZZ_WRAP_fuzz-server
# names replaced by the target's own __wrap_NAME (ld --wrap: a database and S3 stand-in).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 20
FUZZ_OPT     ?= -O1 -g
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  = -std=c17 -D_GNU_SOURCE $(WARN) $(FUZZ_OPT) $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
                -MMD -MP -Ishared $(PKG_CFLAGS)
FUZZ_LDFLAGS := $(FUZZ_SAN) -fsanitize=fuzzer -pthread
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_LIB     := build/fuzz/libspool.a
FUZZ_API_OBJ := build/fuzz/daemons/api/validate.o
FUZZ_SERVER_OBJ := $(filter-out build/fuzz/daemons/api/main.o,$(API_SRC:%.c=build/fuzz/%.o))
FUZZ_WRAP_fuzz-server := db_acquire db_release db_ping apikey_lookup job_get archive_tombstone_get job_list job_create job_create_batch \
                jobops_cancel joblimits_paused_names s3_upload_complete log_raw_json log_raw_json_level

build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_LIB): $(LIB_SRC:%.c=build/fuzz/%.o)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

build/fuzz/fuzz-http: $(FUZZ_API_OBJ)
build/fuzz/fuzz-query: build/fuzz/adminctl/query.o
build/fuzz/fuzz-server: $(FUZZ_SERVER_OBJ)
build/fuzz/fuzz-%: build/fuzz/tests/fuzz/fuzz-%.o $(FUZZ_LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_LDFLAGS) $(FUZZ_WRAP_fuzz-$*:%=-Wl,--wrap=%) -o $@ $(filter %.o,$^) $(FUZZ_LIB) \
		$(PKG_LIBS) -lm

# keep the targets' objects: they are intermediate to the pattern rule above
.SECONDARY: $(FUZZ_SRC:%.c=build/fuzz/%.o)

fuzz-bins: $(FUZZ_BIN)

fuzz: fuzz-bins
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_BIN)

# The dependency files of build/fuzz only where a fuzz target is asked for: CI builds and
# runs the fuzz targets in the background while other makes run here, and those must
# never read a .d file clang is still writing.
FUZZ_GOALS := $(filter fuzz fuzz-bins build/fuzz/%,$(MAKECMDGOALS))
-include $(shell find build $(if $(FUZZ_GOALS),,-path build/fuzz -prune -o) -name '*.d' -type f -print 2>/dev/null) $(wildcard bin/bench/*.d)
