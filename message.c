/* SPDX-License-Identifier: ISC */
/*
 * message.c - the text codec of DATA and BDAT (message.h).
 *
 * DATA's text is dot-stuffed and ends with the line "." (RFC 5321
 * section 4.5.2, 4.1.1.4); BDAT's comes in chunks of a declared size, as
 * they are (RFC 3030).  Either way the handler gets the text Python's
 * smtpd would give it: lines joined with LF, without the last line end.
 * The size counts bytes on the wire, so a message over the limit is
 * known before it is all kept; from then on it is only counted.
 */
#include "message.h"

#include <stdlib.h>
#include <string.h>

/* message_reserve - room for n more bytes and a NUL. */
static bool
message_reserve(struct message_text *m, size_t n)
{
	size_t cap;
	char *p;

	if (m->len + n + 1 <= m->cap)
		return true;
	cap = m->cap ? m->cap : 4096;
	while (cap < m->len + n + 1)
		cap *= 2;
	if ((p = realloc(m->data, cap)) == NULL) {
		m->no_memory = true;
		return false;
	}
	m->data = p;
	m->cap = cap;
	return true;
}

/* message_add - keep n bytes of text (raw bytes on the wire) unless the
 * message is already over the limit. */
static void
message_add(struct message_text *m, const char *s, size_t n, size_t raw)
{
	m->raw += raw;
	if (m->too_big || m->no_memory)
		return;
	/* Python counts the text without the final CRLF: raw - 2. */
	if (m->limit && m->raw > m->limit + 2) {
		m->too_big = true;
		return;
	}
	if (!message_reserve(m, n))
		return;
	memcpy(m->data + m->len, s, n);
	m->len += n;
}

void
message_start(struct message_text *m, size_t limit)
{
	m->len = m->raw = 0;
	m->limit = limit;
	m->bol = true;
	m->too_big = m->no_memory = m->bare_newline = m->cr_pending = false;
}

/*
 * message_scan - only <CRLF>.<CRLF> ends the data (RFC 5321 section
 * 4.1.1.4).  A bare LF or CR, and so "\n.\n", "\r.\r", "\n.\r\n", is
 * message text: reading any of them as an end would let a client smuggle
 * a second message past a filter that reads the first one differently
 * (CVE-2023-51764).  At the start of a line a leading dot is removed
 * (section 4.5.2).  CRLF becomes LF, as Python's smtpd hands data to
 * process_message.
 */
size_t
message_scan(struct message_text *m, const char *start, size_t n,
    bool *done, bool *line_end)
{
	const char *p = start, *end = start + n;

	*done = *line_end = false;
	while (p < end) {
		if (m->bol && *p == '.') {
			/* Wait for 3 bytes when they may be ".\r\n". */
			if (end - p == 1 || (end - p == 2 && p[1] == '\r'))
				break;
			if (p[1] == '\r' && p[2] == '\n') {
				p += 3;
				*done = *line_end = true;
				break;
			}
			p++;
			m->raw++;
		}

		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			size_t k = (size_t)(end - p);

			/* A final CR may be the first half of a CRLF. */
			if (p[k - 1] == '\r')
				k--;
			if (k == 0)
				break;
			if (memchr(p, '\r', k) != NULL)
				m->bare_newline = true;
			message_add(m, p, k, k);
			p += k;
			m->bol = false;
			continue;
		}
		if (nl > p && nl[-1] == '\r') {
			size_t k = (size_t)(nl - 1 - p);

			if (k > 0 && memchr(p, '\r', k) != NULL)
				m->bare_newline = true;
			/* Copy the CR's place too, then make it the LF. */
			message_add(m, p, k + 1, k + 2);
			if (!m->too_big && !m->no_memory)
				m->data[m->len - 1] = '\n';
			m->bol = true;
			*line_end = true;
		} else {
			m->bare_newline = true;		/* a bare LF */
			message_add(m, p, (size_t)(nl + 1 - p),
			    (size_t)(nl + 1 - p));
			m->bol = false;
		}
		p = nl + 1;
	}
	return (size_t)(p - start);
}

