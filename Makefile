# SPDX-License-Identifier: ISC
# smtpd - a C implementation of Python's smtpd.
#
# This Makefile needs GNU make (3.81 or later): `gmake` on the BSDs,
# `make` on Linux and macOS.
#
#   make            build ./smtpd, libsmtpd.a and libsmtpd.so
#   make install    PREFIX=/usr/local DESTDIR= (also BINDIR, LIBDIR,
#                   INCLUDEDIR, MANDIR); make uninstall removes it all
#   make run        build, then run DebuggingServer on localhost:8025
#   make test       install missing test tools (Debian/Ubuntu), run all tests
#   make docs       redraw the diagrams of docs/TOUR.md (needs Graphviz)
#   make deb-test   build, lint, install, use and remove the Debian packages
#   make clean
#
# CFLAGS, CPPFLAGS and LDFLAGS are honoured (dpkg-buildflags' hardening
# flags come through them).  CC=clang works too.  SAN=address,undefined or
# SAN=thread builds with a sanitizer into build-$(SAN)/ (see `make check`).
# PORTABLE=1 builds on POSIX alone into build-portable/ (see below).
#
# TLS=yes (the default when pkg-config finds OpenSSL) builds STARTTLS,
# --smtps and CRAM-MD5 with OpenSSL 3; TLS=no builds without OpenSSL, and
# the TLS options are then refused at start.  After switching, make clean.

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -std=$(STD) -Wall -Wextra -Werror -pthread $(PORTFLAGS)
LDLIBS   = -pthread
PYTHON  ?= python3

ifneq ($(SAN),)
B        = build-$(subst $(comma),-,$(SAN))/
SANFLAGS = -fsanitize=$(SAN) -fno-omit-frame-pointer
else
B        =
SANFLAGS =
endif
comma := ,

# PORTABLE=1: only POSIX.1-2008 (no _GNU_SOURCE, ISO C11 without GNU
# extensions) and every fallback of compat.h instead of the Linux calls,
# into build-portable/ (build-portable-$(SAN)/ with SAN): how the code
# macOS and the BSDs run is built and tested here (make PORTABLE=1 test).
ifneq ($(PORTABLE),)
B         := build-portable$(if $(SAN),-$(subst $(comma),-,$(SAN)))/
STD        = c11
PORTFLAGS  = -D_POSIX_C_SOURCE=200809L -DSMTPD_PORTABLE
else
STD        = gnu11
PORTFLAGS  =
endif

TLS ?= $(shell pkg-config --exists openssl 2>/dev/null && echo yes || echo no)
ifeq ($(TLS),yes)
TLS_CFLAGS := -DSMTPD_TLS $(shell pkg-config --cflags openssl)
LDLIBS     += $(shell pkg-config --libs openssl)
PC_REQUIRES = Requires.private: openssl
else
TLS_CFLAGS :=
PC_REQUIRES =
endif

LIB_SRCS = server.c channel.c address.c handlers.c inbox.c relay.c proxy.c \
	   mailman.c maildir.c io.c proxyproto.c fault.c tls.c auth.c

LIB_OBJS = $(addprefix $(B),$(LIB_SRCS:.c=.o) $(WEB_SRCS:.c=.o))
HEADERS  = server.h channel.h inbox.h relay.h delivery.h io.h \
	   server_internal.h channel_internal.h proxy_internal.h address.h \
	   proxyproto.h fault.h tls.h auth.h compat.h

