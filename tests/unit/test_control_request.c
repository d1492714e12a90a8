/*
 * test_control_request - the control socket's request lines
 * (master/control_request.c): commands, arguments, who may make them,
 * and everything malformed refused before any queue ID is used.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "check_suites.h"
#include "control_request.h"

static int
parse(const char *line, struct control_req *r)
{
	char err[128];

	return control_request_parse(line, r, err, sizeof(err));
}

START_TEST(test_request_commands_and_rights)
{
	struct control_req r;

	ck_assert_int_eq(parse("status", &r), 0);
	ck_assert_int_eq(r.admin_only, 0);
	ck_assert_int_eq(parse("queue json", &r), 0);
	ck_assert(r.to_queued && r.op == QADMIN_LIST && !r.admin_only);
	ck_assert_uint_eq(r.flags, QADMIN_F_JSON);
	ck_assert_int_eq(parse("show 0661B1AEFD35EB00", &r), 0);
	ck_assert(r.op == QADMIN_SHOW && r.nqids == 1 && !r.admin_only);
	ck_assert_int_eq(parse("flush", &r), 0);
	ck_assert(r.cmd == CTL_FLUSH && !r.to_queued && !r.admin_only);
	ck_assert_int_eq(parse("flush 0661B1AEFD35EB00 0661B1AEFD35EB01", &r),
	    0);
	ck_assert(r.cmd == CTL_FLUSH_SOME && r.op == QADMIN_FLUSH &&
	    r.nqids == 2 && !r.admin_only);
	ck_assert_int_eq(parse("flushdomain Example.COM", &r), 0);
	ck_assert_str_eq(r.domain, "Example.COM");
	ck_assert_int_eq(parse("hold ALL", &r), 0);
	ck_assert(r.admin_only && r.op == QADMIN_HOLD &&
	    (r.flags & QADMIN_F_ALL) && r.nqids == 0);
	ck_assert_int_eq(parse("delete 0661B1AEFD35EB00", &r), 0);
	ck_assert(r.admin_only && r.op == QADMIN_DELETE);
	for (const char *const *c = (const char *const[]){ "release ALL",
	    "requeue ALL", "stats", "reload", "stop", "rebuild", NULL };
	    *c != NULL; c++) {
		ck_assert_int_eq(parse(*c, &r), 0);
		ck_assert_msg(r.admin_only, "%s is for anyone", *c);
	}
}
END_TEST

START_TEST(test_request_malformed_refused)
{
	static const char *const bad[] = {
		"", " ", "status ", " status", "queue  json", "queue xml",
		"frobnicate", "show", "show ALL", "show 0661b1aefd35eb00",
		"show ../../etc/passwd", "hold", "hold ALL 0661B1AEFD35EB00",
		"delete 0661B1AEFD35EB0", "flush ALL", "flushdomain a b",
		"flushdomain a/b", "flushdomain a;rm", "status now",
		"hold 0661B1AEFD35EB00 x",
	};
	struct control_req r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse(bad[i], &r) == -1, "\"%s\" accepted",
		    bad[i]);
}
END_TEST

START_TEST(test_request_qid_limit)
{
	char line[CONTROL_LINE_MAX];
	struct control_req r;

	strlcpy(line, "hold", sizeof(line));
	for (int i = 0; i < QADMIN_QIDS_MAX; i++)
		strlcat(line, " 0661B1AEFD35EB00", sizeof(line));
	ck_assert_int_eq(parse(line, &r), 0);
	ck_assert_uint_eq(r.nqids, QADMIN_QIDS_MAX);
	strlcat(line, " 0661B1AEFD35EB00", sizeof(line));
	ck_assert_int_eq(parse(line, &r), -1);
}
END_TEST

Suite *
control_request_suite(void)
{
	Suite *s = suite_create("control_request");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_request_commands_and_rights);
	tcase_add_test(tc, test_request_malformed_refused);
	tcase_add_test(tc, test_request_qid_limit);
	suite_add_tcase(s, tc);
	return s;
}
