/* SPDX-License-Identifier: ISC */
/*
 * server.c - accept clients, and give each one a thread of its own.
 *
 * The design, in the order it runs:
 *
 *	smtpd_server_new	the configuration, copied and checked
 *				(config.c), and the server's locks
 *	smtpd_server_listen	bind and listen (listen.c)
 *	server_accept_loop	loop { accept a client; hand it to a worker }
 *	server_hand_off		an idle worker takes the client, or a new
 *				thread does
 *	server_worker		loop { serve one client (channel_run);
 *				wait to be handed the next, or exit }
 *	smtpd_server_stop	stop accepting, drain, join
 *
 * Each worker blocks in recv() on its own client, so the code of a
 * session (channel.c) is plain sequential code.  The one accept loop is
 * the only caller of accept(): a worker never takes a client for itself.
 * What the threads share is little and all here: the lists of live, idle
 * and finished workers (to hand off, stop and join) and the delivery
 * mutex that channel.c takes around the handler.
 */
#include "compat.h"
#include "channel_internal.h"
#include "inbox.h"
#include "io.h"
#include "tls.h"
#include "web/web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* One worker thread and the client it serves. */
struct worker {
	struct worker		*next, *prev;	/* on the live, idle or dead list */
	struct smtpd_server	*server;
	/* The session, made by the accept loop; NULL while the worker is
	 * idle (it waits on handed for one); read by a stop. */
	struct smtpd_channel *_Atomic channel;
	int			 fd;
	struct sockaddr_storage	 peer;		/* for a PROXY header's check */
	pthread_cond_t		 handed;	/* the loop gave it a client */
	pthread_t		 thread;
};

static void	server_hand_off(struct smtpd_server *, int fd,
		    struct sockaddr_storage *peer, socklen_t len);
static void	server_accept_failed(struct smtpd_server *);

/*
 * server_accept_loop - the server: loop { accept a client; hand it to a
 * worker } until stopped.  accept() returns at once while clients are
 * pending, so a burst is taken one after the other before the loop
 * sleeps again; no lock is held across it.  This loop must never die: a
 * full file table or a failed thread costs that one client, never the
 * server.  A stop wakes it by shutting the listener down.
 */
static void
server_accept_loop(struct smtpd_server *srv)
{
	while (!atomic_load(&srv->stopping)) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd;

		fd = compat_accept(srv->listen_fd, (struct sockaddr *)&peer,
		    &len);
		if (fd < 0)
			server_accept_failed(srv);
		else
			server_hand_off(srv, fd, &peer, len);
	}

	pthread_mutex_lock(&srv->lock);
	srv->accepting = false;
	pthread_cond_broadcast(&srv->changed);
	pthread_mutex_unlock(&srv->lock);
}

/*
 * Worker stacks: a session needs a few KB of stack (its buffers live on the
 * heap), but a handler may call getaddrinfo() or stdio, which want more.
 * 256 KiB is reserved address space, not memory: only the pages touched
 * become resident, so an idle connection costs one page of stack (4 KiB;
 * two without smtpd.c's reexec_without_tls_reserve), not glibc's default
 * 8 MiB of address space.
 */
#define WORKER_STACK	(256 * 1024)

/* How long to back off when out of file descriptors (EMFILE). */
#define ACCEPT_BACKOFF_MS	100

/*
 * A worker whose client has left waits up to IDLE_SECONDS to be handed
 * the next one, and then exits; at most IDLE_MAX wait at once.  Creating
 * a thread costs a clone(), a stack and the scheduler's bookkeeping; a
 * waiting worker costs one wake-up instead (README, Performance, has
 * both measured).  Still one thread per connection: a thread serves one
 * client at a time.
 */
#define IDLE_SECONDS	10
#define IDLE_MAX	256

/* list_remove, list_push - the live, idle and dead lists (lock held). */
static void
list_remove(struct worker **head, struct worker *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		*head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->next = w->prev = NULL;
}

static void
list_push(struct worker **head, struct worker *w)
{
	w->prev = NULL;
	w->next = *head;
	if (*head)
		(*head)->prev = w;
	*head = w;
}