# ---- the web interface (issue 21) ----
# WEB=yes (the default when pkg-config finds libmicrohttpd, jansson and
# GMime 3) builds web/*.c into the library; only they see those headers
# ($(WEB_CFLAGS)).  WEB=no builds without them (web/web_none.c, a stub,
# when it exists).  SMTPD_WEB tells the few core files that call into
# web/ (handlers.c, smtpd.c: --decode) that it is there.  After
# switching, make clean.
WEB_PKGS = libmicrohttpd jansson gmime-3.0
WEB ?= $(shell pkg-config --exists $(WEB_PKGS) 2>/dev/null && echo yes || echo no)
ifeq ($(WEB),yes)
WEB_CFLAGS := $(shell pkg-config --cflags $(WEB_PKGS))
WEB_LIBS   := $(shell pkg-config --libs $(WEB_PKGS))
WEB_SRCS    = $(wildcard web/mime.c)
WEB_DEFS    = -DSMTPD_WEB
LDLIBS     += $(WEB_LIBS)
# smtpd.pc: as link flags, not Requires.private, whose --static closure
# names libraries Debian ships no static or dev files for (libgpgme, ...)
PC_LIBS_PRIVATE = $(WEB_LIBS)
else
WEB_SRCS    = $(wildcard web/web_none.c)
WEB_DEFS    =
endif
HEADERS  += web/mime.h
$(B)handlers.o $(B)smtpd.o: WARN += $(WEB_DEFS)
$(B)web/%.o: web/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) $(WEB_CFLAGS) -fPIC -c -o $@ $<
# ---- (end of the web interface's build) ----

# (libsmtpd.so brings libsmtpd.so.$(SO_MAJOR), which is defined below.)
all: $(B)smtpd $(B)libsmtpd.a $(B)libsmtpd.so

$(B)%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -fPIC -c -o $@ $<

# Only tls.c sees OpenSSL's headers.
$(B)tls.o: tls.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) $(TLS_CFLAGS) -fPIC -c -o $@ $<

$(B)libsmtpd.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

# ---- the shared library ------------------------------------------------
#
# libsmtpd.so.2.0.0, soname libsmtpd.so.2: a program linked today keeps
# running with any 2.x.y.  2, not 1: struct smtpd_config gained its size
# field (first, so every later field moved), and smtpd_hooks and
# smtpd_handler their reserved slots, which no program built for 1 can
# run with.  From 2 on the structs grow without a new soname, as server.h
# says at its top (the ABI policy; tests/abi checks it): fields appended
# to smtpd_config and smtpd_message, hooks taking reserved slots.  Bump
# SO_MAJOR only for a change that policy does not allow.  smtpd.map
# exports the public API, smtpd_*, only.

SO_MAJOR   = 2
SO_VERSION = $(SO_MAJOR).0.0
SO_NAME    = libsmtpd.so.$(SO_MAJOR)

# macOS: Apple's linker has no -soname, version scripts, objcopy or
# -Bstatic; the library keeps its file names, gets an install name, and
# exports (and libsmtpd-api.a keeps global) the same smtpd_* symbols; a
# staged example finds it through DYLD_LIBRARY_PATH.  (Not in CI.)
ifeq ($(shell uname -s),Darwin)
SO_LDFLAGS  = -dynamiclib -install_name $(LIBDIR)/$(SO_NAME) \
	      -Wl,-exported_symbol,'_smtpd_*'
API_LDFLAGS = -Wl,-exported_symbol,'_smtpd_*'
API_HIDE    = true
LD_STATIC   =
LD_DYNAMIC  =
LD_NOW      = -Wl,-bind_at_load
RUN_STAGED  = DYLD_LIBRARY_PATH="$(STAGE)$(STAGE_PREFIX)/lib"
else
SO_LDFLAGS  = -shared -Wl,-soname,$(SO_NAME) -Wl,--version-script=smtpd.map
API_LDFLAGS =
API_HIDE    = $(OBJCOPY) --wildcard --keep-global-symbol='smtpd_*'
LD_STATIC   = -Wl,-Bstatic
LD_DYNAMIC  = -Wl,-Bdynamic
LD_NOW      = -Wl,-z,now
RUN_STAGED  =
endif

$(B)libsmtpd.so.$(SO_VERSION): $(LIB_OBJS) smtpd.map
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) $(SO_LDFLAGS) \
	    -o $@ $(LIB_OBJS) $(LDLIBS)

$(B)$(SO_NAME): $(B)libsmtpd.so.$(SO_VERSION)
	ln -sf libsmtpd.so.$(SO_VERSION) $@

$(B)libsmtpd.so: $(B)$(SO_NAME)
	ln -sf $(SO_NAME) $@

# The installed static library keeps to the API as well: its objects are
# linked into one and every global but smtpd_* made local, so that a
# program's own channel_free() or relay_open() does not clash with ours.
# (The build tree's libsmtpd.a keeps them: the unit tests use them.)
OBJCOPY ?= objcopy

