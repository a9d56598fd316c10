/* SPDX-License-Identifier: ISC */
/*
 * inbox.c - an in-memory mailbox for tests (inbox.h), and the HTTP API's
 * store (inbox_internal.h).
 *
 * The inbox is an array of entries, oldest first, behind a mutex, and one
 * condition variable broadcast at every change: smtpd_inbox_wait,
 * inbox_wait_change and inbox_events all sleep on it.  Each message is
 * kept as one malloc'd block: the struct smtpd_message, then its pointer
 * arrays, then its strings.  Copying a message for the handler and
 * copying it again for smtpd_inbox_get is the same function.
 *
 * An entry is reference counted (the inbox holds one reference, each
 * reader one more), so that a reader copies or sends a message with the
 * lock released, and a message deleted or evicted meanwhile is freed by
 * its last reader.  The counts, read flags and parse cache are guarded by
 * the inbox's one mutex: every critical section is a few assignments.
 *
 * IDs: 22 characters of [A-Za-z0-9], like Mailpit's.  The inbox draws a
 * 64-bit seed from the kernel once, then each ID is SplitMix64 of a
 * counter (a bijection, so no two IDs of one inbox are alike) and of the
 * next counter, 128 bits written in base 62.
 */
#include "compat.h"
#include "inbox.h"
#include "inbox_internal.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct smtpd_inbox {
	pthread_mutex_t		 lock;		/* guards everything below */
	pthread_cond_t		 changed;	/* broadcast at every change and event */
	struct inbox_entry	**entries;	/* oldest first */
	size_t			 count, cap;
	size_t			 bytes;		/* sum of the entries' sizes */
	size_t			 max_messages, max_bytes;	/* 0: no limit */
	uint64_t		 arrivals;	/* the last entry's seq */
	uint64_t		 change;	/* the change counter */
	bool			 closed;	/* inbox_close: no more waiting */
	uint64_t		 id_seed, id_counter;
	struct inbox_event	 ring[INBOX_EVENT_RING];
	uint64_t		 last_event;	/* seq of the newest in ring */
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

/* splitmix64 - the SplitMix64 output for state x (a bijection of x). */
static uint64_t
splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* inbox_new_id - write the next ID; the caller holds the lock.  The high
 * 64 bits are splitmix64 of a counter, so they alone never repeat. */
static void
inbox_new_id(struct smtpd_inbox *inbox, char id[INBOX_ID_LEN + 1])
{
	static const char digits[] =
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	uint64_t n = inbox->id_seed + inbox->id_counter++;
	uint64_t hi = splitmix64(n), lo = splitmix64(n ^ 0x5bd1e995a5a5a5a5ULL);

	/* 62^22 > 2^128: 22 base-62 digits hold both words; divide the
	 * 128-bit number (hi, lo) by 62 digit by digit, 32 bits at a time. */
	for (int i = INBOX_ID_LEN - 1; i >= 0; i--) {
		uint32_t w[4] = { (uint32_t)(hi >> 32), (uint32_t)hi,
		    (uint32_t)(lo >> 32), (uint32_t)lo };
		uint64_t rem = 0;

		for (int k = 0; k < 4; k++) {
			uint64_t cur = (rem << 32) | w[k];

			w[k] = (uint32_t)(cur / 62);
			rem = cur % 62;
		}
		hi = ((uint64_t)w[0] << 32) | w[1];
		lo = ((uint64_t)w[2] << 32) | w[3];
		id[i] = digits[rem];
	}
	id[INBOX_ID_LEN] = '\0';
}

