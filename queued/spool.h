/*
 * spool - where queued keeps message files.
 *
 * SPOOL/msg/X/QID, X being the last hex digit of the queue ID, so that no
 * directory grows with the whole queue (queued picks X by time, so that
 * the files of one commit batch share a directory: queue_commit.c).  The file is created directly at
 * its final name: a file that no index record names is unfinished, and is
 * removed at start.  That avoids a rename, whose durability would need
 * two directory syncs, on the path every message takes.
 */
#ifndef TERN_SPOOL_H
#define TERN_SPOOL_H

#include <stddef.h>

#define SPOOL_HASH_DIRS 16

/* spool_msg_path - "SPOOL/msg/X/QID" into buf; -1 if it did not fit */
int spool_msg_path(const char *spool, const char *qid, char *buf,
    size_t size);
/*
 * spool_msg_dir_index - the number (0 to SPOOL_HASH_DIRS - 1) of QID's
 * directory msg/X, X its last digit ("0"-"9", "A"-"F"); -1 for another.
 */
int spool_msg_dir_index(const char *qid);
/* spool_msg_dir - "SPOOL/msg/X" for QID into buf; -1 if it did not fit */
int spool_msg_dir(const char *spool, const char *qid, char *buf,
    size_t size);

/*
 * spool_scan - call fn(qid, arg) for every well-named file in SPOOL/msg/X/;
 * other names are reported with log_warn and left alone.
 */
void spool_scan(const char *spool, void (*fn)(const char *qid, void *arg),
    void *arg);

/*
 * spool_quarantine - move SPOOL/msg/X/QID to SPOOL/corrupt/ (as QID, or
 * QID.N when that name is taken) and log why.  tern never deletes such
 * a file: it may hold the only copy of somebody's mail.  0, or -1
 * (logged) when it could not be moved and stays where it is.
 */
int spool_quarantine(const char *spool, const char *qid, const char *why);

#endif
