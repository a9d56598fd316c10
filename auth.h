/* SPDX-License-Identifier: ISC */
/*
 * auth.h - SMTP AUTH (RFC 4954) as a dialogue that knows no sockets: the
 * channel hands it the AUTH command's argument and then each line the
 * client sends, and gets back what to answer.  Internal: not installed.
 *
 * SYNOPSIS
 *	auth_begin(d, creds, arg, fqdn, reply)	AUTH mechanism [response]
 *	auth_continue(d, creds, line, reply)	a line after a 334
 *	auth_reply(status)			the final reply's text
 *	base64_encode, base64_decode		RFC 4648, strict
 *	auth_users_add, auth_users_load, auth_users_secret
 *						a table of user:password
 *
 * Mechanisms: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login) and
 * CRAM-MD5 (RFC 2195, only when built with TLS: its HMAC-MD5 is
 * OpenSSL's).  All three ask one function for a user's secret: CRAM-MD5
 * needs the secret itself, not a yes or no.
 */
#ifndef SMTPD_AUTH_H
#define SMTPD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The longest user name or password we take: longer is a 535. */
#define AUTH_FIELD_MAX	255

/* Where the secrets come from (smtpd_config's auth_secret and auth_ctx). */
struct auth_creds {
	/* The user's password, or NULL when there is no such user. */
	const char	*(*secret)(const char *user, void *ctx);
	void		*ctx;
	bool		 any;		/* any user and password succeed */
};

enum auth_status {
	AUTH_MORE,		/* send reply (a 334), then auth_continue */
	AUTH_OK,		/* 235: d->user is who logged in */
	AUTH_FAILED,		/* 535 */
	AUTH_CANCELLED,		/* 501: the client sent "*" */
	AUTH_BAD_BASE64,	/* 501 5.5.2 */
	AUTH_SYNTAX,		/* 501 5.5.4 */
	AUTH_NO_MECHANISM,	/* 504 */
	AUTH_TEMPORARY		/* 454: no randomness for a challenge */
};

enum auth_mechanism { AUTH_PLAIN = 1, AUTH_LOGIN, AUTH_CRAM_MD5 };

struct auth_dialogue {
	enum auth_mechanism mech;
	int		 step;
	char		 user[AUTH_FIELD_MAX + 1];	/* who logged in */
	/* Who tried, once the mechanism has a name, right or wrong: for
	 * the fault rules' "auth" stage. */
	char		 attempt[AUTH_FIELD_MAX + 1];
	char		 challenge[128];	/* CRAM-MD5's, not encoded */
	const char	*reason;	/* why AUTH_FAILED, for the -d trace */
	char		 why[AUTH_FIELD_MAX + 64];	/* auth_failure's text */
};

/* auth_mechanisms - the EHLO AUTH line's list. */
const char	*auth_mechanisms(void);

/* auth_begin - the AUTH command's argument: a mechanism and maybe an
 * initial response.  fqdn names the server in CRAM-MD5's challenge. */
enum auth_status auth_begin(struct auth_dialogue *, const struct auth_creds *,
		    const char *arg, const char *fqdn, char *reply,
		    size_t replysz);
/* auth_continue - the client's line after a 334. */
enum auth_status auth_continue(struct auth_dialogue *,
		    const struct auth_creds *, const char *line, char *reply,
		    size_t replysz);
/* auth_reply - the reply line for a final status (not AUTH_MORE). */
const char	*auth_reply(enum auth_status);
/* auth_failure - a failed login in words, for the -d trace: the user who
 * tried (when known) and why ("user <ann>: wrong password"); never the
 * password.  Kept in the dialogue. */
const char	*auth_failure(struct auth_dialogue *, enum auth_status);

/* base64_encode - len bytes into out, NUL-terminated; false if too small. */
bool		 base64_encode(const void *in, size_t len, char *out,
		    size_t outsz);
/* base64_decode - strict RFC 4648 (padding required, nothing else
 * allowed); the length decoded (out gets a NUL after it), -1 for bad
 * base64, -2 for good base64 that does not fit in outsz. */
ssize_t		 base64_decode(const char *in, size_t len, unsigned char *out,
		    size_t outsz);

/* A table of users and passwords, for --auth-user and --auth-file. */
struct auth_users;

struct auth_users *auth_users_new(void);
void		 auth_users_free(struct auth_users *);
/* auth_users_add - "user:password" (the password may hold colons). */
int		 auth_users_add(struct auth_users *, const char *entry,
		    char *err, size_t errsz);
/* auth_users_load - a file of "user:password" lines; blank lines and
 * lines starting with "#" are skipped. */
int		 auth_users_load(struct auth_users *, const char *path,
		    char *err, size_t errsz);
/* auth_users_secret - the lookup function, ctx being the table. */
const char	*auth_users_secret(const char *user, void *ctx);

#endif /* SMTPD_AUTH_H */
