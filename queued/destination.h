/*
 * destination - per-next-hop state for remote delivery: how many jobs may
 * run at once, and whether the destination is dead.
 *
 * The window starts low and grows by one with every job that reached the
 * site, up to the limit (smtp_destination_concurrency_limit); a job whose
 * site could not be reached halves it, and when it reaches zero the
 * destination is dead for a while: its mail is deferred without
 * connecting.  The arithmetic here is pure, so unit tests drive it with
 * their own clock.
 */
#ifndef TERN_DESTINATION_H
#define TERN_DESTINATION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "msg_codec.h"

#define DEST_NAME_MAX		(MSG_NEXTHOP_MAX + 1)	/* a buffer */
#define DEST_WINDOW_INIT	2

struct sched_job;

struct dest {
	char			 name[DEST_NAME_MAX];	/* next hop, lowercase */
	uint32_t		 active;	/* jobs in flight */
	uint32_t		 window;	/* jobs allowed in flight now */
	uint64_t		 dead_until;	/* 0, or dead before this */
	char			 last_error[512];
	TAILQ_HEAD(, sched_job)	 waiting;	/* jobs not yet started */
	uint32_t		 nwaiting;
	struct dest		*hnext;
};

/* dest_get - the destination called name, created when new (owned here) */
struct dest *dest_get(const char *name);
/* dest_forget - free d when it has nothing in flight or waiting */
void dest_forget(struct dest *d);
/* dest_init - a fresh destination state (no allocation) */
void dest_init(struct dest *d, const char *name);
/* dest_dead - 1 while d is dead at now */
int dest_dead(struct dest *d, uint64_t now);
/* dest_can_start - 1 when one more job fits the window and the limit */
int dest_can_start(const struct dest *d, uint32_t limit);
/*
 * dest_job_end - account a finished job: reached (1) the site or not (0).
 * Returns 1 when this made the destination dead until now + dead_time.
 */
int dest_job_end(struct dest *d, int reached, uint64_t now,
    uint64_t dead_time, uint32_t limit);
/* dest_revive_all - forget every dead mark (flush) */
void dest_revive_all(void);
/* dest_walk - call fn for every destination (fn must not free any) */
void dest_walk(void (*fn)(struct dest *));
/* dest_count - destinations known (tests, status) */
size_t dest_count(void);

#endif
