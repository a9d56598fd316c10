/* SPDX-License-Identifier: ISC */
/*
 * mailman.c - MailmanProxy (delivery.h): Python's MailmanProxy, working.
 * Mail for a mailing list goes to Mailman, all other mail to the remote
 * address exactly as PureProxy relays it (pureproxy.c, through
 * relaying.h).
 *
 *	client		hooks				where
 *	MAIL		mailman_mail			(remembered)
 *	RCPT		mailman_rcpt: a list?		Mailman 3: its LMTP
 *							runner's RCPT answer;
 *							Mailman 2: DIR/lists/
 *							NAME/config.pck
 *			    no: relayed			upstream: MAIL, RCPT
 *	DATA ... .	mailman_process			upstream: the data;
 *							each list: one copy
 *
 * Each list recipient gets its own copy: Mailman 3 one LMTP transaction
 * per recipient (deliver_lmtp), Mailman 2 its mail/mailman program
 * (deliver_mailman2).  Mailman wants From: and Date:, which an MTA would
 * have added, so mailman_text adds them when missing.  The copies can
 * fare differently; the tally turns their outcomes into the one reply
 * the client gets after DATA.
 */
#include "compat.h"
#include "relaying.h"
#include "channel.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define EX_TEMPFAIL	75	/* sysexits.h: Mailman 2's "try again" */
#define FAILED_MAX	700	/* room for the names of failed recipients */

/* How a list recipient's copy reaches Mailman. */
enum route {
	ROUTE_LMTP,		/* Mailman 3 */
	ROUTE_MAILMAN2		/* DIR/mail/mailman COMMAND LIST */
};

/* A recipient that Mailman takes. */
struct list_rcpt {
	char		*address;
	enum route	 route;
	char		*list;		/* Mailman 2: the list's name */
	const char	*command;	/* Mailman 2: post, admin, ... */
};

/* One client's transaction: the relaying part, and Mailman's. */
struct mailman_session {
	struct relaying_session proxy;	/* first: pureproxy.c's view of it */
	struct relay	*lmtp;		/* Mailman 3 */
	struct list_rcpt *lists;
	size_t		 nlists, caplists;
};

/* ------------------------------------------------------------------ */
/* The session                                                         */
/* ------------------------------------------------------------------ */

/* mailman_session_get - this channel's session, made on first use. */
static struct mailman_session *
mailman_session_get(struct smtpd_channel *ch, void *ctx)
{
	return (struct mailman_session *)relaying_session_get(ch, ctx,
	    sizeof(struct mailman_session));
}

/* mailman_forget - QUIT Mailman 3, forget the list recipients. */
static void
mailman_forget(struct mailman_session *ms)
{
	relay_close(ms->lmtp);
	ms->lmtp = NULL;
	for (size_t i = 0; i < ms->nlists; i++) {
		free(ms->lists[i].address);
		free(ms->lists[i].list);
	}
	ms->nlists = 0;
}

/* mailman_reset - the transaction is over: QUIT both, forget it. */
static void
mailman_reset(struct smtpd_channel *ch, void *ctx)
{
	struct mailman_session *ms = smtpd_channel_handler_data(ch);

	if (ms != NULL)
		mailman_forget(ms);
	relaying_reset(ch, ctx);
}

/* mailman_disconnect - the client left: free the session. */
static void
mailman_disconnect(struct smtpd_channel *ch, void *ctx)
{
	struct mailman_session *ms = smtpd_channel_handler_data(ch);

	if (ms != NULL) {
		mailman_forget(ms);
		free(ms->lists);
	}
	relaying_disconnect(ch, ctx);
}

/* add_list_rcpt - remember a recipient for Mailman. */
static bool
add_list_rcpt(struct mailman_session *ms, const char *address,
    enum route route, const char *list, const char *command)
{
	struct list_rcpt *l;

	if (ms->nlists == ms->caplists) {
		size_t cap = ms->caplists ? ms->caplists * 2 : 4;

		if ((l = realloc(ms->lists, cap * sizeof(*l))) == NULL)
			return false;
		ms->lists = l;
		ms->caplists = cap;
	}
	l = &ms->lists[ms->nlists];
	l->address = strdup(address);
	l->list = list ? strdup(list) : NULL;
	l->command = command;
	l->route = route;
	if (l->address == NULL || (list && l->list == NULL)) {
		free(l->address);
		free(l->list);
		return false;
	}
	ms->nlists++;
	return true;
}

/* ------------------------------------------------------------------ */
/* Which recipients are Mailman's                                      */
/* ------------------------------------------------------------------ */