$(B)libsmtpd-api.a: $(LIB_OBJS)
	$(CC) -r -nostdlib $(API_LDFLAGS) -o $(B)libsmtpd-api.o $(LIB_OBJS)
	$(API_HIDE) $(B)libsmtpd-api.o
	rm -f $@
	ar rcs $@ $(B)libsmtpd-api.o

# -z now: every symbol is bound at start, not at its first call in some
# worker, where the dynamic linker's lookup (and the register state it
# saves) would take a second page of that thread's stack for good.
$(B)smtpd: $(B)smtpd.o $(B)libsmtpd.a
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) $(LD_NOW) -o $@ $^ $(LDLIBS)

# ---- running ------------------------------------------------------------

run: $(B)smtpd
	./$(B)smtpd -n -c DebuggingServer localhost:8025

# ---- documentation ------------------------------------------------------
#
# docs/TOUR.md walks through the code; its two diagrams are drawn from text
# sources with Graphviz: docs/threads.dot (dot) and docs/session.seq, a
# sequence diagram that docs/seqdiag.py lays out for neato.  The drawings
# are committed, so reading needs no tools; after editing a source, run
# `make docs` (apt-get install graphviz).  `make test` checks that the
# drawings match their sources, that the tour's excerpts match the code,
# and that smtpd.1 and `smtpd --help` agree (tests/integration/test_docs.py).

docs:
	@command -v dot >/dev/null && command -v neato >/dev/null || \
	    { echo "make docs needs Graphviz: apt-get install graphviz" >&2; \
	      exit 1; }
	dot -Tsvg -o docs/threads.svg docs/threads.dot
	dot -Tpng -Gdpi=96 -o docs/threads.png docs/threads.dot
	$(PYTHON) docs/seqdiag.py docs/session.seq > docs/session.gv
	neato -n2 -Tsvg -o docs/session.svg docs/session.gv
	neato -n2 -Tpng -Gdpi=96 -o docs/session.png docs/session.gv
	rm -f docs/session.gv

.PHONY: docs

# ---- installing ---------------------------------------------------------
#
# The library, the headers under include/smtpd/ (so a program writes
# #include <smtpd/server.h>), smtpd.pc for pkg-config, the program and its
# manual page.  smtpd.pc names its directories from ${prefix} when they lie
# under it, so PKG_CONFIG_SYSROOT_DIR and --define-prefix can move it.

PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL      ?= install
PUBLIC_HEADERS = server.h channel.h inbox.h delivery.h

install: all $(B)libsmtpd-api.a
	$(INSTALL) -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(LIBDIR)" \
	    "$(DESTDIR)$(INCLUDEDIR)/smtpd" "$(DESTDIR)$(PKGCONFIGDIR)" \
	    "$(DESTDIR)$(MANDIR)/man1"
	$(INSTALL) -m 755 $(B)smtpd "$(DESTDIR)$(BINDIR)/smtpd"
	$(INSTALL) -m 644 $(B)libsmtpd-api.a "$(DESTDIR)$(LIBDIR)/libsmtpd.a"
	$(INSTALL) -m 755 $(B)libsmtpd.so.$(SO_VERSION) "$(DESTDIR)$(LIBDIR)/"
	ln -sf libsmtpd.so.$(SO_VERSION) "$(DESTDIR)$(LIBDIR)/$(SO_NAME)"
	ln -sf $(SO_NAME) "$(DESTDIR)$(LIBDIR)/libsmtpd.so"
	$(INSTALL) -m 644 $(PUBLIC_HEADERS) "$(DESTDIR)$(INCLUDEDIR)/smtpd/"
	sed -e 's|@PREFIX@|$(PREFIX)|' \
	    -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' \
	    -e 's|@VERSION@|$(SO_VERSION)|' \
	    -e 's|@REQUIRES@|$(PC_REQUIRES)|' \
	    -e 's|@LIBS_PRIVATE@|$(PC_LIBS_PRIVATE)|' smtpd.pc.in \
	    > "$(DESTDIR)$(PKGCONFIGDIR)/smtpd.pc"
	if [ -f smtpd.1 ]; then $(INSTALL) -m 644 smtpd.1 \
	    "$(DESTDIR)$(MANDIR)/man1/smtpd.1"; fi

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/smtpd" "$(DESTDIR)$(LIBDIR)/libsmtpd.a" \
	    "$(DESTDIR)$(LIBDIR)/libsmtpd.so" "$(DESTDIR)$(LIBDIR)/$(SO_NAME)" \
	    "$(DESTDIR)$(LIBDIR)/libsmtpd.so.$(SO_VERSION)" \
	    "$(DESTDIR)$(PKGCONFIGDIR)/smtpd.pc" \
	    "$(DESTDIR)$(MANDIR)/man1/smtpd.1"
	for h in $(PUBLIC_HEADERS); do \
	    rm -f "$(DESTDIR)$(INCLUDEDIR)/smtpd/$$h"; done
	-rmdir "$(DESTDIR)$(INCLUDEDIR)/smtpd" 2>/dev/null

