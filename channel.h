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

/* smtpd_channel_reply - format a reply in the channel's own storage and
 * return it, for a hook or handler to return.  Valid until the next call. */
const char	*smtpd_channel_reply(struct smtpd_channel *, const char *fmt,
		    ...) __attribute__((format(printf, 2, 3)));

#ifdef SMTPD_INTERNAL
/*
 * Between server.c and channel.c, and for tests that drive a channel
 * without a network.  A channel reads and writes through channel_io, so
 * the same code runs on a socket or on bytes in memory.
 */
#include <sys/types.h>
#include <sys/socket.h>

struct channel_io {
	/* Like recv(2): bytes read, 0 at end of input, -1 with errno set.
	 * When wait is false it must not block (EAGAIN: nothing pending);
	 * when wait is true, EAGAIN means the read timed out. */
	ssize_t	(*read)(void *ctx, void *buf, size_t len, bool wait);
	/* Write all of buf or return -1. */
	ssize_t	(*write)(void *ctx, const void *buf, size_t len);
	void	*ctx;
};

/* channel_prepare - make a server's fixed replies (greeting, HELO, EHLO). */
bool		 channel_prepare(struct smtpd_server *);
/* channel_new - a session for an accepted socket (fd is the channel's). */
struct smtpd_channel *channel_new(struct smtpd_server *, int fd,
		    const struct sockaddr *peer);
/* channel_new_io - a session over any channel_io. */
struct smtpd_channel *channel_new_io(struct smtpd_server *,
		    const struct channel_io *, const char *peer_ip,
		    int peer_port);
/* channel_run - greet, then serve commands until the session ends. */
void		 channel_run(struct smtpd_channel *);
/* channel_free - release the session and close its socket, if any. */
void		 channel_free(struct smtpd_channel *);
/* channel_in_data - true while a message is being received. */
bool		 channel_in_data(const struct smtpd_channel *);
#endif /* SMTPD_INTERNAL */

#ifdef __cplusplus
}
#endif

#endif /* SMTPD_CHANNEL_H */
