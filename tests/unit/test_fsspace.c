/*
 * test_fsspace - the queue_minfree rule (minfree + 1.5 x SIZE, with
 * saturating sums), the measurement and its one-second cache, and the
 * queue_minfree setting itself.
 */
#include "config.h"

#include <sys/statvfs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "fsspace.h"
#include "settings.h"

#define MIB	(1024ULL * 1024)

START_TEST(test_enough_rule)
{
	/* 0 turns the check off, whatever the space and the size. */
	ck_assert_int_eq(fsspace_enough(0, 0, 0), 1);
	ck_assert_int_eq(fsspace_enough(0, 0, UINT64_MAX), 1);
	/* Exactly queue_minfree is enough; one octet less is not. */
	ck_assert_int_eq(fsspace_enough(100 * MIB, 100 * MIB, 0), 1);
	ck_assert_int_eq(fsspace_enough(100 * MIB - 1, 100 * MIB, 0), 0);
	/* A declared SIZE counts one and a half times. */
	ck_assert_int_eq(fsspace_enough(8 * MIB + 3 * MIB, 8 * MIB, 2 * MIB),
	    1);
	ck_assert_int_eq(fsspace_enough(8 * MIB + 3 * MIB - 1, 8 * MIB,
	    2 * MIB), 0);
	ck_assert_int_eq(fsspace_enough(12 * MIB, 8 * MIB, 4 * MIB), 0);
	/* Odd sizes round down the half. */
	ck_assert_int_eq(fsspace_enough(10 + 4, 10, 3), 1);
	ck_assert_int_eq(fsspace_enough(10 + 3, 10, 3), 0);
	/* Sums that overflow saturate: never enough, never a wrap to 0. */
	ck_assert_int_eq(fsspace_enough(UINT64_MAX - 1, UINT64_MAX / 2,
	    UINT64_MAX), 0);
	ck_assert_int_eq(fsspace_enough(UINT64_MAX - 1, 1, UINT64_MAX / 3 * 2),
	    0);
	/* Space that cannot be measured lets mail in. */
	ck_assert_int_eq(fsspace_enough(UINT64_MAX, 100 * MIB, 4 * MIB), 1);
}
END_TEST

START_TEST(test_measure_and_cache)
{
	char dir[] = "/tmp/tern-fsspace-XXXXXX";
	struct fsspace fs;
	struct statvfs sv;
	uint64_t a, want;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	fsspace_init(&fs, dir);
	a = fsspace_avail_at(&fs, 10000);
	ck_assert_int_eq(statvfs(dir, &sv), 0);
	want = (uint64_t)sv.f_bavail * sv.f_frsize;
	/* Other processes write meanwhile: close, not necessarily equal. */
	ck_assert_uint_lt(a > want ? a - want : want - a, 64 * MIB);
	ck_assert_uint_ne(a, UINT64_MAX);
	/* Within a second the figure is not measured again: the path
	 * going away does not show yet. */
	ck_assert_int_eq(rmdir(dir), 0);
	ck_assert_uint_eq(fsspace_avail_at(&fs, 10999), a);
	/* After it, it is, and a path that cannot be measured is unknown. */
	ck_assert_uint_eq(fsspace_avail_at(&fs, 11000), UINT64_MAX);
	ck_assert_uint_eq(fsspace_avail_at(&fs, 11500), UINT64_MAX);
	/* A clock that steps back measures again rather than trusting an
	 * old figure. */
	ck_assert_uint_eq(fsspace_avail_at(&fs, 5000), UINT64_MAX);
	/* No path: no check. */
	fsspace_init(&fs, NULL);
	ck_assert_uint_eq(fsspace_avail(&fs), UINT64_MAX);
}
END_TEST

START_TEST(test_queue_minfree_setting)
{
	struct settings s;
	const char *text = "queue_minfree = 0\n";

	settings_defaults(&s);
	ck_assert_uint_eq(s.queue_minfree, 100 * MIB);
	ck_assert_int_eq(settings_parse_buffer(&s, "t.conf", text,
	    strlen(text), NULL, NULL), 0);
	ck_assert_uint_eq(s.queue_minfree, 0);
	settings_free(&s);
	settings_defaults(&s);
	text = "queue_minfree = 2g\n";
	ck_assert_int_eq(settings_parse_buffer(&s, "t.conf", text,
	    strlen(text), NULL, NULL), 0);
	ck_assert_uint_eq(s.queue_minfree, 2048 * MIB);
	settings_free(&s);
}
END_TEST

Suite *
fsspace_suite(void)
{
	Suite *s = suite_create("fsspace");
	TCase *tc = tcase_create("fsspace");

	tcase_add_test(tc, test_enough_rule);
	tcase_add_test(tc, test_measure_and_cache);
	tcase_add_test(tc, test_queue_minfree_setting);
	suite_add_tcase(s, tc);
	return s;
}