/* server_join - join finished workers taken off the dead list. */
static void
server_join(struct worker *dead)
{
	struct worker *next;

	for (; dead; dead = next) {
		next = dead->next;
		pthread_join(dead->thread, NULL);
		pthread_cond_destroy(&dead->handed);
		free(dead);
	}
}

/* server_reap - join the workers that have finished. */
static void
server_reap(struct smtpd_server *srv)
{
	struct worker *dead;

	pthread_mutex_lock(&srv->lock);
	dead = srv->dead;
	srv->dead = NULL;
	pthread_mutex_unlock(&srv->lock);
	server_join(dead);
}

/* server_say_421 - tell a client we cannot serve it. */
static void
server_say_421(struct smtpd_server *srv, int fd, const char *why)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "421 %s Error: %s\r\n", srv->fqdn,
	    why);

	(void)!compat_send(fd, buf, (size_t)n, MSG_DONTWAIT);
}

/* server_refuse - turn a client away with a 421 and close. */
static void
server_refuse(struct smtpd_server *srv, int fd, const char *why)
{
	server_say_421(srv, fd, why);
	close(fd);
}

/* server_backoff - sleep ACCEPT_BACKOFF_MS, or less if stopped.  Not on
 * the listener: it stays readable while the connection we could not
 * accept waits, and polling it would spin. */
static void
server_backoff(struct smtpd_server *srv)
{
	struct pollfd pfd = { .fd = srv->wake[0], .events = POLLIN };

	(void)poll(&pfd, 1, ACCEPT_BACKOFF_MS);
}

static void	*server_worker(void *);
static void	worker_serve(struct smtpd_server *, struct worker *);

/* server_accept_failed - after a failed accept(): out of descriptors, wait
 * for some to be freed instead of spinning; anything else (a client that
 * left, a signal, a stop) needs nothing. */
static void
server_accept_failed(struct smtpd_server *srv)
{
	if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS &&
	    errno != ENOMEM)
		return;
	if (srv->cfg.debug)
		fprintf(srv->cfg.debug, "accept: %s; backing off\n",
		    strerror(errno));
	server_reap(srv);
	server_backoff(srv);
}

/* worker_take - give worker w the client (lock held): on the live list. */
static void
worker_take(struct smtpd_server *srv, struct worker *w, int fd,
    const struct sockaddr_storage *peer, socklen_t len,
    struct smtpd_channel *ch)
{
	w->fd = fd;
	memcpy(&w->peer, peer, len);
	atomic_store(&w->channel, ch);
	list_push(&srv->live, w);
	srv->nlive++;
}

/*
 * worker_start - a new thread for a client no idle worker could take
 * (lock held); NULL with the reason in *why.
 */
static struct worker *
worker_start(struct smtpd_server *srv, int fd,
    const struct sockaddr_storage *peer, socklen_t len,
    struct smtpd_channel *ch, const char **why)
{
	struct worker *w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		*why = "out of memory";
		return NULL;
	}
	w->server = srv;
	compat_cond_init(&w->handed);
	worker_take(srv, w, fd, peer, len, ch);
	if (pthread_create(&w->thread, &srv->worker_attr, server_worker, w)
	    != 0) {
		list_remove(&srv->live, w);
		srv->nlive--;
		pthread_cond_destroy(&w->handed);
		free(w);
		*why = "cannot start a thread";
		return NULL;
	}
	srv->nthreads++;
	return w;
}

/*
 * server_hand_off - give a client just accepted to a worker: the idle
 * worker that waited least, woken by its own condition variable (one
 * wake-up, no herd), or else a new thread; or turn it away past
 * max_connections.  The session is made here, before the hand-off: its
 * allocation is the deepest stack a session needs, and a worker's stack
 * stays one page only if it never goes that deep (server_worker).
 */
static void
server_hand_off(struct smtpd_server *srv, int fd,
    struct sockaddr_storage *peer, socklen_t len)
{
	struct smtpd_channel *ch;
	struct worker *w, *dead;
	const char *why = "too many connections";

