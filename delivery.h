/* SPDX-License-Identifier: ISC */
/*
 * delivery.h - the built-in handlers that pass each message on and never
 * drop one silently: PureProxy (pureproxy.c) and MailmanProxy (mailman.c)
 * relay to an upstream SMTP server or hand list mail to Mailman; Maildir
 * (maildir.c) writes each message into a Maildir.
 *
 *	struct smtpd_relay_options po = {
 *		.remote_host = "mail.example.com", .remote_port = 25,
 *	};
 *	cfg.handler = smtpd_handler_pureproxy(&po);
 *
 * Each of these handlers answers the client only once the message is
 * where it should be: a 250 after DATA means delivered, a 4xx means try
 * again, a 5xx means it never will be.  They are thread-safe (concurrent):
 * a slow upstream holds up only its own client.  The relaying handlers
 * keep their per-connection state in the handler's data slot
 * (smtpd_channel_set_handler_data); the program's hooks keep the other
 * one (smtpd_channel_set_data) for themselves.
 */
#ifndef SMTPD_DELIVERY_H
#define SMTPD_DELIVERY_H

#include "server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where and how the relay handlers deliver.  Must outlive the server. */
struct smtpd_relay_options {
	const char	*remote_host;	/* the upstream SMTP server; NULL: the
					   server's cfg.remote_host and
					   remote_port */
	int		 remote_port;
	int		 timeout;	/* seconds to wait for each upstream
					   reply (connect: at most 30);
					   0 = 300 */
	/* MailmanProxy: Mailman 3's LMTP runner (NULL = 127.0.0.1:8024) ... */
	const char	*mailman_lmtp_host;
	int		 mailman_lmtp_port;
	/* ... or, when set, a Mailman 2 installation (DIR/lists/NAME/
	 * config.pck, DIR/mail/mailman) instead. */
	const char	*mailman_home;
};

/* The name of 1.x and 2.0, for programs written against them: the same
 * struct (a struct's tag is not part of the ABI). */
#define smtpd_proxy_options	smtpd_relay_options

#define SMTPD_MAILMAN_LMTP_HOST	"127.0.0.1"
#define SMTPD_MAILMAN_LMTP_PORT	8024

/* smtpd_handler_pureproxy - Python's PureProxy, working: each message
 * gets "X-Peer: <client ip>" and goes to the remote address; each RCPT
 * gets the upstream's answer. */
struct smtpd_handler smtpd_handler_pureproxy(const struct smtpd_relay_options *);

/* smtpd_handler_mailmanproxy - Python's MailmanProxy: mail for a mailing
 * list goes to Mailman, all other mail to the remote address. */
struct smtpd_handler smtpd_handler_mailmanproxy(
		    const struct smtpd_relay_options *);

/* smtpd_handler_maildir - deliver into the Maildir dir (created, with
 * tmp, new and cur, when missing; dir must outlive the server).  -1 with
 * a message when the Maildir cannot be made.  In LMTP (cfg.lmtp) each
 * recipient gets a copy with "Delivered-To:" and a reply of its own; its
 * process_message_lmtp delivers only to recipients whose replies[i] is
 * still NULL, so a wrapping handler may refuse some first.  A client
 * that came through a PROXY header gets "X-Peer: <client>" in its files. */
int		 smtpd_handler_maildir(struct smtpd_handler *, const char *dir,
		    char *err, size_t errsz);

#ifdef __cplusplus
}
#endif

#endif /* SMTPD_DELIVERY_H */
