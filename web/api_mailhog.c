/* SPDX-License-Identifier: ISC */
/*
 * web/api_mailhog.c - the part of MailHog's API its clients use (npm's
 * mailhog among them): /api/v2/messages, /api/v2/search, and v1's one
 * message, its download and its deletion, in MailHog's JSON shapes
 * (mailhog/data's Message: ID, From and To as SMTP paths, Content with
 * the headers as written, Created, MIME with the raw parts, Raw with the
 * envelope).  MailHog's clients decode bodies and encoded words
 * themselves, so everything here is raw: the headers' and parts' text
 * as GMime finds them, never decoded.  (DELETE /api/v1/messages, all of
 * them, is api_mailpit.c's: one path for both.)
 */
#include "web_internal.h"
#include "../server_internal.h"

#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MH_MAX_PARTS	1000	/* as the MIME module's bounds */
#define MH_MAX_DEPTH	50

/* mh_path - MailHog's Path of an address: {"Relays": null, "Mailbox":
 * local part, "Domain": domain, "Params": ""}. */
static json_t *
mh_path(const char *addr)
{
	const char *at;

	if (strcmp(addr, "<>") == 0)
		addr = "";
	at = strrchr(addr, '@');
	return json_pack("{s:n,s:o,s:o,s:s}", "Relays",
	    "Mailbox", at ? web_strn(addr, (size_t)(at - addr)) : web_str(addr),
	    "Domain", web_str(at ? at + 1 : ""), "Params", "");
}

/* mh_headers - an object's headers as written: {"Name": ["raw value"]}. */
static json_t *
mh_headers(GMimeObject *obj)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(obj);
	int count = list ? g_mime_header_list_get_count(list) : 0;
	json_t *o = json_object();

	for (int i = 0; i < count; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
		const char *name = g_mime_header_get_name(h);
		const char *raw = g_mime_header_get_raw_value(h);
		json_t *arr;
		char *key;
		size_t klen, n;

		if (name == NULL)
			continue;
		/* A key must be valid UTF-8 for jansson: clean it. */
		key = g_utf8_make_valid(name, -1);
		klen = strlen(key);
		if (klen == 0 || (arr = json_object_get(o, key)) == NULL) {
			arr = json_array();
			json_object_set_new(o, key, arr);
		}
		/* GMime keeps the raw value's leading blank and fold. */
		while (raw && (*raw == ' ' || *raw == '\t'))
			raw++;
		n = raw ? strlen(raw) : 0;
		while (n > 0 && (raw[n - 1] == '\n' || raw[n - 1] == '\r'))
			n--;
		json_array_append_new(arr, web_strn(raw ? raw : "", n));
		g_free(key);
	}
	return o;
}

/* mh_body - the part's body as it was on the wire (still encoded). */
static json_t *
mh_body(GMimeObject *obj)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	GByteArray *bytes;
	json_t *v;

	if (GMIME_IS_PART(obj)) {
		GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(obj));

		if (w)
			g_mime_stream_write_to_stream(
			    g_mime_data_wrapper_get_stream(w), mem);
	} else if (GMIME_IS_MULTIPART(obj) || GMIME_IS_MESSAGE_PART(obj)) {
		/* Everything after the headers, as written. */
		char *all = g_mime_object_to_string(obj, NULL);
		const char *body = all ? strstr(all, "\n\n") : NULL;

		if (body)
			g_mime_stream_write_string(mem, body + 2);
		g_free(all);
	}
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	v = web_strn((const char *)bytes->data, bytes->len);
	g_object_unref(mem);
	return v;
}

/* mh_content - MailHog's Content: headers, body, size, and MIME (the
 * parts of a multipart, each a Content), bounded like the MIME module. */
