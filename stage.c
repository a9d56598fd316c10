/* SPDX-License-Identifier: ISC */
/*
 * stage.c - what runs at each stage of a session (connect, HELO, MAIL,
 * RCPT, DATA, the end of the body, RSET, NOOP, QUIT, AUTH) once the
 * command's own checks have passed: the fault rules first (fault.c: a
 * rule may answer instead, delay, or hang up), then the program's hook
 * and the handler's (server.h), the first reply winning.  channel.c
 * calls channel_stage at each stage; this file is the one place that
 * knows the order.
 */
#include "compat.h"
#include "channel_internal.h"
#include "io.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* hook_call - one set of hooks' hook: its reply, or NULL (also when it
 * is not set, or is one that has no reply). */
static const char *
hook_call(struct smtpd_channel *ch, const struct smtpd_hooks *h, void *ctx,
    enum hook which, const char *arg, const struct smtpd_message *m)
{
	switch (which) {
	case HOOK_CONNECT:
		return h->on_connect ? h->on_connect(ch, ctx) : NULL;
	case HOOK_HELO:
		return h->on_helo ? h->on_helo(ch, arg, ctx) : NULL;
	case HOOK_MAIL:
		return h->on_mail ? h->on_mail(ch, arg, ctx) : NULL;
	case HOOK_RCPT:
		return h->on_rcpt ? h->on_rcpt(ch, arg, ctx) : NULL;
	case HOOK_DATA:
		return h->on_data ? h->on_data(ch, m, ctx) : NULL;
	case HOOK_RESET:
		if (h->on_reset)
			h->on_reset(ch, ctx);
		return NULL;
	case HOOK_DISCONNECT:
		if (h->on_disconnect)
			h->on_disconnect(ch, ctx);
		return NULL;
	case HOOK_AUTH:
		return h->on_auth ? h->on_auth(ch, arg, ctx) : NULL;
	}
	return NULL;
}

/* hook_run - the configuration's hook, then the handler's: the first
 * reply wins (server.h); hooks without a reply both run. */
const char *
hook_run(struct smtpd_channel *ch, enum hook which, const char *arg,
    const struct smtpd_message *m)
{
	const struct smtpd_config *c = ch->cfg;
	const char *r;

	r = hook_call(ch, &c->hooks, c->hooks.ctx, which, arg, m);
	if (r == NULL)
		r = hook_call(ch, &c->handler.hooks, c->handler.ctx, which,
		    arg, m);
	return r;
}

/* The poll step of a delay: how soon a stop is noticed. */
#define FAULT_SLEEP_STEP_MS	50

/*
 * channel_sleep - a fault's delay, in this client's thread only: other
 * clients go on.  No longer than --timeout, which bounds every wait of a
 * session, and cut short by a stop (false) so that smtpd_server_stop
 * never waits for it.
 */
static bool
channel_sleep(struct smtpd_channel *ch, long long ms)
{
	long long end;

	if (ch->cfg->timeout > 0 && ms > ch->cfg->timeout * 1000LL)
		ms = ch->cfg->timeout * 1000LL;
	/* What was answered before this command is not held back by it. */
	channel_flush(ch);
	end = now_ms() + ms;
	for (;;) {
		long long left = end - now_ms();
		struct timespec ts;

		if (atomic_load(&ch->server->stopping))
			return false;
		if (left <= 0)
			return true;
		if (left > FAULT_SLEEP_STEP_MS)
			left = FAULT_SLEEP_STEP_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = left * 1000000L;
		nanosleep(&ts, NULL);
	}
}

/* fault_log - one line per fault that fires, with -d: the stage and its
 * subject, the rule, and what it does.  One fprintf, so that the lines of
 * clients logging at once do not mix. */
static void
fault_log(struct smtpd_channel *ch, enum fault_stage st, const char *subject,
    const struct fault_action *a)
{
	char what[FAULT_REPLY_MAX + 32];

	if (ch->cfg->debug == NULL)
		return;
	if (a->kind == FAULT_DROP)
		snprintf(what, sizeof(what), "drop");
	else if (a->kind == FAULT_DELAY)
		snprintf(what, sizeof(what), "delay %lldms%s%s", a->delay_ms,
		    a->reply[0] ? ", " : "", a->reply);
	else
		snprintf(what, sizeof(what), "%s", a->reply);
	fprintf(ch->cfg->debug, "%s:%d fault %s <%s>: %s -> %s\n", ch->peer_ip,
	    ch->peer_port, fault_stage_name(st), subject ? subject : "",
	    a->rule, what);
}

