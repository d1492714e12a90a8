/*
 * queue_list - the listing of the queued messages, for "ternctl queue".
 *
 * Called by queue_admin.c.  Everything comes from the schedule in memory
 * (the index records, which hold the sender, the size and each
 * recipient's address), so a listing opens no file and costs one walk
 * over the messages, however large the queue.  Only a message whose
 * record predates the size (record version 2) costs a stat().  Texts
 * that came from outside (addresses, remote servers' replies) are
 * vis-encoded in the mailq format, which goes to a terminal, and
 * JSON-escaped in the JSON format (json.h).  Never changes anything.
 */
#include "config.h"

#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "msg_codec.h"
#include "queue_admin.h"
#include "queue_list.h"
#include "queued.h"
#include "scheduler.h"
#include "spool.h"
#include "virtual_path.h"

#define LINE_BUF	(MSG_QUEUE_LINE_MAX + 1)

/* queue_list_size - the body's octets (the file's, for old records) */
uint64_t
queue_list_size(const struct sched_msg *sm)
{
	char path[4096];
	struct stat st;

	if (sm->rec.have_size)
		return sm->rec.size;
	if (spool_msg_path(qctx.spool, sm->rec.qid, path, sizeof(path)) < 0 ||
	    stat(path, &st) < 0)
		return 0;
	return (uint64_t)st.st_size;
}

/* queue_list_rcpt - the address recipient i stands for */
const char *
queue_list_rcpt(const struct sched_msg *sm, uint32_t i, char *buf,
    size_t size)
{
	const struct sched_rcpt_rec *r = &sm->r[i].rec;

	if (r->kind == RCPT_KIND_LOCAL && virtual_path_is(r->addr))
		strlcpy(buf, r->addr, size);	/* a virtual mailbox */
	else if (r->kind == RCPT_KIND_LOCAL || r->kind == RCPT_KIND_MAILBOX)
		snprintf(buf, size, "%s@%s", r->addr, qctx.set->myhostname);
	else
		strlcpy(buf, r->addr[0] != '\0' ? r->addr : "(unknown)", size);
	return buf;
}

/* The mailq status mark: '!' held, '*' being delivered, ' ' waiting. */
static char
list_mark(const struct sched_msg *sm)
{
	return (sm->rec.flags & QMSG_F_HELD) ? '!' :
	    sched_busy(sm) ? '*' : ' ';
}

/* The postqueue -j queue_name. */
static const char *
list_queue_name(const struct sched_msg *sm)
{
	if (sm->rec.flags & QMSG_F_HELD)
		return "hold";
	if (sched_busy(sm))
		return "active";
	for (uint32_t i = 0; i < sm->n; i++)
		if (sm->r[i].rec.state == RCPT_PENDING &&
		    sm->r[i].rec.attempts > 0)
			return "deferred";
	return "incoming";
}

/* One message in the mailq format: its line, reasons and recipients. */
static void
list_text(struct ipc_conn *c, uint32_t id, const struct sched_msg *sm)
{
	char line[LINE_BUF], date[64], vis[1100], addr[ADDR_TEXT_MAX + 300];
	time_t t = (time_t)sm->rec.arrival;
	const char *reason = NULL;
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a %b %e %H:%M:%S", &tm);
	log_vis(vis, sizeof(vis), sm->rec.sender, strlen(sm->rec.sender));
	snprintf(line, sizeof(line), "%-16s%c %8llu %s  %s", sm->rec.qid,
	    list_mark(sm), (unsigned long long)queue_list_size(sm), date,
	    sm->rec.sender[0] != '\0' ? vis : "MAILER-DAEMON");
	queue_admin_line(c, id, line, 0);
	for (uint32_t i = 0; i < sm->n; i++) {
		const struct sched_rcpt_rec *r = &sm->r[i].rec;

		if (r->state != RCPT_PENDING)
			continue;
		/* Recipients that share a reason share its line. */
		if (r->last_error[0] != '\0' && (reason == NULL ||
		    strcmp(reason, r->last_error) != 0)) {
			log_vis(vis, sizeof(vis), r->last_error,
			    strlen(r->last_error));
			snprintf(line, sizeof(line), "(%s)", vis);
			queue_admin_line(c, id, line, 0);
			reason = r->last_error;
		}
		queue_list_rcpt(sm, i, addr, sizeof(addr));
		log_vis(vis, sizeof(vis), addr, strlen(addr));
		snprintf(line, sizeof(line), "%48s%s", "", vis);
		queue_admin_line(c, id, line, 0);
	}
	queue_admin_line(c, id, "", 0);
}

