/* SPDX-License-Identifier: ISC */
/*
 * config.c - the server's configuration: its defaults, the copy of a
 * program's struct smtpd_config of whatever size it was built with, the
 * checks that make smtpd_server_new refuse a bad one, the host's name,
 * and the texts every session sends alike (greeting, HELO and EHLO
 * replies), built once here so that the server never asks the session
 * code to make them.
 *
 *	config_load	copy (by size: the ABI policy of server.h) and check
 *	config_texts	the host name, the greeting, the HELO and EHLO replies
 *	config_faults	the fault rules of the configuration, or of
 *			smtpd_server_set_faults
 *	config_proxy_nets
 *			the load balancers that may send a PROXY header
 */
#include "compat.h"
#include "channel_internal.h"
#include "auth.h"
#include "tls.h"
#include "web/web.h"

#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * The size of struct smtpd_config in the 2.0 layout: up to its last field
 * then, debug.  A program's struct is never smaller (server.h, the ABI
 * policy); it may be larger only up to this library's sizeof.
 */
#define CONFIG_SIZE_2_0	(offsetof(struct smtpd_config, debug) + \
			    sizeof(FILE *))

/* config_defaults - every field's default, for this library's layout. */
static void
config_defaults(struct smtpd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->host = "localhost";
	cfg->port = 8025;
	cfg->data_size_limit = SMTPD_DATA_SIZE_DEFAULT;
	cfg->remote_host = "localhost";
	cfg->remote_port = 25;
	cfg->timeout = 300;		/* RFC 5321 section 4.5.3.2.7 */
	cfg->max_connections = 1000;
	cfg->max_recipients = 1000;	/* RFC 5321 section 4.5.3.1.8: >= 100 */
	cfg->max_junk = 20;
	cfg->shutdown_grace = 10;
	cfg->handler = smtpd_handler_debugging(stdout);
	/* lmtp, chunking, unix_path, unix_mode, reuse_port, proxy_protocol
	 * and proxy_from (2.1) are off or none: the memset above. */
	/* Fields appended after the 2.0 layout get their defaults here. */
	cfg->max_auth_failures = 3;
	cfg->max_messages = 500;	/* Mailpit's default */
	cfg->max_store_size = (size_t)256 << 20;
	cfg->http_max_connections = 100;
}

/*
 * smtpd_config_init_size - write only size bytes: the program's struct may
 * be older (smaller) than ours.  One newer (larger) than ours gets zeros
 * past our layout, and smtpd_server_new refuses it with a message.
 */
void
smtpd_config_init_size(struct smtpd_config *cfg, size_t size)
{
	struct smtpd_config d;

	config_defaults(&d);
	d.size = size;
	memcpy(cfg, &d, size < sizeof(d) ? size : sizeof(d));
	if (size > sizeof(d))
		memset((char *)cfg + sizeof(d), 0, size - sizeof(d));
}

/* config_copy - the program's configuration, of its own size, into ours:
 * what it has is copied, what it is too old to have keeps the default. */
static int
config_copy(struct smtpd_config *dst, const struct smtpd_config *src,
    char *err, size_t errsz)
{
	if (src->size > sizeof(*dst)) {
		snprintf(err, errsz, "struct smtpd_config from a newer libsmtpd "
		    "(%zu bytes, this library knows %zu)", src->size,
		    sizeof(*dst));
		return -1;
	}
	if (src->size < CONFIG_SIZE_2_0) {
		snprintf(err, errsz, "struct smtpd_config of %zu bytes (at "
		    "least %zu): fill it with smtpd_config_init()", src->size,
		    (size_t)CONFIG_SIZE_2_0);
		return -1;
	}
	config_defaults(dst);
	memcpy(dst, src, src->size);
	dst->size = sizeof(*dst);
	return 0;
}

/*
 * server_fqdn - the host's name as Python's socket.getfqdn() finds it: the
 * first of the canonical name and aliases of our host name's address that
 * contains a dot, else the canonical name.  The _r look-ups: a program may
 * create servers from several threads at once.  Without glibc's _r calls
 * (compat.h), getaddrinfo and getnameinfo, which have no aliases: the
 * name of the address, or else the forward look-up's canonical name if
 * only that one has a dot.
 */
