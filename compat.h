/* SPDX-License-Identifier: ISC */
/*
 * compat.h - the one place that knows which system we are built on.
 *
 * The server is written for Linux's calls where they are better (a socket
 * made close-on-exec in the same call, a send that cannot raise SIGPIPE, a
 * condition variable timed on the monotonic clock).  macOS and some BSDs
 * lack a few of them; for each, this header decides at build time whether
 * the system has it (HAVE_*), and a compat_* function uses it or falls back
 * to plain POSIX.1-2008:
 *
 *	compat_socket, compat_socketpair, compat_accept
 *		SOCK_CLOEXEC / accept4, else the call and fcntl(FD_CLOEXEC)
 *	compat_pipe	pipe2, else pipe and fcntl (FD_CLOEXEC, O_NONBLOCK)
 *	compat_send	MSG_NOSIGNAL, else SO_NOSIGPIPE set on every socket
 *			made here, else SIGPIPE blocked around the send
 *	compat_cond_init, compat_cond_timedwait
 *			a monotonic condition clock, else a wait for the time
 *			left, on the clock the condition variable has
 *	compat_thread_batch
 *			SCHED_BATCH for a worker thread, else nothing
 *	compat_setresuid, compat_setresgid
 *			setres[ug]id, else setuid/setgid, which for root set
 *			the real, effective and saved IDs alike
 *	compat_random	getrandom, else getentropy, else /dev/urandom
 *	compat_vasprintf
 *			vasprintf (glibc, macOS, the BSDs), else vsnprintf twice
 *	compat_fnmatch_casefold
 *			fnmatch(FNM_CASEFOLD), else fnmatch on lower-cased copies
 *
 * Every source file includes this header first, before any system header:
 * it asks for glibc's extensions (_GNU_SOURCE), which the Linux paths use.
 *
 * `make PORTABLE=1` builds with -D_POSIX_C_SOURCE=200809L -DSMTPD_PORTABLE:
 * no _GNU_SOURCE, and every HAVE_* below is 0, so the fallbacks are the
 * ones compiled and the whole test suite runs on them.  That is how the
 * paths macOS and the BSDs take are tested on Linux.  One HAVE_* can also
 * be forced from the command line (CPPFLAGS=-DHAVE_PIPE2=0).
 *
 * Internal: not installed.  Only the few call sites named above use it.
 */
#ifndef SMTPD_COMPAT_H
#define SMTPD_COMPAT_H

#if !defined(SMTPD_PORTABLE) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ---- what the system has -------------------------------------------- */

#ifdef SMTPD_PORTABLE
#define SMTPD_HAVE(x)	0
#else
#define SMTPD_HAVE(x)	(x)
#endif

/* accept4, pipe2 and SOCK_CLOEXEC came together: Linux 2.6.27, FreeBSD 10,
 * OpenBSD 5.7, NetBSD 8, DragonFly, illumos.  macOS has none of them. */
#ifndef HAVE_SOCK_CLOEXEC
# ifdef SOCK_CLOEXEC
#  define HAVE_SOCK_CLOEXEC	SMTPD_HAVE(1)
# else
#  define HAVE_SOCK_CLOEXEC	0
# endif
#endif
#ifndef HAVE_ACCEPT4
# define HAVE_ACCEPT4		HAVE_SOCK_CLOEXEC
#endif
#ifndef HAVE_PIPE2
# define HAVE_PIPE2		HAVE_SOCK_CLOEXEC
#endif

/* MSG_NOSIGNAL is POSIX.1-2008, but macOS has only SO_NOSIGPIPE. */
#ifndef HAVE_MSG_NOSIGNAL
# ifdef MSG_NOSIGNAL
#  define HAVE_MSG_NOSIGNAL	SMTPD_HAVE(1)
# else
#  define HAVE_MSG_NOSIGNAL	0
# endif
#endif
#ifndef HAVE_SO_NOSIGPIPE
# ifdef SO_NOSIGPIPE
#  define HAVE_SO_NOSIGPIPE	SMTPD_HAVE(1)
# else
#  define HAVE_SO_NOSIGPIPE	0
# endif
#endif

/* SCHED_BATCH is Linux's alone. */
#ifndef HAVE_SCHED_BATCH
# ifdef SCHED_BATCH
#  define HAVE_SCHED_BATCH	SMTPD_HAVE(1)
# else
#  define HAVE_SCHED_BATCH	0
# endif
#endif

/* pthread_condattr_setclock: everywhere but macOS. */
#ifndef HAVE_CONDATTR_SETCLOCK
# ifdef __APPLE__
#  define HAVE_CONDATTR_SETCLOCK	0
# else
#  define HAVE_CONDATTR_SETCLOCK	SMTPD_HAVE(1)
# endif
#endif

