/* SPDX-License-Identifier: ISC */
/*
 * stream.h - a session's CRLF stream: the input buffer and the line and
 * chunk readers on it, the output buffer and its flush, over any
 * channel_io (a socket, TLS, or bytes in memory for the tests).  It knows
 * nothing of SMTP's commands: its limits (the longest line, the timeout)
 * are its caller's parameters.  Not installed.
 */
#ifndef SMTPD_STREAM_H
#define SMTPD_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct channel_io {
	/* Like recv(2): bytes read, 0 at end of input, -1 with errno set.
	 * When wait is false it must not block (EAGAIN: nothing pending);
	 * when wait is true, EAGAIN means the read timed out. */
	ssize_t	(*read)(void *ctx, void *buf, size_t len, bool wait);
	/* Write all of buf or return -1. */
	ssize_t	(*write)(void *ctx, const void *buf, size_t len);
	void	*ctx;
};

/*
 * The buffers, sized for an idle session to be one small allocation (the
 * README's memory section has the measurement).  IN_SMALL holds a whole
 * command line, with room to spare for a pipelined burst; IN_CAP is
 * allocated only while a message is read, many lines per read.  OUT_CAP
 * holds the usual replies; a longer one is written directly.
 */
#define IN_SMALL	1024	/* commands: inside the stream */
#define IN_CAP		16384	/* message text: allocated for DATA */
#define OUT_CAP		512	/* replies to one pipelined burst */

/* What the readers return besides "here is a line" (or "all came"). */
enum read_result {
	READ_LINE = 1,
	READ_EOF = 0,
	READ_ERROR = -1,
	READ_TIMEOUT = -2,
	READ_TOO_LONG = -3
};

struct stream {
	struct channel_io	 io;
	int			 timeout;	/* seconds per line, 0: none */
	/* Bytes in[start, end) are unread; scan is where the search for
	 * CRLF resumes.  in is in_small, or IN_CAP bytes of heap while a
	 * message is read (stream_fill). */
	char			*in;
	size_t			 in_cap;
	size_t			 in_start, in_end, in_scan;
	bool			 discarding;	/* inside a line that is too long */
	char			 dropped[8];	/* its first bytes, NUL-terminated */
	bool			 maybe_more;	/* the last read filled the buffer */
	/* The line being read must be whole by then (ms, CLOCK_MONOTONIC;
	 * 0: no line is being waited for). */
	long long		 line_deadline;
	size_t			 out_len;	/* bytes in out[] */
	bool			 write_failed;	/* nothing more goes out */
	/* The buffers come last, so that a session can clear everything
	 * before them (channel.c: channel_new_io). */
	char			 out[OUT_CAP];	/* replies not yet written */
	char			 in_small[IN_SMALL];	/* commands */
};

/* stream_init - an empty stream over io; every line must be whole within
 * timeout seconds (0: no limit). */
void	stream_init(struct stream *, const struct channel_io *, int timeout);
/* stream_free - give a message's large buffer back, if one is held. */
void	stream_free(struct stream *);
/* stream_reset - drop unread input (STARTTLS: what came before the
 * handshake must not be read as if after it). */
void	stream_reset(struct stream *);
/* stream_pending - true when unread input is buffered. */
bool	stream_pending(const struct stream *);

/* stream_write - queue bytes, flushing when the buffer fills; false when
 * the peer can no longer be written to. */
bool	stream_write(struct stream *, const char *, size_t);
/* stream_flush - write what is queued, in one write; false as above. */
bool	stream_flush(struct stream *);

/*
 * stream_fill - read more input.  Queued output is written first unless
 * more input is pending (a pipelined burst is answered in one write);
 * then, with stop, nothing is read (READ_ERROR).  bulk: a message is
 * being read, through the large buffer.  Returns bytes read, or a
 * read_result <= 0.
 */
int	stream_fill(struct stream *, bool bulk, bool stop);
/*
 * stream_read_line - the next line, without its CRLF, NUL-terminated in
 * place.  Only CRLF ends a line: a bare LF is part of it.  A line longer
 * than max is read and dropped, and READ_TOO_LONG returned at its end;
 * its first bytes are kept in dropped, for the caller to tell what the
 * line was.
 */
int	stream_read_line(struct stream *, size_t max, bool stop, char **line,
	    size_t *len);
/*
 * stream_read_chunk - exactly n bytes, each run of them handed to take
 * (unless it is NULL) as it comes: READ_LINE when all came.  The timeout
 * bounds each read here, not the whole chunk, which may be large.
 */
int	stream_read_chunk(struct stream *, unsigned long long n, bool bulk,
	    bool stop, void (*take)(void *, const char *, size_t), void *arg);
/* stream_unread - the unread input: its length, and its start in *p. */
size_t	stream_unread(const struct stream *, const char **p);
/* stream_consume - n bytes of the unread input were used; line_end: a
 * line ended among them, so the next one gets a deadline of its own. */
void	stream_consume(struct stream *, size_t n, bool line_end);
/* stream_drain - read and drop up to max bytes the peer already sent,
 * without waiting. */
void	stream_drain(struct stream *, size_t max);

/* stream_socket - a channel_io over a connected socket. */
struct channel_io stream_socket(int fd);

#endif /* SMTPD_STREAM_H */
