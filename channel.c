/* SPDX-License-Identifier: ISC */
/*
 * channel.c - one client's SMTP session: the line reader, the session and
 * transaction state, and the command table.
 *
 * A worker thread (server.c) calls channel_run(), which reads like this:
 *
 *	greet;
 *	loop {
 *		read a line;			channel_read_line
 *		look it up in the command table;	command_find
 *		check it may run now;		command_check
 *		proceed;			smtp_helo, smtp_mail, ...
 *	}
 *
 * DATA switches the reader to message text (channel_read_data) until the
 * line ".", then the message goes to the handler under the server's
 * delivery mutex (channel_deliver).  BDAT (RFC 3030, cfg.chunking) reads
 * exactly the chunk's bytes instead (channel_read_chunk).  In LMTP
 * (RFC 2033, cfg.lmtp) LHLO replaces HELO and EHLO, and the end of a
 * message is answered once per recipient (channel_deliver_each).
 *
 * At each stage of the session (connect, HELO, MAIL, RCPT, DATA, the end
 * of the body, RSET, NOOP, QUIT) channel_fault asks the server's fault
 * rules (fault.c) first, after the command's own syntax and state checks
 * and before the hooks: a rule may answer instead, delay, or hang up.
 *
 * The replies and their texts are Python's smtpd's, the contract on the
 * wire; where Python crashes or hangs, the comments say what we do.
 *
 * Input is read into a small buffer inside the channel and split into
 * lines there: no read per byte, no allocation per line.  A message is
 * read through a larger buffer, allocated for it and given back once the
 * input after it is consumed, so an idle session is one small allocation.
 * Replies are collected in an output buffer and written when no more input
 * is pending, so a pipelined burst (RFC 2920) is answered in one write.
 */
#include "compat.h"
#include "channel_internal.h"
#include "address.h"
#include "auth.h"
#include "inbox_internal.h"
#include "io.h"
#include "tls.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * Command lines are limited to 512 octets (RFC 5321 section 4.5.3.1.4,
 * Python's command_size_limit); after EHLO, MAIL may be 26 longer for
 * SIZE= (RFC 1870) and 10 longer for SMTPUTF8 (RFC 6531), as in Python.
 */
#define LINE_LIMIT	512
#define SIZE_EXTRA	26
#define SMTPUTF8_EXTRA	10
#define LINE_MAX_ANY	(LINE_LIMIT + SIZE_EXTRA + SMTPUTF8_EXTRA)
/* An AUTH command or response may be longer, when AUTH is on at all:
 * RFC 4954 section 4 allows 12288 octets; we take what the command
 * buffer holds, room for the longest user and password auth.c keeps
 * (AUTH_FIELD_MAX each, base64-encoded). */
#define AUTH_LINE_MAX	(IN_SMALL - 2)

/*
 * The buffers, sized for an idle session to be one small allocation (the
 * README's memory section has the measurement).  IN_SMALL holds a whole
 * command line of LINE_MAX_ANY, with room to spare for a pipelined burst;
 * IN_CAP is allocated only while a message is read, many lines per read.
 * OUT_CAP holds the usual replies; a longer one is written directly.
 */
#define IN_SMALL	1024	/* commands: inside the channel */
#define IN_CAP		16384	/* message text: allocated for DATA */
#define OUT_CAP		512	/* replies to one pipelined burst */
#define REPLY_MAX	1024	/* smtpd_channel_reply(), allocated on use */
#define DRAIN_MAX	65536	/* input dropped at the end (channel_drain) */
/*
 * HELO names shorter than this are kept in the channel, not strdup()ed.
 * The first malloc() a thread makes gives it glibc's per-thread cache
 * (tcache, about 650 bytes), and an idle session that made none is that
 * much smaller.
 */
#define HELO_KEEP	64
#define DATA_KEEP_MAX	(1 << 20)	/* keep a data buffer this big between messages */

/* What the line reader returns besides "here is a line". */
enum read_result {
	READ_LINE = 1,
	READ_EOF = 0,
	READ_ERROR = -1,
	READ_TIMEOUT = -2,
	READ_TOO_LONG = -3
};

/* What lives for one message: MAIL to end of DATA (or RSET). */
struct transaction {
	char		*mailfrom;	/* NULL: no MAIL yet */
	char		**rcpttos;
	size_t		 rcpt_count, rcpt_cap;
	bool		 smtputf8;	/* Python's require_SMTPUTF8 */
	bool		 bdat;		/* a BDAT chunk came: no DATA now */
	char		**rcpt_reply;	/* LMTP: smtpd_channel_rcpt_reply() */
	size_t		 rcpt_reply_count;
};

/* The message text being received, already unstuffed, CRLF made LF. */
struct message_text {
	char		*data;
	size_t		 len, cap;
	size_t		 raw;		/* bytes on the wire, for the size limit */
	bool		 bol;		/* at the beginning of a line */
	bool		 too_big;	/* over data_size_limit: stop keeping it */
	bool		 no_memory;
	bool		 bare_newline;	/* a CR or LF not part of CRLF */
	bool		 cr_pending;	/* BDAT: a chunk ended in CR */
};

/* What lives for the connection. */
struct smtpd_channel {
	struct smtpd_server	*server;
	const struct smtpd_config *cfg;
	struct channel_io	 io;
	int			 fd;		/* -1 when not a socket */
	char			 peer_ip[INET6_ADDRSTRLEN];
	int			 peer_port;
	bool			 proxied;	/* peer from a PROXY header */

	_Atomic int		 state;		/* enum smtpd_channel_state */
	char			*seen_greeting;	/* NULL before HELO/EHLO */
	char			 helo_small[HELO_KEEP];	/* seen_greeting, if short */
	bool			 extended_smtp;	/* EHLO was used */
	bool			 closing;	/* QUIT, or an error: stop reading */
	int			 junk;		/* bad commands in a row */
	int			 messages;	/* ended with "." on this connection */
	struct transaction	 tx;
	struct message_text	 msg;
	struct params		 mail_options;	/* of the MAIL that began tx */
	struct params		 rcpt_options;	/* of the last RCPT, as Python */
	void			*user_data;	/* the program's hooks' */
	void			*handler_data;	/* the handler's own */
	struct tls_session	*tls;		/* NULL: plaintext */
	char			*auth_user;	/* NULL: no AUTH yet */
	struct session_rec	*srec;		/* the session log's; NULL: none */
	bool			 quit;		/* QUIT was answered */

	/* Line reader: bytes in[start, end) are unread; scan is where the
	 * search for CRLF resumes.  in is in_small, or IN_CAP bytes of heap
	 * while a message is read (channel_fill). */
	char			*in;
	size_t			 in_cap;
	size_t			 in_start, in_end, in_scan;
	bool			 discarding;	/* inside a line that is too long */
	bool			 maybe_more;	/* the last read filled the buffer */
	/* The line being read must be whole by then (ms, CLOCK_MONOTONIC;
	 * 0: no line is being waited for). */
	long long		 line_deadline;

	size_t			 out_len;	/* bytes in out[] */
	bool			 write_failed;
	char			*reply;		/* smtpd_channel_reply(), or NULL */

	/*
	 * The buffers come last: the channel is one allocation of about 2 KB,
	 * all an idle session has on the heap.
	 */
	char			 out[OUT_CAP];	/* replies not yet written */
	char			 in_small[IN_SMALL];	/* commands */
};

/* A command: the table's row.  check flags are tested in this order. */
/* They are the public SMTPD_CMD_* of server.h: extra commands
 * (cfg.commands) are checked by the same command_check. */
#define NEED_HELO	SMTPD_CMD_NEED_HELO	/* 503 Error: send HELO first */
#define NEED_MAIL	SMTPD_CMD_NEED_MAIL	/* 503 Error: need MAIL command */
#define NEED_RCPT	SMTPD_CMD_NEED_RCPT	/* 503 Error: need RCPT command */
#define NO_ARG		SMTPD_CMD_NO_ARG	/* 501 Syntax: NAME */
/* Which sessions have the command at all (others: 500 not recognized). */
#define SMTP_ONLY	0x100	/* not in LMTP */
#define LMTP_ONLY	0x200	/* only with cfg.lmtp */
#define CHUNKING_ONLY	0x400	/* only with cfg.chunking */
#define IF_STARTTLS	0x800	/* a certificate, and not smtps */
#define IF_AUTH		0x1000	/* auth_secret or auth_any */
/* Ours alone, not for extra commands. */
#define NEED_TLS	0x2000	/* with require_tls: 530 Must issue a STARTTLS */
#define NEED_AUTH	0x4000	/* with auth_required: 530 Authentication required */

struct command {
	const char	*name;
	void		(*proceed)(struct smtpd_channel *, char *arg);
	unsigned	 flags;
};

static void	smtp_helo(struct smtpd_channel *, char *);
static void	smtp_ehlo(struct smtpd_channel *, char *);
static void	smtp_lhlo(struct smtpd_channel *, char *);
static void	smtp_bdat(struct smtpd_channel *, char *);
static void	smtp_noop(struct smtpd_channel *, char *);
static void	smtp_quit(struct smtpd_channel *, char *);
static void	smtp_mail(struct smtpd_channel *, char *);
static void	smtp_rcpt(struct smtpd_channel *, char *);
static void	smtp_rset(struct smtpd_channel *, char *);
static void	smtp_data(struct smtpd_channel *, char *);
static void	smtp_help(struct smtpd_channel *, char *);
static void	smtp_vrfy(struct smtpd_channel *, char *);
static void	smtp_expn(struct smtpd_channel *, char *);
static void	smtp_starttls(struct smtpd_channel *, char *);
static void	smtp_auth(struct smtpd_channel *, char *);

static void	channel_end_message(struct smtpd_channel *, bool bdat);
static bool	command_check(struct smtpd_channel *, const char *name,
		    unsigned flags, const char *arg);
static void	channel_goodbye(struct smtpd_channel *, int r);

static const struct command commands[] = {
	{ "HELO", smtp_helo, SMTP_ONLY },
	{ "EHLO", smtp_ehlo, SMTP_ONLY },
	{ "LHLO", smtp_lhlo, LMTP_ONLY },
	{ "MAIL", smtp_mail, NEED_TLS | NEED_HELO | NEED_AUTH },
	{ "RCPT", smtp_rcpt, NEED_TLS | NEED_HELO | NEED_MAIL },
	{ "DATA", smtp_data, NEED_TLS | NEED_HELO | NEED_RCPT | NO_ARG },
	/* Checks its state itself: a refused chunk's bytes must be read. */
	{ "BDAT", smtp_bdat, CHUNKING_ONLY },
	{ "RSET", smtp_rset, NO_ARG },
	{ "NOOP", smtp_noop, NO_ARG },
	{ "QUIT", smtp_quit, 0 },
	{ "HELP", smtp_help, 0 },
	{ "VRFY", smtp_vrfy, 0 },
	{ "EXPN", smtp_expn, 0 },
	{ "STARTTLS", smtp_starttls, NO_ARG | IF_STARTTLS },
	{ "AUTH", smtp_auth, NEED_TLS | NEED_HELO | IF_AUTH },
};

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

