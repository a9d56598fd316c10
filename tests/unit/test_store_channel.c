/* SPDX-License-Identifier: ISC */
/*
 * test_store_channel.c - the channel's hooks into the HTTP API's store
 * and session log (server_set_store), driven through the channel's I/O
 * seam without a network: a message the handler accepted is stored and
 * its ID recorded in the session, a refused one is not; the transcript
 * masks AUTH and elides the text; LMTP stores when one recipient was
 * accepted; a fault rule that answered is named.
 */
#include "channel_internal.h"
#include "inbox_internal.h"
#include "sessions.h"
#include "suite.h"

#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mem_io {
	const char	*in;
	size_t		 len, pos;
	char		 out[8192];
	size_t		 out_len;
};

static ssize_t
mem_read(void *ctx, void *buf, size_t len, bool wait)
{
	struct mem_io *m = ctx;
	size_t n = m->len - m->pos;

	(void)wait;
	if (n > len)
		n = len;
	memcpy(buf, m->in + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static ssize_t
mem_write(void *ctx, const void *buf, size_t len)
{
	struct mem_io *m = ctx;

	if (m->out_len + len < sizeof(m->out)) {
		memcpy(m->out + m->out_len, buf, len);
		m->out_len += len;
		m->out[m->out_len] = '\0';
	}
	return 0;
}

/* refuse_some - the class's handler: refuses mail to refuse@... */
static const char *
refuse_some(struct smtpd_channel *ch, const struct smtpd_message *m,
    void *ctx)
{
	(void)ch;
	(void)ctx;
	return strncmp(m->rcpttos[0], "refuse@", 7) == 0 ?
	    "554 5.7.1 refused by the class" : NULL;
}

/* test_cfg - a config for these tests: the refusing handler, AUTH. */
static void
test_cfg(struct smtpd_config *cfg)
{
	smtpd_config_init(cfg);
	cfg->fqdn = "test.example";
	cfg->timeout = 0;
	cfg->handler.name = "refuse-some";
	cfg->handler.process_message = refuse_some;
	cfg->auth_any = true;
	cfg->auth_plaintext = true;
}

/* run - one session over input on a server with this store and a new
 * session log; the log is returned (the server is freed, the log not:
 * it is taken back from the server first). */
static struct session_log *
run(const struct smtpd_config *cfg, struct smtpd_inbox *store,
    const char *input, char *replies, size_t rsz)
{
	struct smtpd_server *srv;
	struct smtpd_channel *ch;
	struct session_log *log = session_log_new(100, 65536);
	static struct mem_io m;
	struct channel_io io = { mem_read, mem_write, &m };
	char err[256];

	memset(&m, 0, sizeof(m));
	m.in = input;
	m.len = strlen(input);
	if (smtpd_server_new(cfg, &srv, err, sizeof(err)) != 0) {
		CU_FAIL(err);
		session_log_free(log);
		return NULL;
	}
	server_set_store(srv, store, false, log);
	ch = channel_new_io(srv, &io, "192.0.2.9", 4321);
	channel_run(ch);
	channel_free(ch);
	srv->sessions = NULL;	/* the test keeps the log */
	smtpd_server_free(srv);
	snprintf(replies, rsz, "%s", m.out);
	return log;
}

struct seen {
	char		 transcript[4096];
	char		 ids[128];
	char		 auth[64];
	char		 fault[128];
	enum session_end how;
	int		 n;
};

/* look - session_log_foreach's callback: copy the newest session. */
static int
look(const struct session_view *v, void *ctx)
{
	struct seen *s = ctx;

	s->n++;
	snprintf(s->transcript, sizeof(s->transcript), "%s", v->transcript);
	s->ids[0] = '\0';
	for (size_t i = 0; i < v->nmessages; i++) {
		strcat(s->ids, v->message_ids[i]);
		strcat(s->ids, " ");
	}
	snprintf(s->auth, sizeof(s->auth), "%s", v->auth_user ? v->auth_user : "");
	snprintf(s->fault, sizeof(s->fault), "%s", v->fault_rule ? v->fault_rule : "");
	s->how = v->how;
	return 1;
}

static void
test_accepted_message_is_stored_refused_one_is_not(void)
{
	struct smtpd_config cfg;
	struct smtpd_inbox *store = smtpd_inbox_new();
	struct session_log *log;
	struct inbox_entry **v;
	struct seen s = { 0 };
	char replies[8192], id[64];
	size_t n;

	test_cfg(&cfg);
	log = run(&cfg, store,
	    "EHLO client\r\n"
	    "AUTH PLAIN AGFubgBzM2NyM3Q=\r\n"
	    "MAIL FROM:<a@example.com>\r\nRCPT TO:<ann@example.com>\r\n"
	    "DATA\r\nSubject: kept\r\n\r\nthe secret body\r\n.\r\n"
	    "MAIL FROM:<a@example.com>\r\nRCPT TO:<refuse@example.com>\r\n"
	    "DATA\r\nSubject: refused\r\n\r\nno\r\n.\r\n"
	    "QUIT\r\n", replies, sizeof(replies));
	CU_ASSERT_PTR_NOT_NULL_FATAL(log);
	CU_ASSERT_PTR_NOT_NULL(strstr(replies, "554 5.7.1 refused by the class"));
	v = inbox_snapshot(store, &n, NULL);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_STRING_EQUAL(v[0]->msg->rcpttos[0], "ann@example.com");
	/* As it came over the wire (the handler had LF line ends). */
	CU_ASSERT_STRING_EQUAL(v[0]->msg->data,
	    "Subject: kept\r\n\r\nthe secret body\r\n");
	CU_ASSERT_STRING_EQUAL(v[0]->msg->auth_user, "ann");
	CU_ASSERT_NOT_EQUAL(v[0]->session_id, 0);
	snprintf(id, sizeof(id), "%s ", v[0]->id);
	inbox_snapshot_free(store, v, n);

	session_log_foreach(log, look, &s);
	CU_ASSERT_EQUAL(s.n, 1);
	CU_ASSERT_STRING_EQUAL(s.ids, id);
	CU_ASSERT_STRING_EQUAL(s.auth, "ann");
	CU_ASSERT_EQUAL(s.how, SESSION_QUIT);
	CU_ASSERT_PTR_NOT_NULL(strstr(s.transcript, "C: AUTH PLAIN ****\n"));
	CU_ASSERT_PTR_NULL(strstr(s.transcript, "AGFubgBzM2NyM3Q="));
	CU_ASSERT_PTR_NULL(strstr(s.transcript, "secret body"));
	CU_ASSERT_PTR_NULL(strstr(s.transcript, "Subject"));
	CU_ASSERT_PTR_NOT_NULL(strstr(s.transcript,
	    "C: DATA\nS: 354 End data with <CR><LF>.<CR><LF>\n"
	    "C: (message text elided)\nS: 250 OK\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(s.transcript,
	    "S: 554 5.7.1 refused by the class\nC: QUIT\nS: 221 Bye"));
	CU_ASSERT(strncmp(s.transcript, "S: 220 test.example", 19) == 0);
	session_log_free(log);
	smtpd_inbox_free(store);
}

/* lmtp_refuse_first - process_message_lmtp: the first recipient is full. */
static void
lmtp_refuse_first(struct smtpd_channel *ch, const struct smtpd_message *m,
    const char **replies, void *ctx)
{
	(void)ch;
	(void)ctx;
	for (size_t i = 0; i < m->rcpt_count; i++)
		replies[i] = i == 0 || strncmp(m->rcpttos[i], "refuse@", 7) == 0 ?
		    "552 full" : NULL;
}

static void
test_lmtp_stores_when_one_recipient_was_accepted(void)
{
	struct smtpd_config cfg;
	struct smtpd_inbox *store = smtpd_inbox_new();
	char replies[8192];

	test_cfg(&cfg);
	cfg.lmtp = true;
	cfg.handler.process_message_lmtp = lmtp_refuse_first;
	session_log_free(run(&cfg, store,
	    "LHLO client\r\n"
	    "MAIL FROM:<a@example.com>\r\nRCPT TO:<x@example.com>\r\n"
	    "RCPT TO:<refuse@example.com>\r\nDATA\r\nnone\r\n.\r\n"
	    "MAIL FROM:<a@example.com>\r\nRCPT TO:<x@example.com>\r\n"
	    "RCPT TO:<ok@example.com>\r\nDATA\r\none\r\n.\r\n"
	    "QUIT\r\n", replies, sizeof(replies)));
	CU_ASSERT_EQUAL(smtpd_inbox_count(store), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(replies, "552 full\r\n552 full\r\n"));
	if (smtpd_inbox_count(store) == 1) {
		struct smtpd_message *m = smtpd_inbox_get(store, 0);

		CU_ASSERT_STRING_EQUAL(m->data, "one\r\n");
		smtpd_inbox_message_free(m);
	}
	smtpd_inbox_free(store);
}

static void
test_fault_rule_is_named_and_its_refusal_not_stored(void)
{
	struct smtpd_config cfg;
	struct smtpd_inbox *store = smtpd_inbox_new();
	static const char *rules[] = { "dot=451 4.3.0 try again later" };
	struct session_log *log;
	struct seen s = { 0 };
	char replies[8192];

	test_cfg(&cfg);
	cfg.faults = rules;
	cfg.fault_count = 1;
	log = run(&cfg, store,
	    "HELO client\r\nMAIL FROM:<a@example.com>\r\n"
	    "RCPT TO:<ann@example.com>\r\nDATA\r\nx\r\n.\r\n", replies,
	    sizeof(replies));
	CU_ASSERT_PTR_NOT_NULL(strstr(replies, "451 4.3.0 try again later"));
	CU_ASSERT_EQUAL(smtpd_inbox_count(store), 0);
	session_log_foreach(log, look, &s);
	CU_ASSERT_PTR_NOT_NULL(strstr(s.fault, "dot"));
	CU_ASSERT_STRING_EQUAL(s.ids, "");
	CU_ASSERT_EQUAL(s.how, SESSION_CLIENT_LEFT);
	session_log_free(log);
	smtpd_inbox_free(store);
}

static void
test_store_as_the_handler_keeps_one_copy(void)
{
	struct smtpd_config cfg;
	struct smtpd_inbox *store = smtpd_inbox_new();
	char replies[8192];

	test_cfg(&cfg);
	cfg.handler = smtpd_handler_inbox(store);
	session_log_free(run(&cfg, store,
	    "HELO client\r\nMAIL FROM:<a@example.com>\r\n"
	    "RCPT TO:<ann@example.com>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n",
	    replies, sizeof(replies)));
	CU_ASSERT_EQUAL(smtpd_inbox_count(store), 1);
	smtpd_inbox_free(store);
}

static void
test_connect_refusal_is_recorded_as_refused(void)
{
	struct smtpd_config cfg;
	struct smtpd_inbox *store = smtpd_inbox_new();
	static const char *rules[] = { "connect=554 5.7.1 go away" };
	struct session_log *log;
	struct seen s = { 0 };
	struct inbox_event ev[2];
	char replies[8192];

	test_cfg(&cfg);
	cfg.faults = rules;
	cfg.fault_count = 1;
	log = run(&cfg, store, "HELO client\r\n", replies, sizeof(replies));
	session_log_foreach(log, look, &s);
	CU_ASSERT_EQUAL(s.how, SESSION_REFUSED);
	CU_ASSERT_STRING_EQUAL(s.transcript, "S: 554 5.7.1 go away");
	CU_ASSERT_EQUAL(inbox_events(store, 0, ev, 2, 0), 1);
	CU_ASSERT_EQUAL(ev[0].kind, INBOX_EV_SESSION);
	session_log_free(log);
	smtpd_inbox_free(store);
}

int
unit_add_store_channel_tests(void)
{
	static const struct unit_test tests[] = {
		{ "an accepted message is stored, a refused one not",
		    test_accepted_message_is_stored_refused_one_is_not },
		{ "LMTP stores when one recipient was accepted",
		    test_lmtp_stores_when_one_recipient_was_accepted },
		{ "a fault rule is named and its refusal not stored",
		    test_fault_rule_is_named_and_its_refusal_not_stored },
		{ "the store as the handler keeps one copy",
		    test_store_as_the_handler_keeps_one_copy },
		{ "a refusal at connect is recorded as refused",
		    test_connect_refusal_is_recorded_as_refused },
	};

	return unit_add_suite("store-channel", tests,
	    sizeof(tests) / sizeof(tests[0]));
}