static json_t *
mh_content(GMimeObject *obj, size_t size, int depth, int *parts)
{
	json_t *mime = json_null();

	if (GMIME_IS_MULTIPART(obj) && depth < MH_MAX_DEPTH) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);
		json_t *arr = json_array();

		for (int i = 0; i < n && *parts < MH_MAX_PARTS; i++) {
			GMimeObject *child = g_mime_multipart_get_part(mp, i);

			(*parts)++;
			json_array_append_new(arr, mh_content(child, 0,
			    depth + 1, parts));
		}
		json_decref(mime);
		mime = json_pack("{s:o}", "Parts", arr);
	}
	return json_pack("{s:o,s:o,s:I,s:o}", "Headers", mh_headers(obj),
	    "Body", mh_body(obj), "Size", (json_int_t)size, "MIME", mime);
}

/* mh_message - MailHog's Message of an entry. */
static json_t *
mh_message(struct inbox_entry *e)
{
	const struct smtpd_message *msg = e->msg;
	GMimeStream *s = g_mime_stream_mem_new_with_buffer(msg->data,
	    msg->data_len);
	GMimeParser *p = g_mime_parser_new_with_stream(s);
	GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
	json_t *to = json_array(), *rto = json_array(), *content, *mime;
	int parts = 0;

	for (size_t i = 0; i < msg->rcpt_count; i++) {
		json_array_append_new(to, mh_path(msg->rcpttos[i]));
		json_array_append_new(rto, web_str(msg->rcpttos[i]));
	}
	if (m) {
		GMimeObject *body = g_mime_message_get_mime_part(m);
		json_t *hdrs = mh_headers(GMIME_OBJECT(m));
		json_t *inner = body ? mh_content(body, msg->data_len, 0,
		    &parts) : NULL;

		/* The message's headers with its top part's (Content-Type)
		 * merged in, as MailHog sees one header block. */
		if (inner) {
			json_object_update_missing(hdrs,
			    json_object_get(inner, "Headers"));
			json_object_set(inner, "Headers", hdrs);
		}
		json_decref(hdrs);
		content = inner ? inner : json_pack("{s:{},s:s,s:I,s:n}",
		    "Headers", "Body", "", "Size", (json_int_t)msg->data_len,
		    "MIME");
	} else {
		content = json_pack("{s:{},s:o,s:I,s:n}", "Headers", "Body",
		    web_strn(msg->data, msg->data_len), "Size",
		    (json_int_t)msg->data_len, "MIME");
	}
	mime = json_object_get(content, "MIME");
	json_incref(mime);
	if (m)
		g_object_unref(m);
	g_object_unref(p);
	g_object_unref(s);
	return json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:{s:o,s:o,s:o,s:o}}",
	    "ID", e->id,
	    "From", mh_path(msg->mailfrom),
	    "To", to,
	    "Content", content,
	    "Created", web_time(&e->created),
	    "MIME", mime,
	    "Raw", "From", web_str(strcmp(msg->mailfrom, "<>") == 0 ? "" :
		msg->mailfrom),
	    "To", rto,
	    "Data", web_strn(msg->data, msg->data_len),
	    "Helo", web_str(msg->helo));
}

/* contains - does hay contain needle, ignoring case? */
static bool
contains(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0)
		return true;
	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(hay + i, needle, n) == 0)
			return true;
	return false;
}

/* mh_matches - MailHog's search kinds: from (the envelope sender or the
 * From header), to (a recipient or the To header), containing (anywhere
 * in the message). */
static bool
mh_matches(struct web_server *w, struct inbox_entry *e, const char *kind,
    const char *query)
{
	const struct smtpd_message *msg = e->msg;
	const struct mime_message *m = web_parsed(w, e);

	if (strcmp(kind, "from") == 0) {
		if (contains(msg->mailfrom, strlen(msg->mailfrom), query))
			return true;
		return m && m->from && (contains(m->from->address,
		    strlen(m->from->address), query) || contains(m->from->name,
		    strlen(m->from->name), query));
	}
	if (strcmp(kind, "to") == 0) {
		for (size_t i = 0; i < msg->rcpt_count; i++)
			if (contains(msg->rcpttos[i], strlen(msg->rcpttos[i]),
			    query))
				return true;
		for (size_t i = 0; m && i < m->nto; i++)
			if (contains(m->to[i].address, strlen(m->to[i].address),
			    query) || contains(m->to[i].name,
			    strlen(m->to[i].name), query))
				return true;
		return false;
	}
	return contains(msg->data, msg->data_len, query) ||
	    (m && contains(m->subject, strlen(m->subject), query));
}

