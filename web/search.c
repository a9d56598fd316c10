/* SPDX-License-Identifier: ISC */
/*
 * search.c - Mailpit's search language (search.h), matched in memory.
 *
 * A query is split into terms at white space; a double quote starts a
 * run, spaces and all, up to the next one (the quotes themselves go), so
 * `subject:"two words"` is one term.  A term that begins with '-' or '!'
 * (and has more after it) is negated.  Then, as in Mailpit, a prefix says
 * what the term looks at:
 *
 *	to: from: cc: bcc: reply-to:	an address of that header: its
 *					name or address contains the text
 *	addressed:			any of those five
 *	subject:			the subject contains the text
 *	message-id:			the Message-ID contains it
 *	is:read is:unread		the read flag
 *	has:attachment(s) has:inline(s)	a part of that kind
 *	larger:SIZE smaller:SIZE	the /raw size (SIZE: 20, 2k, 1.5MB)
 *	anything else			the message's search text contains it
 *
 * The search text is what Mailpit indexes: the From, Subject, To, Cc,
 * Bcc, Reply-To and Return-Path, the text body (the HTML's text when
 * there is no text part: the issue's rule; Mailpit prefers the HTML),
 * and the attachments' file names; with line breaks, tabs and < > " , ;
 * turned to spaces, runs of spaces folded and ASCII lower-cased.  A
 * plain term is cleaned the same way, so a phrase matches across the
 * line breaks of the body.  Every comparison is case-insensitive for
 * ASCII letters; other UTF-8 is compared byte for byte.
 *
 * As in Mailpit, "bcc:" also sees the envelope recipients that are in no
 * header (its Bcc field), a term with no letter or digit is ignored, and
 * an unknown prefix (is:starred) is searched for as text.  Unlike Mailpit,
 * a term of only non-ASCII letters (привет) is kept, not ignored.
 *
 * Bounds: a query of at most SEARCH_MAX_LEN bytes and SEARCH_MAX_TERMS
 * terms; past either it is refused with a message, never cut silently.
 */
#include "../compat.h"
#include "search.h"
#include "mime.h"
#include "../inbox_internal.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SEARCH_MAX_LEN		4096
#define SEARCH_MAX_TERMS	64

enum term_kind {
	T_TEXT, T_TO, T_FROM, T_CC, T_BCC, T_REPLY_TO, T_ADDRESSED,
	T_SUBJECT, T_MESSAGE_ID, T_READ, T_UNREAD, T_ATTACHMENT, T_INLINE,
	T_LARGER, T_SMALLER,
};

struct term {
	enum term_kind	 kind;
	bool		 negate;
	char		*text;		/* lower-cased (cleaned for T_TEXT) */
	size_t		 size;		/* T_LARGER, T_SMALLER */
};

struct search {
	struct term	*terms;
	size_t		 n;
	bool		 needs_parse;	/* a term looks inside the message */
};

/* The prefixes, each with its kind; "is:" and "has:" are whole words. */
static const struct {
	const char	*word;
	enum term_kind	 kind;
	bool		 whole;		/* the term is the word, nothing after */
} prefixes[] = {
	{ "to:", T_TO, false },
	{ "from:", T_FROM, false },
	{ "cc:", T_CC, false },
	{ "bcc:", T_BCC, false },
	{ "reply-to:", T_REPLY_TO, false },
	{ "addressed:", T_ADDRESSED, false },
	{ "subject:", T_SUBJECT, false },
	{ "message-id:", T_MESSAGE_ID, false },
	{ "larger:", T_LARGER, false },
	{ "smaller:", T_SMALLER, false },
	{ "is:read", T_READ, true },
	{ "is:unread", T_UNREAD, true },
	{ "has:attachment", T_ATTACHMENT, true },
	{ "has:attachments", T_ATTACHMENT, true },
	{ "has:inline", T_INLINE, true },
	{ "has:inlines", T_INLINE, true },
};

/* is_cut - a byte the search text turns into a space (Mailpit's
 * cleanString). */
