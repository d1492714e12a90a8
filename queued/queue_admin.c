/*
 * queue_admin - what "ternctl" asks of the queue, through ternd
 * (MSG_MASTER_QUEUE_ADMIN): list, show, hold, release, delete, requeue,
 * flush some messages, and the counters for "ternctl stats".
 *
 * Called by queued.c for each request from ternd.  ternd has decided
 * who asks (SO_PEERCRED) and whether that user is an administrator
 * (QADMIN_F_ADMIN); queued checks it again and trusts nothing else in
 * the request: every queue ID is validated before it is looked up.  An
 * administrator may do anything; another user sees, shows and flushes
 * only the messages that user submitted locally (the uid in the message
 * record), and a message that is not theirs is answered exactly like one
 * that does not exist.
 *
 * The scheduler does the work on each message (scheduler.h: hold,
 * release, delete, due now); this file chooses the messages and says
 * what happened, one line per message.  A line that starts with
 * "error: " tells ternctl that something failed.
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "destination.h"
#include "log.h"
#include "msg.h"
#include "msg_codec.h"
#include "msgfile.h"
#include "qid.h"
#include "queue_admin.h"
#include "queue_list.h"
#include "queue_stats.h"
#include "queued.h"
#include "scheduler.h"
#include "spool.h"

#define SHOW_CHUNK	8192	/* octets of the message read at a time */

/* One request being answered. */
struct admin {
	struct ipc_conn			*c;
	uint32_t			 id;
	struct msg_queue_admin		*a;
	size_t				 done, failed;
};

/* queue_admin_line - one entry of the answer */
void
queue_admin_line(struct ipc_conn *c, uint32_t id, const char *text, int more)
{
	char fit[MSG_QUEUE_LINE_MAX + 1];
	struct msg_queue_line l;
	struct ipc_msg m;

	l.line = msg_str_fit(text, MSG_QUEUE_LINE_MAX, fit, sizeof(fit));
	l.more = more ? 1 : 0;
	if (msg_encode(&m, MSG_QUEUED_QUEUE_ENTRY, id, &l) == 0)
		ipc_conn_queue(c, &m);
}

