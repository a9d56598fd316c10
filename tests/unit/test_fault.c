/* SPDX-License-Identifier: ISC */
/*
 * test_fault.c - the fault rules (fault.c) alone: every rule form of the
 * documentation, the mistakes a user makes and what they are told, the
 * counters, seeded probabilities, the triggers, the fault file, swapping
 * a set while it is used, and the rate limiter; then a few sessions in
 * memory (unit.h) for what the channel does with them.
 */
#define _GNU_SOURCE
#include "fault.h"
#include "unit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* make_set - a seeded set of the given rules, or NULL (err says why). */
static struct fault_set *
make_set(const char *const *rules, size_t n, bool triggers, char *err,
    size_t errsz)
{
	struct fault_options o = { rules, n, NULL, 42, true, triggers, false };
	struct fault_set *fs;

	if (fault_set_new(&o, &fs, err, errsz) != 0)
		return NULL;
	return fs;
}

/* one_rule - a set of one rule that must parse. */
static struct fault_set *
one_rule(const char *rule)
{
	char err[512] = "";
	struct fault_set *fs = make_set(&rule, 1, false, err, sizeof(err));

	if (fs == NULL)
		fprintf(stderr, "\n%s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	return fs;
}

/* check - the action at a stage, as a string: "none", "drop",
 * "reply 550 ...", "delay 2000" or "delay 2000, 451 ...". */
static const char *
check(struct fault_set *fs, enum fault_stage st, const char *subject)
{
	static char buf[600];
	struct fault_action a;
	bool hit = fault_check(fs, st, subject, &a);

	CU_ASSERT_EQUAL(hit, a.kind != FAULT_NONE);
	switch (a.kind) {
	case FAULT_NONE:
		return "none";
	case FAULT_DROP:
		return "drop";
	case FAULT_REPLY:
		snprintf(buf, sizeof(buf), "reply %s", a.reply);
		return buf;
	case FAULT_DELAY:
		snprintf(buf, sizeof(buf), "delay %lld%s%s", a.delay_ms,
		    a.reply[0] ? ", " : "", a.reply);
		return buf;
	}
	return "?";
}

static void
test_rcpt_glob_on_the_address(void)
{
	struct fault_set *fs = one_rule("rcpt:*@bounce.example=550 5.1.1 "
	    "No such user");

	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "joe@bounce.example"),
	    "reply 550 5.1.1 No such user");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "Joe@BOUNCE.Example"),
	    "reply 550 5.1.1 No such user");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "joe@example.com"),
	    "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_MAIL, "joe@bounce.example"),
	    "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, NULL), "none");
	fault_set_release(fs);
}

static void
test_mail_glob_on_the_sender(void)
{
	struct fault_set *fs = one_rule("mail:spam*@*=553 5.7.1 Sender "
	    "rejected");

	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_MAIL, "spammer@x.example"),
	    "reply 553 5.7.1 Sender rejected");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_MAIL, "ham@x.example"),
	    "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_MAIL, "<>"), "none");
	fault_set_release(fs);
}

static void
test_every_stage_takes_a_reply(void)
{
	static const struct {
		const char		*rule;
		enum fault_stage	 stage;
	} t[] = {
		{ "connect=421 4.7.0 Too busy, try later", FAULT_CONNECT },
		{ "greeting=554 No SMTP service here", FAULT_GREETING },
		{ "helo=501 5.5.4 Bad name", FAULT_HELO },
		{ "auth=535 5.7.8 Authentication credentials invalid",
		    FAULT_AUTH },
		{ "mail=451 4.3.0 Later", FAULT_MAIL },
		{ "rcpt=452 4.5.3 Too many recipients", FAULT_RCPT },
		{ "data=554 5.5.1 No valid recipients", FAULT_DATA },
		{ "dot=552 5.3.4 Message too big", FAULT_DOT },
		{ "rset=421 4.4.2 Closing", FAULT_RSET },
		{ "noop=500 Nope", FAULT_NOOP },
		{ "quit=421 Not so fast", FAULT_QUIT },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct fault_set *fs = one_rule(t[i].rule);
		char want[600];

		snprintf(want, sizeof(want), "reply %s",
		    strchr(t[i].rule, '=') + 1);
		for (int s = 0; s < FAULT_STAGES; s++)
			CU_ASSERT_STRING_EQUAL(check(fs, (enum fault_stage)s,
			    "x@y"), s == (int)t[i].stage ? want : "none");
		fault_set_release(fs);
	}
}