/* faults_on - whether a fault rule may fire at all (without rules, this
 * load and no more; docs/TOUR.md section 7 says why it matters). */
static inline bool
faults_on(const struct smtpd_channel *ch)
{
	return atomic_load_explicit(&ch->server->faults.set,
	    memory_order_acquire) != NULL;
}

/* fault_fire - channel_fault, with what fired in *a. */
static bool
fault_fire(struct smtpd_channel *ch, enum fault_stage st, const char *subject,
    struct fault_action *a)
{
	if (!fault_slot_check(&ch->server->faults, st, subject, a))
		return false;
	fault_log(ch, st, subject, a);
	if (ch->srec)
		session_set_fault(ch->srec, a->rule);
	if (a->kind == FAULT_DELAY) {
		if (!channel_sleep(ch, a->delay_ms)) {
			channel_pushf(ch, REPLY_SHUTTING_DOWN,
			    ch->server->fqdn);
			return true;
		}
		if (a->reply[0] == '\0')
			return false;
	}
	if (a->kind == FAULT_DROP) {
		/* Replies to earlier commands still go out, then nothing. */
		ch->closing = true;
		return true;
	}
	/* After the body, LMTP answers once for every recipient. */
	if (st == FAULT_DOT)
		channel_push_each(ch, a->reply);
	else
		channel_push(ch, a->reply);
	/* Instead of the greeting, any refusal ends the session. */
	if ((st == FAULT_CONNECT || st == FAULT_GREETING) &&
	    (a->reply[0] == '4' || a->reply[0] == '5'))
		ch->closing = true;
	return true;
}

/* fault_fire_frame - fault_fire, with its struct fault_action. */
static __attribute__((noinline)) bool
fault_fire_frame(struct smtpd_channel *ch, enum fault_stage st,
    const char *subject)
{
	struct fault_action a;

	return fault_fire(ch, st, subject, &a);
}

/*
 * channel_fault - the fault rules at this stage, for this subject (the
 * client's address, the HELO name, the MAIL or RCPT address, the
 * transaction's sender: fault.h).  Returns true when a rule answered in
 * the command's place (it then has no effect) or hung up; false to go on,
 * also after a delay without a reply.  A 421 closes the connection once
 * it is sent (RFC 5321 section 3.8).
 *
 * FAULT_AUTH is AUTH's (smtp_auth): the subject is the user who tried,
 * and a rule's reply replaces the login's outcome.
 */
bool
channel_fault(struct smtpd_channel *ch, enum fault_stage st,
    const char *subject)
{
	return faults_on(ch) && fault_fire_frame(ch, st, subject);
}

/* The hook of each stage that has one. */
static const struct {
	enum fault_stage	 stage;
	enum hook		 hook;
} stage_hooks[] = {
	{ FAULT_GREETING, HOOK_CONNECT },
	{ FAULT_HELO, HOOK_HELO },
	{ FAULT_MAIL, HOOK_MAIL },
	{ FAULT_RCPT, HOOK_RCPT },
	{ FAULT_DOT, HOOK_DATA },
};

/*
 * channel_stage - what runs at a stage of the session once the command's
 * own syntax and state checks have passed: the fault rules, then the
 * program's and the handler's hook for the stage, if it has one.  true:
 * a rule or a hook answered in the command's place (or hung up), and the
 * command has no effect.  At the end of the body (FAULT_DOT) LMTP answers
 * once per recipient; before the greeting, a 4xx or 5xx closes.
 */
bool
channel_stage(struct smtpd_channel *ch, enum fault_stage st,
    const char *subject, const struct smtpd_message *m)
{
	const char *r = NULL;

	if (channel_fault(ch, st, subject))
		return true;
	for (size_t i = 0; i < sizeof(stage_hooks) / sizeof(stage_hooks[0]);
	    i++)
		if (stage_hooks[i].stage == st)
			r = hook_run(ch, stage_hooks[i].hook, subject, m);
	if (r == NULL)
		return false;
	if (st == FAULT_DOT)
		channel_push_each(ch, r);
	else
		channel_push(ch, r);
	if (st == FAULT_GREETING && (r[0] == '4' || r[0] == '5'))
		ch->closing = true;
	return true;
}

