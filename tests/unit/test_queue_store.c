/* test_queue_store - unit tests (placeholder until written) */
#include "config.h"

#include "check_suites.h"

Suite *
queue_store_suite(void)
{
	Suite *s = suite_create("queue_store");

	return s;
}
