/* SPDX-License-Identifier: ISC */
/*
 * fault.c - failures on demand (fault.h): parsing rules, matching them at
 * a stage, the client-driven triggers, the rule set's counters and PRNG,
 * the slot a server swaps sets through, and the rate limiter.
 *
 * Parsing is strict and says what is wrong in words, quoting the rule:
 * a rule that silently means something else would make a test pass for
 * the wrong reason.
 */
#include "compat.h"
#include "fault.h"
#include "io.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct fault_rule {
	enum fault_stage stage;
	char		*match;		/* glob; NULL = any subject */
	unsigned long	 count;		/* #N; 0 = every time */
	bool		 onward;	/* #N+ */
	double		 percent;	/* @P%; 100 = always */
	enum fault_kind	 kind;
	long long	 delay_ms;
	char		*reply;		/* NULL = none */
	char		*text;		/* the rule as written */
};

struct fault_set {
	atomic_uint	 refs;
	struct fault_rule *rules;
	size_t		 count, cap;
	bool		 triggers;
	bool		 without_auth;	/* refuse "auth" rules */
	/* How often each stage was reached, for #N. */
	atomic_ulong	 reached[FAULT_STAGES];
	/* One PRNG for the whole set, under a lock, so that a seed gives the
	 * same draws in the same order of checks. */
	pthread_mutex_t	 prng_lock;
	uint64_t	 prng;
};

static const char *const stage_names[FAULT_STAGES] = {
	[FAULT_CONNECT] = "connect",
	[FAULT_GREETING] = "greeting",
	[FAULT_HELO] = "helo",
	[FAULT_AUTH] = "auth",
	[FAULT_MAIL] = "mail",
	[FAULT_RCPT] = "rcpt",
	[FAULT_DATA] = "data",
	[FAULT_DOT] = "dot",
	[FAULT_RSET] = "rset",
	[FAULT_NOOP] = "noop",
	[FAULT_QUIT] = "quit",
};

#define STAGE_LIST \
	"connect, greeting, helo, auth, mail, rcpt, data, dot, rset, noop, quit"
#define RULE_FORM	"STAGE[:MATCH][#N[+]]=ACTION[@P%%]"	/* a format */

const char *
fault_stage_name(enum fault_stage s)
{
	return ((int)s >= 0 && s < FAULT_STAGES) ? stage_names[s] : "?";
}

/* ------------------------------------------------------------------ */
/* Parsing one rule                                                    */
/* ------------------------------------------------------------------ */

/* rule_error - "fault rule \"TEXT\": WHY" into err; returns -1. */
static int __attribute__((format(printf, 4, 5)))
rule_error(char *err, size_t errsz, const char *text, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	/* A rule is quoted whole unless it is long; the reason must fit. */
	snprintf(err, errsz, "fault rule \"%.*s%s\": %s", 80, text,
	    strlen(text) > 80 ? "..." : "", why);
	return -1;
}

/* enhanced_code - the length of "C.SSS.DDD" (RFC 3463) at s, or 0. */
static size_t
enhanced_code(const char *s)
{
	const char *p = s;
	int n;

	if (!isdigit((unsigned char)*p) || p[1] != '.')
		return 0;
	p += 2;
	for (int part = 0; part < 2; part++) {
		for (n = 0; isdigit((unsigned char)p[n]); n++)
			;
		if (n < 1 || n > 3)
			return 0;
		p += n;
		if (part == 0) {
			if (*p != '.')
				return 0;
			p++;
		}
	}
	if (*p != '\0' && *p != ' ')
		return 0;
	return (size_t)(p - s);
}