/* open_lmtp - a connection to Mailman 3's LMTP runner; false, and why
 * in *rep, when there is none. */
static bool
open_lmtp(struct smtpd_channel *ch, struct mailman_session *ms,
    struct relay_reply *rep)
{
	const struct smtpd_relay_options *o = ms->proxy.opt;

	if (ms->lmtp != NULL && !relay_broken(ms->lmtp))
		return true;
	relay_close(ms->lmtp);
	ms->lmtp = relay_open(o->mailman_lmtp_host ? o->mailman_lmtp_host :
	    SMTPD_MAILMAN_LMTP_HOST, o->mailman_lmtp_port ?
	    o->mailman_lmtp_port : SMTPD_MAILMAN_LMTP_PORT, true,
	    smtpd_channel_fqdn(ch), o->timeout, rep);
	return ms->lmtp != NULL;
}

/*
 * ask_mailman3 - is this one of Mailman 3's addresses?  Its own answer to
 * RCPT, in a transaction we then reset: 250 yes, 5xx no.  When it cannot
 * tell (not reachable, a 4xx, a refused MAIL) *reply is set to the answer
 * our client gets.
 */
static bool
ask_mailman3(struct smtpd_channel *ch, struct mailman_session *ms,
    const char *address, const char **reply)
{
	struct relay_reply rep, ignored;
	char p[128];
	bool yes;

	*reply = NULL;
	if (!open_lmtp(ch, ms, &rep))
		goto cannot_tell;
	/* Mailman does not offer SMTPUTF8, so the question goes without it;
	 * relaying_cannot_carry then refuses such mail for a list. */
	relaying_params(&ms->proxy, ms->lmtp, 0, p, sizeof(p));
	if (relay_mail(ms->lmtp, ms->proxy.mailfrom, p, &rep) != 250) {
		if (rep.code >= 500) {
			*reply = relaying_upstream_reply(ch, &rep);
			return false;
		}
		goto cannot_tell;
	}
	if (relay_rcpt(ms->lmtp, address, &rep) == 0 || rep.code < 200 ||
	    (rep.code >= 300 && rep.code < 500))
		goto cannot_tell;
	yes = relaying_positive(&rep);
	relay_rset(ms->lmtp, &ignored);
	return yes;

cannot_tell:
	if (rep.code > 0)
		relay_rset(ms->lmtp, &ignored);
	if (rep.code == 0)
		*reply = smtpd_channel_reply(ch, "451 4.4.1 Cannot ask Mailman "
		    "about <%s>: %s", address, rep.text);
	else
		*reply = smtpd_channel_reply(ch, "451 4.4.1 Cannot ask Mailman "
		    "about <%s>: it said %d %s", address, rep.code, rep.text);
	return false;
}

