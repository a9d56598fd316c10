/* SPDX-License-Identifier: ISC */
/*
 * proxyproto.c - reading HAProxy's PROXY protocol header (proxyproto.h).
 *
 * Version 1 is one text line, at most 107 bytes with its CRLF:
 *
 *	PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\n
 *	PROXY TCP6 2001:db8::7 2001:db8::1 56324 25\r\n
 *	PROXY UNKNOWN[ anything]\r\n
 *
 * Version 2 is binary: a 12-byte signature, a version/command byte (0x20
 * LOCAL, 0x21 PROXY), a family/transport byte (0x11 TCP over IPv4, 0x21
 * over IPv6, 0x31 UNIX, 0x00 unspecified), a 16-bit big-endian length of
 * what follows, then the addresses (IPv4: source, destination, source
 * port, destination port = 12 bytes; IPv6: 36; UNIX: 216) and optional
 * TLVs (type, 16-bit length, value), which we skip.
 *
 * The header comes before the SMTP client's first byte, and an SMTP
 * client says nothing until it has our greeting; still, the reader takes
 * not one byte more than the header, so that a client (or a test) that
 * talks early loses nothing.  Version 2 says its length up front; for
 * version 1 the reader peeks, and consumes up to the CRLF.
 */
#define _GNU_SOURCE
#include "proxyproto.h"
#include "io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static const unsigned char v2_signature[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};

#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define V2_AF_UNSPEC	0x0
#define V2_AF_INET	0x1
#define V2_AF_INET6	0x2
#define V2_AF_UNIX	0x3
#define V2_TRANS_STREAM	0x1

/* is_prefix - whether the len bytes of buf begin the n bytes of what. */
static bool
is_prefix(const unsigned char *buf, size_t len, const void *what, size_t n)
{
	return memcmp(buf, what, len < n ? len : n) == 0;
}

/* v1_port - a decimal port 0..65535, no sign, no leading zero. */
static int
v1_port(const char *s, size_t len)
{
	int v = 0;

	if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v > 65535 ? -1 : v;
}

/* v1_addr - one address field of family af into ss, with port. */
static int
v1_addr(int af, const char *s, size_t len, int port,
    struct sockaddr_storage *ss)
{
	char tmp[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return inet_pton(AF_INET, tmp, &sin->sin_addr) == 1 ? 0 : -1;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, tmp, &sin6->sin6_addr) == 1 ? 0 : -1;
	}
}

/* parse_v1 - the text header: fields separated by exactly one space. */
static int
parse_v1(const unsigned char *buf, size_t len, struct proxyproto_result *r,
    char *err, size_t errsz)
{
	const char *line = (const char *)buf;
	const char *f[6];
	size_t flen[6], nf = 0, end = 0, i, start;
	bool found = false;
	int af, sport, dport;

	for (i = 0; i < len && i + 1 < PROXYPROTO_V1_MAX; i++) {
		if (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n') {
			found = true;
			break;
		}
		if (buf[i] == '\n' || buf[i] == '\0') {
			snprintf(err, errsz, "PROXY v1 header: bad character");
			return -1;
		}
	}
	if (!found) {
		if (len >= PROXYPROTO_V1_MAX) {
			snprintf(err, errsz, "PROXY v1 header: no CRLF in %d "
			    "bytes", PROXYPROTO_V1_MAX);
			return -1;
		}
		return 0;
	}
	end = i;
	/* Split at single spaces; "PROXY UNKNOWN" ignores what follows. */
	for (start = 0, i = 0; i <= end && nf < 6; i++) {
		if (i == end || line[i] == ' ') {
			f[nf] = line + start;
			flen[nf] = i - start;
			nf++;
			start = i + 1;
			if (nf == 2 && flen[1] == 7 &&
			    memcmp(f[1], "UNKNOWN", 7) == 0)
				break;
		}
	}
	if (nf >= 1 && flen[0] == 5 && memcmp(f[0], "PROXY", 5) == 0 &&
	    nf >= 2 && flen[1] == 7 && memcmp(f[1], "UNKNOWN", 7) == 0) {
		r->version = 1;
		r->has_addr = false;
		r->header_len = end + 2;
		return (int)r->header_len;
	}
	if (nf != 6 || start != end + 1 || flen[0] != 5 ||
	    memcmp(f[0], "PROXY", 5) != 0 || flen[1] != 4) {
		snprintf(err, errsz, "PROXY v1 header: malformed");
		return -1;
	}
	if (memcmp(f[1], "TCP4", 4) == 0)
		af = AF_INET;
	else if (memcmp(f[1], "TCP6", 4) == 0)
		af = AF_INET6;
	else {
		snprintf(err, errsz, "PROXY v1 header: unknown protocol");
		return -1;
	}
	sport = v1_port(f[4], flen[4]);
	dport = v1_port(f[5], flen[5]);
	if (sport < 0 || dport < 0 ||
	    v1_addr(af, f[2], flen[2], sport, &r->src) != 0 ||
	    v1_addr(af, f[3], flen[3], dport, &r->dst) != 0) {
		snprintf(err, errsz, "PROXY v1 header: bad address or port");
		return -1;
	}
	r->version = 1;
	r->has_addr = true;
	r->header_len = end + 2;
	return (int)r->header_len;
}

