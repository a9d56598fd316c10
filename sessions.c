/* SPDX-License-Identifier: ISC */
/*
 * sessions.c - the ring of recent SMTP sessions (sessions.h).
 *
 * A record is made by session_begin() when a client connects, written by
 * its channel as the session goes (each client line, each reply, TLS,
 * AUTH, the IDs delivered), and handed to the log by session_end(), which
 * keeps the newest max_sessions and frees the oldest.  The web layer
 * reads the live and the ended alike, so every record has a mutex of its
 * own: the channel takes only its record's, which nobody else wants but
 * for the moment a reader copies it out; the log's mutex guards the two
 * lists.  The order of locking is always log, then record.
 *
 * The transcript is for a person reading what happened, never a copy of
 * what was said:
 *  - AUTH: the initial response of "AUTH MECH RESPONSE" becomes "****",
 *    and so does every client line that answers a 334 (the AUTH
 *    dialogue's continuation lines: a user name, a password, a digest);
 *    "*" (the client cancels) stays.
 *  - Message text: after DATA's 354 the client's lines are not recorded
 *    up to the reply that ends the message; a line "C: (message text)"
 *    stands for them.  BDAT's chunk bytes never come here as lines; the
 *    BDAT command itself is recorded with "(N octets)".
 *  - Each line is cut at LINE_SHOW bytes, control bytes shown as '?',
 *    and the whole at max_transcript, where "... (truncated)" is added
 *    once.
 */
#include "compat.h"
#include "sessions.h"
#include "inbox_internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A line of the transcript shows at most this much of what was sent: a
 * 1000-byte RCPT is still recognisable from its start. */
#define LINE_SHOW	1000
#define TRUNCATED	"... (truncated)"
#define MASK		"****"

struct session_rec {
	pthread_mutex_t		 lock;		/* guards everything below */
	struct session_log	*log;
	uint64_t		 id;
	char			 peer_ip[64];
	int			 peer_port;
	struct timespec		 started, ended;
	bool			 ended_yet;
	enum session_end	 how;
	char			*tls_protocol, *tls_cipher, *auth_user;
	char			*fault_rule;
	char			*transcript;	/* NUL-terminated, len bytes */
	size_t			 len, cap;
	bool			 truncated;
	char			**ids;
	size_t			 nids, ids_cap;
	int			 last_code;	/* of the last reply */
	int			 refusal;	/* of the last 4xx/5xx, or 0 */
	bool			 in_data;	/* after 354, until the next reply */
	bool			 after_334;	/* the next client line is AUTH's */
	struct session_rec	*prev, *next;	/* on the log's live list */
};

struct session_log {
	pthread_mutex_t		 lock;		/* guards everything below */
	size_t			 max_sessions, max_transcript;
	uint64_t		 next_id;
	struct session_rec	*live;		/* begun, not yet ended */
	struct session_rec	**ring;		/* ended, oldest at head */
	size_t			 head, count;
	struct smtpd_inbox	*store;		/* INBOX_EV_SESSION goes here */
};

struct session_log *
session_log_new(size_t max_sessions, size_t max_transcript)
{
	struct session_log *log;

	if (max_sessions == 0)
		max_sessions = 1;
	if ((log = calloc(1, sizeof(*log))) == NULL)
		return NULL;
	if ((log->ring = calloc(max_sessions, sizeof(*log->ring))) == NULL) {
		free(log);
		return NULL;
	}
	pthread_mutex_init(&log->lock, NULL);
	log->max_sessions = max_sessions;
	/* room for the truncation mark at least */
	log->max_transcript = max_transcript < 64 ? 64 : max_transcript;
	return log;
}

