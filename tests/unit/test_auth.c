/* SPDX-License-Identifier: ISC */
/*
 * test_auth.c - base64 and the AUTH mechanisms (auth.c), with the
 * examples of RFC 4648, RFC 4616, RFC 4954 and RFC 2195; then AUTH, the
 * TLS requirements and STARTTLS's refusals in a channel (in memory).
 */
#include "auth.h"
#include "tls.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int	unit_add_auth_tests(void);

/* ---- base64 ------------------------------------------------------------- */

static const char *const rfc4648[][2] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_base64_encodes_rfc4648_vectors(void)
{
	char out[32];

	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		CU_ASSERT_TRUE(base64_encode(rfc4648[i][0],
		    strlen(rfc4648[i][0]), out, sizeof(out)));
		CU_ASSERT_STRING_EQUAL(out, rfc4648[i][1]);
	}
}

static void
test_base64_decodes_rfc4648_vectors(void)
{
	unsigned char out[32];

	for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		ssize_t n = base64_decode(rfc4648[i][1], strlen(rfc4648[i][1]),
		    out, sizeof(out));

		CU_ASSERT_EQUAL(n, (ssize_t)strlen(rfc4648[i][0]));
		CU_ASSERT_STRING_EQUAL((char *)out, rfc4648[i][0]);
	}
}

static void
test_base64_rejects_what_is_not_strict_base64(void)
{
	static const char *const bad[] = {
		"Zg", "Zg=", "Z===", "====", "Zm9v YmFy", "Zm9v\r\n", "Zg==Zg==",
		"Zh==", "Zm9=", "Zm!v", "Zm=v", "=Zm9",
	};
	unsigned char out[32];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(base64_decode(bad[i], strlen(bad[i]), out,
		    sizeof(out)), -1);
}

static void
test_base64_decode_refuses_a_short_buffer(void)
{
	unsigned char out[6];

	CU_ASSERT_EQUAL(base64_decode("Zm9vYmFy", 8, out, sizeof(out)), -2);
	CU_ASSERT_EQUAL(base64_decode("Zm9vYmE=", 8, out, sizeof(out)), 5);
	/* Bad base64 is bad however long: -1, not -2. */
	CU_ASSERT_EQUAL(base64_decode("Zm9vYmFyZm9v!A==", 16, out, sizeof(out)),
	    -1);
}

/* ---- the mechanisms ---------------------------------------------------- */

static const char *
users(const char *user, void *ctx)
{
	(void)ctx;
	if (strcmp(user, "tim") == 0)
		return "tanstaaftanstaaf";
	if (strcmp(user, "test") == 0)
		return "1234";
	return NULL;
}

static const struct auth_creds creds = { users, NULL, false };
static const struct auth_creds any = { NULL, NULL, true };

/* run - AUTH arg, then each line; the final status, user in d. */
static enum auth_status
run(const struct auth_creds *c, struct auth_dialogue *d, const char *arg,
    const char *const *lines, char *last_reply)
{
	char reply[512] = "";
	enum auth_status st = auth_begin(d, c, arg, "test.example", reply,
	    sizeof(reply));

	while (st == AUTH_MORE && lines && *lines) {
		if (last_reply)
			strcpy(last_reply, reply);
		st = auth_continue(d, c, *lines++, reply, sizeof(reply));
	}
	if (st == AUTH_MORE && last_reply)
		strcpy(last_reply, reply);
	return st;
}