# ---- tests --------------------------------------------------------------

UNIT_SRCS = tests/unit/test_main.c tests/unit/test_channel.c \
	    tests/unit/test_server.c tests/unit/test_relay.c \
	    tests/unit/test_address.c tests/unit/test_proxyproto.c \
	    tests/unit/test_lmtp.c tests/unit/test_fault.c tests/unit/test_auth.c \
	    tests/unit/test_compat.c
# With WEB=yes, web/mime.c's tests too (test_main.c: SMTPD_WEB).
UNIT_SRCS += $(if $(filter yes,$(WEB)),tests/unit/test_mime.c)
UNIT_BIN  = $(B)tests/unit/run_unit_tests

# CUnit through pkg-config where it has a .pc file (Homebrew's is not on
# the compiler's default paths).
CUNIT_CFLAGS := $(shell pkg-config --cflags cunit 2>/dev/null)
CUNIT_LIBS   := $(or $(shell pkg-config --libs cunit 2>/dev/null),-lcunit)

$(UNIT_BIN): $(UNIT_SRCS) tests/unit/unit.h tests/unit/suite.h $(B)libsmtpd.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(WEB_DEFS) $(CPPFLAGS) $(CUNIT_CFLAGS) $(CFLAGS) $(SANFLAGS) -I. \
	    -o $@ $(UNIT_SRCS) \
	    $(B)libsmtpd.a $(LDFLAGS) $(CUNIT_LIBS) $(LDLIBS)

test-deps:
	@sh tests/install-deps.sh

# The ABI policy (server.h), tested: tests/abi/old_program.c is built
# against the frozen 2.0 header and linked with a build of the library
# that tests/abi/grow.py gave one more struct smtpd_config field, as a
# later release would; under AddressSanitizer, so that a read or write
# past the program's smaller struct fails the test.
ABI_B        = $(or $(B),build/)abi/
ABI_SANFLAGS = $(if $(SAN),$(SANFLAGS),-fsanitize=address -fno-omit-frame-pointer)

$(ABI_B)old_program: tests/abi/old_program.c tests/abi/server-2.0.h \
	    tests/abi/grow.py $(LIB_SRCS) $(HEADERS)
	rm -rf $(ABI_B)src
	$(PYTHON) tests/abi/grow.py . $(ABI_B)src
	cd $(ABI_B)src && $(CC) $(WARN) $(CFLAGS) $(ABI_SANFLAGS) -c $(LIB_SRCS)
	$(CC) $(WARN) $(CFLAGS) $(ABI_SANFLAGS) -Itests/abi -o $@ \
	    tests/abi/old_program.c $(addprefix $(ABI_B)src/,$(LIB_SRCS:.c=.o)) \
	    $(LDLIBS)

abi: $(ABI_B)old_program
	./$(ABI_B)old_program

unit: $(UNIT_BIN)
	./$(UNIT_BIN)

# tests/lmtp-hooked: an LMTP server made with the library, with a hook,
# for the tests where a real Postfix delivers to us (test_lmtp.py).
$(B)tests/lmtp-hooked: tests/lmtp_hooked.c $(HEADERS) $(B)libsmtpd.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SANFLAGS) -I. -o $@ tests/lmtp_hooked.c \
	    $(B)libsmtpd.a $(LDLIBS)

integration: $(B)smtpd $(B)tests/lmtp-hooked
	SMTPD=./$(B)smtpd $(if $(PORTABLE),SMTPD_PORTABLE=1) \
	    $(PYTHON) tests/run_integration.py