/* channel_flush - write the collected replies in one write. */
static void
channel_flush(struct smtpd_channel *ch)
{
	if (ch->out_len == 0 || ch->write_failed)
		return;
	if (ch->io.write(ch->io.ctx, ch->out, ch->out_len) < 0) {
		/* The client is gone or stuck: nothing more to say to it. */
		ch->write_failed = true;
		ch->closing = true;
	}
	ch->out_len = 0;
}

/* channel_write - queue bytes of a reply, flushing when the buffer fills. */
static void
channel_write(struct smtpd_channel *ch, const char *s, size_t len)
{
	if (ch->out_len + len > OUT_CAP)
		channel_flush(ch);
	if (len > OUT_CAP) {
		if (!ch->write_failed &&
		    ch->io.write(ch->io.ctx, s, len) < 0) {
			ch->write_failed = true;
			ch->closing = true;
		}
		return;
	}
	memcpy(ch->out + ch->out_len, s, len);
	ch->out_len += len;
}

/* is_bad_command_reply - 500, 501 or 503: a command we could not take;
 * and 530, 535, 538: a command refused for want of TLS or a login, or a
 * failed login, so that guessing passwords counts too. */
static bool
is_bad_command_reply(const char *reply)
{
	return strncmp(reply, "500", 3) == 0 || strncmp(reply, "501", 3) == 0 ||
	    strncmp(reply, "503", 3) == 0 || strncmp(reply, "530", 3) == 0 ||
	    strncmp(reply, "535", 3) == 0 || strncmp(reply, "538", 3) == 0;
}

/* channel_push - queue one reply line (Python's push: adds CRLF). */
static void
channel_push(struct smtpd_channel *ch, const char *reply)
{
	size_t len = strlen(reply);

	channel_write(ch, reply, len);
	channel_write(ch, "\r\n", 2);
	if (ch->srec)
		session_server_reply(ch->srec, reply, len);
	if (ch->cfg->debug)
		fprintf(ch->cfg->debug, "%s:%d -> %s\n", ch->peer_ip,
		    ch->peer_port, reply);

	/*
	 * Count bad commands in a row; past max_junk the client is not
	 * speaking SMTP to us (or is probing), so we hang up.
	 */
	if (is_bad_command_reply(reply))
		ch->junk++;
	else if (reply[0] == '2' || strncmp(reply, "354", 3) == 0)
		ch->junk = 0;	/* not AUTH's 334: a dialogue is not success */
}

/* channel_pushf - queue a formatted reply line. */
static void __attribute__((format(printf, 2, 3)))
channel_pushf(struct smtpd_channel *ch, const char *fmt, ...)
{
	char buf[REPLY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	channel_push(ch, buf);
}

/* ------------------------------------------------------------------ */
/* Input                                                               */
/* ------------------------------------------------------------------ */

/* in_compact - move the unread bytes to the start of the buffer. */
static void
in_compact(struct smtpd_channel *ch)
{
	memmove(ch->in, ch->in + ch->in_start, ch->in_end - ch->in_start);
	ch->in_end -= ch->in_start;
	ch->in_scan -= ch->in_start;
	ch->in_start = 0;
}

/*
 * in_grow - read a message through IN_CAP bytes of heap: 16 KB per
 * read, not 1 KB.  The unread bytes move along.  Without memory the
 * small buffer serves, only slower.
 */
static void
in_grow(struct smtpd_channel *ch)
{
	char *big = malloc(IN_CAP);

	if (big == NULL) {
		if (ch->in_start > 0 && ch->in_end == ch->in_cap)
			in_compact(ch);
		return;
	}
	memcpy(big, ch->in + ch->in_start, ch->in_end - ch->in_start);
	ch->in_end -= ch->in_start;
	ch->in_scan -= ch->in_start;
	ch->in_start = 0;
	ch->in = big;
	ch->in_cap = IN_CAP;
}

/* in_shrink - the message and what followed it are read: give the large
 * buffer back, and wait for the next command in the small one. */
static void
in_shrink(struct smtpd_channel *ch)
{
	free(ch->in);
	ch->in = ch->in_small;
	ch->in_cap = IN_SMALL;
}

/*
 * channel_fill - read more input into the buffer.  Before a read that may
 * block, the queued replies are written: the client may be waiting for
 * them.  Returns bytes read, or a read_result <= 0.
 */
static int
channel_fill(struct smtpd_channel *ch)
{
	size_t space;
	ssize_t n;

	if (ch->in_start == ch->in_end) {
		ch->in_start = ch->in_end = ch->in_scan = 0;
		if (ch->in != ch->in_small && ch->state != SMTPD_DATA)
			in_shrink(ch);
	}
	if (ch->state == SMTPD_DATA && ch->in == ch->in_small)
		in_grow(ch);
	else if (ch->in_start > 0 && ch->in_end == ch->in_cap)
		in_compact(ch);
	space = ch->in_cap - ch->in_end;

	/*
	 * Pipelining: if the last read filled the buffer, more is probably
	 * waiting, and answering now would split the burst's replies.  Look
	 * without blocking; only when nothing is pending do we flush.
	 */
	if (ch->out_len > 0 && ch->maybe_more) {
		n = ch->io.read(ch->io.ctx, ch->in + ch->in_end, space, false);
		if (n > 0) {
			ch->maybe_more = ((size_t)n == space);
			ch->in_end += (size_t)n;
			return (int)n;
		}
	}
	channel_flush(ch);
	if (ch->closing)
		return READ_ERROR;
	/*
	 * The timeout bounds each read (SO_RCVTIMEO) and also each line: a
	 * slowloris client sending a byte now and then, each in time, would
	 * otherwise hold its thread forever.  Like Postfix's
	 * smtpd_per_record_deadline; checked when a read returns, so a line
	 * is cut off at most one timeout after its deadline.
	 */
	if (ch->cfg->timeout > 0 && ch->line_deadline == 0)
		ch->line_deadline = now_ms() + ch->cfg->timeout * 1000LL;
	/* A signal may interrupt the read: read again. */
	do
		n = ch->io.read(ch->io.ctx, ch->in + ch->in_end, space, true);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return READ_TIMEOUT;
		return READ_ERROR;
	}
	if (n == 0)
		return READ_EOF;
	if (ch->line_deadline && now_ms() > ch->line_deadline)
		return READ_TIMEOUT;
	ch->maybe_more = ((size_t)n == space);
	ch->in_end += (size_t)n;
	return (int)n;
}

/* line_max - the longest line this session reads whole. */
static size_t
line_max(const struct smtpd_channel *ch)
{
	return ch->cfg->auth_secret || ch->cfg->auth_any ? AUTH_LINE_MAX :
	    LINE_MAX_ANY;
}

/*
 * channel_read_line - the next command line, without its CRLF, in
 * line and len (NUL-terminated in place).  Only CRLF ends a line, as in
 * Python: a bare LF is part of the line.  We don't want to store
 * infinitely long commands: past LINE_MAX_ANY (AUTH_LINE_MAX when AUTH
 * is on) the rest of the line is read and dropped, and READ_TOO_LONG is
 * returned at its end.
 */
static int
channel_read_line(struct smtpd_channel *ch, char **line, size_t *len)
{
	for (;;) {
		char *p = ch->in + ch->in_scan;
		char *end = ch->in + ch->in_end;
		char *nl;

		while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			if (nl > ch->in + ch->in_start && nl[-1] == '\r') {
				char *start = ch->in + ch->in_start;

				ch->in_start = ch->in_scan =
				    (size_t)(nl + 1 - ch->in);
				ch->line_deadline = 0;
				if (ch->discarding) {
					ch->discarding = false;
					return READ_TOO_LONG;
				}
				nl[-1] = '\0';
				*line = start;
				*len = (size_t)(nl - 1 - start);
				return READ_LINE;
			}
			p = nl + 1;
		}
		ch->in_scan = ch->in_end;

		if (ch->in_end - ch->in_start > line_max(ch) + 1) {
			/* Keep only the last byte: it may be the CR of CRLF. */
			ch->in_start = ch->in_scan = ch->in_end - 1;
			ch->discarding = true;
		}
		int r = channel_fill(ch);
		if (r <= 0)
			return r;
	}
}

/* ------------------------------------------------------------------ */
/* Message text                                                        */
/* ------------------------------------------------------------------ */

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

/* message_add - keep n bytes of text (n raw bytes on the wire) unless the
 * message is already over the limit. */
static void
message_add(struct smtpd_channel *ch, const char *s, size_t n, size_t raw)
{
	struct message_text *m = &ch->msg;
	size_t limit = ch->cfg->data_size_limit;

	m->raw += raw;
	if (m->too_big || m->no_memory)
		return;
	/* Python counts the text without the final CRLF: raw - 2. */
	if (limit && m->raw > limit + 2) {
		m->too_big = true;
		return;
	}
	if (!message_reserve(m, n))
		return;
	memcpy(m->data + m->len, s, n);
	m->len += n;
}

/*
 * message_scan - take message text from the input buffer; true when the
 * line "." has ended it.
 *
 * Only <CRLF>.<CRLF> ends the data (RFC 5321 section 4.1.1.4).  A bare LF
 * or CR, and so "\n.\n", "\r.\r", "\n.\r\n", is message text: reading any
 * of them as an end would let a client smuggle a second message past a
 * filter that reads the first one differently (CVE-2023-51764).  At the
 * start of a line a leading dot is removed (section 4.5.2).  CRLF becomes
 * LF, as Python's smtpd hands data to process_message.
 */
