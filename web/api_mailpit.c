/* SPDX-License-Identifier: ISC */
/*
 * web/api_mailpit.c - Mailpit's API v1 over the store, its JSON shapes
 * field for field (as in Mailpit's server/apiv1 and internal/storage),
 * and what is ours on the same prefix: the wait (wait= on
 * /api/v1/message/latest and /api/v1/search), /api/v1/events
 * (Server-Sent Events), /api/v1/sessions and /api/v1/faults.
 *
 * Where we choose to differ from Mailpit: DELETE /api/v1/messages with a
 * body that is not JSON is a 400 that deletes nothing (Mailpit deletes
 * everything), and it, PUT /api/v1/messages and DELETE /api/v1/search
 * answer 200 with an empty body, not Mailpit's "ok" (MailHog's client
 * shares the first path and parses any body as JSON, as the page does).
 */
#include "web_internal.h"
#include "search.h"
#include "../relay.h"
#include "../server_internal.h"

#include <ctype.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CSP_VIEW	"sandbox; default-src 'none'; img-src data:; " \
			"style-src 'unsafe-inline'; frame-ancestors 'self'"
#define CSP_VIEW_REMOTE	"sandbox; default-src 'none'; " \
			"img-src data: http: https:; " \
			"style-src 'unsafe-inline'; frame-ancestors 'self'"

/*
 * What the store keeps for an entry on our behalf (its parse cache): the
 * parsed message, and the JSON that never changes, made once - the list's
 * summary around its Read flag, and the full message.  Serving a list of
 * 50 is then 50 string copies, not 50 JSON builds.
 */
struct web_cached {
	struct mime_message	*m;
	char			*head;		/* summary up to "Read": */
	char			*tail;		/* and after its value */
	size_t			 head_len, tail_len;
	char *_Atomic		 full;		/* the message's JSON, on demand */
};

static json_t *summary_json(struct web_server *, struct inbox_entry *,
    const struct mime_message *, bool read);

/* cached_free - the parse cache's free function. */
static void
cached_free(void *p)
{
	struct web_cached *c = p;

	mime_message_free(c->m);
	free(c->head);
	free(c->tail);
	free(atomic_load(&c->full));
	free(c);
}

/* cached_new - parse e and make its summary's two halves. */
static struct web_cached *
cached_new(struct web_server *w, struct inbox_entry *e)
{
	static const char mark[] = ",\"Read\":false,\"From\":";
	struct web_cached *c = calloc(1, sizeof(*c));
	json_t *v;
	char *s, *at;

	if (c == NULL || (c->m = mime_parse(e->msg->data,
	    e->msg->data_len)) == NULL) {
		free(c);
		return NULL;
	}
	v = summary_json(w, e, c->m, false);
	s = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	/* The first ,"Read":false,"From": is the key's: in a string value
	 * its quotes would be escaped. */
	if (s == NULL || (at = strstr(s, mark)) == NULL) {
		free(s);
		mime_message_free(c->m);
		free(c);
		return NULL;
	}
	c->head_len = (size_t)(at - s) + strlen(",\"Read\":");
	c->head = strndup(s, c->head_len);
	c->tail = strdup(at + strlen(",\"Read\":false"));
	c->tail_len = c->tail ? strlen(c->tail) : 0;
	free(s);
	if (c->head == NULL || c->tail == NULL) {
		cached_free(c);
		return NULL;
	}
	return c;
}

/* web_cache - the entry's cache, made once (NULL when out of memory). */
static struct web_cached *
web_cache(struct web_server *w, struct inbox_entry *e)
{
	struct web_cached *c = inbox_entry_parsed(w->store, e);

	if (c)
		return c;
	if ((c = cached_new(w, e)) == NULL)
		return NULL;
	return inbox_entry_set_parsed(w->store, e, c, cached_free);
}

/* web_parsed - the entry's message, parsed once and cached in the store
 * (NULL only when out of memory). */
const struct mime_message *
web_parsed(struct web_server *w, struct inbox_entry *e)
{
	struct web_cached *c = web_cache(w, e);

	return c ? c->m : NULL;
}

/* in_list - is address one of a's (case-insensitive)? */
static bool
in_list(const struct mime_address *a, size_t n, const char *address)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(a[i].address, address) == 0)
			return true;
	return false;
}

/* envelope_bcc - Bcc as the issue defines it: the envelope recipients
 * that are in no To or Cc header (and the Bcc header's, if one came). */
static json_t *
envelope_bcc(const struct inbox_entry *e, const struct mime_message *m)
{
	json_t *arr = web_addresses(m->bcc, m->nbcc);

	for (size_t i = 0; arr && i < e->msg->rcpt_count; i++) {
		const char *r = e->msg->rcpttos[i];

		if (in_list(m->to, m->nto, r) || in_list(m->cc, m->ncc, r) ||
		    in_list(m->bcc, m->nbcc, r))
			continue;
		json_array_append_new(arr, json_pack("{s:s,s:o}", "Name", "",
		    "Address", web_str(r)));
	}
	return arr;
}

/* summary_json - Mailpit's MessageSummary of an entry. */
static json_t *
summary_json(struct web_server *w, struct inbox_entry *e,
    const struct mime_message *m, bool read)
{
	char *snippet = mime_snippet(m, WEB_SNIPPET);
	json_t *v;

	(void)w;
	v = json_pack("{s:s,s:o,s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:[],"
	    "s:I,s:I,s:o}",
	    "ID", e->id,
	    "MessageID", web_str(m->message_id),
	    "Read", read,
	    "From", web_address(m->from),
	    "To", web_addresses(m->to, m->nto),
	    "Cc", web_addresses(m->cc, m->ncc),
	    "Bcc", envelope_bcc(e, m),
	    "ReplyTo", web_addresses(m->reply_to, m->nreply_to),
	    "Subject", web_str(m->subject),
	    "Created", web_time(&e->created),
	    "Username", web_str(e->msg->auth_user),
	    "Tags",
	    "Size", (json_int_t)e->size,
	    "Attachments", (json_int_t)m->nattachments,
	    "Snippet", web_str(snippet));
	free(snippet);
	return v;
}

/* web_summary - the summary as a JSON value (for the event stream). */
json_t *
web_summary(struct web_server *w, struct inbox_entry *e)
{
	const struct mime_message *m = web_parsed(w, e);

	return m ? summary_json(w, e, m, inbox_entry_read(w->store, e)) : NULL;
}