static void
test_drop_and_delay_actions(void)
{
	static const struct {
		const char	*rule;
		enum fault_stage stage;
		const char	*subject;
		const char	*want;
	} t[] = {
		{ "dot=drop", FAULT_DOT, "a@b", "drop" },
		{ "connect=drop", FAULT_CONNECT, "127.0.0.1", "drop" },
		{ "rcpt:*@slow.example=delay 30s", FAULT_RCPT,
		    "x@slow.example", "delay 30000" },
		{ "greeting=delay 5s", FAULT_GREETING, "::1", "delay 5000" },
		{ "data=delay 2s, 451 4.4.2 Timeout", FAULT_DATA, "a@b",
		    "delay 2000, 451 4.4.2 Timeout" },
		{ "noop=delay 500ms", FAULT_NOOP, NULL, "delay 500" },
		{ "quit=delay 2m", FAULT_QUIT, NULL, "delay 120000" },
		{ "helo=delay 1.5s,421 Bye", FAULT_HELO, "h", "delay 1500, 421 "
		    "Bye" },
		{ "DOT=DROP", FAULT_DOT, "a@b", "drop" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct fault_set *fs = one_rule(t[i].rule);

		CU_ASSERT_STRING_EQUAL(check(fs, t[i].stage, t[i].subject),
		    t[i].want);
		fault_set_release(fs);
	}
}

static void
test_connect_glob_on_the_client_ip(void)
{
	struct fault_set *fs = one_rule("connect:192.0.2.*=421 4.7.0 Go "
	    "away");

	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_CONNECT, "192.0.2.7"),
	    "reply 421 4.7.0 Go away");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_CONNECT, "127.0.0.1"), "none");
	fault_set_release(fs);
}

static void
test_count_is_the_nth_time_only(void)
{
	struct fault_set *fs = one_rule("dot#3=452 4.3.1 Insufficient "
	    "storage");

	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_DOT, "a@b"), "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_DOT, "a@b"), "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_DOT, "a@b"),
	    "reply 452 4.3.1 Insufficient storage");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_DOT, "a@b"), "none");
	/* Other stages have counters of their own. */
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "a@b"), "none");
	fault_set_release(fs);
}

static void
test_count_plus_is_from_the_nth_on(void)
{
	struct fault_set *fs = one_rule("dot#3+=452 4.3.1 Insufficient "
	    "storage");

	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_DOT, "a@b"), "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_DOT, "a@b"), "none");
	for (int i = 0; i < 5; i++)
		CU_ASSERT_STRING_EQUAL(check(fs, FAULT_DOT, "a@b"),
		    "reply 452 4.3.1 Insufficient storage");
	fault_set_release(fs);
}

static void
test_count_with_a_match(void)
{
	/* The count is of the stage; the match narrows it further. */
	struct fault_set *fs = one_rule("rcpt:*@x.example#2+=450 4.2.1 "
	    "Busy");

	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "a@x.example"), "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "b@y.example"), "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "c@x.example"),
	    "reply 450 4.2.1 Busy");
	fault_set_release(fs);
}

static void
test_first_matching_rule_wins(void)
{
	const char *rules[] = {
		"rcpt:vip@*=450 4.2.1 VIP busy",
		"rcpt:*@bounce.example=550 5.1.1 No such user",
		"rcpt=451 4.3.0 Later",
	};
	char err[256];
	struct fault_set *fs = make_set(rules, 3, false, err, sizeof(err));

	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "vip@bounce.example"),
	    "reply 450 4.2.1 VIP busy");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "joe@bounce.example"),
	    "reply 550 5.1.1 No such user");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "joe@example.com"),
	    "reply 451 4.3.0 Later");
	fault_set_release(fs);
}

