/* SPDX-License-Identifier: ISC */
/*
 * test_mime.c - web/mime.c reads a message as Mailpit does (PartIDs, text
 * and HTML bodies, attachments and inlines, decoded headers and
 * addresses), and hostile input stays bounded.  Built only with WEB=yes.
 */
#include "compat.h"
#include "suite.h"
#include "web/mime.h"

#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* parse - mime_parse of a C string. */
static struct mime_message *
parse(const char *s)
{
	return mime_parse(s, strlen(s));
}

/* utf8_ok - is s valid UTF-8 (no NUL inside, by construction)? */
static bool
utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 :
		    (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;

		if (n < 0)
			return false;
		p++;
		for (int i = 0; i < n; i++, p++)
			if ((*p & 0xc0) != 0x80)
				return false;
	}
	return true;
}

/* now_ms - a monotonic clock in milliseconds. */
static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* What Python's EmailMessage writes for text + HTML with a cid: image,
 * and a PDF attached (boundaries shortened). */
static const char rich[] =
    "From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <j@example.com>\r\n"
    "To: Ann <ann@example.org>, b@example.org\r\n"
    "Cc: Group: c1@example.org, \"C Two\" <c2@example.org>;\r\n"
    "Reply-To: r@example.org\r\n"
    "Return-Path: <bounce@example.com>\r\n"
    "Subject: =?utf-8?b?R3LDvMOfZQ==?= and\r\n =?utf-8?q?more?=\r\n"
    "Message-ID: <abc.123@example.com>\r\n"
    "Date: Tue, 08 Dec 2026 01:02:03 +0000\r\n"
    "List-Unsubscribe: <mailto:u@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"A\"\r\n"
    "\r\n"
    "--A\r\n"
    "Content-Type: multipart/alternative; boundary=\"B\"\r\n"
    "\r\n"
    "--B\r\n"
    "Content-Type: text/plain; charset=\"iso-8859-1\"\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "H=E4llo w=F6rld\r\n"
    "--B\r\n"
    "Content-Type: multipart/related; boundary=\"C\"\r\n"
    "\r\n"
    "--C\r\n"
    "Content-Type: text/html; charset=\"utf-8\"\r\n"
    "\r\n"
    "<p>H\xc3\xa4llo <img src=\"cid:logo@x\"></p>\r\n"
    "--C\r\n"
    "Content-Type: image/png\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-ID: <logo@x>\r\n"
    "\r\n"
    "iVBORw0KGgo=\r\n"
    "--C--\r\n"
    "--B--\r\n"
    "--A\r\n"
    "Content-Type: application/pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment;\r\n"
    " filename*=utf-8''R%C3%A9sum%C3%A9.pdf\r\n"
    "\r\n"
    "JVBERi0xLjQ=\r\n"
    "--A--\r\n";

static void
test_rich_message_fields_are_decoded(void)
{
	struct mime_message *m = parse(rich);

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_STRING_EQUAL(m->subject, "Gr\xc3\xbc\xc3\x9f" "e and more");
	CU_ASSERT_STRING_EQUAL(m->message_id, "abc.123@example.com");
	CU_ASSERT_STRING_EQUAL(m->date, "Tue, 08 Dec 2026 01:02:03 +0000");
	CU_ASSERT_EQUAL(m->date_time, (time_t)1796691723);
	CU_ASSERT_FATAL(m->from != NULL);
	CU_ASSERT_STRING_EQUAL(m->from->name, "J\xc3\xbcrgen M\xc3\xbcller");
	CU_ASSERT_STRING_EQUAL(m->from->address, "j@example.com");
	CU_ASSERT_EQUAL_FATAL(m->nto, 2);
	CU_ASSERT_STRING_EQUAL(m->to[0].name, "Ann");
	CU_ASSERT_STRING_EQUAL(m->to[1].address, "b@example.org");
	CU_ASSERT_STRING_EQUAL(m->to[1].name, "");
	CU_ASSERT_EQUAL_FATAL(m->ncc, 2);	/* the group's members */
	CU_ASSERT_STRING_EQUAL(m->cc[1].name, "C Two");
	CU_ASSERT_EQUAL(m->nbcc, 0);
	CU_ASSERT_EQUAL_FATAL(m->nreply_to, 1);
	CU_ASSERT_STRING_EQUAL(m->return_path, "bounce@example.com");
	CU_ASSERT_STRING_EQUAL(m->list_unsubscribe, "<mailto:u@example.com>");
	CU_ASSERT_STRING_EQUAL(m->text, "H\xc3\xa4llo w\xc3\xb6rld");
	CU_ASSERT_STRING_EQUAL(m->html,
	    "<p>H\xc3\xa4llo <img src=\"cid:logo@x\"></p>");
	CU_ASSERT_FALSE(m->truncated);
	mime_message_free(m);
}

