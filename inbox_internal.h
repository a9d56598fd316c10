/* SPDX-License-Identifier: ISC */
/*
 * inbox_internal.h - the inbox as the HTTP API's store (inbox.c): what the
 * web layer and the channel's hooks see beyond the public inbox.h.
 *
 * Every message in the inbox is an entry with an ID (22 characters of
 * [A-Za-z0-9], as Mailpit's), an arrival number and time, a read flag and
 * a place for the web layer's parsed form of it.  Entries are reference
 * counted: inbox_ref() and inbox_snapshot() hand out references, so a
 * reader can send a 30 MB message after the lock is released, and a
 * message deleted meanwhile stays alive until its last reader lets go.
 *
 * Every change (stored, deleted, read flag) moves a change counter;
 * inbox_wait_change() blocks on the inbox's condition variable until it
 * moves, which is how an HTTP `wait=` is woken by an SMTP delivery.  The
 * same changes go to a ring of the last 1024 events, for the page's
 * Server-Sent Events.  inbox_close() ends every wait for good, when the
 * server stops.
 *
 * Internal: not installed.  Core code: libc and POSIX threads only.
 */
#ifndef SMTPD_INBOX_INTERNAL_H
#define SMTPD_INBOX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "inbox.h"

#define INBOX_ID_LEN 22			/* Mailpit-like IDs: 22 chars [A-Za-z0-9] */
#define INBOX_EVENT_RING 1024		/* events kept for inbox_events() */

struct inbox_entry {
	char			 id[INBOX_ID_LEN + 1];
	uint64_t		 seq;		/* arrival order 1, 2, ... */
	struct timespec		 created;	/* CLOCK_REALTIME at arrival */
	size_t			 size;		/* msg->data_len: the /raw length */
	const struct smtpd_message *msg;	/* envelope + data, immutable */
	uint64_t		 session_id;	/* sessions.h; 0 = none */
	/* private below: refcount, read flag (use inbox_entry_read), parsed cache */
	unsigned		 refs;		/* the inbox's own, plus readers' */
	bool			 read;		/* guarded by the inbox lock */
	bool			 removed;	/* no longer in the inbox */
	void			*parsed;	/* inbox_entry_set_parsed */
	void			(*parsed_free)(void *);
	struct inbox_entry	*dead_next;	/* freed after the lock is let go */
};

/* inbox_add - store a copy of the message with a new ID (written to
 * id_out when not NULL), evicting the oldest past the limits. 0, or -1
 * (ENOMEM). */
int	inbox_add(struct smtpd_inbox *, const struct smtpd_message *, uint64_t session_id,
	    char id_out[INBOX_ID_LEN + 1]);			/* 0, or -1 (ENOMEM) */
/* inbox_snapshot - every entry, newest first, each ref'd, and the change
 * counter they were taken at; NULL and *n = 0 when empty or ENOMEM. */
struct inbox_entry **inbox_snapshot(struct smtpd_inbox *, size_t *n, uint64_t *seq); /* newest first, each ref'd; NULL+*n=0 when empty or ENOMEM */
/* inbox_snapshot_free - unref each entry and free the array. */
void	inbox_snapshot_free(struct smtpd_inbox *, struct inbox_entry **, size_t n);
/* inbox_ref - the entry with this ID, ref'd; NULL = none. */
struct inbox_entry *inbox_ref(struct smtpd_inbox *, const char *id);	/* NULL = none */
/* inbox_unref - let go of an entry; the last reference frees it. */
void	inbox_unref(struct smtpd_inbox *, struct inbox_entry *);
/* inbox_entry_read - the entry's read flag now. */
bool	inbox_entry_read(struct smtpd_inbox *, const struct inbox_entry *);
/* inbox_set_read - set the read flag of these entries; how many changed. */
size_t	inbox_set_read(struct smtpd_inbox *, const char *const *ids, size_t n, bool read); /* ids NULL: all */
/* inbox_delete - remove these entries; how many were removed. */
size_t	inbox_delete(struct smtpd_inbox *, const char *const *ids, size_t n);	/* ids NULL: all */
/* inbox_unread - how many entries are unread. */
size_t	inbox_unread(struct smtpd_inbox *);
/* the web layer's parse cache: set once per entry; the first setter wins, later
 * values are freed with free_fn; returns the value in place. */
void	*inbox_entry_parsed(struct smtpd_inbox *, struct inbox_entry *);
void	*inbox_entry_set_parsed(struct smtpd_inbox *, struct inbox_entry *, void *p, void (*free_fn)(void *));
/* wait until the change counter passes *seq (stored, deleted, read changed): true and
 * *seq updated; false on timeout or after inbox_close. timeout_ms < 0: none. */
bool	inbox_wait_change(struct smtpd_inbox *, uint64_t *seq, int timeout_ms);
/* inbox_change_seq - the change counter now (what a wait starts from). */
uint64_t inbox_change_seq(struct smtpd_inbox *);
void	inbox_close(struct smtpd_inbox *);	/* wake every waiter for good (server stop) */
enum inbox_event_kind { INBOX_EV_STORED, INBOX_EV_DELETED, INBOX_EV_READ, INBOX_EV_SESSION };
struct inbox_event { uint64_t seq; enum inbox_event_kind kind; char id[INBOX_ID_LEN + 1]; uint64_t session_id; };
/* events with seq > after (a ring of the last 1024; a reader that fell behind gets
 * the oldest kept); blocks up to timeout_ms when there are none; returns the count. */
size_t	inbox_events(struct smtpd_inbox *, uint64_t after, struct inbox_event *out, size_t max, int timeout_ms);
/* inbox_is_handler - whether h is smtpd_handler_inbox(inbox): the server
 * does not store twice what its own class already stored there. */
struct smtpd_handler;
bool	inbox_is_handler(const struct smtpd_handler *, const struct smtpd_inbox *);
/* inbox_post_event - add an event to the ring and wake its readers. */
void	inbox_post_event(struct smtpd_inbox *, enum inbox_event_kind, const char *id, uint64_t session_id);

#endif /* SMTPD_INBOX_INTERNAL_H */
