/* SPDX-License-Identifier: ISC */
/*
 * test_sessions.c - the ring of recent SMTP sessions (sessions.c) alone:
 * transcripts with AUTH secrets masked and message text elided, the cap,
 * the ring's bound, how a session ended, and the event a refused session
 * posts to the store.
 */
#include "sessions.h"
#include "inbox_internal.h"
#include "suite.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* C, S - one client line, one server reply. */
static void
C(struct session_rec *r, const char *line)
{
	session_client_line(r, line, strlen(line));
}

static void
S(struct session_rec *r, const char *reply)
{
	session_server_reply(r, reply, strlen(reply));
}

/* a copy of the view of one session, for asserting after the lock */
struct copy {
	uint64_t	 id;
	char		*transcript;
	char		 peer[64];
	int		 port;
	char		 auth[64], tls[64], fault[128];
	char		 ids[256];
	size_t		 nmessages;
	int		 last_code;
	enum session_end how;
	bool		 ended_yet;
	int		 calls;
};

/* take - session_log_get's callback: copy the view. */
static int
take(const struct session_view *v, void *ctx)
{
	struct copy *c = ctx;

	c->calls++;
	c->id = v->id;
	free(c->transcript);
	c->transcript = strdup(v->transcript);
	snprintf(c->peer, sizeof(c->peer), "%s", v->peer_ip);
	c->port = v->peer_port;
	snprintf(c->auth, sizeof(c->auth), "%s", v->auth_user ? v->auth_user : "-");
	snprintf(c->tls, sizeof(c->tls), "%s", v->tls_protocol ? v->tls_protocol : "-");
	snprintf(c->fault, sizeof(c->fault), "%s", v->fault_rule ? v->fault_rule : "-");
	c->ids[0] = '\0';
	for (size_t i = 0; i < v->nmessages; i++) {
		strcat(c->ids, v->message_ids[i]);
		strcat(c->ids, ",");
	}
	c->nmessages = v->nmessages;
	c->last_code = v->last_code;
	c->how = v->how;
	c->ended_yet = v->ended_yet;
	return 0;
}

static void
test_auth_plain_initial_response_is_masked(void)
{
	struct session_log *log = session_log_new(10, 65536);
	struct session_rec *r = session_begin(log, "192.0.2.7", 5000);
	struct copy c = { 0 };

	S(r, "220 test.example Python SMTP proxy version 0.3");
	C(r, "EHLO client");
	S(r, "250 HELP");
	C(r, "AUTH PLAIN AGFubgBzZWNyZXQ=");
	S(r, "235 2.7.0 Authentication successful");
	session_set_auth(r, "ann");
	C(r, "QUIT");
	S(r, "221 Bye");
	session_end(log, r, SESSION_QUIT);
	CU_ASSERT(session_log_get(log, 1, take, &c));
	CU_ASSERT_PTR_NULL(strstr(c.transcript, "AGFubgBzZWNyZXQ="));
	CU_ASSERT_PTR_NOT_NULL(strstr(c.transcript, "C: AUTH PLAIN ****\n"));
	CU_ASSERT_STRING_EQUAL(c.transcript,
	    "S: 220 test.example Python SMTP proxy version 0.3\n"
	    "C: EHLO client\nS: 250 HELP\nC: AUTH PLAIN ****\n"
	    "S: 235 2.7.0 Authentication successful\nC: QUIT\nS: 221 Bye");
	CU_ASSERT_STRING_EQUAL(c.auth, "ann");
	CU_ASSERT_STRING_EQUAL(c.peer, "192.0.2.7");
	CU_ASSERT_EQUAL(c.port, 5000);
	CU_ASSERT(c.ended_yet);
	CU_ASSERT_EQUAL(c.how, SESSION_QUIT);
	CU_ASSERT_EQUAL(c.last_code, 221);
	free(c.transcript);
	session_log_free(log);
}

/* A multi-line reply, as the channel sends it (CRLF between its lines),
 * is one transcript line per reply line, not one line with '?' for CRLF. */
static void
test_multi_line_reply_is_a_line_each(void)
{
	struct session_log *log = session_log_new(10, 65536);
	struct session_rec *r = session_begin(log, "192.0.2.7", 5000);
	struct copy c = { 0 };

	C(r, "EHLO client");
	S(r, "250-test.example\r\n250-8BITMIME\r\n250 HELP\r\n");
	session_end(log, r, SESSION_CLIENT_LEFT);
	CU_ASSERT(session_log_get(log, 1, take, &c));
	CU_ASSERT_STRING_EQUAL(c.transcript, "C: EHLO client\n"
	    "S: 250-test.example\nS: 250-8BITMIME\nS: 250 HELP");
	CU_ASSERT_EQUAL(c.last_code, 250);
	free(c.transcript);
	session_log_free(log);
}

