/*
 * test_smtp_command - unit tests for smtpd/smtp_command.c: verbs,
 * arguments, MAIL/RCPT parameters, line limits and hostile bytes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check_suites.h"
#include "envelope.h"
#include "../../smtpd/smtp_command.h"

#define EXT_ALL	(SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_DSN | \
	SMTP_EXT_SMTPUTF8 | SMTP_EXT_AUTH)

static struct smtp_command cmd;
static char reply[256];

/* reply_form_ok - "NNN X.Y.Z text" with X matching the code's class */
static int
reply_form_ok(const char *r, int code)
{
	char want[4];

	snprintf(want, sizeof(want), "%d", code);
	return strlen(r) > 10 && strncmp(r, want, 3) == 0 && r[3] == ' ' &&
	    r[4] == r[0] && r[5] == '.' && (r[7] == '.' || r[8] == '.');
}

/*
 * run_len - parse a heap copy of exactly len octets (ASan sees overreads);
 * every refusal must come with a well-formed reply of the same code.
 */
static int
run_len(const char *line, size_t len, int ext)
{
	char *copy = malloc(len > 0 ? len : 1);
	int rc;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, line, len);
	memset(reply, 'X', sizeof(reply));
	rc = smtp_command_parse(copy, len, ext, &cmd, reply, sizeof(reply));
	/* cmd.arg points into copy; keep its text for the caller */
	if (rc == 0) {
		ck_assert_uint_le(cmd.arglen, len);
		if (cmd.arg != NULL) {
			ck_assert(cmd.arg >= copy && cmd.arg + cmd.arglen <=
			    copy + len);
			cmd.arg = line + (cmd.arg - copy);
		}
	} else
		ck_assert_msg(reply_form_ok(reply, rc), "%d: %s", rc, reply);
	free(copy);
	return rc;
}

/* run - run_len on a NUL-terminated line */
static int
run(const char *line, int ext)
{
	return run_len(line, strlen(line), ext);
}

/* arg_is - the parsed argument is exactly s */
static void
arg_is(const char *s)
{
	ck_assert_uint_eq(cmd.arglen, strlen(s));
	ck_assert(memcmp(cmd.arg, s, cmd.arglen) == 0);
}

/* refused - line gets exactly this reply */
static void
refused(const char *line, int ext, const char *want)
{
	int code = atoi(want);

	ck_assert_msg(run(line, ext) == code, "%s: %s", line, reply);
	ck_assert_str_eq(reply, want);
}

START_TEST(test_verbs)
{
	static const struct {
		const char *line;
		enum smtp_verb verb;
	} t[] = {
		{ "HELO a.example", SMTP_CMD_HELO },
		{ "ehlo a.example", SMTP_CMD_EHLO },
		{ "MaIl FROM:<>", SMTP_CMD_MAIL },
		{ "rcpt to:<u@x.example>", SMTP_CMD_RCPT },
		{ "data", SMTP_CMD_DATA },
		{ "RSET", SMTP_CMD_RSET },
		{ "noop", SMTP_CMD_NOOP },
		{ "QUIT", SMTP_CMD_QUIT },
		{ "VRFY user", SMTP_CMD_VRFY },
		{ "EXPN list", SMTP_CMD_EXPN },
		{ "HELP", SMTP_CMD_HELP },
		{ "StartTLS", SMTP_CMD_STARTTLS },
		{ "AUTH PLAIN", SMTP_CMD_AUTH },
		{ "BDAT 100 LAST", SMTP_CMD_BDAT },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_msg(run(t[i].line, 0) == 0, "%s: %s", t[i].line,
		    reply);
		ck_assert_int_eq(cmd.verb, t[i].verb);
		ck_assert(strncasecmp(t[i].line, smtp_verb_name(cmd.verb),
		    strlen(smtp_verb_name(cmd.verb))) == 0);
	}
	ck_assert_str_eq(smtp_verb_name(SMTP_CMD_MAIL), "MAIL");
	ck_assert_str_eq(smtp_verb_name(SMTP_CMD_BDAT), "BDAT");
	ck_assert_str_eq(smtp_verb_name(SMTP_CMD_UNKNOWN), "UNKNOWN");
}
END_TEST

START_TEST(test_unknown)
{
	refused("FOO", 0, "500 5.5.2 Error: command not recognized");
	ck_assert_int_eq(cmd.verb, SMTP_CMD_UNKNOWN);
	refused("", 0, "500 5.5.2 Error: command not recognized");
	refused(" ", 0, "500 5.5.2 Error: command not recognized");
	refused(" QUIT", 0, "500 5.5.2 Error: command not recognized");
	refused("MAILFROM:<>", 0, "500 5.5.2 Error: command not recognized");
	refused("QUITX", 0, "500 5.5.2 Error: command not recognized");
	refused("QUI", 0, "500 5.5.2 Error: command not recognized");
	refused("DATA\tx", 0, "500 5.5.2 Error: command not recognized");
	refused("GET / HTTP/1.0", 0, "500 5.5.2 Error: command not recognized");
	ck_assert_int_eq(smtp_command_parse(NULL, 0, 0, &cmd, reply,
	    sizeof(reply)), 500);
}
END_TEST