/* smtp_object - ours: the envelope and the session, for the page. */
static json_t *
smtp_object(const struct inbox_entry *e)
{
	const struct smtpd_message *msg = e->msg;
	json_t *rcpts = json_array();

	for (size_t i = 0; i < msg->rcpt_count; i++)
		json_array_append_new(rcpts, web_str(msg->rcpttos[i]));
	return json_pack("{s:o,s:o,s:o,s:o,s:i,s:o,s:o,s:o,s:I}",
	    "MailFrom", web_str(msg->mailfrom),
	    "RcptTo", rcpts,
	    "Helo", web_str(msg->helo),
	    "PeerIP", web_str(msg->peer_ip),
	    "PeerPort", msg->peer_port,
	    "TLSProtocol", web_str(msg->tls_protocol),
	    "TLSCipher", web_str(msg->tls_cipher),
	    "AuthUser", web_str(msg->auth_user),
	    "SessionID", (json_int_t)e->session_id);
}

/* part_json - Mailpit's Attachment, with its checksums. */
static json_t *
part_json(const struct inbox_entry *e, const struct mime_part_info *p)
{
	char *bytes = NULL, *ct = NULL, *fn = NULL;
	size_t n = 0;
	gchar *md5 = NULL, *sha1 = NULL, *sha256 = NULL;
	json_t *v;

	if (mime_part_get(e->msg->data, e->msg->data_len, p->part_id, &bytes,
	    &n, &ct, &fn) == 0) {
		md5 = g_compute_checksum_for_data(G_CHECKSUM_MD5,
		    (const guchar *)bytes, n);
		sha1 = g_compute_checksum_for_data(G_CHECKSUM_SHA1,
		    (const guchar *)bytes, n);
		sha256 = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
		    (const guchar *)bytes, n);
	}
	v = json_pack("{s:o,s:o,s:o,s:o,s:I,s:{s:s,s:s,s:s}}",
	    "PartID", web_str(p->part_id),
	    "FileName", web_str(p->filename),
	    "ContentType", web_str(p->content_type),
	    "ContentID", web_str(p->content_id),
	    "Size", (json_int_t)p->size,
	    "Checksums", "MD5", md5 ? md5 : "", "SHA1", sha1 ? sha1 : "",
	    "SHA256", sha256 ? sha256 : "");
	g_free(md5);
	g_free(sha1);
	g_free(sha256);
	free(bytes);
	free(ct);
	free(fn);
	return v;
}

/* unsubscribe_json - Mailpit's ListUnsubscribe: the header and its
 * links, at most one mailto: and one http(s):. */
static json_t *
unsubscribe_json(const char *h)
{
	json_t *links = json_array();
	bool mail = false, web = false;
	const char *p = h;

	while (p && (p = strchr(p, '<')) != NULL) {
		const char *end = strchr(p, '>');

		if (end == NULL)
			break;
		p++;
		if (!mail && strncasecmp(p, "mailto:", 7) == 0) {
			mail = true;
			json_array_append_new(links, web_strn(p,
			    (size_t)(end - p)));
		} else if (!web && (strncasecmp(p, "https:", 6) == 0 ||
		    strncasecmp(p, "http:", 5) == 0)) {
			web = true;
			json_array_append_new(links, web_strn(p,
			    (size_t)(end - p)));
		}
		p = end + 1;
	}
	return json_pack("{s:o,s:o,s:s,s:s}", "Header", web_str(h),
	    "Links", links, "Errors", "", "HeaderPost", "");
}

/* message_json - Mailpit's Message (the full one), plus our SMTP. */
static json_t *
message_json(struct web_server *w, struct inbox_entry *e)
{
	const struct mime_message *m = web_parsed(w, e);
	json_t *inl, *att;

	if (m == NULL)
		return NULL;
	inl = json_array();
	att = json_array();
	for (size_t i = 0; i < m->ninlines; i++)
		json_array_append_new(inl, part_json(e, &m->inlines[i]));
	for (size_t i = 0; i < m->nattachments; i++)
		json_array_append_new(att, part_json(e, &m->attachments[i]));
	return json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:[],"
	    "s:o,s:o,s:o,s:I,s:o,s:o,s:o}",
	    "ID", e->id,
	    "MessageID", web_str(m->message_id),
	    "From", web_address(m->from),
	    "To", web_addresses(m->to, m->nto),
	    "Cc", web_addresses(m->cc, m->ncc),
	    "Bcc", envelope_bcc(e, m),
	    "ReplyTo", web_addresses(m->reply_to, m->nreply_to),
	    "ReturnPath", web_str(m->return_path),
	    "Subject", web_str(m->subject),
	    "ListUnsubscribe", unsubscribe_json(m->list_unsubscribe),
	    "Date", m->date_time ? web_time_t(m->date_time) :
		web_time(&e->created),
	    "Tags",
	    "Username", web_str(e->msg->auth_user),
	    "Text", web_str(m->text),
	    "HTML", web_str(m->html),
	    "Size", (json_int_t)e->size,
	    "Inline", inl,
	    "Attachments", att,
	    "SMTP", smtp_object(e));
}

/* ---- searching and waiting --------------------------------------------- */

/* matching - the snapshot's entries that s matches (all when s is NULL),
 * newest first, into out (n entries long); their count. */
static size_t
matching(struct web_server *w, const struct search *s,
    struct inbox_entry **all, size_t n, struct inbox_entry **out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const struct mime_message *m;

		if (s == NULL) {
			out[k++] = all[i];
			continue;
		}
		if ((m = web_parsed(w, all[i])) != NULL &&
		    search_match(s, all[i], m, inbox_entry_read(w->store,
		    all[i])))
			out[k++] = all[i];
	}
	return k;
}

/* now_ms - CLOCK_MONOTONIC in milliseconds. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait_until - call ready(w, ctx) now and after every change of the
 * store until it is true (true), or wait_s seconds pass or the server
 * stops (false, after one last look).  The change counter is read before
 * each look, so a message stored during it is never missed. */
static bool
wait_until(struct web_server *w, long wait_s,
    bool (*ready)(struct web_server *, void *), void *ctx)
{
	long long deadline = now_ms() + wait_s * 1000;
	uint64_t seq = inbox_change_seq(w->store);

	for (;;) {
		long long left;

		if (ready(w, ctx))
			return true;
		left = deadline - now_ms();
		if (left <= 0 || atomic_load(&w->stopping))
			return false;
		if (!inbox_wait_change(w->store, &seq,
		    left > 1000000 ? 1000000 : (int)left))
			return ready(w, ctx);
	}
}

