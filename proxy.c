/* SPDX-License-Identifier: ISC */
/*
 * proxy.c - the relaying handlers: PureProxy and MailmanProxy
 * (delivery.h), built on the SMTP/LMTP client in relay.c.
 *
 * Python's PureProxy opened the upstream only after DATA, so it could not
 * tell the client about refused recipients ("TBD: what to do with refused
 * addresses?") and said 250 whatever happened.  Here the upstream
 * transaction runs alongside the client's, one step behind:
 *
 *	client		proxy (hooks)			upstream
 *	MAIL		proxy_mail: connect, EHLO	MAIL
 *	RCPT		proxy_rcpt			RCPT -> its answer
 *	DATA ... .	pure_process			DATA ... . -> its answer
 *	(end)		proxy_reset			QUIT
 *
 * so every RCPT and the final "." get the upstream's own answer, and a
 * 250 after DATA means the upstream took the message for every recipient
 * it accepted - the same ones the client was told were accepted.
 *
 * MailmanProxy asks Mailman about each recipient first (Mailman 3: its
 * LMTP runner's answer to RCPT; Mailman 2: DIR/lists/NAME/config.pck),
 * relays the others as above, and after DATA delivers to each list.
 *
 * Nothing here is shared between connections, so the handlers run without
 * the server's delivery mutex: one slow upstream holds up one client.
 */
#include "compat.h"
#include "delivery.h"
#include "channel.h"
#include "io.h"
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define EX_TEMPFAIL	75	/* sysexits.h: Mailman 2's "try again" */
#define FAILED_MAX	700	/* room for the names of failed recipients */

/* Where one recipient's copy goes. */
enum route {
	ROUTE_UPSTREAM,		/* the remote address */
	ROUTE_LMTP,		/* Mailman 3 */
	ROUTE_MAILMAN2		/* DIR/mail/mailman COMMAND LIST */
};

/* A recipient that Mailman takes. */
struct list_rcpt {
	char		*address;
	enum route	 route;
	char		*list;		/* Mailman 2: the list's name */
	const char	*command;	/* Mailman 2: post, admin, ... */
};

/* One client's transaction, as far as relaying goes. */
struct proxy_session {
	const struct smtpd_proxy_options *opt;
	bool		 mailman;	/* MailmanProxy, not PureProxy */
	struct relay	*up;		/* the remote address */
	size_t		 up_rcpts;	/* recipients it accepted */
	struct relay	*lmtp;		/* Mailman 3 */
	char		*mailfrom;
	unsigned long long size;	/* the client's SIZE=, 0 = none */
	const char	*body;		/* the client's BODY= value, or NULL */
	bool		 smtputf8;
	struct list_rcpt *lists;
	size_t		 nlists, caplists;
};

/* ------------------------------------------------------------------ */
/* Replies                                                             */
/* ------------------------------------------------------------------ */

/*
 * upstream_reply - what our client is told when the upstream did not say
 * yes.  Its 4xx and 5xx go through as they are; a 421 (the upstream is
 * closing) becomes 451, since to our client it would mean that *we* are
 * closing; no reply at all (unreachable, timed out, closed) is 451 so the
 * client tries again later.
 */
static const char *
upstream_reply(struct smtpd_channel *ch, const struct relay_reply *rep)
{
	if (rep->code == 0)
		return smtpd_channel_reply(ch, "451 4.4.1 %s", rep->text);
	if (rep->code == 421)
		return smtpd_channel_reply(ch, "451 4.4.2 upstream said: "
		    "421 %s", rep->text);
	if (rep->code >= 400 && rep->code < 600)
		return smtpd_channel_reply(ch, "%d %s", rep->code, rep->text);
	return smtpd_channel_reply(ch, "451 4.5.0 upstream protocol error: "
	    "%d %s", rep->code, rep->text);
}

/* is_positive - a 2xx reply. */
static bool
is_positive(const struct relay_reply *rep)
{
	return rep->code >= 200 && rep->code < 300;
}

/* has_8bit - any byte with the high bit set. */
static bool
has_8bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] & 0x80)
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* The session                                                         */
/* ------------------------------------------------------------------ */

