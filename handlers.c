/* SPDX-License-Identifier: ISC */
/*
 * handlers.c - the built-in handlers that keep nothing: DebuggingServer
 * (print each message) and Sink (accept and discard).
 *
 * A handler is a struct smtpd_handler (server.h): process_message gets
 * each message and returns NULL for "250 OK" or the reply to send.  It
 * runs under the server's delivery mutex, so these need no locks of their
 * own: two messages are never printed at once.
 */
#include "compat.h"
#include "server.h"
#include "channel.h"
#ifdef SMTPD_WEB
#include "web/mime.h"
#endif

#include <string.h>

/*
 * print_py_str - a string as Python's repr() prints it, for the
 * "mail options: [...]" line: single quotes unless the text has a single
 * quote and no double one.
 */
static void
print_py_str(FILE *out, const char *s)
{
	char q = (strchr(s, '\'') && !strchr(s, '"')) ? '"' : '\'';

	fputc(q, out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\' || c == (unsigned char)q)
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\r')
			fputs("\\r", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc(q, out);
}

/* print_py_list - a list of strings as Python's repr(): ['A', 'B']. */
static void
print_py_list(FILE *out, const char *const *v, size_t n)
{
	fputc('[', out);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", out);
		print_py_str(out, v[i]);
	}
	fputc(']', out);
}

/*
 * debugging_printed - DebuggingServer's answer once a message is printed:
 * it is "delivered" once it is out, so 250 only then, else 451.
 */
static const char *
debugging_printed(struct smtpd_channel *ch, FILE *out)
{
	if (fflush(out) != 0 || ferror(out)) {
		clearerr(out);
		return smtpd_channel_reply(ch, "451 Error: cannot print the "
		    "message");
	}
	return NULL;
}

/* debugging_handler - a DebuggingServer printing to out with fn. */
static struct smtpd_handler
debugging_handler(const char *(*fn)(struct smtpd_channel *,
    const struct smtpd_message *, void *), FILE *out)
{
	struct smtpd_handler h = {
		.name = "DebuggingServer",
		.process_message = fn,
		.ctx = out,
	};

	return h;
}

/*
 * debugging_process - print the message as Python's DebuggingServer does:
 * the options, then the lines, with "X-Peer: <ip>" before the first empty
 * line (the end of the headers).  Lines are split where Python's
 * bytes.splitlines() splits them (LF, CR, CRLF) and printed as text, not
 * as Python 3's b'...' reprs.
 */
static const char *
debugging_process(struct smtpd_channel *ch, const struct smtpd_message *m,
    void *ctx)
{
	FILE *out = ctx;
	const char *p = m->data, *end = m->data + m->data_len;
	bool inheaders = true;

	fputs("---------- MESSAGE FOLLOWS ----------\n", out);
	if (m->mail_option_count) {
		fputs("mail options: ", out);
		print_py_list(out, m->mail_options, m->mail_option_count);
		fputc('\n', out);
	}
	if (m->rcpt_option_count) {
		fputs("rcpt options: ", out);
		print_py_list(out, m->rcpt_options, m->rcpt_option_count);
		fputs("\n\n", out);
	}
	/* Ours, not Python's: only when there was a login or TLS. */
	if (m->auth_user)
		fprintf(out, "auth: %s\n", m->auth_user);
	if (m->tls_protocol)
		fprintf(out, "tls: %s %s\n", m->tls_protocol,
		    m->tls_cipher ? m->tls_cipher : "");
	while (p < end) {
		const char *e = p;

		while (e < end && *e != '\n' && *e != '\r')
			e++;
		if (inheaders && e == p) {
			fprintf(out, "X-Peer: %s\n", m->peer_ip);
			inheaders = false;
		}
		fwrite(p, 1, (size_t)(e - p), out);
		fputc('\n', out);
		if (e < end && *e == '\r' && e + 1 < end && e[1] == '\n')
			e++;
		p = e + 1;
	}
	fputs("------------ END MESSAGE ------------\n", out);
	return debugging_printed(ch, out);
}

struct smtpd_handler
smtpd_handler_debugging(FILE *out)
{
	return debugging_handler(debugging_process, out);
}

#ifdef SMTPD_WEB
/*
 * debugging_decoded_process - DebuggingServer with --decode: the envelope,
 * then the message read as MIME (web/mime.c), for a person to read.
 */
static const char *
debugging_decoded_process(struct smtpd_channel *ch,
    const struct smtpd_message *m, void *ctx)
{
	FILE *out = ctx;

	mime_print_decoded(out, m);
	return debugging_printed(ch, out);
}

struct smtpd_handler
handler_debugging_decoded(FILE *out)
{
	return debugging_handler(debugging_decoded_process, out);
}
#endif

/* sink_process - accept and discard. */
static const char *
sink_process(struct smtpd_channel *ch, const struct smtpd_message *m,
    void *ctx)
{
	(void)ch;
	(void)m;
	(void)ctx;
	return NULL;
}

struct smtpd_handler
smtpd_handler_sink(void)
{
	/* Nothing shared, so no need for the delivery mutex. */
	struct smtpd_handler h = {
		.name = "Sink",
		.process_message = sink_process,
		.concurrent = true,
	};

	return h;
}
