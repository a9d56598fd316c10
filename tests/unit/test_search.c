/* SPDX-License-Identifier: ISC */
/*
 * test_search.c - Mailpit's search language (web/search.c) on messages
 * parsed by web/mime.c: each prefix, plain words and phrases in the
 * subject, addresses and bodies (the HTML's text when there is no text
 * part), negation, AND, case, and the queries that are refused.
 */
#include "inbox_internal.h"
#include "web/mime.h"
#include "web/search.h"
#include "suite.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char plain_msg[] =
    "From: Ann Example <ann@example.com>\r\n"
    "To: Bob <bob@example.org>, carol@example.net\r\n"
    "Cc: Dave <dave@example.com>\r\n"
    "Reply-To: replies@example.com\r\n"
    "Subject: =?UTF-8?Q?Quarterly_r=C3=A9sum=C3=A9?= Report\r\n"
    "Message-ID: <abc.123@mail.example.com>\r\n"
    "\r\n"
    "Hello Bob,\r\nthe numbers are\r\nin the attached file.\r\n";

static const char html_msg[] =
    "From: news@example.com\r\n"
    "To: ann@example.com\r\n"
    "Subject: Newsletter\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<html><body><p>Big <b>summer</b> sale</p></body></html>\r\n"
    "--b1\r\n"
    "Content-Type: application/pdf\r\n"
    "Content-Disposition: attachment; filename=\"prices.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0xLjQK\r\n"
    "--b1--\r\n";

struct fixture {
	struct inbox_entry	 e;
	struct smtpd_message	 m;
	struct mime_message	*parsed;
};

/* fixture_make - an entry for data, with envelope recipients rcpts. */
static void
fixture_make(struct fixture *f, const char *data, const char *const *rcpts,
    size_t n)
{
	memset(f, 0, sizeof(*f));
	f->m.data = data;
	f->m.data_len = strlen(data);
	f->m.rcpttos = rcpts;
	f->m.rcpt_count = n;
	f->m.mailfrom = "ann@example.com";
	f->e.msg = &f->m;
	f->e.size = f->m.data_len;
	f->parsed = mime_parse(data, f->m.data_len);
}

/* q - whether query matches f (read flag as given); a query that does
 * not parse fails the test. */
static bool
q(const struct fixture *f, const char *query, bool read)
{
	char err[256] = "";
	struct search *s = search_parse(query, err, sizeof(err));
	bool r;

	if (s == NULL) {
		fprintf(stderr, "\n%s: %s\n", query, err);
		CU_FAIL("query did not parse");
		return false;
	}
	r = search_match(s, &f->e, f->parsed, read);
	search_free(s);
	return r;
}

static void
test_address_prefixes(void)
{
	static const char *rcpts[] = { "bob@example.org", "hidden@example.org" };
	struct fixture f;

	fixture_make(&f, plain_msg, rcpts, 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.parsed);
	CU_ASSERT(q(&f, "to:bob@example.org", false));
	CU_ASSERT(q(&f, "to:BOB", false));		/* the name, any case */
	CU_ASSERT(q(&f, "to:carol@example.net", false));
	CU_ASSERT(q(&f, "to:<carol@example.net>", false));
	CU_ASSERT(!q(&f, "to:dave@example.com", false));
	CU_ASSERT(q(&f, "from:ann@example.com", false));
	CU_ASSERT(q(&f, "from:\"Ann Example\"", false));
	CU_ASSERT(!q(&f, "from:bob", false));
	CU_ASSERT(q(&f, "cc:dave", false));
	CU_ASSERT(!q(&f, "cc:bob", false));
	CU_ASSERT(q(&f, "reply-to:replies@", false));
	/* bcc: the envelope recipients in no header */
	CU_ASSERT(q(&f, "bcc:hidden@example.org", false));
	CU_ASSERT(!q(&f, "bcc:bob@example.org", false));
	CU_ASSERT(q(&f, "addressed:hidden", false));
	CU_ASSERT(q(&f, "addressed:dave", false));
	mime_message_free(f.parsed);
}

static void
test_subject_message_id_and_flags(void)
{
	struct fixture f;

	fixture_make(&f, plain_msg, NULL, 0);
	CU_ASSERT(q(&f, "subject:quarterly", false));
	CU_ASSERT(q(&f, "subject:\"résumé report\"", false));	/* decoded */
	CU_ASSERT(q(&f, "SUBJECT:REPORT", false));
	CU_ASSERT(!q(&f, "subject:newsletter", false));
	CU_ASSERT(q(&f, "message-id:abc.123@mail.example.com", false));
	CU_ASSERT(q(&f, "message-id:<abc.123@mail.example.com>", false));
	CU_ASSERT(!q(&f, "message-id:xyz", false));
	CU_ASSERT(q(&f, "is:read", true));
	CU_ASSERT(!q(&f, "is:read", false));
	CU_ASSERT(q(&f, "is:unread", false));
	CU_ASSERT(!q(&f, "is:unread", true));
	CU_ASSERT(q(&f, "IS:UNREAD", false));
	CU_ASSERT(!q(&f, "has:attachment", false));
	CU_ASSERT(q(&f, "-has:attachment", false));
	CU_ASSERT(q(&f, "larger:10", false));
	CU_ASSERT(!q(&f, "larger:1k", false));
	CU_ASSERT(q(&f, "smaller:1kb", false));
	mime_message_free(f.parsed);
}