static void
test_part_ids_and_lists_are_mailpits(void)
{
	struct mime_message *m = parse(rich);

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_EQUAL_FATAL(m->nattachments, 1);
	CU_ASSERT_STRING_EQUAL(m->attachments[0].part_id, "2");
	CU_ASSERT_STRING_EQUAL(m->attachments[0].filename,
	    "R\xc3\xa9sum\xc3\xa9.pdf");
	CU_ASSERT_STRING_EQUAL(m->attachments[0].content_type,
	    "application/pdf");
	CU_ASSERT_EQUAL(m->attachments[0].size, 8);
	CU_ASSERT_EQUAL_FATAL(m->ninlines, 1);
	CU_ASSERT_STRING_EQUAL(m->inlines[0].part_id, "1.2.2");
	CU_ASSERT_STRING_EQUAL(m->inlines[0].content_id, "logo@x");
	/* no file name: Mailpit names it by its Content-ID */
	CU_ASSERT_STRING_EQUAL(m->inlines[0].filename, "logo@x");
	CU_ASSERT_STRING_EQUAL(m->inlines[0].content_type, "image/png");
	CU_ASSERT_EQUAL(m->inlines[0].size, 8);
	mime_message_free(m);
}

static void
test_headers_keep_order_and_are_decoded(void)
{
	struct mime_message *m = parse(rich);

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_EQUAL_FATAL(m->nheaders, 11);
	CU_ASSERT_STRING_EQUAL(m->headers[0].name, "From");
	CU_ASSERT_STRING_EQUAL(m->headers[5].name, "Subject");
	CU_ASSERT_STRING_EQUAL(m->headers[5].value,
	    "Gr\xc3\xbc\xc3\x9f" "e and more");
	CU_ASSERT_STRING_EQUAL(m->headers[10].name, "Content-Type");
	mime_message_free(m);
}

static void
test_part_get_gives_decoded_bytes(void)
{
	char *bytes, *ct, *fn;
	size_t n;

	CU_ASSERT_EQUAL_FATAL(mime_part_get(rich, strlen(rich), "2", &bytes,
	    &n, &ct, &fn), 0);
	CU_ASSERT_EQUAL(n, 8);
	CU_ASSERT(memcmp(bytes, "%PDF-1.4", 8) == 0);
	CU_ASSERT_STRING_EQUAL(ct, "application/pdf");
	CU_ASSERT_STRING_EQUAL(fn, "R\xc3\xa9sum\xc3\xa9.pdf");
	free(bytes);
	free(ct);
	free(fn);
	CU_ASSERT_EQUAL(mime_part_get(rich, strlen(rich), "9", &bytes, &n,
	    &ct, &fn), -1);
	CU_ASSERT_EQUAL(mime_part_get(rich, strlen(rich), "1", &bytes, &n,
	    &ct, &fn), -1);	/* a multipart has no bytes of its own */
}

static void
test_html_cids_become_data_urls(void)
{
	struct mime_message *m = parse(rich);
	char *h;

	CU_ASSERT_FATAL(m != NULL);
	h = mime_html_with_cids(rich, strlen(rich), m);
	CU_ASSERT_FATAL(h != NULL);
	CU_ASSERT_STRING_EQUAL(h, "<p>H\xc3\xa4llo <img src=\""
	    "data:image/png;base64,iVBORw0KGgo=\"></p>");
	free(h);
	mime_message_free(m);
}