# The examples, built as a project outside this repository would build
# them: install into a scratch DESTDIR, compile with the flags pkg-config
# gives for the installed smtpd.pc, and run them against the installed
# libsmtpd.so (found through an rpath into the scratch tree), then linked
# with the installed libsmtpd.a.
EXAMPLES    = password_reset reject_rcpt
STAGE       = $(abspath $(B)stage)
STAGE_PREFIX = /usr/local
# The system's own .pc files stay visible: smtpd.pc requires openssl.pc.
SYS_PC_PATH := $(shell pkg-config --variable pc_path pkg-config 2>/dev/null)
STAGE_PC    = PKG_CONFIG_LIBDIR="$(STAGE)$(STAGE_PREFIX)/lib/pkgconfig:$(SYS_PC_PATH)" \
	      PKG_CONFIG_PATH= PKG_CONFIG_SYSROOT_DIR="$(STAGE)" pkg-config

# The static examples: libsmtpd.a and what smtpd.pc names for it, all
# static; with WEB=yes only libsmtpd.a is, the libraries GMime, GLib and
# libmicrohttpd bring are shared ones (Debian has no static libgpgme,
# libmount, libp11-kit or libunistring).
ifeq ($(WEB),yes)
EX_STATIC_LIBS = $(LD_STATIC) $$($(STAGE_PC) --libs smtpd) $(LD_DYNAMIC) \
		 $$($(STAGE_PC) --static --libs smtpd | sed 's/-lsmtpd / /')
else
EX_STATIC_LIBS = $(LD_STATIC) $$($(STAGE_PC) --static --libs smtpd) \
		 $(LD_DYNAMIC)
endif

examples: all
	rm -rf "$(STAGE)"
	$(MAKE) install DESTDIR="$(STAGE)" PREFIX=$(STAGE_PREFIX) \
	    BINDIR=$(STAGE_PREFIX)/bin LIBDIR=$(STAGE_PREFIX)/lib \
	    INCLUDEDIR=$(STAGE_PREFIX)/include \
	    MANDIR=$(STAGE_PREFIX)/share/man \
	    PKGCONFIGDIR=$(STAGE_PREFIX)/lib/pkgconfig
	@mkdir -p "$(STAGE)/examples"
	set -e; for ex in $(EXAMPLES); do \
	    $(CC) -std=gnu11 -Wall -Wextra -Werror $(CFLAGS) $(SANFLAGS) \
	        -o "$(STAGE)/examples/$$ex" examples/$$ex.c \
	        $$($(STAGE_PC) --cflags --libs smtpd) \
	        -Wl,-rpath,"$(STAGE)$(STAGE_PREFIX)/lib"; \
	    $(RUN_STAGED) "$(STAGE)/examples/$$ex"; \
	    $(CC) -std=gnu11 -Wall -Wextra -Werror $(CFLAGS) $(SANFLAGS) \
	        -o "$(STAGE)/examples/$$ex-static" examples/$$ex.c \
	        $$($(STAGE_PC) --cflags smtpd) $(EX_STATIC_LIBS); \
	    "$(STAGE)/examples/$$ex-static"; \
	done
	@# Both installed libraries export the API (smtpd_*) and nothing else.
	@bad=$$(nm -g --defined-only \
	    "$(STAGE)$(STAGE_PREFIX)/lib/libsmtpd.a" \
	    "$(STAGE)$(STAGE_PREFIX)/lib/libsmtpd.so" | \
	    awk 'NF == 3 && $$3 !~ /^_?(smtpd_|SMTPD_)/ { print $$3 }'); \
	if [ -n "$$bad" ]; then \
	    echo "installed libsmtpd exports non-API symbols:" $$bad >&2; \
	    exit 1; fi

test: test-deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) abi
	$(MAKE) fuzz-replay
	$(MAKE) examples
	$(MAKE) integration

clean:
	rm -rf *.o libsmtpd.a libsmtpd-api.a libsmtpd.so libsmtpd.so.* smtpd \
	    tests/unit/run_unit_tests tests/lmtp-hooked build/ build-*/ stage/

.PHONY: all run install uninstall examples test test-deps unit abi integration \
	clean

