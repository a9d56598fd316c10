/* SPDX-License-Identifier: ISC */
/*
 * test_channel.c - the channel's behaviour, one test per behaviour, driven
 * in memory (unit.h).  Expected texts are Python 3.11 smtpd's replies,
 * except where a test's name says we differ on purpose.
 */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define EHLO		"EHLO client.example\r\n"
#define EHLO_REPLY	"250-test.example\r\n250-SIZE 33554432\r\n" \
			"250-8BITMIME\r\n250-PIPELINING\r\n250 HELP\r\n"
#define HELO		"HELO client.example\r\n"
#define HELO_REPLY	"250 test.example\r\n"
#define OK		"250 OK\r\n"
#define GO_AHEAD	"354 End data with <CR><LF>.<CR><LF>\r\n"

#define EXPECT(input, replies) do {					\
	unit_reset();							\
	CU_ASSERT_STRING_EQUAL(unit_replies(input), replies);		\
} while (0)

static const char *
with(struct smtpd_config *cfg, const char *input)
{
	unit_reset();
	return unit_session(cfg, input, strlen(input), 0);
}

/* ---- greeting and simple commands ---------------------------------- */

static void
test_greeting_is_220_fqdn_and_version(void)
{
	unit_replies("");
	CU_ASSERT_STRING_EQUAL(unit_greeting(),
	    "220 test.example smtpd " SMTPD_VERSION);
}

static void
test_empty_line_is_500_bad_syntax(void)
{
	EXPECT("\r\n", "500 Error: bad syntax\r\n");
}

static void
test_unknown_command_is_500_not_recognized(void)
{
	EXPECT("frob it\r\n", "500 Error: command \"FROB\" not recognized\r\n");
}

static void
test_only_space_separates_the_command_name(void)
{
	/* Python splits at the first space only: a tab is part of the name. */
	EXPECT("NOOP\tx\r\n",
	    "500 Error: command \"NOOP\tX\" not recognized\r\n");
}

static void
test_command_names_are_case_insensitive(void)
{
	EXPECT("noop\r\n", OK);
}

static void
test_noop_with_argument_is_501(void)
{
	EXPECT("NOOP x\r\n", "501 Syntax: NOOP\r\n");
}

static void
test_noop_with_only_spaces_is_250(void)
{
	EXPECT("NOOP   \r\n", OK);
}

static void
test_quit_is_221_and_ends_the_session(void)
{
	EXPECT("QUIT\r\nNOOP\r\n", "221 Bye\r\n");
}

static void
test_lf_alone_does_not_end_a_command_line(void)
{
	EXPECT("NOOP\nNOOP\r\n",
	    "500 Error: command \"NOOP\nNOOP\" not recognized\r\n");
}

static void
test_nul_in_command_is_500_bad_syntax(void)
{
	unit_reset();
	struct smtpd_config cfg;
	unit_config(&cfg);
	CU_ASSERT_STRING_EQUAL(unit_session(&cfg, "NO\0OP\r\nNOOP\r\n", 13, 0),
	    "500 Error: bad syntax\r\n" OK);
}

/* The peer's address in text, as inet_ntop writes it: channel_new
 * formats IPv4 by hand (see ipv4_text), so every digit count matters. */
static void
test_peer_ip_is_written_as_inet_ntop_writes_it(void)
{
	static const char *const addrs[] = { "0.0.0.0", "1.2.3.4",
	    "9.10.99.100", "10.20.30.40", "192.168.100.255",
	    "255.255.255.255", "100.0.9.90", "127.0.0.1" };
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	char err[256];

	unit_config(&cfg);
	CU_ASSERT_FATAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)) == 0);
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		struct sockaddr_in in = { .sin_family = AF_INET,
		    .sin_port = htons(2525) };
		struct smtpd_channel *ch;

		CU_ASSERT_FATAL(inet_pton(AF_INET, addrs[i], &in.sin_addr) == 1);
		ch = channel_new(srv, -1, (struct sockaddr *)&in);
		CU_ASSERT_FATAL(ch != NULL);
		CU_ASSERT_STRING_EQUAL(smtpd_channel_peer_ip(ch), addrs[i]);
		CU_ASSERT_EQUAL(smtpd_channel_peer_port(ch), 2525);
		channel_discard(ch);
	}
	smtpd_server_free(srv);
}

/* ---- HELO and EHLO ------------------------------------------------- */

static void
test_helo_without_name_is_501(void)
{
	EXPECT("HELO\r\n", "501 Syntax: HELO hostname\r\n");
}

static void
test_helo_replies_250_fqdn(void)
{
	EXPECT(HELO, HELO_REPLY);
}

static void
test_ehlo_without_name_is_501(void)
{
	EXPECT("EHLO \r\n", "501 Syntax: EHLO hostname\r\n");
}

static void
test_ehlo_lists_size_8bitmime_pipelining_help(void)
{
	EXPECT(EHLO, EHLO_REPLY);
}

static void
test_ehlo_without_size_limit_has_no_size(void)
{
	struct smtpd_config cfg;

	unit_config(&cfg);
	cfg.data_size_limit = 0;
	CU_ASSERT_STRING_EQUAL(with(&cfg, EHLO), "250-test.example\r\n"
	    "250-8BITMIME\r\n250-PIPELINING\r\n250 HELP\r\n");
}

