/* SPDX-License-Identifier: ISC */
/*
 * web/http.c - the HTTP listener of --http: libmicrohttpd with one thread
 * per HTTP connection (as the SMTP side has one per client), so that a
 * request that waits for mail (wait=) or an event stream simply blocks
 * its own thread on the store's condition variable.
 *
 * Every request passes the same gate, in this order: the size of its
 * body (1 MiB; URL and headers are bounded by the connection's memory
 * limit, idle connections time out, and there are at most
 * http_max_connections of them), the login (HTTP Basic, compared in
 * constant time, on every path), then the route tables of the two APIs
 * (api_mailpit.c, api_mailhog.c) and the page's files (web/assets.h).
 * Every answer carries X-Content-Type-Options: nosniff; CORS headers only
 * with --http-cors.  No PostProcessor (CVE-2023-27371): JSON bodies are
 * read whole, then by jansson.
 */
#include "web_internal.h"
#include "assets.h"
#include "../server_internal.h"

#include <microhttpd.h>

#include <dlfcn.h>
#include <errno.h>
#include <glib.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

/*
 * libmicrohttpd is loaded when the first --http server starts, not linked:
 * it brings GnuTLS and p11-kit, whose thread-local variables (half a KiB)
 * would otherwise sit at the top of every thread's stack, SMTP workers
 * included, and take an idle session past its one stack page
 * (test_hostile.py's MemoryTest).  Loaded with dlopen, their TLS is
 * dynamic: allocated only in the threads that use it, ours.  The table is
 * filled once (pthread_once) and only read afterwards.
 */
static struct {
	struct MHD_Daemon *(*start_daemon)(unsigned, uint16_t,
	    MHD_AcceptPolicyCallback, void *, MHD_AccessHandlerCallback,
	    void *, ...);
	void	(*stop_daemon)(struct MHD_Daemon *);
	const char *(*lookup_connection_value)(struct MHD_Connection *,
	    enum MHD_ValueKind, const char *);
	struct MHD_Response *(*create_response_from_buffer)(size_t, void *,
	    enum MHD_ResponseMemoryMode);
	struct MHD_Response *(*create_response_from_callback)(uint64_t, size_t,
	    MHD_ContentReaderCallback, void *, MHD_ContentReaderFreeCallback);
	MHD_RESULT (*add_response_header)(struct MHD_Response *, const char *,
	    const char *);
	MHD_RESULT (*queue_response)(struct MHD_Connection *, unsigned int,
	    struct MHD_Response *);
	void	(*destroy_response)(struct MHD_Response *);
	char	 error[256];		/* why loading failed, or "" */
} mhd;
static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;

/* mhd_load - dlopen libmicrohttpd and find its functions (once). */
static void
mhd_load(void)
{
	static const char *const names[] = { "libmicrohttpd.so.12",
	    "libmicrohttpd.so", "libmicrohttpd.dylib" };
	void *h = NULL;

	for (size_t i = 0; h == NULL && i < sizeof(names) / sizeof(names[0]);
	    i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		snprintf(mhd.error, sizeof(mhd.error), "cannot load "
		    "libmicrohttpd: %s", dlerror());
		return;
	}
#define MHD_FN(field, name) \
	(*(void **)&mhd.field = dlsym(h, name)) == NULL
	if (MHD_FN(start_daemon, "MHD_start_daemon") ||
	    MHD_FN(stop_daemon, "MHD_stop_daemon") ||
	    MHD_FN(lookup_connection_value, "MHD_lookup_connection_value") ||
	    MHD_FN(create_response_from_buffer,
		"MHD_create_response_from_buffer") ||
	    MHD_FN(create_response_from_callback,
		"MHD_create_response_from_callback") ||
	    MHD_FN(add_response_header, "MHD_add_response_header") ||
	    MHD_FN(queue_response, "MHD_queue_response") ||
	    MHD_FN(destroy_response, "MHD_destroy_response"))
		snprintf(mhd.error, sizeof(mhd.error), "libmicrohttpd lacks "
		    "a function: %s", dlerror());
#undef MHD_FN
	/* Never dlclose'd: the process may start another server. */
}

