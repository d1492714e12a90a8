/* test_received - unit tests (placeholder until written) */
#include "config.h"

#include "check_suites.h"

Suite *
received_suite(void)
{
	Suite *s = suite_create("received");

	return s;
}
