/*
 * pickup - messages that sendmail left in SPOOL/maildrop (maildrop.h)
 * enter the queue here: validated, copied into a queue file of their
 * own, logged "QID: uid=N from=<sender>" as Postfix's pickup does, and
 * removed from maildrop once the queue has them durably.
 *
 * queued.c calls pickup_init() once after recovery, polls pickup_fd(),
 * calls pickup_run() every loop turn and pickup_after_sync() whenever
 * the index is known to be durable.
 */
#ifndef TERN_PICKUP_H
#define TERN_PICKUP_H

/*
 * pickup_init - open maildrop/ and watch it, and settle the files a
 * crash left claimed (maildrop.h): one whose queue file the index knows
 * is removed before anything of it can be delivered.  Call after the
 * recovered index is durable (queued_sync()).
 */
void pickup_init(void);

/* pickup_fd - the descriptor that becomes readable when maildrop/
 * changes (inotify), or -1 */
int pickup_fd(void);

/* pickup_event - pickup_fd() is readable: drain it, scan soon */
void pickup_event(void);

/* pickup_timeout_ms - how long poll() may sleep before a scan is due */
int pickup_timeout_ms(void);

/*
 * pickup_run - when a scan is due and start_new (queued is not
 * stopping): take up to a batch of maildrop files into the queue.
 * Their index records are added but not yet durable.
 */
void pickup_run(int start_new);

/*
 * pickup_after_sync - the index is durable: remove the maildrop files of
 * the messages taken in, then hand those messages to the scheduler.
 */
void pickup_after_sync(void);

#endif