static bool
message_scan(struct smtpd_channel *ch)
{
	struct message_text *m = &ch->msg;
	char *p = ch->in + ch->in_start;
	char *end = ch->in + ch->in_end;
	bool done = false;

	while (p < end) {
		if (m->bol && *p == '.') {
			/* Wait for 3 bytes when they may be ".\r\n". */
			if (end - p == 1 || (end - p == 2 && p[1] == '\r'))
				break;
			if (p[1] == '\r' && p[2] == '\n') {
				p += 3;
				ch->line_deadline = 0;
				done = true;
				break;
			}
			p++;
			m->raw++;
		}

		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			size_t n = (size_t)(end - p);

			/* A final CR may be the first half of a CRLF. */
			if (p[n - 1] == '\r')
				n--;
			if (n == 0)
				break;
			if (memchr(p, '\r', n) != NULL)
				m->bare_newline = true;
			message_add(ch, p, n, n);
			p += n;
			m->bol = false;
			continue;
		}
		if (nl > p && nl[-1] == '\r') {
			size_t n = (size_t)(nl - 1 - p);

			if (n > 0 && memchr(p, '\r', n) != NULL)
				m->bare_newline = true;
			/* Copy the CR's place too, then make it the LF. */
			message_add(ch, p, n + 1, n + 2);
			if (!m->too_big && !m->no_memory)
				m->data[m->len - 1] = '\n';
			m->bol = true;
			ch->line_deadline = 0;
		} else {
			m->bare_newline = true;		/* a bare LF */
			message_add(ch, p, (size_t)(nl + 1 - p),
			    (size_t)(nl + 1 - p));
			m->bol = false;
		}
		p = nl + 1;
	}
	ch->in_start = ch->in_scan = (size_t)(p - ch->in);
	return done;
}

/* message_start - an empty message, for DATA or a first BDAT chunk. */
static void
message_start(struct message_text *m)
{
	m->len = m->raw = 0;
	m->bol = true;
	m->too_big = m->no_memory = m->bare_newline = m->cr_pending = false;
}

/*
 * chunk_add - keep n bytes of a BDAT chunk.  The text is made what DATA
 * would have made of the same message: CRLF becomes LF (a CRLF may be
 * split between chunks: a final CR waits for the next byte), a bare CR or
 * LF is kept and noted; no dot is removed, for none was added.
 */
static void
chunk_add(struct smtpd_channel *ch, const char *p, size_t n)
{
	struct message_text *m = &ch->msg;

	if (n > 0 && m->cr_pending) {
		m->cr_pending = false;
		if (*p == '\n') {
			message_add(ch, "\n", 1, 1);
			p++;
			n--;
		} else {
			m->bare_newline = true;
			message_add(ch, "\r", 1, 0);
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
				message_add(ch, "", 0, 1);	/* its byte */
			}
			if (k > 0 && memchr(p, '\r', k) != NULL)
				m->bare_newline = true;
			message_add(ch, p, k, k);
			return;
		}
		k = (size_t)(nl - p);
		if (k > 0 && p[k - 1] == '\r') {
			if (k > 1 && memchr(p, '\r', k - 1) != NULL)
				m->bare_newline = true;
			message_add(ch, p, k - 1, k - 1);
			message_add(ch, "\n", 1, 2);
		} else {
			m->bare_newline = true;		/* a bare LF */
			message_add(ch, p, k + 1, k + 1);
		}
		p = nl + 1;
		n -= k + 1;
	}
}

/* channel_read_chunk - take exactly n bytes of input, kept as message
 * text or dropped: READ_LINE when all came, else a read_result <= 0.
 * The timeout bounds each read here, not the whole chunk, which may be
 * large. */
static int
channel_read_chunk(struct smtpd_channel *ch, unsigned long long n, bool keep)
{
	while (n > 0) {
		size_t avail = ch->in_end - ch->in_start;
		size_t take;

		if (avail == 0) {
			int r = channel_fill(ch);

			if (r <= 0)
				return r;
			continue;
		}
		take = avail < n ? avail : (size_t)n;
		if (keep)
			chunk_add(ch, ch->in + ch->in_start, take);
		ch->in_start += take;
		ch->in_scan = ch->in_start;
		ch->line_deadline = 0;
		n -= take;
	}
	return READ_LINE;
}

/* channel_read_data - read message text up to its end: READ_LINE when the
 * end was seen, else a read_result <= 0. */
static int
channel_read_data(struct smtpd_channel *ch)
{
	for (;;) {
		if (message_scan(ch))
			return READ_LINE;
		int r = channel_fill(ch);
		if (r <= 0)
			return r;
	}
}

/* ------------------------------------------------------------------ */
/* Hooks                                                               */
/* ------------------------------------------------------------------ */

/* The hooks, named so that one function can call any of them. */
enum hook {
	HOOK_CONNECT, HOOK_HELO, HOOK_MAIL, HOOK_RCPT, HOOK_DATA,
	HOOK_RESET, HOOK_DISCONNECT, HOOK_AUTH
};

/* hook_call - one set of hooks' hook: its reply, or NULL (also when it
 * is not set, or is one that has no reply). */
static const char *
hook_call(struct smtpd_channel *ch, const struct smtpd_hooks *h, void *ctx,
    enum hook which, const char *arg, const struct smtpd_message *m)
{
	switch (which) {
	case HOOK_CONNECT:
		return h->on_connect ? h->on_connect(ch, ctx) : NULL;
	case HOOK_HELO:
		return h->on_helo ? h->on_helo(ch, arg, ctx) : NULL;
	case HOOK_MAIL:
		return h->on_mail ? h->on_mail(ch, arg, ctx) : NULL;
	case HOOK_RCPT:
		return h->on_rcpt ? h->on_rcpt(ch, arg, ctx) : NULL;
	case HOOK_DATA:
		return h->on_data ? h->on_data(ch, m, ctx) : NULL;
	case HOOK_RESET:
		if (h->on_reset)
			h->on_reset(ch, ctx);
		return NULL;
	case HOOK_DISCONNECT:
		if (h->on_disconnect)
			h->on_disconnect(ch, ctx);
		return NULL;
	case HOOK_AUTH:
		return h->on_auth ? h->on_auth(ch, arg, ctx) : NULL;
	}
	return NULL;
}

/* hook_run - the configuration's hook, then the handler's: the first
 * reply wins (server.h); hooks without a reply both run. */
static const char *
hook_run(struct smtpd_channel *ch, enum hook which, const char *arg,
    const struct smtpd_message *m)
{
	const struct smtpd_config *c = ch->cfg;
	const char *r;

	r = hook_call(ch, &c->hooks, c->hooks.ctx, which, arg, m);
	if (r == NULL)
		r = hook_call(ch, &c->handler.hooks, c->handler.ctx, which,
		    arg, m);
	return r;
}

/* ------------------------------------------------------------------ */
/* Faults                                                              */
/* ------------------------------------------------------------------ */

static void	channel_push_each(struct smtpd_channel *, const char *);

/* The poll step of a delay: how soon a stop is noticed. */
#define FAULT_SLEEP_STEP_MS	50

/*
 * channel_sleep - a fault's delay, in this client's thread only: other
 * clients go on.  No longer than --timeout, which bounds every wait of a
 * session, and cut short by a stop (false) so that smtpd_server_stop
 * never waits for it.
 */
static bool
channel_sleep(struct smtpd_channel *ch, long long ms)
{
	long long end;

	if (ch->cfg->timeout > 0 && ms > ch->cfg->timeout * 1000LL)
		ms = ch->cfg->timeout * 1000LL;
	/* What was answered before this command is not held back by it. */
	channel_flush(ch);
	end = now_ms() + ms;
	for (;;) {
		long long left = end - now_ms();
		struct timespec ts;

		if (atomic_load(&ch->server->stopping))
			return false;
		if (left <= 0)
			return true;
		if (left > FAULT_SLEEP_STEP_MS)
			left = FAULT_SLEEP_STEP_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = left * 1000000L;
		nanosleep(&ts, NULL);
	}
}

/* fault_log - one line per fault that fires, with -d: the stage and its
 * subject, the rule, and what it does.  One fprintf, so that the lines of
 * clients logging at once do not mix. */
static void
fault_log(struct smtpd_channel *ch, enum fault_stage st, const char *subject,
    const struct fault_action *a)
{
	char what[FAULT_REPLY_MAX + 32];

	if (ch->cfg->debug == NULL)
		return;
	if (a->kind == FAULT_DROP)
		snprintf(what, sizeof(what), "drop");
	else if (a->kind == FAULT_DELAY)
		snprintf(what, sizeof(what), "delay %lldms%s%s", a->delay_ms,
		    a->reply[0] ? ", " : "", a->reply);
	else
		snprintf(what, sizeof(what), "%s", a->reply);
	fprintf(ch->cfg->debug, "%s:%d fault %s <%s>: %s -> %s\n", ch->peer_ip,
	    ch->peer_port, fault_stage_name(st), subject ? subject : "",
	    a->rule, what);
}

/*
 * faults_on - whether a fault rule may fire at all.  Without rules a hook
 * costs this load and no more: no frame with a struct fault_action (640
 * bytes) on the stack, where a session's commands must stay within one
 * page (server.c: WORKER_STACK).
 */
static inline bool
faults_on(const struct smtpd_channel *ch)
{
	return atomic_load_explicit(&ch->server->faults.set,
	    memory_order_acquire) != NULL;
}

/* fault_fire - channel_fault, with what fired in *a. */
static bool
fault_fire(struct smtpd_channel *ch, enum fault_stage st, const char *subject,
    struct fault_action *a)
{
	if (!fault_slot_check(&ch->server->faults, st, subject, a))
		return false;
	fault_log(ch, st, subject, a);
	if (ch->srec)
		session_set_fault(ch->srec, a->rule);
	if (a->kind == FAULT_DELAY) {
		if (!channel_sleep(ch, a->delay_ms)) {
			channel_pushf(ch, "421 %s Error: shutting down",
			    ch->server->fqdn);
			ch->closing = true;
			return true;
		}
		if (a->reply[0] == '\0')
			return false;
	}
	if (a->kind == FAULT_DROP) {
		/* Replies to earlier commands still go out, then nothing. */
		ch->closing = true;
		return true;
	}
	/* After the body, LMTP answers once for every recipient. */
	if (st == FAULT_DOT)
		channel_push_each(ch, a->reply);
	else
		channel_push(ch, a->reply);
	if (strncmp(a->reply, "421", 3) == 0)
		ch->closing = true;
	return true;
}

/* fault_fire_frame - fault_fire, in a frame of its own (see faults_on). */
static __attribute__((noinline)) bool
fault_fire_frame(struct smtpd_channel *ch, enum fault_stage st,
    const char *subject)
{
	struct fault_action a;

	return fault_fire(ch, st, subject, &a);
}

/*
 * channel_fault - the fault rules at this stage, for this subject (the
 * client's address, the HELO name, the MAIL or RCPT address, the
 * transaction's sender: fault.h).  Returns true when a rule answered in
 * the command's place (it then has no effect) or hung up; false to go on,
 * also after a delay without a reply.  A 421 closes the connection once
 * it is sent (RFC 5321 section 3.8).
 *
 * FAULT_AUTH is AUTH's (smtp_auth): the subject is the user who tried,
 * and a rule's reply replaces the login's outcome.
 */
