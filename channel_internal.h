/* SPDX-License-Identifier: ISC */
/*
 * channel_internal.h - a session's state, shared by the files of the
 * session (channel.c, the story; stage.c, the fault rules and hooks at
 * each stage; session.c, the accessors hooks and handlers read it
 * through), by server.c, and by the tests and the fuzzer, which drive a
 * channel without a network.  A channel reads and writes through
 * channel_io (stream.h), so the same code runs on a socket or on bytes in
 * memory.  Not installed.
 */
#ifndef SMTPD_CHANNEL_INTERNAL_H
#define SMTPD_CHANNEL_INTERNAL_H

#include "channel.h"
#include "server_internal.h"
#include "stream.h"
#include "message.h"
#include "address.h"

#include <netinet/in.h>
#include <stdatomic.h>

#include <sys/types.h>
#include <sys/socket.h>

/*
 * HELO names shorter than this are kept in the channel, not strdup()ed.
 * The first malloc() a thread makes gives it glibc's per-thread cache
 * (tcache, about 650 bytes), and an idle session that made none is that
 * much smaller.
 */
#define HELO_KEEP	64
#define REPLY_MAX	1024	/* smtpd_channel_reply(), allocated on use */

/* The reply texts said in more than one place (Python's, where Python
 * has them). */
#define REPLY_OK		"250 OK"
#define REPLY_NOMEM		"451 Error: out of memory"
#define REPLY_NOSTORAGE		"452 Error: insufficient system storage"
#define REPLY_TOO_LONG		"500 Error: line too long"
#define REPLY_SHUTTING_DOWN	"421 %s Error: shutting down"	/* fqdn */
#define REPLY_LMTP_NOMEM	"451 4.3.0 Error: out of memory"
#define REPLY_LMTP_NO_RCPT	"451 4.3.0 Error: no such recipient"

/* What lives for one message: MAIL to end of DATA (or RSET). */
struct transaction {
	char		*mailfrom;	/* NULL: no MAIL yet */
	char		**rcpttos;
	size_t		 rcpt_count, rcpt_cap;
	bool		 smtputf8;	/* Python's require_SMTPUTF8 */
	bool		 bdat;		/* a BDAT chunk came: no DATA now */
	char		**rcpt_reply;	/* LMTP: smtpd_channel_rcpt_reply() */
	size_t		 rcpt_reply_count;
	struct params	 mail_options;	/* of the MAIL that began it */
	struct params	 rcpt_options;	/* of the last RCPT, as Python */
	/* The text, kept after the end as Python's received_data until
	 * the next message or RSET. */
	struct message_text msg;
};

/* What lives for the connection. */
struct smtpd_channel {
	struct smtpd_server	*server;
	const struct smtpd_config *cfg;
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
	void			*user_data;	/* the program's hooks' */
	void			*handler_data;	/* the handler's own */
	struct tls_session	*tls;		/* NULL: plaintext */
	char			*auth_user;	/* NULL: no AUTH yet */
	int			 auth_failures;	/* 535s in this session */
	struct session_rec	*srec;		/* the session log's; NULL: none */
	bool			 quit;		/* QUIT was answered */

	char			*reply;		/* smtpd_channel_reply(), or NULL */

	/* The CRLF stream, last: its buffers need no clearing, and the
	 * channel is one allocation of about 2 KB, all an idle session has
	 * on the heap. */
	struct stream		 st;
};

/* The hooks, named so that one function can call any of them. */
enum hook {
	HOOK_CONNECT, HOOK_HELO, HOOK_MAIL, HOOK_RCPT, HOOK_DATA,
	HOOK_RESET, HOOK_DISCONNECT, HOOK_AUTH
};

/* In channel.c, for stage.c: queue one reply line (a 421 closes the
 * session once it is sent); a formatted one; one per recipient in LMTP
 * after the body; write what is queued. */
void		 channel_push(struct smtpd_channel *, const char *reply);
void		 channel_pushf(struct smtpd_channel *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
void		 channel_push_each(struct smtpd_channel *, const char *reply);
void		 channel_flush(struct smtpd_channel *);

/* In stage.c: the hooks, and what runs at a stage (see there). */
const char	*hook_run(struct smtpd_channel *, enum hook, const char *arg,
		    const struct smtpd_message *);
bool		 channel_stage(struct smtpd_channel *, enum fault_stage,
		    const char *subject, const struct smtpd_message *);

/* In session.c, for the HTTP side (sessions.h, inbox_internal.h): the
 * session log's record of this session, begun before the greeting and
 * ended with how the session ended (r: the last read's result; refused:
 * at the greeting); the store's copy of a message the handler accepted. */
void		 channel_record_begin(struct smtpd_channel *);
void		 channel_record_end(struct smtpd_channel *, int r, bool refused);
void		 channel_store(struct smtpd_channel *,
		    const struct smtpd_message *);

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
