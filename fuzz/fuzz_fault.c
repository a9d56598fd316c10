/* SPDX-License-Identifier: ISC */
/*
 * fuzz_fault.c - a libFuzzer target for the fault rules (fault.c): an
 * input is up to 16 rules, one a line, parsed as --fault would parse
 * them, then every stage is checked with each line as the subject (the
 * globs and the triggers see arbitrary text too).
 *
 * Its first byte: bit 0 turns the triggers on, bits 1-7 are the seed.
 *
 * Besides the sanitizers, it checks what must hold for any input: a set
 * is made exactly when every rule alone is valid; a refusal quotes the
 * rule ("fault rule \"..."); whatever fires is something the channel can
 * do: a valid one-line reply, a delay within a day.
 *
 * Built with clang -fsanitize=fuzzer by `make fuzz`; built with
 * -DFUZZ_REPLAY_MAIN it replays inputs (fuzz/replay.h): `make test`
 * replays fuzz/corpus-fault that way.
 */
#define _GNU_SOURCE
#include "fault.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULES	16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* action_ok - is what fired something the channel can do? */
static bool
action_ok(const struct fault_action *a)
{
	switch (a->kind) {
	case FAULT_NONE:
		return a->reply[0] == '\0';
	case FAULT_DROP:
		return true;
	case FAULT_REPLY:
		return fault_reply_valid(a->reply) == NULL;
	case FAULT_DELAY:
		return a->delay_ms >= 0 && a->delay_ms <= FAULT_DELAY_MAX_MS &&
		    (a->reply[0] == '\0' || fault_reply_valid(a->reply) == NULL);
	}
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *lines[MAX_RULES], *save = NULL, *p;
	struct fault_options o;
	struct fault_set *fs;
	char err[512];
	size_t n = 0;
	bool all_valid = true;
	int rc;

	if (size == 0 || size > 16384)
		return 0;
	/* The rules are C strings: a NUL ends the input. */
	if ((text = strndup((const char *)data + 1, size - 1)) == NULL)
		abort();
	for (p = strtok_r(text, "\n", &save); p != NULL && n < MAX_RULES;
	    p = strtok_r(NULL, "\n", &save))
		lines[n++] = p;
	for (size_t i = 0; i < n; i++)
		if (fault_rule_valid(lines[i], err, sizeof(err)) != 0) {
			if (strncmp(err, "fault rule \"", 12) != 0)
				abort();
			all_valid = false;
		}

	memset(&o, 0, sizeof(o));
	o.rules = (const char *const *)lines;
	o.rule_count = n;
	o.triggers = data[0] & 1;
	o.seed = data[0] >> 1;
	o.seeded = true;
	rc = fault_set_new(&o, &fs, err, sizeof(err));
	if ((rc == 0) != all_valid)
		abort();
	if (rc == 0) {
		for (int s = 0; s < FAULT_STAGES; s++)
			for (size_t i = 0; i <= n; i++) {
				struct fault_action a;
				bool hit = fault_check(fs, (enum fault_stage)s,
				    i < n ? lines[i] : NULL, &a);

				if (hit != (a.kind != FAULT_NONE) ||
				    !action_ok(&a))
					abort();
			}
		fault_set_release(fs);
	}
	free(text);
	return 0;
}

#ifdef FUZZ_REPLAY_MAIN
#include "replay.h"
#endif
