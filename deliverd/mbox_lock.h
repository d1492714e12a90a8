/*
 * mbox_lock - the two locks of an mbox file that mutt, Dovecot and
 * procmail honour: the dotlock PATH.lock (a file created with O_EXCL) and
 * an fcntl write lock on the whole file.  Used by mbox.c only; both
 * take a deadline, so that a lock held by someone else is waited for
 * but not for ever.
 */
#ifndef TERN_MBOX_LOCK_H
#define TERN_MBOX_LOCK_H

#include <time.h>

/*
 * mbox_dotlock_take - create lock (O_EXCL), waiting until deadline while
 * another holds it; a lock file whose mtime is stale seconds old or more
 * is removed first.  0, or -1 with errno (EWOULDBLOCK: still held at the
 * deadline).
 */
int mbox_dotlock_take(const char *lock, time_t deadline, time_t stale);

/* mbox_dotlock_drop - remove the lock file mbox_dotlock_take created */
void mbox_dotlock_drop(const char *lock);

/*
 * mbox_fcntl_take - an fcntl write lock on all of fd, waiting until
 * deadline while another process holds one.  0, or -1 with errno
 * (EWOULDBLOCK: still held at the deadline).
 */
int mbox_fcntl_take(int fd, time_t deadline);

#endif
