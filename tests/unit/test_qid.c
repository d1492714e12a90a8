/*
 * test_qid - queue IDs: well formed, increasing, and spread over the
 * sixteen spool directories that their last digit names (or in the one
 * asked for).
 */
#include "config.h"

#include <string.h>

#include "check_suites.h"
#include "qid.h"
#include "spool.h"

START_TEST(test_qid_increasing_and_spread)
{
	char prev[QID_LEN + 1] = "", cur[QID_LEN + 1];
	int seen[16] = { 0 }, dirs = 0;

	for (int i = 0; i < 256; i++) {
		qid_new(cur, sizeof(cur));
		ck_assert(qid_valid(cur));
		ck_assert_msg(strcmp(cur, prev) > 0, "%s after %s", cur, prev);
		memcpy(prev, cur, sizeof(prev));
		seen[cur[QID_LEN - 1] <= '9' ? cur[QID_LEN - 1] - '0' :
		    cur[QID_LEN - 1] - 'A' + 10] = 1;
	}
	for (int d = 0; d < 16; d++)
		dirs += seen[d];
	/* IDs made in a burst must not all land in one directory. */
	ck_assert_int_eq(dirs, 16);
}
END_TEST

START_TEST(test_qid_new_in_names_the_directory_and_keeps_increasing)
{
	char prev[QID_LEN + 1] = "", cur[QID_LEN + 1];
	static const char hex[] = "0123456789ABCDEF";

	/* Many IDs within one microsecond, for directories that go down
	 * as well as up, and mixed with qid_new: each ends in the digit
	 * asked for and is above every ID made before it. */
	for (int i = 0; i < 600; i++) {
		unsigned dir = (unsigned)(i % 3 == 0 ? 15 - i % 16 : i / 40);

		if (i % 7 == 0)
			qid_new(cur, sizeof(cur));
		else {
			qid_new_in(cur, sizeof(cur), dir);
			ck_assert_int_eq(cur[QID_LEN - 1], hex[dir % 16]);
		}
		ck_assert(qid_valid(cur));
		ck_assert_msg(strcmp(cur, prev) > 0, "%s after %s", cur, prev);
		memcpy(prev, cur, sizeof(prev));
	}
}
END_TEST

/* queued's spool_msg_dir_index reads the directory back from the ID */
START_TEST(test_spool_msg_dir_index)
{
	char qid[QID_LEN + 1];

	for (unsigned d = 0; d < SPOOL_HASH_DIRS; d++) {
		qid_new_in(qid, sizeof(qid), d);
		ck_assert_int_eq(spool_msg_dir_index(qid), (int)d);
	}
	ck_assert_int_eq(spool_msg_dir_index("0661CC27EF88E84a"), -1);
	ck_assert_int_eq(spool_msg_dir_index("0661CC27EF88E84G"), -1);
	ck_assert_int_eq(spool_msg_dir_index("0661CC27EF88E84/"), -1);
	ck_assert_int_eq(spool_msg_dir_index(""), -1);
}
END_TEST

START_TEST(test_qid_valid)
{
	ck_assert(qid_valid("0123456789ABCDEF"));
	ck_assert(!qid_valid("0123456789abcdef"));
	ck_assert(!qid_valid("0123456789ABCDE"));
	ck_assert(!qid_valid("0123456789ABCDEF0"));
	ck_assert(!qid_valid("../../etc/passwd"));
	ck_assert(!qid_valid(""));
}
END_TEST

Suite *
qid_suite(void)
{
	Suite *s = suite_create("qid");
	TCase *tc = tcase_create("qid");

	tcase_add_test(tc, test_qid_increasing_and_spread);
	tcase_add_test(tc, test_qid_new_in_names_the_directory_and_keeps_increasing);
	tcase_add_test(tc, test_qid_valid);
	tcase_add_test(tc, test_spool_msg_dir_index);
	suite_add_tcase(s, tc);
	return s;
}
