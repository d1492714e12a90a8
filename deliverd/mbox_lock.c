/*
 * mbox_lock - the dotlock and the fcntl lock of an mbox file (see
 * mbox_lock.h).
 *
 * The dotlock is created with O_CREAT | O_EXCL, which is atomic on local
 * file systems and on NFSv3 and later.  A dotlock left behind by a
 * crashed writer would block the mailbox for ever, so one that has not
 * been touched for MBOX_DOTLOCK_STALE seconds (procmail and Dovecot use
 * the same five minutes) is removed; to narrow the race with another
 * process doing the same, it is removed only if it is still the same
 * file (inode and mtime) that was judged stale.
 *
 * Waiting is polling with a short randomised sleep: neither lock can be
 * waited for with a timeout otherwise (F_SETLKW has none, and a dotlock
 * gives no notice when it goes).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mbox_lock.h"

#define MBOX_LOCK_POLL_MS	100	/* base pause between two tries */

/* mbox_lock_pause - sleep 100 to 200 ms, so that waiters do not march */
static void
mbox_lock_pause(void)
{
	struct timespec ts;
	long ms = MBOX_LOCK_POLL_MS + (long)arc4random_uniform(
	    MBOX_LOCK_POLL_MS);

	ts.tv_sec = 0;
	ts.tv_nsec = ms * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/* mbox_dotlock_stale - remove lock if it is (still) stale; 1 if removed */
static int
mbox_dotlock_stale(const char *lock, time_t stale)
{
	struct stat st, again;

	if (lstat(lock, &st) != 0)
		return errno == ENOENT;	/* gone already: try again */
	if (time(NULL) - st.st_mtime < stale)
		return 0;
	if (lstat(lock, &again) != 0)
		return errno == ENOENT;
	if (again.st_ino != st.st_ino || again.st_dev != st.st_dev ||
	    again.st_mtime != st.st_mtime)
		return 0;
	return unlink(lock) == 0 || errno == ENOENT;
}

/* mbox_dotlock_take - create the dotlock, waiting until deadline */
int
mbox_dotlock_take(const char *lock, time_t deadline, time_t stale)
{
	char pid[32];
	int fd, n;

	for (;;) {
		fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd != -1)
			break;
		if (errno != EEXIST)
			return -1;
		if (mbox_dotlock_stale(lock, stale))
			continue;
		if (time(NULL) >= deadline) {
			errno = EWOULDBLOCK;
			return -1;
		}
		mbox_lock_pause();
	}
	/* The holder's pid, as procmail and liblockfile write it: only for
	 * the administrator who finds the file, so a full disk that
	 * refuses it does not matter (the file itself is the lock). */
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (n > 0)
		(void)!write(fd, pid, (size_t)n);
	close(fd);
	return 0;
}

/* mbox_dotlock_drop - remove our lock file */
void
mbox_dotlock_drop(const char *lock)
{
	(void)unlink(lock);
}

/* mbox_fcntl_take - the fcntl write lock, waiting until deadline */
int
mbox_fcntl_take(int fd, time_t deadline)
{
	struct flock fl;

	for (;;) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		fl.l_start = 0;
		fl.l_len = 0;
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			return -1;
		if (time(NULL) >= deadline) {
			errno = EWOULDBLOCK;
			return -1;
		}
		mbox_lock_pause();
	}
}
