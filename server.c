/* SPDX-License-Identifier: ISC */
/*
 * server.c - listen, accept, and give every client a thread of its own.
 *
 * The whole server, in the order it runs:
 *
 *	smtpd_server_new		copy and check the configuration
 *	smtpd_server_listen		bind and listen (:: and 0.0.0.0 when
 *					no host is given)
 *	server_accept_loop		loop { accept; server_spawn } while
 *					no worker waits in accept() itself
 *	server_worker			channel_run for one client at a time;
 *					then accept()s the next client itself
 *					(worker_next_client), or exits
 *	smtpd_server_stop		stop accepting, drain, join
 *
 * Each worker thread blocks in recv() on its own client, so the code of a
 * session (channel.c) is plain sequential code.  What the threads share is
 * little and all here: the count of workers waiting at the listener, the
 * lists of live and finished workers (to stop and join them) and the
 * delivery mutex that channel.c takes around the handler.
 */
#include "compat.h"
#include "channel_internal.h"
#include "inbox.h"
#include "io.h"
#include "tls.h"
#include "web/web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/*
 * Worker stacks: a session needs a few KB of stack (its buffers live on the
 * heap), but a handler may call getaddrinfo() or stdio, which want more.
 * 256 KiB is reserved address space, not memory: only the pages touched
 * become resident, so an idle connection costs one page of stack (4 KiB;
 * two without smtpd.c's reexec_without_tls_reserve), not glibc's default
 * 8 MiB of address space.
 */
#define WORKER_STACK	(256 * 1024)

/*
 * The listen backlog: connections the kernel completes for us before we
 * accept them.  Python's listen(5) drops clients under load; the kernel
 * caps this at net.core.somaxconn.
 */
#define LISTEN_BACKLOG	4096

/* How long to back off when out of file descriptors (EMFILE). */
#define ACCEPT_BACKOFF_MS	100

/*
 * A worker whose client has left waits in accept() for the next one, up
 * to IDLE_SECONDS (the listener's SO_RCVTIMEO), and then exits.  Creating
 * a thread costs a clone(), a stack and the scheduler's bookkeeping;
 * handing a client from the accept loop to a waiting thread costs a
 * wake-up and, on a busy CPU, a preempted accept loop.  A worker that
 * accepts for itself costs neither (worker_next_client).  Still one
 * thread per connection: a thread serves one client at a time.
 */
#define IDLE_SECONDS	10
#define IDLE_MAX	256	/* workers waiting in accept() at most */

/* One worker thread and the client it serves. */
struct worker {
	struct worker		*next, *prev;	/* on the live or dead list */
	struct smtpd_server	*server;
	/* The session, made by whoever accepted the client; read by a
	 * stop. */
	struct smtpd_channel *_Atomic channel;
	int			 fd;
	struct sockaddr_storage	 peer;		/* for a PROXY header's check */
	pthread_t		 thread;
};

/*
 * The size of struct smtpd_config in the 2.0 layout: up to its last field
 * then, debug.  A program's struct is never smaller (server.h, the ABI
 * policy); it may be larger only up to this library's sizeof.
 */
#define CONFIG_SIZE_2_0	(offsetof(struct smtpd_config, debug) + \
			    sizeof(FILE *))

/* config_defaults - every field's default, for this library's layout. */
static void
config_defaults(struct smtpd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->host = "localhost";
	cfg->port = 8025;
	cfg->data_size_limit = SMTPD_DATA_SIZE_DEFAULT;
	cfg->remote_host = "localhost";
	cfg->remote_port = 25;
	cfg->timeout = 300;		/* RFC 5321 section 4.5.3.2.7 */
	cfg->max_connections = 1000;
	cfg->max_recipients = 1000;	/* RFC 5321 section 4.5.3.1.8: >= 100 */
	cfg->max_junk = 20;
	cfg->shutdown_grace = 10;
	cfg->handler = smtpd_handler_debugging(stdout);
	/* lmtp, chunking, unix_path, unix_mode, reuse_port, proxy_protocol
	 * and proxy_from (2.1) are off or none: the memset above. */
	/* Fields appended after the 2.0 layout get their defaults here. */
	cfg->max_messages = 500;	/* Mailpit's default */
	cfg->max_store_size = (size_t)256 << 20;
	cfg->http_max_connections = 100;
}

/*
 * smtpd_config_init_size - write only size bytes: the program's struct may
 * be older (smaller) than ours.  One newer (larger) than ours gets zeros
 * past our layout, and smtpd_server_new refuses it with a message.
 */
void
smtpd_config_init_size(struct smtpd_config *cfg, size_t size)
{
	struct smtpd_config d;

	config_defaults(&d);
	d.size = size;
	memcpy(cfg, &d, size < sizeof(d) ? size : sizeof(d));
	if (size > sizeof(d))
		memset((char *)cfg + sizeof(d), 0, size - sizeof(d));
}

/* config_copy - the program's configuration, of its own size, into ours:
 * what it has is copied, what it is too old to have keeps the default. */
static int
config_copy(struct smtpd_config *dst, const struct smtpd_config *src,
    char *err, size_t errsz)
{
	if (src->size > sizeof(*dst)) {
		snprintf(err, errsz, "struct smtpd_config from a newer libsmtpd "
		    "(%zu bytes, this library knows %zu)", src->size,
		    sizeof(*dst));
		return -1;
	}
	if (src->size < CONFIG_SIZE_2_0) {
		snprintf(err, errsz, "struct smtpd_config of %zu bytes (at "
		    "least %zu): fill it with smtpd_config_init()", src->size,
		    (size_t)CONFIG_SIZE_2_0);
		return -1;
	}
	config_defaults(dst);
	memcpy(dst, src, src->size);
	dst->size = sizeof(*dst);
	return 0;
}