bool
channel_fault(struct smtpd_channel *ch, enum fault_stage st,
    const char *subject)
{
	return faults_on(ch) && fault_fire_frame(ch, st, subject);
}

/* ------------------------------------------------------------------ */
/* State                                                               */
/* ------------------------------------------------------------------ */

/* transaction_reset - forget MAIL and RCPT (Python's _set_post_data_state). */
static void
transaction_reset(struct smtpd_channel *ch)
{
	struct transaction *tx = &ch->tx;
	bool had = tx->mailfrom != NULL;

	free(tx->mailfrom);
	tx->mailfrom = NULL;
	for (size_t i = 0; i < tx->rcpt_count; i++)
		free(tx->rcpttos[i]);
	tx->rcpt_count = 0;
	tx->smtputf8 = false;
	tx->bdat = false;
	for (size_t i = 0; i < tx->rcpt_reply_count; i++)
		free(tx->rcpt_reply[i]);
	free(tx->rcpt_reply);
	tx->rcpt_reply = NULL;
	tx->rcpt_reply_count = 0;
	ch->state = SMTPD_COMMAND;
	if (had)
		hook_run(ch, HOOK_RESET, NULL, NULL);
}

/* channel_rset - transaction_reset, and forget the last message too
 * (Python's _set_rset_state). */
static void
channel_rset(struct smtpd_channel *ch)
{
	transaction_reset(ch);
	ch->msg.len = 0;
	if (ch->msg.data)
		ch->msg.data[0] = '\0';
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */
/* ------------------------------------------------------------------ */

/* greet - HELO and EHLO alike: a new greeting resets the session. */
static bool
greet(struct smtpd_channel *ch, char *arg, const char *syntax)
{
	const char *r;
	char *copy;

	if (*arg == '\0') {
		channel_push(ch, syntax);
		return false;
	}
	/* One greeting per session, as Python (bpo-21783). */
	if (ch->seen_greeting) {
		channel_push(ch, "503 Duplicate HELO/EHLO");
		return false;
	}
	if (channel_fault(ch, FAULT_HELO, arg))
		return false;
	if ((r = hook_run(ch, HOOK_HELO, arg, NULL)) != NULL) {
		channel_push(ch, r);
		return false;
	}
	/* A usual name is kept inside the channel: an idle session then
	 * has made no allocation in its thread (see HELO_KEEP). */
	if (strlen(arg) < sizeof(ch->helo_small))
		copy = strcpy(ch->helo_small, arg);
	else if ((copy = strdup(arg)) == NULL) {
		channel_push(ch, "451 Error: out of memory");
		return false;
	}
	channel_rset(ch);
	ch->seen_greeting = copy;
	return true;
}

/* smtp_helo - HELO hostname (RFC 5321 section 4.1.1.1). */
static void
smtp_helo(struct smtpd_channel *ch, char *arg)
{
	if (greet(ch, arg, "501 Syntax: HELO hostname"))
		channel_push(ch, ch->server->helo_reply);
}

/* smtp_ehlo - EHLO hostname: the service extensions we speak, a reply
 * made once per server (channel_prepare). */
static void
smtp_ehlo(struct smtpd_channel *ch, char *arg)
{
	if (!greet(ch, arg, "501 Syntax: EHLO hostname"))
		return;
	ch->extended_smtp = true;
	channel_push(ch, ch->tls ? ch->server->ehlo_reply_tls :
	    ch->server->ehlo_reply);
}

/* smtp_lhlo - LHLO hostname (RFC 2033 section 4.1): EHLO's answer, in
 * LMTP, where HELO and EHLO are not commands. */
static void
smtp_lhlo(struct smtpd_channel *ch, char *arg)
{
	if (!greet(ch, arg, "501 Syntax: LHLO hostname"))
		return;
	ch->extended_smtp = true;
	channel_push(ch, ch->tls ? ch->server->ehlo_reply_tls :
	    ch->server->ehlo_reply);
}

/* smtp_noop - NOOP. */
static void
smtp_noop(struct smtpd_channel *ch, char *arg)
{
	(void)arg;
	if (channel_fault(ch, FAULT_NOOP, ch->tx.mailfrom))
		return;
	channel_push(ch, "250 OK");
}

/* smtp_quit - QUIT: say goodbye and close once the reply is out. */
static void
smtp_quit(struct smtpd_channel *ch, char *arg)
{
	(void)arg;
	if (channel_fault(ch, FAULT_QUIT, ch->tx.mailfrom))
		return;
	channel_push(ch, "221 Bye");
	ch->closing = true;
	ch->quit = true;
}

/*
 * smtp_mail - MAIL FROM:<address> [parameters] (RFC 5321 section 4.1.1.2,
 * SIZE from RFC 1870, BODY from RFC 6152, SMTPUTF8 from RFC 6531).
 */
static void
smtp_mail(struct smtpd_channel *ch, char *arg)
{
	const struct smtpd_config *cfg = ch->cfg;
	const char *syntaxerr = ch->extended_smtp ?
	    "501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]" :
	    "501 Syntax: MAIL FROM: <address>";
	static const char *const known_all[] = { "BODY", "SMTPUTF8", "SIZE", NULL };
	static const char *const known_nobody[] = { "SMTPUTF8", "SIZE", NULL };
	static const char *const known_noutf8[] = { "BODY", "SIZE", NULL };
	static const char *const known_size[] = { "SIZE", NULL };
	const char *const *known;
	char address[LINE_MAX_ANY + 3], *rest, *a;
	const char *v, *r;
	bool smtputf8 = false;

	if ((a = address_after_keyword(arg, "FROM:")) == NULL ||
	    !address_parse(a, address, sizeof(address), &rest) ||
	    (!ch->extended_smtp && *rest)) {
		channel_push(ch, syntaxerr);
		return;
	}
	if (ch->tx.mailfrom) {
		channel_push(ch, "503 Error: nested MAIL command");
		return;
	}
	if (!params_set(&ch->mail_options, rest)) {
		channel_push(ch, "451 Error: out of memory");
		return;
	}
	if (!params_valid(&ch->mail_options)) {
		channel_push(ch, syntaxerr);
		return;
	}
	if (!cfg->decode_data &&
	    (v = params_find(&ch->mail_options, "BODY", NULL)) != NULL &&
	    strcmp(v, "7BIT") != 0 && strcmp(v, "8BITMIME") != 0) {
		channel_push(ch,
		    "501 Error: BODY can only be one of 7BIT, 8BITMIME");
		return;
	}
	if (cfg->enable_smtputf8 &&
	    (v = params_find(&ch->mail_options, "SMTPUTF8", NULL)) != NULL) {
		if (*v != '\0') {
			channel_push(ch, "501 Error: SMTPUTF8 takes no arguments");
			return;
		}
		smtputf8 = true;
	}
	if ((v = params_find(&ch->mail_options, "SIZE", NULL)) != NULL) {
		/* Python crashes on a bare SIZE; it is a syntax error. */
		if (*v == '\0' || strspn(v, "0123456789") != strlen(v)) {
			channel_push(ch, syntaxerr);
			return;
		}
		errno = 0;
		unsigned long long size = strtoull(v, NULL, 10);
		if (cfg->data_size_limit &&
		    (errno == ERANGE || size > cfg->data_size_limit)) {
			channel_push(ch, "552 Error: message size exceeds "
			    "fixed maximum message size");
			return;
		}
	}
	if (cfg->decode_data)
		known = cfg->enable_smtputf8 ? known_nobody : known_size;
	else
		known = cfg->enable_smtputf8 ? known_all : known_noutf8;
	if (params_other(&ch->mail_options, known)) {
		channel_push(ch,
		    "555 MAIL FROM parameters not recognized or not implemented");
		return;
	}
	/* The limits of the faults' section (README): a connection's
	 * messages, then the server's rate. */
	if (cfg->max_messages_per_connection &&
	    ch->messages >= cfg->max_messages_per_connection) {
		channel_push(ch, "421 4.7.0 Too many messages on this "
		    "connection");
		ch->closing = true;
		return;
	}
	if (cfg->rate_per_sec > 0 &&
	    !fault_rate_take(&ch->server->rate, now_ms())) {
		channel_push(ch, "451 4.7.0 Rate limit exceeded");
		return;
	}
	if (channel_fault(ch, FAULT_MAIL, address))
		return;
	if ((r = hook_run(ch, HOOK_MAIL, address, NULL)) != NULL) {
		channel_push(ch, r);
		return;
	}
	if ((ch->tx.mailfrom = strdup(address)) == NULL) {
		channel_push(ch, "451 Error: out of memory");
		return;
	}
	ch->tx.smtputf8 = smtputf8;
	channel_push(ch, "250 OK");
}

/* smtp_rcpt - RCPT TO:<address> (RFC 5321 section 4.1.1.3). */
static void
smtp_rcpt(struct smtpd_channel *ch, char *arg)
{
	struct transaction *tx = &ch->tx;
	const char *syntaxerr = ch->extended_smtp ?
	    "501 Syntax: RCPT TO: <address> [SP <mail-parameters>]" :
	    "501 Syntax: RCPT TO: <address>";
	char address[LINE_MAX_ANY + 3], *rest, *a, *copy;
	const char *r;

	if ((a = address_after_keyword(arg, "TO:")) == NULL ||
	    !address_parse(a, address, sizeof(address), &rest) ||
	    (!ch->extended_smtp && *rest)) {
		channel_push(ch, syntaxerr);
		return;
	}
	/* Python keeps the options of the last RCPT that got this far, even
	 * a refused one, and passes them to process_message. */
	if (!params_set(&ch->rcpt_options, rest)) {
		channel_push(ch, "451 Error: out of memory");
		return;
	}
	if (!params_valid(&ch->rcpt_options)) {
		channel_push(ch, syntaxerr);
		return;
	}
	if (ch->rcpt_options.count > 0) {
		channel_push(ch,
		    "555 RCPT TO parameters not recognized or not implemented");
		return;
	}
	/* RFC 5321 section 4.5.3.1.8: at least 100 must be accepted. */
	if (ch->cfg->max_recipients &&
	    tx->rcpt_count >= (size_t)ch->cfg->max_recipients) {
		channel_push(ch, "452 Error: too many recipients");
		return;
	}
	/* Room first: once a hook (a relay) has accepted the recipient
	 * upstream, storing it must not fail. */
	if (tx->rcpt_count == tx->rcpt_cap) {
		size_t cap = tx->rcpt_cap ? tx->rcpt_cap * 2 : 8;
		char **v = realloc(tx->rcpttos, cap * sizeof(*v));

		if (v == NULL) {
			channel_push(ch, "451 Error: out of memory");
			return;
		}
		tx->rcpttos = v;
		tx->rcpt_cap = cap;
	}
	if (channel_fault(ch, FAULT_RCPT, address))
		return;
	if ((copy = strdup(address)) == NULL) {
		channel_push(ch, "451 Error: out of memory");
		return;
	}
	if ((r = hook_run(ch, HOOK_RCPT, address, NULL)) != NULL) {
		free(copy);
		channel_push(ch, r);
		return;
	}
	tx->rcpttos[tx->rcpt_count++] = copy;
	channel_push(ch, "250 OK");
}

/* smtp_rset - RSET: abort the transaction, keep the greeting. */
static void
smtp_rset(struct smtpd_channel *ch, char *arg)
{
	(void)arg;
	if (channel_fault(ch, FAULT_RSET, ch->tx.mailfrom))
		return;
	channel_rset(ch);
	channel_push(ch, "250 OK");
}

/* smtp_data - DATA: the message text follows, up to a line ".". */
static void
smtp_data(struct smtpd_channel *ch, char *arg)
{
	(void)arg;
	/* RFC 3030 section 2: one transaction is DATA or BDAT, not both. */
	if (ch->tx.bdat) {
		channel_push(ch, "503 Error: BDAT in progress; DATA not allowed");
		return;
	}
	if (channel_fault(ch, FAULT_DATA, ch->tx.mailfrom))
		return;
	message_start(&ch->msg);
	ch->state = SMTPD_DATA;
	channel_push(ch, "354 End data with <CR><LF>.<CR><LF>");
}

/* bdat_parse - "chunk-size [LAST]" (RFC 3030 section 2): false when arg
 * is not that. */
static bool
bdat_parse(const char *arg, unsigned long long *size, bool *last)
{
	char *end;

	if (*arg < '0' || *arg > '9')
		return false;
	errno = 0;
	*size = strtoull(arg, &end, 10);
	if (errno != 0 || end - arg > 20)
		return false;
	*last = false;
	if (*end == '\0')
		return true;
	if (*end != ' ' || strcasecmp(end + 1, "LAST") != 0)
		return false;
	*last = true;
	return true;
}

/*
 * smtp_bdat - BDAT chunk-size [LAST] (RFC 3030): exactly chunk-size bytes
 * of message text follow, as they are (no dot-stuffing, no end line).  A
 * chunk that may not come now is still read, and dropped, so that the
 * session stays in step; one whose size cannot be read leaves nothing to
 * stay in step with, and the connection is closed.
 */
static void
smtp_bdat(struct smtpd_channel *ch, char *arg)
{
	unsigned long long size;
	bool last, keep;
	int r;

	if (!bdat_parse(arg, &size, &last)) {
		channel_push(ch, "501 Syntax: BDAT chunk-size [LAST]");
		ch->closing = true;
		return;
	}
	keep = command_check(ch, "BDAT", NEED_HELO | NEED_MAIL | NEED_RCPT,
	    "");
	if (keep && !ch->tx.bdat) {
		/* The first chunk is the fault rules' DATA stage; a refused
		 * one is read and dropped, to stay in step. */
		if (channel_fault(ch, FAULT_DATA, ch->tx.mailfrom)) {
			if (ch->closing)
				return;
			keep = false;
		} else {
			message_start(&ch->msg);
			ch->tx.bdat = true;
		}
	}
	/* A stop lets a chunk being read finish, as it lets DATA. */
	if (keep)
		ch->state = SMTPD_DATA;
	r = channel_read_chunk(ch, size, keep);
	if (r <= 0) {
		channel_goodbye(ch, r);
		ch->closing = true;
		return;
	}
	if (!keep)
		return;
	ch->state = SMTPD_COMMAND;
	if (last) {
		channel_end_message(ch, true);
		return;
	}
	channel_pushf(ch, "250 2.0.0 %llu bytes received", size);
}

/* smtp_help - HELP [command]: Python's one-line syntax summaries. */
static void
smtp_help(struct smtpd_channel *ch, char *arg)
{
	/* params: the command takes parameters after EHLO. */
	static const struct {
		const char *name, *text;
		bool params;
	} help[] = {
		{ "EHLO", "250 Syntax: EHLO hostname", false },
		{ "HELO", "250 Syntax: HELO hostname", false },
		{ "MAIL", "250 Syntax: MAIL FROM: <address>", true },
		{ "RCPT", "250 Syntax: RCPT TO: <address>", true },
		{ "DATA", "250 Syntax: DATA", false },
		{ "RSET", "250 Syntax: RSET", false },
		{ "NOOP", "250 Syntax: NOOP", false },
		{ "QUIT", "250 Syntax: QUIT", false },
		{ "VRFY", "250 Syntax: VRFY <address>", false },
	};

	if (*arg == '\0') {
		channel_push(ch, "250 Supported commands: EHLO HELO MAIL RCPT "
		    "DATA RSET NOOP QUIT VRFY");
		return;
	}
	for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++) {
		if (strcasecmp(arg, help[i].name) != 0)
			continue;
		if (ch->extended_smtp && help[i].params)
			channel_pushf(ch, "%s [SP <mail-parameters>]",
			    help[i].text);
		else
			channel_push(ch, help[i].text);
		return;
	}
	channel_push(ch, "501 Supported commands: EHLO HELO MAIL RCPT DATA "
	    "RSET NOOP QUIT VRFY");
}

