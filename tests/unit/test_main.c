/* SPDX-License-Identifier: ISC */
/*
 * test_main.c - the CUnit runner for the unit tests, and the in-memory
 * channel driver they share (unit.h).
 */
#include "unit.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct delivered delivered;

/* test_server.c: the library's API over real sockets. */
int	unit_add_server_tests(void);
int	unit_add_relay_tests(void);
int	unit_add_proxyproto_tests(void);
int	unit_add_lmtp_tests(void);
/* test_address.c: the address and parameter parser alone. */
int	unit_add_address_tests(void);
/* test_message.c: the DATA and BDAT text codec alone. */
int	unit_add_message_tests(void);
/* test_fault.c: the fault rules alone. */
int	unit_add_fault_tests(void);
int	unit_add_auth_tests(void);
/* test_compat.c: compat.h, on the Linux calls or the fallbacks. */
int	unit_add_compat_tests(void);
/* test_inbox.c: the inbox as the HTTP API's store. */
int	unit_add_inbox_tests(void);
/* test_sessions.c: the ring of recent SMTP sessions. */
int	unit_add_sessions_tests(void);
/* test_store_channel.c: the channel feeding the store and the log. */
int	unit_add_store_channel_tests(void);
int	unit_add_mime_tests(void);
/* test_http.c: the HTTP side from C (and its refusal in WEB=no). */
int	unit_add_http_tests(void);
/* test_search.c: Mailpit's search language (WEB=yes). */
int	unit_add_search_tests(void);

struct memory_io {
	const char	*in;
	size_t		 len, pos, chunk;
	char		*out;
	size_t		 out_len, out_cap;
	int		 writes;
};

static struct memory_io last;

static ssize_t
memory_read(void *ctx, void *buf, size_t len, bool wait)
{
	struct memory_io *m = ctx;
	size_t n = m->len - m->pos;

	(void)wait;
	if (n == 0)
		return 0;
	if (m->chunk && n > m->chunk)
		n = m->chunk;
	if (n > len)
		n = len;
	memcpy(buf, m->in + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static ssize_t
memory_write(void *ctx, const void *buf, size_t len)
{
	struct memory_io *m = ctx;

	if (m->out_len + len + 1 > m->out_cap) {
		m->out_cap = (m->out_len + len + 1) * 2;
		m->out = realloc(m->out, m->out_cap);
	}
	memcpy(m->out + m->out_len, buf, len);
	m->out_len += len;
	m->out[m->out_len] = '\0';
	m->writes++;
	return 0;
}

static char *
join(const char *const *v, size_t n)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	s = calloc(1, len);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, v[i]);
	}
	return s;
}

static const char *
record_message(struct smtpd_channel *ch, const struct smtpd_message *m,
    void *ctx)
{
	int i = delivered.count;

	(void)ch;
	(void)ctx;
	if (i < MAX_MESSAGES) {
		delivered.data[i] = malloc(m->data_len + 1);
		memcpy(delivered.data[i], m->data, m->data_len + 1);
		delivered.len[i] = m->data_len;
		delivered.mailfrom[i] = strdup(m->mailfrom);
		delivered.rcpts[i] = join(m->rcpttos, m->rcpt_count);
		delivered.mail_options[i] = join(m->mail_options,
		    m->mail_option_count);
		delivered.rcpt_options[i] = join(m->rcpt_options,
		    m->rcpt_option_count);
		delivered.count++;
	}
	return delivered.reply;
}

void
unit_reset(void)
{
	for (int i = 0; i < delivered.count; i++) {
		free(delivered.data[i]);
		free(delivered.mailfrom[i]);
		free(delivered.rcpts[i]);
		free(delivered.mail_options[i]);
		free(delivered.rcpt_options[i]);
	}
	memset(&delivered, 0, sizeof(delivered));
}

void
unit_config(struct smtpd_config *cfg)
{
	smtpd_config_init(cfg);
	cfg->fqdn = "test.example";
	cfg->timeout = 0;
	cfg->handler.name = "record";
	cfg->handler.process_message = record_message;
	cfg->handler.ctx = NULL;
}

const char *
unit_session(const struct smtpd_config *cfg, const char *input, size_t len,
    size_t chunk)
{
	static char replies[1 << 20];
	struct smtpd_server *srv;
	struct smtpd_channel *ch;
	struct channel_io io;
	char err[256];
	char *crlf;

	free(last.out);
	memset(&last, 0, sizeof(last));
	last.in = input;
	last.len = len;
	last.chunk = chunk;
	io.read = memory_read;
	io.write = memory_write;
	io.ctx = &last;
	if (smtpd_server_new(cfg, &srv, err, sizeof(err)) != 0) {
		snprintf(replies, sizeof(replies), "server_new: %s", err);
		return replies;
	}
	ch = channel_new_io(srv, &io, "192.0.2.1", 4242);
	channel_run(ch);
	channel_free(ch);
	smtpd_server_free(srv);
	if (last.out == NULL)
		return "";
	crlf = strstr(last.out, "\r\n");
	snprintf(replies, sizeof(replies), "%s", crlf ? crlf + 2 : "");
	return replies;
}

const char *
unit_replies(const char *input)
{
	struct smtpd_config cfg;

	unit_config(&cfg);
	return unit_session(&cfg, input, strlen(input), 0);
}

int
unit_writes(void)
{
	return last.writes;
}

const char *
unit_greeting(void)
{
	static char g[512];
	const char *crlf;

	if (last.out == NULL)
		return "";
	crlf = strstr(last.out, "\r\n");
	snprintf(g, sizeof(g), "%.*s", crlf ? (int)(crlf - last.out) : 0,
	    last.out);
	return g;
}

int
unit_add_suite(const char *name, const struct unit_test *tests, size_t n)
{
	CU_pSuite s = CU_add_suite(name, NULL, NULL);

	if (s == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}

int
main(void)
{
	unsigned failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	if (unit_add_channel_tests() != 0 || unit_add_server_tests() != 0 ||
	    unit_add_relay_tests() != 0 || unit_add_address_tests() != 0 ||
	    unit_add_proxyproto_tests() != 0 || unit_add_lmtp_tests() != 0 ||
	    unit_add_fault_tests() != 0 || unit_add_auth_tests() != 0 ||
	    unit_add_compat_tests() != 0 || unit_add_message_tests() != 0 ||
	    unit_add_inbox_tests() != 0 ||
	    unit_add_sessions_tests() != 0 ||
	    unit_add_store_channel_tests() != 0 || unit_add_http_tests() != 0
#ifdef SMTPD_WEB
	    || unit_add_mime_tests() != 0 || unit_add_search_tests() != 0
#endif
	    ) {
		CU_cleanup_registry();
		return 1;
	}
	CU_basic_set_mode(CU_BRM_NORMAL);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	unit_reset();
	free(last.out);
	return failed ? 1 : 0;
}
