/* SPDX-License-Identifier: ISC */
/*
 * test_compat.c - compat.h's functions do what the Linux calls they stand
 * for do.  Built normally they test the Linux paths; built with
 * `make PORTABLE=1` the same tests run on every POSIX fallback.
 */
#include "compat.h"
#include "suite.h"

#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* is_cloexec - FD_CLOEXEC is set on fd. */
static bool
is_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC) != 0;
}

/* is_nonblock - O_NONBLOCK is set on fd. */
static bool
is_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && (fl & O_NONBLOCK) != 0;
}

static void
test_portable_build_takes_every_fallback(void)
{
#ifdef SMTPD_PORTABLE
	CU_ASSERT_EQUAL(HAVE_SOCK_CLOEXEC, 0);
	CU_ASSERT_EQUAL(HAVE_ACCEPT4, 0);
	CU_ASSERT_EQUAL(HAVE_PIPE2, 0);
	CU_ASSERT_EQUAL(HAVE_MSG_NOSIGNAL, 0);
	CU_ASSERT_EQUAL(HAVE_SO_NOSIGPIPE, 0);
	CU_ASSERT_EQUAL(HAVE_SCHED_BATCH, 0);
	CU_ASSERT_EQUAL(HAVE_CONDATTR_SETCLOCK, 0);
	CU_ASSERT_EQUAL(HAVE_SETRESUID, 0);
	CU_ASSERT_EQUAL(HAVE_GETHOSTBYNAME_R, 0);
	CU_ASSERT_EQUAL(HAVE_GETRANDOM, 0);
	CU_ASSERT_EQUAL(HAVE_GETENTROPY, 0);
	CU_ASSERT_EQUAL(HAVE_VASPRINTF, 0);
	CU_ASSERT_EQUAL(HAVE_FNM_CASEFOLD, 0);
#ifdef _GNU_SOURCE
	CU_FAIL("a PORTABLE build must not ask for _GNU_SOURCE");
#endif
#elif defined(__linux__)
	/* The Linux build keeps the Linux calls. */
	CU_ASSERT_EQUAL(HAVE_ACCEPT4, 1);
	CU_ASSERT_EQUAL(HAVE_PIPE2, 1);
	CU_ASSERT_EQUAL(HAVE_MSG_NOSIGNAL, 1);
	CU_ASSERT_EQUAL(HAVE_CONDATTR_SETCLOCK, 1);
#endif
}