/*
 * server_fqdn - the host's name as Python's socket.getfqdn() finds it: the
 * first of the canonical name and aliases of our host name's address that
 * contains a dot, else the canonical name.  The _r look-ups: a program may
 * create servers from several threads at once.  Without glibc's _r calls
 * (compat.h), getaddrinfo and getnameinfo, which have no aliases: the
 * name of the address, or else the forward look-up's canonical name if
 * only that one has a dot.
 */
static void
server_fqdn(char *out, size_t outsz)
{
	char host[256];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(out, outsz, "%s", host);

#if HAVE_GETHOSTBYNAME_R
	char buf[8192], addr[16];
	struct hostent he, *res = NULL;
	int herr;

	if (gethostbyname_r(host, &he, buf, sizeof(buf), &res, &herr) != 0 ||
	    res == NULL || res->h_length > (int)sizeof(addr))
		return;
	int len = res->h_length, family = res->h_addrtype;
	memcpy(addr, res->h_addr_list[0], (size_t)len);
	if (gethostbyaddr_r(addr, (socklen_t)len, family, &he, buf,
	    sizeof(buf), &res, &herr) != 0 || res == NULL)
		return;
	snprintf(out, outsz, "%s", res->h_name);
	if (strchr(res->h_name, '.'))
		return;
	for (char **a = res->h_aliases; *a; a++) {
		if (strchr(*a, '.')) {
			snprintf(out, outsz, "%s", *a);
			return;
		}
	}
#else
	struct addrinfo hints = { .ai_flags = AI_CANONNAME }, *res;
	char name[256];		/* a DNS name has at most 253 */

	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return;
	if (getnameinfo(res->ai_addr, res->ai_addrlen, name, sizeof(name),
	    NULL, 0, NI_NAMEREQD) == 0) {
		snprintf(out, outsz, "%s", name);
		if (!strchr(name, '.') && res->ai_canonname &&
		    strchr(res->ai_canonname, '.'))
			snprintf(out, outsz, "%s", res->ai_canonname);
	}
	freeaddrinfo(res);
#endif
}

/* host_fqdn - server_fqdn, looked up once per process: a test suite that
 * makes many servers should not wait for the resolver each time. */
static char fqdn_cache[256];
static pthread_once_t fqdn_once = PTHREAD_ONCE_INIT;

static void
fqdn_init(void)
{
	server_fqdn(fqdn_cache, sizeof(fqdn_cache));
}

static const char *
host_fqdn(void)
{
	pthread_once(&fqdn_once, fqdn_init);
	return fqdn_cache;
}

/* config_check_tls - the TLS and AUTH fields make sense together, and
 * this build can do what they ask. */
static int
config_check_tls(const struct smtpd_config *cfg, char *err, size_t errsz)
{
	bool cert = cfg->tls_cert || cfg->tls_key;
	bool auth = cfg->auth_secret || cfg->auth_any;

	if ((cert || cfg->tls_self_signed || cfg->smtps || cfg->require_tls ||
	    cfg->relay_tls_insecure) && !tls_available()) {
		snprintf(err, errsz, "TLS: built without TLS support "
		    "(rebuild with OpenSSL: make TLS=yes)");
		return -1;
	}
	if (cert && (!cfg->tls_cert || !cfg->tls_key)) {
		snprintf(err, errsz, "TLS: a certificate needs its key, and a "
		    "key its certificate (--tls-cert and --tls-key)");
		return -1;
	}
	if (cert && cfg->tls_self_signed) {
		snprintf(err, errsz, "TLS: a certificate or a self-signed "
		    "one, not both");
		return -1;
	}
	if ((cfg->smtps || cfg->require_tls) && !cert &&
	    !cfg->tls_self_signed) {
		snprintf(err, errsz, "TLS: %s needs a certificate "
		    "(--tls-cert and --tls-key, or --tls-self-signed)",
		    cfg->smtps ? "--smtps" : "--require-tls");
		return -1;
	}
	if ((cfg->auth_plaintext || cfg->auth_required) && !auth) {
		snprintf(err, errsz, "AUTH: %s needs users (--auth-user, "
		    "--auth-file or --auth-any)", cfg->auth_plaintext ?
		    "--auth-plaintext" : "--auth-required");
		return -1;
	}
	if (cfg->relay_auth_user && !cfg->relay_auth_password) {
		snprintf(err, errsz, "relay AUTH: a user needs a password");
		return -1;
	}
	return 0;
}

/*
 * server_faults - the rule set for these rules and file, with the
 * configuration's seed and triggers; NULL in *out when it could never
 * fire, so that a server without faults takes no lock for them.
 */
static int
server_faults(const struct smtpd_config *cfg, const char *const *rules,
    size_t n, const char *file, struct fault_set **out, char *err,
    size_t errsz)
{
	struct fault_options o = {
		.rules = rules, .rule_count = n, .file = file,
		.seed = cfg->fault_seed, .seeded = cfg->fault_seeded,
		.triggers = cfg->triggers,
	};

	if (fault_set_new(&o, out, err, errsz) != 0)
		return -1;
	if (fault_set_empty(*out)) {
		fault_set_release(*out);
		*out = NULL;
	}
	return 0;
}

bool
smtpd_tls_available(void)
{
	return tls_available();
}

const char *
smtpd_server_tls_fingerprint(const struct smtpd_server *srv)
{
	return srv->tls ? tls_server_fingerprint(srv->tls) : NULL;
}

/* server_proxy_nets - parse cfg->proxy_from, the load balancers that may
 * send a PROXY header; 0, or -1 with the bad entry in err. */