/* json_piece - append a JSON string of s to line (cut to fit) */
static void
json_piece(char *line, size_t size, const char *s)
{
	size_t len = strlen(line);

	if (len + 3 > size)
		return;
	line[len++] = '"';
	len += json_escape(line + len, size - len - 1, s, strlen(s));
	line[len++] = '"';
	line[len] = '\0';
}

/*
 * One message as a postqueue -j object.  A message with many
 * recipients is longer than one entry: it goes as several pieces, one
 * recipient each, that ternd joins into one line ("more").
 */
static void
list_json(struct ipc_conn *c, uint32_t id, const struct sched_msg *sm)
{
	char line[LINE_BUF], addr[ADDR_TEXT_MAX + 300];
	int first = 1;

	snprintf(line, sizeof(line), "{\"queue_name\": \"%s\", "
	    "\"queue_id\": \"%s\", \"arrival_time\": %llu, "
	    "\"message_size\": %llu, \"forced_expire\": false, "
	    "\"held\": %s, \"sender\": ", list_queue_name(sm), sm->rec.qid,
	    (unsigned long long)sm->rec.arrival,
	    (unsigned long long)queue_list_size(sm),
	    (sm->rec.flags & QMSG_F_HELD) ? "true" : "false");
	json_piece(line, sizeof(line), sm->rec.sender);
	strlcat(line, ", \"recipients\": [", sizeof(line));
	queue_admin_line(c, id, line, 1);
	for (uint32_t i = 0; i < sm->n; i++) {
		const struct sched_rcpt_rec *r = &sm->r[i].rec;

		if (r->state != RCPT_PENDING)
			continue;
		strlcpy(line, first ? "{\"address\": " : ", {\"address\": ",
		    sizeof(line));
		first = 0;
		json_piece(line, sizeof(line) - 32,
		    queue_list_rcpt(sm, i, addr, sizeof(addr)));
		if (r->last_error[0] != '\0') {
			strlcat(line, ", \"delay_reason\": ", sizeof(line));
			json_piece(line, sizeof(line) - 4, r->last_error);
		}
		strlcat(line, "}", sizeof(line));
		queue_admin_line(c, id, line, 1);
	}
	queue_admin_line(c, id, "]}", 0);
}

/* queue_list_send - every visible message, then the mailq footer */
void
queue_list_send(struct ipc_conn *c, uint32_t id, int json,
    int (*visible)(const struct sched_msg *, void *), void *arg)
{
	uint64_t octets = 0;
	size_t n = 0;
	char line[128];

	for (struct sched_msg *sm = sched_first(); sm != NULL;
	    sm = sched_next(sm)) {
		if (!visible(sm, arg))
			continue;
		if (json) {
			list_json(c, id, sm);
			continue;
		}
		if (n == 0)
			queue_admin_line(c, id, "-Queue ID-        --Size-- "
			    "----Arrival Time---  -Sender/Recipient-------", 0);
		list_text(c, id, sm);
		octets += queue_list_size(sm);
		n++;
	}
	if (json)
		return;
	if (n == 0) {
		queue_admin_line(c, id, "Mail queue is empty", 0);
		return;
	}
	snprintf(line, sizeof(line), "-- %llu Kbytes in %zu Request%s.",
	    (unsigned long long)((octets + 1023) / 1024), n, n == 1 ? "" :
	    "s");
	queue_admin_line(c, id, line, 0);
}
