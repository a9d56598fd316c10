/* SPDX-License-Identifier: ISC */
/*
 * web/json.c - the JSON side of the API, through jansson: answers and
 * errors ({"Error": "..."}, as Mailpit's JSON errors), message fields
 * (any bytes a message carries become valid JSON: invalid UTF-8 is
 * replaced, never passed on), times in RFC 3339 and request bodies.
 */
#include "web_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* web_json - answer status with the JSON value v (its reference taken). */
void
web_json(struct web_resp *r, int status, json_t *v)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	json_decref(v);
	if (s == NULL) {
		web_text(r, 500, "application/json",
		    "{\"Error\":\"out of memory\"}", 25);
		return;
	}
	free(r->body);
	r->status = status;
	r->content_type = "application/json";
	r->body = s;
	r->len = strlen(s);
}

/* web_error - answer status with {"Error": message}. */
void
web_error(struct web_resp *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	web_json(r, status, json_pack("{s:o}", "Error", web_str(msg)));
}

/* web_text - answer status with a copy of these bytes. */
void
web_text(struct web_resp *r, int status, const char *type, const char *data,
    size_t len)
{
	free(r->body);
	r->status = status;
	r->content_type = type;
	r->len = 0;
	if ((r->body = malloc(len + 1)) == NULL) {
		r->status = 500;
		return;
	}
	memcpy(r->body, data, len);
	r->body[len] = '\0';
	r->len = len;
}

/* utf8_clean - s (len bytes) with every byte that is not part of valid
 * UTF-8, and every NUL, replaced by U+FFFD; malloc'd, NULL when out of
 * memory. */
static char *
utf8_clean(const char *s, size_t len, size_t *outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = malloc(len * 3 + 1), *o = out;
	size_t i = 0;

	if (out == NULL)
		return NULL;
	while (i < len) {
		unsigned c = p[i];
		size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 :
		    (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
		bool ok = n > 0 && i + n <= len && c != 0;

		for (size_t k = 1; ok && k < n; k++)
			ok = (p[i + k] & 0xC0) == 0x80;
		/* Overlong forms, surrogates and past U+10FFFF. */
		if (ok && n == 2 && c < 0xC2)
			ok = false;
		if (ok && n == 3 && ((c == 0xE0 && p[i + 1] < 0xA0) ||
		    (c == 0xED && p[i + 1] >= 0xA0)))
			ok = false;
		if (ok && n == 4 && ((c == 0xF0 && p[i + 1] < 0x90) ||
		    c > 0xF4 || (c == 0xF4 && p[i + 1] >= 0x90)))
			ok = false;
		if (ok) {
			memcpy(o, p + i, n);
			o += n;
			i += n;
		} else {
			memcpy(o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		}
	}
	*o = '\0';
	*outlen = (size_t)(o - out);
	return out;
}

/* web_strn - a JSON string of len bytes, made valid UTF-8. */
json_t *
web_strn(const char *s, size_t len)
{
	json_t *v;
	size_t n;
	char *clean;

	if (s == NULL)
		return json_string("");
	if ((v = json_stringn(s, len)) != NULL)	/* NULL: not UTF-8 */
		return v;
	if ((clean = utf8_clean(s, len, &n)) == NULL)
		return NULL;
	v = json_stringn_nocheck(clean, n);
	free(clean);
	return v;
}

/* web_str - a JSON string of s, made valid UTF-8; "" for NULL. */
json_t *
web_str(const char *s)
{
	return web_strn(s, s ? strlen(s) : 0);
}

/* web_time_t - t as RFC 3339 in UTC, "2024-05-01T12:00:00Z". */
json_t *
web_time_t(time_t t)
{
	struct timespec ts = { t, 0 };

	return web_time(&ts);
}

/* web_time - ts as RFC 3339 in UTC with milliseconds, as Go's
 * RFC3339Nano prints them (no trailing zeros). */
json_t *
web_time(const struct timespec *ts)
{
	struct tm tm;
	char buf[64], frac[16] = "";
	long ms = ts->tv_nsec / 1000000;

	gmtime_r(&ts->tv_sec, &tm);
	if (ms) {
		snprintf(frac, sizeof(frac), ".%03ld", ms);
		for (size_t n = strlen(frac); frac[n - 1] == '0'; n--)
			frac[n - 1] = '\0';
	}
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d%sZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, frac);
	return json_string(buf);
}

/* web_address - Go's mail.Address: {"Name": ..., "Address": ...}; null
 * for none. */
json_t *
web_address(const struct mime_address *a)
{
	if (a == NULL)
		return json_null();
	return json_pack("{s:o,s:o}", "Name", web_str(a->name), "Address",
	    web_str(a->address));
}

/* web_addresses - an array of them ([] when none, as Mailpit answers). */
json_t *
web_addresses(const struct mime_address *a, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, web_address(&a[i]));
	return arr;
}

/* web_parse_body - the request's JSON body, or NULL after answering 400
 * (NULL without an answer, status 0, when there is no body at all). */
json_t *
web_parse_body(const struct web_req *q, struct web_resp *r)
{
	json_error_t e;
	json_t *v;

	if (q->body == NULL || q->body_len == 0)
		return NULL;
	if ((v = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES,
	    &e)) == NULL)
		web_error(r, 400, "invalid JSON: %s", e.text);
	return v;
}
