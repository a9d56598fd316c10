/* SPDX-License-Identifier: ISC */
/*
 * listen.c - the listening socket: TCP on one host's address, or on
 * every address, IPv6 and IPv4 alike, with one dual-stack socket; or a
 * UNIX-domain socket at a path, with its mode, replacing a stale one;
 * and closing it again.
 *
 *	smtpd_server_listen	bind and listen, as the configuration says
 *				(and the HTTP side's listener, with cfg.http)
 *	listen_close		close, and unlink the UNIX socket we made
 *	listen_peer_unmap	an IPv4 client of the dual-stack socket
 *				named as IPv4
 */
#include "compat.h"
#include "server_internal.h"
#include "io.h"
#include "web/web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * The listen backlog: connections the kernel completes for us before we
 * accept them.  Python's listen(5) drops clients under load; the kernel
 * caps this at net.core.somaxconn.
 */
#define LISTEN_BACKLOG	4096

/*
 * listen_bind - a listening socket on one address, or -1 with the reason
 * in err (and errno kept for the caller's choice of fallback).  dual: an
 * IPv6 socket that takes IPv4 clients too (IPV6_V6ONLY off).
 */
static int
listen_bind(const struct sockaddr *sa, socklen_t salen, bool dual,
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
 * listen_bind_any - no host: every address, IPv6 and IPv4 alike, on one
 * socket bound to :: with IPV6_V6ONLY off.  A machine without IPv6 (no
 * such family, or no address to bind) gets 0.0.0.0 alone.
 */
static int
listen_bind_any(int port, bool reuse_port, char *err, size_t errsz)
{
	struct sockaddr_in6 six = { .sin6_family = AF_INET6,
	    .sin6_port = htons((uint16_t)port), .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in four = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_ANY) };
	int fd;

	fd = listen_bind((struct sockaddr *)&six, sizeof(six), true, reuse_port,
	    err, errsz);
	if (fd >= 0 || (errno != EAFNOSUPPORT && errno != EADDRNOTAVAIL &&
	    errno != EPROTONOSUPPORT))
		return fd;
	return listen_bind((struct sockaddr *)&four, sizeof(four), false,
	    reuse_port, err, errsz);
}

/* listen_bind_host - the first of host's addresses that can be bound:
 * like Python we take the first address; unlike it, if that one cannot
 * be bound we try the next. */
static int
listen_bind_host(const char *host, int port, bool reuse_port, char *err,
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
		fd = listen_bind(ai->ai_addr, ai->ai_addrlen, false, reuse_port,
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
 * listen_bind_unix - a listening UNIX-domain socket at path, with mode
 * (0: what the umask leaves).  The mode is set between bind and listen:
 * before listen() no client can connect, so none gets in under the wrong
 * mode.
 */
static int
listen_bind_unix(const char *path, int mode, char *err, size_t errsz)
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

/* listen_close - close the listening socket, and remove the
 * UNIX-domain socket's file if we made it. */
void
listen_close(struct smtpd_server *srv)
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

/* listen_unix - smtpd_server_listen for cfg.unix_path. */
static int
listen_unix(struct smtpd_server *srv, char *err, size_t errsz)
{
	char why[256];
	int fd;

	fd = listen_bind_unix(srv->cfg.unix_path, srv->cfg.unix_mode, why,
	    sizeof(why));
	if (fd < 0) {
		snprintf(err, errsz, "cannot listen on unix:%s: %s",
		    srv->cfg.unix_path, why);
		return -1;
	}
	srv->listen_fd = fd;
	srv->unix_bound = true;
	srv->port = 0;
	return 0;
}

/* listen_smtp - the SMTP listener: TCP, or UNIX with cfg.unix_path. */
static int
listen_smtp(struct smtpd_server *srv, char *err, size_t errsz)
{
	const char *host = srv->cfg.host;
	char why[256] = "no address";
	int fd;

	if (srv->listen_fd >= 0)
		return 0;
	if (srv->cfg.unix_path)
		return listen_unix(srv, err, errsz);
	if (host && *host == '\0')
		host = NULL;
	fd = host ? listen_bind_host(host, srv->cfg.port, srv->cfg.reuse_port,
	    why, sizeof(why)) :
	    listen_bind_any(srv->cfg.port, srv->cfg.reuse_port, why,
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
	 * BSDs) copy them from a TCP listener to every socket it accepts,
	 * which saves system calls per connection.  The timeouts bound a
	 * client that stops sending or stops reading: without them it would
	 * hold its thread forever, so a failure is an error, not a warning.
	 * (The listener's own accept() wakes up as often, to no effect.)
	 * A UNIX-domain socket inherits none of them: server.c sets them on
	 * each of its clients.
	 */
	if (io_set_nodelay(fd, why, sizeof(why)) != 0 ||
	    (srv->cfg.timeout > 0 &&
	    io_set_timeouts(fd, srv->cfg.timeout, why, sizeof(why)) != 0)) {
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

int
smtpd_server_listen(struct smtpd_server *srv, char *err, size_t errsz)
{
	/* Listening already, and the HTTP side with it: nothing to do (and
	 * nothing of the HTTP side's to read, which a stop may be ending). */
	if (srv->listen_fd >= 0)
		return 0;
	if (listen_smtp(srv, err, errsz) != 0)
		return -1;
	/* The HTTP side (web/web.h, cfg.http) listens with the SMTP side:
	 * both are bound, with the caller's privileges, when this returns,
	 * so smtpd can say where both are before it drops root.  Both, or
	 * neither. */
	if (web_start(srv, err, errsz) != 0) {
		listen_close(srv);
		return -1;
	}
	return 0;
}

/*
 * listen_peer_unmap - an IPv4 client of the dual-stack listener (listen_bind_any)
 * arrives as ::ffff:a.b.c.d; hand it on as the IPv4 address it is, so
 * that peer_ip reads "127.0.0.1" whichever socket took the client.
 */
void
listen_peer_unmap(struct sockaddr_storage *peer, socklen_t *len)
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