/* failures - how often the rule fires in n checks. */
static int
failures(struct fault_set *fs, int n)
{
	int hits = 0;

	for (int i = 0; i < n; i++)
		if (strcmp(check(fs, FAULT_DOT, "a@b"), "none") != 0)
			hits++;
	return hits;
}

static void
test_probability_is_near_its_percentage(void)
{
	struct fault_set *fs = one_rule("dot=451 4.3.0 Try again later@20%");
	int hits = failures(fs, 1000);

	/* 200 expected; sd 12.6, this is over 4 sd either way. */
	CU_ASSERT(hits > 150 && hits < 250);
	fault_set_release(fs);

	fs = one_rule("dot=drop@0.5%");
	hits = failures(fs, 10000);
	CU_ASSERT(hits > 20 && hits < 90);
	fault_set_release(fs);

	fs = one_rule("dot=drop@0%");
	CU_ASSERT_EQUAL(failures(fs, 1000), 0);
	fault_set_release(fs);

	fs = one_rule("dot=drop@100%");
	CU_ASSERT_EQUAL(failures(fs, 100), 100);
	fault_set_release(fs);
}

/* pattern - 64 draws of a 50% rule with this seed, as bits. */
static unsigned long long
pattern(unsigned long seed)
{
	const char *rule = "dot=451 4.3.0 Later@50%";
	struct fault_options o = { &rule, 1, NULL, seed, true, false, false };
	struct fault_set *fs;
	unsigned long long bits = 0;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(fault_set_new(&o, &fs, err, sizeof(err)), 0);
	for (int i = 0; i < 64; i++)
		if (strcmp(check(fs, FAULT_DOT, "a@b"), "none") != 0)
			bits |= 1ULL << i;
	fault_set_release(fs);
	return bits;
}

static void
test_seed_repeats_the_choices(void)
{
	CU_ASSERT_EQUAL(pattern(1), pattern(1));
	CU_ASSERT_EQUAL(pattern(12345), pattern(12345));
	CU_ASSERT_NOT_EQUAL(pattern(1), pattern(2));
}

static void
test_probability_and_count_together(void)
{
	struct fault_set *fs = one_rule("dot#5+=drop@100%");

	CU_ASSERT_EQUAL(failures(fs, 10), 6);
	fault_set_release(fs);
}

static void
test_reply_text_may_hold_at_and_percent(void)
{
	struct fault_set *fs;

	fs = one_rule("rcpt=550 5.1.1 <joe@example.com> unknown");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "a@b"),
	    "reply 550 5.1.1 <joe@example.com> unknown");
	fault_set_release(fs);
	fs = one_rule("dot=452 4.2.2 Mailbox 100% full");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_DOT, "a@b"),
	    "reply 452 4.2.2 Mailbox 100% full");
	fault_set_release(fs);
	fs = one_rule("  dot = 451 4.3.0 Later @100%  ");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_DOT, "a@b"),
	    "reply 451 4.3.0 Later");
	fault_set_release(fs);
	fs = one_rule("rcpt:a#b@*=550 Hash in the glob");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "a#b@x"),
	    "reply 550 Hash in the glob");
	fault_set_release(fs);
}

/* An "auth" rule could never fire on a server without AUTH: refused,
 * whether given alone or in a file; the other stages are not affected. */
static void
test_auth_rule_needs_auth(void)
{
	const char *rules[] = { "rcpt=550 5.1.1 No", "auth=535 5.7.8 No" };
	struct fault_options o = { rules, 2, NULL, 42, true, false, true };
	struct fault_set *fs = NULL;
	char err[512] = "";

	CU_ASSERT_EQUAL(fault_set_new(&o, &fs, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(fs);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "fault rule \"auth=535 5.7.8 No\": "
	    "the auth stage needs AUTH"));
	o.rule_count = 1;
	CU_ASSERT_EQUAL(fault_set_new(&o, &fs, err, sizeof(err)), 0);
	fault_set_release(fs);
	o.rule_count = 2;
	o.without_auth = false;
	CU_ASSERT_EQUAL(fault_set_new(&o, &fs, err, sizeof(err)), 0);
	fault_set_release(fs);
}

