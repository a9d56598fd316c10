/* SPDX-License-Identifier: ISC */
/*
 * channel.c - one client's SMTP session: the command table, the loop that
 * reads and dispatches, the commands, and delivery under the mutex.
 *
 * A worker thread (server.c) calls channel_run(), which reads like this:
 *
 *	greet;
 *	loop {
 *		read a line;			channel_read_line
 *		look it up in the command table;	command_find
 *		check it may run now;		command_check
 *		proceed;			smtp_helo, smtp_mail, ...
 *	}
 *
 * DATA switches the reader to message text (channel_read_data) until the
 * line ".", then the message goes to the handler under the server's
 * delivery mutex (channel_deliver).  BDAT (RFC 3030, cfg.chunking) reads
 * exactly the chunk's bytes instead (channel_read_chunk).  In LMTP
 * (RFC 2033, cfg.lmtp) LHLO replaces HELO and EHLO, and the end of a
 * message is answered once per recipient (channel_deliver_each).
 *
 * At each stage of the session (connect, HELO, MAIL, RCPT, DATA, the end
 * of the body, RSET, NOOP, QUIT) a command whose own syntax and state
 * checks passed calls channel_stage (stage.c): the server's fault rules,
 * then the hooks, may answer instead.
 *
 * The replies and their texts are Python's smtpd's, the contract on the
 * wire; where Python crashes or hangs, the comments say what we do.
 *
 * Around this file: stream.c reads lines and chunks and writes replies
 * (a pipelined burst is answered in one write); message.c makes message
 * text of DATA and BDAT; session.c is what hooks and handlers may read of
 * a session; config.c made the greeting and the EHLO reply once.
 */
#include "compat.h"
#include "channel_internal.h"
#include "address.h"
#include "auth.h"
#include "io.h"
#include "message.h"
#include "tls.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * Command lines are limited to 512 octets (RFC 5321 section 4.5.3.1.4,
 * Python's command_size_limit); after EHLO, MAIL may be 26 longer for
 * SIZE= (RFC 1870) and 10 longer for SMTPUTF8 (RFC 6531), as in Python.
 */
#define LINE_LIMIT	512
#define SIZE_EXTRA	26
#define SMTPUTF8_EXTRA	10
#define LINE_MAX_ANY	(LINE_LIMIT + SIZE_EXTRA + SMTPUTF8_EXTRA)
/* An AUTH command or response may be longer, when AUTH is on at all:
 * RFC 4954 section 4 allows 12288 octets; we take what the command
 * buffer holds, room for the longest user and password auth.c keeps
 * (AUTH_FIELD_MAX each, base64-encoded). */
#define AUTH_LINE_MAX	(IN_SMALL - 2)

/* The stream's buffers (stream.h) hold a whole command line of
 * LINE_MAX_ANY. */
#define DRAIN_MAX	65536	/* input dropped at the end (channel_drain) */
#define DATA_KEEP_MAX	(1 << 20)	/* keep a data buffer this big between messages */

/* A command: the table's row.  check flags are tested in this order. */
/* They are the public SMTPD_CMD_* of server.h: extra commands
 * (cfg.commands) are checked by the same command_check. */
#define NEED_HELO	SMTPD_CMD_NEED_HELO	/* 503 Error: send HELO first */
#define NEED_MAIL	SMTPD_CMD_NEED_MAIL	/* 503 Error: need MAIL command */
#define NEED_RCPT	SMTPD_CMD_NEED_RCPT	/* 503 Error: need RCPT command */
#define NO_ARG		SMTPD_CMD_NO_ARG	/* 501 Syntax: NAME */
/* Which sessions have the command at all (others: 500 not recognized). */
#define SMTP_ONLY	0x100	/* not in LMTP */
#define LMTP_ONLY	0x200	/* only with cfg.lmtp */
#define CHUNKING_ONLY	0x400	/* only with cfg.chunking */
#define IF_STARTTLS	0x800	/* a certificate, and not smtps */
#define IF_AUTH		0x1000	/* auth_secret or auth_any */
/* Ours alone, not for extra commands. */
#define NEED_TLS	0x2000	/* with require_tls: 530 Must issue a STARTTLS */
#define NEED_AUTH	0x4000	/* with auth_required: 530 Authentication required */

struct command {
	const char	*name;
	void		(*proceed)(struct smtpd_channel *, char *arg);
	unsigned	 flags;
};

static void	smtp_helo(struct smtpd_channel *, char *);
static void	smtp_ehlo(struct smtpd_channel *, char *);
static void	smtp_lhlo(struct smtpd_channel *, char *);
static void	smtp_bdat(struct smtpd_channel *, char *);
static void	smtp_noop(struct smtpd_channel *, char *);
static void	smtp_quit(struct smtpd_channel *, char *);
static void	smtp_mail(struct smtpd_channel *, char *);
static void	smtp_rcpt(struct smtpd_channel *, char *);
static void	smtp_rset(struct smtpd_channel *, char *);
static void	smtp_data(struct smtpd_channel *, char *);
static void	smtp_help(struct smtpd_channel *, char *);
static void	smtp_vrfy(struct smtpd_channel *, char *);
static void	smtp_expn(struct smtpd_channel *, char *);
static void	smtp_starttls(struct smtpd_channel *, char *);
static void	smtp_auth(struct smtpd_channel *, char *);

static void	channel_end_message(struct smtpd_channel *, bool bdat);
static bool	command_check(struct smtpd_channel *, const char *name,
		    unsigned flags, const char *arg);
static void	channel_goodbye(struct smtpd_channel *, int r);

static const struct command commands[] = {
	{ "HELO", smtp_helo, SMTP_ONLY },
	{ "EHLO", smtp_ehlo, SMTP_ONLY },
	{ "LHLO", smtp_lhlo, LMTP_ONLY },
	{ "MAIL", smtp_mail, NEED_TLS | NEED_HELO | NEED_AUTH },
	{ "RCPT", smtp_rcpt, NEED_TLS | NEED_HELO | NEED_MAIL },
	{ "DATA", smtp_data, NEED_TLS | NEED_HELO | NEED_RCPT | NO_ARG },
	/* Checks its state itself: a refused chunk's bytes must be read. */
	{ "BDAT", smtp_bdat, CHUNKING_ONLY },
	{ "RSET", smtp_rset, NO_ARG },
	{ "NOOP", smtp_noop, NO_ARG },
	{ "QUIT", smtp_quit, 0 },
	{ "HELP", smtp_help, 0 },
	{ "VRFY", smtp_vrfy, 0 },
	{ "EXPN", smtp_expn, 0 },
	{ "STARTTLS", smtp_starttls, NO_ARG | IF_STARTTLS },
	{ "AUTH", smtp_auth, NEED_TLS | NEED_HELO | IF_AUTH },
};