/* setresuid/setresgid: Linux and most BSDs; not macOS, not POSIX. */
#ifndef HAVE_SETRESUID
# if defined(__linux__) || defined(__FreeBSD__) || defined(__OpenBSD__) || \
    defined(__DragonFly__)
#  define HAVE_SETRESUID	SMTPD_HAVE(1)
# else
#  define HAVE_SETRESUID	0
# endif
#endif

/* gethostbyname_r/gethostbyaddr_r with glibc's signatures (server_fqdn);
 * elsewhere getaddrinfo and getnameinfo, which are thread-safe too. */
#ifndef HAVE_GETHOSTBYNAME_R
# ifdef __GLIBC__
#  define HAVE_GETHOSTBYNAME_R	SMTPD_HAVE(1)
# else
#  define HAVE_GETHOSTBYNAME_R	0
# endif
#endif

/* getrandom: Linux (glibc 2.25); getentropy: macOS, the BSDs. */
#ifndef HAVE_GETRANDOM
# if defined(__linux__) && defined(__GLIBC__)
#  define HAVE_GETRANDOM	SMTPD_HAVE(1)
# else
#  define HAVE_GETRANDOM	0
# endif
#endif
#ifndef HAVE_GETENTROPY
# if defined(__APPLE__) || defined(__OpenBSD__) || defined(__FreeBSD__)
#  define HAVE_GETENTROPY	SMTPD_HAVE(1)
# else
#  define HAVE_GETENTROPY	0
# endif
#endif
#if HAVE_GETRANDOM || (HAVE_GETENTROPY && !defined(__OpenBSD__))
#include <sys/random.h>
#endif

/* vasprintf: every libc we know, but POSIX.1-2008 has not got it. */
#ifndef HAVE_VASPRINTF
# define HAVE_VASPRINTF		SMTPD_HAVE(1)
#endif

/* FNM_CASEFOLD: glibc, macOS and the BSDs; POSIX only from 2024. */
#ifndef HAVE_FNM_CASEFOLD
# ifdef FNM_CASEFOLD
#  define HAVE_FNM_CASEFOLD	SMTPD_HAVE(1)
# else
#  define HAVE_FNM_CASEFOLD	0
# endif
#endif

/* SO_REUSEPORT (--reuse-port) is in every <sys/socket.h> we build on, but
 * glibc shows it, with every socket option POSIX does not name, only
 * outside strict POSIX mode; the PORTABLE build takes it from the kernel's
 * header, as glibc itself does. */
#if defined(SMTPD_PORTABLE) && defined(__linux__) && !defined(SO_REUSEPORT)
#include <asm/socket.h>
#endif

/* setgroups is not POSIX, yet every Unix has it and there is no POSIX way
 * to drop supplementary groups; glibc declares it only outside strict
 * POSIX mode, so the PORTABLE build declares it itself. */
#if defined(SMTPD_PORTABLE) && defined(__GLIBC__)
extern int	setgroups(size_t, const gid_t *);
#endif

/* ---- descriptors: close-on-exec from the start ------------------------
 *
 * A handler may start a program (Mailman 2's), which must not inherit our
 * sockets.  Where the flag cannot be given to the call that makes the
 * descriptor, fcntl() sets it right after: a thread that starts a program
 * in between could still pass one on, which the Linux path rules out.
 */

/* compat_fd_setup - FD_CLOEXEC, O_NONBLOCK when asked, SO_NOSIGPIPE on a
 * socket where MSG_NOSIGNAL is missing; on failure fd is closed. */
static inline int
compat_fd_setup(int fd, bool cloexec, bool nonblock, bool is_socket)
{
	int e, fl;

	if (cloexec && fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		goto fail;
	if (nonblock && ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0))
		goto fail;
#if !HAVE_MSG_NOSIGNAL && HAVE_SO_NOSIGPIPE
	if (is_socket) {
		int one = 1;

		if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one,
		    sizeof(one)) != 0)
			goto fail;
	}
#else
	(void)is_socket;
#endif
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* compat_socket - socket(2), close-on-exec. */
static inline int
compat_socket(int domain, int type, int protocol)
{
#if HAVE_SOCK_CLOEXEC
	int fd = socket(domain, type | SOCK_CLOEXEC, protocol);

	return fd < 0 ? -1 : compat_fd_setup(fd, false, false, true);
#else
	int fd = socket(domain, type, protocol);

	return fd < 0 ? -1 : compat_fd_setup(fd, true, false, true);
#endif
}