static void
server_fqdn(char *out, size_t outsz)
{
	char host[256];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(out, outsz, "%s", host);

#if HAVE_GETHOSTBYNAME_R
	char buf[8192], addr[16];
	struct hostent he, *res = NULL;
	int herr;

	if (gethostbyname_r(host, &he, buf, sizeof(buf), &res, &herr) != 0 ||
	    res == NULL || res->h_length > (int)sizeof(addr))
		return;
	int len = res->h_length, family = res->h_addrtype;
	memcpy(addr, res->h_addr_list[0], (size_t)len);
	if (gethostbyaddr_r(addr, (socklen_t)len, family, &he, buf,
	    sizeof(buf), &res, &herr) != 0 || res == NULL)
		return;
	snprintf(out, outsz, "%s", res->h_name);
	if (strchr(res->h_name, '.'))
		return;
	for (char **a = res->h_aliases; *a; a++) {
		if (strchr(*a, '.')) {
			snprintf(out, outsz, "%s", *a);
			return;
		}
	}
#else
	struct addrinfo hints = { .ai_flags = AI_CANONNAME }, *res;
	char name[256];		/* a DNS name has at most 253 */

	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return;
	if (getnameinfo(res->ai_addr, res->ai_addrlen, name, sizeof(name),
	    NULL, 0, NI_NAMEREQD) == 0) {
		snprintf(out, outsz, "%s", name);
		if (!strchr(name, '.') && res->ai_canonname &&
		    strchr(res->ai_canonname, '.'))
			snprintf(out, outsz, "%s", res->ai_canonname);
	}
	freeaddrinfo(res);
#endif
}

/* host_fqdn - server_fqdn, looked up once per process: a test suite that
 * makes many servers should not wait for the resolver each time. */
static char fqdn_cache[256];
static pthread_once_t fqdn_once = PTHREAD_ONCE_INIT;

static void
fqdn_init(void)
{
	server_fqdn(fqdn_cache, sizeof(fqdn_cache));
}

static const char *
host_fqdn(void)
{
	pthread_once(&fqdn_once, fqdn_init);
	return fqdn_cache;
}

/* config_check_tls - the TLS and AUTH fields make sense together, and
 * this build can do what they ask. */
static int
config_check_tls(const struct smtpd_config *cfg, char *err, size_t errsz)
{
	bool cert = cfg->tls_cert || cfg->tls_key;
	bool auth = cfg->auth_secret || cfg->auth_any;

	if ((cert || cfg->tls_self_signed || cfg->smtps || cfg->require_tls ||
	    cfg->relay_tls_insecure) && !tls_available()) {
		snprintf(err, errsz, "TLS: built without TLS support "
		    "(rebuild with OpenSSL: make TLS=yes)");
		return -1;
	}
	if (cert && (!cfg->tls_cert || !cfg->tls_key)) {
		snprintf(err, errsz, "TLS: a certificate needs its key, and a "
		    "key its certificate (--tls-cert and --tls-key)");
		return -1;
	}
	if (cert && cfg->tls_self_signed) {
		snprintf(err, errsz, "TLS: a certificate or a self-signed "
		    "one, not both");
		return -1;
	}
	if ((cfg->smtps || cfg->require_tls) && !cert &&
	    !cfg->tls_self_signed) {
		snprintf(err, errsz, "TLS: %s needs a certificate "
		    "(--tls-cert and --tls-key, or --tls-self-signed)",
		    cfg->smtps ? "--smtps" : "--require-tls");
		return -1;
	}
	if ((cfg->auth_plaintext || cfg->auth_required) && !auth) {
		snprintf(err, errsz, "AUTH: %s needs users (--auth-user, "
		    "--auth-file or --auth-any)", cfg->auth_plaintext ?
		    "--auth-plaintext" : "--auth-required");
		return -1;
	}
	if (cfg->relay_auth_user && !cfg->relay_auth_password) {
		snprintf(err, errsz, "relay AUTH: a user needs a password");
		return -1;
	}
	return 0;
}

/*
 * config_faults - the rule set for these rules and file, with the
 * configuration's seed and triggers; NULL in *out when it could never
 * fire, so that a server without faults takes no lock for them.
 */
int
config_faults(const struct smtpd_config *cfg, const char *const *rules,
    size_t n, const char *file, struct fault_set **out, char *err,
    size_t errsz)
{
	struct fault_options o = {
		.rules = rules, .rule_count = n, .file = file,
		.seed = cfg->fault_seed, .seeded = cfg->fault_seeded,
		.triggers = cfg->triggers,
		.without_auth = !cfg->auth_secret && !cfg->auth_any,
	};

	if (fault_set_new(&o, out, err, errsz) != 0)
		return -1;
	if (fault_set_empty(*out)) {
		fault_set_release(*out);
		*out = NULL;
	}
	return 0;
}

