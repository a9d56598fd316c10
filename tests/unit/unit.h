/* SPDX-License-Identifier: ISC */
/*
 * unit.h - helpers for driving a channel without a network: the client's
 * bytes come from memory (in chunks of any size, to exercise the line
 * reader's splitting), the server's replies are collected in memory, and
 * delivered messages are recorded by a test handler.
 */
#ifndef UNIT_H
#define UNIT_H

#include "channel_internal.h"

#include <CUnit/CUnit.h>
#include "suite.h"
#include <stddef.h>

#define MAX_MESSAGES 16

struct delivered {
	int	count;
	char	*data[MAX_MESSAGES];
	size_t	 len[MAX_MESSAGES];
	char	*mailfrom[MAX_MESSAGES];
	char	*rcpts[MAX_MESSAGES];		/* joined with "," */
	char	*mail_options[MAX_MESSAGES];	/* joined with "," */
	char	*rcpt_options[MAX_MESSAGES];
	const char *reply;			/* what process_message returns */
};

extern struct delivered delivered;

/* unit_config - a config for tests: fqdn "test.example", the recording
 * handler, no timeout. */
void	unit_config(struct smtpd_config *);
/* unit_session - play input against a channel (chunk bytes per read; 0 =
 * all at once); returns the replies after the greeting (static storage). */
const char *unit_session(const struct smtpd_config *, const char *input,
	    size_t len, size_t chunk);
/* unit_replies - unit_session with the default config and NUL-terminated
 * input, all at once. */
const char *unit_replies(const char *input);
/* unit_writes - how many writes the last session made. */
int	unit_writes(void);
/* unit_greeting - the greeting of the last session. */
const char *unit_greeting(void);
void	unit_reset(void);

int	unit_add_channel_tests(void);

#endif
