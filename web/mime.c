/* SPDX-License-Identifier: ISC */
/*
 * mime.c - a received message read as MIME with GMime 3, for the HTTP API
 * and for `-c DebuggingServer --decode` (mime.h says what each function
 * gives).
 *
 * GMime does the reading: RFC 2045-2049 structure and transfer encodings,
 * RFC 2047 encoded words, RFC 2231 parameters, addresses.  This file
 * decides what the result means the way Mailpit (through the Go library
 * enmime) does, so that a client written for Mailpit sees the same
 * fields:
 *  - PartIDs: the parts of the top-level multipart are "1", "2", ...; the
 *    parts of part "2" (itself a multipart) are "2.1", "2.2", ...  A part
 *    that is the whole body of a message that is not multipart is "0".
 *    An attached message (message/rfc822) is one part: we do not look
 *    into it.
 *  - the text: in a multipart/alternative, the first text/plain part that
 *    is not an attachment (breadth first); in any other multipart, every
 *    such part (depth first) joined by "\n--\n".  The HTML: the first
 *    text/html part that is not an attachment (breadth first).
 *  - attachments: parts with Content-Disposition attachment, or of type
 *    application/octet-stream; inlines: parts with disposition inline,
 *    then the parts with no disposition that are neither text/plain,
 *    text/html nor application/octet-stream (a cid: image); both lists
 *    keep only parts with a file name or a Content-ID, in breadth-first
 *    order.  A part without a file name is named by its Content-ID.
 *
 * Hostile input is bounded before GMime sees it (mime_cut): GMime's
 * parser recurses once per nested multipart and compares each line with
 * every open boundary, so the bytes given to it stop before the
 * (MIME_MAX_DEPTH+1)th container Content-Type and before the boundary
 * line past what MIME_MAX_PARTS parts need; and header fields are cut
 * to a size and a number (mime_trim_headers).  Of what GMime read, the
 * message's headers are kept up to MIME_MAX_HEADERS of them and
 * MIME_MAX_HEADER_BYTES of text.  Whatever was cut sets truncated.
 *
 * Threads: g_mime_init runs once (pthread_once); every call then makes
 * its own parser, streams and objects, so calls from many HTTP threads at
 * once share nothing but GMime's own locked tables.  Strings handed out
 * are malloc'd (GLib's are copied), so callers free() them.
 */
#include "../compat.h"
#include "mime.h"

#include <ctype.h>
#include <errno.h>
#include <gmime/gmime.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIME_MAX_HEADERS	1000
#define MIME_MAX_HEADER_BYTES	(1024 * 1024)	/* of header text kept */
#define MIME_MAX_ADDRESSES	1000		/* per address header */
#define MIME_MAX_HTML_OUT	(64 * 1024 * 1024)	/* mime_html_with_cids */
/* What GMime is given of header blocks (mime_trim_headers): one field at
 * most 256 KiB (GMime grows a field's buffer by copying: a 30 MB field
 * takes seconds, and minutes under a sanitizer), all fields of all
 * blocks 10,000 and 8 MiB (each is an object of GMime's). */
#define MIME_MAX_FIELD_BYTES	(256 * 1024)
#define MIME_MAX_ALL_FIELDS	10000
#define MIME_MAX_ALL_FIELD_BYTES (8 * 1024 * 1024)

/* One part of the tree, in depth-first (pre-)order. */
struct node {
	GMimeObject	*obj;		/* borrowed from the message */
	char		*id;		/* PartID */
	int		 depth;		/* 0: the message's body */
	bool		 container;	/* a multipart: no bytes of its own */
	char		*ctype;		/* "image/png", lower case */
	char		*disp;		/* "attachment", "inline" or "" */
	char		*filename;	/* clean UTF-8, "" */
	char		*cid;		/* without <>, "" */
};

/* A parsed message: GMime's objects and our list of its parts. */
struct tree {
	GMimeParserOptions *opts;
	GMimeMessage	*msg;		/* NULL when GMime found no message */
	struct node	*v;
	size_t		 n, cap;
	bool		 truncated;
	bool		 failed;	/* out of memory */
};

static pthread_once_t mime_once = PTHREAD_ONCE_INIT;

/* mime_init_once - GMime's types and charset tables, for the process. */
static void
mime_init_once(void)
{
	g_mime_init();
}

void
mime_init(void)
{
	pthread_once(&mime_once, mime_init_once);
}

/* ---- strings --------------------------------------------------------- */

/* xstrdup - strdup that returns "" (static) never, NULL on ENOMEM. */
static char *
xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

/*
 * clean_utf8 - s[0..len) as valid UTF-8 in malloc'd memory: invalid bytes
 * and NULs become U+FFFD; with oneline, CR, LF and the other control
 * characters become spaces (header values, file names, names).
 */
static char *
clean_utf8(const char *s, size_t len, bool oneline)
{
	gchar *valid = g_utf8_make_valid(s ? s : "", s ? (gssize)len : 0);
	size_t n = strlen(valid);
	char *out = malloc(n + 1);

	if (out == NULL) {
		g_free(valid);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)valid[i];

		out[i] = (oneline && (c < 0x20 || c == 0x7f)) ? ' ' : (char)c;
	}
	out[n] = '\0';
	g_free(valid);
	return out;
}

/* clean_str - clean_utf8 of a NUL-terminated string (NULL: ""). */
static char *
clean_str(const char *s, bool oneline)
{
	return clean_utf8(s, s ? strlen(s) : 0, oneline);
}