const char *
fault_reply_valid(const char *r)
{
	size_t len = strlen(r);
	const char *text;

	if (len < 3 || !isdigit((unsigned char)r[0]) ||
	    !isdigit((unsigned char)r[1]) || !isdigit((unsigned char)r[2]))
		return "a reply begins with a three-digit code (550 No such "
		    "user)";
	/* A 2xx or 3xx would make the server lie: "250" for a recipient it
	 * never took, "354" with the client's text then read as commands. */
	if (r[0] != '4' && r[0] != '5')
		return "a rule's reply is a failure, 4xx or 5xx: a 2xx or 3xx "
		    "would tell the client that what it asked was done";
	if (r[3] == '\0' || (r[3] == ' ' && r[4 + strspn(r + 4, " ")] == '\0'))
		return "the code needs a text after it (550 No such user)";
	if (r[3] != ' ')
		return "the code is followed by a space, then the text";
	for (const char *p = r; *p; p++) {
		if (*p == '\r' || *p == '\n')
			return "a reply is one line: no CR or LF";
		if (*p != '\t' && (*p < 32 || *p > 126))
			return "a reply is printable ASCII (RFC 5321 section "
			    "4.2)";
	}
	if (len > FAULT_REPLY_MAX - 1)
		return "a reply line is at most 512 octets with its CRLF "
		    "(RFC 5321 section 4.5.3.1.5)";
	/* An enhanced status code, if the text starts with one, is of the
	 * reply's class (RFC 3463 section 2: 2, 4 or 5, as the code). */
	text = r + 4;
	if (isdigit((unsigned char)text[0]) && text[1] == '.') {
		if (enhanced_code(text) == 0)
			return "an enhanced status code is class.subject."
			    "detail, as 5.1.1 (RFC 3463)";
		if (text[0] != r[0])
			return "the enhanced status code's class is not the "
			    "reply code's first digit";
	}
	return NULL;
}

/* parse_percent - "@P%" at the end of action[0, *len): set *pct and cut
 * it off.  Returns 1 for one, 0 for none (text that ends in "%"). */
static int
parse_percent(const char *action, size_t *len, double *pct)
{
	const char *at, *p;
	char *end;
	size_t n = *len;
	bool dot = false;

	if (n < 3 || action[n - 1] != '%')
		return 0;
	for (at = action + n - 2; at > action && *at != '@'; at--)
		;
	if (*at != '@')
		return 0;
	for (p = at + 1; p < action + n - 1; p++) {
		if (*p == '.' && !dot)
			dot = true;
		else if (!isdigit((unsigned char)*p))
			return 0;	/* text that happens to end in % */
	}
	if (p == at + 1 || !isdigit((unsigned char)at[1]))
		return 0;
	*pct = strtod(at + 1, &end);
	*len = (size_t)(at - action);
	while (*len > 0 && isspace((unsigned char)action[*len - 1]))
		(*len)--;
	return 1;
}

/* parse_action - the part after "=" (probability already cut off). */
static int
parse_action(struct fault_rule *r, const char *a, const char *text, char *err,
    size_t errsz)
{
	const char *why;

	if (*a == '\0')
		return rule_error(err, errsz, text, "no action after \"=\" "
		    "(a reply, drop, delay 5s, or delay 5s, 451 text)");
	if (strcasecmp(a, "drop") == 0) {
		r->kind = FAULT_DROP;
		return 0;
	}
	if (strncasecmp(a, "delay", 5) == 0 &&
	    (a[5] == '\0' || isspace((unsigned char)a[5]))) {
		const char *p = a + 5;
		size_t n;

		p += strspn(p, " \t");
		if ((n = io_parse_duration(p, FAULT_DELAY_MAX_MS,
		    &r->delay_ms)) == 0)
			return rule_error(err, errsz, text, "delay needs a "
			    "duration with a unit: 500ms, 5s, 2m");
		if (r->delay_ms > FAULT_DELAY_MAX_MS)
			return rule_error(err, errsz, text, "a delay is at "
			    "most a day (1440m)");
		p += n;
		p += strspn(p, " \t");
		r->kind = FAULT_DELAY;
		if (*p == '\0')
			return 0;
		if (*p != ',')
			return rule_error(err, errsz, text, "after the "
			    "delay, a comma and a reply (delay 2s, 451 4.4.2 "
			    "Timeout)");
		p++;
		p += strspn(p, " \t");
		if ((why = fault_reply_valid(p)) != NULL)
			return rule_error(err, errsz, text, "%s", why);
		if ((r->reply = strdup(p)) == NULL)
			return rule_error(err, errsz, text, "out of memory");
		return 0;
	}
	if (!isdigit((unsigned char)*a))
		return rule_error(err, errsz, text, "unknown action (a reply "
		    "\"550 text\", drop, delay 5s, or delay 5s, 451 text)");
	if ((why = fault_reply_valid(a)) != NULL)
		return rule_error(err, errsz, text, "%s", why);
	r->kind = FAULT_REPLY;
	if ((r->reply = strdup(a)) == NULL)
		return rule_error(err, errsz, text, "out of memory");
	return 0;
}

