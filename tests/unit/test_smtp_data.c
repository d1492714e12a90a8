/* test_smtp_data - unit tests (placeholder until written) */
#include "config.h"

#include "check_suites.h"

Suite *
smtp_data_suite(void)
{
	Suite *s = suite_create("smtp_data");

	return s;
}