/* session_clear - end the transaction: QUIT the upstreams, forget it. */
static void
session_clear(struct proxy_session *s)
{
	relay_close(s->up);
	relay_close(s->lmtp);
	s->up = s->lmtp = NULL;
	s->up_rcpts = 0;
	free(s->mailfrom);
	s->mailfrom = NULL;
	for (size_t i = 0; i < s->nlists; i++) {
		free(s->lists[i].address);
		free(s->lists[i].list);
	}
	s->nlists = 0;
	s->size = 0;
	s->body = NULL;
	s->smtputf8 = false;
}

/* session_get - this channel's session, made on first use. */
static struct proxy_session *
session_get(struct smtpd_channel *ch, const struct smtpd_proxy_options *opt,
    bool mailman)
{
	struct proxy_session *s = smtpd_channel_handler_data(ch);

	if (s == NULL && (s = calloc(1, sizeof(*s))) != NULL) {
		s->opt = opt;
		s->mailman = mailman;
		smtpd_channel_set_handler_data(ch, s);
	}
	return s;
}

/* params - the MAIL parameters the upstream gets: the client's SIZE
 * (plus what we add), BODY and SMTPUTF8, each only when advertised. */
static void
params(const struct proxy_session *s, const struct relay *r, size_t extra,
    char *out, size_t outsz)
{
	size_t n = 0;

	out[0] = '\0';
	if (s->size && relay_has(r, "SIZE", NULL))
		n += (size_t)snprintf(out + n, outsz - n, "SIZE=%llu",
		    s->size + extra);
	if (s->body && relay_has(r, "8BITMIME", NULL))
		n += (size_t)snprintf(out + n, outsz - n, "%sBODY=%s",
		    n ? " " : "", s->body);
	if (s->smtputf8)
		snprintf(out + n, outsz - n, "%sSMTPUTF8", n ? " " : "");
}

/*
 * cannot_carry - the refusal when the upstream lacks an extension the
 * transaction needs (RFC 6152 section 3, RFC 6531 section 3.4: a relay
 * must not pass 8-bit or UTF-8 mail to a server that did not offer it),
 * or NULL.
 */
static const char *
cannot_carry(struct smtpd_channel *ch, const struct proxy_session *s,
    const struct relay *r, const char *who)
{
	if (s->smtputf8 && !relay_has(r, "SMTPUTF8", NULL))
		return smtpd_channel_reply(ch, "550 5.6.7 %s does not support "
		    "SMTPUTF8", who);
	if (s->body && strcmp(s->body, "8BITMIME") == 0 &&
	    !relay_has(r, "8BITMIME", NULL))
		return smtpd_channel_reply(ch, "550 5.6.3 %s does not accept "
		    "8-bit data (no 8BITMIME)", who);
	return NULL;
}

/*
 * open_upstream - connect to the remote address and send MAIL; NULL when
 * the transaction is open there, else the reply for our client.  extra is
 * what we add to the message (X-Peer), for SIZE=.
 */
static const char *
open_upstream(struct smtpd_channel *ch, struct proxy_session *s, size_t extra)
{
	const struct smtpd_proxy_options *o = s->opt;
	struct relay_reply rep;
	char p[128];
	const char *r;

	if (s->up != NULL && !relay_broken(s->up))
		return NULL;
	relay_close(s->up);
	s->up_rcpts = 0;
	s->up = relay_open(o->remote_host, o->remote_port, false,
	    smtpd_channel_fqdn(ch), o->timeout, &rep);
	if (s->up == NULL)
		return upstream_reply(ch, &rep);
	if ((r = cannot_carry(ch, s, s->up, "The upstream")) == NULL) {
		params(s, s->up, extra, p, sizeof(p));
		if (relay_mail(s->up, s->mailfrom, p, &rep) == 250)
			return NULL;
		r = upstream_reply(ch, &rep);
	}
	relay_close(s->up);
	s->up = NULL;
	return r;
}