/* smtp_vrfy - VRFY: we cannot tell (RFC 5321 section 3.5.3). */
static void
smtp_vrfy(struct smtpd_channel *ch, char *arg)
{
	char address[LINE_MAX_ANY + 3], *rest;

	if (*arg == '\0')
		channel_push(ch, "501 Syntax: VRFY <address>");
	else if (address_parse(arg, address, sizeof(address), &rest))
		channel_push(ch, "252 Cannot VRFY user, but will accept "
		    "message and attempt delivery");
	else
		channel_pushf(ch, "502 Could not VRFY %s", arg);
}

/* smtp_expn - EXPN: not implemented, as in Python. */
static void
smtp_expn(struct smtpd_channel *ch, char *arg)
{
	(void)arg;
	channel_push(ch, "502 EXPN not implemented");
}

/* session_forget - after the TLS handshake, the session starts over:
 * nothing said in plaintext may count (RFC 3207 section 4.2). */
static void
session_forget(struct smtpd_channel *ch)
{
	channel_rset(ch);
	if (ch->seen_greeting != ch->helo_small)
		free(ch->seen_greeting);
	ch->seen_greeting = NULL;
	ch->extended_smtp = false;
	free(ch->auth_user);
	ch->auth_user = NULL;
}

/*
 * channel_start_tls - the server's TLS handshake on the client's socket,
 * bounded by the timeout; from then on the channel reads and writes
 * through the TLS session.  False when it failed: the connection is
 * closed, since no reply could reach the client now.
 */
static bool
channel_start_tls(struct smtpd_channel *ch)
{
	const struct smtpd_config *cfg = ch->cfg;
	char err[256];

	if (ch->fd < 0 || ch->server->tls == NULL) {
		ch->closing = true;
		return false;
	}
	ch->tls = tls_accept(ch->server->tls, ch->fd,
	    cfg->timeout > INT_MAX / 1000 ? 0 : cfg->timeout * 1000, err,
	    sizeof(err));
	if (ch->tls == NULL) {
		if (cfg->debug)
			fprintf(cfg->debug, "%s:%d TLS failed: %s\n",
			    ch->peer_ip, ch->peer_port, err);
		ch->closing = true;
		ch->write_failed = true;	/* nothing more goes out */
		return false;
	}
	ch->io.read = tls_read;
	ch->io.write = tls_write;
	ch->io.ctx = ch->tls;
	if (ch->srec)
		session_set_tls(ch->srec, tls_protocol(ch->tls),
		    tls_cipher(ch->tls));
	if (cfg->debug)
		fprintf(cfg->debug, "%s:%d TLS %s %s\n", ch->peer_ip,
		    ch->peer_port, tls_protocol(ch->tls), tls_cipher(ch->tls));
	return true;
}

/*
 * smtp_starttls - STARTTLS (RFC 3207): 220, then the handshake.
 *
 * Whatever the client sent after the STARTTLS line, in plaintext, is
 * thrown away: an attacker in the middle can append commands there
 * ("STARTTLS\r\nRSET\r\nMAIL FROM:...") that would otherwise be read as
 * if they had come over TLS (CVE-2011-0411, Postfix and many others).
 */
static void
smtp_starttls(struct smtpd_channel *ch, char *arg)
{
	(void)arg;
	if (ch->tls) {
		channel_push(ch, "503 5.5.1 Error: TLS already active");
		return;
	}
	if (ch->fd < 0) {
		channel_push(ch, "454 4.7.0 TLS not available");
		return;
	}
	channel_push(ch, "220 2.0.0 Ready to start TLS");
	channel_flush(ch);
	if (ch->closing)
		return;
	ch->in_start = ch->in_end = ch->in_scan = 0;
	ch->maybe_more = false;
	ch->discarding = false;
	if (channel_start_tls(ch))
		session_forget(ch);
}

static void	channel_goodbye(struct smtpd_channel *, int);

/* auth_read - the client's next line in an AUTH dialogue, or NULL when
 * the session ends (the reason said, as for any read). */
static char *
auth_read(struct smtpd_channel *ch)
{
	char *line;
	size_t len;
	int r = channel_read_line(ch, &line, &len);

	if (r == READ_LINE) {
		if (ch->srec)	/* masked there */
			session_client_line(ch->srec, line, len);
		/* Not the line itself in the trace: it carries a password. */
		if (ch->cfg->debug)
			fprintf(ch->cfg->debug, "%s:%d <- (%zu bytes of AUTH)\n",
			    ch->peer_ip, ch->peer_port, len);
		return line;
	}
	if (r == READ_TOO_LONG) {
		channel_push(ch, "500 5.5.6 Authentication exchange line is "
		    "too long");
		return NULL;
	}
	channel_goodbye(ch, r);
	ch->closing = true;
	return NULL;
}

/*
 * smtp_auth - AUTH mechanism [initial-response] (RFC 4954), then as many
 * 334 exchanges as the mechanism needs (auth.c).
 */