static void
test_mixed_text_parts_are_joined(void)
{
	struct mime_message *m = parse(
	    "Content-Type: multipart/mixed; boundary=x\r\n\r\n"
	    "--x\r\nContent-Type: text/plain\r\n\r\none\r\n"
	    "--x\r\nContent-Type: text/plain\r\n"
	    "Content-Disposition: attachment; filename=a.txt\r\n\r\nfile\r\n"
	    "--x\r\n\r\ntwo\r\n--x--\r\n");

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_STRING_EQUAL(m->text, "one\n--\ntwo");
	CU_ASSERT_EQUAL_FATAL(m->nattachments, 1);
	CU_ASSERT_STRING_EQUAL(m->attachments[0].part_id, "2");
	CU_ASSERT_STRING_EQUAL(m->attachments[0].filename, "a.txt");
	mime_message_free(m);
}

static void
test_single_part_attachment_is_part_0(void)
{
	struct mime_message *m = parse(
	    "Subject: x\r\nContent-Type: application/zip; name=\"a.zip\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n");

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_STRING_EQUAL(m->text, "");
	CU_ASSERT_EQUAL_FATAL(m->nattachments, 1);
	CU_ASSERT_STRING_EQUAL(m->attachments[0].part_id, "0");
	CU_ASSERT_STRING_EQUAL(m->attachments[0].filename, "a.zip");
	CU_ASSERT_EQUAL(m->attachments[0].size, 4);
	mime_message_free(m);
}

static void
test_plain_message_and_no_headers(void)
{
	struct mime_message *m = parse("Subject: hi\r\n\r\nbody\r\n");

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_STRING_EQUAL(m->subject, "hi");
	CU_ASSERT_STRING_EQUAL(m->text, "body\r\n");
	CU_ASSERT_PTR_NULL(m->from);
	CU_ASSERT_EQUAL(m->date_time, 0);
	mime_message_free(m);
	m = mime_parse("", 0);
	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_STRING_EQUAL(m->subject, "");
	mime_message_free(m);
	m = mime_parse(NULL, 0);
	CU_ASSERT_FATAL(m != NULL);
	mime_message_free(m);
}

static void
test_invalid_utf8_and_nuls_are_replaced(void)
{
	static const char raw[] =
	    "Subject: bad \xff\xfe here\r\n"
	    "From: \"N\xc3\x28\" <x@example.com>\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
	    "a\0b \xc0\xaf c\r\n";
	struct mime_message *m = mime_parse(raw, sizeof(raw) - 1);

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT(utf8_ok(m->subject));
	CU_ASSERT(strstr(m->subject, "bad") != NULL);
	CU_ASSERT(strstr(m->subject, "here") != NULL);
	CU_ASSERT_FATAL(m->from != NULL);
	CU_ASSERT(utf8_ok(m->from->name));
	CU_ASSERT(utf8_ok(m->text));
	/* the NUL did not cut the text: what follows it is there */
	CU_ASSERT(strstr(m->text, "\xef\xbf\xbd" "b") != NULL);
	CU_ASSERT(strstr(m->text, " c") != NULL);
	mime_message_free(m);
}

static void
test_declared_utf8_replaces_only_bad_bytes(void)
{
	struct mime_message *m = parse(
	    "Content-Type: text/plain; charset=UTF-8\r\n\r\n"
	    "gr\xc3\xbc\xc3\x9f \xff end\r\n");

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_STRING_EQUAL(m->text, "gr\xc3\xbc\xc3\x9f \xef\xbf\xbd end\r\n");
	mime_message_free(m);
}

static void
test_unknown_charset_still_gives_utf8(void)
{
	struct mime_message *m = parse(
	    "Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
	    "caf\xe9\r\n");

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT(utf8_ok(m->text));
	CU_ASSERT(strncmp(m->text, "caf", 3) == 0);
	mime_message_free(m);
}

static void
test_hostile_filename_stays_one_line(void)
{
	struct mime_message *m = parse(
	    "Content-Type: multipart/mixed; boundary=x\r\n\r\n"
	    "--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
	    "--x\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Disposition: attachment; filename*=utf-8''"
	    "..%2F..%2Fetc%2F%22pass%0D%0Awd%22\r\n\r\nzz\r\n--x--\r\n");

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_EQUAL_FATAL(m->nattachments, 1);
	CU_ASSERT_PTR_NULL(strchr(m->attachments[0].filename, '\r'));
	CU_ASSERT_PTR_NULL(strchr(m->attachments[0].filename, '\n'));
	CU_ASSERT(strstr(m->attachments[0].filename, "../") != NULL);
	CU_ASSERT(strchr(m->attachments[0].filename, '"') != NULL);
	mime_message_free(m);
}

