/* SPDX-License-Identifier: ISC */
/*
 * test_inbox.c - the inbox as the HTTP API's store (inbox_internal.h),
 * without a server: IDs, limits and eviction, read flags, references
 * that outlive a delete, the change wait (at once, on arrival, on
 * timeout, on close, 50 waiters at once) and the event ring.
 */
#include "inbox_internal.h"
#include "suite.h"

#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* add - store a message whose text is `text' for rcpt; its ID in id. */
static int
add(struct smtpd_inbox *inbox, const char *rcpt, const char *text,
    char id[INBOX_ID_LEN + 1])
{
	const char *rcpts[] = { rcpt };
	struct smtpd_message m = {
		.peer_ip = "192.0.2.1", .peer_port = 25, .helo = "client",
		.mailfrom = "from@example.com", .rcpttos = rcpts,
		.rcpt_count = 1, .data = text, .data_len = strlen(text),
	};

	return inbox_add(inbox, &m, 7, id);
}

/* sleep_ms - nanosleep for ms milliseconds (usleep is not POSIX.1-2008). */
static void
sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

/* since - milliseconds since start. */
static long
since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 +
	    (now.tv_nsec - start->tv_nsec) / 1000000;
}

static void
test_ids_are_22_alphanumerics_and_unique(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	enum { N = 2000 };
	static char ids[N][INBOX_ID_LEN + 1];
	size_t dup = 0, bad = 0;

	for (int i = 0; i < N; i++) {
		CU_ASSERT_EQUAL_FATAL(add(inbox, "a@example.com", "x", ids[i]), 0);
		if (strlen(ids[i]) != INBOX_ID_LEN ||
		    strspn(ids[i], "0123456789abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != INBOX_ID_LEN)
			bad++;
	}
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			dup += strcmp(ids[i], ids[j]) == 0;
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(dup, 0);
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), N);
	smtpd_inbox_free(inbox);
}

static void
test_two_inboxes_make_different_ids(void)
{
	struct smtpd_inbox *a = smtpd_inbox_new(), *b = smtpd_inbox_new();
	char ia[INBOX_ID_LEN + 1], ib[INBOX_ID_LEN + 1];

	add(a, "a@example.com", "x", ia);
	add(b, "a@example.com", "x", ib);
	CU_ASSERT_STRING_NOT_EQUAL(ia, ib);
	smtpd_inbox_free(a);
	smtpd_inbox_free(b);
}

static void
test_entry_has_seq_time_size_and_session(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	char id[INBOX_ID_LEN + 1];
	struct inbox_entry *e;
	struct timespec now;

	add(inbox, "a@example.com", "first", id);
	add(inbox, "b@example.com", "second!", id);
	clock_gettime(CLOCK_REALTIME, &now);
	e = inbox_ref(inbox, id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(e->seq, 2);
	CU_ASSERT_EQUAL(e->size, 7);
	CU_ASSERT_EQUAL(e->session_id, 7);
	CU_ASSERT_STRING_EQUAL(e->msg->rcpttos[0], "b@example.com");
	CU_ASSERT(e->created.tv_sec <= now.tv_sec && e->created.tv_sec >= now.tv_sec - 5);
	CU_ASSERT_PTR_NULL(inbox_ref(inbox, "nosuchidnosuchidnosuch"));
	CU_ASSERT_PTR_NULL(inbox_ref(inbox, ""));
	inbox_unref(inbox, e);
	smtpd_inbox_free(inbox);
}

static void
test_eviction_by_count_drops_the_oldest(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	char text[32];
	struct smtpd_message *m;

	CU_ASSERT_EQUAL(smtpd_inbox_set_limits(inbox, 3, 0), 0);
	for (int i = 1; i <= 5; i++) {
		snprintf(text, sizeof(text), "message %d", i);
		add(inbox, "a@example.com", text, NULL);
	}
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 3);
	m = smtpd_inbox_get(inbox, 0);
	CU_ASSERT_STRING_EQUAL(m->data, "message 3");
	smtpd_inbox_message_free(m);
	m = smtpd_inbox_get(inbox, 2);
	CU_ASSERT_STRING_EQUAL(m->data, "message 5");
	smtpd_inbox_message_free(m);
	/* lowering the limit drops the excess at once */
	smtpd_inbox_set_limits(inbox, 1, 0);
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 1);
	/* 0: no limit */
	smtpd_inbox_set_limits(inbox, 0, 0);
	for (int i = 0; i < 20; i++)
		add(inbox, "a@example.com", "x", NULL);
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 21);
	smtpd_inbox_free(inbox);
}

