/* SPDX-License-Identifier: ISC */
/*
 * pureproxy.c - PureProxy (delivery.h), and the relaying that MailmanProxy
 * (mailman.c) shares with it through relaying.h; the SMTP client
 * underneath is relay.c.
 *
 * Python's PureProxy opened the upstream only after DATA, so it could not
 * tell the client about refused recipients ("TBD: what to do with refused
 * addresses?") and said 250 whatever happened.  Here the upstream
 * transaction runs alongside the client's, one step behind:
 *
 *	client		proxy (hooks)			upstream
 *	MAIL		pure_mail: connect, EHLO	MAIL
 *	RCPT		pure_rcpt			RCPT -> its answer
 *	DATA ... .	pure_process			DATA ... . -> its answer
 *	(end)		relaying_reset			QUIT
 *
 * so every RCPT and the final "." get the upstream's own answer, and a
 * 250 after DATA means the upstream took the message for every recipient
 * it accepted - the same ones the client was told were accepted.
 *
 * Nothing here is shared between connections, so the handlers run without
 * the server's delivery mutex: one slow upstream holds up one client.
 */
#include "compat.h"
#include "relaying.h"
#include "channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Replies                                                             */
/* ------------------------------------------------------------------ */

/*
 * relaying_upstream_reply - what our client is told when the upstream did
 * not say yes.  Its 4xx and 5xx go through as they are; a 421 (the
 * upstream is closing) becomes 451, since to our client it would mean
 * that *we* are closing; no reply at all (unreachable, timed out, closed)
 * is 451 so the client tries again later.
 */
const char *
relaying_upstream_reply(struct smtpd_channel *ch, const struct relay_reply *rep)
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

/* no_8bitmime - the refusal of 8-bit data by who, which did not offer
 * 8BITMIME (RFC 6152 section 3), with this code, into *rep. */