/* relay_recipient - RCPT at the remote address: NULL when accepted. */
static const char *
relay_recipient(struct smtpd_channel *ch, struct proxy_session *s,
    const char *address)
{
	struct relay_reply rep;

	if (s->up == NULL || relay_broken(s->up)) {
		if (s->up == NULL)
			return "451 4.4.1 No upstream transaction";
		rep.code = 0;
		relay_rcpt(s->up, address, &rep);	/* the reason */
		return upstream_reply(ch, &rep);
	}
	relay_rcpt(s->up, address, &rep);
	if (rep.code == 250 || rep.code == 251) {
		s->up_rcpts++;
		return NULL;
	}
	return upstream_reply(ch, &rep);
}

/*
 * proxy_mail - MAIL: remember the sender and its parameters; PureProxy
 * opens the upstream transaction now, so that a refused sender or an
 * unreachable upstream is the answer to MAIL.
 */
static const char *
proxy_mail(struct smtpd_channel *ch, const char *address, void *ctx,
    bool mailman)
{
	struct proxy_session *s = session_get(ch, ctx, mailman);

	if (s == NULL)
		return "451 4.3.0 Error: out of memory";
	session_clear(s);	/* a transaction the channel never finished */
	if ((s->mailfrom = strdup(address)) == NULL)
		return "451 4.3.0 Error: out of memory";
	for (size_t i = 0; i < smtpd_channel_mail_option_count(ch); i++) {
		const char *o = smtpd_channel_mail_option(ch, i);

		if (strncmp(o, "SIZE=", 5) == 0)
			s->size = strtoull(o + 5, NULL, 10);
		else if (strcmp(o, "BODY=8BITMIME") == 0)
			s->body = "8BITMIME";
		else if (strcmp(o, "BODY=7BIT") == 0)
			s->body = "7BIT";
		else if (strcmp(o, "SMTPUTF8") == 0)
			s->smtputf8 = true;
	}
	if (mailman)
		return NULL;
	/* What X-Peer adds: "X-Peer: " ip CRLF. */
	return open_upstream(ch, s, 8 + strlen(smtpd_channel_peer_ip(ch)) + 2);
}

/* proxy_reset - the transaction is over: QUIT the upstreams. */
static void
proxy_reset(struct smtpd_channel *ch, void *ctx)
{
	struct proxy_session *s = smtpd_channel_handler_data(ch);

	(void)ctx;
	if (s != NULL)
		session_clear(s);
}

/* proxy_disconnect - the client left: free the session. */
static void
proxy_disconnect(struct smtpd_channel *ch, void *ctx)
{
	struct proxy_session *s = smtpd_channel_handler_data(ch);

	(void)ctx;
	if (s == NULL)
		return;
	session_clear(s);
	free(s->lists);
	free(s);
	smtpd_channel_set_handler_data(ch, NULL);
}

/* ------------------------------------------------------------------ */
/* PureProxy                                                           */
/* ------------------------------------------------------------------ */

static const char *
pure_mail(struct smtpd_channel *ch, const char *address, void *ctx)
{
	return proxy_mail(ch, address, ctx, false);
}

static const char *
pure_rcpt(struct smtpd_channel *ch, const char *address, void *ctx)
{
	struct proxy_session *s = session_get(ch, ctx, false);

	if (s == NULL)
		return "451 4.3.0 Error: out of memory";
	return relay_recipient(ch, s, address);
}

/*
 * add_x_peer - Python's PureProxy: split the data at "\n", put
 * "X-Peer: <ip>" before the first empty line (at the end when there is
 * none), join with "\n".  A new buffer, or NULL when out of memory.
 */
static char *
add_x_peer(const struct smtpd_message *m, size_t *outlen)
{
	const char *d = m->data, *end = m->data + m->data_len, *at = end;
	size_t hlen = 8 + strlen(m->peer_ip);
	char *out, *o;

	/* The first empty line: at the start, or right after a "\n". */
	for (const char *p = d; p <= end; p++) {
		if ((p == d || p[-1] == '\n') && (p == end || *p == '\n')) {
			at = p;
			break;
		}
	}
	if ((out = malloc(m->data_len + hlen + 2)) == NULL)
		return NULL;
	o = out;
	memcpy(o, d, (size_t)(at - d));
	o += at - d;
	/* Inserted as a line of its own: a "\n" joins it to its neighbours. */
	if (at == end && at != d) {
		*o++ = '\n';
		o += sprintf(o, "X-Peer: %s", m->peer_ip);
	} else {
		o += sprintf(o, "X-Peer: %s\n", m->peer_ip);
		memcpy(o, at, (size_t)(end - at));
		o += end - at;
	}
	*outlen = (size_t)(o - out);
	return out;
}

