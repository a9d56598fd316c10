/* SPDX-License-Identifier: ISC */
/*
 * test_proxyproto.c - the PROXY protocol reader (proxyproto.h): the
 * specification's examples, every truncation of them, bad signatures and
 * fields, v2 TLVs skipped, LOCAL; then reading from a real socket pair
 * (nothing read past the header, a cut-short header, a deadline), and the
 * --proxy-from allow-list.
 */
#define _GNU_SOURCE
#include "suite.h"
#include "proxyproto.h"

#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int	unit_add_proxyproto_tests(void);

static char err[256];

/* src_ip - the parsed source address as text, and its port. */
static const char *
src_ip(const struct proxyproto_result *r, int *port)
{
	static char buf[INET6_ADDRSTRLEN];

	if (r->src.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)&r->src;

		inet_ntop(AF_INET, &s->sin_addr, buf, sizeof(buf));
		*port = ntohs(s->sin_port);
	} else if (r->src.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)&r->src;

		inet_ntop(AF_INET6, &s->sin6_addr, buf, sizeof(buf));
		*port = ntohs(s->sin6_port);
	} else {
		snprintf(buf, sizeof(buf), "none");
		*port = -1;
	}
	return buf;
}

/* parse - proxyproto_parse on len bytes of s. */
static int
parse(const void *s, size_t len, struct proxyproto_result *r)
{
	memset(r, 0, sizeof(*r));
	return proxyproto_parse(s, len, r, err, sizeof(err));
}

/* every_prefix_wants_more - each proper prefix of a valid header is "0:
 * more, please", never an error and never done. */
static void
every_prefix_wants_more(const void *h, size_t len)
{
	struct proxyproto_result r;

	for (size_t i = 0; i < len; i++)
		CU_ASSERT_EQUAL(parse(h, i, &r), 0);
}

static const unsigned char v2_sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};

/* v2 - build a v2 header: ver/cmd, fam/trans, then body of blen bytes. */
static size_t
v2(unsigned char *out, int vc, int ft, const void *body, size_t blen)
{
	memcpy(out, v2_sig, 12);
	out[12] = (unsigned char)vc;
	out[13] = (unsigned char)ft;
	out[14] = (unsigned char)(blen >> 8);
	out[15] = (unsigned char)blen;
	memcpy(out + 16, body, blen);
	return 16 + blen;
}

static const unsigned char v4_body[12] = {
	192, 0, 2, 7,  198, 51, 100, 1,  0xDC, 0x04,  0x00, 0x19
};

static void
test_v1_tcp4_names_the_client(void)
{
	const char *h = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\n";
	struct proxyproto_result r;
	int port;

	CU_ASSERT_EQUAL(parse(h, strlen(h), &r), (int)strlen(h));
	CU_ASSERT_EQUAL(r.version, 1);
	CU_ASSERT_TRUE(r.has_addr);
	CU_ASSERT_STRING_EQUAL(src_ip(&r, &port), "192.0.2.7");
	CU_ASSERT_EQUAL(port, 56324);
	every_prefix_wants_more(h, strlen(h));
}

static void
test_v1_tcp6_names_the_client(void)
{
	const char *h = "PROXY TCP6 2001:db8::7 2001:db8::1 4242 25\r\nEHLO x\r\n";
	struct proxyproto_result r;
	int port;

	CU_ASSERT_EQUAL(parse(h, strlen(h), &r), 44);
	CU_ASSERT_STRING_EQUAL(src_ip(&r, &port), "2001:db8::7");
	CU_ASSERT_EQUAL(port, 4242);
}