struct smtpd_inbox *
smtpd_inbox_new(void)
{
	struct smtpd_inbox *inbox;
	struct timespec now;

	if ((inbox = calloc(1, sizeof(*inbox))) == NULL)
		return NULL;
	pthread_mutex_init(&inbox->lock, NULL);
	/* Waits are timed on the monotonic clock: setting the date must not
	 * make a test wait for hours, or give up at once. */
	compat_cond_init(&inbox->changed);
	/* IDs need to be unguessable only loosely (they are not secrets);
	 * without the kernel's generator, the time will do. */
	if (compat_random(&inbox->id_seed, sizeof(inbox->id_seed)) != 0) {
		clock_gettime(CLOCK_REALTIME, &now);
		inbox->id_seed = splitmix64((uint64_t)now.tv_sec * 1000000000u +
		    (uint64_t)now.tv_nsec + (uint64_t)(uintptr_t)inbox);
	}
	return inbox;
}

/* entry_free - free an entry nobody holds any more. */
static void
entry_free(struct inbox_entry *e)
{
	if (e->parsed && e->parsed_free)
		e->parsed_free(e->parsed);
	free((void *)e->msg);
	free(e);
}

/* entry_release - let go of one reference; the caller holds the lock.
 * The last one puts the entry on *dead, to be freed after unlocking (a
 * 30 MB free should not hold up the other threads). */
static void
entry_release(struct inbox_entry *e, struct inbox_entry **dead)
{
	if (--e->refs == 0) {
		e->dead_next = *dead;
		*dead = e;
	}
}

/* free_dead - free the entries collected while the lock was held. */
static void
free_dead(struct inbox_entry *dead)
{
	while (dead) {
		struct inbox_entry *next = dead->dead_next;

		entry_free(dead);
		dead = next;
	}
}

/* event_post - add an event to the ring; the caller holds the lock. */
static void
event_post(struct smtpd_inbox *inbox, enum inbox_event_kind kind,
    const char *id, uint64_t session_id)
{
	struct inbox_event *ev;

	inbox->last_event++;
	ev = &inbox->ring[(inbox->last_event - 1) % INBOX_EVENT_RING];
	ev->seq = inbox->last_event;
	ev->kind = kind;
	ev->session_id = session_id;
	snprintf(ev->id, sizeof(ev->id), "%.*s", INBOX_ID_LEN, id ? id : "");
}

/* remove_at - take entries[i] out of the array (keeping the order) and
 * drop the inbox's reference; the caller holds the lock. */
static void
remove_at(struct smtpd_inbox *inbox, size_t i, struct inbox_entry **dead)
{
	struct inbox_entry *e = inbox->entries[i];

	memmove(&inbox->entries[i], &inbox->entries[i + 1],
	    (inbox->count - i - 1) * sizeof(*inbox->entries));
	inbox->count--;
	inbox->bytes -= e->size;
	e->removed = true;
	event_post(inbox, INBOX_EV_DELETED, e->id, e->session_id);
	entry_release(e, dead);
}

/* changed - the change counter moves and every waiter wakes; the caller
 * holds the lock. */
static void
changed(struct smtpd_inbox *inbox)
{
	inbox->change++;
	pthread_cond_broadcast(&inbox->changed);
}

/*
 * evict - drop the oldest entries while over a limit; the caller holds
 * the lock.  The newest entry is kept even when it alone is over
 * max_bytes: a message the server accepted is not lost before anyone
 * could see it.  Returns how many went.
 */
static size_t
evict(struct smtpd_inbox *inbox, struct inbox_entry **dead)
{
	size_t n = 0;

	while ((inbox->max_messages && inbox->count > inbox->max_messages) ||
	    (inbox->max_bytes && inbox->bytes > inbox->max_bytes &&
	    inbox->count > 1)) {
		remove_at(inbox, 0, dead);
		n++;
	}
	return n;
}