static void
test_auth_login_continuation_lines_are_masked(void)
{
	struct session_log *log = session_log_new(10, 65536);
	struct session_rec *r = session_begin(log, "192.0.2.7", 5000);
	struct copy c = { 0 };

	C(r, "AUTH LOGIN");
	S(r, "334 VXNlcm5hbWU6");
	C(r, "YW5u");
	S(r, "334 UGFzc3dvcmQ6");
	C(r, "c2VjcmV0");
	S(r, "535 5.7.8 Authentication credentials invalid");
	C(r, "AUTH LOGIN YW5u");
	S(r, "334 UGFzc3dvcmQ6");
	C(r, "*");
	S(r, "501 5.7.0 Authentication canceled");
	C(r, "NOOP");
	S(r, "250 OK");
	session_end(log, r, SESSION_CLIENT_LEFT);
	session_log_get(log, session_id(r), take, &c);
	CU_ASSERT_PTR_NULL(strstr(c.transcript, "YW5u"));
	CU_ASSERT_PTR_NULL(strstr(c.transcript, "c2VjcmV0"));
	CU_ASSERT_STRING_EQUAL(c.transcript,
	    "C: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: ****\n"
	    "S: 334 UGFzc3dvcmQ6\nC: ****\n"
	    "S: 535 5.7.8 Authentication credentials invalid\n"
	    "C: AUTH LOGIN ****\nS: 334 UGFzc3dvcmQ6\nC: *\n"
	    "S: 501 5.7.0 Authentication canceled\nC: NOOP\nS: 250 OK");
	CU_ASSERT_EQUAL(c.how, SESSION_CLIENT_LEFT);
	CU_ASSERT_EQUAL(c.last_code, 501);	/* the refusal, not the 250 */
	free(c.transcript);
	session_log_free(log);
}

static void
test_message_text_is_elided(void)
{
	struct session_log *log = session_log_new(10, 65536);
	struct session_rec *r = session_begin(log, "192.0.2.7", 5000);
	struct copy c = { 0 };

	C(r, "MAIL FROM:<a@example.com>");
	S(r, "250 OK");
	C(r, "DATA");
	S(r, "354 End data with <CR><LF>.<CR><LF>");
	C(r, "Subject: secret plans");	/* a caller that feeds the text */
	C(r, ".");
	S(r, "250 OK");
	C(r, "BDAT 12 LAST");
	S(r, "250 OK");
	session_add_message(r, "AAAAAAAAAAAAAAAAAAAAAA");
	session_add_message(r, "BBBBBBBBBBBBBBBBBBBBBB");
	session_end(log, r, SESSION_QUIT);
	session_log_get(log, session_id(r), take, &c);
	CU_ASSERT_STRING_EQUAL(c.transcript,
	    "C: MAIL FROM:<a@example.com>\nS: 250 OK\nC: DATA\n"
	    "S: 354 End data with <CR><LF>.<CR><LF>\n"
	    "C: (message text elided)\nS: 250 OK\n"
	    "C: BDAT 12 LAST (message text elided)\nS: 250 OK");
	CU_ASSERT_STRING_EQUAL(c.ids,
	    "AAAAAAAAAAAAAAAAAAAAAA,BBBBBBBBBBBBBBBBBBBBBB,");
	free(c.transcript);
	session_log_free(log);
}

static void
test_transcript_is_capped_and_control_bytes_shown(void)
{
	struct session_log *log = session_log_new(10, 200);
	struct session_rec *r = session_begin(log, "192.0.2.7", 5000);
	struct copy c = { 0 };

	C(r, "HELO a\tb\x01");
	for (int i = 0; i < 100; i++) {
		C(r, "NOOP");
		S(r, "250 OK");
	}
	session_end(log, r, SESSION_QUIT);
	session_log_get(log, session_id(r), take, &c);
	CU_ASSERT(strncmp(c.transcript, "C: HELO a?b?\n", 13) == 0);
	CU_ASSERT(strlen(c.transcript) <= 200);
	CU_ASSERT(strlen(c.transcript) > 150);
	CU_ASSERT_PTR_NOT_NULL(strstr(c.transcript, "\n... (truncated)"));
	CU_ASSERT_EQUAL(strstr(c.transcript, "(truncated)"),
	    c.transcript + strlen(c.transcript) - strlen("(truncated)"));
	free(c.transcript);
	session_log_free(log);
}

/* count - session_log_foreach's callback: collect ids, newest first. */
struct ids { uint64_t id[16]; size_t n; bool live[16]; };
static int
count(const struct session_view *v, void *ctx)
{
	struct ids *ids = ctx;

	if (ids->n < 16) {
		ids->live[ids->n] = !v->ended_yet;
		ids->id[ids->n++] = v->id;
	}
	return 0;
}

