/* SPDX-License-Identifier: ISC */
/*
 * old_program.c - a program built against libsmtpd 2.0's server.h (the
 * frozen tests/abi/server-2.0.h), run on a newer library: `make abi`
 * links it with a build of the library whose struct smtpd_config has one
 * field more, appended after the 2.0 layout as the ABI policy allows.
 *
 * The configuration is allocated with exactly the 2.0 size, followed by
 * guard bytes: a write past the program's struct changes them, and a read
 * past it takes them for the appended field, which then lacks its default
 * (the grown library refuses that, tests/abi/grow.py).  The program runs
 * under AddressSanitizer as well.  Then a real server starts and a real
 * client sends a message, which must reach the program's handler.  Exit
 * 0 when all holds; every wait is bounded.
 */
#define _GNU_SOURCE
#include "server-2.0.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define GUARD		64	/* bytes after the struct, must stay 0xA5 */
#define TIMEOUT_S	5

static atomic_int delivered;

static int failures;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "old_program.c:%d: %s\n", __LINE__, #cond); \
		failures++;						\
	}								\
} while (0)

/* count_message - the program's own handler: count what arrives. */
static const char *
count_message(struct smtpd_channel *ch, const struct smtpd_message *m,
    void *ctx)
{
	(void)ch;
	(void)ctx;
	if (m->rcpt_count == 1 && strcmp(m->rcpttos[0], "b@example.org") == 0)
		atomic_fetch_add(&delivered, 1);
	return NULL;
}

/* guard_intact - the bytes after the program's struct are untouched. */
static int
guard_intact(const unsigned char *p)
{
	for (size_t i = 0; i < GUARD; i++)
		if (p[i] != 0xA5)
			return 0;
	return 1;
}

/* expect - read one reply and check its code; a multi-line reply is read
 * whole (the client is slow enough for one recv per reply here). */
static int
expect(FILE *in, const char *code)
{
	char line[1024];

	do {
		if (fgets(line, sizeof(line), in) == NULL)
			return 0;
	} while (line[3] == '-');
	return strncmp(line, code, 3) == 0;
}

/* send_message - one whole SMTP transaction with a real client: each
 * line sent (none: the greeting) and the reply code it must get. */
static int
send_message(int port)
{
	static const struct { const char *line, *code; } steps[] = {
		{ NULL, "220" },
		{ "EHLO old.example\r\n", "250" },
		{ "MAIL FROM:<a@example.org>\r\n", "250" },
		{ "RCPT TO:<b@example.org>\r\n", "250" },
		{ "DATA\r\n", "354" },
		{ "Subject: old\r\n\r\nbuilt against 2.0\r\n.\r\n", "250" },
		{ "QUIT\r\n", "221" },
	};
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = TIMEOUT_S };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok = 1;
	FILE *in;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(fd);
		return 0;
	}
	in = fdopen(dup(fd), "r");
	for (size_t i = 0; ok && i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (steps[i].line)
			dprintf(fd, "%s", steps[i].line);
		ok = expect(in, steps[i].code);
	}
	fclose(in);
	close(fd);
	return ok;
}

int
main(void)
{
	const size_t old_size = sizeof(struct smtpd_config);
	unsigned char *mem = malloc(old_size + GUARD);
	struct smtpd_config *cfg = (struct smtpd_config *)mem;
	struct smtpd_server *srv = NULL;
	char err[256] = "";

	memset(mem + old_size, 0xA5, GUARD);

	/* The macro passes the 2.0 size: the library writes only that. */
	smtpd_config_init(cfg);
	CHECK(cfg->size == old_size);
	CHECK(guard_intact(mem + old_size));
	CHECK(cfg->port == 8025 && cfg->timeout == 300);
	CHECK(cfg->data_size_limit == SMTPD_DATA_SIZE_DEFAULT);

	cfg->host = "127.0.0.1";
	cfg->port = 0;
	cfg->fqdn = "old.example";
	cfg->timeout = TIMEOUT_S * 2;
	cfg->handler.name = "Counter";
	cfg->handler.process_message = count_message;

	/* A struct bigger than the library knows, or one never initialised,
	 * is refused with a message. */
	cfg->size = old_size + 4096;
	CHECK(smtpd_server_new(cfg, &srv, err, sizeof(err)) == -1);
	CHECK(strstr(err, "from a newer libsmtpd") != NULL);
	cfg->size = sizeof(size_t);
	CHECK(smtpd_server_new(cfg, &srv, err, sizeof(err)) == -1);
	CHECK(strstr(err, "smtpd_config_init") != NULL);
	cfg->size = old_size;

	if (smtpd_server_new(cfg, &srv, err, sizeof(err)) != 0 ||
	    smtpd_server_start(srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "old_program: %s\n", err);
		return 1;
	}
	CHECK(guard_intact(mem + old_size));
	CHECK(send_message(smtpd_server_port(srv)));
	CHECK(atomic_load(&delivered) == 1);
	smtpd_server_free(srv);
	free(mem);
	if (failures == 0)
		printf("abi: a 2.0 program (config %zu bytes) runs on this "
		    "library\n", old_size);
	return failures != 0;
}