/* compat_socketpair - socketpair(2), both ends close-on-exec. */
static inline int
compat_socketpair(int domain, int type, int protocol, int sv[2])
{
#if HAVE_SOCK_CLOEXEC
	if (socketpair(domain, type | SOCK_CLOEXEC, protocol, sv) != 0)
		return -1;
	if (compat_fd_setup(sv[0], false, false, true) < 0) {
#else
	if (socketpair(domain, type, protocol, sv) != 0)
		return -1;
	if (compat_fd_setup(sv[0], true, false, true) < 0) {
#endif
		close(sv[1]);
		return -1;
	}
	if (compat_fd_setup(sv[1], !HAVE_SOCK_CLOEXEC, false, true) < 0) {
		close(sv[0]);
		return -1;
	}
	return 0;
}

/* compat_accept - accept(2), the new socket close-on-exec. */
static inline int
compat_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
#if HAVE_ACCEPT4
	int c = accept4(fd, sa, len, SOCK_CLOEXEC);

	return c < 0 ? -1 : compat_fd_setup(c, false, false, true);
#else
	int c = accept(fd, sa, len);

	return c < 0 ? -1 : compat_fd_setup(c, true, false, true);
#endif
}

/* compat_pipe - pipe(2) with flags, a subset of O_CLOEXEC | O_NONBLOCK,
 * applied to both ends. */
static inline int
compat_pipe(int fds[2], int flags)
{
#if HAVE_PIPE2
	return pipe2(fds, flags);
#else
	if (pipe(fds) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		if (compat_fd_setup(fds[i], (flags & O_CLOEXEC) != 0,
		    (flags & O_NONBLOCK) != 0, false) < 0) {
			if (i == 0)
				close(fds[1]);
			else
				close(fds[0]);
			return -1;
		}
	}
	return 0;
#endif
}

/* ---- a send that cannot kill the process -------------------------------
 *
 * A peer that has gone away makes send() raise SIGPIPE, whose default is
 * to end the process; a library must not change the program's signal
 * dispositions.  MSG_NOSIGNAL asks for EPIPE alone; where it is missing,
 * SO_NOSIGPIPE was set when the socket was made (compat_fd_setup); where
 * both are missing, SIGPIPE is blocked in this thread for the send, and a
 * SIGPIPE the send raised is taken off the pending set before the old
 * mask comes back.
 */

/* compat_send - send(2) that reports EPIPE and never raises SIGPIPE. */
static inline ssize_t
compat_send(int fd, const void *buf, size_t len, int flags)
{
#if HAVE_MSG_NOSIGNAL
	return send(fd, buf, len, flags | MSG_NOSIGNAL);
#elif HAVE_SO_NOSIGPIPE
	return send(fd, buf, len, flags);
#else
	sigset_t pipe_set, old, pending;
	bool was_pending;
	ssize_t n;
	int e, sig;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	n = send(fd, buf, len, flags);
	e = errno;
	if (n < 0 && e == EPIPE && !was_pending &&
	    sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE))
		sigwait(&pipe_set, &sig);	/* ours: take it back */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return n;
#endif
}

/* ---- condition variables on the monotonic clock ------------------------
 *
 * Timed waits (a stop's grace period, an idle worker, an inbox wait) take
 * a deadline on CLOCK_MONOTONIC, so setting the date cannot cut them
 * short or stretch them.  Without pthread_condattr_setclock the condition
 * variable runs on CLOCK_REALTIME: each wait is then for the time left
 * until the monotonic deadline, and a wait the wall clock ended early
 * returns 0 (a wake-up) for the caller to look again, as callers of a
 * condition variable always do.  (Setting the clock back during a wait
 * still stretches that one wait: the cost of the fallback.)
 */

/* compat_cond_init - a condition variable for compat_cond_timedwait. */
static inline void
compat_cond_init(pthread_cond_t *cond)
{
#if HAVE_CONDATTR_SETCLOCK
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &ca);
	pthread_condattr_destroy(&ca);
#else
	pthread_cond_init(cond, NULL);
#endif
}

/* compat_cond_timedwait - pthread_cond_timedwait until deadline, a time
 * on CLOCK_MONOTONIC; ETIMEDOUT once the deadline has passed. */
