/* SPDX-License-Identifier: ISC */
/*
 * mime.h - a received message read as MIME (RFC 2045-2049) with GMime 3:
 * its headers with encoded words decoded (RFC 2047), its addresses, its
 * text and HTML bodies converted to UTF-8, and its parts, named as
 * Mailpit names them (PartID "1", "2.1", ...), so that the HTTP API can
 * answer in Mailpit's shapes and `-c DebuggingServer --decode` can print
 * a message a person can read.
 *
 * Every string here is UTF-8, NUL-terminated and never NULL ("" when
 * absent); bytes that are not valid UTF-8 in the input are replaced by
 * U+FFFD.  Any bytes parse: a hostile message (thousands of parts, deep
 * nesting, a huge header, NULs) is cut at a bound and marked truncated,
 * in bounded time and memory.  Every function is thread-safe: GMime is
 * initialised once (mime_init) and each call works on its own objects.
 *
 * Only files under web/ include GMime's headers; this one does not, so
 * the rest of the program can use it without $(WEB_CFLAGS).
 */
#ifndef SMTPD_WEB_MIME_H
#define SMTPD_WEB_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "../server.h"

/* Bounds on hostile input: past one, parsing stops and sets truncated. */
#define MIME_MAX_PARTS		1000
#define MIME_MAX_DEPTH		50

struct mime_address { char *name; char *address; };	/* "" when absent */

struct mime_part_info {
	char	*part_id;	/* Mailpit's PartID: "1", "2.1", ... */
	char	*filename;	/* RFC 2231 / RFC 2047 decoded, "" if none */
	char	*content_type;	/* "image/png" */
	char	*content_id;	/* without <>, "" if none */
	size_t	 size;		/* decoded bytes */
};

struct mime_header { char *name; char *value; };	/* value unfolded, RFC 2047 decoded */

struct mime_message {
	struct mime_header	*headers;	size_t nheaders;	/* in order */
	char			*subject;	/* decoded */
	char			*message_id;	/* without <> */
	char			*date;		/* the Date header as written, "" */
	time_t			 date_time;	/* parsed Date, 0 when none/invalid */
	struct mime_address	*from;		/* NULL when no From */
	struct mime_address	*to;	size_t nto;
	struct mime_address	*cc;	size_t ncc;
	struct mime_address	*bcc;	size_t nbcc;	/* a Bcc: header, if any */
	struct mime_address	*reply_to; size_t nreply_to;
	char			*return_path;	/* address from Return-Path, "" */
	char			*list_unsubscribe;	/* header text, "" */
	char			*text;		/* text/plain body decoded to UTF-8, "" */
	char			*html;		/* text/html body decoded, "" */
	struct mime_part_info	*attachments;	size_t nattachments;
	struct mime_part_info	*inlines;	size_t ninlines;
	bool			 truncated;	/* a parse bound was hit */
};

/* mime_init - initialise GMime once per process (pthread_once inside);
 * safe to call often, from any thread.  The other functions call it. */
void	mime_init(void);

/* mime_parse - the message in data[0..len) read as MIME; NULL only when
 * out of memory: any bytes parse. */
struct mime_message *mime_parse(const char *data, size_t len);

/* mime_message_free - free what mime_parse returned (NULL is fine). */
void	mime_message_free(struct mime_message *);

/* mime_part_get - the decoded bytes of part part_id; 0, or -1 if no such part.
 * *bytes malloc'd (caller frees), *content_type and *filename malloc'd too. */
int	mime_part_get(const char *data, size_t len, const char *part_id,
	    char **bytes, size_t *n, char **content_type, char **filename);

/* mime_html_with_cids - m->html with every cid:X reference to an inline or attached
 * part of the same message replaced by a data: URL of that part; malloc'd. */
char	*mime_html_with_cids(const char *data, size_t len, const struct mime_message *m);

/* mime_snippet - the first max characters of the text (or of the HTML's text),
 * white space folded, as Mailpit's Snippet; malloc'd. */
char	*mime_snippet(const struct mime_message *m, size_t max);

/* mime_html_to_text - the text of an HTML body (for search and Snippet); malloc'd. */
char	*mime_html_to_text(const char *html);

/* mime_print_decoded - what `-c DebuggingServer --decode` prints for one message. */
void	mime_print_decoded(FILE *out, const struct smtpd_message *msg);

/* handler_debugging_decoded - (handlers.c) DebuggingServer printing each
 * message with mime_print_decoded: `-c DebuggingServer --decode`. */
struct smtpd_handler handler_debugging_decoded(FILE *out);

#endif
