/* SPDX-License-Identifier: ISC */
/*
 * test_server.c - the library's API, as an embedding program uses it:
 * servers started on 127.0.0.1 port 0 inside this process, clients on
 * real sockets, messages collected in an inbox (inbox.h).
 *
 * Everything that waits has a bound: client sockets time out after
 * CLIENT_TIMEOUT seconds, inbox waits after WAIT_MS, and threads are
 * joined with a deadline.  A test that would hang fails instead.
 */
#define _GNU_SOURCE
#include "server.h"
#include "channel.h"
#include "inbox.h"
#include "suite.h"

#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CLIENT_TIMEOUT	5		/* seconds a client waits for a reply */
#define WAIT_MS		5000		/* inbox waits */
#define JOIN_SECONDS	10		/* joining a helper thread */

int	unit_add_server_tests(void);

/* ---- helpers: servers ------------------------------------------------ */

/* now_ms - a monotonic clock in milliseconds. */
static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* test_config - 127.0.0.1, an ephemeral port, a fixed name (no DNS), and
 * a timeout so that a stuck client cannot hang a test. */
static void
test_config(struct smtpd_config *cfg, struct smtpd_handler handler)
{
	smtpd_config_init(cfg);
	cfg->host = "127.0.0.1";
	cfg->port = 0;
	cfg->fqdn = "test.example";
	cfg->timeout = 10;
	cfg->handler = handler;
}

/* server_up - new and start, or NULL (the test has failed). */
static struct smtpd_server *
server_up(const struct smtpd_config *cfg)
{
	struct smtpd_server *srv;
	char err[256] = "";

	if (smtpd_server_new(cfg, &srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "smtpd_server_new: %s\n", err);
		return NULL;
	}
	if (smtpd_server_start(srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "smtpd_server_start: %s\n", err);
		smtpd_server_free(srv);
		return NULL;
	}
	return srv;
}

/* join_within - join a thread, giving up after JOIN_SECONDS. */
static bool
join_within(pthread_t t)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += JOIN_SECONDS;
	return pthread_timedjoin_np(t, NULL, &deadline) == 0;
}

/* ---- helpers: a client on a real socket ------------------------------ */

/* client_reply - read one whole reply (every line of a multi-line one)
 * into buf, without the final CRLF; false on timeout or close.  It reads
 * a byte at a time so as never to take the start of the next reply. */
static bool
client_reply(int fd, char *buf, size_t size)
{
	size_t len = 0, line = 0;

	for (;;) {
		if (len == size - 1 || recv(fd, buf + len, 1, 0) != 1)
			return false;
		buf[++len] = '\0';
		if (len - line < 2 || strcmp(buf + len - 2, "\r\n") != 0)
			continue;
		/* A line is complete: "250-..." says more follow. */
		if (len - line > 5 && buf[line + 3] == '-') {
			line = len;
			continue;
		}
		buf[len - 2] = '\0';
		return true;
	}
}

/* client_open_on - connect to ip ("127.0.0.1", "::1"):port without
 * reading anything; -1 with errno set on failure. */
static int
client_open_on(const char *ip, int port)
{
	struct sockaddr_in6 six = { .sin6_family = AF_INET6 };
	struct sockaddr_in four = { .sin_family = AF_INET };
	struct sockaddr *sa = (struct sockaddr *)&four;
	socklen_t salen = sizeof(four);
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT };
	int fd, e;

	four.sin_port = six.sin6_port = htons((unsigned short)port);
	if (inet_pton(AF_INET6, ip, &six.sin6_addr) == 1) {
		sa = (struct sockaddr *)&six;
		salen = sizeof(six);
	} else if (inet_pton(AF_INET, ip, &four.sin_addr) != 1) {
		errno = EINVAL;
		return -1;
	}
	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, sa, salen) != 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* client_open - connect to 127.0.0.1:port without reading anything. */
static int
client_open(int port)
{
	return client_open_on("127.0.0.1", port);
}

/* client_connect - connect and read the greeting into greeting (if not
 * NULL); -1 on failure. */