static int	channel_read_line(struct smtpd_channel *, char **, size_t *);
static int	channel_read_data(struct smtpd_channel *);
static void	channel_command(struct smtpd_channel *, char *line, size_t len);
static bool	channel_start_tls(struct smtpd_channel *);
static void	channel_greet(struct smtpd_channel *);
static void	command_unreadable(struct smtpd_channel *, const char *reply,
		    const char *start);

/*
 * channel_run - the session: greet, then loop { read a line; look it up;
 * check; proceed } until QUIT, end of input, a timeout or a stop.
 */
void
channel_run(struct smtpd_channel *ch)
{
	int max_junk = ch->cfg->max_junk;
	int r = READ_LINE;
	bool refused;

	/* Implicit TLS (RFC 8314 section 3.3): the handshake comes first. */
	if (ch->cfg->smtps && !channel_start_tls(ch))
		return;
	if (ch->server->sessions)
		channel_record_begin(ch);
	channel_greet(ch);
	refused = ch->closing;
	while (!ch->closing) {
		if (ch->state == SMTPD_DATA) {
			if ((r = channel_read_data(ch)) <= 0)
				break;
			channel_end_message(ch, false);
			continue;
		}
		/* At a stop, a client between transactions is let go. */
		if (atomic_load(&ch->server->stopping) &&
		    !stream_pending(&ch->st)) {
			r = READ_LINE;
			break;
		}
		char *line;
		size_t len;

		r = channel_read_line(ch, &line, &len);
		if (r == READ_TOO_LONG)
			command_unreadable(ch, REPLY_TOO_LONG, ch->st.dropped);
		else if (r == READ_LINE)
			channel_command(ch, line, len);
		else
			break;
		if (!ch->closing && max_junk && ch->junk >= max_junk)
			channel_pushf(ch, "421 %s Error: too many bad commands",
			    ch->server->fqdn);
	}
	if (!ch->closing)
		channel_goodbye(ch, r);
	channel_flush(ch);
	/* Input left unread would make close() reset the connection, and
	 * the reset can destroy the last reply before the client reads it. */
	stream_drain(&ch->st, DRAIN_MAX);
	if (ch->srec)
		channel_record_end(ch, r, refused);
}

/* channel_greet - the 220 greeting, or a fault's or a connect hook's
 * answer instead; a 4xx or 5xx one closes. */
static void
channel_greet(struct smtpd_channel *ch)
{
	if (channel_stage(ch, FAULT_CONNECT, ch->peer_ip, NULL) ||
	    channel_stage(ch, FAULT_GREETING, ch->peer_ip, NULL))
		return;
	channel_push(ch, ch->server->greeting);
}

/* channel_goodbye - why the session ends, said as a 421 when the client
 * can still hear it. */
static void
channel_goodbye(struct smtpd_channel *ch, int r)
{
	if (r == READ_TIMEOUT)
		channel_pushf(ch, "421 %s Error: timeout exceeded",
		    ch->server->fqdn);
	else if (atomic_load(&ch->server->stopping) &&
	    (r == READ_EOF || r == READ_LINE))
		channel_pushf(ch, REPLY_SHUTTING_DOWN,
		    ch->server->fqdn);
	/* Otherwise the client left (mid-message too: nothing is kept) or
	 * the connection failed: there is no one to tell. */
}

/* ------------------------------------------------------------------ */
/* Output and input: the stream (stream.c), within this session          */
/* ------------------------------------------------------------------ */

/* channel_flush - write the collected replies in one write; a client
 * that cannot be written to is not read from either. */
void
channel_flush(struct smtpd_channel *ch)
{
	if (!stream_flush(&ch->st))
		ch->closing = true;
}

/* channel_write - queue bytes of a reply. */
static void
channel_write(struct smtpd_channel *ch, const char *s, size_t len)
{
	if (!stream_write(&ch->st, s, len))
		ch->closing = true;
}

/* is_bad_command_reply - 500, 501 or 503: a command we could not take;
 * and 530, 535, 538: a command refused for want of TLS or a login, or a
 * failed login, so that guessing passwords counts too. */
static bool
is_bad_command_reply(const char *reply)
{
	return strncmp(reply, "500", 3) == 0 || strncmp(reply, "501", 3) == 0 ||
	    strncmp(reply, "503", 3) == 0 || strncmp(reply, "530", 3) == 0 ||
	    strncmp(reply, "535", 3) == 0 || strncmp(reply, "538", 3) == 0;
}

/* channel_push - queue one reply line (Python's push: adds CRLF); a 421
 * closes the session. */
void
channel_push(struct smtpd_channel *ch, const char *reply)
{
	size_t len = strlen(reply);

	channel_write(ch, reply, len);
	channel_write(ch, "\r\n", 2);
	if (ch->srec)
		session_server_reply(ch->srec, reply, len);
	if (ch->cfg->debug)
		fprintf(ch->cfg->debug, "%s:%d -> %s\n", ch->peer_ip,
		    ch->peer_port, reply);

	/*
	 * Count bad commands in a row; past max_junk the client is not
	 * speaking SMTP to us (or is probing), so we hang up.
	 */
	if (is_bad_command_reply(reply))
		ch->junk++;
	else if (reply[0] == '2' || strncmp(reply, "354", 3) == 0)
		ch->junk = 0;	/* not AUTH's 334: a dialogue is not success */
	/* 421: the service is closing the channel (RFC 5321 section 3.8),
	 * whoever answered: the session ends once the reply is out. */
	if (strncmp(reply, "421", 3) == 0)
		ch->closing = true;
}

