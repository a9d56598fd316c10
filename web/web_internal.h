/* SPDX-License-Identifier: ISC */
/*
 * web/web_internal.h - what the HTTP side's files share: the web server's
 * state, a request and a response as the API handlers see them (no
 * libmicrohttpd type in sight: http.c alone speaks to it), the route
 * tables, and the JSON helpers of json.c.
 */
#ifndef SMTPD_WEB_INTERNAL_H
#define SMTPD_WEB_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../inbox_internal.h"
#include "../sessions.h"
#include "mime.h"
#include "web.h"

#define WEB_BODY_MAX		(1024 * 1024)	/* request bodies: 1 MiB */
#define WEB_HEADERS_MAX		(64 * 1024)	/* URL and headers together */
#define WEB_IDLE_TIMEOUT	60		/* seconds without a byte */
#define WEB_WAIT_MAX		300		/* seconds a wait= may ask */
#define WEB_SSE_MAX		32		/* event readers at once */
#define WEB_SNIPPET		250		/* Mailpit's Snippet length */

struct MHD_Daemon;
struct MHD_Connection;

struct web_server {
	struct smtpd_server	*srv;
	struct smtpd_inbox	*store;		/* srv->store */
	struct session_log	*sessions;	/* srv->sessions */
	struct MHD_Daemon	*daemon;
	char			*auth_header;	/* "Basic ..." expected, or NULL */
	atomic_bool		 stopping;	/* waits and event readers end */
	atomic_int		 nsse;		/* event readers now */
	time_t			 started;

	/* The fault rules as text (GET /api/v1/faults) and Mailpit's chaos
	 * triggers they were made from, if any; under lock. */
	pthread_mutex_t		 lock;
	char			*fault_text;	/* rules, one a line */
	int			 chaos_code[3];	/* Sender, Recipient, Authentication */
	int			 chaos_prob[3];
};

/* A request, as the handlers see it. */
struct web_req {
	struct web_server	*web;
	struct MHD_Connection	*conn;
	const char		*method;	/* "GET", "DELETE", ... */
	const char		*path;		/* "/api/v1/message/ID" */
	const char		*args[2];	/* the route's '*' segments */
	const char		*body;		/* NUL-terminated; NULL = none */
	size_t			 body_len;
};

/* An answer.  body is malloc'd (or NULL for none); http.c frees it. */
struct web_resp {
	int			 status;
	const char		*content_type;
	char			*body;
	size_t			 len;
	char			*disposition;	/* Content-Disposition, malloc'd */
	char			*type_owned;	/* content_type when malloc'd */
	const char		*csp;		/* Content-Security-Policy */
	bool			 events;	/* an event stream: http.c streams */
};

typedef void web_handler(struct web_req *, struct web_resp *);

/* One route: a method and a path, where '*' stands for one segment. */
struct web_route {
	const char	*method;
	const char	*pattern;
	web_handler	*fn;
};

extern const struct web_route web_mailpit_routes[];
extern const size_t web_mailpit_route_count;
extern const struct web_route web_mailhog_routes[];
extern const size_t web_mailhog_route_count;

/* http.c */
const char *web_query(const struct web_req *, const char *name);
long	web_query_long(const struct web_req *, const char *name, long dflt,
	    long min, long max);

/* json.c */
void	web_json(struct web_resp *, int status, json_t *);	/* steals it */
void	web_error(struct web_resp *, int status, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	web_text(struct web_resp *, int status, const char *type,
	    const char *data, size_t len);
json_t	*web_str(const char *s);	/* a JSON string of any bytes */
json_t	*web_strn(const char *s, size_t len);
json_t	*web_time(const struct timespec *);
json_t	*web_time_t(time_t);
json_t	*web_address(const struct mime_address *);	/* NULL -> null */
json_t	*web_addresses(const struct mime_address *, size_t n);
json_t	*web_parse_body(const struct web_req *, struct web_resp *);

/* api_mailpit.c, shared with api_mailhog.c */
const struct mime_message *web_parsed(struct web_server *,
	    struct inbox_entry *);
json_t	*web_summary(struct web_server *, struct inbox_entry *);
int	web_ids_from_json(json_t *arr, const char ***ids, size_t *n);
void	web_sse(struct web_req *, struct web_resp *);
uint64_t web_sse_start(struct web_server *);
size_t	web_sse_read(struct web_server *, uint64_t *after, char *buf,
	    size_t max);

#endif /* SMTPD_WEB_INTERNAL_H */