static void
smtp_auth(struct smtpd_channel *ch, char *arg)
{
	const struct smtpd_config *cfg = ch->cfg;
	const struct auth_creds creds = {
		cfg->auth_secret, cfg->auth_ctx, cfg->auth_any
	};
	struct auth_dialogue d;
	enum auth_status st;
	char reply[512];
	const char *r;

	if (ch->auth_user) {
		channel_push(ch, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (ch->tx.mailfrom) {
		channel_push(ch, "503 5.5.1 Error: AUTH not permitted during "
		    "a mail transaction");
		return;
	}
	/* A password in the clear only when the server was told to take it. */
	if (ch->tls == NULL && !cfg->auth_plaintext) {
		channel_push(ch, "538 5.7.11 Encryption required for "
		    "requested authentication mechanism");
		return;
	}
	st = auth_begin(&d, &creds, arg, ch->server->fqdn, reply,
	    sizeof(reply));
	while (st == AUTH_MORE) {
		char *line;

		channel_push(ch, reply);
		if ((line = auth_read(ch)) == NULL)
			return;
		st = auth_continue(&d, &creds, line, reply, sizeof(reply));
	}
	/* The fault rules' "auth" stage: its reply (or drop) takes the
	 * place of the login's outcome, right password or wrong. */
	if ((st == AUTH_OK || st == AUTH_FAILED) && d.attempt[0] &&
	    channel_fault(ch, FAULT_AUTH, d.attempt))
		return;
	if (st == AUTH_OK && (r = hook_run(ch, HOOK_AUTH, d.user, NULL))) {
		channel_push(ch, r);
		return;
	}
	if (st == AUTH_OK && (ch->auth_user = strdup(d.user)) == NULL) {
		channel_push(ch, "454 4.7.0 Temporary authentication failure");
		return;
	}
	if (st == AUTH_OK && ch->srec)
		session_set_auth(ch->srec, ch->auth_user);
	channel_push(ch, auth_reply(st));
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

/* command_in - whether the protocol cfg speaks has this command. */
static bool
command_in(const struct smtpd_config *cfg, const struct command *c)
{
	bool tls = (cfg->tls_cert || cfg->tls_self_signed) && !cfg->smtps;

	return !(((c->flags & SMTP_ONLY) && cfg->lmtp) ||
	    ((c->flags & LMTP_ONLY) && !cfg->lmtp) ||
	    ((c->flags & CHUNKING_ONLY) && !cfg->chunking) ||
	    ((c->flags & IF_STARTTLS) && !tls) ||
	    ((c->flags & IF_AUTH) && !cfg->auth_secret && !cfg->auth_any));
}

/* command_find - the table row for a command name in this session's
 * protocol, or NULL. */
static const struct command *
command_find(const struct smtpd_channel *ch, const char *name)
{
	const struct smtpd_config *cfg = ch->cfg;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return command_in(cfg, &commands[i]) ? &commands[i] :
			    NULL;
	return NULL;
}

/* channel_is_builtin - true if name (any case) is a built-in command of
 * the protocol cfg speaks (without cfg.chunking, BDAT is not one, and a
 * program that made its own keeps it). */
bool
channel_is_builtin(const struct smtpd_config *cfg, const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct command *c = &commands[i];

		if (strcasecmp(c->name, name) != 0)
			continue;
		return command_in(cfg, c);
	}
	return false;
}

/* command_check - may the command name, with these flags, run now?
 * Answers when it may not.  Built-in and extra commands alike. */
static bool
command_check(struct smtpd_channel *ch, const char *name, unsigned flags,
    const char *arg)
{
	if ((flags & NEED_TLS) && ch->cfg->require_tls && ch->tls == NULL) {
		channel_push(ch, "530 5.7.0 Must issue a STARTTLS command first");
		return false;
	}
	if ((flags & NEED_HELO) && ch->seen_greeting == NULL) {
		channel_push(ch, ch->cfg->lmtp ? "503 Error: send LHLO first" :
		    "503 Error: send HELO first");
		return false;
	}
	if ((flags & NEED_AUTH) && ch->cfg->auth_required &&
	    ch->auth_user == NULL) {
		channel_push(ch, "530 5.7.0 Authentication required");
		return false;
	}
	if ((flags & NEED_MAIL) && ch->tx.mailfrom == NULL) {
		channel_push(ch, "503 Error: need MAIL command");
		return false;
	}
	if ((flags & NEED_RCPT) && ch->tx.rcpt_count == 0) {
		channel_push(ch, "503 Error: need RCPT command");
		return false;
	}
	if ((flags & NO_ARG) && *arg != '\0') {
		channel_pushf(ch, "501 Syntax: %s", name);
		return false;
	}
	return true;
}

/* line_limit - how long this command's line may be (Python's
 * command_size_limits). */
static size_t
line_limit(const struct smtpd_channel *ch, const char *name)
{
	size_t limit = LINE_LIMIT;

	if (strcmp(name, "AUTH") == 0)
		return line_max(ch);
	if (ch->extended_smtp && strcmp(name, "MAIL") == 0) {
		if (ch->cfg->data_size_limit)
			limit += SIZE_EXTRA;
		if (ch->cfg->enable_smtputf8)
			limit += SMTPUTF8_EXTRA;
	}
	return limit;
}

/* is_http - a line that starts like an HTTP request: someone pointed a
 * browser or a proxy at us.  No reply can help; we hang up. */
static bool
is_http(const char *line)
{
	return strncmp(line, "GET ", 4) == 0 ||
	    strncmp(line, "POST ", 5) == 0 ||
	    strncmp(line, "CONNECT ", 8) == 0 ||
	    strncmp(line, "HEAD ", 5) == 0 ||
	    strncmp(line, "PUT ", 4) == 0;
}

/* channel_trace_command - the debug trace of a command line; AUTH's
 * initial response is left out: it carries a password. */
static void
channel_trace_command(struct smtpd_channel *ch, const char *line)
{
	const char *sp;

	if (strncasecmp(line, "AUTH ", 5) == 0 &&
	    (sp = strchr(line + 5, ' ')) != NULL)
		fprintf(ch->cfg->debug, "%s:%d <- %.*s (%zu bytes of AUTH)\n",
		    ch->peer_ip, ch->peer_port, (int)(sp - line), line,
		    strlen(sp + 1));
	else
		fprintf(ch->cfg->debug, "%s:%d <- %s\n", ch->peer_ip,
		    ch->peer_port, line);
}

/* channel_command - answer one command line (Python's found_terminator
 * in COMMAND state). */
static void
channel_command(struct smtpd_channel *ch, char *line, size_t len)
{
	const struct command *cmd;
	char *name, *sp, *arg;

	if (ch->cfg->debug)
		channel_trace_command(ch, line);
	if (ch->srec)	/* AUTH's secret masked there */
		session_client_line(ch->srec, line, len);
	/* A NUL would cut a C string short: the line cannot be read right. */
	if (len == 0 || strlen(line) != len) {
		channel_push(ch, "500 Error: bad syntax");
		return;
	}
	if (is_http(line)) {
		ch->closing = true;
		return;
	}
	/* Too long for any command. */
	if (len > line_max(ch)) {
		channel_push(ch, "500 Error: line too long");
		return;
	}
	/* Split at the first space, as Python; the name is upper-cased in
	 * place (the line is ours), the argument stripped. */
	name = line;
	sp = strchr(line, ' ');
	arg = sp ? address_strip(sp + 1) : line + len;
	if (sp)
		*sp = '\0';
	for (char *c = name; *c; c++)
		*c = (char)toupper((unsigned char)*c);

	if (len > line_limit(ch, name)) {
		channel_push(ch, "500 Error: line too long");
		return;
	}
	for (size_t i = 0; i < ch->cfg->command_count; i++) {
		const struct smtpd_command *c = &ch->cfg->commands[i];

		if (strcasecmp(c->name, name) == 0) {
			if (command_check(ch, name, c->flags, arg))
				channel_push(ch, c->run(ch, arg, c->ctx));
			return;
		}
	}
	if ((cmd = command_find(ch, name)) == NULL) {
		channel_pushf(ch, "500 Error: command \"%s\" not recognized",
		    name);
		return;
	}
	if (command_check(ch, cmd->name, cmd->flags, arg))
		cmd->proceed(ch, arg);
}

/* channel_deliver - hand the message to the handler: under the delivery
 * mutex, unless the handler says it is thread-safe. */
static const char *
channel_deliver(struct smtpd_channel *ch, const struct smtpd_message *m)
{
	const struct smtpd_handler *h = &ch->cfg->handler;
	pthread_mutex_t *lock = &ch->server->deliver_lock;
	const char *r;

	if (!h->concurrent)
		pthread_mutex_lock(lock);
	r = h->process_message(ch, m, h->ctx);
	if (!h->concurrent)
		pthread_mutex_unlock(lock);
	return r;
}

/* channel_push_each - the same reply for every recipient (LMTP) or once
 * (SMTP). */
static void
channel_push_each(struct smtpd_channel *ch, const char *reply)
{
	size_t n = ch->cfg->lmtp ? ch->tx.rcpt_count : 1;

	for (size_t i = 0; i < n; i++)
		channel_push(ch, reply);
}

/*
 * channel_deliver_each - LMTP: deliver, and answer each recipient in RCPT
 * order (RFC 2033 section 4.2).  A handler with process_message_lmtp
 * answers each; any other is called once and its answer goes to all.
 * The replies are copied before the delivery mutex is let go, so a
 * handler's storage need only last for its call.  True when at least one
 * recipient was accepted (2xx).
 */
static bool
channel_deliver_each(struct smtpd_channel *ch, const struct smtpd_message *m)
{
	const struct smtpd_handler *h = &ch->cfg->handler;
	pthread_mutex_t *lock = &ch->server->deliver_lock;
	size_t n = m->rcpt_count;
	const char **replies;
	char **copies;
	bool accepted = false;

	if (h->process_message_lmtp == NULL) {
		const char *r = channel_deliver(ch, m);

		channel_push_each(ch, r ? r : "250 OK");
		return r == NULL || r[0] == '2';
	}
	replies = calloc(n, sizeof(*replies));
	copies = calloc(n, sizeof(*copies));
	if (replies == NULL || copies == NULL) {
		free(replies);
		free(copies);
		channel_push_each(ch, "452 Error: insufficient system storage");
		return false;
	}
	if (!h->concurrent)
		pthread_mutex_lock(lock);
	h->process_message_lmtp(ch, m, replies, h->ctx);
	for (size_t i = 0; i < n; i++)
		copies[i] = strdup(replies[i] ? replies[i] : "250 OK");
	if (!h->concurrent)
		pthread_mutex_unlock(lock);
	for (size_t i = 0; i < n; i++) {
		/* Out of memory after delivery: the delivery stands. */
		channel_push(ch, copies[i] ? copies[i] : "250 OK");
		accepted |= copies[i] == NULL || copies[i][0] == '2';
		free(copies[i]);
	}
	free(copies);
	free(replies);
	return accepted;
}

/*
 * channel_store - the HTTP API's store keeps a copy of a message the
 * handler accepted, and the session log its ID: a second consumer after
 * the class's own, so a refused message is never stored as delivered.
 * Not when the handler is the store itself (it has the message already).
 * A frame of its own, off the path of a server without a store (see
 * faults_on).
 */
static __attribute__((noinline)) void
channel_store(struct smtpd_channel *ch, const struct smtpd_message *m)
{
	struct smtpd_inbox *store = ch->server->store;
	char id[INBOX_ID_LEN + 1];

	if (inbox_is_handler(&ch->cfg->handler, store))
		return;
	if (inbox_add(store, m, session_id(ch->srec), id) == 0)
		session_add_message(ch->srec, id);
}

/*
 * channel_end_message - the message is complete (DATA's end line, or the
 * BDAT LAST chunk): check it, deliver it, and answer.  A 250 goes out only
 * after the handler returned, so "250 OK" always means delivered.
 */
static void
channel_end_message(struct smtpd_channel *ch, bool bdat)
{
	struct message_text *m = &ch->msg;
	struct transaction *tx = &ch->tx;
	struct smtpd_message msg;
	const char *r;

	ch->state = SMTPD_COMMAND;
	ch->messages++;
	if (bdat && m->cr_pending) {
		/* The message ended in a CR: a bare one. */
		m->cr_pending = false;
		m->bare_newline = true;
		message_add(ch, "\r", 1, 0);
	}
	/* Python counts DATA's text without its final CRLF; BDAT's chunks
	 * are the message, every byte. */
	if (ch->cfg->data_size_limit && m->raw > (bdat ? 0 : 2) &&
	    m->raw - (bdat ? 0 : 2) > ch->cfg->data_size_limit)
		m->too_big = true;
	if (m->too_big) {
		/* Unlike Python (which stays in DATA), the transaction ends. */
		m->len = 0;
		channel_push_each(ch, "552 Error: Too much mail data");
		transaction_reset(ch);
		return;
	}
	if (m->no_memory) {
		m->len = 0;
		channel_push_each(ch, "452 Error: insufficient system storage");
		transaction_reset(ch);
		return;
	}
	if (ch->cfg->strict_newlines && m->bare_newline) {
		m->len = 0;
		channel_push_each(ch, "550 5.5.2 bare CR or LF not allowed");
		transaction_reset(ch);
		return;
	}
	/* Python joins the lines and drops the final line ending (which a
	 * chunked message need not have). */
	if (m->len > 0 && (!bdat || m->data[m->len - 1] == '\n'))
		m->len--;
	if (!message_reserve(m, 0)) {
		channel_push_each(ch, "452 Error: insufficient system storage");
		transaction_reset(ch);
		return;
	}
	m->data[m->len] = '\0';

	memset(&msg, 0, sizeof(msg));
	msg.peer_ip = ch->peer_ip;
	msg.peer_port = ch->peer_port;
	msg.helo = ch->seen_greeting;
	msg.mailfrom = tx->mailfrom;
	msg.rcpttos = (const char *const *)tx->rcpttos;
	msg.rcpt_count = tx->rcpt_count;
	msg.data = m->data;
	msg.data_len = m->len;
	msg.smtputf8 = tx->smtputf8;
	msg.auth_user = ch->auth_user;
	msg.tls_protocol = tls_protocol(ch->tls);
	msg.tls_cipher = tls_cipher(ch->tls);
	if (!ch->cfg->decode_data) {
		msg.mail_options = (const char *const *)ch->mail_options.item;
		msg.mail_option_count = ch->mail_options.count;
		msg.rcpt_options = (const char *const *)ch->rcpt_options.item;
		msg.rcpt_option_count = ch->rcpt_options.count;
	}
	/* After the body, before delivery: a message a rule refuses (or
	 * hangs up on) is never delivered. */
	if (channel_fault(ch, FAULT_DOT, tx->mailfrom)) {
		transaction_reset(ch);
		return;
	}
	if ((r = hook_run(ch, HOOK_DATA, NULL, &msg)) != NULL)
		channel_push_each(ch, r);
	else if (ch->cfg->lmtp) {
		if (channel_deliver_each(ch, &msg) && ch->server->store)
			channel_store(ch, &msg);
	} else {
		r = channel_deliver(ch, &msg);
		/* stored before the 250 goes out: whoever saw the 250 finds
		 * the message in the store */
		if ((r == NULL || r[0] == '2') && ch->server->store)
			channel_store(ch, &msg);
		channel_push(ch, r ? r : "250 OK");
	}
	transaction_reset(ch);

	/* Don't keep a huge buffer for an idle connection. */
	if (m->cap > DATA_KEEP_MAX) {
		free(m->data);
		m->data = NULL;
		m->cap = m->len = 0;
	}
}

/*
 * channel_prepare - the replies that are the same for every session of a
 * server, made once: the greeting, and the answers to HELO and EHLO.
 * Returns false when out of memory.
 */
/* ehlo_make - the EHLO reply, with STARTTLS offered or not. */
static char *
ehlo_make(const struct smtpd_server *srv, bool starttls)
{
	const struct smtpd_config *cfg = &srv->cfg;
	char *e = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&e, &len)) == NULL)
		return NULL;
	fprintf(f, "250-%s\r\n", srv->fqdn);
	if (cfg->data_size_limit)
		fprintf(f, "250-SIZE %zu\r\n", cfg->data_size_limit);
	if (!cfg->decode_data)
		fputs("250-8BITMIME\r\n", f);
	if (cfg->enable_smtputf8)
		fputs("250-SMTPUTF8\r\n", f);
	fputs("250-PIPELINING\r\n", f);
	if (cfg->chunking)
		fputs("250-CHUNKING\r\n", f);
	if (starttls)
		fputs("250-STARTTLS\r\n", f);
	/* Offered over plaintext too: a client that tries gets a 538 that
	 * says why, rather than a server that seems to lack AUTH. */
	if (cfg->auth_secret || cfg->auth_any)
		fprintf(f, "250-AUTH %s\r\n", auth_mechanisms());
	for (const char *const *k = cfg->ehlo_keywords; k && *k; k++)
		fprintf(f, "250-%s\r\n", *k);
	fputs("250 HELP", f);
	if (fclose(f) != 0) {
		free(e);
		return NULL;
	}
	return e;
}

