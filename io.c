/* SPDX-License-Identifier: ISC */
/*
 * io.c - a monotonic clock, the send/write loops and the descriptor
 * options (io.h).
 */
#include "compat.h"
#include "io.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

int
io_close_keep_errno(int fd)
{
	int e = errno;

	close(fd);
	errno = e;
	return -1;
}

long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * One loop for both: a short count is carried on from where it stopped,
 * EINTR is tried again, anything else is the caller's to report.
 */
static int
put_all(int fd, const void *buf, size_t len, int is_socket)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = is_socket ? compat_send(fd, p, len, 0) :
		    write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
send_all(int fd, const void *buf, size_t len)
{
	return put_all(fd, buf, len, 1);
}

int
write_all(int fd, const void *buf, size_t len)
{
	return put_all(fd, buf, len, 0);
}

/* io_fail - the reason for a failed call, into err (which may be NULL:
 * the caller then reads errno, kept as the call left it); returns -1. */
static int
io_fail(const char *what, char *err, size_t errsz)
{
	int e = errno;

	if (err != NULL && errsz > 0)
		snprintf(err, errsz, "%s: %s", what, strerror(e));
	errno = e;
	return -1;
}

/* io_setsockopt - one option, or -1 with what failed in err. */
static int
io_setsockopt(int fd, int level, int name, const void *val, socklen_t len,
    const char *what, char *err, size_t errsz)
{
	if (setsockopt(fd, level, name, val, len) != 0)
		return io_fail(what, err, errsz);
	return 0;
}

int
io_set_nonblock(int fd, bool on, char *err, size_t errsz)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0)
		return io_fail("fcntl F_GETFL", err, errsz);
	flags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
	if (fcntl(fd, F_SETFL, flags) != 0)
		return io_fail("fcntl O_NONBLOCK", err, errsz);
	return 0;
}

int
io_set_cloexec(int fd, char *err, size_t errsz)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0)
		return io_fail("fcntl FD_CLOEXEC", err, errsz);
	return 0;
}

int
io_set_send_timeout(int fd, int seconds, char *err, size_t errsz)
{
	struct timeval tv = { .tv_sec = seconds };

	return io_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv),
	    "setsockopt SO_SNDTIMEO", err, errsz);
}

int
io_set_recv_timeout(int fd, int seconds, char *err, size_t errsz)
{
	struct timeval tv = { .tv_sec = seconds };

	return io_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv),
	    "setsockopt SO_RCVTIMEO", err, errsz);
}

int
io_set_timeouts(int fd, int seconds, char *err, size_t errsz)
{
	if (io_set_recv_timeout(fd, seconds, err, errsz) != 0)
		return -1;
	return io_set_send_timeout(fd, seconds, err, errsz);
}

int
io_set_reuseaddr(int fd, char *err, size_t errsz)
{
	int one = 1;

	return io_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one),
	    "setsockopt SO_REUSEADDR", err, errsz);
}

int
io_set_reuseport(int fd, char *err, size_t errsz)
{
	int one = 1;

	return io_setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one),
	    "setsockopt SO_REUSEPORT", err, errsz);
}

int
io_set_nodelay(int fd, char *err, size_t errsz)
{
	int one = 1;

	return io_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one),
	    "setsockopt TCP_NODELAY", err, errsz);
}

int
io_set_v6only(int fd, bool on, char *err, size_t errsz)
{
	int v = on;

	return io_setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v),
	    "setsockopt IPV6_V6ONLY", err, errsz);
}

ssize_t
io_file_line(FILE *f, char *buf, size_t bufsz)
{
	size_t n = 0, max = bufsz - 1 < IO_FILE_LINE_MAX ? bufsz - 1 :
	    IO_FILE_LINE_MAX;
	int c;

	while ((c = getc(f)) != EOF) {
		if (c == '\n')
			break;
		if (n == max)
			return IO_LINE_TOO_LONG;
		buf[n++] = (char)c;
	}
	if (c == EOF && ferror(f))
		return IO_LINE_ERROR;
	if (c == EOF && n == 0)
		return IO_LINE_EOF;
	buf[n] = '\0';
	return (ssize_t)n;
}

size_t
io_parse_duration(const char *s, long long max_ms, long long *ms)
{
	const char *p = s;
	double v, scale;
	char *end;

	if (!isdigit((unsigned char)*p))
		return 0;
	errno = 0;
	v = strtod(p, &end);
	/* strtod also takes "1e3", "0x10", "inf": digits and a dot only. */
	for (const char *q = p; q < end; q++)
		if (!isdigit((unsigned char)*q) && *q != '.')
			return 0;
	if (errno != 0)
		return 0;
	p = end;
	if (strncmp(p, "ms", 2) == 0) {
		scale = 1;
		p += 2;
	} else if (*p == 's') {
		scale = 1000;
		p++;
	} else if (*p == 'm') {
		scale = 60000;
		p++;
	} else {
		return 0;
	}
	if (isalnum((unsigned char)*p))
		return 0;
	v *= scale;
	/* Past the bound it is the bound + 1: the caller says "too long". */
	if (v > (double)max_ms + 1)
		v = (double)max_ms + 1;
	*ms = (long long)(v + 0.5);
	return (size_t)(p - s);
}
