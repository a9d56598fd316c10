/* SPDX-License-Identifier: ISC */
/*
 * tls.c - TLS sessions over a socket with OpenSSL 3 (tls.h).
 *
 * The only file that includes OpenSSL.  Built without SMTPD_TLS (make
 * TLS=no), it is a few stubs that say so, and the rest of the server
 * builds and runs without OpenSSL.
 */
#include "compat.h"
#include "tls.h"
#include "server_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifndef SMTPD_TLS

static const char no_tls[] = "built without TLS support";

bool
tls_available(void)
{
	return false;
}

struct tls_server *
tls_server_new(const char *cert, const char *key, bool self_signed,
    const char *host, char *err, size_t errsz)
{
	(void)cert, (void)key, (void)self_signed, (void)host;
	snprintf(err, errsz, "%s", no_tls);
	return NULL;
}

const char *
tls_server_fingerprint(const struct tls_server *ts)
{
	(void)ts;
	return "";
}

const char *
tls_server_certificate_pem(const struct tls_server *ts)
{
	(void)ts;
	return NULL;
}

void
tls_server_free(struct tls_server *ts)
{
	(void)ts;
}

struct tls_session *
tls_accept(struct tls_server *ts, int fd, int timeout_ms, char *err,
    size_t errsz)
{
	(void)ts, (void)fd, (void)timeout_ms;
	snprintf(err, errsz, "%s", no_tls);
	return NULL;
}

struct tls_session *
tls_connect(int fd, const char *host, bool verify, int timeout_ms,
    char *err, size_t errsz)
{
	(void)fd, (void)host, (void)verify, (void)timeout_ms;
	snprintf(err, errsz, "%s", no_tls);
	return NULL;
}

ssize_t
tls_read(void *s, void *buf, size_t len, bool wait)
{
	(void)s, (void)buf, (void)len, (void)wait;
	errno = ENOTSUP;
	return -1;
}

ssize_t
tls_write(void *s, const void *buf, size_t len)
{
	(void)s, (void)buf, (void)len;
	errno = ENOTSUP;
	return -1;
}

const char *
tls_protocol(const struct tls_session *s)
{
	(void)s;
	return NULL;
}

const char *
tls_cipher(const struct tls_session *s)
{
	(void)s;
	return NULL;
}

void
tls_close(struct tls_session *s)
{
	(void)s;
}

bool
tls_hmac_md5(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char out[16])
{
	(void)key, (void)keylen, (void)data, (void)len, (void)out;
	return false;
}

#else /* SMTPD_TLS */

#include "io.h"

#include <arpa/inet.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct tls_server {
	SSL_CTX		*ctx;
	BIO_METHOD	*bio_method;
	char		 fingerprint[32 * 3];
	char		*pem;		/* the certificate, PEM */
};

struct tls_session {
	SSL		*ssl;
	SSL_CTX		*own_ctx;	/* a client's, freed with it */
	BIO_METHOD	*own_method;	/* likewise */
	int		 fd;
	int		 timeout_ms;	/* each wait; 0: none */
};

bool
tls_available(void)
{
	return true;
}

/* tls_error - OpenSSL's first queued error, after what, into err. */
static void
tls_error(char *err, size_t errsz, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e == 0) {
		snprintf(err, errsz, "%s", what);
		return;
	}
	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errsz, "%s: %s", what, buf);
	ERR_clear_error();
}

/* ---- our BIO: a socket read and written without blocking ------------ */

/*
 * OpenSSL's socket BIO uses write(2), which raises SIGPIPE when the peer
 * has gone, and blocks as the socket does.  Ours never blocks: a would-
 * block becomes a retry, and the caller polls with its own deadline.
 */
static int
bio_fd(BIO *b)
{
	return (int)(intptr_t)BIO_get_data(b);
}

