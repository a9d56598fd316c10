# smtpd - a C implementation of Python's smtpd.
#
#   make            build ./smtpd and libsmtpd.a
#   make run        build, then run DebuggingServer on localhost:8025
#   make test       install missing test tools (Debian/Ubuntu), run all tests
#   make clean
#
# CC=clang works too.  SAN=address,undefined or SAN=thread builds with a
# sanitizer into build-$(SAN)/ (see `make check`).

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -std=gnu11 -Wall -Wextra -Werror -pthread
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

LIB_SRCS = server.c channel.c handlers.c relay.c proxy.c maildir.c
LIB_OBJS = $(addprefix $(B),$(LIB_SRCS:.c=.o))
HEADERS  = server.h channel.h relay.h delivery.h

all: $(B)smtpd $(B)libsmtpd.a

$(B)%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SANFLAGS) -fPIC -c -o $@ $<

$(B)libsmtpd.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(B)smtpd: $(B)smtpd.o $(B)libsmtpd.a
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ $(LDLIBS)

# ---- running ------------------------------------------------------------

run: $(B)smtpd
	./$(B)smtpd -n -c DebuggingServer localhost:8025

# ---- tests --------------------------------------------------------------

UNIT_SRCS = tests/unit/test_main.c tests/unit/test_channel.c
UNIT_BIN  = $(B)tests/unit/run_unit_tests

$(UNIT_BIN): $(UNIT_SRCS) tests/unit/unit.h $(B)libsmtpd.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SANFLAGS) -I. -o $@ $(UNIT_SRCS) \
	    $(B)libsmtpd.a -lcunit $(LDLIBS)

test-deps:
	@sh tests/install-deps.sh

unit: $(UNIT_BIN)
	./$(UNIT_BIN)

integration: $(B)smtpd
	SMTPD=./$(B)smtpd $(PYTHON) tests/run_integration.py

test: test-deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) integration

clean:
	rm -rf *.o libsmtpd.a smtpd tests/unit/run_unit_tests build-*/

.PHONY: all run test test-deps unit integration clean