/* lower_dup - a malloc'd lower-case ASCII copy (NULL: ""). */
static char *
lower_dup(const char *s)
{
	char *d = clean_str(s, true);

	for (char *p = d; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

/*
 * unfold - a header value on one line: CRLF or LF followed by white
 * space is that white space (RFC 5322 2.2.3); leading and trailing space
 * goes; malloc'd, valid UTF-8.
 */
static char *
unfold(const char *s)
{
	char *c = clean_str(s, false), *w = c;
	const char *r = c;

	if (c == NULL)
		return NULL;
	while (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n')
		r++;
	for (; *r; r++) {
		if (*r == '\r' || *r == '\n')
			continue;
		*w++ = (*r == '\t' || (unsigned char)*r < 0x20 ||
		    *r == 0x7f) ? ' ' : *r;
	}
	while (w > c && w[-1] == ' ')
		w--;
	*w = '\0';
	return c;
}

/* strip_angles - s without white space and one pair of <> around it. */
static char *
strip_angles(const char *s)
{
	char *c = unfold(s);
	size_t n;

	if (c == NULL)
		return NULL;
	n = strlen(c);
	if (n >= 2 && c[0] == '<' && c[n - 1] == '>') {
		memmove(c, c + 1, n - 2);
		c[n - 2] = '\0';
	}
	return c;
}

/*
 * to_utf8 - text bytes in the given charset as UTF-8, then cleaned
 * (clean_utf8): declared UTF-8 as it is (a bad byte is one U+FFFD, as
 * Python's errors="replace" has it); another charset through iconv when
 * it knows it; none (or US-ASCII, often wrong), or a conversion that
 * failed: as they are when they are UTF-8, else through GMime's fallback
 * charsets (UTF-8, then windows-1252).
 */
static char *
to_utf8(GMimeParserOptions *opts, const char *in, size_t len,
    const char *charset)
{
	gchar *conv = NULL;
	gsize outlen = 0;
	char *out;
	bool declared = charset && *charset &&
	    g_ascii_strcasecmp(charset, "us-ascii") != 0;

	if (declared && (g_ascii_strcasecmp(charset, "utf-8") == 0 ||
	    g_ascii_strcasecmp(charset, "utf8") == 0))
		return clean_utf8(in, len, false);
	if (declared)
		conv = g_convert(in, (gssize)len, "UTF-8",
		    g_mime_charset_iconv_name(charset), NULL, &outlen, NULL);
	if (conv == NULL && !g_utf8_validate(in, (gssize)len, NULL) &&
	    memchr(in, '\0', len) == NULL) {
		conv = g_mime_utils_decode_8bit(opts, in, len);
		outlen = conv ? strlen(conv) : 0;
	}
	if (conv) {
		out = clean_utf8(conv, outlen, false);
		g_free(conv);
		return out;
	}
	return clean_utf8(in, len, false);
}

/* ---- the tree ---------------------------------------------------------- */

/* starts_nocase - does the line at p (n bytes left) begin with word? */
static bool
starts_nocase(const char *p, size_t n, const char *word)
{
	size_t w = strlen(word);

	return n >= w && g_ascii_strncasecmp(p, word, w) == 0;
}

/*
 * mime_cut - how many bytes of data to give GMime: all of them, unless a
 * container Content-Type (multipart/..., message/...) past the
 * MIME_MAX_DEPTH'th, or a boundary-like line ("--...") past what
 * MIME_MAX_PARTS parts need, comes first; the cut is at that line.
 */
static size_t
mime_cut(const char *data, size_t len, bool *truncated)
{
	size_t containers = 0, boundaries = 0, pos = 0;

	while (pos < len) {
		const char *p = data + pos, *nl;
		size_t left = len - pos;

		if (left >= 2 && p[0] == '-' && p[1] == '-' &&
		    ++boundaries > MIME_MAX_PARTS + MIME_MAX_DEPTH + 1)
			goto cut;
		if (starts_nocase(p, left, "content-type:")) {
			size_t i = strlen("content-type:");

			while (i < left && (p[i] == ' ' || p[i] == '\t' ||
			    p[i] == '\r' || p[i] == '\n'))
				i++;
			if ((starts_nocase(p + i, left - i, "multipart/") ||
			    starts_nocase(p + i, left - i, "message/")) &&
			    ++containers > MIME_MAX_DEPTH)
				goto cut;
		}
		nl = memchr(p, '\n', left);
		if (nl == NULL)
			break;
		pos = (size_t)(nl - data) + 1;
	}
	return len;
cut:
	*truncated = true;
	return pos;
}

/*
 * mime_trim_headers - data with its header fields cut to the bounds above,
 * in a malloc'd copy (*outlen bytes), or NULL when nothing needed cutting
 * (or without memory: then the data goes as it is).  A header block is
 * the top one and whatever follows a line starting with "--" (a
 * boundary) up to an empty line; an over-long field keeps its first
 * MIME_MAX_FIELD_BYTES (the rest of that line and its continuation lines
 * go), and past the totals whole field lines go.
 */
static char *
mime_trim_headers(const char *d, size_t len, size_t *outlen, bool *truncated)
{
	char *out = NULL;
	size_t o = 0, pos = 0, field = 0, fields = 0, bytes = 0;
	bool header = true;

	while (pos < len) {
		const char *p = d + pos, *nl = memchr(p, '\n', len - pos);
		size_t linelen = nl ? (size_t)(nl - p) + 1 : len - pos, keep = linelen;
		bool empty = p[0] == '\n' || (p[0] == '\r' && linelen == 2);

		if (header && empty)
			header = false;
		else if (header) {
			bool cont = p[0] == ' ' || p[0] == '\t';

			if (!cont) {
				field = 0;
				fields++;
			}
			if (fields > MIME_MAX_ALL_FIELDS ||
			    bytes >= MIME_MAX_ALL_FIELD_BYTES ||
			    field >= MIME_MAX_FIELD_BYTES)
				keep = 0;
			else if (field + linelen > MIME_MAX_FIELD_BYTES)
				keep = MIME_MAX_FIELD_BYTES - field;
			field += linelen;
			bytes += keep;
		} else if (linelen >= 2 && p[0] == '-' && p[1] == '-') {
			header = true;
			field = 0;
		}
		if (keep < linelen && out == NULL) {
			if ((out = malloc(len + 1)) == NULL)
				return NULL;
			memcpy(out, d, pos);
			o = pos;
			*truncated = true;
		}
		if (out) {
			memcpy(out + o, p, keep);
			o += keep;
			if (keep > 0 && keep < linelen)
				out[o++] = '\n';
		}
		pos += linelen;
	}
	*outlen = o;
	return out;
}

/* node_free - what a node owns (not its GMime object). */
static void
node_free(struct node *nd)
{
	free(nd->id);
	free(nd->ctype);
	free(nd->disp);
	free(nd->filename);
	free(nd->cid);
}

/* tree_free - the tree and GMime's objects. */
static void
tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		node_free(&t->v[i]);
	free(t->v);
	if (t->msg)
		g_object_unref(t->msg);
	if (t->opts)
		g_mime_parser_options_free(t->opts);
}

/* tree_add - append the node for obj, named id. */
static struct node *
tree_add(struct tree *t, GMimeObject *obj, const char *id, int depth)
{
	struct node *nd;
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	GMimeContentDisposition *cd = g_mime_object_get_content_disposition(obj);
	char *mt = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
	const char *fn = NULL;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct node *v = realloc(t->v, cap * sizeof(*v));

		if (v == NULL) {
			g_free(mt);
			t->failed = true;
			return NULL;
		}
		t->v = v;
		t->cap = cap;
	}
	nd = &t->v[t->n];
	memset(nd, 0, sizeof(*nd));
	nd->obj = obj;
	nd->depth = depth;
	nd->container = GMIME_IS_MULTIPART(obj);
	if (GMIME_IS_PART(obj))
		fn = g_mime_part_get_filename(GMIME_PART(obj));
	else if (cd)
		fn = g_mime_content_disposition_get_parameter(cd, "filename");
	nd->id = xstrdup(id);
	nd->ctype = lower_dup(mt ? mt : "text/plain");
	nd->disp = lower_dup(cd ? g_mime_content_disposition_get_disposition(cd)
	    : "");
	nd->filename = clean_str(fn, true);
	nd->cid = clean_str(g_mime_object_get_content_id(obj), true);
	g_free(mt);
	if (!nd->id || !nd->ctype || !nd->disp || !nd->filename || !nd->cid) {
		node_free(nd);
		t->failed = true;
		return NULL;
	}
	t->n++;
	return nd;
}

/* tree_walk - add obj and (for a multipart) its parts, within bounds. */
static void
tree_walk(struct tree *t, GMimeObject *obj, const char *id, int depth)
{
	int count;

	if (t->failed)
		return;
	if (t->n >= MIME_MAX_PARTS || depth > MIME_MAX_DEPTH) {
		t->truncated = true;
		return;
	}
	if (tree_add(t, obj, id, depth) == NULL || !GMIME_IS_MULTIPART(obj))
		return;
	count = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
	for (int i = 0; i < count; i++) {
		char child[512];

		if (depth == 0)
			snprintf(child, sizeof(child), "%d", i + 1);
		else
			snprintf(child, sizeof(child), "%s.%d", id, i + 1);
		tree_walk(t, g_mime_multipart_get_part(GMIME_MULTIPART(obj), i),
		    child, depth + 1);
	}
}

/* tree_parse - parse data into t (zeroed first); -1 only on ENOMEM. */
static int
tree_parse(struct tree *t, const char *data, size_t len)
{
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeObject *body;
	size_t use, tlen = 0;
	char *trimmed;
	static const char *fallback[] = { "UTF-8", "windows-1252", NULL };

	mime_init();
	memset(t, 0, sizeof(*t));
	use = mime_cut(data ? data : "", data ? len : 0, &t->truncated);
	t->opts = g_mime_parser_options_new();
	g_mime_parser_options_set_rfc2047_compliance_mode(t->opts,
	    GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_address_compliance_mode(t->opts,
	    GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(t->opts,
	    GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_allow_addresses_without_domain(t->opts, TRUE);
	g_mime_parser_options_set_fallback_charsets(t->opts, fallback);
	trimmed = mime_trim_headers(data ? data : "", use, &tlen, &t->truncated);
	/* the stream has its own copy */
	stream = g_mime_stream_mem_new_with_buffer(trimmed ? trimmed :
	    data ? data : "", trimmed ? tlen : use);
	free(trimmed);
	parser = g_mime_parser_new_with_stream(stream);
	g_object_unref(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	t->msg = g_mime_parser_construct_message(parser, t->opts);
	g_object_unref(parser);
	if (t->msg == NULL)
		return 0;
	body = g_mime_message_get_mime_part(t->msg);
	if (body)
		tree_walk(t, body, "0", 0);
	return t->failed ? -1 : 0;
}

/*
 * node_bytes - the decoded bytes of a leaf (transfer encoding undone; an
 * attached message as it is written); a GByteArray to g_byte_array_free.
 */
static GByteArray *
node_bytes(const struct node *nd)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	GByteArray *ba;

	if (GMIME_IS_PART(nd->obj)) {
		GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(nd->obj));

		if (w)
			g_mime_data_wrapper_write_to_stream(w, mem);
	} else if (GMIME_IS_MESSAGE_PART(nd->obj)) {
		GMimeMessage *m = g_mime_message_part_get_message(
		    GMIME_MESSAGE_PART(nd->obj));

		if (m)
			g_mime_object_write_to_stream(GMIME_OBJECT(m), NULL, mem);
	}
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	g_object_unref(mem);
	return ba;
}

/* node_text - a text leaf's content in UTF-8, malloc'd. */
static char *
node_text(const struct tree *t, const struct node *nd)
{
	GByteArray *ba = node_bytes(nd);
	const char *cs = g_mime_object_get_content_type_parameter(nd->obj,
	    "charset");
	char *s = to_utf8(t->opts, ba->len ? (const char *)ba->data : "",
	    ba->len, cs);

	g_byte_array_free(ba, TRUE);
	return s;
}

/* is_body - may this part be the message's text (or HTML) of type ct? */
static bool
is_body(const struct node *nd, const char *ct)
{
	return !nd->container && strcmp(nd->ctype, ct) == 0 &&
	    strcmp(nd->disp, "attachment") != 0;
}

/* breadth_first - the node indexes ordered by depth, stable; malloc'd. */
static size_t *
breadth_first(const struct tree *t)
{
	size_t *o = malloc((t->n ? t->n : 1) * sizeof(*o)), k = 0;

	if (o == NULL)
		return NULL;
	for (int d = 0; k < t->n && d <= MIME_MAX_DEPTH; d++)
		for (size_t i = 0; i < t->n; i++)
			if (t->v[i].depth == d)
				o[k++] = i;
	return o;
}

/* ---- the message --------------------------------------------------------- */

/* set_addresses - the addresses of one header (groups flattened). */
static int
add_addresses(InternetAddressList *l, struct mime_address **out, size_t *n,
    int level)
{
	int len = l ? internet_address_list_length(l) : 0;

	for (int i = 0; i < len && *n < MIME_MAX_ADDRESSES; i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		struct mime_address *a;

		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			if (level == 0 && add_addresses(
			    internet_address_group_get_members(
			    INTERNET_ADDRESS_GROUP(ia)), out, n, 1) != 0)
				return -1;
			continue;
		}
		if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
			continue;
		if (*n % 8 == 0) {
			struct mime_address *v = realloc(*out,
			    (*n + 8) * sizeof(*v));

			if (v == NULL)
				return -1;
			*out = v;
		}
		a = &(*out)[*n];
		a->name = clean_str(internet_address_get_name(ia), true);
		a->address = clean_str(internet_address_mailbox_get_addr(
		    INTERNET_ADDRESS_MAILBOX(ia)), true);
		if (a->name == NULL || a->address == NULL) {
			free(a->name);
			free(a->address);
			return -1;
		}
		(*n)++;
	}
	return 0;
}

/* free_addresses - an array of n addresses. */
static void
free_addresses(struct mime_address *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].address);
	}
	free(v);
}

