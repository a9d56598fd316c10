/* SPDX-License-Identifier: ISC */
/*
 * inbox.h - an in-memory mailbox for tests: a handler that keeps a copy of
 * every message the server accepts, and functions to wait for, inspect
 * and clear them.
 *
 * The test of "a function that sends mail" is: start a server on port 0
 * whose handler is an inbox, call the function, wait until the message
 * has arrived, and look at it.
 *
 *	struct smtpd_inbox *inbox = smtpd_inbox_new();
 *	cfg.handler = smtpd_handler_inbox(inbox);
 *	... start the server, make the code under test send one mail ...
 *	if (!smtpd_inbox_wait(inbox, 1, 5000))
 *		fail("no mail within 5 s");
 *	struct smtpd_message *m = smtpd_inbox_get(inbox, 0);
 *	check(strcmp(m->rcpttos[0], "ann@example.com") == 0);
 *	smtpd_inbox_message_free(m);
 *	... stop and free the server, then smtpd_inbox_free(inbox);
 *
 * Every function is thread-safe: the inbox has a mutex and a condition
 * variable of its own, so its handler is `concurrent' (it does not take
 * the server's delivery mutex) and the test thread may read the inbox
 * while workers add to it.  Messages are kept until smtpd_inbox_clear()
 * or smtpd_inbox_free(): an inbox is for tests, not for a mail load.
 */
#ifndef SMTPD_INBOX_H
#define SMTPD_INBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "server.h"

#ifdef __cplusplus
extern "C" {
#endif

struct smtpd_inbox;

/* smtpd_inbox_new - an empty inbox, or NULL when out of memory. */
struct smtpd_inbox *smtpd_inbox_new(void);

/* smtpd_inbox_free - release the inbox and every message in it.  Stop the
 * servers that deliver to it first. */
void	smtpd_inbox_free(struct smtpd_inbox *);

/* smtpd_handler_inbox - a handler (server.h) that copies each message
 * into the inbox and answers 250 OK ("452 Error: insufficient system
 * storage" when the copy cannot be made).  Several servers may share one
 * inbox. */
struct smtpd_handler smtpd_handler_inbox(struct smtpd_inbox *);

/* smtpd_inbox_wait - wait until the inbox holds at least n messages.
 * True when it does; false when timeout_ms milliseconds passed first
 * (timeout_ms < 0: no limit; 0: just look). */
bool	smtpd_inbox_wait(struct smtpd_inbox *, size_t n, int timeout_ms);

/* smtpd_inbox_count - messages in the inbox now. */
size_t	smtpd_inbox_count(struct smtpd_inbox *);

/*
 * smtpd_inbox_get - a copy of message i (0 = the first to arrive), or NULL
 * when there is no such message or no memory.  Every field of struct
 * smtpd_message is filled in, as the handler saw it: peer_ip, peer_port,
 * helo, mailfrom, rcpttos, data and data_len (NUL-terminated; may contain
 * NUL bytes), mail_options, rcpt_options, smtputf8, auth_user,
 * tls_protocol and tls_cipher (NULL when none).  The copy is the
 * caller's and stays valid after clear or free of the inbox; release it
 * with smtpd_inbox_message_free().
 */
struct smtpd_message *smtpd_inbox_get(struct smtpd_inbox *, size_t i);

/* smtpd_inbox_message_free - release a copy from smtpd_inbox_get(). */
void	smtpd_inbox_message_free(struct smtpd_message *);

/*
 * smtpd_inbox_foreach - call fn on every message, oldest first, until fn
 * returns non-zero; returns that value, or 0.  The message is the inbox's
 * own, valid only during the call, and fn runs with the inbox locked:
 * it must not call smtpd_inbox_* functions itself.
 */
int	smtpd_inbox_foreach(struct smtpd_inbox *,
	    int (*fn)(const struct smtpd_message *, void *ctx), void *ctx);

/* smtpd_inbox_clear - drop every message (between test cases). */
void	smtpd_inbox_clear(struct smtpd_inbox *);

/*
 * smtpd_inbox_set_limits - keep at most max_messages messages and
 * max_bytes bytes of message text (0: no limit, the default); when a new
 * message passes either, the oldest are dropped first.  Lowering a limit
 * drops the excess at once.  0, or -1 with errno EINVAL for a NULL inbox.
 * (2.2: an inbox used as the HTTP API's store keeps a bounded history.)
 */
int	smtpd_inbox_set_limits(struct smtpd_inbox *, size_t max_messages,
	    size_t max_bytes);

#ifdef __cplusplus
}
#endif

#endif /* SMTPD_INBOX_H */