START_TEST(test_hostile_bytes)
{
	refused("NOOP \x01", 0,
	    "500 5.5.2 Syntax error: control character in command");
	refused("NOOP \x7f", 0,
	    "500 5.5.2 Syntax error: control character in command");
	refused("QUIT\r", 0,
	    "500 5.5.2 Syntax error: control character in command");
	refused("EHLO a\nMAIL", 0,
	    "500 5.5.2 Syntax error: control character in command");
	ck_assert_int_eq(run_len("NOOP\0x", 6, 0), 500);
	ck_assert_str_eq(reply, "500 5.5.2 Syntax error: NUL in command");
	ck_assert_int_eq(run_len("QUIT\0", 5, 0), 500);
	ck_assert_int_eq(run_len("MAIL FROM:<a\0@b.example>", 24, EXT_ALL),
	    500);
	ck_assert_int_eq(run_len("\0", 1, 0), 500);
	/* 8-bit octets alone are not control characters */
	ck_assert_int_eq(run("NOOP \xc3\xa9", 0), 0);
	/* a tab in an argument is tolerated */
	ck_assert_int_eq(run("NOOP a\tb", 0), 0);
}
END_TEST

START_TEST(test_line_length)
{
	char line[SMTP_MAIL_LINE_MAX + 16];
	size_t n, base;

	/* 510 octets + CRLF is the RFC 5321 limit for ordinary commands */
	n = SMTP_LINE_MAX - 2;
	memset(line, 'a', sizeof(line));
	memcpy(line, "NOOP ", 5);
	ck_assert_int_eq(run_len(line, n, 0), 0);
	ck_assert_int_eq(run_len(line, n + 1, 0), 500);
	ck_assert_str_eq(reply, "500 5.5.2 Line too long");
	memcpy(line, "HELO ", 5);
	ck_assert_int_eq(run_len(line, n + 1, 0), 500);
	ck_assert_str_eq(reply, "500 5.5.2 Line too long");
	memcpy(line, "XXXX ", 5);
	ck_assert_int_eq(run_len(line, n + 1, 0), 500);
	ck_assert_str_eq(reply, "500 5.5.2 Line too long");

	/* MAIL may be longer: a 498-octet AUTH= value fits */
	base = n = (size_t)snprintf(line, sizeof(line),
	    "MAIL FROM:<a@b.example> AUTH=");
	while (n < base + 498) {
		memcpy(line + n, "+41", 3);
		n += 3;
	}
	ck_assert_uint_gt(n, SMTP_LINE_MAX);
	ck_assert_int_eq(run_len(line, n, EXT_ALL), 0);
	ck_assert_uint_eq(strlen(cmd.auth), 166);
	/* but not past its own limit */
	memset(line, 'a', sizeof(line));
	memcpy(line, "MAIL FROM:<a@b.example> X=", 26);
	ck_assert_int_eq(run_len(line, SMTP_MAIL_LINE_MAX - 2, EXT_ALL), 555);
	ck_assert_int_eq(run_len(line, SMTP_MAIL_LINE_MAX - 1, EXT_ALL), 500);
	ck_assert_str_eq(reply, "500 5.5.2 Line too long");
	memset(line, 'a', sizeof(line));
	memcpy(line, "RCPT TO:<a@b.example> X=", 24);
	ck_assert_int_eq(run_len(line, SMTP_RCPT_LINE_MAX - 2, EXT_ALL), 555);
	ck_assert_int_eq(run_len(line, SMTP_RCPT_LINE_MAX - 1, EXT_ALL), 500);
	ck_assert_str_eq(reply, "500 5.5.2 Line too long");
}
END_TEST

START_TEST(test_helo)
{
	ck_assert_int_eq(run("EHLO client.example", 0), 0);
	arg_is("client.example");
	ck_assert_int_eq(run("HELO  [192.0.2.1]  ", 0), 0);
	arg_is("[192.0.2.1]");
	/* liberal: names real clients send */
	ck_assert_int_eq(run("EHLO my_host", 0), 0);
	ck_assert_int_eq(run("EHLO 192.0.2.1", 0), 0);
	ck_assert_int_eq(run("EHLO localhost", 0), 0);
	refused("EHLO", 0, "501 5.5.4 Syntax: EHLO hostname");
	refused("EHLO ", 0, "501 5.5.4 Syntax: EHLO hostname");
	refused("HELO", 0, "501 5.5.4 Syntax: HELO hostname");
	refused("EHLO two words", 0, "501 5.5.4 Syntax: EHLO hostname");
	refused("EHLO a\tb", 0, "501 5.5.4 Syntax: EHLO hostname");
	refused("EHLO h\xc3\xa9.example", 0,
	    "501 5.5.4 Syntax: EHLO hostname");
}
END_TEST

START_TEST(test_no_args)
{
	ck_assert_int_eq(run("DATA", 0), 0);
	ck_assert_int_eq(cmd.arglen, 0);
	ck_assert_int_eq(run("QUIT  ", 0), 0);
	refused("DATA x", 0, "501 5.5.4 Syntax: DATA (no parameters allowed)");
	refused("RSET x", 0, "501 5.5.4 Syntax: RSET (no parameters allowed)");
	refused("QUIT now", 0,
	    "501 5.5.4 Syntax: QUIT (no parameters allowed)");
	refused("STARTTLS x", 0,
	    "501 5.5.4 Syntax: STARTTLS (no parameters allowed)");
}
END_TEST

