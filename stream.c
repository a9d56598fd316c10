/* SPDX-License-Identifier: ISC */
/*
 * stream.c - a session's CRLF stream (stream.h): input read into a small
 * buffer inside the session and split into lines there, with no read per
 * byte and no allocation per line; a larger buffer only while a message
 * is read; replies collected and written when no more input is pending,
 * so that a pipelined burst (RFC 2920) is answered in one write.
 */
#include "compat.h"
#include "stream.h"
#include "io.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

void
stream_init(struct stream *st, const struct channel_io *io, int timeout)
{
	memset(st, 0, offsetof(struct stream, out));
	st->io = *io;
	st->timeout = timeout;
	st->in = st->in_small;
	st->in_cap = IN_SMALL;
}

void
stream_free(struct stream *st)
{
	if (st->in != st->in_small)
		free(st->in);
	st->in = st->in_small;
	st->in_cap = IN_SMALL;
}

void
stream_reset(struct stream *st)
{
	st->in_start = st->in_end = st->in_scan = 0;
	st->maybe_more = false;
	st->discarding = false;
}

bool
stream_pending(const struct stream *st)
{
	return st->in_start != st->in_end;
}

bool
stream_flush(struct stream *st)
{
	if (st->write_failed)
		return false;
	if (st->out_len > 0 && st->io.write(st->io.ctx, st->out,
	    st->out_len) < 0)
		st->write_failed = true;	/* the peer is gone or stuck */
	st->out_len = 0;
	return !st->write_failed;
}

bool
stream_write(struct stream *st, const char *s, size_t len)
{
	if (st->out_len + len > OUT_CAP)
		stream_flush(st);
	if (len > OUT_CAP) {
		if (!st->write_failed && st->io.write(st->io.ctx, s, len) < 0)
			st->write_failed = true;
		return !st->write_failed;
	}
	memcpy(st->out + st->out_len, s, len);
	st->out_len += len;
	return !st->write_failed;
}

/* in_compact - move the unread bytes to the start of the buffer. */
static void
in_compact(struct stream *st)
{
	memmove(st->in, st->in + st->in_start, st->in_end - st->in_start);
	st->in_end -= st->in_start;
	st->in_scan -= st->in_start;
	st->in_start = 0;
}

/*
 * in_grow - read a message through IN_CAP bytes of heap: 16 KB per
 * read, not 1 KB.  The unread bytes move along.  Without memory the
 * small buffer serves, only slower.
 */
static void
in_grow(struct stream *st)
{
	char *big = malloc(IN_CAP);

	if (big == NULL) {
		if (st->in_start > 0 && st->in_end == st->in_cap)
			in_compact(st);
		return;
	}
	memcpy(big, st->in + st->in_start, st->in_end - st->in_start);
	st->in_end -= st->in_start;
	st->in_scan -= st->in_start;
	st->in_start = 0;
	st->in = big;
	st->in_cap = IN_CAP;
}

int
stream_fill(struct stream *st, bool bulk, bool stop)
{
	size_t space;
	ssize_t n;

	if (st->in_start == st->in_end) {
		st->in_start = st->in_end = st->in_scan = 0;
		/* The message and what followed it are read: give the large
		 * buffer back, and wait for the next command in the small
		 * one. */
		if (st->in != st->in_small && !bulk)
			stream_free(st);
	}
	if (bulk && st->in == st->in_small)
		in_grow(st);
	else if (st->in_start > 0 && st->in_end == st->in_cap)
		in_compact(st);
	space = st->in_cap - st->in_end;

	/*
	 * Pipelining: if the last read filled the buffer, more is probably
	 * waiting, and answering now would split the burst's replies.  Look
	 * without blocking; only when nothing is pending do we flush.
	 */
	if (st->out_len > 0 && st->maybe_more) {
		n = st->io.read(st->io.ctx, st->in + st->in_end, space, false);
		if (n > 0) {
			st->maybe_more = ((size_t)n == space);
			st->in_end += (size_t)n;
			return (int)n;
		}
	}
	if (!stream_flush(st) || stop)
		return READ_ERROR;
	/*
	 * The timeout bounds each read (SO_RCVTIMEO) and also each line: a
	 * slowloris client sending a byte now and then, each in time, would
	 * otherwise hold its thread forever.  Like Postfix's
	 * smtpd_per_record_deadline; checked when a read returns, so a line
	 * is cut off at most one timeout after its deadline.
	 */
	if (st->timeout > 0 && st->line_deadline == 0)
		st->line_deadline = now_ms() + st->timeout * 1000LL;
	/* A signal may interrupt the read: read again. */
	do
		n = st->io.read(st->io.ctx, st->in + st->in_end, space, true);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return READ_TIMEOUT;
		return READ_ERROR;
	}
	if (n == 0)
		return READ_EOF;
	if (st->line_deadline && now_ms() > st->line_deadline)
		return READ_TIMEOUT;
	st->maybe_more = ((size_t)n == space);
	st->in_end += (size_t)n;
	return (int)n;
}

