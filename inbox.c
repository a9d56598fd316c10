/* SPDX-License-Identifier: ISC */
/*
 * inbox.c - an in-memory mailbox for tests (inbox.h).
 *
 * The inbox is an array of messages behind a mutex, and a condition
 * variable that is signalled each time one arrives, for smtpd_inbox_wait.
 * Each message is kept as one malloc'd block: the struct smtpd_message,
 * then its pointer arrays, then its strings.  Copying a message for the
 * handler and copying it again for smtpd_inbox_get is the same function.
 */
#include "compat.h"
#include "inbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct smtpd_inbox {
	pthread_mutex_t		 lock;		/* guards everything below */
	pthread_cond_t		 arrived;	/* a message was added */
	struct smtpd_message	**msgs;
	size_t			 count, cap;
};

/* text_size - the bytes the strings of an array take, NULs included. */
static size_t
text_size(const char *const *v, size_t n)
{
	size_t size = 0;

	for (size_t i = 0; i < n; i++)
		size += strlen(v[i]) + 1;
	return size;
}

/* block_put - copy a string to *p and move *p past it. */
static const char *
block_put(char **p, const char *s, size_t len)
{
	char *d = *p;

	memcpy(d, s, len);
	d[len] = '\0';
	*p += len + 1;
	return d;
}

/* block_put_list - copy an array of strings: pointers at *pp, text at *p. */
static const char *const *
block_put_list(const char ***pp, char **p, const char *const *v, size_t n)
{
	const char **list = *pp;

	for (size_t i = 0; i < n; i++)
		list[i] = block_put(p, v[i], strlen(v[i]));
	*pp += n;
	return n ? list : NULL;
}

/* opt_size, opt_put - a string that may be NULL, and stays NULL. */
static size_t
opt_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static const char *
opt_put(char **p, const char *s)
{
	return s ? block_put(p, s, strlen(s)) : NULL;
}

/* message_copy - a deep copy of m in a single block, or NULL. */
static struct smtpd_message *
message_copy(const struct smtpd_message *m)
{
	const char *peer = m->peer_ip ? m->peer_ip : "";
	const char *helo = m->helo ? m->helo : "";
	const char *from = m->mailfrom ? m->mailfrom : "";
	size_t npointers = m->rcpt_count + m->mail_option_count +
	    m->rcpt_option_count;
	size_t size = sizeof(*m) + npointers * sizeof(char *);
	struct smtpd_message *c;
	const char **pp;
	char *p;

	size += text_size(m->rcpttos, m->rcpt_count);
	size += text_size(m->mail_options, m->mail_option_count);
	size += text_size(m->rcpt_options, m->rcpt_option_count);
	size += strlen(peer) + strlen(helo) + strlen(from) + 3;
	size += opt_size(m->auth_user) + opt_size(m->tls_protocol) +
	    opt_size(m->tls_cipher);
	if (m->data_len > SIZE_MAX - size - 1)
		return NULL;
	size += m->data_len + 1;
	if ((c = malloc(size)) == NULL)
		return NULL;

	/* The struct's alignment is at least a pointer's, so the pointer
	 * arrays can follow it directly; the bytes come last. */
	*c = *m;
	pp = (const char **)(c + 1);
	p = (char *)(pp + npointers);
	c->rcpttos = block_put_list(&pp, &p, m->rcpttos, m->rcpt_count);
	c->mail_options = block_put_list(&pp, &p, m->mail_options,
	    m->mail_option_count);
	c->rcpt_options = block_put_list(&pp, &p, m->rcpt_options,
	    m->rcpt_option_count);
	c->peer_ip = block_put(&p, peer, strlen(peer));
	c->helo = block_put(&p, helo, strlen(helo));
	c->mailfrom = block_put(&p, from, strlen(from));
	c->data = block_put(&p, m->data ? m->data : "", m->data_len);
	c->auth_user = opt_put(&p, m->auth_user);
	c->tls_protocol = opt_put(&p, m->tls_protocol);
	c->tls_cipher = opt_put(&p, m->tls_cipher);
	return c;
}