static inline int
compat_cond_timedwait(pthread_cond_t *cond, pthread_mutex_t *mutex,
    const struct timespec *deadline)
{
#if HAVE_CONDATTR_SETCLOCK
	return pthread_cond_timedwait(cond, mutex, deadline);
#else
	struct timespec now, wall;
	long long left_ns;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &now);
	left_ns = (long long)(deadline->tv_sec - now.tv_sec) * 1000000000LL +
	    (deadline->tv_nsec - now.tv_nsec);
	if (left_ns <= 0)
		return ETIMEDOUT;
	clock_gettime(CLOCK_REALTIME, &wall);
	left_ns += wall.tv_nsec;
	wall.tv_sec += (time_t)(left_ns / 1000000000LL);
	wall.tv_nsec = (long)(left_ns % 1000000000LL);
	rc = pthread_cond_timedwait(cond, mutex, &wall);
	if (rc == ETIMEDOUT) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec < deadline->tv_sec ||
		    (now.tv_sec == deadline->tv_sec &&
		    now.tv_nsec < deadline->tv_nsec))
			return 0;	/* the wall clock jumped: look again */
	}
	return rc;
#endif
}

/* ---- threads and identities ------------------------------------------ */

/* compat_thread_batch - put the calling thread under SCHED_BATCH (a
 * woken worker does not preempt the one running; --sched-batch).  Where
 * there is no SCHED_BATCH, nothing: the thread keeps the default policy. */
static inline void
compat_thread_batch(void)
{
#if HAVE_SCHED_BATCH
	struct sched_param sp = { .sched_priority = 0 };

	pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
#endif
}

/* compat_setresgid - set the real, effective and saved group IDs. */
static inline int
compat_setresgid(gid_t r, gid_t e, gid_t s)
{
#if HAVE_SETRESUID
	return setresgid(r, e, s);
#else
	/* setgid() sets all three when the process has the privilege (and
	 * when it has not, fails or sets only the effective ID, which the
	 * caller's check that root cannot come back catches). */
	if (r != e || e != s) {
		errno = EINVAL;
		return -1;
	}
	return setgid(r);
#endif
}

/* compat_setresuid - set the real, effective and saved user IDs. */
static inline int
compat_setresuid(uid_t r, uid_t e, uid_t s)
{
#if HAVE_SETRESUID
	return setresuid(r, e, s);
#else
	if (r != e || e != s) {
		errno = EINVAL;
		return -1;
	}
	return setuid(r);
#endif
}

/* ---- randomness ------------------------------------------------------ */

/* compat_random - fill buf with len bytes from the kernel's generator:
 * 0, or -1 with errno set. */
static inline int
compat_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		size_t n = len < 256 ? len : 256;	/* getentropy's limit */
#if HAVE_GETRANDOM
		ssize_t got = getrandom(p, n, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		n = (size_t)got;
#elif HAVE_GETENTROPY
		if (getentropy(p, n) != 0)
			return -1;
#else
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		ssize_t got;

		if (fd < 0)
			return -1;
		do
			got = read(fd, p, n);
		while (got < 0 && errno == EINTR);
		close(fd);
		if (got <= 0)
			return -1;
		n = (size_t)got;
#endif
		p += n;
		len -= n;
	}
	return 0;
}

/* ---- formatting ------------------------------------------------------ */

/* compat_vasprintf - *out = a malloc'd string formatted from fmt and ap:
 * its length, or -1 (out of memory) with *out undefined. */
static inline int
compat_vasprintf(char **out, const char *fmt, va_list ap)
{
#if HAVE_VASPRINTF
	return vasprintf(out, fmt, ap);
#else
	va_list again;
	int n;

	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, again);
	va_end(again);
	if (n < 0 || (*out = malloc((size_t)n + 1)) == NULL)
		return -1;
	return vsnprintf(*out, (size_t)n + 1, fmt, ap);
#endif
}

/* compat_fnmatch_casefold - fnmatch(pattern, s) ignoring ASCII case:
 * 0 for a match, FNM_NOMATCH otherwise (also when out of memory). */
static inline int
compat_fnmatch_casefold(const char *pattern, const char *s)
{
#if HAVE_FNM_CASEFOLD
	return fnmatch(pattern, s, FNM_CASEFOLD);
#else
	size_t pn = strlen(pattern) + 1, sn = strlen(s) + 1;
	char *lower = malloc(pn + sn);
	int rc;

	if (lower == NULL)
		return FNM_NOMATCH;
	for (size_t i = 0; i < pn; i++)
		lower[i] = (char)tolower((unsigned char)pattern[i]);
	for (size_t i = 0; i < sn; i++)
		lower[pn + i] = (char)tolower((unsigned char)s[i]);
	rc = fnmatch(lower, lower + pn, 0);
	free(lower);
	return rc == 0 ? 0 : FNM_NOMATCH;
#endif
}

#endif /* SMTPD_COMPAT_H */
