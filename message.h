/* SPDX-License-Identifier: ISC */
/*
 * message.h - the text codec of DATA and BDAT: message text as it comes
 * on the wire, made into the text a handler is given (dot-unstuffed for
 * DATA, CRLF made LF for both), with its size counted against the limit
 * and bare CRs and LFs noted.  Pure string code: no socket, no session,
 * unit-tested and fuzzed alone (tests/unit/test_message.c,
 * fuzz/fuzz_message.c).  Not installed.
 */
#ifndef SMTPD_MESSAGE_H
#define SMTPD_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

/* The message text being received, already unstuffed, CRLF made LF. */
struct message_text {
	char		*data;		/* NUL-terminated; NULL until text came */
	size_t		 len, cap;
	size_t		 raw;		/* bytes on the wire, for the size limit */
	size_t		 limit;		/* largest message, 0: none */
	bool		 bol;		/* at the beginning of a line */
	bool		 too_big;	/* over the limit: stop keeping it */
	bool		 no_memory;
	bool		 bare_newline;	/* a CR or LF not part of CRLF */
	bool		 cr_pending;	/* BDAT: a chunk ended in CR */
};

/* message_start - an empty message of at most limit bytes (0: any), for
 * DATA or a first BDAT chunk; the buffer is kept. */
void	message_start(struct message_text *, size_t limit);
/*
 * message_scan - take DATA text from p[0..n): returns how many bytes were
 * consumed (the rest waits for more input), *done when the line "." ended
 * the message, *line_end when a whole line was taken.
 */
size_t	message_scan(struct message_text *, const char *p, size_t n,
	    bool *done, bool *line_end);
/* message_chunk - keep n bytes of a BDAT chunk (RFC 3030). */
void	message_chunk(struct message_text *, const char *p, size_t n);
/* What message_end makes of a complete message. */
enum message_outcome {
	MESSAGE_OK,		/* data[0..len) is the text, NUL-terminated */
	MESSAGE_TOO_BIG,	/* over the limit */
	MESSAGE_NO_MEMORY,
	MESSAGE_BARE_NEWLINE	/* with strict: a bare CR or LF came */
};
/* message_end - the message is complete (DATA's end line, or BDAT LAST):
 * the text as Python hands it over, without its final line ending. */
enum message_outcome message_end(struct message_text *, bool bdat,
	    bool strict);
/* message_clear - forget the text, keep the buffer. */
void	message_clear(struct message_text *);
/* message_free - give the buffer back. */
void	message_free(struct message_text *);
/* message_wire_text - the handler's text (LF line ends, the last one
 * gone) as it came over the wire, unstuffed: CRLF line ends, the last
 * one back; malloc'd and NUL-ended, its length in *len, or NULL. */
char	*message_wire_text(const char *text, size_t n, size_t *len);

#endif /* SMTPD_MESSAGE_H */