/* refused - the rule is refused, the message quotes it and says why. */
static void
refused(const char *rule, const char *why)
{
	char err[512] = "", quoted[1100];
	struct fault_set *fs = make_set(&rule, 1, false, err, sizeof(err));

	CU_ASSERT_PTR_NULL(fs);
	fault_set_release(fs);
	snprintf(quoted, sizeof(quoted), "fault rule \"%.40s", rule);
	if (strstr(err, quoted) == NULL || strstr(err, why) == NULL) {
		fprintf(stderr, "\nrule %s\n  got: %s\n  want: ...%s...\n",
		    rule, err, why);
		CU_FAIL("error message");
	}
	CU_ASSERT_EQUAL(fault_rule_valid(rule, err, sizeof(err)), -1);
}

static void
test_bad_rules_say_what_is_wrong(void)
{
	char longrule[1200];

	refused("", "no \"=\"");
	refused("dot", "no \"=\"");
	refused("=550 No", "no stage");
	refused("dots=550 No", "unknown stage \"dots\"");
	refused("bdat=550 No", "one of connect, greeting, helo, auth");
	refused("dot=", "no action");
	refused("dot=explode", "unknown action");
	refused("dot=45 x", "three-digit code");
	refused("dot=4x1 x", "three-digit code");
	refused("dot=650 x", "4xx or 5xx");
	refused("dot=150 x", "4xx or 5xx");
	refused("data=354 go ahead", "4xx or 5xx");
	refused("rcpt:ghost@*=250 OK", "4xx or 5xx");
	refused("dot=delay 1s, 250 OK", "4xx or 5xx");
	refused("dot=550", "needs a text");
	refused("dot=550-x", "followed by a space");
	refused("dot=550x", "followed by a space");
	refused("dot=550 caf\xc3\xa9", "printable ASCII");
	refused("dot=550 4.1.1 Wrong class", "class");
	refused("dot=550 5.1 Short", "class.subject.detail");
	refused("dot=550 5.1.1234 Long", "class.subject.detail");
	refused("dot#0=drop", "counts from 1");
	refused("dot#=drop", "followed by a count");
	refused("dot#3x=drop", "followed by a count");
	refused("dot#-1=drop", "followed by a count");
	refused("dot#99999999999999=drop", "counts from 1");
	refused("rcpt:=drop", "nothing to match");
	refused("rcpt*@x=drop", "unexpected \"*\"");
	refused("dot=delay", "duration with a unit");
	refused("dot=delay 30", "duration with a unit");
	refused("dot=delay 5h", "duration with a unit");
	refused("dot=delay 5 s", "duration with a unit");
	refused("dot=delay 1e3s", "duration with a unit");
	refused("dot=delay 2000m", "at most a day");
	refused("dot=delay 5s 451 x", "a comma and a reply");
	refused("dot=delay 5s, 45 x", "three-digit code");
	refused("dot=delay 5s,", "three-digit code");
	refused("dot=drop@150%", "0% to 100%");
	refused("dot=550 a\r\nb", "one line");
	memset(longrule, 'x', sizeof(longrule) - 1);
	longrule[sizeof(longrule) - 1] = '\0';
	memcpy(longrule, "dot=550 ", 8);
	refused(longrule, "longer than");
	memset(longrule, 'x', 600);
	memcpy(longrule, "dot=550 ", 8);
	longrule[600] = '\0';
	refused(longrule, "512 octets");
}

static void
test_bad_rule_among_good_ones_is_named(void)
{
	const char *rules[] = { "dot=drop", "rcpt=55 x", "mail=drop" };
	char err[512];

	CU_ASSERT_PTR_NULL(make_set(rules, 3, false, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"rcpt=55 x\""));
}