/* What latest_ready looks for, and finds. */
struct latest {
	const struct search	*s;
	struct inbox_entry	*found;		/* ref'd */
};

/* latest_ready - the newest entry that matches, if any. */
static bool
latest_ready(struct web_server *w, void *ctx)
{
	struct latest *l = ctx;
	size_t n;
	struct inbox_entry **all = inbox_snapshot(w->store, &n, NULL);

	for (size_t i = 0; i < n && l->found == NULL; i++) {
		const struct mime_message *m;

		if (l->s == NULL || ((m = web_parsed(w, all[i])) != NULL &&
		    search_match(l->s, all[i], m, inbox_entry_read(w->store,
		    all[i])))) {
			l->found = inbox_ref(w->store, all[i]->id);
		}
	}
	inbox_snapshot_free(w->store, all, n);
	return l->found != NULL;
}

/* parse_query - the query argument, parsed; NULL after a 400 (or with
 * *none set when there is no such argument). */
static struct search *
parse_query(struct web_req *q, struct web_resp *r, const char *text,
    bool *none)
{
	char err[256];
	struct search *s;

	*none = text == NULL || *text == '\0';
	if (*none)
		return NULL;
	if ((s = search_parse(text, err, sizeof(err))) == NULL)
		web_error(r, 400, "%s", err);
	(void)q;
	return s;
}

/* entry_for - the entry {ID} names: an ID, or "latest" (narrowed by
 * query=, waiting up to wait= seconds for one); NULL after a 404/400. */
static struct inbox_entry *
entry_for(struct web_req *q, struct web_resp *r, const char *id)
{
	struct web_server *w = q->web;
	struct latest l = { 0 };
	struct inbox_entry *e;
	bool none;

	if (strcmp(id, "latest") != 0) {
		if ((e = inbox_ref(w->store, id)) == NULL)
			web_error(r, 404, "message %s not found", id);
		return e;
	}
	l.s = parse_query(q, r, web_query(q, "query"), &none);
	if (l.s == NULL && !none)
		return NULL;
	wait_until(w, web_query_long(q, "wait", 0, 0, WEB_WAIT_MAX),
	    latest_ready, &l);
	search_free((struct search *)l.s);
	if (l.found == NULL)
		web_error(r, 404, atomic_load(&w->stopping) ?
		    "server stopping" : "no matching message");
	return l.found;
}

/* list_answer - Mailpit's MessagesSummary of the matches, paged: the
 * cached summaries copied around each one's Read flag. */
static void
list_answer(struct web_req *q, struct web_resp *r, size_t total,
    struct inbox_entry **hits, size_t nhits, bool all)
{
	struct web_server *w = q->web;
	long start = web_query_long(q, "start", 0, 0, 1L << 30);
	long limit = web_query_long(q, "limit", 50, 1, 1L << 30);
	size_t unread = 0, count = 0, first = (size_t)start, end;
	size_t total_unread = inbox_unread(w->store);
	GString *out;

	if (all)
		unread = total_unread;
	else
		for (size_t i = 0; i < nhits; i++)
			if (!inbox_entry_read(w->store, hits[i]))
				unread++;
	end = first < nhits ? first + (size_t)limit : first;
	if (end > nhits)
		end = nhits;
	count = end > first ? end - first : 0;
	out = g_string_sized_new(256 + count * 700);
	g_string_append_printf(out, "{\"total\":%zu,\"unread\":%zu,"
	    "\"count\":%zu,\"messages_count\":%zu,\"messages_unread\":%zu,"
	    "\"start\":%ld,\"tags\":[],\"messages\":[", total, total_unread,
	    count, nhits, unread, start);
	for (size_t i = first; i < end; i++) {
		struct web_cached *c = web_cache(w, hits[i]);

		if (c == NULL) {
			g_string_free(out, TRUE);
			web_error(r, 500, "out of memory");
			return;
		}
		if (i > first)
			g_string_append_c(out, ',');
		g_string_append_len(out, c->head, (gssize)c->head_len);
		g_string_append(out, inbox_entry_read(w->store, hits[i]) ?
		    "true" : "false");
		g_string_append_len(out, c->tail, (gssize)c->tail_len);
	}
	g_string_append(out, "]}");
	free(r->body);
	r->status = 200;
	r->content_type = "application/json";
	r->len = out->len;
	r->body = malloc(out->len + 1);
	if (r->body)
		memcpy(r->body, out->str, out->len + 1);
	else
		web_error(r, 500, "out of memory");
	g_string_free(out, TRUE);
}

/* ---- /api/v1/messages, /api/v1/search ------------------------------------ */

/* GET /api/v1/messages */
static void
mp_messages(struct web_req *q, struct web_resp *r)
{
	size_t n;
	struct inbox_entry **all = inbox_snapshot(q->web->store, &n, NULL);

	list_answer(q, r, n, all, n, true);
	inbox_snapshot_free(q->web->store, all, n);
}

/* web_ids_from_json - the strings of arr (NULL: none) as a malloc'd
 * array; -1 when arr is not an array of strings. */
int
web_ids_from_json(json_t *arr, const char ***ids, size_t *n)
{
	size_t i;
	json_t *v;

	*ids = NULL;
	*n = 0;
	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return -1;
	if ((*ids = calloc(json_array_size(arr) + 1, sizeof(char *))) == NULL)
		return -1;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v)) {
			free(*ids);
			*ids = NULL;
			return -1;
		}
		(*ids)[(*n)++] = json_string_value(v);
	}
	return 0;
}

/* DELETE /api/v1/messages - {"IDs": [...]}, or none = all. */
static void
mp_messages_delete(struct web_req *q, struct web_resp *r)
{
	json_t *body = web_parse_body(q, r);
	const char **ids;
	size_t n;

	if (body == NULL && r->status)
		return;
	if (body && !json_is_object(body)) {
		json_decref(body);
		web_error(r, 400, "expected {\"IDs\": [...]}");
		return;
	}
	if (web_ids_from_json(body ? json_object_get(body, "IDs") : NULL,
	    &ids, &n) != 0) {
		json_decref(body);
		web_error(r, 400, "IDs must be an array of strings");
		return;
	}
	inbox_delete(q->web->store, n ? ids : NULL, n);
	free(ids);
	json_decref(body);
	web_text(r, 200, "text/plain; charset=utf-8", "", 0);
}

