/* SPDX-License-Identifier: ISC */
/*
 * tls.h - TLS for the channel and the relay, the one file that knows
 * OpenSSL.  Internal: not installed.
 *
 * SYNOPSIS
 *	tls_server_new(cert, key, self_signed, host)	a server context
 *	tls_server_fingerprint(ts)	SHA-256 of its certificate
 *	tls_accept(ts, fd, timeout_ms)	handshake as the server
 *	tls_connect(fd, host, verify, timeout_ms)	handshake as a client
 *	tls_read, tls_write		the channel_io seam's semantics
 *	tls_protocol, tls_cipher	what was negotiated
 *	tls_close(s)			close_notify, free (the fd stays open)
 *
 * A session wraps a socket the caller keeps owning.  The socket may stay
 * blocking: our own BIO sends and receives with MSG_DONTWAIT (and
 * MSG_NOSIGNAL: a vanished peer must not kill the process), and every
 * wait is a poll(2) bounded by the session's timeout, so "do not block"
 * and "block up to the timeout" mean what they say whatever a TLS record
 * boundary does.
 *
 * Built with TLS=no (no OpenSSL), tls_available() is false and every
 * constructor fails with "built without TLS support".
 */
#ifndef SMTPD_TLS_H
#define SMTPD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tls_server;
struct tls_session;

/* tls_available - was this build made with OpenSSL? */
bool		 tls_available(void);

/* tls_server_new - a server context from PEM files (cert may hold the
 * chain), or a throwaway EC P-256 key and certificate for host. */
struct tls_server *tls_server_new(const char *cert, const char *key,
		    bool self_signed, const char *host, char *err,
		    size_t errsz);
/* tls_server_fingerprint - "AB:CD:..." SHA-256 of the certificate. */
const char	*tls_server_fingerprint(const struct tls_server *);
/* tls_server_certificate_pem - the certificate (the first of a chain),
 * PEM; NULL without TLS. */
const char	*tls_server_certificate_pem(const struct tls_server *);
void		 tls_server_free(struct tls_server *);

/* tls_accept - the server's handshake on fd, within timeout_ms (0: no
 * limit).  NULL with the reason in err on failure or timeout. */
struct tls_session *tls_accept(struct tls_server *, int fd, int timeout_ms,
		    char *err, size_t errsz);
/* tls_connect - the client's handshake; with verify, the peer's
 * certificate must chain to the system's CAs and name host. */
struct tls_session *tls_connect(int fd, const char *host, bool verify,
		    int timeout_ms, char *err, size_t errsz);

/* tls_read - like recv(2): wait false never blocks (EAGAIN: nothing
 * pending), wait true blocks up to the timeout (then EAGAIN). */
ssize_t		 tls_read(void *session, void *buf, size_t len, bool wait);
/* tls_write - all of buf, or -1 (EAGAIN: the timeout ran out). */
ssize_t		 tls_write(void *session, const void *buf, size_t len);

const char	*tls_protocol(const struct tls_session *);	/* "TLSv1.3" */
const char	*tls_cipher(const struct tls_session *);
/* tls_close - send close_notify if it can go at once, free the session. */
void		 tls_close(struct tls_session *);

/* tls_hmac_md5 - HMAC-MD5 for CRAM-MD5 (RFC 2195); false without TLS. */
bool		 tls_hmac_md5(const void *key, size_t keylen, const void *data,
		    size_t len, unsigned char out[16]);

#endif /* SMTPD_TLS_H */
