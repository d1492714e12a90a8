/*
 * master_stats - ternd's counters and their text (master_stats.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "master_stats.h"

struct master_stats mstats;

/* The names of enum reject_reason, in its order. */
static const char *const reasons[REJECT_REASONS] = {
	"unknown_recipient", "relay_denied", "sender_login",
	"lookup_failure", "loop", "storage",
};

/* master_stats_reason - the reason's name */
const char *
master_stats_reason(uint32_t reason)
{
	return reason < REJECT_REASONS ? reasons[reason] : "unknown";
}

/* master_stats_format - "name value" lines, cut at size */
void
master_stats_format(const struct master_stats *st, char *buf, size_t size)
{
	size_t len;

	snprintf(buf, size, "ternd_started %lld\n"
	    "smtpd_connections %llu\n"
	    "smtpd_refused_concurrency %llu\n"
	    "smtpd_refused_rate %llu\n"
	    "smtpd_auth_failures %llu\n", (long long)st->started,
	    (unsigned long long)st->connections,
	    (unsigned long long)st->refused_concurrency,
	    (unsigned long long)st->refused_rate,
	    (unsigned long long)st->auth_failures);
	for (uint32_t i = 0; i < REJECT_REASONS; i++) {
		len = strlen(buf);
		snprintf(buf + len, size - len, "smtpd_rejected_%s %llu\n",
		    reasons[i], (unsigned long long)st->rejected[i]);
	}
}
