/* SPDX-License-Identifier: ISC */
/*
 * auth.c - the AUTH dialogue, base64, and a table of users (auth.h).
 *
 * Pure string code: no sockets, no OpenSSL (CRAM-MD5's HMAC-MD5 comes
 * from tls.c), so CUnit and the fuzzer drive it alone.
 */
#include "compat.h"
#include "auth.h"
#include "io.h"
#include "tls.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- base64 (RFC 4648 section 4) --------------------------------------- */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool
base64_encode(const void *in, size_t len, char *out, size_t outsz)
{
	const unsigned char *p = in;
	size_t o = 0;

	if (outsz < (len + 2) / 3 * 4 + 1)
		return false;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;

		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	return true;
}

static int
b64_value(unsigned char c)
{
	const char *p;

	if (c == '\0' || (p = strchr(b64, c)) == NULL)
		return -1;
	return (int)(p - b64);
}

/*
 * Strict on purpose: a length that is not a multiple of 4, a character
 * outside the alphabet (white space too), padding anywhere but the end,
 * or pad bits that are not zero are all errors (501 5.5.2), so that one
 * response has one meaning.
 */
ssize_t
base64_decode(const char *in, size_t len, unsigned char *out, size_t outsz)
{
	size_t o = 0;
	bool fits = true;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad || (v[k] = b64_value((unsigned char)in[i + k])) < 0)
				return -1;
		}
		unsigned bits = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 |
		    (unsigned)v[2] << 6 | (unsigned)v[3];
		if ((pad == 1 && (bits & 0xff)) || (pad == 2 && (bits & 0xffff)))
			return -1;
		/* Too long: read on, to tell bad base64 from long base64. */
		if (!fits || o + 3 - (size_t)pad + 1 > outsz) {
			fits = false;
			continue;
		}
		out[o++] = (unsigned char)(bits >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(bits >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)bits;
	}
	if (!fits || o + 1 > outsz)
		return -2;
	out[o] = '\0';
	return (ssize_t)o;
}

/* ---- the dialogue ------------------------------------------------------ */

/* A response is at most a user, a password and an authzid, encoded. */
#define RESPONSE_MAX	(3 * (AUTH_FIELD_MAX + 1))

const char *
auth_mechanisms(void)
{
	return tls_available() ? "PLAIN LOGIN CRAM-MD5" : "PLAIN LOGIN";
}

const char *
auth_reply(enum auth_status st)
{
	switch (st) {
	case AUTH_OK:
		return "235 2.7.0 Authentication successful";
	case AUTH_FAILED:
		return "535 5.7.8 Authentication credentials invalid";
	case AUTH_CANCELLED:
		return "501 5.7.0 Authentication cancelled";
	case AUTH_BAD_BASE64:
		return "501 5.5.2 Cannot decode response";
	case AUTH_SYNTAX:
		return "501 5.5.4 Syntax: AUTH mechanism [initial-response]";
	case AUTH_NO_MECHANISM:
		return "504 5.5.4 Unrecognized authentication type";
	case AUTH_TEMPORARY:
		return "454 4.7.0 Temporary authentication failure";
	case AUTH_MORE:
		break;
	}
	return "451 4.3.0 Error: internal error";
}