#define MHD_start_daemon		(mhd.start_daemon)
#define MHD_stop_daemon			(mhd.stop_daemon)
#define MHD_lookup_connection_value	(mhd.lookup_connection_value)
#define MHD_create_response_from_buffer	(mhd.create_response_from_buffer)
#define MHD_create_response_from_callback (mhd.create_response_from_callback)
#define MHD_add_response_header		(mhd.add_response_header)
#define MHD_queue_response		(mhd.queue_response)
#define MHD_destroy_response		(mhd.destroy_response)

/* What one request has gathered between libmicrohttpd's calls. */
struct http_call {
	char	*body;
	size_t	 len;
	bool	 answered;	/* a response was queued at the first call */
};

/* web_available - this build has the web interface. */
bool
web_available(void)
{
	return true;
}

/* web_query - a query argument, or NULL. */
const char *
web_query(const struct web_req *q, const char *name)
{
	return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND,
	    name);
}

/* web_query_long - a numeric query argument within [min, max], dflt when
 * absent or not a number (as Mailpit treats start= and limit=). */
long
web_query_long(const struct web_req *q, const char *name, long dflt,
    long min, long max)
{
	const char *v = web_query(q, name);
	char *end;
	long n;

	if (v == NULL || *v == '\0')
		return dflt;
	errno = 0;
	n = strtol(v, &end, 10);
	if (*end != '\0' || errno)
		return dflt;
	return n < min ? min : n > max ? max : n;
}

/* route_match - does path fit pattern ('*' = one non-empty segment)?
 * The segments go into args, pointing into buf (a copy of path). */
static bool
route_match(const char *pattern, const char *path, char *buf, size_t bufsz,
    const char *args[2])
{
	size_t na = 0;
	char *b = buf;

	if (strlen(path) >= bufsz)
		return false;
	strcpy(buf, path);
	args[0] = args[1] = NULL;
	while (*pattern) {
		if (*pattern == '*') {
			size_t n = strcspn(b, "/");

			if (n == 0 || na == 2)
				return false;
			args[na++] = b;
			b += n;
			pattern++;
			if (*b == '/' && *pattern == '/') {
				*b++ = '\0';
				pattern++;
			} else if (*b != '\0' || *pattern != '\0') {
				return false;
			}
			continue;
		}
		if (*pattern++ != *b++)
			return false;
	}
	return *b == '\0';
}

/* route_find - the handler for method and path; *known set when the path
 * exists for some other method (405). */
static web_handler *
route_find(struct web_req *q, char *buf, size_t bufsz, bool *known)
{
	static const struct {
		const struct web_route	*routes;
		const size_t		*count;
	} tables[] = {
		{ web_mailpit_routes, &web_mailpit_route_count },
		{ web_mailhog_routes, &web_mailhog_route_count },
	};
	const char *method = strcmp(q->method, "HEAD") == 0 ? "GET" :
	    q->method;

	*known = false;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (size_t i = 0; i < *tables[t].count; i++) {
			const struct web_route *r = &tables[t].routes[i];

			if (!route_match(r->pattern, q->path, buf, bufsz,
			    q->args))
				continue;
			if (strcmp(r->method, method) == 0)
				return r->fn;
			*known = true;
		}
	return NULL;
}

/* auth_ok - the request's Authorization equals the expected one, compared
 * in time that does not depend on where they differ. */
static bool
auth_ok(const struct web_server *w, struct MHD_Connection *c)
{
	const char *got;
	size_t n, m;
	unsigned char diff = 0;

	if (w->auth_header == NULL)
		return true;
	got = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (got == NULL)
		return false;
	n = strlen(got);
	m = strlen(w->auth_header);
	for (size_t i = 0; i < m; i++)
		diff |= (unsigned char)(w->auth_header[i] ^ (i < n ? got[i] : 0));
	return diff == 0 && n == m;
}

