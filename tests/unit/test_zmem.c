/*
 * test_zmem - scratch memory: zeroed when new, zeroed again by
 * zmem_clear, and its pages no longer resident after the clear (what
 * keeps an idle smtpd worker small); zmem_zero_except zeroes all but the
 * kept ranges and keeps the pages.
 */
#include "config.h"

#include <sys/mman.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "zmem.h"

#define ZMEM_TEST_PAGES	16

/* resident_pages - how many of p's n pages are in memory now */
static int
resident_pages(void *p, size_t n)
{
	unsigned char vec[ZMEM_TEST_PAGES];
	int count = 0;

	ck_assert_int_eq(mincore(p, n * (size_t)sysconf(_SC_PAGESIZE), vec),
	    0);
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	return count;
}

START_TEST(test_zmem_clear_zeroes_and_gives_pages_back)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t size = ZMEM_TEST_PAGES * page - 100;	/* not a whole page */
	unsigned char *p = zmem_new(size);

	for (size_t i = 0; i < size; i++)
		ck_assert_uint_eq(p[i], 0);
	memset(p, 0xa5, size);
	ck_assert_int_eq(resident_pages(p, ZMEM_TEST_PAGES), ZMEM_TEST_PAGES);
	zmem_clear(p, size);
	ck_assert_int_eq(resident_pages(p, ZMEM_TEST_PAGES), 0);
	/* The next use pays for the pages it writes, not for the whole. */
	p[3 * page] = 1;
	ck_assert_int_eq(resident_pages(p, ZMEM_TEST_PAGES), 1);
	p[3 * page] = 0;
	for (size_t i = 0; i < size; i++)
		ck_assert_uint_eq(p[i], 0);
	munmap(p, size);
}
END_TEST

START_TEST(test_zmem_zero_except_keeps_the_ranges_and_the_pages)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t size = ZMEM_TEST_PAGES * page - 100;
	unsigned char *p = zmem_new(size);
	const struct zmem_keep keep[] = {
		{ 0, 10 }, { 2 * page + 1, page }, { size - 7, 7 },
	};

	memset(p, 0xa5, size);
	zmem_zero_except(p, size, keep, sizeof(keep) / sizeof(keep[0]));
	for (size_t i = 0; i < size; i++) {
		int kept = 0;

		for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
			kept |= i >= keep[k].off && i < keep[k].off + keep[k].len;
		ck_assert_msg(p[i] == (kept ? 0xa5 : 0), "octet %zu", i);
	}
	ck_assert_int_eq(resident_pages(p, ZMEM_TEST_PAGES), ZMEM_TEST_PAGES);
	/* Nothing kept: all of it zero. */
	memset(p, 0xa5, size);
	zmem_zero_except(p, size, NULL, 0);
	for (size_t i = 0; i < size; i++)
		ck_assert_uint_eq(p[i], 0);
	munmap(p, size);
}
END_TEST

Suite *
zmem_suite(void)
{
	Suite *s = suite_create("zmem");
	TCase *tc = tcase_create("zmem");

	tcase_add_test(tc, test_zmem_clear_zeroes_and_gives_pages_back);
	tcase_add_test(tc, test_zmem_zero_except_keeps_the_ranges_and_the_pages);
	suite_add_tcase(s, tc);
	return s;
}
