/*
 * test_bounce - unit tests for the RFC 3464 notices that queued sends
 * (queued/bounce.c): structure, per-recipient fields, returned headers or
 * message, and that hostile diagnostic text cannot break out of its line.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "bounce.h"
#include "check_suites.h"

static const char orig[] =
    "Received: from client\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "secret body line\r\n";

static char *
compose(enum dsn_kind kind, int full, struct dsn_rcpt *r, size_t n)
{
	struct dsn_report rep = { 0 };
	size_t len;
	char *text;

	rep.kind = kind;
	rep.hostname = "mx.test";
	rep.qid = "QID1";
	rep.notice_qid = "QID1.F";
	rep.envid = "env\r\nX-Evil: 1";
	rep.to = "sender@client.test";
	rep.arrival = 1700000000;
	rep.now = 1700003600;
	rep.give_up = 1700432000;
	rep.full = full;
	text = bounce_compose(&rep, r, n, orig, sizeof(orig) - 1, &len);
	ck_assert_uint_eq(strlen(text), len);
	return text;
}

START_TEST(test_failed)
{
	struct dsn_rcpt r[3] = {
		{ "bad@remote.test", "rfc822;alias@client.test", "failed",
		  "5.1.1", "mx.remote.test[127.0.0.2]:25",
		  "550 5.1.1 no such user\r\nX-Injected: yes", 1700003000, 0 },
		{ "said@remote.test", NULL, "failed", "5.7.1",
		  "mx[127.0.0.2]:25", "host mx[127.0.0.2] said: 554 5.7.1 "
		  "denied (in reply to MAIL FROM command)", 1700003000, 0 },
		{ "slow@remote.test", NULL, "failed", "4.4.1", "none",
		  "connect to x: Connection refused", 1700003500, 1 },
	};
	char *t = compose(DSN_KIND_FAILED, 0, r, 3);

	ck_assert_ptr_nonnull(strstr(t, "From: Mail Delivery System "
	    "<MAILER-DAEMON@mx.test>\r\n"));
	ck_assert_ptr_nonnull(strstr(t, "To: <sender@client.test>\r\n"));
	ck_assert_ptr_nonnull(strstr(t, "Content-Type: multipart/report; "
	    "report-type=delivery-status;"));
	ck_assert_ptr_nonnull(strstr(t, "Auto-Submitted: auto-replied\r\n"));
	ck_assert_ptr_nonnull(strstr(t, "Reporting-MTA: dns; mx.test\r\n"));
	ck_assert_ptr_nonnull(strstr(t, "Arrival-Date: Tue, 14 Nov 2023 "
	    "22:13:20 +0000\r\n"));
	ck_assert_ptr_nonnull(strstr(t, "Final-Recipient: rfc822; "
	    "bad@remote.test\r\nOriginal-Recipient: rfc822;alias@client.test"
	    "\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; "
	    "mx.remote.test\r\nDiagnostic-Code: smtp; 550 5.1.1 no such "
	    "user??X-Injected: yes\r\nLast-Attempt-Date: "));
	ck_assert_ptr_nonnull(strstr(t, "Final-Recipient: rfc822; "
	    "slow@remote.test\r\nAction: failed\r\nStatus: 4.4.1\r\n"
	    "Diagnostic-Code: X-Tern; connect to x: Connection refused\r\n"));
	ck_assert_ptr_nonnull(strstr(t, "Diagnostic-Code: smtp; 554 5.7.1 "
	    "denied\r\n"));
	/* Hostile text stays on its line. */
	ck_assert_ptr_null(strstr(t, "\r\nX-Injected"));
	ck_assert_ptr_null(strstr(t, "\r\nX-Evil"));
	/* Headers only by default: the subject, not the body. */
	ck_assert_ptr_nonnull(strstr(t, "Content-Type: text/rfc822-headers"
	    "\r\n\r\nReceived: from client\r\nSubject: hello\r\n"));
	ck_assert_ptr_null(strstr(t, "secret body line"));
	ck_assert_ptr_nonnull(strstr(t, "too long"));
	ck_assert_ptr_nonnull(strstr(t, "--\r\n"));
	free(t);
}
END_TEST

START_TEST(test_full_and_delayed)
{
	struct dsn_rcpt r = { "x@remote.test", NULL, "delayed", "4.2.0",
	    "mx[127.0.0.2]:25", "450 4.2.0 busy", 1700003000, 0 };
	char *t = compose(DSN_KIND_FAILED, 1, &r, 1);

	ck_assert_ptr_nonnull(strstr(t, "Content-Type: message/rfc822\r\n"
	    "\r\nReceived: from client\r\nSubject: hello\r\n\r\n"
	    "secret body line\r\n"));
	free(t);
	t = compose(DSN_KIND_DELAYED, 0, &r, 1);
	ck_assert_ptr_nonnull(strstr(t, "Subject: Delayed Mail"));
	ck_assert_ptr_nonnull(strstr(t, "Action: delayed\r\n"));
	ck_assert_ptr_nonnull(strstr(t, "Will-Retry-Until: "));
	ck_assert_ptr_null(strstr(t, "secret body line"));
	free(t);
}
END_TEST

/* An LMTP server on a Unix socket has no DNS name: RFC 3464 2.1.2 leaves
 * "X-" name types for such, and the reply it gave is still its own. */
START_TEST(test_lmtp_socket_remote_mta)
{
	struct dsn_rcpt r[1] = {
		{ "u@mx.test", NULL, "failed", "5.2.2",
		  "/run/dovecot/lmtp", "host /run/dovecot/lmtp said: 552 5.2.2 "
		  "over quota (in reply to end of DATA command)", 1700003000,
		  0 },
	};
	char *t = compose(DSN_KIND_FAILED, 0, r, 1);

	ck_assert_ptr_nonnull(strstr(t, "\r\nRemote-MTA: x-local-socket; "
	    "/run/dovecot/lmtp\r\nDiagnostic-Code: smtp; 552 5.2.2 over "
	    "quota\r\n"));
	ck_assert_ptr_null(strstr(t, "Remote-MTA: dns"));
	free(t);
}
END_TEST

START_TEST(test_header_len)
{
	ck_assert_uint_eq(bounce_header_len(orig, sizeof(orig) - 1),
	    strlen("Received: from client\r\nSubject: hello\r\n\r\n"));
	ck_assert_uint_eq(bounce_header_len("\r\nbody", 6), 2);
	ck_assert_uint_eq(bounce_header_len("A: b\r\n", 6), 6);
	ck_assert_uint_eq(bounce_header_len("", 0), 0);
}
END_TEST

Suite *
bounce_suite(void)
{
	Suite *s = suite_create("bounce");
	TCase *tc = tcase_create("compose");

	tcase_add_test(tc, test_failed);
	tcase_add_test(tc, test_full_and_delayed);
	tcase_add_test(tc, test_header_len);
	tcase_add_test(tc, test_lmtp_socket_remote_mta);
	suite_add_tcase(s, tc);
	return s;
}