static void
test_plain_rfc4616_example_logs_in_tim(void)
{
	struct auth_dialogue d;

	CU_ASSERT_EQUAL(run(&creds, &d, "PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm",
	    NULL, NULL), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(d.user, "tim");
}

static void
test_plain_rfc4954_example_with_authzid_of_the_user(void)
{
	struct auth_dialogue d;

	CU_ASSERT_EQUAL(run(&creds, &d, "PLAIN dGVzdAB0ZXN0ADEyMzQ=", NULL,
	    NULL), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(d.user, "test");
}

static void
test_plain_with_someone_elses_authzid_is_refused(void)
{
	struct auth_dialogue d;

	/* RFC 4616's "Ursel\0Kurt\0xipj3plmq": Kurt acting as Ursel. */
	CU_ASSERT_EQUAL(run(&any, &d, "PLAIN VXJzZWwAS3VydAB4aXBqM3BsbXE=",
	    NULL, NULL), AUTH_FAILED);
}

static void
test_plain_after_a_334_continuation(void)
{
	static const char *const lines[] = {
		"AHRpbQB0YW5zdGFhZnRhbnN0YWFm", NULL
	};
	struct auth_dialogue d;
	char prompt[512];

	CU_ASSERT_EQUAL(run(&creds, &d, "plain", lines, prompt), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(prompt, "334 ");
}

static void
test_plain_wrong_password_is_failed(void)
{
	struct auth_dialogue d;

	/* "\0tim\0wrong" */
	CU_ASSERT_EQUAL(run(&creds, &d, "PLAIN AHRpbQB3cm9uZw==", NULL, NULL),
	    AUTH_FAILED);
	CU_ASSERT_STRING_EQUAL(d.user, "");
	CU_ASSERT_STRING_EQUAL(d.attempt, "tim");
}

static void
test_plain_unknown_user_is_failed(void)
{
	struct auth_dialogue d;

	/* "\0bob\0x" */
	CU_ASSERT_EQUAL(run(&creds, &d, "PLAIN AGJvYgB4", NULL, NULL),
	    AUTH_FAILED);
}

static void
test_plain_empty_initial_response_is_failed(void)
{
	struct auth_dialogue d;

	CU_ASSERT_EQUAL(run(&any, &d, "PLAIN =", NULL, NULL), AUTH_FAILED);
}

static void
test_plain_without_nuls_is_failed(void)
{
	struct auth_dialogue d;

	CU_ASSERT_EQUAL(run(&any, &d, "PLAIN Zm9vYmFy", NULL, NULL),
	    AUTH_FAILED);
}

static void
test_plain_bad_base64_is_bad_base64(void)
{
	struct auth_dialogue d;

	CU_ASSERT_EQUAL(run(&creds, &d, "PLAIN AHRpbQB0YW5zdGFhZn@hbnN0YWFm",
	    NULL, NULL), AUTH_BAD_BASE64);
	CU_ASSERT_STRING_EQUAL(auth_reply(AUTH_BAD_BASE64),
	    "501 5.5.2 Cannot decode response");
}

static void
test_star_cancels(void)
{
	static const char *const lines[] = { "*", NULL };
	struct auth_dialogue d;

	CU_ASSERT_EQUAL(run(&creds, &d, "PLAIN", lines, NULL), AUTH_CANCELLED);
	CU_ASSERT_EQUAL(run(&creds, &d, "LOGIN", lines, NULL), AUTH_CANCELLED);
}

static void
test_auth_any_takes_any_password_and_records_the_name(void)
{
	struct auth_dialogue d;

	/* "\0bob\0x" */
	CU_ASSERT_EQUAL(run(&any, &d, "PLAIN AGJvYgB4", NULL, NULL), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(d.user, "bob");
}

static void
test_login_prompts_for_username_then_password(void)
{
	static const char *const user[] = { "dGlt", NULL };
	static const char *const both[] = {
		"dGlt", "dGFuc3RhYWZ0YW5zdGFhZg==", NULL
	};
	struct auth_dialogue d;
	char prompt[512];

	CU_ASSERT_EQUAL(run(&creds, &d, "LOGIN", NULL, prompt), AUTH_MORE);
	CU_ASSERT_STRING_EQUAL(prompt, "334 VXNlcm5hbWU6");	/* Username: */
	CU_ASSERT_EQUAL(run(&creds, &d, "LOGIN", user, prompt), AUTH_MORE);
	CU_ASSERT_STRING_EQUAL(prompt, "334 UGFzc3dvcmQ6");	/* Password: */
	CU_ASSERT_EQUAL(run(&creds, &d, "LOGIN", both, NULL), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(d.user, "tim");
}

static void
test_login_with_initial_username(void)
{
	static const char *const pass[] = { "dGFuc3RhYWZ0YW5zdGFhZg==", NULL };
	struct auth_dialogue d;

	CU_ASSERT_EQUAL(run(&creds, &d, "LOGIN dGlt", pass, NULL), AUTH_OK);
}

static void
test_login_wrong_password_is_failed(void)
{
	static const char *const both[] = { "dGlt", "eA==", NULL };
	struct auth_dialogue d;

	CU_ASSERT_EQUAL(run(&creds, &d, "LOGIN", both, NULL), AUTH_FAILED);
	CU_ASSERT_STRING_EQUAL(d.user, "");
}

static void
test_cram_md5_rfc2195_example(void)
{
	struct auth_dialogue d;
	char reply[512], dec[256];
	enum auth_status st;

	if (!tls_available()) {
		CU_ASSERT_EQUAL(run(&creds, &d, "CRAM-MD5", NULL, NULL),
		    AUTH_NO_MECHANISM);
		return;
	}
	st = auth_begin(&d, &creds, "CRAM-MD5", "test.example", reply,
	    sizeof(reply));
	CU_ASSERT_EQUAL(st, AUTH_MORE);
	/* The challenge is "<random.time@fqdn>", base64-encoded. */
	CU_ASSERT_EQUAL(strncmp(reply, "334 ", 4), 0);
	CU_ASSERT_TRUE(base64_decode(reply + 4, strlen(reply + 4),
	    (unsigned char *)dec, sizeof(dec)) > 0);
	CU_ASSERT_STRING_EQUAL(dec, d.challenge);
	CU_ASSERT_PTR_NOT_NULL(strstr(dec, "@test.example>"));
	/* RFC 2195's own challenge and response. */
	strcpy(d.challenge, "<1896.697170952@postoffice.reston.mci.net>");
	st = auth_continue(&d, &creds,
	    "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw", reply,
	    sizeof(reply));
	CU_ASSERT_EQUAL(st, AUTH_OK);
	CU_ASSERT_STRING_EQUAL(d.user, "tim");
}

static void
test_cram_md5_wrong_digest_is_failed(void)
{
	struct auth_dialogue d;
	char reply[512];

	if (!tls_available())
		return;
	auth_begin(&d, &creds, "CRAM-MD5", "test.example", reply,
	    sizeof(reply));
	strcpy(d.challenge, "<1896.697170952@postoffice.reston.mci.net>");
	/* "tim b913a602c7eda7a495b4e6e7334d3891" */
	CU_ASSERT_EQUAL(auth_continue(&d, &creds,
	    "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkx", reply,
	    sizeof(reply)), AUTH_FAILED);
}

static void
test_cram_md5_with_auth_any_takes_any_digest(void)
{
	static const char *const lines[] = { "Ym9iIDAw", NULL };	/* "bob 00" */
	struct auth_dialogue d;

	if (!tls_available())
		return;
	CU_ASSERT_EQUAL(run(&any, &d, "CRAM-MD5", lines, NULL), AUTH_OK);
	CU_ASSERT_STRING_EQUAL(d.user, "bob");
}

static void
test_cram_md5_initial_response_is_syntax(void)
{
	struct auth_dialogue d;

	if (!tls_available())
		return;
	CU_ASSERT_EQUAL(run(&any, &d, "CRAM-MD5 Ym9iIDAw", NULL, NULL),
	    AUTH_SYNTAX);
}

static void
test_unknown_mechanism_is_504(void)
{
	struct auth_dialogue d;

	CU_ASSERT_EQUAL(run(&any, &d, "GSSAPI", NULL, NULL),
	    AUTH_NO_MECHANISM);
	CU_ASSERT_STRING_EQUAL(auth_reply(AUTH_NO_MECHANISM),
	    "504 5.5.4 Unrecognized authentication type");
}

static void
test_auth_without_mechanism_or_with_two_responses_is_syntax(void)
{
	struct auth_dialogue d;

	CU_ASSERT_EQUAL(run(&any, &d, "", NULL, NULL), AUTH_SYNTAX);
	CU_ASSERT_EQUAL(run(&any, &d, "PLAIN AA== AA==", NULL, NULL),
	    AUTH_SYNTAX);
}

/* ---- the table of users ------------------------------------------------ */

static void
test_users_table_from_options_and_file(void)
{
	struct auth_users *t = auth_users_new();
	char path[] = "/tmp/smtpd-auth-XXXXXX", err[256];
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	fputs("# users\n\nann:s3cret\r\nbob:pa:ss\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(auth_users_add(t, "tim:x", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(auth_users_load(t, path, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(auth_users_secret("tim", t), "x");
	CU_ASSERT_STRING_EQUAL(auth_users_secret("ann", t), "s3cret");
	CU_ASSERT_STRING_EQUAL(auth_users_secret("bob", t), "pa:ss");
	CU_ASSERT_PTR_NULL(auth_users_secret("eve", t));
	CU_ASSERT_EQUAL(auth_users_add(t, "nocolon", err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(auth_users_add(t, ":x", err, sizeof(err)), -1);
	unlink(path);
	CU_ASSERT_EQUAL(auth_users_load(t, path, err, sizeof(err)), -1);
	auth_users_free(t);
}

static void
test_users_file_bad_line_does_not_print_it(void)
{
	struct auth_users *t = auth_users_new();
	char path[] = "/tmp/smtpd-auth-XXXXXX", err[256];
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	fputs("ann:ok\nsecretpassword\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(auth_users_load(t, path, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ":2:"));
	CU_ASSERT_PTR_NULL(strstr(err, "secretpassword"));
	unlink(path);
	auth_users_free(t);
}

/* ---- AUTH in a channel -------------------------------------------------- */

#define AUTH_EHLO	"EHLO client.example\r\n"
#define TIM_PLAIN	"AHRpbQB0YW5zdGFhZnRhbnN0YWFm"	/* \0tim\0tanstaaftanstaaf */

static const char *last_auth_user;

static const char *
on_auth_refuse_tim(struct smtpd_channel *ch, const char *user, void *ctx)
{
	(void)ch;
	(void)ctx;
	last_auth_user = user;
	return strcmp(user, "tim") == 0 ? "535 5.7.8 Not tim today" : NULL;
}

static void
auth_config(struct smtpd_config *cfg)
{
	unit_config(cfg);
	cfg->auth_secret = users;
	cfg->auth_plaintext = true;
}

/* after_ehlo - the replies after the EHLO reply. */
static const char *
after_ehlo(const struct smtpd_config *cfg, const char *input)
{
	const char *r;

	unit_reset();
	r = unit_session(cfg, input, strlen(input), 0);
	r = strstr(r, "250 HELP\r\n");
	return r ? r + 10 : "";
}

static void
test_channel_ehlo_offers_auth_only_when_configured(void)
{
	struct smtpd_config cfg;

	unit_config(&cfg);
	unit_reset();
	CU_ASSERT_PTR_NULL(strstr(unit_session(&cfg, AUTH_EHLO,
	    strlen(AUTH_EHLO), 0), "AUTH"));
	auth_config(&cfg);
	unit_reset();
	CU_ASSERT_PTR_NOT_NULL(strstr(unit_session(&cfg, AUTH_EHLO,
	    strlen(AUTH_EHLO), 0), "250-AUTH PLAIN LOGIN"));
}

static void
test_channel_auth_plain_then_message_carries_the_user(void)
{
	struct smtpd_config cfg;

	auth_config(&cfg);
	CU_ASSERT_STRING_EQUAL(after_ehlo(&cfg, AUTH_EHLO
	    "AUTH PLAIN " TIM_PLAIN "\r\n"
	    "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r\n.\r\n"),
	    "235 2.7.0 Authentication successful\r\n250 OK\r\n250 OK\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n250 OK\r\n");
	CU_ASSERT_EQUAL(delivered.count, 1);
}

static void
test_channel_auth_login_split_across_reads(void)
{
	struct smtpd_config cfg;
	const char *in = AUTH_EHLO "AUTH LOGIN\r\ndGlt\r\n"
	    "dGFuc3RhYWZ0YW5zdGFhZg==\r\n";
	const char *r;

	auth_config(&cfg);
	unit_reset();
	r = unit_session(&cfg, in, strlen(in), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6"
	    "\r\n235 2.7.0 Authentication successful\r\n"));
}

static const char *
long_secret(const char *user, void *ctx)
{
	(void)ctx;
	return strlen(user) == AUTH_FIELD_MAX ? (const char *)ctx : NULL;
}

static void
test_channel_auth_plain_with_the_longest_user_and_password(void)
{
	static char pw[AUTH_FIELD_MAX + 1];
	unsigned char plain[2 * AUTH_FIELD_MAX + 2];
	char enc[1024], in[2048];
	struct smtpd_config cfg;

	memset(pw, 'p', AUTH_FIELD_MAX);
	plain[0] = '\0';
	memset(plain + 1, 'u', AUTH_FIELD_MAX);
	plain[AUTH_FIELD_MAX + 1] = '\0';
	memcpy(plain + AUTH_FIELD_MAX + 2, pw, AUTH_FIELD_MAX);
	base64_encode(plain, sizeof(plain), enc, sizeof(enc));
	/* A line of about 700 bytes: longer than any other command. */
	snprintf(in, sizeof(in), AUTH_EHLO "AUTH PLAIN %s\r\nNOOP %0600d\r\n",
	    enc, 0);
	auth_config(&cfg);
	cfg.auth_secret = long_secret;
	cfg.auth_ctx = pw;
	CU_ASSERT_STRING_EQUAL(after_ehlo(&cfg, in),
	    "235 2.7.0 Authentication successful\r\n"
	    "500 Error: line too long\r\n");
}

static void
test_channel_auth_lines_longer_than_the_buffer_are_refused_not_fatal(void)
{
	struct smtpd_config cfg;
	char in[8192], *p;

	auth_config(&cfg);
	p = in + sprintf(in, AUTH_EHLO "AUTH PLAIN ");
	memset(p, 'A', 3000);
	p += 3000;
	p += sprintf(p, "\r\nNOOP\r\nAUTH PLAIN\r\n");
	memset(p, 'A', 3000);
	p += 3000;
	sprintf(p, "\r\nNOOP\r\n");
	CU_ASSERT_STRING_EQUAL(after_ehlo(&cfg, in),
	    "500 Error: line too long\r\n250 OK\r\n334 \r\n"
	    "500 5.5.6 Authentication exchange line is too long\r\n250 OK\r\n");
}

static void
test_channel_auth_over_plaintext_is_538_without_auth_plaintext(void)
{
	struct smtpd_config cfg;

	auth_config(&cfg);
	cfg.auth_plaintext = false;
	CU_ASSERT_STRING_EQUAL(after_ehlo(&cfg, AUTH_EHLO "AUTH PLAIN "
	    TIM_PLAIN "\r\n"), "538 5.7.11 Encryption required for requested "
	    "authentication mechanism\r\n");
}

static void
test_channel_auth_refusals(void)
{
	struct smtpd_config cfg;

	auth_config(&cfg);
	CU_ASSERT_STRING_EQUAL(after_ehlo(&cfg, AUTH_EHLO
	    "AUTH PLAIN AHRpbQB4\r\n"		/* wrong password */
	    "AUTH PLAIN @@@@\r\n"
	    "AUTH LOGIN\r\n*\r\n"
	    "MAIL FROM:<a@b>\r\nAUTH PLAIN " TIM_PLAIN "\r\nRSET\r\n"
	    "AUTH PLAIN " TIM_PLAIN "\r\nAUTH PLAIN " TIM_PLAIN "\r\n"),
	    "535 5.7.8 Authentication credentials invalid\r\n"
	    "501 5.5.2 Cannot decode response\r\n"
	    "334 VXNlcm5hbWU6\r\n501 5.7.0 Authentication cancelled\r\n"
	    "250 OK\r\n"
	    "503 5.5.1 Error: AUTH not permitted during a mail transaction\r\n"
	    "250 OK\r\n"
	    "235 2.7.0 Authentication successful\r\n"
	    "503 5.5.1 Error: already authenticated\r\n");
}

static void
test_channel_auth_required_refuses_mail_first(void)
{
	struct smtpd_config cfg;

	auth_config(&cfg);
	cfg.auth_required = true;
	CU_ASSERT_STRING_EQUAL(after_ehlo(&cfg, AUTH_EHLO
	    "MAIL FROM:<a@b>\r\nAUTH PLAIN " TIM_PLAIN "\r\nMAIL FROM:<a@b>\r\n"),
	    "530 5.7.0 Authentication required\r\n"
	    "235 2.7.0 Authentication successful\r\n250 OK\r\n");
}

static void
test_channel_on_auth_hook_may_refuse(void)
{
	struct smtpd_config cfg;

	auth_config(&cfg);
	cfg.hooks.on_auth = on_auth_refuse_tim;
	last_auth_user = NULL;
	CU_ASSERT_STRING_EQUAL(after_ehlo(&cfg, AUTH_EHLO
	    "AUTH PLAIN " TIM_PLAIN "\r\nAUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=\r\n"),
	    "535 5.7.8 Not tim today\r\n235 2.7.0 Authentication successful\r\n");
	CU_ASSERT_PTR_NOT_NULL(last_auth_user);
}

static void
test_channel_eof_inside_auth_ends_quietly(void)
{
	struct smtpd_config cfg;

	auth_config(&cfg);
	CU_ASSERT_STRING_EQUAL(after_ehlo(&cfg, AUTH_EHLO "AUTH LOGIN\r\ndGlt"),
	    "334 VXNlcm5hbWU6\r\n");
}

static void
test_channel_failed_logins_reach_max_auth_failures(void)
{
	struct smtpd_config cfg;
	char in[4096] = AUTH_EHLO;
	const char *r;

	auth_config(&cfg);
	cfg.max_auth_failures = 2;
	for (int i = 0; i < 4; i++)
		strcat(in, "AUTH LOGIN\r\ndGlt\r\neA==\r\nNOOP\r\n");
	r = after_ehlo(&cfg, in);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "535 5.7.8 Authentication credentials "
	    "invalid\r\n421 4.7.0 Too many authentication failures\r\n"));
	/* Two attempts, then the 421, and nothing after it. */
	CU_ASSERT_PTR_NOT_NULL_FATAL((r = strstr(r, "421")));
	CU_ASSERT_PTR_NULL(strstr(r, "250"));
	CU_ASSERT_PTR_NULL(strstr(r + 3, "421"));
}

static void
test_channel_failed_logins_reach_max_junk(void)
{
	struct smtpd_config cfg;
	char in[4096] = AUTH_EHLO;
	const char *r;

	auth_config(&cfg);
	cfg.max_junk = 3;
	cfg.max_auth_failures = 0;	/* the other limit, tested below */
	for (int i = 0; i < 5; i++)
		strcat(in, "AUTH LOGIN\r\ndGlt\r\neA==\r\n");
	r = after_ehlo(&cfg, in);
	CU_ASSERT_PTR_NOT_NULL(strstr(r, "535 5.7.8 Authentication credentials "
	    "invalid\r\n421 test.example Error: too many bad commands\r\n"));
	/* Three attempts, then the 421: not five. */
	CU_ASSERT_PTR_NULL(strstr(strstr(r, "421"), "334"));
}

static void
test_channel_require_tls_refuses_mail_and_auth(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	char err[256];

	auth_config(&cfg);
	cfg.require_tls = true;
	if (!tls_available()) {
		CU_ASSERT_EQUAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)),
		    -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "built without TLS support"));
		return;
	}
	cfg.tls_self_signed = true;
	CU_ASSERT_STRING_EQUAL(after_ehlo(&cfg, AUTH_EHLO
	    "MAIL FROM:<a@b>\r\nAUTH PLAIN " TIM_PLAIN "\r\nSTARTTLS x\r\n"
	    "STARTTLS\r\n"),
	    "530 5.7.0 Must issue a STARTTLS command first\r\n"
	    "530 5.7.0 Must issue a STARTTLS command first\r\n"
	    "501 Syntax: STARTTLS\r\n"
	    "454 4.7.0 TLS not available\r\n");
}

static void
test_config_checks_tls_and_auth_fields(void)
{
	struct smtpd_config cfg;
	struct smtpd_server *srv;
	char err[256];

	unit_config(&cfg);
	cfg.auth_required = true;
	CU_ASSERT_EQUAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "needs users"));
	unit_config(&cfg);
	cfg.tls_cert = "cert.pem";
	CU_ASSERT_EQUAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)), -1);
	unit_config(&cfg);
	cfg.smtps = true;
	CU_ASSERT_EQUAL(smtpd_server_new(&cfg, &srv, err, sizeof(err)), -1);
	CU_ASSERT_EQUAL(smtpd_tls_available(), tls_available());
}

