/* SPDX-License-Identifier: ISC */
/*
 * fuzz_mime.c - a libFuzzer target: arbitrary bytes as a received message,
 * read by web/mime.c (GMime) and written as JSON with jansson, the path a
 * message takes to the HTTP API.
 *
 * Besides the sanitizers, the target checks what must hold for any input:
 *
 *	- mime_parse gives a message (NULL only without memory);
 *	- every string in it is valid UTF-8: jansson refuses any other, so
 *	  each becomes a JSON string, and the JSON document reads back;
 *	- the bounds hold: at most MIME_MAX_PARTS parts listed;
 *	- every listed part can be fetched by its PartID, with its size;
 *	- the HTML with cid: URLs, the snippet and the HTML's text are made.
 *
 * Built with clang -fsanitize=fuzzer by `make fuzz-mime`; with
 * -DFUZZ_REPLAY_MAIN it replays inputs (fuzz/replay.h): `make test`
 * replays fuzz/corpus-mime that way (WEB=yes builds only).
 */
#include "web/mime.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* str - a JSON string of s, which must be valid UTF-8. */
static json_t *
str(const char *s)
{
	json_t *j;

	if (s == NULL || (j = json_string(s)) == NULL)
		abort();
	return j;
}

/* addresses - a JSON array of n addresses. */
static json_t *
addresses(const struct mime_address *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:o,s:o}", "Name",
		    str(v[i].name), "Address", str(v[i].address)));
	return a;
}

/* parts - a JSON array of n parts; each fetched back by its PartID. */
static json_t *
parts(const uint8_t *data, size_t size, const struct mime_part_info *v,
    size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		char *bytes, *ct, *fn;
		size_t len;

		if (mime_part_get((const char *)data, size, v[i].part_id,
		    &bytes, &len, &ct, &fn) != 0 || len != v[i].size ||
		    strcmp(ct, v[i].content_type) != 0)
			abort();
		free(bytes);
		free(ct);
		free(fn);
		json_array_append_new(a, json_pack("{s:o,s:o,s:o,s:o,s:I}",
		    "PartID", str(v[i].part_id), "FileName", str(v[i].filename),
		    "ContentType", str(v[i].content_type),
		    "ContentID", str(v[i].content_id), "Size",
		    (json_int_t)v[i].size));
	}
	return a;
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_message *m = mime_parse((const char *)data, size);
	json_t *doc, *headers, *back;
	char *s, *html, *snip, *text;

	if (m == NULL)
		abort();
	if (m->nattachments + m->ninlines > MIME_MAX_PARTS)
		abort();
	headers = json_array();
	for (size_t i = 0; i < m->nheaders; i++)
		json_array_append_new(headers, json_pack("[o,o]",
		    str(m->headers[i].name), str(m->headers[i].value)));
	html = mime_html_with_cids((const char *)data, size, m);
	snip = mime_snippet(m, 200);
	text = mime_html_to_text(m->html);
	doc = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,"
	    "s:o,s:o,s:o,s:o,s:o,s:b}",
	    "Headers", headers, "Subject", str(m->subject),
	    "MessageID", str(m->message_id), "Date", str(m->date),
	    "From", m->from ? addresses(m->from, 1) : json_null(),
	    "To", addresses(m->to, m->nto), "Cc", addresses(m->cc, m->ncc),
	    "Bcc", addresses(m->bcc, m->nbcc),
	    "ReplyTo", addresses(m->reply_to, m->nreply_to),
	    "ReturnPath", str(m->return_path), "Text", str(m->text),
	    "HTML", str(html), "Snippet", str(snip), "HTMLText", str(text),
	    "ListUnsubscribe", str(m->list_unsubscribe),
	    "Attachments", parts(data, size, m->attachments, m->nattachments),
	    "Inline", parts(data, size, m->inlines, m->ninlines),
	    "Truncated", m->truncated);
	if (doc == NULL || (s = json_dumps(doc, JSON_COMPACT)) == NULL)
		abort();
	back = json_loads(s, 0, NULL);
	if (back == NULL || !json_equal(doc, back))
		abort();
	json_decref(back);
	json_decref(doc);
	free(s);
	free(html);
	free(snip);
	free(text);
	mime_message_free(m);
	return 0;
}

#ifdef FUZZ_REPLAY_MAIN
#include "replay.h"
#endif
