/* SPDX-License-Identifier: ISC */
/*
 * NAME
 *	smtpd - an SMTP server for testing and debugging, drop-in for
 *	Python's "python -m smtpd"
 *
 * SYNOPSIS
 *	smtpd [options] [localhost:localport [remotehost:remoteport]]
 *	smtpd [options] unix:PATH [remotehost:remoteport]
 *
 * DESCRIPTION
 *	Listens on localhost:localport (default localhost:8025) and hands
 *	every message to the class chosen with -c: DebuggingServer prints it
 *	on standard output, Sink discards it, PureProxy relays it to
 *	remotehost:remoteport, MailmanProxy hands list mail to Mailman and
 *	relays the rest, Maildir writes it into a Maildir.  remotehost:remoteport
 *	(default localhost:25) is the upstream of the relaying classes.
 *	Options are Python's smtpd's, plus limits of our own.
 *
 *	-n, --nosetuid	do not become "nobody" after binding (Python's
 *			default is to setuid, and to fail when not root)
 *	-V, --version	print the version and exit
 *	-c, --class NAME
 *			DebuggingServer (default), Sink, SMTPServer,
 *			PureProxy, MailmanProxy, or Maildir
 *	--maildir DIR	Maildir: the Maildir to deliver into
 *	--mailman-lmtp HOST:PORT
 *			MailmanProxy: Mailman 3's LMTP runner
 *			(default 127.0.0.1:8024)
 *	--mailman-home DIR
 *			MailmanProxy: a Mailman 2 installation instead
 *	-s, --size LIMIT
 *			largest message in bytes (default 33554432; 0 = none)
 *	-u, --smtputf8	enable SMTPUTF8 (RFC 6531)
 *	-d, --debug	trace the conversation on standard error
 *	--decode	DebuggingServer: print each message MIME-decoded
 *	-h, --help	print the usage and exit
 *	--timeout SECONDS, --max-connections N, --max-recipients N,
 *	--strict-newlines
 *			limits: see the README
 *	--lmtp		speak LMTP (RFC 2033) instead of SMTP
 *	--chunking	offer CHUNKING, take BDAT (RFC 3030)
 *	--socket-mode MODE
 *			the mode of a unix:PATH socket (octal)
 *	--proxy-protocol, --proxy-from ADDR[/PREFIX]
 *			behind a load balancer: HAProxy's PROXY header
 *	--reuse-port	SO_REUSEPORT: more processes on one port
 *	--fault RULE, --fault-file FILE, --fault-seed N, --triggers,
 *	--max-messages-per-connection N, --rate N/s
 *			failures on demand, to test a client's error
 *			handling: see the README
 *	--sched-batch	workers under SCHED_BATCH: for load tests
 *	--tls-cert FILE --tls-key FILE, --tls-self-signed,
 *	--tls-self-signed-out FILE, --smtps,
 *	--require-tls	STARTTLS (RFC 3207) or TLS from the first byte
 *	--auth-user USER:PASSWORD, --auth-file FILE, --auth-any,
 *	--auth-plaintext, --auth-required, --max-auth-failures N
 *			AUTH PLAIN, LOGIN, CRAM-MD5 (RFC 4954)
 *	--relay-auth USER:PASSWORD, --relay-auth-plaintext,
 *	--relay-tls-insecure
 *			PureProxy's login upstream (over TLS only, unless
 *			--relay-auth-plaintext), and its certificate check
 *
 * EXIT STATUS
 *	0 after SIGINT or SIGTERM; 1 on bad arguments or when the address
 *	cannot be bound.
 *
 * This file is only the command line: it turns arguments into a struct
 * smtpd_config, and the library (server.c) does the rest.
 */