/* add_common - what every answer carries. */
static void
add_common(const struct web_server *w, struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	if (w->srv->cfg.http_cors) {
		MHD_add_response_header(resp, "Access-Control-Allow-Origin",
		    w->srv->cfg.http_cors);
		MHD_add_response_header(resp, "Vary", "Origin");
	}
}

/* sse_reader - the body of an event stream, read as events come; ends
 * when the server stops. */
static ssize_t
sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct web_server *w = ((void **)cls)[0];
	uint64_t *after = ((void **)cls)[1];
	size_t n;

	if (atomic_load(&w->stopping))
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* A first comment at once: the headers go out with it, and the
	 * reader's EventSource is open before any event. */
	if (pos == 0)
		return (ssize_t)snprintf(buf, max, ": smtpd events\nretry: 2000\n\n");
	n = web_sse_read(w, after, buf, max);
	if (n == (size_t)-1)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return (ssize_t)n;
}

/* sse_done - the stream's reader left. */
static void
sse_done(void *cls)
{
	struct web_server *w = ((void **)cls)[0];

	atomic_fetch_sub(&w->nsse, 1);
	free(((void **)cls)[1]);
	free(cls);
}

/* respond - queue r as libmicrohttpd's response; frees r's strings. */
static MHD_RESULT
respond(struct web_server *w, struct MHD_Connection *c, struct web_req *q,
    struct web_resp *r)
{
	struct MHD_Response *resp;
	MHD_RESULT ret;

	if (r->events) {
		void **cls = calloc(2, sizeof(void *));
		uint64_t *after = malloc(sizeof(*after));

		if (cls == NULL || after == NULL) {
			free(cls);
			free(after);
			atomic_fetch_sub(&w->nsse, 1);
			return MHD_NO;
		}
		*after = web_sse_start(w);
		cls[0] = w;
		cls[1] = after;
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
		    4096, sse_reader, cls, sse_done);
		if (resp == NULL) {
			sse_done(cls);
			return MHD_NO;
		}
		MHD_add_response_header(resp, "Content-Type",
		    "text/event-stream");
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	} else {
		if (r->body == NULL)
			resp = MHD_create_response_from_buffer(0, (void *)"",
			    MHD_RESPMEM_PERSISTENT);
		else
			resp = MHD_create_response_from_buffer(r->len, r->body,
			    MHD_RESPMEM_MUST_FREE);
		if (resp == NULL) {
			free(r->body);
			free(r->disposition);
			free(r->type_owned);
			return MHD_NO;
		}
		r->body = NULL;
		if (r->content_type)
			MHD_add_response_header(resp, "Content-Type",
			    r->content_type);
		if (r->disposition)
			MHD_add_response_header(resp, "Content-Disposition",
			    r->disposition);
		MHD_add_response_header(resp, "Cache-Control", "no-cache");
	}
	free(r->disposition);
	r->disposition = NULL;
	free(r->type_owned);
	r->type_owned = NULL;
	if (r->csp)
		MHD_add_response_header(resp, "Content-Security-Policy", r->csp);
	if (r->status == 401)
		MHD_add_response_header(resp, "WWW-Authenticate",
		    "Basic realm=\"smtpd\", charset=\"UTF-8\"");
	if (r->status == 405 && q)
		MHD_add_response_header(resp, "Allow", "GET, PUT, POST, DELETE");
	add_common(w, resp);
	ret = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* preflight - the answer to a CORS OPTIONS request (with --http-cors). */
static void
preflight(struct web_server *w, struct MHD_Connection *c)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0,
	    (void *)"", MHD_RESPMEM_PERSISTENT);

	if (resp == NULL)
		return;
	MHD_add_response_header(resp, "Access-Control-Allow-Methods",
	    "GET, PUT, POST, DELETE, OPTIONS");
	MHD_add_response_header(resp, "Access-Control-Allow-Headers",
	    "Authorization, Content-Type");
	MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
	add_common(w, resp);
	MHD_queue_response(c, 204, resp);
	MHD_destroy_response(resp);
}

/* The page's own policy: its scripts and styles only from here, no
 * framing of it, message HTML only in /view/'s sandboxed frames. */