static void
test_ring_keeps_the_newest_and_lists_live_ones_first(void)
{
	struct session_log *log = session_log_new(3, 1024);
	struct session_rec *live;
	struct ids ids = { 0 };
	struct copy c = { 0 };

	for (int i = 0; i < 5; i++)
		session_end(log, session_begin(log, "192.0.2.1", i), SESSION_QUIT);
	live = session_begin(log, "192.0.2.2", 99);
	C(live, "EHLO x");
	session_log_foreach(log, count, &ids);
	CU_ASSERT_EQUAL_FATAL(ids.n, 4);
	CU_ASSERT_EQUAL(ids.id[0], 6);
	CU_ASSERT(ids.live[0]);
	CU_ASSERT_EQUAL(ids.id[1], 5);
	CU_ASSERT_EQUAL(ids.id[3], 3);
	CU_ASSERT(!ids.live[1]);
	CU_ASSERT(!session_log_get(log, 2, take, &c));	/* pushed out */
	CU_ASSERT(session_log_get(log, 6, take, &c));
	CU_ASSERT(!c.ended_yet);
	CU_ASSERT_STRING_EQUAL(c.transcript, "C: EHLO x");
	free(c.transcript);
	/* a session never ended is freed with the log (no leak) */
	session_log_free(log);
}

static void
test_null_record_is_a_no_op(void)
{
	CU_ASSERT_PTR_NULL(session_begin(NULL, "192.0.2.1", 1));
	C(NULL, "EHLO x");
	S(NULL, "250 OK");
	session_set_tls(NULL, "TLSv1.3", "X");
	session_set_auth(NULL, "ann");
	session_set_fault(NULL, "rcpt 451");
	session_add_message(NULL, "x");
	session_end(NULL, NULL, SESSION_QUIT);
	CU_ASSERT_EQUAL(session_id(NULL), 0);
}

static void
test_refused_session_posts_an_event_delivered_one_does_not(void)
{
	struct smtpd_inbox *store = smtpd_inbox_new();
	struct session_log *log = session_log_new(10, 4096);
	struct session_rec *r;
	struct inbox_event ev[4];
	struct copy c = { 0 };
	uint64_t refused;

	session_log_set_store(log, store);
	r = session_begin(log, "192.0.2.1", 1);
	C(r, "RCPT TO:<a@example.com>");
	S(r, "451 4.3.0 try later");
	session_set_fault(r, "rcpt 451 4.3.0 try later");
	C(r, "QUIT");
	S(r, "221 Bye");
	refused = session_id(r);
	session_end(log, r, SESSION_QUIT);
	r = session_begin(log, "192.0.2.1", 2);
	S(r, "550 no");
	session_add_message(r, "AAAAAAAAAAAAAAAAAAAAAA");
	session_end(log, r, SESSION_QUIT);
	r = session_begin(log, "192.0.2.1", 3);
	S(r, "250 OK");
	session_end(log, r, SESSION_QUIT);
	CU_ASSERT_EQUAL_FATAL(inbox_events(store, 0, ev, 4, 0), 1);
	CU_ASSERT_EQUAL(ev[0].kind, INBOX_EV_SESSION);
	CU_ASSERT_EQUAL(ev[0].session_id, refused);
	session_log_get(log, refused, take, &c);
	CU_ASSERT_STRING_EQUAL(c.fault, "rcpt 451 4.3.0 try later");
	CU_ASSERT_EQUAL(c.last_code, 451);
	free(c.transcript);
	session_log_free(log);
	smtpd_inbox_free(store);
}

int
unit_add_sessions_tests(void)
{
	static const struct unit_test tests[] = {
		{ "AUTH PLAIN's initial response is masked",
		    test_auth_plain_initial_response_is_masked },
		{ "AUTH LOGIN's continuation lines are masked",
		    test_auth_login_continuation_lines_are_masked },
		{ "a multi-line reply is a transcript line each",
		    test_multi_line_reply_is_a_line_each },
		{ "message text is elided", test_message_text_is_elided },
		{ "the transcript is capped; control bytes shown",
		    test_transcript_is_capped_and_control_bytes_shown },
		{ "the ring keeps the newest, lists live ones first",
		    test_ring_keeps_the_newest_and_lists_live_ones_first },
		{ "a NULL record is a no-op", test_null_record_is_a_no_op },
		{ "a refused session posts an event, a delivered one not",
		    test_refused_session_posts_an_event_delivered_one_does_not },
	};

	return unit_add_suite("sessions", tests, sizeof(tests) / sizeof(tests[0]));
}