#include "compat.h"
#include "server.h"
#include "auth.h"
#include "delivery.h"
#include "io.h"
#ifdef SMTPD_WEB
#include "web/mime.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <stdint.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
"Usage: %s [options] [localhost:localport [remotehost:remoteport]]\n"
"       %s [options] unix:PATH [remotehost:remoteport]\n"
"\n"
"An RFC 5321 SMTP server with the RFC 1870 SIZE, RFC 6152 8BITMIME,\n"
"RFC 6531 SMTPUTF8 and RFC 2920 PIPELINING extensions.\n"
"\n"
"Options:\n"
"\n"
"    --nosetuid\n"
"    -n\n"
"        This program generally tries to setuid `nobody', unless this flag is\n"
"        set.  The setuid call will fail if this program is not run as root (in\n"
"        which case, use this flag).\n"
"\n"
"    --version\n"
"    -V\n"
"        Print the version number and exit.\n"
"\n"
"    --class classname\n"
"    -c classname\n"
"        Use `classname' as the concrete SMTP server class: DebuggingServer\n"
"        (the default: print each message), Sink (accept and discard), or\n"
"        SMTPServer (refuse every message: it has no process_message),\n"
"        PureProxy (relay each message to remotehost:remoteport),\n"
"        MailmanProxy (mail for Mailman's lists to Mailman, the rest relayed\n"
"        like PureProxy), or Maildir (write each message into --maildir).\n"
"\n"
"    --maildir dir\n"
"        Maildir: deliver into dir (tmp, new and cur are created).\n"
"\n"
"    --mailman-lmtp host:port\n"
"        MailmanProxy: Mailman 3's LMTP runner (default 127.0.0.1:8024).\n"
"\n"
"    --mailman-home dir\n"
"        MailmanProxy: use the Mailman 2 installed in dir instead: lists are\n"
"        dir/lists/NAME, mail goes through dir/mail/mailman.\n"
"\n"
"    --size limit\n"
"    -s limit\n"
"        Restrict the total size of the incoming message to \"limit\" number of\n"
"        bytes via the RFC 1870 SIZE extension.  Defaults to 33554432 bytes;\n"
"        0 means no limit.\n"
"\n"
"    --smtputf8\n"
"    -u\n"
"        Enable the SMTPUTF8 extension and behave as an RFC 6531 smtp proxy.\n"
"\n"
"    --debug\n"
"    -d\n"
"        Turn on debugging prints (the conversation, on standard error).\n"
"\n"
"    --decode\n"
"        DebuggingServer: print each message decoded instead of as received:\n"
"        the envelope, the headers with encoded words decoded, the text part\n"
"        in UTF-8, and one line per other part.  Needs the web interface\n"
"        (GMime); a build without it refuses the option.\n"
"\n"
"    --timeout seconds\n"
"        Close a connection idle this long, or this long inside DATA, with\n"
"        421 (default 300; 0 = never).  Units as for fault delays: 5s, 2m.\n"
"\n"
"    --max-connections n\n"
"        Answer connections beyond n with 421 (default 1000; 0 = no limit).\n"
"\n"
"    --max-recipients n\n"
"        Answer RCPT beyond n in one message with 452 (default 1000).\n"
"\n"
"    --strict-newlines\n"
"        Reject a message that has a bare CR or LF with 550.\n"
"\n"
"    --lmtp\n"
"        Speak LMTP (RFC 2033): LHLO instead of HELO and EHLO, and after the\n"
"        message one reply per accepted recipient.\n"
"\n"
"    --chunking\n"
"        Offer the CHUNKING extension and take BDAT (RFC 3030).\n"
"\n"
"    --socket-mode mode\n"
"        With unix:PATH, give the socket file this mode (octal, e.g. 0660;\n"
"        default: 0666 less the umask).\n"
"\n"
"    --proxy-protocol\n"
"        Every connection starts with HAProxy's PROXY header (v1 or v2), and\n"
"        the client it names is the client; one without it is closed.\n"
"\n"
"    --proxy-from addr[/prefix]\n"
"        With --proxy-protocol, take connections only from this load\n"
"        balancer or network (IPv4 or IPv6; may be given more than once).\n"
"\n"
"    --reuse-port\n"
"        Set SO_REUSEPORT, so that more servers can listen on the same port.\n"
"\n"
"    --fault rule\n"
"        Fail on purpose, to test a client's error handling (repeatable; the\n"
"        first rule that matches wins).  A rule is\n"
"        STAGE[:MATCH][#N[+]]=ACTION[@P%%]: a stage (connect, greeting, helo,\n"
"        auth, mail, rcpt, data, dot, rset, noop, quit), a glob on what the\n"
"        stage sees, the Nth time the stage is reached (#N+: from then on), an\n"
"        action (a reply such as \"550 5.1.1 No such user\", drop, delay 5s,\n"
"        or delay 2s, 451 4.4.2 Timeout) and a probability.  Example:\n"
"        --fault 'rcpt:*@bounce.example=550 5.1.1 No such user'\n"
"\n"
"    --fault-file file\n"
"        Read rules from file, one a line (lines starting with # are\n"
"        comments), after the --fault ones.\n"
"\n"
"    --fault-seed n\n"
"        Seed the random choices of rules with @P%%, so that they repeat.\n"
"\n"
"    --triggers\n"
"        Let the client pick its failure by address, as with BadSMTP:\n"
"        RCPT TO:<rcpt550@example.com>, rcpt550_5.1.1@..., a sender\n"
"        mail421@..., data451@..., rset..., noop..., quit..., and\n"
"        EHLO helo500.example.com.\n"
"\n"
"    --max-messages-per-connection n\n"
"        After n messages on one connection, answer MAIL with 421 and close.\n"
"\n"
"    --rate n/s\n"
"        Answer MAIL beyond n a second (all clients together) with\n"
"        451 4.7.0 Rate limit exceeded.\n"
"\n"
"    --sched-batch\n"
"        Run the worker threads under SCHED_BATCH (Linux): less CPU per message\n"
"        under many busy clients, but a slow answer whenever another process\n"
"        wants the same CPU.  For load tests only.\n"
"\n"
"    --tls-cert file\n"
"    --tls-key file\n"
"        Offer STARTTLS (RFC 3207) with this PEM certificate (chain) and key.\n"
"\n"
"    --tls-self-signed\n"
"        Offer STARTTLS with a throwaway certificate made at start for the\n"
"        server's name and localhost (-d prints its SHA-256 fingerprint).\n"
"\n"
"    --tls-self-signed-out file\n"
"        Write that certificate (PEM) into file, for a client that verifies\n"
"        (curl --cacert file).\n"
"\n"
"    --smtps\n"
"        TLS from the first byte instead of STARTTLS (RFC 8314, port 465).\n"
"\n"
"    --require-tls\n"
"        MAIL, RCPT, DATA and AUTH before STARTTLS get 530.\n"
"\n"
"    --auth-user user:password\n"
"        Offer AUTH PLAIN, LOGIN and CRAM-MD5 (RFC 4954) and let this user log\n"
"        in; may be given more than once.\n"
"\n"
"    --auth-file file\n"
"        The same for every user:password line of file.\n"
"\n"
"    --auth-any\n"
"        Offer AUTH and take any user name and password.\n"
"\n"
"    --auth-plaintext\n"
"        Allow AUTH without TLS (otherwise 538).\n"
"\n"
"    --auth-required\n"
"        MAIL before a successful AUTH gets 530.\n"
"\n"
"    --max-auth-failures n\n"
"        After n failed AUTH attempts in one session, say 421 and close\n"
"        (default 3; 0 = no limit).\n"
"\n"
"    --relay-auth user:password\n"
"        PureProxy: log in upstream with AUTH PLAIN (after STARTTLS, which\n"
"        is used whenever the upstream offers it).  An upstream without\n"
"        STARTTLS gets no password: the client gets 451.\n"
"\n"
"    --relay-auth-plaintext\n"
"        With --relay-auth: send the password to an upstream that offers\n"
"        no STARTTLS, in clear.\n"
"\n"
"    --relay-tls-insecure\n"
"        PureProxy: do not verify the upstream's certificate (otherwise a\n"
"        certificate that fails is a 451).\n"
"\n"
"    --http [host:]port\n"
"        Serve the captured mail over HTTP on host:port (default host\n"
"        127.0.0.1): Mailpit's API (/api/v1/...), MailHog's (/api/v2/...), a\n"
"        wait for mail (/api/v1/message/latest?query=...&wait=5), live events,\n"
"        the SMTP sessions, and a page to read the mail at /.  The class\n"
"        still handles each message; what it accepted is also kept in memory.\n"
"\n"
"    --max-messages n\n"
"        With --http, keep the newest n messages (default 500; 0 = no limit).\n"
"\n"
"    --max-store-size bytes\n"
"        With --http, keep at most this many bytes of messages, dropping the\n"
"        oldest (default 268435456; 0 = no limit).\n"
"\n"
"    --http-auth user:password\n"
"        With --http, ask for this login (HTTP Basic) on every path.\n"
"\n"
"    --http-auth-file file\n"
"        The same, from the first user:password line of file.\n"
"\n"
"    --http-cors origin\n"
"        With --http, let pages from origin call the API (CORS).\n"
"\n"
"    --http-max-connections n\n"
"        With --http, serve at most n HTTP connections at once (default 100;\n"
"        0 = no limit).\n"
"\n"
"    --release\n"
"        With --http, let POST /api/v1/message/ID/release relay a stored\n"
"        message to remotehost:remoteport, which must then be given.\n"
"\n"
"    --help\n"
"    -h\n"
"        Print this message and exit.\n"
"\n"
"Version: smtpd " SMTPD_VERSION "\n"
"\n"
"If localhost is not given then `localhost' is used, and if localport is not\n"
"given then 8025 is used.  If remotehost is not given then `localhost' is used,\n"
"and if remoteport is not given, then 25 is used.  An IPv6 address is written\n"
"in brackets: [::1]:8025.  unix:PATH listens on a UNIX-domain socket instead.\n";