/* tolower_ascii - tolower() that no locale can change. */
static int
tolower_ascii(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/*
 * mailman2_list - Python's MailmanProxy test: the local part, lower-cased,
 * is LIST or LIST-COMMAND (admin, owner, request, join, leave) and
 * HOME/lists/LIST/config.pck exists.  Fills the list name and command.
 */
static bool
mailman2_list(const char *home, const char *address, char *list,
    size_t listsz, const char **command)
{
	static const char *const commands[] = {
		"admin", "owner", "request", "join", "leave", NULL
	};
	char local[256], path[4096];
	const char *at = strchr(address, '@'), *dash;
	size_t n = at ? (size_t)(at - address) : strlen(address);
	struct stat st;

	if (n == 0 || n >= sizeof(local) || n >= listsz)
		return false;
	for (size_t i = 0; i < n; i++)
		local[i] = (char)tolower_ascii(address[i]);
	local[n] = '\0';
	*command = "post";
	if ((dash = strchr(local, '-')) != NULL) {
		if (strchr(dash + 1, '-') != NULL)
			return false;		/* more than two parts */
		*command = NULL;
		for (const char *const *c = commands; *c; c++)
			if (strcmp(dash + 1, *c) == 0)
				*command = *c;
		if (*command == NULL)
			return false;
		local[dash - local] = '\0';
	}
	/* The name becomes a path: no "/", no ".", "..", or hidden names. */
	if (local[0] == '\0' || local[0] == '.' || strchr(local, '/'))
		return false;
	snprintf(path, sizeof(path), "%s/lists/%s/config.pck", home, local);
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	snprintf(list, listsz, "%s", local);
	return true;
}

/* mailman_mail - MAIL: remember the sender and its parameters; the
 * upstream is opened only for a recipient that is not Mailman's. */
static const char *
mailman_mail(struct smtpd_channel *ch, const char *address, void *ctx)
{
	struct mailman_session *ms = mailman_session_get(ch, ctx);

	if (ms == NULL)
		return RELAYING_NOMEM;
	mailman_forget(ms);	/* a transaction the channel never finished */
	return relaying_begin(ch, &ms->proxy, address);
}

/* mailman_rcpt - RCPT: Mailman's recipient, or relayed to the remote. */
static const char *
mailman_rcpt(struct smtpd_channel *ch, const char *address, void *ctx)
{
	struct mailman_session *ms = mailman_session_get(ch, ctx);
	const struct smtpd_relay_options *o = ctx;
	const char *command, *r;
	char list[256];
	bool ok;

	if (ms == NULL)
		return RELAYING_NOMEM;
	if (o->mailman_home) {
		if (mailman2_list(o->mailman_home, address, list, sizeof(list),
		    &command)) {
			if (ms->proxy.smtputf8)
				return relaying_no_smtputf8(ch, "Mailman");
			ok = add_list_rcpt(ms, address, ROUTE_MAILMAN2, list,
			    command);
			return ok ? NULL : RELAYING_NOMEM;
		}
	} else {
		ok = ask_mailman3(ch, ms, address, &r);
		if (r != NULL)
			return r;
		if (ok) {
			if ((r = relaying_cannot_carry(ch, &ms->proxy, ms->lmtp,
			    "Mailman")) != NULL)
				return r;
			ok = add_list_rcpt(ms, address, ROUTE_LMTP, NULL, NULL);
			return ok ? NULL : RELAYING_NOMEM;
		}
	}
	if ((r = relaying_open_upstream(ch, &ms->proxy, 0)) != NULL)
		return r;
	return relaying_rcpt_upstream(ch, &ms->proxy, address);
}

/* ------------------------------------------------------------------ */
/* The copies for Mailman                                              */
/* ------------------------------------------------------------------ */

/* header_present - does the header block (up to hend) have this field? */
static bool
header_present(const char *d, const char *hend, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = d; p < hend; ) {
		const char *e = memchr(p, '\n', (size_t)(hend - p));

		if ((size_t)(hend - p) > n && strncasecmp(p, name, n) == 0) {
			const char *c = p + n;

			while (c < hend && (*c == ' ' || *c == '\t'))
				c++;
			if (c < hend && *c == ':')
				return true;
		}
		p = e ? e + 1 : hend;
	}
	return false;
}

/* is_header_line - a "name:" line or a continuation (RFC 5322 2.2). */
static bool
is_header_line(const char *p, const char *end)
{
	if (p < end && (*p == ' ' || *p == '\t'))
		return true;
	for (const char *c = p; c < end && *c != '\n'; c++) {
		if (*c == ':')
			return c > p;
		if ((unsigned char)*c <= ' ' || (unsigned char)*c > '~')
			return false;
	}
	return false;
}

/*
 * mailman_text - the message for Mailman: the data with "From:" and
 * "Date:" added at the end of the header block when missing (Mailman
 * needs them; MTAs add them, as Python's MailmanProxy did), and a final
 * newline.  A new buffer, or NULL when out of memory.
 */
static char *
mailman_text(const struct smtpd_message *m, size_t *outlen)
{
	const char *d = m->data, *end = d + m->data_len, *hend = d;
	char add[512], date[64];
	size_t n = 0;
	struct tm tm;
	time_t now = time(NULL);
	char *out;

	while (hend < end && is_header_line(hend, end)) {
		const char *e = memchr(hend, '\n', (size_t)(end - hend));
		hend = e ? e + 1 : end;
	}
	/* A header block that runs to the end without a final newline. */
	if (hend == end && hend > d && end[-1] != '\n')
		n += (size_t)snprintf(add + n, sizeof(add) - n, "\n");
	if (!header_present(d, hend, "From"))
		n += (size_t)snprintf(add + n, sizeof(add) - n, "From: %s\n",
		    strcmp(m->mailfrom, "<>") == 0 ? "MAILER-DAEMON" :
		    m->mailfrom);
	if (!header_present(d, hend, "Date")) {
		localtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		n += (size_t)snprintf(add + n, sizeof(add) - n, "Date: %s\n",
		    date);
	}
	/* No empty line after the headers: add one, or the body would
	 * become part of them. */
	if (hend < end && *hend != '\n' && n > 0)
		n += (size_t)snprintf(add + n, sizeof(add) - n, "\n");
	if (n >= sizeof(add))
		n = sizeof(add) - 1;
	if ((out = malloc(m->data_len + n + 2)) == NULL)
		return NULL;
	memcpy(out, d, (size_t)(hend - d));
	memcpy(out + (hend - d), add, n);
	memcpy(out + (hend - d) + n, hend, (size_t)(end - hend));
	*outlen = m->data_len + n;
	if (*outlen == 0 || out[*outlen - 1] != '\n')
		out[(*outlen)++] = '\n';
	return out;
}

