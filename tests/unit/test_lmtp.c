/* SPDX-License-Identifier: ISC */
/*
 * test_lmtp.c - LMTP (cfg.lmtp) and BDAT (cfg.chunking) driven in memory
 * (unit.h): the per-recipient replies and the callback that makes them,
 * and chunked text that must come out as DATA's does, however the input
 * is cut into reads.
 */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

int	unit_add_lmtp_tests(void);

#define LHLO		"LHLO client.example\r\n"
#define EHLO		"EHLO client.example\r\n"
#define ENVELOPE	"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\n"

/* lmtp_config - unit_config in LMTP, chunking as asked. */
static void
lmtp_config(struct smtpd_config *cfg, bool lmtp, bool chunking)
{
	unit_config(cfg);
	cfg->lmtp = lmtp;
	cfg->chunking = chunking;
}

/* replies_cfg - the replies to input (NUL-terminated) under cfg. */
static const char *
replies_cfg(const struct smtpd_config *cfg, const char *input)
{
	return unit_session(cfg, input, strlen(input), 0);
}

/* replies_after - the replies that follow the n-th line of them. */
static const char *
replies_after(const char *all, int n)
{
	while (n-- > 0 && all) {
		all = strstr(all, "\r\n");
		if (all)
			all += 2;
	}
	return all ? all : "";
}

/* refuse_second - process_message_lmtp: the second recipient is full. */
static void
refuse_second(struct smtpd_channel *ch, const struct smtpd_message *m,
    const char **replies, void *ctx)
{
	(void)ctx;
	delivered.count++;
	if (m->rcpt_count > 1)
		replies[1] = smtpd_channel_rcpt_reply(ch, 1, "552 <%s> full",
		    m->rcpttos[1]);
}

static void
test_lmtp_each_recipient_gets_its_own_reply_in_order(void)
{
	struct smtpd_config cfg;
	const char *r;

	lmtp_config(&cfg, true, false);
	cfg.handler.process_message_lmtp = refuse_second;
	unit_reset();
	r = replies_cfg(&cfg, LHLO "MAIL FROM:<a@x.test>\r\n"
	    "RCPT TO:<one@x.test>\r\nRCPT TO:<two@x.test>\r\n"
	    "RCPT TO:<three@x.test>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n");
	/* LHLO (5 lines), MAIL, 3 RCPT, 354: then the three answers. */
	CU_ASSERT_STRING_EQUAL(replies_after(r, 10),
	    "250 OK\r\n552 <two@x.test> full\r\n250 OK\r\n221 Bye\r\n");
	CU_ASSERT_EQUAL(delivered.count, 1);
}

static void
test_lmtp_without_the_callback_repeats_the_one_reply(void)
{
	struct smtpd_config cfg;
	const char *r;

	lmtp_config(&cfg, true, false);
	unit_reset();
	delivered.reply = "451 later";
	r = replies_cfg(&cfg, LHLO ENVELOPE "RCPT TO:<c@x.test>\r\n"
	    "DATA\r\nhi\r\n.\r\n");
	CU_ASSERT_STRING_EQUAL(replies_after(r, 9),
	    "451 later\r\n451 later\r\n");
	CU_ASSERT_EQUAL(delivered.count, 1);
}

static void
test_lmtp_helo_and_ehlo_are_not_commands(void)
{
	struct smtpd_config cfg;

	lmtp_config(&cfg, true, false);
	unit_reset();
	CU_ASSERT_STRING_EQUAL(replies_cfg(&cfg, "HELO x\r\nEHLO x\r\n"
	    "MAIL FROM:<a@x.test>\r\n"),
	    "500 Error: command \"HELO\" not recognized\r\n"
	    "500 Error: command \"EHLO\" not recognized\r\n"
	    "503 Error: send LHLO first\r\n");
}

/* my_bdat - a program's own BDAT, from before the server had one. */
static const char *
my_bdat(struct smtpd_channel *ch, const char *arg, void *ctx)
{
	(void)ch;
	(void)arg;
	(void)ctx;
	return "250 my own BDAT";
}

static void
test_extra_command_bdat_is_a_programs_own_without_chunking(void)
{
	static const struct smtpd_command mine[] = {
		{ .name = "BDAT", .run = my_bdat },
	};
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	char err[256];

	lmtp_config(&cfg, false, false);
	cfg.commands = mine;
	cfg.command_count = 1;
	unit_reset();
	CU_ASSERT_STRING_EQUAL(replies_cfg(&cfg, "BDAT 1\r\n"),
	    "250 my own BDAT\r\n");
	cfg.chunking = true;
	CU_ASSERT_EQUAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "built in"));
}

