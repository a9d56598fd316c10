/* SPDX-License-Identifier: ISC */
/*
 * test_relay.c - the delivering handlers through the library API
 * (delivery.h), and the SMTP client (relay.h), over real loopback sockets:
 * servers made with smtpd_server_new in this process, one the upstream of
 * the other.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <errno.h>
#include "delivery.h"
#include "inbox.h"
#include "relay.h"

#include <CUnit/CUnit.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* start - a server on 127.0.0.1, any port, with this handler. */
static struct smtpd_server *
start(struct smtpd_handler h)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	char err[256];

	smtpd_config_init(&cfg);
	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.fqdn = "test.example";
	cfg.timeout = 10;
	cfg.handler = h;
	if (smtpd_server_new(&cfg, &srv, err, sizeof(err)) != 0 ||
	    smtpd_server_start(srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "start: %s\n", err);
		return NULL;
	}
	return srv;
}

/* talk - send a whole SMTP session to port; the replies, read until the
 * server closes (static storage). */
static const char *
talk(int port, const char *session)
{
	static char buf[8192];
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons((unsigned short)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 10 };
	size_t len = 0;
	ssize_t n;
	int fd;

	buf[0] = '\0';
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return buf;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    send(fd, session, strlen(session), MSG_NOSIGNAL) >= 0) {
		/* The Mailman 2 child's exit (SIGCHLD) can interrupt the
		 * read: that is no end of input. */
		while (len + 1 < sizeof(buf) &&
		    ((n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0 ||
		    (n < 0 && errno == EINTR)))
			if (n > 0)
				len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

/* read_only_file - the contents of the one file in dir (static). */
static const char *
read_only_file(const char *dir)
{
	static char buf[4096];
	char path[1024];
	struct dirent *de;
	DIR *d = opendir(dir);
	int files = 0;

	buf[0] = '\0';
	if (d == NULL)
		return buf;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		files++;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "rb");
		if (f) {
			buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
			fclose(f);
		}
	}
	closedir(d);
	if (files != 1)
		snprintf(buf, sizeof(buf), "<%d files>", files);
	return buf;
}

static void
remove_tree(const char *dir)
{
	char cmd[1100];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CU_ASSERT(system(cmd) == 0);
}

/* The SMTP client alone: line endings made CRLF, dots stuffed, so the
 * upstream (our own Maildir server) stores the text as it was. */