/* set_read_search - mark what s matches read or unread. */
static void
set_read_search(struct web_server *w, const struct search *s, bool read)
{
	size_t n, k;
	struct inbox_entry **all = inbox_snapshot(w->store, &n, NULL);
	struct inbox_entry **hits = calloc(n + 1, sizeof(*hits));
	const char **ids = calloc(n + 1, sizeof(*ids));

	if (hits && ids) {
		k = matching(w, s, all, n, hits);
		for (size_t i = 0; i < k; i++)
			ids[i] = hits[i]->id;
		if (k)
			inbox_set_read(w->store, ids, k, read);
	}
	free(hits);
	free(ids);
	inbox_snapshot_free(w->store, all, n);
}

/* PUT /api/v1/messages - {"IDs": [...], "Read": true, "Search": "..."}. */
static void
mp_messages_put(struct web_req *q, struct web_resp *r)
{
	json_t *body = web_parse_body(q, r), *read, *search;
	const char **ids;
	size_t n;

	if (body == NULL) {
		if (r->status == 0)
			web_error(r, 400, "expected {\"IDs\": [...], "
			    "\"Read\": true}");
		return;
	}
	read = json_object_get(body, "Read");
	search = json_object_get(body, "Search");
	if (!json_is_object(body) || (read && !json_is_boolean(read)) ||
	    (search && !json_is_string(search)) ||
	    web_ids_from_json(json_object_get(body, "IDs"), &ids, &n) != 0) {
		json_decref(body);
		web_error(r, 400, "expected {\"IDs\": [...], \"Read\": true}");
		return;
	}
	if (n && search && *json_string_value(search)) {
		web_error(r, 400, "You may specify either IDs or a search "
		    "query, not both");
	} else if (search && *json_string_value(search)) {
		char err[256];
		struct search *s = search_parse(json_string_value(search), err,
		    sizeof(err));

		if (s == NULL) {
			web_error(r, 400, "%s", err);
		} else {
			set_read_search(q->web, s, json_is_true(read));
			search_free(s);
		}
	} else {
		inbox_set_read(q->web->store, n ? ids : NULL, n,
		    json_is_true(read));
	}
	free(ids);
	json_decref(body);
	if (r->status == 0)
		web_text(r, 200, "text/plain; charset=utf-8", "", 0);
}

/* What count_ready counts. */
struct count {
	const struct search	*s;
	size_t			 want;
};

/* count_ready - do at least want messages match? */
static bool
count_ready(struct web_server *w, void *ctx)
{
	struct count *c = ctx;
	size_t n, k = 0;
	struct inbox_entry **all = inbox_snapshot(w->store, &n, NULL);

	for (size_t i = 0; i < n && k < c->want; i++) {
		const struct mime_message *m = web_parsed(w, all[i]);

		if (m && search_match(c->s, all[i], m,
		    inbox_entry_read(w->store, all[i])))
			k++;
	}
	inbox_snapshot_free(w->store, all, n);
	return k >= c->want;
}

/* GET /api/v1/search?query=&start=&limit= (and ours: &wait=S&count=N). */
static void
mp_search(struct web_req *q, struct web_resp *r)
{
	struct web_server *w = q->web;
	struct count c;
	bool none;
	size_t n, k;
	struct inbox_entry **all, **hits;

	c.s = parse_query(q, r, web_query(q, "query"), &none);
	if (c.s == NULL) {
		if (none)
			web_error(r, 400, "Error: no search query");
		return;
	}
	c.want = (size_t)web_query_long(q, "count", 1, 1, 1000000);
	if (web_query(q, "wait"))
		wait_until(w, web_query_long(q, "wait", 0, 0, WEB_WAIT_MAX),
		    count_ready, &c);
	all = inbox_snapshot(w->store, &n, NULL);
	if ((hits = calloc(n + 1, sizeof(*hits))) == NULL) {
		web_error(r, 500, "out of memory");
	} else {
		k = matching(w, c.s, all, n, hits);
		list_answer(q, r, n, hits, k, false);
	}
	free(hits);
	inbox_snapshot_free(w->store, all, n);
	search_free((struct search *)c.s);
}

/* DELETE /api/v1/search?query= */
static void
mp_search_delete(struct web_req *q, struct web_resp *r)
{
	struct web_server *w = q->web;
	bool none;
	struct search *s = parse_query(q, r, web_query(q, "query"), &none);
	size_t n, k;
	struct inbox_entry **all, **hits;
	const char **ids;

	if (s == NULL) {
		if (none)
			web_error(r, 400, "Error: no search query");
		return;
	}
	all = inbox_snapshot(w->store, &n, NULL);
	hits = calloc(n + 1, sizeof(*hits));
	ids = calloc(n + 1, sizeof(*ids));
	if (hits && ids) {
		k = matching(w, s, all, n, hits);
		for (size_t i = 0; i < k; i++)
			ids[i] = hits[i]->id;
		if (k)
			inbox_delete(w->store, ids, k);
		web_text(r, 200, "text/plain; charset=utf-8", "", 0);
	} else {
		web_error(r, 500, "out of memory");
	}
	free(hits);
	free(ids);
	inbox_snapshot_free(w->store, all, n);
	search_free(s);
}

/* ---- one message ---------------------------------------------------------- */

/* GET /api/v1/message/{ID} - the message; reading it marks it read. */
static void
mp_message(struct web_req *q, struct web_resp *r)
{
	struct inbox_entry *e = entry_for(q, r, q->args[0]);
	struct web_cached *c;
	const char *id;
	json_t *v;

	if (e == NULL)
		return;
	id = e->id;
	if (!inbox_entry_read(q->web->store, e))
		inbox_set_read(q->web->store, &id, 1, true);
	if ((c = web_cache(q->web, e)) == NULL) {
		web_error(r, 500, "out of memory");
	} else {
		char *full = atomic_load(&c->full), *none = NULL;

		/* Made once; of two first readers, one keeps its copy. */
		if (full == NULL && (v = message_json(q->web, e)) != NULL) {
			full = json_dumps(v, JSON_COMPACT);
			json_decref(v);
			if (full && !atomic_compare_exchange_strong(&c->full,
			    &none, full)) {
				free(full);
				full = none;
			}
		}
		if (full)
			web_text(r, 200, "application/json", full,
			    strlen(full));
		else
			web_error(r, 500, "out of memory");
	}
	inbox_unref(q->web->store, e);
}

/* canonical - a header name as Go's textproto writes it (Mailpit's
 * headers JSON keys): "content-type" -> "Content-Type". */
static void
canonical(const char *name, char *out, size_t outsz)
{
	bool up = true;
	size_t i;

	for (i = 0; name[i] && i + 1 < outsz; i++) {
		unsigned char c = (unsigned char)name[i];

		out[i] = (char)(up ? toupper(c) : tolower(c));
		up = c == '-';
	}
	out[i] = '\0';
}

