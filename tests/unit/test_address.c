/* SPDX-License-Identifier: ISC */
/*
 * test_address.c - the address and parameter parser (address.c) alone:
 * the forms of RFC 5321 section 4.1.2 and those Python's smtpd takes
 * through SMTPChannel._getaddr (email._header_value_parser), as the
 * parser takes them today.  Where we differ from Python, the test says so.
 */
#include "address.h"
#include "suite.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

static char out[1024];
static char *rest;

/*
 * The forms, by the test that checks them.  A row: the argument, the
 * address it parses to (NULL: refused) and what is left after it.
 */
enum {
	ANGLE, NULL_PATH, ROUTE, BAD_ROUTE, QUOTED, QUOTED_ATEXT, OPEN_QUOTE,
	EMPTY_LOCAL, LITERAL, OPEN_LITERAL, NO_BRACKETS, LEADING_SPACE,
	LOCAL_ONLY, LOOSE_DOTS, BAD_DOMAIN, JUNK, SPACE_IN_LOCAL, UTF8
};

struct form {
	int		 group;
	const char	*arg, *address, *rest;
};

static const struct form forms[] = {
	/* RFC 5321 section 4.1.2: Path, Mailbox, Local-part, Domain. */
	{ ANGLE, "<a@b.example>", "a@b.example", "" },
	{ ANGLE, "<user.name+tag@sub.b-c.example>",
	    "user.name+tag@sub.b-c.example", "" },
	{ NULL_PATH, "<>", "<>", "" },
	{ NULL_PATH, "<> SIZE=10", "<>", " SIZE=10" },
	{ ROUTE, "<@a.example:x@y.example>", "x@y.example", "" },
	{ ROUTE, "<@a,@b:x@y>", "x@y", "" },
	{ ROUTE, "<@[1.2.3.4],@b:x@y>", "x@y", "" },
	{ BAD_ROUTE, "<@a>", NULL, NULL },
	{ BAD_ROUTE, "<@a,b:x@y>", NULL, NULL },
	{ BAD_ROUTE, "<@a x@y>", NULL, NULL },
	{ BAD_ROUTE, "<@:x@y>", NULL, NULL },
	{ QUOTED, "<\"a b\"@c>", "\"a b\"@c", "" },
	{ QUOTED, "<\"a\\\"b\"@c>", "\"a\\\"b\"@c", "" },
	{ QUOTED, "<\"a\\\\b\"@c>", "\"a\\\\b\"@c", "" },
	{ QUOTED, "<\"a@b\"@c>", "\"a@b\"@c", "" },
	{ QUOTED_ATEXT, "<\"ab\"@c>", "ab@c", "" },
	{ QUOTED_ATEXT, "\"a\".\"b\"@c", "a.b@c", "" },
	{ OPEN_QUOTE, "<\"ab@c>", NULL, NULL },
	{ OPEN_QUOTE, "<\"ab\\", NULL, NULL },
	/* Python takes '<""@b>' as '""@b'; we have always refused it. */
	{ EMPTY_LOCAL, "<\"\"@b>", NULL, NULL },
	{ EMPTY_LOCAL, "<@>", NULL, NULL },
	{ EMPTY_LOCAL, "", NULL, NULL },
	{ EMPTY_LOCAL, "   ", NULL, NULL },
	{ LITERAL, "<a@[1.2.3.4]>", "a@[1.2.3.4]", "" },
	{ LITERAL, "<a@[IPv6:::1]>", "a@[IPv6:::1]", "" },
	{ LITERAL, "<a@[IPv6:2001:db8::1]> SIZE=1", "a@[IPv6:2001:db8::1]",
	    "SIZE=1" },
		{ OPEN_LITERAL, "<a@[1.2>", NULL, NULL },

	/* Python's looser forms. */
	{ NO_BRACKETS, "a@b", "a@b", "" },
	{ NO_BRACKETS, "a@b SIZE=10", "a@b", "SIZE=10" },
	{ NO_BRACKETS, "<a@b", "a@b", "" },
	{ NO_BRACKETS, "a@b>", "a@b", ">" },
	{ LEADING_SPACE, "  \t<a@b>", "a@b", "" },
	{ LOCAL_ONLY, "<a>", "a", "" },
	{ LOCAL_ONLY, "postmaster", "postmaster", "" },
	{ LOOSE_DOTS, "<a.@b>", "a.@b", "" },
	{ LOOSE_DOTS, "<.a@b>", ".a@b", "" },
	{ LOOSE_DOTS, "<a..b@c>", "a..b@c", "" },
	{ BAD_DOMAIN, "<a@b.>", NULL, NULL },
	{ BAD_DOMAIN, "<a@.b>", NULL, NULL },
	{ BAD_DOMAIN, "<a@b@c>", NULL, NULL },
	{ BAD_DOMAIN, "<a@>", NULL, NULL },
	{ BAD_DOMAIN, "<@b>", NULL, NULL },
	{ JUNK, "<a@b>junk", "a@b", "junk" },
	{ JUNK, "<a@b,c>", "a@b", ",c>" },
	{ JUNK, "<a@b.c>  x", "a@b.c", "x" },
	/* Python reads 'a b@c' as '"a b"@c' (white space folded into a
	 * quoted local part); we stop at the space and leave the rest, which
	 * the channel refuses as a syntax error. */
	{ SPACE_IN_LOCAL, "<a b@c>", "a", "b@c>" },
	{ UTF8, "<j\xc3\xb6rg@b\xc3\xbc" "cher.example>",
	    "j\xc3\xb6rg@b\xc3\xbc" "cher.example", "" },
};

