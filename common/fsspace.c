/*
 * fsspace - free space on the spool's file system.  See fsspace.h.
 */
#include "config.h"

#include <sys/statvfs.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "fsspace.h"
#include "log.h"

/* fsspace_init - measure the file system of path (kept, not copied) */
void
fsspace_init(struct fsspace *fs, const char *path)
{
	memset(fs, 0, sizeof(*fs));
	fs->path = path;
	fs->avail = UINT64_MAX;
}

/* fsspace_measure - statvfs now: the octets free, or UINT64_MAX */
static uint64_t
fsspace_measure(struct fsspace *fs)
{
	struct statvfs sv;

	if (statvfs(fs->path, &sv) < 0) {
		if (!fs->warned)
			log_warn("cannot measure the free space of %s: %s; "
			    "queue_minfree is not enforced", fs->path,
			    strerror(errno));
		fs->warned = 1;
		return UINT64_MAX;
	}
	fs->warned = 0;
	/* A file system that reports no size at all (some FUSE ones) keeps
	 * no account of its space: there is nothing to check. */
	if (sv.f_blocks == 0 ||
	    (sv.f_frsize != 0 && sv.f_bavail > UINT64_MAX / sv.f_frsize))
		return UINT64_MAX;
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/* fsspace_avail_at - fsspace_avail with the clock given (for tests) */
uint64_t
fsspace_avail_at(struct fsspace *fs, uint64_t now_ms)
{
	if (fs->path == NULL)
		return UINT64_MAX;
	if (fs->valid && now_ms >= fs->checked_ms &&
	    now_ms - fs->checked_ms < FSSPACE_CACHE_MS)
		return fs->avail;
	fs->avail = fsspace_measure(fs);
	fs->checked_ms = now_ms;
	fs->valid = 1;
	return fs->avail;
}

/* fsspace_avail - octets free for an unprivileged user, briefly cached */
uint64_t
fsspace_avail(struct fsspace *fs)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return fsspace_avail_at(fs, (uint64_t)ts.tv_sec * 1000 +
	    (uint64_t)ts.tv_nsec / 1000000);
}

/* fsspace_add - a + b, or UINT64_MAX when that overflows */
static uint64_t
fsspace_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* fsspace_enough - avail >= minfree + 1.5 x size; always when minfree 0 */
int
fsspace_enough(uint64_t avail, uint64_t minfree, uint64_t size)
{
	if (minfree == 0 || avail == UINT64_MAX)
		return 1;
	return avail >= fsspace_add(minfree, fsspace_add(size, size / 2));
}