const char *
auth_failure(struct auth_dialogue *d, enum auth_status st)
{
	const char *reason = d->reason;

	if (reason == NULL) {
		switch (st) {
		case AUTH_FAILED:
			reason = "malformed response";
			break;
		case AUTH_CANCELLED:
			reason = "cancelled by the client";
			break;
		case AUTH_BAD_BASE64:
			reason = "response not base64";
			break;
		case AUTH_SYNTAX:
			reason = "syntax error";
			break;
		case AUTH_NO_MECHANISM:
			reason = "unknown mechanism";
			break;
		default:
			reason = auth_reply(st);
			break;
		}
	}
	if (d->attempt[0])
		snprintf(d->why, sizeof(d->why), "user <%s>: %s", d->attempt,
		    reason);
	else
		snprintf(d->why, sizeof(d->why), "%s", reason);
	/* The name is the client's: no line of its own in the trace. */
	for (char *p = d->why; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return d->why;
}

/* same_secret - compare without an early exit, so the time taken does
 * not tell how much of a guess was right. */
static bool
same_secret(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* check_password - may user log in with password? */
static enum auth_status
check_password(struct auth_dialogue *d, const struct auth_creds *c,
    const char *user, const char *password)
{
	const char *secret;

	if (*user == '\0' || strlen(user) > AUTH_FIELD_MAX)
		return AUTH_FAILED;
	snprintf(d->attempt, sizeof(d->attempt), "%s", user);
	if (!c->any) {
		if (c->secret == NULL ||
		    (secret = c->secret(user, c->ctx)) == NULL) {
			d->reason = "no such user";
			return AUTH_FAILED;
		}
		if (!same_secret(secret, password)) {
			d->reason = "wrong password";
			return AUTH_FAILED;
		}
	}
	snprintf(d->user, sizeof(d->user), "%s", user);
	return AUTH_OK;
}

/* decode - a client's base64 line; "*" cancels (RFC 4954 section 4). */
static enum auth_status
decode(const char *line, unsigned char *out, size_t outsz, size_t *len)
{
	ssize_t n;

	if (strcmp(line, "*") == 0)
		return AUTH_CANCELLED;
	/* Good base64 that decodes to more than any user and password we
	 * keep is wrong credentials, not a syntax error. */
	if ((n = base64_decode(line, strlen(line), out, outsz)) < 0)
		return n == -2 ? AUTH_FAILED : AUTH_BAD_BASE64;
	*len = (size_t)n;
	return AUTH_MORE;
}

/* prompt - a 334 with text base64-encoded. */
static enum auth_status
prompt(char *reply, size_t replysz, const char *text)
{
	char enc[256];

	base64_encode(text, strlen(text), enc, sizeof(enc));
	snprintf(reply, replysz, "334 %s", enc);
	return AUTH_MORE;
}

/*
 * plain_response - RFC 4616: [authzid] NUL authcid NUL passwd.  We act
 * for no one else: an authzid other than the user is refused.
 */
static enum auth_status
plain_response(struct auth_dialogue *d, const struct auth_creds *c,
    const char *line)
{
	unsigned char buf[RESPONSE_MAX + 1];
	const char *authzid, *user, *pass;
	size_t len, n1, n2;
	enum auth_status st;

	if ((st = decode(line, buf, sizeof(buf), &len)) != AUTH_MORE)
		return st;
	authzid = (const char *)buf;
	n1 = strnlen(authzid, len);
	if (n1 >= len)
		return AUTH_FAILED;
	user = authzid + n1 + 1;
	n2 = strnlen(user, len - n1 - 1);
	if (n1 + 1 + n2 >= len)
		return AUTH_FAILED;
	pass = user + n2 + 1;
	/* A NUL inside the password would cut it short: refuse it. */
	if (strlen(pass) != len - n1 - n2 - 2)
		return AUTH_FAILED;
	if (*authzid && strcmp(authzid, user) != 0)
		return AUTH_FAILED;
	return check_password(d, c, user, pass);
}

/* cram_challenge - "<random.time@fqdn>" (RFC 2195 section 2). */
static bool
cram_challenge(struct auth_dialogue *d, const char *fqdn)
{
	unsigned long long r;

	if (compat_random(&r, sizeof(r)) != 0)
		return false;
	snprintf(d->challenge, sizeof(d->challenge), "<%llu.%lld@%.64s>", r,
	    now_ms(), fqdn);
	return true;
}

/* cram_response - "user hex-digest": HMAC-MD5 keyed with the secret. */
static enum auth_status
cram_response(struct auth_dialogue *d, const struct auth_creds *c,
    const char *line)
{
	unsigned char buf[RESPONSE_MAX + 1], mac[16];
	char hex[33], *sp, *user;
	const char *secret;
	enum auth_status st;
	size_t len;

	if ((st = decode(line, buf, sizeof(buf), &len)) != AUTH_MORE)
		return st;
	if (strlen((char *)buf) != len ||
	    (sp = strrchr((char *)buf, ' ')) == NULL)
		return AUTH_FAILED;
	*sp = '\0';
	user = (char *)buf;
	if (*user == '\0' || strlen(user) > AUTH_FIELD_MAX)
		return AUTH_FAILED;
	snprintf(d->attempt, sizeof(d->attempt), "%s", user);
	if (c->any) {
		snprintf(d->user, sizeof(d->user), "%s", user);
		return AUTH_OK;
	}
	if (c->secret == NULL || (secret = c->secret(user, c->ctx)) == NULL) {
		d->reason = "no such user";
		return AUTH_FAILED;
	}
	if (!tls_hmac_md5(secret, strlen(secret), d->challenge,
	    strlen(d->challenge), mac))
		return AUTH_FAILED;
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	for (char *h = sp + 1; *h; h++)
		*h = (char)tolower((unsigned char)*h);
	if (!same_secret(hex, sp + 1)) {
		d->reason = "wrong password (CRAM-MD5 digest)";
		return AUTH_FAILED;
	}
	snprintf(d->user, sizeof(d->user), "%s", user);
	return AUTH_OK;
}

enum auth_status
auth_begin(struct auth_dialogue *d, const struct auth_creds *c,
    const char *arg, const char *fqdn, char *reply, size_t replysz)
{
	char mech[32];
	const char *initial;
	size_t n = strcspn(arg, " ");

	memset(d, 0, sizeof(*d));
	if (n == 0 || n >= sizeof(mech))
		return n == 0 ? AUTH_SYNTAX : AUTH_NO_MECHANISM;
	memcpy(mech, arg, n);
	mech[n] = '\0';
	initial = arg[n] ? arg + n + 1 : NULL;
	if (initial && (*initial == '\0' || strchr(initial, ' ')))
		return AUTH_SYNTAX;

	if (strcasecmp(mech, "PLAIN") == 0) {
		d->mech = AUTH_PLAIN;
		if (initial == NULL) {
			snprintf(reply, replysz, "334 ");
			return AUTH_MORE;
		}
		/* "=" is an empty initial response (RFC 4954 section 4). */
		return plain_response(d, c, strcmp(initial, "=") ? initial : "");
	}
	if (strcasecmp(mech, "LOGIN") == 0) {
		d->mech = AUTH_LOGIN;
		if (initial == NULL)
			return prompt(reply, replysz, "Username:");
		return auth_continue(d, c, initial, reply, replysz);
	}
	if (strcasecmp(mech, "CRAM-MD5") == 0 && tls_available()) {
		d->mech = AUTH_CRAM_MD5;
		if (initial)
			return AUTH_SYNTAX;
		if (!cram_challenge(d, fqdn))
			return AUTH_TEMPORARY;
		return prompt(reply, replysz, d->challenge);
	}
	return AUTH_NO_MECHANISM;
}

enum auth_status
auth_continue(struct auth_dialogue *d, const struct auth_creds *c,
    const char *line, char *reply, size_t replysz)
{
	unsigned char buf[RESPONSE_MAX + 1];
	enum auth_status st;
	size_t len;

	switch (d->mech) {
	case AUTH_PLAIN:
		return plain_response(d, c, line);
	case AUTH_CRAM_MD5:
		return cram_response(d, c, line);
	case AUTH_LOGIN:
		if ((st = decode(line, buf, sizeof(buf), &len)) != AUTH_MORE)
			return st;
		if (strlen((char *)buf) != len || len > AUTH_FIELD_MAX)
			return AUTH_FAILED;
		if (d->step++ == 0) {
			memcpy(d->user, buf, len + 1);
			return prompt(reply, replysz, "Password:");
		}
		char user[AUTH_FIELD_MAX + 1];

		memcpy(user, d->user, sizeof(user));
		d->user[0] = '\0';
		return check_password(d, c, user, (char *)buf);
	}
	return AUTH_SYNTAX;
}

/* ---- a table of users ------------------------------------------------- */

struct auth_user {
	char	*name;
	char	*password;
};

struct auth_users {
	struct auth_user *v;
	size_t		 n;
};

struct auth_users *
auth_users_new(void)
{
	return calloc(1, sizeof(struct auth_users));
}

void
auth_users_free(struct auth_users *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].name);
		free(t->v[i].password);
	}
	free(t->v);
	free(t);
}