int
inbox_add(struct smtpd_inbox *inbox, const struct smtpd_message *m,
    uint64_t session_id, char id_out[INBOX_ID_LEN + 1])
{
	struct inbox_entry *e, *dead = NULL;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	if ((e->msg = message_copy(m)) == NULL) {
		free(e);
		errno = ENOMEM;
		return -1;
	}
	e->size = m->data_len;
	e->session_id = session_id;
	e->refs = 1;
	clock_gettime(CLOCK_REALTIME, &e->created);

	pthread_mutex_lock(&inbox->lock);
	if (inbox->count == inbox->cap) {
		size_t cap = inbox->cap ? inbox->cap * 2 : 16;
		struct inbox_entry **v = realloc(inbox->entries,
		    cap * sizeof(*v));

		if (v == NULL) {
			pthread_mutex_unlock(&inbox->lock);
			entry_free(e);
			errno = ENOMEM;
			return -1;
		}
		inbox->entries = v;
		inbox->cap = cap;
	}
	inbox_new_id(inbox, e->id);
	e->seq = ++inbox->arrivals;
	inbox->entries[inbox->count++] = e;
	inbox->bytes += e->size;
	event_post(inbox, INBOX_EV_STORED, e->id, session_id);
	if (id_out)
		memcpy(id_out, e->id, INBOX_ID_LEN + 1);
	evict(inbox, &dead);
	changed(inbox);
	pthread_mutex_unlock(&inbox->lock);
	free_dead(dead);
	return 0;
}

int
smtpd_inbox_set_limits(struct smtpd_inbox *inbox, size_t max_messages,
    size_t max_bytes)
{
	struct inbox_entry *dead = NULL;

	if (inbox == NULL) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&inbox->lock);
	inbox->max_messages = max_messages;
	inbox->max_bytes = max_bytes;
	if (evict(inbox, &dead))
		changed(inbox);
	pthread_mutex_unlock(&inbox->lock);
	free_dead(dead);
	return 0;
}

void
smtpd_inbox_free(struct smtpd_inbox *inbox)
{
	if (inbox == NULL)
		return;
	/* The servers are stopped, so no reader holds a reference. */
	for (size_t i = 0; i < inbox->count; i++)
		entry_free(inbox->entries[i]);
	free(inbox->entries);
	pthread_cond_destroy(&inbox->changed);
	pthread_mutex_destroy(&inbox->lock);
	free(inbox);
}

