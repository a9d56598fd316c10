/* SPDX-License-Identifier: ISC */
/*
 * io.h - the few system helpers every part of the server shares: a
 * monotonic clock for deadlines, and "send or write all of it" loops that
 * retry after EINTR.  Internal: not installed.
 */
#ifndef SMTPD_IO_H
#define SMTPD_IO_H

#include <stddef.h>

/* now_ms - CLOCK_MONOTONIC in milliseconds, for deadlines. */
long long	now_ms(void);

/* send_all - send(2) all of buf to a socket, without SIGPIPE (a vanished
 * peer must not kill the process).  0, or -1 with errno set (EAGAIN: the
 * socket's SO_SNDTIMEO ran out). */
int		send_all(int fd, const void *buf, size_t len);

/* write_all - write(2) all of buf to a file.  0, or -1 with errno set. */
int		write_all(int fd, const void *buf, size_t len);

#endif /* SMTPD_IO_H */