static bool
is_cut(unsigned char c)
{
	return c == '\r' || c == '\n' || c == '\t' || c == '<' || c == '>' ||
	    c == '"' || c == ',' || c == ';' || c == ' ' || c == '\f' ||
	    c == '\v';
}

/* lower - ASCII lower case; other bytes as they are. */
static char
lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/*
 * text_add - append s, cleaned, to the buffer *b (len *n, room *cap):
 * cut bytes become one space between words, letters are lower-cased.
 * False when out of memory.
 */
static bool
text_add(char **b, size_t *n, size_t *cap, const char *s)
{
	size_t need = strlen(s) + 2;

	if (*n + need > *cap) {
		size_t c = (*cap ? *cap : 256);
		char *nb;

		while (c < *n + need)
			c *= 2;
		if ((nb = realloc(*b, c)) == NULL)
			return false;
		*b = nb;
		*cap = c;
	}
	for (; *s; s++) {
		if (is_cut((unsigned char)*s)) {
			if (*n > 0 && (*b)[*n - 1] != ' ')
				(*b)[(*n)++] = ' ';
		} else {
			(*b)[(*n)++] = lower(*s);
		}
	}
	if (*n > 0 && (*b)[*n - 1] != ' ')
		(*b)[(*n)++] = ' ';
	(*b)[*n] = '\0';
	return true;
}

/* clean - a malloc'd cleaned copy of s, without the trailing space. */
static char *
clean(const char *s)
{
	char *b = NULL;
	size_t n = 0, cap = 0;

	if (!text_add(&b, &n, &cap, s))
		return NULL;
	if (b == NULL)
		return strdup("");
	if (n > 0 && b[n - 1] == ' ')
		b[--n] = '\0';
	return b;
}

/* lower_dup - a malloc'd ASCII lower-cased copy of s. */
static char *
lower_dup(const char *s)
{
	char *d = strdup(s);

	for (char *p = d; p && *p; p++)
		*p = lower(*p);
	return d;
}

/* parse_size - "20", "2k", "2kb", "1.5M", "1.5 MB": bytes, or 0 when it
 * is not a size (Mailpit then searches for the term as text). */
static size_t
parse_size(const char *s)
{
	char *end;
	double v;

	if (!isdigit((unsigned char)*s))
		return 0;
	v = strtod(s, &end);
	if (*end == ' ')
		end++;
	if (strcasecmp(end, "k") == 0 || strcasecmp(end, "kb") == 0)
		v *= 1024;
	else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "mb") == 0)
		v *= 1024 * 1024;
	else if (*end != '\0')
		return 0;
	return v >= 1 && v < (double)SIZE_MAX / 2 ? (size_t)v : 0;
}

/* has_word_byte - whether s has a letter or digit (or any non-ASCII
 * byte): a term without one is ignored, as in Mailpit. */
static bool
has_word_byte(const char *s)
{
	for (; *s; s++)
		if (isalnum((unsigned char)*s) || (unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* term_text - t's text: s cleaned; false when nothing is left of it (the
 * term is ignored) or, with *nomem set, when out of memory. */
static bool
term_text(struct term *t, const char *s, bool *nomem)
{
	if ((t->text = clean(s)) == NULL) {
		*nomem = true;
		return false;
	}
	if (t->text[0] == '\0') {
		free(t->text);
		t->text = NULL;
		return false;
	}
	return true;
}

/* term_make - fill t from one term of the query (quotes removed); false
 * when the term is to be ignored.  *nomem set when out of memory. */
static bool
term_make(struct term *t, const char *w, bool *nomem)
{
	const char *arg = NULL;

	memset(t, 0, sizeof(*t));
	if (strlen(w) > 1 && (w[0] == '-' || w[0] == '!')) {
		t->negate = true;
		w++;
	}
	if (!has_word_byte(w))
		return false;
	t->kind = T_TEXT;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i].word);

		if (prefixes[i].whole ? strcasecmp(w, prefixes[i].word) == 0 :
		    strncasecmp(w, prefixes[i].word, n) == 0) {
			t->kind = prefixes[i].kind;
			arg = w + n;
			break;
		}
	}
	switch (t->kind) {
	case T_READ: case T_UNREAD: case T_ATTACHMENT: case T_INLINE:
		return true;
	case T_LARGER: case T_SMALLER:
		if ((t->size = parse_size(arg)) != 0)
			return true;
		t->kind = T_TEXT;	/* not a size: a word like any other */
		break;
	case T_SUBJECT:
		if (*arg == '\0')
			return false;
		t->text = lower_dup(arg);
		*nomem = t->text == NULL;
		return !*nomem;
	case T_TEXT:
		break;
	default:	/* the address prefixes and message-id: */
		return term_text(t, arg, nomem);
	}
	return term_text(t, w, nomem);
}

