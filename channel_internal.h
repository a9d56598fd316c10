/* SPDX-License-Identifier: ISC */
/*
 * channel_internal.h - between server.c and channel.c, and for tests and
 * the fuzzer, which drive a channel without a network.  A channel reads
 * and writes through channel_io, so the same code runs on a socket or on
 * bytes in memory.  Not installed.
 */
#ifndef SMTPD_CHANNEL_INTERNAL_H
#define SMTPD_CHANNEL_INTERNAL_H

#include "channel.h"
#include "server_internal.h"
#include "stream.h"

#include <sys/types.h>
#include <sys/socket.h>

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
/* channel_discard - release a session that never ran: no hooks are
 * called, and its socket stays open. */
void		 channel_discard(struct smtpd_channel *);
/* channel_in_data - true while a message is being received. */
bool		 channel_in_data(const struct smtpd_channel *);
/* channel_set_proxied - the client is peer, named by a PROXY header. */
void		 channel_set_proxied(struct smtpd_channel *,
		    const struct sockaddr *peer);
/* channel_is_builtin - true if name (any case) is a built-in command of
 * the protocol cfg speaks. */
bool		 channel_is_builtin(const struct smtpd_config *, const char *name);
/* channel_fault - the fault rules at a stage of the session (fault.h):
 * true when a rule answered in the command's place or hung up (the
 * command then has no effect).  The hook point for AUTH is
 * channel_fault(ch, FAULT_AUTH, user), before the credentials are
 * checked. */
bool		 channel_fault(struct smtpd_channel *, enum fault_stage,
		    const char *subject);

#endif /* SMTPD_CHANNEL_INTERNAL_H */