/* v2_tlvs_fit - whether the TLVs after the addresses tile the rest of the
 * header exactly (we use none of them, but a torn one means a bad header). */
static bool
v2_tlvs_fit(const unsigned char *p, size_t len)
{
	while (len > 0) {
		size_t vlen;

		if (len < 3)
			return false;
		vlen = (size_t)p[1] << 8 | p[2];
		if (3 + vlen > len)
			return false;
		p += 3 + vlen;
		len -= 3 + vlen;
	}
	return true;
}

/* parse_v2 - the binary header. */
static int
parse_v2(const unsigned char *buf, size_t len, struct proxyproto_result *r,
    char *err, size_t errsz)
{
	size_t alen, need;
	int cmd, fam, trans;
	const unsigned char *a;

	if (len < PROXYPROTO_V2_FIXED)
		return 0;
	if ((buf[12] >> 4) != 2) {
		snprintf(err, errsz, "PROXY v2 header: version %d",
		    buf[12] >> 4);
		return -1;
	}
	cmd = buf[12] & 0xF;
	fam = buf[13] >> 4;
	trans = buf[13] & 0xF;
	alen = (size_t)buf[14] << 8 | buf[15];
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY) {
		snprintf(err, errsz, "PROXY v2 header: command %d", cmd);
		return -1;
	}
	if (fam > V2_AF_UNIX || trans > 2) {
		snprintf(err, errsz, "PROXY v2 header: family/transport 0x%02x",
		    buf[13]);
		return -1;
	}
	if (len < PROXYPROTO_V2_FIXED + alen)
		return 0;
	a = buf + PROXYPROTO_V2_FIXED;
	r->version = 2;
	r->has_addr = false;
	r->header_len = PROXYPROTO_V2_FIXED + alen;
	/* LOCAL: the balancer's own connection (a health check); the
	 * addresses, if any, are to be ignored. */
	if (cmd == V2_CMD_LOCAL)
		return (int)r->header_len;
	need = fam == V2_AF_INET ? 12 : fam == V2_AF_INET6 ? 36 :
	    fam == V2_AF_UNIX ? 216 : 0;
	if (alen < need || !v2_tlvs_fit(a + need, alen - need)) {
		snprintf(err, errsz, "PROXY v2 header: address block of %zu "
		    "bytes", alen);
		return -1;
	}
	if ((fam == V2_AF_INET || fam == V2_AF_INET6) &&
	    trans != V2_TRANS_STREAM) {
		snprintf(err, errsz, "PROXY v2 header: not a TCP connection");
		return -1;
	}
	memset(&r->src, 0, sizeof(r->src));
	memset(&r->dst, 0, sizeof(r->dst));
	if (fam == V2_AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&r->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&r->dst;

		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);
		memcpy(&d->sin_port, a + 10, 2);
		r->has_addr = true;
	} else if (fam == V2_AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&r->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&r->dst;

		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
		r->has_addr = true;
	}
	/* AF_UNSPEC and AF_UNIX: nothing we could report as a client
	 * address; the real peer stands. */
	return (int)r->header_len;
}

