/*
 * file_pool - empty message files made ahead of need, by a thread of
 * their own.
 *
 * Making a file in the spool (a new name in a directory, an inode) took
 * about 0.4 ms of queued's single loop per message, while every smtpd
 * waiting for its COMMITTED or its next file waited behind it.  The pool
 * makes up to queue_file_pool_size files ahead (tern.conf(5); 0: no pool,
 * no thread), in a thread that does nothing
 * else (no logging, no signals: every signal is blocked in it), and the
 * loop takes one whenever an smtpd needs a file.  When the pool is empty
 * (a burst, or creation failing: a full inode table), the caller makes
 * its file itself, as before, and reports the error itself.
 *
 * The thread makes files in batches (when the pool is down to
 * half its size, or after a second without a take) and fsyncs each
 * batch's directories once before it pools the files: a pooled file's
 * name is then durable before any smtpd writes to it, so the group commit
 * (queue_commit.c) need not sync its directory again, and one directory
 * sync covers a batch instead of a commit's few files (a sync per file
 * or two, made as files were needed, cost more flushes than it saved).
 *
 * A pooled file is empty, as a file handed to an smtpd is until it
 * writes: after a crash, start-up recovery removes it as unfinished, and
 * while queued runs, "ternctl rebuild" leaves it (file_pool_holds).
 * file_pool_stop removes the files still pooled.
 *
 * Most pooled files are not made but reused: the file of a message that
 * has left the queue is given to the pool (file_pool_recycle) instead
 * of being unlinked, emptied by the loop before its record goes, and
 * the thread renames it to a new queue ID.  A name and an inode freed
 * and another two allocated for every message cost more than the
 * rename; on ext4 without a journal,
 * each new inode also scans past the inodes freed in the last minutes
 * (bench/README.md, item 29).  Until the thread renames it, a recycled
 * file keeps its old name, which file_pool_holds names (so "ternctl
 * rebuild" leaves it); file_pool_stop removes it; a crash leaves it
 * empty, and the next start removes it as unfinished.
 */
#ifndef TERN_FILE_POOL_H
#define TERN_FILE_POOL_H

#include <stddef.h>

/*
 * A function that makes one new, empty file: its queue ID in qid, its
 * path in path, and its descriptor returned, or -1 with errno.  Called
 * from the pool's thread, so it must be thread-safe and must not log.
 */
typedef int (*file_pool_create_fn)(char *qid, size_t qidsize, char *path,
    size_t pathsize);
/*
 * A function that gives the finished, emptied message file old a new
 * queue ID: renamed to its new path (never over an existing file), and
 * its descriptor returned; or -1 with errno, old then removed unless it
 * is no longer empty (then it is not the pool's, and left alone).
 * Called from the pool's thread: thread-safe, no logging.
 */
typedef int (*file_pool_reuse_fn)(const char *old, char *qid,
    size_t qidsize, char *path, size_t pathsize);

/* file_pool_start - start the thread that keeps up to size files made
 * ahead, reusing recycled files with reuse (NULL: none are taken);
 * 0, or -1 with errno.  Without a pool (size 0, or a failure) every
 * file_pool_take finds it empty and every file_pool_recycle refuses. */
int file_pool_start(file_pool_create_fn create, file_pool_reuse_fn reuse,
    unsigned size);
/*
 * file_pool_take - a pooled file: its descriptor (the caller's), its
 * queue ID and path copied out, and in *name_durable 1 when its directory
 * was synced after it was made (0 when that sync failed); -1 when the
 * pool is empty.  Never waits for a file to be made.
 */
int file_pool_take(char *qid, size_t qidsize, char *path, size_t pathsize,
    int *name_durable);
/*
 * file_pool_recycle - the file at path, of the finished message qid, for
 * the pool to reuse; 0 when the pool took it (it is the pool's now), -1
 * when it cannot (no pool, or the pooled files and those waiting to be
 * reused already make the pool's size): the caller removes the file then.
 * So the spool never holds more empty files of the pool's than its size,
 * and a recycled file waits for the next batch.
 */
int file_pool_recycle(const char *qid, const char *path);
/* file_pool_recycle_room - file_pool_recycle would take a file now (it
 * may still refuse it if the thread pools files meanwhile) */
int file_pool_recycle_room(void);
/* file_pool_holds - qid is a pooled file, not yet taken, or a recycled
 * one not yet renamed and still empty (a message put back in its place
 * is not the pool's: the reuse function leaves it alone) */
int file_pool_holds(const char *qid);
/*
 * file_pool_pause, file_pool_resume - between the two no file is being
 * made, so every file the pool made is one file_pool_holds names: for a
 * scan of the spool that removes empty files it does not know of
 * ("ternctl rebuild"), which would otherwise race the thread.
 */
void file_pool_pause(void);
void file_pool_resume(void);
/* file_pool_stop - end the thread, unlink and close the pooled files,
 * and unlink the recycled ones not yet reused */
void file_pool_stop(void);

#endif