/* deliver_lmtp - one recipient, one LMTP transaction: Mailman answers
 * once per recipient, except for a defective message, which gets one
 * answer whatever the count. */
static void
deliver_lmtp(struct smtpd_channel *ch, struct mailman_session *ms,
    const char *address, const char *text, size_t len, struct relay_reply *rep)
{
	struct relay_reply ignored;
	char p[128];

	if (!open_lmtp(ch, ms, rep))
		return;
	relaying_params(&ms->proxy, ms->lmtp, 0, p, sizeof(p));
	if (relay_mail(ms->lmtp, ms->proxy.mailfrom, p, rep) != 250)
		goto refused;
	if (relay_rcpt(ms->lmtp, address, rep) != 250)
		goto refused;
	relay_data(ms->lmtp, text, len, rep);
	return;

refused:
	if (rep->code != 0)
		relay_rset(ms->lmtp, &ignored);
}

/*
 * deliver_mailman2 - pipe the message into HOME/mail/mailman COMMAND
 * LIST, as Mailman 2's MTA aliases do: exit 0 delivered, 75 try later,
 * anything else refused.
 *
 * Its standard input is a socket, not a pipe: a write to a pipe whose
 * reader has died raises SIGPIPE, which would kill the whole server;
 * send() with MSG_NOSIGNAL only fails.  The program gets the same timeout
 * as an upstream, then is killed.
 */