int
proxyproto_parse(const void *vbuf, size_t len, struct proxyproto_result *r,
    char *err, size_t errsz)
{
	const unsigned char *buf = vbuf;

	if (len == 0)
		return 0;
	if (is_prefix(buf, len, "PROXY ", 6))
		return len < 6 ? 0 : parse_v1(buf, len, r, err, errsz);
	if (is_prefix(buf, len, v2_signature, sizeof(v2_signature)))
		return parse_v2(buf, len, r, err, errsz);
	snprintf(err, errsz, "no PROXY protocol header");
	return -1;
}

/* ---- reading from a socket --------------------------------------------- */

/* wait_readable - poll fd until it has data or the deadline (0 = none)
 * passes.  0, or -1 with the reason in err. */
static int
wait_readable(int fd, long long deadline, char *err, size_t errsz)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		int ms = -1, n;

		if (deadline) {
			long long left = deadline - now_ms();

			if (left <= 0) {
				snprintf(err, errsz, "PROXY header: timed out");
				return -1;
			}
			ms = left > 1000000 ? 1000000 : (int)left;
		}
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR) {
			snprintf(err, errsz, "PROXY header: poll: %s",
			    strerror(errno));
			return -1;
		}
	}
}

/* recv_some - up to len bytes once readable (flags: 0 or MSG_PEEK).
 * The count (> 0), or -1 with the reason in err; end of stream is an
 * error, since a header cut short is one. */
static ssize_t
recv_some(int fd, void *buf, size_t len, int flags, long long deadline,
    char *err, size_t errsz)
{
	for (;;) {
		ssize_t n;

		if (wait_readable(fd, deadline, err, errsz) != 0)
			return -1;
		n = recv(fd, buf, len, flags | MSG_DONTWAIT);
		if (n > 0)
			return n;
		if (n == 0) {
			snprintf(err, errsz, "PROXY header: connection closed "
			    "in the header");
			return -1;
		}
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
			snprintf(err, errsz, "PROXY header: %s",
			    strerror(errno));
			return -1;
		}
	}
}

/* recv_exact - exactly len bytes. */
static int
recv_exact(int fd, void *buf, size_t len, long long deadline, char *err,
    size_t errsz)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = recv_some(fd, p, len, 0, deadline, err, errsz);

		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* read_v1 - the rest of a text header, after its first `have` bytes:
 * peek, then consume up to the CRLF if it is there, else all that was
 * peeked (all of it is header, the CRLF being still to come). */
static int
read_v1(int fd, unsigned char *buf, size_t have, long long deadline,
    struct proxyproto_result *r, char *err, size_t errsz)
{
	for (;;) {
		int rc = proxyproto_parse(buf, have, r, err, errsz);
		size_t take, i;
		ssize_t n;

		if (rc != 0)
			return rc > 0 ? 0 : -1;
		n = recv_some(fd, buf + have, PROXYPROTO_V1_MAX - have,
		    MSG_PEEK, deadline, err, errsz);
		if (n < 0)
			return -1;
		take = (size_t)n;
		for (i = have ? have - 1 : 0; i + 1 < have + (size_t)n; i++)
			if (buf[i] == '\r' && buf[i + 1] == '\n') {
				take = i + 2 - have;
				break;
			}
		if (recv_exact(fd, buf + have, take, deadline, err, errsz) != 0)
			return -1;
		have += take;
	}
}