static void
test_plain_words_and_phrases(void)
{
	struct fixture f;

	fixture_make(&f, plain_msg, NULL, 0);
	CU_ASSERT(q(&f, "numbers", false));		/* text body */
	CU_ASSERT(q(&f, "NUMBERS", false));
	CU_ASSERT(q(&f, "quarterly", false));		/* subject */
	CU_ASSERT(q(&f, "carol@example.net", false));	/* an address */
	CU_ASSERT(q(&f, "\"numbers are in the\"", false));	/* across lines */
	CU_ASSERT(!q(&f, "\"numbers in\"", false));
	CU_ASSERT(!q(&f, "zebra", false));
	CU_ASSERT(q(&f, "", false));			/* matches all */
	CU_ASSERT(q(&f, "   ", false));
	CU_ASSERT(q(&f, "- ---", false));		/* no word: ignored */
	mime_message_free(f.parsed);
}

static void
test_html_text_attachment_and_inline(void)
{
	struct fixture f;

	fixture_make(&f, html_msg, NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.parsed);
	CU_ASSERT(q(&f, "\"summer sale\"", false));	/* the HTML's text */
	CU_ASSERT(!q(&f, "html", false));		/* not its tags */
	CU_ASSERT(q(&f, "has:attachment", false));
	CU_ASSERT(q(&f, "has:attachments", false));
	CU_ASSERT(q(&f, "prices.pdf", false));		/* a file name */
	CU_ASSERT(!q(&f, "has:inline", false));
	mime_message_free(f.parsed);
}

static void
test_negation_and_and(void)
{
	struct fixture f;

	fixture_make(&f, plain_msg, NULL, 0);
	CU_ASSERT(q(&f, "to:bob subject:report", false));
	CU_ASSERT(!q(&f, "to:bob subject:newsletter", false));
	CU_ASSERT(q(&f, "to:bob -subject:newsletter", false));
	CU_ASSERT(!q(&f, "-to:bob", false));
	CU_ASSERT(q(&f, "!from:news", false));
	CU_ASSERT(!q(&f, "-numbers", false));
	CU_ASSERT(q(&f, "-\"numbers in\"", false));
	CU_ASSERT(q(&f, "is:unread numbers -zebra", false));
	CU_ASSERT(!q(&f, "is:unread numbers -zebra", true));
	mime_message_free(f.parsed);
}

static void
test_bad_queries_are_refused_with_a_reason(void)
{
	char err[256] = "";
	char *big = malloc(5000);
	struct search *s;
	char many[1024] = "";

	memset(big, 'a', 4999);
	big[4999] = '\0';
	CU_ASSERT_PTR_NULL(search_parse(big, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "too long"));
	for (int i = 0; i < 70; i++)
		strcat(many, "w ");
	err[0] = '\0';
	CU_ASSERT_PTR_NULL(search_parse(many, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "too many terms"));
	/* an unclosed quote runs to the end, as in Mailpit */
	s = search_parse("subject:\"open quote", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(s);
	search_free(s);
	free(big);
}

static void
test_read_flags_need_no_parse(void)
{
	char err[64];
	struct search *a = search_parse("is:read -larger:1m", err, sizeof(err));
	struct search *b = search_parse("is:read to:x", err, sizeof(err));

	CU_ASSERT(!search_needs_parse(a));
	CU_ASSERT(search_needs_parse(b));
	CU_ASSERT(search_match(a, NULL, NULL, true));
	CU_ASSERT(!search_match(b, NULL, NULL, true));
	search_free(a);
	search_free(b);
}

int
unit_add_search_tests(void)
{
	static const struct unit_test tests[] = {
		{ "address prefixes", test_address_prefixes },
		{ "subject, message-id and flags",
		    test_subject_message_id_and_flags },
		{ "plain words and phrases", test_plain_words_and_phrases },
		{ "the HTML's text, attachments and inlines",
		    test_html_text_attachment_and_inline },
		{ "negation and AND", test_negation_and_and },
		{ "bad queries are refused with a reason",
		    test_bad_queries_are_refused_with_a_reason },
		{ "read flags need no parse", test_read_flags_need_no_parse },
	};

	return unit_add_suite("search", tests, sizeof(tests) / sizeof(tests[0]));
}
