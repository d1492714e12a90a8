/*
 * transport_local - the local transport of deliverd ("tern-deliverd -t
 * local"): jobs from queued are delivered into local mailboxes.
 *
 * queued sends jobs (a message file and its local recipients); this
 * transport runs up to local_delivery_limit delivery children at once,
 * one per recipient (local_child.c), and answers one MSG_DELIVERD_RESULT
 * per recipient and then MSG_DELIVERD_JOB_DONE.  It stays root (see
 * deliverd.h) and never writes a mailbox itself: each child switches to
 * the mailbox owner first.  It never logs per recipient (queued logs the
 * result); it logs only what queued cannot see: crashed children and
 * malformed jobs.  A job that does not decode is answered with its
 * JOB_DONE alone (queued then defers its recipients).
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/types.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deliverd.h"
#include "ipc.h"
#include "local_child.h"
#include "local_target.h"
#include "log.h"
#include "msg.h"
#include "msg_codec.h"
#include "qid.h"
#include "xmalloc.h"

enum rcpt_state {
	RCPT_WAITING,
	RCPT_RUNNING,
	RCPT_DONE,
};

struct rcpt {
	uint32_t	 index;
	char		*address;
	char		*user;
	enum rcpt_state	 state;
};

struct job {
	TAILQ_ENTRY(job) entry;
	uint32_t	 id;
	uint32_t	 reqid;
	char		 qid[MSG_QID_MAX + 1];
	char		*sender;
	off_t		 body_offset;
	off_t		 body_size;
	int		 msgfd;
	struct rcpt	*rcpts;
	size_t		 n;
	size_t		 next;		/* first recipient not yet started */
	size_t		 ndone;
};

struct child {
	pid_t		 pid;
	struct job	*job;
	size_t		 rcpt;
	int		 resultfd;
	time_t		 deadline;
	int		 killed;
};

TAILQ_HEAD(job_list, job);

static struct job_list jobs = TAILQ_HEAD_INITIALIZER(jobs);
static struct child *children;
static size_t nchildren, children_cap;
static int fork_failed;		/* retry starting children in a second */

/* local_job_free - release a finished job and close its message file */
static void
local_job_free(struct job *j)
{
	size_t i;

	for (i = 0; i < j->n; i++) {
		free(j->rcpts[i].address);
		free(j->rcpts[i].user);
	}
	free(j->rcpts);
	free(j->sender);
	if (j->msgfd != -1)
		close(j->msgfd);
	free(j);
}

/* local_result_send - queue one MSG_DELIVERD_RESULT for a recipient of j */
static void
local_result_send(struct job *j, size_t r, int status, const char *dsn,
    const char *text)
{
	char tbuf[MSG_TEXT_MAX + 1], dbuf[MSG_DSN_MAX + 1];
	struct msg_result res = { j->id, j->rcpts[r].index, (uint32_t)status,
	    dsn, msg_str_fit(text, MSG_TEXT_MAX, tbuf, sizeof(tbuf)) };
	struct ipc_msg m;

	j->rcpts[r].state = RCPT_DONE;
	j->ndone++;
	strlcpy(dbuf, dsn, sizeof(dbuf));
	res.dsn = dbuf;
	/* Refused (and logged) only for a bug: queued defers the recipient
	 * when the job is done without its result. */
	if (msg_encode(&m, MSG_DELIVERD_RESULT, j->reqid, &res) == 0)
		deliverd_queued_send(&m);
}

/* local_result_send_err - as local_result_send, from one "x.y.z text" string */
static void
local_result_send_err(struct job *j, size_t r, int status, const char *err)
{
	char dsn[MSG_DSN_MAX + 1];
	const char *sp = strchr(err, ' ');
	size_t len = sp != NULL ? (size_t)(sp - err) : strlen(err);

	if (len >= sizeof(dsn))
		len = sizeof(dsn) - 1;
	memcpy(dsn, err, len);
	dsn[len] = '\0';
	local_result_send(j, r, status, dsn, sp != NULL ? sp + 1 : "");
}

