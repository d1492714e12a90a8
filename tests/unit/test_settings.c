/* test_settings - unit tests (placeholder until written) */
#include "config.h"

#include "check_suites.h"

Suite *
settings_suite(void)
{
	Suite *s = suite_create("settings");

	return s;
}
