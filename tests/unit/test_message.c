/* SPDX-License-Identifier: ISC */
/*
 * test_message.c - the DATA and BDAT text codec (message.c) alone: what a
 * handler is given for the bytes on the wire, where the message ends, and
 * the size and bare-newline checks, with no session around it.
 */
#include "message.h"
#include "suite.h"

#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

/* scan_all - DATA text fed in pieces of step bytes, as a stream would
 * give it (the unconsumed rest stays for the next call); returns the
 * bytes consumed in all, and *done. */
static size_t
scan_all(struct message_text *m, const char *wire, size_t step, bool *done)
{
	size_t n = strlen(wire), have = 0, used = 0;
	bool line_end;

	*done = false;
	while (!*done && have < n) {
		have = have + step < n ? have + step : n;
		used += message_scan(m, wire + used, have - used, done,
		    &line_end);
	}
	return used;
}

/* data - the text DATA makes of wire (NULL unless it ended and is OK). */
static const char *
data(struct message_text *m, const char *wire, size_t limit, bool strict,
    size_t step)
{
	bool done;

	message_start(m, limit);
	scan_all(m, wire, step, &done);
	if (!done || message_end(m, false, strict) != MESSAGE_OK)
		return NULL;
	return m->data;
}

static void
test_crlf_becomes_lf_and_the_last_line_end_goes(void)
{
	struct message_text m = { 0 };

	CU_ASSERT_STRING_EQUAL(data(&m, "a\r\nb\r\n.\r\n", 0, false, 100),
	    "a\nb");
	message_free(&m);
}

static void
test_a_leading_dot_is_removed(void)
{
	struct message_text m = { 0 };

	CU_ASSERT_STRING_EQUAL(data(&m, "..x\r\n.\r\n", 0, false, 100), ".x");
	message_free(&m);
}

static void
test_only_crlf_dot_crlf_ends_the_message(void)
{
	struct message_text m = { 0 };
	bool done;

	message_start(&m, 0);
	scan_all(&m, "a\n.\nb\r.\rc\n.\r\n", 100, &done);
	CU_ASSERT_FALSE(done);
	CU_ASSERT_TRUE(m.bare_newline);
	message_free(&m);
}

static void
test_input_after_the_end_is_not_consumed(void)
{
	struct message_text m = { 0 };
	bool done;
	const char *wire = "x\r\n.\r\nQUIT\r\n";

	message_start(&m, 0);
	CU_ASSERT_EQUAL(scan_all(&m, wire, 100, &done), strlen(wire) - 6);
	CU_ASSERT_TRUE(done);
	message_free(&m);
}

static void
test_a_byte_at_a_time_reads_the_same(void)
{
	struct message_text m = { 0 };
	const char *wire = "a\r\n..b\r\n\r\nc\rd\ne\r\n.\r\n";

	CU_ASSERT_STRING_EQUAL(data(&m, wire, 0, false, 1),
	    "a\n.b\n\nc\rd\ne");
	CU_ASSERT_STRING_EQUAL(data(&m, wire, 0, false, 1000),
	    "a\n.b\n\nc\rd\ne");
	message_free(&m);
}

static void
test_the_limit_counts_the_text_without_its_final_crlf(void)
{
	struct message_text m = { 0 };
	bool done;

	CU_ASSERT_PTR_NOT_NULL(data(&m, "12345\r\n.\r\n", 5, false, 100));
	message_start(&m, 5);
	scan_all(&m, "123456\r\n.\r\n", 100, &done);
	CU_ASSERT_TRUE(done);
	CU_ASSERT_EQUAL(message_end(&m, false, false), MESSAGE_TOO_BIG);
	message_free(&m);
}

static void
test_strict_refuses_a_bare_newline(void)
{
	struct message_text m = { 0 };
	bool done;

	CU_ASSERT_PTR_NOT_NULL(data(&m, "a\nb\r\n.\r\n", 0, false, 100));
	message_start(&m, 0);
	scan_all(&m, "a\nb\r\n.\r\n", 100, &done);
	CU_ASSERT_EQUAL(message_end(&m, false, true), MESSAGE_BARE_NEWLINE);
	message_free(&m);
}

static void
test_chunks_make_what_data_makes(void)
{
	struct message_text m = { 0 };

	message_start(&m, 0);
	message_chunk(&m, "a\r", 2);	/* a CRLF split between chunks */
	message_chunk(&m, "\n.b\r\n", 5);
	CU_ASSERT_EQUAL(message_end(&m, true, false), MESSAGE_OK);
	CU_ASSERT_STRING_EQUAL(m.data, "a\n.b");
	CU_ASSERT_FALSE(m.bare_newline);
	message_free(&m);
}

static void
test_a_chunked_message_ending_in_cr_keeps_it_bare(void)
{
	struct message_text m = { 0 };

	message_start(&m, 0);
	message_chunk(&m, "a\r", 2);
	CU_ASSERT_EQUAL(message_end(&m, true, false), MESSAGE_OK);
	CU_ASSERT_STRING_EQUAL(m.data, "a\r");
	CU_ASSERT_TRUE(m.bare_newline);
	message_free(&m);
}

static void
test_chunks_count_every_byte_against_the_limit(void)
{
	struct message_text m = { 0 };

	message_start(&m, 4);
	message_chunk(&m, "1234", 4);
	CU_ASSERT_EQUAL(message_end(&m, true, false), MESSAGE_OK);
	message_start(&m, 4);
	message_chunk(&m, "12345", 5);
	CU_ASSERT_EQUAL(message_end(&m, true, false), MESSAGE_TOO_BIG);
	message_free(&m);
}

/* The store's copy (/raw) is the text as it came: CRLF, the last line end
 * back, an LF that had no CR given one, a CR already there kept. */
static void
test_wire_text_gives_the_line_ends_back(void)
{
	size_t len = 99;
	const char *text = "Subject: a\n\nb\r\nc";
	char *w = message_wire_text(text, strlen(text), &len);

	CU_ASSERT_STRING_EQUAL(w, "Subject: a\r\n\r\nb\r\nc\r\n");
	CU_ASSERT_EQUAL(len, strlen(w));
	free(w);
	w = message_wire_text("", 0, &len);
	CU_ASSERT_STRING_EQUAL(w, "");
	CU_ASSERT_EQUAL(len, 0);
	free(w);
}

int
unit_add_message_tests(void)
{
#define T(f) { #f, f }
	static const struct unit_test tests[] = {
		T(test_crlf_becomes_lf_and_the_last_line_end_goes),
		T(test_a_leading_dot_is_removed),
		T(test_only_crlf_dot_crlf_ends_the_message),
		T(test_input_after_the_end_is_not_consumed),
		T(test_a_byte_at_a_time_reads_the_same),
		T(test_the_limit_counts_the_text_without_its_final_crlf),
		T(test_strict_refuses_a_bare_newline),
		T(test_chunks_make_what_data_makes),
		T(test_a_chunked_message_ending_in_cr_keeps_it_bare),
		T(test_chunks_count_every_byte_against_the_limit),
		T(test_wire_text_gives_the_line_ends_back),
	};
#undef T
	return unit_add_suite("message", tests, sizeof(tests) / sizeof(tests[0]));
}
