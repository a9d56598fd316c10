/* SPDX-License-Identifier: ISC */
/*
 * server_internal.h - the server's own state, shared with channel.c (which
 * reads the configuration, takes the delivery mutex and watches for a
 * stop) and with the unit tests.  Not installed: a program sees struct
 * smtpd_server only as an opaque pointer.
 */
#ifndef SMTPD_SERVER_INTERNAL_H
#define SMTPD_SERVER_INTERNAL_H

#include "server.h"
#include "proxyproto.h"
#include "fault.h"
#include "sessions.h"

#include <pthread.h>
#include <sys/socket.h>
#include <stdatomic.h>

struct worker;
struct tls_server;
struct web_server;

struct smtpd_server {
	struct smtpd_config	 cfg;
	char			 fqdn[256];
	/* What every session says alike, made by config_texts(). */
	char			 greeting[300];
	char			 helo_reply[300];
	char			*ehlo_reply;	/* several lines, CRLF between */
	char			*ehlo_reply_tls;	/* the same, after STARTTLS */
	bool			 offer_starttls;	/* a certificate, not smtps */
	bool			 offer_auth;	/* users, or auth_any */
	struct tls_server	*tls;		/* NULL: no TLS configured */
	int			 listen_fd;	/* -1 until listening */
	bool			 unix_bound;	/* we made cfg.unix_path: unlink it */
	struct proxyproto_net	*proxy_nets;	/* cfg.proxy_from, parsed */
	size_t			 proxy_net_count;
	int			 port;
	int			 wake[2];	/* self-pipe: wakes the accept loop */
	pthread_attr_t		 worker_attr;	/* small stacks, detached: no */

	/* The fault rules (fault.h), swapped by smtpd_server_set_faults;
	 * empty, and never locked, unless faults or triggers are on. */
	struct fault_slot	 faults;
	struct fault_rate	 rate;		/* --rate */

	/* Held around process_message, so handlers need not be thread-safe. */
	pthread_mutex_t		 deliver_lock;

	/* Guards everything below. */
	pthread_mutex_t		 lock;
	pthread_cond_t		 changed;	/* a worker ended, or a stop moved on */
	struct worker		*live;		/* workers serving a client */
	struct worker		*idle;		/* waiting to be handed one */
	struct worker		*dead;		/* finished, not yet joined */
	int			 nlive;		/* on the live list */
	int			 nidle;		/* on the idle list */
	int			 nthreads;	/* running, not yet on the dead list */
	bool			 has_thread;	/* started by smtpd_server_start */
	pthread_t		 accept_thread;

	/*
	 * A stop is tracked by three fields because three different readers
	 * ask three different questions:
	 *  - stop_state (lock held): has a stop begun, has it finished?  A
	 *    second smtpd_server_stop waits on it for the first to finish,
	 *    and start/serve refuse a server that was stopped.
	 *  - accepting (lock held): is the accept loop still running?  It is
	 *    set by start/serve, not by the stop, and cleared by the loop
	 *    itself; the stop waits for it before closing the listener
	 *    (the loop may be in accept() on it), and a second start is
	 *    refused.
	 *    A server that is RUNNING but never started is not accepting.
	 *  - stopping: stop_state != SERVER_RUNNING, as an atomic, for the
	 *    hot paths that must not take the lock: the accept loop's test,
	 *    and every channel between two commands (channel.c).
	 */
	enum { SERVER_RUNNING, SERVER_STOPPING, SERVER_STOPPED } stop_state;
	bool			 accepting;
	atomic_bool		 stopping;

	/* The HTTP side (web/web.h): its state, made by web_start and freed
	 * by web_stop; the port it bound.  NULL and 0 without cfg.http. */
	struct web_server	*web;
	int			 http_port;

	/* The HTTP API's store and session log (inbox_internal.h,
	 * sessions.h), NULL when there is none: every message the handler
	 * accepted is added to the store, every session recorded in the
	 * log.  Set before the server starts, never while it runs. */
	struct smtpd_inbox	*store;
	bool			 store_owned;	/* freed with the server */
	struct session_log	*sessions;	/* always freed with the server */
};

/* config.c: the configuration, and the texts made from it once. */
int		 config_load(struct smtpd_config *cfg,
		    const struct smtpd_config *given, char *err, size_t errsz);
bool		 config_texts(struct smtpd_server *);
void		 config_offers(const struct smtpd_config *, bool *starttls,
		    bool *auth);
int		 config_faults(const struct smtpd_config *,
		    const char *const *rules, size_t n, const char *file,
		    struct fault_set **out, char *err, size_t errsz);
int		 config_proxy_nets(struct smtpd_server *,
		    const struct smtpd_config *, char *err, size_t errsz);

/* listen.c: the listening socket (smtpd_server_listen opens it). */
void		 listen_close(struct smtpd_server *);
void		 listen_peer_unmap(struct sockaddr_storage *, socklen_t *);

/* server_store, server_sessions - the server's store and session log,
 * or NULL. */
static inline struct smtpd_inbox *
server_store(const struct smtpd_server *srv)
{
	return srv->store;
}

static inline struct session_log *
server_sessions(const struct smtpd_server *srv)
{
	return srv->sessions;
}

/* server_set_store - give the server a store (owned: freed with it) and
 * a session log (always freed with it; NULL: none) before it starts. */
static inline void
server_set_store(struct smtpd_server *srv, struct smtpd_inbox *store,
    bool owned, struct session_log *sessions)
{
	srv->store = store;
	srv->store_owned = owned;
	srv->sessions = sessions;
	if (sessions)
		session_log_set_store(sessions, store);
}

#endif /* SMTPD_SERVER_INTERNAL_H */