static int
client_connect(int port, char *greeting, size_t size)
{
	char buf[512];
	int fd;

	if ((fd = client_open(port)) < 0)
		return -1;
	if (!client_reply(fd, greeting ? greeting : buf,
	    greeting ? size : sizeof(buf))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* client_send - write all of s. */
static bool
client_send(int fd, const char *s)
{
	size_t len = strlen(s);

	return send(fd, s, len, MSG_NOSIGNAL) == (ssize_t)len;
}

/* client_command - send a line and return the reply, in one of a few
 * rotating buffers of the calling thread (so two may be compared in one
 * assertion, and client threads do not share them). */
static const char *
client_command(int fd, const char *line)
{
	static _Thread_local char replies[4][4096];
	static _Thread_local int next;
	char *r = replies[next++ % 4];

	if (!client_send(fd, line) || !client_reply(fd, r, sizeof(replies[0])))
		snprintf(r, sizeof(replies[0]), "(no reply)");
	return r;
}

/* client_mail - one whole message, one recipient, QUIT; true when every
 * reply was the expected one. */
static bool
client_mail(int port, const char *from, const char *to, const char *text)
{
	char line[512];
	int fd;
	bool ok;

	if ((fd = client_connect(port, NULL, 0)) < 0)
		return false;
	ok = strcmp(client_command(fd, "HELO client.test\r\n"),
	    "250 test.example") == 0;
	snprintf(line, sizeof(line), "MAIL FROM:<%s>\r\n", from);
	ok = ok && strcmp(client_command(fd, line), "250 OK") == 0;
	snprintf(line, sizeof(line), "RCPT TO:<%s>\r\n", to);
	ok = ok && strcmp(client_command(fd, line), "250 OK") == 0;
	ok = ok && strncmp(client_command(fd, "DATA\r\n"), "354", 3) == 0;
	ok = ok && client_send(fd, text);
	ok = ok && strcmp(client_command(fd, "\r\n.\r\n"), "250 OK") == 0;
	ok = ok && strcmp(client_command(fd, "QUIT\r\n"), "221 Bye") == 0;
	close(fd);
	return ok;
}

/* client_in_data - a session that has sent DATA, got 354, and part of a
 * message; -1 on failure. */
static int
client_in_data(int port)
{
	int fd;

	if ((fd = client_connect(port, NULL, 0)) < 0)
		return -1;
	if (strncmp(client_command(fd, "HELO client.test\r\n"), "250", 3) ||
	    strcmp(client_command(fd, "MAIL FROM:<a@test>\r\n"), "250 OK") ||
	    strcmp(client_command(fd, "RCPT TO:<b@test>\r\n"), "250 OK") ||
	    strncmp(client_command(fd, "DATA\r\n"), "354", 3) ||
	    !client_send(fd, "Subject: half\r\n\r\nthe first half\r\n")) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- helpers: counting what the process holds ------------------------ */

/* dir_entries - entries in a /proc directory, "." and ".." excepted. */
static int
dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n - (strcmp(path, "/proc/self/fd") == 0);	/* opendir's */
}

/* resident_kib - the process's resident memory. */
static long
resident_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

struct usage {
	int	threads, fds;
	long	heap, rss_kib;
};

static struct usage
usage_now(void)
{
	struct usage u;

	u.threads = dir_entries("/proc/self/task");
	u.fds = dir_entries("/proc/self/fd");
#ifdef __GLIBC__
	u.heap = (long)mallinfo2().uordblks;
#else
	u.heap = 0;		/* mallinfo2 is glibc's; /proc is Linux's */
#endif
	u.rss_kib = resident_kib();
	return u;
}

/* ---- lifecycle --------------------------------------------------------- */

/* One cycle: a server, a client that is greeted and says QUIT, a stop. */
static bool
start_talk_stop(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	bool ok;
	int fd;

	test_config(&cfg, smtpd_handler_sink());
	if ((srv = server_up(&cfg)) == NULL)
		return false;
	fd = client_connect(smtpd_server_port(srv), NULL, 0);
	ok = fd >= 0 && strcmp(client_command(fd, "QUIT\r\n"), "221 Bye") == 0;
	if (fd >= 0)
		close(fd);
	smtpd_server_stop(srv);
	smtpd_server_free(srv);
	return ok;
}

#define CYCLES		1000
#define WARMUP		20

/*
 * Under AddressSanitizer freed memory waits in a quarantine and under
 * ThreadSanitizer every access has shadow memory, so the resident size
 * grows without a leak; there LeakSanitizer (at exit) and the thread and
 * descriptor counts are the checks.
 */
#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || \
    __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MEMORY_MEASURABLE	false
#else
#define MEMORY_MEASURABLE	true
#endif

static void
test_start_stop_1000_times_leaves_no_threads_fds_or_memory(void)
{
	struct usage before, after;
	int failed = 0;
	long t0;

	/* Let stdio, the resolver and glibc's thread stack cache reach
	 * their steady state before counting. */
	for (int i = 0; i < WARMUP; i++)
		failed += !start_talk_stop();
	before = usage_now();
	t0 = now_ms();
	for (int i = 0; i < CYCLES; i++)
		failed += !start_talk_stop();
	after = usage_now();

	printf("\n    %d x start/talk/stop in %ld ms: threads %d -> %d, "
	    "fds %d -> %d, heap in use %ld -> %ld B, RSS %ld -> %ld KiB\n",
	    CYCLES, now_ms() - t0, before.threads, after.threads, before.fds,
	    after.fds, before.heap, after.heap, before.rss_kib,
	    after.rss_kib);
	CU_ASSERT_EQUAL(failed, 0);
	CU_ASSERT_EQUAL(after.threads, before.threads);
	CU_ASSERT_EQUAL(after.fds, before.fds);
	/* A leak of even a few bytes a cycle would show as kilobytes. */
	if (MEMORY_MEASURABLE) {
		CU_ASSERT(after.heap - before.heap < 4096);
		CU_ASSERT(after.rss_kib - before.rss_kib < 2048);
	}
}

/* One version: the library's at run time is the headers', 2.2 or later
 * (the 2.2 fields, the HTTP side, are there). */
static void
test_version_is_the_headers_and_at_least_2_2(void)
{
	unsigned major = 0, minor = 0, patch = 0;

	CU_ASSERT_STRING_EQUAL(smtpd_version(), SMTPD_VERSION);
	CU_ASSERT_EQUAL(sscanf(smtpd_version(), "%u.%u.%u", &major, &minor,
	    &patch), 3);
	CU_ASSERT(major > 2 || (major == 2 && minor >= 2));
}

static void
test_port_zero_binds_an_ephemeral_port(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	char greeting[512];
	int fd;

	test_config(&cfg, smtpd_handler_sink());
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
	CU_ASSERT(smtpd_server_port(srv) > 0);
	fd = client_connect(smtpd_server_port(srv), greeting, sizeof(greeting));
	CU_ASSERT(fd >= 0);
	CU_ASSERT_STRING_EQUAL(greeting, "220 test.example smtpd "
	    SMTPD_VERSION);
	if (fd >= 0)
		close(fd);
	smtpd_server_free(srv);
}

static void
test_invalid_port_is_an_error_with_a_message(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv = (struct smtpd_server *)&cfg;
	char err[256] = "";

	test_config(&cfg, smtpd_handler_sink());
	cfg.port = 65536;
	CU_ASSERT_EQUAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(srv);
	CU_ASSERT_STRING_EQUAL(err, "invalid port: 65536");
}

static void
test_smtputf8_with_decode_data_is_an_error_with_pythons_message(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	char err[256] = "";

	test_config(&cfg, smtpd_handler_sink());
	cfg.enable_smtputf8 = true;
	cfg.decode_data = true;
	CU_ASSERT_EQUAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "decode_data and enable_SMTPUTF8 cannot "
	    "be set to True at the same time");
}

static void
test_handler_without_process_message_is_refused_with_a_message(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv = (struct smtpd_server *)&cfg;
	struct smtpd_handler h = { .name = "Forgetful" };
	char err[256] = "";

	/* It would answer 250 after DATA and deliver nothing. */
	test_config(&cfg, h);
	CU_ASSERT_EQUAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(srv);
	CU_ASSERT_STRING_EQUAL(err,
	    "handler \"Forgetful\" has no process_message");
}

static void
test_sink_handler_delivers_by_discarding(void)
{
	struct smtpd_handler sink = smtpd_handler_sink();

	CU_ASSERT_PTR_NOT_NULL(sink.process_message);
	CU_ASSERT_STRING_EQUAL(sink.name, "Sink");
}

static void
test_config_not_made_by_config_init_is_refused_with_a_message(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	char err[256] = "";

	test_config(&cfg, smtpd_handler_sink());
	cfg.size = 0;			/* as memset or "= { 0 }" leaves it */
	CU_ASSERT_EQUAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "fill it with smtpd_config_init"));
	cfg.size = sizeof(cfg) + 8;	/* a program built for a newer library */
	CU_ASSERT_EQUAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "struct smtpd_config from a newer "
	    "libsmtpd"));
}

/* greets_on - a client on ip:port gets the 220 greeting. */
static bool
greets_on(const char *ip, int port)
{
	char buf[512];
	int fd = client_open_on(ip, port);
	bool ok;

	if (fd < 0)
		return false;
	ok = client_reply(fd, buf, sizeof(buf)) && strncmp(buf, "220 ", 4) == 0;
	close(fd);
	return ok;
}

