/* SPDX-License-Identifier: ISC */
/*
 * server.h - an SMTP server you can embed: configuration, handlers, hooks,
 * and the server's lifecycle.
 *
 * The server is thread-per-connection: one thread accepts, and every
 * accepted client gets a worker thread of its own that runs a channel
 * (channel.h) until the client leaves.  Delivery - the handler's
 * process_message - runs under one mutex shared by all workers, so a
 * handler need not be thread-safe.
 *
 * A minimal embedding:
 *
 *	struct smtpd_config cfg;
 *	struct smtpd_server *srv;
 *	char err[256];
 *
 *	smtpd_config_init(&cfg);
 *	cfg.port = 0;				// any free port
 *	cfg.handler = smtpd_handler_sink();
 *	if (smtpd_server_new(&cfg, &srv, err, sizeof(err)) != 0 ||
 *	    smtpd_server_start(srv, err, sizeof(err)) != 0)
 *		die(err);
 *	printf("listening on %d\n", smtpd_server_port(srv));
 *	...
 *	smtpd_server_stop(srv);
 *	smtpd_server_free(srv);
 *
 * For tests, inbox.h has a handler that keeps every message in memory,
 * and functions to wait for them and look at them; delivery.h has the
 * relaying and Maildir handlers.  An installed program includes these as
 * <smtpd/server.h>, <smtpd/inbox.h>, ... and links with
 * `pkg-config --cflags --libs smtpd`.
 *
 * No function here calls exit() or prints: errors come back as -1 with a
 * message in the caller's buffer.
 *
 * How this API grows (the ABI policy, libsmtpd.so.2 onwards).  A program
 * built against this header must keep running, unchanged and without a
 * rebuild, on every later libsmtpd.so.2:
 *
 *  - struct smtpd_config is allocated by the program, so it carries its
 *    own size: its first field, size, is set by smtpd_config_init() (a
 *    macro over smtpd_config_init_size(cfg, sizeof *cfg)).  New fields are
 *    only ever appended at its end, below the marker there.
 *    smtpd_server_new() copies only size bytes of the program's struct and
 *    gives every later field its default, so an older program gets
 *    today's behaviour; a size below the 2.0 layout's, or above what this
 *    library knows (a program built for a newer libsmtpd), is refused with
 *    a message.  Fill a configuration with smtpd_config_init(), never with
 *    memset or an initializer alone.
 *  - struct smtpd_hooks and struct smtpd_handler are embedded in the
 *    configuration, so their size can never change: each ends in reserved
 *    slots, and a later hook or callback takes one (a function pointer
 *    has the size of any function pointer), decrementing the count.  The
 *    library treats the slots as absent: leave them NULL (zero).
 *  - struct smtpd_message is allocated by the library and only read by
 *    the program: new fields are appended at its end.  Never allocate or
 *    copy one.
 *  - Functions are only added; none changes its signature or meaning.
 * Anything else is a new soname (SO_MAJOR in the Makefile).
 */
