/* SPDX-License-Identifier: ISC */
/*
 * NAME
 *	floor - the least a thread-per-connection SMTP sink can do
 * SYNOPSIS
 *	cc -O2 -pthread -o /tmp/floor bench/floor.c
 *	bench/bench.sh --smtpd /tmp/floor
 * DESCRIPTION
 *	A yardstick, not a server, of the project's design: one accept
 *	loop hands each client to a worker thread, an idle one (woken by
 *	a condition variable of its own) or else a new one, and the worker
 *	serves it with one recv() per read and one send() per reply.  It
 *	answers 250 to every line, 354 to DATA and 221 to QUIT, and reads
 *	message text only to find the dot.  No parsing, no limits, no
 *	timeouts, no handler; one lock, for the idle list.
 *
 *	What it measures is the kernel's side of one blocking thread per
 *	connection: its context switches and wake-ups per command.  The
 *	project's smtpd cannot spend less CPU per message than this, and
 *	where this program is slower than smtp-sink's event loop, so is any
 *	server of this design (README, Performance).
 *
 *	It takes the arguments bench.sh gives ./smtpd and uses only the
 *	last, HOST:PORT (an IPv4 address).  Stop it with a signal.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF	16384

static int listen_fd;

/* say - one reply, one send. */
static void
say(int fd, const char *reply)
{
	(void)!send(fd, reply, strlen(reply), MSG_NOSIGNAL);
}

/* consume - drop the first n bytes of buf. */
static void
consume(char *buf, size_t *len, size_t n)
{
	memmove(buf, buf + n, *len - n);
	*len -= n;
}

/* serve - one client, greeting to QUIT or end of input. */
static void
serve(int fd)
{
	char buf[BUF], *end;
	size_t len = 0;
	int data = 0;
	ssize_t n;

	say(fd, "220 floor ESMTP\r\n");
	while ((n = recv(fd, buf + len, sizeof(buf) - len, 0)) > 0) {
		len += (size_t)n;
		for (;;) {
			if (data) {
				if ((end = memmem(buf, len, "\r\n.\r\n", 5)) ==
				    NULL) {
					if (len > BUF / 2)	/* keep a tail */
						consume(buf, &len, len - 4);
					break;
				}
				consume(buf, &len, (size_t)(end + 5 - buf));
				data = 0;
				say(fd, "250 OK\r\n");
				continue;
			}
			if ((end = memmem(buf, len, "\r\n", 2)) == NULL) {
				if (len == sizeof(buf))	/* no room: drop it */
					len = 0;
				break;
			}
			if (strncasecmp(buf, "QUIT", 4) == 0) {
				say(fd, "221 Bye\r\n");
				return;
			}
			data = strncasecmp(buf, "DATA", 4) == 0;
			say(fd, data ? "354 go ahead\r\n" : "250 OK\r\n");
			consume(buf, &len, (size_t)(end + 2 - buf));
		}
	}
}

/* A worker thread: waits on its own condition variable for a client. */
struct worker {
	struct worker	*next;		/* on the idle list */
	pthread_cond_t	 handed;
	int		 fd;		/* -1 while idle */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct worker *idle;		/* workers waiting for a client */
static pthread_attr_t attr;

/* worker - loop { serve; close; wait to be handed the next client }. */
static void *
worker(void *arg)
{
	struct worker *w = arg;

	for (;;) {
		serve(w->fd);
		close(w->fd);
		pthread_mutex_lock(&lock);
		w->fd = -1;
		w->next = idle;
		idle = w;
		while (w->fd < 0)
			pthread_cond_wait(&w->handed, &lock);
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

/* hand_off - give fd to an idle worker, or to a new thread. */
static void
hand_off(int fd)
{
	struct worker *w;
	pthread_t t;

	pthread_mutex_lock(&lock);
	if ((w = idle) != NULL) {
		idle = w->next;
		w->fd = fd;
		pthread_mutex_unlock(&lock);
		pthread_cond_signal(&w->handed);
		return;
	}
	pthread_mutex_unlock(&lock);
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    pthread_cond_init(&w->handed, NULL) != 0 ||
	    (w->fd = fd, pthread_create(&t, &attr, worker, w)) != 0) {
		close(fd);
		free(w);
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char *colon;
	int one = 1;

	if (argc < 2 || (colon = strrchr(argv[argc - 1], ':')) == NULL) {
		fprintf(stderr, "usage: floor [ignored ...] HOST:PORT\n");
		return 2;
	}
	*colon = '\0';
	sa.sin_port = htons((unsigned short)atoi(colon + 1));
	if (inet_pton(AF_INET, argv[argc - 1], &sa.sin_addr) != 1) {
		fprintf(stderr, "floor: %s: not an IPv4 address\n",
		    argv[argc - 1]);
		return 2;
	}
	/* TCP_NODELAY on the listener is copied to every client. */
	if ((listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) != 0 ||
	    setsockopt(listen_fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) != 0 ||
	    bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(listen_fd, 4096) != 0) {
		perror("floor");
		return 1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {		/* the accept loop */
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd >= 0)
			hand_off(fd);
	}
}