/* check_forms - every form of the group parses as its row says. */
static void
check_forms(int group)
{
	char buf[1024];

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		const struct form *f = &forms[i];
		bool ok;

		if (f->group != group)
			continue;
		snprintf(buf, sizeof(buf), "%s", f->arg);
		memset(out, 'X', sizeof(out));
		ok = address_parse(buf, out, sizeof(out), &rest);
		if (f->address == NULL) {
			CU_ASSERT_FALSE(ok);
			continue;
		}
		CU_ASSERT_TRUE_FATAL(ok);
		CU_ASSERT_STRING_EQUAL(out, f->address);
		CU_ASSERT_STRING_EQUAL(rest, f->rest);
	}
}

static void
test_angle_path_is_the_mailbox(void)
{
	check_forms(ANGLE);
}

static void
test_null_reverse_path_is_angle_brackets(void)
{
	check_forms(NULL_PATH);
}

static void
test_source_route_is_skipped(void)
{
	check_forms(ROUTE);
}

static void
test_bad_source_route_is_refused(void)
{
	check_forms(BAD_ROUTE);
}

static void
test_quoted_local_part_stays_quoted_when_it_needs_to(void)
{
	check_forms(QUOTED);
}

static void
test_quoted_local_part_of_atext_is_unquoted(void)
{
	check_forms(QUOTED_ATEXT);
}

static void
test_open_quote_is_refused(void)
{
	check_forms(OPEN_QUOTE);
}

static void
test_empty_local_part_is_refused(void)
{
	check_forms(EMPTY_LOCAL);
}

static void
test_address_literals_are_taken_whole(void)
{
	check_forms(LITERAL);
}

static void
test_unclosed_address_literal_is_refused(void)
{
	check_forms(OPEN_LITERAL);
}

static void
test_missing_brackets_are_accepted(void)
{
	check_forms(NO_BRACKETS);
}

static void
test_leading_white_space_is_skipped(void)
{
	check_forms(LEADING_SPACE);
}

static void
test_local_part_alone_is_an_address(void)
{
	check_forms(LOCAL_ONLY);
}

static void
test_loose_dots_in_the_local_part_are_accepted(void)
{
	check_forms(LOOSE_DOTS);
}

static void
test_bad_domains_are_refused(void)
{
	check_forms(BAD_DOMAIN);
}

static void
test_trailing_junk_is_left_for_the_caller(void)
{
	check_forms(JUNK);
}

static void
test_space_in_an_unquoted_local_part_ends_the_address(void)
{
	check_forms(SPACE_IN_LOCAL);
}

static void
test_utf8_local_part_and_domain_are_accepted(void)
{
	check_forms(UTF8);
}

static void
test_address_that_does_not_fit_is_refused(void)
{
	char small[4];
	char arg[] = "<abcd@e>";

	CU_ASSERT_FALSE(address_parse(arg, small, sizeof(small), &rest));
	CU_ASSERT_TRUE(address_parse(arg, out, 7, &rest));
	CU_ASSERT_STRING_EQUAL(out, "abcd@e");
}

/* ---- keywords and white space -------------------------------------- */

static void
test_keyword_is_matched_in_any_case_and_the_rest_stripped(void)
{
	char a[] = "from:  <a@b>  ";
	char b[] = "FROM <a@b>";

	CU_ASSERT_STRING_EQUAL(address_after_keyword(a, "FROM:"), "<a@b>");
	CU_ASSERT_PTR_NULL(address_after_keyword(b, "FROM:"));
}

static void
test_strip_removes_what_python_strip_removes(void)
{
	char a[] = " \t\x0b\x0c\r\n\x1c x \x1f";

	CU_ASSERT_STRING_EQUAL(address_strip(a), "x");
}

/* ---- MAIL and RCPT parameters -------------------------------------- */

static void
test_params_are_upper_cased_words(void)
{
	struct params p = { 0 };

	CU_ASSERT_TRUE_FATAL(params_set(&p, "  size=10\tbody=8bitmime "));
	CU_ASSERT_EQUAL_FATAL(p.count, 2);
	CU_ASSERT_STRING_EQUAL(p.item[0], "SIZE=10");
	CU_ASSERT_STRING_EQUAL(p.item[1], "BODY=8BITMIME");
	CU_ASSERT_TRUE(params_set(&p, ""));
	CU_ASSERT_EQUAL(p.count, 0);
	params_clear(&p);
}

