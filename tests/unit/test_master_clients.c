/*
 * test_master_clients - ternd's per-client accounting: concurrency and
 * rate verdicts, release, the bound on the table and expiry.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "check_suites.h"
#include "master_clients.h"

static const struct client_limits lim3 = { 3, 0, 60 };

START_TEST(test_concurrency_limit)
{
	struct master_clients t;
	uint32_t count;
	int tracked;

	master_clients_init(&t, 16, 1);
	for (int i = 1; i <= 3; i++) {
		ck_assert_int_eq(master_clients_connect(&t, "192.0.2.1", &lim3,
		    100, &count, &tracked), CLIENT_ALLOW);
		ck_assert_uint_eq(count, (unsigned)i);
		ck_assert_int_eq(tracked, 1);
	}
	ck_assert_int_eq(master_clients_connect(&t, "192.0.2.1", &lim3, 100,
	    &count, &tracked), CLIENT_DENY_CONCURRENCY);
	ck_assert_uint_eq(count, 4);
	ck_assert_int_eq(tracked, 0);
	/* Another address is not affected. */
	ck_assert_int_eq(master_clients_connect(&t, "192.0.2.2", &lim3, 100,
	    &count, &tracked), CLIENT_ALLOW);
	/* One session ends: room for one more. */
	master_clients_disconnect(&t, "192.0.2.1");
	ck_assert_int_eq(master_clients_connect(&t, "192.0.2.1", &lim3, 100,
	    &count, &tracked), CLIENT_ALLOW);
	ck_assert_uint_eq(count, 3);
	/* Disconnecting more than was counted never goes below zero. */
	for (int i = 0; i < 10; i++)
		master_clients_disconnect(&t, "192.0.2.1");
	master_clients_disconnect(&t, "never-seen");
	ck_assert_int_eq(master_clients_connect(&t, "192.0.2.1", &lim3, 100,
	    &count, &tracked), CLIENT_ALLOW);
	ck_assert_uint_eq(count, 1);
	master_clients_free(&t);
	ck_assert_uint_eq(master_clients_size(&t), 0);
}
END_TEST

START_TEST(test_rate_limit_window)
{
	const struct client_limits lim = { 0, 2, 60 };
	struct master_clients t;
	uint32_t count;
	int tracked;

	master_clients_init(&t, 16, 7);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(master_clients_connect(&t, "2001:db8::1", &lim,
		    1000 + i, &count, &tracked), CLIENT_ALLOW);
		master_clients_disconnect(&t, "2001:db8::1");
	}
	ck_assert_int_eq(master_clients_connect(&t, "2001:db8::1", &lim, 1010,
	    &count, &tracked), CLIENT_DENY_RATE);
	ck_assert_uint_eq(count, 3);
	/* Refused attempts count too. */
	ck_assert_int_eq(master_clients_connect(&t, "2001:db8::1", &lim, 1059,
	    &count, &tracked), CLIENT_DENY_RATE);
	ck_assert_uint_eq(count, 4);
	/* A new window. */
	ck_assert_int_eq(master_clients_connect(&t, "2001:db8::1", &lim, 1060,
	    &count, &tracked), CLIENT_ALLOW);
	ck_assert_uint_eq(count, 1);
	/* The clock going backwards starts a new window, not a stuck one. */
	ck_assert_int_eq(master_clients_connect(&t, "2001:db8::1", &lim, 10,
	    &count, &tracked), CLIENT_ALLOW);
	master_clients_free(&t);
}
END_TEST