/* pure_process - after DATA: the message, with X-Peer, to the upstream;
 * its answer is our answer. */
static const char *
pure_process(struct smtpd_channel *ch, const struct smtpd_message *m,
    void *ctx)
{
	struct proxy_session *s = session_get(ch, ctx, false);
	struct relay_reply rep;
	char *text;
	size_t len;

	if (s == NULL)
		return "451 4.3.0 Error: out of memory";
	if (s->up == NULL)
		return "451 4.4.1 No upstream transaction";
	if (has_8bit(m->data, m->data_len) && !relay_has(s->up, "8BITMIME",
	    NULL))
		return "554 5.6.3 The upstream does not accept 8-bit data "
		    "(no 8BITMIME)";
	if ((text = add_x_peer(m, &len)) == NULL)
		return "451 4.3.0 Error: out of memory";
	relay_data(s->up, text, len, &rep);
	free(text);
	return is_positive(&rep) ? NULL : upstream_reply(ch, &rep);
}

struct smtpd_handler
smtpd_handler_pureproxy(const struct smtpd_proxy_options *opt)
{
	struct smtpd_handler h = {
		.name = "PureProxy",
		.process_message = pure_process,
		.hooks = {
			.on_mail = pure_mail,
			.on_rcpt = pure_rcpt,
			.on_reset = proxy_reset,
			.on_disconnect = proxy_disconnect,
		},
		.ctx = (void *)opt,
		.concurrent = true,
	};

	return h;
}

/* ------------------------------------------------------------------ */
/* MailmanProxy                                                        */
/* ------------------------------------------------------------------ */

/* open_lmtp - a connection to Mailman 3's LMTP runner; false, and why
 * in *rep, when there is none. */
static bool
open_lmtp(struct smtpd_channel *ch, struct proxy_session *s,
    struct relay_reply *rep)
{
	const struct smtpd_proxy_options *o = s->opt;

	if (s->lmtp != NULL && !relay_broken(s->lmtp))
		return true;
	relay_close(s->lmtp);
	s->lmtp = relay_open(o->mailman_lmtp_host ? o->mailman_lmtp_host :
	    SMTPD_MAILMAN_LMTP_HOST, o->mailman_lmtp_port ?
	    o->mailman_lmtp_port : SMTPD_MAILMAN_LMTP_PORT, true,
	    smtpd_channel_fqdn(ch), o->timeout, rep);
	return s->lmtp != NULL;
}

/*
 * ask_mailman3 - is this one of Mailman 3's addresses?  Its own answer to
 * RCPT, in a transaction we then reset: 250 yes, 5xx no.  When it cannot
 * tell (not reachable, a 4xx, a refused MAIL) *reply is set to the answer
 * our client gets.
 */
static bool
ask_mailman3(struct smtpd_channel *ch, struct proxy_session *s,
    const char *address, const char **reply)
{
	struct relay_reply rep, ignored;
	char p[128];
	bool yes;

	*reply = NULL;
	if (!open_lmtp(ch, s, &rep))
		goto cannot_tell;
	/* Ask without SMTPUTF8, which Mailman does not offer: cannot_carry
	 * refuses such mail for a list afterwards. */
	params(s, s->lmtp, 0, p, sizeof(p));
	if (s->smtputf8) {
		char *u = strstr(p, "SMTPUTF8");

		*(u > p ? u - 1 : u) = '\0';	/* with the space before it */
	}
	if (relay_mail(s->lmtp, s->mailfrom, p, &rep) != 250) {
		if (rep.code >= 500) {
			*reply = upstream_reply(ch, &rep);
			return false;
		}
		goto cannot_tell;
	}
	if (relay_rcpt(s->lmtp, address, &rep) == 0 || rep.code < 200 ||
	    (rep.code >= 300 && rep.code < 500))
		goto cannot_tell;
	yes = is_positive(&rep);
	relay_rset(s->lmtp, &ignored);
	return yes;

cannot_tell:
	if (rep.code > 0)
		relay_rset(s->lmtp, &ignored);
	if (rep.code == 0)
		*reply = smtpd_channel_reply(ch, "451 4.4.1 Cannot ask Mailman "
		    "about <%s>: %s", address, rep.text);
	else
		*reply = smtpd_channel_reply(ch, "451 4.4.1 Cannot ask Mailman "
		    "about <%s>: it said %d %s", address, rep.code, rep.text);
	return false;
}