static void
test_ehlo_with_smtputf8_lists_it(void)
{
	struct smtpd_config cfg;

	unit_config(&cfg);
	cfg.enable_smtputf8 = true;
	CU_ASSERT_STRING_EQUAL(with(&cfg, EHLO), "250-test.example\r\n"
	    "250-SIZE 33554432\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
	    "250-PIPELINING\r\n250 HELP\r\n");
}

static void
test_ehlo_with_decode_data_has_no_8bitmime(void)
{
	struct smtpd_config cfg;

	unit_config(&cfg);
	cfg.decode_data = true;
	CU_ASSERT_STRING_EQUAL(with(&cfg, EHLO), "250-test.example\r\n"
	    "250-SIZE 33554432\r\n250-PIPELINING\r\n250 HELP\r\n");
}

static void
test_ehlo_extra_keywords_are_listed(void)
{
	static const char *const kw[] = { "XFOO", "AUTH PLAIN", NULL };
	struct smtpd_config cfg;

	unit_config(&cfg);
	cfg.ehlo_keywords = kw;
	cfg.data_size_limit = 0;
	CU_ASSERT_STRING_EQUAL(with(&cfg, EHLO), "250-test.example\r\n"
	    "250-8BITMIME\r\n250-PIPELINING\r\n250-XFOO\r\n"
	    "250-AUTH PLAIN\r\n250 HELP\r\n");
}

static void
test_second_greeting_is_503_duplicate(void)
{
	EXPECT(HELO EHLO, HELO_REPLY "503 Duplicate HELO/EHLO\r\n");
}

/* ---- MAIL ------------------------------------------------------------ */

static void
test_mail_before_helo_is_503(void)
{
	EXPECT("MAIL FROM:<a@b>\r\n", "503 Error: send HELO first\r\n");
}

static void
test_mail_without_from_is_501(void)
{
	EXPECT(HELO "MAIL <a@b>\r\n",
	    HELO_REPLY "501 Syntax: MAIL FROM: <address>\r\n");
}

static void
test_mail_syntax_error_after_ehlo_mentions_parameters(void)
{
	EXPECT(EHLO "MAIL\r\n", EHLO_REPLY
	    "501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]\r\n");
}

static void
test_mail_address_forms_are_accepted(void)
{
	static const char *const forms[][2] = {
		{ "<a@b.example>", "a@b.example" },
		{ "<>", "<>" },
		{ "a@b.example", "a@b.example" },
		{ " <a@b.example>", "a@b.example" },
		{ "<\"john doe\"@ex.com>", "\"john doe\"@ex.com" },
		{ "<\"a\"@b>", "a@b" },
		{ "<@relay.example:a@b>", "a@b" },
		{ "<a@[192.0.2.1]>", "a@[192.0.2.1]" },
		{ "postmaster", "postmaster" },
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char input[256];

		snprintf(input, sizeof(input), HELO "MAIL FROM:%s\r\n"
		    "RCPT TO:<r@x>\r\nDATA\r\n.\r\n", forms[i][0]);
		EXPECT(input, HELO_REPLY OK OK GO_AHEAD OK);
		CU_ASSERT_EQUAL_FATAL(delivered.count, 1);
		CU_ASSERT_STRING_EQUAL(delivered.mailfrom[0], forms[i][1]);
	}
}

static void
test_mail_unparseable_address_is_501_not_a_disconnect(void)
{
	/* Python's parser raises here and the connection drops. */
	EXPECT(EHLO "MAIL FROM:@b\r\nMAIL FROM:<a@b.>\r\nNOOP\r\n", EHLO_REPLY
	    "501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]\r\n"
	    "501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]\r\n" OK);
}

static void
test_nested_mail_is_503(void)
{
	EXPECT(HELO "MAIL FROM:<a@b>\r\nMAIL FROM:<c@d>\r\n",
	    HELO_REPLY OK "503 Error: nested MAIL command\r\n");
}

static void
test_mail_parameters_after_helo_are_501(void)
{
	EXPECT(HELO "MAIL FROM:<a@b> SIZE=10\r\n",
	    HELO_REPLY "501 Syntax: MAIL FROM: <address>\r\n");
}

static void
test_mail_size_over_limit_is_552(void)
{
	EXPECT(EHLO "MAIL FROM:<a@b> SIZE=33554433\r\n", EHLO_REPLY
	    "552 Error: message size exceeds fixed maximum message size\r\n");
}

static void
test_mail_size_at_limit_is_250(void)
{
	EXPECT(EHLO "MAIL FROM:<a@b> SIZE=33554432\r\n", EHLO_REPLY OK);
}

static void
test_mail_huge_size_is_552(void)
{
	EXPECT(EHLO "MAIL FROM:<a@b> SIZE=99999999999999999999999\r\n",
	    EHLO_REPLY "552 Error: message size exceeds fixed maximum "
	    "message size\r\n");
}

static void
test_mail_size_not_a_number_is_501(void)
{
	EXPECT(EHLO "MAIL FROM:<a@b> SIZE=ten\r\n", EHLO_REPLY
	    "501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]\r\n");
}