/* write_file - a temporary file with this text; its name in path. */
static void
write_file(char *path, size_t pathsz, const char *text)
{
	FILE *fp;
	int fd;

	snprintf(path, pathsz, "/tmp/smtpd-fault-XXXXXX");
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
}

static void
test_fault_file_rules_and_comments(void)
{
	const char *first = "rcpt:first@*=550 5.1.1 From the command line";
	char path[64], err[512];
	struct fault_options o = { &first, 1, NULL, 7, true, false, false };
	struct fault_set *fs;

	write_file(path, sizeof(path),
	    "# greylisting, then an unknown user\n"
	    "\n"
	    "   # an indented comment\n"
	    "dot#1=451 4.7.1 Greylisted, try again\r\n"
	    "  rcpt:*@bounce.example=550 5.1.1 No such user  \n"
	    "rcpt:first@*=450 4.0.0 never: the command line's comes first\n");
	o.file = path;
	CU_ASSERT_EQUAL_FATAL(fault_set_new(&o, &fs, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_DOT, "a@b"),
	    "reply 451 4.7.1 Greylisted, try again");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_DOT, "a@b"), "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "x@bounce.example"),
	    "reply 550 5.1.1 No such user");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "first@bounce.example"),
	    "reply 550 5.1.1 From the command line");
	fault_set_release(fs);
	unlink(path);
}

static void
test_fault_file_errors_name_the_line(void)
{
	struct fault_options o = { NULL, 0, NULL, 0, false, false, false };
	struct fault_set *fs;
	char path[64], err[512];

	write_file(path, sizeof(path), "# ok\ndot=drop\nrcpt=5 5\n");
	o.file = path;
	CU_ASSERT_EQUAL(fault_set_new(&o, &fs, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, " line 3: fault rule \"rcpt=5 5\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
	unlink(path);
	CU_ASSERT_EQUAL(fault_set_new(&o, &fs, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file"));
}

static void
test_triggers_from_the_addresses(void)
{
	char err[256];
	struct fault_set *fs = make_set(NULL, 0, true, err, sizeof(err));

	CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "rcpt550@example.com"),
	    "reply 550 Requested action not taken: mailbox unavailable");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT,
	    "rcpt550_5.1.1@example.com"),
	    "reply 550 5.1.1 Requested action not taken: mailbox unavailable");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT,
	    "RCPT452_4.5.3@example.com"),
	    "reply 452 4.5.3 Requested action not taken: insufficient system "
	    "storage");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_MAIL, "mail421@example.com"),
	    "reply 421 Service not available, closing transmission channel");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_DATA, "data451@example.com"),
	    "reply 451 Requested action aborted: local error in processing");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_DOT, "dot554@example.com"),
	    "reply 554 Transaction failed");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RSET, "rset421@example.com"),
	    "reply 421 Service not available, closing transmission channel");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_NOOP, "noop500@example.com"),
	    "reply 500 Syntax error, command unrecognized");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_QUIT, "quit421@example.com"),
	    "reply 421 Service not available, closing transmission channel");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_HELO, "helo500.example.com"),
	    "reply 500 Syntax error, command unrecognized");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_HELO, "EHLO501.example.com"),
	    "reply 501 Syntax error in parameters or arguments");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "rcpt599@example.com"),
	    "reply 599 Permanent failure");
	/* A verb at another stage, other codes, other shapes: ordinary. */
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_MAIL, "rcpt550@example.com"),
	    "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_DATA, "mail421@example.com"),
	    "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "rcpt250@example.com"),
	    "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "rcpt55@example.com"),
	    "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "rcpt5500@example.com"),
	    "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "rcpt550x@example.com"),
	    "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT,
	    "rcpt550_5.1@example.com"), "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "rcpt550"), "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_HELO, "helo500"), "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_HELO, "mail.example.com"),
	    "none");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, NULL), "none");
	fault_set_release(fs);
}

