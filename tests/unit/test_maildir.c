/* test_maildir - unit tests (placeholder until written) */
#include "config.h"

#include "check_suites.h"

Suite *
maildir_suite(void)
{
	Suite *s = suite_create("maildir");

	return s;
}