static void
test_size_body_and_smtputf8_are_found(void)
{
	struct params p = { 0 };
	size_t i = 99;

	CU_ASSERT_TRUE_FATAL(params_set(&p, "SIZE=100 BODY=7BIT SMTPUTF8"));
	CU_ASSERT_TRUE(params_valid(&p));
	CU_ASSERT_STRING_EQUAL(params_find(&p, "SIZE", NULL), "100");
	CU_ASSERT_STRING_EQUAL(params_find(&p, "BODY", &i), "7BIT");
	CU_ASSERT_EQUAL(i, 1);
	CU_ASSERT_STRING_EQUAL(params_find(&p, "SMTPUTF8", NULL), "");
	CU_ASSERT_PTR_NULL(params_find(&p, "SIZ", NULL));
	CU_ASSERT_PTR_NULL(params_find(&p, "AUTH", NULL));
	params_clear(&p);
}

static void
test_a_later_parameter_wins_as_in_a_python_dict(void)
{
	struct params p = { 0 };
	size_t i;

	CU_ASSERT_TRUE_FATAL(params_set(&p, "SIZE=1 SIZE=2"));
	CU_ASSERT_STRING_EQUAL(params_find(&p, "SIZE", &i), "2");
	CU_ASSERT_EQUAL(i, 1);
	params_clear(&p);
}

static void
test_bad_param_syntax_is_invalid(void)
{
	static const char *const bad[] = {
		"=1", "SIZE=", "SI-ZE=1", "SIZE=1 =", "A_B", "<A@B>",
	};
	struct params p = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_TRUE_FATAL(params_set(&p, bad[i]));
		CU_ASSERT_FALSE(params_valid(&p));
	}
	params_clear(&p);
}

static void
test_good_param_syntax_is_valid(void)
{
	static const char *const good[] = {
		"", "SIZE=1", "X", "XA1=B=C", "SIZE=1 BODY=8BITMIME SMTPUTF8",
		"K\xc3\xa9Y=1",
	};
	struct params p = { 0 };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CU_ASSERT_TRUE_FATAL(params_set(&p, good[i]));
		CU_ASSERT_TRUE(params_valid(&p));
	}
	params_clear(&p);
}

static void
test_unknown_parameter_is_other(void)
{
	static const char *const known[] = { "BODY", "SIZE", NULL };
	struct params p = { 0 };

	CU_ASSERT_TRUE_FATAL(params_set(&p, "SIZE=1 BODY=7BIT"));
	CU_ASSERT_FALSE(params_other(&p, known));
	CU_ASSERT_TRUE_FATAL(params_set(&p, "SIZE=1 SMTPUTF8"));
	CU_ASSERT_TRUE(params_other(&p, known));
	CU_ASSERT_TRUE_FATAL(params_set(&p, "SIZES=1"));
	CU_ASSERT_TRUE(params_other(&p, known));
	params_clear(&p);
}

int	unit_add_address_tests(void);

int
unit_add_address_tests(void)
{
#define T(f) { #f, f }
	static const struct unit_test tests[] = {
		T(test_angle_path_is_the_mailbox),
		T(test_null_reverse_path_is_angle_brackets),
		T(test_source_route_is_skipped),
		T(test_bad_source_route_is_refused),
		T(test_quoted_local_part_stays_quoted_when_it_needs_to),
		T(test_quoted_local_part_of_atext_is_unquoted),
		T(test_open_quote_is_refused),
		T(test_empty_local_part_is_refused),
		T(test_address_literals_are_taken_whole),
		T(test_unclosed_address_literal_is_refused),
		T(test_missing_brackets_are_accepted),
		T(test_leading_white_space_is_skipped),
		T(test_local_part_alone_is_an_address),
		T(test_loose_dots_in_the_local_part_are_accepted),
		T(test_bad_domains_are_refused),
		T(test_trailing_junk_is_left_for_the_caller),
		T(test_space_in_an_unquoted_local_part_ends_the_address),
		T(test_utf8_local_part_and_domain_are_accepted),
		T(test_address_that_does_not_fit_is_refused),
		T(test_keyword_is_matched_in_any_case_and_the_rest_stripped),
		T(test_strip_removes_what_python_strip_removes),
		T(test_params_are_upper_cased_words),
		T(test_size_body_and_smtputf8_are_found),
		T(test_a_later_parameter_wins_as_in_a_python_dict),
		T(test_bad_param_syntax_is_invalid),
		T(test_good_param_syntax_is_valid),
		T(test_unknown_parameter_is_other),
	};
#undef T
	return unit_add_suite("address", tests, sizeof(tests) / sizeof(tests[0]));
}
