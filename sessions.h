/* SPDX-License-Identifier: ISC */
/*
 * sessions.h - the ring of recent SMTP sessions (sessions.c), for the HTTP
 * API's /api/v1/sessions: who connected, TLS, AUTH user, the transcript
 * of commands and replies, how it ended, which fault rule answered, and
 * the IDs of the messages it delivered.
 *
 * A channel begins a record when a client connects and owns it until
 * session_end(), which hands it to the log; the log keeps the newest
 * max_sessions.  Transcripts never hold secrets or mail: AUTH responses
 * are masked, message text (DATA, BDAT chunks) is elided, and each
 * transcript is capped.  Every function takes a NULL record and does
 * nothing, so a server without HTTP pays one NULL check per call.
 *
 * Internal: not installed.  Core code: libc and POSIX threads only.
 */
#ifndef SMTPD_SESSIONS_H
#define SMTPD_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct smtpd_inbox;

struct session_log;			/* the ring of recent SMTP sessions */
struct session_rec;			/* one session, owned by its channel until session_end */

/* session_log_new - an empty ring; NULL when out of memory. */
struct session_log *session_log_new(size_t max_sessions /* 1000 */, size_t max_transcript /* bytes, e.g. 64 KiB */);
void	session_log_free(struct session_log *);
/* session_log_set_store - where INBOX_EV_SESSION events go (NULL: none). */
void	session_log_set_store(struct session_log *, struct smtpd_inbox *);
struct session_rec *session_begin(struct session_log *, const char *peer_ip, int peer_port); /* NULL ok: all calls accept NULL rec */
/* session_set_peer - the client is another (a PROXY header named it). */
void	session_set_peer(struct session_rec *, const char *peer_ip, int peer_port);
void	session_client_line(struct session_rec *, const char *line, size_t len); /* AUTH secrets masked, DATA text elided */
void	session_server_reply(struct session_rec *, const char *reply, size_t len);
void	session_set_tls(struct session_rec *, const char *protocol, const char *cipher);
void	session_set_auth(struct session_rec *, const char *user);
void	session_add_message(struct session_rec *, const char *id);
void	session_set_fault(struct session_rec *, const char *rule_text);	/* a fault rule answered */
enum session_end { SESSION_QUIT, SESSION_CLIENT_LEFT, SESSION_TIMEOUT, SESSION_CLOSED_BY_SERVER, SESSION_REFUSED /* at connect */ };
uint64_t session_id(const struct session_rec *);
void	session_end(struct session_log *, struct session_rec *, enum session_end how);
/* the web layer reads them: fn called for each, newest first, under the log's lock */
struct session_view { uint64_t id; const char *peer_ip; int peer_port; struct timespec started, ended;
	bool ended_yet; const char *tls_protocol, *tls_cipher, *auth_user, *fault_rule, *transcript;
	const char *const *message_ids; size_t nmessages; int last_code; enum session_end how; };
void	session_log_foreach(struct session_log *, int (*fn)(const struct session_view *, void *), void *ctx);
bool	session_log_get(struct session_log *, uint64_t id, int (*fn)(const struct session_view *, void *), void *ctx);
/* session_end_name - "quit", "client-left", "timeout", "closed-by-server", "refused". */
const char *session_end_name(enum session_end);

#endif /* SMTPD_SESSIONS_H */