#define CSP_PAGE	"default-src 'self'; script-src 'self'; " \
			"style-src 'self'; img-src 'self' data:; " \
			"frame-src 'self'; object-src 'none'; base-uri 'none'; " \
			"form-action 'self'; frame-ancestors 'none'"

/* asset_find - the page's file at path ("/", "/ui/app.js"), or NULL. */
static const struct web_asset *
asset_find(const char *path)
{
	for (size_t i = 0; i < web_asset_count; i++)
		if (strcmp(web_assets[i].path, path) == 0)
			return &web_assets[i];
	return NULL;
}

/* http_dispatch - the request, complete: route it and answer. */
static MHD_RESULT
http_dispatch(struct web_server *w, struct MHD_Connection *c,
    const char *url, const char *method, struct http_call *call)
{
	struct web_req q = { .web = w, .conn = c, .method = method,
	    .path = url, .body = call->body, .body_len = call->len };
	struct web_resp r = { 0 };
	char buf[1024];
	bool known;
	web_handler *fn;

	if (strcmp(method, "OPTIONS") == 0 && w->srv->cfg.http_cors) {
		preflight(w, c);
		return MHD_YES;
	}
	fn = route_find(&q, buf, sizeof(buf), &known);
	if (fn == NULL && (strcmp(method, "GET") == 0 ||
	    strcmp(method, "HEAD") == 0) && asset_find(url)) {
		const struct web_asset *a = asset_find(url);

		web_text(&r, 200, a->content_type, (const char *)a->data,
		    a->len);
		r.csp = CSP_PAGE;
		return respond(w, c, &q, &r);
	}
	if (fn)
		fn(&q, &r);
	else if (known)
		web_error(&r, 405, "method %s not allowed here", method);
	else
		web_error(&r, 404, "not found");
	if (r.status == 0)
		web_error(&r, 500, "no answer");
	return respond(w, c, &q, &r);
}

/* http_access - libmicrohttpd's callback: first the headers (checked
 * before any body is read), then the body in pieces, then the end. */
static MHD_RESULT
http_access(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct web_server *w = cls;
	struct http_call *call = *con_cls;
	struct web_resp r = { 0 };

	(void)version;
	if (call == NULL) {
		const char *cl = MHD_lookup_connection_value(c,
		    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

		if ((call = calloc(1, sizeof(*call))) == NULL)
			return MHD_NO;
		*con_cls = call;
		if (strcmp(method, "OPTIONS") != 0 && !auth_ok(w, c)) {
			call->answered = true;
			web_error(&r, 401, "login required");
			return respond(w, c, NULL, &r);
		}
		if (cl && strtoull(cl, NULL, 10) > WEB_BODY_MAX) {
			call->answered = true;
			web_error(&r, 413, "request body over %d bytes",
			    WEB_BODY_MAX);
			return respond(w, c, NULL, &r);
		}
		return MHD_YES;
	}
	if (call->answered) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		char *b;

		/* A chunked body past the limit: drop the connection. */
		if (call->len + *upload_size > WEB_BODY_MAX)
			return MHD_NO;
		if ((b = realloc(call->body, call->len + *upload_size + 1)) ==
		    NULL)
			return MHD_NO;
		memcpy(b + call->len, upload, *upload_size);
		call->body = b;
		call->len += *upload_size;
		call->body[call->len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	return http_dispatch(w, c, url, method, call);
}

/* http_completed - free what the request gathered. */
static void
http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_call *call = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (call) {
		free(call->body);
		free(call);
		*con_cls = NULL;
	}
}

/* http_listen - a listening socket on host:port; its fd, or -1 + err. */
static int
http_listen(const char *host, int port, int *bound, char *err, size_t errsz)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char portstr[16];
	int fd = -1, one = 1, e, saved = 0;

	snprintf(portstr, sizeof(portstr), "%d", port);
	if ((e = getaddrinfo(host, portstr, &hints, &res)) != 0) {
		snprintf(err, errsz, "--http %s: %s", host, gai_strerror(e));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 128) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errsz, "--http %s:%d: %s", host, port,
		    strerror(saved));
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		*bound = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* web_free - release what web_start made (not the store). */
static void
web_free(struct web_server *w)
{
	if (w == NULL)
		return;
	g_free(w->auth_header);
	free(w->fault_text);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

/* fault_text_initial - the rules given at start, one a line. */
static char *
fault_text_initial(const struct smtpd_config *cfg)
{
	GString *s = g_string_new("");
	FILE *f;
	char line[1024];
	char *out;

	for (size_t i = 0; i < cfg->fault_count; i++)
		g_string_append_printf(s, "%s\n", cfg->faults[i]);
	if (cfg->fault_file && (f = fopen(cfg->fault_file, "r")) != NULL) {
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\r\n")] = '\0';
			if (line[0] && line[0] != '#')
				g_string_append_printf(s, "%s\n", line);
		}
		fclose(f);
	}
	out = strdup(s->str);
	g_string_free(s, TRUE);
	return out;
}

