/*
 * scheduler - when each queued recipient is tried next, and the jobs that
 * carry them to deliverd.
 *
 * Messages wait in a binary heap ordered by their earliest due recipient,
 * so finding the next delivery costs O(log n), never a scan of the queue.
 * A message with a job in flight is out of the heap until the job ends.
 */
#ifndef TERN_SCHEDULER_H
#define TERN_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "ipc.h"
#include "queue_store.h"

/* sched_add - take a message with its index records (pending ones wait) */
void sched_add(const struct queue_msg_rec *msg,
    const struct queue_rcpt_rec *rcpts, size_t nrcpt, double commit_time);
/* sched_run - start every job that is due and fits the limits */
void sched_run(void);
/* sched_timeout_ms - how long poll() may sleep before sched_run is due */
int sched_timeout_ms(void);
/* sched_deliverd_input - a MSG_DELIVERD_* from deliverd */
int sched_deliverd_input(struct ipc_msg *m);
/* sched_deliverd_gone - deliverd died: its jobs' recipients wait again */
void sched_deliverd_gone(void);
/* sched_flush - make every waiting recipient due now */
void sched_flush(void);
/* sched_after_sync - unlink the files of messages removed from the
 * index, now that their removal is durable */
void sched_after_sync(void);
/* sched_jobs - jobs in flight */
uint32_t sched_jobs(void);
/* sched_count - messages known to the scheduler */
size_t sched_count(void);
/* sched_backoff - the wait before attempt number attempts+1 (seconds) */
uint64_t sched_backoff(uint32_t attempts, long min_backoff, long max_backoff,
    uint32_t random);

#endif
