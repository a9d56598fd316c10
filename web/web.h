/* SPDX-License-Identifier: ISC */
/*
 * web/web.h - the HTTP side of a server (--http): Mailpit's and MailHog's
 * APIs, a server-side wait, live events and the SMTP sessions, over
 * libmicrohttpd with one thread per HTTP connection.  The server calls
 * web_start() after its SMTP listener runs and web_stop() before it
 * frees its store.  In a build without the web interface (make WEB=no)
 * web/web_none.c provides the same three functions and web_start fails.
 */
#ifndef SMTPD_WEB_H
#define SMTPD_WEB_H

#include <stdbool.h>
#include <stddef.h>

struct smtpd_server;

/* web_start - start the HTTP listener of a server whose config asks for
 * it (cfg.http); 0, or -1 with the reason in err. */
int	web_start(struct smtpd_server *, char *err, size_t errsz);

/* web_stop - end every wait and event reader, stop the listener, join
 * its threads.  Safe to call when web_start was not, or failed. */
void	web_stop(struct smtpd_server *);

/* web_available - false in the WEB=no build. */
bool	web_available(void);

#endif /* SMTPD_WEB_H */