/* tolower_ascii - tolower() that no locale can change. */
static int
tolower_ascii(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/*
 * mailman2_list - Python's MailmanProxy test: the local part, lower-cased,
 * is LIST or LIST-COMMAND (admin, owner, request, join, leave) and
 * HOME/lists/LIST/config.pck exists.  Fills the list name and command.
 */
static bool
mailman2_list(const char *home, const char *address, char *list,
    size_t listsz, const char **command)
{
	static const char *const commands[] = {
		"admin", "owner", "request", "join", "leave", NULL
	};
	char local[256], path[4096];
	const char *at = strchr(address, '@'), *dash;
	size_t n = at ? (size_t)(at - address) : strlen(address);
	struct stat st;

	if (n == 0 || n >= sizeof(local) || n >= listsz)
		return false;
	for (size_t i = 0; i < n; i++)
		local[i] = (char)tolower_ascii(address[i]);
	local[n] = '\0';
	*command = "post";
	if ((dash = strchr(local, '-')) != NULL) {
		if (strchr(dash + 1, '-') != NULL)
			return false;		/* more than two parts */
		*command = NULL;
		for (const char *const *c = commands; *c; c++)
			if (strcmp(dash + 1, *c) == 0)
				*command = *c;
		if (*command == NULL)
			return false;
		local[dash - local] = '\0';
	}
	/* The name becomes a path: no "/", no ".", "..", or hidden names. */
	if (local[0] == '\0' || local[0] == '.' || strchr(local, '/'))
		return false;
	snprintf(path, sizeof(path), "%s/lists/%s/config.pck", home, local);
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	snprintf(list, listsz, "%s", local);
	return true;
}

/* add_list_rcpt - remember a recipient for Mailman. */
static bool
add_list_rcpt(struct proxy_session *s, const char *address, enum route route,
    const char *list, const char *command)
{
	struct list_rcpt *l;

	if (s->nlists == s->caplists) {
		size_t cap = s->caplists ? s->caplists * 2 : 4;

		if ((l = realloc(s->lists, cap * sizeof(*l))) == NULL)
			return false;
		s->lists = l;
		s->caplists = cap;
	}
	l = &s->lists[s->nlists];
	l->address = strdup(address);
	l->list = list ? strdup(list) : NULL;
	l->command = command;
	l->route = route;
	if (l->address == NULL || (list && l->list == NULL)) {
		free(l->address);
		free(l->list);
		return false;
	}
	s->nlists++;
	return true;
}

static const char *
mailman_mail(struct smtpd_channel *ch, const char *address, void *ctx)
{
	return proxy_mail(ch, address, ctx, true);
}

/* mailman_rcpt - RCPT: Mailman's recipient, or relayed to the remote. */
static const char *
mailman_rcpt(struct smtpd_channel *ch, const char *address, void *ctx)
{
	struct proxy_session *s = session_get(ch, ctx, true);
	const struct smtpd_proxy_options *o = ctx;
	const char *command, *r;
	char list[256];
	bool ok;

	if (s == NULL)
		return "451 4.3.0 Error: out of memory";
	if (o->mailman_home) {
		if (mailman2_list(o->mailman_home, address, list, sizeof(list),
		    &command)) {
			if (s->smtputf8)
				return "550 5.6.7 Mailman does not support "
				    "SMTPUTF8";
			ok = add_list_rcpt(s, address, ROUTE_MAILMAN2, list,
			    command);
			return ok ? NULL : "451 4.3.0 Error: out of memory";
		}
	} else {
		ok = ask_mailman3(ch, s, address, &r);
		if (r != NULL)
			return r;
		if (ok) {
			if ((r = cannot_carry(ch, s, s->lmtp, "Mailman")) != NULL)
				return r;
			ok = add_list_rcpt(s, address, ROUTE_LMTP, NULL, NULL);
			return ok ? NULL : "451 4.3.0 Error: out of memory";
		}
	}
	if ((r = open_upstream(ch, s, 0)) != NULL)
		return r;
	return relay_recipient(ch, s, address);
}

/* header_present - does the header block (up to hend) have this field? */
static bool
header_present(const char *d, const char *hend, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = d; p < hend; ) {
		const char *e = memchr(p, '\n', (size_t)(hend - p));

		if ((size_t)(hend - p) > n && strncasecmp(p, name, n) == 0) {
			const char *c = p + n;

			while (c < hend && (*c == ' ' || *c == '\t'))
				c++;
			if (c < hend && *c == ':')
				return true;
		}
		p = e ? e + 1 : hend;
	}
	return false;
}

