/*
 * test_sendmail_msg - unit tests for sendmail's pure parts: address
 * lists and qualification (tools/sendmail_addr.c) and what a local
 * submission's message becomes (tools/sendmail_msg.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "check_suites.h"
#include "sendmail_addr.h"
#include "sendmail_msg.h"

/* The addresses of one list, joined with "|". */
struct seen {
	char	text[2048];
	int	n;
};

static int
seen_add(const char *a, size_t len, void *arg)
{
	struct seen *s = arg;
	size_t at = strlen(s->text);

	snprintf(s->text + at, sizeof(s->text) - at, "%s%.*s",
	    s->n++ ? "|" : "", (int)len, a);
	return 0;
}

/* list - the addresses of text, or "ERROR" */
static const char *
list(const char *text, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	if (sendmail_addrlist_each(text, strlen(text), seen_add, s) < 0)
		return "ERROR";
	return s->text;
}

START_TEST(test_addrlist_forms)
{
	struct seen s;

	ck_assert_str_eq(list("alice@a.example", &s), "alice@a.example");
	ck_assert_str_eq(list("Alice Smith <alice@a.example>, bob", &s),
	    "alice@a.example|bob");
	ck_assert_str_eq(list("\"Doe, John\" <john@x.example>", &s),
	    "john@x.example");
	ck_assert_str_eq(list("(boss) carol@c.example (really)", &s),
	    "carol@c.example");
	ck_assert_str_eq(list("team: a@x.example, b@y.example;, d@z", &s),
	    "a@x.example|b@y.example|d@z");
	ck_assert_str_eq(list("undisclosed-recipients:;", &s), "");
	ck_assert_str_eq(list("<@relay.example:r@z.example>", &s),
	    "r@z.example");
	ck_assert_str_eq(list("\"odd local\"@x.example", &s),
	    "\"odd local\"@x.example");
	ck_assert_str_eq(list(" , ,a@b,,", &s), "a@b");
	ck_assert_str_eq(list("Name (with (nested) comment) <n@x>", &s),
	    "n@x");
	ck_assert_str_eq(list("a <b@c", &s), "ERROR");
	ck_assert_str_eq(list("\"unterminated <x@y>", &s), "ERROR");
	ck_assert_str_eq(list("(open comment x@y", &s), "ERROR");
}
END_TEST

START_TEST(test_addrlist_overlong)
{
	char big[2000];
	struct seen s;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_str_eq(list(big, &s), "ERROR");
}
END_TEST

START_TEST(test_addr_canon)
{
	char out[ADDR_TEXT_MAX];
	const char *why;

	ck_assert_int_eq(sendmail_addr_canon("alice", 5, "origin.example",
	    out, sizeof(out), &why), 0);
	ck_assert_str_eq(out, "alice@origin.example");
	ck_assert_int_eq(sendmail_addr_canon("<Bob@Host.EXAMPLE>", 18,
	    "origin.example", out, sizeof(out), &why), 0);
	ck_assert_str_eq(out, "Bob@host.example");
	ck_assert_int_eq(sendmail_addr_canon("\"a@b\"", 5, "o.example", out,
	    sizeof(out), &why), 0);
	ck_assert_str_eq(out, "\"a@b\"@o.example");
	ck_assert_int_eq(sendmail_addr_canon("a@@b", 4, "o.example", out,
	    sizeof(out), &why), -1);
	ck_assert_int_eq(sendmail_addr_canon("", 0, "o.example", out,
	    sizeof(out), &why), -1);
	ck_assert_int_eq(sendmail_addr_canon("j\xc3\xb6rg", 5, "o.example",
	    out, sizeof(out), &why), -1);
	ck_assert_int_eq(sendmail_addr_canon("a\r\nb@x", 6, "o.example",
	    out, sizeof(out), &why), -1);
}
END_TEST

/* The options of the tests: fixed names and time. */
static struct sendmail_msg_opts
opts(void)
{
	struct sendmail_msg_opts o;

	memset(&o, 0, sizeof(o));
	o.from = "alice@origin.example";
	o.myhostname = "mx.example";
	o.myorigin = "origin.example";
	o.msgid = "ID1";
	o.now = 1700000000;
	o.size_limit = 1024 * 1024;
	o.rcpt_limit = 100;
	return o;
}

/* build - run sendmail_msg_build; the status, the text in out->text */
static int
build(const char *in, const struct sendmail_msg_opts *o,
    struct sendmail_msg *out, char *err)
{
	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	int r = sendmail_msg_build(in, strlen(in), o, out, err, 256);

	sendmail_buf_put(&out->text, "", 1);	/* NUL-terminate for tests */
	out->text.len--;
	return r;
}