static int
bio_sock_write(BIO *b, const char *buf, int len)
{
	ssize_t n;

	BIO_clear_retry_flags(b);
	do
		n = compat_send(bio_fd(b), buf, (size_t)len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_write(b);
	return (int)n;
}

static int
bio_sock_read(BIO *b, char *buf, int len)
{
	ssize_t n;

	BIO_clear_retry_flags(b);
	do
		n = recv(bio_fd(b), buf, (size_t)len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_read(b);
	return (int)n;
}

static long
bio_sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b, (void)num, (void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int
bio_sock_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *
bio_method_new(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "smtpd socket");

	if (m == NULL)
		return NULL;
	BIO_meth_set_write(m, bio_sock_write);
	BIO_meth_set_read(m, bio_sock_read);
	BIO_meth_set_ctrl(m, bio_sock_ctrl);
	BIO_meth_set_create(m, bio_sock_create);
	return m;
}

/* ---- waiting ---------------------------------------------------------- */

/*
 * tls_wait - after SSL_ERROR_WANT_READ/WRITE, wait for the socket until
 * deadline (ms on the monotonic clock, 0: none).  0 when ready, -1 with
 * errno EAGAIN on timeout.
 */
static int
tls_wait(int fd, int sslerr, long long deadline)
{
	struct pollfd p = { .fd = fd };
	int left = -1, n;

	p.events = sslerr == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
	for (;;) {
		if (deadline) {
			long long d = deadline - now_ms();

			if (d <= 0) {
				errno = EAGAIN;
				return -1;
			}
			left = d > INT_MAX ? INT_MAX : (int)d;
		}
		n = poll(&p, 1, left);
		if (n > 0)
			return 0;
		if (n == 0) {
			errno = EAGAIN;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

static long long
deadline_of(int timeout_ms)
{
	return timeout_ms > 0 ? now_ms() + timeout_ms : 0;
}

/* tls_handshake - SSL_accept or SSL_connect until done or the deadline. */
static bool
tls_handshake(struct tls_session *s, bool server, char *err, size_t errsz)
{
	long long deadline = deadline_of(s->timeout_ms);

	for (;;) {
		int r, e;

		ERR_clear_error();
		r = server ? SSL_accept(s->ssl) : SSL_connect(s->ssl);
		if (r == 1)
			return true;
		e = SSL_get_error(s->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (tls_wait(s->fd, e, deadline) == 0)
				continue;
			snprintf(err, errsz, "TLS handshake: %s",
			    errno == EAGAIN ? "timed out" : strerror(errno));
			return false;
		}
		if (e == SSL_ERROR_SSL && !server &&
		    SSL_get_verify_result(s->ssl) != X509_V_OK) {
			snprintf(err, errsz, "TLS certificate verification: %s",
			    X509_verify_cert_error_string(
			    SSL_get_verify_result(s->ssl)));
			ERR_clear_error();
			return false;
		}
		if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
			snprintf(err, errsz, "TLS handshake: %s",
			    r == 0 || errno == 0 ? "connection closed" :
			    strerror(errno));
			return false;
		}
		tls_error(err, errsz, "TLS handshake");
		return false;
	}
}

/* session_new - an SSL on fd through method. */
static struct tls_session *
session_new(SSL_CTX *ctx, BIO_METHOD *method, int fd, int timeout_ms,
    char *err, size_t errsz)
{
	struct tls_session *s;
	BIO *bio;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	s->fd = fd;
	s->timeout_ms = timeout_ms;
	if ((s->ssl = SSL_new(ctx)) == NULL ||
	    (bio = BIO_new(method)) == NULL) {
		tls_error(err, errsz, "SSL_new");
		SSL_free(s->ssl);
		free(s);
		return NULL;
	}
	BIO_set_data(bio, (void *)(intptr_t)fd);
	SSL_set_bio(s->ssl, bio, bio);
	return s;
}

/* ---- the server ------------------------------------------------------- */

/* self_signed_cert - a throwaway EC P-256 key and a year's certificate
 * for host, into ctx. */
static bool
self_signed_cert(SSL_CTX *ctx, const char *host, char *err, size_t errsz)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	X509_EXTENSION *ext = NULL;
	X509V3_CTX v3;
	unsigned char serial[16];
	char san[300];
	BIGNUM *bn = NULL;
	bool ok = false;

	if (key == NULL || x == NULL)
		goto out;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;		/* a positive serial number */
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto out;
	X509_set_version(x, 2);
	/* An hour back: a client whose clock is a little behind accepts it. */
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)host, -1, -1, 0);
	X509_set_issuer_name(x, name);
	/* Clients check the subjectAltName, not the CN (RFC 6125).  The
	 * loopback names too: a test's client, given this certificate to
	 * trust (--tls-self-signed-out), connects to localhost. */
	snprintf(san, sizeof(san), "DNS:%s%s", host, strcmp(host, "localhost") ?
	    ",DNS:localhost,IP:127.0.0.1,IP:::1" : ",IP:127.0.0.1,IP:::1");
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
	    san)) == NULL || !X509_add_ext(x, ext, -1))
		goto out;
	if (X509_sign(x, key, EVP_sha256()) == 0)
		goto out;
	ok = SSL_CTX_use_certificate(ctx, x) == 1 &&
	    SSL_CTX_use_PrivateKey(ctx, key) == 1;