int
proxyproto_read(int fd, int timeout_ms, struct proxyproto_result *r,
    char *err, size_t errsz)
{
	/* Both kinds are at least 15 bytes ("PROXY UNKNOWN\r\n"): the first
	 * 8 are header whichever it is, and tell which. */
	unsigned char buf[PROXYPROTO_V1_MAX + 1];
	unsigned char *whole;
	long long deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	size_t alen;
	int rc;

	memset(r, 0, sizeof(*r));
	if (recv_exact(fd, buf, 8, deadline, err, errsz) != 0)
		return -1;
	if (memcmp(buf, "PROXY ", 6) == 0)
		return read_v1(fd, buf, 8, deadline, r, err, errsz);
	if (memcmp(buf, v2_signature, 8) != 0) {
		snprintf(err, errsz, "no PROXY protocol header");
		return -1;
	}
	if (recv_exact(fd, buf + 8, PROXYPROTO_V2_FIXED - 8, deadline, err,
	    errsz) != 0)
		return -1;
	if (proxyproto_parse(buf, PROXYPROTO_V2_FIXED, r, err, errsz) < 0)
		return -1;
	alen = (size_t)buf[14] << 8 | buf[15];
	whole = malloc(PROXYPROTO_V2_FIXED + alen);
	if (whole == NULL) {
		snprintf(err, errsz, "PROXY header: out of memory");
		return -1;
	}
	memcpy(whole, buf, PROXYPROTO_V2_FIXED);
	rc = recv_exact(fd, whole + PROXYPROTO_V2_FIXED, alen, deadline, err,
	    errsz);
	if (rc == 0)
		rc = proxyproto_parse(whole, PROXYPROTO_V2_FIXED + alen, r,
		    err, errsz) > 0 ? 0 : -1;
	free(whole);
	return rc;
}

/* ---- who may send one ---------------------------------------------------- */

int
proxyproto_net_parse(const char *spec, struct proxyproto_net *net,
    char *err, size_t errsz)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(spec, '/');
	size_t alen = slash ? (size_t)(slash - spec) : strlen(spec);
	int max;

	memset(net, 0, sizeof(*net));
	if (alen == 0 || alen >= INET6_ADDRSTRLEN)
		goto bad;
	memcpy(tmp, spec, alen);
	tmp[alen] = '\0';
	if (inet_pton(AF_INET, tmp, net->addr) == 1) {
		net->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, tmp, net->addr) == 1) {
		net->family = AF_INET6;
		max = 128;
	} else
		goto bad;
	net->prefix = max;
	if (slash) {
		char *end;
		long v;

		errno = 0;
		v = strtol(slash + 1, &end, 10);
		if (slash[1] < '0' || slash[1] > '9' || *end != '\0' ||
		    errno || v < 0 || v > max)
			goto bad;
		net->prefix = (int)v;
	}
	return 0;
bad:
	snprintf(err, errsz, "bad network \"%s\" (ADDR or ADDR/PREFIX, IPv4 or "
	    "IPv6)", spec);
	return -1;
}

/* prefix_match - the first bits bits of a and b are the same. */
static bool
prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (0xFF << (8 - rest)) & 0xFF) == 0;
}

bool
proxyproto_allowed(const struct sockaddr *sa,
    const struct proxyproto_net *nets, size_t n)
{
	const unsigned char *addr;
	int family;

	if (sa->sa_family == AF_INET) {
		family = AF_INET;
		addr = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			family = AF_INET;
			addr = a6->s6_addr + 12;
		} else {
			family = AF_INET6;
			addr = a6->s6_addr;
		}
	} else
		return false;
	for (size_t i = 0; i < n; i++)
		if (nets[i].family == family &&
		    prefix_match(addr, nets[i].addr, nets[i].prefix))
			return true;
	return false;
}
