/* SPDX-License-Identifier: ISC */
/*
 * address.h - the MAIL and RCPT argument parser: addresses and parameters.
 * Pure string code, no session: channel.c calls it, tests/unit/
 * test_address.c and fuzz/fuzz_address.c drive it alone.  Not installed.
 *
 * SYNOPSIS
 *	char	*address_strip(char *s);
 *	char	*address_after_keyword(char *arg, const char *keyword);
 *	bool	 address_parse(char *arg, char *out, size_t outsz,
 *		    char **rest);
 *	const char *address_parse_spec(const char *s, char *out,
 *		    size_t outsz);
 *	const char *address_parse_local(const char *s, char *out,
 *		    size_t outsz);
 *	const char *address_parse_domain(const char *s);
 *
 *	bool	 params_set(struct params *, const char *s);
 *	void	 params_clear(struct params *);
 *	bool	 params_valid(const struct params *);
 *	const char *params_find(const struct params *, const char *key,
 *		    size_t *index);
 *	bool	 params_other(const struct params *,
 *		    const char *const *known);
 *
 * DESCRIPTION
 *	The forms taken are Python's smtpd (SMTPChannel._getaddr, through
 *	email._header_value_parser, and _getparams), not a strict RFC 5321
 *	section 4.1.2 grammar: where Python takes a form, so do we.  An
 *	address is written to out as Python's addr_spec prints it; out
 *	needs strlen(arg) + 1 bytes (the result is never longer than the
 *	input); when it is smaller the address is refused.
 */
#ifndef SMTPD_ADDRESS_H
#define SMTPD_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

/* MAIL or RCPT parameters, upper-cased words, as Python keeps them. */
struct params {
	char		**item;
	size_t		 count;
};

/* address_strip - Python's str.strip(): s without surrounding white
 * space (the end is cut in place). */
char		*address_strip(char *s);
/* address_after_keyword - the text after "FROM:"/"TO:" (any case),
 * stripped, or NULL when arg does not start with keyword. */
char		*address_after_keyword(char *arg, const char *keyword);
/* address_parse - an address "<a@b>", "<>", "a@b", "<@route:a@b>" into
 * out; the parameters after it in *rest.  False where Python's parser
 * raises. */
bool		 address_parse(char *arg, char *out, size_t outsz,
		    char **rest);
/* address_parse_spec - local-part ["@" domain] into out; what follows,
 * or NULL. */
const char	*address_parse_spec(const char *s, char *out, size_t outsz);
/* address_parse_local - a local part into out; what follows, or NULL. */
const char	*address_parse_local(const char *s, char *out, size_t outsz);
/* address_parse_domain - past a domain or an address literal, or NULL. */
const char	*address_parse_domain(const char *s);

/* params_set - the words of s, upper-cased (Python's
 * params.upper().split()); false when out of memory. */
bool		 params_set(struct params *, const char *s);
/* params_clear - forget them all. */
void		 params_clear(struct params *);
/* params_valid - each is KEY or KEY=VALUE (Python's _getparams). */
bool		 params_valid(const struct params *);
/* params_find - the value of the last parameter named key, "" when it
 * has none, NULL when absent; its position in *index if index. */
const char	*params_find(const struct params *, const char *key,
		    size_t *index);
/* params_other - true if one is none of the NULL-ended known names. */
bool		 params_other(const struct params *, const char *const *known);

#endif /* SMTPD_ADDRESS_H */
