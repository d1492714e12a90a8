/*
 * master_stats - what ternd counts for "ternctl stats", since it started:
 * SMTP connections and the sessions its per-client limits refused (it
 * decides those), failed AUTH attempts and the commands smtpd refused by
 * policy (smtpd reports each one: MSG_SMTPD_AUTH_FAILURE,
 * MSG_SMTPD_REJECT).  queued counts the messages (queue_stats.h); ternd
 * adds these lines to queued's answer.
 */
#ifndef TERN_MASTER_STATS_H
#define TERN_MASTER_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "msg.h"

struct master_stats {
	time_t		started;
	uint64_t	connections;		/* sessions that began */
	uint64_t	refused_concurrency;	/* CLIENT_DENY_CONCURRENCY */
	uint64_t	refused_rate;		/* CLIENT_DENY_RATE */
	uint64_t	auth_failures;
	uint64_t	rejected[REJECT_REASONS];
};

extern struct master_stats mstats;

/* master_stats_reason - the name of reason in the counters' lines */
const char *master_stats_reason(uint32_t reason);
/* master_stats_format - the counters as "name value" lines, in buf */
void master_stats_format(const struct master_stats *st, char *buf,
    size_t size);

#endif