START_TEST(test_optional_args)
{
	ck_assert_int_eq(run("NOOP", 0), 0);
	ck_assert_int_eq(cmd.arglen, 0);
	ck_assert_int_eq(run("NOOP  hello there ", 0), 0);
	arg_is("hello there");
	ck_assert_int_eq(run("HELP MAIL", 0), 0);
	arg_is("MAIL");
	ck_assert_int_eq(run("VRFY <u@x.example>", 0), 0);
	arg_is("<u@x.example>");
	ck_assert_int_eq(run("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", 0), 0);
	arg_is("PLAIN dGVzdAB0ZXN0AHRlc3Q=");
	ck_assert_int_eq(run("BDAT 0 LAST", 0), 0);
	arg_is("0 LAST");
	refused("VRFY", 0, "501 5.5.4 Syntax: VRFY address");
	refused("EXPN ", 0, "501 5.5.4 Syntax: EXPN mailing-list");
	refused("AUTH", 0,
	    "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
	refused("BDAT", 0, "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
}
END_TEST

START_TEST(test_mail)
{
	ck_assert_int_eq(run("MAIL FROM:<Sender@Example.ORG>", 0), 0);
	ck_assert_int_eq(cmd.verb, SMTP_CMD_MAIL);
	ck_assert_str_eq(cmd.addr.local, "Sender");
	ck_assert_str_eq(cmd.addr.domain, "example.org");
	arg_is("<Sender@Example.ORG>");
	ck_assert_uint_eq(cmd.size, 0);
	ck_assert_int_eq(cmd.body, BODY_7BIT);
	ck_assert_int_eq(cmd.ret, DSN_RET_DEFAULT);
	ck_assert_int_eq(cmd.smtputf8, 0);
	ck_assert_str_eq(cmd.envid, "");
	ck_assert_str_eq(cmd.auth, "");

	ck_assert_int_eq(run("mail from:<>", 0), 0);
	ck_assert_int_eq(cmd.addr.flags, ADDR_F_NULL);
	/* one space after the colon is tolerated, as Postfix does */
	ck_assert_int_eq(run("MAIL FROM: <a@b.example>", 0), 0);
	ck_assert_str_eq(cmd.addr.domain, "b.example");
	ck_assert_int_eq(run("MAIL   FROM:<a@b.example>   ", 0), 0);
	refused("MAIL FROM:  <a@b.example>", 0,
	    "501 5.1.7 Bad sender address syntax");
	refused("MAIL FROM:a@b.example", 0,
	    "501 5.1.7 Bad sender address syntax");
	refused("MAIL FROM:<a@b@c.example>", 0,
	    "501 5.1.7 Bad sender address syntax");
	refused("MAIL FROM:<a@-b.example>", 0,
	    "501 5.1.8 Bad sender system address");
	refused("MAIL FROM:<postmaster>", 0,
	    "501 5.1.7 Bad sender address syntax");
	refused("MAIL", 0, "501 5.5.4 Syntax: MAIL FROM:<address>");
	refused("MAIL FROM:", 0, "501 5.5.4 Syntax: MAIL FROM:<address>");
	refused("MAIL FROM: ", 0, "501 5.5.4 Syntax: MAIL FROM:<address>");
	refused("MAIL FROM", 0, "501 5.5.4 Syntax: MAIL FROM:<address>");
	refused("MAIL TO:<a@b.example>", 0,
	    "501 5.5.4 Syntax: MAIL FROM:<address>");
	refused("MAIL FROM:<a@b.example>SIZE=10", SMTP_EXT_SIZE,
	    "501 5.5.4 Syntax: MAIL FROM:<address>");
	refused("MAIL FROM:<a@b.example", 0,
	    "501 5.1.7 Bad sender address syntax");
}
END_TEST

START_TEST(test_rcpt)
{
	ck_assert_int_eq(run("RCPT TO:<u@x.example>", 0), 0);
	ck_assert_int_eq(cmd.verb, SMTP_CMD_RCPT);
	ck_assert_str_eq(cmd.addr.local, "u");
	ck_assert_uint_eq(cmd.notify, 0);
	ck_assert_str_eq(cmd.orcpt, "");
	ck_assert_int_eq(run("RCPT TO:<Postmaster>", 0), 0);
	ck_assert_int_eq(cmd.addr.flags, ADDR_F_POSTMASTER);
	ck_assert_int_eq(run("RCPT TO: <@a.example:u@x.example>", 0), 0);
	ck_assert_str_eq(cmd.addr.domain, "x.example");
	refused("RCPT TO:<>", 0,
	    "501 5.1.3 Null recipient address not allowed");
	refused("RCPT TO:<u@x..example>", 0,
	    "501 5.1.2 Bad destination system address");
	refused("RCPT TO:<u@other@local>", 0,
	    "501 5.1.3 Bad recipient address syntax");
	refused("RCPT TO:u@x.example", 0,
	    "501 5.1.3 Bad recipient address syntax");
	refused("RCPT FROM:<u@x.example>", 0,
	    "501 5.5.4 Syntax: RCPT TO:<address>");
	refused("RCPT", 0, "501 5.5.4 Syntax: RCPT TO:<address>");
	refused("RCPT TO:<u@x.example> SIZE=10", EXT_ALL,
	    "555 5.5.4 Unsupported option: SIZE");
	refused("MAIL FROM:<u@x.example> NOTIFY=NEVER", EXT_ALL,
	    "555 5.5.4 Unsupported option: NOTIFY");
}
END_TEST

START_TEST(test_size)
{
	ck_assert_int_eq(run("MAIL FROM:<a@b.example> SIZE=12345",
	    SMTP_EXT_SIZE), 0);
	ck_assert_uint_eq(cmd.size, 12345);
	ck_assert_int_eq(run("MAIL FROM:<> size=0", SMTP_EXT_SIZE), 0);
	ck_assert_uint_eq(cmd.size, 0);
	ck_assert_int_eq(run("MAIL FROM:<> SIZE=18446744073709551615",
	    SMTP_EXT_SIZE), 0);
	ck_assert_uint_eq(cmd.size, UINT64_MAX);
	ck_assert_int_eq(run("MAIL FROM:<> SIZE=00000000000000000000000001",
	    SMTP_EXT_SIZE), 0);
	ck_assert_uint_eq(cmd.size, 1);
	refused("MAIL FROM:<> SIZE=18446744073709551616", SMTP_EXT_SIZE,
	    "552 5.3.4 Message size exceeds fixed maximum message size");
	refused("MAIL FROM:<> SIZE=99999999999999999999999", SMTP_EXT_SIZE,
	    "552 5.3.4 Message size exceeds fixed maximum message size");
	refused("MAIL FROM:<> SIZE=12a", SMTP_EXT_SIZE,
	    "501 5.5.4 Bad SIZE parameter syntax");
	refused("MAIL FROM:<> SIZE=-1", SMTP_EXT_SIZE,
	    "501 5.5.4 Bad SIZE parameter syntax");
	refused("MAIL FROM:<> SIZE", SMTP_EXT_SIZE,
	    "501 5.5.4 Syntax: SIZE=value");
	refused("MAIL FROM:<> SIZE=", SMTP_EXT_SIZE,
	    "501 5.5.4 Bad parameter syntax");
	refused("MAIL FROM:<> SIZE=100", EXT_ALL & ~SMTP_EXT_SIZE,
	    "555 5.5.4 Unsupported option: SIZE");
}
END_TEST

START_TEST(test_body)
{
	ck_assert_int_eq(run("MAIL FROM:<> BODY=8BITMIME",
	    SMTP_EXT_8BITMIME), 0);
	ck_assert_int_eq(cmd.body, BODY_8BITMIME);
	ck_assert_int_eq(run("MAIL FROM:<> body=8bitmime",
	    SMTP_EXT_8BITMIME), 0);
	ck_assert_int_eq(cmd.body, BODY_8BITMIME);
	ck_assert_int_eq(run("MAIL FROM:<> BODY=7BIT", SMTP_EXT_8BITMIME), 0);
	ck_assert_int_eq(cmd.body, BODY_7BIT);
	refused("MAIL FROM:<> BODY=8BITMIME", EXT_ALL & ~SMTP_EXT_8BITMIME,
	    "555 5.5.4 Unsupported option: BODY");
	refused("MAIL FROM:<> BODY=BINARYMIME", SMTP_EXT_8BITMIME,
	    "555 5.5.4 Unsupported BODY type");
	refused("MAIL FROM:<> BODY=8BIT", SMTP_EXT_8BITMIME,
	    "555 5.5.4 Unsupported BODY type");
	refused("MAIL FROM:<> BODY", SMTP_EXT_8BITMIME,
	    "501 5.5.4 Syntax: BODY=value");
}
END_TEST

START_TEST(test_ret_envid)
{
	ck_assert_int_eq(run("MAIL FROM:<> RET=FULL ENVID=abc+2Bdef",
	    SMTP_EXT_DSN), 0);
	ck_assert_int_eq(cmd.ret, DSN_RET_FULL);
	ck_assert_str_eq(cmd.envid, "abc+def");
	ck_assert_int_eq(run("MAIL FROM:<> ret=hdrs", SMTP_EXT_DSN), 0);
	ck_assert_int_eq(cmd.ret, DSN_RET_HDRS);
	ck_assert_int_eq(run("MAIL FROM:<> ENVID=a+20b", SMTP_EXT_DSN), 0);
	ck_assert_str_eq(cmd.envid, "a b");
	refused("MAIL FROM:<> RET=NONE", SMTP_EXT_DSN,
	    "501 5.5.4 Bad RET parameter");
	refused("MAIL FROM:<> RET", SMTP_EXT_DSN,
	    "501 5.5.4 Syntax: RET=value");
	refused("MAIL FROM:<> RET=FULL", EXT_ALL & ~SMTP_EXT_DSN,
	    "555 5.5.4 Unsupported option: RET");
	refused("MAIL FROM:<> ENVID=x", EXT_ALL & ~SMTP_EXT_DSN,
	    "555 5.5.4 Unsupported option: ENVID");
	refused("MAIL FROM:<> ENVID=a+00b", SMTP_EXT_DSN,
	    "501 5.5.4 Bad ENVID parameter");
	refused("MAIL FROM:<> ENVID=a+0Ab", SMTP_EXT_DSN,
	    "501 5.5.4 Bad ENVID parameter");
	refused("MAIL FROM:<> ENVID=a+c3b", SMTP_EXT_DSN,
	    "501 5.5.4 Bad ENVID parameter");
	refused("MAIL FROM:<> ENVID=a+C3b", SMTP_EXT_DSN,
	    "501 5.5.4 Bad ENVID parameter");
	refused("MAIL FROM:<> ENVID", SMTP_EXT_DSN,
	    "501 5.5.4 Syntax: ENVID=value");
	refused("RCPT TO:<u@x.example> ORCPT", SMTP_EXT_DSN,
	    "501 5.5.4 Syntax: ORCPT=value");
	refused("MAIL FROM:<> ENVID=a+2", SMTP_EXT_DSN,
	    "501 5.5.4 Bad ENVID parameter");
	ck_assert_str_eq(cmd.envid, "");
}
END_TEST

START_TEST(test_envid_length)
{
	char line[256];

	snprintf(line, sizeof(line), "MAIL FROM:<> ENVID=%0100d", 7);
	ck_assert_int_eq(run(line, SMTP_EXT_DSN), 0);
	ck_assert_uint_eq(strlen(cmd.envid), SMTP_ENVID_MAX);
	snprintf(line, sizeof(line), "MAIL FROM:<> ENVID=%0101d", 7);
	refused(line, SMTP_EXT_DSN, "501 5.5.4 Bad ENVID parameter");
}
END_TEST

/* RFC 8689 2: REQUIRETLS takes no value, is for MAIL only, and only in
 * a session over TLS (the only one that advertises it). */
START_TEST(test_requiretls)
{
	ck_assert_int_eq(run("MAIL FROM:<a@b.example> REQUIRETLS",
	    EXT_ALL | SMTP_EXT_REQUIRETLS), 0);
	ck_assert_int_eq(cmd.requiretls, 1);
	ck_assert_int_eq(run("MAIL FROM:<> SIZE=10 requiretls BODY=8BITMIME",
	    EXT_ALL | SMTP_EXT_REQUIRETLS), 0);
	ck_assert_int_eq(cmd.requiretls, 1);
	ck_assert_int_eq(cmd.size, 10);
	ck_assert_int_eq(run("MAIL FROM:<a@b.example>",
	    EXT_ALL | SMTP_EXT_REQUIRETLS), 0);
	ck_assert_int_eq(cmd.requiretls, 0);
	refused("MAIL FROM:<a@b.example> REQUIRETLS", EXT_ALL,
	    "530 5.7.10 REQUIRETLS needs a TLS session: STARTTLS first");
	refused("MAIL FROM:<a@b.example> REQUIRETLS=YES",
	    EXT_ALL | SMTP_EXT_REQUIRETLS,
	    "501 5.5.4 REQUIRETLS takes no value");
	refused("MAIL FROM:<a@b.example> REQUIRETLS REQUIRETLS",
	    EXT_ALL | SMTP_EXT_REQUIRETLS,
	    "501 5.5.4 Duplicate REQUIRETLS parameter");
	refused("RCPT TO:<a@b.example> REQUIRETLS",
	    EXT_ALL | SMTP_EXT_REQUIRETLS,
	    "555 5.5.4 Unsupported option: REQUIRETLS");
	/* HELO, not EHLO: no extension at all */
	refused("MAIL FROM:<a@b.example> REQUIRETLS", 0,
	    "555 5.5.4 Unsupported option: REQUIRETLS");
}
END_TEST

START_TEST(test_smtputf8)
{
	ck_assert_int_eq(run("MAIL FROM:<> SMTPUTF8", SMTP_EXT_SMTPUTF8), 0);
	ck_assert_int_eq(cmd.smtputf8, 1);
	ck_assert_int_eq(run("MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc" "cher.example>"
	    " SMTPUTF8", SMTP_EXT_SMTPUTF8), 0);
	ck_assert(cmd.addr.flags & ADDR_F_UTF8);
	ck_assert_str_eq(cmd.addr.local, "j\xc3\xb6rg");
	/* advertised but not asked for: RFC 6531 3.4 */
	refused("MAIL FROM:<j\xc3\xb6rg@x.example>", SMTP_EXT_SMTPUTF8,
	    "553 5.6.7 Non-ASCII addresses require SMTPUTF8");
	refused("MAIL FROM:<j\xc3\xb6rg@x.example>", 0,
	    "553 5.6.7 Non-ASCII addresses require SMTPUTF8");
	refused("MAIL FROM:<j\xc3\xb6rg@x.example> SMTPUTF8",
	    EXT_ALL & ~SMTP_EXT_SMTPUTF8,
	    "553 5.6.7 Non-ASCII addresses require SMTPUTF8");
	refused("MAIL FROM:<> SMTPUTF8", EXT_ALL & ~SMTP_EXT_SMTPUTF8,
	    "555 5.5.4 Unsupported option: SMTPUTF8");
	refused("MAIL FROM:<> SMTPUTF8=yes", SMTP_EXT_SMTPUTF8,
	    "501 5.5.4 SMTPUTF8 takes no value");
	/* RCPT: the session passes SMTPUTF8 only for SMTPUTF8 transactions */
	ck_assert_int_eq(run("RCPT TO:<\xc3\xbc@x.example>",
	    SMTP_EXT_SMTPUTF8), 0);
	refused("RCPT TO:<\xc3\xbc@x.example>", 0,
	    "553 5.6.7 Non-ASCII addresses require SMTPUTF8");
	refused("RCPT TO:<\xc3\x28@x.example>", SMTP_EXT_SMTPUTF8,
	    "501 5.1.3 Bad recipient address syntax");
}
END_TEST

START_TEST(test_auth_param)
{
	ck_assert_int_eq(run("MAIL FROM:<a@b.example> AUTH=<>",
	    SMTP_EXT_AUTH), 0);
	ck_assert_str_eq(cmd.auth, "<>");
	ck_assert_int_eq(run("MAIL FROM:<a@b.example> AUTH=u+2Bx@b.example",
	    SMTP_EXT_AUTH), 0);
	ck_assert_str_eq(cmd.auth, "u+x@b.example");
	refused("MAIL FROM:<> AUTH=<>", EXT_ALL & ~SMTP_EXT_AUTH,
	    "555 5.5.4 Unsupported option: AUTH");
	refused("MAIL FROM:<> AUTH=a+4", SMTP_EXT_AUTH,
	    "501 5.5.4 Bad AUTH parameter");
	refused("MAIL FROM:<> AUTH", SMTP_EXT_AUTH,
	    "501 5.5.4 Syntax: AUTH=value");
}
END_TEST

START_TEST(test_auth_param_length)
{
	char line[1024];
	int n;

	/* decodes to more than cmd.auth holds */
	n = snprintf(line, sizeof(line), "MAIL FROM:<> AUTH=");
	memset(line + n, 'a', ADDR_TEXT_MAX);
	line[n + ADDR_TEXT_MAX] = '\0';
	refused(line, SMTP_EXT_AUTH, "501 5.5.4 Bad AUTH parameter");
	line[n + ADDR_TEXT_MAX - 1] = '\0';
	ck_assert_int_eq(run(line, SMTP_EXT_AUTH), 0);
	ck_assert_uint_eq(strlen(cmd.auth), ADDR_TEXT_MAX - 1);
	/* more than 500 octets of xtext */
	n = snprintf(line, sizeof(line), "MAIL FROM:<> AUTH=");
	while (n < 18 + 501)
		n += snprintf(line + n, sizeof(line) - n, "+41");
	refused(line, SMTP_EXT_AUTH, "501 5.5.4 Bad AUTH parameter");
}
END_TEST

START_TEST(test_notify)
{
	static const struct {
		const char *v;
		uint32_t want;
	} t[] = {
		{ "NEVER", NOTIFY_NEVER },
		{ "never", NOTIFY_NEVER },
		{ "SUCCESS", NOTIFY_SUCCESS },
		{ "FAILURE,DELAY", NOTIFY_FAILURE | NOTIFY_DELAY },
		{ "Success,Failure,Delay", NOTIFY_SUCCESS | NOTIFY_FAILURE |
		    NOTIFY_DELAY },
		{ "DELAY,DELAY", NOTIFY_DELAY },
		{ "NEVER,SUCCESS", 0 },
		{ "SUCCESS,NEVER", 0 },
		{ "SUCCESS,,DELAY", 0 },
		{ "SUCCESS,", 0 },
		{ ",SUCCESS", 0 },
		{ "ALWAYS", 0 },
		{ "SUCCES", 0 },
	};
	char line[128];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(line, sizeof(line), "RCPT TO:<u@x.example> NOTIFY=%s",
		    t[i].v);
		if (t[i].want != 0) {
			ck_assert_msg(run(line, SMTP_EXT_DSN) == 0, "%s", line);
			ck_assert_uint_eq(cmd.notify, t[i].want);
		} else
			refused(line, SMTP_EXT_DSN,
			    "501 5.5.4 Bad NOTIFY parameter");
	}
	refused("RCPT TO:<u@x.example> NOTIFY", SMTP_EXT_DSN,
	    "501 5.5.4 Syntax: NOTIFY=value");
	refused("RCPT TO:<u@x.example> NOTIFY=NEVER", EXT_ALL & ~SMTP_EXT_DSN,
	    "555 5.5.4 Unsupported option: NOTIFY");
}
END_TEST

START_TEST(test_orcpt)
{
	char line[1024];
	int n;

	ck_assert_int_eq(run("RCPT TO:<u@x.example> "
	    "ORCPT=rfc822;u+2Bx@x.example NOTIFY=FAILURE", SMTP_EXT_DSN), 0);
	ck_assert_str_eq(cmd.orcpt, "rfc822;u+2Bx@x.example");
	ck_assert_uint_eq(cmd.notify, NOTIFY_FAILURE);
	refused("RCPT TO:<u@x.example> ORCPT=rfc822", SMTP_EXT_DSN,
	    "501 5.5.4 Bad ORCPT parameter");
	refused("RCPT TO:<u@x.example> ORCPT=;u@x.example", SMTP_EXT_DSN,
	    "501 5.5.4 Bad ORCPT parameter");
	refused("RCPT TO:<u@x.example> ORCPT=rfc822;", SMTP_EXT_DSN,
	    "501 5.5.4 Bad ORCPT parameter");
	refused("RCPT TO:<u@x.example> ORCPT=rfc822;a+ZZ", SMTP_EXT_DSN,
	    "501 5.5.4 Bad ORCPT parameter");
	refused("RCPT TO:<u@x.example> ORCPT=rfc(822;a", SMTP_EXT_DSN,
	    "501 5.5.4 Bad ORCPT parameter");
	refused("RCPT TO:<u@x.example> ORCPT=rfc822;a", EXT_ALL & ~SMTP_EXT_DSN,
	    "555 5.5.4 Unsupported option: ORCPT");
	ck_assert_str_eq(cmd.orcpt, "");

	/* 500 octets is the limit */
	n = snprintf(line, sizeof(line), "RCPT TO:<u@x.example> ORCPT=rfc822;");
	memset(line + n, 'a', 500 - 7);
	line[n + 500 - 7] = '\0';
	ck_assert_int_eq(run(line, SMTP_EXT_DSN), 0);
	ck_assert_uint_eq(strlen(cmd.orcpt), SMTP_ORCPT_MAX);
	line[n + 500 - 7] = 'a';
	line[n + 500 - 6] = '\0';
	refused(line, SMTP_EXT_DSN, "501 5.5.4 Bad ORCPT parameter");
}
END_TEST

START_TEST(test_param_syntax)
{
	refused("MAIL FROM:<> SIZE=1 SIZE=2", SMTP_EXT_SIZE,
	    "501 5.5.4 Duplicate SIZE parameter");
	refused("MAIL FROM:<> BODY=7BIT body=8BITMIME", EXT_ALL,
	    "501 5.5.4 Duplicate BODY parameter");
	refused("RCPT TO:<u@x.example> NOTIFY=NEVER NOTIFY=NEVER", EXT_ALL,
	    "501 5.5.4 Duplicate NOTIFY parameter");
	refused("MAIL FROM:<> FOO=bar", EXT_ALL,
	    "555 5.5.4 Unsupported option: FOO");
	refused("MAIL FROM:<> X-Thing", EXT_ALL,
	    "555 5.5.4 Unsupported option: X-Thing");
	refused("MAIL FROM:<>  SIZE=1", EXT_ALL,
	    "501 5.5.4 Bad parameter syntax");
	refused("MAIL FROM:<> SIZE=1  BODY=7BIT", EXT_ALL,
	    "501 5.5.4 Bad parameter syntax");
	refused("MAIL FROM:<> =1", EXT_ALL, "501 5.5.4 Bad parameter syntax");
	refused("MAIL FROM:<> -X=1", EXT_ALL, "501 5.5.4 Bad parameter syntax");
	refused("MAIL FROM:<> SI_ZE=1", EXT_ALL,
	    "501 5.5.4 Bad parameter syntax");
	refused("MAIL FROM:<> SIZE=1=2", EXT_ALL,
	    "501 5.5.4 Bad parameter syntax");
	refused("MAIL FROM:<> SIZE=\xc3\xa9", EXT_ALL,
	    "501 5.5.4 Bad parameter syntax");
	refused("MAIL FROM:<> SIZE=1\tBODY=7BIT", EXT_ALL,
	    "501 5.5.4 Bad parameter syntax");
	/* all together, in any order and any case */
	ck_assert_int_eq(run("MAIL FROM:<a@b.example> smtputf8 AUTH=<> "
	    "Body=8BITMIME ENVID=QQ314159 RET=HDRS SIZE=1000 ", EXT_ALL), 0);
	ck_assert_uint_eq(cmd.size, 1000);
	ck_assert_int_eq(cmd.body, BODY_8BITMIME);
	ck_assert_int_eq(cmd.ret, DSN_RET_HDRS);
	ck_assert_str_eq(cmd.envid, "QQ314159");
	ck_assert_int_eq(cmd.smtputf8, 1);
	ck_assert_str_eq(cmd.auth, "<>");
	arg_is("<a@b.example>");
}
END_TEST

START_TEST(test_xtext)
{
	char out[8];

	ck_assert_int_eq(xtext_decode("a+2Bb", 5, out, sizeof(out)), 3);
	ck_assert_str_eq(out, "a+b");
	ck_assert_int_eq(xtext_decode("", 0, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(xtext_decode("+7E+3D", 6, out, sizeof(out)), 2);
	ck_assert_str_eq(out, "~=");
	ck_assert_int_eq(xtext_decode("+FF", 3, out, sizeof(out)), 1);
	ck_assert_int_eq((unsigned char)out[0], 0xff);
	ck_assert_int_eq(xtext_decode("a=b", 3, out, sizeof(out)), -1);
	ck_assert_int_eq(xtext_decode("a b", 3, out, sizeof(out)), -1);
	ck_assert_int_eq(xtext_decode("a+", 2, out, sizeof(out)), -1);
	ck_assert_int_eq(xtext_decode("a+4", 3, out, sizeof(out)), -1);
	ck_assert_int_eq(xtext_decode("+4g", 3, out, sizeof(out)), -1);
	ck_assert_int_eq(xtext_decode("+00", 3, out, sizeof(out)), -1);
	ck_assert_int_eq(xtext_decode("\xc3\xa9", 2, out, sizeof(out)), -1);
	/* the length given is what counts */
	ck_assert_int_eq(xtext_decode("ab+41", 3, out, sizeof(out)), -1);
	ck_assert_int_eq(xtext_decode("abcd", 2, out, sizeof(out)), 2);
	ck_assert_str_eq(out, "ab");
	/* the output must fit with its NUL */
	ck_assert_int_eq(xtext_decode("1234567", 7, out, sizeof(out)), 7);
	ck_assert_int_eq(xtext_decode("12345678", 8, out, sizeof(out)), -1);
	ck_assert_int_eq(xtext_decode("a", 1, out, 0), -1);
}
END_TEST

START_TEST(test_small_reply_buffer)
{
	char small[10];
	struct smtp_command c;

	memset(small, 'X', sizeof(small));
	ck_assert_int_eq(smtp_command_parse("FOO", 3, 0, &c, small,
	    sizeof(small)), 500);
	ck_assert_str_eq(small, "500 5.5.2");
	ck_assert_int_eq(smtp_command_parse("FOO", 3, 0, &c, NULL, 0), 500);
}
END_TEST

/* smtp_command_suite - all command parser tests */
/* BDAT chunk-size [LAST]: digits that fit 64 bits, LAST in any case */
START_TEST(test_bdat_args)
{
	ck_assert_int_eq(run("BDAT 0 LAST", 0), 0);
	ck_assert(cmd.chunk_size == 0 && cmd.last);
	ck_assert_int_eq(run("bdat 1048576", 0), 0);
	ck_assert(cmd.chunk_size == 1048576 && !cmd.last);
	ck_assert_int_eq(run("BDAT 42 last", 0), 0);
	ck_assert(cmd.chunk_size == 42 && cmd.last);
	ck_assert_int_eq(run("BDAT 18446744073709551615 LAST", 0), 0);
	ck_assert(cmd.chunk_size == UINT64_MAX);
	refused("BDAT 18446744073709551616", 0,
	    "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
	refused("BDAT -1", 0, "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
	refused("BDAT +1", 0, "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
	refused("BDAT 1x", 0, "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
	refused("BDAT 10 LASTX", 0, "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
	refused("BDAT 10 FIRST", 0, "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
	refused("BDAT LAST", 0, "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
	refused("BDAT 1 2", 0, "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
}
END_TEST

/* ETRN [@]domain, lowercased; #queue noted; anything else 501 */
START_TEST(test_etrn_args)
{
	char longest[MSG_ETRN_DOMAIN_MAX + 8];

	ck_assert_int_eq(run("ETRN Example.COM", 0), 0);
	ck_assert_str_eq(cmd.etrn_domain, "example.com");
	ck_assert(cmd.etrn_flags == 0 && !cmd.etrn_queue);
	ck_assert_int_eq(run("etrn @sub.example.org", 0), 0);
	ck_assert_str_eq(cmd.etrn_domain, "sub.example.org");
	ck_assert_uint_eq(cmd.etrn_flags, ETRN_F_SUBDOMAINS);
	ck_assert_int_eq(run("ETRN #queue1", 0), 0);
	ck_assert(cmd.etrn_queue && cmd.etrn_domain[0] == '\0');
	refused("ETRN", 0, "501 5.5.4 Syntax: ETRN domain");
	refused("ETRN @", 0, "501 5.5.4 Syntax: ETRN domain");
	refused("ETRN #", 0, "501 5.5.4 Syntax: ETRN domain");
	refused("ETRN [127.0.0.1]", 0, "501 5.5.4 Syntax: ETRN domain");
	refused("ETRN exa mple.com", 0, "501 5.5.4 Syntax: ETRN domain");
	refused("ETRN a..b", 0, "501 5.5.4 Syntax: ETRN domain");
	refused("ETRN -a.b", 0, "501 5.5.4 Syntax: ETRN domain");
	refused("ETRN user@example.com", 0, "501 5.5.4 Syntax: ETRN domain");
	/* the longest name queued accepts passes; one more does not */
	strlcpy(longest, "ETRN ", sizeof(longest));
	for (size_t i = 5; i < 5 + MSG_ETRN_DOMAIN_MAX; i++)
		longest[i] = (i - 5) % 60 == 59 ? '.' : 'a';
	longest[5 + MSG_ETRN_DOMAIN_MAX] = '\0';
	ck_assert_int_eq(run(longest, 0), 0);
	ck_assert_uint_eq(strlen(cmd.etrn_domain), MSG_ETRN_DOMAIN_MAX);
	strlcat(longest, "a", sizeof(longest));
	refused(longest, 0, "501 5.5.4 Syntax: ETRN domain");
}
END_TEST

Suite *
smtp_command_suite(void)
{
	Suite *s = suite_create("smtp_command");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_verbs);
	tcase_add_test(tc, test_unknown);
	tcase_add_test(tc, test_hostile_bytes);
	tcase_add_test(tc, test_line_length);
	tcase_add_test(tc, test_helo);
	tcase_add_test(tc, test_no_args);
	tcase_add_test(tc, test_optional_args);
	tcase_add_test(tc, test_bdat_args);
	tcase_add_test(tc, test_etrn_args);
	tcase_add_test(tc, test_mail);
	tcase_add_test(tc, test_rcpt);
	tcase_add_test(tc, test_size);
	tcase_add_test(tc, test_body);
	tcase_add_test(tc, test_ret_envid);
	tcase_add_test(tc, test_envid_length);
	tcase_add_test(tc, test_smtputf8);
	tcase_add_test(tc, test_requiretls);
	tcase_add_test(tc, test_auth_param);
	tcase_add_test(tc, test_auth_param_length);
	tcase_add_test(tc, test_notify);
	tcase_add_test(tc, test_orcpt);
	tcase_add_test(tc, test_param_syntax);
	tcase_add_test(tc, test_xtext);
	tcase_add_test(tc, test_small_reply_buffer);
	suite_add_tcase(s, tc);
	return s;
}