static void
test_v1_longest_header_is_107_bytes(void)
{
	const char *h = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	char longer[200];
	struct proxyproto_result r;

	CU_ASSERT_EQUAL(strlen(h), 104);
	CU_ASSERT_EQUAL(parse(h, strlen(h), &r), 104);
	/* UNKNOWN may carry anything up to the limit, and no more. */
	memset(longer, 'x', sizeof(longer));
	memcpy(longer, "PROXY UNKNOWN ", 14);
	memcpy(longer + 105, "\r\n", 2);
	CU_ASSERT_EQUAL(parse(longer, 107, &r), 107);
	CU_ASSERT_FALSE(r.has_addr);
	memcpy(longer + 105, "xx\r\n", 4);
	CU_ASSERT_EQUAL(parse(longer, 109, &r), -1);
	CU_ASSERT_EQUAL(parse(longer, 107, &r), -1);
}

static void
test_v1_unknown_keeps_the_real_peer(void)
{
	struct proxyproto_result r;

	CU_ASSERT_EQUAL(parse("PROXY UNKNOWN\r\n", 15, &r), 15);
	CU_ASSERT_FALSE(r.has_addr);
	CU_ASSERT_EQUAL(parse("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", 35, &r),
	    35);
	CU_ASSERT_FALSE(r.has_addr);
}

static void
test_v1_malformed_is_refused(void)
{
	static const char *const bad[] = {
		"PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 56324 25 9\r\n",
		"PROXY TCP4  192.0.2.7 198.51.100.1 56324 25\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 56324 25 \r\n",
		"PROXY TCP4 2001:db8::7 198.51.100.1 56324 25\r\n",
		"PROXY TCP6 192.0.2.7 2001:db8::1 56324 25\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 65536 25\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 0123 25\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 -1 25\r\n",
		"PROXY TCP4 192.0.2.256 198.51.100.1 1 25\r\n",
		"PROXY UDP4 192.0.2.7 198.51.100.1 1 25\r\n",
		"PROXY TCP4 192.0.2.7 198.51.100.1 1 25\n",
		"proxy TCP4 192.0.2.7 198.51.100.1 1 25\r\n",
		"PROXY\r\n",
		"EHLO client.example\r\n",
		"GET / HTTP/1.0\r\n",
	};
	struct proxyproto_result r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i], strlen(bad[i]), &r);

		if (rc != -1)
			fprintf(stderr, "accepted: %s", bad[i]);
		CU_ASSERT_EQUAL(rc, -1);
	}
}

static void
test_v1_without_crlf_in_107_bytes_is_refused(void)
{
	char h[120];
	struct proxyproto_result r;

	memset(h, '1', sizeof(h));
	memcpy(h, "PROXY TCP4 ", 11);
	CU_ASSERT_EQUAL(parse(h, 106, &r), 0);
	CU_ASSERT_EQUAL(parse(h, 107, &r), -1);
}

static void
test_v2_tcp4_names_the_client(void)
{
	unsigned char h[64];
	size_t n = v2(h, 0x21, 0x11, v4_body, sizeof(v4_body));
	struct proxyproto_result r;
	int port;

	CU_ASSERT_EQUAL(parse(h, n, &r), 28);
	CU_ASSERT_EQUAL(r.version, 2);
	CU_ASSERT_TRUE(r.has_addr);
	CU_ASSERT_STRING_EQUAL(src_ip(&r, &port), "192.0.2.7");
	CU_ASSERT_EQUAL(port, 56324);
	every_prefix_wants_more(h, n);
}

static void
test_v2_tcp6_names_the_client(void)
{
	unsigned char body[36] = { 0x20, 0x01, 0x0d, 0xb8 }, h[64];
	size_t n;
	struct proxyproto_result r;
	int port;

	body[15] = 7;
	body[16] = 0x20;
	body[17] = 0x01;
	body[31] = 1;
	body[32] = 0x10;
	body[33] = 0x92;
	body[35] = 25;
	n = v2(h, 0x21, 0x21, body, sizeof(body));
	CU_ASSERT_EQUAL(parse(h, n, &r), 52);
	CU_ASSERT_STRING_EQUAL(src_ip(&r, &port), "2001:db8::7");
	CU_ASSERT_EQUAL(port, 4242);
	every_prefix_wants_more(h, n);
}

