/* test_map - unit tests (placeholder until written) */
#include "config.h"

#include "check_suites.h"

Suite *
map_suite(void)
{
	Suite *s = suite_create("map");

	return s;
}