	if (srv->cfg.debug)
		fprintf(srv->cfg.debug, "Incoming connection (fd %d)\n", fd);
	listen_peer_unmap(peer, &len);
	if ((ch = channel_new(srv, fd, (struct sockaddr *)peer)) == NULL) {
		server_refuse(srv, fd, "out of memory");
		return;
	}

	pthread_mutex_lock(&srv->lock);
	dead = srv->dead;		/* finished threads, joined below */
	srv->dead = NULL;
	if (srv->cfg.max_connections > 0 &&
	    srv->nlive >= srv->cfg.max_connections) {
		w = NULL;
	} else if ((w = srv->idle) != NULL) {
		list_remove(&srv->idle, w);
		srv->nidle--;
		worker_take(srv, w, fd, peer, len, ch);
	} else {
		w = worker_start(srv, fd, peer, len, ch, &why);
	}
	pthread_mutex_unlock(&srv->lock);

	if (w == NULL) {
		channel_discard(ch);
		server_refuse(srv, fd, why);
	} else {
		/* After the unlock, so that the worker does not wake only
		 * to wait for the lock.  w cannot be freed meanwhile: only
		 * this thread joins workers while the loop runs. */
		pthread_cond_signal(&w->handed);
	}
	server_join(dead);
}

/*
 * worker_wait - wait to be handed the next client (true), or leave
 * (false): on a stop, past IDLE_MAX idle workers, or when no client came
 * within IDLE_SECONDS.  (Why some functions of a worker are
 * noinline: docs/TOUR.md, section 7.)
 */
static __attribute__((noinline)) bool
worker_wait(struct smtpd_server *srv, struct worker *w)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += IDLE_SECONDS;
	pthread_mutex_lock(&srv->lock);
	if (atomic_load(&srv->stopping) || srv->nidle >= IDLE_MAX) {
		pthread_mutex_unlock(&srv->lock);
		return false;
	}
	list_push(&srv->idle, w);
	srv->nidle++;
	while (atomic_load(&w->channel) == NULL &&
	    !atomic_load(&srv->stopping) &&
	    compat_cond_timedwait(&w->handed, &srv->lock, &deadline) !=
	    ETIMEDOUT)
		;
	if (atomic_load(&w->channel) == NULL) {
		/* Still idle (the loop takes a worker off the list before it
		 * hands it a client): a stop, or nobody came. */
		list_remove(&srv->idle, w);
		srv->nidle--;
		pthread_mutex_unlock(&srv->lock);
		return false;
	}
	pthread_mutex_unlock(&srv->lock);
	return true;
}

/* server_worker - a client's thread: serve it; then wait to be handed
 * another client, or leave. */
static void *
server_worker(void *arg)
{
	struct worker *w = arg;
	struct smtpd_server *srv = w->server;

	/*
	 * cfg.sched_batch: a worker woken by its client's next command does
	 * not preempt the worker that is running, which finishes its turn
	 * first.  Not the default: a SCHED_BATCH thread also loses every
	 * wake-up to any normal process on its CPU, and a test server
	 * always shares its CPUs with the program under test (p99 latency
	 * 10 ms instead of 2.5 ms beside a busy neighbour;
	 * bench/latency_neighbour.py).
	 */
	if (srv->cfg.sched_batch)
		compat_thread_batch();
	do
		worker_serve(srv, w);
	while (worker_wait(srv, w));

	pthread_mutex_lock(&srv->lock);
	list_push(&srv->dead, w);
	srv->nthreads--;
	pthread_cond_broadcast(&srv->changed);
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* peer_text - "ip:port" of a socket address, for the debug trace. */
static const char *
peer_text(const struct sockaddr_storage *ss, char *buf, size_t bufsz)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
	} else if (ss->ss_family == AF_UNIX) {
		snprintf(ip, sizeof(ip), "unix");
	}
	snprintf(buf, bufsz, "%s:%d", ip, port);
	return buf;
}

/*
 * worker_proxy_header - cfg.proxy_protocol: the connection must come from
 * an allowed load balancer and start with a PROXY header, read within the
 * timeout; the client the header names becomes the peer (*proxied).  A
 * refusal closes the connection unanswered: the balancer, not a client,
 * is at the other end, and the protocol has nothing to say to it.
 */