static void
test_triggers_are_off_by_default(void)
{
	struct fault_set *fs = one_rule("noop=450 4.0.0 Busy");

	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "rcpt550@example.com"),
	    "none");
	CU_ASSERT_FALSE(fault_set_empty(fs));
	fault_set_release(fs);
}

static void
test_triggers_come_before_rules(void)
{
	const char *rule = "rcpt=451 4.3.0 Later";
	char err[256];
	struct fault_set *fs = make_set(&rule, 1, true, err, sizeof(err));

	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "rcpt450@example.com"),
	    "reply 450 Requested mail action not taken: mailbox unavailable");
	CU_ASSERT_STRING_EQUAL(check(fs, FAULT_RCPT, "joe@example.com"),
	    "reply 451 4.3.0 Later");
	fault_set_release(fs);
}

static void
test_fired_rule_is_named_for_the_log(void)
{
	struct fault_set *fs = one_rule("rcpt:*@x=550 5.1.1 No");
	struct fault_action a;

	CU_ASSERT_TRUE(fault_check(fs, FAULT_RCPT, "a@x", &a));
	CU_ASSERT_STRING_EQUAL(a.rule, "rcpt:*@x=550 5.1.1 No");
	fault_set_release(fs);
}

static void
test_reply_validation(void)
{
	/* A rule fails on purpose: 2xx and 3xx would make the server lie. */
	CU_ASSERT_PTR_NOT_NULL(fault_reply_valid("250 OK"));
	CU_ASSERT_PTR_NOT_NULL(fault_reply_valid("354 go ahead"));
	CU_ASSERT_PTR_NOT_NULL(fault_reply_valid("221 Bye"));
	CU_ASSERT_PTR_NOT_NULL(fault_reply_valid("600 No"));
	CU_ASSERT_PTR_NULL(fault_reply_valid("421 4.3.2 Going down"));
	CU_ASSERT_PTR_NULL(fault_reply_valid("550 5.7.509 DMARC"));
	CU_ASSERT_PTR_NULL(fault_reply_valid("451 4.3.0"));
	CU_ASSERT_PTR_NULL(fault_reply_valid("554 5 reasons"));
	CU_ASSERT_PTR_NULL(fault_reply_valid("554 Go\tahead"));
	CU_ASSERT_PTR_NOT_NULL(fault_reply_valid("550 5.1.1x No"));
	CU_ASSERT_PTR_NOT_NULL(fault_reply_valid(""));
	CU_ASSERT_PTR_NOT_NULL(fault_reply_valid("55"));
	CU_ASSERT_PTR_NOT_NULL(fault_reply_valid("550 \x01"));
}

struct counting {
	struct fault_slot	*slot;
	int			 hits;
};

/* count_fires - 1000 checks of dot through the slot. */
static void *
count_fires(void *arg)
{
	struct counting *c = arg;
	struct fault_action a;

	for (int i = 0; i < 1000; i++)
		if (fault_slot_check(c->slot, FAULT_DOT, "a@b", &a))
			c->hits++;
	return NULL;
}

