/*
 * queue_stats - what queued counts for "ternctl stats", since it started.
 *
 * Counted where each event happens: received in queue_commit.c (a
 * message made durable for smtpd), the recipient results in
 * scheduler.c, deletions by ternctl in scheduler.c.  Read by
 * queue_admin.c.  Plain counters: queued is single-threaded.
 */
#ifndef TERN_QUEUE_STATS_H
#define TERN_QUEUE_STATS_H

#include <stdint.h>

struct queue_stats {
	uint64_t	started;	/* when queued started (epoch) */
	uint64_t	received;	/* messages committed for smtpd */
	uint64_t	delivered;	/* recipient results: delivered */
	uint64_t	deferred;	/* recipient results: deferred */
	uint64_t	bounced;	/* recipients failed (bounce owed) */
	uint64_t	deleted;	/* messages deleted by ternctl */
};

extern struct queue_stats qstats;

#endif
