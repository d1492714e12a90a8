/*
 * queue_commit - new messages: create the file, accept the commit, make it
 * durable together with every other commit of the same loop turn.
 */
#ifndef TERN_QUEUE_COMMIT_H
#define TERN_QUEUE_COMMIT_H

#include "ipc.h"
#include "queued.h"

/* commit_open - MSG_SMTPD_MESSAGE_OPEN: create a file, pass its fd */
void commit_open(struct queued_peer *p, struct ipc_msg *m);
/* commit_request - MSG_SMTPD_MESSAGE_COMMIT: validate, index, batch */
void commit_request(struct queued_peer *p, struct ipc_msg *m);
/* commit_abort - MSG_SMTPD_MESSAGE_ABORT: forget and remove the file */
void commit_abort(struct queued_peer *p, struct ipc_msg *m);
/* commit_peer_gone - an smtpd went away: drop its unfinished files */
void commit_peer_gone(struct queued_peer *p);
/*
 * commit_flush_batch - end of a loop turn: sync the directories and the
 * index once for every commit received, then answer each smtpd and hand
 * the messages to the scheduler.
 */
void commit_flush_batch(void);
/*
 * commit_create_file - create SPOOL/msg/X/QID (O_EXCL, 0600) under a new
 * queue ID, written to qid and path; the read-write descriptor, or -1.
 * Thread-safe and silent: file_pool's thread calls it too.
 */
int commit_create_file(char *qid, size_t qidsize, char *path,
    size_t pathsize);
/*
 * commit_reuse_file - give the finished message file old, which the
 * scheduler emptied, a new queue ID: renamed to SPOOL/msg/X/QID (never
 * over an existing file); qid and path as for commit_create_file, the
 * read-write descriptor, or -1 with old removed, unless old is no longer
 * empty (not the file emptied: left alone).  Thread-safe and silent.
 */
int commit_reuse_file(const char *old, char *qid, size_t qidsize, char *path,
    size_t pathsize);
/* commit_is_open - qid is a file handed to an smtpd and not yet done, or
 * one made ahead for the next (file_pool.h) */
int commit_is_open(const char *qid);
/* commit_pending - true when a batch awaits commit_flush_batch() */
int commit_pending(void);

#endif