/* local_job_done_send - MSG_DELIVERD_JOB_DONE for job: queued ends it */
static void
local_job_done_send(uint32_t reqid, uint32_t job)
{
	struct msg_job_done done = { job };
	struct ipc_msg m;

	if (msg_encode(&m, MSG_DELIVERD_JOB_DONE, reqid, &done) == 0)
		deliverd_queued_send(&m);
}

/* local_jobs_finish - JOB_DONE for every job whose recipients are done */
static void
local_jobs_finish(void)
{
	struct job *j, *next;

	for (j = TAILQ_FIRST(&jobs); j != NULL; j = next) {
		next = TAILQ_NEXT(j, entry);
		if (j->ndone < j->n)
			continue;
		local_job_done_send(j->reqid, j->id);
		TAILQ_REMOVE(&jobs, j, entry);
		local_job_free(j);
	}
}

/* local_limit - how many children may run at once */
static size_t
local_limit(void)
{
	const struct settings *set = deliverd_settings();

	return set->local_delivery_limit > 0 ?
	    (size_t)set->local_delivery_limit : 1;
}

/* local_child_start - fork the delivery child for recipient r of j */
static int
local_child_start(struct job *j, size_t r)
{
	const struct settings *set = deliverd_settings();
	struct local_delivery d;
	struct child *c;
	int fd;
	pid_t pid;

	d.sender = j->sender;
	d.address = j->rcpts[r].address;
	d.user = j->rcpts[r].user;
	d.msgfd = j->msgfd;
	d.body_offset = j->body_offset;
	d.body_size = j->body_size;
	d.mailbox_base = set->mailbox_base != NULL ? set->mailbox_base : "";
	d.hostname = set->myhostname;
	if ((pid = local_child_spawn(&d, &fd)) == -1)
		return -1;
	if (nchildren == children_cap) {
		children_cap = children_cap ? children_cap * 2 : 8;
		children = xreallocarray(children, children_cap,
		    sizeof(*children));
	}
	c = &children[nchildren++];
	c->pid = pid;
	c->job = j;
	c->rcpt = r;
	c->resultfd = fd;
	c->deadline = time(NULL) + LOCAL_CHILD_TIMEOUT;
	c->killed = 0;
	j->rcpts[r].state = RCPT_RUNNING;
	return 0;
}

/* local_jobs_schedule - start children for waiting recipients */
static void
local_jobs_schedule(void)
{
	struct job *j;

	fork_failed = 0;
	TAILQ_FOREACH(j, &jobs, entry) {
		while (j->next < j->n && nchildren < local_limit()) {
			size_t r = j->next;

			/* Answered at arrival (a name that is never a mailbox). */
			if (j->rcpts[r].state != RCPT_WAITING) {
				j->next++;
				continue;
			}
			if (local_child_start(j, r) != 0) {
				/* Out of processes: try again on the next turn. */
				log_warn("%s: cannot fork delivery process: %s",
				    j->qid, strerror(errno));
				fork_failed = 1;
				return;
			}
			j->next++;
		}
		if (nchildren >= local_limit())
			return;
	}
}

/* local_child_reaped - turn a reaped child's report into its result */
static void
local_child_reaped(size_t ci, int wstatus)
{
	struct child *c = &children[ci];
	struct job *j = c->job;
	char dsn[16], text[LOCAL_ERR_MAX], vis[256];
	int status, crashed;

	status = local_child_result(c->resultfd, wstatus, dsn, sizeof(dsn),
	    text, sizeof(text), &crashed);
	if (crashed) {
		log_vis(vis, sizeof(vis), j->rcpts[c->rcpt].address,
		    strlen(j->rcpts[c->rcpt].address));
		if (c->killed)
			snprintf(text, sizeof(text), "local delivery timed out");
		log_warn("%s: delivery to <%s> (pid %ld): %s", j->qid, vis,
		    (long)c->pid, text);
	}
	close(c->resultfd);
	local_result_send(j, c->rcpt, status, dsn, text);
	children[ci] = children[--nchildren];
}

/* local_reaped - a child has exited: its report becomes its result */
static void
local_reaped(pid_t pid, int wstatus)
{
	size_t i;

	for (i = 0; i < nchildren; i++) {
		if (children[i].pid == pid) {
			local_child_reaped(i, wstatus);
			return;
		}
	}
}