/* channel_pushf - queue a formatted reply line. */
void
channel_pushf(struct smtpd_channel *ch, const char *fmt, ...)
{
	char buf[REPLY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	channel_push(ch, buf);
}

/* line_max - the longest line this session reads whole. */
static size_t
line_max(const struct smtpd_channel *ch)
{
	return ch->server->offer_auth ? AUTH_LINE_MAX :
	    LINE_MAX_ANY;
}

/*
 * channel_read_line - the next command line (stream_read_line).  We
 * don't want to store infinitely long commands: past LINE_MAX_ANY
 * (AUTH_LINE_MAX when AUTH is on) the rest of the line is read and
 * dropped, and READ_TOO_LONG is returned at its end.
 */
static int
channel_read_line(struct smtpd_channel *ch, char **line, size_t *len)
{
	int r = stream_read_line(&ch->st, line_max(ch), ch->closing, line,
	    len);

	if (ch->st.write_failed)
		ch->closing = true;
	return r;
}

/* chunk_take - stream_read_chunk's hand-over of BDAT text. */
static void
chunk_take(void *msg, const char *p, size_t n)
{
	message_chunk(msg, p, n);
}

/* channel_read_chunk - exactly n bytes of BDAT text, kept as the message
 * or dropped: READ_LINE when all came, else a read_result <= 0. */
static int
channel_read_chunk(struct smtpd_channel *ch, unsigned long long n, bool keep)
{
	int r = stream_read_chunk(&ch->st, n, ch->state == SMTPD_DATA,
	    ch->closing, keep ? chunk_take : NULL, &ch->tx.msg);

	if (ch->st.write_failed)
		ch->closing = true;
	return r;
}

/* channel_read_data - read message text (message_scan) up to its end
 * line: READ_LINE when it came, else a read_result <= 0. */
static int
channel_read_data(struct smtpd_channel *ch)
{
	for (;;) {
		const char *p;
		size_t n = stream_unread(&ch->st, &p);
		bool done, line_end;

		n = message_scan(&ch->tx.msg, p, n, &done, &line_end);
		stream_consume(&ch->st, n, line_end);
		if (done)
			return READ_LINE;
		int r = stream_fill(&ch->st, true, ch->closing);
		if (r <= 0) {
			if (ch->st.write_failed)
				ch->closing = true;
			return r;
		}
	}
}

/* ------------------------------------------------------------------ */
/* State                                                               */
/* ------------------------------------------------------------------ */

/* transaction_reset - forget MAIL and RCPT (Python's _set_post_data_state). */
static void
transaction_reset(struct smtpd_channel *ch)
{
	struct transaction *tx = &ch->tx;
	bool had = tx->mailfrom != NULL;

	free(tx->mailfrom);
	tx->mailfrom = NULL;
	for (size_t i = 0; i < tx->rcpt_count; i++)
		free(tx->rcpttos[i]);
	tx->rcpt_count = 0;
	tx->smtputf8 = false;
	tx->bdat = false;
	for (size_t i = 0; i < tx->rcpt_reply_count; i++)
		free(tx->rcpt_reply[i]);
	free(tx->rcpt_reply);
	tx->rcpt_reply = NULL;
	tx->rcpt_reply_count = 0;
	ch->state = SMTPD_COMMAND;
	if (had)
		hook_run(ch, HOOK_RESET, NULL, NULL);
	/* Don't keep a huge buffer for an idle connection, whichever way
	 * the message ended: delivered, refused (552, 452, 550, a fault
	 * rule) or abandoned (RSET, a BDAT transaction cut short). */
	if (tx->msg.cap > DATA_KEEP_MAX)
		message_free(&tx->msg);
}

/* transaction_free - what a transaction holds between transactions
 * (transaction_reset has freed the rest): at the session's end. */
static void
transaction_free(struct transaction *tx)
{
	free(tx->rcpttos);
	params_clear(&tx->mail_options);
	params_clear(&tx->rcpt_options);
	message_free(&tx->msg);
}

/* channel_rset - transaction_reset, and forget the last message too
 * (Python's _set_rset_state). */
static void
channel_rset(struct smtpd_channel *ch)
{
	transaction_reset(ch);
	message_clear(&ch->tx.msg);
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */
/* ------------------------------------------------------------------ */

/* hello - HELO, EHLO and LHLO alike: the client's name, kept; a new
 * one resets the session. */
static bool
hello(struct smtpd_channel *ch, char *arg, const char *syntax)
{
	char *copy;

	if (*arg == '\0') {
		channel_push(ch, syntax);
		return false;
	}
	/* One greeting per session, as Python (bpo-21783). */
	if (ch->seen_greeting) {
		channel_push(ch, "503 Duplicate HELO/EHLO");
		return false;
	}
	if (channel_stage(ch, FAULT_HELO, arg, NULL))
		return false;
	/* A usual name is kept inside the channel: an idle session then
	 * has made no allocation in its thread (see HELO_KEEP). */
	if (strlen(arg) < sizeof(ch->helo_small))
		copy = strcpy(ch->helo_small, arg);
	else if ((copy = strdup(arg)) == NULL) {
		channel_push(ch, REPLY_NOMEM);
		return false;
	}
	channel_rset(ch);
	ch->seen_greeting = copy;
	return true;
}

/* smtp_helo - HELO hostname (RFC 5321 section 4.1.1.1). */
static void
smtp_helo(struct smtpd_channel *ch, char *arg)
{
	if (hello(ch, arg, "501 Syntax: HELO hostname"))
		channel_push(ch, ch->server->helo_reply);
}

/* smtp_ehlo - EHLO hostname: the service extensions we speak, a reply
 * made once per server (config.c: config_texts). */
static void
smtp_ehlo(struct smtpd_channel *ch, char *arg)
{
	if (!hello(ch, arg, "501 Syntax: EHLO hostname"))
		return;
	ch->extended_smtp = true;
	channel_push(ch, ch->tls ? ch->server->ehlo_reply_tls :
	    ch->server->ehlo_reply);
}

/* smtp_lhlo - LHLO hostname (RFC 2033 section 4.1): EHLO's answer, in
 * LMTP, where HELO and EHLO are not commands. */
static void
smtp_lhlo(struct smtpd_channel *ch, char *arg)
{
	if (!hello(ch, arg, "501 Syntax: LHLO hostname"))
		return;
	ch->extended_smtp = true;
	channel_push(ch, ch->tls ? ch->server->ehlo_reply_tls :
	    ch->server->ehlo_reply);
}

/* smtp_noop - NOOP. */
static void
smtp_noop(struct smtpd_channel *ch, char *arg)
{
	(void)arg;
	if (channel_stage(ch, FAULT_NOOP, ch->tx.mailfrom, NULL))
		return;
	channel_push(ch, REPLY_OK);
}

/* smtp_quit - QUIT: say goodbye and close once the reply is out. */
static void
smtp_quit(struct smtpd_channel *ch, char *arg)
{
	(void)arg;
	if (channel_stage(ch, FAULT_QUIT, ch->tx.mailfrom, NULL))
		return;
	channel_push(ch, "221 Bye");
	ch->closing = true;
	ch->quit = true;
}

/*
 * smtp_mail - MAIL FROM:<address> [parameters] (RFC 5321 section 4.1.1.2,
 * SIZE from RFC 1870, BODY from RFC 6152, SMTPUTF8 from RFC 6531).
 */
static void
smtp_mail(struct smtpd_channel *ch, char *arg)
{
	const struct smtpd_config *cfg = ch->cfg;
	const char *syntaxerr = ch->extended_smtp ?
	    "501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]" :
	    "501 Syntax: MAIL FROM: <address>";
	static const char *const known_all[] = { "BODY", "SMTPUTF8", "SIZE", NULL };
	static const char *const known_nobody[] = { "SMTPUTF8", "SIZE", NULL };
	static const char *const known_noutf8[] = { "BODY", "SIZE", NULL };
	static const char *const known_size[] = { "SIZE", NULL };
	const char *const *known;
	char address[LINE_MAX_ANY + 3], *rest, *a;
	const char *v;
	bool smtputf8 = false;

	if ((a = address_after_keyword(arg, "FROM:")) == NULL ||
	    !address_parse(a, address, sizeof(address), &rest) ||
	    (!ch->extended_smtp && *rest)) {
		channel_push(ch, syntaxerr);
		return;
	}
	if (ch->tx.mailfrom) {
		channel_push(ch, "503 Error: nested MAIL command");
		return;
	}
	if (!params_set(&ch->tx.mail_options, rest)) {
		channel_push(ch, REPLY_NOMEM);
		return;
	}
	if (!params_valid(&ch->tx.mail_options)) {
		channel_push(ch, syntaxerr);
		return;
	}
	if (!cfg->decode_data &&
	    (v = params_find(&ch->tx.mail_options, "BODY", NULL)) != NULL &&
	    strcmp(v, "7BIT") != 0 && strcmp(v, "8BITMIME") != 0) {
		channel_push(ch,
		    "501 Error: BODY can only be one of 7BIT, 8BITMIME");
		return;
	}
	if (cfg->enable_smtputf8 &&
	    (v = params_find(&ch->tx.mail_options, "SMTPUTF8", NULL)) != NULL) {
		if (*v != '\0') {
			channel_push(ch, "501 Error: SMTPUTF8 takes no arguments");
			return;
		}
		smtputf8 = true;
	}
	if ((v = params_find(&ch->tx.mail_options, "SIZE", NULL)) != NULL) {
		/* Python crashes on a bare SIZE; it is a syntax error. */
		if (*v == '\0' || strspn(v, "0123456789") != strlen(v)) {
			channel_push(ch, syntaxerr);
			return;
		}
		errno = 0;
		unsigned long long size = strtoull(v, NULL, 10);
		if (cfg->data_size_limit &&
		    (errno == ERANGE || size > cfg->data_size_limit)) {
			channel_push(ch, "552 Error: message size exceeds "
			    "fixed maximum message size");
			return;
		}
	}
	if (cfg->decode_data)
		known = cfg->enable_smtputf8 ? known_nobody : known_size;
	else
		known = cfg->enable_smtputf8 ? known_all : known_noutf8;
	if (params_other(&ch->tx.mail_options, known)) {
		channel_push(ch,
		    "555 MAIL FROM parameters not recognized or not implemented");
		return;
	}
	/* The limits of the faults' section (README): a connection's
	 * messages, then the server's rate. */
	if (cfg->max_messages_per_connection &&
	    ch->messages >= cfg->max_messages_per_connection) {
		channel_push(ch, "421 4.7.0 Too many messages on this "
		    "connection");
		return;
	}
	if (cfg->rate_per_sec > 0 &&
	    !fault_rate_take(&ch->server->rate, now_ms())) {
		channel_push(ch, "451 4.7.0 Rate limit exceeded");
		return;
	}
	if (channel_stage(ch, FAULT_MAIL, address, NULL))
		return;
	if ((ch->tx.mailfrom = strdup(address)) == NULL) {
		channel_push(ch, REPLY_NOMEM);
		return;
	}
	ch->tx.smtputf8 = smtputf8;
	channel_push(ch, REPLY_OK);
}

/* smtp_rcpt - RCPT TO:<address> (RFC 5321 section 4.1.1.3). */
static void
smtp_rcpt(struct smtpd_channel *ch, char *arg)
{
	struct transaction *tx = &ch->tx;
	const char *syntaxerr = ch->extended_smtp ?
	    "501 Syntax: RCPT TO: <address> [SP <mail-parameters>]" :
	    "501 Syntax: RCPT TO: <address>";
	char address[LINE_MAX_ANY + 3], *rest, *a, *copy;

	if ((a = address_after_keyword(arg, "TO:")) == NULL ||
	    !address_parse(a, address, sizeof(address), &rest) ||
	    (!ch->extended_smtp && *rest)) {
		channel_push(ch, syntaxerr);
		return;
	}
	/* Python keeps the options of the last RCPT that got this far, even
	 * a refused one, and passes them to process_message. */
	if (!params_set(&ch->tx.rcpt_options, rest)) {
		channel_push(ch, REPLY_NOMEM);
		return;
	}
	if (!params_valid(&ch->tx.rcpt_options)) {
		channel_push(ch, syntaxerr);
		return;
	}
	if (ch->tx.rcpt_options.count > 0) {
		channel_push(ch,
		    "555 RCPT TO parameters not recognized or not implemented");
		return;
	}
	/* RFC 5321 section 4.5.3.1.8: at least 100 must be accepted. */
	if (ch->cfg->max_recipients &&
	    tx->rcpt_count >= (size_t)ch->cfg->max_recipients) {
		channel_push(ch, "452 Error: too many recipients");
		return;
	}
	/* Room first: once a hook (a relay) has accepted the recipient
	 * upstream, storing it must not fail. */
	if (tx->rcpt_count == tx->rcpt_cap) {
		size_t cap = tx->rcpt_cap ? tx->rcpt_cap * 2 : 8;
		char **v = realloc(tx->rcpttos, cap * sizeof(*v));

		if (v == NULL) {
			channel_push(ch, REPLY_NOMEM);
			return;
		}
		tx->rcpttos = v;
		tx->rcpt_cap = cap;
	}
	if ((copy = strdup(address)) == NULL) {
		channel_push(ch, REPLY_NOMEM);
		return;
	}
	if (channel_stage(ch, FAULT_RCPT, address, NULL)) {
		free(copy);
		return;
	}
	tx->rcpttos[tx->rcpt_count++] = copy;
	channel_push(ch, REPLY_OK);
}

/* smtp_rset - RSET: abort the transaction, keep the greeting. */
static void
smtp_rset(struct smtpd_channel *ch, char *arg)
{
	(void)arg;
	if (channel_stage(ch, FAULT_RSET, ch->tx.mailfrom, NULL))
		return;
	channel_rset(ch);
	channel_push(ch, REPLY_OK);
}

/* smtp_data - DATA: the message text follows, up to a line ".". */
static void
smtp_data(struct smtpd_channel *ch, char *arg)
{
	(void)arg;
	/* RFC 3030 section 2: one transaction is DATA or BDAT, not both. */
	if (ch->tx.bdat) {
		channel_push(ch, "503 Error: BDAT in progress; DATA not allowed");
		return;
	}
	if (channel_stage(ch, FAULT_DATA, ch->tx.mailfrom, NULL))
		return;
	message_start(&ch->tx.msg, ch->cfg->data_size_limit);
	ch->state = SMTPD_DATA;
	channel_push(ch, "354 End data with <CR><LF>.<CR><LF>");
}

/* bdat_parse - "chunk-size [LAST]" (RFC 3030 section 2): false when arg
 * is not that. */
static bool
bdat_parse(const char *arg, unsigned long long *size, bool *last)
{
	char *end;

	if (*arg < '0' || *arg > '9')
		return false;
	errno = 0;
	*size = strtoull(arg, &end, 10);
	if (errno != 0 || end - arg > 20)
		return false;
	*last = false;
	if (*end == '\0')
		return true;
	if (*end != ' ' || strcasecmp(end + 1, "LAST") != 0)
		return false;
	*last = true;
	return true;
}

/*
 * smtp_bdat - BDAT chunk-size [LAST] (RFC 3030): exactly chunk-size bytes
 * of message text follow, as they are (no dot-stuffing, no end line).  A
 * chunk that may not come now is still read, and dropped, so that the
 * session stays in step; one whose size cannot be read leaves nothing to
 * stay in step with, and the connection is closed.
 */
static void
smtp_bdat(struct smtpd_channel *ch, char *arg)
{
	unsigned long long size;
	bool last, keep;
	int r;

	if (!bdat_parse(arg, &size, &last)) {
		channel_push(ch, "501 Syntax: BDAT chunk-size [LAST]");
		ch->closing = true;
		return;
	}
	keep = command_check(ch, "BDAT", NEED_HELO | NEED_MAIL | NEED_RCPT,
	    "");
	if (keep && !ch->tx.bdat) {
		/* The first chunk is the fault rules' DATA stage; a refused
		 * one is read and dropped, to stay in step. */
		if (channel_stage(ch, FAULT_DATA, ch->tx.mailfrom, NULL)) {
			if (ch->closing)
				return;
			keep = false;
		} else {
			message_start(&ch->tx.msg, ch->cfg->data_size_limit);
			ch->tx.bdat = true;
		}
	}
	/* A stop lets a chunk being read finish, as it lets DATA. */
	if (keep)
		ch->state = SMTPD_DATA;
	r = channel_read_chunk(ch, size, keep);
	if (r <= 0) {
		channel_goodbye(ch, r);
		ch->closing = true;
		return;
	}
	if (!keep)
		return;
	ch->state = SMTPD_COMMAND;
	if (last) {
		channel_end_message(ch, true);
		return;
	}
	channel_pushf(ch, "250 2.0.0 %llu bytes received", size);
}

/* smtp_help - HELP [command]: Python's one-line syntax summaries. */
static void
smtp_help(struct smtpd_channel *ch, char *arg)
{
	/* params: the command takes parameters after EHLO. */
	static const struct {
		const char *name, *text;
		bool params;
	} help[] = {
		{ "EHLO", "250 Syntax: EHLO hostname", false },
		{ "HELO", "250 Syntax: HELO hostname", false },
		{ "MAIL", "250 Syntax: MAIL FROM: <address>", true },
		{ "RCPT", "250 Syntax: RCPT TO: <address>", true },
		{ "DATA", "250 Syntax: DATA", false },
		{ "RSET", "250 Syntax: RSET", false },
		{ "NOOP", "250 Syntax: NOOP", false },
		{ "QUIT", "250 Syntax: QUIT", false },
		{ "VRFY", "250 Syntax: VRFY <address>", false },
	};

	if (*arg == '\0') {
		channel_push(ch, "250 Supported commands: EHLO HELO MAIL RCPT "
		    "DATA RSET NOOP QUIT VRFY");
		return;
	}
	for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++) {
		if (strcasecmp(arg, help[i].name) != 0)
			continue;
		if (ch->extended_smtp && help[i].params)
			channel_pushf(ch, "%s [SP <mail-parameters>]",
			    help[i].text);
		else
			channel_push(ch, help[i].text);
		return;
	}
	channel_push(ch, "501 Supported commands: EHLO HELO MAIL RCPT DATA "
	    "RSET NOOP QUIT VRFY");
}

/* smtp_vrfy - VRFY: we cannot tell (RFC 5321 section 3.5.3). */
static void
smtp_vrfy(struct smtpd_channel *ch, char *arg)
{
	char address[LINE_MAX_ANY + 3], *rest;

	if (*arg == '\0')
		channel_push(ch, "501 Syntax: VRFY <address>");
	else if (address_parse(arg, address, sizeof(address), &rest))
		channel_push(ch, "252 Cannot VRFY user, but will accept "
		    "message and attempt delivery");
	else
		channel_pushf(ch, "502 Could not VRFY %s", arg);
}

/* smtp_expn - EXPN: not implemented, as in Python. */
static void
smtp_expn(struct smtpd_channel *ch, char *arg)
{
	(void)arg;
	channel_push(ch, "502 EXPN not implemented");
}

/* session_forget - after the TLS handshake, the session starts over:
 * nothing said in plaintext may count (RFC 3207 section 4.2). */
static void
session_forget(struct smtpd_channel *ch)
{
	channel_rset(ch);
	if (ch->seen_greeting != ch->helo_small)
		free(ch->seen_greeting);
	ch->seen_greeting = NULL;
	ch->extended_smtp = false;
	free(ch->auth_user);
	ch->auth_user = NULL;
}

/*
 * channel_start_tls - the server's TLS handshake on the client's socket,
 * bounded by the timeout; from then on the channel reads and writes
 * through the TLS session.  False when it failed: the connection is
 * closed, since no reply could reach the client now.
 */
static bool
channel_start_tls(struct smtpd_channel *ch)
{
	const struct smtpd_config *cfg = ch->cfg;
	char err[256];

	if (ch->fd < 0 || ch->server->tls == NULL) {
		ch->closing = true;
		return false;
	}
	ch->tls = tls_accept(ch->server->tls, ch->fd,
	    cfg->timeout > INT_MAX / 1000 ? 0 : cfg->timeout * 1000, err,
	    sizeof(err));
	if (ch->tls == NULL) {
		if (cfg->debug)
			fprintf(cfg->debug, "%s:%d TLS failed: %s\n",
			    ch->peer_ip, ch->peer_port, err);
		ch->closing = true;
		ch->st.write_failed = true;	/* nothing more goes out */
		return false;
	}
	ch->st.io.read = tls_read;
	ch->st.io.write = tls_write;
	ch->st.io.ctx = ch->tls;
	if (ch->srec)
		session_set_tls(ch->srec, tls_protocol(ch->tls),
		    tls_cipher(ch->tls));
	if (cfg->debug)
		fprintf(cfg->debug, "%s:%d TLS %s %s\n", ch->peer_ip,
		    ch->peer_port, tls_protocol(ch->tls), tls_cipher(ch->tls));
	return true;
}

/*
 * smtp_starttls - STARTTLS (RFC 3207): 220, then the handshake.
 *
 * Whatever the client sent after the STARTTLS line, in plaintext, is
 * thrown away: an attacker in the middle can append commands there
 * ("STARTTLS\r\nRSET\r\nMAIL FROM:...") that would otherwise be read as
 * if they had come over TLS (CVE-2011-0411, Postfix and many others).
 */
static void
smtp_starttls(struct smtpd_channel *ch, char *arg)
{
	(void)arg;
	if (ch->tls) {
		channel_push(ch, "503 5.5.1 Error: TLS already active");
		return;
	}
	if (ch->fd < 0) {
		channel_push(ch, "454 4.7.0 TLS not available");
		return;
	}
	channel_push(ch, "220 2.0.0 Ready to start TLS");
	channel_flush(ch);
	if (ch->closing)
		return;
	stream_reset(&ch->st);
	if (channel_start_tls(ch))
		session_forget(ch);
}


/* auth_read - the client's next line in an AUTH dialogue, or NULL when
 * the session ends (the reason said, as for any read). */
static char *
auth_read(struct smtpd_channel *ch)
{
	char *line;
	size_t len;
	int r = channel_read_line(ch, &line, &len);

	if (r == READ_LINE) {
		if (ch->srec)	/* masked there */
			session_client_line(ch->srec, line, len);
		/* Not the line itself in the trace: it carries a password. */
		if (ch->cfg->debug)
			fprintf(ch->cfg->debug, "%s:%d <- (%zu bytes of AUTH)\n",
			    ch->peer_ip, ch->peer_port, len);
		return line;
	}
	if (r == READ_TOO_LONG) {
		channel_push(ch, "500 5.5.6 Authentication exchange line is "
		    "too long");
		return NULL;
	}
	channel_goodbye(ch, r);
	ch->closing = true;
	return NULL;
}

/*
 * smtp_auth - AUTH mechanism [initial-response] (RFC 4954), then as many
 * 334 exchanges as the mechanism needs (auth.c).
 */
static void
smtp_auth(struct smtpd_channel *ch, char *arg)
{
	const struct smtpd_config *cfg = ch->cfg;
	const struct auth_creds creds = {
		cfg->auth_secret, cfg->auth_ctx, cfg->auth_any
	};
	struct auth_dialogue d;
	enum auth_status st;
	char reply[512];
	const char *r;

	if (ch->auth_user) {
		channel_push(ch, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (ch->tx.mailfrom) {
		channel_push(ch, "503 5.5.1 Error: AUTH not permitted during "
		    "a mail transaction");
		return;
	}
	/* A password in the clear only when the server was told to take it. */
	if (ch->tls == NULL && !cfg->auth_plaintext) {
		channel_push(ch, "538 5.7.11 Encryption required for "
		    "requested authentication mechanism");
		return;
	}
	st = auth_begin(&d, &creds, arg, ch->server->fqdn, reply,
	    sizeof(reply));
	while (st == AUTH_MORE) {
		char *line;

		channel_push(ch, reply);
		if ((line = auth_read(ch)) == NULL)
			return;
		st = auth_continue(&d, &creds, line, reply, sizeof(reply));
	}
	/* The fault rules' "auth" stage: its reply (or drop) takes the
	 * place of the login's outcome, right password or wrong. */
	if ((st == AUTH_OK || st == AUTH_FAILED) && d.attempt[0] &&
	    channel_fault(ch, FAULT_AUTH, d.attempt))
		return;
	if (st == AUTH_OK && (r = hook_run(ch, HOOK_AUTH, d.user, NULL))) {
		channel_push(ch, r);
		return;
	}
	if (st == AUTH_OK && (ch->auth_user = strdup(d.user)) == NULL) {
		channel_push(ch, "454 4.7.0 Temporary authentication failure");
		return;
	}
	if (st != AUTH_OK && cfg->debug)
		fprintf(cfg->debug, "%s:%d AUTH failed: %s\n", ch->peer_ip,
		    ch->peer_port, auth_failure(&d, st));
	if (st == AUTH_OK && ch->srec)
		session_set_auth(ch->srec, ch->auth_user);
	channel_push(ch, auth_reply(st));
	/* A client that keeps guessing is cut off after the last 535, as
	 * after too many bad commands: that count alone would let it guess
	 * for ever with a NOOP between tries. */
	if (st == AUTH_FAILED && cfg->max_auth_failures &&
	    ++ch->auth_failures >= cfg->max_auth_failures)
		channel_push(ch, "421 4.7.0 Too many authentication failures");
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

/* command_in - whether a protocol (cfg, and what it offers: config.c,
 * config_offers) has this command. */
static bool
command_in(const struct smtpd_config *cfg, bool starttls, bool auth,
    const struct command *c)
{
	return !(((c->flags & SMTP_ONLY) && cfg->lmtp) ||
	    ((c->flags & LMTP_ONLY) && !cfg->lmtp) ||
	    ((c->flags & CHUNKING_ONLY) && !cfg->chunking) ||
	    ((c->flags & IF_STARTTLS) && !starttls) ||
	    ((c->flags & IF_AUTH) && !auth));
}

/* command_find - the table row for a command name in this session's
 * protocol, or NULL. */
static const struct command *
command_find(const struct smtpd_channel *ch, const char *name)
{
	const struct smtpd_server *srv = ch->server;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return command_in(ch->cfg, srv->offer_starttls,
			    srv->offer_auth, &commands[i]) ? &commands[i] :
			    NULL;
	return NULL;
}

/* channel_is_builtin - true if name (any case) is a built-in command of
 * the protocol cfg speaks (without cfg.chunking, BDAT is not one, and a
 * program that made its own keeps it). */
bool
channel_is_builtin(const struct smtpd_config *cfg, const char *name)
{
	bool starttls, auth;

	config_offers(cfg, &starttls, &auth);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcasecmp(commands[i].name, name) == 0)
			return command_in(cfg, starttls, auth, &commands[i]);
	return false;
}

/* command_check - may the command name, with these flags, run now?
 * Answers when it may not.  Built-in and extra commands alike. */
static bool
command_check(struct smtpd_channel *ch, const char *name, unsigned flags,
    const char *arg)
{
	if ((flags & NEED_TLS) && ch->cfg->require_tls && ch->tls == NULL) {
		channel_push(ch, "530 5.7.0 Must issue a STARTTLS command first");
		return false;
	}
	if ((flags & NEED_HELO) && ch->seen_greeting == NULL) {
		channel_push(ch, ch->cfg->lmtp ? "503 Error: send LHLO first" :
		    "503 Error: send HELO first");
		return false;
	}
	if ((flags & NEED_AUTH) && ch->cfg->auth_required &&
	    ch->auth_user == NULL) {
		channel_push(ch, "530 5.7.0 Authentication required");
		return false;
	}
	if ((flags & NEED_MAIL) && ch->tx.mailfrom == NULL) {
		channel_push(ch, "503 Error: need MAIL command");
		return false;
	}
	if ((flags & NEED_RCPT) && ch->tx.rcpt_count == 0) {
		channel_push(ch, "503 Error: need RCPT command");
		return false;
	}
	if ((flags & NO_ARG) && *arg != '\0') {
		channel_pushf(ch, "501 Syntax: %s", name);
		return false;
	}
	return true;
}

/* line_limit - how long this command's line may be (Python's
 * command_size_limits). */
static size_t
line_limit(const struct smtpd_channel *ch, const char *name)
{
	size_t limit = LINE_LIMIT;

	if (strcmp(name, "AUTH") == 0)
		return line_max(ch);
	if (ch->extended_smtp && strcmp(name, "MAIL") == 0) {
		if (ch->cfg->data_size_limit)
			limit += SIZE_EXTRA;
		if (ch->cfg->enable_smtputf8)
			limit += SMTPUTF8_EXTRA;
	}
	return limit;
}

/* is_http - a line that starts like an HTTP request: someone pointed a
 * browser or a proxy at us.  No reply can help; we hang up. */
static bool
is_http(const char *line)
{
	return strncmp(line, "GET ", 4) == 0 ||
	    strncmp(line, "POST ", 5) == 0 ||
	    strncmp(line, "CONNECT ", 8) == 0 ||
	    strncmp(line, "HEAD ", 5) == 0 ||
	    strncmp(line, "PUT ", 4) == 0;
}

/* channel_trace_command - the debug trace of a command line; AUTH's
 * initial response is left out: it carries a password. */
static void
channel_trace_command(struct smtpd_channel *ch, const char *line)
{
	const char *sp;

	if (strncasecmp(line, "AUTH ", 5) == 0 &&
	    (sp = strchr(line + 5, ' ')) != NULL)
		fprintf(ch->cfg->debug, "%s:%d <- %.*s (%zu bytes of AUTH)\n",
		    ch->peer_ip, ch->peer_port, (int)(sp - line), line,
		    strlen(sp + 1));
	else
		fprintf(ch->cfg->debug, "%s:%d <- %s\n", ch->peer_ip,
		    ch->peer_port, line);
}

/*
 * command_unreadable - a command line that cannot be read (too long, or a
 * NUL in it) gets reply.  When it was a BDAT line, the size of the chunk
 * that follows cannot be known: its bytes would be read as commands (a
 * chunk may hold a whole transaction), so the connection is closed, as
 * for a BDAT whose size does not parse.
 */
static void
command_unreadable(struct smtpd_channel *ch, const char *reply,
    const char *start)
{
	channel_push(ch, reply);
	if (ch->cfg->chunking && strncasecmp(start, "BDAT", 4) == 0 &&
	    (start[4] == ' ' || start[4] == '\0'))
		ch->closing = true;
}

/* channel_command - answer one command line (Python's found_terminator
 * in COMMAND state). */
static void
channel_command(struct smtpd_channel *ch, char *line, size_t len)
{
	const struct command *cmd;
	char *name, *sp, *arg;

	if (ch->cfg->debug)
		channel_trace_command(ch, line);
	if (ch->srec)	/* AUTH's secret masked there */
		session_client_line(ch->srec, line, len);
	/* A NUL would cut a C string short: the line cannot be read right. */
	if (len == 0 || strlen(line) != len) {
		command_unreadable(ch, "500 Error: bad syntax", line);
		return;
	}
	if (is_http(line)) {
		ch->closing = true;
		return;
	}
	/* Too long for any command. */
	if (len > line_max(ch)) {
		command_unreadable(ch, REPLY_TOO_LONG, line);
		return;
	}
	/* Split at the first space, as Python; the name is upper-cased in
	 * place (the line is ours), the argument stripped. */
	name = line;
	sp = strchr(line, ' ');
	arg = sp ? address_strip(sp + 1) : line + len;
	if (sp)
		*sp = '\0';
	for (char *c = name; *c; c++)
		*c = (char)toupper((unsigned char)*c);

	if (len > line_limit(ch, name)) {
		command_unreadable(ch, REPLY_TOO_LONG, name);
		return;
	}
	for (size_t i = 0; i < ch->cfg->command_count; i++) {
		const struct smtpd_command *c = &ch->cfg->commands[i];

		if (strcasecmp(c->name, name) == 0) {
			if (command_check(ch, name, c->flags, arg))
				channel_push(ch, c->run(ch, arg, c->ctx));
			return;
		}
	}
	if ((cmd = command_find(ch, name)) == NULL) {
		channel_pushf(ch, "500 Error: command \"%s\" not recognized",
		    name);
		return;
	}
	if (command_check(ch, cmd->name, cmd->flags, arg))
		cmd->proceed(ch, arg);
}

/* channel_deliver - hand the message to the handler: under the delivery
 * mutex, unless the handler says it is thread-safe. */
static const char *
channel_deliver(struct smtpd_channel *ch, const struct smtpd_message *m)
{
	const struct smtpd_handler *h = &ch->cfg->handler;
	pthread_mutex_t *lock = &ch->server->deliver_lock;
	const char *r;

	if (!h->concurrent)
		pthread_mutex_lock(lock);
	r = h->process_message(ch, m, h->ctx);
	if (!h->concurrent)
		pthread_mutex_unlock(lock);
	return r;
}

/* channel_push_each - the same reply for every recipient (LMTP) or once
 * (SMTP). */
void
channel_push_each(struct smtpd_channel *ch, const char *reply)
{
	size_t n = ch->cfg->lmtp ? ch->tx.rcpt_count : 1;

	for (size_t i = 0; i < n; i++)
		channel_push(ch, reply);
}

/*
 * channel_deliver_each - LMTP: deliver, and answer each recipient in RCPT
 * order (RFC 2033 section 4.2).  A handler with process_message_lmtp
 * answers each; any other is called once and its answer goes to all.
 * The replies are copied before the delivery mutex is let go, so a
 * handler's storage need only last for its call.  True when at least one
 * recipient was accepted (2xx).
 */
static bool
channel_deliver_each(struct smtpd_channel *ch, const struct smtpd_message *m)
{
	const struct smtpd_handler *h = &ch->cfg->handler;
	pthread_mutex_t *lock = &ch->server->deliver_lock;
	size_t n = m->rcpt_count;
	const char **replies;
	char **copies;
	bool accepted = false;

	if (h->process_message_lmtp == NULL) {
		const char *r = channel_deliver(ch, m);

		channel_push_each(ch, r ? r : REPLY_OK);
		return r == NULL || r[0] == '2';
	}
	replies = calloc(n, sizeof(*replies));
	copies = calloc(n, sizeof(*copies));
	if (replies == NULL || copies == NULL) {
		free(replies);
		free(copies);
		channel_push_each(ch, REPLY_NOSTORAGE);
		return false;
	}
	if (!h->concurrent)
		pthread_mutex_lock(lock);
	h->process_message_lmtp(ch, m, replies, h->ctx);
	for (size_t i = 0; i < n; i++)
		copies[i] = strdup(replies[i] ? replies[i] : REPLY_OK);
	if (!h->concurrent)
		pthread_mutex_unlock(lock);
	for (size_t i = 0; i < n; i++) {
		/* Out of memory after delivery: the delivery stands. */
		channel_push(ch, copies[i] ? copies[i] : REPLY_OK);
		accepted |= copies[i] == NULL || copies[i][0] == '2';
		free(copies[i]);
	}
	free(copies);
	free(replies);
	return accepted;
}

/*
 * channel_end_message - the message is complete (DATA's end line, or the
 * BDAT LAST chunk): check it, deliver it, and answer.  A 250 goes out only
 * after the handler returned, so "250 OK" always means delivered.
 */
static void
channel_end_message(struct smtpd_channel *ch, bool bdat)
{
	struct message_text *m = &ch->tx.msg;
	struct transaction *tx = &ch->tx;
	struct smtpd_message msg;
	const char *r;

	ch->state = SMTPD_COMMAND;
	ch->messages++;
	switch (message_end(m, bdat, ch->cfg->strict_newlines)) {
	case MESSAGE_OK:
		break;
	case MESSAGE_TOO_BIG:
		/* Unlike Python (which stays in DATA), the transaction ends. */
		channel_push_each(ch, "552 Error: Too much mail data");
		transaction_reset(ch);
		return;
	case MESSAGE_NO_MEMORY:
		channel_push_each(ch, REPLY_NOSTORAGE);
		transaction_reset(ch);
		return;
	case MESSAGE_BARE_NEWLINE:
		channel_push_each(ch, "550 5.5.2 bare CR or LF not allowed");
		transaction_reset(ch);
		return;
	}

	memset(&msg, 0, sizeof(msg));
	msg.peer_ip = ch->peer_ip;
	msg.peer_port = ch->peer_port;
	msg.helo = ch->seen_greeting;
	msg.mailfrom = tx->mailfrom;
	msg.rcpttos = (const char *const *)tx->rcpttos;
	msg.rcpt_count = tx->rcpt_count;
	msg.data = m->data;
	msg.data_len = m->len;
	msg.smtputf8 = tx->smtputf8;
	msg.auth_user = ch->auth_user;
	msg.tls_protocol = tls_protocol(ch->tls);
	msg.tls_cipher = tls_cipher(ch->tls);
	if (!ch->cfg->decode_data) {
		msg.mail_options = (const char *const *)ch->tx.mail_options.item;
		msg.mail_option_count = ch->tx.mail_options.count;
		msg.rcpt_options = (const char *const *)ch->tx.rcpt_options.item;
		msg.rcpt_option_count = ch->tx.rcpt_options.count;
	}
	/* After the body, before delivery: a message a rule refuses (or
	 * hangs up on) is never delivered. */
	if (channel_stage(ch, FAULT_DOT, tx->mailfrom, &msg)) {
		transaction_reset(ch);
		return;
	}
	if (ch->cfg->lmtp) {
		if (channel_deliver_each(ch, &msg) && ch->server->store)
			channel_store(ch, &msg);
	} else {
		r = channel_deliver(ch, &msg);
		/* stored before the 250 goes out: whoever saw the 250 finds
		 * the message in the store */
		if ((r == NULL || r[0] == '2') && ch->server->store)
			channel_store(ch, &msg);
		channel_push(ch, r ? r : REPLY_OK);
	}
	transaction_reset(ch);
}

/* ------------------------------------------------------------------ */
/* Sockets                                                             */
/* ------------------------------------------------------------------ */

struct smtpd_channel *
channel_new_io(struct smtpd_server *srv, const struct channel_io *io,
    const char *peer_ip, int peer_port)
{
	struct smtpd_channel *ch;

	/* Not calloc: the buffers need no clearing. */
	if ((ch = malloc(sizeof(*ch))) == NULL)
		return NULL;
	memset(ch, 0, offsetof(struct smtpd_channel, st.out));
	stream_init(&ch->st, io, srv->cfg.timeout);
	ch->server = srv;
	ch->cfg = &srv->cfg;
	ch->fd = -1;
	snprintf(ch->peer_ip, sizeof(ch->peer_ip), "%s", peer_ip);
	ch->peer_port = peer_port;
	ch->state = SMTPD_COMMAND;
	return ch;
}

/* peer_format - a socket address as text and a port: "unix", 0 for a
 * UNIX-domain client, whose path (if any) is not who it is. */
static void
peer_format(const struct sockaddr *peer, char *ip, size_t ipsz, int *port)
{
	*port = 0;
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)peer;

		inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)ipsz);
		*port = ntohs(in->sin_port);
	} else if (peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)peer;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)ipsz);
		*port = ntohs(in6->sin6_port);
	} else if (peer->sa_family == AF_UNIX) {
		snprintf(ip, ipsz, "unix");
	} else {
		snprintf(ip, ipsz, "%s", "");
	}
}