static void
test_v2_tlvs_are_skipped(void)
{
	/* PP2_TYPE_ALPN "smtp", then a NOOP of 3 bytes, then an empty one. */
	unsigned char body[12 + 7 + 6 + 3], h[80];
	struct proxyproto_result r;
	size_t n;
	int port;

	memcpy(body, v4_body, 12);
	memcpy(body + 12, "\x01\x00\x04smtp", 7);
	memcpy(body + 19, "\x04\x00\x03\x00\x00\x00", 6);
	memcpy(body + 25, "\x04\x00\x00", 3);
	n = v2(h, 0x21, 0x11, body, sizeof(body));
	CU_ASSERT_EQUAL(parse(h, n, &r), (int)n);
	CU_ASSERT_STRING_EQUAL(src_ip(&r, &port), "192.0.2.7");
	/* A TLV longer than what is left is a torn header. */
	body[14] = 9;
	n = v2(h, 0x21, 0x11, body, 12 + 7);
	CU_ASSERT_EQUAL(parse(h, n, &r), -1);
}

static void
test_v2_local_keeps_the_real_peer(void)
{
	unsigned char h[64];
	struct proxyproto_result r;
	size_t n;

	n = v2(h, 0x20, 0x00, "", 0);
	CU_ASSERT_EQUAL(parse(h, n, &r), 16);
	CU_ASSERT_FALSE(r.has_addr);
	/* LOCAL with addresses: they are ignored. */
	n = v2(h, 0x20, 0x11, v4_body, sizeof(v4_body));
	CU_ASSERT_EQUAL(parse(h, n, &r), 28);
	CU_ASSERT_FALSE(r.has_addr);
	/* PROXY over AF_UNSPEC or AF_UNIX: nothing to report either. */
	n = v2(h, 0x21, 0x00, "", 0);
	CU_ASSERT_EQUAL(parse(h, n, &r), 16);
	CU_ASSERT_FALSE(r.has_addr);
}

static void
test_v2_bad_headers_are_refused(void)
{
	unsigned char h[64];
	struct proxyproto_result r;
	size_t n;

	n = v2(h, 0x21, 0x11, v4_body, sizeof(v4_body));
	h[11] = 0x0B;				/* signature */
	CU_ASSERT_EQUAL(parse(h, n, &r), -1);
	CU_ASSERT_EQUAL(parse(h, 12, &r), -1);
	n = v2(h, 0x11, 0x11, v4_body, sizeof(v4_body));	/* version 1 */
	CU_ASSERT_EQUAL(parse(h, n, &r), -1);
	n = v2(h, 0x22, 0x11, v4_body, sizeof(v4_body));	/* command 2 */
	CU_ASSERT_EQUAL(parse(h, n, &r), -1);
	n = v2(h, 0x21, 0x41, v4_body, sizeof(v4_body));	/* family 4 */
	CU_ASSERT_EQUAL(parse(h, n, &r), -1);
	n = v2(h, 0x21, 0x12, v4_body, sizeof(v4_body));	/* UDP */
	CU_ASSERT_EQUAL(parse(h, n, &r), -1);
	n = v2(h, 0x21, 0x11, v4_body, 11);		/* short block */
	CU_ASSERT_EQUAL(parse(h, n, &r), -1);
	n = v2(h, 0x21, 0x21, v4_body, 12);		/* IPv6 in 12 */
	CU_ASSERT_EQUAL(parse(h, n, &r), -1);
}

/* ---- over a socket ------------------------------------------------------ */