/* rec_free - release a record nobody can reach any more. */
static void
rec_free(struct session_rec *r)
{
	if (r == NULL)
		return;
	free(r->tls_protocol);
	free(r->tls_cipher);
	free(r->auth_user);
	free(r->fault_rule);
	free(r->transcript);
	for (size_t i = 0; i < r->nids; i++)
		free(r->ids[i]);
	free(r->ids);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void
session_log_free(struct session_log *log)
{
	if (log == NULL)
		return;
	/* The channels are gone (the server stopped); any record still
	 * live was never ended and is the log's to free. */
	while (log->live) {
		struct session_rec *next = log->live->next;

		rec_free(log->live);
		log->live = next;
	}
	for (size_t i = 0; i < log->count; i++)
		rec_free(log->ring[(log->head + i) % log->max_sessions]);
	free(log->ring);
	pthread_mutex_destroy(&log->lock);
	free(log);
}

void
session_log_set_store(struct session_log *log, struct smtpd_inbox *store)
{
	pthread_mutex_lock(&log->lock);
	log->store = store;
	pthread_mutex_unlock(&log->lock);
}

struct session_rec *
session_begin(struct session_log *log, const char *peer_ip, int peer_port)
{
	struct session_rec *r;

	if (log == NULL || (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->log = log;
	snprintf(r->peer_ip, sizeof(r->peer_ip), "%s", peer_ip ? peer_ip : "");
	r->peer_port = peer_port;
	clock_gettime(CLOCK_REALTIME, &r->started);
	pthread_mutex_lock(&log->lock);
	r->id = ++log->next_id;
	r->next = log->live;
	if (log->live)
		log->live->prev = r;
	log->live = r;
	pthread_mutex_unlock(&log->lock);
	return r;
}

void
session_set_peer(struct session_rec *r, const char *peer_ip, int peer_port)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	snprintf(r->peer_ip, sizeof(r->peer_ip), "%s", peer_ip ? peer_ip : "");
	r->peer_port = peer_port;
	pthread_mutex_unlock(&r->lock);
}

/* reserve - room for n more bytes and a NUL; false when out of memory. */
static bool
reserve(struct session_rec *r, size_t n)
{
	size_t cap;
	char *t;

	if (r->len + n + 1 <= r->cap)
		return true;
	cap = r->cap ? r->cap : 256;
	while (cap < r->len + n + 1)
		cap *= 2;
	if ((t = realloc(r->transcript, cap)) == NULL)
		return false;
	r->transcript = t;
	r->cap = cap;
	return true;
}

/*
 * append - add one transcript line: prefix ("C: " or "S: "), then s
 * (control bytes shown as '?', at most LINE_SHOW bytes), then suffix;
 * the caller holds the record's lock.  Past max_transcript the mark is
 * added once and nothing more.
 */
static void
append(struct session_rec *r, const char *prefix, const char *s, size_t n,
    const char *suffix)
{
	size_t max = r->log->max_transcript;
	size_t plen = strlen(prefix), slen = strlen(suffix);
	size_t need, shown = n > LINE_SHOW ? LINE_SHOW : n;
	const char *more = n > LINE_SHOW ? "..." : "";
	char *d;

	if (r->truncated)
		return;
	need = (r->len ? 1 : 0) + plen + shown + strlen(more) + slen;
	if (r->len + need + 1 + strlen(TRUNCATED) > max) {
		if (reserve(r, 1 + strlen(TRUNCATED))) {
			r->len += (size_t)sprintf(r->transcript + r->len,
			    "%s%s", r->len ? "\n" : "", TRUNCATED);
		}
		r->truncated = true;
		return;
	}
	if (!reserve(r, need))
		return;
	d = r->transcript + r->len;
	if (r->len)
		*d++ = '\n';
	memcpy(d, prefix, plen);
	d += plen;
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)s[i];

		*d++ = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	memcpy(d, more, strlen(more));
	d += strlen(more);
	memcpy(d, suffix, slen);
	d += slen;
	*d = '\0';
	r->len = (size_t)(d - r->transcript);
}

/* starts_word - line begins with word (any case) then a space or its end. */
static bool
starts_word(const char *line, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len >= n && strncasecmp(line, word, n) == 0 &&
	    (len == n || line[n] == ' ');
}

void
session_client_line(struct session_rec *r, const char *line, size_t len)
{
	const char *sp;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	if (r->in_data) {
		/* message text: elided (the 354 already said so) */
	} else if (r->after_334) {
		r->after_334 = false;
		if (len == 1 && line[0] == '*')
			append(r, "C: ", "*", 1, "");
		else
			append(r, "C: ", MASK, strlen(MASK), "");
	} else if (starts_word(line, len, "AUTH") && len > 5 &&
	    (sp = memchr(line + 5, ' ', len - 5)) != NULL) {
		/* AUTH MECH initial-response: the response is a secret */
		append(r, "C: ", line, (size_t)(sp - line), " " MASK);
	} else if (starts_word(line, len, "BDAT")) {
		append(r, "C: ", line, len, " (message text elided)");
	} else {
		append(r, "C: ", line, len, "");
	}
	pthread_mutex_unlock(&r->lock);
}

void
session_server_reply(struct session_rec *r, const char *reply, size_t len)
{
	int code = 0;

	if (r == NULL)
		return;
	if (len >= 3 && isdigit((unsigned char)reply[0]) &&
	    isdigit((unsigned char)reply[1]) && isdigit((unsigned char)reply[2]))
		code = (reply[0] - '0') * 100 + (reply[1] - '0') * 10 +
		    (reply[2] - '0');
	pthread_mutex_lock(&r->lock);
	/* A reply while in DATA is the one to the end of the message. */
	r->in_data = false;
	/* A multi-line reply (EHLO's) is one "S: " line a line of it. */
	for (size_t at = 0; at < len;) {
		const char *eol = memchr(reply + at, '\n', len - at);
		size_t end = eol ? (size_t)(eol - reply) : len;
		size_t n = end - at;

		if (n && reply[at + n - 1] == '\r')
			n--;
		append(r, "S: ", reply + at, n, "");
		at = end + 1;
	}
	if (code == 354) {
		r->in_data = true;
		append(r, "C: ", "(message text elided)",
		    strlen("(message text elided)"), "");
	}
	r->after_334 = code == 334;
	if (code) {
		r->last_code = code;
		if (code >= 400)
			r->refusal = code;
	}
	pthread_mutex_unlock(&r->lock);
}

/* set_string - replace *dst by a copy of s (NULL stays NULL). */
static void
set_string(struct session_rec *r, char **dst, const char *s)
{
	char *c = s ? strdup(s) : NULL;

	pthread_mutex_lock(&r->lock);
	free(*dst);
	*dst = c;
	pthread_mutex_unlock(&r->lock);
}

void
session_set_tls(struct session_rec *r, const char *protocol, const char *cipher)
{
	if (r == NULL)
		return;
	set_string(r, &r->tls_protocol, protocol);
	set_string(r, &r->tls_cipher, cipher);
}

void
session_set_auth(struct session_rec *r, const char *user)
{
	if (r)
		set_string(r, &r->auth_user, user);
}

void
session_set_fault(struct session_rec *r, const char *rule_text)
{
	if (r)
		set_string(r, &r->fault_rule, rule_text);
}

void
session_add_message(struct session_rec *r, const char *id)
{
	char *c;

	if (r == NULL || id == NULL || (c = strdup(id)) == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	if (r->nids == r->ids_cap) {
		size_t cap = r->ids_cap ? r->ids_cap * 2 : 4;
		char **v = realloc(r->ids, cap * sizeof(*v));

		if (v == NULL) {
			pthread_mutex_unlock(&r->lock);
			free(c);
			return;
		}
		r->ids = v;
		r->ids_cap = cap;
	}
	r->ids[r->nids++] = c;
	pthread_mutex_unlock(&r->lock);
}

uint64_t
session_id(const struct session_rec *r)
{
	return r ? r->id : 0;	/* set once, before anyone else sees r */
}

void
session_end(struct session_log *log, struct session_rec *r,
    enum session_end how)
{
	struct session_rec *old = NULL;
	bool refused;

	if (r == NULL)
		return;
	if (log == NULL)
		log = r->log;
	pthread_mutex_lock(&log->lock);
	pthread_mutex_lock(&r->lock);
	clock_gettime(CLOCK_REALTIME, &r->ended);
	r->ended_yet = true;
	r->how = how;
	r->in_data = r->after_334 = false;
	refused = r->nids == 0 && (r->refusal || how == SESSION_REFUSED);
	pthread_mutex_unlock(&r->lock);
	/* from the live list to the ring */
	if (r->prev)
		r->prev->next = r->next;
	else
		log->live = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	if (log->count == log->max_sessions) {
		old = log->ring[log->head];
		log->head = (log->head + 1) % log->max_sessions;
		log->count--;
	}
	log->ring[(log->head + log->count) % log->max_sessions] = r;
	log->count++;
	/* A session that delivered nothing and was refused is news for the
	 * page: "my mail did not arrive" is answered by it. */
	if (refused && log->store)
		inbox_post_event(log->store, INBOX_EV_SESSION, NULL, r->id);
	pthread_mutex_unlock(&log->lock);
	rec_free(old);
}

/* view_of - what the web layer sees of r; the caller holds r's lock. */
static void
view_of(const struct session_rec *r, struct session_view *v)
{
	memset(v, 0, sizeof(*v));
	v->id = r->id;
	v->peer_ip = r->peer_ip;
	v->peer_port = r->peer_port;
	v->started = r->started;
	v->ended = r->ended;
	v->ended_yet = r->ended_yet;
	v->tls_protocol = r->tls_protocol;
	v->tls_cipher = r->tls_cipher;
	v->auth_user = r->auth_user;
	v->fault_rule = r->fault_rule;
	v->transcript = r->transcript ? r->transcript : "";
	v->message_ids = (const char *const *)r->ids;
	v->nmessages = r->nids;
	/* the refusal is what a reader looks for, not the 221 after it */
	v->last_code = r->refusal ? r->refusal : r->last_code;
	v->how = r->how;
}

/* visit - call fn on r's view with r locked; its return value. */
static int
visit(struct session_rec *r, int (*fn)(const struct session_view *, void *),
    void *ctx)
{
	struct session_view v;
	int ret;

	pthread_mutex_lock(&r->lock);
	view_of(r, &v);
	ret = fn(&v, ctx);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void
session_log_foreach(struct session_log *log,
    int (*fn)(const struct session_view *, void *), void *ctx)
{
	int stop = 0;

	if (log == NULL)
		return;
	pthread_mutex_lock(&log->lock);
	/* the live ones are the newest; the list is newest first */
	for (struct session_rec *r = log->live; r && !stop; r = r->next)
		stop = visit(r, fn, ctx);
	for (size_t i = log->count; i-- > 0 && !stop; )
		stop = visit(log->ring[(log->head + i) % log->max_sessions],
		    fn, ctx);
	pthread_mutex_unlock(&log->lock);
}

bool
session_log_get(struct session_log *log, uint64_t id,
    int (*fn)(const struct session_view *, void *), void *ctx)
{
	struct session_rec *found = NULL;

	if (log == NULL)
		return false;
	pthread_mutex_lock(&log->lock);
	for (struct session_rec *r = log->live; r && !found; r = r->next)
		if (r->id == id)
			found = r;
	for (size_t i = 0; i < log->count && !found; i++) {
		struct session_rec *r =
		    log->ring[(log->head + i) % log->max_sessions];

		if (r->id == id)
			found = r;
	}
	if (found)
		visit(found, fn, ctx);
	pthread_mutex_unlock(&log->lock);
	return found != NULL;
}

const char *
session_end_name(enum session_end how)
{
	switch (how) {
	case SESSION_QUIT:		return "quit";
	case SESSION_CLIENT_LEFT:	return "client-left";
	case SESSION_TIMEOUT:		return "timeout";
	case SESSION_CLOSED_BY_SERVER:	return "closed-by-server";
	case SESSION_REFUSED:		return "refused";
	}
	return "unknown";
}