/* local_children_timeout - kill overdue children; ms until the next */
static int
local_children_timeout(void)
{
	time_t now = time(NULL), next = 0;
	size_t i;

	for (i = 0; i < nchildren; i++) {
		struct child *c = &children[i];

		if (!c->killed && now >= c->deadline) {
			kill(c->pid, SIGKILL);
			c->killed = 1;
		}
		if (!c->killed && (next == 0 || c->deadline < next))
			next = c->deadline;
	}
	if (next == 0)
		return -1;
	return (int)((next - now) * 1000 + 100);
}

/*
 * local_job_reject - a frame from queued that is not a job we can run:
 * logged, and when it names a job, that job is answered as done without
 * results, so queued defers its recipients now rather than never.
 */
static void
local_job_reject(const struct ipc_msg *m, const char *why)
{
	uint32_t job;

	msg_log_reject("queued", m, why);
	if (m->type == MSG_QUEUED_DELIVER_LOCAL && msg_peek_u32(m, &job) == 0)
		local_job_done_send(m->id, job);
}

/* local_job - decode a MSG_QUEUED_DELIVER_LOCAL and queue the job */
static void
local_job(struct ipc_msg *m)
{
	struct msg_deliver_local d;
	const char *why;
	char err[128];
	struct job *j;
	size_t i;

	if (msg_decode(m, MSG_QUEUED_DELIVER_LOCAL, &d, &why) != 0) {
		local_job_reject(m, why);
		return;
	}
	if (!qid_valid(d.qid)) {
		msg_free(MSG_QUEUED_DELIVER_LOCAL, &d);
		local_job_reject(m, "bad queue ID");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->id = d.job;
	strlcpy(j->qid, d.qid, sizeof(j->qid));
	j->sender = xstrdup(d.sender);
	j->body_offset = (off_t)d.body_offset;
	j->body_size = (off_t)d.body_size;
	j->rcpts = xcalloc(d.n, sizeof(*j->rcpts));
	for (j->n = 0; j->n < d.n; j->n++) {
		j->rcpts[j->n].index = d.rcpts[j->n].index;
		j->rcpts[j->n].address = xstrdup(d.rcpts[j->n].address);
		j->rcpts[j->n].user = xstrdup(d.rcpts[j->n].user);
	}
	msg_free(MSG_QUEUED_DELIVER_LOCAL, &d);
	j->msgfd = ipc_msg_take_fd(m);
	j->reqid = m->id;
	log_debug("%s: job %u, %zu recipient(s)", j->qid, j->id, j->n);
	/* Names that can never be a mailbox are answered without a child. */
	for (i = 0; i < j->n; i++) {
		if (local_target_check_user(j->rcpts[i].user, err,
		    sizeof(err)) != 0)
			local_result_send_err(j, i, DELIVER_PERMFAIL, err);
	}
	TAILQ_INSERT_TAIL(&jobs, j, entry);
}

/* local_setup - nothing to prepare: each child resolves its own mailbox */
static void
local_setup(void)
{
}

/* local_poll - start children, finish jobs; ms until a child is overdue */
static int
local_poll(void)
{
	int timeout;

	local_jobs_schedule();
	local_jobs_finish();
	timeout = local_children_timeout();
	if (fork_failed && (timeout == -1 || timeout > 1000))
		timeout = 1000;
	return timeout;
}

/* local_events - no descriptors of its own: results come at reaping */
static void
local_events(void *arg, short revents)
{
	(void)arg;
	(void)revents;
}

/* local_busy - jobs not yet answered, or children still running */
static int
local_busy(void)
{
	return nchildren > 0 || !TAILQ_EMPTY(&jobs);
}

/* local_stop - the loop is over: nothing is left running */
static void
local_stop(void)
{
}

const struct transport_ops local_transport_ops = {
	.name = "local",
	.privilege = TRANSPORT_ROOT,
	.setup = local_setup,
	.job = local_job,
	.poll = local_poll,
	.events = local_events,
	.reaped = local_reaped,
	.busy = local_busy,
	.reload = NULL,
	.stop = local_stop,
};