/* parse_count - "#N" or "#N+" at the end of sel[0, *len): 1 and cut off,
 * 0 when there is none. */
static int
parse_count(const char *sel, size_t *len, unsigned long *count, bool *onward)
{
	size_t n = *len, digits_end, i;

	*onward = n > 0 && sel[n - 1] == '+';
	digits_end = *onward ? n - 1 : n;
	for (i = digits_end; i > 0 && isdigit((unsigned char)sel[i - 1]); i--)
		;
	if (i == 0 || sel[i - 1] != '#' || i == digits_end)
		return 0;
	if (digits_end - i > 12)
		*count = 0;		/* too big: refused as "0" below */
	else
		*count = strtoul(sel + i, NULL, 10);
	*len = i - 1;
	return 1;
}

/* rule_free - what a parsed rule holds. */
static void
rule_free(struct fault_rule *r)
{
	free(r->match);
	free(r->reply);
	free(r->text);
}

/* rule_parse - one rule, already trimmed, into *r; -1 with a message. */
static int
rule_parse(const char *text, struct fault_rule *r, char *err, size_t errsz)
{
	const char *eq, *p;
	char action[FAULT_RULE_MAX + 1];
	size_t sel_len, stage_len, alen;
	int s;

	memset(r, 0, sizeof(*r));
	r->percent = 100;
	if (strlen(text) > FAULT_RULE_MAX)
		return rule_error(err, errsz, text, "longer than %d "
		    "characters", FAULT_RULE_MAX);
	if (strpbrk(text, "\r\n") != NULL)
		return rule_error(err, errsz, text, "a rule is one line");
	if ((eq = strchr(text, '=')) == NULL)
		return rule_error(err, errsz, text, "no \"=\" between the "
		    "stage and the action (" RULE_FORM ")");

	/* The stage: letters up to ":", "#" or "=". */
	sel_len = (size_t)(eq - text);
	while (sel_len > 0 && isspace((unsigned char)text[sel_len - 1]))
		sel_len--;
	for (stage_len = 0; stage_len < sel_len &&
	    isalpha((unsigned char)text[stage_len]); stage_len++)
		;
	if (stage_len == 0)
		return rule_error(err, errsz, text, "no stage before \"=\" "
		    "(one of " STAGE_LIST ")");
	for (s = 0; s < FAULT_STAGES; s++)
		if (strlen(stage_names[s]) == stage_len &&
		    strncasecmp(text, stage_names[s], stage_len) == 0)
			break;
	if (s == FAULT_STAGES)
		return rule_error(err, errsz, text, "unknown stage \"%.*s\" "
		    "(one of " STAGE_LIST ")", (int)stage_len, text);
	r->stage = (enum fault_stage)s;

	/* Then ":MATCH" and "#N[+]", in that order, each optional. */
	p = text + stage_len;
	sel_len -= stage_len;
	if (parse_count(p, &sel_len, &r->count, &r->onward)) {
		if (r->count == 0)
			return rule_error(err, errsz, text, "#N counts from "
			    "1 (#1 is the first time, up to 12 digits)");
	} else if (memchr(p, '#', sel_len) != NULL && *p != ':') {
		return rule_error(err, errsz, text, "\"#\" is followed by "
		    "a count: #3, or #3+ for the 3rd time on");
	}
	if (sel_len > 0) {
		if (*p != ':')
			return rule_error(err, errsz, text, "unexpected "
			    "\"%c\" after the stage (" RULE_FORM ")", *p);
		p++;
		sel_len--;
		if (sel_len == 0)
			return rule_error(err, errsz, text, "nothing to "
			    "match after \":\"");
		if ((r->match = strndup(p, sel_len)) == NULL)
			return rule_error(err, errsz, text, "out of memory");
	}

	/* The action, and its "@P%". */
	p = eq + 1;
	p += strspn(p, " \t");
	alen = strlen(p);
	while (alen > 0 && isspace((unsigned char)p[alen - 1]))
		alen--;
	if (parse_percent(p, &alen, &r->percent) && (r->percent > 100))
		return rule_error(err, errsz, text, "a probability is 0%% "
		    "to 100%%");
	memcpy(action, p, alen);
	action[alen] = '\0';
	if (parse_action(r, action, text, err, errsz) != 0)
		return -1;
	if ((r->text = strdup(text)) == NULL)
		return rule_error(err, errsz, text, "out of memory");
	return 0;
}