/* free_parts - an array of n part descriptions. */
static void
free_parts(struct mime_part_info *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].part_id);
		free(v[i].filename);
		free(v[i].content_type);
		free(v[i].content_id);
	}
	free(v);
}

void
mime_message_free(struct mime_message *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nheaders; i++) {
		free(m->headers[i].name);
		free(m->headers[i].value);
	}
	free(m->headers);
	free(m->subject);
	free(m->message_id);
	free(m->date);
	free_addresses(m->from, m->from ? 1 : 0);
	free_addresses(m->to, m->nto);
	free_addresses(m->cc, m->ncc);
	free_addresses(m->bcc, m->nbcc);
	free_addresses(m->reply_to, m->nreply_to);
	free(m->return_path);
	free(m->list_unsubscribe);
	free(m->text);
	free(m->html);
	free_parts(m->attachments, m->nattachments);
	free_parts(m->inlines, m->ninlines);
	free(m);
}

/* struct hdr_ref - a header of the message or of its body, by offset. */
struct hdr_ref {
	GMimeHeader	*h;
	gint64		 offset;
};

/* hdr_cmp - qsort: by offset in the message. */
static int
hdr_cmp(const void *a, const void *b)
{
	gint64 x = ((const struct hdr_ref *)a)->offset,
	    y = ((const struct hdr_ref *)b)->offset;

	return x < y ? -1 : x > y;
}