/*
 * config_check - a configuration the server can run with, or -1 and the
 * first thing wrong in err: a handler that delivers, consistent options,
 * limits that are not negative, texts that cannot inject reply lines.
 */
static int
config_check(const struct smtpd_config *cfg, char *err, size_t errsz)
{
	/* A 250 after DATA promises delivery: a handler must deliver (Sink,
	 * which discards, has a process_message of its own). */
	if (cfg->handler.process_message == NULL) {
		snprintf(err, errsz, "handler %s%s%shas no process_message",
		    cfg->handler.name ? "\"" : "",
		    cfg->handler.name ? cfg->handler.name : "",
		    cfg->handler.name ? "\" " : "");
		return -1;
	}
	if (cfg->enable_smtputf8 && cfg->decode_data) {
		snprintf(err, errsz, "decode_data and enable_SMTPUTF8 cannot "
		    "be set to True at the same time");
		return -1;
	}
	if (cfg->command_count > 0 && cfg->commands == NULL) {
		snprintf(err, errsz, "command_count is %zu but commands is NULL",
		    cfg->command_count);
		return -1;
	}
	for (size_t i = 0; i < cfg->command_count; i++) {
		const struct smtpd_command *c = &cfg->commands[i];

		if (c->name == NULL || *c->name == '\0' || c->run == NULL ||
		    strpbrk(c->name, " \r\n") != NULL) {
			snprintf(err, errsz, "commands[%zu] needs a name (one "
			    "word) and a run function", i);
			return -1;
		}
		if (channel_is_builtin(cfg, c->name)) {
			snprintf(err, errsz, "extra command %s is built in",
			    c->name);
			return -1;
		}
	}
	/* A CR or LF here would let configuration inject reply lines. */
	if (cfg->fqdn && strpbrk(cfg->fqdn, "\r\n")) {
		snprintf(err, errsz, "fqdn must be one line");
		return -1;
	}
	for (const char *const *k = cfg->ehlo_keywords; k && *k; k++) {
		if (strpbrk(*k, "\r\n") || **k == '\0') {
			snprintf(err, errsz, "EHLO keyword \"%s\" must be one "
			    "non-empty line", *k);
			return -1;
		}
	}
	if (cfg->port < 0 || cfg->port > 65535) {
		snprintf(err, errsz, "invalid port: %d", cfg->port);
		return -1;
	}
	if (config_check_tls(cfg, err, errsz) != 0)
		return -1;
	if (cfg->timeout < 0 || cfg->max_connections < 0 ||
	    cfg->max_recipients < 0 || cfg->max_junk < 0 ||
	    cfg->shutdown_grace < 0 || cfg->max_messages_per_connection < 0 ||
	    cfg->rate_per_sec < 0 || cfg->max_auth_failures < 0) {
		snprintf(err, errsz, "limits and timeouts must not be negative");
		return -1;
	}
	if (cfg->unix_path && (*cfg->unix_path == '\0' ||
	    strlen(cfg->unix_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))) {
		snprintf(err, errsz, "UNIX socket path must be 1 to %zu bytes",
		    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -1;
	}
	if (cfg->unix_mode < 0 || cfg->unix_mode > 07777) {
		snprintf(err, errsz, "invalid socket mode %o", cfg->unix_mode);
		return -1;
	}
	if (cfg->fault_count > 0 && cfg->faults == NULL) {
		snprintf(err, errsz, "fault_count is %zu but faults is NULL",
		    cfg->fault_count);
		return -1;
	}
	/* Refused here, before the SMTP side listens: a client (or a test)
	 * that sees SMTP answer must not see the server exit after. */
	if (cfg->http && !web_available()) {
		snprintf(err, errsz, "--http: built without the web interface "
		    "(make WEB=no)");
		return -1;
	}
	return 0;
}

/* config_load - the program's configuration, copied into ours and checked
 * (server.c keeps this copy: the program may free its own). */
int
config_load(struct smtpd_config *cfg, const struct smtpd_config *given,
    char *err, size_t errsz)
{
	if (config_copy(cfg, given, err, errsz) != 0)
		return -1;
	return config_check(cfg, err, errsz);
}

/* config_proxy_nets - parse cfg->proxy_from, the load balancers that may
 * send a PROXY header; 0, or -1 with the bad entry in err. */
int
config_proxy_nets(struct smtpd_server *srv, const struct smtpd_config *cfg,
    char *err, size_t errsz)
{
	size_t n = 0;

	for (const char *const *p = cfg->proxy_from; p && *p; p++)
		n++;
	if (n == 0)
		return 0;
	if ((srv->proxy_nets = calloc(n, sizeof(*srv->proxy_nets))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (proxyproto_net_parse(cfg->proxy_from[i],
		    &srv->proxy_nets[i], err, errsz) != 0) {
			free(srv->proxy_nets);
			srv->proxy_nets = NULL;
			return -1;
		}
	srv->proxy_net_count = n;
	return 0;
}

/* ehlo_make - the EHLO reply, with STARTTLS and AUTH offered or not. */
static char *
ehlo_make(const struct smtpd_server *srv, bool starttls, bool auth)
{
	const struct smtpd_config *cfg = &srv->cfg;
	char *e = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&e, &len)) == NULL)
		return NULL;
	fprintf(f, "250-%s\r\n", srv->fqdn);
	if (cfg->data_size_limit)
		fprintf(f, "250-SIZE %zu\r\n", cfg->data_size_limit);
	if (!cfg->decode_data)
		fputs("250-8BITMIME\r\n", f);
	if (cfg->enable_smtputf8)
		fputs("250-SMTPUTF8\r\n", f);
	fputs("250-PIPELINING\r\n", f);
	if (cfg->chunking)
		fputs("250-CHUNKING\r\n", f);
	if (starttls)
		fputs("250-STARTTLS\r\n", f);
	if (auth)
		fprintf(f, "250-AUTH %s\r\n", auth_mechanisms());
	for (const char *const *k = cfg->ehlo_keywords; k && *k; k++)
		fprintf(f, "250-%s\r\n", *k);
	fputs("250 HELP", f);
	if (fclose(f) != 0) {
		free(e);
		return NULL;
	}
	return e;
}