# ---- hardening: fuzzing, sanitizers, valgrind ---------------------------
#
# Three libFuzzer targets: fuzz/fuzz_channel.c feeds arbitrary bytes to a
# channel in memory; fuzz/fuzz_address.c feeds them to the address and
# parameter parser alone; fuzz/fuzz_fault.c to the fault rule parser and
# matcher.  Built with -DFUZZ_REPLAY_MAIN each is a program that runs
# given inputs once: `make fuzz-replay` (part of `make test`) replays the
# seed corpora (fuzz/corpus, fuzz/corpus-address, fuzz/corpus-fault) and
# every input that once crashed (fuzz/regressions).  `make fuzz` runs
# libFuzzer on all three for FUZZ_SECONDS in all (the channel one half,
# each parser one quarter), new inputs going to build-fuzz-corpus*/ and
# crashes to fuzz/crash-* (copy each to fuzz/regressions/, or to the
# parser's corpus, once fixed).
# `make check` runs the test suite under ASan+UBSan, TSan and valgrind
# (tests/check.sh).

FUZZ_SECONDS ?= 60
FUZZ_SAN      = fuzzer-no-link,address,undefined
FUZZ_B        = build-$(subst $(comma),-,$(FUZZ_SAN))/
FUZZ_REPLAY   = $(or $(B),build/)fuzz/replay
FUZZ_REPLAY_ADDRESS = $(or $(B),build/)fuzz/replay-address
FUZZ_REPLAY_FAULT = $(or $(B),build/)fuzz/replay-fault

$(FUZZ_REPLAY): fuzz/fuzz_channel.c fuzz/replay.h $(HEADERS) $(B)libsmtpd.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SANFLAGS) -DFUZZ_REPLAY_MAIN -I. -o $@ \
	    fuzz/fuzz_channel.c $(B)libsmtpd.a $(LDLIBS)

$(FUZZ_REPLAY_ADDRESS): fuzz/fuzz_address.c fuzz/replay.h $(HEADERS) \
	    $(B)libsmtpd.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SANFLAGS) -DFUZZ_REPLAY_MAIN -I. -o $@ \
	    fuzz/fuzz_address.c $(B)libsmtpd.a $(LDLIBS)

$(FUZZ_REPLAY_FAULT): fuzz/fuzz_fault.c fuzz/replay.h $(HEADERS) $(B)libsmtpd.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SANFLAGS) -DFUZZ_REPLAY_MAIN -I. -o $@ \
	    fuzz/fuzz_fault.c $(B)libsmtpd.a $(LDLIBS)

# Only with SAN=$(FUZZ_SAN): the library is instrumented for coverage,
# the target links libFuzzer's main.
$(B)fuzz/fuzz_%: fuzz/fuzz_%.c $(HEADERS) $(B)libsmtpd.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) -fsanitize=$(subst fuzzer-no-link,fuzzer,$(SAN)) \
	    -fno-sanitize-recover=all -fno-omit-frame-pointer -I. -o $@ \
	    $< $(B)libsmtpd.a $(LDLIBS)

# fuzz/fuzz_mime.c (WEB=yes only): a message through web/mime.c and
# jansson, the HTTP API's path; `make fuzz-mime` runs it for FUZZ_SECONDS.
FUZZ_REPLAY_MIME = $(or $(B),build/)fuzz/replay-mime
FUZZ_REPLAY_WEB  = $(if $(filter yes,$(WEB)),$(FUZZ_REPLAY_MIME))

$(FUZZ_REPLAY_MIME): fuzz/fuzz_mime.c fuzz/replay.h $(HEADERS) $(B)libsmtpd.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SANFLAGS) $(WEB_CFLAGS) -DFUZZ_REPLAY_MAIN -I. \
	    -o $@ fuzz/fuzz_mime.c $(B)libsmtpd.a $(LDLIBS)

$(B)fuzz/fuzz_mime: fuzz/fuzz_mime.c $(HEADERS) $(B)libsmtpd.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(WEB_CFLAGS) \
	    -fsanitize=$(subst fuzzer-no-link,fuzzer,$(SAN)) \
	    -fno-sanitize-recover=all -fno-omit-frame-pointer -I. -o $@ \
	    $< $(B)libsmtpd.a $(LDLIBS)