int
web_start(struct smtpd_server *srv, char *err, size_t errsz)
{
	const struct smtpd_config *cfg = &srv->cfg;
	struct web_server *w;
	int fd, flags;

	if (!cfg->http || srv->web)
		return 0;
	pthread_once(&mhd_once, mhd_load);
	if (mhd.error[0]) {
		snprintf(err, errsz, "--http: %s", mhd.error);
		return -1;
	}
	mime_init();
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	pthread_mutex_init(&w->lock, NULL);
	w->srv = srv;
	w->started = time(NULL);
	w->chaos_code[0] = w->chaos_code[1] = 451;
	w->chaos_code[2] = 535;
	w->fault_text = fault_text_initial(cfg);
	if (cfg->http_auth) {
		gchar *b64 = g_base64_encode((const guchar *)cfg->http_auth,
		    strlen(cfg->http_auth));

		w->auth_header = g_strconcat("Basic ", b64, NULL);
		g_free(b64);
	}
	/* The store (cfg.store, or our own with the limits) and the session
	 * log: the server's from now on, freed with it. */
	if (srv->sessions == NULL) {
		struct smtpd_inbox *store = srv->store;
		struct session_log *log;
		bool own = store == NULL;

		if (own && (store = smtpd_inbox_new()) == NULL)
			goto oom;
		if (own)
			smtpd_inbox_set_limits(store, cfg->max_messages,
			    cfg->max_store_size);
		if ((log = session_log_new(1000, 64 * 1024)) == NULL) {
			if (own)
				smtpd_inbox_free(store);
			goto oom;
		}
		server_set_store(srv, store, own, log);
	}
	w->store = srv->store;
	w->sessions = srv->sessions;
	if ((fd = http_listen(cfg->http_host ? cfg->http_host : "127.0.0.1",
	    cfg->http_port, &srv->http_port, err, errsz)) < 0) {
		web_free(w);
		return -1;
	}
	/* poll, not select: an SMTP load may push our fds past FD_SETSIZE. */
	flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_POLL;
	w->daemon = MHD_start_daemon((unsigned)flags, 0, NULL, NULL,
	    http_access, w,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed, w,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)WEB_IDLE_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WEB_HEADERS_MAX,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)(cfg->http_max_connections > 0 ?
		cfg->http_max_connections : 100000),
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, 0u,
	    MHD_OPTION_END);
	if (w->daemon == NULL) {
		close(fd);
		snprintf(err, errsz, "--http: cannot start the HTTP server");
		web_free(w);
		return -1;
	}
	srv->web = w;
	return 0;
oom:
	snprintf(err, errsz, "out of memory");
	web_free(w);
	return -1;
}

void
web_stop(struct smtpd_server *srv)
{
	struct web_server *w = srv->web;

	if (w == NULL)
		return;
	/* Waits and event readers see the flag or the closed store and
	 * answer; then the daemon joins every connection's thread. */
	atomic_store(&w->stopping, true);
	inbox_close(w->store);
	MHD_stop_daemon(w->daemon);
	srv->web = NULL;
	web_free(w);
}