struct smtpd_channel *
channel_new(struct smtpd_server *srv, int fd, const struct sockaddr *peer)
{
	struct channel_io io = stream_socket(fd);
	char ip[INET6_ADDRSTRLEN] = "";
	int port;
	struct smtpd_channel *ch;

	peer_format(peer, ip, sizeof(ip), &port);
	if ((ch = channel_new_io(srv, &io, ip, port)) != NULL)
		ch->fd = fd;
	return ch;
}

void
channel_free(struct smtpd_channel *ch)
{
	if (ch == NULL)
		return;
	transaction_reset(ch);
	hook_run(ch, HOOK_DISCONNECT, NULL, NULL);
	tls_close(ch->tls);
	if (ch->fd >= 0)
		close(ch->fd);
	free(ch->auth_user);
	transaction_free(&ch->tx);
	if (ch->seen_greeting != ch->helo_small)
		free(ch->seen_greeting);
	stream_free(&ch->st);
	free(ch->reply);
	free(ch);
}

void
channel_discard(struct smtpd_channel *ch)
{
	free(ch);
}

bool
channel_in_data(const struct smtpd_channel *ch)
{
	return ch->state == SMTPD_DATA;
}

void
channel_set_proxied(struct smtpd_channel *ch, const struct sockaddr *peer)
{
	peer_format(peer, ch->peer_ip, sizeof(ch->peer_ip), &ch->peer_port);
	ch->proxied = true;
}