void
search_free(struct search *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->terms[i].text);
	free(s->terms);
	free(s);
}

struct search *
search_parse(const char *query, char *err, size_t errsz)
{
	struct search *s;
	char *word;
	size_t qlen;
	const char *p;

	if (query == NULL)
		query = "";
	if ((qlen = strlen(query)) > SEARCH_MAX_LEN) {
		snprintf(err, errsz, "search query too long (more than %d bytes)",
		    SEARCH_MAX_LEN);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	word = malloc(qlen + 1);
	if (s == NULL || word == NULL ||
	    (s->terms = calloc(SEARCH_MAX_TERMS, sizeof(*s->terms))) == NULL) {
		free(word);
		search_free(s);
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	p = query;
	for (;;) {
		size_t n = 0;
		bool quoted = false, nomem = false;

		while (*p && isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		/* one term: up to white space outside quotes */
		for (; *p && (quoted || !isspace((unsigned char)*p)); p++) {
			if (*p == '"')
				quoted = !quoted;
			else
				word[n++] = *p;
		}
		word[n] = '\0';
		if (s->n == SEARCH_MAX_TERMS) {
			snprintf(err, errsz, "search query has too many terms "
			    "(more than %d)", SEARCH_MAX_TERMS);
			free(word);
			search_free(s);
			return NULL;
		}
		if (term_make(&s->terms[s->n], word, &nomem)) {
			enum term_kind k = s->terms[s->n].kind;

			if (k != T_READ && k != T_UNREAD && k != T_LARGER &&
			    k != T_SMALLER)
				s->needs_parse = true;
			s->n++;
		} else if (nomem) {
			snprintf(err, errsz, "out of memory");
			free(word);
			search_free(s);
			return NULL;
		}
	}
	free(word);
	return s;
}

bool
search_needs_parse(const struct search *s)
{
	return s->needs_parse;
}

/* contains - whether hay, ASCII lower-cased, contains needle (already
 * lower-cased). */
static bool
contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	if (hay == NULL)
		return false;
	if (n == 0)
		return true;
	for (; *hay; hay++) {
		size_t i = 0;

		while (i < n && hay[i] && lower(hay[i]) == needle[i])
			i++;
		if (i == n)
			return true;
	}
	return false;
}

/* address_has - an address of the list whose name or address contains
 * the text. */
static bool
address_has(const struct mime_address *a, size_t n, const char *text)
{
	for (size_t i = 0; i < n; i++)
		if (contains(a[i].name, text) || contains(a[i].address, text))
			return true;
	return false;
}

/* in_list - whether addr (any case) is an address of the list. */
static bool
in_list(const struct mime_address *a, size_t n, const char *addr)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(a[i].address, addr) == 0)
			return true;
	return false;
}

/* bcc_has - the Bcc header, or an envelope recipient in no To or Cc
 * header (Mailpit's Bcc), contains the text. */