/* is_header_line - a "name:" line or a continuation (RFC 5322 2.2). */
static bool
is_header_line(const char *p, const char *end)
{
	if (p < end && (*p == ' ' || *p == '\t'))
		return true;
	for (const char *c = p; c < end && *c != '\n'; c++) {
		if (*c == ':')
			return c > p;
		if ((unsigned char)*c <= ' ' || (unsigned char)*c > '~')
			return false;
	}
	return false;
}

/*
 * mailman_text - the message for Mailman: the data with "From:" and
 * "Date:" added at the end of the header block when missing (Mailman
 * needs them; MTAs add them, as Python's MailmanProxy did), and a final
 * newline.  A new buffer, or NULL when out of memory.
 */
static char *
mailman_text(const struct smtpd_message *m, size_t *outlen)
{
	const char *d = m->data, *end = d + m->data_len, *hend = d;
	char add[512], date[64];
	size_t n = 0;
	struct tm tm;
	time_t now = time(NULL);
	char *out;

	while (hend < end && is_header_line(hend, end)) {
		const char *e = memchr(hend, '\n', (size_t)(end - hend));
		hend = e ? e + 1 : end;
	}
	/* A header block that runs to the end without a final newline. */
	if (hend == end && hend > d && end[-1] != '\n')
		n += (size_t)snprintf(add + n, sizeof(add) - n, "\n");
	if (!header_present(d, hend, "From"))
		n += (size_t)snprintf(add + n, sizeof(add) - n, "From: %s\n",
		    strcmp(m->mailfrom, "<>") == 0 ? "MAILER-DAEMON" :
		    m->mailfrom);
	if (!header_present(d, hend, "Date")) {
		localtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		n += (size_t)snprintf(add + n, sizeof(add) - n, "Date: %s\n",
		    date);
	}
	/* No empty line after the headers: add one, or the body would
	 * become part of them. */
	if (hend < end && *hend != '\n' && n > 0)
		n += (size_t)snprintf(add + n, sizeof(add) - n, "\n");
	if (n >= sizeof(add))
		n = sizeof(add) - 1;
	if ((out = malloc(m->data_len + n + 2)) == NULL)
		return NULL;
	memcpy(out, d, (size_t)(hend - d));
	memcpy(out + (hend - d), add, n);
	memcpy(out + (hend - d) + n, hend, (size_t)(end - hend));
	*outlen = m->data_len + n;
	if (*outlen == 0 || out[*outlen - 1] != '\n')
		out[(*outlen)++] = '\n';
	return out;
}

/* deliver_lmtp - one recipient, one LMTP transaction: Mailman answers
 * once per recipient, except for a defective message, which gets one
 * answer whatever the count. */