/* ipv6_usable - this machine can open an IPv6 socket at all. */
static bool
ipv6_usable(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void
test_no_host_listens_on_ipv6_and_ipv4_on_one_port(void)
{
	const char *hosts[] = { NULL, "" };

	for (size_t i = 0; i < 2; i++) {
		struct smtpd_config cfg;
		struct smtpd_server *srv;

		test_config(&cfg, smtpd_handler_sink());
		cfg.host = hosts[i];
		CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
		CU_ASSERT(greets_on("127.0.0.1", smtpd_server_port(srv)));
		if (ipv6_usable())
			CU_ASSERT(greets_on("::1", smtpd_server_port(srv)));
		smtpd_server_free(srv);
	}
}

static void
test_port_in_use_is_an_error_at_start(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *a, *b;
	char err[256] = "";

	test_config(&cfg, smtpd_handler_sink());
	CU_ASSERT_PTR_NOT_NULL_FATAL(a = server_up(&cfg));
	cfg.port = smtpd_server_port(a);
	CU_ASSERT_EQUAL_FATAL(smtpd_server_new(&cfg, &b, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(smtpd_server_start(b, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot listen on 127.0.0.1:"));
	smtpd_server_free(b);
	smtpd_server_free(a);
}

static void
test_start_twice_is_an_error(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	char err[256] = "";

	test_config(&cfg, smtpd_handler_sink());
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
	CU_ASSERT_EQUAL(smtpd_server_start(srv, err, sizeof(err)), -1);
	CU_ASSERT_STRING_EQUAL(err, "server already started or stopped");
	smtpd_server_free(srv);
}

static void
test_free_without_stop_stops_the_server(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	int port, fd;

	test_config(&cfg, smtpd_handler_sink());
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
	port = smtpd_server_port(srv);
	smtpd_server_free(srv);
	fd = client_open(port);
	CU_ASSERT(fd < 0);		/* nobody listens any more */
	if (fd >= 0)
		close(fd);
}

static void *
serve_forever_thread(void *arg)
{
	char err[256];

	smtpd_server_serve_forever(arg, err, sizeof(err));
	return NULL;
}

static void
test_serve_forever_returns_after_stop_from_another_thread(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	pthread_t t;
	char err[256] = "";
	int fd;

	test_config(&cfg, smtpd_handler_sink());
	CU_ASSERT_EQUAL_FATAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)),
	    0);
	CU_ASSERT_EQUAL_FATAL(smtpd_server_listen(srv, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, serve_forever_thread,
	    srv), 0);
	fd = client_connect(smtpd_server_port(srv), NULL, 0);
	CU_ASSERT(fd >= 0);		/* it is serving */
	smtpd_server_stop(srv);
	CU_ASSERT(join_within(t));
	if (fd >= 0)
		close(fd);
	smtpd_server_free(srv);
}

static void
test_two_servers_deliver_to_their_own_inboxes(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *a, *b;
	struct smtpd_inbox *ia = smtpd_inbox_new(), *ib = smtpd_inbox_new();
	struct smtpd_message *m;

	test_config(&cfg, smtpd_handler_inbox(ia));
	CU_ASSERT_PTR_NOT_NULL_FATAL(a = server_up(&cfg));
	cfg.handler = smtpd_handler_inbox(ib);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b = server_up(&cfg));
	CU_ASSERT_NOT_EQUAL(smtpd_server_port(a), smtpd_server_port(b));

	CU_ASSERT(client_mail(smtpd_server_port(a), "x@test", "to-a@test",
	    "Subject: for a\r\n\r\na"));
	CU_ASSERT(client_mail(smtpd_server_port(b), "x@test", "to-b@test",
	    "Subject: for b\r\n\r\nb"));
	CU_ASSERT(smtpd_inbox_wait(ia, 1, WAIT_MS));
	CU_ASSERT(smtpd_inbox_wait(ib, 1, WAIT_MS));
	CU_ASSERT_EQUAL(smtpd_inbox_count(ia), 1);
	CU_ASSERT_EQUAL(smtpd_inbox_count(ib), 1);
	if ((m = smtpd_inbox_get(ia, 0)) != NULL) {
		CU_ASSERT_STRING_EQUAL(m->rcpttos[0], "to-a@test");
		smtpd_inbox_message_free(m);
	}
	if ((m = smtpd_inbox_get(ib, 0)) != NULL) {
		CU_ASSERT_STRING_EQUAL(m->rcpttos[0], "to-b@test");
		smtpd_inbox_message_free(m);
	}
	smtpd_server_free(a);
	smtpd_server_free(b);
	smtpd_inbox_free(ia);
	smtpd_inbox_free(ib);
}

/* ---- stopping with clients in DATA -------------------------------------- */

#define MID_DATA_CLIENTS	8

static void
test_stop_during_data_delivers_nothing_and_cuts_clients_off(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	int fds[MID_DATA_CLIENTS];
	long t0;

	test_config(&cfg, smtpd_handler_inbox(inbox));
	cfg.shutdown_grace = 0;		/* no time to finish */
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
	for (int i = 0; i < MID_DATA_CLIENTS; i++) {
		fds[i] = client_in_data(smtpd_server_port(srv));
		CU_ASSERT(fds[i] >= 0);
	}
	t0 = now_ms();
	smtpd_server_stop(srv);
	CU_ASSERT(now_ms() - t0 < 3000);
	CU_ASSERT_EQUAL(smtpd_server_connections(srv), 0);

	/* The rest of the message arrives too late: never a 250. */
	for (int i = 0; i < MID_DATA_CLIENTS; i++) {
		char buf[512];

		if (fds[i] < 0)
			continue;
		(void)client_send(fds[i], "the second half\r\n.\r\n");
		if (client_reply(fds[i], buf, sizeof(buf)))
			CU_ASSERT_NOT_EQUAL(strncmp(buf, "250", 3), 0);
		close(fds[i]);
	}
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 0);
	smtpd_server_free(srv);
	smtpd_inbox_free(inbox);
}

static void
test_stop_during_data_cuts_off_after_the_grace_period(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	long t0, took;
	int fd;

	test_config(&cfg, smtpd_handler_inbox(inbox));
	cfg.shutdown_grace = 1;
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
	fd = client_in_data(smtpd_server_port(srv));
	CU_ASSERT(fd >= 0);
	t0 = now_ms();
	smtpd_server_stop(srv);		/* the client never finishes */
	took = now_ms() - t0;
	CU_ASSERT(took >= 900 && took < 3000);
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 0);
	if (fd >= 0)
		close(fd);
	smtpd_server_free(srv);
	smtpd_inbox_free(inbox);
}

