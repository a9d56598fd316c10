/* SPDX-License-Identifier: ISC */
/*
 * session.c - a session as hooks and handlers see it: the public
 * smtpd_channel_* accessors of channel.h, read-only but for the
 * program's and the handler's own pointers, LMTP's per-recipient replies
 * and a formatted reply.
 */
#include "compat.h"
#include "channel_internal.h"
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
