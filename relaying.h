/* SPDX-License-Identifier: ISC */
/*
 * relaying.h - what the two relaying handlers share: PureProxy
 * (pureproxy.c) and MailmanProxy (mailman.c).  Internal: not installed.
 *
 * Both keep one struct relaying_session per client in the handler's data
 * slot, and both relay to the remote address the same way: MAIL opens the
 * upstream transaction (relaying_open_upstream), each RCPT is passed on
 * (relaying_rcpt_upstream), and the upstream's refusals become our client's
 * (relaying_upstream_reply).  MailmanProxy's session embeds this one as its
 * first member and adds Mailman's recipients.
 */
#ifndef SMTPD_RELAYING_H
#define SMTPD_RELAYING_H

#include "delivery.h"
#include "relay.h"

#include <stdbool.h>
#include <stddef.h>

/* The reply when a transaction cannot be kept in memory. */
#define RELAYING_NOMEM	"451 4.3.0 Error: out of memory"

/* One client's transaction, as far as relaying goes. */
struct relaying_session {
	const struct smtpd_relay_options *opt;
	struct relay	*up;		/* the remote address */
	size_t		 up_rcpts;	/* recipients it accepted */
	char		*mailfrom;
	unsigned long long size;	/* the client's SIZE=, 0 = none */
	const char	*body;		/* the client's BODY= value, or NULL */
	bool		 smtputf8;	/* the client said SMTPUTF8 */
};

/* relaying_session_get - this channel's session, made (size bytes, zeroed;
 * a struct that begins with a struct relaying_session) on first use; NULL
 * when out of memory. */
struct relaying_session *relaying_session_get(struct smtpd_channel *,
		    const struct smtpd_relay_options *, size_t size);

/* relaying_session_clear - end the transaction: QUIT the upstream, forget
 * the sender and its parameters. */
void		 relaying_session_clear(struct relaying_session *);

/* relaying_begin - MAIL: a new transaction with this sender and the MAIL
 * parameters the client gave; NULL, or the reply when out of memory. */
const char	*relaying_begin(struct smtpd_channel *, struct relaying_session *,
		    const char *address);

/* relaying_params - the MAIL parameters for upstream r: the client's SIZE
 * (plus extra, what we add to the message), BODY and SMTPUTF8, each only
 * when r advertised it. */
void		 relaying_params(const struct relaying_session *,
		    const struct relay *r, size_t extra, char *out,
		    size_t outsz);

/* relaying_cannot_carry - the refusal (who: "The upstream", "Mailman") when
 * r lacks an extension the transaction needs, or NULL. */
const char	*relaying_cannot_carry(struct smtpd_channel *,
		    const struct relaying_session *, const struct relay *r,
		    const char *who);

/* relaying_no_smtputf8 - the refusal of SMTPUTF8 mail by who, which does
 * not support it (RFC 6531 section 3.4). */
const char	*relaying_no_smtputf8(struct smtpd_channel *, const char *who);

/* relaying_refuse_8bit - true, and the 554 in *rep, when the message has
 * 8-bit bytes and upstream r did not offer 8BITMIME. */
bool		 relaying_refuse_8bit(const struct relay *r,
		    const struct smtpd_message *, struct relay_reply *rep);

/* relaying_open_upstream - connect to the remote address and send MAIL; NULL
 * when the transaction is open there, else the reply for our client. */
const char	*relaying_open_upstream(struct smtpd_channel *,
		    struct relaying_session *, size_t extra);

/* relaying_rcpt_upstream - RCPT at the remote address: NULL when accepted,
 * else the reply for our client. */
const char	*relaying_rcpt_upstream(struct smtpd_channel *,
		    struct relaying_session *, const char *address);

/* relaying_upstream_reply - what our client is told when an upstream did not
 * say yes. */
const char	*relaying_upstream_reply(struct smtpd_channel *,
		    const struct relay_reply *);

/* relaying_reset, relaying_disconnect - the hooks (on_reset, on_disconnect):
 * the transaction is over, QUIT the upstream; the client left, free the
 * session. */
void		 relaying_reset(struct smtpd_channel *, void *ctx);
void		 relaying_disconnect(struct smtpd_channel *, void *ctx);

/* relaying_positive - a 2xx reply. */
static inline bool
relaying_positive(const struct relay_reply *rep)
{
	return rep->code >= 200 && rep->code < 300;
}

#endif /* SMTPD_RELAYING_H */