struct smtpd_inbox *
smtpd_inbox_new(void)
{
	struct smtpd_inbox *inbox;
	if ((inbox = calloc(1, sizeof(*inbox))) == NULL)
		return NULL;
	pthread_mutex_init(&inbox->lock, NULL);
	/* Waits are timed on the monotonic clock: setting the date must not
	 * make a test wait for hours, or give up at once. */
	compat_cond_init(&inbox->arrived);
	return inbox;
}

/* inbox_drop - free every message; the caller holds the lock. */
static void
inbox_drop(struct smtpd_inbox *inbox)
{
	for (size_t i = 0; i < inbox->count; i++)
		free(inbox->msgs[i]);
	inbox->count = 0;
}

void
smtpd_inbox_free(struct smtpd_inbox *inbox)
{
	if (inbox == NULL)
		return;
	inbox_drop(inbox);
	free(inbox->msgs);
	pthread_cond_destroy(&inbox->arrived);
	pthread_mutex_destroy(&inbox->lock);
	free(inbox);
}

/* inbox_process - the handler: keep a copy, wake the waiters. */
static const char *
inbox_process(struct smtpd_channel *ch, const struct smtpd_message *m,
    void *ctx)
{
	struct smtpd_inbox *inbox = ctx;
	struct smtpd_message *c;

	(void)ch;
	if ((c = message_copy(m)) == NULL)
		return "452 Error: insufficient system storage";
	pthread_mutex_lock(&inbox->lock);
	if (inbox->count == inbox->cap) {
		size_t cap = inbox->cap ? inbox->cap * 2 : 16;
		struct smtpd_message **msgs = realloc(inbox->msgs,
		    cap * sizeof(*msgs));

		if (msgs == NULL) {
			pthread_mutex_unlock(&inbox->lock);
			free(c);
			return "452 Error: insufficient system storage";
		}
		inbox->msgs = msgs;
		inbox->cap = cap;
	}
	inbox->msgs[inbox->count++] = c;
	pthread_cond_broadcast(&inbox->arrived);
	pthread_mutex_unlock(&inbox->lock);
	return NULL;
}

struct smtpd_handler
smtpd_handler_inbox(struct smtpd_inbox *inbox)
{
	struct smtpd_handler h = {
		.name = "Inbox",
		.process_message = inbox_process,
		.ctx = inbox,
		/* The inbox has its own lock. */
		.concurrent = true,
	};

	return h;
}

bool
smtpd_inbox_wait(struct smtpd_inbox *inbox, size_t n, int timeout_ms)
{
	struct timespec deadline;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	if (timeout_ms > 0) {
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&inbox->lock);
	while (inbox->count < n) {
		if (timeout_ms < 0)
			pthread_cond_wait(&inbox->arrived, &inbox->lock);
		else if (timeout_ms == 0 ||
		    compat_cond_timedwait(&inbox->arrived, &inbox->lock,
		    &deadline) == ETIMEDOUT)
			break;
	}
	ok = inbox->count >= n;
	pthread_mutex_unlock(&inbox->lock);
	return ok;
}

size_t
smtpd_inbox_count(struct smtpd_inbox *inbox)
{
	size_t n;

	pthread_mutex_lock(&inbox->lock);
	n = inbox->count;
	pthread_mutex_unlock(&inbox->lock);
	return n;
}

struct smtpd_message *
smtpd_inbox_get(struct smtpd_inbox *inbox, size_t i)
{
	struct smtpd_message *c = NULL;

	pthread_mutex_lock(&inbox->lock);
	if (i < inbox->count)
		c = message_copy(inbox->msgs[i]);
	pthread_mutex_unlock(&inbox->lock);
	return c;
}

void
smtpd_inbox_message_free(struct smtpd_message *m)
{
	free(m);
}

int
smtpd_inbox_foreach(struct smtpd_inbox *inbox,
    int (*fn)(const struct smtpd_message *, void *ctx), void *ctx)
{
	int r = 0;

	pthread_mutex_lock(&inbox->lock);
	for (size_t i = 0; i < inbox->count && r == 0; i++)
		r = fn(inbox->msgs[i], ctx);
	pthread_mutex_unlock(&inbox->lock);
	return r;
}

void
smtpd_inbox_clear(struct smtpd_inbox *inbox)
{
	pthread_mutex_lock(&inbox->lock);
	inbox_drop(inbox);
	pthread_mutex_unlock(&inbox->lock);
}
