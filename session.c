/* SPDX-License-Identifier: ISC */
/*
 * session.c - a session as hooks and handlers see it: the public
 * smtpd_channel_* accessors of channel.h, read-only but for the
 * program's and the handler's own pointers, LMTP's per-recipient replies
 * and a formatted reply.  And as the HTTP side sees it, when the server
 * has a session log and a store (cfg.http): the session's record
 * (sessions.h) and the store's copy of each message the handler accepted
 * (inbox_internal.h).
 */
#include "compat.h"
#include "channel_internal.h"
#include "inbox_internal.h"
#include "message.h"
#include "tls.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	return ch->tx.mail_options.count;
}

const char *
smtpd_channel_mail_option(const struct smtpd_channel *ch, size_t i)
{
	return i < ch->tx.mail_options.count ? ch->tx.mail_options.item[i] : NULL;
}

const char *
smtpd_channel_received_data(const struct smtpd_channel *ch, size_t *len)
{
	if (len)
		*len = ch->tx.msg.data ? ch->tx.msg.len : 0;
	return ch->tx.msg.data ? ch->tx.msg.data : "";
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
		return REPLY_LMTP_NO_RCPT;
	if (tx->rcpt_reply == NULL) {
		tx->rcpt_reply = calloc(tx->rcpt_count, sizeof(*tx->rcpt_reply));
		if (tx->rcpt_reply == NULL)
			return REPLY_LMTP_NOMEM;
		tx->rcpt_reply_count = tx->rcpt_count;
	}
	if (i >= tx->rcpt_reply_count)
		return REPLY_LMTP_NO_RCPT;
	va_start(ap, fmt);
	n = compat_vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return REPLY_LMTP_NOMEM;
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
		return REPLY_NOMEM;
	va_start(ap, fmt);
	vsnprintf(ch->reply, REPLY_MAX, fmt, ap);
	va_end(ap);
	return ch->reply;
}

/* channel_record_begin - the session log's record of this session. */
void
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
void
channel_record_end(struct smtpd_channel *ch, int r, bool refused)
{
	enum session_end how;

	if (ch->quit)
		how = SESSION_QUIT;
	else if (r == READ_TIMEOUT)
		how = SESSION_TIMEOUT;
	else if (refused)
		how = SESSION_REFUSED;
	else if (ch->closing && !ch->st.write_failed)
		how = SESSION_CLOSED_BY_SERVER;
	else
		how = SESSION_CLIENT_LEFT;
	session_end(ch->server->sessions, ch->srec, how);
	ch->srec = NULL;
}

/*
 * channel_store - the HTTP API's store keeps a copy of a message the
 * handler accepted, and the session log its ID: a second consumer after
 * the class's own, so a refused message is never stored as delivered.
 * Not when the handler is the store itself (it has the message already).
 * A frame of its own, off the path of a server without a store (see
 * faults_on in stage.c).
 */
__attribute__((noinline)) void
channel_store(struct smtpd_channel *ch, const struct smtpd_message *m)
{
	struct smtpd_inbox *store = ch->server->store;
	char id[INBOX_ID_LEN + 1];

	struct smtpd_message wire = *m;
	char *text;

	if (inbox_is_handler(&ch->cfg->handler, store))
		return;
	/* The store keeps the message as it came (Mailpit's /raw and Size):
	 * CRLF line ends, where the handler was given Python's LF. */
	if ((text = message_wire_text(m->data, m->data_len,
	    &wire.data_len)) == NULL)
		return;
	wire.data = text;
	if (inbox_add(store, &wire, session_id(ch->srec), id) == 0)
		session_add_message(ch->srec, id);
	free(text);
}