/*
 * set_headers - the message's headers in order, within the bounds.  GMime
 * keeps the Content-* headers of the top level on the body part, so both
 * lists are merged back into the order of the message (their offsets).
 */
static int
set_headers(struct mime_message *m, struct tree *t)
{
	GMimeHeaderList *lists[2] = {
		g_mime_object_get_header_list(GMIME_OBJECT(t->msg)),
		t->n ? g_mime_object_get_header_list(t->v[0].obj) : NULL,
	};
	struct hdr_ref *all;
	size_t count = 0, bytes = 0;

	for (int l = 0; l < 2; l++)
		count += lists[l] ? (size_t)g_mime_header_list_get_count(lists[l]) : 0;
	all = calloc(count ? count : 1, sizeof(*all));
	if (all == NULL)
		return -1;
	count = 0;
	for (int l = 0; l < 2; l++) {
		int c = lists[l] ? g_mime_header_list_get_count(lists[l]) : 0;

		for (int i = 0; i < c; i++) {
			all[count].h = g_mime_header_list_get_header_at(lists[l], i);
			all[count].offset = g_mime_header_get_offset(all[count].h);
			count++;
		}
	}
	qsort(all, count, sizeof(*all), hdr_cmp);
	if (count > MIME_MAX_HEADERS) {
		count = MIME_MAX_HEADERS;
		m->truncated = true;
	}
	m->headers = calloc(count ? count : 1, sizeof(*m->headers));
	if (m->headers == NULL) {
		free(all);
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		struct mime_header *mh = &m->headers[m->nheaders];
		const char *raw = g_mime_header_get_raw_value(all[i].h), *v;

		/* past the budget a header is left out (not decoded at all),
		 * the smaller ones after it are still kept */
		if (bytes + (raw ? strlen(raw) : 0) > MIME_MAX_HEADER_BYTES) {
			m->truncated = true;
			continue;
		}
		v = g_mime_header_get_value(all[i].h);
		mh->name = clean_str(g_mime_header_get_name(all[i].h), true);
		mh->value = unfold(v);
		if (mh->name == NULL || mh->value == NULL) {
			free(mh->name);
			free(mh->value);
			free(all);
			return -1;
		}
		bytes += strlen(mh->value) + strlen(mh->name);
		m->nheaders++;
	}
	free(all);
	return 0;
}

