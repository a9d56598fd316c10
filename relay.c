/* SPDX-License-Identifier: ISC */
/*
 * relay.c - the SMTP/LMTP client of the relaying handlers (relay.h).
 *
 * A connection reads like a conversation:
 *
 *	relay_open	connect; 220; EHLO (or HELO, or LHLO)
 *	relay_secure	STARTTLS when offered, EHLO again; AUTH PLAIN
 *	relay_mail	MAIL FROM:<...>
 *	relay_rcpt	RCPT TO:<...>, once per recipient
 *	relay_data	DATA; 354; the text, dot-stuffed; "."; 250
 *	relay_close	QUIT
 *
 * One command at a time, no pipelining: each RCPT's reply is wanted by our
 * own client as it happens.  Every wait is bounded: a connect by
 * RELAY_CONNECT_TIMEOUT, every reply by the caller's timeout, every write
 * by SO_SNDTIMEO.
 *
 * One convention throughout, as stdio's error flag: a step that only sends
 * (relay_connect, relay_put, relay_flush) returns nothing; when it fails,
 * relay_fail marks the connection broken and remembers why.  Whatever
 * waits for a reply returns its code, or 0 when there was none - because
 * this step or an earlier one broke the connection, and then *rep says
 * why.  So a sequence of steps is checked once, at the reply.
 */
#include "compat.h"
#include "auth.h"
#include "io.h"
#include "relay.h"
#include "tls.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define IN_CAP		4096	/* a reply line longer than this is not SMTP */
#define OUT_CAP		16384	/* message text is sent in chunks this big */
#define EHLO_MAX	2048	/* EHLO keyword lines we keep */
#define QUIT_TIMEOUT	2	/* seconds we wait for QUIT's reply */

struct relay {
	int	 fd;
	struct tls_session *tls;	/* after STARTTLS */
	int	 timeout;		/* seconds per reply */
	bool	 broken;
	char	 why[RELAY_TEXT_MAX];	/* the failure that broke it */
	char	 peer[300];		/* "host:port", for messages */
	char	 ehlo[EHLO_MAX];	/* "KEYWORD params\n" lines */
	char	 in[IN_CAP];
	size_t	 in_len;
	char	 out[OUT_CAP];
	size_t	 out_len;
};

/* relay_fail - mark the connection broken (the first reason stays) and
 * put that reason in *rep: the "no reply" of every later call.  0. */