#ifndef SMTPD_SERVER_H
#define SMTPD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of these headers; smtpd_version() is the library's, which
 * may be newer.  The Makefile reads it from here (smtpd.pc, the shared
 * library's file name); the soname's major (2) is the ABI's, not this. */
#define SMTPD_VERSION		"2.2.0"
#define SMTPD_DATA_SIZE_DEFAULT	33554432	/* Python's DATA_SIZE_DEFAULT */

struct smtpd_server;
struct smtpd_channel;			/* one client's session: channel.h */
struct smtpd_inbox;			/* inbox.h */

/*
 * A received message, as Python's process_message(peer, mailfrom, rcpttos,
 * data, mail_options=..., rcpt_options=...) gets it.  Every pointer is
 * valid only during the call.  data is the message with dot-stuffing
 * removed, lines joined with "\n", the final line ending dropped; it is
 * NUL-terminated for convenience but may contain NUL bytes: use data_len.
 */
struct smtpd_message {
	const char		*peer_ip;	/* "127.0.0.1", "::1" */
	int			 peer_port;
	const char		*helo;		/* the HELO/EHLO argument */
	const char		*mailfrom;	/* "<>" for the null sender */
	const char *const	*rcpttos;
	size_t			 rcpt_count;
	const char		*data;
	size_t			 data_len;
	/* MAIL/RCPT parameters, upper-cased ("BODY=8BITMIME", "SMTPUTF8").
	 * As in Python, empty when decode_data is set. */
	const char *const	*mail_options;
	size_t			 mail_option_count;
	const char *const	*rcpt_options;
	size_t			 rcpt_option_count;
	bool			 smtputf8;	/* MAIL had SMTPUTF8 */
	/* 2.1: who logged in with AUTH, and the TLS protocol and cipher
	 * ("TLSv1.3", "TLS_AES_256_GCM_SHA384"); NULL when none. */
	const char		*auth_user;
	const char		*tls_protocol;
	const char		*tls_cipher;
	/* Later fields are appended here (the library allocates this). */
};

/*
 * Hooks: the C counterpart of subclassing Python's SMTPChannel.  Each is
 * optional.  A hook runs after the command passed its own syntax and state
 * checks, before the server answers; it returns NULL to go on as usual, or
 * a complete reply line without CRLF ("550 No such user") that is sent
 * instead, and the command then has no effect.  smtpd_channel_reply()
 * formats a reply in storage the channel owns.  Hooks run in the client's
 * worker thread, concurrently for different clients and without the
 * delivery mutex: what they share needs a lock of its own.
 */
struct smtpd_hooks {
	/* A reply here replaces the greeting; a 4xx/5xx one closes. */
	const char	*(*on_connect)(struct smtpd_channel *, void *ctx);
	const char	*(*on_helo)(struct smtpd_channel *, const char *name,
			    void *ctx);
	const char	*(*on_mail)(struct smtpd_channel *, const char *address,
			    void *ctx);
	const char	*(*on_rcpt)(struct smtpd_channel *, const char *address,
			    void *ctx);
	/* End of DATA, before the handler delivers. */
	const char	*(*on_data)(struct smtpd_channel *,
			    const struct smtpd_message *, void *ctx);
	/* The transaction is over: RSET, HELO/EHLO, after DATA, closing. */
	void		 (*on_reset)(struct smtpd_channel *, void *ctx);
	void		 (*on_disconnect)(struct smtpd_channel *, void *ctx);
	void		*ctx;
	/* 2.1: a client passed AUTH as user (the credentials were right); a
	 * reply here ("535 5.7.8 Not you") refuses the login instead. */
	const char	*(*on_auth)(struct smtpd_channel *, const char *user,
			    void *ctx);
	/* A later hook takes one slot (decrement the count): the layout never
	 * changes.  Leave them NULL. */
	void		 (*reserved[7])(void);
};

/*
 * A handler does something useful with each message: Python's
 * SMTPServer.process_message.  It returns NULL for "250 OK", or the reply
 * to send (e.g. "451 Try again later").  Handlers that act during the
 * transaction (a relay answering each RCPT with the upstream's answer) use
 * hooks as well; a handler's hooks run after the configuration's.
 */
struct smtpd_handler {
	const char	*name;
	/* Required: smtpd_server_new refuses a handler without one (a 250
	 * after DATA means delivered; smtpd_handler_sink() is the one that
	 * discards, and says so by its name). */
	const char	*(*process_message)(struct smtpd_channel *,
			    const struct smtpd_message *, void *ctx);
	struct smtpd_hooks hooks;	/* hooks.ctx unused: ctx below */
	void		*ctx;
	/* Set when process_message is thread-safe: it then runs without the
	 * server's delivery mutex, concurrently for different clients. */
	bool		 concurrent;
	/*
	 * LMTP (cfg.lmtp, RFC 2033): one reply per accepted recipient, in
	 * RCPT order, instead of process_message's one reply.  replies has
	 * m->rcpt_count entries, all NULL ("250 OK") on entry; set
	 * replies[i] to the answer for m->rcpttos[i].  A string must last
	 * until the call returns (the channel copies them): a constant, or
	 * smtpd_channel_rcpt_reply(ch, i, ...), which formats each
	 * recipient's in storage of its own.  A handler without it gets
	 * process_message called once, its reply repeated for every
	 * recipient.  Runs under the delivery mutex unless concurrent.
	 */
	void		 (*process_message_lmtp)(struct smtpd_channel *,
			    const struct smtpd_message *, const char **replies,
			    void *ctx);
	/* A later callback takes one slot (decrement the count): the layout
	 * never changes.  Leave them NULL. */
	void		 (*reserved[7])(void);
};

/*
 * An extra command (the smtp_XXXX methods one added to a subclass).  Its
 * flags say in which state it may run, as for the built-in commands; the
 * server checks them, in this order, before run is called, and answers
 * as it does for a built-in command:
 */
#define SMTPD_CMD_NEED_HELO	0x01	/* 503 Error: send HELO first */
#define SMTPD_CMD_NEED_MAIL	0x02	/* 503 Error: need MAIL command */
#define SMTPD_CMD_NEED_RCPT	0x04	/* 503 Error: need RCPT command */
#define SMTPD_CMD_NO_ARG	0x08	/* 501 Syntax: NAME (takes no argument) */
/*
 * 0 lets it run at any time.  A name may not be that of a built-in
 * command (HELO, EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, HELP, VRFY,
 * EXPN, in any case; STARTTLS and AUTH when TLS or AUTH is configured):
 * smtpd_server_new refuses it.
 */
struct smtpd_command {
	const char	*name;		/* upper case, e.g. "XCLIENT" */
	/* Returns the reply; must not be NULL. */
	const char	*(*run)(struct smtpd_channel *, const char *arg,
			    void *ctx);
	void		*ctx;
	unsigned	 flags;		/* SMTPD_CMD_*, or 0 */
};

struct smtpd_config {
	size_t		 size;		/* sizeof the program's struct, set by
					   smtpd_config_init: see the top */
	const char	*host;		/* "localhost", "127.0.0.1", "::1";
					   NULL or "" = every address, IPv6
					   and IPv4 (IPv4 alone on a host
					   without IPv6) */
	int		 port;		/* 0 = an ephemeral port */
	size_t		 data_size_limit;	/* bytes; 0 = no limit */
	bool		 enable_smtputf8;
	bool		 decode_data;	/* not with enable_smtputf8 */
	const char	*fqdn;		/* greeting name; NULL = the host's */
	const char	*remote_host;	/* upstream of the relay handlers, when */
	int		 remote_port;	/* their options name none (delivery.h) */

	/* Limits (RFC 5321 section 4.5.3). */
	int		 timeout;	/* seconds idle or in DATA; 0 = none */
	int		 max_connections;	/* 0 = no limit */
	int		 max_recipients;	/* 0 = no limit */
	int		 max_junk;	/* bad commands in a row; 0 = no limit */
	int		 shutdown_grace;	/* seconds DATA may finish at stop */
	bool		 strict_newlines;	/* reject bare CR or LF in DATA */

	struct smtpd_handler handler;
	struct smtpd_hooks hooks;
	const struct smtpd_command *commands;	/* extra commands */
	size_t		 command_count;
	const char *const *ehlo_keywords;	/* extra EHLO lines, NULL-ended */

	FILE		*debug;		/* conversation trace; NULL = none */

	/* ---- end of the 2.0 layout: new fields are appended below only,
	 * each with its default in config.c (config_defaults) ---- */

	/* LMTP (RFC 2033): LHLO instead of HELO/EHLO (500), and after the
	 * message one reply per accepted recipient (handler above). */
	bool		 lmtp;
	/* Offer CHUNKING and take BDAT (RFC 3030). */
	bool		 chunking;
	/* Listen on this UNIX-domain socket instead of host:port.  A stale
	 * file from a crash is replaced, one a live server answers on is
	 * "already in use", anything but a socket is left alone; removed at
	 * stop.  Its clients' peer_ip is "unix", peer_port 0. */
	const char	*unix_path;
	int		 unix_mode;	/* its mode, e.g. 0660; 0 = 0666 less
					   the umask */
	/* SO_REUSEPORT: several processes may listen on one port, and the
	 * kernel spreads the connections among them. */
	bool		 reuse_port;
	/* Every connection starts with HAProxy's PROXY header (v1 or v2),
	 * read within timeout; the client it names is the peer for
	 * everything.  A missing or bad header closes the connection. */
	bool		 proxy_protocol;
	/* "ADDR" or "ADDR/PREFIX" (IPv4 or IPv6), NULL-ended: the load
	 * balancers that may connect; NULL = any. */
	const char *const *proxy_from;
	/* Failures on demand (README, "Testing your error handling"): rules
	 * "STAGE[:MATCH][#N[+]]=ACTION[@P%]", the first that matches wins;
	 * a bad one makes smtpd_server_new fail, quoting it. */
	const char *const *faults;	/* fault_count rules, or NULL */
	size_t		 fault_count;
	const char	*fault_file;	/* one rule a line, after faults */
	unsigned long	 fault_seed;	/* the choices of "@P%" rules ... */
	bool		 fault_seeded;	/* ... repeat with this seed if set */
	bool		 triggers;	/* BadSMTP's addresses: rcpt550@... */
	int		 max_messages_per_connection;	/* then 421; 0 = none */
	int		 rate_per_sec;	/* MAILs a second, server-wide, then
					   451; 0 = no limit */
	/* Run the workers under SCHED_BATCH (Linux): a worker woken by its
	 * client does not preempt the one running.  Less CPU per message
	 * under many busy clients, but every wake-up waits behind any other
	 * process on that CPU: for load tests, not a default. */
	bool		 sched_batch;

	/* 2.1: TLS (RFC 3207 STARTTLS, RFC 8314 implicit TLS).  A certificate
	 * and key (PEM files, read by smtpd_server_new), or a throwaway
	 * self-signed one for fqdn, turn STARTTLS on.  Refused by a library
	 * built without TLS (smtpd_tls_available). */
	const char	*tls_cert;
	const char	*tls_key;
	bool		 tls_self_signed;
	bool		 smtps;		/* TLS from the first byte, no STARTTLS */
	bool		 require_tls;	/* 530 for MAIL, RCPT, DATA, AUTH first */

	/* 2.1: AUTH (RFC 4954: PLAIN, LOGIN, CRAM-MD5), on when auth_secret
	 * is set or auth_any.  auth_secret returns a user's password, NULL
	 * for no such user; one function serves every mechanism, since
	 * CRAM-MD5 needs the secret itself.  It runs in worker threads. */
	const char	*(*auth_secret)(const char *user, void *ctx);
	void		*auth_ctx;
	bool		 auth_any;	/* any user name and password succeed */
	bool		 auth_plaintext;	/* allow AUTH without TLS */
	bool		 auth_required;	/* 530 for MAIL before AUTH */

	/* 2.1: the relaying handlers' upstream: STARTTLS when offered, its
	 * certificate verified unless relay_tls_insecure; AUTH PLAIN as
	 * relay_auth_user when set. */
	const char	*relay_auth_user;
	const char	*relay_auth_password;
	bool		 relay_tls_insecure;

	/* 2.1: relay_auth_user logs in over TLS only (an upstream without
	 * STARTTLS gets no password, the client a 451) unless this is set. */
	bool		 relay_auth_plaintext;

	/* 2.2: failed AUTH attempts in one session; after the 535 of the last
	 * of them, "421 4.7.0 Too many authentication failures", and the
	 * connection is closed.  0 = no limit; default 3. */
	int		 max_auth_failures;

	/* 2.2: the HTTP side (README, "Testing from any language"): Mailpit's
	 * and MailHog's APIs, a wait for mail, live events, the SMTP sessions
	 * and the page, on http_host:http_port, over an in-memory store of
	 * what the handler accepted (a second consumer: the handler still
	 * runs).  Refused by a library built without it (web_available). */
	bool		 http;
	const char	*http_host;	/* NULL = "127.0.0.1" */
	int		 http_port;	/* 0 = ephemeral: smtpd_server_http_port */
	size_t		 max_messages;	/* the store keeps the newest 500;
					   0 = no limit */
	size_t		 max_store_size;	/* bytes, 256 MiB; 0 = no limit */
	const char	*http_auth;	/* "USER:PASSWORD": HTTP Basic on every
					   path; NULL = none */
	const char	*http_cors;	/* an origin allowed by CORS; NULL = no
					   CORS headers */
	int		 http_max_connections;	/* 100; 0 = no limit */
	bool		 release;	/* POST /api/v1/message/ID/release relays
					   to remote_host:remote_port */
	struct smtpd_inbox *store;	/* the store; NULL = the server makes
					   its own when http is set */
};

/* smtpd_config_init_size - fill in the defaults (DebuggingServer on
 * stdout, localhost:8025, 32 MiB, 300 s timeout, 1000 connections and
 * recipients) and size; writes only size bytes.  Call it through
 * smtpd_config_init, which passes the size the program was built with. */
void	smtpd_config_init_size(struct smtpd_config *, size_t size);
#define smtpd_config_init(cfg)	smtpd_config_init_size((cfg), sizeof *(cfg))

/* smtpd_version - the running library's version, "2.2.0": a program
 * built with older headers (SMTPD_VERSION) may run on a newer library.
 * (2.1) */
const char *smtpd_version(void);

/* smtpd_tls_available - was the library built with TLS (OpenSSL)? */
bool	smtpd_tls_available(void);

/* smtpd_server_tls_fingerprint - the SHA-256 fingerprint of the server's
 * certificate ("AB:CD:..."), or NULL without TLS. */
const char *smtpd_server_tls_fingerprint(const struct smtpd_server *);

/* smtpd_server_config - the server's configuration, as smtpd_server_new
 * copied and completed it: what a handler may read (the relay handlers
 * take their upstream's defaults, AUTH and TLS settings from it). */
const struct smtpd_config *smtpd_server_config(const struct smtpd_server *);

/* smtpd_server_tls_certificate - the server's certificate as PEM text
 * (with tls_self_signed, the throwaway one: what a verifying client is
 * given to trust), or NULL without TLS.  Valid while the server is. (2.1) */
const char *smtpd_server_tls_certificate(const struct smtpd_server *);

/* smtpd_server_new - check the configuration and make a server (not yet
 * listening).  The configuration is copied; the strings it points to and
 * the handler's ctx must outlive the server. */
int	smtpd_server_new(const struct smtpd_config *, struct smtpd_server **,
	    char *err, size_t errsz);

/* smtpd_server_set_faults - replace the fault rules (and those of
 * fault_file) while the server runs: commands from now on see the new
 * rules, a command being answered finishes with the old.  n = 0 removes
 * them all.  The rules are copied.  A bad rule changes nothing: -1 with
 * the message, as smtpd_server_new gives it. */
int	smtpd_server_set_faults(struct smtpd_server *,
	    const char *const *rules, size_t n, char *err, size_t errsz);

/* smtpd_server_listen - bind and listen; done by start/serve if not yet. */
int	smtpd_server_listen(struct smtpd_server *, char *err, size_t errsz);

/* smtpd_server_start - accept in a background thread; returns once the
 * server accepts connections. */
int	smtpd_server_start(struct smtpd_server *, char *err, size_t errsz);

/* smtpd_server_serve_forever - accept in this thread until stopped. */
int	smtpd_server_serve_forever(struct smtpd_server *, char *err,
	    size_t errsz);

/* smtpd_server_port - the bound port (useful after port 0). */
int	smtpd_server_port(const struct smtpd_server *);

/* smtpd_server_http_port - the HTTP listener's port (cfg.http), once
 * started; 0 without one. */
int	smtpd_server_http_port(const struct smtpd_server *);

/* smtpd_server_stop - stop accepting, let messages in DATA finish (up to
 * shutdown_grace seconds), send idle clients 421, and return when every
 * worker thread has finished.  Safe from any thread but a worker's. */
void	smtpd_server_stop(struct smtpd_server *);

/* smtpd_server_free - stop if running and release everything. */
void	smtpd_server_free(struct smtpd_server *);

/* smtpd_server_connections - clients being served right now. */
int	smtpd_server_connections(struct smtpd_server *);

/* Built-in handlers (handlers.c). */
struct smtpd_handler smtpd_handler_debugging(FILE *out);
struct smtpd_handler smtpd_handler_sink(void);

#ifdef __cplusplus
}
#endif

#endif /* SMTPD_SERVER_H */