out:
	if (!ok)
		tls_error(err, errsz, "cannot make a self-signed certificate");
	X509_EXTENSION_free(ext);
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(key);
	return ok;
}

/* certificate_pem - x as PEM text, malloc'ed; NULL on failure. */
static char *
certificate_pem(X509 *x)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *data, *pem = NULL;
	long len;

	if (mem != NULL && x != NULL && PEM_write_bio_X509(mem, x) == 1 &&
	    (len = BIO_get_mem_data(mem, &data)) > 0 &&
	    (pem = malloc((size_t)len + 1)) != NULL) {
		memcpy(pem, data, (size_t)len);
		pem[len] = '\0';
	}
	BIO_free(mem);
	return pem;
}

struct tls_server *
tls_server_new(const char *cert, const char *key, bool self_signed,
    const char *host, char *err, size_t errsz)
{
	struct tls_server *ts;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	X509 *x;

	if ((ts = calloc(1, sizeof(*ts))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	ERR_clear_error();
	if ((ts->ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    (ts->bio_method = bio_method_new()) == NULL) {
		tls_error(err, errsz, "SSL_CTX_new");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(ts->ctx, TLS1_2_VERSION);
	/* A client that closes without close_notify has ended its input, as
	 * a plaintext client's FIN does: OpenSSL 3 would call it an error. */
	SSL_CTX_set_options(ts->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* An idle session keeps no 34 KB of read and write buffers. */
	SSL_CTX_set_mode(ts->ctx, SSL_MODE_RELEASE_BUFFERS);
	/* No session cache: a test server sees each client once or twice,
	 * and a cache would be state shared between threads for nothing. */
	SSL_CTX_set_session_cache_mode(ts->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ts->ctx, 0);
	if (self_signed) {
		if (!self_signed_cert(ts->ctx, host, err, errsz))
			goto fail;
	} else {
		if (SSL_CTX_use_certificate_chain_file(ts->ctx, cert) != 1) {
			char what[300];

			snprintf(what, sizeof(what), "cannot read %s", cert);
			tls_error(err, errsz, what);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ts->ctx, key,
		    SSL_FILETYPE_PEM) != 1) {
			char what[300];

			snprintf(what, sizeof(what), "cannot read %s", key);
			tls_error(err, errsz, what);
			goto fail;
		}
		if (SSL_CTX_check_private_key(ts->ctx) != 1) {
			tls_error(err, errsz, "the key does not match the "
			    "certificate");
			goto fail;
		}
	}
	if ((x = SSL_CTX_get0_certificate(ts->ctx)) != NULL &&
	    X509_digest(x, EVP_sha256(), md, &mdlen) == 1) {
		size_t at = 0;

		for (unsigned i = 0; i < mdlen; i++)
			at += (size_t)snprintf(ts->fingerprint + at,
			    sizeof(ts->fingerprint) - at, "%s%02X",
			    i ? ":" : "", md[i]);
	}
	if ((ts->pem = certificate_pem(x)) == NULL) {
		tls_error(err, errsz, "cannot write the certificate as PEM");
		goto fail;
	}
	return ts;
fail:
	tls_server_free(ts);
	return NULL;
}

const char *
tls_server_fingerprint(const struct tls_server *ts)
{
	return ts->fingerprint;
}

void
tls_server_free(struct tls_server *ts)
{
	if (ts == NULL)
		return;
	SSL_CTX_free(ts->ctx);
	BIO_meth_free(ts->bio_method);
	free(ts->pem);
	free(ts);
}

const char *
tls_server_certificate_pem(const struct tls_server *ts)
{
	return ts->pem;
}

struct tls_session *
tls_accept(struct tls_server *ts, int fd, int timeout_ms, char *err,
    size_t errsz)
{
	struct tls_session *s = session_new(ts->ctx, ts->bio_method, fd,
	    timeout_ms, err, errsz);

	if (s == NULL)
		return NULL;
	if (!tls_handshake(s, true, err, errsz)) {
		SSL_free(s->ssl);
		free(s);
		return NULL;
	}
	return s;
}

/* ---- the client ------------------------------------------------------- */

struct tls_session *
tls_connect(int fd, const char *host, bool verify, int timeout_ms,
    char *err, size_t errsz)
{
	struct tls_session *s = NULL;
	BIO_METHOD *method = NULL;
	SSL_CTX *ctx;
	unsigned char ip[16];
	bool is_ip;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    (method = bio_method_new()) == NULL) {
		tls_error(err, errsz, "SSL_CTX_new");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			tls_error(err, errsz, "cannot load the system's CAs");
			goto fail;
		}
	}
	if ((s = session_new(ctx, method, fd, timeout_ms, err, errsz)) == NULL)
		goto fail;
	s->own_ctx = ctx;
	s->own_method = method;
	is_ip = inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1;
	/* SNI takes a host name, never an address (RFC 6066 section 3). */
	if (!is_ip)
		SSL_set_tlsext_host_name(s->ssl, host);
	if (verify) {
		X509_VERIFY_PARAM *p = SSL_get0_param(s->ssl);

		if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(p, host) != 1 :
		    SSL_set1_host(s->ssl, host) != 1) {
			tls_error(err, errsz, "cannot set the host to verify");
			goto fail_session;
		}
	}
	if (!tls_handshake(s, false, err, errsz))
		goto fail_session;
	return s;
fail_session:
	SSL_free(s->ssl);
	free(s);
fail:
	SSL_CTX_free(ctx);
	BIO_meth_free(method);
	return NULL;
}

/* ---- reading and writing ---------------------------------------------- */

ssize_t
tls_read(void *ctx, void *buf, size_t len, bool wait)
{
	struct tls_session *s = ctx;
	long long deadline = deadline_of(s->timeout_ms);
	int want = len > INT_MAX ? INT_MAX : (int)len;

	for (;;) {
		int r, e;

		ERR_clear_error();
		r = SSL_read(s->ssl, buf, want);
		if (r > 0)
			return r;
		e = SSL_get_error(s->ssl, r);
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;		/* close_notify: end of input */
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (!wait) {
				errno = EAGAIN;
				return -1;
			}
			if (tls_wait(s->fd, e, deadline) == 0)
				continue;
			return -1;
		}
		/* A peer that closes without close_notify: end of input too,
		 * as a plaintext client's FIN is. */
		if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 &&
		    (r == 0 || errno == 0))
			return 0;
		ERR_clear_error();
		if (errno == 0 || errno == EAGAIN)
			errno = EPROTO;
		return -1;
	}
}