static int __attribute__((format(printf, 3, 4)))
relay_fail(struct relay *r, struct relay_reply *rep, const char *fmt, ...)
{
	va_list ap;

	if (!r->broken) {
		int n = snprintf(r->why, sizeof(r->why), "upstream %s: ",
		    r->peer);

		va_start(ap, fmt);
		vsnprintf(r->why + n, sizeof(r->why) - (size_t)n, fmt, ap);
		va_end(ap);
		r->broken = true;
		if (r->fd >= 0)
			close(r->fd);
		r->fd = -1;
	}
	rep->code = 0;
	snprintf(rep->text, sizeof(rep->text), "%s", r->why);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Connecting                                                          */
/* ------------------------------------------------------------------ */

/* connect_one - a non-blocking connect bounded by the deadline; the
 * socket is made blocking again for the conversation. */
static int
connect_one(const struct addrinfo *ai, long long deadline, int *err)
{
	int fd, e = 0;
	socklen_t elen = sizeof(e);

	fd = compat_socket(ai->ai_family, ai->ai_socktype,
	    ai->ai_protocol);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (io_set_nonblock(fd, true, NULL, 0) != 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		long long left;
		int n;

		if (errno != EINPROGRESS) {
			*err = errno;
			close(fd);
			return -1;
		}
		do {
			left = deadline - now_ms();
			n = poll(&pfd, 1, left > 0 ? (int)left : 0);
		} while (n < 0 && errno == EINTR);
		if (n == 0) {
			*err = ETIMEDOUT;
			close(fd);
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0)
			e = errno;
		if (n < 0 || e != 0) {
			*err = n < 0 ? errno : e;
			close(fd);
			return -1;
		}
	}
	if (io_set_nonblock(fd, false, NULL, 0) != 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

/* relay_connect - try each address of host:port until one answers. */
static void
relay_connect(struct relay *r, const char *host, int port,
    struct relay_reply *rep)
{
	struct addrinfo hints, *res, *ai;
	char portstr[16];
	int e, err = ECONNREFUSED, limit;
	long long deadline;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if ((e = getaddrinfo(host, portstr, &hints, &res)) != 0) {
		relay_fail(r, rep, "cannot resolve: %s", gai_strerror(e));
		return;
	}
	limit = r->timeout < RELAY_CONNECT_TIMEOUT ? r->timeout :
	    RELAY_CONNECT_TIMEOUT;
	deadline = now_ms() + (long long)limit * 1000;
	for (ai = res; ai && r->fd < 0; ai = ai->ai_next)
		r->fd = connect_one(ai, deadline, &err);
	freeaddrinfo(res);
	if (r->fd < 0) {
		relay_fail(r, rep, "cannot connect: %s",
		    err == ETIMEDOUT ? "timed out" : strerror(err));
		return;
	}

	/* A write to an upstream that stopped reading must not hang us. */
	if (io_set_send_timeout(r->fd, r->timeout, NULL, 0) != 0)
		relay_fail(r, rep, "cannot set a send timeout: %s",
		    strerror(errno));
}

/* ------------------------------------------------------------------ */
/* Talking                                                             */
/* ------------------------------------------------------------------ */

/* relay_flush - send the buffered output. */
static void
relay_flush(struct relay *r, struct relay_reply *rep)
{
	size_t len = r->out_len;

	r->out_len = 0;
	if (!r->broken && (r->tls ? tls_write(r->tls, r->out, len) :
	    send_all(r->fd, r->out, len)) != 0)
		relay_fail(r, rep, "%s", errno == EAGAIN ?
		    "timed out sending" : strerror(errno));
}

/* relay_put - buffer bytes for the upstream (dropped once it is broken). */
static void
relay_put(struct relay *r, const char *s, size_t len, struct relay_reply *rep)
{
	while (len > 0 && !r->broken) {
		size_t n = OUT_CAP - r->out_len;

		if (n == 0) {
			relay_flush(r, rep);
			continue;
		}
		if (n > len)
			n = len;
		memcpy(r->out + r->out_len, s, n);
		r->out_len += n;
		s += n;
		len -= n;
	}
}

/*
 * relay_sanitise - the upstream's text is relayed to our own client, so
 * a bare CR, a NUL or any other control character in it could end that
 * reply early and forge a second one ("550 no\r250 2.0.0 fake"): each
 * becomes a space.  (A tab stays: it is text.)
 */
static void
relay_sanitise(char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			line[i] = ' ';
	}
}

/* relay_read_line - one reply line without its line ending, by the
 * deadline: false when the connection broke first.  Lines end in CRLF; a
 * bare LF is taken too (liberal in what we accept). */
static bool
relay_read_line(struct relay *r, char *line, size_t linesz, long long deadline,
    struct relay_reply *rep)
{
	for (;;) {
		char *nl = memchr(r->in, '\n', r->in_len);

		if (nl != NULL) {
			size_t n = (size_t)(nl - r->in);
			size_t keep = n;

			if (keep > 0 && r->in[keep - 1] == '\r')
				keep--;
			if (keep >= linesz)
				keep = linesz - 1;
			memcpy(line, r->in, keep);
			line[keep] = '\0';
			relay_sanitise(line, keep);
			r->in_len -= n + 1;
			memmove(r->in, nl + 1, r->in_len);
			return true;
		}
		if (r->in_len == sizeof(r->in))
			return relay_fail(r, rep, "reply line too long");

		/* TLS may hold a decrypted record the socket no longer shows. */
		if (r->tls) {
			ssize_t got = tls_read(r->tls, r->in + r->in_len,
			    sizeof(r->in) - r->in_len, false);

			if (got > 0) {
				r->in_len += (size_t)got;
				continue;
			}
			if (got == 0)
				return relay_fail(r, rep, "connection closed");
			if (errno != EAGAIN)
				return relay_fail(r, rep, "TLS: %s",
				    strerror(errno));
		}
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
		long long left = deadline - now_ms();
		int n = left > 0 ? poll(&pfd, 1, (int)left) : 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return relay_fail(r, rep, "timed out waiting for a "
			    "reply");
		if (r->tls)
			continue;
		ssize_t got = recv(r->fd, r->in + r->in_len,
		    sizeof(r->in) - r->in_len, 0);
		if (got == 0)
			return relay_fail(r, rep, "connection closed");
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return relay_fail(r, rep, "%s", strerror(errno));
		}
		r->in_len += (size_t)got;
	}
}

/*
 * relay_reply - read one reply, multi-line or not (RFC 5321 section
 * 4.2.1): its code, and its texts joined by " "; 0 when there was none.
 * With ehlo set, the lines after the first are kept as the extensions.
 */
static int
relay_reply(struct relay *r, struct relay_reply *rep, bool ehlo, int timeout)
{
	long long deadline = now_ms() + (long long)timeout * 1000;
	char line[IN_CAP + 1];
	size_t tlen = 0, elen = 0;
	int code = 0;

	relay_flush(r, rep);
	if (r->broken)
		return relay_fail(r, rep, "broken");
	if (ehlo)
		r->ehlo[0] = '\0';
	for (bool first = true;; first = false) {
		if (!relay_read_line(r, line, sizeof(line), deadline, rep))
			return 0;
		if (strlen(line) < 3 || line[0] < '1' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' ||
		    line[2] > '9' || (line[3] != '\0' && line[3] != ' ' &&
		    line[3] != '-'))
			return relay_fail(r, rep, "not an SMTP reply: %.80s",
			    line);
		int c = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (!first && c != code)
			return relay_fail(r, rep, "reply codes differ in "
			    "one reply");
		code = c;
		const char *text = line[3] ? line + 4 : "";
		if (tlen + 1 < sizeof(rep->text)) {
			int n = snprintf(rep->text + tlen,
			    sizeof(rep->text) - tlen, "%s%s", tlen ? " " : "",
			    text);
			tlen += (size_t)n;
			if (tlen >= sizeof(rep->text))
				tlen = sizeof(rep->text) - 1;
		}
		if (ehlo && !first && elen + strlen(text) + 2 <
		    sizeof(r->ehlo)) {
			elen += (size_t)snprintf(r->ehlo + elen,
			    sizeof(r->ehlo) - elen, "%s\n", text);
		}
		if (line[3] != '-')
			break;
	}
	rep->code = code;
	if (tlen == 0)
		rep->text[0] = '\0';
	return code;
}

/* relay_command - send one command line and read its reply: its code,
 * or 0. */
static int __attribute__((format(printf, 3, 4)))
relay_command(struct relay *r, struct relay_reply *rep, const char *fmt, ...)
{
	char line[1100];
	va_list ap;
	int n;

	if (r->broken)
		return relay_fail(r, rep, "broken");
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	/* A CR or LF would start a second command: never send one. */
	if (n < 0 || (size_t)n >= sizeof(line) - 2 || strpbrk(line, "\r\n")) {
		rep->code = 0;
		snprintf(rep->text, sizeof(rep->text), "command not sendable");
		return 0;
	}
	memcpy(line + n, "\r\n", 3);
	relay_put(r, line, (size_t)n + 2, rep);
	return relay_reply(r, rep, false, r->timeout);
}

struct relay *
relay_open(const char *host, int port, bool lmtp, const char *helo,
    int timeout, struct relay_reply *rep)
{
	struct relay *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		rep->code = 0;
		snprintf(rep->text, sizeof(rep->text), "out of memory");
		return NULL;
	}
	r->fd = -1;
	r->timeout = timeout > 0 ? timeout : RELAY_DEFAULT_TIMEOUT;
	snprintf(r->peer, sizeof(r->peer), strchr(host, ':') ? "[%s]:%d" :
	    "%s:%d", host, port);
	relay_connect(r, host, port, rep);
	if (relay_reply(r, rep, false, r->timeout) != 220)
		goto fail;
	relay_put(r, lmtp ? "LHLO " : "EHLO ", 5, rep);
	relay_put(r, helo, strlen(helo), rep);
	relay_put(r, "\r\n", 2, rep);
	if (relay_reply(r, rep, true, r->timeout) == 250)
		return r;
	/* An old server that knows only HELO (RFC 5321 section 3.2). */
	if (!lmtp && rep->code >= 500 && rep->code < 600 &&
	    relay_command(r, rep, "HELO %s", helo) == 250)
		return r;
fail:
	if (rep->code == 0 && !r->broken)
		relay_fail(r, rep, "protocol error");
	relay_close(r);
	return NULL;
}