static const char *program = "smtpd";

/* usage - --help: the whole text, on standard output. */
static void __attribute__((noreturn))
usage(void)
{
	printf(usage_text, program, program);
	exit(0);
}

/* arg_error - a bad argument: the reason in one line (Python's words where
 * it has them), then where to read more, as GNU tools do; exit 1.  Not
 * the whole usage: the reason would scroll away above it. */
static void __attribute__((noreturn, format(printf, 1, 2)))
arg_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", program);
	exit(1);
}

/*
 * bad_option - what getopt_long refused (c is ':' for a missing argument,
 * '?' otherwise), said as Python says it for the short options ("option
 * -c requires argument"); arg is the argument it was looking at, for the
 * long ones.
 */
static void __attribute__((noreturn))
bad_option(int c, const char *arg)
{
	if (strncmp(arg, "--", 2) == 0) {
		int n = (int)strcspn(arg, "=");

		if (c == ':')
			arg_error("option %s needs an argument", arg);
		if (optopt != 0 && arg[n] == '=')
			arg_error("option %.*s takes no argument", n, arg);
		arg_error("option %.*s not recognized", n, arg);
	}
	if (c == ':')
		arg_error("option -%c requires argument", optopt);
	arg_error("option -%c not recognized", optopt);
}

/*
 * parse_spec - "host:port" (the first colon splits, as in Python) or
 * "[v6addr]:port".  The host buffer receives the host without brackets.
 */
static bool
parse_spec(const char *spec, char *host, size_t hostsz, int *port,
    bool *bad_port)
{
	const char *colon;
	char *end;
	long p;

	*bad_port = false;
	if (spec[0] == '[' && (colon = strstr(spec, "]:")) != NULL) {
		snprintf(host, hostsz, "%.*s", (int)(colon - spec - 1), spec + 1);
		colon++;
	} else {
		if ((colon = strchr(spec, ':')) == NULL)
			return false;
		snprintf(host, hostsz, "%.*s", (int)(colon - spec), spec);
	}
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno || p < 0 || p > 65535) {
		*bad_port = true;
		return false;
	}
	*port = (int)p;
	return true;
}

/* drop_failed - a privilege drop that did not complete: say which step,
 * and exit rather than run half-privileged. */
static void
drop_failed(const char *step)
{
	fprintf(stderr, "%s: cannot drop root privileges: %s: %s\n", program,
	    step, strerror(errno));
	exit(1);
}

/*
 * become_nobody - give up root after binding, as Python's smtpd does, all
 * or nothing: supplementary groups, then the group (real, effective and
 * saved), then the user, each checked, since a failed setgid after a
 * successful setuid would leave uid nobody with gid 0.  Then the proof:
 * getting root back must fail.  Not root, it only tries setuid, which
 * fails with Python's message.
 */
static void
become_nobody(void)
{
	struct passwd *pw = getpwnam("nobody");

	if (pw == NULL || (getuid() != 0 && setuid(pw->pw_uid) != 0)) {
		fprintf(stderr, "Cannot setuid \"nobody\"; try running with "
		    "-n option.\n");
		exit(1);
	}
	if (getuid() != 0)
		return;
	if (setgroups(0, NULL) != 0)
		drop_failed("setgroups");
	if (compat_setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0)
		drop_failed("setresgid");
	if (compat_setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
		drop_failed("setresuid");
	if (setuid(0) == 0 || seteuid(0) == 0) {
		fprintf(stderr, "%s: cannot drop root privileges: root could "
		    "be regained after the drop\n", program);
		exit(1);
	}
}

/* The folders of a Maildir: DIR itself, then those a delivery writes
 * into, then cur/. */
static const char *const maildir_folders[] = { "", "/tmp", "/new", "/cur" };
#define NFOLDERS	(sizeof(maildir_folders) / sizeof(maildir_folders[0]))

/*
 * maildir_for_nobody - root, about to become nobody: make the folders of
 * the Maildir that are missing now, and give them to nobody, who will
 * write into them (made as root, mode 0700, every delivery would fail).
 * Folders that exist are left as they are: maildir_check says whether
 * nobody can use them.
 */
static void
maildir_for_nobody(const char *dir)
{
	struct passwd *pw = getpwnam("nobody");
	char path[PATH_MAX];

	if (pw == NULL)
		return;		/* become_nobody says so */
	for (size_t i = 0; i < NFOLDERS; i++) {
		snprintf(path, sizeof(path), "%s%s", dir, maildir_folders[i]);
		if (mkdir(path, 0700) != 0) {
			if (errno == EEXIST)
				continue;
			fprintf(stderr, "%s: cannot create %s: %s\n", program,
			    path, strerror(errno));
			exit(1);
		}
		if (chown(path, pw->pw_uid, pw->pw_gid) != 0) {
			fprintf(stderr, "%s: cannot give %s to nobody: %s\n",
			    program, path, strerror(errno));
			exit(1);
		}
	}
}

/* maildir_check - after the drop: can we deliver into the Maildir (enter
 * DIR, write into tmp/ and new/)?  A clear error now, rather than a 451
 * for every message. */
static void
maildir_check(const char *dir)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", dir, maildir_folders[i]);
		if (access(path, i == 0 ? X_OK : W_OK | X_OK) != 0) {
			fprintf(stderr, "%s: Maildir: %s: %s as nobody (give "
			    "it to nobody, or run with -n)\n", program, path,
			    strerror(errno));
			exit(1);
		}
	}
}

/*
 * The classes -c knows, Python's names first.  Each kind is set up in
 * main; the table is the one place that lists them (and the "known:"
 * list of the error message comes from it).
 */
enum server_kind {
	KIND_DEBUGGING, KIND_SINK, KIND_SMTPSERVER, KIND_PUREPROXY,
	KIND_MAILMANPROXY, KIND_MAILDIR,
};

