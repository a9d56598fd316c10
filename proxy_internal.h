/* SPDX-License-Identifier: ISC */
/*
 * proxy_internal.h - what the two relaying handlers share: PureProxy
 * (proxy.c) and MailmanProxy (mailman.c).  Internal: not installed.
 *
 * Both keep one struct proxy_session per client in the handler's data
 * slot, and both relay to the remote address the same way: MAIL opens the
 * upstream transaction (proxy_open_upstream), each RCPT is passed on
 * (proxy_rcpt_upstream), and the upstream's refusals become our client's
 * (proxy_upstream_reply).  MailmanProxy's session embeds this one as its
 * first member and adds Mailman's recipients.
 */
#ifndef SMTPD_PROXY_INTERNAL_H
#define SMTPD_PROXY_INTERNAL_H

#include "delivery.h"
#include "relay.h"

#include <stdbool.h>
#include <stddef.h>

/* The reply when a transaction cannot be kept in memory. */
#define PROXY_NOMEM	"451 4.3.0 Error: out of memory"

/* One client's transaction, as far as relaying goes. */
struct proxy_session {
	const struct smtpd_proxy_options *opt;
	struct relay	*up;		/* the remote address */
	size_t		 up_rcpts;	/* recipients it accepted */
	char		*mailfrom;
	unsigned long long size;	/* the client's SIZE=, 0 = none */
	const char	*body;		/* the client's BODY= value, or NULL */
	bool		 smtputf8;	/* the client said SMTPUTF8 */
};

/* proxy_session_get - this channel's session, made (size bytes, zeroed;
 * a struct that begins with a struct proxy_session) on first use; NULL
 * when out of memory. */
struct proxy_session *proxy_session_get(struct smtpd_channel *,
		    const struct smtpd_proxy_options *, size_t size);

/* proxy_session_clear - end the transaction: QUIT the upstream, forget
 * the sender and its parameters. */
void		 proxy_session_clear(struct proxy_session *);

/* proxy_begin - MAIL: a new transaction with this sender and the MAIL
 * parameters the client gave; NULL, or the reply when out of memory. */
const char	*proxy_begin(struct smtpd_channel *, struct proxy_session *,
		    const char *address);

/* proxy_params - the MAIL parameters for upstream r: the client's SIZE
 * (plus extra, what we add to the message), BODY and SMTPUTF8, each only
 * when r advertised it. */
void		 proxy_params(const struct proxy_session *,
		    const struct relay *r, size_t extra, char *out,
		    size_t outsz);

/* proxy_cannot_carry - the refusal (who: "The upstream", "Mailman") when
 * r lacks an extension the transaction needs, or NULL. */
const char	*proxy_cannot_carry(struct smtpd_channel *,
		    const struct proxy_session *, const struct relay *r,
		    const char *who);

/* proxy_no_smtputf8 - the refusal of SMTPUTF8 mail by who, which does
 * not support it (RFC 6531 section 3.4). */
const char	*proxy_no_smtputf8(struct smtpd_channel *, const char *who);

/* proxy_refuse_8bit - true, and the 554 in *rep, when the message has
 * 8-bit bytes and upstream r did not offer 8BITMIME. */
bool		 proxy_refuse_8bit(const struct relay *r,
		    const struct smtpd_message *, struct relay_reply *rep);

/* proxy_open_upstream - connect to the remote address and send MAIL; NULL
 * when the transaction is open there, else the reply for our client. */
const char	*proxy_open_upstream(struct smtpd_channel *,
		    struct proxy_session *, size_t extra);

/* proxy_rcpt_upstream - RCPT at the remote address: NULL when accepted,
 * else the reply for our client. */
const char	*proxy_rcpt_upstream(struct smtpd_channel *,
		    struct proxy_session *, const char *address);

/* proxy_upstream_reply - what our client is told when an upstream did not
 * say yes. */
const char	*proxy_upstream_reply(struct smtpd_channel *,
		    const struct relay_reply *);

/* proxy_reset, proxy_disconnect - the hooks (on_reset, on_disconnect):
 * the transaction is over, QUIT the upstream; the client left, free the
 * session. */
void		 proxy_reset(struct smtpd_channel *, void *ctx);
void		 proxy_disconnect(struct smtpd_channel *, void *ctx);

/* proxy_positive - a 2xx reply. */
static inline bool
proxy_positive(const struct relay_reply *rep)
{
	return rep->code >= 200 && rep->code < 300;
}

#endif /* SMTPD_PROXY_INTERNAL_H */
