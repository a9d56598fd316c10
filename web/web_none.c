/* SPDX-License-Identifier: ISC */
/*
 * web/web_none.c - the web interface's three entry points in a build
 * without it (make WEB=no: no libmicrohttpd, jansson or GMime): a server
 * whose configuration asks for HTTP fails to start, with a message that
 * says why.
 */
#include "web.h"
#include "../server_internal.h"

#include <stdio.h>

/* web_start - refuse: nothing here can serve HTTP. */
int
web_start(struct smtpd_server *srv, char *err, size_t errsz)
{
	if (!srv->cfg.http)
		return 0;
	snprintf(err, errsz, "--http: built without the web interface "
	    "(make WEB=no)");
	return -1;
}

/* web_stop - nothing was started. */
void
web_stop(struct smtpd_server *srv)
{
	(void)srv;
}

/* web_available - no. */
bool
web_available(void)
{
	return false;
}