/* rule_parse_raw - rule_parse after trimming blanks at both ends. */
static int
rule_parse_raw(const char *raw, struct fault_rule *r, char *err, size_t errsz)
{
	char text[FAULT_RULE_MAX + 2];
	size_t len;

	raw += strspn(raw, " \t");
	len = strlen(raw);
	while (len > 0 && isspace((unsigned char)raw[len - 1]))
		len--;
	if (len > FAULT_RULE_MAX)
		len = FAULT_RULE_MAX + 1;	/* refused as too long */
	memcpy(text, raw, len);
	text[len] = '\0';
	return rule_parse(text, r, err, errsz);
}

int
fault_rule_valid(const char *text, char *err, size_t errsz)
{
	struct fault_rule r;
	int rc = rule_parse_raw(text, &r, err, errsz);

	rule_free(&r);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The rule set                                                        */
/* ------------------------------------------------------------------ */

/* splitmix64 - the next number of a small PRNG with good statistics; one
 * 64-bit word of state, so a seed is all it takes to repeat a run. */
static uint64_t
splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* set_add - parse a rule and append it. */
static int
set_add(struct fault_set *fs, const char *raw, char *err, size_t errsz)
{
	if (fs->count == fs->cap) {
		size_t cap = fs->cap ? fs->cap * 2 : 8;
		struct fault_rule *p = realloc(fs->rules, cap * sizeof(*p));

		if (p == NULL) {
			snprintf(err, errsz, "out of memory");
			return -1;
		}
		fs->rules = p;
		fs->cap = cap;
	}
	if (rule_parse_raw(raw, &fs->rules[fs->count], err, errsz) != 0) {
		rule_free(&fs->rules[fs->count]);
		return -1;
	}
	/* A rule that can never fire would make a test pass for nothing. */
	if (fs->without_auth && fs->rules[fs->count].stage == FAULT_AUTH) {
		rule_error(err, errsz, fs->rules[fs->count].text, "the auth "
		    "stage needs AUTH on (--auth-user, --auth-file or "
		    "--auth-any)");
		rule_free(&fs->rules[fs->count]);
		return -1;
	}
	fs->count++;
	return 0;
}

/* set_read_file - one rule a line; blank lines and lines whose first
 * non-blank character is "#" are comments (a "#" later in a line is the
 * count marker of the rule, not a comment). */
static int
set_read_file(struct fault_set *fs, const char *path, char *err, size_t errsz)
{
	FILE *fp = fopen(path, "r");
	char *line, why[512];
	ssize_t n;
	int lineno = 0, rc = 0;

	if (fp == NULL) {
		snprintf(err, errsz, "fault file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if ((line = malloc(IO_FILE_LINE_MAX + 1)) == NULL) {
		fclose(fp);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	while ((n = io_file_line(fp, line, IO_FILE_LINE_MAX + 1)) >= 0) {
		const char *p = line;

		lineno++;
		while (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		p += strspn(p, " \t");
		if (*p == '\0' || *p == '#')
			continue;
		if (strlen(p) != (size_t)(n - (p - line))) {
			snprintf(err, errsz, "%s line %d: a NUL byte in a "
			    "rule", path, lineno);
			rc = -1;
			break;
		}
		if (set_add(fs, p, why, sizeof(why)) != 0) {
			snprintf(err, errsz, "%s line %d: %s", path, lineno,
			    why);
			rc = -1;
			break;
		}
	}
	if (n == IO_LINE_TOO_LONG) {
		snprintf(err, errsz, "%s line %d: longer than %d bytes", path,
		    lineno + 1, IO_FILE_LINE_MAX);
		rc = -1;
	} else if (n == IO_LINE_ERROR) {
		snprintf(err, errsz, "fault file %s: line %d: %s", path,
		    lineno + 1, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(fp);
	return rc;
}

/* set_free - the set and its rules, at the last reference. */
static void
set_free(struct fault_set *fs)
{
	for (size_t i = 0; i < fs->count; i++)
		rule_free(&fs->rules[i]);
	free(fs->rules);
	pthread_mutex_destroy(&fs->prng_lock);
	free(fs);
}

int
fault_set_new(const struct fault_options *o, struct fault_set **out,
    char *err, size_t errsz)
{
	struct fault_set *fs;
	uint64_t seed;

	*out = NULL;
	if ((fs = calloc(1, sizeof(*fs))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	atomic_init(&fs->refs, 1);
	for (int s = 0; s < FAULT_STAGES; s++)
		atomic_init(&fs->reached[s], 0);
	pthread_mutex_init(&fs->prng_lock, NULL);
	fs->triggers = o->triggers;
	fs->without_auth = o->without_auth;
	if (o->seeded) {
		seed = o->seed;
	} else if (compat_random(&seed, sizeof(seed)) != 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000007ULL ^
		    (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
	}
	fs->prng = seed;
	for (size_t i = 0; i < o->rule_count; i++) {
		if (o->rules[i] == NULL) {
			snprintf(err, errsz, "fault rule %zu is NULL", i + 1);
			set_free(fs);
			return -1;
		}
		if (set_add(fs, o->rules[i], err, errsz) != 0) {
			set_free(fs);
			return -1;
		}
	}
	if (o->file != NULL && set_read_file(fs, o->file, err, errsz) != 0) {
		set_free(fs);
		return -1;
	}
	*out = fs;
	return 0;
}

void
fault_set_hold(struct fault_set *fs)
{
	atomic_fetch_add(&fs->refs, 1);
}

void
fault_set_release(struct fault_set *fs)
{
	if (fs != NULL && atomic_fetch_sub(&fs->refs, 1) == 1)
		set_free(fs);
}

bool
fault_set_empty(const struct fault_set *fs)
{
	return fs->count == 0 && !fs->triggers;
}

/* draw - true percent times out of a hundred. */
static bool
draw(struct fault_set *fs, double percent)
{
	uint64_t x;

	if (percent >= 100)
		return true;
	if (percent <= 0)
		return false;
	pthread_mutex_lock(&fs->prng_lock);
	x = splitmix64(&fs->prng);
	pthread_mutex_unlock(&fs->prng_lock);
	/* The top 53 bits as a fraction in [0, 1). */
	return (double)(x >> 11) * (1.0 / 9007199254740992.0) * 100 < percent;
}

/* ------------------------------------------------------------------ */
/* Client-driven triggers (BadSMTP's scheme)                           */
/* ------------------------------------------------------------------ */

/*
 * The client names the failure in an address's local part: VERB NNN, or
 * VERB NNN _C.S.D with an enhanced code, then "@": rcpt550@example.com at
 * RCPT, rcpt550_5.1.1@..., mail421@... at MAIL; a sender data451@... (or
 * rset, noop, quit, and our dot) at that later command of its
 * transaction.  At HELO/EHLO the name says it: helo500.example.com.  Only
 * 4xx and 5xx codes trigger: anything else is an ordinary address.
 */
static const struct {
	int		 code;
	const char	*text;
} standard_texts[] = {
	/* RFC 5321 section 4.2.2 and 4.2.3, RFC 4954, RFC 7504. */
	{ 421, "Service not available, closing transmission channel" },
	{ 450, "Requested mail action not taken: mailbox unavailable" },
	{ 451, "Requested action aborted: local error in processing" },
	{ 452, "Requested action not taken: insufficient system storage" },
	{ 454, "Temporary authentication failure" },
	{ 455, "Server unable to accommodate parameters" },
	{ 500, "Syntax error, command unrecognized" },
	{ 501, "Syntax error in parameters or arguments" },
	{ 502, "Command not implemented" },
	{ 503, "Bad sequence of commands" },
	{ 504, "Command parameter not implemented" },
	{ 521, "Server does not accept mail" },
	{ 530, "Authentication required" },
	{ 534, "Authentication mechanism is too weak" },
	{ 535, "Authentication credentials invalid" },
	{ 550, "Requested action not taken: mailbox unavailable" },
	{ 551, "User not local" },
	{ 552, "Requested mail action aborted: exceeded storage allocation" },
	{ 553, "Requested action not taken: mailbox name not allowed" },
	{ 554, "Transaction failed" },
	{ 555, "MAIL FROM/RCPT TO parameters not recognized or not "
	    "implemented" },
};

/* standard_text - the text RFC 5321 gives a code, or one for its class. */
static const char *
standard_text(int code)
{
	for (size_t i = 0; i < sizeof(standard_texts) /
	    sizeof(standard_texts[0]); i++)
		if (standard_texts[i].code == code)
			return standard_texts[i].text;
	return code < 500 ? "Temporary failure, try again later" :
	    "Permanent failure";
}

/* trigger_code - after the verb: "NNN" and maybe "_C.S.D", then end; the
 * code, or 0.  *enh gets the enhanced code ("" if none). */
static int
trigger_code(const char *p, char end, char *enh, size_t enhsz)
{
	size_t n;
	int code;

	enh[0] = '\0';
	if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) ||
	    !isdigit((unsigned char)p[2]))
		return 0;
	code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	p += 3;
	if (*p == '_' && end == '@') {
		char tmp[32];
		size_t len = strcspn(p + 1, "@");

		if (len == 0 || len >= sizeof(tmp))
			return 0;
		memcpy(tmp, p + 1, len);
		tmp[len] = '\0';
		if ((n = enhanced_code(tmp)) != len)
			return 0;
		snprintf(enh, enhsz, "%s", tmp);
		p += 1 + len;
	}
	if (*p != end)
		return 0;
	if (code < 400 || code > 599)
		return 0;
	return code;
}

/* trigger_match - does the subject ask for a failure at this stage? */
static bool
trigger_match(enum fault_stage st, const char *subject, struct fault_action *a)
{
	char enh[32];
	const char *verb;
	size_t vlen;
	int code = 0;

	if (subject == NULL)
		return false;
	switch (st) {
	case FAULT_HELO:
		if (strncasecmp(subject, "helo", 4) == 0 ||
		    strncasecmp(subject, "ehlo", 4) == 0)
			code = trigger_code(subject + 4, '.', enh,
			    sizeof(enh));
		break;
	case FAULT_MAIL: case FAULT_RCPT: case FAULT_DATA: case FAULT_DOT:
	case FAULT_RSET: case FAULT_NOOP: case FAULT_QUIT:
		verb = stage_names[st];
		vlen = strlen(verb);
		if (strncasecmp(subject, verb, vlen) == 0)
			code = trigger_code(subject + vlen, '@', enh,
			    sizeof(enh));
		break;
	default:
		break;
	}
	if (code == 0)
		return false;
	a->kind = FAULT_REPLY;
	snprintf(a->reply, sizeof(a->reply), "%d %s%s%s", code, enh,
	    enh[0] ? " " : "", standard_text(code));
	snprintf(a->rule, sizeof(a->rule), "--triggers %s", subject);
	return true;
}

/* ------------------------------------------------------------------ */
/* Checking a stage                                                    */
/* ------------------------------------------------------------------ */

bool
fault_check(struct fault_set *fs, enum fault_stage st, const char *subject,
    struct fault_action *a)
{
	unsigned long n;

	a->kind = FAULT_NONE;
	a->delay_ms = 0;
	a->reply[0] = '\0';
	a->rule[0] = '\0';
	if ((int)st < 0 || st >= FAULT_STAGES)
		return false;
	n = atomic_fetch_add(&fs->reached[st], 1) + 1;
	/* The client's explicit request is the most specific: first. */
	if (fs->triggers && trigger_match(st, subject, a))
		return true;
	for (size_t i = 0; i < fs->count; i++) {
		const struct fault_rule *r = &fs->rules[i];

		if (r->stage != st)
			continue;
		if (r->match != NULL && (subject == NULL ||
		    compat_fnmatch_casefold(r->match, subject) != 0))
			continue;
		if (r->count != 0 && (r->onward ? n < r->count : n != r->count))
			continue;
		if (!draw(fs, r->percent))
			continue;
		a->kind = r->kind;
		a->delay_ms = r->delay_ms;
		if (r->reply != NULL)
			snprintf(a->reply, sizeof(a->reply), "%s", r->reply);
		snprintf(a->rule, sizeof(a->rule), "%s", r->text);
		return true;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* The slot                                                            */
/* ------------------------------------------------------------------ */

void
fault_slot_init(struct fault_slot *sl)
{
	pthread_mutex_init(&sl->lock, NULL);
	atomic_init(&sl->set, NULL);
}

void
fault_slot_put(struct fault_slot *sl, struct fault_set *fs)
{
	struct fault_set *old;

	pthread_mutex_lock(&sl->lock);
	old = atomic_load(&sl->set);
	atomic_store(&sl->set, fs);
	pthread_mutex_unlock(&sl->lock);
	fault_set_release(old);
}

bool
fault_slot_check(struct fault_slot *sl, enum fault_stage st,
    const char *subject, struct fault_action *a)
{
	struct fault_set *fs;
	bool hit;

	a->kind = FAULT_NONE;
	a->reply[0] = '\0';
	a->rule[0] = '\0';
	/* Without faults, as a server normally runs, no lock at all. */
	if (atomic_load_explicit(&sl->set, memory_order_acquire) == NULL)
		return false;
	pthread_mutex_lock(&sl->lock);
	if ((fs = atomic_load(&sl->set)) != NULL)
		fault_set_hold(fs);
	pthread_mutex_unlock(&sl->lock);
	if (fs == NULL)
		return false;
	hit = fault_check(fs, st, subject, a);
	fault_set_release(fs);
	return hit;
}

void
fault_slot_destroy(struct fault_slot *sl)
{
	fault_set_release(atomic_load(&sl->set));
	atomic_store(&sl->set, NULL);
	pthread_mutex_destroy(&sl->lock);
}

/* ------------------------------------------------------------------ */
/* The rate limiter                                                    */
/* ------------------------------------------------------------------ */

void
fault_rate_init(struct fault_rate *r, int per_sec)
{
	pthread_mutex_init(&r->lock, NULL);
	r->per_sec = per_sec > 0 ? per_sec : 0;
	r->tokens = r->per_sec;
	r->last_ms = -1;
}

bool
fault_rate_take(struct fault_rate *r, long long now_ms)
{
	bool ok;

	if (r->per_sec == 0)
		return true;
	pthread_mutex_lock(&r->lock);
	if (r->last_ms < 0)
		r->last_ms = now_ms;
	if (now_ms > r->last_ms) {
		r->tokens += (double)(now_ms - r->last_ms) * r->per_sec /
		    1000.0;
		if (r->tokens > r->per_sec)
			r->tokens = r->per_sec;
		r->last_ms = now_ms;
	}
	ok = r->tokens >= 1;
	if (ok)
		r->tokens -= 1;
	pthread_mutex_unlock(&r->lock);
	return ok;
}

void
fault_rate_destroy(struct fault_rate *r)
{
	pthread_mutex_destroy(&r->lock);
}
