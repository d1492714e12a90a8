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

#endif
