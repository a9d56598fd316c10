/* SPDX-License-Identifier: ISC */
/*
 * lmtp_hooked.c - an LMTP server made with the library, for the tests of
 * a real MTA delivering to us (tests/integration/test_lmtp.py):
 *
 *	lmtp-hooked MAILDIR HOST:PORT|unix:PATH [--chunking]
 *
 * It delivers into MAILDIR (the Maildir handler, a copy per recipient),
 * with a hook that refuses nobody@... at RCPT ("550 5.1.1 No such user")
 * and a handler that refuses late@... after the message ("552 5.2.2
 * Mailbox full"), each recipient answered on its own.  It prints
 * "listening PORT" once it accepts, traces the conversation on standard
 * error, and stops on SIGTERM or SIGINT.
 */
#define _GNU_SOURCE
#include "server.h"
#include "channel.h"
#include "delivery.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct smtpd_handler maildir;

/* refuse_nobody - on_rcpt: nobody@ is not a user. */
static const char *
refuse_nobody(struct smtpd_channel *ch, const char *address, void *ctx)
{
	(void)ch;
	(void)ctx;
	return strncasecmp(address, "nobody@", 7) == 0 ?
	    "550 5.1.1 No such user" : NULL;
}

/* deliver_but_late - the Maildir's per-recipient delivery, except that
 * late@ is refused after the message (and so not delivered). */
static void
deliver_but_late(struct smtpd_channel *ch, const struct smtpd_message *m,
    const char **replies, void *ctx)
{
	(void)ctx;
	for (size_t i = 0; i < m->rcpt_count; i++)
		if (strncasecmp(m->rcpttos[i], "late@", 5) == 0)
			replies[i] = smtpd_channel_rcpt_reply(ch, i,
			    "552 5.2.2 <%s>: Mailbox full", m->rcpttos[i]);
	/* Maildir delivers to those not answered yet. */
	maildir.process_message_lmtp(ch, m, replies, maildir.ctx);
}

int
main(int argc, char **argv)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	char err[512], host[256];
	sigset_t set;
	int sig;

	if (argc < 3) {
		fprintf(stderr, "usage: %s MAILDIR HOST:PORT|unix:PATH "
		    "[--chunking]\n", argv[0]);
		return 2;
	}
	smtpd_config_init(&cfg);
	if (smtpd_handler_maildir(&maildir, argv[1], err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (strncmp(argv[2], "unix:", 5) == 0) {
		cfg.unix_path = argv[2] + 5;
		cfg.unix_mode = 0666;	/* Postfix's lmtp runs as postfix */
	} else {
		char *colon = strrchr(argv[2], ':');

		if (colon == NULL)
			return 2;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - argv[2]),
		    argv[2]);
		cfg.host = host;
		cfg.port = atoi(colon + 1);
	}
	cfg.lmtp = true;
	cfg.chunking = argc > 3 && strcmp(argv[3], "--chunking") == 0;
	cfg.debug = stderr;
	cfg.timeout = 30;
	cfg.handler = maildir;
	cfg.handler.name = "Maildir, late@ refused";
	cfg.handler.process_message_lmtp = deliver_but_late;
	cfg.hooks.on_rcpt = refuse_nobody;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (smtpd_server_new(&cfg, &srv, err, sizeof(err)) != 0 ||
	    smtpd_server_start(srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("listening %d\n", smtpd_server_port(srv));
	fflush(stdout);
	sigwait(&set, &sig);
	smtpd_server_free(srv);
	return 0;
}