/* header_value - the first header called name, unfolded ("" if none). */
static const char *
header_value(const struct mime_message *m, const char *name)
{
	for (size_t i = 0; i < m->nheaders; i++)
		if (g_ascii_strcasecmp(m->headers[i].name, name) == 0)
			return m->headers[i].value;
	return "";
}

/* add_part - append the description of node nd to a list. */
static int
add_part(struct mime_part_info **v, size_t *n, const struct node *nd)
{
	struct mime_part_info *pi;
	GByteArray *ba;

	if (*n % 8 == 0) {
		struct mime_part_info *nv = realloc(*v, (*n + 8) * sizeof(*nv));

		if (nv == NULL)
			return -1;
		*v = nv;
	}
	pi = &(*v)[*n];
	ba = node_bytes(nd);
	pi->size = ba->len;
	g_byte_array_free(ba, TRUE);
	pi->part_id = xstrdup(nd->id);
	pi->filename = xstrdup(*nd->filename ? nd->filename : nd->cid);
	pi->content_type = xstrdup(nd->ctype);
	pi->content_id = xstrdup(nd->cid);
	if (!pi->part_id || !pi->filename || !pi->content_type ||
	    !pi->content_id) {
		free(pi->part_id);
		free(pi->filename);
		free(pi->content_type);
		free(pi->content_id);
		return -1;
	}
	(*n)++;
	return 0;
}

/* is_other - a part that is neither a body nor marked: a cid: image. */
static bool
is_other(const struct node *nd)
{
	return !nd->container && *nd->disp == '\0' &&
	    strcmp(nd->ctype, "application/octet-stream") != 0 &&
	    strcmp(nd->ctype, "text/plain") != 0 &&
	    strcmp(nd->ctype, "text/html") != 0;
}

/* named - does Mailpit list this part (a file name or a Content-ID)? */
static bool
named(const struct node *nd)
{
	return *nd->filename || *nd->cid;
}

/*
 * set_single - a message that is not multipart: its body is the text or
 * the HTML, unless it is marked as an attachment (or an inline file) or
 * is not text, when it is the one attachment (inline), part "0".
 */
static int
set_single(struct mime_message *m, struct tree *t)
{
	struct node *nd = &t->v[0];
	bool text = strcmp(nd->ctype, "text/plain") == 0,
	    html = strcmp(nd->ctype, "text/html") == 0;
	bool file = strcmp(nd->disp, "attachment") == 0 ||
	    (strcmp(nd->disp, "inline") == 0 && *nd->filename) ||
	    (!text && !html);

	if (!file) {
		char *s = node_text(t, nd);

		if (s == NULL)
			return -1;
		free(html ? m->html : m->text);
		*(html ? &m->html : &m->text) = s;
		return 0;
	}
	if (nd->container || !named(nd))
		return 0;
	if (strcmp(nd->disp, "inline") == 0)
		return add_part(&m->inlines, &m->ninlines, nd);
	return add_part(&m->attachments, &m->nattachments, nd);
}

/* append_text - m->text += sep + s. */
static int
append_text(char **text, const char *sep, char *s)
{
	size_t a = strlen(*text), b = strlen(sep), c = strlen(s);
	char *n;

	if (a == 0) {
		free(*text);
		*text = s;
		return 0;
	}
	n = realloc(*text, a + b + c + 1);
	if (n == NULL) {
		free(s);
		return -1;
	}
	memcpy(n + a, sep, b);
	memcpy(n + a + b, s, c + 1);
	free(s);
	*text = n;
	return 0;
}

/* set_multi - the bodies and parts of a multipart message (see the top). */
static int
set_multi(struct mime_message *m, struct tree *t)
{
	size_t *bf = breadth_first(t);
	bool alternative = strcmp(t->v[0].ctype, "multipart/alternative") == 0;
	int rc = -1;

	if (bf == NULL)
		return -1;
	if (alternative) {
		for (size_t k = 0; k < t->n; k++)
			if (is_body(&t->v[bf[k]], "text/plain")) {
				char *s = node_text(t, &t->v[bf[k]]);

				if (s == NULL || append_text(&m->text, "", s))
					goto out;
				break;
			}
	} else {
		bool first = true;

		for (size_t i = 0; i < t->n; i++)
			if (is_body(&t->v[i], "text/plain")) {
				char *s = node_text(t, &t->v[i]);

				/* "" then s: the separator only between two */
				if (s == NULL || append_text(&m->text,
				    first ? "" : "\n--\n", s))
					goto out;
				first = false;
			}
	}
	for (size_t k = 0; k < t->n; k++)
		if (is_body(&t->v[bf[k]], "text/html")) {
			char *s = node_text(t, &t->v[bf[k]]);

			if (s == NULL)
				goto out;
			free(m->html);
			m->html = s;
			break;
		}
	for (size_t k = 0; k < t->n; k++) {
		const struct node *nd = &t->v[bf[k]];

		if (nd->container || !named(nd))
			continue;
		if ((strcmp(nd->disp, "attachment") == 0 ||
		    strcmp(nd->ctype, "application/octet-stream") == 0) &&
		    add_part(&m->attachments, &m->nattachments, nd))
			goto out;
	}
	for (size_t k = 0; k < t->n; k++) {
		const struct node *nd = &t->v[bf[k]];

		if (!nd->container && named(nd) &&
		    strcmp(nd->disp, "inline") == 0 &&
		    add_part(&m->inlines, &m->ninlines, nd))
			goto out;
	}
	for (size_t k = 0; k < t->n; k++) {
		const struct node *nd = &t->v[bf[k]];

		if (is_other(nd) && named(nd) &&
		    add_part(&m->inlines, &m->ninlines, nd))
			goto out;
	}
	rc = 0;
out:
	free(bf);
	return rc;
}

