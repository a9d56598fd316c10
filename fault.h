/* SPDX-License-Identifier: ISC */
/*
 * fault.h - failures on demand: rules that make the server refuse, delay
 * or drop a client at one stage of the session, the client-driven
 * triggers of BadSMTP (the address picks the failure), and a rate limiter.
 *
 * A rule is one line of text:
 *
 *	STAGE[:MATCH][#N[+]]=ACTION[@P%]
 *
 *	STAGE	connect greeting helo auth mail rcpt data dot rset noop quit
 *	MATCH	a glob (fnmatch, case-insensitive) on the stage's subject:
 *		the client's IP at connect/greeting, the name at helo, the
 *		user at auth, the address at mail/rcpt, the transaction's
 *		sender at data/dot/rset/noop/quit
 *	#N	only the Nth time the stage is reached; #N+ from the Nth on
 *		(counted server-wide, from when the rule set was made)
 *	ACTION	"550 5.1.1 No such user" (a reply), drop, delay 500ms,
 *		delay 2s, 451 4.4.2 Timeout
 *	@P%	only P percent of the times (a seeded PRNG: repeatable)
 *
 * The module is pure: it parses, matches, counts and draws, and says what
 * to do in a struct fault_action; channel.c does it.  Everything here is
 * thread-safe: counters are atomic, the PRNG and the rate limiter have
 * their own locks, and a server swaps its rule set through a fault_slot
 * while clients use the old one.  Internal: not installed.
 */
#ifndef SMTPD_FAULT_H
#define SMTPD_FAULT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

enum fault_stage {
	FAULT_CONNECT,		/* instead of the greeting */
	FAULT_GREETING,		/* before the greeting */
	FAULT_HELO,		/* HELO and EHLO */
	FAULT_AUTH,
	FAULT_MAIL,
	FAULT_RCPT,
	FAULT_DATA,		/* the DATA command */
	FAULT_DOT,		/* after the body, before delivery */
	FAULT_RSET,
	FAULT_NOOP,
	FAULT_QUIT,
	FAULT_STAGES
};

enum fault_kind {
	FAULT_NONE,		/* go on as usual */
	FAULT_REPLY,		/* send reply[] instead; the command has no effect */
	FAULT_DROP,		/* close the connection without a word */
	FAULT_DELAY		/* wait delay_ms, then reply[] if any, else go on */
};

/* A reply line is at most 512 octets with its CRLF (RFC 5321 section
 * 4.5.3.1.5). */
#define FAULT_REPLY_MAX		511
/* A rule is one line; longer than this is a mistake, not a rule. */
#define FAULT_RULE_MAX		1000
/* No delay longer than a day: a typo ("5000m") should not hang a test. */
#define FAULT_DELAY_MAX_MS	(24LL * 3600 * 1000)

struct fault_action {
	enum fault_kind	 kind;
	long long	 delay_ms;		/* FAULT_DELAY */
	char		 reply[FAULT_REPLY_MAX];	/* "" = none */
	char		 rule[128];	/* what fired, for the -d log */
};

struct fault_options {
	const char *const *rules;	/* --fault, in order */
	size_t		 rule_count;
	const char	*file;		/* --fault-file, after them; NULL = none */
	unsigned long	 seed;		/* --fault-seed */
	bool		 seeded;	/* else seeded from the system */
	bool		 triggers;	/* --triggers */
	bool		 without_auth;	/* the server has no AUTH: an "auth"
					   rule, which could never fire, is
					   refused */
};

struct fault_set;

/* fault_set_new - parse the rules (strings, then the file's lines) into a
 * set with one reference; -1 with "fault rule \"...\": what is wrong" in
 * err.  A set with no rules and no triggers is valid (and fires never). */
int		 fault_set_new(const struct fault_options *, struct fault_set **,
		    char *err, size_t errsz);
/* fault_set_hold - one more reference. */
void		 fault_set_hold(struct fault_set *);
/* fault_set_release - one reference less; frees the set at the last. */
void		 fault_set_release(struct fault_set *);
/* fault_set_empty - true when the set can never fire. */
bool		 fault_set_empty(const struct fault_set *);

/* fault_check - the stage is reached (subject as in the header comment,
 * NULL if none): count it, and say in *a what to do.  Returns true when
 * a rule or a trigger fired (a->kind != FAULT_NONE). */
bool		 fault_check(struct fault_set *, enum fault_stage,
		    const char *subject, struct fault_action *a);

/* fault_rule_valid - parse one rule alone; 0, or -1 with a message. */
int		 fault_rule_valid(const char *text, char *err, size_t errsz);

/* fault_reply_valid - is this a reply a rule may send?  NULL, or what is
 * wrong with it. */
const char	*fault_reply_valid(const char *reply);

/* fault_stage_name - "connect", "rcpt", ... */
const char	*fault_stage_name(enum fault_stage);

/*
 * The server's current rule set, replaced while clients run: a new
 * command sees either the old set or the new one, whole, and the old one
 * is freed when the last command using it is done.
 */
struct fault_slot {
	pthread_mutex_t		 lock;
	struct fault_set *_Atomic set;	/* NULL: no faults, no lock taken */
};

/* fault_slot_init - an empty slot. */
void		 fault_slot_init(struct fault_slot *);
/* fault_slot_put - install set (its reference passes to the slot; NULL
 * empties it) and release the old one. */
void		 fault_slot_put(struct fault_slot *, struct fault_set *);
/* fault_slot_check - fault_check on the current set, if any. */
bool		 fault_slot_check(struct fault_slot *, enum fault_stage,
		    const char *subject, struct fault_action *a);
/* fault_slot_destroy - release the set and the lock. */
void		 fault_slot_destroy(struct fault_slot *);

/*
 * --rate N/s: a token bucket of N tokens, refilled at N a second, so that
 * a burst of N goes through and beyond it one in every 1/N seconds.
 */
struct fault_rate {
	pthread_mutex_t	 lock;
	int		 per_sec;	/* 0 = no limit */
	double		 tokens;
	long long	 last_ms;	/* when tokens was last refilled */
};

/* fault_rate_init - a full bucket; per_sec 0 lets everything through. */
void		 fault_rate_init(struct fault_rate *, int per_sec);
/* fault_rate_take - take a token at time now_ms; false when none is left. */
bool		 fault_rate_take(struct fault_rate *, long long now_ms);
/* fault_rate_destroy - release the lock. */
void		 fault_rate_destroy(struct fault_rate *);

#endif /* SMTPD_FAULT_H */
