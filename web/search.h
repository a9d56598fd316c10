/* SPDX-License-Identifier: ISC */
/*
 * search.h - Mailpit's search language (web/search.c), for the HTTP API's
 * /api/v1/search and message/latest?query=.
 *
 * A query is terms separated by spaces, all of which must match
 * (AND), case-insensitive:
 *	to:ADDR  from:ADDR  cc:ADDR  bcc:ADDR  reply-to:ADDR  addressed:ADDR
 *	subject:TEXT  message-id:ID  larger:SIZE  smaller:SIZE
 *	is:read  is:unread  has:attachment  has:inline
 *	WORD	in the subject, the addresses, or the text body (the HTML's
 *		text when there is no text part)
 *	"a phrase"	the same, spaces and all; also after a prefix:
 *		subject:"two words"
 *	-TERM	the term must not match (also !TERM)
 *
 * The query is parsed once (search_parse) and matched against each entry
 * with its parsed MIME form (web/mime.h), which the caller provides.
 */
#ifndef SMTPD_WEB_SEARCH_H
#define SMTPD_WEB_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

struct inbox_entry;
struct mime_message;

struct search;				/* a parsed Mailpit query */
struct search *search_parse(const char *query, char *err, size_t errsz);	/* NULL + err on a bad query; "" matches all */
void	search_free(struct search *);
/* search_needs_parse - false when every term is answered without the
 * parsed message (is:read, is:unread, larger:, smaller:): the caller may
 * then pass parsed NULL. */
bool	search_needs_parse(const struct search *);
/* parsed: the entry's struct mime_message (the caller parsed it); read: its read flag */
bool	search_match(const struct search *, const struct inbox_entry *, const struct mime_message *parsed, bool read);

#endif /* SMTPD_WEB_SEARCH_H */