/* GET /api/v1/message/{ID}/headers - {"Name": ["value", ...], ...}. */
static void
mp_headers(struct web_req *q, struct web_resp *r)
{
	struct inbox_entry *e = entry_for(q, r, q->args[0]);
	const struct mime_message *m;
	json_t *o;
	char name[256];

	if (e == NULL)
		return;
	if ((m = web_parsed(q->web, e)) == NULL) {
		web_error(r, 500, "out of memory");
	} else {
		o = json_object();
		for (size_t i = 0; i < m->nheaders; i++) {
			json_t *arr;

			canonical(m->headers[i].name, name, sizeof(name));
			if (!g_utf8_validate(name, -1, NULL))
				continue;
			if ((arr = json_object_get(o, name)) == NULL) {
				arr = json_array();
				json_object_set_new(o, name, arr);
			}
			json_array_append_new(arr, web_str(m->headers[i].value));
		}
		/* Sorted keys, as Go's encoder writes a map. */
		free(r->body);
		r->body = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(o);
		r->status = r->body ? 200 : 500;
		r->len = r->body ? strlen(r->body) : 0;
		r->content_type = "application/json";
	}
	inbox_unref(q->web->store, e);
}

/* GET /api/v1/message/{ID}/raw - the message as received (?dl=1: as a
 * download). */
static void
mp_raw(struct web_req *q, struct web_resp *r)
{
	struct inbox_entry *e = entry_for(q, r, q->args[0]);
	const char *dl = web_query(q, "dl");

	if (e == NULL)
		return;
	web_text(r, 200, "text/plain; charset=utf-8", e->msg->data,
	    e->msg->data_len);
	if (dl && strcmp(dl, "1") == 0)
		r->disposition = g_strdup_printf("attachment; "
		    "filename=\"%s.eml\"", e->id);
	inbox_unref(q->web->store, e);
}

/* safe_disposition - a Content-Disposition for a part's file name that
 * no byte of the name can break out of: an ASCII filename= with anything
 * doubtful replaced, and RFC 5987's filename*= with the name's UTF-8
 * (both without any directory part). */
static char *
safe_disposition(const char *kind, const char *name)
{
	const char *base = name;
	GString *s = g_string_new(kind);
	char *out;

	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	if (*base == '\0')
		base = "file";
	g_string_append(s, "; filename=\"");
	for (const unsigned char *p = (const unsigned char *)base; *p; p++)
		g_string_append_c(s, isalnum(*p) || strchr(".-_+ ()", *p) ?
		    (char)*p : '_');
	g_string_append(s, "\"; filename*=UTF-8''");
	for (const unsigned char *p = (const unsigned char *)base; *p; p++)
		if (isalnum(*p) || strchr(".-_", *p))
			g_string_append_c(s, (char)*p);
		else
			g_string_append_printf(s, "%%%02X", *p);
	out = strdup(s->str);
	g_string_free(s, TRUE);
	return out;
}

/* safe_type - a part's content type as a header value: one printable
 * ASCII line, else application/octet-stream. */
static const char *
safe_type(const char *t)
{
	if (t == NULL || *t == '\0')
		return "application/octet-stream";
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		if (*p < 0x20 || *p > 0x7E)
			return "application/octet-stream";
	return t;
}

/* GET /api/v1/message/{ID}/part/{PartID} - the decoded part.  Types a
 * browser would run (HTML, SVG, XML) come as a download of
 * application/octet-stream, as Mailpit does. */
static void
mp_part(struct web_req *q, struct web_resp *r)
{
	struct inbox_entry *e = entry_for(q, r, q->args[0]);
	char *bytes = NULL, *ct = NULL, *fn = NULL;
	size_t n;
	static const char *const active[] = { "text/html", "text/xml",
	    "application/xhtml+xml", "image/svg+xml", "application/xml",
	    "text/xsl", NULL };
	bool attach = false;
	const char *type;

	if (e == NULL)
		return;
	if (mime_part_get(e->msg->data, e->msg->data_len, q->args[1], &bytes,
	    &n, &ct, &fn) != 0) {
		web_error(r, 404, "message %s has no part %s", e->id,
		    q->args[1]);
		inbox_unref(q->web->store, e);
		return;
	}
	type = safe_type(ct);
	for (size_t i = 0; active[i]; i++)
		if (strncasecmp(type, active[i], strlen(active[i])) == 0)
			attach = true;
	free(r->body);
	r->status = 200;
	r->body = bytes;
	r->len = n;
	r->content_type = attach ? "application/octet-stream" : type;
	r->disposition = safe_disposition(attach ? "attachment" : "inline",
	    fn && *fn ? fn : q->args[1]);
	if (!attach && type == ct) {
		r->type_owned = ct;	/* freed with the response */
		ct = NULL;
	}
	r->csp = "default-src 'none'; sandbox";
	free(ct);
	free(fn);
	inbox_unref(q->web->store, e);
}

/* GET /view/{ID}.html and /view/{ID}.txt - the message's HTML (cid:
 * references made data: URLs of its own parts; ?remote=1 lets remote
 * images load), or its text, each under a CSP that runs nothing. */
static void
mp_view(struct web_req *q, struct web_resp *r)
{
	char id[64];
	const char *arg = q->args[0], *dot = strrchr(arg, '.');
	bool html;
	struct inbox_entry *e;
	const struct mime_message *m;
	const char *remote = web_query(q, "remote");

	if (dot == NULL || (size_t)(dot - arg) >= sizeof(id) ||
	    (strcmp(dot, ".html") != 0 && strcmp(dot, ".txt") != 0)) {
		web_error(r, 404, "not found");
		return;
	}
	html = strcmp(dot, ".html") == 0;
	snprintf(id, sizeof(id), "%.*s", (int)(dot - arg), arg);
	if ((e = entry_for(q, r, id)) == NULL)
		return;
	if ((m = web_parsed(q->web, e)) == NULL) {
		web_error(r, 500, "out of memory");
	} else if (html) {
		char *h = *m->html ? mime_html_with_cids(e->msg->data,
		    e->msg->data_len, m) : NULL;

		if (h == NULL) {
			web_error(r, 404, "message %s has no HTML", e->id);
		} else {
			free(r->body);
			r->status = 200;
			r->body = h;
			r->len = strlen(h);
			r->content_type = "text/html; charset=utf-8";
		}
		r->csp = remote && strcmp(remote, "1") == 0 ?
		    CSP_VIEW_REMOTE : CSP_VIEW;
	} else {
		web_text(r, 200, "text/plain; charset=utf-8", m->text,
		    strlen(m->text));
		r->csp = CSP_VIEW;
	}
	inbox_unref(q->web->store, e);
}

