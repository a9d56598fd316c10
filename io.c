/* SPDX-License-Identifier: ISC */
/*
 * io.c - a monotonic clock and the send/write loops (io.h).
 */
#include "compat.h"
#include "io.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

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