/* mh_list - {"total", "count", "start", "items"} of the entries that
 * match kind/query (all when kind is NULL), newest first, paged. */
static void
mh_list(struct web_req *q, struct web_resp *r, const char *kind,
    const char *query)
{
	struct web_server *w = q->web;
	long start = web_query_long(q, "start", 0, 0, 1L << 30);
	long limit = web_query_long(q, "limit", 50, 1, 1L << 30);
	size_t n, total = 0;
	struct inbox_entry **all = inbox_snapshot(w->store, &n, NULL);
	json_t *items = json_array();

	for (size_t i = 0; i < n; i++) {
		if (kind && !mh_matches(w, all[i], kind, query))
			continue;
		if (total >= (size_t)start && json_array_size(items) <
		    (size_t)limit)
			json_array_append_new(items, mh_message(all[i]));
		total++;
	}
	inbox_snapshot_free(w->store, all, n);
	web_json(r, 200, json_pack("{s:I,s:I,s:I,s:o}",
	    "total", (json_int_t)(kind ? total : n),
	    "count", (json_int_t)json_array_size(items),
	    "start", (json_int_t)start,
	    "items", items));
}

/* GET /api/v2/messages?start=&limit= */
static void
mh_messages(struct web_req *q, struct web_resp *r)
{
	mh_list(q, r, NULL, NULL);
}

/* GET /api/v2/search?kind=from|to|containing&query= */
static void
mh_search(struct web_req *q, struct web_resp *r)
{
	const char *kind = web_query(q, "kind");
	const char *query = web_query(q, "query");

	if (kind == NULL || (strcmp(kind, "from") != 0 &&
	    strcmp(kind, "to") != 0 && strcmp(kind, "containing") != 0)) {
		web_error(r, 400, "kind must be from, to or containing");
		return;
	}
	mh_list(q, r, kind, query ? query : "");
}

/* GET /api/v1/messages/{id} */
static void
mh_message_get(struct web_req *q, struct web_resp *r)
{
	struct inbox_entry *e = inbox_ref(q->web->store, q->args[0]);

	if (e == NULL) {
		web_error(r, 404, "message %s not found", q->args[0]);
		return;
	}
	web_json(r, 200, mh_message(e));
	inbox_unref(q->web->store, e);
}

/* DELETE /api/v1/messages/{id} */
static void
mh_message_delete(struct web_req *q, struct web_resp *r)
{
	const char *id = q->args[0];

	if (inbox_delete(q->web->store, &id, 1) == 0)
		web_error(r, 404, "message %s not found", id);
	else
		web_text(r, 200, "text/plain; charset=utf-8", "", 0);
}

/* GET /api/v1/messages/{id}/download - the message as an .eml file. */
static void
mh_download(struct web_req *q, struct web_resp *r)
{
	struct inbox_entry *e = inbox_ref(q->web->store, q->args[0]);

	if (e == NULL) {
		web_error(r, 404, "message %s not found", q->args[0]);
		return;
	}
	web_text(r, 200, "message/rfc822", e->msg->data, e->msg->data_len);
	r->disposition = g_strdup_printf("attachment; filename=\"%s.eml\"",
	    e->id);
	inbox_unref(q->web->store, e);
}

const struct web_route web_mailhog_routes[] = {
	{ "GET",	"/api/v2/messages",		mh_messages },
	{ "GET",	"/api/v2/search",		mh_search },
	{ "GET",	"/api/v1/messages/*",		mh_message_get },
	{ "DELETE",	"/api/v1/messages/*",		mh_message_delete },
	{ "GET",	"/api/v1/messages/*/download",	mh_download },
};
const size_t web_mailhog_route_count =
    sizeof(web_mailhog_routes) / sizeof(web_mailhog_routes[0]);