static void
test_mail_bare_size_is_501(void)
{
	/* Python crashes on SIZE without a value. */
	EXPECT(EHLO "MAIL FROM:<a@b> SIZE\r\n", EHLO_REPLY
	    "501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]\r\n");
}

static void
test_mail_body_8bitmime_and_7bit_are_250(void)
{
	EXPECT(EHLO "MAIL FROM:<a@b> BODY=8BITMIME\r\nRSET\r\n"
	    "MAIL FROM:<a@b> body=7bit\r\n", EHLO_REPLY OK OK OK);
}

static void
test_mail_body_other_is_501(void)
{
	EXPECT(EHLO "MAIL FROM:<a@b> BODY=BINARYMIME\r\n", EHLO_REPLY
	    "501 Error: BODY can only be one of 7BIT, 8BITMIME\r\n");
}

static void
test_mail_smtputf8_is_555_when_not_enabled(void)
{
	EXPECT(EHLO "MAIL FROM:<a@b> SMTPUTF8\r\n", EHLO_REPLY
	    "555 MAIL FROM parameters not recognized or not implemented\r\n");
}

static void
test_mail_smtputf8_is_250_when_enabled(void)
{
	struct smtpd_config cfg;

	unit_config(&cfg);
	cfg.enable_smtputf8 = true;
	CU_ASSERT_STRING_EQUAL(with(&cfg, "HELO x\r\n"
	    "MAIL FROM:<a@b>\r\nRSET\r\n"), HELO_REPLY OK OK);
	CU_ASSERT_STRING_EQUAL(with(&cfg, "EHLO x\r\n"
	    "MAIL FROM:<\xc3\xa4@b> SMTPUTF8\r\n"), "250-test.example\r\n"
	    "250-SIZE 33554432\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
	    "250-PIPELINING\r\n250 HELP\r\n" OK);
}

static void
test_mail_smtputf8_with_value_is_501(void)
{
	struct smtpd_config cfg;

	unit_config(&cfg);
	cfg.enable_smtputf8 = true;
	cfg.data_size_limit = 0;
	CU_ASSERT_STRING_EQUAL(with(&cfg, "EHLO x\r\n"
	    "MAIL FROM:<a@b> SMTPUTF8=yes\r\n"), "250-test.example\r\n"
	    "250-8BITMIME\r\n250-SMTPUTF8\r\n250-PIPELINING\r\n250 HELP\r\n"
	    "501 Error: SMTPUTF8 takes no arguments\r\n");
}

static void
test_mail_unknown_parameter_is_555(void)
{
	EXPECT(EHLO "MAIL FROM:<a@b> RET=HDRS\r\n", EHLO_REPLY
	    "555 MAIL FROM parameters not recognized or not implemented\r\n");
}

static void
test_mail_parameter_without_value_after_equals_is_501(void)
{
	EXPECT(EHLO "MAIL FROM:<a@b> X=\r\n", EHLO_REPLY
	    "501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]\r\n");
}

/* ---- RCPT ------------------------------------------------------------ */

static void
test_rcpt_before_helo_is_503(void)
{
	EXPECT("RCPT TO:<a@b>\r\n", "503 Error: send HELO first\r\n");
}

static void
test_rcpt_before_mail_is_503(void)
{
	EXPECT(HELO "RCPT TO:<a@b>\r\n",
	    HELO_REPLY "503 Error: need MAIL command\r\n");
}

static void
test_rcpt_without_to_is_501(void)
{
	EXPECT(HELO "MAIL FROM:<a@b>\r\nRCPT <c@d>\r\n",
	    HELO_REPLY OK "501 Syntax: RCPT TO: <address>\r\n");
}

static void
test_rcpt_parameters_are_555(void)
{
	EXPECT(EHLO "MAIL FROM:<a@b>\r\nRCPT TO:<c@d> NOTIFY=NEVER\r\n",
	    EHLO_REPLY OK
	    "555 RCPT TO parameters not recognized or not implemented\r\n");
}

static void
test_rcpt_over_max_recipients_is_452(void)
{
	struct smtpd_config cfg;

	unit_config(&cfg);
	cfg.max_recipients = 2;
	CU_ASSERT_STRING_EQUAL(with(&cfg, HELO "MAIL FROM:<a@b>\r\n"
	    "RCPT TO:<1@x>\r\nRCPT TO:<2@x>\r\nRCPT TO:<3@x>\r\n"),
	    HELO_REPLY OK OK OK "452 Error: too many recipients\r\n");
}

static void
test_recipients_reach_the_handler_in_order(void)
{
	EXPECT(HELO "MAIL FROM:<a@b>\r\nRCPT TO:<1@x>\r\nRCPT TO:2@x\r\n"
	    "RCPT TO:<3@x>\r\nDATA\r\nhi\r\n.\r\n",
	    HELO_REPLY OK OK OK OK GO_AHEAD OK);
	CU_ASSERT_EQUAL_FATAL(delivered.count, 1);
	CU_ASSERT_STRING_EQUAL(delivered.rcpts[0], "1@x,2@x,3@x");
}

/* ---- RSET, HELP, VRFY, EXPN --------------------------------------- */

