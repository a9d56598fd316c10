/* SPDX-License-Identifier: ISC */
/*
 * io.h - the few system helpers every part of the server shares: a
 * monotonic clock for deadlines, "send or write all of it" loops that
 * retry after EINTR, and one small function per descriptor option whose
 * failure would change behaviour (anet style: 0, or -1 with the reason in
 * the caller's err buffer).  Internal: not installed.
 */
#ifndef SMTPD_IO_H
#define SMTPD_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* The longest line of a file we read at start (--fault-file, --auth-file):
 * a file with an endless line (/dev/zero, a wrong path) must not take the
 * memory it asks for. */
#define IO_FILE_LINE_MAX	65536

/* io_file_line - the next line of f into buf (bufsz > IO_FILE_LINE_MAX,
 * NUL-terminated, the newline removed): its length (a NUL byte inside is
 * kept and counted); IO_LINE_EOF at the end of the file; IO_LINE_TOO_LONG
 * for a line of more than IO_FILE_LINE_MAX bytes (the rest is not read);
 * IO_LINE_ERROR for a read error, errno set. */
#define IO_LINE_EOF		(-1)
#define IO_LINE_TOO_LONG	(-2)
#define IO_LINE_ERROR		(-3)
ssize_t		io_file_line(FILE *f, char *buf, size_t bufsz);

/* io_parse_duration - "500ms", "5s", "2m", "1.5s" at s into milliseconds
 * (above max_ms: max_ms + 1, for the caller to refuse): the length parsed,
 * or 0 when s does not start with a number and its unit.  The one parser
 * of durations: fault rules' delays and --timeout. */
size_t		io_parse_duration(const char *s, long long max_ms,
		    long long *ms);

/* io_close_keep_errno - close(2) a descriptor being given up after a
 * failure, leaving errno as the failure set it; returns -1. */
int		io_close_keep_errno(int fd);

/* now_ms - CLOCK_MONOTONIC in milliseconds, for deadlines. */
long long	now_ms(void);

/* send_all - send(2) all of buf to a socket, without SIGPIPE (a vanished
 * peer must not kill the process).  0, or -1 with errno set (EAGAIN: the
 * socket's SO_SNDTIMEO ran out). */
int		send_all(int fd, const void *buf, size_t len);

/* write_all - write(2) all of buf to a file.  0, or -1 with errno set. */
int		write_all(int fd, const void *buf, size_t len);

/* io_set_nonblock - O_NONBLOCK on (a connect with a deadline) or off
 * (back to blocking I/O under SO_RCVTIMEO/SO_SNDTIMEO). */
int		io_set_nonblock(int fd, bool on, char *err, size_t errsz);

/* io_set_cloexec - FD_CLOEXEC, for a descriptor not made with *_CLOEXEC:
 * a handler's child process must not inherit our sockets. */
int		io_set_cloexec(int fd, char *err, size_t errsz);

/* io_set_timeouts - SO_RCVTIMEO and SO_SNDTIMEO of seconds (> 0): a peer
 * that stops talking or stops reading cannot hold a thread forever. */
int		io_set_timeouts(int fd, int seconds, char *err, size_t errsz);

/* io_set_recv_timeout - SO_RCVTIMEO alone, seconds >= 0 (0: none): how
 * long a read, or an accept() on a listener, waits. */
int		io_set_recv_timeout(int fd, int seconds, char *err,
		    size_t errsz);

/* io_set_send_timeout - SO_SNDTIMEO alone: a write to a peer that stopped
 * reading fails after seconds (> 0) instead of blocking. */
int		io_set_send_timeout(int fd, int seconds, char *err,
		    size_t errsz);

/* io_set_reuseaddr - SO_REUSEADDR on a listener: a restarted server binds
 * while the old connections linger in TIME_WAIT. */
int		io_set_reuseaddr(int fd, char *err, size_t errsz);

/* io_set_reuseport - SO_REUSEPORT on a listener: more processes may bind
 * the same port, and the kernel spreads new connections among them. */
int		io_set_reuseport(int fd, char *err, size_t errsz);

/* io_set_nodelay - TCP_NODELAY: replies go out whole, Nagle must not hold
 * one back waiting for an ACK. */
int		io_set_nodelay(int fd, char *err, size_t errsz);

/* io_set_v6only - IPV6_V6ONLY on or off; off, an IPv6 listener on :: also
 * takes IPv4 clients (as ::ffff:a.b.c.d). */
int		io_set_v6only(int fd, bool on, char *err, size_t errsz);

#endif /* SMTPD_IO_H */