static const struct unit_test tests[] = {
	{ "base64 encodes RFC 4648 vectors", test_base64_encodes_rfc4648_vectors },
	{ "base64 decodes RFC 4648 vectors", test_base64_decodes_rfc4648_vectors },
	{ "base64 rejects non-strict input",
	    test_base64_rejects_what_is_not_strict_base64 },
	{ "base64 decode refuses a short buffer",
	    test_base64_decode_refuses_a_short_buffer },
	{ "PLAIN RFC 4616 example", test_plain_rfc4616_example_logs_in_tim },
	{ "PLAIN RFC 4954 example",
	    test_plain_rfc4954_example_with_authzid_of_the_user },
	{ "PLAIN other authzid refused",
	    test_plain_with_someone_elses_authzid_is_refused },
	{ "PLAIN after 334", test_plain_after_a_334_continuation },
	{ "PLAIN wrong password", test_plain_wrong_password_is_failed },
	{ "PLAIN unknown user", test_plain_unknown_user_is_failed },
	{ "PLAIN empty initial response",
	    test_plain_empty_initial_response_is_failed },
	{ "PLAIN without NULs", test_plain_without_nuls_is_failed },
	{ "PLAIN bad base64", test_plain_bad_base64_is_bad_base64 },
	{ "* cancels", test_star_cancels },
	{ "auth-any", test_auth_any_takes_any_password_and_records_the_name },
	{ "LOGIN prompts", test_login_prompts_for_username_then_password },
	{ "LOGIN initial username", test_login_with_initial_username },
	{ "LOGIN wrong password", test_login_wrong_password_is_failed },
	{ "CRAM-MD5 RFC 2195 example", test_cram_md5_rfc2195_example },
	{ "CRAM-MD5 wrong digest", test_cram_md5_wrong_digest_is_failed },
	{ "CRAM-MD5 auth-any", test_cram_md5_with_auth_any_takes_any_digest },
	{ "CRAM-MD5 initial response",
	    test_cram_md5_initial_response_is_syntax },
	{ "unknown mechanism 504", test_unknown_mechanism_is_504 },
	{ "AUTH syntax", test_auth_without_mechanism_or_with_two_responses_is_syntax },
	{ "users table", test_users_table_from_options_and_file },
	{ "users file bad line", test_users_file_bad_line_does_not_print_it },
	{ "channel: EHLO offers AUTH when configured",
	    test_channel_ehlo_offers_auth_only_when_configured },
	{ "channel: AUTH PLAIN, then a message",
	    test_channel_auth_plain_then_message_carries_the_user },
	{ "channel: AUTH LOGIN split across reads",
	    test_channel_auth_login_split_across_reads },
	{ "channel: longest AUTH PLAIN",
	    test_channel_auth_plain_with_the_longest_user_and_password },
	{ "channel: AUTH lines past the buffer",
	    test_channel_auth_lines_longer_than_the_buffer_are_refused_not_fatal },
	{ "channel: 538 over plaintext",
	    test_channel_auth_over_plaintext_is_538_without_auth_plaintext },
	{ "channel: AUTH refusals", test_channel_auth_refusals },
	{ "channel: auth_required", test_channel_auth_required_refuses_mail_first },
	{ "channel: on_auth hook", test_channel_on_auth_hook_may_refuse },
	{ "channel: EOF inside AUTH", test_channel_eof_inside_auth_ends_quietly },
	{ "channel: failed logins reach max_auth_failures",
	    test_channel_failed_logins_reach_max_auth_failures },
	{ "channel: failed logins reach max_junk",
	    test_channel_failed_logins_reach_max_junk },
	{ "channel: require_tls", test_channel_require_tls_refuses_mail_and_auth },
	{ "config: TLS and AUTH fields", test_config_checks_tls_and_auth_fields },
};

int
unit_add_auth_tests(void)
{
	return unit_add_suite("auth", tests, sizeof(tests) / sizeof(tests[0]));
}