/* relay_ehlo - EHLO again (after STARTTLS): 250, else 0 or the code. */
static int
relay_ehlo(struct relay *r, const char *helo, struct relay_reply *rep)
{
	relay_put(r, "EHLO ", 5, rep);
	relay_put(r, helo, strlen(helo), rep);
	relay_put(r, "\r\n", 2, rep);
	return relay_reply(r, rep, true, r->timeout);
}

int
relay_secure(struct relay *r, const char *host, const char *helo,
    bool verify, const char *user, const char *password, bool plaintext,
    struct relay_reply *rep)
{
	char err[RELAY_TEXT_MAX];

	if (tls_available() && r->tls == NULL && relay_has(r, "STARTTLS", NULL)) {
		if (relay_command(r, rep, "STARTTLS") != 220)
			return rep->code;
		/* Nothing may be buffered past the 220: the server would
		 * take it as the start of the handshake, or worse. */
		if (r->in_len != 0)
			return relay_fail(r, rep, "data after STARTTLS's 220");
		if ((r->tls = tls_connect(r->fd, host, verify,
		    r->timeout > INT_MAX / 1000 ? 0 : r->timeout * 1000, err,
		    sizeof(err))) == NULL)
			return relay_fail(r, rep, "%s: %s", r->peer, err);
		/* RFC 3207 section 4.2: what was said before is forgotten. */
		if (relay_ehlo(r, helo, rep) != 250)
			return rep->code;
	}
	if (user == NULL)
		return 250;
	/* Whoever strips STARTTLS on the way would read the password. */
	if (r->tls == NULL && !plaintext)
		return relay_fail(r, rep, "no TLS (%s), so the relay password "
		    "is not sent in clear (--relay-auth-plaintext allows it)",
		    tls_available() ? "STARTTLS not offered" :
		    "built without TLS");
	if (!relay_has(r, "AUTH", NULL))
		return relay_fail(r, rep, "%s offers no AUTH", r->peer);