static void *
stop_thread(void *arg)
{
	smtpd_server_stop(arg);
	return NULL;
}

static void
test_stop_lets_a_message_in_data_finish_within_the_grace_period(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	pthread_t t;
	char buf[512];
	int fd, probe, port;
	long deadline;

	test_config(&cfg, smtpd_handler_inbox(inbox));
	cfg.shutdown_grace = 5;
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
	port = smtpd_server_port(srv);
	CU_ASSERT_FATAL((fd = client_in_data(port)) >= 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, stop_thread, srv), 0);

	/* The stop has begun once the server no longer accepts. */
	deadline = now_ms() + WAIT_MS;
	while ((probe = client_open(port)) >= 0 && now_ms() < deadline) {
		close(probe);
		usleep(10000);
	}
	CU_ASSERT(probe < 0);

	CU_ASSERT_STRING_EQUAL(client_command(fd, "the second half\r\n.\r\n"),
	    "250 OK");
	/* Between messages now, the client is let go. */
	CU_ASSERT(client_reply(fd, buf, sizeof(buf)) &&
	    strcmp(buf, "421 test.example Error: shutting down") == 0);
	CU_ASSERT(join_within(t));
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 1);
	close(fd);
	smtpd_server_free(srv);
	smtpd_inbox_free(inbox);
}

/* ---- hooks and extensions --------------------------------------------- */

static const char *
refuse_helo(struct smtpd_channel *ch, const char *name, void *ctx)
{
	(void)ch;
	(void)ctx;
	return strcmp(name, "bad.test") == 0 ?
	    "554 5.7.1 <bad.test>: Helo command rejected" : NULL;
}

static const char *
refuse_mail(struct smtpd_channel *ch, const char *address, void *ctx)
{
	(void)ch;
	(void)ctx;
	return strcmp(address, "spammer@test") == 0 ?
	    "553 5.7.1 <spammer@test>: Sender address rejected" : NULL;
}

static const char *
refuse_rcpt(struct smtpd_channel *ch, const char *address, void *ctx)
{
	(void)ctx;
	/* smtpd_channel_reply formats into storage the channel owns. */
	return strcmp(address, "nobody@test") == 0 ?
	    smtpd_channel_reply(ch, "550 5.1.1 <%s>: No such user", address) :
	    NULL;
}

static const char *
refuse_data(struct smtpd_channel *ch, const struct smtpd_message *m,
    void *ctx)
{
	(void)ch;
	(void)ctx;
	return strstr(m->data, "viagra") ?
	    "554 5.7.1 Message refused: it looks like spam" : NULL;
}

static const char *
refuse_connect(struct smtpd_channel *ch, void *ctx)
{
	(void)ctx;
	return smtpd_channel_reply(ch, "554 %s go away", "test.example");
}

/* hooked_server - a server with every refusing hook but on_connect. */
static struct smtpd_server *
hooked_server(struct smtpd_inbox *inbox)
{
	struct smtpd_config cfg;

	test_config(&cfg, smtpd_handler_inbox(inbox));
	cfg.hooks.on_helo = refuse_helo;
	cfg.hooks.on_mail = refuse_mail;
	cfg.hooks.on_rcpt = refuse_rcpt;
	cfg.hooks.on_data = refuse_data;
	return server_up(&cfg);
}

static void
test_helo_hook_reply_reaches_the_client_verbatim(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct smtpd_server *srv;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = hooked_server(inbox));
	CU_ASSERT_FATAL((fd = client_connect(smtpd_server_port(srv), NULL,
	    0)) >= 0);
	CU_ASSERT_STRING_EQUAL(client_command(fd, "EHLO bad.test\r\n"),
	    "554 5.7.1 <bad.test>: Helo command rejected");
	/* The refused greeting did not count. */
	CU_ASSERT_STRING_EQUAL(client_command(fd, "MAIL FROM:<a@test>\r\n"),
	    "503 Error: send HELO first");
	close(fd);
	smtpd_server_free(srv);
	smtpd_inbox_free(inbox);
}

static void
test_mail_hook_reply_reaches_the_client_verbatim(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct smtpd_server *srv;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = hooked_server(inbox));
	CU_ASSERT_FATAL((fd = client_connect(smtpd_server_port(srv), NULL,
	    0)) >= 0);
	client_command(fd, "HELO good.test\r\n");
	CU_ASSERT_STRING_EQUAL(client_command(fd,
	    "MAIL FROM:<spammer@test>\r\n"),
	    "553 5.7.1 <spammer@test>: Sender address rejected");
	CU_ASSERT_STRING_EQUAL(client_command(fd, "RCPT TO:<a@test>\r\n"),
	    "503 Error: need MAIL command");
	close(fd);
	smtpd_server_free(srv);
	smtpd_inbox_free(inbox);
}

static void
test_rcpt_hook_reply_reaches_the_client_verbatim(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct smtpd_server *srv;
	struct smtpd_message *m;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = hooked_server(inbox));
	CU_ASSERT_FATAL((fd = client_connect(smtpd_server_port(srv), NULL,
	    0)) >= 0);
	client_command(fd, "HELO good.test\r\n");
	client_command(fd, "MAIL FROM:<a@test>\r\n");
	CU_ASSERT_STRING_EQUAL(client_command(fd, "RCPT TO:<nobody@test>\r\n"),
	    "550 5.1.1 <nobody@test>: No such user");
	CU_ASSERT_STRING_EQUAL(client_command(fd, "RCPT TO:<ann@test>\r\n"),
	    "250 OK");
	client_command(fd, "DATA\r\n");
	CU_ASSERT_STRING_EQUAL(client_command(fd, "hi\r\n.\r\n"), "250 OK");
	CU_ASSERT(smtpd_inbox_wait(inbox, 1, WAIT_MS));
	if ((m = smtpd_inbox_get(inbox, 0)) != NULL) {
		CU_ASSERT_EQUAL(m->rcpt_count, 1);
		CU_ASSERT_STRING_EQUAL(m->rcpttos[0], "ann@test");
		smtpd_inbox_message_free(m);
	}
	close(fd);
	smtpd_server_free(srv);
	smtpd_inbox_free(inbox);
}

/* on_auth_record - the on_auth hook: remember the user, let it in. */
static const char *
on_auth_record(struct smtpd_channel *ch, const char *user, void *ctx)
{
	snprintf(ctx, 64, "%s", user);
	/* The channel does not say the user before the hook has agreed. */
	return smtpd_channel_auth_user(ch) == NULL ? NULL : "535 too soon";
}