fuzz-replay: $(FUZZ_REPLAY) $(FUZZ_REPLAY_ADDRESS) $(FUZZ_REPLAY_FAULT) \
	    $(FUZZ_REPLAY_WEB)
	./$(FUZZ_REPLAY) fuzz/corpus fuzz/regressions
	./$(FUZZ_REPLAY_ADDRESS) fuzz/corpus-address
	./$(FUZZ_REPLAY_FAULT) fuzz/corpus-fault
	$(if $(FUZZ_REPLAY_WEB),./$(FUZZ_REPLAY_MIME) fuzz/corpus-mime)

FUZZ_FLAGS = -timeout=10 -rss_limit_mb=2048 -artifact_prefix=fuzz/ \
	     -print_final_stats=1

fuzz:
	$(MAKE) CC=clang SAN=$(FUZZ_SAN) \
	    CFLAGS="-O1 -g -fno-sanitize-recover=all" \
	    $(FUZZ_B)fuzz/fuzz_channel $(FUZZ_B)fuzz/fuzz_address \
	    $(FUZZ_B)fuzz/fuzz_fault
	@mkdir -p build-fuzz-corpus build-fuzz-corpus-address \
	    build-fuzz-corpus-fault
	t=$$(( $(FUZZ_SECONDS) / 2 )); [ $$t -gt 0 ] || t=1; \
	./$(FUZZ_B)fuzz/fuzz_channel -max_total_time=$$t \
	    -max_len=16384 -dict=fuzz/smtp.dict $(FUZZ_FLAGS) \
	    build-fuzz-corpus fuzz/corpus fuzz/regressions
	t=$$(( $(FUZZ_SECONDS) / 4 )); [ $$t -gt 0 ] || t=1; \
	./$(FUZZ_B)fuzz/fuzz_address -max_total_time=$$t \
	    -max_len=1024 $(FUZZ_FLAGS) \
	    build-fuzz-corpus-address fuzz/corpus-address
	t=$$(( $(FUZZ_SECONDS) - $(FUZZ_SECONDS) / 2 - $(FUZZ_SECONDS) / 4 )); \
	[ $$t -gt 0 ] || t=1; \
	./$(FUZZ_B)fuzz/fuzz_fault -max_total_time=$$t \
	    -max_len=4096 -dict=fuzz/fault.dict $(FUZZ_FLAGS) \
	    build-fuzz-corpus-fault fuzz/corpus-fault

fuzz-mime:
	$(MAKE) CC=clang SAN=$(FUZZ_SAN) \
	    CFLAGS="-O1 -g -fno-sanitize-recover=all" $(FUZZ_B)fuzz/fuzz_mime
	@mkdir -p build-fuzz-corpus-mime
	./$(FUZZ_B)fuzz/fuzz_mime -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=65536 $(FUZZ_FLAGS) build-fuzz-corpus-mime fuzz/corpus-mime

check:
	sh tests/check.sh

.PHONY: fuzz fuzz-replay fuzz-mime check

# ---- benchmarks (not tests: they need Postfix's smtp-source/smtp-sink) ----

bench: $(B)smtpd
	bench/bench.sh --smtpd ./$(B)smtpd $(BENCHFLAGS)

bench-quick: $(B)smtpd
	bench/bench.sh --quick --smtpd ./$(B)smtpd

callgrind: $(B)smtpd
	bench/callgrind.sh

.PHONY: bench bench-quick callgrind

# ---- the Debian package --------------------------------------------------
#
# debian/ builds three packages with `dpkg-buildpackage -us -uc -b`:
# smtpd (the program, smtpd.1), libsmtpd2 (libsmtpd.so.2) and libsmtpd-dev
# (the headers, libsmtpd.a, the libsmtpd.so link, smtpd.pc).  The build
# runs `make unit`, not the whole suite.  `make deb-test` (root, Debian;
# apt-get install debhelper lintian dpkg-dev fakeroot) builds them in a
# scratch copy, runs lintian, installs them, runs `smtpd -V`, compiles an
# example with pkg-config against them, then purges them again
# (tests/package/test_deb.sh).

deb-test:
	sh tests/package/test_deb.sh

.PHONY: deb-test