	/* AUTH PLAIN (RFC 4616): NUL user NUL password, base64. */
	unsigned char plain[2 * AUTH_FIELD_MAX + 3];
	char enc[sizeof(plain) * 4 / 3 + 4];
	size_t ul = strlen(user), pl = strlen(password);

	if (ul > AUTH_FIELD_MAX || pl > AUTH_FIELD_MAX)
		return relay_fail(r, rep, "relay user or password too long");
	plain[0] = '\0';
	memcpy(plain + 1, user, ul + 1);
	memcpy(plain + ul + 2, password, pl);
	base64_encode(plain, ul + pl + 2, enc, sizeof(enc));
	if (relay_command(r, rep, "AUTH PLAIN %s", enc) == 235)
		return 250;
	/* Our client cannot fix our login: a 451, and the reason. */
	if (rep->code != 0)
		return relay_fail(r, rep, "%s refused our AUTH: %d %s", r->peer,
		    rep->code, rep->text);
	return 0;
}

bool
relay_has(const struct relay *r, const char *keyword, const char **value)
{
	size_t klen = strlen(keyword);

	for (const char *p = r->ehlo; *p; ) {
		const char *e = strchr(p, '\n');

		if (strncasecmp(p, keyword, klen) == 0 &&
		    (p[klen] == ' ' || p[klen] == '\n')) {
			if (value)
				*value = p[klen] == ' ' ? p + klen + 1 : "";
			return true;
		}
		p = e ? e + 1 : p + strlen(p);
	}
	return false;
}