static void
test_rset_forgets_the_transaction(void)
{
	EXPECT(HELO "MAIL FROM:<a@b>\r\nRSET\r\nRCPT TO:<c@d>\r\n",
	    HELO_REPLY OK OK "503 Error: need MAIL command\r\n");
}

static void
test_rset_keeps_the_greeting(void)
{
	EXPECT(HELO "RSET\r\nMAIL FROM:<a@b>\r\n", HELO_REPLY OK OK);
}

static void
test_rset_with_argument_is_501(void)
{
	EXPECT("RSET x\r\n", "501 Syntax: RSET\r\n");
}

static void
test_help_lists_commands(void)
{
	EXPECT("HELP\r\n", "250 Supported commands: EHLO HELO MAIL RCPT DATA "
	    "RSET NOOP QUIT VRFY\r\n");
}

static void
test_help_mail_after_ehlo_mentions_parameters(void)
{
	EXPECT("HELP mail\r\n" EHLO "HELP MAIL\r\n",
	    "250 Syntax: MAIL FROM: <address>\r\n" EHLO_REPLY
	    "250 Syntax: MAIL FROM: <address> [SP <mail-parameters>]\r\n");
}

static void
test_help_unknown_topic_is_501(void)
{
	EXPECT("HELP EXPN\r\n", "501 Supported commands: EHLO HELO MAIL RCPT "
	    "DATA RSET NOOP QUIT VRFY\r\n");
}

static void
test_vrfy_address_is_252(void)
{
	EXPECT("VRFY <someone@example.com>\r\n", "252 Cannot VRFY user, but "
	    "will accept message and attempt delivery\r\n");
}

static void
test_vrfy_without_argument_is_501(void)
{
	EXPECT("VRFY\r\n", "501 Syntax: VRFY <address>\r\n");
}

static void
test_vrfy_unparseable_is_502(void)
{
	EXPECT("VRFY @@\r\n", "502 Could not VRFY @@\r\n");
}

static void
test_expn_is_502(void)
{
	EXPECT("EXPN list\r\n", "502 EXPN not implemented\r\n");
}

/* ---- DATA ------------------------------------------------------------ */

#define TX	HELO "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
#define TX_OK	HELO_REPLY OK OK

static void
test_data_before_helo_is_503(void)
{
	EXPECT("DATA\r\n", "503 Error: send HELO first\r\n");
}

static void
test_data_before_rcpt_is_503(void)
{
	EXPECT(HELO "MAIL FROM:<a@b>\r\nDATA\r\n",
	    HELO_REPLY OK "503 Error: need RCPT command\r\n");
}

static void
test_data_with_argument_is_501(void)
{
	EXPECT(TX "DATA x\r\n", TX_OK "501 Syntax: DATA\r\n");
}

static void
test_data_is_dot_unstuffed_and_crlf_becomes_lf(void)
{
	EXPECT(TX "DATA\r\nSubject: x\r\n\r\n..dot\r\n.\r\n",
	    TX_OK GO_AHEAD OK);
	CU_ASSERT_EQUAL_FATAL(delivered.count, 1);
	CU_ASSERT_STRING_EQUAL(delivered.data[0], "Subject: x\n\n.dot");
}

static void
test_data_keeps_an_empty_last_line(void)
{
	EXPECT(TX "DATA\r\na\r\n\r\n.\r\n", TX_OK GO_AHEAD OK);
	CU_ASSERT_STRING_EQUAL(delivered.data[0], "a\n");
}

static void
test_data_followed_by_dot_is_an_empty_message(void)
{
	EXPECT(TX "DATA\r\n.\r\n", TX_OK GO_AHEAD OK);
	CU_ASSERT_EQUAL_FATAL(delivered.count, 1);
	CU_ASSERT_EQUAL(delivered.len[0], 0);
}

static void
test_bare_lf_dot_lf_is_message_text(void)
{
	EXPECT(TX "DATA\r\na\n.\nb\r\n.\r\n", TX_OK GO_AHEAD OK);
	CU_ASSERT_EQUAL_FATAL(delivered.count, 1);
	CU_ASSERT_STRING_EQUAL(delivered.data[0], "a\n.\nb");
}

static void
test_cr_dot_cr_is_message_text(void)
{
	EXPECT(TX "DATA\r\na\r.\rb\r\n.\r\n", TX_OK GO_AHEAD OK);
	CU_ASSERT_STRING_EQUAL(delivered.data[0], "a\r.\rb");
}

static void
test_lf_dot_crlf_is_message_text(void)
{
	EXPECT(TX "DATA\r\na\n.\r\nb\r\n.\r\n", TX_OK GO_AHEAD OK);
	CU_ASSERT_STRING_EQUAL(delivered.data[0], "a\n.\nb");
}

static void
test_crlf_dot_lf_is_message_text(void)
{
	/* The dot begins a line (after CRLF), so it is unstuffed, as Python
	 * does; the bare LF after it is text. */
	EXPECT(TX "DATA\r\na\r\n.\nb\r\n.\r\n", TX_OK GO_AHEAD OK);
	CU_ASSERT_STRING_EQUAL(delivered.data[0], "a\n\nb");
}