/* bdat_text - the text delivered for a message sent as chunks, read in
 * reads of chunk bytes (0: all at once). */
static char *
bdat_text(const char *chunks, size_t len, size_t chunk)
{
	struct smtpd_config cfg;

	lmtp_config(&cfg, false, true);
	unit_reset();
	(void)unit_session(&cfg, chunks, len, chunk);
	return delivered.count == 1 ? delivered.data[0] : NULL;
}

static void
test_bdat_text_is_what_data_gives(void)
{
	/* Dots, bare CR and LF, a CRLF cut between two chunks. */
	static const char data[] = EHLO ENVELOPE
	    "DATA\r\nS: x\r\n\r\n..dot\r\nbare \n lf \r cr\r\nend\r\n.\r\n";
	static const char bdat[] = EHLO ENVELOPE
	    "BDAT 15\r\nS: x\r\n\r\n.dot\r\nb"
	    "BDAT 19\r\nare \n lf \r cr\r\nend\r"
	    "BDAT 1 LAST\r\n\n";
	char *want;

	unit_reset();
	(void)unit_replies(data);
	CU_ASSERT_EQUAL_FATAL(delivered.count, 1);
	want = strdup(delivered.data[0]);
	CU_ASSERT_STRING_EQUAL(want, "S: x\n\n.dot\nbare \n lf \r cr\nend");
	for (size_t chunk = 0; chunk < 4; chunk++) {
		char *got = bdat_text(bdat, sizeof(bdat) - 1, chunk);

		CU_ASSERT_PTR_NOT_NULL_FATAL(got);
		CU_ASSERT_STRING_EQUAL(got, want);
	}
	free(want);
}

static void
test_bdat_message_without_final_crlf_keeps_its_last_line(void)
{
	static const char bdat[] = EHLO ENVELOPE "BDAT 6 LAST\r\na\r\nb\r\r";
	char *got = bdat_text(bdat, sizeof(bdat) - 1, 0);

	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_STRING_EQUAL(got, "a\nb\r\r");
}

static void
test_bdat_bare_newline_is_refused_with_strict_newlines(void)
{
	struct smtpd_config cfg;
	const char *r;

	lmtp_config(&cfg, false, true);
	cfg.strict_newlines = true;
	unit_reset();
	r = replies_cfg(&cfg, EHLO ENVELOPE "BDAT 4 LAST\r\na\nb\r\n");
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "550 5.5.2 bare CR or LF not allowed"));
	CU_ASSERT_EQUAL(delivered.count, 0);
}

static void
test_bdat_refused_chunk_is_read_and_dropped(void)
{
	struct smtpd_config cfg;
	const char *r;

	lmtp_config(&cfg, false, true);
	unit_reset();
	r = replies_cfg(&cfg, EHLO "BDAT 6\r\nQUIT\r\nNOOP\r\n");
	CU_ASSERT_STRING_EQUAL(replies_after(r, 6),
	    "503 Error: need MAIL command\r\n250 OK\r\n");
}

int
unit_add_lmtp_tests(void)
{
	static const struct unit_test tests[] = {
		{ "LMTP: each recipient gets its own reply, in order",
		    test_lmtp_each_recipient_gets_its_own_reply_in_order },
		{ "LMTP: without the callback the one reply is repeated",
		    test_lmtp_without_the_callback_repeats_the_one_reply },
		{ "LMTP: HELO and EHLO are not commands",
		    test_lmtp_helo_and_ehlo_are_not_commands },
		{ "extra command BDAT is a program's own without chunking",
		    test_extra_command_bdat_is_a_programs_own_without_chunking },
		{ "BDAT text is what DATA gives",
		    test_bdat_text_is_what_data_gives },
		{ "BDAT message without final CRLF keeps its last line",
		    test_bdat_message_without_final_crlf_keeps_its_last_line },
		{ "BDAT bare newline is refused with strict newlines",
		    test_bdat_bare_newline_is_refused_with_strict_newlines },
		{ "BDAT refused chunk is read and dropped",
		    test_bdat_refused_chunk_is_read_and_dropped },
	};

	return unit_add_suite("lmtp and bdat", tests,
	    sizeof(tests) / sizeof(tests[0]));
}