START_TEST(test_build_adds_missing_fields)
{
	struct sendmail_msg_opts o = opts();
	struct sendmail_msg m;
	char err[256];

	ck_assert_int_eq(build("Subject: hi\n\nbody\n", &o, &m, err), 0);
	ck_assert_msg(strncmp(m.text.p, "Subject: hi\r\nDate: ", 19) == 0,
	    "%s", m.text.p);
	ck_assert_ptr_nonnull(strstr(m.text.p,
	    "\r\nMessage-ID: <ID1@mx.example>\r\n"
	    "From: alice@origin.example\r\n\r\nbody\r\n"));
	for (const char *p = m.text.p; (p = strchr(p, '\n')) != NULL; p++)
		ck_assert_msg(p > m.text.p && p[-1] == '\r', "bare LF");
	sendmail_msg_free(&m);

	/* Present: nothing added; an unqualified Message-ID is replaced. */
	ck_assert_int_eq(build("From: x@y\nDate: Mon, 1 Jan 2024 00:00:00 "
	    "+0000\nMessage-ID: <local>\n\nb\n", &o, &m, err), 0);
	ck_assert_str_eq(m.text.p, "From: x@y\r\nDate: Mon, 1 Jan 2024 "
	    "00:00:00 +0000\r\nMessage-ID: <ID1@mx.example>\r\n\r\nb\r\n");
	sendmail_msg_free(&m);

	/* The full name: atoms as they are, anything else quoted. */
	o.full_name = "CronDaemon";
	ck_assert_int_eq(build("Date: x\nMessage-ID: <a@b>\n\nb\n", &o, &m,
	    err), 0);
	ck_assert_ptr_nonnull(strstr(m.text.p,
	    "From: CronDaemon <alice@origin.example>\r\n"));
	sendmail_msg_free(&m);
	o.full_name = "Doe, \"J\"\r\n";
	ck_assert_int_eq(build("Date: x\nMessage-ID: <a@b>\n\nb\n", &o, &m,
	    err), 0);
	ck_assert_ptr_nonnull(strstr(m.text.p,
	    "From: \"Doe, \\\"J\\\"\" <alice@origin.example>\r\n"));
	sendmail_msg_free(&m);
}
END_TEST

/* RFC 8689 3: "TLS-Required: No" once in the header marks the message,
 * as smtpd marks it; in the body, twice or another value does not. */
START_TEST(test_build_tls_required_no)
{
	struct sendmail_msg_opts o = opts();
	struct sendmail_msg m;
	char err[256];

	ck_assert_int_eq(build("Subject: hi\nTLS-Required:\n  no\n\nb\n", &o,
	    &m, err), 0);
	ck_assert_int_eq(m.tls_required_no, 1);
	sendmail_msg_free(&m);
	ck_assert_int_eq(build("Subject: hi\n\nTLS-Required: No\n", &o, &m,
	    err), 0);
	ck_assert_int_eq(m.tls_required_no, 0);
	sendmail_msg_free(&m);
	ck_assert_int_eq(build("TLS-Required: No\nTLS-Required: No\n\nb\n",
	    &o, &m, err), 0);
	ck_assert_int_eq(m.tls_required_no, 0);
	sendmail_msg_free(&m);
	ck_assert_int_eq(build("TLS-Required: Yes\n\nb\n", &o, &m, err), 0);
	ck_assert_int_eq(m.tls_required_no, 0);
	sendmail_msg_free(&m);
}
END_TEST

START_TEST(test_build_body_without_header)
{
	struct sendmail_msg_opts o = opts();
	struct sendmail_msg m;
	char err[256];

	/* "echo body | sendmail user": the fields, an empty line, the body */
	ck_assert_int_eq(build("just a body line\nsecond\n", &o, &m, err), 0);
	ck_assert_ptr_nonnull(strstr(m.text.p,
	    "From: alice@origin.example\r\n\r\njust a body line\r\n"
	    "second\r\n"));
	ck_assert_int_eq(strncmp(m.text.p, "Date: ", 6), 0);
	sendmail_msg_free(&m);

	/* A header ended by a non-field line gets its empty line too. */
	ck_assert_int_eq(build("Subject: s\nno colon here\n", &o, &m, err),
	    0);
	ck_assert_ptr_nonnull(strstr(m.text.p,
	    "From: alice@origin.example\r\n\r\nno colon here\r\n"));
	sendmail_msg_free(&m);

	/* Empty input: only the added fields. */
	ck_assert_int_eq(build("", &o, &m, err), 0);
	ck_assert_ptr_nonnull(strstr(m.text.p, "\r\nFrom: "
	    "alice@origin.example\r\n"));
	ck_assert_ptr_null(strstr(m.text.p, "\r\n\r\n"));
	sendmail_msg_free(&m);
}
END_TEST