/* POST /api/v1/message/{ID}/release - {"To": [...]}: relay the message
 * upstream (--release and an upstream), as it was received. */
static void
mp_release(struct web_req *q, struct web_resp *r)
{
	struct web_server *w = q->web;
	const struct smtpd_config *cfg = &w->srv->cfg;
	json_t *body;
	const char **to = NULL;
	size_t n = 0;
	struct inbox_entry *e;
	struct relay *rl;
	struct relay_reply rep;
	const char *from;
	int code;

	if (!cfg->release || cfg->remote_host == NULL) {
		web_error(r, 403, "release is off: start smtpd with --release "
		    "and remotehost:remoteport");
		return;
	}
	if ((body = web_parse_body(q, r)) == NULL) {
		if (r->status == 0)
			web_error(r, 400, "expected {\"To\": [...]}");
		return;
	}
	if (!json_is_object(body) || web_ids_from_json(json_object_get(body,
	    "To"), &to, &n) != 0 || n == 0) {
		json_decref(body);
		free(to);
		web_error(r, 400, "expected {\"To\": [\"address\", ...]}");
		return;
	}
	if ((e = entry_for(q, r, q->args[0])) == NULL) {
		json_decref(body);
		free(to);
		return;
	}
	from = strcmp(e->msg->mailfrom, "<>") == 0 ? "" : e->msg->mailfrom;
	rl = relay_open(cfg->remote_host, cfg->remote_port, false,
	    w->srv->fqdn, cfg->timeout > 0 ? cfg->timeout : 60, &rep);
	code = rl ? relay_secure(rl, cfg->remote_host, w->srv->fqdn,
	    !cfg->relay_tls_insecure, cfg->relay_auth_user,
	    cfg->relay_auth_password, cfg->relay_auth_plaintext, &rep) : 0;
	if (code == 250)
		code = relay_mail(rl, from, "", &rep);
	for (size_t i = 0; code == 250 && i < n; i++)
		code = relay_rcpt(rl, to[i], &rep);
	if (code == 250 || code == 251)
		code = relay_data(rl, e->msg->data, e->msg->data_len, &rep);
	if (rl)
		relay_close(rl);
	if (code == 250)
		web_text(r, 200, "text/plain; charset=utf-8", "ok", 2);
	else if (code)
		web_error(r, 502, "upstream answered %d %s", code, rep.text);
	else
		web_error(r, 502, "upstream: %s", rep.text);
	inbox_unref(w->store, e);
	json_decref(body);
	free(to);
}

/* ---- the server ---------------------------------------------------------- */

/* GET /api/v1/info - Mailpit's AppInfo, as far as it applies. */
static void
mp_info(struct web_req *q, struct web_resp *r)
{
	struct web_server *w = q->web;

	web_json(r, 200, json_pack("{s:s,s:s,s:s,s:i,s:I,s:I,s:{},"
	    "s:{s:i,s:I,s:i,s:i,s:i,s:i,s:i}}",
	    "Version", SMTPD_VERSION,
	    "LatestVersion", "",
	    "Database", "",
	    "DatabaseSize", 0,
	    "Messages", (json_int_t)smtpd_inbox_count(w->store),
	    "Unread", (json_int_t)inbox_unread(w->store),
	    "Tags",
	    "RuntimeStats",
	    "Memory", 0,
	    "Uptime", (json_int_t)(time(NULL) - w->started),
	    "MessagesDeleted", 0,
	    "SMTPAccepted", 0,
	    "SMTPAcceptedSize", 0,
	    "SMTPRejected", 0,
	    "SMTPIgnored", 0));
}

/* GET /api/v1/webui - Mailpit's settings for its page. */
static void
mp_webui(struct web_req *q, struct web_resp *r)
{
	const struct smtpd_config *cfg = &q->web->srv->cfg;
	char relay[300] = "";

	if (cfg->release && cfg->remote_host)
		snprintf(relay, sizeof(relay), "%s:%d", cfg->remote_host,
		    cfg->remote_port);
	web_json(r, 200, json_pack("{s:s,s:{s:b,s:s,s:s,s:s,s:s,s:s,s:b},"
	    "s:b,s:b,s:b,s:b}",
	    "Label", "",
	    "MessageRelay",
	    "Enabled", cfg->release && cfg->remote_host,
	    "SMTPServer", relay,
	    "ReturnPath", "",
	    "AllowedRecipients", "",
	    "BlockedRecipients", "",
	    "OverrideFrom", "",
	    "PreserveMessageIDs", 1,
	    "SpamAssassin", 0,
	    "ChaosEnabled", 1,
	    "DuplicatesIgnored", 0,
	    "HideDeleteAllButton", 0));
}

/* set_rules - the rule text (one a line) as the server's fault rules;
 * 0, or -1 after a 400 naming the bad rule. */
static int
set_rules(struct web_server *w, struct web_resp *r, const char *text)
{
	gchar **lines = g_strsplit(text, "\n", -1);
	const char **rules = calloc(g_strv_length(lines) + 1, sizeof(char *));
	GString *kept = g_string_new("");
	size_t n = 0;
	char err[512];
	int rc = 0;

	for (size_t i = 0; rules && lines[i]; i++) {
		g_strstrip(lines[i]);
		if (lines[i][0] && lines[i][0] != '#') {
			rules[n++] = lines[i];
			g_string_append_printf(kept, "%s\n", lines[i]);
		}
	}
	if (rules == NULL) {
		web_error(r, 500, "out of memory");
		rc = -1;
	} else if (smtpd_server_set_faults(w->srv, rules, n, err,
	    sizeof(err)) != 0) {
		web_error(r, 400, "%s", err);
		rc = -1;
	} else {
		pthread_mutex_lock(&w->lock);
		free(w->fault_text);
		w->fault_text = strdup(kept->str);
		pthread_mutex_unlock(&w->lock);
	}
	free(rules);
	g_strfreev(lines);
	g_string_free(kept, TRUE);
	return rc;
}

/* faults_answer - {"Rules": ["rule", ...]}. */
static void
faults_answer(struct web_server *w, struct web_resp *r)
{
	json_t *arr = json_array();
	gchar **lines;

	pthread_mutex_lock(&w->lock);
	lines = g_strsplit(w->fault_text ? w->fault_text : "", "\n", -1);
	pthread_mutex_unlock(&w->lock);
	for (size_t i = 0; lines[i]; i++)
		if (lines[i][0])
			json_array_append_new(arr, web_str(lines[i]));
	g_strfreev(lines);
	web_json(r, 200, json_pack("{s:o}", "Rules", arr));
}