static void
test_relay_client_sends_text_intact(void)
{
	char dir[] = "/tmp/relay-unit-XXXXXX", newdir[64];
	struct smtpd_handler h;
	struct smtpd_server *up;
	struct relay_reply rep;
	struct relay *r;
	const char *text = "S: x\n\n.\nbare\r.\rend.";
	char err[256];

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	CU_ASSERT_FATAL(smtpd_handler_maildir(&h, dir, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL((up = start(h)) != NULL);
	r = relay_open("127.0.0.1", smtpd_server_port(up), false, "me.test",
	    5, &rep);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT(relay_has(r, "8BITMIME", NULL));
	CU_ASSERT(relay_mail(r, "a@b.test", "", &rep) == 250);
	CU_ASSERT(relay_rcpt(r, "c@d.test", &rep) == 250);
	CU_ASSERT(relay_data(r, text, strlen(text), &rep) == 250);
	relay_close(r);
	snprintf(newdir, sizeof(newdir), "%s/new", dir);
	CU_ASSERT_STRING_EQUAL(read_only_file(newdir),
	    "Return-Path: <a@b.test>\nS: x\n\n.\nbare\n.\nend.\n");
	smtpd_server_free(up);
	remove_tree(dir);
}

/* The wire size the client computes is what it sends. */
static void
test_relay_wire_size_counts_crlf_and_dots(void)
{
	CU_ASSERT(relay_wire_size("", 0) == 2);
	CU_ASSERT(relay_wire_size("a", 1) == 3);
	CU_ASSERT(relay_wire_size(".\n", 2) == 4);
	CU_ASSERT(relay_wire_size("a\r\nb\rc", 6) == 9);
}

/* A connection refused is code 0 and says so. */
static void
test_relay_open_refused_is_code_0(void)
{
	struct smtpd_server *srv = start(smtpd_handler_sink());
	struct relay_reply rep;
	int port;

	CU_ASSERT_FATAL(srv != NULL);
	port = smtpd_server_port(srv);
	smtpd_server_free(srv);		/* now nothing listens there */
	CU_ASSERT(relay_open("127.0.0.1", port, false, "me", 5, &rep) == NULL);
	CU_ASSERT(rep.code == 0);
	CU_ASSERT(strstr(rep.text, "refused") != NULL);
}

/* PureProxy and Maildir made with the library API, one relaying to the
 * other. */
static void
test_library_pureproxy_relays_to_library_maildir(void)
{
	char dir[] = "/tmp/relay-unit-XXXXXX", newdir[64];
	struct smtpd_proxy_options po = { .remote_host = "127.0.0.1",
	    .timeout = 5 };
	struct smtpd_handler h;
	struct smtpd_server *up, *proxy;
	const char *replies;
	char err[256];

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	CU_ASSERT_FATAL(smtpd_handler_maildir(&h, dir, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL((up = start(h)) != NULL);
	po.remote_port = smtpd_server_port(up);
	CU_ASSERT_FATAL((proxy = start(smtpd_handler_pureproxy(&po))) != NULL);
	replies = talk(smtpd_server_port(proxy), "EHLO c\r\n"
	    "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n"
	    "Subject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n");
	CU_ASSERT(strstr(replies, "354 ") != NULL);
	CU_ASSERT(strstr(replies, "\r\n250 OK\r\n221 Bye\r\n") != NULL);
	snprintf(newdir, sizeof(newdir), "%s/new", dir);
	CU_ASSERT_STRING_EQUAL(read_only_file(newdir), "Return-Path: "
	    "<a@b.test>\nSubject: hi\nX-Peer: 127.0.0.1\n\nhello\n");
	smtpd_server_free(proxy);
	smtpd_server_free(up);
	remove_tree(dir);
}

/* Relay options without an upstream relay to the server's own
 * cfg.remote_host and remote_port (the command line's remotehost). */
static void
test_relay_options_without_upstream_take_the_servers(void)
{
	struct smtpd_relay_options po = { .timeout = 5 };
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct smtpd_server *up, *proxy;
	struct smtpd_config cfg;
	const char *replies;
	char err[256];

	CU_ASSERT_FATAL(inbox != NULL);
	CU_ASSERT_FATAL((up = start(smtpd_handler_inbox(inbox))) != NULL);
	smtpd_config_init(&cfg);
	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.timeout = 10;
	cfg.remote_host = "127.0.0.1";
	cfg.remote_port = smtpd_server_port(up);
	cfg.handler = smtpd_handler_pureproxy(&po);
	CU_ASSERT_FATAL(smtpd_server_new(&cfg, &proxy, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(smtpd_server_start(proxy, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(smtpd_server_config(proxy)->remote_port,
	    cfg.remote_port);
	replies = talk(smtpd_server_port(proxy), "EHLO c\r\n"
	    "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n"
	    "Subject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n");
	CU_ASSERT(strstr(replies, "\r\n250 OK\r\n221 Bye\r\n") != NULL);
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 1);
	smtpd_server_free(proxy);
	smtpd_server_free(up);
	smtpd_inbox_free(inbox);
}

/* MailmanProxy made with the library API, Mailman 2 style. */
static void
test_library_mailmanproxy_pipes_to_mailman2(void)
{
	char home[] = "/tmp/relay-unit-XXXXXX", path[512];
	struct smtpd_proxy_options po = { .remote_host = "127.0.0.1",
	    .remote_port = 9, .timeout = 5, .mailman_home = home };
	struct smtpd_server *proxy;
	const char *replies;
	FILE *f;

	CU_ASSERT_FATAL(mkdtemp(home) != NULL);
	snprintf(path, sizeof(path), "mkdir -p %s/lists/l %s/mail %s/out && "
	    "touch %s/lists/l/config.pck", home, home, home, home);
	CU_ASSERT_FATAL(system(path) == 0);
	snprintf(path, sizeof(path), "%s/mail/mailman", home);
	CU_ASSERT_FATAL((f = fopen(path, "w")) != NULL);
	fprintf(f, "#!/bin/sh\necho \"$*\" > %s/out/args\n", home);
	fclose(f);
	chmod(path, 0755);
	CU_ASSERT_FATAL((proxy = start(smtpd_handler_mailmanproxy(&po)))
	    != NULL);
	replies = talk(smtpd_server_port(proxy), "EHLO c\r\n"
	    "MAIL FROM:<a@b.test>\r\nRCPT TO:<l-request@d.test>\r\nDATA\r\n"
	    "Subject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n");
	CU_ASSERT(strstr(replies, "\r\n250 OK\r\n221 Bye\r\n") != NULL);
	snprintf(path, sizeof(path), "%s/out", home);
	CU_ASSERT_STRING_EQUAL(read_only_file(path), "request l\n");
	smtpd_server_free(proxy);
	remove_tree(home);
}

int
unit_add_relay_tests(void)
{
	static const struct unit_test tests[] = {
		{ "relay client sends text intact",
		    test_relay_client_sends_text_intact },
		{ "relay wire size counts CRLF and dots",
		    test_relay_wire_size_counts_crlf_and_dots },
		{ "relay open refused is code 0",
		    test_relay_open_refused_is_code_0 },
		{ "library PureProxy relays to library Maildir",
		    test_library_pureproxy_relays_to_library_maildir },
		{ "relay options without upstream take the server's",
		    test_relay_options_without_upstream_take_the_servers },
		{ "library MailmanProxy pipes to Mailman 2",
		    test_library_mailmanproxy_pipes_to_mailman2 },
	};

	return unit_add_suite("relay", tests, sizeof(tests) / sizeof(tests[0]));
}