START_TEST(test_build_line_ends)
{
	struct sendmail_msg_opts o = opts();
	struct sendmail_msg m;
	char err[256];

	ck_assert_int_eq(build("From: a@b\nDate: d\nMessage-ID: <x@y>\r\n\r\n"
	    "a\r\nb\rc\nlast", &o, &m, err), 0);
	ck_assert_str_eq(m.text.p, "From: a@b\r\nDate: d\r\nMessage-ID: "
	    "<x@y>\r\n\r\na\r\nb\r\nc\r\nlast\r\n");
	sendmail_msg_free(&m);

	/* An mbox "From " line is dropped. */
	ck_assert_int_eq(build("From alice Mon Jan  1 00:00:00 2024\n"
	    "From: a@b\nDate: d\nMessage-ID: <x@y>\n\nb\n", &o, &m, err), 0);
	ck_assert_int_eq(strncmp(m.text.p, "From: a@b\r\n", 11), 0);
	sendmail_msg_free(&m);
}
END_TEST

START_TEST(test_build_dot_ends_input)
{
	struct sendmail_msg_opts o = opts();
	struct sendmail_msg m;
	char err[256];
	const char *in = "From: a@b\nDate: d\nMessage-ID: <x@y>\n\none\n.\n"
	    "after\n";

	o.dot_ends = 1;
	ck_assert_int_eq(build(in, &o, &m, err), 0);
	ck_assert_ptr_nonnull(strstr(m.text.p, "\r\n\r\none\r\n"));
	ck_assert_ptr_null(strstr(m.text.p, "after"));
	sendmail_msg_free(&m);
	o.dot_ends = 0;		/* -i */
	ck_assert_int_eq(build(in, &o, &m, err), 0);
	ck_assert_ptr_nonnull(strstr(m.text.p, "one\r\n.\r\nafter\r\n"));
	sendmail_msg_free(&m);
}
END_TEST

START_TEST(test_build_long_lines_broken)
{
	struct sendmail_msg_opts o = opts();
	struct sendmail_msg m;
	char err[256], *in = malloc(3000);

	snprintf(in, 3000, "Subject: ");
	memset(in + 9, 'h', 1500);
	snprintf(in + 1509, 3000 - 1509, "\n\n");
	memset(in + 1511, 'b', 1200);
	in[2711] = '\0';
	ck_assert_int_eq(build(in, &o, &m, err), 0);
	/* Each line at most 998 octets; the header piece continues. */
	for (char *p = m.text.p, *nl; (nl = strstr(p, "\r\n")) != NULL;
	    p = nl + 2)
		ck_assert_int_le(nl - p, 998);
	ck_assert_ptr_nonnull(strstr(m.text.p, "hhhh\r\n hhhh"));
	ck_assert_ptr_nonnull(strstr(m.text.p, "bbbb\r\nbbbb"));
	sendmail_msg_free(&m);
	free(in);
}
END_TEST

START_TEST(test_build_extract_recipients)
{
	struct sendmail_msg_opts o = opts();
	struct sendmail_msg m;
	char err[256];

	o.extract = 1;
	ck_assert_int_eq(build("To: Alice <alice@x.example>, bob\n"
	    "Cc: carol@y.example,\n alice@x.example\n"
	    "Bcc: secret@z.example,\n\thidden\n"
	    "Subject: s\n\nbody\n", &o, &m, err), 0);
	/* In order, qualified, alice only once. */
	ck_assert_uint_eq(m.rcpts.n, 5);
	ck_assert_str_eq(m.rcpts.v[0], "alice@x.example");
	ck_assert_str_eq(m.rcpts.v[1], "bob@origin.example");
	ck_assert_str_eq(m.rcpts.v[2], "carol@y.example");
	ck_assert_str_eq(m.rcpts.v[3], "secret@z.example");
	ck_assert_str_eq(m.rcpts.v[4], "hidden@origin.example");
	sendmail_msg_free(&m);

	o.rcpt_limit = 10;
	ck_assert_int_eq(build("To: a@x\nBcc: b@x,\n c@x\nSubject: s\n\nb\n",
	    &o, &m, err), 0);
	ck_assert_uint_eq(m.rcpts.n, 3);
	ck_assert_ptr_null(strstr(m.text.p, "Bcc"));
	ck_assert_ptr_null(strstr(m.text.p, "c@x"));
	ck_assert_ptr_nonnull(strstr(m.text.p, "To: a@x\r\nSubject: s\r\n"));
	sendmail_msg_free(&m);

	/* Without -t the header is not touched. */
	o.extract = 0;
	ck_assert_int_eq(build("To: a@x\nBcc: b@x\n\nb\n", &o, &m, err), 0);
	ck_assert_uint_eq(m.rcpts.n, 0);
	ck_assert_ptr_nonnull(strstr(m.text.p, "Bcc: b@x\r\n"));
	sendmail_msg_free(&m);
}
END_TEST

