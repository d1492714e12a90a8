/*
 * test_zmem - scratch memory: zeroed when new, zeroed again by
 * zmem_clear, and its pages no longer resident after the clear (what
 * keeps an idle smtpd worker small).
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

Suite *
zmem_suite(void)
{
	Suite *s = suite_create("zmem");
	TCase *tc = tcase_create("zmem");

	tcase_add_test(tc, test_zmem_clear_zeroes_and_gives_pages_back);
	suite_add_tcase(s, tc);
	return s;
}