static void
test_inbox_keeps_the_authenticated_user_and_no_tls(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct smtpd_message *m;
	struct smtpd_server *srv;
	struct smtpd_config cfg;
	char seen[64] = "";
	int fd;

	test_config(&cfg, smtpd_handler_inbox(inbox));
	cfg.auth_any = true;
	cfg.auth_plaintext = true;
	cfg.hooks.on_auth = on_auth_record;
	cfg.hooks.ctx = seen;
	if ((srv = server_up(&cfg)) == NULL) {
		CU_FAIL("server did not start");
		smtpd_inbox_free(inbox);
		return;
	}
	fd = client_connect(smtpd_server_port(srv), NULL, 0);
	client_command(fd, "EHLO client.test\r\n");
	/* "\0bob\0x" */
	CU_ASSERT_STRING_EQUAL(client_command(fd, "AUTH PLAIN AGJvYgB4\r\n"),
	    "235 2.7.0 Authentication successful");
	CU_ASSERT_STRING_EQUAL(seen, "bob");
	client_command(fd, "MAIL FROM:<bob@test>\r\n");
	client_command(fd, "RCPT TO:<ann@test>\r\n");
	client_command(fd, "DATA\r\n");
	CU_ASSERT_STRING_EQUAL(client_command(fd, "hi\r\n.\r\n"), "250 OK");
	CU_ASSERT(smtpd_inbox_wait(inbox, 1, WAIT_MS));
	if ((m = smtpd_inbox_get(inbox, 0)) != NULL) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(m->auth_user);
		CU_ASSERT_STRING_EQUAL(m->auth_user, "bob");
		CU_ASSERT_PTR_NULL(m->tls_protocol);
		CU_ASSERT_PTR_NULL(m->tls_cipher);
		smtpd_inbox_message_free(m);
	}
	close(fd);
	smtpd_server_free(srv);
	smtpd_inbox_free(inbox);
}

static void
test_data_hook_reply_reaches_the_client_and_nothing_is_delivered(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct smtpd_server *srv;
	int fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = hooked_server(inbox));
	CU_ASSERT_FATAL((fd = client_connect(smtpd_server_port(srv), NULL,
	    0)) >= 0);
	client_command(fd, "HELO good.test\r\n");
	client_command(fd, "MAIL FROM:<a@test>\r\n");
	client_command(fd, "RCPT TO:<b@test>\r\n");
	client_command(fd, "DATA\r\n");
	CU_ASSERT_STRING_EQUAL(client_command(fd,
	    "Subject: cheap viagra\r\n\r\nbuy\r\n.\r\n"),
	    "554 5.7.1 Message refused: it looks like spam");
	CU_ASSERT_STRING_EQUAL(client_command(fd, "QUIT\r\n"), "221 Bye");
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 0);
	close(fd);
	smtpd_server_free(srv);
	smtpd_inbox_free(inbox);
}

static void
test_connect_hook_reply_replaces_the_greeting(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	char greeting[512] = "";
	int fd;

	test_config(&cfg, smtpd_handler_sink());
	cfg.hooks.on_connect = refuse_connect;
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
	fd = client_connect(smtpd_server_port(srv), greeting, sizeof(greeting));
	CU_ASSERT(fd >= 0);
	CU_ASSERT_STRING_EQUAL(greeting, "554 test.example go away");
	/* A 5xx greeting closes the connection. */
	if (fd >= 0) {
		char buf[64];

		CU_ASSERT(!client_reply(fd, buf, sizeof(buf)));
		close(fd);
	}
	smtpd_server_free(srv);
}

static const char *
xhello(struct smtpd_channel *ch, const char *arg, void *ctx)
{
	return smtpd_channel_reply(ch, "250 %s, %s", (const char *)ctx, arg);
}

static void
test_added_command_reply_reaches_the_client_verbatim(void)
{
	static const struct smtpd_command commands[] = {
		{ .name = "XHELLO", .run = xhello, .ctx = "hello" },
	};
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	int fd;

	test_config(&cfg, smtpd_handler_sink());
	cfg.commands = commands;
	cfg.command_count = 1;
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
	CU_ASSERT_FATAL((fd = client_connect(smtpd_server_port(srv), NULL,
	    0)) >= 0);
	CU_ASSERT_STRING_EQUAL(client_command(fd, "xhello world\r\n"),
	    "250 hello, world");
	close(fd);
	smtpd_server_free(srv);
}

static void
test_extra_command_with_a_built_in_name_is_refused(void)
{
	static const struct smtpd_command commands[] = {
		{ .name = "XHELLO", .run = xhello, .ctx = "hello" },
		{ .name = "helo", .run = xhello, .ctx = "hello" },
	};
	struct smtpd_config cfg;
	struct smtpd_server *srv = (struct smtpd_server *)&cfg;
	char err[256] = "";

	test_config(&cfg, smtpd_handler_sink());
	cfg.commands = commands;
	cfg.command_count = 2;
	CU_ASSERT_EQUAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(srv);
	CU_ASSERT_STRING_EQUAL(err, "extra command helo is built in");
}

static void
test_ehlo_lists_the_extra_keywords(void)
{
	static const char *const keywords[] = { "XFORWARD NAME ADDR",
	    "AUTH PLAIN", NULL };
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	const char *r;
	int fd;

	test_config(&cfg, smtpd_handler_sink());
	cfg.ehlo_keywords = keywords;
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
	CU_ASSERT_FATAL((fd = client_connect(smtpd_server_port(srv), NULL,
	    0)) >= 0);
	r = client_command(fd, "EHLO client.test\r\n");
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "\r\n250-XFORWARD NAME ADDR\r\n"
	    "250-AUTH PLAIN\r\n"));
	close(fd);
	smtpd_server_free(srv);
}

/* ---- delivery: serialized or concurrent -------------------------------- */

/*
 * A handler that waits, with a bound, for a second delivery to be under
 * way at the same time.  Under the delivery mutex the second can never
 * start, and each gives up after RENDEZVOUS_MS.
 */
#define RENDEZVOUS_MS	500

struct rendezvous {
	pthread_mutex_t	lock;
	pthread_cond_t	cond;
	int		inside, most;
};

static const char *
rendezvous_process(struct smtpd_channel *ch, const struct smtpd_message *m,
    void *ctx)
{
	struct rendezvous *r = ctx;
	struct timespec deadline;

	(void)ch;
	(void)m;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_nsec += (RENDEZVOUS_MS % 1000) * 1000000L;
	deadline.tv_sec += RENDEZVOUS_MS / 1000 +
	    deadline.tv_nsec / 1000000000L;
	deadline.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&r->lock);
	r->inside++;
	if (r->inside > r->most)
		r->most = r->inside;
	pthread_cond_broadcast(&r->cond);
	while (r->most < 2 &&
	    pthread_cond_timedwait(&r->cond, &r->lock, &deadline) == 0)
		;
	r->inside--;
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