static const struct server_class {
	const char		*name;
	enum server_kind	 kind;
} server_classes[] = {
	{ "DebuggingServer",	KIND_DEBUGGING },
	{ "Sink",		KIND_SINK },
	{ "SMTPServer",		KIND_SMTPSERVER },
	{ "PureProxy",		KIND_PUREPROXY },
	{ "MailmanProxy",	KIND_MAILMANPROXY },
	{ "Maildir",		KIND_MAILDIR },
};
#define NCLASSES	(sizeof(server_classes) / sizeof(server_classes[0]))

/* class_lookup - the class named name; exits with the list if unknown. */
static const struct server_class *
class_lookup(const char *name)
{
	for (size_t i = 0; i < NCLASSES; i++)
		if (strcmp(server_classes[i].name, name) == 0)
			return &server_classes[i];
	fprintf(stderr, "%s: unknown class: %s (known: ", program, name);
	for (size_t i = 0; i < NCLASSES; i++)
		fprintf(stderr, "%s%s", i ? ", " : "", server_classes[i].name);
	fprintf(stderr, ")\n");
	exit(1);
}

/* not_applied - an option the class or the other options make
 * meaningless: an error, since a silently ignored option would have the
 * user believe it did something. */
static void __attribute__((noreturn, format(printf, 1, 2)))
not_applied(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/*
 * check_options_apply - every option given does something with this
 * class and these options (the library checks the TLS and AUTH ones);
 * then a warning for a login that can never succeed.
 */
static void
check_options_apply(const struct smtpd_config *cfg,
    const struct server_class *cls, const char *maildir, const char *lmtp,
    const char *mailman_home, const char *cert_out, bool max_auth_failures)
{
	bool relays = cls->kind == KIND_PUREPROXY ||
	    cls->kind == KIND_MAILMANPROXY;
	bool tls = cfg->tls_cert || cfg->tls_key || cfg->tls_self_signed;

	if (maildir && cls->kind != KIND_MAILDIR)
		not_applied("--maildir needs -c Maildir (the class is %s)",
		    cls->name);
	if ((lmtp || mailman_home) && cls->kind != KIND_MAILMANPROXY)
		not_applied("%s needs -c MailmanProxy (the class is %s)",
		    lmtp ? "--mailman-lmtp" : "--mailman-home", cls->name);
	if (lmtp && mailman_home)
		not_applied("--mailman-lmtp (Mailman 3) or --mailman-home "
		    "(Mailman 2), not both");
	/* --release relays too (web/api_mailpit.c), with the same upstream
	 * login and TLS. */
	if ((cfg->relay_auth_user || cfg->relay_tls_insecure) && !relays &&
	    !cfg->release)
		not_applied("%s needs a relaying class, -c PureProxy or -c "
		    "MailmanProxy, or --release (the class is %s)",
		    cfg->relay_auth_user ? "--relay-auth" :
		    "--relay-tls-insecure", cls->name);
	if (cert_out && !cfg->tls_self_signed)
		not_applied("--tls-self-signed-out needs --tls-self-signed");
	if (cfg->relay_auth_plaintext && !cfg->relay_auth_user)
		not_applied("--relay-auth-plaintext needs --relay-auth");
	if (max_auth_failures && !cfg->auth_secret && !cfg->auth_any)
		not_applied("--max-auth-failures needs AUTH (--auth-user, "
		    "--auth-file or --auth-any)");
	/* Refused, not only unused: every AUTH would get 538. */
	if ((cfg->auth_secret || cfg->auth_any) && !tls &&
	    !cfg->auth_plaintext)
		fprintf(stderr, "%s: warning: AUTH without TLS: every login "
		    "will get 538 (add --tls-cert and --tls-key or "
		    "--tls-self-signed, or allow it with --auth-plaintext)\n",
		    program);
}

/* write_certificate - --tls-self-signed-out: the throwaway certificate
 * (not its key) into path, for a client that verifies (curl --cacert,
 * openssl s_client -CAfile); exit 1 if it cannot be written. */
static void
write_certificate(struct smtpd_server *srv, const char *path)
{
	const char *pem = smtpd_server_tls_certificate(srv);
	FILE *f;

	if (pem == NULL || (f = fopen(path, "w")) == NULL) {
		fprintf(stderr, "%s: --tls-self-signed-out %s: %s\n", program,
		    path, pem ? strerror(errno) : "no certificate");
		exit(1);
	}
	if (fputs(pem, f) == EOF || fclose(f) != 0) {
		fprintf(stderr, "%s: --tls-self-signed-out %s: %s\n", program,
		    path, strerror(errno));
		exit(1);
	}
}

/* say_started - one line on standard error once the server listens, so
 * that a newcomer knows it is up and where: "smtpd: DebuggingServer on
 * localhost:8025" (the real port, after port 0), and with --http a second
 * line with the page's address. */
static void
say_started(const struct server_class *cls, const struct smtpd_config *cfg,
    int port, int http_port)
{
	if (cfg->unix_path)
		fprintf(stderr, "%s: %s on unix:%s\n", program, cls->name,
		    cfg->unix_path);
	else if (cfg->host[0] == '\0')
		fprintf(stderr, "%s: %s on *:%d (every address)\n", program,
		    cls->name, port);
	else
		fprintf(stderr, strchr(cfg->host, ':') ? "%s: %s on [%s]:%d\n" :
		    "%s: %s on %s:%d\n", program, cls->name, cfg->host, port);
	if (cfg->http) {
		const char *h = cfg->http_host ? cfg->http_host : "127.0.0.1";

		fprintf(stderr, strchr(h, ':') ?
		    "%s: the page and the HTTP API on http://[%s]:%d/\n" :
		    "%s: the page and the HTTP API on http://%s:%d/\n", program,
		    h, http_port);
	}
}

/*
 * raise_fd_limit - many systems start processes with 1024 descriptors,
 * fewer than --max-connections needs; the hard limit is usually far
 * higher, and ours to take.
 */
static rlim_t
raise_fd_limit(FILE *debug)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t old = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0 && debug)
			fprintf(debug, "open files limit raised from %llu to "
			    "%llu\n", (unsigned long long)old,
			    (unsigned long long)rl.rlim_max);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

/* The signal thread: SIGINT/SIGTERM stop the server, from a normal
 * thread where stopping is safe (not from a signal handler). */
static void *
signal_thread(void *arg)
{
	struct smtpd_server *srv = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigwait(&set, &sig);
	smtpd_server_stop(srv);
	return NULL;
}