/* repeat - s n times, malloc'd, with head before and tail after. */
static char *
repeat(const char *head, const char *s, size_t n, const char *tail,
    size_t *len)
{
	size_t a = strlen(head), b = strlen(s), c = strlen(tail);
	char *o = malloc(a + b * n + c + 1), *w = o;

	CU_ASSERT_FATAL(o != NULL);
	memcpy(w, head, a);
	w += a;
	for (size_t i = 0; i < n; i++, w += b)
		memcpy(w, s, b);
	memcpy(w, tail, c + 1);
	*len = a + b * n + c;
	return o;
}

static void
test_ten_thousand_parts_are_bounded(void)
{
	size_t len;
	char *raw = repeat("Content-Type: multipart/mixed; boundary=x\r\n\r\n",
	    "--x\r\nContent-Type: image/gif\r\n"
	    "Content-Disposition: attachment; filename=a.gif\r\n\r\nGIF\r\n",
	    10000, "--x--\r\n", &len);
	double t0 = now_ms();
	struct mime_message *m = mime_parse(raw, len);

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT(m->truncated);
	CU_ASSERT(m->nattachments > 0);
	CU_ASSERT(m->nattachments <= MIME_MAX_PARTS);
	CU_ASSERT(now_ms() - t0 < 5000);
	mime_message_free(m);
	free(raw);
}

static void
test_deep_nesting_is_bounded(void)
{
	size_t len;
	/* every level opens a multipart whose boundary is "b" + depth: the
	 * same boundary at each level is as good for GMime's recursion */
	char *raw = repeat("Content-Type: multipart/mixed; boundary=b\r\n\r\n",
	    "--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n",
	    100000, "--b\r\n\r\ntext\r\n", &len);
	double t0 = now_ms();
	struct mime_message *m = mime_parse(raw, len);

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT(m->truncated);
	CU_ASSERT(now_ms() - t0 < 5000);
	mime_message_free(m);
	free(raw);
}

static void
test_huge_header_is_bounded(void)
{
	size_t len;
	char *raw = repeat("X-Big: ", "aaaaaaaaa ", 3 * 1000 * 1000,
	    "\r\nSubject: after\r\n\r\nbody\r\n", &len);
	double t0 = now_ms();
	struct mime_message *m = mime_parse(raw, len);

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT(m->truncated);	/* the 30 MB header is cut */
	CU_ASSERT_STRING_EQUAL(m->subject, "after");
	CU_ASSERT_EQUAL_FATAL(m->nheaders, 2);
	CU_ASSERT_STRING_EQUAL(m->headers[0].name, "X-Big");
	CU_ASSERT(strlen(m->headers[0].value) <= 256 * 1024);
	/* the headers after it are kept */
	CU_ASSERT_STRING_EQUAL(m->headers[1].name, "Subject");
	CU_ASSERT_STRING_EQUAL(m->text, "body\r\n");
	CU_ASSERT(now_ms() - t0 < 5000);
	mime_message_free(m);
	free(raw);
}

static void
test_millions_of_header_fields_are_bounded(void)
{
	size_t len;
	char *raw = repeat("Subject: many\r\n", "X: y\r\n", 3 * 1000 * 1000,
	    "\r\nbody\r\n", &len);
	double t0 = now_ms();
	struct mime_message *m = mime_parse(raw, len);

	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT(m->truncated);
	CU_ASSERT_STRING_EQUAL(m->subject, "many");
	CU_ASSERT(m->nheaders <= 1000);
	CU_ASSERT_STRING_EQUAL(m->text, "body\r\n");
	CU_ASSERT(now_ms() - t0 < 5000);
	mime_message_free(m);
	free(raw);
}