static void
test_read_takes_the_header_and_not_a_byte_more(void)
{
	const char *v1 = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\nEHLO x\r\n";
	unsigned char h[64], rest[16];
	struct proxyproto_result r;
	int sv[2], port;
	size_t n;

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CU_ASSERT(write(sv[1], v1, strlen(v1)) == (ssize_t)strlen(v1));
	CU_ASSERT_EQUAL(proxyproto_read(sv[0], 2000, &r, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(src_ip(&r, &port), "192.0.2.7");
	CU_ASSERT_EQUAL(read(sv[0], rest, sizeof(rest)), 8);
	CU_ASSERT_EQUAL(memcmp(rest, "EHLO x\r\n", 8), 0);

	n = v2(h, 0x21, 0x11, v4_body, sizeof(v4_body));
	memcpy(h + n, "QUIT\r\n", 6);
	CU_ASSERT(write(sv[1], h, n + 6) == (ssize_t)(n + 6));
	CU_ASSERT_EQUAL(proxyproto_read(sv[0], 2000, &r, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(r.version, 2);
	CU_ASSERT_EQUAL(read(sv[0], rest, sizeof(rest)), 6);
	close(sv[0]);
	close(sv[1]);
}

/* one_byte_at_a_time - a writer thread's work: the header in 1-byte
 * segments, a few milliseconds apart. */
struct dribble {
	int		 fd;
	const char	*p;
	size_t		 len;
};

#include <pthread.h>

static void *
dribble(void *arg)
{
	struct dribble *d = arg;
	struct timespec ts = { 0, 2 * 1000 * 1000 };

	for (size_t i = 0; i < d->len; i++) {
		if (write(d->fd, d->p + i, 1) != 1)
			break;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void
test_read_a_header_sent_byte_by_byte(void)
{
	const char *v1 = "PROXY TCP6 2001:db8::7 2001:db8::1 4242 25\r\nQUIT\r\n";
	struct dribble d;
	struct proxyproto_result r;
	pthread_t t;
	char rest[16];
	int sv[2], port;

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	d.fd = sv[1];
	d.p = v1;
	d.len = strlen(v1);
	CU_ASSERT_FATAL(pthread_create(&t, NULL, dribble, &d) == 0);
	CU_ASSERT_EQUAL(proxyproto_read(sv[0], 5000, &r, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(src_ip(&r, &port), "2001:db8::7");
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(read(sv[0], rest, sizeof(rest)), 6);
	close(sv[0]);
	close(sv[1]);
}

static void
test_read_refuses_a_cut_short_header(void)
{
	unsigned char h[64];
	struct proxyproto_result r;
	int sv[2];
	size_t n = v2(h, 0x21, 0x11, v4_body, sizeof(v4_body));

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CU_ASSERT(write(sv[1], h, n - 3) == (ssize_t)(n - 3));
	close(sv[1]);
	CU_ASSERT_EQUAL(proxyproto_read(sv[0], 2000, &r, err, sizeof(err)),
	    -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "closed"));
	close(sv[0]);
}

static void
test_read_gives_up_at_the_deadline(void)
{
	struct proxyproto_result r;
	struct timespec a, b;
	int sv[2];
	long ms;

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CU_ASSERT(write(sv[1], "PROXY TCP4 1", 12) == 12);
	clock_gettime(CLOCK_MONOTONIC, &a);
	CU_ASSERT_EQUAL(proxyproto_read(sv[0], 300, &r, err, sizeof(err)), -1);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	CU_ASSERT(ms >= 250 && ms < 3000);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "timed out"));
	close(sv[0]);
	close(sv[1]);
}

static void
test_read_refuses_smtp_without_a_header(void)
{
	struct proxyproto_result r;
	int sv[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CU_ASSERT(write(sv[1], "EHLO client.example\r\n", 21) == 21);
	CU_ASSERT_EQUAL(proxyproto_read(sv[0], 2000, &r, err, sizeof(err)),
	    -1);
	close(sv[0]);
	close(sv[1]);
}

/* ---- --proxy-from -------------------------------------------------------- */

/* peer4 / peer6 - a sockaddr for a textual address. */
static const struct sockaddr *
peer(const char *ip)
{
	static struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s = (void *)&ss;

		s->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &s->sin6_addr);
	} else {
		struct sockaddr_in *s = (void *)&ss;

		s->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &s->sin_addr);
	}
	return (const struct sockaddr *)&ss;
}

static void
test_allow_list_matches_cidr_in_both_families(void)
{
	struct proxyproto_net nets[3];

	CU_ASSERT_EQUAL(proxyproto_net_parse("10.1.0.0/16", &nets[0], err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(proxyproto_net_parse("127.0.0.1", &nets[1], err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(proxyproto_net_parse("fd00:1::/33", &nets[2], err,
	    sizeof(err)), 0);
	CU_ASSERT_TRUE(proxyproto_allowed(peer("10.1.255.3"), nets, 3));
	CU_ASSERT_FALSE(proxyproto_allowed(peer("10.2.0.1"), nets, 3));
	CU_ASSERT_TRUE(proxyproto_allowed(peer("127.0.0.1"), nets, 3));
	CU_ASSERT_FALSE(proxyproto_allowed(peer("127.0.0.2"), nets, 3));
	CU_ASSERT_TRUE(proxyproto_allowed(peer("::ffff:127.0.0.1"), nets, 3));
	CU_ASSERT_TRUE(proxyproto_allowed(peer("fd00:1:7fff::9"), nets, 3));
	CU_ASSERT_FALSE(proxyproto_allowed(peer("fd00:1:8000::9"), nets, 3));
	CU_ASSERT_FALSE(proxyproto_allowed(peer("::1"), nets, 3));
	CU_ASSERT_EQUAL(proxyproto_net_parse("0.0.0.0/0", &nets[0], err,
	    sizeof(err)), 0);
	CU_ASSERT_TRUE(proxyproto_allowed(peer("203.0.113.9"), nets, 1));
}

static void
test_allow_list_refuses_bad_networks(void)
{
	static const char *const bad[] = {
		"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1",
		"10.0.0.0/8x", "example.org", "10.0.0/8", "/8",
	};
	struct proxyproto_net net;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(proxyproto_net_parse(bad[i], &net, err,
		    sizeof(err)), -1);
}

int
unit_add_proxyproto_tests(void)
{
	static const struct unit_test tests[] = {
		{ "v1 TCP4 names the client", test_v1_tcp4_names_the_client },
		{ "v1 TCP6 names the client", test_v1_tcp6_names_the_client },
		{ "v1 longest header is 107 bytes",
		    test_v1_longest_header_is_107_bytes },
		{ "v1 UNKNOWN keeps the real peer",
		    test_v1_unknown_keeps_the_real_peer },
		{ "v1 malformed is refused", test_v1_malformed_is_refused },
		{ "v1 without CRLF in 107 bytes is refused",
		    test_v1_without_crlf_in_107_bytes_is_refused },
		{ "v2 TCP4 names the client", test_v2_tcp4_names_the_client },
		{ "v2 TCP6 names the client", test_v2_tcp6_names_the_client },
		{ "v2 TLVs are skipped", test_v2_tlvs_are_skipped },
		{ "v2 LOCAL keeps the real peer",
		    test_v2_local_keeps_the_real_peer },
		{ "v2 bad headers are refused", test_v2_bad_headers_are_refused },
		{ "read takes the header and not a byte more",
		    test_read_takes_the_header_and_not_a_byte_more },
		{ "read a header sent byte by byte",
		    test_read_a_header_sent_byte_by_byte },
		{ "read refuses a cut-short header",
		    test_read_refuses_a_cut_short_header },
		{ "read gives up at the deadline",
		    test_read_gives_up_at_the_deadline },
		{ "read refuses SMTP without a header",
		    test_read_refuses_smtp_without_a_header },
		{ "allow-list matches CIDR in both families",
		    test_allow_list_matches_cidr_in_both_families },
		{ "allow-list refuses bad networks",
		    test_allow_list_refuses_bad_networks },
	};

	return unit_add_suite("proxyproto", tests,
	    sizeof(tests) / sizeof(tests[0]));
}