/* admin_say - a formatted line of the answer */
static void
admin_say(struct admin *ad, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
admin_say(struct admin *ad, const char *fmt, ...)
{
	char line[MSG_QUEUE_LINE_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	queue_admin_line(ad->c, ad->id, line, 0);
}

/* admin_visible - may the asker see sm?  (queue_list's filter) */
static int
admin_visible(const struct sched_msg *sm, void *arg)
{
	const struct msg_queue_admin *a = arg;

	return (a->flags & QADMIN_F_ADMIN) ||
	    (sm->rec.uid != QMSG_UID_NONE && sm->rec.uid == a->uid);
}

/* admin_find - the visible message qid, or NULL (answered) */
static struct sched_msg *
admin_find(struct admin *ad, const char *qid)
{
	struct sched_msg *sm = NULL;

	if (!qid_valid(qid)) {
		admin_say(ad, "error: not a queue ID");
		ad->failed++;
		return NULL;
	}
	if ((sm = sched_msg_find(qid)) == NULL || !admin_visible(sm, ad->a)) {
		admin_say(ad, "error: %s: no such message", qid);
		ad->failed++;
		return NULL;
	}
	return sm;
}

/* --- hold, release, delete, requeue, flush -------------------------------- */

/* admin_act - do op to sm, and say so */
static void
admin_act(struct admin *ad, struct sched_msg *sm)
{
	uint32_t uid = ad->a->uid;
	char qid[QID_MAX];

	strlcpy(qid, sm->rec.qid, sizeof(qid));
	switch (ad->a->op) {
	case QADMIN_HOLD:
		if (sm->rec.flags & QMSG_F_HELD)
			return;
		sched_msg_hold(sm, 1);
		log_info("%s: placed on hold by uid %u", qid, uid);
		admin_say(ad, "%s: placed on hold", qid);
		break;
	case QADMIN_RELEASE:
		if (!(sm->rec.flags & QMSG_F_HELD))
			return;
		sched_msg_hold(sm, 0);
		log_info("%s: released from hold by uid %u", qid, uid);
		admin_say(ad, "%s: released from hold", qid);
		break;
	case QADMIN_DELETE:
		if (sched_msg_delete(sm) < 0) {
			admin_say(ad, "error: %s: not deleted: %s", qid,
			    errno == EBUSY ? "being delivered; try again" :
			    errno == EAGAIN ? "the queue index cannot be "
			    "written now" : strerror(errno));
			ad->failed++;
			return;
		}
		log_info("%s: deleted by uid %u", qid, uid);
		admin_say(ad, "%s: deleted", qid);
		break;
	case QADMIN_REQUEUE:
	case QADMIN_FLUSH:
		if (sm->rec.flags & QMSG_F_HELD) {
			admin_say(ad, "%s: on hold: not %s", qid,
			    ad->a->op == QADMIN_FLUSH ? "flushed" :
			    "requeued");
			return;
		}
		sched_msg_due_now(sm);
		admin_say(ad, "%s: %s", qid, ad->a->op == QADMIN_FLUSH ?
		    "due now" : "requeued: due now");
		break;
	default:
		return;
	}
	ad->done++;
}

/* admin_rcpt_domain - has sm a waiting recipient in domain? */
static int
admin_rcpt_domain(const struct sched_msg *sm, const char *domain)
{
	for (uint32_t i = 0; i < sm->n; i++) {
		const struct sched_rcpt_rec *r = &sm->r[i].rec;
		const char *at = strrchr(r->addr, '@');

		if (r->state == RCPT_PENDING && (r->kind == RCPT_KIND_ENVELOPE ||
		    r->kind == RCPT_KIND_REMOTE) &&
		    at != NULL && strcasecmp(at + 1, domain) == 0)
			return 1;
	}
	return 0;
}

/* admin_change - hold, release, delete, requeue or flush some messages */
static void
admin_change(struct admin *ad)
{
	struct msg_queue_admin *a = ad->a;
	struct sched_msg *sm, *next;
	static const char *const verbs[] = {
		[QADMIN_HOLD] = "held", [QADMIN_RELEASE] = "released",
		[QADMIN_DELETE] = "deleted", [QADMIN_REQUEUE] = "requeued",
		[QADMIN_FLUSH] = "flushed",
	};

	/* Flushing and requeueing mean trying again now: a destination
	 * found dead is tried again too, and learns its window anew. */
	if (a->op == QADMIN_FLUSH || a->op == QADMIN_REQUEUE)
		dest_revive_all();
	if ((a->flags & QADMIN_F_ALL) || a->domain[0] != '\0') {
		for (sm = sched_first(); sm != NULL; sm = next) {
			next = sched_next(sm);	/* delete frees sm */
			if (admin_visible(sm, a) &&
			    (a->domain[0] == '\0' ||
			    admin_rcpt_domain(sm, a->domain)))
				admin_act(ad, sm);
		}
	} else
		for (uint32_t i = 0; i < a->n; i++)
			if ((sm = admin_find(ad, a->qids[i].qid)) != NULL)
				admin_act(ad, sm);
	admin_say(ad, "%s: %zu message%s", verbs[a->op], ad->done,
	    ad->done == 1 ? "" : "s");
}

/* --- show ------------------------------------------------------------------ */

/* admin_time - "YYYY-MM-DD HH:MM:SS" local time, or "-" for 0 */
static const char *
admin_time(uint64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || localtime_r(&tt, &tm) == NULL)
		strlcpy(buf, "-", size);
	else
		strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

static const char *
admin_state(const struct sched_rcpt_rec *r)
{
	static const char *const words[] = { "waiting", "delivered",
	    "failed", "expanded" };

	if (r->state == RCPT_PENDING && r->attempts > 0)
		return "deferred";
	return r->state <= RCPT_EXPANDED ? words[r->state] : "unknown";
}

/* admin_show_rcpts - each recipient: state, attempts, times, error */
static void
admin_show_rcpts(struct admin *ad, const struct sched_msg *sm)
{
	char addr[ADDR_TEXT_MAX + 300], vis[1100], t1[32], t2[32];

	for (uint32_t i = 0; i < sm->n; i++) {
		const struct sched_rcpt_rec *r = &sm->r[i].rec;

		queue_list_rcpt(sm, i, addr, sizeof(addr));
		log_vis(vis, sizeof(vis), addr, strlen(addr));
		admin_say(ad, "recipient: <%s> %s, %u attempt%s, last %s, "
		    "next %s", vis, admin_state(r), r->attempts,
		    r->attempts == 1 ? "" : "s",
		    admin_time(r->last_try, t1, sizeof(t1)),
		    r->state == RCPT_PENDING && !(sm->rec.flags & QMSG_F_HELD) ?
		    admin_time(r->next_try, t2, sizeof(t2)) : "-");
		if (r->last_error[0] != '\0') {
			log_vis(vis, sizeof(vis), r->last_error,
			    strlen(r->last_error));
			admin_say(ad, "    last error: %s%s%s", r->dsn,
			    r->dsn[0] != '\0' ? " " : "", vis);
		}
		if (r->relay[0] != '\0') {
			log_vis(vis, sizeof(vis), r->relay, strlen(r->relay));
			admin_say(ad, "    relay: %s", vis);
		}
	}
}

/*
 * admin_show_body - the message, line by line.  Control characters
 * other than TAB become \ooo, so that a message cannot drive the
 * administrator's terminal; other octets pass (UTF-8 text reads as
 * itself).
 */
static void
admin_show_body(struct admin *ad, int fd, off_t off, uint64_t len)
{
	char buf[SHOW_CHUNK], line[MSG_QUEUE_LINE_MAX + 1];
	size_t ll = 0;

	while (len > 0) {
		ssize_t n = pread(fd, buf, len < sizeof(buf) ? len : sizeof(buf),
		    off);

		if (n <= 0) {
			admin_say(ad, "error: the queue file cannot be read");
			ad->failed++;
			return;
		}
		off += n;
		len -= (uint64_t)n;
		for (ssize_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)buf[i];

			if (ch == '\n') {
				if (ll > 0 && line[ll - 1] == '\r')
					ll--;
				line[ll] = '\0';
				queue_admin_line(ad->c, ad->id, line, 0);
				ll = 0;
				continue;
			}
			if (ll + 5 > MSG_QUEUE_LINE_MAX) {
				line[ll] = '\0';
				queue_admin_line(ad->c, ad->id, line, 1);
				ll = 0;
			}
			if ((ch < 0x20 && ch != '\t' && ch != '\r') ||
			    ch == 0x7f)
				ll += (size_t)snprintf(line + ll, 5, "\\%03o",
				    ch);
			else
				line[ll++] = (char)ch;
		}
	}
	if (ll > 0) {
		line[ll] = '\0';
		queue_admin_line(ad->c, ad->id, line, 0);
	}
}

/* admin_show - "ternctl show QID": envelope, recipients, the message */
static void
admin_show(struct admin *ad)
{
	struct msgfile_info info;
	struct sched_msg *sm;
	char path[4096], err[256], vis[1100], t[32];
	int fd;

	if (ad->a->n != 1 || (sm = admin_find(ad, ad->a->qids[0].qid)) ==
	    NULL) {
		if (ad->a->n != 1)
			admin_say(ad, "error: show takes one queue ID");
		return;
	}
	log_vis(vis, sizeof(vis), sm->rec.sender, strlen(sm->rec.sender));
	admin_say(ad, "queue_id: %s", sm->rec.qid);
	admin_say(ad, "status: %s", (sm->rec.flags & QMSG_F_HELD) ? "held" :
	    sched_busy(sm) ? "being delivered" : "waiting");
	admin_say(ad, "arrival: %s", admin_time(sm->rec.arrival, t,
	    sizeof(t)));
	admin_say(ad, "size: %llu", (unsigned long long)queue_list_size(sm));
	admin_say(ad, "sender: <%s>", vis);
	if (sm->rec.uid != QMSG_UID_NONE)
		admin_say(ad, "submitted by uid: %u", sm->rec.uid);
	if (spool_msg_path(qctx.spool, sm->rec.qid, path, sizeof(path)) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		admin_show_rcpts(ad, sm);
		admin_say(ad, "error: the queue file cannot be opened: %s",
		    strerror(errno));
		ad->failed++;
		return;
	}
	if (msgfile_check(fd, 0, &info, err, sizeof(err)) !=
	    MSGFILE_COMPLETE) {
		close(fd);
		admin_show_rcpts(ad, sm);
		log_vis(vis, sizeof(vis), err, strlen(err));
		admin_say(ad, "error: the queue file is damaged: %s", vis);
		ad->failed++;
		return;
	}
	admin_say(ad, "client: %s[%s], helo=%s, protocol %s",
	    info.env.client_name, info.env.client_addr, info.env.helo,
	    info.env.protocol);
	if (info.env.envid != NULL) {
		log_vis(vis, sizeof(vis), info.env.envid,
		    strlen(info.env.envid));
		admin_say(ad, "envid: %s", vis);
	}
	envelope_free(&info.env);
	admin_show_rcpts(ad, sm);
	admin_say(ad, "*** message ***");
	admin_show_body(ad, fd, info.body, info.body_len);
	close(fd);
}

/* --- stats ----------------------------------------------------------------- */

/* admin_stats - the counters, one "name value" line each */
static void
admin_stats(struct admin *ad)
{
	uint64_t now = queued_now(), oldest = now, held = 0, rcpts = 0;
	uint32_t local, local_waiting;
	size_t n = 0;

	for (struct sched_msg *sm = sched_first(); sm != NULL;
	    sm = sched_next(sm), n++) {
		if (sm->rec.arrival < oldest)
			oldest = sm->rec.arrival;
		held += (sm->rec.flags & QMSG_F_HELD) != 0;
		rcpts += sm->npending;
	}
	admin_say(ad, "queued_started %llu",
	    (unsigned long long)qstats.started);
	admin_say(ad, "messages_received %llu",
	    (unsigned long long)qstats.received);
	admin_say(ad, "recipients_delivered %llu",
	    (unsigned long long)qstats.delivered);
	admin_say(ad, "recipients_deferred %llu",
	    (unsigned long long)qstats.deferred);
	admin_say(ad, "recipients_bounced %llu",
	    (unsigned long long)qstats.bounced);
	admin_say(ad, "messages_deleted %llu",
	    (unsigned long long)qstats.deleted);
	admin_say(ad, "queue_messages %zu", n);
	admin_say(ad, "queue_recipients %llu", (unsigned long long)rcpts);
	admin_say(ad, "queue_held %llu", (unsigned long long)held);
	admin_say(ad, "queue_active %lu", (unsigned long)sched_loaded());
	local = sched_local_jobs(&local_waiting);
	admin_say(ad, "local_jobs %lu", (unsigned long)local);
	admin_say(ad, "local_jobs_waiting %lu", (unsigned long)local_waiting);
	admin_say(ad, "queue_oldest_age_seconds %llu",
	    (unsigned long long)(now - oldest));
}

/* --- the request ----------------------------------------------------------- */

/* queue_admin_request - decode, check, do, answer */
void
queue_admin_request(struct ipc_conn *c, struct ipc_msg *m)
{
	struct msg_queue_admin a;
	struct admin ad = { c, m->id, &a, 0, 0 };
	struct ipc_msg end;
	const char *why;

	memset(&a, 0, sizeof(a));
	if (msg_decode(m, MSG_MASTER_QUEUE_ADMIN, &a, &why) != 0) {
		msg_log_reject("ternd", m, why);
		queue_admin_line(c, m->id, "error: queued could not read the "
		    "request", 0);
	} else if (a.op != QADMIN_LIST && a.op != QADMIN_SHOW &&
	    a.op != QADMIN_FLUSH && !(a.flags & QADMIN_F_ADMIN)) {
		/* ternd refuses these first: this is a second fence. */
		log_warn("ternd passed an administrator's request for uid %u",
		    a.uid);
		admin_say(&ad, "error: permission denied");
	} else if (a.op == QADMIN_LIST)
		queue_list_send(c, m->id, (a.flags & QADMIN_F_JSON) != 0,
		    admin_visible, &a);
	else if (a.op == QADMIN_SHOW)
		admin_show(&ad);
	else if (a.op == QADMIN_STATS)
		admin_stats(&ad);
	else
		admin_change(&ad);
	msg_free(MSG_MASTER_QUEUE_ADMIN, &a);
	msg_encode_empty(&end, MSG_QUEUED_QUEUE_END, m->id);
	ipc_conn_queue(c, &end);
}
