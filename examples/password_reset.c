/* SPDX-License-Identifier: ISC */
/*
 * password_reset.c - test a function that sends mail, against a real SMTP
 * server started inside the test.
 *
 * The code under test is send_password_reset(): it talks SMTP over a plain
 * socket, as an application would (through its own client, libcurl, ...).
 * The test starts libsmtpd on an ephemeral port of 127.0.0.1 with an
 * in-memory inbox as its handler, points the function at that port, waits
 * for the message to arrive, and checks what arrived.
 *
 * Build against an installed libsmtpd:
 *
 *	cc -o password_reset password_reset.c $(pkg-config --cflags --libs smtpd)
 */
#include <smtpd/server.h>
#include <smtpd/inbox.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- the code under test -------------------------------------------- */

/* smtp_expect - read one reply (all its lines) and check its code. */
static int
smtp_expect(int fd, const char *code)
{
	char buf[2048];
	size_t len = 0;

	for (;;) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		char *last;

		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (len == sizeof(buf) - 1)
			return -1;
		/* Complete when it ends in CRLF and its last line is
		 * "250 ..." rather than "250-...". */
		if (len < 2 || strcmp(buf + len - 2, "\r\n") != 0)
			continue;
		for (last = buf + len - 2; last > buf && last[-1] != '\n';)
			last--;
		if (strlen(last) > 3 && last[3] == '-')
			continue;
		return strncmp(last, code, 3) == 0 ? 0 : -1;
	}
}

/* smtp_say - send a command, then check the reply's code. */
static int
smtp_say(int fd, const char *line, const char *code)
{
	size_t len = strlen(line);

	if (send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -1;
	return smtp_expect(fd, code);
}

/*
 * send_password_reset - mail the user a link with their reset token.
 * Returns 0 when the server accepted the message.
 */
static int
send_password_reset(const char *server_ip, int port, const char *user,
    const char *token)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 10 };
	char rcpt[512], body[1024];
	int fd, r = -1;

	sa.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, server_ip, &sa.sin_addr) != 1)
		return -1;
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	snprintf(rcpt, sizeof(rcpt), "RCPT TO:<%s>\r\n", user);
	snprintf(body, sizeof(body),
	    "From: Example <no-reply@example.com>\r\n"
	    "To: <%s>\r\n"
	    "Subject: Reset your password\r\n"
	    "\r\n"
	    "Someone asked to reset your password.  If it was you, open\r\n"
	    "https://example.com/reset?token=%s\r\n"
	    ".\r\n", user, token);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    smtp_expect(fd, "220") == 0 &&
	    smtp_say(fd, "EHLO app.example.com\r\n", "250") == 0 &&
	    smtp_say(fd, "MAIL FROM:<no-reply@example.com>\r\n", "250") == 0 &&
	    smtp_say(fd, rcpt, "250") == 0 &&
	    smtp_say(fd, "DATA\r\n", "354") == 0 &&
	    smtp_say(fd, body, "250") == 0 &&
	    smtp_say(fd, "QUIT\r\n", "221") == 0)
		r = 0;
	close(fd);
	return r;
}

/* ---- the test ---------------------------------------------------------- */

static int failures;

#define EXPECT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		failures++;						\
	}								\
} while (0)

int
main(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	struct smtpd_inbox *inbox;
	struct smtpd_message *m;
	char err[256];

	/* An embedded server: 127.0.0.1, any free port, mail kept in memory. */
	if ((inbox = smtpd_inbox_new()) == NULL)
		return 1;
	smtpd_config_init(&cfg);
	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.fqdn = "mx.test";
	cfg.handler = smtpd_handler_inbox(inbox);
	if (smtpd_server_new(&cfg, &srv, err, sizeof(err)) != 0 ||
	    smtpd_server_start(srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "password_reset: %s\n", err);
		return 1;
	}

	EXPECT(send_password_reset("127.0.0.1", smtpd_server_port(srv),
	    "ann@example.com", "s3cr3t-t0k3n") == 0);

	/* The server answered 250 only after the handler kept the message,
	 * but a test should not rely on that: wait, with a bound. */
	EXPECT(smtpd_inbox_wait(inbox, 1, 5000));
	EXPECT(smtpd_inbox_count(inbox) == 1);
	if ((m = smtpd_inbox_get(inbox, 0)) != NULL) {
		EXPECT(strcmp(m->mailfrom, "no-reply@example.com") == 0);
		EXPECT(m->rcpt_count == 1);
		EXPECT(m->rcpt_count == 1 &&
		    strcmp(m->rcpttos[0], "ann@example.com") == 0);
		EXPECT(strcmp(m->helo, "app.example.com") == 0);
		EXPECT(strcmp(m->peer_ip, "127.0.0.1") == 0);
		EXPECT(strstr(m->data, "Subject: Reset your password\n") != NULL);
		EXPECT(strstr(m->data,
		    "https://example.com/reset?token=s3cr3t-t0k3n") != NULL);
		smtpd_inbox_message_free(m);
	} else {
		EXPECT(m != NULL);
	}

	smtpd_server_stop(srv);
	smtpd_server_free(srv);
	smtpd_inbox_free(inbox);
	printf("password_reset: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