START_TEST(test_table_is_bounded)
{
	struct master_clients t;
	char addr[32];
	uint32_t count;
	int tracked;

	master_clients_init(&t, 8, 3);
	/* Four clients keep a session open; many more come and go. */
	for (int i = 0; i < 4; i++) {
		snprintf(addr, sizeof(addr), "10.0.0.%d", i);
		master_clients_connect(&t, addr, &lim3, 5, &count, &tracked);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 256, i % 256);
		ck_assert_int_eq(master_clients_connect(&t, addr, &lim3, 5,
		    &count, &tracked), CLIENT_ALLOW);
		master_clients_disconnect(&t, addr);
		ck_assert_uint_le(master_clients_size(&t), 8);
	}
	/* The open sessions were never evicted. */
	for (int i = 0; i < 4; i++) {
		snprintf(addr, sizeof(addr), "10.0.0.%d", i);
		for (int k = 0; k < 2; k++)
			ck_assert_int_eq(master_clients_connect(&t, addr, &lim3,
			    5, &count, &tracked), CLIENT_ALLOW);
		ck_assert_int_eq(master_clients_connect(&t, addr, &lim3, 5,
		    &count, &tracked), CLIENT_DENY_CONCURRENCY);
	}
	/* A table full of open sessions fails open, untracked. */
	for (int i = 0; i < 8; i++) {
		snprintf(addr, sizeof(addr), "10.2.0.%d", i);
		master_clients_connect(&t, addr, &lim3, 5, &count, &tracked);
	}
	ck_assert_uint_le(master_clients_size(&t), 8);
	ck_assert_int_eq(master_clients_connect(&t, "10.3.0.1", &lim3, 5,
	    &count, &tracked), CLIENT_ALLOW);
	ck_assert_int_eq(tracked, 0);
	/* An over-long address is never stored. */
	char longaddr[CLIENT_ADDR_MAX + 10];
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	ck_assert_int_eq(master_clients_connect(&t, longaddr, &lim3, 5,
	    &count, &tracked), CLIENT_ALLOW);
	ck_assert_int_eq(tracked, 0);
	master_clients_free(&t);
}
END_TEST

START_TEST(test_expire)
{
	struct master_clients t;
	uint32_t count;
	int tracked;

	master_clients_init(&t, 16, 9);
	master_clients_connect(&t, "a", &lim3, 100, &count, &tracked);
	master_clients_connect(&t, "b", &lim3, 100, &count, &tracked);
	master_clients_disconnect(&t, "b");
	master_clients_connect(&t, "c", &lim3, 150, &count, &tracked);
	master_clients_disconnect(&t, "c");
	master_clients_expire(&t, 60, 3600, 159);
	ck_assert_uint_eq(master_clients_size(&t), 3);
	/* b is idle and old; a is old but has a session; c is recent. */
	master_clients_expire(&t, 60, 3600, 160);
	ck_assert_uint_eq(master_clients_size(&t), 2);
	master_clients_expire(&t, 60, 3600, 1000);
	ck_assert_uint_eq(master_clients_size(&t), 1);
	master_clients_disconnect(&t, "a");
	master_clients_expire(&t, 60, 3600, 1000);
	ck_assert_uint_eq(master_clients_size(&t), 0);
	master_clients_free(&t);
}
END_TEST

/* Failed AUTH counts per address across sessions, within the window,
 * and keeps the entry alive past the connection window. */
START_TEST(test_auth_failures)
{
	struct master_clients t;
	uint32_t count;
	int tracked;

	master_clients_init(&t, 16, 9);
	ck_assert_uint_eq(master_clients_auth_failures(&t, "x", 3600, 100), 0);
	master_clients_connect(&t, "x", &lim3, 100, &count, &tracked);
	master_clients_auth_failed(&t, "x", 3600, 100);
	master_clients_disconnect(&t, "x");
	master_clients_auth_failed(&t, "x", 3600, 200);	/* another session */
	ck_assert_uint_eq(master_clients_auth_failures(&t, "x", 3600, 300), 2);
	ck_assert_uint_eq(master_clients_auth_failures(&t, "y", 3600, 300), 0);
	/* Idle well past the 60 s connection window: still remembered. */
	master_clients_expire(&t, 60, 3600, 1000);
	ck_assert_uint_eq(master_clients_auth_failures(&t, "x", 3600, 1000), 2);
	/* Past the AUTH window: forgotten, and a new count starts. */
	ck_assert_uint_eq(master_clients_auth_failures(&t, "x", 3600, 3800), 0);
	master_clients_expire(&t, 60, 3600, 3800);
	ck_assert_uint_eq(master_clients_size(&t), 0);
	master_clients_auth_failed(&t, "x", 3600, 4000);
	ck_assert_uint_eq(master_clients_auth_failures(&t, "x", 3600, 4000), 1);
	master_clients_free(&t);
}
END_TEST

Suite *
master_clients_suite(void)
{
	Suite *s = suite_create("master_clients");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_concurrency_limit);
	tcase_add_test(tc, test_rate_limit_window);
	tcase_add_test(tc, test_table_is_bounded);
	tcase_add_test(tc, test_expire);
	tcase_add_test(tc, test_auth_failures);
	suite_add_tcase(s, tc);
	return s;
}