static void
test_eviction_by_bytes_drops_the_oldest_keeps_the_newest(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	char big[101];
	struct smtpd_message *m;

	memset(big, 'b', 100);
	big[100] = '\0';
	smtpd_inbox_set_limits(inbox, 0, 250);
	add(inbox, "a@example.com", "1234567890", NULL);	/* 10 */
	add(inbox, "a@example.com", big, NULL);			/* 110 */
	add(inbox, "a@example.com", big, NULL);			/* 210 */
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 3);
	add(inbox, "a@example.com", big, NULL);	/* 310: the two oldest go */
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 2);
	m = smtpd_inbox_get(inbox, 0);
	CU_ASSERT_EQUAL(m->data_len, 100);
	smtpd_inbox_message_free(m);
	/* one message bigger than the limit: it alone is kept */
	smtpd_inbox_set_limits(inbox, 0, 50);
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 1);
	add(inbox, "a@example.com", "tiny", NULL);
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 1);
	m = smtpd_inbox_get(inbox, 0);
	CU_ASSERT_STRING_EQUAL(m->data, "tiny");
	smtpd_inbox_message_free(m);
	smtpd_inbox_free(inbox);
}

static void
test_snapshot_is_newest_first_and_read_flags_count(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	char ids[3][INBOX_ID_LEN + 1];
	const char *two[] = { ids[0], ids[2] };
	struct inbox_entry **v;
	size_t n;
	uint64_t seq;

	CU_ASSERT_PTR_NULL(inbox_snapshot(inbox, &n, &seq));
	CU_ASSERT_EQUAL(n, 0);
	for (int i = 0; i < 3; i++)
		add(inbox, "a@example.com", "x", ids[i]);
	v = inbox_snapshot(inbox, &n, &seq);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_STRING_EQUAL(v[0]->id, ids[2]);
	CU_ASSERT_STRING_EQUAL(v[2]->id, ids[0]);
	CU_ASSERT_EQUAL(seq, inbox_change_seq(inbox));
	CU_ASSERT_EQUAL(inbox_unread(inbox), 3);
	CU_ASSERT_EQUAL(inbox_set_read(inbox, two, 2, true), 2);
	CU_ASSERT_EQUAL(inbox_set_read(inbox, two, 2, true), 0);
	CU_ASSERT(inbox_entry_read(inbox, v[0]));
	CU_ASSERT(!inbox_entry_read(inbox, v[1]));
	CU_ASSERT_EQUAL(inbox_unread(inbox), 1);
	CU_ASSERT_EQUAL(inbox_set_read(inbox, NULL, 0, true), 1);
	CU_ASSERT_EQUAL(inbox_unread(inbox), 0);
	CU_ASSERT_EQUAL(inbox_set_read(inbox, NULL, 0, false), 3);
	inbox_snapshot_free(inbox, v, n);
	smtpd_inbox_free(inbox);
}

static void
test_delete_by_id_and_all(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	char ids[3][INBOX_ID_LEN + 1];
	const char *one[] = { ids[1], "nosuchidnosuchidnosuch" };

	for (int i = 0; i < 3; i++)
		add(inbox, "a@example.com", "x", ids[i]);
	CU_ASSERT_EQUAL(inbox_delete(inbox, one, 2), 1);
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 2);
	CU_ASSERT_PTR_NULL(inbox_ref(inbox, ids[1]));
	CU_ASSERT_EQUAL(inbox_delete(inbox, NULL, 0), 2);
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 0);
	smtpd_inbox_free(inbox);
}

/* parsed_free - the cache's free function: counts its calls. */
static int parsed_frees;
static void
parsed_free(void *p)
{
	parsed_frees++;
	free(p);
}

static void
test_reference_keeps_a_deleted_entry_alive(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	char id[INBOX_ID_LEN + 1];
	struct inbox_entry *e;
	char *a = strdup("first"), *b = strdup("second");

	add(inbox, "a@example.com", "the text of the message", id);
	e = inbox_ref(inbox, id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	parsed_frees = 0;
	CU_ASSERT_PTR_NULL(inbox_entry_parsed(inbox, e));
	CU_ASSERT_PTR_EQUAL(inbox_entry_set_parsed(inbox, e, a, parsed_free), a);
	/* a second parse loses, and is freed at once */
	CU_ASSERT_PTR_EQUAL(inbox_entry_set_parsed(inbox, e, b, parsed_free), a);
	CU_ASSERT_EQUAL(parsed_frees, 1);
	CU_ASSERT_EQUAL(inbox_delete(inbox, NULL, 0), 1);
	/* deleted, but the reader's reference keeps it (ASan would see a
	 * use after free here otherwise) */
	CU_ASSERT_STRING_EQUAL(e->msg->data, "the text of the message");
	CU_ASSERT_STRING_EQUAL(inbox_entry_parsed(inbox, e), "first");
	CU_ASSERT_EQUAL(parsed_frees, 1);
	inbox_unref(inbox, e);
	CU_ASSERT_EQUAL(parsed_frees, 2);
	smtpd_inbox_free(inbox);
}

static void
test_wait_returns_at_once_when_changed_already(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	uint64_t seq = inbox_change_seq(inbox);
	struct timespec start;

	add(inbox, "a@example.com", "x", NULL);
	clock_gettime(CLOCK_MONOTONIC, &start);
	CU_ASSERT(inbox_wait_change(inbox, &seq, 5000));
	CU_ASSERT(since(&start) < 1000);
	CU_ASSERT_EQUAL(seq, inbox_change_seq(inbox));
	smtpd_inbox_free(inbox);
}

static void
test_wait_times_out(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	uint64_t seq = inbox_change_seq(inbox), before = seq;
	struct timespec start;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &start);
	CU_ASSERT(!inbox_wait_change(inbox, &seq, 200));
	ms = since(&start);
	CU_ASSERT(ms >= 190 && ms < 3000);
	CU_ASSERT_EQUAL(seq, before);
	CU_ASSERT(!inbox_wait_change(inbox, &seq, 0));
	smtpd_inbox_free(inbox);
}

