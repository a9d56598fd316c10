/* SPDX-License-Identifier: ISC */
/*
 * channel.h - one client's SMTP session, as seen from hooks and handlers.
 *
 * A channel is Python's SMTPChannel: it reads the client's lines, keeps the
 * session's state (the greeting seen, the transaction under way), answers
 * each command from one command table, and hands finished messages to the
 * server's handler.  A hook or handler gets the channel as its first
 * argument and reads the session through these functions.
 */
#ifndef SMTPD_CHANNEL_H
#define SMTPD_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "server.h"

#ifdef __cplusplus
extern "C" {
#endif

enum smtpd_channel_state {
	SMTPD_COMMAND = 0,		/* reading commands */
	SMTPD_DATA = 1			/* reading message text after DATA */
};

/* The client's address (Python's peer). */
const char	*smtpd_channel_peer_ip(const struct smtpd_channel *);
int		 smtpd_channel_peer_port(const struct smtpd_channel *);
/* The HELO/EHLO argument, "" before one (Python's seen_greeting). */
const char	*smtpd_channel_helo(const struct smtpd_channel *);
bool		 smtpd_channel_extended(const struct smtpd_channel *);
/* The transaction: sender (NULL before MAIL) and recipients so far. */
const char	*smtpd_channel_mailfrom(const struct smtpd_channel *);
size_t		 smtpd_channel_rcpt_count(const struct smtpd_channel *);
const char	*smtpd_channel_rcpt(const struct smtpd_channel *, size_t i);
size_t		 smtpd_channel_mail_option_count(const struct smtpd_channel *);
const char	*smtpd_channel_mail_option(const struct smtpd_channel *,
		    size_t i);
/* The last message's text (Python's received_data). */
const char	*smtpd_channel_received_data(const struct smtpd_channel *,
		    size_t *len);
enum smtpd_channel_state smtpd_channel_state(const struct smtpd_channel *);
/* The server's name in the greeting (Python's fqdn). */
const char	*smtpd_channel_fqdn(const struct smtpd_channel *);
struct smtpd_server *smtpd_channel_server(const struct smtpd_channel *);
/* Per-connection data: one slot for the program's hooks, and one for the
 * handler (the relaying handlers keep their upstream session there), so
 * the two never overwrite each other. */
void		*smtpd_channel_get_data(const struct smtpd_channel *);
void		 smtpd_channel_set_data(struct smtpd_channel *, void *);
void		*smtpd_channel_handler_data(const struct smtpd_channel *);
void		 smtpd_channel_set_handler_data(struct smtpd_channel *,
		    void *);

/* smtpd_channel_proxied - true when the peer is the client a PROXY
 * protocol header named (cfg.proxy_protocol), not the socket's peer. */
bool		 smtpd_channel_proxied(const struct smtpd_channel *);

/* smtpd_channel_rcpt_reply - in LMTP, format recipient i's reply in
 * storage of its own (process_message_lmtp's replies[i]); valid until the
 * transaction ends. */
const char	*smtpd_channel_rcpt_reply(struct smtpd_channel *, size_t i,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The user logged in with AUTH, and the TLS protocol and cipher: NULL
 * when none (2.1). */
const char	*smtpd_channel_auth_user(const struct smtpd_channel *);
const char	*smtpd_channel_tls_protocol(const struct smtpd_channel *);
const char	*smtpd_channel_tls_cipher(const struct smtpd_channel *);

/* smtpd_channel_reply - format a reply in the channel's own storage and
 * return it, for a hook or handler to return.  Valid until the next call. */
const char	*smtpd_channel_reply(struct smtpd_channel *, const char *fmt,
		    ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif /* SMTPD_CHANNEL_H */
