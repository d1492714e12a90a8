/*
 * fsspace - free space on the spool's file system, for queue_minfree.
 *
 * smtpd (at MAIL FROM) and queued (before it creates a message file for
 * smtpd) refuse new mail with 452 4.3.1 while the spool's file system has
 * less free space than queue_minfree, or, for a client that declared
 * SIZE=, less than queue_minfree + 1.5 x SIZE (Postfix's rule).  That
 * headroom is what lets queued still write bounces, delay notices and its
 * index when clients cannot fill the disk any further.  Both processes
 * decide with this one module, so the rule cannot differ between them.
 *
 * The space counted is statvfs f_bavail: what an unprivileged user (tern
 * runs as one) may still write; the blocks reserved for root are not
 * tern's.  A result is kept for FSSPACE_CACHE_MS, so that a busy server
 * does not call statvfs() for every command.
 */
#ifndef TERN_FSSPACE_H
#define TERN_FSSPACE_H

#include <stdint.h>

#define FSSPACE_CACHE_MS	1000

/* A cached free-space figure of the file system holding path. */
struct fsspace {
	const char	*path;		/* not owned; NULL: no check */
	int		 valid;		/* avail was measured */
	uint64_t	 checked_ms;	/* when (CLOCK_MONOTONIC) */
	uint64_t	 avail;		/* octets, UINT64_MAX: unknown */
	int		 warned;	/* a statvfs failure was logged */
};

/* fsspace_init - measure the file system of path (kept, not copied) */
void fsspace_init(struct fsspace *fs, const char *path);

/*
 * fsspace_avail - octets an unprivileged user may still write there, at
 * most FSSPACE_CACHE_MS old.  UINT64_MAX when it cannot be known (no
 * path, statvfs failed (logged once), or a file system that reports no
 * size): the check then lets mail in, and a write that fails for real
 * still answers 452.
 */
uint64_t fsspace_avail(struct fsspace *fs);

/* fsspace_avail_at - fsspace_avail with the clock given (for tests) */
uint64_t fsspace_avail_at(struct fsspace *fs, uint64_t now_ms);

/*
 * fsspace_enough - 1 when avail octets free are enough to take a message
 * of size octets (0: not declared): avail >= minfree + 1.5 x size, with
 * saturating arithmetic.  A minfree of 0 turns the check off.
 */
int fsspace_enough(uint64_t avail, uint64_t minfree, uint64_t size);

#endif
