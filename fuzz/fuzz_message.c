/* SPDX-License-Identifier: ISC */
/*
 * fuzz_message.c - a libFuzzer target: arbitrary bytes as message text on
 * the wire, fed to the DATA and BDAT codec (message.c) alone, with no
 * session around it.
 *
 * The first byte picks how the bytes are cut into reads (1 to 32 bytes
 * each), as a socket might deliver them, and the size limit; the rest is
 * the text.  Besides the sanitizers, the target checks what must hold
 * for any input:
 *
 *	- DATA read in pieces consumes the same bytes, ends at the same
 *	  place and makes the same text as DATA read in one piece;
 *	- the end is found exactly after the first CRLF "." CRLF at the
 *	  start of the text or after a CRLF, and nowhere else;
 *	- the text is never longer than what came on the wire, and its
 *	  size is counted the same whatever the reads;
 *	- BDAT chunks cut anywhere make the same text as one chunk.
 *
 * Built with clang -fsanitize=fuzzer by `make fuzz`; with
 * -DFUZZ_REPLAY_MAIN it replays inputs (fuzz/replay.h): `make test`
 * replays fuzz/corpus-message that way.
 */
#define _GNU_SOURCE
#include "message.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* scan - DATA text in reads of step bytes; returns the bytes consumed. */
static size_t
scan(struct message_text *m, const char *p, size_t n, size_t step,
    bool *done)
{
	size_t have = 0, used = 0;
	bool line_end;

	*done = false;
	while (!*done && have < n) {
		have = have + step < n ? have + step : n;
		used += message_scan(m, p + used, have - used, done,
		    &line_end);
		if (used > have)
			abort();
	}
	return used;
}

/* end_of_data - where "\r\n.\r\n" first ends the text (the text may start
 * with ".\r\n"), or 0. */
static size_t
end_of_data(const char *p, size_t n)
{
	const char *e;

	if (n >= 3 && memcmp(p, ".\r\n", 3) == 0)
		return 3;
	if ((e = memmem(p, n, "\r\n.\r\n", 5)) == NULL)
		return 0;
	return (size_t)(e - p) + 5;
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct message_text one = { 0 }, cut = { 0 };
	const char *p = (const char *)data + 1;
	size_t n, step, limit, used_one, used_cut, end;
	enum message_outcome o1, o2;
	bool done_one, done_cut;

	if (size < 1)
		return 0;
	n = size - 1;
	step = (size_t)(data[0] & 31) + 1;
	limit = data[0] & 32 ? n / 2 : 0;

	message_start(&one, limit);
	message_start(&cut, limit);
	used_one = scan(&one, p, n, n ? n : 1, &done_one);
	used_cut = scan(&cut, p, n, step, &done_cut);
	end = end_of_data(p, n);
	if (used_one != used_cut || done_one != done_cut ||
	    done_one != (end != 0) || (end && used_one != end))
		abort();
	/* Past the limit the text is only counted, from whichever read
	 * crossed it: what was kept until then may differ. */
	if (one.len > n || one.raw != cut.raw || one.too_big != cut.too_big ||
	    (!one.too_big && (one.len != cut.len ||
	    (one.len && memcmp(one.data, cut.data, one.len) != 0))))
		abort();
	o1 = message_end(&one, false, data[0] & 64);
	o2 = message_end(&cut, false, data[0] & 64);
	if (o1 != o2 || (o1 == MESSAGE_OK &&
	    strcmp(one.data, cut.data) != 0))
		abort();

	/* BDAT: one chunk, or chunks of step bytes. */
	message_start(&one, limit);
	message_start(&cut, limit);
	message_chunk(&one, p, n);
	for (size_t i = 0; i < n; i += step)
		message_chunk(&cut, p + i, n - i < step ? n - i : step);
	o1 = message_end(&one, true, false);
	o2 = message_end(&cut, true, false);
	if (o1 != o2 || one.raw != n || cut.raw != n || (o1 == MESSAGE_OK &&
	    (one.len != cut.len || one.len > n ||
	    memcmp(one.data, cut.data, one.len) != 0)))
		abort();
	message_free(&one);
	message_free(&cut);
	return 0;
}

#ifdef FUZZ_REPLAY_MAIN
#include "replay.h"
#endif