/*
 * The static TLS reserve.  glibc puts a thread's descriptor and its static
 * TLS at the top of the thread's stack, and reserves about 1.7 KB more
 * static TLS there for libraries dlopen()ed later, in up to 4 namespaces.
 * That reserve is what pushes a worker's first frame onto a second stack
 * page: 4 KiB more per connection, half of what an idle one costs (the
 * README's memory section).  smtpd dlopens nothing that needs it, and a
 * tunable can only be read from the environment at start, so smtpd runs
 * itself once more with the reserve turned off.
 */
#define TLS_TUNABLES	"glibc.rtld.nns=1:glibc.rtld.optional_static_tls=0"

/*
 * reexec_without_tls_reserve - exec ourselves with TLS_TUNABLES, once.
 * Not when GLIBC_TUNABLES is set already (the user's choice, even an
 * empty one), nor under LD_PRELOAD (valgrind and other tools that watch
 * this process would lose it across the exec).  In the new process the
 * variable is removed again, so programs that smtpd starts do not get it.
 */
static void
reexec_without_tls_reserve(char **argv)
{
#ifdef __GLIBC__
	const char *t = getenv("GLIBC_TUNABLES");
	char self[PATH_MAX];
	ssize_t n;

	if (t != NULL) {
		if (strcmp(t, TLS_TUNABLES) == 0)
			unsetenv("GLIBC_TUNABLES");
		return;
	}
	if (getenv("LD_PRELOAD") != NULL)
		return;
	/* The binary's own path, not /proc/self/exe: the process keeps its
	 * name (comm, what ps and pkill see). */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || (size_t)n >= sizeof(self) - 1)
		return;
	self[n] = '\0';
	if (setenv("GLIBC_TUNABLES", TLS_TUNABLES, 1) != 0)
		return;
	execv(self, argv);
	unsetenv("GLIBC_TUNABLES");	/* could not: run as we are */
#else
	(void)argv;
#endif
}

/* parse_count - a non-negative whole number option, or exit 1. */
static int
parse_count(const char *opt, const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || errno || v < 0 || v > INT_MAX) {
		fprintf(stderr, "Invalid %s: %s\n", opt, arg);
		exit(1);
	}
	return (int)v;
}

/* parse_timeout - --timeout: whole seconds, as a number (300) or with
 * the units of a fault rule's delay (5s, 2m), or exit 1. */
static int
parse_timeout(const char *arg)
{
	long long ms;
	size_t n;

	if (*arg >= '0' && *arg <= '9' && strspn(arg, "0123456789") ==
	    strlen(arg))
		return parse_count("timeout", arg);
	n = io_parse_duration(arg, (long long)INT_MAX * 1000, &ms);
	if (n == 0 || arg[n] != '\0' || ms % 1000 != 0 ||
	    ms > (long long)INT_MAX * 1000) {
		fprintf(stderr, "Invalid timeout: %s (whole seconds: 300, 5s, "
		    "2m)\n", arg);
		exit(1);
	}
	return (int)(ms / 1000);
}

/* abstract_process - Python's SMTPServer.process_message raises
 * NotImplementedError and the client is dropped; we refuse the message. */
static const char *
abstract_process(struct smtpd_channel *ch, const struct smtpd_message *m,
    void *ctx)
{
	(void)ch;
	(void)m;
	(void)ctx;
	return "554 Error: SMTPServer has no process_message; "
	    "use DebuggingServer or Sink";
}

/* parse_rate - "N/s", N at least 1, or exit 1. */
static int
parse_rate(const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (end == arg || strcmp(end, "/s") != 0 || errno || v < 1 ||
	    v > INT_MAX) {
		fprintf(stderr, "Invalid rate: %s (N/s, N at least 1)\n", arg);
		exit(1);
	}
	return (int)v;
}

/* parse_seed - a whole number for --fault-seed, or exit 1. */
static unsigned long
parse_seed(const char *arg)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end != '\0' || errno) {
		fprintf(stderr, "Invalid fault-seed: %s\n", arg);
		exit(1);
	}
	return v;
}

/* parse_size - a non-negative byte or message count (size_t), or exit 1. */
static size_t
parse_size(const char *opt, const char *arg)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end != '\0' || errno || v > SIZE_MAX) {
		fprintf(stderr, "Invalid %s: %s\n", opt, arg);
		exit(1);
	}
	return (size_t)v;
}

/* parse_http - --http [HOST:]PORT into cfg (host buffer hostsz bytes), or
 * exit 1.  A bare port listens on 127.0.0.1: never every interface unless
 * asked. */
static void
parse_http(const char *arg, char *host, size_t hostsz,
    struct smtpd_config *cfg)
{
	bool bad_port;
	char spec[300];

	if (strchr(arg, ':') == NULL) {
		snprintf(spec, sizeof(spec), "127.0.0.1:%s", arg);
		arg = spec;
	}
	if (!parse_spec(arg, host, hostsz, &cfg->http_port, &bad_port)) {
		fprintf(stderr, "%s: --http takes [HOST:]PORT: %s\n", program,
		    arg);
		exit(1);
	}
	cfg->http = true;
	cfg->http_host = *host ? host : NULL;
}

/* read_http_login - the first USER:PASSWORD line of file (blank lines and
 * # comments skipped) into buf, or exit 1: a password kept out of ps. */
static void
read_http_login(const char *file, char *buf, size_t bufsz)
{
	FILE *f = fopen(file, "r");
	bool found = false;

	if (f == NULL) {
		fprintf(stderr, "%s: --http-auth-file: %s: %s\n", program, file,
		    strerror(errno));
		exit(1);
	}
	while (!found && fgets(buf, (int)bufsz, f) != NULL) {
		buf[strcspn(buf, "\r\n")] = '\0';
		found = buf[0] != '\0' && buf[0] != '#';
	}
	fclose(f);
	if (!found || strchr(buf, ':') == NULL) {
		fprintf(stderr, "%s: --http-auth-file: %s has no USER:PASSWORD "
		    "line\n", program, file);
		exit(1);
	}
}

enum { OPT_TIMEOUT = 256, OPT_MAX_CONN, OPT_MAX_RCPT, OPT_STRICT,
	OPT_MAILDIR, OPT_MAILMAN_LMTP, OPT_MAILMAN_HOME, OPT_LMTP, OPT_CHUNKING,
	OPT_SOCKET_MODE, OPT_PROXY_PROTOCOL, OPT_PROXY_FROM, OPT_REUSE_PORT,
	OPT_FAULT, OPT_FAULT_FILE, OPT_FAULT_SEED, OPT_TRIGGERS,
	OPT_MAX_MESSAGES, OPT_RATE, OPT_SCHED_BATCH,
	OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_SELF, OPT_SMTPS, OPT_REQUIRE_TLS,
	OPT_AUTH_USER, OPT_AUTH_FILE, OPT_AUTH_ANY, OPT_AUTH_PLAIN,
	OPT_AUTH_REQUIRED, OPT_RELAY_AUTH, OPT_RELAY_INSECURE,
	OPT_RELAY_AUTH_PLAIN, OPT_TLS_SELF_OUT, OPT_DECODE,
	OPT_HTTP, OPT_MAX_STORED, OPT_MAX_STORE_SIZE, OPT_HTTP_AUTH,
	OPT_HTTP_AUTH_FILE, OPT_HTTP_CORS, OPT_HTTP_MAX_CONN, OPT_RELEASE,
	OPT_MAX_AUTH_FAILURES };

