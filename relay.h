/* SPDX-License-Identifier: ISC */
/*
 * relay.h - a small SMTP and LMTP client, for the handlers that pass mail
 * on (pureproxy.c, mailman.c): connect with timeouts, EHLO/LHLO, MAIL, RCPT,
 * DATA, QUIT.
 *
 * One struct relay is one connection to an upstream.  Every call waits for
 * the upstream's reply and fills a struct relay_reply: the upstream's code
 * and text, or code 0 and a description of what went wrong on our side
 * (refused, unreachable, timed out, closed, not speaking SMTP).  Nothing is
 * printed; the caller decides what its own client is told.
 *
 * The return convention: relay_mail, relay_rcpt, relay_rset and relay_data
 * return the reply's code (rep->code): 250, 354, 451, 550..., or 0 when
 * there was no reply.  After a 0 the connection is broken (relay_broken)
 * and every later call returns 0 at once with the first failure's reason;
 * the one exception is a command that cannot be sent (a CR or LF in an
 * address), which is refused without breaking it.  relay_open returns
 * the connection, or NULL with *rep saying why.
 *
 * The message text goes out with CRLF line endings and dot-stuffed (RFC
 * 5321 sections 2.3.8 and 4.5.2): every LF, CR or CRLF of the text becomes
 * one CRLF, exactly as Python's smtplib does, so no bare "\n.\n" in a body
 * can end the upstream's DATA early.
 */
#ifndef SMTPD_RELAY_H
#define SMTPD_RELAY_H

#include <stdbool.h>
#include <stddef.h>

#define RELAY_TEXT_MAX		512	/* reply text we keep */
#define RELAY_CONNECT_TIMEOUT	30	/* seconds, at most, to connect */
#define RELAY_DEFAULT_TIMEOUT	300	/* seconds per reply: RFC 5321 4.5.3.2 */

struct relay;

/* A reply from the upstream, or code 0 when there was none. */
struct relay_reply {
	int	code;			/* 250, 451, 550...; 0 = no reply */
	char	text[RELAY_TEXT_MAX];	/* the lines' texts joined by " ", or
					   what went wrong when code is 0 */
};

/* relay_open - connect to host:port (IPv4 or IPv6; connect within
 * min(timeout, RELAY_CONNECT_TIMEOUT) seconds), read the greeting and say
 * EHLO (HELO when EHLO is refused) or, for LMTP, LHLO.  timeout bounds the
 * wait for each reply.  NULL on failure, with *rep saying why. */
struct relay	*relay_open(const char *host, int port, bool lmtp,
		    const char *helo, int timeout, struct relay_reply *rep);

/* relay_secure - STARTTLS when the upstream offers it (and this build
 * has TLS), checking its certificate for host unless verify is false, and
 * EHLO again; then, with user set, AUTH PLAIN - over TLS only, unless
 * plaintext.  250 when done; else the code, 0 with *rep saying why (a
 * certificate that fails, or a login that would go in clear, is a 0). */
int		 relay_secure(struct relay *, const char *host,
		    const char *helo, bool verify, const char *user,
		    const char *password, bool plaintext,
		    struct relay_reply *rep);

/* relay_has - did EHLO/LHLO advertise this keyword?  *value (if given)
 * gets its parameter text ("" when none). */
bool		 relay_has(const struct relay *, const char *keyword,
		    const char **value);

/* relay_mail - MAIL FROM:<from> with params ("" or "SIZE=10 BODY=8BITMIME").
 * The reply's code, 0 = none. */
int		 relay_mail(struct relay *, const char *from, const char *params,
		    struct relay_reply *);
/* relay_rcpt - RCPT TO:<to>.  The reply's code, 0 = none. */
int		 relay_rcpt(struct relay *, const char *to, struct relay_reply *);
/* relay_rset - RSET.  The reply's code, 0 = none. */
int		 relay_rset(struct relay *, struct relay_reply *);
/* relay_data - DATA, the text (LF/CR/CRLF line endings, not yet
 * dot-stuffed), ".", and the reply to it (the first reply after "." for
 * LMTP: send one recipient per LMTP transaction).  That reply's code, or
 * DATA's when it was not 354; 0 = none. */
int		 relay_data(struct relay *, const char *text, size_t len,
		    struct relay_reply *);

/* relay_broken - true once the connection can no longer be used. */
bool		 relay_broken(const struct relay *);
/* relay_close - QUIT (briefly waiting for its reply) and free. */
void		 relay_close(struct relay *);

/* relay_wire_size - the bytes relay_data sends for this text, without
 * the final ".\r\n".  (The proxies' SIZE= is the client's own plus what
 * they add; the unit tests check the line endings and dots with this.) */
size_t		 relay_wire_size(const char *text, size_t len);

#endif /* SMTPD_RELAY_H */