/*
 * mime_message_from_raw - when GMime found no message at all (it needs at
 * least a header block): the bytes are the text.
 */
static int
from_raw(struct mime_message *m, struct tree *t, const char *data, size_t len)
{
	free(m->text);
	m->text = to_utf8(t->opts, data ? data : "", data ? len : 0, NULL);
	return m->text ? 0 : -1;
}

/* set_envelope_fields - subject, IDs, dates and addresses. */
static int
set_fields(struct mime_message *m, struct tree *t)
{
	GMimeMessage *msg = t->msg;
	GDateTime *dt = g_mime_message_get_date(msg);
	InternetAddressList *from = g_mime_message_get_from(msg);
	size_t nfrom = 0;

	free(m->subject);
	free(m->message_id);
	free(m->date);
	free(m->return_path);
	free(m->list_unsubscribe);
	m->subject = unfold(g_mime_message_get_subject(msg));
	m->message_id = strip_angles(header_value(m, "Message-ID"));
	m->date = xstrdup(header_value(m, "Date"));
	m->return_path = strip_angles(header_value(m, "Return-Path"));
	m->list_unsubscribe = xstrdup(header_value(m, "List-Unsubscribe"));
	if (!m->subject || !m->message_id || !m->date || !m->return_path ||
	    !m->list_unsubscribe)
		return -1;
	m->date_time = dt ? (time_t)g_date_time_to_unix(dt) : 0;
	if (from && internet_address_list_length(from) > 0) {
		struct mime_address *v = NULL;

		if (add_addresses(from, &v, &nfrom, 0) != 0) {
			free_addresses(v, nfrom);
			return -1;
		}
		if (nfrom > 0) {
			/* the first; the others are not Mailpit's */
			for (size_t i = 1; i < nfrom; i++) {
				free(v[i].name);
				free(v[i].address);
			}
			m->from = v;
		} else
			free(v);
	}
	if (add_addresses(g_mime_message_get_to(msg), &m->to, &m->nto, 0) ||
	    add_addresses(g_mime_message_get_cc(msg), &m->cc, &m->ncc, 0) ||
	    add_addresses(g_mime_message_get_bcc(msg), &m->bcc, &m->nbcc, 0) ||
	    add_addresses(g_mime_message_get_reply_to(msg), &m->reply_to,
	    &m->nreply_to, 0))
		return -1;
	return 0;
}

struct mime_message *
mime_parse(const char *data, size_t len)
{
	struct mime_message *m = calloc(1, sizeof(*m));
	struct tree t;
	int rc;

	if (m == NULL)
		return NULL;
	m->subject = xstrdup("");
	m->message_id = xstrdup("");
	m->date = xstrdup("");
	m->return_path = xstrdup("");
	m->list_unsubscribe = xstrdup("");
	m->text = xstrdup("");
	m->html = xstrdup("");
	if (tree_parse(&t, data, len) != 0 || !m->subject || !m->message_id ||
	    !m->date || !m->return_path || !m->list_unsubscribe || !m->text ||
	    !m->html) {
		tree_free(&t);
		mime_message_free(m);
		return NULL;
	}
	m->truncated = t.truncated;
	if (t.msg == NULL)
		rc = from_raw(m, &t, data, len);
	else if ((rc = set_headers(m, &t)) == 0 && (rc = set_fields(m, &t)) == 0
	    && t.n > 0)
		rc = t.v[0].container ? set_multi(m, &t) : set_single(m, &t);
	m->truncated |= t.truncated;
	tree_free(&t);
	if (rc != 0) {
		mime_message_free(m);
		return NULL;
	}
	return m;
}

/* ---- parts ----------------------------------------------------------------- */

int
mime_part_get(const char *data, size_t len, const char *part_id,
    char **bytes, size_t *n, char **content_type, char **filename)
{
	struct tree t;
	int rc = -1;

	*bytes = *content_type = *filename = NULL;
	*n = 0;
	if (part_id == NULL || tree_parse(&t, data, len) != 0) {
		tree_free(&t);
		return -1;
	}
	for (size_t i = 0; i < t.n; i++) {
		const struct node *nd = &t.v[i];
		GByteArray *ba;

		if (nd->container || strcmp(nd->id, part_id) != 0)
			continue;
		ba = node_bytes(nd);
		*bytes = malloc(ba->len ? ba->len : 1);
		*content_type = xstrdup(nd->ctype);
		*filename = xstrdup(*nd->filename ? nd->filename : nd->cid);
		if (*bytes && *content_type && *filename) {
			if (ba->len)
				memcpy(*bytes, ba->data, ba->len);
			*n = ba->len;
			rc = 0;
		} else {
			free(*bytes);
			free(*content_type);
			free(*filename);
			*bytes = *content_type = *filename = NULL;
		}
		g_byte_array_free(ba, TRUE);
		break;
	}
	tree_free(&t);
	return rc;
}

/* ---- HTML ---------------------------------------------------------------- */

/* struct buf - a growing malloc'd string. */
struct buf {
	char	*s;
	size_t	 len, cap;
	bool	 failed;
};