static __attribute__((noinline)) bool
worker_proxy_header(struct smtpd_server *srv, struct worker *w,
    bool *proxied)
{
	struct proxyproto_result r;
	char err[256], from[INET6_ADDRSTRLEN + 8];

	if (srv->proxy_net_count > 0 && !proxyproto_allowed(
	    (struct sockaddr *)&w->peer, srv->proxy_nets,
	    srv->proxy_net_count)) {
		if (srv->cfg.debug)
			fprintf(srv->cfg.debug, "%s: not an allowed PROXY "
			    "sender (--proxy-from); closing\n",
			    peer_text(&w->peer, from, sizeof(from)));
		return false;
	}
	if (proxyproto_read(w->fd, srv->cfg.timeout > INT_MAX / 1000 ? 0 :
	    srv->cfg.timeout * 1000, &r, err, sizeof(err)) != 0) {
		if (srv->cfg.debug)
			fprintf(srv->cfg.debug, "%s: %s; closing\n",
			    peer_text(&w->peer, from, sizeof(from)), err);
		return false;
	}
	if (r.has_addr) {
		socklen_t len = sizeof(r.src);

		memcpy(&w->peer, &r.src, sizeof(r.src));
		listen_peer_unmap(&w->peer, &len);	/* "TCP6 ::ffff:192.0.2.7" */
		*proxied = true;
	}
	return true;
}

/*
 * worker_prepare - what a client's socket needs before its session, done
 * in its worker so that the accept loop only accepts: the timeouts, which
 * a TCP socket inherits from the listener (listen.c) and a UNIX-domain
 * one does not; and behind a load balancer the PROXY header comes first.
 * false: close.
 */
static __attribute__((noinline)) bool
worker_prepare(struct smtpd_server *srv, struct worker *w, bool *proxied)
{
	char why[128];

	if (srv->cfg.unix_path && srv->cfg.timeout > 0 &&
	    io_set_timeouts(w->fd, srv->cfg.timeout, why, sizeof(why)) != 0) {
		server_say_421(srv, w->fd, why);
		return false;
	}
	if (srv->cfg.proxy_protocol && !worker_proxy_header(srv, w, proxied))
		return false;
	return true;
}

/*
 * worker_serve - one client, start to end.  The session was made by the
 * accept loop (server_hand_off), so what the worker's stack sees of a
 * session is the line reader's loop; the worker frees it.
 */
static void
worker_serve(struct smtpd_server *srv, struct worker *w)
{
	struct smtpd_channel *ch = atomic_load(&w->channel);
	bool proxied = false, ran = false;

	if (worker_prepare(srv, w, &proxied)) {
		if (proxied)
			channel_set_proxied(ch, (struct sockaddr *)&w->peer);
		channel_run(ch);
		ran = true;
	}

	/* Off the live list before the socket closes, so a stop never
	 * shuts down a descriptor that was reused. */
	pthread_mutex_lock(&srv->lock);
	list_remove(&srv->live, w);
	srv->nlive--;
	atomic_store(&w->channel, NULL);
	pthread_cond_broadcast(&srv->changed);
	pthread_mutex_unlock(&srv->lock);

	if (ran) {
		channel_free(ch);	/* closes the socket */
	} else {
		channel_discard(ch);
		close(w->fd);
	}
}

/* server_release - free what smtpd_server_new made besides the locks and
 * the pipe (the fault rules, the EHLO replies, TLS, the PROXY networks)
 * and the server itself: one cleanup for a failed new and for free. */
static void
server_release(struct smtpd_server *srv)
{
	fault_slot_destroy(&srv->faults);
	fault_rate_destroy(&srv->rate);
	free(srv->ehlo_reply);
	free(srv->ehlo_reply_tls);
	tls_server_free(srv->tls);
	free(srv->proxy_nets);
	session_log_free(srv->sessions);
	if (srv->store_owned)
		smtpd_inbox_free(srv->store);
	free(srv);
}