/* The --proxy-from networks, in the NULL-ended list cfg.proxy_from takes. */
#define PROXY_FROM_MAX	64

/* users - the table behind --auth-user and --auth-file, made on first use. */
static struct auth_users *
users(struct auth_users **t)
{
	if (*t == NULL && (*t = auth_users_new()) == NULL) {
		fprintf(stderr, "%s: out of memory\n", program);
		exit(1);
	}
	return *t;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "class", required_argument, NULL, 'c' },
		{ "nosetuid", no_argument, NULL, 'n' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "size", required_argument, NULL, 's' },
		{ "debug", no_argument, NULL, 'd' },
		{ "smtputf8", no_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "max-connections", required_argument, NULL, OPT_MAX_CONN },
		{ "max-recipients", required_argument, NULL, OPT_MAX_RCPT },
		{ "strict-newlines", no_argument, NULL, OPT_STRICT },
		{ "maildir", required_argument, NULL, OPT_MAILDIR },
		{ "mailman-lmtp", required_argument, NULL, OPT_MAILMAN_LMTP },
		{ "mailman-home", required_argument, NULL, OPT_MAILMAN_HOME },
		{ "lmtp", no_argument, NULL, OPT_LMTP },
		{ "chunking", no_argument, NULL, OPT_CHUNKING },
		{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
		{ "proxy-protocol", no_argument, NULL, OPT_PROXY_PROTOCOL },
		{ "proxy-from", required_argument, NULL, OPT_PROXY_FROM },
		{ "reuse-port", no_argument, NULL, OPT_REUSE_PORT },
		{ "fault", required_argument, NULL, OPT_FAULT },
		{ "fault-file", required_argument, NULL, OPT_FAULT_FILE },
		{ "fault-seed", required_argument, NULL, OPT_FAULT_SEED },
		{ "triggers", no_argument, NULL, OPT_TRIGGERS },
		{ "max-messages-per-connection", required_argument, NULL,
		    OPT_MAX_MESSAGES },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "sched-batch", no_argument, NULL, OPT_SCHED_BATCH },
		{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
		{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
		{ "tls-self-signed", no_argument, NULL, OPT_TLS_SELF },
		{ "tls-self-signed-out", required_argument, NULL,
		    OPT_TLS_SELF_OUT },
		{ "smtps", no_argument, NULL, OPT_SMTPS },
		{ "require-tls", no_argument, NULL, OPT_REQUIRE_TLS },
		{ "auth-user", required_argument, NULL, OPT_AUTH_USER },
		{ "auth-file", required_argument, NULL, OPT_AUTH_FILE },
		{ "auth-any", no_argument, NULL, OPT_AUTH_ANY },
		{ "auth-plaintext", no_argument, NULL, OPT_AUTH_PLAIN },
		{ "auth-required", no_argument, NULL, OPT_AUTH_REQUIRED },
		{ "max-auth-failures", required_argument, NULL,
		    OPT_MAX_AUTH_FAILURES },
		{ "relay-auth", required_argument, NULL, OPT_RELAY_AUTH },
		{ "relay-tls-insecure", no_argument, NULL, OPT_RELAY_INSECURE },
		{ "relay-auth-plaintext", no_argument, NULL,
		    OPT_RELAY_AUTH_PLAIN },
		{ "decode", no_argument, NULL, OPT_DECODE },
		{ "http", required_argument, NULL, OPT_HTTP },
		{ "max-messages", required_argument, NULL, OPT_MAX_STORED },
		{ "max-store-size", required_argument, NULL, OPT_MAX_STORE_SIZE },
		{ "http-auth", required_argument, NULL, OPT_HTTP_AUTH },
		{ "http-auth-file", required_argument, NULL, OPT_HTTP_AUTH_FILE },
		{ "http-cors", required_argument, NULL, OPT_HTTP_CORS },
		{ "http-max-connections", required_argument, NULL,
		    OPT_HTTP_MAX_CONN },
		{ "release", no_argument, NULL, OPT_RELEASE },
		{ NULL, 0, NULL, 0 },
	};
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	const char *classname = "DebuggingServer";
	const struct server_class *cls;
	const char *localspec = "localhost:8025", *remotespec = "localhost:25";
	char localhost[256], remotehost[256], err[512], lmtphost[256];
	const char *maildir = NULL, *lmtpspec = NULL, *cert_out = NULL;
	/* Static, as proxy below: reachable until exit, not a leak. */
	static const char **faults;	/* --fault, in order */
	/* Static: the relay handlers keep a pointer for the server's life. */
	static struct smtpd_relay_options proxy;
	static const char *proxy_from[PROXY_FROM_MAX + 1];
	size_t nproxy_from = 0;
	bool setuid_nobody = true, bad_port, max_auth_failures = false;
	bool decode = false;
	/* static: still reachable when an option error exits (LeakSanitizer) */
	static struct auth_users *auth_table;
	char relay_user[AUTH_FIELD_MAX + 1];
	char httphost[256];
	static char http_login[1024];	/* --http-auth-file's line */
	pthread_t sigthread;
	sigset_t set;
	int c;

	reexec_without_tls_reserve(argv);
	program = argv[0];
	smtpd_config_init(&cfg);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":nVhc:s:du", longopts, NULL))
	    != -1) {
		switch (c) {
		case 'h':
			usage();
		case 'V':
			printf("smtpd %s\n", smtpd_version());
			return 0;
		case 'n':
			setuid_nobody = false;
			break;
		case 'c':
			classname = optarg;
			break;
		case 'd':
			cfg.debug = stderr;
			break;
		case OPT_DECODE:
			decode = true;
			break;
		case 'u':
			cfg.enable_smtputf8 = true;
			break;
		case 's': {
			char *end;
			errno = 0;
			long long v = strtoll(optarg, &end, 10);
			/* Python takes int(arg); a negative limit is nonsense,
			 * so we refuse it too. */
			if (*optarg == '\0' || *end != '\0' || errno || v < 0) {
				fprintf(stderr, "Invalid size: %s\n", optarg);
				return 1;
			}
			cfg.data_size_limit = (size_t)v;
			break;
		}
		case OPT_TIMEOUT:
			cfg.timeout = parse_timeout(optarg);
			break;
		case OPT_MAX_CONN:
			cfg.max_connections = parse_count("max-connections",
			    optarg);
			break;
		case OPT_MAX_RCPT:
			cfg.max_recipients = parse_count("max-recipients",
			    optarg);
			break;
		case OPT_STRICT:
			cfg.strict_newlines = true;
			break;
		case OPT_MAILDIR:
			maildir = optarg;
			break;
		case OPT_MAILMAN_LMTP:
			lmtpspec = optarg;
			break;
		case OPT_MAILMAN_HOME:
			proxy.mailman_home = optarg;
			break;
		case OPT_LMTP:
			cfg.lmtp = true;
			break;
		case OPT_CHUNKING:
			cfg.chunking = true;
			break;
		case OPT_SOCKET_MODE: {
			char *end;
			errno = 0;
			long v = strtol(optarg, &end, 8);
			if (*optarg == '\0' || *end != '\0' || errno || v <= 0 ||
			    v > 07777) {
				fprintf(stderr, "Invalid socket-mode: %s\n",
				    optarg);
				return 1;
			}
			cfg.unix_mode = (int)v;
			break;
		}
		case OPT_PROXY_PROTOCOL:
			cfg.proxy_protocol = true;
			break;
		case OPT_PROXY_FROM:
			if (nproxy_from == PROXY_FROM_MAX) {
				fprintf(stderr, "At most %d --proxy-from\n",
				    PROXY_FROM_MAX);
				return 1;
			}
			proxy_from[nproxy_from++] = optarg;
			cfg.proxy_from = proxy_from;
			break;
		case OPT_REUSE_PORT:
			cfg.reuse_port = true;
			break;
		case OPT_FAULT:
			/* At most one rule an argument: argc has room. */
			if (faults == NULL &&
			    (faults = calloc((size_t)argc, sizeof(*faults))) ==
			    NULL) {
				fprintf(stderr, "%s: out of memory\n", program);
				return 1;
			}
			faults[cfg.fault_count++] = optarg;
			cfg.faults = faults;
			break;
		case OPT_FAULT_FILE:
			cfg.fault_file = optarg;
			break;
		case OPT_FAULT_SEED:
			cfg.fault_seed = parse_seed(optarg);
			cfg.fault_seeded = true;
			break;
		case OPT_TRIGGERS:
			cfg.triggers = true;
			break;
		case OPT_MAX_MESSAGES:
			cfg.max_messages_per_connection = parse_count(
			    "max-messages-per-connection", optarg);
			break;
		case OPT_RATE:
			cfg.rate_per_sec = parse_rate(optarg);
			break;
		case OPT_SCHED_BATCH:
			cfg.sched_batch = true;
			break;
		case OPT_TLS_CERT:
			cfg.tls_cert = optarg;
			break;
		case OPT_TLS_KEY:
			cfg.tls_key = optarg;
			break;
		case OPT_TLS_SELF:
			cfg.tls_self_signed = true;
			break;
		case OPT_TLS_SELF_OUT:
			cert_out = optarg;
			break;
		case OPT_SMTPS:
			cfg.smtps = true;
			break;
		case OPT_REQUIRE_TLS:
			cfg.require_tls = true;
			break;
		case OPT_AUTH_USER:
			if (auth_users_add(users(&auth_table), optarg, err,
			    sizeof(err)) != 0) {
				fprintf(stderr, "%s: --auth-user: %s\n",
				    program, err);
				return 1;
			}
			break;
		case OPT_AUTH_FILE:
			if (auth_users_load(users(&auth_table), optarg, err,
			    sizeof(err)) != 0) {
				fprintf(stderr, "%s: --auth-file: %s\n",
				    program, err);
				return 1;
			}
			break;
		case OPT_AUTH_ANY:
			cfg.auth_any = true;
			break;
		case OPT_AUTH_PLAIN:
			cfg.auth_plaintext = true;
			break;
		case OPT_AUTH_REQUIRED:
			cfg.auth_required = true;
			break;
		case OPT_MAX_AUTH_FAILURES:
			cfg.max_auth_failures = parse_count("max-auth-failures",
			    optarg);
			max_auth_failures = true;
			break;
		case OPT_RELAY_AUTH: {
			const char *colon = strchr(optarg, ':');

			if (colon == NULL || colon == optarg ||
			    (size_t)(colon - optarg) > AUTH_FIELD_MAX) {
				fprintf(stderr, "%s: --relay-auth takes "
				    "USER:PASSWORD\n", program);
				return 1;
			}
			snprintf(relay_user, sizeof(relay_user), "%.*s",
			    (int)(colon - optarg), optarg);
			cfg.relay_auth_user = relay_user;
			cfg.relay_auth_password = colon + 1;
			break;
		}
		case OPT_RELAY_INSECURE:
			cfg.relay_tls_insecure = true;
			break;
		case OPT_RELAY_AUTH_PLAIN:
			cfg.relay_auth_plaintext = true;
			break;
		case OPT_HTTP:
			parse_http(optarg, httphost, sizeof(httphost), &cfg);
			break;
		case OPT_MAX_STORED:
			cfg.max_messages = parse_size("max-messages", optarg);
			break;
		case OPT_MAX_STORE_SIZE:
			cfg.max_store_size = parse_size("max-store-size",
			    optarg);
			break;
		case OPT_HTTP_AUTH:
			if (strchr(optarg, ':') == NULL) {
				fprintf(stderr, "%s: --http-auth takes "
				    "USER:PASSWORD\n", program);
				return 1;
			}
			cfg.http_auth = optarg;
			break;
		case OPT_HTTP_AUTH_FILE:
			read_http_login(optarg, http_login, sizeof(http_login));
			cfg.http_auth = http_login;
			break;
		case OPT_HTTP_CORS:
			if (*optarg == '\0' || strpbrk(optarg, "\r\n")) {
				fprintf(stderr, "%s: --http-cors takes an "
				    "origin\n", program);
				return 1;
			}
			cfg.http_cors = optarg;
			break;
		case OPT_HTTP_MAX_CONN:
			cfg.http_max_connections = parse_count(
			    "http-max-connections", optarg);
			break;
		case OPT_RELEASE:
			cfg.release = true;
			break;
		case ':':
		case '?':
		default:
			bad_option(c, argv[optind - 1]);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 2) {
		fprintf(stderr, "Invalid arguments: ");
		for (int i = 0; i < argc; i++)
			fprintf(stderr, "%s%s", i ? ", " : "", argv[i]);
		arg_error("%s", "");
	}
	if (argc >= 1)
		localspec = argv[0];
	if (argc >= 2)
		remotespec = argv[1];
	if (strncmp(localspec, "unix:", 5) == 0) {
		cfg.unix_path = localspec + 5;
		snprintf(localhost, sizeof(localhost), "%s", localspec);
		cfg.port = 0;
	} else if (!parse_spec(localspec, localhost, sizeof(localhost),
	    &cfg.port, &bad_port))
		arg_error(bad_port ? "Bad local port: %s" :
		    "Bad local spec: %s", localspec);
	if (cfg.unix_mode && !cfg.unix_path) {
		fprintf(stderr, "%s: --socket-mode needs a unix:PATH address\n",
		    program);
		return 1;
	}
	if (cfg.proxy_from && !cfg.proxy_protocol) {
		fprintf(stderr, "%s: --proxy-from needs --proxy-protocol\n",
		    program);
		return 1;
	}
	if (!parse_spec(remotespec, remotehost, sizeof(remotehost),
	    &cfg.remote_port, &bad_port))
		arg_error(bad_port ? "Bad remote port: %s" :
		    "Bad remote spec: %s", remotespec);
	if ((cfg.http_auth || cfg.http_cors || cfg.release) && !cfg.http) {
		fprintf(stderr, "%s: --http-auth, --http-cors and --release "
		    "need --http\n", program);
		return 1;
	}
	if (cfg.release && argc < 2) {
		fprintf(stderr, "%s: --release needs remotehost:remoteport, "
		    "the upstream that released messages go to\n", program);
		return 1;
	}
	cfg.host = cfg.unix_path ? NULL : localhost;
	cfg.remote_host = remotehost;
	if (auth_table) {
		cfg.auth_secret = auth_users_secret;
		cfg.auth_ctx = auth_table;
	}

	cls = class_lookup(classname);
	/* --decode: DebuggingServer's MIME view (web/mime.c, GMime) */
#ifndef SMTPD_WEB
	if (decode) {
		fprintf(stderr, "%s: --decode: built without the web "
		    "interface\n", program);
		return 1;
	}
#endif
	if (decode && cls->kind != KIND_DEBUGGING) {
		fprintf(stderr, "%s: --decode is for -c DebuggingServer\n",
		    program);
		return 1;
	}
	check_options_apply(&cfg, cls, maildir, lmtpspec, proxy.mailman_home,
	    cert_out, max_auth_failures);
	switch (cls->kind) {
	case KIND_DEBUGGING:
		cfg.handler = smtpd_handler_debugging(stdout);
#ifdef SMTPD_WEB
		if (decode)
			cfg.handler = handler_debugging_decoded(stdout);
#endif
		break;
	case KIND_SINK:
		cfg.handler = smtpd_handler_sink();
		break;
	case KIND_PUREPROXY:
	case KIND_MAILMANPROXY:
		proxy.remote_host = remotehost;
		proxy.remote_port = cfg.remote_port;
		proxy.timeout = cfg.timeout;
		if (lmtpspec) {
			if (!parse_spec(lmtpspec, lmtphost, sizeof(lmtphost),
			    &proxy.mailman_lmtp_port, &bad_port)) {
				fprintf(stderr, "Bad --mailman-lmtp: %s\n",
				    lmtpspec);
				return 1;
			}
			proxy.mailman_lmtp_host = lmtphost;
		}
		cfg.handler = cls->kind == KIND_PUREPROXY ?
		    smtpd_handler_pureproxy(&proxy) :
		    smtpd_handler_mailmanproxy(&proxy);
		break;
	case KIND_MAILDIR:
		if (maildir == NULL) {
			fprintf(stderr, "%s: -c Maildir needs --maildir DIR\n",
			    program);
			return 1;
		}
		if (setuid_nobody && getuid() == 0)
			maildir_for_nobody(maildir);
		if (smtpd_handler_maildir(&cfg.handler, maildir, err,
		    sizeof(err)) != 0) {
			fprintf(stderr, "%s: %s\n", program, err);
			return 1;
		}
		break;
	case KIND_SMTPSERVER:
		cfg.handler.name = "SMTPServer";
		cfg.handler.process_message = abstract_process;
		break;
	}

	rlim_t fds = raise_fd_limit(cfg.debug);
	if (cfg.max_connections > 0 && fds > 0 &&
	    (rlim_t)cfg.max_connections + 16 > fds) {
		fprintf(stderr, "%s: --max-connections %d needs more open "
		    "files than the limit of %llu (ulimit -n)\n", program,
		    cfg.max_connections, (unsigned long long)fds);
		return 1;
	}

	/*
	 * A write to a closed pipe (`smtpd | head`, a reader that died) must
	 * fail with EPIPE, which the handler answers 451, not kill the
	 * server: sockets use MSG_NOSIGNAL, stdout cannot.
	 */
	signal(SIGPIPE, SIG_IGN);

	/* Block SIGINT/SIGTERM in every thread; one thread waits for them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (smtpd_server_new(&cfg, &srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", program, err);
		return 1;
	}
	if (cert_out)
		write_certificate(srv, cert_out);
	if (smtpd_server_listen(srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", program, err);
		smtpd_server_free(srv);
		return 1;
	}
	if (setuid_nobody) {
		become_nobody();
		if (cls->kind == KIND_MAILDIR)
			maildir_check(maildir);
	}
	say_started(cls, &cfg, smtpd_server_port(srv),
	    smtpd_server_http_port(srv));
	if (cfg.debug) {
		time_t now = time(NULL);
		fprintf(stderr, "%s started at %s\tLocal addr: ('%s', %d)\n"
		    "\tRemote addr:('%s', %d)\n", classname, ctime(&now),
		    localhost, smtpd_server_port(srv), remotehost,
		    cfg.remote_port);
		if (smtpd_server_tls_fingerprint(srv))
			fprintf(stderr, "\tTLS certificate SHA-256 fingerprint: "
			    "%s\n", smtpd_server_tls_fingerprint(srv));
	}
	if (pthread_create(&sigthread, NULL, signal_thread, srv) != 0) {
		fprintf(stderr, "%s: cannot start the signal thread\n", program);
		return 1;
	}
	if (smtpd_server_serve_forever(srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", program, err);
		return 1;
	}
	pthread_join(sigthread, NULL);
	smtpd_server_free(srv);
	auth_users_free(auth_table);
	return 0;
}