struct mailer {
	int	port;
	bool	ok;
};

static void *
mailer_thread(void *arg)
{
	struct mailer *m = arg;

	m->ok = client_mail(m->port, "a@test", "b@test", "hi");
	return NULL;
}

/* most_at_once - deliver two messages from two threads at once; how many
 * handler calls overlapped. */
static int
most_at_once(bool concurrent)
{
	struct rendezvous r = { .inside = 0 };
	struct smtpd_handler h = {
		.name = "rendezvous",
		.process_message = rendezvous_process,
		.ctx = &r,
		.concurrent = concurrent,
	};
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	struct mailer m[2];
	pthread_t t[2];

	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.cond, NULL);
	test_config(&cfg, h);
	if ((srv = server_up(&cfg)) == NULL)
		return -1;
	for (int i = 0; i < 2; i++) {
		m[i].port = smtpd_server_port(srv);
		m[i].ok = false;
		pthread_create(&t[i], NULL, mailer_thread, &m[i]);
	}
	for (int i = 0; i < 2; i++) {
		CU_ASSERT(join_within(t[i]));
		CU_ASSERT(m[i].ok);
	}
	smtpd_server_free(srv);
	pthread_cond_destroy(&r.cond);
	pthread_mutex_destroy(&r.lock);
	return r.most;
}

static void
test_handler_runs_one_at_a_time_by_default(void)
{
	CU_ASSERT_EQUAL(most_at_once(false), 1);
}

static void
test_concurrent_handler_runs_for_two_clients_at_once(void)
{
	CU_ASSERT_EQUAL(most_at_once(true), 2);
}

/* ---- the built-in handlers --------------------------------------------- */

static void
test_debugging_handler_prints_to_the_file_it_is_given(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	test_config(&cfg, smtpd_handler_debugging(f));
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
	CU_ASSERT(client_mail(smtpd_server_port(srv), "a@test", "b@test",
	    "Subject: printed\r\n\r\nbody"));
	smtpd_server_free(srv);
	fclose(f);
	CU_ASSERT_STRING_EQUAL(out, "---------- MESSAGE FOLLOWS ----------\n"
	    "Subject: printed\n"
	    "X-Peer: 127.0.0.1\n"
	    "\n"
	    "body\n"
	    "------------ END MESSAGE ------------\n");
	free(out);
}

/* ---- the inbox ---------------------------------------------------------- */

static void
test_inbox_wait_times_out_when_too_few_messages_arrive(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	long t0 = now_ms(), took;

	CU_ASSERT_FALSE(smtpd_inbox_wait(inbox, 1, 200));
	took = now_ms() - t0;
	CU_ASSERT(took >= 190 && took < 2000);
	smtpd_inbox_free(inbox);
}

static void
test_inbox_wait_with_zero_timeout_only_looks(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	long t0 = now_ms();

	CU_ASSERT_TRUE(smtpd_inbox_wait(inbox, 0, 0));
	CU_ASSERT_FALSE(smtpd_inbox_wait(inbox, 1, 0));
	CU_ASSERT(now_ms() - t0 < 100);
	smtpd_inbox_free(inbox);
}

static void *
late_mailer_thread(void *arg)
{
	struct mailer *m = arg;

	usleep(100 * 1000);
	m->ok = client_mail(m->port, "a@test", "b@test", "late");
	return NULL;
}

static void
test_inbox_wait_returns_when_the_message_arrives(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	struct mailer m;
	pthread_t t;
	long t0;

	test_config(&cfg, smtpd_handler_inbox(inbox));
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
	m.port = smtpd_server_port(srv);
	m.ok = false;
	t0 = now_ms();
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, late_mailer_thread, &m),
	    0);
	CU_ASSERT_TRUE(smtpd_inbox_wait(inbox, 1, WAIT_MS));
	CU_ASSERT(now_ms() - t0 < WAIT_MS);
	CU_ASSERT(join_within(t));
	CU_ASSERT(m.ok);
	smtpd_server_free(srv);
	smtpd_inbox_free(inbox);
}

static void
test_inbox_keeps_peer_helo_and_options_from_the_session(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	struct smtpd_message *m;
	struct sockaddr_in me;
	socklen_t melen = sizeof(me);
	int fd;

	test_config(&cfg, smtpd_handler_inbox(inbox));
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
	CU_ASSERT_FATAL((fd = client_connect(smtpd_server_port(srv), NULL,
	    0)) >= 0);
	getsockname(fd, (struct sockaddr *)&me, &melen);
	client_command(fd, "EHLO client.test\r\n");
	CU_ASSERT_STRING_EQUAL(client_command(fd,
	    "MAIL FROM:<ann@test> SIZE=20 BODY=8BITMIME\r\n"), "250 OK");
	CU_ASSERT_STRING_EQUAL(client_command(fd, "RCPT TO:<bob@test>\r\n"),
	    "250 OK");
	CU_ASSERT_STRING_EQUAL(client_command(fd, "RCPT TO:<cy@test>\r\n"),
	    "250 OK");
	client_command(fd, "DATA\r\n");
	CU_ASSERT_STRING_EQUAL(client_command(fd,
	    "Subject: t\r\n\r\n..dotted\r\n.\r\n"), "250 OK");
	CU_ASSERT(smtpd_inbox_wait(inbox, 1, WAIT_MS));
	CU_ASSERT_PTR_NOT_NULL_FATAL(m = smtpd_inbox_get(inbox, 0));
	CU_ASSERT_STRING_EQUAL(m->peer_ip, "127.0.0.1");
	CU_ASSERT_EQUAL(m->peer_port, ntohs(me.sin_port));
	CU_ASSERT_STRING_EQUAL(m->helo, "client.test");
	CU_ASSERT_STRING_EQUAL(m->mailfrom, "ann@test");
	CU_ASSERT_EQUAL_FATAL(m->rcpt_count, 2);
	CU_ASSERT_STRING_EQUAL(m->rcpttos[0], "bob@test");
	CU_ASSERT_STRING_EQUAL(m->rcpttos[1], "cy@test");
	CU_ASSERT_EQUAL_FATAL(m->mail_option_count, 2);
	CU_ASSERT_STRING_EQUAL(m->mail_options[0], "SIZE=20");
	CU_ASSERT_STRING_EQUAL(m->mail_options[1], "BODY=8BITMIME");
	CU_ASSERT_STRING_EQUAL(m->data, "Subject: t\n\n.dotted");
	CU_ASSERT_EQUAL(m->data_len, strlen("Subject: t\n\n.dotted"));
	smtpd_inbox_message_free(m);
	close(fd);
	smtpd_server_free(srv);
	smtpd_inbox_free(inbox);
}