/* buf_add - append n bytes. */
static void
buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *s;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((s = realloc(b->s, cap)) == NULL) {
			b->failed = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* buf_done - the string, or NULL when out of memory. */
static char *
buf_done(struct buf *b)
{
	if (b->failed) {
		free(b->s);
		return NULL;
	}
	if (b->s == NULL)
		return strdup("");
	return b->s;
}

/* cid_end - is c the end of a cid: URL in an attribute or CSS url()? */
static bool
cid_end(char c)
{
	return c == '"' || c == '\'' || c == ')' || c == '>' || c == '<' ||
	    c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0';
}

/* pct_decode - a cid: URL's percent-escapes undone (RFC 2392), malloc'd. */
static char *
pct_decode(const char *p, size_t n)
{
	char *o = malloc(n + 1), *w = o;

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '%' && i + 2 < n &&
		    g_ascii_isxdigit(p[i + 1]) && g_ascii_isxdigit(p[i + 2])) {
			*w++ = (char)(g_ascii_xdigit_value(p[i + 1]) * 16 +
			    g_ascii_xdigit_value(p[i + 2]));
			i += 2;
		} else
			*w++ = p[i];
	}
	*w = '\0';
	return o;
}

char *
mime_html_with_cids(const char *data, size_t len, const struct mime_message *m)
{
	struct tree t;
	struct buf out = { 0 };
	char **urls;
	const char *h = m && m->html ? m->html : "", *p = h;

	if (tree_parse(&t, data, len) != 0) {
		tree_free(&t);
		return NULL;
	}
	/* one data: URL per part, made when first referred to */
	urls = calloc(t.n ? t.n : 1, sizeof(*urls));
	if (urls == NULL) {
		tree_free(&t);
		return NULL;
	}
	while (*p) {
		const char *c = p;
		size_t idlen = 0, k = t.n;
		char *id;

		while (*c && g_ascii_strncasecmp(c, "cid:", 4) != 0)
			c++;
		buf_add(&out, p, (size_t)(c - p));
		if (*c == '\0')
			break;
		while (!cid_end(c[4 + idlen]))
			idlen++;
		id = pct_decode(c + 4, idlen);
		for (size_t i = 0; id && i < t.n; i++)
			if (!t.v[i].container && *t.v[i].cid &&
			    strcmp(t.v[i].cid, id) == 0) {
				k = i;
				break;
			}
		free(id);
		if (k < t.n && urls[k] == NULL) {
			GByteArray *ba = node_bytes(&t.v[k]);
			gchar *b64 = g_base64_encode(ba->len ? ba->data :
			    (const guchar *)"", ba->len);

			urls[k] = g_strdup_printf("data:%s;base64,%s",
			    t.v[k].ctype, b64);
			g_free(b64);
			g_byte_array_free(ba, TRUE);
		}
		if (k < t.n && out.len + strlen(urls[k]) <= MIME_MAX_HTML_OUT)
			buf_add(&out, urls[k], strlen(urls[k]));
		else
			buf_add(&out, c, 4 + idlen);
		p = c + 4 + idlen;
	}
	for (size_t i = 0; i < t.n; i++)
		g_free(urls[i]);
	free(urls);
	tree_free(&t);
	return buf_done(&out);
}

/* Elements whose content is not text. */
static const char *const html_skip[] = {
	"script", "style", "head", "title", "noscript", "template", NULL
};

/* tag_name - the lower-case name of the tag at p ("<" then name). */
static size_t
tag_name(const char *p, char *name, size_t size)
{
	size_t n = 0;

	while (g_ascii_isalnum(p[n]) && n + 1 < size) {
		name[n] = g_ascii_tolower(p[n]);
		n++;
	}
	name[n] = '\0';
	return n;
}