static bool
bcc_has(const struct inbox_entry *e, const struct mime_message *m,
    const char *text)
{
	if (address_has(m->bcc, m->nbcc, text))
		return true;
	for (size_t i = 0; e && e->msg && i < e->msg->rcpt_count; i++) {
		const char *r = e->msg->rcpttos[i];

		if (!in_list(m->to, m->nto, r) && !in_list(m->cc, m->ncc, r) &&
		    contains(r, text))
			return true;
	}
	return false;
}

/* search_text - the message's search text (see the top); malloc'd, or
 * NULL when out of memory. */
static char *
search_text(const struct mime_message *m)
{
	char *b = NULL, *html = NULL;
	size_t n = 0, cap = 0;
	bool ok = true;
	const struct mime_address *lists[] = { m->to, m->cc, m->bcc, m->reply_to };
	size_t counts[] = { m->nto, m->ncc, m->nbcc, m->nreply_to };

	if (m->from) {
		ok &= text_add(&b, &n, &cap, m->from->name);
		ok &= text_add(&b, &n, &cap, m->from->address);
	}
	ok &= text_add(&b, &n, &cap, m->subject);
	for (size_t l = 0; l < 4; l++)
		for (size_t i = 0; i < counts[l]; i++) {
			ok &= text_add(&b, &n, &cap, lists[l][i].name);
			ok &= text_add(&b, &n, &cap, lists[l][i].address);
		}
	ok &= text_add(&b, &n, &cap, m->return_path);
	if (m->text[0] == '\0' && m->html[0] != '\0') {
		if ((html = mime_html_to_text(m->html)) == NULL)
			ok = false;
		else
			ok &= text_add(&b, &n, &cap, html);
		free(html);
	} else {
		ok &= text_add(&b, &n, &cap, m->text);
	}
	for (size_t i = 0; i < m->nattachments; i++)
		ok &= text_add(&b, &n, &cap, m->attachments[i].filename);
	if (!ok) {
		free(b);
		return NULL;
	}
	return b ? b : strdup("");
}

/* term_match - whether one term (before its negation) matches. */
static bool
term_match(const struct term *t, const struct inbox_entry *e,
    const struct mime_message *m, bool read, const char *text)
{
	size_t size = e ? e->size : 0;

	switch (t->kind) {
	case T_READ:		return read;
	case T_UNREAD:		return !read;
	case T_LARGER:		return size > t->size;
	case T_SMALLER:		return size < t->size;
	default:		break;
	}
	if (m == NULL)
		return false;
	switch (t->kind) {
	case T_TO:	return address_has(m->to, m->nto, t->text);
	case T_FROM:	return m->from && address_has(m->from, 1, t->text);
	case T_CC:	return address_has(m->cc, m->ncc, t->text);
	case T_BCC:	return bcc_has(e, m, t->text);
	case T_REPLY_TO:
		return address_has(m->reply_to, m->nreply_to, t->text);
	case T_ADDRESSED:
		return (m->from && address_has(m->from, 1, t->text)) ||
		    address_has(m->to, m->nto, t->text) ||
		    address_has(m->cc, m->ncc, t->text) ||
		    bcc_has(e, m, t->text) ||
		    address_has(m->reply_to, m->nreply_to, t->text);
	case T_SUBJECT:		return contains(m->subject, t->text);
	case T_MESSAGE_ID:	return contains(m->message_id, t->text);
	case T_ATTACHMENT:	return m->nattachments > 0;
	case T_INLINE:		return m->ninlines > 0;
	case T_TEXT:		return text && strstr(text, t->text) != NULL;
	default:		return false;
	}
}

bool
search_match(const struct search *s, const struct inbox_entry *e,
    const struct mime_message *parsed, bool read)
{
	char *text = NULL;
	bool match = true;

	if (s == NULL)
		return true;
	for (size_t i = 0; i < s->n && match; i++) {
		const struct term *t = &s->terms[i];

		/* the search text is built once, and only when asked for */
		if (t->kind == T_TEXT && text == NULL && parsed)
			text = search_text(parsed);
		match = term_match(t, e, parsed, read, text) != t->negate;
	}
	free(text);
	return match;
}