static void
test_smuggled_transaction_stays_inside_one_message(void)
{
	EXPECT(TX "DATA\r\nhello\n.\nMAIL FROM:<evil@x>\nRCPT TO:<v@x>\n"
	    "DATA\nsmuggled\n.\r\n.\r\n", TX_OK GO_AHEAD OK);
	CU_ASSERT_EQUAL(delivered.count, 1);
}

static void
test_data_over_size_limit_is_552_and_transaction_ends(void)
{
	struct smtpd_config cfg;

	unit_config(&cfg);
	cfg.data_size_limit = 10;
	CU_ASSERT_STRING_EQUAL(with(&cfg, TX "DATA\r\n0123456789A\r\n.\r\n"
	    "RCPT TO:<c@d>\r\nMAIL FROM:<a@b>\r\n"), TX_OK GO_AHEAD
	    "552 Error: Too much mail data\r\n"
	    "503 Error: need MAIL command\r\n" OK);
	CU_ASSERT_EQUAL(delivered.count, 0);
}

static void
test_data_exactly_at_size_limit_is_accepted(void)
{
	struct smtpd_config cfg;

	unit_config(&cfg);
	cfg.data_size_limit = 10;
	CU_ASSERT_STRING_EQUAL(with(&cfg, TX "DATA\r\n0123\r\n4567\r\n.\r\n"),
	    TX_OK GO_AHEAD OK);
	CU_ASSERT_EQUAL(delivered.count, 1);
}

static void
test_message_read_one_byte_at_a_time_arrives_intact(void)
{
	const char *in = TX "DATA\r\nSubject: x\r\n\r\n..a\r\nb\r\r\n"
	    "\n.\n\r\n.\r\nQUIT\r\n";
	struct smtpd_config cfg;

	unit_config(&cfg);
	unit_reset();
	CU_ASSERT_STRING_EQUAL(unit_session(&cfg, in, strlen(in), 1),
	    TX_OK GO_AHEAD OK "221 Bye\r\n");
	CU_ASSERT_EQUAL_FATAL(delivered.count, 1);
	CU_ASSERT_STRING_EQUAL(delivered.data[0],
	    "Subject: x\n\n.a\nb\r\n\n.\n");
}

/*
 * Commands are read through a small buffer, message text through a large
 * one allocated for DATA and given back after it (channel.c: in_grow,
 * in_shrink).  Two 40 KB messages with commands pipelined around them,
 * in reads that end anywhere, must arrive whole.
 */
static void
test_messages_pipelined_with_commands_arrive_whole_in_any_reads(void)
{
	static const size_t chunks[] = { 0, 1, 700, 1500, 3000, 16385 };
	size_t body = 40000, n = 0;
	char *in = malloc(4 * body + 300), *text = malloc(body + 1);
	struct smtpd_config cfg;

	CU_ASSERT_FATAL(in != NULL && text != NULL);
	for (size_t i = 0; i < body; i++)
		text[i] = (i % 80 == 79) ? '\n' : (char)('a' + i % 26);
	text[body] = '\0';
	for (int m = 0; m < 2; m++) {
		n += (size_t)sprintf(in + n, "%s", m ? "" : EHLO);
		n += (size_t)sprintf(in + n, "MAIL FROM:<a@b>\r\n"
		    "RCPT TO:<c@d>\r\nDATA\r\n");
		for (size_t i = 0; i < body; i++) {
			if (text[i] == '\n')
				in[n++] = '\r';
			in[n++] = text[i];
		}
		n += (size_t)sprintf(in + n, "\r\n.\r\nNOOP\r\n");
	}
	n += (size_t)sprintf(in + n, "QUIT\r\n");
	unit_config(&cfg);
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		unit_reset();
		CU_ASSERT_STRING_EQUAL(unit_session(&cfg, in, n, chunks[c]),
		    EHLO_REPLY OK OK GO_AHEAD OK OK OK OK GO_AHEAD OK OK
		    "221 Bye\r\n");
		CU_ASSERT_EQUAL_FATAL(delivered.count, 2);
		CU_ASSERT_STRING_EQUAL(delivered.data[0], text);
		CU_ASSERT_STRING_EQUAL(delivered.data[1], text);
	}
	free(in);
	free(text);
}

static void
test_handler_reply_is_sent_instead_of_250(void)
{
	unit_reset();
	delivered.reply = "451 Try again later";
	struct smtpd_config cfg;
	unit_config(&cfg);
	const char *in = TX "DATA\r\nx\r\n.\r\n";
	CU_ASSERT_STRING_EQUAL(unit_session(&cfg, in, strlen(in), 0),
	    TX_OK GO_AHEAD "451 Try again later\r\n");
	delivered.reply = NULL;
}

static void
test_transaction_ends_after_data(void)
{
	EXPECT(TX "DATA\r\nx\r\n.\r\nRCPT TO:<e@f>\r\n",
	    TX_OK GO_AHEAD OK "503 Error: need MAIL command\r\n");
}

static void
test_strict_newlines_rejects_bare_lf_with_550(void)
{
	struct smtpd_config cfg;

	unit_config(&cfg);
	cfg.strict_newlines = true;
	CU_ASSERT_STRING_EQUAL(with(&cfg, TX "DATA\r\na\nb\r\n.\r\n"),
	    TX_OK GO_AHEAD "550 5.5.2 bare CR or LF not allowed\r\n");
	CU_ASSERT_EQUAL(delivered.count, 0);
}