/* entity - the UTF-8 of the character reference at p ("&..."), or 0. */
static size_t
entity(const char *p, char out[8], size_t *used)
{
	static const struct { const char *name; const char *utf8; } named_e[] = {
		{ "amp;", "&" }, { "lt;", "<" }, { "gt;", ">" },
		{ "quot;", "\"" }, { "apos;", "'" }, { "nbsp;", " " },
		{ "copy;", "\xc2\xa9" }, { "reg;", "\xc2\xae" },
		{ "hellip;", "\xe2\x80\xa6" }, { "mdash;", "\xe2\x80\x94" },
		{ "ndash;", "\xe2\x80\x93" }, { "zwnj;", "" },
	};

	if (p[1] == '#') {
		char *end;
		unsigned long cp;

		errno = 0;
		if (p[2] == 'x' || p[2] == 'X')
			cp = strtoul(p + 3, &end, 16);
		else
			cp = strtoul(p + 2, &end, 10);
		if (end == p + 2 || end == p + 3 || errno || cp == 0 ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		*used = (size_t)(end - p) + (*end == ';');
		return (size_t)g_unichar_to_utf8((gunichar)cp, out);
	}
	for (size_t i = 0; i < sizeof(named_e) / sizeof(named_e[0]); i++)
		if (strncmp(p + 1, named_e[i].name, strlen(named_e[i].name)) == 0) {
			*used = 1 + strlen(named_e[i].name);
			strcpy(out, named_e[i].utf8);
			return strlen(out) ? strlen(out) : (size_t)-1;
		}
	return 0;
}

char *
mime_html_to_text(const char *html)
{
	struct buf out = { 0 };
	const char *p = html ? html : "";
	const char *skip_until = NULL;	/* the closing tag being looked for */
	bool space = true;		/* last output was white space */

	while (*p) {
		/* "<" starts a tag only before a name, "/", "!" or "?" */
		if (*p == '<' && (g_ascii_isalpha(p[1]) || p[1] == '/' ||
		    p[1] == '!' || p[1] == '?')) {
			char name[16];
			const char *q = p + 1;
			bool closing = *q == '/';

			if (strncmp(p, "<!--", 4) == 0) {
				const char *e = strstr(p + 4, "-->");

				p = e ? e + 3 : p + strlen(p);
				continue;
			}
			if (closing)
				q++;
			tag_name(q, name, sizeof(name));
			q = strchr(p, '>');
			p = q ? q + 1 : p + strlen(p);
			if (skip_until) {
				if (closing && strcmp(name, skip_until) == 0)
					skip_until = NULL;
				continue;
			}
			for (size_t i = 0; !closing && html_skip[i]; i++)
				if (strcmp(name, html_skip[i]) == 0 &&
				    !(q && q > html && q[-1] == '/'))
					skip_until = html_skip[i];
			/* every tag separates words: "<p>a</p><p>b</p>" */
			if (!space) {
				buf_add(&out, " ", 1);
				space = true;
			}
			continue;
		}
		if (skip_until) {
			p++;
			continue;
		}
		if (g_ascii_isspace(*p)) {
			if (!space)
				buf_add(&out, " ", 1);
			space = true;
			p++;
			continue;
		}
		if (*p == '&') {
			char u[8];
			size_t used = 0, n = entity(p, u, &used);

			if (n) {
				if (n != (size_t)-1) {
					bool sp = strcmp(u, " ") == 0;

					if (!(sp && space))
						buf_add(&out, u, n);
					space = sp;
				}
				p += used;
				continue;
			}
		}
		buf_add(&out, p, 1);
		space = false;
		p++;
	}
	if (!out.failed && out.len && out.s[out.len - 1] == ' ')
		out.s[--out.len] = '\0';
	return buf_done(&out);
}

char *
mime_snippet(const struct mime_message *m, size_t max)
{
	char *src = NULL, *folded;
	const char *from;
	struct buf out = { 0 };
	size_t chars = 0;
	bool space = true;

	if (m == NULL)
		return strdup("");
	/* Mailpit's: the HTML's text when there is HTML, else the text */
	if (m->html && *m->html) {
		if ((src = mime_html_to_text(m->html)) == NULL)
			return NULL;
		from = src;
	} else
		from = m->text ? m->text : "";
	for (const char *p = from; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (g_unichar_isspace(c) || c == 0xfeff) {
			space = true;
			continue;
		}
		if (chars >= max) {
			buf_add(&out, "...", 3);
			break;
		}
		if (space && out.len) {
			buf_add(&out, " ", 1);
			chars++;
			if (chars >= max) {
				buf_add(&out, "...", 3);
				break;
			}
		}
		space = false;
		buf_add(&out, p, (size_t)(g_utf8_next_char(p) - p));
		chars++;
	}
	free(src);
	folded = buf_done(&out);
	return folded;
}

/* ---- the terminal ---------------------------------------------------------- */

/*
 * put_safe - s on the terminal: control characters (an escape sequence in
 * a hostile header) shown as '?', except newlines and tabs when multiline.
 */
static void
put_safe(FILE *out, const char *s, bool multiline)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (multiline && (c == '\n' || c == '\t'))
			fputc(c, out);
		else if (c == '\r' && multiline)
			continue;
		else if (c < 0x20 || c == 0x7f)
			fputc('?', out);
		else
			fputc(c, out);
	}
}

/* print_parts - one line per attachment or inline part. */
static void
print_parts(FILE *out, const char *what, const struct mime_part_info *v,
    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "[%s %s: ", what, v[i].part_id);
		put_safe(out, v[i].filename, false);
		fprintf(out, ", %s, %zu bytes]\n", v[i].content_type, v[i].size);
	}
}

void
mime_print_decoded(FILE *out, const struct smtpd_message *msg)
{
	struct mime_message *m = mime_parse(msg->data, msg->data_len);
	time_t now = time(NULL);
	struct tm tm;
	char when[64] = "";

	if (localtime_r(&now, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", &tm);
	fputs("---------- MESSAGE FOLLOWS ----------\n", out);
	fputs("mail from: ", out);
	put_safe(out, msg->mailfrom ? msg->mailfrom : "", false);
	fputc('\n', out);
	for (size_t i = 0; i < msg->rcpt_count; i++) {
		fputs("rcpt to: ", out);
		put_safe(out, msg->rcpttos[i], false);
		fputc('\n', out);
	}
	fprintf(out, "peer: %s port %d\n", msg->peer_ip ? msg->peer_ip : "",
	    msg->peer_port);
	fprintf(out, "time: %s\n", when);
	if (msg->tls_protocol)
		fprintf(out, "tls: %s %s\n", msg->tls_protocol,
		    msg->tls_cipher ? msg->tls_cipher : "");
	if (msg->auth_user) {
		fputs("auth: ", out);
		put_safe(out, msg->auth_user, false);
		fputc('\n', out);
	}
	if (m == NULL) {
		fputs("(out of memory: the message is not shown)\n", out);
		fputs("------------ END MESSAGE ------------\n", out);
		return;
	}
	fputc('\n', out);
	for (size_t i = 0; i < m->nheaders; i++) {
		put_safe(out, m->headers[i].name, false);
		fputs(": ", out);
		put_safe(out, m->headers[i].value, false);
		fputc('\n', out);
	}
	fputc('\n', out);
	put_safe(out, m->text, true);
	if (*m->text && m->text[strlen(m->text) - 1] != '\n')
		fputc('\n', out);
	if (*m->html)
		fprintf(out, "[html: %zu bytes]\n", strlen(m->html));
	print_parts(out, "attachment", m->attachments, m->nattachments);
	print_parts(out, "inline", m->inlines, m->ninlines);
	if (m->truncated)
		fputs("[truncated: the message is past a parsing limit]\n", out);
	fputs("------------ END MESSAGE ------------\n", out);
	mime_message_free(m);
}
