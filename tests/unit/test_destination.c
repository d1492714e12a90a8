/*
 * test_destination - unit tests for the per-destination concurrency
 * window and dead marks of queued's scheduler (queued/destination.c).
 */
#include "config.h"

#include "check_suites.h"
#include "destination.h"

START_TEST(test_window_grows_to_limit)
{
	struct dest d;

	dest_init(&d, "Example.ORG");
	ck_assert_str_eq(d.name, "example.org");
	ck_assert_uint_eq(d.window, DEST_WINDOW_INIT);
	/* Starts low: two jobs, not the limit of five. */
	ck_assert(dest_can_start(&d, 5));
	d.active = 2;
	ck_assert(!dest_can_start(&d, 5));
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(dest_job_end(&d, 1, 100, 300, 5), 0);
		d.active++;
	}
	ck_assert_uint_eq(d.window, 5);
	d.active = 5;
	ck_assert(!dest_can_start(&d, 5));
	d.active = 4;
	ck_assert(dest_can_start(&d, 5));
	/* A lower limit (reload) applies at once. */
	ck_assert(!dest_can_start(&d, 3));
}
END_TEST

START_TEST(test_dead_after_failures)
{
	struct dest d;

	dest_init(&d, "down.example");
	d.active = 2;
	ck_assert_int_eq(dest_job_end(&d, 0, 1000, 300, 20), 0);
	ck_assert_uint_eq(d.window, 1);
	ck_assert(!dest_dead(&d, 1000));
	ck_assert_int_eq(dest_job_end(&d, 0, 1001, 300, 20), 1);
	ck_assert(dest_dead(&d, 1001));
	ck_assert(dest_dead(&d, 1300));
	/* More failures of jobs already in flight do not extend it. */
	ck_assert_int_eq(dest_job_end(&d, 0, 1002, 300, 20), 0);
	ck_assert_uint_eq(d.dead_until, 1301);
	/* After the dead time one probe may go. */
	ck_assert(!dest_dead(&d, 1301));
	ck_assert_uint_eq(d.window, 1);
	ck_assert(dest_can_start(&d, 20));
	d.active = 1;
	ck_assert(!dest_can_start(&d, 20));
	ck_assert_int_eq(dest_job_end(&d, 1, 1302, 300, 20), 0);
	ck_assert_uint_eq(d.window, 2);
}
END_TEST

START_TEST(test_table)
{
	struct dest *a = dest_get("a.example"), *b = dest_get("A.EXAMPLE");
	size_t n = dest_count();

	ck_assert_ptr_eq(a, b);
	dest_get("b.example");
	ck_assert_uint_eq(dest_count(), n + 1);
	a->active = 1;
	dest_forget(a);		/* busy: kept */
	ck_assert_ptr_eq(dest_get("a.example"), a);
	a->active = 0;
	dest_forget(a);
	dest_forget(dest_get("b.example"));
	ck_assert_uint_eq(dest_count(), n - 1);
}
END_TEST

Suite *
destination_suite(void)
{
	Suite *s = suite_create("destination");
	TCase *tc = tcase_create("window");

	tcase_add_test(tc, test_window_grows_to_limit);
	tcase_add_test(tc, test_dead_after_failures);
	tcase_add_test(tc, test_table);
	suite_add_tcase(s, tc);
	return s;
}