/* config_offers - the facts derived from a configuration that the session
 * asks about: is STARTTLS offered (a certificate, and not smtps), is
 * AUTH (users, or any user)?  Computed once per server (config_texts). */
void
config_offers(const struct smtpd_config *cfg, bool *starttls, bool *auth)
{
	*starttls = (cfg->tls_cert || cfg->tls_self_signed) && !cfg->smtps;
	*auth = cfg->auth_secret || cfg->auth_any;
}

/*
 * config_texts - what the server says alike to every client, made once
 * from the configuration: its name (cfg.fqdn, else the host's), the
 * greeting, the answers to HELO and EHLO (with and without STARTTLS),
 * and the facts the session asks about at every command.  Returns false
 * when out of memory.
 */
bool
config_texts(struct smtpd_server *srv)
{
	const struct smtpd_config *cfg = &srv->cfg;
	char *e, *t;

	if (cfg->fqdn && *cfg->fqdn)
		snprintf(srv->fqdn, sizeof(srv->fqdn), "%s", cfg->fqdn);
	else
		snprintf(srv->fqdn, sizeof(srv->fqdn), "%s", host_fqdn());
	config_offers(cfg, &srv->offer_starttls, &srv->offer_auth);

	snprintf(srv->greeting, sizeof(srv->greeting), "220 %s smtpd %s",
	    srv->fqdn, SMTPD_VERSION);
	snprintf(srv->helo_reply, sizeof(srv->helo_reply), "250 %s",
	    srv->fqdn);
	/* After STARTTLS (or with smtps) STARTTLS is no longer offered
	 * (RFC 3207 section 4.2). */
	/* AUTH is listed before TLS only with auth_plaintext: a client that
	 * sees it may send its password with the command itself, in the
	 * clear, before a 538 could tell it not to (as Postfix's
	 * smtpd_tls_auth_only).  Sent anyway, AUTH still gets that 538. */
	e = ehlo_make(srv, srv->offer_starttls,
	    srv->offer_auth && cfg->auth_plaintext);
	t = ehlo_make(srv, false, srv->offer_auth);
	if (e == NULL || t == NULL) {
		free(e);
		free(t);
		return false;
	}
	free(srv->ehlo_reply);
	free(srv->ehlo_reply_tls);
	srv->ehlo_reply = e;
	srv->ehlo_reply_tls = t;
	return true;
}