START_TEST(test_build_extract_resent)
{
	struct sendmail_msg_opts o = opts();
	struct sendmail_msg m;
	char err[256];

	o.extract = 1;
	ck_assert_int_eq(build("To: old@x\nResent-To: new@y\n"
	    "Resent-Bcc: quiet@z\n\nb\n", &o, &m, err), 0);
	ck_assert_uint_eq(m.rcpts.n, 2);
	ck_assert_str_eq(m.rcpts.v[0], "new@y");
	ck_assert_str_eq(m.rcpts.v[1], "quiet@z");
	ck_assert_ptr_null(strstr(m.text.p, "quiet"));
	ck_assert_ptr_nonnull(strstr(m.text.p, "To: old@x\r\n"));
	sendmail_msg_free(&m);
}
END_TEST

START_TEST(test_build_refusals)
{
	struct sendmail_msg_opts o = opts();
	struct sendmail_msg m;
	char err[256], *loop;
	size_t len = 0;

	o.extract = 1;
	ck_assert_int_eq(build("To: a@@b\n\nb\n", &o, &m, err), EX_DATAERR);
	ck_assert_ptr_nonnull(strstr(err, "a@@b"));
	sendmail_msg_free(&m);
	ck_assert_int_eq(build("To: <a@b\n\nb\n", &o, &m, err), EX_DATAERR);
	sendmail_msg_free(&m);
	o.rcpt_limit = 2;
	ck_assert_int_eq(build("To: a@x, b@x, c@x\n\nb\n", &o, &m, err),
	    EX_USAGE);
	sendmail_msg_free(&m);
	o = opts();
	o.size_limit = 100;
	ck_assert_int_eq(build("Subject: big\n\n"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "456789\n", &o, &m, err), EX_DATAERR);
	sendmail_msg_free(&m);

	/* More than 100 Received: fields is a loop. */
	o = opts();
	loop = malloc(101 * 20 + 10);
	for (int i = 0; i < 101; i++)
		len += (size_t)sprintf(loop + len, "Received: by x\n");
	strcpy(loop + len, "\nb\n");
	ck_assert_int_eq(build(loop, &o, &m, err), EX_DATAERR);
	sendmail_msg_free(&m);
	loop[15 * 100] = '\0';	/* 100 of them are fine */
	ck_assert_int_eq(build(loop, &o, &m, err), 0);
	sendmail_msg_free(&m);
	free(loop);
}
END_TEST

START_TEST(test_build_eightbit)
{
	struct sendmail_msg_opts o = opts();
	struct sendmail_msg m;
	char err[256];

	ck_assert_int_eq(build("Subject: s\n\nplain\n", &o, &m, err), 0);
	ck_assert_int_eq(m.eightbit, 0);
	sendmail_msg_free(&m);
	ck_assert_int_eq(build("Subject: s\n\nK\xc3\xa4se\n", &o, &m, err),
	    0);
	ck_assert_int_eq(m.eightbit, 1);
	sendmail_msg_free(&m);
}
END_TEST

START_TEST(test_phrase)
{
	char b[64];

	sendmail_phrase("Cron Daemon", b, sizeof(b));
	ck_assert_str_eq(b, "Cron Daemon");
	sendmail_phrase("  ", b, sizeof(b));
	ck_assert_str_eq(b, "");
	sendmail_phrase("a\\b", b, sizeof(b));
	ck_assert_str_eq(b, "\"a\\\\b\"");
	sendmail_phrase("x\x01y", b, sizeof(b));
	ck_assert_str_eq(b, "x y");
	sendmail_phrase("a very long name that does not fit at all here "
	    "in sixty-four octets", b, sizeof(b));
	ck_assert_str_eq(b, "");
}
END_TEST

/* sendmail_msg_suite - every sendmail test */
Suite *
sendmail_msg_suite(void)
{
	Suite *s = suite_create("sendmail_msg");
	TCase *tc = tcase_create("sendmail_msg");

	tcase_add_test(tc, test_addrlist_forms);
	tcase_add_test(tc, test_addrlist_overlong);
	tcase_add_test(tc, test_addr_canon);
	tcase_add_test(tc, test_build_adds_missing_fields);
	tcase_add_test(tc, test_build_tls_required_no);
	tcase_add_test(tc, test_build_body_without_header);
	tcase_add_test(tc, test_build_line_ends);
	tcase_add_test(tc, test_build_dot_ends_input);
	tcase_add_test(tc, test_build_long_lines_broken);
	tcase_add_test(tc, test_build_extract_recipients);
	tcase_add_test(tc, test_build_extract_resent);
	tcase_add_test(tc, test_build_refusals);
	tcase_add_test(tc, test_build_eightbit);
	tcase_add_test(tc, test_phrase);
	suite_add_tcase(s, tc);
	return s;
}
