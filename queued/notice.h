/*
 * notice - the notifications queued for a message's sender: bounces,
 * delay warnings and success reports (RFC 3464 DSN), as new messages in
 * the queue from the null sender.
 */
#ifndef TERN_NOTICE_H
#define TERN_NOTICE_H

#include "scheduler.h"

/*
 * notice_settle - after a delivery round of sm (envelope loaded): queue
 * the notices its recipients' results call for, durably, then store those
 * recipients' records; send the delay warning when it is due.
 */
void notice_settle(struct sched_msg *sm);

/*
 * notice_lost - sm's file is lost (envelope not loaded): queue a bounce
 * to the sender the index recorded, listing its pending recipients, or
 * log why nobody can be told (null sender, or an index record too old to
 * name the sender).  0 when done, -1 when the notice could not be queued
 * (try again later).
 */
int notice_lost(struct sched_msg *sm);

#endif