static void
test_mail_and_rcpt_options_reach_the_handler(void)
{
	/* As in Python, rcpt_options are those of the last RCPT that got as
	 * far as its parameters, even a refused one. */
	EXPECT(EHLO "MAIL FROM:<a@b> body=8bitmime SIZE=5\r\n"
	    "RCPT TO:<c@d>\r\nRCPT TO:<e@f> NOTIFY=NEVER\r\nDATA\r\n.\r\n",
	    EHLO_REPLY OK OK "555 RCPT TO parameters not recognized or not "
	    "implemented\r\n" GO_AHEAD OK);
	CU_ASSERT_EQUAL_FATAL(delivered.count, 1);
	CU_ASSERT_STRING_EQUAL(delivered.mail_options[0],
	    "BODY=8BITMIME,SIZE=5");
	CU_ASSERT_STRING_EQUAL(delivered.rcpt_options[0], "NOTIFY=NEVER");
	CU_ASSERT_STRING_EQUAL(delivered.rcpts[0], "c@d");
}

static void
test_decode_data_passes_no_options(void)
{
	struct smtpd_config cfg;

	unit_config(&cfg);
	cfg.decode_data = true;
	with(&cfg, "EHLO x\r\nMAIL FROM:<a@b> SIZE=5\r\nRCPT TO:<c@d>\r\n"
	    "DATA\r\n.\r\n");
	CU_ASSERT_EQUAL_FATAL(delivered.count, 1);
	CU_ASSERT_STRING_EQUAL(delivered.mail_options[0], "");
}

static void
test_decode_data_with_smtputf8_is_a_config_error(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv = NULL;
	char err[256] = "";

	unit_config(&cfg);
	cfg.decode_data = true;
	cfg.enable_smtputf8 = true;
	CU_ASSERT_EQUAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(srv);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "decode_data and enable_SMTPUTF8"));
}

/* ---- line length ------------------------------------------------------ */

static char *
long_line(const char *prefix, size_t len, const char *rest)
{
	char *s = malloc(len + strlen(rest) + 3);

	memset(s, 'x', len);
	memcpy(s, prefix, strlen(prefix));
	strcpy(s + len, "\r\n");
	strcat(s, rest);
	return s;
}

static void
test_command_of_512_bytes_is_accepted(void)
{
	char *in = long_line("HELO ", 512, "");

	EXPECT(in, HELO_REPLY);
	free(in);
}

static void
test_command_over_512_bytes_is_500_line_too_long(void)
{
	char *in = long_line("HELO ", 513, "NOOP\r\n");

	EXPECT(in, "500 Error: line too long\r\n" OK);
	free(in);
}

static void
test_mail_may_be_26_longer_after_ehlo_with_size(void)
{
	char *ok = long_line(EHLO "MAIL FROM:<a@b> SIZE=1 X", 538 + 21, "");
	char *bad = long_line(EHLO "MAIL FROM:<a@b> SIZE=1 X", 539 + 21, "");

	/* 538 bytes of MAIL line (21 bytes are the EHLO line). */
	EXPECT(ok, EHLO_REPLY "555 MAIL FROM parameters not recognized or not "
	    "implemented\r\n");
	EXPECT(bad, EHLO_REPLY "500 Error: line too long\r\n");
	free(ok);
	free(bad);
}

static void
test_long_line_without_a_space_is_500_line_too_long(void)
{
	char *in = long_line("FROB", 600, "NOOP\r\n");

	EXPECT(in, "500 Error: line too long\r\n" OK);
	free(in);
}

static void
test_ten_kilobyte_line_is_dropped_and_the_session_goes_on(void)
{
	char *in = long_line("NOOP ", 10240, "NOOP\r\n");
	struct smtpd_config cfg;

	unit_config(&cfg);
	unit_reset();
	CU_ASSERT_STRING_EQUAL(unit_session(&cfg, in, strlen(in), 700),
	    "500 Error: line too long\r\n" OK);
	free(in);
}

/* ---- pipelining, hooks, junk -------------------------------------------- */

static void
test_pipelined_burst_is_answered_in_one_write(void)
{
	EXPECT(EHLO "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\n"
	    "NOOP\r\n", EHLO_REPLY OK OK OK OK);
	/* The greeting, then everything else at once. */
	CU_ASSERT_EQUAL(unit_writes(), 2);
}

static const char *
reject_nobody(struct smtpd_channel *ch, const char *address, void *ctx)
{
	(void)ctx;
	if (strncmp(address, "nobody@", 7) == 0)
		return smtpd_channel_reply(ch, "550 No such user: %s", address);
	return NULL;
}

static void
test_rcpt_hook_reply_reaches_the_client_and_rcpt_is_not_added(void)
{
	struct smtpd_config cfg;

	unit_config(&cfg);
	cfg.hooks.on_rcpt = reject_nobody;
	CU_ASSERT_STRING_EQUAL(with(&cfg, HELO "MAIL FROM:<a@b>\r\n"
	    "RCPT TO:<nobody@x>\r\nRCPT TO:<some@x>\r\nDATA\r\n.\r\n"),
	    HELO_REPLY OK "550 No such user: nobody@x\r\n" OK GO_AHEAD OK);
	CU_ASSERT_EQUAL_FATAL(delivered.count, 1);
	CU_ASSERT_STRING_EQUAL(delivered.rcpts[0], "some@x");
}

