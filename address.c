/* SPDX-License-Identifier: ISC */
/*
 * address.c - the MAIL and RCPT argument parser (see address.h for the
 * SYNOPSIS).  Pure string code: no session, no allocation but the
 * parameter list, so it can be unit-tested and fuzzed alone.
 *
 * The grammar is the one Python's smtpd accepts, which is looser than
 * RFC 5321 section 4.1.2: a local part may be ".a" or "a..b", the angle
 * brackets may be missing, an obsolete source route "<@a,@b:x@y>" is
 * skipped.  Where Python's parser raises, we refuse, and the caller
 * answers the command's syntax error.
 */
#define _GNU_SOURCE
#include "address.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* is_py_space - the ASCII white space Python's str.strip() removes. */
static bool
is_py_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* address_strip - Python's str.strip(). */
char *
address_strip(char *s)
{
	char *e;

	while (is_py_space((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && is_py_space((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* address_after_keyword - the text after "FROM:"/"TO:", stripped. */
char *
address_after_keyword(char *arg, const char *keyword)
{
	size_t n = strlen(keyword);

	if (strncasecmp(arg, keyword, n) != 0)
		return NULL;
	return address_strip(arg + n);
}

/* is_atext - RFC 5322 atext, and any byte of a UTF-8 sequence (RFC 6532). */
static bool
is_atext(unsigned char c)
{
	return isalnum(c) || c >= 0x80 ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * local_scan - one pass over a local part: dot-separated atoms and quoted
 * strings.  Counts the value's characters in *n and those that need a
 * backslash when quoted in *esc, clears *plain if one is not atext or a
 * dot; with out, also writes the value (quoted and escaped if quote).
 * Returns the end, or NULL for an open quote.
 */
static const char *
local_scan(const char *s, char *out, bool quote, size_t *n, size_t *esc,
    bool *plain)
{
	size_t o = 0;

	*n = *esc = 0;
	if (out && quote)
		out[o++] = '"';
	while (*s == '.' || *s == '"' || is_atext((unsigned char)*s)) {
		if (*s != '"') {
			if (out)
				out[o++] = *s;
			s++, (*n)++;
			continue;
		}
		for (s++; *s != '"'; s++) {
			if (*s == '\0')
				return NULL;
			if (*s == '\\' && s[1] != '\0')
				s++;
			if (!is_atext((unsigned char)*s) && *s != '.')
				*plain = false;
			if (*s == '"' || *s == '\\') {
				(*esc)++;
				if (out && quote)
					out[o++] = '\\';
			}
			if (out)
				out[o++] = *s;
			(*n)++;
		}
		s++;
	}
	if (out && quote)
		out[o++] = '"';
	if (out)
		out[o] = '\0';
	return s;
}

/*
 * address_parse_local - a local part, as loosely as Python's parser takes
 * it (".a", "a..b").  Written to out the way Python's addr_spec prints it:
 * bare when it is all atext and dots, quoted otherwise.  The first pass
 * measures, the second writes: out never overflows, whatever the input.
 */
const char *
address_parse_local(const char *s, char *out, size_t outsz)
{
	const char *e;
	size_t n, esc, need;
	bool plain = true;

	if ((e = local_scan(s, NULL, false, &n, &esc, &plain)) == NULL ||
	    n == 0)
		return NULL;
	need = plain ? n + 1 : n + esc + 3;
	if (need > outsz)
		return NULL;
	local_scan(s, out, !plain, &n, &esc, &plain);
	return e;
}

/* address_parse_domain - a dot-atom domain or an address literal "[...]". */
const char *
address_parse_domain(const char *s)
{
	if (*s == '[') {
		const char *e = strchr(s, ']');

		return e ? e + 1 : NULL;
	}
	if (!is_atext((unsigned char)*s))
		return NULL;
	for (;;) {
		while (is_atext((unsigned char)*s))
			s++;
		if (*s != '.')
			return s;
		s++;
		if (!is_atext((unsigned char)*s))
			return NULL;	/* "a@b." */
	}
}

/* address_parse_spec - local-part ["@" domain] into out. */
const char *
address_parse_spec(const char *s, char *out, size_t outsz)
{
	const char *d;
	size_t n;

	if ((s = address_parse_local(s, out, outsz)) == NULL)
		return NULL;
	if (*s != '@')
		return s;
	if ((d = address_parse_domain(s + 1)) == NULL || *d == '@')
		return NULL;
	n = strlen(out);
	if (n + (size_t)(d - s) + 1 > outsz)
		return NULL;
	memcpy(out + n, s, (size_t)(d - s));
	out[n + (size_t)(d - s)] = '\0';
	return d;
}

/*
 * address_parse - Python's SMTPChannel._getaddr: an address "<a@b>",
 * "<>", "a@b", "<@route:a@b>", quoted local parts; the parameters after it
 * in *rest.  Returns false where Python's parser raises (it then drops the
 * connection; the caller answers the command's syntax error).
 */
bool
address_parse(char *arg, char *out, size_t outsz, char **rest)
{
	const char *s = arg;

	while (is_py_space((unsigned char)*s))
		s++;
	if (*s == '\0')
		return false;
	if (*s == '<') {
		s++;
		if (*s == '>') {
			if (outsz < 3)
				return false;
			memcpy(out, "<>", 3);
			*rest = (char *)s + 1;
			return true;
		}
		while (*s == '@') {		/* obsolete source route */
			if ((s = address_parse_domain(s + 1)) == NULL)
				return false;
			if (*s == ',' && s[1] == '@')
				s++;
			else if (*s == ':')
				s++;
			else
				return false;
		}
		if ((s = address_parse_spec(s, out, outsz)) == NULL)
			return false;
		if (*s == '>')
			s++;
	} else if ((s = address_parse_spec(s, out, outsz)) == NULL) {
		return false;
	}
	while (is_py_space((unsigned char)*s))
		s++;
	*rest = (char *)s;
	return true;
}

/* params_clear - free the words. */
void
params_clear(struct params *o)
{
	for (size_t i = 0; i < o->count; i++)
		free(o->item[i]);
	free(o->item);
	o->item = NULL;
	o->count = 0;
}

/* params_set - Python's params.upper().split(): the words of s,
 * upper-cased. */
bool
params_set(struct params *o, const char *s)
{
	params_clear(o);
	for (;;) {
		while (*s && isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			return true;
		const char *w = s;
		while (*s && !isspace((unsigned char)*s))
			s++;
		char **items = realloc(o->item, (o->count + 1) * sizeof(*items));
		if (items == NULL)
			return false;
		o->item = items;
		char *word = strndup(w, (size_t)(s - w));
		if (word == NULL)
			return false;
		for (char *c = word; *c; c++)
			*c = (char)toupper((unsigned char)*c);
		o->item[o->count++] = word;
	}
}

/*
 * params_valid - Python's _getparams over the upper-cased words: each is
 * KEY or KEY=VALUE with an alphanumeric key and a non-empty value.
 */
bool
params_valid(const struct params *o)
{
	for (size_t i = 0; i < o->count; i++) {
		const char *p = o->item[i];
		const char *eq = strchr(p, '=');
		size_t klen = eq ? (size_t)(eq - p) : strlen(p);

		if (klen == 0 || (eq && eq[1] == '\0'))
			return false;
		for (size_t k = 0; k < klen; k++)
			if (!isalnum((unsigned char)p[k]) &&
			    (unsigned char)p[k] < 0x80)
				return false;
	}
	return true;
}

/* params_find - the last parameter named key (a later one wins, as in a
 * Python dict): its value, "" when it has none, NULL when absent. */
const char *
params_find(const struct params *o, const char *key, size_t *index)
{
	size_t klen = strlen(key);
	const char *found = NULL;

	for (size_t i = 0; i < o->count; i++) {
		const char *p = o->item[i];

		if (strncmp(p, key, klen) == 0 &&
		    (p[klen] == '\0' || p[klen] == '=')) {
			found = p[klen] ? p + klen + 1 : "";
			if (index)
				*index = i;
		}
	}
	return found;
}

/* params_other - true if a parameter other than the known ones is present. */
bool
params_other(const struct params *o, const char *const *known)
{
	for (size_t i = 0; i < o->count; i++) {
		const char *p = o->item[i];
		size_t klen = strcspn(p, "=");
		bool ok = false;

		for (const char *const *k = known; *k; k++)
			if (strlen(*k) == klen && strncmp(p, *k, klen) == 0)
				ok = true;
		if (!ok)
			return true;
	}
	return false;
}
