/* test_envelope - unit tests (placeholder until written) */
#include "config.h"

#include "check_suites.h"

Suite *
envelope_suite(void)
{
	Suite *s = suite_create("envelope");

	return s;
}
