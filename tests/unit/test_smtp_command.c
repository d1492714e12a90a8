/* test_smtp_command - unit tests (placeholder until written) */
#include "config.h"

#include "check_suites.h"

Suite *
smtp_command_suite(void)
{
	Suite *s = suite_create("smtp_command");

	return s;
}
