/* test_ipc - unit tests (placeholder until written) */
#include "config.h"

#include "check_suites.h"

Suite *
ipc_suite(void)
{
	Suite *s = suite_create("ipc");

	return s;
}
