/* SPDX-License-Identifier: ISC */
/*
 * proxyproto.h - HAProxy's PROXY protocol, versions 1 (text) and 2
 * (binary): the header a load balancer sends before the client's first
 * byte, naming the client it accepted.  Internal: not installed.
 *
 *	proxyproto_parse	one header from a buffer: done, more, or bad
 *	proxyproto_read		one header from a socket, by a deadline,
 *				without reading a byte past it
 *	proxyproto_net_parse	"ADDR[/PREFIX]", one entry of an allow-list
 *	proxyproto_allowed	is this load balancer on the list?
 *
 * A header that names no address (v1 "UNKNOWN", v2 LOCAL, v2 AF_UNSPEC
 * or AF_UNIX) is valid: the caller keeps the real peer, as the protocol
 * says a receiver must.
 */
#ifndef SMTPD_PROXYPROTO_H
#define SMTPD_PROXYPROTO_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* The longest v1 header, CRLF included ("PROXY TCP6" and two full IPv6
 * addresses and ports); longer is an error, not a wait. */
#define PROXYPROTO_V1_MAX	107
#define PROXYPROTO_V2_FIXED	16	/* signature, ver/cmd, family, length */

struct proxyproto_result {
	int		version;	/* 1 or 2 */
	bool		has_addr;	/* false: keep the real peer */
	struct sockaddr_storage	src;	/* the client, when has_addr */
	struct sockaddr_storage	dst;	/* the address it connected to */
	size_t		header_len;	/* bytes the header took */
};

/* proxyproto_parse - parse the header at the start of buf.  Returns its
 * length (> 0) when buf holds all of it, 0 when buf is a valid beginning
 * that needs more bytes, -1 (reason in err) when it cannot become one. */
int	proxyproto_parse(const void *buf, size_t len,
	    struct proxyproto_result *, char *err, size_t errsz);

/* proxyproto_read - read exactly one header from fd, giving up after
 * timeout_ms (0 = no limit).  No byte after the header is consumed: the
 * SMTP session reads on from there.  0, or -1 with the reason in err
 * (missing, malformed, truncated, timed out). */
int	proxyproto_read(int fd, int timeout_ms, struct proxyproto_result *,
	    char *err, size_t errsz);

/* One entry of --proxy-from: a network in either family. */
struct proxyproto_net {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned char	addr[16];
	int		prefix;		/* bits */
};

/* proxyproto_net_parse - "192.0.2.1", "10.0.0.0/8", "::1", "fd00::/8"
 * into *net.  0, or -1 with the reason in err. */
int	proxyproto_net_parse(const char *spec, struct proxyproto_net *net,
	    char *err, size_t errsz);

/* proxyproto_allowed - whether sa (an accepted peer) lies in one of the n
 * networks.  An IPv4-mapped IPv6 peer (::ffff:a.b.c.d, from a dual-stack
 * listener) matches IPv4 networks. */
bool	proxyproto_allowed(const struct sockaddr *sa,
	    const struct proxyproto_net *nets, size_t n);

#endif /* SMTPD_PROXYPROTO_H */