int
smtpd_server_new(const struct smtpd_config *given, struct smtpd_server **out,
    char *err, size_t errsz)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	struct fault_set *faults;

	*out = NULL;
	if (config_load(&cfg, given, err, errsz) != 0 ||
	    config_faults(&cfg, cfg.faults, cfg.fault_count, cfg.fault_file,
	    &faults, err, errsz) != 0)
		return -1;
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		fault_set_release(faults);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	srv->cfg = cfg;
	srv->store = cfg.store;	/* or web_start's own, with http */
	srv->listen_fd = -1;
	srv->wake[0] = srv->wake[1] = -1;
	fault_slot_init(&srv->faults);
	fault_slot_put(&srv->faults, faults);
	fault_rate_init(&srv->rate, cfg.rate_per_sec);
	if (config_proxy_nets(srv, &cfg, err, errsz) != 0)
		goto fail;
	if (!config_texts(srv)) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	/* The key is read here, before a program drops its privileges. */
	if ((cfg.tls_cert || cfg.tls_self_signed) &&
	    (srv->tls = tls_server_new(cfg.tls_cert, cfg.tls_key,
	    cfg.tls_self_signed, srv->fqdn, err, errsz)) == NULL)
		goto fail;
	if (compat_pipe(srv->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		snprintf(err, errsz, "pipe: %s", strerror(errno));
		goto fail;
	}
	pthread_mutex_init(&srv->deliver_lock, NULL);
	pthread_mutex_init(&srv->lock, NULL);
	compat_cond_init(&srv->changed);
	pthread_attr_init(&srv->worker_attr);
	pthread_attr_setstacksize(&srv->worker_attr, WORKER_STACK);
	atomic_init(&srv->stopping, false);
	srv->stop_state = SERVER_RUNNING;
	*out = srv;
	return 0;

fail:
	server_release(srv);
	return -1;
}

int
smtpd_server_set_faults(struct smtpd_server *srv, const char *const *rules,
    size_t n, char *err, size_t errsz)
{
	struct fault_set *fs;

	if (n > 0 && rules == NULL) {
		snprintf(err, errsz, "%zu fault rules but rules is NULL", n);
		return -1;
	}
	if (config_faults(&srv->cfg, rules, n, NULL, &fs, err, errsz) != 0)
		return -1;
	fault_slot_put(&srv->faults, fs);
	return 0;
}

bool
smtpd_tls_available(void)
{
	return tls_available();
}

const char *
smtpd_server_tls_fingerprint(const struct smtpd_server *srv)
{
	return srv->tls ? tls_server_fingerprint(srv->tls) : NULL;
}

static void *
server_accept_thread(void *arg)
{
	server_accept_loop(arg);
	return NULL;
}

/* server_claim - listen if not yet, and mark the server accepting; an
 * error if it was started or stopped before. */
static int
server_claim(struct smtpd_server *srv, char *err, size_t errsz)
{
	int r = 0;

	if (smtpd_server_listen(srv, err, errsz) != 0)
		return -1;
	pthread_mutex_lock(&srv->lock);
	if (srv->accepting || srv->stop_state != SERVER_RUNNING) {
		snprintf(err, errsz, "server already started or stopped");
		r = -1;
	} else {
		srv->accepting = true;
	}
	pthread_mutex_unlock(&srv->lock);
	return r;
}

int
smtpd_server_start(struct smtpd_server *srv, char *err, size_t errsz)
{
	if (server_claim(srv, err, errsz) != 0)
		return -1;
	/* Under the lock, so that has_thread is set before the loop can end
	 * and a stop look at it. */
	pthread_mutex_lock(&srv->lock);
	if (pthread_create(&srv->accept_thread, NULL, server_accept_thread,
	    srv) != 0) {
		srv->accepting = false;
		pthread_mutex_unlock(&srv->lock);
		snprintf(err, errsz, "cannot start the accept thread");
		return -1;
	}
	srv->has_thread = true;
	pthread_mutex_unlock(&srv->lock);
	/* listen() was called already: connects are queued from now on. */
	return 0;
}

int
smtpd_server_serve_forever(struct smtpd_server *srv, char *err,
    size_t errsz)
{
	if (server_claim(srv, err, errsz) != 0)
		return -1;
	server_accept_loop(srv);
	return 0;
}