static const char *
go_away(struct smtpd_channel *ch, void *ctx)
{
	(void)ch;
	(void)ctx;
	return "554 No SMTP service here";
}

static void
test_connect_hook_refusal_replaces_greeting_and_closes(void)
{
	struct smtpd_config cfg;

	unit_config(&cfg);
	cfg.hooks.on_connect = go_away;
	with(&cfg, "NOOP\r\n");
	CU_ASSERT_STRING_EQUAL(unit_greeting(), "554 No SMTP service here");
	CU_ASSERT_STRING_EQUAL(with(&cfg, "NOOP\r\n"), "");
}

static const char *
xping(struct smtpd_channel *ch, const char *arg, void *ctx)
{
	(void)ctx;
	return smtpd_channel_reply(ch, "250 PONG %s", arg);
}

/* with_commands - the replies to input, with n extra commands. */
static const char *
with_commands(const struct smtpd_command *cmds, size_t n, const char *input)
{
	struct smtpd_config cfg;

	unit_config(&cfg);
	cfg.commands = cmds;
	cfg.command_count = n;
	return with(&cfg, input);
}

static void
test_added_command_is_dispatched(void)
{
	static const struct smtpd_command cmds[] = {
		{ .name = "XPING", .run = xping },
	};
	struct smtpd_config cfg;

	unit_config(&cfg);
	cfg.commands = cmds;
	cfg.command_count = 1;
	CU_ASSERT_STRING_EQUAL(with(&cfg, "xping  hello \r\n"),
	    "250 PONG hello\r\n");
}

static void
test_added_command_needing_helo_is_503_before_helo(void)
{
	static const struct smtpd_command cmds[] = {
		{ .name = "XPING", .run = xping,
		  .flags = SMTPD_CMD_NEED_HELO },
	};

	CU_ASSERT_STRING_EQUAL(with_commands(cmds, 1,
	    "XPING a\r\n" HELO "XPING b\r\n"),
	    "503 Error: send HELO first\r\n" HELO_REPLY "250 PONG b\r\n");
}

static void
test_added_command_needing_mail_or_rcpt_is_503_as_built_ins(void)
{
	static const struct smtpd_command cmds[] = {
		{ .name = "XMAIL", .run = xping,
		  .flags = SMTPD_CMD_NEED_HELO | SMTPD_CMD_NEED_MAIL },
		{ .name = "XRCPT", .run = xping,
		  .flags = SMTPD_CMD_NEED_HELO | SMTPD_CMD_NEED_RCPT },
	};

	CU_ASSERT_STRING_EQUAL(with_commands(cmds, 2,
	    HELO "XMAIL x\r\nXRCPT y\r\n"
	    "MAIL FROM:<a@b>\r\nXMAIL x\r\nXRCPT y\r\n"
	    "RCPT TO:<c@d>\r\nXRCPT y\r\n"),
	    HELO_REPLY "503 Error: need MAIL command\r\n"
	    "503 Error: need RCPT command\r\n" OK "250 PONG x\r\n"
	    "503 Error: need RCPT command\r\n" OK "250 PONG y\r\n");
}

static void
test_added_command_without_argument_is_501_with_one(void)
{
	static const struct smtpd_command cmds[] = {
		{ .name = "XPING", .run = xping, .flags = SMTPD_CMD_NO_ARG },
	};

	CU_ASSERT_STRING_EQUAL(with_commands(cmds, 1, "XPING now\r\nXPING\r\n"),
	    "501 Syntax: XPING\r\n250 PONG \r\n");
}

static void
test_twenty_bad_commands_in_a_row_close_with_421(void)
{
	char in[20 * 6 + 16] = "";
	char expect[20 * 48 + 64] = "";

	for (int i = 0; i < 20; i++) {
		strcat(in, "FROB\r\n");
		strcat(expect, "500 Error: command \"FROB\" not recognized\r\n");
	}
	strcat(in, "NOOP\r\n");
	strcat(expect, "421 test.example Error: too many bad commands\r\n");
	EXPECT(in, expect);
}

static void
test_good_command_resets_the_bad_command_count(void)
{
	char in[40 * 6 + 16] = "";

	for (int i = 0; i < 40; i++)
		strcat(in, i % 10 == 9 ? "NOOP\r\n" : "FROB\r\n");
	strcat(in, "NOOP\r\n");
	unit_reset();
	const char *r = unit_replies(in);
	CU_ASSERT_PTR_NULL(strstr(r, "421"));
}

