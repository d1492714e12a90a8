/*
 * ternctl_stats - the counters in three formats (ternctl_stats.h).
 *
 * One table names every counter: its name on the control socket
 * (master_stats.c and queue_admin.c write them), its Prometheus metric
 * with a label where one metric has several series, its type and help.
 * A metric's HELP and TYPE lines come once, before its first series.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ternctl_stats.h"

struct stat_def {
	const char	*name;		/* on the socket */
	const char	*metric;
	const char	*label;		/* "reason=\"...\"" or NULL */
	const char	*type;		/* "counter" or "gauge" */
	const char	*help;
};

static const struct stat_def defs[] = {
	{ "ternd_started", "tern_ternd_start_time_seconds", NULL, "gauge",
	  "When ternd started, seconds since the epoch" },
	{ "smtpd_connections", "tern_smtpd_connections_total", NULL,
	  "counter", "SMTP sessions begun" },
	{ "smtpd_refused_concurrency", "tern_smtpd_sessions_refused_total",
	  "reason=\"concurrency\"", "counter",
	  "SMTP sessions refused by a per-client limit" },
	{ "smtpd_refused_rate", "tern_smtpd_sessions_refused_total",
	  "reason=\"rate\"", "counter", NULL },
	{ "smtpd_auth_failures", "tern_smtpd_auth_failures_total", NULL,
	  "counter", "Failed AUTH attempts" },
	{ "smtpd_rejected_unknown_recipient", "tern_smtpd_rejected_total",
	  "reason=\"unknown_recipient\"", "counter",
	  "SMTP commands refused by policy" },
	{ "smtpd_rejected_relay_denied", "tern_smtpd_rejected_total",
	  "reason=\"relay_denied\"", "counter", NULL },
	{ "smtpd_rejected_sender_login", "tern_smtpd_rejected_total",
	  "reason=\"sender_login\"", "counter", NULL },
	{ "smtpd_rejected_lookup_failure", "tern_smtpd_rejected_total",
	  "reason=\"lookup_failure\"", "counter", NULL },
	{ "smtpd_rejected_loop", "tern_smtpd_rejected_total",
	  "reason=\"loop\"", "counter", NULL },
	{ "smtpd_rejected_storage", "tern_smtpd_rejected_total",
	  "reason=\"storage\"", "counter", NULL },
	{ "queued_started", "tern_queued_start_time_seconds", NULL, "gauge",
	  "When queued started, seconds since the epoch" },
	{ "messages_received", "tern_messages_received_total", NULL,
	  "counter", "Messages accepted into the queue" },
	{ "recipients_delivered", "tern_recipients_delivered_total", NULL,
	  "counter", "Recipients delivered" },
	{ "recipients_deferred", "tern_recipients_deferred_total", NULL,
	  "counter", "Delivery attempts deferred, per recipient" },
	{ "recipients_bounced", "tern_recipients_bounced_total", NULL,
	  "counter", "Recipients failed for good (bounced or expired)" },
	{ "messages_deleted", "tern_messages_deleted_total", NULL, "counter",
	  "Messages deleted with ternctl delete" },
	{ "queue_messages", "tern_queue_messages", NULL, "gauge",
	  "Messages in the queue" },
	{ "queue_recipients", "tern_queue_recipients", NULL, "gauge",
	  "Recipients waiting in the queue" },
	{ "queue_held", "tern_queue_held_messages", NULL, "gauge",
	  "Messages on hold" },
	{ "queue_active", "tern_queue_active_messages", NULL, "gauge",
	  "Messages loaded for delivery, at most queue_active_limit" },
	{ "local_jobs", "tern_local_jobs", NULL, "gauge",
	  "Local delivery jobs in flight" },
	{ "local_jobs_waiting", "tern_local_jobs_waiting", NULL, "gauge",
	  "Local delivery jobs waiting for room in the local transport" },
	{ "queue_oldest_age_seconds", "tern_queue_oldest_message_age_seconds",
	  NULL, "gauge", "Age of the oldest queued message" },
};
#define NDEFS	(sizeof(defs) / sizeof(defs[0]))

/* stats_value - the value of name in text, or NULL */
static const char *
stats_value(const char *text, const char *name, char *buf, size_t size)
{
	size_t nlen = strlen(name);

	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (len > nlen && strncmp(p, name, nlen) == 0 &&
		    p[nlen] == ' ' && len - nlen - 1 < size) {
			memcpy(buf, p + nlen + 1, len - nlen - 1);
			buf[len - nlen - 1] = '\0';
			return buf;
		}
		p += len + (nl != NULL);
	}
	return NULL;
}

/* stats_number - v is a decimal number */
static int
stats_number(const char *v)
{
	if (*v == '\0')
		return 0;
	for (; *v != '\0'; v++)
		if (*v < '0' || *v > '9')
			return 0;
	return 1;
}

/* ternctl_stats_print - the counters in format f */
int
ternctl_stats_print(FILE *fp, const char *text, enum stats_format f)
{
	const char *last = NULL;
	char v[64];
	int n = 0;

	if (f == STATS_JSON)
		fputc('{', fp);
	for (size_t i = 0; i < NDEFS; i++) {
		const struct stat_def *d = &defs[i];

		if (stats_value(text, d->name, v, sizeof(v)) == NULL)
			continue;
		if (!stats_number(v))
			return -1;
		switch (f) {
		case STATS_TEXT:
			fprintf(fp, "%-34s %s\n", d->name, v);
			break;
		case STATS_JSON:
			fprintf(fp, "%s\"%s\": %s", n > 0 ? ", " : "", d->name,
			    v);
			break;
		case STATS_PROMETHEUS:
			if (last == NULL || strcmp(last, d->metric) != 0) {
				fprintf(fp, "# HELP %s %s.\n# TYPE %s %s\n",
				    d->metric, d->help, d->metric, d->type);
				last = d->metric;
			}
			if (d->label != NULL)
				fprintf(fp, "%s{%s} %s\n", d->metric, d->label,
				    v);
			else
				fprintf(fp, "%s %s\n", d->metric, v);
			break;
		}
		n++;
	}
	if (f == STATS_JSON)
		fputs("}\n", fp);
	return 0;
}