static void
test_counter_is_server_wide_across_threads(void)
{
	struct fault_slot slot;
	struct counting c[4];
	pthread_t t[4];
	int total = 0;

	fault_slot_init(&slot);
	fault_slot_put(&slot, one_rule("dot#2500=drop"));
	for (int i = 0; i < 4; i++) {
		c[i].slot = &slot;
		c[i].hits = 0;
		pthread_create(&t[i], NULL, count_fires, &c[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		total += c[i].hits;
	}
	/* 4000 checks, one of them the 2500th. */
	CU_ASSERT_EQUAL(total, 1);
	fault_slot_destroy(&slot);
}

static void
test_slot_swaps_while_a_set_is_held(void)
{
	struct fault_slot slot;
	struct fault_action a;
	struct fault_set *old;

	fault_slot_init(&slot);
	CU_ASSERT_FALSE(fault_slot_check(&slot, FAULT_DOT, "a@b", &a));
	CU_ASSERT_EQUAL(a.kind, FAULT_NONE);
	old = one_rule("dot=451 4.3.0 Old");
	fault_set_hold(old);		/* as a command in progress would */
	fault_slot_put(&slot, old);
	CU_ASSERT_TRUE(fault_slot_check(&slot, FAULT_DOT, "a@b", &a));
	CU_ASSERT_STRING_EQUAL(a.reply, "451 4.3.0 Old");
	fault_slot_put(&slot, one_rule("dot=452 4.3.1 New"));
	CU_ASSERT_TRUE(fault_slot_check(&slot, FAULT_DOT, "a@b", &a));
	CU_ASSERT_STRING_EQUAL(a.reply, "452 4.3.1 New");
	/* The old set still works for whoever holds it. */
	CU_ASSERT_STRING_EQUAL(check(old, FAULT_DOT, "a@b"),
	    "reply 451 4.3.0 Old");
	fault_set_release(old);
	fault_slot_put(&slot, NULL);
	CU_ASSERT_FALSE(fault_slot_check(&slot, FAULT_DOT, "a@b", &a));
	fault_slot_destroy(&slot);
}

static void
test_rate_limit_token_bucket(void)
{
	struct fault_rate r;
	int ok = 0;

	fault_rate_init(&r, 5);
	for (int i = 0; i < 8; i++)
		ok += fault_rate_take(&r, 1000);
	CU_ASSERT_EQUAL(ok, 5);
	CU_ASSERT_FALSE(fault_rate_take(&r, 1100));	/* half a token */
	CU_ASSERT_TRUE(fault_rate_take(&r, 1200));	/* one */
	CU_ASSERT_FALSE(fault_rate_take(&r, 1200));
	ok = 0;
	for (int i = 0; i < 8; i++)
		ok += fault_rate_take(&r, 60000);	/* full, not more */
	CU_ASSERT_EQUAL(ok, 5);
	fault_rate_destroy(&r);

	fault_rate_init(&r, 0);
	for (int i = 0; i < 100; i++)
		CU_ASSERT_TRUE(fault_rate_take(&r, 0));
	fault_rate_destroy(&r);
}

/* ---- the channel, in memory ------------------------------------------- */

#define MESSAGE "HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n" \
	"hello\r\n.\r\n"

/* session - MESSAGE then NOOP and QUIT, with these rules. */
static const char *
session(const char *const *rules, size_t n, int max_messages)
{
	struct smtpd_config cfg;

	unit_reset();
	unit_config(&cfg);
	cfg.faults = rules;
	cfg.fault_count = n;
	cfg.fault_seeded = true;
	cfg.max_messages_per_connection = max_messages;
	return unit_session(&cfg, MESSAGE "NOOP\r\nQUIT\r\n",
	    strlen(MESSAGE "NOOP\r\nQUIT\r\n"), 0);
}

static void
test_channel_refused_at_the_dot_is_not_delivered(void)
{
	const char *rule = "dot=451 4.3.0 Later";

	CU_ASSERT_STRING_EQUAL(session(&rule, 1, 0),
	    "250 test.example\r\n250 OK\r\n250 OK\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n451 4.3.0 Later\r\n"
	    "250 OK\r\n221 Bye\r\n");
	CU_ASSERT_EQUAL(delivered.count, 0);
}

static void
test_channel_drop_at_the_dot_says_nothing_more(void)
{
	const char *rule = "dot=drop";

	CU_ASSERT_STRING_EQUAL(session(&rule, 1, 0),
	    "250 test.example\r\n250 OK\r\n250 OK\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n");
	CU_ASSERT_EQUAL(delivered.count, 0);
}

static void
test_channel_delay_alone_then_goes_on(void)
{
	const char *rule = "dot=delay 10ms";

	CU_ASSERT_STRING_EQUAL(session(&rule, 1, 0),
	    "250 test.example\r\n250 OK\r\n250 OK\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n250 OK\r\n"
	    "250 OK\r\n221 Bye\r\n");
	CU_ASSERT_EQUAL(delivered.count, 1);
}

static void
test_channel_421_closes_after_the_reply(void)
{
	const char *rule = "rcpt=421 4.3.2 Going down";

	CU_ASSERT_STRING_EQUAL(session(&rule, 1, 0),
	    "250 test.example\r\n250 OK\r\n421 4.3.2 Going down\r\n");
	CU_ASSERT_EQUAL(delivered.count, 0);
}

static void
test_channel_connect_reply_replaces_the_greeting(void)
{
	const char *rule = "connect=554 5.3.2 Not today";

	session(&rule, 1, 0);
	CU_ASSERT_STRING_EQUAL(unit_greeting(), "554 5.3.2 Not today");
}

static void
test_channel_without_rules_is_unchanged(void)
{
	CU_ASSERT_STRING_EQUAL(session(NULL, 0, 0),
	    "250 test.example\r\n250 OK\r\n250 OK\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n250 OK\r\n"
	    "250 OK\r\n221 Bye\r\n");
	CU_ASSERT_EQUAL(delivered.count, 1);
}

int	unit_add_fault_tests(void);

int
unit_add_fault_tests(void)
{
	static const struct unit_test tests[] = {
		{ "rcpt glob on the address", test_rcpt_glob_on_the_address },
		{ "mail glob on the sender", test_mail_glob_on_the_sender },
		{ "every stage takes a reply", test_every_stage_takes_a_reply },
		{ "drop and delay actions", test_drop_and_delay_actions },
		{ "connect glob on the client IP",
		    test_connect_glob_on_the_client_ip },
		{ "#N is the Nth time only", test_count_is_the_nth_time_only },
		{ "#N+ is from the Nth on", test_count_plus_is_from_the_nth_on },
		{ "count with a match", test_count_with_a_match },
		{ "first matching rule wins", test_first_matching_rule_wins },
		{ "probability is near its percentage",
		    test_probability_is_near_its_percentage },
		{ "seed repeats the choices", test_seed_repeats_the_choices },
		{ "probability and count together",
		    test_probability_and_count_together },
		{ "reply text may hold @ and %",
		    test_reply_text_may_hold_at_and_percent },
		{ "bad rules say what is wrong",
		    test_bad_rules_say_what_is_wrong },
		{ "auth rule needs AUTH", test_auth_rule_needs_auth },
		{ "bad rule among good ones is named",
		    test_bad_rule_among_good_ones_is_named },
		{ "fault file: rules and comments",
		    test_fault_file_rules_and_comments },
		{ "fault file: errors name the line",
		    test_fault_file_errors_name_the_line },
		{ "triggers from the addresses",
		    test_triggers_from_the_addresses },
		{ "triggers are off by default",
		    test_triggers_are_off_by_default },
		{ "triggers come before rules",
		    test_triggers_come_before_rules },
		{ "fired rule is named for the log",
		    test_fired_rule_is_named_for_the_log },
		{ "reply validation", test_reply_validation },
		{ "counter is server-wide across threads",
		    test_counter_is_server_wide_across_threads },
		{ "slot swaps while a set is held",
		    test_slot_swaps_while_a_set_is_held },
		{ "rate limit: token bucket", test_rate_limit_token_bucket },
		{ "channel: refused at the dot is not delivered",
		    test_channel_refused_at_the_dot_is_not_delivered },
		{ "channel: drop at the dot says nothing more",
		    test_channel_drop_at_the_dot_says_nothing_more },
		{ "channel: a delay alone then goes on",
		    test_channel_delay_alone_then_goes_on },
		{ "channel: 421 closes after the reply",
		    test_channel_421_closes_after_the_reply },
		{ "channel: connect reply replaces the greeting",
		    test_channel_connect_reply_replaces_the_greeting },
		{ "channel: without rules is unchanged",
		    test_channel_without_rules_is_unchanged },
	};

	return unit_add_suite("fault", tests, sizeof(tests) / sizeof(tests[0]));
}