/* inbox_process - the handler: keep a copy, wake the waiters. */
static const char *
inbox_process(struct smtpd_channel *ch, const struct smtpd_message *m,
    void *ctx)
{
	(void)ch;
	if (inbox_add(ctx, m, 0, NULL) != 0)
		return "452 Error: insufficient system storage";
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
inbox_is_handler(const struct smtpd_handler *h, const struct smtpd_inbox *inbox)
{
	return h->process_message == inbox_process && h->ctx == inbox;
}

/* deadline_in - the monotonic time timeout_ms from now. */
static struct timespec
deadline_in(int timeout_ms)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	if (timeout_ms > 0) {
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	return deadline;
}

/* sleep_until - one wait on the condition: false when the time is up;
 * the caller holds the lock. */
static bool
sleep_until(struct smtpd_inbox *inbox, int timeout_ms,
    const struct timespec *deadline)
{
	if (timeout_ms < 0) {
		pthread_cond_wait(&inbox->changed, &inbox->lock);
		return true;
	}
	if (timeout_ms == 0)
		return false;
	return compat_cond_timedwait(&inbox->changed, &inbox->lock,
	    deadline) != ETIMEDOUT;
}

bool
smtpd_inbox_wait(struct smtpd_inbox *inbox, size_t n, int timeout_ms)
{
	struct timespec deadline = deadline_in(timeout_ms);
	bool ok;

	pthread_mutex_lock(&inbox->lock);
	while (inbox->count < n && !inbox->closed)
		if (!sleep_until(inbox, timeout_ms, &deadline))
			break;
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
	struct inbox_entry *e = NULL;
	struct smtpd_message *c;

	pthread_mutex_lock(&inbox->lock);
	if (i < inbox->count) {
		e = inbox->entries[i];
		e->refs++;
	}
	pthread_mutex_unlock(&inbox->lock);
	if (e == NULL)
		return NULL;
	/* The copy is made with the lock released: a big message does not
	 * hold up the workers storing the next ones. */
	c = message_copy(e->msg);
	inbox_unref(inbox, e);
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
		r = fn(inbox->entries[i]->msg, ctx);
	pthread_mutex_unlock(&inbox->lock);
	return r;
}

void
smtpd_inbox_clear(struct smtpd_inbox *inbox)
{
	inbox_delete(inbox, NULL, 0);
}

/* ---- the store (inbox_internal.h) ----------------------------------- */

/* find - the index of the entry with this ID, or count; the caller holds
 * the lock.  Newest first: the message a client asks for is most often
 * one that just arrived. */
static size_t
find(struct smtpd_inbox *inbox, const char *id)
{
	if (id == NULL || strlen(id) != INBOX_ID_LEN)
		return inbox->count;
	for (size_t i = inbox->count; i-- > 0; )
		if (memcmp(inbox->entries[i]->id, id, INBOX_ID_LEN) == 0)
			return i;
	return inbox->count;
}

struct inbox_entry **
inbox_snapshot(struct smtpd_inbox *inbox, size_t *n, uint64_t *seq)
{
	struct inbox_entry **v = NULL;

	*n = 0;
	pthread_mutex_lock(&inbox->lock);
	if (seq)
		*seq = inbox->change;
	if (inbox->count &&
	    (v = malloc(inbox->count * sizeof(*v))) != NULL) {
		for (size_t i = 0; i < inbox->count; i++) {
			v[i] = inbox->entries[inbox->count - 1 - i];
			v[i]->refs++;
		}
		*n = inbox->count;
	}
	pthread_mutex_unlock(&inbox->lock);
	return v;
}

void
inbox_snapshot_free(struct smtpd_inbox *inbox, struct inbox_entry **v,
    size_t n)
{
	struct inbox_entry *dead = NULL;

	if (v == NULL)
		return;
	pthread_mutex_lock(&inbox->lock);
	for (size_t i = 0; i < n; i++)
		entry_release(v[i], &dead);
	pthread_mutex_unlock(&inbox->lock);
	free_dead(dead);
	free(v);
}

struct inbox_entry *
inbox_ref(struct smtpd_inbox *inbox, const char *id)
{
	struct inbox_entry *e = NULL;
	size_t i;

	pthread_mutex_lock(&inbox->lock);
	if ((i = find(inbox, id)) < inbox->count) {
		e = inbox->entries[i];
		e->refs++;
	}
	pthread_mutex_unlock(&inbox->lock);
	return e;
}

void
inbox_unref(struct smtpd_inbox *inbox, struct inbox_entry *e)
{
	struct inbox_entry *dead = NULL;

	if (e == NULL)
		return;
	pthread_mutex_lock(&inbox->lock);
	entry_release(e, &dead);
	pthread_mutex_unlock(&inbox->lock);
	free_dead(dead);
}

bool
inbox_entry_read(struct smtpd_inbox *inbox, const struct inbox_entry *e)
{
	bool read;

	pthread_mutex_lock(&inbox->lock);
	read = e->read;
	pthread_mutex_unlock(&inbox->lock);
	return read;
}

/* listed - whether id is one of ids (ids NULL: all are). */
static bool
listed(const char *id, const char *const *ids, size_t n)
{
	if (ids == NULL)
		return true;
	for (size_t i = 0; i < n; i++)
		if (ids[i] && strcmp(ids[i], id) == 0)
			return true;
	return false;
}

size_t
inbox_set_read(struct smtpd_inbox *inbox, const char *const *ids, size_t n,
    bool read)
{
	size_t changes = 0;

	pthread_mutex_lock(&inbox->lock);
	for (size_t i = 0; i < inbox->count; i++) {
		struct inbox_entry *e = inbox->entries[i];

		if (e->read != read && listed(e->id, ids, n)) {
			e->read = read;
			event_post(inbox, INBOX_EV_READ, e->id, e->session_id);
			changes++;
		}
	}
	if (changes)
		changed(inbox);
	pthread_mutex_unlock(&inbox->lock);
	return changes;
}

size_t
inbox_delete(struct smtpd_inbox *inbox, const char *const *ids, size_t n)
{
	struct inbox_entry *dead = NULL;
	size_t removed = 0, i = 0;

	pthread_mutex_lock(&inbox->lock);
	while (i < inbox->count) {
		if (!listed(inbox->entries[i]->id, ids, n)) {
			i++;
			continue;
		}
		remove_at(inbox, i, &dead);
		removed++;
	}
	if (removed)
		changed(inbox);
	pthread_mutex_unlock(&inbox->lock);
	free_dead(dead);
	return removed;
}

size_t
inbox_unread(struct smtpd_inbox *inbox)
{
	size_t n = 0;

	pthread_mutex_lock(&inbox->lock);
	for (size_t i = 0; i < inbox->count; i++)
		n += !inbox->entries[i]->read;
	pthread_mutex_unlock(&inbox->lock);
	return n;
}

void *
inbox_entry_parsed(struct smtpd_inbox *inbox, struct inbox_entry *e)
{
	void *p;

	pthread_mutex_lock(&inbox->lock);
	p = e->parsed;
	pthread_mutex_unlock(&inbox->lock);
	return p;
}

void *
inbox_entry_set_parsed(struct smtpd_inbox *inbox, struct inbox_entry *e,
    void *p, void (*free_fn)(void *))
{
	void *kept;

	pthread_mutex_lock(&inbox->lock);
	if (e->parsed == NULL) {
		e->parsed = p;
		e->parsed_free = free_fn;
	}
	kept = e->parsed;
	pthread_mutex_unlock(&inbox->lock);
	/* Two readers parsed the same message at once: the first one's
	 * result stays, the second's goes. */
	if (kept != p && p && free_fn)
		free_fn(p);
	return kept;
}

uint64_t
inbox_change_seq(struct smtpd_inbox *inbox)
{
	uint64_t seq;

	pthread_mutex_lock(&inbox->lock);
	seq = inbox->change;
	pthread_mutex_unlock(&inbox->lock);
	return seq;
}

bool
inbox_wait_change(struct smtpd_inbox *inbox, uint64_t *seq, int timeout_ms)
{
	struct timespec deadline = deadline_in(timeout_ms);
	bool moved;

	pthread_mutex_lock(&inbox->lock);
	while (inbox->change <= *seq && !inbox->closed)
		if (!sleep_until(inbox, timeout_ms, &deadline))
			break;
	moved = inbox->change > *seq && !inbox->closed;
	if (moved)
		*seq = inbox->change;
	pthread_mutex_unlock(&inbox->lock);
	return moved;
}

void
inbox_close(struct smtpd_inbox *inbox)
{
	pthread_mutex_lock(&inbox->lock);
	inbox->closed = true;
	pthread_cond_broadcast(&inbox->changed);
	pthread_mutex_unlock(&inbox->lock);
}

size_t
inbox_events(struct smtpd_inbox *inbox, uint64_t after,
    struct inbox_event *out, size_t max, int timeout_ms)
{
	struct timespec deadline = deadline_in(timeout_ms);
	uint64_t first, oldest;
	size_t n = 0;

	pthread_mutex_lock(&inbox->lock);
	while (inbox->last_event <= after && !inbox->closed)
		if (!sleep_until(inbox, timeout_ms, &deadline))
			break;
	oldest = inbox->last_event > INBOX_EVENT_RING ?
	    inbox->last_event - INBOX_EVENT_RING + 1 : 1;
	first = after + 1 > oldest ? after + 1 : oldest;
	for (uint64_t s = first; s <= inbox->last_event && n < max; s++)
		out[n++] = inbox->ring[(s - 1) % INBOX_EVENT_RING];
	pthread_mutex_unlock(&inbox->lock);
	return n;
}

void
inbox_post_event(struct smtpd_inbox *inbox, enum inbox_event_kind kind,
    const char *id, uint64_t session_id)
{
	pthread_mutex_lock(&inbox->lock);
	event_post(inbox, kind, id, session_id);
	pthread_cond_broadcast(&inbox->changed);
	pthread_mutex_unlock(&inbox->lock);
}