static void
test_sockets_and_pipes_are_close_on_exec(void)
{
	int fd, sv[2], p[2];

	CU_ASSERT_FATAL((fd = compat_socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	CU_ASSERT(is_cloexec(fd));
	CU_ASSERT(!is_nonblock(fd));
	close(fd);

	CU_ASSERT_FATAL(compat_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CU_ASSERT(is_cloexec(sv[0]) && is_cloexec(sv[1]));
	close(sv[0]);
	close(sv[1]);

	CU_ASSERT_FATAL(compat_pipe(p, O_CLOEXEC | O_NONBLOCK) == 0);
	CU_ASSERT(is_cloexec(p[0]) && is_cloexec(p[1]));
	CU_ASSERT(is_nonblock(p[0]) && is_nonblock(p[1]));
	close(p[0]);
	close(p[1]);

	CU_ASSERT_FATAL(compat_pipe(p, 0) == 0);
	CU_ASSERT(!is_cloexec(p[0]) && !is_nonblock(p[1]));
	close(p[0]);
	close(p[1]);
}

static void
test_accepted_socket_is_close_on_exec(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int l, c, a;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL((l = compat_socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	CU_ASSERT_FATAL(bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    listen(l, 1) == 0 &&
	    getsockname(l, (struct sockaddr *)&sa, &len) == 0);
	CU_ASSERT_FATAL((c = compat_socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	CU_ASSERT_FATAL(connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	len = sizeof(sa);
	CU_ASSERT_FATAL((a = compat_accept(l, (struct sockaddr *)&sa,
	    &len)) >= 0);
	CU_ASSERT(is_cloexec(a));
	CU_ASSERT(ntohl(sa.sin_addr.s_addr) == INADDR_LOOPBACK);
	close(a);
	close(c);
	close(l);
}

/* A send to a peer that has gone is EPIPE, not the end of the process:
 * SIGPIPE keeps its default action (which would kill this test) while we
 * send, nothing is left pending, and the thread's mask is as it was. */
static void
test_send_to_a_closed_peer_is_epipe_not_sigpipe(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL }, old;
	sigset_t before, after, pending;
	int sv[2];
	ssize_t n;

	sigemptyset(&dfl.sa_mask);
	sigaction(SIGPIPE, &dfl, &old);
	pthread_sigmask(SIG_SETMASK, NULL, &before);
	CU_ASSERT_FATAL(compat_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	close(sv[1]);

	errno = 0;
	n = compat_send(sv[0], "x", 1, 0);
	CU_ASSERT_EQUAL(n, -1);
	CU_ASSERT_EQUAL(errno, EPIPE);
	sigpending(&pending);
	CU_ASSERT(!sigismember(&pending, SIGPIPE));
	pthread_sigmask(SIG_SETMASK, NULL, &after);
	CU_ASSERT_EQUAL(sigismember(&after, SIGPIPE),
	    sigismember(&before, SIGPIPE));

	close(sv[0]);
	sigaction(SIGPIPE, &old, NULL);
}

/* A send that works sends. */
static void
test_send_to_a_live_peer_delivers(void)
{
	char buf[8] = "";
	int sv[2];

	CU_ASSERT_FATAL(compat_socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CU_ASSERT_EQUAL(compat_send(sv[0], "hello", 5, 0), 5);
	CU_ASSERT_EQUAL(read(sv[1], buf, sizeof(buf) - 1), 5);
	CU_ASSERT_STRING_EQUAL(buf, "hello");
	close(sv[0]);
	close(sv[1]);
}

/* mono_ms - CLOCK_MONOTONIC in milliseconds. */
static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_cond_timedwait_ends_at_the_monotonic_deadline(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c;
	struct timespec deadline;
	long long start = mono_ms(), waited;
	int rc = 0, rounds = 0;

	compat_cond_init(&c);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_nsec += 150 * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&m);
	while (rc != ETIMEDOUT && rounds++ < 100)	/* a caller's loop */
		rc = compat_cond_timedwait(&c, &m, &deadline);
	pthread_mutex_unlock(&m);
	waited = mono_ms() - start;
	CU_ASSERT_EQUAL(rc, ETIMEDOUT);
	CU_ASSERT(waited >= 140);
	CU_ASSERT(waited < 5000);

	/* A deadline already past is ETIMEDOUT at once. */
	pthread_mutex_lock(&m);
	CU_ASSERT_EQUAL(compat_cond_timedwait(&c, &m, &deadline), ETIMEDOUT);
	pthread_mutex_unlock(&m);
	pthread_cond_destroy(&c);
}

/* Two draws of 300 bytes (more than getentropy gives at once) differ,
 * and neither is left zero. */
static void
test_random_fills_the_buffer(void)
{
	unsigned char a[300], b[300], zero[300] = { 0 };

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	CU_ASSERT_EQUAL(compat_random(a, sizeof(a)), 0);
	CU_ASSERT_EQUAL(compat_random(b, sizeof(b)), 0);
	CU_ASSERT(memcmp(a, b, sizeof(a)) != 0);
	CU_ASSERT(memcmp(a + 200, zero, 100) != 0);
	CU_ASSERT_EQUAL(compat_random(a, 0), 0);
}

/* vformat - compat_vasprintf through "..." */
static int
vformat(char **out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = compat_vasprintf(out, fmt, ap);
	va_end(ap);
	return n;
}

static void
test_vasprintf_formats_into_a_new_string(void)
{
	char *s = NULL, big[3000];

	CU_ASSERT_EQUAL(vformat(&s, "%d %s", 550, "No such user"), 16);
	CU_ASSERT_STRING_EQUAL(s, "550 No such user");
	free(s);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_EQUAL(vformat(&s, "<%s>", big), (int)sizeof(big) + 1);
	CU_ASSERT(s != NULL && s[0] == '<' && s[sizeof(big)] == '>');
	free(s);
}

static void
test_fnmatch_casefold_ignores_case(void)
{
	CU_ASSERT_EQUAL(compat_fnmatch_casefold("*@Example.COM",
	    "Ann@example.com"), 0);
	CU_ASSERT_EQUAL(compat_fnmatch_casefold("bounce-[A-C]*@*",
	    "BOUNCE-b1@x.test"), 0);
	CU_ASSERT_EQUAL(compat_fnmatch_casefold("*@example.com",
	    "ann@example.org"), FNM_NOMATCH);
}

int	unit_add_compat_tests(void);

int
unit_add_compat_tests(void)
{
	static const struct unit_test tests[] = {
		{ "portable build takes every fallback",
		    test_portable_build_takes_every_fallback },
		{ "sockets and pipes are close-on-exec",
		    test_sockets_and_pipes_are_close_on_exec },
		{ "accepted socket is close-on-exec",
		    test_accepted_socket_is_close_on_exec },
		{ "send to a closed peer is EPIPE, not SIGPIPE",
		    test_send_to_a_closed_peer_is_epipe_not_sigpipe },
		{ "send to a live peer delivers",
		    test_send_to_a_live_peer_delivers },
		{ "cond timedwait ends at the monotonic deadline",
		    test_cond_timedwait_ends_at_the_monotonic_deadline },
		{ "random fills the buffer",
		    test_random_fills_the_buffer },
		{ "vasprintf formats into a new string",
		    test_vasprintf_formats_into_a_new_string },
		{ "fnmatch casefold ignores case",
		    test_fnmatch_casefold_ignores_case },
	};

	return unit_add_suite("compat", tests, sizeof(tests) / sizeof(tests[0]));
}
