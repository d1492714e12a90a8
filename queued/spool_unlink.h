/*
 * spool_unlink - finished message files are removed by a helper thread,
 * not in queued's loop.
 *
 * Removing a file frees its inode and blocks, and on a file system
 * mounted with discard the kernel waits for the device to discard the
 * blocks before unlink() returns (0.12-0.15 ms for a small message file
 * on the benchmark machine).  queued's single loop would wait that long
 * for every delivered message while smtpd sessions wait for its OPEN and
 * COMMITTED answers.  The thread does nothing but unlink(): the index
 * stays in the loop's hands, and a record is removed only after its
 * file is gone (scheduler.c), exactly as when the loop unlinked itself.
 */
#ifndef TERN_SPOOL_UNLINK_H
#define TERN_SPOOL_UNLINK_H

#include <stddef.h>

/* The answer for one file: its queue ID and 0 or the errno of unlink(). */
typedef void (*spool_unlink_done_fn)(const char *qid, int err, void *arg);

/*
 * spool_unlink_start - start the thread for the files under spool
 * (which must stay valid and unchanged).  0, or -1 (logged) when it
 * could not be started; spool_unlink_submit then unlinks at once.
 */
int spool_unlink_start(const char *spool);

/* spool_unlink_fd - readable when answers wait for spool_unlink_collect;
 * -1 when the thread does not run */
int spool_unlink_fd(void);

/*
 * spool_unlink_submit - remove SPOOL/msg/X/QID; done(qid, err, arg) is
 * called from spool_unlink_collect (from this call itself when the
 * thread does not run).  Nothing of qid is kept by the caller's buffer.
 */
void spool_unlink_submit(const char *qid, spool_unlink_done_fn done,
    void *arg);

/* spool_unlink_collect - call done() for every file removed since the
 * last call; the number of answers */
size_t spool_unlink_collect(void);

/* spool_unlink_stop - let the thread finish what it was given, join it,
 * and collect the answers; later submissions unlink at once */
void spool_unlink_stop(void);

#endif