int
stream_read_line(struct stream *st, size_t max, bool stop, char **line,
    size_t *len)
{
	for (;;) {
		char *p = st->in + st->in_scan;
		char *end = st->in + st->in_end;
		char *nl;

		while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			if (nl > st->in + st->in_start && nl[-1] == '\r') {
				char *start = st->in + st->in_start;

				st->in_start = st->in_scan =
				    (size_t)(nl + 1 - st->in);
				st->line_deadline = 0;
				if (st->discarding) {
					st->discarding = false;
					return READ_TOO_LONG;
				}
				nl[-1] = '\0';
				*line = start;
				*len = (size_t)(nl - 1 - start);
				return READ_LINE;
			}
			p = nl + 1;
		}
		st->in_scan = st->in_end;

		if (st->in_end - st->in_start > max + 1) {
			if (!st->discarding) {
				size_t k = sizeof(st->dropped) - 1;

				memcpy(st->dropped, st->in + st->in_start, k);
				st->dropped[k] = '\0';
			}
			/* Keep only the last byte: it may be the CR of CRLF. */
			st->in_start = st->in_scan = st->in_end - 1;
			st->discarding = true;
		}
		int r = stream_fill(st, false, stop);
		if (r <= 0)
			return r;
	}
}

int
stream_read_chunk(struct stream *st, unsigned long long n, bool bulk,
    bool stop, void (*take)(void *, const char *, size_t), void *arg)
{
	while (n > 0) {
		size_t avail = st->in_end - st->in_start;
		size_t k;

		if (avail == 0) {
			int r = stream_fill(st, bulk, stop);

			if (r <= 0)
				return r;
			continue;
		}
		k = avail < n ? avail : (size_t)n;
		if (take)
			take(arg, st->in + st->in_start, k);
		stream_consume(st, k, true);
		n -= k;
	}
	return READ_LINE;
}

size_t
stream_unread(const struct stream *st, const char **p)
{
	*p = st->in + st->in_start;
	return st->in_end - st->in_start;
}

void
stream_consume(struct stream *st, size_t n, bool line_end)
{
	st->in_start += n;
	st->in_scan = st->in_start;
	if (line_end)
		st->line_deadline = 0;
}

/*
 * stream_drain - closing a socket with input unread makes the kernel
 * reset the connection, and the reset can destroy our last reply before
 * the peer reads it.  Only when the last read filled the buffer (more may
 * be waiting), and bounded: a peer that keeps sending is cut off all the
 * same.
 */
void
stream_drain(struct stream *st, size_t max)
{
	size_t total = 0;
	ssize_t n;

	if (!st->maybe_more || st->write_failed)
		return;
	while (total < max &&
	    (n = st->io.read(st->io.ctx, st->in, st->in_cap, false)) > 0)
		total += (size_t)n;
}

/* socket_read - recv(2), blocking up to SO_RCVTIMEO when asked to wait. */
static ssize_t
socket_read(void *ctx, void *buf, size_t len, bool wait)
{
	int fd = (int)(intptr_t)ctx;

	return recv(fd, buf, len, wait ? 0 : MSG_DONTWAIT);
}

/* socket_write - send all of buf; SO_SNDTIMEO bounds a peer that does
 * not read.  send_all never raises SIGPIPE: a vanished client must not
 * kill the process. */
static ssize_t
socket_write(void *ctx, const void *buf, size_t len)
{
	return send_all((int)(intptr_t)ctx, buf, len);
}

struct channel_io
stream_socket(int fd)
{
	struct channel_io io = { socket_read, socket_write,
	    (void *)(intptr_t)fd };

	return io;
}
