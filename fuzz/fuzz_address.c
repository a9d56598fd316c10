/* SPDX-License-Identifier: ISC */
/*
 * fuzz_address.c - a libFuzzer target: arbitrary bytes as the argument of
 * MAIL FROM: or RCPT TO:, fed to the address and parameter parser
 * (address.c) alone, with no session around it.
 *
 * An input is one argument, up to its first NUL (a command line cannot
 * carry one past the channel).  Besides the sanitizers, the target checks
 * what must hold for any input:
 *
 *	- an address is written into a buffer of exactly the documented
 *	  size, strlen(arg) + 1 (ASan sees one byte more), and is never
 *	  longer than the argument;
 *	- the rest lies inside the argument, after the address;
 *	- an accepted address, put back in angle brackets, parses to itself
 *	  (the written form is one Python's parser reads back the same);
 *	- the parameters split, check and look up without a crash.
 *
 * Built with clang -fsanitize=fuzzer by `make fuzz`; with
 * -DFUZZ_REPLAY_MAIN it replays inputs (fuzz/replay.h): `make test`
 * replays fuzz/corpus-address that way.
 */
#define _GNU_SOURCE
#include "address.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* check_reparse - "<address>" parses back to address. */
static void
check_reparse(const char *address)
{
	size_t n = strlen(address);
	char *arg = malloc(n + 3), *out = malloc(n + 3), *rest;

	if (arg == NULL || out == NULL)
		abort();
	arg[0] = '<';
	memcpy(arg + 1, address, n);
	memcpy(arg + 1 + n, ">", 2);
	if (!address_parse(arg, out, n + 3, &rest) ||
	    strcmp(out, address) != 0 || *rest != '\0')
		abort();
	free(arg);
	free(out);
}

/* check_params - split, validate and look up the parameters in s. */
static void
check_params(const char *s)
{
	static const char *const known[] = { "BODY", "SMTPUTF8", "SIZE", NULL };
	struct params p = { 0 };
	size_t i = 0;

	if (!params_set(&p, s))
		abort();
	(void)params_valid(&p);
	if (params_find(&p, "SIZE", &i) != NULL && i >= p.count)
		abort();
	(void)params_find(&p, "BODY", NULL);
	(void)params_other(&p, known);
	params_clear(&p);
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = strnlen((const char *)data, size);
	char *arg = malloc(len + 1), *out = malloc(len + 1), *rest, *a;

	if (arg == NULL || out == NULL)
		abort();
	memcpy(arg, data, len);
	arg[len] = '\0';
	if (address_parse(arg, out, len + 1, &rest)) {
		if (strlen(out) > len || rest < arg || rest > arg + len)
			abort();
		if (strcmp(out, "<>") != 0)
			check_reparse(out);
		check_params(rest);
	}
	/* The same bytes as a whole MAIL argument: keyword, then address. */
	memcpy(arg, data, len);
	arg[len] = '\0';
	if ((a = address_after_keyword(arg, "FROM:")) != NULL &&
	    address_parse(a, out, len + 1, &rest))
		check_params(rest);
	(void)address_parse_domain(arg);
	free(arg);
	free(out);
	return 0;
}

#ifdef FUZZ_REPLAY_MAIN
#include "replay.h"
#endif