struct waiter {
	struct smtpd_inbox	*inbox;
	pthread_t		 thread;
	char			 rcpt[64];
	uint64_t		 seq;
	int			 timeout_ms;
	bool			 found;
	atomic_bool		 returned;	/* read while the thread runs */
	long			 ms;
};

/* has_rcpt - whether a message to rcpt is in the inbox now. */
static bool
has_rcpt(struct smtpd_inbox *inbox, const char *rcpt)
{
	struct inbox_entry **v;
	size_t n;
	bool found = false;

	v = inbox_snapshot(inbox, &n, NULL);
	for (size_t i = 0; i < n; i++)
		found |= strcmp(v[i]->msg->rcpttos[0], rcpt) == 0;
	inbox_snapshot_free(inbox, v, n);
	return found;
}

/* wait_for - what an HTTP wait= does: look, else wait for a change and
 * look again, until the message is there or the wait fails. */
static void *
wait_for(void *arg)
{
	struct waiter *w = arg;
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		uint64_t seq;
		size_t n;
		struct inbox_entry **v = inbox_snapshot(w->inbox, &n, &seq);

		for (size_t i = 0; i < n && !w->found; i++)
			w->found = strcmp(v[i]->msg->rcpttos[0], w->rcpt) == 0;
		inbox_snapshot_free(w->inbox, v, n);
		if (w->found || !inbox_wait_change(w->inbox, &seq, w->timeout_ms))
			break;
	}
	w->ms = since(&start);
	atomic_store(&w->returned, true);
	return NULL;
}

static void
test_wait_returns_on_arrival(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct waiter w = { .inbox = inbox, .timeout_ms = 10000,
	    .rcpt = "ann@example.com" };

	pthread_create(&w.thread, NULL, wait_for, &w);
	sleep_ms(100);
	CU_ASSERT(!atomic_load(&w.returned));
	add(inbox, "ann@example.com", "x", NULL);
	pthread_join(w.thread, NULL);
	CU_ASSERT(w.found);
	CU_ASSERT(w.ms < 5000);
	smtpd_inbox_free(inbox);
}

static void
test_close_ends_every_wait_for_good(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct waiter w = { .inbox = inbox, .timeout_ms = -1,
	    .rcpt = "nobody@example.com" };
	struct inbox_event ev[4];
	uint64_t seq;
	struct timespec start;

	pthread_create(&w.thread, NULL, wait_for, &w);
	sleep_ms(100);
	inbox_close(inbox);
	pthread_join(w.thread, NULL);	/* would hang if close did not wake it */
	CU_ASSERT(!w.found);
	seq = inbox_change_seq(inbox);
	clock_gettime(CLOCK_MONOTONIC, &start);
	CU_ASSERT(!inbox_wait_change(inbox, &seq, -1));
	CU_ASSERT_EQUAL(inbox_events(inbox, 0, ev, 4, -1), 0);
	CU_ASSERT(!smtpd_inbox_wait(inbox, 1, -1));
	CU_ASSERT(since(&start) < 1000);
	smtpd_inbox_free(inbox);
}

static void
test_fifty_waiters_each_get_their_own_message(void)
{
	enum { N = 50 };
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	static struct waiter w[N];
	int found = 0;

	for (int i = 0; i < N; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].inbox = inbox;
		w[i].timeout_ms = 10000;
		snprintf(w[i].rcpt, sizeof(w[i].rcpt), "u%d@example.com", i);
		CU_ASSERT_EQUAL_FATAL(pthread_create(&w[i].thread, NULL,
		    wait_for, &w[i]), 0);
	}
	sleep_ms(100);
	/* in reverse order, so that no waiter is served by arrival order */
	for (int i = N - 1; i >= 0; i--) {
		add(inbox, w[i].rcpt, "x", NULL);
		add(inbox, "noise@example.com", "x", NULL);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(w[i].thread, NULL);
		found += w[i].found && has_rcpt(inbox, w[i].rcpt);
	}
	CU_ASSERT_EQUAL(found, N);
	smtpd_inbox_free(inbox);
}

