/*
 * test_fdlimit - the descriptor limit ternd sets before it starts
 * anything: what a configuration needs (the busiest process: a channel
 * per smtpd process, or the local transport's channels and message
 * files), raised to that and never lowered, the hard limit raised too by
 * root, and a message saying what to do when it cannot be raised far
 * enough.  Each test runs in its own forked process (Check's default),
 * so the limits it sets do not outlive it.
 */
#include "config.h"

#include <sys/resource.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "fdlimit.h"
#include "msg.h"
#include "settings.h"

/* set_limit - the process's descriptor limit, soft and hard */
static void
set_limit(rlim_t soft, rlim_t hard)
{
	struct rlimit rl = { soft, hard };

	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static struct rlimit
get_limit(void)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	return rl;
}

START_TEST(test_need_follows_the_busiest_process)
{
	struct settings s;

	settings_defaults(&s);
	/* Defaults: the local transport's 10 channels and 512 files. */
	ck_assert_uint_eq(fd_limit_need(&s), 10 + LOCAL_JOBS_MAX +
	    FD_LIMIT_SPARE);
	s.smtpd_max_procs = 5000;
	ck_assert_uint_eq(fd_limit_need(&s), 5001 + FD_LIMIT_SPARE);
	s.local_delivery_limit = 1000;
	s.smtpd_max_procs = 100;
	ck_assert_uint_eq(fd_limit_need(&s), 1000 + LOCAL_JOBS_MAX +
	    FD_LIMIT_SPARE);
	settings_free(&s);
}
END_TEST

START_TEST(test_soft_limit_raised_within_hard)
{
	char msg[512];
	rlim_t now;
	int raised;

	set_limit(64, 256);
	ck_assert_int_eq(fd_limit_raise(200, &raised, &now, msg,
	    sizeof(msg)), 0);
	ck_assert_int_eq(raised, 1);
	ck_assert_uint_eq(now, 200);
	ck_assert_uint_eq(get_limit().rlim_cur, 200);
	ck_assert_uint_eq(get_limit().rlim_max, 256);
}
END_TEST

START_TEST(test_limit_never_lowered)
{
	char msg[512];
	rlim_t now;
	int raised;

	set_limit(300, 400);
	ck_assert_int_eq(fd_limit_raise(200, &raised, &now, msg,
	    sizeof(msg)), 0);
	ck_assert_int_eq(raised, 0);
	ck_assert_uint_eq(now, 300);
	ck_assert_uint_eq(get_limit().rlim_cur, 300);
	ck_assert_uint_eq(get_limit().rlim_max, 400);
}
END_TEST

/* hard_raisable - this process may raise its hard limit (root with
 * CAP_SYS_RESOURCE; a container's root may lack it); leaves 64, 128 */
static int
hard_raisable(void)
{
	struct rlimit rl = { 64, 129 };
	int ok;

	set_limit(64, 128);
	ok = setrlimit(RLIMIT_NOFILE, &rl) == 0;
	set_limit(64, 128);
	return ok;
}

/* Above the hard limit: a process that may raises it (root); any other
 * gets the hard limit and a message naming the need and the remedy. */
START_TEST(test_above_hard_limit)
{
	char msg[512];
	rlim_t now;
	int raised;

	if (hard_raisable()) {
		ck_assert_int_eq(fd_limit_raise(300, &raised, &now, msg,
		    sizeof(msg)), 0);
		ck_assert_int_eq(raised, 1);
		ck_assert_uint_eq(get_limit().rlim_cur, 300);
		ck_assert_uint_eq(get_limit().rlim_max, 300);
		/* Now as a process that may not. */
		set_limit(64, 128);
		ck_assert_int_eq(setuid(65534), 0);
		ck_assert(!hard_raisable());
	}
	ck_assert_int_eq(fd_limit_raise(300, &raised, &now, msg,
	    sizeof(msg)), -1);
	ck_assert_int_eq(raised, 1);
	ck_assert_uint_eq(now, 128);
	ck_assert_uint_eq(get_limit().rlim_cur, 128);
	ck_assert_uint_eq(get_limit().rlim_max, 128);
	ck_assert_ptr_nonnull(strstr(msg, "is 128"));
	ck_assert_ptr_nonnull(strstr(msg, "may need 300"));
	ck_assert_ptr_nonnull(strstr(msg, "LimitNOFILE="));
}
END_TEST

Suite *
fdlimit_suite(void)
{
	Suite *s = suite_create("fdlimit");
	TCase *tc = tcase_create("limit");

	tcase_add_test(tc, test_need_follows_the_busiest_process);
	tcase_add_test(tc, test_soft_limit_raised_within_hard);
	tcase_add_test(tc, test_limit_never_lowered);
	tcase_add_test(tc, test_above_hard_limit);
	suite_add_tcase(s, tc);
	return s;
}
