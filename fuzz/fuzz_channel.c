/* SPDX-License-Identifier: ISC */
/*
 * fuzz_channel.c - a libFuzzer target: arbitrary bytes from a client, fed
 * to one channel in memory (no sockets, no threads).
 *
 * An input is one session.  Its first byte chooses the configuration and
 * how the bytes are cut into reads; the rest is what the client sends:
 *
 *	bit 0	strict_newlines
 *	bit 1	enable_smtputf8 (else, with bit 5, decode_data)
 *	bit 2	a data size limit of 64 bytes (the 552 paths)
 *	bit 3	no size limit at all
 *	bit 4	max_recipients 3 (the 452 path)
 *	bit 5	decode_data, when SMTPUTF8 is off
 *	bit 6-7	reads of: everything / 1 byte / 7 bytes / 1-8 bytes varying
 *
 * AUTH is always on, over plaintext (auth_plaintext), with one user
 * "fuzz" whose password is "pass": the AUTH dialogue (auth.c) runs on
 * whatever follows an AUTH line.
 *
 * Besides the sanitizers, the target checks what must hold for any input:
 * every byte the server writes belongs to a reply line "NNN text\r\n" or
 * "NNN-text\r\n", and no message is delivered without a 354 before it.
 *
 * Built with clang -fsanitize=fuzzer by `make fuzz`.  Built with
 * -DFUZZ_REPLAY_MAIN by any compiler, it is a program (fuzz/replay.h) that
 * runs the inputs named on its command line (files, or directories of
 * files) once each: `make test` replays fuzz/corpus and fuzz/regressions
 * that way.
 */
#define _GNU_SOURCE
#include "channel_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_io {
	const uint8_t	*in;
	size_t		 len, pos;
	int		 mode;		/* bits 6-7 of the first byte */
	char		*out;
	size_t		 out_len, out_cap;
};

struct fuzz_counts {
	int		 delivered;
	size_t		 max_recipients;
};

/* fuzz_read - the next piece of the input, in reads of the chosen size. */
static ssize_t
fuzz_read(void *ctx, void *buf, size_t len, bool wait)
{
	struct fuzz_io *f = ctx;
	size_t n = f->len - f->pos;
	static const size_t fixed[] = { 0, 1, 7 };

	(void)wait;
	if (n == 0)
		return 0;
	if (f->mode < 3) {
		if (fixed[f->mode] && n > fixed[f->mode])
			n = fixed[f->mode];
	} else if (n > 1 + f->pos % 8) {
		n = 1 + f->pos % 8;
	}
	if (n > len)
		n = len;
	memcpy(buf, f->in + f->pos, n);
	f->pos += n;
	return (ssize_t)n;
}

/* fuzz_write - keep what the server says, to check it at the end. */
static ssize_t
fuzz_write(void *ctx, const void *buf, size_t len)
{
	struct fuzz_io *f = ctx;

	if (f->out_len + len > f->out_cap) {
		size_t cap = (f->out_len + len) * 2;
		char *p = realloc(f->out, cap);

		if (p == NULL)
			abort();
		f->out = p;
		f->out_cap = cap;
	}
	memcpy(f->out + f->out_len, buf, len);
	f->out_len += len;
	return (ssize_t)len;
}

/* fuzz_secret - the one user. */
static const char *
fuzz_secret(const char *user, void *ctx)
{
	(void)ctx;
	return strcmp(user, "fuzz") == 0 ? "pass" : NULL;
}

/* fuzz_process - a handler that reads every byte it is given (so the
 * sanitizers check the bounds) and checks the message's invariants. */
static const char *
fuzz_process(struct smtpd_channel *ch, const struct smtpd_message *m,
    void *ctx)
{
	struct fuzz_counts *c = ctx;
	unsigned sum = 0;

	(void)ch;
	if (m->mailfrom == NULL || m->rcpt_count == 0 || m->data[m->data_len])
		abort();
	if (c->max_recipients && m->rcpt_count > c->max_recipients)
		abort();
	for (size_t i = 0; i < m->data_len; i++)
		sum += (unsigned char)m->data[i];
	for (size_t i = 0; i < m->rcpt_count; i++)
		sum += (unsigned)strlen(m->rcpttos[i]);
	for (size_t i = 0; i < m->mail_option_count; i++)
		sum += (unsigned)strlen(m->mail_options[i]);
	for (size_t i = 0; i < m->rcpt_option_count; i++)
		sum += (unsigned)strlen(m->rcpt_options[i]);
	if (m->auth_user)
		sum += (unsigned)strlen(m->auth_user);
	c->delivered++;
	/* Now and then a refusal, so the handler's reply path runs too. */
	return (sum % 7 == 0) ? "451 Try again later" : NULL;
}

/* replies_well_formed - the whole output is reply lines; returns the
 * number of 354 replies, or -1. */
static int
replies_well_formed(const char *out, size_t len)
{
	size_t i = 0;
	int go_aheads = 0;

	while (i < len) {
		const char *eol = memmem(out + i, len - i, "\r\n", 2);

		if (eol == NULL || eol - (out + i) < 3)
			return -1;
		for (int k = 0; k < 3; k++)
			if (out[i + k] < '0' || out[i + k] > '9')
				return -1;
		if (eol - (out + i) > 3 && out[i + 3] != ' ' &&
		    out[i + 3] != '-')
			return -1;
		if (memcmp(out + i, "354", 3) == 0)
			go_aheads++;
		i = (size_t)(eol + 2 - out);
	}
	return go_aheads;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	struct smtpd_channel *ch;
	struct fuzz_counts counts = { 0, 0 };
	struct fuzz_io f;
	struct channel_io io = { fuzz_read, fuzz_write, &f };
	char err[256];
	uint8_t flags;
	int go_aheads;

	if (size == 0)
		return 0;
	flags = data[0];
	memset(&f, 0, sizeof(f));
	f.in = data + 1;
	f.len = size - 1;
	f.mode = flags >> 6;

	smtpd_config_init(&cfg);
	cfg.fqdn = "fuzz.example";
	cfg.timeout = 0;
	cfg.strict_newlines = flags & 0x01;
	cfg.enable_smtputf8 = flags & 0x02;
	cfg.decode_data = (flags & 0x20) && !(flags & 0x02);
	if (flags & 0x04)
		cfg.data_size_limit = 64;
	if (flags & 0x08)
		cfg.data_size_limit = 0;
	if (flags & 0x10)
		cfg.max_recipients = 3;
	counts.max_recipients = (size_t)cfg.max_recipients;
	cfg.auth_secret = fuzz_secret;
	cfg.auth_plaintext = true;
	cfg.handler.name = "fuzz";
	cfg.handler.process_message = fuzz_process;
	cfg.handler.ctx = &counts;

	if (smtpd_server_new(&cfg, &srv, err, sizeof(err)) != 0)
		abort();
	if ((ch = channel_new_io(srv, &io, "192.0.2.1", 4242)) == NULL)
		abort();
	channel_run(ch);
	channel_free(ch);
	smtpd_server_free(srv);

	go_aheads = replies_well_formed(f.out, f.out_len);
	if (go_aheads < 0 || counts.delivered > go_aheads)
		abort();
	free(f.out);
	return 0;
}

#ifdef FUZZ_REPLAY_MAIN
#include "replay.h"
#endif
