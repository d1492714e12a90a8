/*
 * test_received - the Received: header tern prepends (RFC 5321 4.4).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_suites.h"
#include "header.h"
#include "smtp_received.h"

static void
base_info(struct received_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->helo = "client.example";
	ri->client_name = "unknown";
	ri->client_addr = "192.0.2.7";
	ri->myhostname = "mx.test.example";
	ri->protocol = "ESMTP";
	ri->qid = "0660F41467FDA000";
	ri->when = 1795451290;	/* Mon, 23 Nov 2026 16:28:10 UTC */
}

START_TEST(test_received_exact)
{
	struct received_info ri;
	char buf[1024];

	setenv("TZ", "UTC", 1);
	tzset();
	base_info(&ri);
	ri.rcpt = "alice@test.example";
	ck_assert_int_gt(smtp_received_format(&ri, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf,
	    "Received: from client.example (unknown [192.0.2.7])\r\n"
	    "\tby mx.test.example (tern) with ESMTP id 0660F41467FDA000\r\n"
	    "\tfor <alice@test.example>;\r\n"
	    "\tMon, 23 Nov 2026 16:28:10 +0000\r\n");
}
END_TEST

START_TEST(test_received_no_for_clause_with_several_rcpts)
{
	struct received_info ri;
	char buf[1024];

	base_info(&ri);
	ck_assert_int_gt(smtp_received_format(&ri, buf, sizeof(buf)), 0);
	ck_assert_ptr_null(strstr(buf, "for <"));
	ck_assert_ptr_nonnull(strstr(buf, "id 0660F41467FDA000;\r\n"));
}
END_TEST

START_TEST(test_received_ipv6_literal)
{
	struct received_info ri;
	char buf[1024];

	base_info(&ri);
	ri.client_addr = "2001:db8::1";
	ck_assert_int_gt(smtp_received_format(&ri, buf, sizeof(buf)), 0);
	ck_assert_ptr_nonnull(strstr(buf, "(unknown [IPv6:2001:db8::1])"));
}
END_TEST

/* A client's HELO must not be able to break out of its field. */
START_TEST(test_received_hostile_helo)
{
	struct received_info ri;
	char buf[1024];

	base_info(&ri);
	ri.helo = "evil)\r\nX-Injected: yes; (";
	ck_assert_int_gt(smtp_received_format(&ri, buf, sizeof(buf)), 0);
	ck_assert_ptr_null(strstr(buf, "X-Injected: yes"));
	ck_assert_ptr_null(strstr(buf, "evil)"));
	ck_assert_ptr_nonnull(strstr(buf, "from evil?"));
	/* Every line break is a CRLF followed by folding white space. */
	for (char *p = strstr(buf, "\r\n"); p != NULL && p[2] != '\0';
	    p = strstr(p + 2, "\r\n"))
		ck_assert(p[2] == '\t');
}
END_TEST

START_TEST(test_received_empty_helo_and_tls)
{
	struct received_info ri;
	char buf[1024];

	base_info(&ri);
	ri.helo = "";
	ri.tls = "using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384";
	ck_assert_int_gt(smtp_received_format(&ri, buf, sizeof(buf)), 0);
	ck_assert_ptr_nonnull(strstr(buf, "from unknown (unknown"));
	ck_assert_ptr_nonnull(strstr(buf,
	    "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)"));
}
END_TEST

START_TEST(test_received_too_small)
{
	struct received_info ri;
	char buf[40];

	base_info(&ri);
	ck_assert_int_eq(smtp_received_format(&ri, buf, sizeof(buf)), -1);
}
END_TEST

START_TEST(test_date_format)
{
	char buf[64];

	setenv("TZ", "America/New_York", 1);
	tzset();
	ck_assert_int_gt(header_date_format(1795451290, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "Mon, 23 Nov 2026 11:28:10 -0500");
	setenv("TZ", "Asia/Kolkata", 1);
	tzset();
	ck_assert_int_gt(header_date_format(1795451290, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "Mon, 23 Nov 2026 21:58:10 +0530");
	setenv("TZ", "UTC", 1);
	tzset();
}
END_TEST

Suite *
received_suite(void)
{
	Suite *s = suite_create("received");
	TCase *tc = tcase_create("received");

	tcase_add_test(tc, test_received_exact);
	tcase_add_test(tc, test_received_no_for_clause_with_several_rcpts);
	tcase_add_test(tc, test_received_ipv6_literal);
	tcase_add_test(tc, test_received_hostile_helo);
	tcase_add_test(tc, test_received_empty_helo_and_tls);
	tcase_add_test(tc, test_received_too_small);
	tcase_add_test(tc, test_date_format);
	suite_add_tcase(s, tc);
	return s;
}
