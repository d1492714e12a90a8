/*
 * test_file_pool - queued's files made ahead: the ring fills to
 * POOL_SIZE, hands out each file once and oldest first with its name
 * durable, refills in batches (from POOL_LOW, or when left alone a
 * second), names what it holds, makes nothing while paused, survives a
 * create that fails, and removes what it still holds when stopped; a
 * size of 0 is no pool at all, and a stopped pool starts again with
 * another size (a reload).  Recycled files are reused before any is
 * made (the same inode under a new name), are named by file_pool_holds
 * until then, are refused beyond the pool's size, and removed at stop.
 */
#include "config.h"

#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check_suites.h"
#include "envelope.h"
#include "file_pool.h"

#define POOL_SIZE	32	/* queue_file_pool_size's default */
#define POOL_LOW	(POOL_SIZE / 2)

static char dir[PATH_MAX];
static int made;		/* files the fake create made (atomic) */
static int failing;		/* the fake create fails (atomic) */

/* fake_create - DIR/NNNN, its number as queue ID */
static int
fake_create(char *qid, size_t qidsize, char *path, size_t pathsize)
{
	int n;

	if (__atomic_load_n(&failing, __ATOMIC_SEQ_CST)) {
		errno = ENOSPC;
		return -1;
	}
	n = __atomic_add_fetch(&made, 1, __ATOMIC_SEQ_CST);
	snprintf(qid, qidsize, "%04d", n);
	snprintf(path, pathsize, "%s/%s", dir, qid);
	return open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

static int reused;		/* files the fake reuse renamed (atomic) */

/* fake_reuse - old emptied and renamed to DIR/rNNN */
static int
fake_reuse(const char *old, char *qid, size_t qidsize, char *path,
    size_t pathsize)
{
	int fd, n;

	if ((fd = open(old, O_RDWR | O_CLOEXEC)) < 0)
		return -1;
	n = __atomic_add_fetch(&reused, 1, __ATOMIC_SEQ_CST);
	snprintf(qid, qidsize, "r%03d", n);
	snprintf(path, pathsize, "%s/%s", dir, qid);
	if (ftruncate(fd, 0) < 0 || rename(old, path) < 0) {
		close(fd);
		unlink(old);
		return -1;
	}
	return fd;
}

/* old_file - a finished message's file DIR/name, emptied as the
 * scheduler leaves it; its inode number */
static ino_t
old_file(const char *name, char *path, size_t pathsize)
{
	struct stat st;
	int fd;

	snprintf(path, pathsize, "%s/%s", dir, name);
	ck_assert_int_ge(fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	close(fd);
	return st.st_ino;
}

static int
made_now(void)
{
	return __atomic_load_n(&made, __ATOMIC_SEQ_CST);
}

/* files_in_dir - the number of entries in dir besides . and .. */
static int
files_in_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/*
 * wait_made - until the fake create has made n files and the n-th is
 * in the pool (5 s at most): a batch joins the pool only after its
 * directory sync, a moment after its last file is made.
 */
static void
wait_made(int n)
{
	char qid[16];

	for (int i = 0; i < 500 && made_now() < n; i++)
		usleep(10000);
	ck_assert_int_ge(made_now(), n);
	snprintf(qid, sizeof(qid), "%04d", n);
	for (int i = 0; i < 500 && !file_pool_holds(qid); i++)
		usleep(10000);
	ck_assert_msg(file_pool_holds(qid), "%s made, not pooled", qid);
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/tern-file-pool-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	made = failing = reused = 0;
}

static void
teardown(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX + 256];

	while (d != NULL && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
}

START_TEST(test_file_pool_fills_hands_out_in_order_and_cleans_up)
{
	char qid[QID_MAX], path[PATH_MAX], prev[QID_MAX] = "";
	struct stat a, b;
	int taken = 0, fd, durable;

	ck_assert_int_eq(file_pool_start(fake_create, NULL, POOL_SIZE), 0);
	wait_made(POOL_SIZE);
	usleep(50000);
	/* Full: it stops at POOL_SIZE. */
	ck_assert_int_eq(made_now(), POOL_SIZE);
	ck_assert(file_pool_holds("0001"));
	ck_assert(file_pool_holds("0032"));
	ck_assert(!file_pool_holds("0033"));
	/* More than it holds: each once, oldest first, refilled behind. */
	for (int tries = 0; taken < POOL_SIZE + 10 && tries < 1000;
	    tries++) {
		if ((fd = file_pool_take(qid, sizeof(qid), path,
		    sizeof(path), &durable)) < 0) {
			usleep(5000);
			continue;
		}
		ck_assert_msg(strcmp(qid, prev) > 0, "%s after %s", qid, prev);
		strlcpy(prev, qid, sizeof(prev));
		ck_assert(!file_pool_holds(qid));
		/* The descriptor is the file at the path. */
		ck_assert_int_eq(fstat(fd, &a), 0);
		ck_assert_int_eq(stat(path, &b), 0);
		ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
		ck_assert_int_eq(durable, 1);
		close(fd);
		taken++;
	}
	ck_assert_int_eq(taken, POOL_SIZE + 10);
	wait_made(taken + POOL_SIZE);
	file_pool_stop();
	/* What was taken stays; what was pooled is gone. */
	ck_assert_int_eq(files_in_dir(), taken);
	ck_assert(!file_pool_holds(qid));
	ck_assert_int_eq(file_pool_take(qid, sizeof(qid), path, sizeof(path),
	    &durable), -1);
}
END_TEST

/* take_n - take and close n pooled files (the pool must have them) */
static void
take_n(int n)
{
	char qid[QID_MAX], path[PATH_MAX];
	int fd, durable;

	for (int i = 0; i < n; i++) {
		ck_assert_int_ge(fd = file_pool_take(qid, sizeof(qid), path,
		    sizeof(path), &durable), 0);
		close(fd);
	}
}

/*
 * Files are made in batches, each with one directory sync: taking a few
 * from a full pool makes nothing until the pool is down to POOL_LOW
 * (or is left alone for a second), and then it is filled in one go.
 */
START_TEST(test_file_pool_refills_in_batches)
{
	ck_assert_int_eq(file_pool_start(fake_create, NULL, POOL_SIZE), 0);
	wait_made(POOL_SIZE);
	take_n(POOL_SIZE - POOL_LOW - 1);
	usleep(200000);
	ck_assert_int_eq(made_now(), POOL_SIZE);
	take_n(1);		/* down to POOL_LOW: a batch */
	wait_made(POOL_SIZE + POOL_SIZE - POOL_LOW);
	usleep(50000);
	ck_assert_int_eq(made_now(), 2 * POOL_SIZE - POOL_LOW);
	/* A few taken and then a quiet second: topped up all the same. */
	take_n(3);
	wait_made(2 * POOL_SIZE - POOL_LOW + 3);
	file_pool_stop();
	ck_assert_int_eq(files_in_dir(), POOL_SIZE - POOL_LOW + 3);
}
END_TEST

/* Size 0: no thread, nothing made, every take finds the pool empty. */
START_TEST(test_file_pool_of_size_zero_is_no_pool)
{
	char qid[QID_MAX], path[PATH_MAX];
	int durable;

	ck_assert_int_eq(file_pool_start(fake_create, NULL, 0), 0);
	usleep(100000);
	ck_assert_int_eq(made_now(), 0);
	ck_assert_int_eq(file_pool_take(qid, sizeof(qid), path, sizeof(path),
	    &durable), -1);
	ck_assert_int_eq(file_pool_holds("0001"), 0);
	file_pool_pause();
	file_pool_resume();
	file_pool_stop();
	ck_assert_int_eq(files_in_dir(), 0);
}
END_TEST

/*
 * Stopped and started again with another size (what a reload that
 * changes queue_file_pool_size does): the first pool's files are gone,
 * and the second fills to its own size and refills from its own half.
 */
START_TEST(test_file_pool_restarts_with_another_size)
{
	ck_assert_int_eq(file_pool_start(fake_create, NULL, POOL_SIZE), 0);
	wait_made(POOL_SIZE);
	file_pool_stop();
	ck_assert_int_eq(files_in_dir(), 0);
	__atomic_store_n(&made, 0, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(file_pool_start(fake_create, NULL, 5), 0);
	wait_made(5);
	usleep(100000);
	ck_assert_int_eq(made_now(), 5);
	ck_assert_int_eq(files_in_dir(), 5);
	take_n(2);		/* 3 left, more than half of 5 */
	usleep(200000);
	ck_assert_int_eq(made_now(), 5);
	take_n(1);		/* 2 left: a batch of 3 */
	wait_made(8);
	usleep(50000);
	ck_assert_int_eq(made_now(), 8);
	file_pool_stop();
	ck_assert_int_eq(files_in_dir(), 3);
}
END_TEST

/*
 * A recycled file is the next one pooled, before any is made: the same
 * inode under a new name, empty, its old name gone.  Until then
 * file_pool_holds names it, so that "ternctl rebuild" leaves it.
 */
START_TEST(test_file_pool_reuses_recycled_files_first)
{
	char qid[QID_MAX], path[PATH_MAX], old[PATH_MAX + 16];
	struct stat st;
	ino_t ino;
	int fd, durable;

	ck_assert_int_eq(file_pool_start(fake_create, fake_reuse, 4), 0);
	wait_made(4);
	take_n(1);		/* room for one beside the 3 left */
	ino = old_file("done1", old, sizeof(old));
	ck_assert_int_eq(file_pool_recycle_room(), 1);
	ck_assert_int_eq(file_pool_recycle("done1", old), 0);
	ck_assert_int_eq(file_pool_holds("done1"), 1);
	/* Down to 1 of 4: a batch of 3, the recycled file first. */
	take_n(2);
	wait_made(6);
	usleep(50000);
	ck_assert_int_eq(__atomic_load_n(&reused, __ATOMIC_SEQ_CST), 1);
	ck_assert_int_eq(made_now(), 6);
	ck_assert_int_eq(file_pool_holds("done1"), 0);
	ck_assert_int_eq(file_pool_holds("r001"), 1);
	ck_assert_int_eq(access(old, F_OK), -1);
	/* Pooled behind the one left of the first fill. */
	take_n(1);
	ck_assert_int_ge(fd = file_pool_take(qid, sizeof(qid), path,
	    sizeof(path), &durable), 0);
	ck_assert_str_eq(qid, "r001");
	ck_assert_int_eq(durable, 1);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq(st.st_ino, ino);
	ck_assert_int_eq(st.st_size, 0);
	close(fd);
	file_pool_stop();
}
END_TEST

/*
 * No more recycled files wait than the pool's size leaves room for
 * beside the pooled ones (the caller then unlinks its file), none without
 * a reuse function or without a pool, and those still waiting at stop
 * are removed.
 */
START_TEST(test_file_pool_recycled_files_are_bounded_and_removed_at_stop)
{
	char old[PATH_MAX + 16], old2[PATH_MAX + 16];

	ck_assert_int_eq(file_pool_start(fake_create, NULL, 4), 0);
	wait_made(4);
	take_n(2);
	ck_assert_int_eq(file_pool_recycle_room(), 0);
	old_file("done0", old, sizeof(old));
	ck_assert_int_eq(file_pool_recycle("done0", old), -1);
	file_pool_stop();
	unlink(old);

	ck_assert_int_eq(file_pool_start(fake_create, fake_reuse, 0), 0);
	ck_assert_int_eq(file_pool_recycle_room(), 0);
	file_pool_stop();

	__atomic_store_n(&made, 0, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(file_pool_start(fake_create, fake_reuse, 4), 0);
	wait_made(4);
	/* Full: no room, until one is taken (3 left: no batch yet). */
	ck_assert_int_eq(file_pool_recycle_room(), 0);
	old_file("done1", old, sizeof(old));
	ck_assert_int_eq(file_pool_recycle("done1", old), -1);
	take_n(1);
	ck_assert_int_eq(file_pool_recycle_room(), 1);
	ck_assert_int_eq(file_pool_recycle("done1", old), 0);
	ck_assert_int_eq(file_pool_recycle_room(), 0);
	old_file("done2", old2, sizeof(old2));
	ck_assert_int_eq(file_pool_recycle("done2", old2), -1);
	unlink(old2);
	ck_assert_int_eq(file_pool_holds("done1"), 1);
	/* Something put back in its place is not the pool's. */
	{
		int fd = open(old, O_WRONLY | O_APPEND);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, "message", 7), 7);
		close(fd);
	}
	ck_assert_int_eq(file_pool_holds("done1"), 0);
	ck_assert_int_eq(truncate(old, 0), 0);
	ck_assert_int_eq(file_pool_holds("done1"), 1);
	file_pool_stop();
	ck_assert_int_eq(access(old, F_OK), -1);
	ck_assert_int_eq(__atomic_load_n(&reused, __ATOMIC_SEQ_CST), 0);
	ck_assert_int_eq(files_in_dir(), 3);	/* the ones taken */
}
END_TEST

START_TEST(test_file_pool_makes_nothing_while_paused)
{
	char qid[QID_MAX], path[PATH_MAX];
	int fd, before, durable;

	ck_assert_int_eq(file_pool_start(fake_create, NULL, POOL_SIZE), 0);
	wait_made(POOL_SIZE);
	file_pool_pause();
	before = made_now();
	for (int i = 0; i < 5; i++) {
		ck_assert_int_ge(fd = file_pool_take(qid, sizeof(qid), path,
		    sizeof(path), &durable), 0);
		close(fd);
	}
	usleep(100000);
	ck_assert_int_eq(made_now(), before);
	file_pool_resume();
	wait_made(before + 5);
	file_pool_stop();
	ck_assert_int_eq(files_in_dir(), 5);
}
END_TEST

START_TEST(test_file_pool_failing_create_is_retried)
{
	char qid[QID_MAX], path[PATH_MAX];
	int durable;

	__atomic_store_n(&failing, 1, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(file_pool_start(fake_create, NULL, POOL_SIZE), 0);
	usleep(50000);
	ck_assert_int_eq(file_pool_take(qid, sizeof(qid), path, sizeof(path),
	    &durable), -1);
	/* It tries again a second later, and then fills. */
	__atomic_store_n(&failing, 0, __ATOMIC_SEQ_CST);
	wait_made(POOL_SIZE);
	file_pool_stop();
	ck_assert_int_eq(files_in_dir(), 0);
}
END_TEST

START_TEST(test_file_pool_stop_does_not_wait_out_a_retry)
{
	struct timespec t0, t1;
	long ms;

	__atomic_store_n(&failing, 1, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(file_pool_start(fake_create, NULL, POOL_SIZE), 0);
	usleep(50000);		/* failed once: waiting to retry */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	file_pool_stop();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_msg(ms < 500, "file_pool_stop took %ld ms", ms);
	ck_assert_int_eq(files_in_dir(), 0);
}
END_TEST

Suite *
file_pool_suite(void)
{
	Suite *s = suite_create("file_pool");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_file_pool_fills_hands_out_in_order_and_cleans_up);
	tcase_add_test(tc, test_file_pool_refills_in_batches);
	tcase_add_test(tc, test_file_pool_of_size_zero_is_no_pool);
	tcase_add_test(tc, test_file_pool_restarts_with_another_size);
	tcase_add_test(tc, test_file_pool_reuses_recycled_files_first);
	tcase_add_test(tc,
	    test_file_pool_recycled_files_are_bounded_and_removed_at_stop);
	tcase_add_test(tc, test_file_pool_makes_nothing_while_paused);
	tcase_add_test(tc, test_file_pool_failing_create_is_retried);
	tcase_add_test(tc, test_file_pool_stop_does_not_wait_out_a_retry);
	suite_add_tcase(s, tc);
	return s;
}