ssize_t
tls_write(void *ctx, const void *buf, size_t len)
{
	struct tls_session *s = ctx;
	long long deadline = deadline_of(s->timeout_ms);
	const char *p = buf;

	while (len > 0) {
		int want = len > INT_MAX ? INT_MAX : (int)len;
		int r, e;

		ERR_clear_error();
		r = SSL_write(s->ssl, p, want);
		if (r > 0) {
			p += r;
			len -= (size_t)r;
			continue;
		}
		e = SSL_get_error(s->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (tls_wait(s->fd, e, deadline) == 0)
				continue;
			return -1;
		}
		ERR_clear_error();
		if (errno == 0 || errno == EAGAIN)
			errno = EPIPE;
		return -1;
	}
	return 0;
}

const char *
tls_protocol(const struct tls_session *s)
{
	return s ? SSL_get_version(s->ssl) : NULL;
}

const char *
tls_cipher(const struct tls_session *s)
{
	return s ? SSL_get_cipher_name(s->ssl) : NULL;
}

void
tls_close(struct tls_session *s)
{
	if (s == NULL)
		return;
	/* One try: a peer that does not read must not hold us here. */
	ERR_clear_error();
	if (SSL_is_init_finished(s->ssl))
		SSL_shutdown(s->ssl);
	ERR_clear_error();
	SSL_free(s->ssl);
	SSL_CTX_free(s->own_ctx);
	BIO_meth_free(s->own_method);
	free(s);
}

/* ---- for CRAM-MD5 (auth.c) -------------------------------------------- */

bool
tls_hmac_md5(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char out[16])
{
	size_t outlen = 0;

	return EVP_Q_mac(NULL, "HMAC", NULL, "MD5", NULL, key, keylen, data,
	    len, out, 16, &outlen) != NULL && outlen == 16;
}

#endif /* SMTPD_TLS */

/* ---- the public API --------------------------------------------------- */

const char *
smtpd_server_tls_certificate(const struct smtpd_server *srv)
{
	return srv->tls ? tls_server_certificate_pem(srv->tls) : NULL;
}
