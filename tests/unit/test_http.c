/* SPDX-License-Identifier: ISC */
/*
 * test_http.c - the HTTP side from C, through the public API alone: a
 * server whose struct smtpd_config asks for http on port 0 tells its port
 * (smtpd_server_http_port), answers Mailpit's API there, stores what an
 * SMTP client sends, and stops cleanly; a build without the web interface
 * refuses it with the reason.
 */
#include "server.h"
#include "suite.h"

#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* talk - connect to 127.0.0.1:port, send req, read the answer into buf
 * (NUL-terminated) until the peer closes or stop appears; its length. */
static size_t
talk(int port, const char *req, char *buf, size_t bufsz, const char *stop)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_port = htons((unsigned short)port) };
	struct timeval tv = { 10, 0 };
	size_t n = 0;
	ssize_t r;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	buf[0] = '\0';
	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return 0;
	}
	if (req && write(fd, req, strlen(req)) < 0)
		n = 0;
	while (n + 1 < bufsz && (r = read(fd, buf + n, bufsz - n - 1)) > 0) {
		n += (size_t)r;
		buf[n] = '\0';
		if (stop && strstr(buf, stop))
			break;
	}
	close(fd);
	return n;
}

/* http_server - a Sink server with http on port 0, started; NULL if the
 * build has no web interface (err says so). */
static struct smtpd_server *
http_server(char *err, size_t errsz)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv = NULL;

	smtpd_config_init(&cfg);
	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.handler = smtpd_handler_sink();
	cfg.http = true;
	cfg.http_port = 0;
	cfg.max_messages = 10;
	if (smtpd_server_new(&cfg, &srv, err, errsz) != 0)
		return NULL;
	if (smtpd_server_start(srv, err, errsz) != 0) {
		smtpd_server_free(srv);
		return NULL;
	}
	return srv;
}

static void
test_http_from_c(void)
{
	char err[256], buf[8192];
	struct smtpd_server *srv = http_server(err, sizeof(err));
	int hp;

	if (srv == NULL) {
		/* WEB=no: refused, saying why. */
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "built without the web "
		    "interface"));
		return;
	}
	hp = smtpd_server_http_port(srv);
	CU_ASSERT(hp > 0 && hp != smtpd_server_port(srv));
	talk(hp, "GET /api/v1/messages HTTP/1.0\r\n\r\n", buf, sizeof(buf),
	    NULL);
	CU_ASSERT(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"total\":0"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "X-Content-Type-Options: nosniff"));
	talk(smtpd_server_port(srv), "HELO c\r\nMAIL FROM:<a@example.com>\r\n"
	    "RCPT TO:<b@example.com>\r\nDATA\r\nSubject: from C\r\n\r\nhi\r\n"
	    ".\r\nQUIT\r\n", buf, sizeof(buf), "221");
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "250 OK"));
	/* The 250 came after the store had it: no wait needed. */
	talk(hp, "GET /api/v1/message/latest HTTP/1.0\r\n\r\n", buf,
	    sizeof(buf), NULL);
	CU_ASSERT(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"Subject\":\"from C\""));
	smtpd_server_stop(srv);
	CU_ASSERT_EQUAL(talk(hp, "GET / HTTP/1.0\r\n\r\n", buf, sizeof(buf),
	    NULL), 0);
	smtpd_server_free(srv);
}

static void
test_no_http_no_port(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	char err[256];

	smtpd_config_init(&cfg);
	cfg.port = 0;
	cfg.host = "127.0.0.1";
	cfg.handler = smtpd_handler_sink();
	CU_ASSERT_FATAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(smtpd_server_start(srv, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(smtpd_server_http_port(srv), 0);
	CU_ASSERT_EQUAL(cfg.max_messages, 500);
	CU_ASSERT_EQUAL(cfg.max_store_size, (size_t)256 << 20);
	CU_ASSERT_EQUAL(cfg.http_max_connections, 100);
	smtpd_server_free(srv);
}

int
unit_add_http_tests(void)
{
	static const struct unit_test tests[] = {
		{ "http from C: port 0, API, store, stop", test_http_from_c },
		{ "no http: no port, 2.2 defaults", test_no_http_no_port },
	};

	return unit_add_suite("http", tests, sizeof(tests) / sizeof(tests[0]));
}