static void
test_http_request_closes_without_reply(void)
{
	EXPECT("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "");
}

static void
test_end_of_input_in_data_delivers_nothing(void)
{
	EXPECT(TX "DATA\r\npartial message\r\n", TX_OK GO_AHEAD);
	CU_ASSERT_EQUAL(delivered.count, 0);
}

#define T(f) { #f, f }

int
unit_add_channel_tests(void)
{
	static const struct unit_test tests[] = {
		T(test_greeting_is_220_fqdn_and_version),
		T(test_empty_line_is_500_bad_syntax),
		T(test_unknown_command_is_500_not_recognized),
		T(test_only_space_separates_the_command_name),
		T(test_command_names_are_case_insensitive),
		T(test_noop_with_argument_is_501),
		T(test_noop_with_only_spaces_is_250),
		T(test_quit_is_221_and_ends_the_session),
		T(test_lf_alone_does_not_end_a_command_line),
		T(test_nul_in_command_is_500_bad_syntax),
		T(test_peer_ip_is_written_as_inet_ntop_writes_it),
		T(test_helo_without_name_is_501),
		T(test_helo_replies_250_fqdn),
		T(test_ehlo_without_name_is_501),
		T(test_ehlo_lists_size_8bitmime_pipelining_help),
		T(test_ehlo_without_size_limit_has_no_size),
		T(test_ehlo_with_smtputf8_lists_it),
		T(test_ehlo_with_decode_data_has_no_8bitmime),
		T(test_ehlo_extra_keywords_are_listed),
		T(test_second_greeting_is_503_duplicate),
		T(test_mail_before_helo_is_503),
		T(test_mail_without_from_is_501),
		T(test_mail_syntax_error_after_ehlo_mentions_parameters),
		T(test_mail_address_forms_are_accepted),
		T(test_mail_unparseable_address_is_501_not_a_disconnect),
		T(test_nested_mail_is_503),
		T(test_mail_parameters_after_helo_are_501),
		T(test_mail_size_over_limit_is_552),
		T(test_mail_size_at_limit_is_250),
		T(test_mail_huge_size_is_552),
		T(test_mail_size_not_a_number_is_501),
		T(test_mail_bare_size_is_501),
		T(test_mail_body_8bitmime_and_7bit_are_250),
		T(test_mail_body_other_is_501),
		T(test_mail_smtputf8_is_555_when_not_enabled),
		T(test_mail_smtputf8_is_250_when_enabled),
		T(test_mail_smtputf8_with_value_is_501),
		T(test_mail_unknown_parameter_is_555),
		T(test_mail_parameter_without_value_after_equals_is_501),
		T(test_rcpt_before_helo_is_503),
		T(test_rcpt_before_mail_is_503),
		T(test_rcpt_without_to_is_501),
		T(test_rcpt_parameters_are_555),
		T(test_rcpt_over_max_recipients_is_452),
		T(test_recipients_reach_the_handler_in_order),
		T(test_rset_forgets_the_transaction),
		T(test_rset_keeps_the_greeting),
		T(test_rset_with_argument_is_501),
		T(test_help_lists_commands),
		T(test_help_mail_after_ehlo_mentions_parameters),
		T(test_help_unknown_topic_is_501),
		T(test_vrfy_address_is_252),
		T(test_vrfy_without_argument_is_501),
		T(test_vrfy_unparseable_is_502),
		T(test_expn_is_502),
		T(test_data_before_helo_is_503),
		T(test_data_before_rcpt_is_503),
		T(test_data_with_argument_is_501),
		T(test_data_is_dot_unstuffed_and_crlf_becomes_lf),
		T(test_data_keeps_an_empty_last_line),
		T(test_data_followed_by_dot_is_an_empty_message),
		T(test_bare_lf_dot_lf_is_message_text),
		T(test_cr_dot_cr_is_message_text),
		T(test_lf_dot_crlf_is_message_text),
		T(test_crlf_dot_lf_is_message_text),
		T(test_smuggled_transaction_stays_inside_one_message),
		T(test_data_over_size_limit_is_552_and_transaction_ends),
		T(test_data_exactly_at_size_limit_is_accepted),
		T(test_message_read_one_byte_at_a_time_arrives_intact),
		T(test_messages_pipelined_with_commands_arrive_whole_in_any_reads),
		T(test_handler_reply_is_sent_instead_of_250),
		T(test_transaction_ends_after_data),
		T(test_strict_newlines_rejects_bare_lf_with_550),
		T(test_mail_and_rcpt_options_reach_the_handler),
		T(test_decode_data_passes_no_options),
		T(test_decode_data_with_smtputf8_is_a_config_error),
		T(test_command_of_512_bytes_is_accepted),
		T(test_command_over_512_bytes_is_500_line_too_long),
		T(test_mail_may_be_26_longer_after_ehlo_with_size),
		T(test_long_line_without_a_space_is_500_line_too_long),
		T(test_ten_kilobyte_line_is_dropped_and_the_session_goes_on),
		T(test_pipelined_burst_is_answered_in_one_write),
		T(test_rcpt_hook_reply_reaches_the_client_and_rcpt_is_not_added),
		T(test_connect_hook_refusal_replaces_greeting_and_closes),
		T(test_added_command_is_dispatched),
		T(test_added_command_needing_helo_is_503_before_helo),
		T(test_added_command_needing_mail_or_rcpt_is_503_as_built_ins),
		T(test_added_command_without_argument_is_501_with_one),
		T(test_twenty_bad_commands_in_a_row_close_with_421),
		T(test_good_command_resets_the_bad_command_count),
		T(test_http_request_closes_without_reply),
		T(test_end_of_input_in_data_delivers_nothing),
	};
	return unit_add_suite("channel", tests, sizeof(tests) / sizeof(tests[0]));
}
