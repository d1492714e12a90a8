/*
 * queue_list - one text listing of every queued message, for ternd to
 * pass to "ternctl queue".
 *
 * Called by queued.c on MSG_MASTER_QUEUE_LIST.  Reads each message's
 * envelope from its file (the index does not hold addresses) and never
 * changes anything.  Error texts come from remote servers, so they are
 * vis-encoded before they reach an administrator's terminal.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "log.h"
#include "msg.h"
#include "msg_codec.h"
#include "queue_list.h"
#include "queued.h"
#include "scheduler.h"
#include "spool.h"

#define LINE_MAX_LEN	(MSG_QUEUE_LINE_MAX + 1)	/* a buffer */

/* emit - one line of the listing (lines are cut to fit, never split) */
static void
emit(struct ipc_conn *c, uint32_t id, const char *line)
{
	struct msg_queue_line l = { line };
	struct ipc_msg m;

	if (msg_encode(&m, MSG_QUEUED_QUEUE_ENTRY, id, &l) == 0)
		ipc_conn_queue(c, &m);
}

static const char *
state_word(const struct sched_rcpt_rec *r)
{
	switch (r->state) {
	case RCPT_DELIVERED:
		return "delivered";
	case RCPT_FAILED:
		return "failed";
	case RCPT_EXPANDED:
		return "expanded";
	default:
		return r->attempts > 0 ? "deferred" : "queued";
	}
}

static void
list_message(struct ipc_conn *c, uint32_t id, struct sched_msg *sm)
{
	struct envelope env;
	char path[4096], err[256], line[LINE_MAX_LEN], date[64], vis[1024];
	char addr[2 * ADDR_TEXT_MAX + 300];
	time_t t = (time_t)sm->rec.arrival;
	struct tm tm;
	off_t body;
	int fd;

	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	memset(&env, 0, sizeof(env));
	if (spool_msg_path(qctx.spool, sm->rec.qid, path, sizeof(path)) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		snprintf(line, sizeof(line), "%s  %s  (queue file unreadable: "
		    "%s)", sm->rec.qid, date, strerror(errno));
		emit(c, id, line);
		return;
	}
	off_t size = lseek(fd, 0, SEEK_END);
	if (envelope_read(fd, &env, &body, err, sizeof(err)) < 0 ||
	    env.nrcpt != sm->rec.nrcpt) {
		close(fd);
		snprintf(line, sizeof(line), "%s  %s  (corrupt queue file)",
		    sm->rec.qid, date);
		emit(c, id, line);
		envelope_free(&env);
		return;
	}
	close(fd);
	snprintf(line, sizeof(line), "%s%s %8lld  %s  <%s>", sm->rec.qid,
	    sm->nbusy > 0 ? "*" : " ", (long long)(size - body), date,
	    env.sender);
	emit(c, id, line);
	for (uint32_t i = 0; i < sm->n; i++) {
		const struct sched_rcpt_rec *r = &sm->r[i].rec;

		if (r->kind == RCPT_KIND_ENVELOPE)
			snprintf(addr, sizeof(addr), "<%s>", env.rcpts[i].addr);
		else
			(void)snprintf(addr, sizeof(addr), "<%s%s%s> (from <%s>)",
			    r->addr, r->kind == RCPT_KIND_LOCAL ? "@" : "",
			    r->kind == RCPT_KIND_LOCAL ?
			    qctx.set->myhostname : "",
			    env.rcpts[r->parent].addr);
		log_vis(vis, sizeof(vis), r->last_error, strlen(r->last_error));
		/* Long lines are cut, not split: the listing is for eyes. */
		if (snprintf(line, sizeof(line), "    %-9s %s%s%s%s",
		    state_word(r), addr, vis[0] != '\0' ? "  (" : "", vis,
		    vis[0] != '\0' ? ")" : "") < 0)
			continue;
		emit(c, id, line);
	}
	envelope_free(&env);
}

/* queue_list_send - the listing, then its end */
void
queue_list_send(struct ipc_conn *c, uint32_t id)
{
	struct ipc_msg m;
	size_t n = 0;

	for (struct sched_msg *sm = sched_first(); sm != NULL;
	    sm = sched_next(sm), n++)
		list_message(c, id, sm);
	if (n == 0)
		emit(c, id, "queue is empty");
	msg_encode_empty(&m, MSG_QUEUED_QUEUE_END, id);
	ipc_conn_queue(c, &m);
}