bool
channel_prepare(struct smtpd_server *srv)
{
	char *e, *t;

	snprintf(srv->greeting, sizeof(srv->greeting), "220 %s smtpd %s",
	    srv->fqdn, SMTPD_VERSION);
	snprintf(srv->helo_reply, sizeof(srv->helo_reply), "250 %s",
	    srv->fqdn);
	/* After STARTTLS (or with smtps) STARTTLS is no longer offered
	 * (RFC 3207 section 4.2). */
	e = ehlo_make(srv, srv->tls != NULL && !srv->cfg.smtps);
	t = ehlo_make(srv, false);
	if (e == NULL || t == NULL) {
		free(e);
		free(t);
		return false;
	}
	free(srv->ehlo_reply);
	free(srv->ehlo_reply_tls);
	srv->ehlo_reply = e;
	srv->ehlo_reply_tls = t;
	return true;
}

/* greet_fault - a connect rule answered instead of the greeting, or a
 * greeting rule before it: true.  A frame of its own (see faults_on). */
static __attribute__((noinline)) bool
greet_fault(struct smtpd_channel *ch)
{
	struct fault_action a;

	if (!fault_fire(ch, FAULT_CONNECT, ch->peer_ip, &a) &&
	    !fault_fire(ch, FAULT_GREETING, ch->peer_ip, &a))
		return false;
	if (a.reply[0] == '4' || a.reply[0] == '5')
		ch->closing = true;
	return true;
}

/* channel_greet - the 220 greeting, or a fault's or a connect hook's
 * answer instead; a 4xx or 5xx one closes. */
static void
channel_greet(struct smtpd_channel *ch)
{
	const char *r;

	if (faults_on(ch) && greet_fault(ch))
		return;
	if ((r = hook_run(ch, HOOK_CONNECT, NULL, NULL)) != NULL) {
		channel_push(ch, r);
		if (r[0] == '4' || r[0] == '5')
			ch->closing = true;
		return;
	}
	channel_push(ch, ch->server->greeting);
}

/* channel_goodbye - why the session ends, said as a 421 when the client
 * can still hear it. */
static void
channel_goodbye(struct smtpd_channel *ch, int r)
{
	if (r == READ_TIMEOUT)
		channel_pushf(ch, "421 %s Error: timeout exceeded",
		    ch->server->fqdn);
	else if (atomic_load(&ch->server->stopping) &&
	    (r == READ_EOF || r == READ_LINE))
		channel_pushf(ch, "421 %s Error: shutting down",
		    ch->server->fqdn);
	/* Otherwise the client left (mid-message too: nothing is kept) or
	 * the connection failed: there is no one to tell. */
}

/*
 * channel_drain - read and drop what the client sent after the command
 * that ended the session.  Closing a socket with input unread makes the
 * kernel reset the connection, and the reset can destroy our last reply
 * before the client reads it.  Only when the last read filled the buffer
 * (more may be waiting), and bounded: a client that keeps sending is cut
 * off all the same.
 */
static void
channel_drain(struct smtpd_channel *ch)
{
	size_t total = 0;
	ssize_t n;

	if (!ch->maybe_more || ch->write_failed)
		return;
	while (total < DRAIN_MAX &&
	    (n = ch->io.read(ch->io.ctx, ch->in, ch->in_cap, false)) > 0)
		total += (size_t)n;
}

/* channel_record_begin - the session log's record of this session. */
static void
channel_record_begin(struct smtpd_channel *ch)
{
	ch->srec = session_begin(ch->server->sessions, ch->peer_ip,
	    ch->peer_port);
	if (ch->tls)
		session_set_tls(ch->srec, tls_protocol(ch->tls),
		    tls_cipher(ch->tls));
}

/* channel_record_end - hand the record to the log, with how the session
 * ended: r is the last read's result; refused: at the greeting. */
static void
channel_record_end(struct smtpd_channel *ch, int r, bool refused)
{
	enum session_end how;

	if (ch->quit)
		how = SESSION_QUIT;
	else if (r == READ_TIMEOUT)
		how = SESSION_TIMEOUT;
	else if (refused)
		how = SESSION_REFUSED;
	else if (ch->closing && !ch->write_failed)
		how = SESSION_CLOSED_BY_SERVER;
	else
		how = SESSION_CLIENT_LEFT;
	session_end(ch->server->sessions, ch->srec, how);
	ch->srec = NULL;
}