/* deliver - hand the inbox's handler a message directly, as a channel
 * would. */
static const char *
deliver(struct smtpd_inbox *inbox, const struct smtpd_message *m)
{
	struct smtpd_handler h = smtpd_handler_inbox(inbox);

	return h.process_message(NULL, m, h.ctx);
}

static void
test_inbox_copy_has_every_field_including_nul_bytes_in_data(void)
{
	static const char *const rcpts[] = { "a@x", "b@x" };
	static const char *const mopts[] = { "BODY=8BITMIME", "SMTPUTF8" };
	static const char *const ropts[] = { "NOTIFY=NEVER" };
	static const char data[] = "one\0two";
	struct smtpd_message in = {
		.peer_ip = "::1", .peer_port = 4242, .helo = "h.test",
		.mailfrom = "<>", .rcpttos = rcpts, .rcpt_count = 2,
		.data = data, .data_len = sizeof(data) - 1,
		.mail_options = mopts, .mail_option_count = 2,
		.rcpt_options = ropts, .rcpt_option_count = 1,
		.smtputf8 = true,
	};
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct smtpd_message *m;

	CU_ASSERT_PTR_NULL(deliver(inbox, &in));
	CU_ASSERT_PTR_NOT_NULL_FATAL(m = smtpd_inbox_get(inbox, 0));
	CU_ASSERT_STRING_EQUAL(m->peer_ip, "::1");
	CU_ASSERT_EQUAL(m->peer_port, 4242);
	CU_ASSERT_STRING_EQUAL(m->helo, "h.test");
	CU_ASSERT_STRING_EQUAL(m->mailfrom, "<>");
	CU_ASSERT_EQUAL(m->rcpt_count, 2);
	CU_ASSERT_STRING_EQUAL(m->rcpttos[1], "b@x");
	CU_ASSERT_PTR_NOT_EQUAL(m->rcpttos, rcpts);	/* a copy */
	CU_ASSERT_EQUAL(m->data_len, 7);
	CU_ASSERT_EQUAL(memcmp(m->data, "one\0two", 8), 0);
	CU_ASSERT_EQUAL(m->mail_option_count, 2);
	CU_ASSERT_STRING_EQUAL(m->mail_options[1], "SMTPUTF8");
	CU_ASSERT_EQUAL(m->rcpt_option_count, 1);
	CU_ASSERT_STRING_EQUAL(m->rcpt_options[0], "NOTIFY=NEVER");
	CU_ASSERT_TRUE(m->smtputf8);
	smtpd_inbox_message_free(m);
	smtpd_inbox_free(inbox);
}

static void
test_inbox_get_out_of_range_is_null(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();

	CU_ASSERT_PTR_NULL(smtpd_inbox_get(inbox, 0));
	smtpd_inbox_free(inbox);
}

static void
test_inbox_message_outlives_clear(void)
{
	struct smtpd_message in = { .mailfrom = "a@x", .data = "kept",
	    .data_len = 4 };
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct smtpd_message *m;

	deliver(inbox, &in);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m = smtpd_inbox_get(inbox, 0));
	smtpd_inbox_clear(inbox);
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 0);
	CU_ASSERT_PTR_NULL(smtpd_inbox_get(inbox, 0));
	CU_ASSERT_STRING_EQUAL(m->data, "kept");
	smtpd_inbox_message_free(m);
	smtpd_inbox_free(inbox);
}

static int
collect_senders(const struct smtpd_message *m, void *ctx)
{
	char *seen = ctx;

	strcat(seen, m->mailfrom);
	return strcmp(m->mailfrom, "2") == 0 ? 7 : 0;
}

static void
test_inbox_foreach_visits_in_arrival_order_until_fn_says_stop(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	static const char *const senders[] = { "1", "2", "3", "4" };
	char seen[16] = "";

	for (size_t i = 0; i < 4; i++) {
		struct smtpd_message in = { .mailfrom = senders[i], .data = "" };

		deliver(inbox, &in);
	}
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 4);
	CU_ASSERT_EQUAL(smtpd_inbox_foreach(inbox, collect_senders, seen), 7);
	CU_ASSERT_STRING_EQUAL(seen, "12");
	smtpd_inbox_free(inbox);
}

#define MAILERS		8
#define MAILS_EACH	5

static void *
busy_mailer_thread(void *arg)
{
	struct mailer *m = arg;

	m->ok = true;
	for (int i = 0; i < MAILS_EACH; i++)
		m->ok = client_mail(m->port, "a@test", "b@test", "busy") &&
		    m->ok;
	return NULL;
}

static void
test_inbox_keeps_every_message_from_many_clients_at_once(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	struct mailer m[MAILERS];
	pthread_t t[MAILERS];
	long deadline;

	test_config(&cfg, smtpd_handler_inbox(inbox));
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
	for (int i = 0; i < MAILERS; i++) {
		m[i].port = smtpd_server_port(srv);
		pthread_create(&t[i], NULL, busy_mailer_thread, &m[i]);
	}
	/* Read the inbox while it fills. */
	deadline = now_ms() + WAIT_MS;
	while (!smtpd_inbox_wait(inbox, MAILERS * MAILS_EACH, 10) &&
	    now_ms() < deadline) {
		struct smtpd_message *msg = smtpd_inbox_get(inbox, 0);

		if (msg)
			CU_ASSERT_STRING_EQUAL(msg->data, "busy");
		smtpd_inbox_message_free(msg);
	}
	for (int i = 0; i < MAILERS; i++) {
		CU_ASSERT(join_within(t[i]));
		CU_ASSERT(m[i].ok);
	}
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), MAILERS * MAILS_EACH);
	smtpd_server_free(srv);
	smtpd_inbox_free(inbox);
}

/* ---- failures on demand ------------------------------------------------ */

/* message_on - one message on an open session that has said HELO: the
 * reply to the final ".", or the first reply that was not 250/354. */
static const char *
message_on(int fd, const char *to)
{
	static _Thread_local char last[4096];
	char line[512];
	const char *r;

	if (strcmp((r = client_command(fd, "MAIL FROM:<a@test>\r\n")),
	    "250 OK") != 0)
		goto out;
	snprintf(line, sizeof(line), "RCPT TO:<%s>\r\n", to);
	if (strcmp((r = client_command(fd, line)), "250 OK") != 0)
		goto out;
	if (strncmp((r = client_command(fd, "DATA\r\n")), "354", 3) != 0)
		goto out;
	r = client_command(fd, "Subject: x\r\n\r\nbody\r\n.\r\n");
out:
	snprintf(last, sizeof(last), "%s", r);
	return last;
}