/*
 * message_chunk - the text is made what DATA would have made of the same
 * message: CRLF becomes LF (a CRLF may be split between chunks: a final
 * CR waits for the next byte), a bare CR or LF is kept and noted; no dot
 * is removed, for none was added.
 */
void
message_chunk(struct message_text *m, const char *p, size_t n)
{
	if (n > 0 && m->cr_pending) {
		m->cr_pending = false;
		if (*p == '\n') {
			message_add(m, "\n", 1, 1);
			p++;
			n--;
		} else {
			m->bare_newline = true;
			message_add(m, "\r", 1, 0);
		}
	}
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t k;

		if (nl == NULL) {
			k = n;
			if (p[k - 1] == '\r') {
				m->cr_pending = true;
				k--;
				message_add(m, "", 0, 1);	/* its byte */
			}
			if (k > 0 && memchr(p, '\r', k) != NULL)
				m->bare_newline = true;
			message_add(m, p, k, k);
			return;
		}
		k = (size_t)(nl - p);
		if (k > 0 && p[k - 1] == '\r') {
			if (k > 1 && memchr(p, '\r', k - 1) != NULL)
				m->bare_newline = true;
			message_add(m, p, k - 1, k - 1);
			message_add(m, "\n", 1, 2);
		} else {
			m->bare_newline = true;		/* a bare LF */
			message_add(m, p, k + 1, k + 1);
		}
		p = nl + 1;
		n -= k + 1;
	}
}

enum message_outcome
message_end(struct message_text *m, bool bdat, bool strict)
{
	if (bdat && m->cr_pending) {
		/* The message ended in a CR: a bare one. */
		m->cr_pending = false;
		m->bare_newline = true;
		message_add(m, "\r", 1, 0);
	}
	/* Python counts DATA's text without its final CRLF; BDAT's chunks
	 * are the message, every byte. */
	if (m->limit && m->raw > (bdat ? 0 : 2) &&
	    m->raw - (bdat ? 0 : 2) > m->limit)
		m->too_big = true;
	if (m->too_big || m->no_memory || (strict && m->bare_newline)) {
		m->len = 0;
		return m->too_big ? MESSAGE_TOO_BIG : m->no_memory ?
		    MESSAGE_NO_MEMORY : MESSAGE_BARE_NEWLINE;
	}
	/* Python joins the lines and drops the final line ending (which a
	 * chunked message need not have). */
	if (m->len > 0 && (!bdat || m->data[m->len - 1] == '\n'))
		m->len--;
	if (!message_reserve(m, 0))
		return MESSAGE_NO_MEMORY;
	m->data[m->len] = '\0';
	return MESSAGE_OK;
}

void
message_clear(struct message_text *m)
{
	m->len = 0;
	if (m->data)
		m->data[0] = '\0';
}

void
message_free(struct message_text *m)
{
	free(m->data);
	m->data = NULL;
	m->cap = m->len = 0;
}

/* line_end_lacks_cr - text[i] is an LF that had its CR taken. */
static bool
line_end_lacks_cr(const char *text, size_t i)
{
	return text[i] == '\n' && (i == 0 || text[i - 1] != '\r');
}

char *
message_wire_text(const char *text, size_t n, size_t *len)
{
	size_t crs = n ? 2 : 0;		/* the last line end, given back */
	char *out, *d;

	for (size_t i = 0; i < n; i++)
		crs += line_end_lacks_cr(text, i);
	if ((out = malloc(n + crs + 1)) == NULL)
		return NULL;
	d = out;
	for (size_t i = 0; i < n; i++) {
		if (line_end_lacks_cr(text, i))
			*d++ = '\r';
		*d++ = text[i];
	}
	if (n) {
		*d++ = '\r';
		*d++ = '\n';
	}
	*d = '\0';
	*len = (size_t)(d - out);
	return out;
}