int
auth_users_add(struct auth_users *t, const char *entry, char *err,
    size_t errsz)
{
	const char *colon = strchr(entry, ':');
	struct auth_user *v;

	if (colon == NULL || colon == entry) {
		snprintf(err, errsz, "not USER:PASSWORD: %s", entry);
		return -1;
	}
	if ((size_t)(colon - entry) > AUTH_FIELD_MAX ||
	    strlen(colon + 1) > AUTH_FIELD_MAX) {
		snprintf(err, errsz, "user or password longer than %d bytes",
		    AUTH_FIELD_MAX);
		return -1;
	}
	if ((v = realloc(t->v, (t->n + 1) * sizeof(*v))) == NULL)
		goto nomem;
	t->v = v;
	v[t->n].name = strndup(entry, (size_t)(colon - entry));
	v[t->n].password = strdup(colon + 1);
	if (v[t->n].name == NULL || v[t->n].password == NULL) {
		free(v[t->n].name);
		free(v[t->n].password);
		goto nomem;
	}
	t->n++;
	return 0;
nomem:
	snprintf(err, errsz, "out of memory");
	return -1;
}

int
auth_users_load(struct auth_users *t, const char *path, char *err,
    size_t errsz)
{
	FILE *f = fopen(path, "r");
	char *line;
	ssize_t n;
	int lineno = 0, rc = 0;

	if (f == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((line = malloc(IO_FILE_LINE_MAX + 1)) == NULL) {
		fclose(f);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	while ((n = io_file_line(f, line, IO_FILE_LINE_MAX + 1)) >= 0) {
		char e[200];

		lineno++;
		while (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if (strlen(line) != (size_t)n ||
		    auth_users_add(t, line, e, sizeof(e)) != 0) {
			/* Not the line itself: it holds a password. */
			snprintf(err, errsz, "%s:%d: not a user:password line",
			    path, lineno);
			rc = -1;
			break;
		}
	}
	if (n == IO_LINE_TOO_LONG) {
		snprintf(err, errsz, "%s:%d: longer than %d bytes", path,
		    lineno + 1, IO_FILE_LINE_MAX);
		rc = -1;
	} else if (n == IO_LINE_ERROR) {
		snprintf(err, errsz, "%s:%d: %s", path, lineno + 1,
		    strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
}

const char *
auth_users_secret(const char *user, void *ctx)
{
	const struct auth_users *t = ctx;

	/* The last entry for a name wins, as a later option overrides. */
	for (size_t i = t->n; i-- > 0;)
		if (strcmp(t->v[i].name, user) == 0)
			return t->v[i].password;
	return NULL;
}