static void
test_set_faults_switches_a_failure_on_and_off_while_running(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	const char *rules[] = { "dot=451 4.3.0 Try again later" };
	char err[256];
	int fd;

	test_config(&cfg, smtpd_handler_inbox(inbox));
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
	fd = client_connect(smtpd_server_port(srv), NULL, 0);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_STRING_EQUAL(client_command(fd, "HELO client.test\r\n"),
	    "250 test.example");
	CU_ASSERT_STRING_EQUAL(message_on(fd, "b@test"), "250 OK");

	/* On, for the next command of the same session. */
	CU_ASSERT_EQUAL(smtpd_server_set_faults(srv, rules, 1, err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(message_on(fd, "b@test"),
	    "451 4.3.0 Try again later");
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 1);

	/* A bad rule changes nothing, and says why. */
	rules[0] = "dot=45 x";
	CU_ASSERT_EQUAL(smtpd_server_set_faults(srv, rules, 1, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "fault rule \"dot=45 x\""));
	CU_ASSERT_STRING_EQUAL(message_on(fd, "b@test"),
	    "451 4.3.0 Try again later");

	/* Off again. */
	CU_ASSERT_EQUAL(smtpd_server_set_faults(srv, NULL, 0, err,
	    sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(message_on(fd, "b@test"), "250 OK");
	CU_ASSERT_TRUE(smtpd_inbox_wait(inbox, 2, WAIT_MS));
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 2);
	close(fd);
	smtpd_server_free(srv);
	smtpd_inbox_free(inbox);
}

static void
test_bad_fault_rule_is_refused_by_server_new_with_the_message(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	const char *rules[] = { "rcpt=drop", "bdat=550 No" };
	char err[256] = "";

	test_config(&cfg, smtpd_handler_sink());
	cfg.faults = rules;
	cfg.fault_count = 2;
	CU_ASSERT_EQUAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(srv);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "fault rule \"bdat=550 No\": "
	    "unknown stage"));
}

static void
test_config_faults_triggers_and_limits_reach_the_client(void)
{
	struct smtpd_inbox *inbox = smtpd_inbox_new();
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	const char *rules[] = { "rcpt:*@bounce.test=550 5.1.1 No such user" };
	int fd;

	test_config(&cfg, smtpd_handler_inbox(inbox));
	cfg.faults = rules;
	cfg.fault_count = 1;
	cfg.triggers = true;
	cfg.max_messages_per_connection = 1;
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv = server_up(&cfg));
	fd = client_connect(smtpd_server_port(srv), NULL, 0);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_STRING_EQUAL(client_command(fd, "HELO client.test\r\n"),
	    "250 test.example");
	CU_ASSERT_STRING_EQUAL(message_on(fd, "joe@bounce.test"),
	    "550 5.1.1 No such user");
	CU_ASSERT_STRING_EQUAL(client_command(fd, "RSET\r\n"), "250 OK");
	CU_ASSERT_STRING_EQUAL(message_on(fd, "rcpt452_4.2.2@test"),
	    "452 4.2.2 Requested action not taken: insufficient system "
	    "storage");
	CU_ASSERT_STRING_EQUAL(client_command(fd, "RSET\r\n"), "250 OK");
	CU_ASSERT_STRING_EQUAL(message_on(fd, "b@test"), "250 OK");
	/* One message a connection: the next MAIL is the last word. */
	CU_ASSERT_STRING_EQUAL(message_on(fd, "b@test"),
	    "421 4.7.0 Too many messages on this connection");
	CU_ASSERT_EQUAL(smtpd_inbox_count(inbox), 1);
	close(fd);
	smtpd_server_free(srv);
	smtpd_inbox_free(inbox);
}

int
unit_add_server_tests(void)
{
	static const struct unit_test tests[] = {
#define T(fn) { #fn, fn }
		T(test_start_stop_1000_times_leaves_no_threads_fds_or_memory),
		T(test_port_zero_binds_an_ephemeral_port),
		T(test_version_is_the_headers_and_at_least_2_2),
		T(test_invalid_port_is_an_error_with_a_message),
		T(test_smtputf8_with_decode_data_is_an_error_with_pythons_message),
		T(test_handler_without_process_message_is_refused_with_a_message),
		T(test_sink_handler_delivers_by_discarding),
		T(test_config_not_made_by_config_init_is_refused_with_a_message),
		T(test_no_host_listens_on_ipv6_and_ipv4_on_one_port),
		T(test_port_in_use_is_an_error_at_start),
		T(test_start_twice_is_an_error),
		T(test_free_without_stop_stops_the_server),
		T(test_serve_forever_returns_after_stop_from_another_thread),
		T(test_two_servers_deliver_to_their_own_inboxes),
		T(test_stop_during_data_delivers_nothing_and_cuts_clients_off),
		T(test_stop_during_data_cuts_off_after_the_grace_period),
		T(test_stop_lets_a_message_in_data_finish_within_the_grace_period),
		T(test_helo_hook_reply_reaches_the_client_verbatim),
		T(test_mail_hook_reply_reaches_the_client_verbatim),
		T(test_rcpt_hook_reply_reaches_the_client_verbatim),
		T(test_data_hook_reply_reaches_the_client_and_nothing_is_delivered),
		T(test_inbox_keeps_the_authenticated_user_and_no_tls),
		T(test_connect_hook_reply_replaces_the_greeting),
		T(test_added_command_reply_reaches_the_client_verbatim),
		T(test_extra_command_with_a_built_in_name_is_refused),
		T(test_ehlo_lists_the_extra_keywords),
		T(test_debugging_handler_prints_to_the_file_it_is_given),
		T(test_handler_runs_one_at_a_time_by_default),
		T(test_concurrent_handler_runs_for_two_clients_at_once),
		T(test_inbox_wait_times_out_when_too_few_messages_arrive),
		T(test_inbox_wait_with_zero_timeout_only_looks),
		T(test_inbox_wait_returns_when_the_message_arrives),
		T(test_inbox_keeps_peer_helo_and_options_from_the_session),
		T(test_inbox_copy_has_every_field_including_nul_bytes_in_data),
		T(test_inbox_get_out_of_range_is_null),
		T(test_inbox_message_outlives_clear),
		T(test_inbox_foreach_visits_in_arrival_order_until_fn_says_stop),
		T(test_inbox_keeps_every_message_from_many_clients_at_once),
		T(test_set_faults_switches_a_failure_on_and_off_while_running),
		T(test_bad_fault_rule_is_refused_by_server_new_with_the_message),
		T(test_config_faults_triggers_and_limits_reach_the_client),
#undef T
	};
	return unit_add_suite("server", tests, sizeof(tests) / sizeof(tests[0]));
}