static void
test_event_ring_keeps_the_last_1024(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	char id[INBOX_ID_LEN + 1];
	const char *ids[] = { id };
	struct inbox_event ev[8];
	static struct inbox_event all[2000];
	size_t n;

	add(inbox, "a@example.com", "x", id);
	inbox_set_read(inbox, ids, 1, true);
	inbox_delete(inbox, ids, 1);
	inbox_post_event(inbox, INBOX_EV_SESSION, NULL, 42);
	n = inbox_events(inbox, 0, ev, 8, 0);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	CU_ASSERT_EQUAL(ev[0].kind, INBOX_EV_STORED);
	CU_ASSERT_STRING_EQUAL(ev[0].id, id);
	CU_ASSERT_EQUAL(ev[0].session_id, 7);
	CU_ASSERT_EQUAL(ev[1].kind, INBOX_EV_READ);
	CU_ASSERT_EQUAL(ev[2].kind, INBOX_EV_DELETED);
	CU_ASSERT_EQUAL(ev[3].kind, INBOX_EV_SESSION);
	CU_ASSERT_EQUAL(ev[3].session_id, 42);
	CU_ASSERT_STRING_EQUAL(ev[3].id, "");
	CU_ASSERT_EQUAL(ev[3].seq, 4);
	CU_ASSERT_EQUAL(inbox_events(inbox, 2, ev, 8, 0), 2);
	CU_ASSERT_EQUAL(ev[0].seq, 3);
	CU_ASSERT_EQUAL(inbox_events(inbox, 4, ev, 8, 0), 0);
	/* a reader that fell behind gets the oldest kept */
	for (int i = 0; i < 1500; i++)
		inbox_post_event(inbox, INBOX_EV_SESSION, NULL, (uint64_t)i);
	n = inbox_events(inbox, 0, all, 2000, 0);
	CU_ASSERT_EQUAL(n, INBOX_EVENT_RING);
	CU_ASSERT_EQUAL(all[0].seq, 1504 - INBOX_EVENT_RING + 1);
	CU_ASSERT_EQUAL(all[n - 1].seq, 1504);
	smtpd_inbox_free(inbox);
}

/* post_later - a thread that posts one event after 100 ms. */
static void *
post_later(void *arg)
{
	sleep_ms(100);
	inbox_post_event(arg, INBOX_EV_SESSION, NULL, 9);
	return NULL;
}

static void
test_events_block_until_one_comes(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct inbox_event ev[2];
	pthread_t t;
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	CU_ASSERT_EQUAL(inbox_events(inbox, 0, ev, 2, 150), 0);
	CU_ASSERT(since(&start) >= 140);
	pthread_create(&t, NULL, post_later, inbox);
	CU_ASSERT_EQUAL(inbox_events(inbox, 0, ev, 2, 10000), 1);
	CU_ASSERT_EQUAL(ev[0].session_id, 9);
	pthread_join(t, NULL);
	smtpd_inbox_free(inbox);
}

int
unit_add_inbox_tests(void)
{
	static const struct unit_test tests[] = {
		{ "ids are 22 alphanumerics and unique",
		    test_ids_are_22_alphanumerics_and_unique },
		{ "two inboxes make different ids",
		    test_two_inboxes_make_different_ids },
		{ "entry has seq, time, size and session",
		    test_entry_has_seq_time_size_and_session },
		{ "eviction by count drops the oldest",
		    test_eviction_by_count_drops_the_oldest },
		{ "eviction by bytes drops the oldest, keeps the newest",
		    test_eviction_by_bytes_drops_the_oldest_keeps_the_newest },
		{ "snapshot is newest first; read flags",
		    test_snapshot_is_newest_first_and_read_flags_count },
		{ "delete by id and all", test_delete_by_id_and_all },
		{ "a reference keeps a deleted entry alive",
		    test_reference_keeps_a_deleted_entry_alive },
		{ "wait returns at once when changed already",
		    test_wait_returns_at_once_when_changed_already },
		{ "wait times out", test_wait_times_out },
		{ "wait returns on arrival", test_wait_returns_on_arrival },
		{ "close ends every wait for good",
		    test_close_ends_every_wait_for_good },
		{ "50 waiters each get their own message",
		    test_fifty_waiters_each_get_their_own_message },
		{ "the event ring keeps the last 1024",
		    test_event_ring_keeps_the_last_1024 },
		{ "events block until one comes",
		    test_events_block_until_one_comes },
	};

	return unit_add_suite("inbox", tests, sizeof(tests) / sizeof(tests[0]));
}
