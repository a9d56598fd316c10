/* SPDX-License-Identifier: ISC */
/*
 * maildir.c - the Maildir handler: each message becomes one file in a
 * Maildir (delivery.h), the way qmail delivers (http://cr.yp.to/proto/
 * maildir.html):
 *
 *	write it to DIR/tmp/NAME, fsync it,
 *	rename it to DIR/new/NAME, fsync DIR/new,
 *	and only then say 250.
 *
 * A reader of new/ never sees half a message, and a crash after the 250
 * loses nothing.  On any failure the file in tmp/ is removed and the client
 * gets 451, so it tries again.  NAME is made of the time, our pid, a
 * counter and the host name - never of anything in the message.
 *
 * The file holds the message as Python hands it to process_message (lines
 * joined by "\n"), preceded by "Return-Path: <sender>" as a final delivery
 * adds it (RFC 5321 section 4.4), and ended by a newline.  In LMTP each
 * recipient gets a copy of its own, with "Delivered-To: <recipient>";
 * behind a load balancer (the PROXY protocol) "X-Peer: <client>" says who
 * sent it.  Nothing is
 * shared but an atomic counter, so deliveries run concurrently.
 */
#include "compat.h"
#include "delivery.h"
#include "channel.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static atomic_ulong delivery_counter;

/* maildir_make - DIR and its tmp, new and cur, where missing. */
static int
maildir_make(const char *dir, char *err, size_t errsz)
{
	static const char *const subs[] = { "", "/tmp", "/new", "/cur" };
	char path[4096];

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", dir, subs[i]);
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errsz, "cannot create %s: %s", path,
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* unique_name - "SECONDS.MMICROSECONDSPpidQcounter.host", the Maildir
 * convention; "/" and ":" in the host name are escaped as it says. */
static void
unique_name(char *out, size_t outsz)
{
	char host[256], safe[1024];
	struct timeval tv;
	size_t o = 0;

	gettimeofday(&tv, NULL);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (const char *h = host; *h && o + 5 < sizeof(safe); h++) {
		if (*h == '/')
			o += (size_t)snprintf(safe + o, sizeof(safe) - o, "\\057");
		else if (*h == ':')
			o += (size_t)snprintf(safe + o, sizeof(safe) - o, "\\072");
		else
			safe[o++] = *h;
	}
	safe[o] = '\0';
	snprintf(out, outsz, "%lld.M%ldP%ldQ%lu.%s", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (long)getpid(),
	    atomic_fetch_add(&delivery_counter, 1) + 1, safe);
}

/* fsync_dir - make a rename in dir durable. */
static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

/*
 * maildir_write - one file: tmp, fsync, rename into new, fsync new.  Its
 * head is "Return-Path:", then "Delivered-To:" when delivering for one
 * recipient (LMTP), then "X-Peer:" when the client came through a load
 * balancer's PROXY header (which the file would otherwise not record).
 * 0, or -1 with the failure in why.
 */
static int
maildir_write(struct smtpd_channel *ch, const struct smtpd_message *m,
    const char *dir, const char *rcpt, char *why, size_t whysz)
{
	char name[1200], tmp[6000], new[6000], newdir[4200], head[2200];
	char err[256];
	const char *from = strcmp(m->mailfrom, "<>") == 0 ? "" : m->mailfrom;
	int fd = -1, n, e;

	/* Any of DIR, tmp/, new/ and cur/ removed since the last delivery
	 * (a cleanup, a reader's rm -r) is made again first: a mkdir that
	 * finds it there is cheap beside the fsyncs below. */
	if (maildir_make(dir, err, sizeof(err)) != 0) {
		snprintf(why, whysz, "Cannot deliver into %s: %s", dir, err);
		return -1;
	}
	for (int attempt = 0; fd < 0 && attempt < 2; attempt++) {
		unique_name(name, sizeof(name));
		snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		/* Removed again in between: make them again. */
		if (fd < 0 && errno == ENOENT &&
		    maildir_make(dir, err, sizeof(err)) != 0)
			break;
	}
	if (fd < 0) {
		snprintf(why, whysz, "Cannot create a file in %s/tmp: %s", dir,
		    strerror(errno));
		return -1;
	}
	n = snprintf(head, sizeof(head), "Return-Path: <%s>\n", from);
	if (rcpt)
		n += snprintf(head + n, sizeof(head) - (size_t)n,
		    "Delivered-To: %s\n", rcpt);
	if (smtpd_channel_proxied(ch))
		n += snprintf(head + n, sizeof(head) - (size_t)n,
		    "X-Peer: %s\n", m->peer_ip);
	if ((size_t)n >= sizeof(head))
		n = (int)sizeof(head) - 1;
	if (write_all(fd, head, (size_t)n) != 0 ||
	    write_all(fd, m->data, m->data_len) != 0 ||
	    write_all(fd, "\n", 1) != 0 || fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	snprintf(new, sizeof(new), "%s/new/%s", dir, name);
	snprintf(newdir, sizeof(newdir), "%s/new", dir);
	if (rename(tmp, new) != 0 && (errno != ENOENT ||
	    maildir_make(dir, err, sizeof(err)) != 0 || rename(tmp, new) != 0))
		goto fail;
	if (fsync_dir(newdir) != 0) {
		/* Not known to be safe: take it back, so the retry is the
		 * only copy. */
		e = errno;
		unlink(new);
		errno = e;
		goto fail;
	}
	return 0;

fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	snprintf(why, whysz, "Cannot deliver into %s: %s", dir, strerror(e));
	return -1;
}

/* maildir_process - the message, once for all its recipients; 250 only
 * when it is safely in new/. */
static const char *
maildir_process(struct smtpd_channel *ch, const struct smtpd_message *m,
    void *ctx)
{
	char why[6200];

	if (maildir_write(ch, m, ctx, NULL, why, sizeof(why)) != 0)
		return smtpd_channel_reply(ch, "451 4.3.0 %s", why);
	return NULL;
}

/* maildir_process_lmtp - LMTP: a copy per recipient, each with its own
 * Delivered-To, each answered on its own: one that could not be written
 * gets 451 and is retried alone.  A recipient already answered (a
 * program's handler that wraps this one refused it) is not delivered. */
static void
maildir_process_lmtp(struct smtpd_channel *ch, const struct smtpd_message *m,
    const char **replies, void *ctx)
{
	char why[6200];

	for (size_t i = 0; i < m->rcpt_count; i++)
		if (replies[i] == NULL && maildir_write(ch, m, ctx, m->rcpttos[i], why,
		    sizeof(why)) != 0)
			replies[i] = smtpd_channel_rcpt_reply(ch, i,
			    "451 4.3.0 <%s>: %s", m->rcpttos[i], why);
}

int
smtpd_handler_maildir(struct smtpd_handler *h, const char *dir, char *err,
    size_t errsz)
{
	struct smtpd_handler mh = {
		.name = "Maildir",
		.process_message = maildir_process,
		.process_message_lmtp = maildir_process_lmtp,
		.ctx = (void *)dir,
		.concurrent = true,
	};

	if (dir == NULL || *dir == '\0') {
		snprintf(err, errsz, "Maildir: no directory given");
		return -1;
	}
	if (maildir_make(dir, err, errsz) != 0)
		return -1;
	*h = mh;
	return 0;
}
