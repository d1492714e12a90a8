/* test_addr - unit tests (placeholder until written) */
#include "config.h"

#include "check_suites.h"

Suite *
addr_suite(void)
{
	Suite *s = suite_create("addr");

	return s;
}