int
relay_mail(struct relay *r, const char *from, const char *params,
    struct relay_reply *rep)
{
	/* Our channel keeps the null sender as "<>". */
	if (strcmp(from, "<>") == 0)
		from = "";
	return relay_command(r, rep, "MAIL FROM:<%s>%s%s", from,
	    *params ? " " : "", params);
}

int
relay_rcpt(struct relay *r, const char *to, struct relay_reply *rep)
{
	return relay_command(r, rep, "RCPT TO:<%s>", to);
}

int
relay_rset(struct relay *r, struct relay_reply *rep)
{
	return relay_command(r, rep, "RSET");
}

/*
 * relay_put_text - the message text on the wire: each CRLF, LF or lone CR
 * becomes CRLF (Python's smtplib._fix_eols), a dot that begins a line is
 * doubled (smtplib._quote_periods, RFC 5321 section 4.5.2), and the text
 * ends with CRLF.  So nothing in the text can look like the end of data.
 */
static void
relay_put_text(struct relay *r, const char *text, size_t len,
    struct relay_reply *rep)
{
	const char *p = text, *end = text + len;
	bool bol = true;

	while (p < end && !r->broken) {
		if (bol && *p == '.')
			relay_put(r, ".", 1, rep);
		const char *e = p;
		while (e < end && *e != '\r' && *e != '\n')
			e++;
		relay_put(r, p, (size_t)(e - p), rep);
		if (e == end) {
			bol = false;
			break;
		}
		relay_put(r, "\r\n", 2, rep);
		if (*e == '\r' && e + 1 < end && e[1] == '\n')
			e++;
		p = e + 1;
		bol = true;
	}
	if (!bol || len == 0)
		relay_put(r, "\r\n", 2, rep);
}

size_t
relay_wire_size(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	size_t n = 0;
	bool bol = true;

	for (; p < end; p++) {
		if (bol && *p == '.')
			n++;
		if (*p == '\r' || *p == '\n') {
			n += 2;
			if (*p == '\r' && p + 1 < end && p[1] == '\n')
				p++;
			bol = true;
		} else {
			n++;
			bol = false;
		}
	}
	return n + ((!bol || len == 0) ? 2 : 0);
}

int
relay_data(struct relay *r, const char *text, size_t len,
    struct relay_reply *rep)
{
	if (relay_command(r, rep, "DATA") != 354) {
		/* Anything but 354 means no message text is expected. */
		if (rep->code >= 200 && rep->code < 400)
			return relay_fail(r, rep, "DATA answered %d",
			    rep->code);
		return rep->code;
	}
	relay_put_text(r, text, len, rep);
	relay_put(r, ".\r\n", 3, rep);
	return relay_reply(r, rep, false, r->timeout);
}

bool
relay_broken(const struct relay *r)
{
	return r->broken;
}

void
relay_close(struct relay *r)
{
	struct relay_reply rep;

	if (r == NULL)
		return;
	if (!r->broken) {
		relay_put(r, "QUIT\r\n", 6, &rep);
		relay_reply(r, &rep, false, QUIT_TIMEOUT);
	}
	tls_close(r->tls);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}