static int
server_proxy_nets(struct smtpd_server *srv, const struct smtpd_config *cfg,
    char *err, size_t errsz)
{
	size_t n = 0;

	for (const char *const *p = cfg->proxy_from; p && *p; p++)
		n++;
	if (n == 0)
		return 0;
	if ((srv->proxy_nets = calloc(n, sizeof(*srv->proxy_nets))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (proxyproto_net_parse(cfg->proxy_from[i],
		    &srv->proxy_nets[i], err, errsz) != 0) {
			free(srv->proxy_nets);
			srv->proxy_nets = NULL;
			return -1;
		}
	srv->proxy_net_count = n;
	return 0;
}

/* server_release - free what smtpd_server_new made besides the locks and
 * the pipe (the fault rules, the EHLO replies, TLS, the PROXY networks)
 * and the server itself: one cleanup for a failed new and for free. */
static void
server_release(struct smtpd_server *srv)
{
	fault_slot_destroy(&srv->faults);
	fault_rate_destroy(&srv->rate);
	free(srv->ehlo_reply);
	free(srv->ehlo_reply_tls);
	tls_server_free(srv->tls);
	free(srv->proxy_nets);
	session_log_free(srv->sessions);
	if (srv->store_owned)
		smtpd_inbox_free(srv->store);
	free(srv);
}

int
smtpd_server_new(const struct smtpd_config *given, struct smtpd_server **out,
    char *err, size_t errsz)
{
	struct smtpd_config copy;
	const struct smtpd_config *cfg = &copy;
	struct smtpd_server *srv;
	struct fault_set *faults;

	*out = NULL;
	if (config_copy(&copy, given, err, errsz) != 0)
		return -1;
	/* A 250 after DATA promises delivery: a handler must deliver (Sink,
	 * which discards, has a process_message of its own). */
	if (cfg->handler.process_message == NULL) {
		snprintf(err, errsz, "handler %s%s%shas no process_message",
		    cfg->handler.name ? "\"" : "",
		    cfg->handler.name ? cfg->handler.name : "",
		    cfg->handler.name ? "\" " : "");
		return -1;
	}
	if (cfg->enable_smtputf8 && cfg->decode_data) {
		snprintf(err, errsz, "decode_data and enable_SMTPUTF8 cannot "
		    "be set to True at the same time");
		return -1;
	}
	if (cfg->command_count > 0 && cfg->commands == NULL) {
		snprintf(err, errsz, "command_count is %zu but commands is NULL",
		    cfg->command_count);
		return -1;
	}
	for (size_t i = 0; i < cfg->command_count; i++) {
		const struct smtpd_command *c = &cfg->commands[i];

		if (c->name == NULL || *c->name == '\0' || c->run == NULL ||
		    strpbrk(c->name, " \r\n") != NULL) {
			snprintf(err, errsz, "commands[%zu] needs a name (one "
			    "word) and a run function", i);
			return -1;
		}
		if (channel_is_builtin(cfg, c->name)) {
			snprintf(err, errsz, "extra command %s is built in",
			    c->name);
			return -1;
		}
	}
	/* A CR or LF here would let configuration inject reply lines. */
	if (cfg->fqdn && strpbrk(cfg->fqdn, "\r\n")) {
		snprintf(err, errsz, "fqdn must be one line");
		return -1;
	}
	for (const char *const *k = cfg->ehlo_keywords; k && *k; k++) {
		if (strpbrk(*k, "\r\n") || **k == '\0') {
			snprintf(err, errsz, "EHLO keyword \"%s\" must be one "
			    "non-empty line", *k);
			return -1;
		}
	}
	if (cfg->port < 0 || cfg->port > 65535) {
		snprintf(err, errsz, "invalid port: %d", cfg->port);
		return -1;
	}
	if (config_check_tls(cfg, err, errsz) != 0)
		return -1;
	if (cfg->timeout < 0 || cfg->max_connections < 0 ||
	    cfg->max_recipients < 0 || cfg->max_junk < 0 ||
	    cfg->shutdown_grace < 0 || cfg->max_messages_per_connection < 0 ||
	    cfg->rate_per_sec < 0) {
		snprintf(err, errsz, "limits and timeouts must not be negative");
		return -1;
	}
	if (cfg->unix_path && (*cfg->unix_path == '\0' ||
	    strlen(cfg->unix_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))) {
		snprintf(err, errsz, "UNIX socket path must be 1 to %zu bytes",
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -1;
	}
	if (cfg->unix_mode < 0 || cfg->unix_mode > 07777) {
		snprintf(err, errsz, "invalid socket mode %o", cfg->unix_mode);
		return -1;
	}
	if (cfg->fault_count > 0 && cfg->faults == NULL) {
		snprintf(err, errsz, "fault_count is %zu but faults is NULL",
		    cfg->fault_count);
		return -1;
	}
	if (server_faults(cfg, cfg->faults, cfg->fault_count, cfg->fault_file,
	    &faults, err, errsz) != 0)
		return -1;
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		fault_set_release(faults);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	fault_slot_init(&srv->faults);
	fault_slot_put(&srv->faults, faults);
	fault_rate_init(&srv->rate, cfg->rate_per_sec);
	if (server_proxy_nets(srv, cfg, err, errsz) != 0)
		goto fail;
	srv->cfg = *cfg;
	srv->store = cfg->store;	/* or web_start's own, with http */
	srv->listen_fd = -1;
	srv->wake[0] = srv->wake[1] = -1;
	if (cfg->fqdn && *cfg->fqdn)
		snprintf(srv->fqdn, sizeof(srv->fqdn), "%s", cfg->fqdn);
	else
		snprintf(srv->fqdn, sizeof(srv->fqdn), "%s", host_fqdn());
	/* The key is read here, before a program drops its privileges. */
	if ((cfg->tls_cert || cfg->tls_self_signed) &&
	    (srv->tls = tls_server_new(cfg->tls_cert, cfg->tls_key,
	    cfg->tls_self_signed, srv->fqdn, err, errsz)) == NULL) {
		goto fail;
	}
	if (!channel_prepare(srv)) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	if (compat_pipe(srv->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		snprintf(err, errsz, "pipe: %s", strerror(errno));
		goto fail;
	}
	pthread_mutex_init(&srv->deliver_lock, NULL);
	pthread_mutex_init(&srv->lock, NULL);
	compat_cond_init(&srv->changed);
	compat_cond_init(&srv->door);
	pthread_attr_init(&srv->worker_attr);
	pthread_attr_setstacksize(&srv->worker_attr, WORKER_STACK);

	atomic_init(&srv->stopping, false);
	srv->stop_state = SERVER_RUNNING;
	*out = srv;
	return 0;

fail:
	server_release(srv);
	return -1;
}

int
smtpd_server_set_faults(struct smtpd_server *srv, const char *const *rules,
    size_t n, char *err, size_t errsz)
{
	struct fault_set *fs;

	if (n > 0 && rules == NULL) {
		snprintf(err, errsz, "%zu fault rules but rules is NULL", n);
		return -1;
	}
	if (server_faults(&srv->cfg, rules, n, NULL, &fs, err, errsz) != 0)
		return -1;
	fault_slot_put(&srv->faults, fs);
	return 0;
}

/*
 * server_bind - a listening socket on one address, or -1 with the reason
 * in err (and errno kept for the caller's choice of fallback).  dual: an
 * IPv6 socket that takes IPv4 clients too (IPV6_V6ONLY off).
 */
static int
server_bind(const struct sockaddr *sa, socklen_t salen, bool dual,
    bool reuse_port, char *err, size_t errsz)
{
	int fd;

	if ((fd = compat_socket(sa->sa_family, SOCK_STREAM, 0)) < 0) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		return -1;
	}
	if (io_set_reuseaddr(fd, err, errsz) != 0 ||
	    (reuse_port && io_set_reuseport(fd, err, errsz) != 0) ||
	    (dual && io_set_v6only(fd, false, err, errsz) != 0))
		goto fail;
	if (bind(fd, sa, salen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
		snprintf(err, errsz, "%s", strerror(errno));
		goto fail;
	}
	return fd;
fail:
	return io_close_keep_errno(fd);
}

/*
 * server_bind_any - no host: every address, IPv6 and IPv4 alike, on one
 * socket bound to :: with IPV6_V6ONLY off.  A machine without IPv6 (no
 * such family, or no address to bind) gets 0.0.0.0 alone.
 */
static int
server_bind_any(int port, bool reuse_port, char *err, size_t errsz)
{
	struct sockaddr_in6 six = { .sin6_family = AF_INET6,
	    .sin6_port = htons((uint16_t)port), .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in four = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_ANY) };
	int fd;

	fd = server_bind((struct sockaddr *)&six, sizeof(six), true, reuse_port,
	    err, errsz);
	if (fd >= 0 || (errno != EAFNOSUPPORT && errno != EADDRNOTAVAIL &&
	    errno != EPROTONOSUPPORT))
		return fd;
	return server_bind((struct sockaddr *)&four, sizeof(four), false,
	    reuse_port, err, errsz);
}

/* server_bind_host - the first of host's addresses that can be bound:
 * like Python we take the first address; unlike it, if that one cannot
 * be bound we try the next. */
static int
server_bind_host(const char *host, int port, bool reuse_port, char *err,
    size_t errsz)
{
	struct addrinfo hints, *res, *ai;
	char service[16];
	int fd = -1, e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(service, sizeof(service), "%d", port);
	if ((e = getaddrinfo(host, service, &hints, &res)) != 0) {
		snprintf(err, errsz, "cannot resolve %s: %s", host,
		    gai_strerror(e));
		return -2;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = server_bind(ai->ai_addr, ai->ai_addrlen, false, reuse_port,
		    err, errsz);
	freeaddrinfo(res);
	return fd;
}

/*
 * unix_path_free - make path free for our socket.  Nothing there: fine.
 * A socket nobody answers on was left by a server that died: removed.  A
 * socket someone answers on is in use, and anything else is not ours to
 * remove: both are errors.  (Two servers starting at the same moment may
 * both see a stale socket; the second bind then fails, EADDRINUSE.)
 */
static int
unix_path_free(const struct sockaddr_un *sun, char *err, size_t errsz)
{
	struct stat st;
	int fd, r;

	if (lstat(sun->sun_path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errsz, "%s exists and is not a socket",
		    sun->sun_path);
		return -1;
	}
	if ((fd = compat_socket(AF_UNIX, SOCK_STREAM, 0)) < 0) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		return -1;
	}
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (r == 0) {
		snprintf(err, errsz, "address already in use (a server "
		    "answers on %s)", sun->sun_path);
		return -1;
	}
	if (errno == ECONNREFUSED && unlink(sun->sun_path) != 0 &&
	    errno != ENOENT) {
		snprintf(err, errsz, "cannot remove the stale %s: %s",
		    sun->sun_path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * server_bind_unix - a listening UNIX-domain socket at path, with mode
 * (0: what the umask leaves).  The mode is set between bind and listen:
 * before listen() no client can connect, so none gets in under the wrong
 * mode.
 */
static int
server_bind_unix(const char *path, int mode, char *err, size_t errsz)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, e;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (unix_path_free(&sun, err, errsz) != 0)
		return -1;
	if ((fd = compat_socket(AF_UNIX, SOCK_STREAM, 0)) < 0) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		snprintf(err, errsz, "%s", strerror(errno));
		goto fail;
	}
	if ((mode && chmod(path, (mode_t)mode) != 0) ||
	    listen(fd, LISTEN_BACKLOG) != 0) {
		snprintf(err, errsz, "%s", strerror(errno));
		e = errno;
		unlink(path);
		errno = e;
		goto fail;
	}
	return fd;
fail:
	return io_close_keep_errno(fd);
}

/* server_close_listener - close the listening socket, and remove the
 * UNIX-domain socket's file if we made it. */
static void
server_close_listener(struct smtpd_server *srv)
{
	if (srv->listen_fd < 0)
		return;
	close(srv->listen_fd);
	srv->listen_fd = -1;
	if (srv->unix_bound) {
		unlink(srv->cfg.unix_path);
		srv->unix_bound = false;
	}
}

/* server_listen_unix - smtpd_server_listen for cfg.unix_path. */
static int
server_listen_unix(struct smtpd_server *srv, char *err, size_t errsz)
{
	char why[256];
	int fd;

	fd = server_bind_unix(srv->cfg.unix_path, srv->cfg.unix_mode, why,
	    sizeof(why));
	if (fd < 0) {
		snprintf(err, errsz, "cannot listen on unix:%s: %s",
		    srv->cfg.unix_path, why);
		return -1;
	}
	srv->listen_fd = fd;
	srv->unix_bound = true;
	srv->port = 0;
	/* The listener's read timeout is how long an idle worker waits in
	 * accept() (IDLE_SECONDS).  The clients' timeouts are set on each
	 * (worker_prepare): an accepted UNIX-domain socket inherits none. */
	if (io_set_recv_timeout(fd, IDLE_SECONDS, why, sizeof(why)) != 0) {
		snprintf(err, errsz, "cannot listen on unix:%s: %s",
		    srv->cfg.unix_path, why);
		server_close_listener(srv);
		return -1;
	}
	return 0;
}

int
smtpd_server_listen(struct smtpd_server *srv, char *err, size_t errsz)
{
	const char *host = srv->cfg.host;
	char why[256] = "no address";
	int fd;

	if (srv->listen_fd >= 0)
		return 0;
	if (srv->cfg.unix_path)
		return server_listen_unix(srv, err, errsz);
	if (host && *host == '\0')
		host = NULL;
	fd = host ? server_bind_host(host, srv->cfg.port, srv->cfg.reuse_port,
	    why, sizeof(why)) :
	    server_bind_any(srv->cfg.port, srv->cfg.reuse_port, why,
	    sizeof(why));
	if (fd == -2) {
		snprintf(err, errsz, "%s", why);
		return -1;
	}
	if (fd < 0) {
		snprintf(err, errsz, "cannot listen on %s:%d: %s",
		    host ? host : "*", srv->cfg.port, why);
		return -1;
	}

	/*
	 * Options for the clients' sockets, set once here: Linux (and the
	 * BSDs) copy them to every accepted socket, which saves system calls
	 * per connection.  The send timeout bounds a client that stops
	 * reading: without it it would hold its thread forever, so a failure
	 * is an error, not a warning.  The read timeout is the listener's
	 * own, how long an idle worker waits in accept() (IDLE_SECONDS); each
	 * client's is set in worker_prepare.
	 */
	if (io_set_nodelay(fd, why, sizeof(why)) != 0 ||
	    io_set_recv_timeout(fd, IDLE_SECONDS, why, sizeof(why)) != 0 ||
	    (srv->cfg.timeout > 0 &&
	    io_set_send_timeout(fd, srv->cfg.timeout, why, sizeof(why)) != 0)) {
		snprintf(err, errsz, "cannot listen on %s:%d: %s",
		    host ? host : "*", srv->cfg.port, why);
		close(fd);
		return -1;
	}
	srv->listen_fd = fd;

	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
		srv->port = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

/* list_remove, list_push - the live, idle and dead lists (lock held). */
static void
list_remove(struct worker **head, struct worker *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		*head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->next = w->prev = NULL;
}

static void
list_push(struct worker **head, struct worker *w)
{
	w->prev = NULL;
	w->next = *head;
	if (*head)
		(*head)->prev = w;
	*head = w;
}

/* server_join - join finished workers taken off the dead list. */
static void
server_join(struct worker *dead)
{
	struct worker *next;

	for (; dead; dead = next) {
		next = dead->next;
		pthread_join(dead->thread, NULL);
		free(dead);
	}
}

/* server_reap - join the workers that have finished. */
static void
server_reap(struct smtpd_server *srv)
{
	struct worker *dead;

	pthread_mutex_lock(&srv->lock);
	dead = srv->dead;
	srv->dead = NULL;
	pthread_mutex_unlock(&srv->lock);
	server_join(dead);
}

/* server_say_421 - tell a client we cannot serve it.  Not inlined: its
 * buffer would sit in the frames of the workers' accept path. */
static __attribute__((noinline)) void
server_say_421(struct smtpd_server *srv, int fd, const char *why)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "421 %s Error: %s\r\n", srv->fqdn,
	    why);

	(void)!compat_send(fd, buf, (size_t)n, MSG_DONTWAIT);
}

static void	peer_unmap(struct sockaddr_storage *, socklen_t *);

/* peer_text - "ip:port" of a socket address, for the debug trace. */
static const char *
peer_text(const struct sockaddr_storage *ss, char *buf, size_t bufsz)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
	} else if (ss->ss_family == AF_UNIX) {
		snprintf(ip, sizeof(ip), "unix");
	}
	snprintf(buf, bufsz, "%s:%d", ip, port);
	return buf;
}

/*
 * worker_proxy_header - cfg.proxy_protocol: the connection must come from
 * an allowed load balancer and start with a PROXY header, read within the
 * timeout; the client the header names becomes the peer (*proxied).  A
 * refusal closes the connection unanswered: the balancer, not a client,
 * is at the other end, and the protocol has nothing to say to it.  Not
 * inlined: its buffers would sit under worker_prepare's setsockopt.
 */
static __attribute__((noinline)) bool
worker_proxy_header(struct smtpd_server *srv, struct worker *w,
    bool *proxied)
{
	struct proxyproto_result r;
	char err[256], from[INET6_ADDRSTRLEN + 8];

	if (srv->proxy_net_count > 0 && !proxyproto_allowed(
	    (struct sockaddr *)&w->peer, srv->proxy_nets,
	    srv->proxy_net_count)) {
		if (srv->cfg.debug)
			fprintf(srv->cfg.debug, "%s: not an allowed PROXY "
			    "sender (--proxy-from); closing\n",
			    peer_text(&w->peer, from, sizeof(from)));
		return false;
	}
	if (proxyproto_read(w->fd, srv->cfg.timeout > INT_MAX / 1000 ? 0 :
	    srv->cfg.timeout * 1000, &r, err, sizeof(err)) != 0) {
		if (srv->cfg.debug)
			fprintf(srv->cfg.debug, "%s: %s; closing\n",
			    peer_text(&w->peer, from, sizeof(from)), err);
		return false;
	}
	if (r.has_addr) {
		socklen_t len = sizeof(r.src);

		memcpy(&w->peer, &r.src, sizeof(r.src));
		peer_unmap(&w->peer, &len);	/* "TCP6 ::ffff:192.0.2.7" */
		*proxied = true;
	}
	return true;
}

/*
 * worker_prepare - what a client's socket needs before its session, done
 * in its worker so the listener only accepts: its read timeout, which a
 * TCP socket inherits from the listener as IDLE_SECONDS and a UNIX-domain
 * one does not inherit at all (nor the send timeout); and behind a load
 * balancer the PROXY header comes first.  false: close.
 * Not inlined: its buffers would sit in server_worker's frame, under
 * every idle session, and push it onto a second stack page.
 */
static __attribute__((noinline)) bool
worker_prepare(struct smtpd_server *srv, struct worker *w, bool *proxied)
{
	char why[128];

	if (srv->cfg.unix_path ? srv->cfg.timeout > 0 &&
	    io_set_timeouts(w->fd, srv->cfg.timeout, why, sizeof(why)) != 0 :
	    io_set_recv_timeout(w->fd, srv->cfg.timeout, why, sizeof(why))
	    != 0) {
		server_say_421(srv, w->fd, why);
		return false;
	}
	if (srv->cfg.proxy_protocol && !worker_proxy_header(srv, w, proxied))
		return false;
	return true;
}

/*
 * worker_serve - one client, start to end.  The session was made by the
 * thread that accepted the client (server_spawn or worker_next_client),
 * so what the worker's stack sees of a session is the line reader's
 * loop; the worker frees it.
 */
static void
worker_serve(struct smtpd_server *srv, struct worker *w)
{
	struct smtpd_channel *ch = atomic_load(&w->channel);
	bool proxied = false, ran = false;

	if (worker_prepare(srv, w, &proxied)) {
		if (proxied)
			channel_set_proxied(ch, (struct sockaddr *)&w->peer);
		channel_run(ch);
		ran = true;
	}

	/* Off the live list before the socket closes, so a stop never
	 * shuts down a descriptor that was reused. */
	pthread_mutex_lock(&srv->lock);
	list_remove(&srv->live, w);
	srv->nlive--;
	atomic_store(&w->channel, NULL);
	pthread_cond_broadcast(&srv->changed);
	pthread_mutex_unlock(&srv->lock);

	if (ran) {
		channel_free(ch);	/* closes the socket */
	} else {
		channel_discard(ch);
		close(w->fd);
	}
}

/* server_refuse - turn a client away with a 421 and close. */
static void
server_refuse(struct smtpd_server *srv, int fd, const char *why)
{
	server_say_421(srv, fd, why);
	close(fd);
}

/*
 * server_accept - accept(2) one client: blocks until one comes, or the
 * listener's SO_RCVTIMEO passes, or a stop shuts the listener down.
 * The address comes back as IPv4 for an IPv4 client of the dual-stack
 * listener.  The accept loop and every waiting worker call this.
 */
static int
server_accept(struct smtpd_server *srv, struct sockaddr_storage *peer,
    socklen_t *len)
{
	int fd;

	*len = sizeof(*peer);
	fd = compat_accept(srv->listen_fd, (struct sockaddr *)peer, len);
	if (fd < 0)
		return -1;
	if (srv->cfg.debug)
		fprintf(srv->cfg.debug, "Incoming connection (fd %d)\n", fd);
	peer_unmap(peer, len);
	return fd;
}

/*
 * server_admit - the live list and its limit, for a client just
 * accepted: false past max_connections (the caller refuses it).
 * Lock held.
 */
static bool
server_admit(struct smtpd_server *srv, struct worker *w, int fd,
    const struct sockaddr *peer, socklen_t peerlen,
    struct smtpd_channel *ch)
{
	if (srv->cfg.max_connections > 0 &&
	    srv->nlive >= srv->cfg.max_connections)
		return false;
	w->fd = fd;
	memcpy(&w->peer, peer, peerlen);
	atomic_store(&w->channel, ch);
	list_push(&srv->live, w);
	srv->nlive++;
	return true;
}

/*
 * worker_next_client - wait in accept() for the next client (true), and
 * leave (false) on a stop, past IDLE_MAX waiting workers, or when no
 * client came within the listener's timeout.  The kernel wakes one
 * waiting thread per connection, so the worker that takes a client
 * is the one that will serve it: no hand-over, no second wake-up.  The
 * accept loop takes over whenever no worker waits (server_accept_loop).
 * Not inlined, like worker_prepare: its locals would sit in
 * server_worker's frame, under every idle session.
 */
static __attribute__((noinline)) bool
worker_next_client(struct smtpd_server *srv, struct worker *w)
{
	struct sockaddr_storage peer;
	struct smtpd_channel *ch;
	struct worker *dead;
	socklen_t len;
	int fd;

	for (;;) {
		pthread_mutex_lock(&srv->lock);
		dead = srv->dead;	/* finished threads, joined below */
		srv->dead = NULL;
		if (atomic_load(&srv->stopping) ||
		    srv->naccepting >= IDLE_MAX) {
			pthread_mutex_unlock(&srv->lock);
			server_join(dead);
			return false;
		}
		srv->naccepting++;
		pthread_mutex_unlock(&srv->lock);
		server_join(dead);

		do
			fd = server_accept(srv, &peer, &len);
		while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
		ch = fd >= 0 ? channel_new(srv, fd, (struct sockaddr *)&peer) :
		    NULL;

		pthread_mutex_lock(&srv->lock);
		/* The last worker at the door left it: the loop takes over. */
		if (--srv->naccepting == 0)
			pthread_cond_signal(&srv->door);
		if (atomic_load(&srv->stopping))
			pthread_cond_broadcast(&srv->changed);
		if (fd < 0) {
			/* Idle too long, out of descriptors, or stopped: the
			 * accept loop backs off on its own if it must. */
			pthread_mutex_unlock(&srv->lock);
			return false;
		}
		if (ch != NULL && server_admit(srv, w, fd,
		    (struct sockaddr *)&peer, len, ch)) {
			pthread_mutex_unlock(&srv->lock);
			return true;
		}
		pthread_mutex_unlock(&srv->lock);
		server_refuse(srv, fd, ch ? "too many connections" :
		    "out of memory");
		channel_discard(ch);
	}
}

/* server_worker - a client's thread: serve it; then wait in accept()
 * for another client, or leave. */
static void *
server_worker(void *arg)
{
	struct worker *w = arg;
	struct smtpd_server *srv = w->server;

	/*
	 * cfg.sched_batch: a worker woken by its client's next command does
	 * not preempt the worker that is running, which finishes its turn
	 * first.  Not the default: a SCHED_BATCH thread also loses every
	 * wake-up to any normal process on its CPU, and a test server
	 * always shares its CPUs with the program under test (p99 latency
	 * 10 ms instead of 2.5 ms beside a busy neighbour;
	 * bench/latency_neighbour.py).
	 */
	if (srv->cfg.sched_batch)
		compat_thread_batch();
	do
		worker_serve(srv, w);
	while (worker_next_client(srv, w));

	pthread_mutex_lock(&srv->lock);
	list_push(&srv->dead, w);
	srv->nthreads--;
	pthread_cond_broadcast(&srv->changed);
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/*
 * server_spawn - give a client the accept loop took a thread of its own,
 * or turn it away past max_connections.  The loop accepts only while no
 * worker waits in accept(), so there is no idle thread to hand it to.
 */
static void
server_spawn(struct smtpd_server *srv, int fd, const struct sockaddr *peer,
    socklen_t peerlen)
{
	struct smtpd_channel *ch;
	struct worker *w, *dead;

	/*
	 * The session is made here, before the thread: its allocation is
	 * the deepest stack a session needs, and a worker's stack stays
	 * one page only if it never goes that deep (server_worker).
	 */
	if ((ch = channel_new(srv, fd, peer)) == NULL ||
	    (w = calloc(1, sizeof(*w))) == NULL) {
		channel_discard(ch);
		server_refuse(srv, fd, "out of memory");
		return;
	}
	w->server = srv;

	pthread_mutex_lock(&srv->lock);
	dead = srv->dead;		/* finished threads, joined below */
	srv->dead = NULL;
	if (!server_admit(srv, w, fd, peer, peerlen, ch)) {
		pthread_mutex_unlock(&srv->lock);
		channel_discard(ch);
		free(w);
		server_refuse(srv, fd, "too many connections");
		server_join(dead);
		return;
	}
	if (pthread_create(&w->thread, &srv->worker_attr, server_worker, w)
	    != 0) {
		list_remove(&srv->live, w);
		srv->nlive--;
		pthread_mutex_unlock(&srv->lock);
		channel_discard(ch);
		server_refuse(srv, fd, "cannot start a thread");
		free(w);
		server_join(dead);
		return;
	}
	srv->nthreads++;
	pthread_mutex_unlock(&srv->lock);
	server_join(dead);
}

/* server_backoff - sleep ACCEPT_BACKOFF_MS, or less if stopped.  Not on
 * the listener: it stays readable while the connection we could not
 * accept waits, and polling it would spin. */
static void
server_backoff(struct smtpd_server *srv)
{
	struct pollfd pfd = { .fd = srv->wake[0], .events = POLLIN };

	(void)poll(&pfd, 1, ACCEPT_BACKOFF_MS);
}

/*
 * peer_unmap - an IPv4 client of the dual-stack listener (server_bind_any)
 * arrives as ::ffff:a.b.c.d; hand it on as the IPv4 address it is, so
 * that peer_ip reads "127.0.0.1" whichever socket took the client.
 */
static void
peer_unmap(struct sockaddr_storage *peer, socklen_t *len)
{
	struct sockaddr_in6 six;
	struct sockaddr_in four = { .sin_family = AF_INET };

	if (peer->ss_family != AF_INET6)
		return;
	memcpy(&six, peer, sizeof(six));
	if (!IN6_IS_ADDR_V4MAPPED(&six.sin6_addr))
		return;
	four.sin_port = six.sin6_port;
	memcpy(&four.sin_addr, &six.sin6_addr.s6_addr[12], 4);
	memcpy(peer, &four, sizeof(four));
	*len = sizeof(four);
}

/*
 * server_accept_loop - accept clients until stopped, whenever no worker
 * waits in accept() for its next client (then that worker takes the
 * connection: worker_next_client).  This loop must never die: a full
 * file table or a failed thread costs that one client, never the
 * server.
 */
static void
server_accept_loop(struct smtpd_server *srv)
{
	while (!atomic_load(&srv->stopping)) {
		struct sockaddr_storage peer;
		socklen_t len;
		int fd;

		pthread_mutex_lock(&srv->lock);
		while (srv->naccepting > 0 && !atomic_load(&srv->stopping))
			pthread_cond_wait(&srv->door, &srv->lock);
		pthread_mutex_unlock(&srv->lock);
		if (atomic_load(&srv->stopping))
			break;

		/* Blocks until a client comes; a stop wakes it by shutting
		 * the listener down (smtpd_server_stop). */
		if ((fd = server_accept(srv, &peer, &len)) < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: wait for some to be
				 * freed instead of spinning on accept. */
				if (srv->cfg.debug)
					fprintf(srv->cfg.debug,
					    "accept: %s; backing off\n",
					    strerror(errno));
				server_reap(srv);
				server_backoff(srv);
			}
			continue;
		}
		server_spawn(srv, fd, (struct sockaddr *)&peer, len);
	}

	pthread_mutex_lock(&srv->lock);
	srv->accepting = false;
	pthread_cond_broadcast(&srv->changed);
	pthread_mutex_unlock(&srv->lock);
}

static void *
server_accept_thread(void *arg)
{
	server_accept_loop(arg);
	return NULL;
}

/* server_claim - listen if not yet, and mark the server accepting; an
 * error if it was started or stopped before. */
static int
server_claim(struct smtpd_server *srv, char *err, size_t errsz)
{
	int r = 0;

	if (smtpd_server_listen(srv, err, errsz) != 0)
		return -1;
	pthread_mutex_lock(&srv->lock);
	if (srv->accepting || srv->stop_state != SERVER_RUNNING) {
		snprintf(err, errsz, "server already started or stopped");
		r = -1;
	} else {
		srv->accepting = true;
	}
	pthread_mutex_unlock(&srv->lock);
	/* The HTTP side (web/web.h, cfg.http) starts with the SMTP side. */
	if (r == 0 && web_start(srv, err, errsz) != 0) {
		pthread_mutex_lock(&srv->lock);
		srv->accepting = false;
		pthread_cond_broadcast(&srv->changed);
		pthread_mutex_unlock(&srv->lock);
		r = -1;
	}
	return r;
}

int
smtpd_server_start(struct smtpd_server *srv, char *err, size_t errsz)
{
	if (server_claim(srv, err, errsz) != 0)
		return -1;
	/* Under the lock, so that has_thread is set before the loop can end
	 * and a stop look at it. */
	pthread_mutex_lock(&srv->lock);
	if (pthread_create(&srv->accept_thread, NULL, server_accept_thread,
	    srv) != 0) {
		srv->accepting = false;
		pthread_mutex_unlock(&srv->lock);
		snprintf(err, errsz, "cannot start the accept thread");
		return -1;
	}
	srv->has_thread = true;
	pthread_mutex_unlock(&srv->lock);
	/* listen() was called already: connects are queued from now on. */
	return 0;
}

int
smtpd_server_serve_forever(struct smtpd_server *srv, char *err,
    size_t errsz)
{
	if (server_claim(srv, err, errsz) != 0)
		return -1;
	server_accept_loop(srv);
	return 0;
}

int
smtpd_server_port(const struct smtpd_server *srv)
{
	return srv->port;
}

int
smtpd_server_http_port(const struct smtpd_server *srv)
{
	return srv->http_port;
}

int
smtpd_server_connections(struct smtpd_server *srv)
{
	int n;

	pthread_mutex_lock(&srv->lock);
	n = srv->nlive;
	pthread_mutex_unlock(&srv->lock);
	return n;
}

/* server_shutdown_clients - wake the workers blocked in recv().  With all
 * false, only those between messages: a message in DATA may finish. */
static void
server_shutdown_clients(struct smtpd_server *srv, bool all)
{
	for (struct worker *w = srv->live; w; w = w->next) {
		struct smtpd_channel *ch = atomic_load(&w->channel);

		if (all || ch == NULL || !channel_in_data(ch))
			shutdown(w->fd, all ? SHUT_RDWR : SHUT_RD);
	}
}

void
smtpd_server_stop(struct smtpd_server *srv)
{
	struct timespec deadline;

	/* 0. The HTTP side first: its waits end, its threads are joined. */
	web_stop(srv);
	pthread_mutex_lock(&srv->lock);
	if (srv->stop_state != SERVER_RUNNING) {
		/* Someone else is stopping it: wait for them. */
		while (srv->stop_state != SERVER_STOPPED)
			pthread_cond_wait(&srv->changed, &srv->lock);
		pthread_mutex_unlock(&srv->lock);
		return;
	}
	srv->stop_state = SERVER_STOPPING;
	atomic_store(&srv->stopping, true);

	/* 1. Stop accepting.  On Linux, shutdown() of a listening socket
	 * wakes every thread blocked in accept() (which then fails with
	 * EINVAL): the loop and the idle workers; the pipe wakes the loop if
	 * it is backing off (server_backoff), the door if it waits there. */
	(void)!write(srv->wake[1], "x", 1);
	if (srv->listen_fd >= 0)
		shutdown(srv->listen_fd, SHUT_RD);
	pthread_cond_broadcast(&srv->door);
	while (srv->accepting || srv->naccepting > 0)
		pthread_cond_wait(&srv->changed, &srv->lock);
	pthread_mutex_unlock(&srv->lock);
	if (srv->has_thread)
		pthread_join(srv->accept_thread, NULL);
	server_close_listener(srv);

	/* 2. Idle clients get 421 now; messages in DATA get a grace period. */
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += srv->cfg.shutdown_grace;
	pthread_mutex_lock(&srv->lock);
	server_shutdown_clients(srv, false);
	while (srv->nlive > 0) {
		if (compat_cond_timedwait(&srv->changed, &srv->lock,
		    &deadline) == ETIMEDOUT)
			break;
		/* A client that finished its message is idle now. */
		server_shutdown_clients(srv, false);
	}

	/* 3. Past the grace period, cut everyone off, and wait for all
	 * threads.  None waits in accept() any more: step 1 woke them,
	 * and a worker whose client leaves now sees the stop. */
	server_shutdown_clients(srv, true);
	while (srv->nthreads > 0)
		pthread_cond_wait(&srv->changed, &srv->lock);
	pthread_mutex_unlock(&srv->lock);
	server_reap(srv);

	pthread_mutex_lock(&srv->lock);
	srv->stop_state = SERVER_STOPPED;
	pthread_cond_broadcast(&srv->changed);
	pthread_mutex_unlock(&srv->lock);
}

void
smtpd_server_free(struct smtpd_server *srv)
{
	if (srv == NULL)
		return;
	smtpd_server_stop(srv);
	server_close_listener(srv);
	close(srv->wake[0]);
	close(srv->wake[1]);
	pthread_attr_destroy(&srv->worker_attr);
	pthread_cond_destroy(&srv->changed);
	pthread_cond_destroy(&srv->door);
	pthread_mutex_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->deliver_lock);
	server_release(srv);
}