const struct smtpd_config *
smtpd_server_config(const struct smtpd_server *srv)
{
	return &srv->cfg;
}

int
smtpd_server_port(const struct smtpd_server *srv)
{
	return srv->port;
}

int
smtpd_server_http_port(const struct smtpd_server *srv)
{
	return srv->http_port;
}

int
smtpd_server_connections(struct smtpd_server *srv)
{
	int n;

	pthread_mutex_lock(&srv->lock);
	n = srv->nlive;
	pthread_mutex_unlock(&srv->lock);
	return n;
}

/* server_shutdown_clients - wake the workers blocked in recv().  With all
 * false, only those between messages: a message in DATA may finish. */
static void
server_shutdown_clients(struct smtpd_server *srv, bool all)
{
	for (struct worker *w = srv->live; w; w = w->next) {
		struct smtpd_channel *ch = atomic_load(&w->channel);

		if (all || ch == NULL || !channel_in_data(ch))
			shutdown(w->fd, all ? SHUT_RDWR : SHUT_RD);
	}
}

void
smtpd_server_stop(struct smtpd_server *srv)
{
	struct timespec deadline;

	/* 0. The HTTP side first: its waits end, its threads are joined. */
	web_stop(srv);
	pthread_mutex_lock(&srv->lock);
	if (srv->stop_state != SERVER_RUNNING) {
		/* Someone else is stopping it: wait for them. */
		while (srv->stop_state != SERVER_STOPPED)
			pthread_cond_wait(&srv->changed, &srv->lock);
		pthread_mutex_unlock(&srv->lock);
		return;
	}
	srv->stop_state = SERVER_STOPPING;
	atomic_store(&srv->stopping, true);

	/* 1. Stop accepting.  On Linux, shutdown() of a listening socket
	 * wakes the accept loop blocked in accept() (which then fails with
	 * EINVAL); the pipe wakes it if it is backing off (server_backoff).
	 * The idle workers are woken to leave. */
	(void)!write(srv->wake[1], "x", 1);
	if (srv->listen_fd >= 0)
		shutdown(srv->listen_fd, SHUT_RD);
	for (struct worker *w = srv->idle; w; w = w->next)
		pthread_cond_signal(&w->handed);
	while (srv->accepting)
		pthread_cond_wait(&srv->changed, &srv->lock);
	pthread_mutex_unlock(&srv->lock);
	if (srv->has_thread)
		pthread_join(srv->accept_thread, NULL);
	listen_close(srv);

	/* 2. Idle clients get 421 now; messages in DATA get a grace period. */
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += srv->cfg.shutdown_grace;
	pthread_mutex_lock(&srv->lock);
	server_shutdown_clients(srv, false);
	while (srv->nlive > 0) {
		if (compat_cond_timedwait(&srv->changed, &srv->lock,
		    &deadline) == ETIMEDOUT)
			break;
		/* A client that finished its message is idle now. */
		server_shutdown_clients(srv, false);
	}

	/* 3. Past the grace period, cut everyone off, and wait for all
	 * threads: step 1 woke the idle ones, and a worker whose client
	 * leaves now sees the stop and does not wait for another. */
	server_shutdown_clients(srv, true);
	while (srv->nthreads > 0)
		pthread_cond_wait(&srv->changed, &srv->lock);
	pthread_mutex_unlock(&srv->lock);
	server_reap(srv);

	pthread_mutex_lock(&srv->lock);
	srv->stop_state = SERVER_STOPPED;
	pthread_cond_broadcast(&srv->changed);
	pthread_mutex_unlock(&srv->lock);
}

void
smtpd_server_free(struct smtpd_server *srv)
{
	if (srv == NULL)
		return;
	smtpd_server_stop(srv);
	listen_close(srv);
	close(srv->wake[0]);
	close(srv->wake[1]);
	pthread_attr_destroy(&srv->worker_attr);
	pthread_cond_destroy(&srv->changed);
	pthread_mutex_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->deliver_lock);
	server_release(srv);
}