/*
 * channel_run - the session: greet, then loop { read a line; look it up;
 * check; proceed } until QUIT, end of input, a timeout or a stop.
 */
void
channel_run(struct smtpd_channel *ch)
{
	int max_junk = ch->cfg->max_junk;
	int r = READ_LINE;
	bool refused;

	/* Implicit TLS (RFC 8314 section 3.3): the handshake comes first. */
	if (ch->cfg->smtps && !channel_start_tls(ch))
		return;
	if (ch->server->sessions)
		channel_record_begin(ch);
	channel_greet(ch);
	refused = ch->closing;
	while (!ch->closing) {
		if (ch->state == SMTPD_DATA) {
			if ((r = channel_read_data(ch)) <= 0)
				break;
			channel_end_message(ch, false);
			continue;
		}
		/* At a stop, a client between transactions is let go. */
		if (atomic_load(&ch->server->stopping) &&
		    ch->in_start == ch->in_end) {
			r = READ_LINE;
			break;
		}
		char *line;
		size_t len;

		r = channel_read_line(ch, &line, &len);
		if (r == READ_TOO_LONG)
			channel_push(ch, "500 Error: line too long");
		else if (r == READ_LINE)
			channel_command(ch, line, len);
		else
			break;
		if (max_junk && ch->junk >= max_junk) {
			channel_pushf(ch, "421 %s Error: too many bad commands",
			    ch->server->fqdn);
			ch->closing = true;
		}
	}
	if (!ch->closing)
		channel_goodbye(ch, r);
	channel_flush(ch);
	channel_drain(ch);
	if (ch->srec)
		channel_record_end(ch, r, refused);
}

/* ------------------------------------------------------------------ */
/* Sockets                                                             */
/* ------------------------------------------------------------------ */

/* socket_read - recv(2), blocking up to SO_RCVTIMEO when asked to wait. */
static ssize_t
socket_read(void *ctx, void *buf, size_t len, bool wait)
{
	int fd = (int)(intptr_t)ctx;

	return recv(fd, buf, len, wait ? 0 : MSG_DONTWAIT);
}

/* socket_write - send all of buf; SO_SNDTIMEO bounds a client that does
 * not read.  send_all never raises SIGPIPE: a vanished client must not
 * kill the process. */
static ssize_t
socket_write(void *ctx, const void *buf, size_t len)
{
	return send_all((int)(intptr_t)ctx, buf, len);
}

struct smtpd_channel *
channel_new_io(struct smtpd_server *srv, const struct channel_io *io,
    const char *peer_ip, int peer_port)
{
	struct smtpd_channel *ch;

	/* Not calloc: the buffers need no clearing. */
	if ((ch = malloc(sizeof(*ch))) == NULL)
		return NULL;
	memset(ch, 0, offsetof(struct smtpd_channel, out));
	ch->in = ch->in_small;
	ch->in_cap = IN_SMALL;
	ch->server = srv;
	ch->cfg = &srv->cfg;
	ch->io = *io;
	ch->fd = -1;
	snprintf(ch->peer_ip, sizeof(ch->peer_ip), "%s", peer_ip);
	ch->peer_port = peer_port;
	ch->state = SMTPD_COMMAND;
	return ch;
}

/*
 * ipv4_text - "a.b.c.d", as inet_ntop writes it.  By hand, because the
 * worker that accepted a client makes its session (server.c:
 * worker_next_client), and glibc's inet_ntop calls sprintf, whose frame
 * would put a second page under every such worker's stack.
 */
static void
ipv4_text(const struct in_addr *a, char *ip)
{
	const unsigned char *b = (const unsigned char *)&a->s_addr;

	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];

		if (v >= 100)
			*ip++ = (char)('0' + v / 100);
		if (v >= 10)
			*ip++ = (char)('0' + v / 10 % 10);
		*ip++ = (char)('0' + v % 10);
		*ip++ = i < 3 ? '.' : '\0';
	}
}

/* peer_format - a socket address as text and a port: "unix", 0 for a
 * UNIX-domain client, whose path (if any) is not who it is. */
static void
peer_format(const struct sockaddr *peer, char *ip, size_t ipsz, int *port)
{
	*port = 0;
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)peer;

		ipv4_text(&in->sin_addr, ip);	/* ipsz >= INET_ADDRSTRLEN */
		*port = ntohs(in->sin_port);
	} else if (peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)peer;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)ipsz);
		*port = ntohs(in6->sin6_port);
	} else if (peer->sa_family == AF_UNIX) {
		snprintf(ip, ipsz, "unix");
	} else {
		snprintf(ip, ipsz, "%s", "");
	}
}

struct smtpd_channel *
channel_new(struct smtpd_server *srv, int fd, const struct sockaddr *peer)
{
	struct channel_io io = { socket_read, socket_write,
	    (void *)(intptr_t)fd };
	char ip[INET6_ADDRSTRLEN] = "";
	int port;
	struct smtpd_channel *ch;

	peer_format(peer, ip, sizeof(ip), &port);
	if ((ch = channel_new_io(srv, &io, ip, port)) != NULL)
		ch->fd = fd;
	return ch;
}

void
channel_free(struct smtpd_channel *ch)
{
	if (ch == NULL)
		return;
	transaction_reset(ch);
	hook_run(ch, HOOK_DISCONNECT, NULL, NULL);
	tls_close(ch->tls);
	if (ch->fd >= 0)
		close(ch->fd);
	free(ch->auth_user);
	free(ch->tx.rcpttos);
	params_clear(&ch->mail_options);
	params_clear(&ch->rcpt_options);
	if (ch->seen_greeting != ch->helo_small)
		free(ch->seen_greeting);
	free(ch->msg.data);
	if (ch->in != ch->in_small)
		free(ch->in);
	free(ch->reply);
	free(ch);
}

void
channel_discard(struct smtpd_channel *ch)
{
	free(ch);
}

bool
channel_in_data(const struct smtpd_channel *ch)
{
	return ch->state == SMTPD_DATA;
}

void
channel_set_proxied(struct smtpd_channel *ch, const struct sockaddr *peer)
{
	peer_format(peer, ch->peer_ip, sizeof(ch->peer_ip), &ch->peer_port);
	ch->proxied = true;
}

/* ------------------------------------------------------------------ */
/* Accessors for hooks and handlers                                    */
/* ------------------------------------------------------------------ */

const char *
smtpd_channel_peer_ip(const struct smtpd_channel *ch)
{
	return ch->peer_ip;
}

int
smtpd_channel_peer_port(const struct smtpd_channel *ch)
{
	return ch->peer_port;
}

const char *
smtpd_channel_helo(const struct smtpd_channel *ch)
{
	return ch->seen_greeting ? ch->seen_greeting : "";
}

bool
smtpd_channel_extended(const struct smtpd_channel *ch)
{
	return ch->extended_smtp;
}

const char *
smtpd_channel_mailfrom(const struct smtpd_channel *ch)
{
	return ch->tx.mailfrom;
}

size_t
smtpd_channel_rcpt_count(const struct smtpd_channel *ch)
{
	return ch->tx.rcpt_count;
}

const char *
smtpd_channel_rcpt(const struct smtpd_channel *ch, size_t i)
{
	return i < ch->tx.rcpt_count ? ch->tx.rcpttos[i] : NULL;
}

size_t
smtpd_channel_mail_option_count(const struct smtpd_channel *ch)
{
	return ch->mail_options.count;
}

const char *
smtpd_channel_mail_option(const struct smtpd_channel *ch, size_t i)
{
	return i < ch->mail_options.count ? ch->mail_options.item[i] : NULL;
}

const char *
smtpd_channel_received_data(const struct smtpd_channel *ch, size_t *len)
{
	if (len)
		*len = ch->msg.data ? ch->msg.len : 0;
	return ch->msg.data ? ch->msg.data : "";
}

enum smtpd_channel_state
smtpd_channel_state(const struct smtpd_channel *ch)
{
	return ch->state;
}

const char *
smtpd_channel_fqdn(const struct smtpd_channel *ch)
{
	return ch->server->fqdn;
}

struct smtpd_server *
smtpd_channel_server(const struct smtpd_channel *ch)
{
	return ch->server;
}

void *
smtpd_channel_get_data(const struct smtpd_channel *ch)
{
	return ch->user_data;
}

void
smtpd_channel_set_data(struct smtpd_channel *ch, void *data)
{
	ch->user_data = data;
}

void *
smtpd_channel_handler_data(const struct smtpd_channel *ch)
{
	return ch->handler_data;
}

void
smtpd_channel_set_handler_data(struct smtpd_channel *ch, void *data)
{
	ch->handler_data = data;
}

bool
smtpd_channel_proxied(const struct smtpd_channel *ch)
{
	return ch->proxied;
}

const char *
smtpd_channel_rcpt_reply(struct smtpd_channel *ch, size_t i,
    const char *fmt, ...)
{
	struct transaction *tx = &ch->tx;
	va_list ap;
	char *s;
	int n;

	if (i >= tx->rcpt_count)
		return "451 4.3.0 Error: no such recipient";
	if (tx->rcpt_reply == NULL) {
		tx->rcpt_reply = calloc(tx->rcpt_count, sizeof(*tx->rcpt_reply));
		if (tx->rcpt_reply == NULL)
			return "451 4.3.0 Error: out of memory";
		tx->rcpt_reply_count = tx->rcpt_count;
	}
	if (i >= tx->rcpt_reply_count)
		return "451 4.3.0 Error: no such recipient";
	va_start(ap, fmt);
	n = compat_vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return "451 4.3.0 Error: out of memory";
	free(tx->rcpt_reply[i]);
	tx->rcpt_reply[i] = s;
	return s;
}

const char *
smtpd_channel_auth_user(const struct smtpd_channel *ch)
{
	return ch->auth_user;
}

const char *
smtpd_channel_tls_protocol(const struct smtpd_channel *ch)
{
	return tls_protocol(ch->tls);
}

const char *
smtpd_channel_tls_cipher(const struct smtpd_channel *ch)
{
	return tls_cipher(ch->tls);
}

const char *
smtpd_channel_reply(struct smtpd_channel *ch, const char *fmt, ...)
{
	va_list ap;

	/* Few sessions need it: it is not part of the channel. */
	if (ch->reply == NULL && (ch->reply = malloc(REPLY_MAX)) == NULL)
		return "451 Error: out of memory";
	va_start(ap, fmt);
	vsnprintf(ch->reply, REPLY_MAX, fmt, ap);
	va_end(ap);
	return ch->reply;
}
