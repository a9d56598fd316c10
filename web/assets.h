/* SPDX-License-Identifier: ISC */
/*
 * assets.h - the web page's files (those of web/ui/), compiled into the binary.
 *
 * The page is plain HTML, CSS and JavaScript.  At build time web/embed.c
 * turns each file of web/ui/ into a byte array in $(B)web/assets.c (see the
 * Makefile), so the server reads nothing from disk at run time: no files to
 * install, and no path from a URL to the file system.  web/http.c looks a
 * request's path up in this table and serves the bytes with their type.
 *
 *	"/"		index.html
 *	"/ui/app.js"	the page's script
 *	"/ui/style.css"	its style sheet
 */
#ifndef SMTPD_WEB_ASSETS_H
#define SMTPD_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
	const char		*path;		/* URL path, "/" or "/ui/NAME" */
	const char		*content_type;	/* with charset for text */
	const unsigned char	*data;		/* the file's bytes (NUL after them) */
	size_t			 len;		/* without that NUL */
};

extern const struct web_asset web_assets[];
extern const size_t web_asset_count;

#endif