/* GET /api/v1/faults */
static void
mp_faults(struct web_req *q, struct web_resp *r)
{
	faults_answer(q->web, r);
}

/* PUT /api/v1/faults - {"Rules": "text"} or {"Rules": ["rule", ...]}:
 * the whole --fault language, replacing every rule. */
static void
mp_faults_put(struct web_req *q, struct web_resp *r)
{
	json_t *body = web_parse_body(q, r), *rules;
	GString *text;

	if (body == NULL) {
		if (r->status == 0)
			web_error(r, 400, "expected {\"Rules\": \"...\"}");
		return;
	}
	rules = json_object_get(body, "Rules");
	text = g_string_new("");
	if (json_is_string(rules)) {
		g_string_append(text, json_string_value(rules));
	} else if (json_is_array(rules)) {
		size_t i;
		json_t *v;

		json_array_foreach(rules, i, v) {
			if (!json_is_string(v) ||
			    strpbrk(json_string_value(v), "\r\n")) {
				rules = NULL;
				break;
			}
			g_string_append_printf(text, "%s\n",
			    json_string_value(v));
		}
	} else {
		rules = NULL;
	}
	if (rules == NULL)
		web_error(r, 400, "Rules must be a string or an array of "
		    "strings");
	else if (set_rules(q->web, r, text->str) == 0) {
		pthread_mutex_lock(&q->web->lock);
		for (int i = 0; i < 3; i++)
			q->web->chaos_prob[i] = 0;
		pthread_mutex_unlock(&q->web->lock);
		faults_answer(q->web, r);
	}
	g_string_free(text, TRUE);
	json_decref(body);
}

static const char *const chaos_names[3] = { "Sender", "Recipient",
    "Authentication" };
static const char *const chaos_stages[3] = { "mail", "rcpt", "auth" };

/* chaos_answer - Mailpit's Triggers. */
static void
chaos_answer(struct web_server *w, struct web_resp *r)
{
	json_t *o = json_object();

	pthread_mutex_lock(&w->lock);
	for (int i = 0; i < 3; i++)
		json_object_set_new(o, chaos_names[i], json_pack("{s:i,s:i}",
		    "ErrorCode", w->chaos_code[i], "Probability",
		    w->chaos_prob[i]));
	pthread_mutex_unlock(&w->lock);
	web_json(r, 200, o);
}

/* GET /api/v1/chaos */
static void
mp_chaos(struct web_req *q, struct web_resp *r)
{
	chaos_answer(q->web, r);
}

/* PUT /api/v1/chaos - Mailpit's triggers (an omitted one is reset to its
 * default code at 0%), made fault rules: Sender at MAIL, Recipient at
 * RCPT, Authentication at AUTH, "CODE Chaos error@P%".  They replace
 * the rules there were. */
static void
mp_chaos_put(struct web_req *q, struct web_resp *r)
{
	json_t *body = web_parse_body(q, r);
	int code[3] = { 451, 451, 535 }, prob[3] = { 0, 0, 0 };
	GString *text;

	if (body == NULL) {
		if (r->status == 0)
			web_error(r, 400, "expected the chaos triggers");
		return;
	}
	if (!json_is_object(body)) {
		json_decref(body);
		web_error(r, 400, "expected the chaos triggers");
		return;
	}
	for (int i = 0; i < 3; i++) {
		json_t *t = json_object_get(body, chaos_names[i]), *c, *p;

		if (t == NULL || json_is_null(t))
			continue;
		c = json_object_get(t, "ErrorCode");
		p = json_object_get(t, "Probability");
		if (!json_is_object(t) || (c && !json_is_integer(c)) ||
		    (p && !json_is_integer(p))) {
			json_decref(body);
			web_error(r, 400, "%s: ErrorCode and Probability are "
			    "numbers", chaos_names[i]);
			return;
		}
		if (c)
			code[i] = (int)json_integer_value(c);
		if (p)
			prob[i] = (int)json_integer_value(p);
		if (code[i] < 400 || code[i] > 599) {
			json_decref(body);
			web_error(r, 400, "%s: ErrorCode must be 400 to 599",
			    chaos_names[i]);
			return;
		}
		if (prob[i] < 0 || prob[i] > 100) {
			json_decref(body);
			web_error(r, 400, "%s: Probability must be 0 to 100",
			    chaos_names[i]);
			return;
		}
	}
	json_decref(body);
	text = g_string_new("");
	for (int i = 0; i < 3; i++)
		if (prob[i] > 0)
			g_string_append_printf(text, "%s=%d Chaos error@%d%%\n",
			    chaos_stages[i], code[i], prob[i]);
	if (set_rules(q->web, r, text->str) == 0) {
		pthread_mutex_lock(&q->web->lock);
		memcpy(q->web->chaos_code, code, sizeof(code));
		memcpy(q->web->chaos_prob, prob, sizeof(prob));
		pthread_mutex_unlock(&q->web->lock);
		chaos_answer(q->web, r);
	}
	g_string_free(text, TRUE);
}

/* ---- events and sessions ------------------------------------------------- */

/* GET /api/v1/events - Server-Sent Events: "new" (with the summary),
 * "delete", "read", "session" (a session refused), each data a JSON
 * object {"Type": ..., "Data": ...} as Mailpit's websocket sends.  At
 * most WEB_SSE_MAX readers. */
static void
mp_events(struct web_req *q, struct web_resp *r)
{
	if (atomic_fetch_add(&q->web->nsse, 1) >= WEB_SSE_MAX) {
		atomic_fetch_sub(&q->web->nsse, 1);
		web_error(r, 503, "too many event readers (%d)", WEB_SSE_MAX);
		return;
	}
	r->status = 200;
	r->events = true;
}

/* web_sse_start - the newest event's number: a new reader starts there. */
uint64_t
web_sse_start(struct web_server *w)
{
	struct inbox_event *ev = calloc(INBOX_EVENT_RING, sizeof(*ev));
	size_t n;
	uint64_t seq = 0;

	if (ev == NULL)
		return 0;
	n = inbox_events(w->store, 0, ev, INBOX_EVENT_RING, 0);
	if (n)
		seq = ev[n - 1].seq;
	free(ev);
	return seq;
}