static void
test_snippet_folds_and_cuts(void)
{
	struct mime_message m = { .text = "  one\r\n\ttwo   three  ",
	    .html = "" };
	char *s = mime_snippet(&m, 200);

	CU_ASSERT_STRING_EQUAL(s, "one two three");
	free(s);
	s = mime_snippet(&m, 5);
	CU_ASSERT_STRING_EQUAL(s, "one t...");
	free(s);
	/* Mailpit's: the HTML's text when there is HTML */
	m.html = "<html><head><title>T</title><style>p{}</style></head>"
	    "<body><p>Hi&nbsp;&amp; <b>bye</b></p><p>x&#233;</p></body></html>";
	s = mime_snippet(&m, 200);
	CU_ASSERT_STRING_EQUAL(s, "Hi & bye x\xc3\xa9");
	free(s);
}

static void
test_html_to_text_skips_scripts(void)
{
	char *s = mime_html_to_text("<script>alert(1)</script>a<br>b"
	    "<!-- c -->d&lt;e&gt;&#x41;&bogus;");

	CU_ASSERT_STRING_EQUAL(s, "a bd<e>A&bogus;");
	free(s);
	s = mime_html_to_text("<p unterminated");
	CU_ASSERT_STRING_EQUAL(s, "");
	free(s);
	s = mime_html_to_text("1 < 2 <b>and</b> 3 > 2");
	CU_ASSERT_STRING_EQUAL(s, "1 < 2 and 3 > 2");
	free(s);
}

/* parse_many - a thread's share of the concurrent parses. */
static void *
parse_many(void *arg)
{
	long ok = 0;

	(void)arg;
	for (int i = 0; i < 50; i++) {
		struct mime_message *m = parse(rich);

		ok += m && m->nattachments == 1 && m->ninlines == 1 &&
		    strcmp(m->text, "H\xc3\xa4llo w\xc3\xb6rld") == 0;
		mime_message_free(m);
	}
	return (void *)ok;
}

static void
test_parses_from_many_threads(void)
{
	pthread_t th[8];
	long total = 0;

	for (int i = 0; i < 8; i++)
		CU_ASSERT_FATAL(pthread_create(&th[i], NULL, parse_many, NULL)
		    == 0);
	for (int i = 0; i < 8; i++) {
		void *r;

		pthread_join(th[i], &r);
		total += (long)r;
	}
	CU_ASSERT_EQUAL(total, 8 * 50);
}

int	unit_add_mime_tests(void);

int
unit_add_mime_tests(void)
{
	static const struct unit_test tests[] = {
		{ "rich message fields are decoded",
		    test_rich_message_fields_are_decoded },
		{ "part IDs and lists are Mailpit's",
		    test_part_ids_and_lists_are_mailpits },
		{ "headers keep order and are decoded",
		    test_headers_keep_order_and_are_decoded },
		{ "part get gives decoded bytes",
		    test_part_get_gives_decoded_bytes },
		{ "html cids become data URLs",
		    test_html_cids_become_data_urls },
		{ "mixed text parts are joined",
		    test_mixed_text_parts_are_joined },
		{ "single-part attachment is part 0",
		    test_single_part_attachment_is_part_0 },
		{ "plain message and no headers",
		    test_plain_message_and_no_headers },
		{ "invalid UTF-8 and NULs are replaced",
		    test_invalid_utf8_and_nuls_are_replaced },
		{ "declared UTF-8 replaces only bad bytes",
		    test_declared_utf8_replaces_only_bad_bytes },
		{ "unknown charset still gives UTF-8",
		    test_unknown_charset_still_gives_utf8 },
		{ "hostile filename stays one line",
		    test_hostile_filename_stays_one_line },
		{ "ten thousand parts are bounded",
		    test_ten_thousand_parts_are_bounded },
		{ "deep nesting is bounded", test_deep_nesting_is_bounded },
		{ "huge header is bounded", test_huge_header_is_bounded },
		{ "millions of header fields are bounded",
		    test_millions_of_header_fields_are_bounded },
		{ "snippet folds and cuts", test_snippet_folds_and_cuts },
		{ "html to text skips scripts",
		    test_html_to_text_skips_scripts },
		{ "parses from many threads", test_parses_from_many_threads },
	};

	return unit_add_suite("mime", tests, sizeof(tests) / sizeof(tests[0]));
}
