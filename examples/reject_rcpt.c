/* SPDX-License-Identifier: ISC */
/*
 * reject_rcpt.c - a hook that refuses recipients: the embedded server
 * answers "550 No such user" to RCPT for anyone not in a directory, and a
 * test checks that the client sees that reply, word for word, and that
 * the message goes to the known recipient only.
 *
 * Hooks are libsmtpd's way of changing the server's answers (what a
 * subclass of Python's SMTPChannel did): a hook returns NULL to go on as
 * usual, or the reply line to send instead.
 *
 * Build against an installed libsmtpd:
 *
 *	cc -o reject_rcpt reject_rcpt.c $(pkg-config --cflags --libs smtpd)
 */
#include <smtpd/server.h>
#include <smtpd/channel.h>
#include <smtpd/inbox.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- the server side: a directory of users, and the hook ------------ */

static const char *const users[] = { "ann@example.com", "bob@example.com" };

/* check_rcpt - the on_rcpt hook: known users go on, others get 550. */
static const char *
check_rcpt(struct smtpd_channel *ch, const char *address, void *ctx)
{
	(void)ch;
	(void)ctx;
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		if (strcasecmp(address, users[i]) == 0)
			return NULL;		/* the usual "250 OK" */
	return "550 No such user";
}

/* ---- the client side: a few lines of SMTP over a socket ------------- */

/* smtp_reply - read one reply (all its lines) into buf, CRLFs removed
 * from the end.  0, or -1 when the connection fails. */
static int
smtp_reply(int fd, char *buf, size_t size)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = recv(fd, buf + len, size - 1 - len, 0);
		char *last;

		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (len == size - 1)
			return -1;
		if (len < 2 || strcmp(buf + len - 2, "\r\n") != 0)
			continue;
		for (last = buf + len - 2; last > buf && last[-1] != '\n';)
			last--;
		if (strlen(last) > 3 && last[3] == '-')
			continue;		/* "250-..." : more lines */
		buf[len - 2] = '\0';
		return 0;
	}
}

/* smtp_command - send one line, return the reply (static storage). */
static const char *
smtp_command(int fd, const char *line)
{
	static char reply[2048];
	size_t len = strlen(line);

	if (send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len ||
	    smtp_reply(fd, reply, sizeof(reply)) != 0)
		return "(connection lost)";
	return reply;
}

/* smtp_connect - a connection to 127.0.0.1:port, greeting read. */
static int
smtp_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 10 };
	char greeting[512];
	int fd;

	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    smtp_reply(fd, greeting, sizeof(greeting)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- the test ---------------------------------------------------------- */

static int failures;

#define EXPECT_REPLY(got, want) do {					\
	const char *got_ = (got);					\
	if (strcmp(got_, (want)) != 0) {				\
		fprintf(stderr, "%s:%d: FAILED: got \"%s\", want \"%s\"\n",\
		    __FILE__, __LINE__, got_, (want));			\
		failures++;						\
	}								\
} while (0)

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
	int fd;

	if ((inbox = smtpd_inbox_new()) == NULL)
		return 1;
	smtpd_config_init(&cfg);
	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.fqdn = "mx.test";
	cfg.handler = smtpd_handler_inbox(inbox);
	cfg.hooks.on_rcpt = check_rcpt;
	if (smtpd_server_new(&cfg, &srv, err, sizeof(err)) != 0 ||
	    smtpd_server_start(srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "reject_rcpt: %s\n", err);
		return 1;
	}

	if ((fd = smtp_connect(smtpd_server_port(srv))) < 0) {
		fprintf(stderr, "reject_rcpt: cannot connect\n");
		return 1;
	}
	EXPECT_REPLY(smtp_command(fd, "HELO client.test\r\n"), "250 mx.test");
	EXPECT_REPLY(smtp_command(fd, "MAIL FROM:<app@example.com>\r\n"),
	    "250 OK");
	EXPECT_REPLY(smtp_command(fd, "RCPT TO:<nobody@example.com>\r\n"),
	    "550 No such user");
	EXPECT_REPLY(smtp_command(fd, "RCPT TO:<ann@example.com>\r\n"),
	    "250 OK");
	EXPECT_REPLY(smtp_command(fd, "DATA\r\n"),
	    "354 End data with <CR><LF>.<CR><LF>");
	EXPECT_REPLY(smtp_command(fd, "Subject: hello\r\n\r\nhi\r\n.\r\n"),
	    "250 OK");
	EXPECT_REPLY(smtp_command(fd, "QUIT\r\n"), "221 Bye");
	close(fd);

	/* The refused recipient never became part of the message. */
	EXPECT(smtpd_inbox_wait(inbox, 1, 5000));
	if ((m = smtpd_inbox_get(inbox, 0)) != NULL) {
		EXPECT(m->rcpt_count == 1);
		EXPECT(strcmp(m->rcpttos[0], "ann@example.com") == 0);
		EXPECT(strcmp(m->data, "Subject: hello\n\nhi") == 0);
		smtpd_inbox_message_free(m);
	}

	smtpd_server_stop(srv);
	smtpd_server_free(srv);
	smtpd_inbox_free(inbox);
	printf("reject_rcpt: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