static void
deliver_mailman2(const struct smtpd_relay_options *o, const char *command,
    const char *list, const char *text, size_t len, struct relay_reply *rep)
{
	char prog[4096];
	char *argv[4];
	int sv[2], status = 0, timeout = o->timeout > 0 ? o->timeout :
	    RELAY_DEFAULT_TIMEOUT;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	long long deadline;
	bool timed_out = false;

	snprintf(prog, sizeof(prog), "%s/mail/mailman", o->mailman_home);
	argv[0] = prog;
	argv[1] = (char *)command;
	argv[2] = (char *)list;
	argv[3] = NULL;
	rep->code = 0;
	if (compat_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		snprintf(rep->text, sizeof(rep->text), "socketpair: %s",
		    strerror(errno));
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	/* The server blocks SIGINT/SIGTERM (one thread waits for them) and
	 * ignores SIGPIPE; Mailman's program must start with neither. */
	posix_spawnattr_t sa;
	sigset_t none, defaults;
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	sigaddset(&defaults, SIGINT);
	sigaddset(&defaults, SIGTERM);
	posix_spawnattr_init(&sa);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setsigdefault(&sa, &defaults);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	int e = posix_spawn(&pid, prog, &fa, &sa, argv, environ);
	posix_spawnattr_destroy(&sa);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (e != 0) {
		close(sv[0]);
		snprintf(rep->text, sizeof(rep->text), "cannot run %.300s: %s",
		    prog, strerror(e));
		return;
	}
	deadline = now_ms() + (long long)timeout * 1000;
	/* If it stops reading, its exit status says why; a program that
	 * never reads must not hold us past the timeout. */
	if (io_set_send_timeout(sv[0], timeout, NULL, 0) != 0)
		timed_out = true;
	/* If it stops reading, its exit status says why. */
	if (send_all(sv[0], text, len) != 0)
		timed_out = (errno == EAGAIN);
	shutdown(sv[0], SHUT_WR);
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (timed_out || (w < 0 && errno != EINTR) ||
		    now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			timed_out = true;
			break;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	close(sv[0]);
	if (timed_out) {
		snprintf(rep->text, sizeof(rep->text), "%.300s %s %.100s timed out",
		    prog, command, list);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rep->code = 250;
		snprintf(rep->text, sizeof(rep->text), "delivered");
	} else if (WIFEXITED(status)) {
		bool temp = WEXITSTATUS(status) == EX_TEMPFAIL;

		rep->code = temp ? 451 : 550;
		snprintf(rep->text, sizeof(rep->text), "%s mailman %s %s "
		    "exited with status %d", temp ? "4.3.0" : "5.3.0",
		    command, list, WEXITSTATUS(status));
	} else {
		snprintf(rep->text, sizeof(rep->text), "mailman %s %s killed "
		    "by signal %d", command, list, WTERMSIG(status));
	}
}

/* ------------------------------------------------------------------ */
/* One reply for all the copies                                        */
/* ------------------------------------------------------------------ */

/* An outcome tally: one reply for the client however many copies. */
struct tally {
	size_t	 delivered, failed;
	char	 temp[RELAY_TEXT_MAX + 8];	/* the first 4xx, "" if none */
	char	 perm[RELAY_TEXT_MAX + 8];	/* the first 5xx, "" if none */
	char	 who[FAILED_MAX];		/* the recipients not served */
};

/* tally_add - count one outcome for count recipients. */
static void
tally_add(struct tally *t, const struct relay_reply *rep, const char *who,
    size_t count)
{
	size_t n = strlen(t->who);

	if (relaying_positive(rep)) {
		t->delivered += count;
		return;
	}
	t->failed += count;
	if (n + strlen(who) + 3 < sizeof(t->who))
		snprintf(t->who + n, sizeof(t->who) - n, "%s%s",
		    n ? ", " : "", who);
	if (rep->code >= 500 && rep->code < 600 && t->perm[0] == '\0')
		snprintf(t->perm, sizeof(t->perm), "%d %s", rep->code,
		    rep->text);
	else if ((rep->code < 500 || rep->code >= 600) && t->temp[0] == '\0')
		snprintf(t->temp, sizeof(t->temp), "%s", rep->text);
}

/*
 * tally_reply - the one reply after DATA.  All delivered: 250.  None: the
 * (first) failure, a 4xx if any failure was temporary.  Some: the client
 * must not think all went well, nor lose the failed copies: a 451 when any
 * failure may pass (the retry may duplicate the delivered copies), else a
 * 554 that names the recipients not served.
 */
static const char *
tally_reply(struct smtpd_channel *ch, const struct tally *t)
{
	if (t->failed == 0)
		return NULL;
	if (t->delivered == 0) {
		if (t->temp[0])
			return smtpd_channel_reply(ch, "451 4.3.0 %s", t->temp);
		return smtpd_channel_reply(ch, "%s", t->perm);
	}
	if (t->temp[0])
		return smtpd_channel_reply(ch, "451 4.3.0 Not delivered to %s "
		    "(%s); delivered to %zu other recipient(s)", t->who,
		    t->temp, t->delivered);
	return smtpd_channel_reply(ch, "554 5.3.0 Not delivered to %s (%s); "
	    "delivered to %zu other recipient(s)", t->who, t->perm,
	    t->delivered);
}

/* mailman_process - after DATA: relay to the remote for its recipients,
 * then one copy to Mailman for each list recipient. */
static const char *
mailman_process(struct smtpd_channel *ch, const struct smtpd_message *m,
    void *ctx)
{
	struct mailman_session *ms = mailman_session_get(ch, ctx);
	struct relay *up;
	struct relay_reply rep;
	struct tally t;
	char who[600], *text = NULL;
	size_t len = 0;

	if (ms == NULL)
		return RELAYING_NOMEM;
	memset(&t, 0, sizeof(t));
	up = ms->proxy.up;
	if (up != NULL && ms->proxy.up_rcpts > 0) {
		/* As Python's MailmanProxy: the data as it came. */
		if (!relaying_refuse_8bit(up, m, &rep))
			relay_data(up, m->data, m->data_len, &rep);
		tally_add(&t, &rep, "the upstream's recipients",
		    ms->proxy.up_rcpts);
	}
	if (ms->nlists > 0 && (text = mailman_text(m, &len)) == NULL)
		return RELAYING_NOMEM;
	for (size_t i = 0; i < ms->nlists; i++) {
		const struct list_rcpt *l = &ms->lists[i];

		if (l->route == ROUTE_LMTP)
			deliver_lmtp(ch, ms, l->address, text, len, &rep);
		else
			deliver_mailman2(ms->proxy.opt, l->command, l->list,
			    text, len, &rep);
		snprintf(who, sizeof(who), "<%s>", l->address);
		tally_add(&t, &rep, who, 1);
	}
	free(text);
	return tally_reply(ch, &t);
}

/* smtpd_handler_mailmanproxy - PureProxy's handler (concurrent, the
 * options as its ctx) with Mailman's steps in place of its own. */
struct smtpd_handler
smtpd_handler_mailmanproxy(const struct smtpd_relay_options *opt)
{
	struct smtpd_handler h = smtpd_handler_pureproxy(opt);

	h.name = "MailmanProxy";
	h.process_message = mailman_process;
	h.hooks.on_mail = mailman_mail;
	h.hooks.on_rcpt = mailman_rcpt;
	h.hooks.on_reset = mailman_reset;
	h.hooks.on_disconnect = mailman_disconnect;
	return h;
}