/* web_sse_read - the next events as SSE text into buf (max bytes), after
 * *after, waiting up to 15 s (then a comment keeps the connection
 * alive); (size_t)-1 when the server stops. */
size_t
web_sse_read(struct web_server *w, uint64_t *after, char *buf, size_t max)
{
	struct inbox_event ev[8];
	size_t n = 0, used = 0;

	for (int i = 0; i < 15 && n == 0; i++) {
		if (atomic_load(&w->stopping))
			return (size_t)-1;
		n = inbox_events(w->store, *after, ev, 8, 1000);
	}
	if (atomic_load(&w->stopping))
		return (size_t)-1;
	if (n == 0)
		return (size_t)snprintf(buf, max, ": keep-alive\n\n");
	for (size_t i = 0; i < n; i++) {
		static const char *const types[] = { "new", "delete", "read",
		    "session" };
		const char *type = types[ev[i].kind];
		json_t *data = NULL, *o;
		char *s;
		int len;

		if (ev[i].kind == INBOX_EV_STORED) {
			struct inbox_entry *e = inbox_ref(w->store, ev[i].id);

			if (e) {
				data = web_summary(w, e);
				inbox_unref(w->store, e);
			}
		}
		if (data == NULL)
			data = json_pack("{s:s,s:I}", "ID", ev[i].id,
			    "SessionID", (json_int_t)ev[i].session_id);
		o = json_pack("{s:s,s:o}", "Type", type, "Data", data);
		s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (s == NULL)
			break;
		len = snprintf(buf + used, max - used, "event: %s\ndata: %s\n\n",
		    type, s);
		free(s);
		if (len < 0 || (size_t)len >= max - used) {
			if (used == 0) {	/* too big for one read: skip */
				*after = ev[i].seq;
				return (size_t)snprintf(buf, max, ": skipped\n\n");
			}
			break;
		}
		used += (size_t)len;
		*after = ev[i].seq;
	}
	return used;
}

/* session_json - one session as the page and tests read it. */
static int
session_json(const struct session_view *v, void *ctx)
{
	json_t *arr = ctx, *ids = json_array();

	for (size_t i = 0; i < v->nmessages; i++)
		json_array_append_new(ids, web_str(v->message_ids[i]));
	json_array_append_new(arr, json_pack("{s:I,s:o,s:i,s:o,s:o,s:o,s:i,"
	    "s:o,s:o,s:o,s:o,s:o,s:o}",
	    "ID", (json_int_t)v->id,
	    "PeerIP", web_str(v->peer_ip),
	    "PeerPort", v->peer_port,
	    "Started", web_time(&v->started),
	    "EndedAt", v->ended_yet ? web_time(&v->ended) : json_null(),
	    "How", v->ended_yet ? web_str(session_end_name(v->how)) :
		json_string("open"),
	    "LastCode", v->last_code,
	    "TLSProtocol", web_str(v->tls_protocol),
	    "TLSCipher", web_str(v->tls_cipher),
	    "AuthUser", web_str(v->auth_user),
	    "FaultRule", web_str(v->fault_rule),
	    "MessageIDs", ids,
	    "Transcript", web_str(v->transcript)));
	return 0;
}

/* GET /api/v1/sessions - the recent SMTP sessions, newest first. */
static void
mp_sessions(struct web_req *q, struct web_resp *r)
{
	json_t *arr = json_array();

	session_log_foreach(q->web->sessions, session_json, arr);
	web_json(r, 200, json_pack("{s:I,s:o}", "total",
	    (json_int_t)json_array_size(arr), "sessions", arr));
}

/* GET /api/v1/sessions/{ID} */
static void
mp_session(struct web_req *q, struct web_resp *r)
{
	json_t *arr = json_array();
	char *end;
	unsigned long long id = strtoull(q->args[0], &end, 10);

	if (*end != '\0' || !session_log_get(q->web->sessions, id,
	    session_json, arr) || json_array_size(arr) == 0) {
		json_decref(arr);
		web_error(r, 404, "session %s not found", q->args[0]);
		return;
	}
	web_json(r, 200, json_incref(json_array_get(arr, 0)));
	json_decref(arr);
}

/* Mailpit's endpoints we do not have: a clear 501, never a wrong 200. */
static void
mp_missing(struct web_req *q, struct web_resp *r)
{
	web_error(r, 501, "%s %s is not implemented by smtpd", q->method,
	    q->path);
}

const struct web_route web_mailpit_routes[] = {
	{ "GET",	"/api/v1/messages",		mp_messages },
	{ "PUT",	"/api/v1/messages",		mp_messages_put },
	{ "DELETE",	"/api/v1/messages",		mp_messages_delete },
	{ "GET",	"/api/v1/search",		mp_search },
	{ "DELETE",	"/api/v1/search",		mp_search_delete },
	{ "GET",	"/api/v1/message/*",		mp_message },
	{ "GET",	"/api/v1/message/*/headers",	mp_headers },
	{ "GET",	"/api/v1/message/*/raw",	mp_raw },
	{ "GET",	"/api/v1/message/*/part/*",	mp_part },
	{ "GET",	"/api/v1/message/*/part/*/thumb", mp_missing },
	{ "POST",	"/api/v1/message/*/release",	mp_release },
	{ "GET",	"/api/v1/message/*/html-check",	mp_missing },
	{ "GET",	"/api/v1/message/*/link-check",	mp_missing },
	{ "GET",	"/api/v1/message/*/sa-check",	mp_missing },
	{ "GET",	"/view/*",			mp_view },
	{ "GET",	"/api/v1/info",			mp_info },
	{ "GET",	"/api/v1/webui",		mp_webui },
	{ "GET",	"/api/v1/chaos",		mp_chaos },
	{ "PUT",	"/api/v1/chaos",		mp_chaos_put },
	{ "GET",	"/api/v1/faults",		mp_faults },
	{ "PUT",	"/api/v1/faults",		mp_faults_put },
	{ "GET",	"/api/v1/events",		mp_events },
	{ "GET",	"/api/v1/sessions",		mp_sessions },
	{ "GET",	"/api/v1/sessions/*",		mp_session },
	{ "GET",	"/api/v1/tags",			mp_missing },
	{ "PUT",	"/api/v1/tags",			mp_missing },
	{ "PUT",	"/api/v1/tags/*",		mp_missing },
	{ "DELETE",	"/api/v1/tags/*",		mp_missing },
	{ "POST",	"/api/v1/send",			mp_missing },
};
const size_t web_mailpit_route_count =
    sizeof(web_mailpit_routes) / sizeof(web_mailpit_routes[0]);