static void
deliver_lmtp(struct smtpd_channel *ch, struct proxy_session *s,
    const char *address, const char *text, size_t len, struct relay_reply *rep)
{
	struct relay_reply ignored;
	char p[128];

	if (!open_lmtp(ch, s, rep))
		return;
	params(s, s->lmtp, 0, p, sizeof(p));
	if (relay_mail(s->lmtp, s->mailfrom, p, rep) != 250)
		goto refused;
	if (relay_rcpt(s->lmtp, address, rep) != 250)
		goto refused;
	relay_data(s->lmtp, text, len, rep);
	return;

refused:
	if (rep->code != 0)
		relay_rset(s->lmtp, &ignored);
}

/*
 * deliver_mailman2 - pipe the message into HOME/mail/mailman COMMAND
 * LIST, as Mailman 2's MTA aliases do: exit 0 delivered, 75 try later,
 * anything else refused.
 *
 * Its standard input is a socket, not a pipe: a write to a pipe whose
 * reader has died raises SIGPIPE, which would kill the whole server;
 * send() with MSG_NOSIGNAL only fails.  The program gets the same timeout
 * as an upstream, then is killed.
 */
static void
deliver_mailman2(const struct smtpd_proxy_options *o, const char *command,
    const char *list, const char *text, size_t len, struct relay_reply *rep)
{
	char prog[4096];
	char *argv[4];
	int sv[2], status = 0, timeout = o->timeout > 0 ? o->timeout :
	    RELAY_DEFAULT_TIMEOUT;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	struct timespec start, t;
	bool timed_out = false;

	snprintf(prog, sizeof(prog), "%s/mail/mailman", o->mailman_home);
	argv[0] = prog;
	argv[1] = (char *)command;
	argv[2] = (char *)list;
	argv[3] = NULL;
	rep->code = 0;
	if (compat_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		snprintf(rep->text, sizeof(rep->text), "socketpair: %s",
		    strerror(errno));
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	/* The server blocks SIGINT/SIGTERM (one thread waits for them) and
	 * ignores SIGPIPE; Mailman's program must start with neither. */
	posix_spawnattr_t sa;
	sigset_t none, defaults;
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	sigaddset(&defaults, SIGINT);
	sigaddset(&defaults, SIGTERM);
	posix_spawnattr_init(&sa);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setsigdefault(&sa, &defaults);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	int e = posix_spawn(&pid, prog, &fa, &sa, argv, environ);
	posix_spawnattr_destroy(&sa);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (e != 0) {
		close(sv[0]);
		snprintf(rep->text, sizeof(rep->text), "cannot run %.300s: %s",
		    prog, strerror(e));
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	struct timeval tv = { .tv_sec = timeout };
	setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* If it stops reading, its exit status says why. */
	if (send_all(sv[0], text, len) != 0)
		timed_out = (errno == EAGAIN);
	shutdown(sv[0], SHUT_WR);
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (timed_out || (w < 0 && errno != EINTR) ||
		    t.tv_sec - start.tv_sec >= timeout) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			timed_out = true;
			break;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	close(sv[0]);
	if (timed_out) {
		snprintf(rep->text, sizeof(rep->text), "%.300s %s %.100s timed out",
		    prog, command, list);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rep->code = 250;
		snprintf(rep->text, sizeof(rep->text), "delivered");
	} else if (WIFEXITED(status)) {
		bool temp = WEXITSTATUS(status) == EX_TEMPFAIL;

		rep->code = temp ? 451 : 550;
		snprintf(rep->text, sizeof(rep->text), "%s mailman %s %s "
		    "exited with status %d", temp ? "4.3.0" : "5.3.0",
		    command, list, WEXITSTATUS(status));
	} else {
		snprintf(rep->text, sizeof(rep->text), "mailman %s %s killed "
		    "by signal %d", command, list, WTERMSIG(status));
	}
}

/* An outcome tally: one reply for the client however many copies. */
struct tally {
	size_t	 delivered, failed;
	char	 temp[RELAY_TEXT_MAX + 8];	/* the first 4xx, "" if none */
	char	 perm[RELAY_TEXT_MAX + 8];	/* the first 5xx, "" if none */
	char	 who[FAILED_MAX];		/* the recipients not served */
};

/* tally_add - count one outcome for count recipients. */
static void
tally_add(struct tally *t, const struct relay_reply *rep, const char *who,
    size_t count)
{
	size_t n = strlen(t->who);

	if (is_positive(rep)) {
		t->delivered += count;
		return;
	}
	t->failed += count;
	if (n + strlen(who) + 3 < sizeof(t->who))
		snprintf(t->who + n, sizeof(t->who) - n, "%s%s",
		    n ? ", " : "", who);
	if (rep->code >= 500 && rep->code < 600 && t->perm[0] == '\0')
		snprintf(t->perm, sizeof(t->perm), "%d %s", rep->code,
		    rep->text);
	else if ((rep->code < 500 || rep->code >= 600) && t->temp[0] == '\0')
		snprintf(t->temp, sizeof(t->temp), "%s", rep->text);
}

/*
 * tally_reply - the one reply after DATA.  All delivered: 250.  None: the
 * (first) failure, a 4xx if any failure was temporary.  Some: the client
 * must not think all went well, nor lose the failed copies: a 451 when any
 * failure may pass (the retry may duplicate the delivered copies), else a
 * 554 that names the recipients not served.
 */
static const char *
tally_reply(struct smtpd_channel *ch, const struct tally *t)
{
	if (t->failed == 0)
		return NULL;
	if (t->delivered == 0) {
		if (t->temp[0])
			return smtpd_channel_reply(ch, "451 4.3.0 %s", t->temp);
		return smtpd_channel_reply(ch, "%s", t->perm);
	}
	if (t->temp[0])
		return smtpd_channel_reply(ch, "451 4.3.0 Not delivered to %s "
		    "(%s); delivered to %zu other recipient(s)", t->who,
		    t->temp, t->delivered);
	return smtpd_channel_reply(ch, "554 5.3.0 Not delivered to %s (%s); "
	    "delivered to %zu other recipient(s)", t->who, t->perm,
	    t->delivered);
}

/* mailman_process - after DATA: relay to the remote for its recipients,
 * then one copy to Mailman for each list recipient. */
static const char *
mailman_process(struct smtpd_channel *ch, const struct smtpd_message *m,
    void *ctx)
{
	struct proxy_session *s = session_get(ch, ctx, true);
	struct relay_reply rep;
	struct tally t;
	char who[600], *text = NULL;
	size_t len = 0;

	if (s == NULL)
		return "451 4.3.0 Error: out of memory";
	memset(&t, 0, sizeof(t));
	if (s->up != NULL && s->up_rcpts > 0) {
		if (has_8bit(m->data, m->data_len) &&
		    !relay_has(s->up, "8BITMIME", NULL)) {
			rep.code = 554;
			snprintf(rep.text, sizeof(rep.text), "5.6.3 The "
			    "upstream does not accept 8-bit data (no 8BITMIME)");
		} else {
			/* As Python's MailmanProxy: the data as it came. */
			relay_data(s->up, m->data, m->data_len, &rep);
		}
		tally_add(&t, &rep, "the upstream's recipients", s->up_rcpts);
	}
	if (s->nlists > 0 && (text = mailman_text(m, &len)) == NULL)
		return "451 4.3.0 Error: out of memory";
	for (size_t i = 0; i < s->nlists; i++) {
		const struct list_rcpt *l = &s->lists[i];

		if (l->route == ROUTE_LMTP)
			deliver_lmtp(ch, s, l->address, text, len, &rep);
		else
			deliver_mailman2(s->opt, l->command, l->list, text,
			    len, &rep);
		snprintf(who, sizeof(who), "<%s>", l->address);
		tally_add(&t, &rep, who, 1);
	}
	free(text);
	return tally_reply(ch, &t);
}

struct smtpd_handler
smtpd_handler_mailmanproxy(const struct smtpd_proxy_options *opt)
{
	struct smtpd_handler h = {
		.name = "MailmanProxy",
		.process_message = mailman_process,
		.hooks = {
			.on_mail = mailman_mail,
			.on_rcpt = mailman_rcpt,
			.on_reset = proxy_reset,
			.on_disconnect = proxy_disconnect,
		},
		.ctx = (void *)opt,
		.concurrent = true,
	};

	return h;
}