static void
no_8bitmime(struct relay_reply *rep, int code, const char *who)
{
	rep->code = code;
	snprintf(rep->text, sizeof(rep->text), "5.6.3 %s does not accept "
	    "8-bit data (no 8BITMIME)", who);
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

bool
relaying_refuse_8bit(const struct relay *r, const struct smtpd_message *m,
    struct relay_reply *rep)
{
	if (relay_has(r, "8BITMIME", NULL) || !has_8bit(m->data, m->data_len))
		return false;
	no_8bitmime(rep, 554, "The upstream");
	return true;
}

const char *
relaying_no_smtputf8(struct smtpd_channel *ch, const char *who)
{
	return smtpd_channel_reply(ch, "550 5.6.7 %s does not support "
	    "SMTPUTF8", who);
}

/*
 * relaying_cannot_carry - the refusal when the upstream lacks an extension
 * the transaction needs (RFC 6152 section 3, RFC 6531 section 3.4: a
 * relay must not pass 8-bit or UTF-8 mail to a server that did not offer
 * it), or NULL.
 */
const char *
relaying_cannot_carry(struct smtpd_channel *ch, const struct relaying_session *s,
    const struct relay *r, const char *who)
{
	struct relay_reply rep;

	if (s->smtputf8 && !relay_has(r, "SMTPUTF8", NULL))
		return relaying_no_smtputf8(ch, who);
	if (s->body && strcmp(s->body, "8BITMIME") == 0 &&
	    !relay_has(r, "8BITMIME", NULL)) {
		no_8bitmime(&rep, 550, who);
		return relaying_upstream_reply(ch, &rep);
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The session                                                         */
/* ------------------------------------------------------------------ */

void
relaying_session_clear(struct relaying_session *s)
{
	relay_close(s->up);
	s->up = NULL;
	s->up_rcpts = 0;
	free(s->mailfrom);
	s->mailfrom = NULL;
	s->size = 0;
	s->body = NULL;
	s->smtputf8 = false;
}

struct relaying_session *
relaying_session_get(struct smtpd_channel *ch,
    const struct smtpd_relay_options *opt, size_t size)
{
	struct relaying_session *s = smtpd_channel_handler_data(ch);

	if (s == NULL && (s = calloc(1, size)) != NULL) {
		s->opt = opt;
		smtpd_channel_set_handler_data(ch, s);
	}
	return s;
}

const char *
relaying_begin(struct smtpd_channel *ch, struct relaying_session *s,
    const char *address)
{
	relaying_session_clear(s);	/* a transaction the channel never finished */
	if ((s->mailfrom = strdup(address)) == NULL)
		return RELAYING_NOMEM;
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
	return NULL;
}

void
relaying_params(const struct relaying_session *s, const struct relay *r,
    size_t extra, char *out, size_t outsz)
{
	size_t n = 0;

	out[0] = '\0';
	if (s->size && relay_has(r, "SIZE", NULL))
		n += (size_t)snprintf(out + n, outsz - n, "SIZE=%llu",
		    s->size + extra);
	if (s->body && relay_has(r, "8BITMIME", NULL))
		n += (size_t)snprintf(out + n, outsz - n, "%sBODY=%s",
		    n ? " " : "", s->body);
	if (s->smtputf8 && relay_has(r, "SMTPUTF8", NULL))
		snprintf(out + n, outsz - n, "%sSMTPUTF8", n ? " " : "");
}

/* relaying_secure - STARTTLS and AUTH upstream, as the server's
 * configuration asks (relay_auth_user, relay_tls_insecure,
 * relay_auth_plaintext). */
static int
relaying_secure(struct smtpd_channel *ch, struct relay *up, const char *host,
    struct relay_reply *rep)
{
	const struct smtpd_config *cfg =
	    smtpd_server_config(smtpd_channel_server(ch));

	return relay_secure(up, host, smtpd_channel_fqdn(ch),
	    !cfg->relay_tls_insecure, cfg->relay_auth_user,
	    cfg->relay_auth_password, cfg->relay_auth_plaintext, rep);
}

const char *
relaying_open_upstream(struct smtpd_channel *ch, struct relaying_session *s,
    size_t extra)
{
	const struct smtpd_relay_options *o = s->opt;
	const struct smtpd_config *cfg =
	    smtpd_server_config(smtpd_channel_server(ch));
	/* Options without an upstream take the server's (cfg.remote_host,
	 * the command line's remotehost:remoteport). */
	const char *host = o->remote_host ? o->remote_host : cfg->remote_host;
	int port = o->remote_host ? o->remote_port : cfg->remote_port;
	struct relay_reply rep;
	char p[128];
	const char *r;

	if (s->up != NULL && !relay_broken(s->up))
		return NULL;
	relay_close(s->up);
	s->up_rcpts = 0;
	s->up = relay_open(host, port, false, smtpd_channel_fqdn(ch),
	    o->timeout, &rep);
	if (s->up == NULL)
		return relaying_upstream_reply(ch, &rep);
	if (relaying_secure(ch, s->up, host, &rep) != 250) {
		r = relaying_upstream_reply(ch, &rep);
	} else if ((r = relaying_cannot_carry(ch, s, s->up, "The upstream")) ==
	    NULL) {
		relaying_params(s, s->up, extra, p, sizeof(p));
		if (relay_mail(s->up, s->mailfrom, p, &rep) == 250)
			return NULL;
		r = relaying_upstream_reply(ch, &rep);
	}
	relay_close(s->up);
	s->up = NULL;
	return r;
}

const char *
relaying_rcpt_upstream(struct smtpd_channel *ch, struct relaying_session *s,
    const char *address)
{
	struct relay_reply rep;

	if (s->up == NULL)
		return "451 4.4.1 No upstream transaction";
	/* A broken upstream answers at once, with the reason it broke. */
	if (relay_rcpt(s->up, address, &rep) == 250 || rep.code == 251) {
		s->up_rcpts++;
		return NULL;
	}
	return relaying_upstream_reply(ch, &rep);
}

void
relaying_reset(struct smtpd_channel *ch, void *ctx)
{
	struct relaying_session *s = smtpd_channel_handler_data(ch);

	(void)ctx;
	if (s != NULL)
		relaying_session_clear(s);
}

void
relaying_disconnect(struct smtpd_channel *ch, void *ctx)
{
	struct relaying_session *s = smtpd_channel_handler_data(ch);

	(void)ctx;
	if (s == NULL)
		return;
	relaying_session_clear(s);
	free(s);
	smtpd_channel_set_handler_data(ch, NULL);
}

/* ------------------------------------------------------------------ */
/* PureProxy                                                           */
/* ------------------------------------------------------------------ */

/* pure_mail - MAIL: the upstream transaction opens now, so that a refused
 * sender or an unreachable upstream is the answer to MAIL. */
static const char *
pure_mail(struct smtpd_channel *ch, const char *address, void *ctx)
{
	struct relaying_session *s = relaying_session_get(ch, ctx, sizeof(*s));
	const char *r;

	if (s == NULL)
		return RELAYING_NOMEM;
	if ((r = relaying_begin(ch, s, address)) != NULL)
		return r;
	/* What X-Peer adds: "X-Peer: " ip CRLF. */
	return relaying_open_upstream(ch, s,
	    8 + strlen(smtpd_channel_peer_ip(ch)) + 2);
}

/* pure_rcpt - RCPT: the upstream's answer is ours. */
static const char *
pure_rcpt(struct smtpd_channel *ch, const char *address, void *ctx)
{
	struct relaying_session *s = relaying_session_get(ch, ctx, sizeof(*s));

	if (s == NULL)
		return RELAYING_NOMEM;
	return relaying_rcpt_upstream(ch, s, address);
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
	struct relaying_session *s = relaying_session_get(ch, ctx, sizeof(*s));
	struct relay_reply rep;
	char *text;
	size_t len;

	if (s == NULL)
		return RELAYING_NOMEM;
	if (s->up == NULL)
		return "451 4.4.1 No upstream transaction";
	if (relaying_refuse_8bit(s->up, m, &rep))
		return relaying_upstream_reply(ch, &rep);
	if ((text = add_x_peer(m, &len)) == NULL)
		return RELAYING_NOMEM;
	relay_data(s->up, text, len, &rep);
	free(text);
	return relaying_positive(&rep) ? NULL : relaying_upstream_reply(ch, &rep);
}

struct smtpd_handler
smtpd_handler_pureproxy(const struct smtpd_relay_options *opt)
{
	struct smtpd_handler h = {
		.name = "PureProxy",
		.process_message = pure_process,
		.hooks = {
			.on_mail = pure_mail,
			.on_rcpt = pure_rcpt,
			.on_reset = relaying_reset,
			.on_disconnect = relaying_disconnect,
		},
		.ctx = (void *)opt,
		.concurrent = true,
	};

	return h;
}
