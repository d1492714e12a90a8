/*
 * deliverd - the delivery process; this file is its main loop for the
 * local transport ("tern-deliverd -t local"); "-t smtp" hands over to
 * transport_smtp.c, which has its own loop (connection processes instead
 * of per-recipient delivery children).
 *
 * ternd starts it with its channel to ternd on fd 3 and to queued on fd 4.
 * queued sends jobs (a message file and its local recipients); deliverd
 * runs up to local_delivery_limit delivery children at once, one per
 * recipient (transport_local.c), and answers one MSG_DELIVERD_RESULT per
 * recipient and then MSG_DELIVERD_JOB_DONE.  It never writes a mailbox
 * itself and never logs per recipient (queued logs the result); it logs
 * only what queued cannot see: crashed children and malformed jobs.  A
 * job that does not decode is answered with its JOB_DONE alone (queued
 * then defers its recipients); only a broken frame ends the channel.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "deliverd_signals.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"
#include "msg_codec.h"
#include "qid.h"
#include "settings.h"
#include "transport_local.h"
#include "transport_smtp.h"
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

static struct settings settings;
static struct daemon_opts opts;
static struct ipc_conn master_conn, queued_conn;
static int queued_alive = 1, master_alive = 1;
static struct job_list jobs = TAILQ_HEAD_INITIALIZER(jobs);
static struct child *children;
static size_t nchildren, children_cap;
static int stopping;
static int fork_failed;		/* retry starting children in a second */
static int sig_fd = -1;		/* deliverd_signals_setup() */

/* deliverd_nonblock - make fd non-blocking */
static void
deliverd_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		fatal("fcntl");
}

/* job_free - release a finished job and close its message file */
static void
job_free(struct job *j)
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

/* result_send - queue one MSG_DELIVERD_RESULT for a recipient of j */
static void
result_send(struct job *j, size_t r, int status, const char *dsn,
    const char *text)
{
	char tbuf[MSG_TEXT_MAX + 1], dbuf[MSG_DSN_MAX + 1];
	struct msg_result res = { j->id, j->rcpts[r].index, (uint32_t)status,
	    dsn, msg_str_fit(text, MSG_TEXT_MAX, tbuf, sizeof(tbuf)) };
	struct ipc_msg m;

	j->rcpts[r].state = RCPT_DONE;
	j->ndone++;
	if (!queued_alive)
		return;
	strlcpy(dbuf, dsn, sizeof(dbuf));
	res.dsn = dbuf;
	/* Refused (and logged) only for a bug: queued defers the recipient
	 * when the job is done without its result. */
	if (msg_encode(&m, MSG_DELIVERD_RESULT, j->reqid, &res) == 0)
		ipc_conn_queue(&queued_conn, &m);
}

/* result_send_err - as result_send, from one "x.y.z text" string */
static void
result_send_err(struct job *j, size_t r, int status, const char *err)
{
	char dsn[MSG_DSN_MAX + 1];
	const char *sp = strchr(err, ' ');
	size_t len = sp != NULL ? (size_t)(sp - err) : strlen(err);

	if (len >= sizeof(dsn))
		len = sizeof(dsn) - 1;
	memcpy(dsn, err, len);
	dsn[len] = '\0';
	result_send(j, r, status, dsn, sp != NULL ? sp + 1 : "");
}

/* job_done_send - MSG_DELIVERD_JOB_DONE for job: queued ends it */
static void
job_done_send(uint32_t reqid, uint32_t job)
{
	struct msg_job_done done = { job };
	struct ipc_msg m;

	if (queued_alive &&
	    msg_encode(&m, MSG_DELIVERD_JOB_DONE, reqid, &done) == 0)
		ipc_conn_queue(&queued_conn, &m);
}

/* jobs_finish - answer JOB_DONE for every job whose recipients are done */
static void
jobs_finish(void)
{
	struct job *j, *next;

	for (j = TAILQ_FIRST(&jobs); j != NULL; j = next) {
		next = TAILQ_NEXT(j, entry);
		if (j->ndone < j->n)
			continue;
		job_done_send(j->reqid, j->id);
		TAILQ_REMOVE(&jobs, j, entry);
		job_free(j);
	}
}

/* deliverd_limit - how many children may run at once */
static size_t
deliverd_limit(void)
{
	return settings.local_delivery_limit > 0 ?
	    (size_t)settings.local_delivery_limit : 1;
}

/* child_start - fork the delivery child for recipient r of j */
static int
child_start(struct job *j, size_t r)
{
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
	d.mailbox_base = settings.mailbox_base != NULL ?
	    settings.mailbox_base : "";
	d.hostname = settings.myhostname;
	if ((pid = local_spawn(&d, &fd)) == -1)
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

/* jobs_schedule - start children for waiting recipients, up to the limit */
static void
jobs_schedule(void)
{
	struct job *j;

	fork_failed = 0;
	TAILQ_FOREACH(j, &jobs, entry) {
		while (j->next < j->n && nchildren < deliverd_limit()) {
			size_t r = j->next;

			/* Answered at arrival (a name that is never a mailbox). */
			if (j->rcpts[r].state != RCPT_WAITING) {
				j->next++;
				continue;
			}
			if (child_start(j, r) != 0) {
				/* Out of processes: try again on the next turn. */
				log_warn("%s: cannot fork delivery process: %s",
				    j->qid, strerror(errno));
				fork_failed = 1;
				return;
			}
			j->next++;
		}
		if (nchildren >= deliverd_limit())
			return;
	}
}

/* child_reaped - turn a reaped child's report into its result */
static void
child_reaped(size_t ci, int wstatus)
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
	result_send(j, c->rcpt, status, dsn, text);
	children[ci] = children[--nchildren];
}

/* children_reap - collect every exited child */
static void
children_reap(void)
{
	pid_t pid;
	size_t i;
	int wstatus;

	for (;;) {
		pid = waitpid(-1, &wstatus, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		for (i = 0; i < nchildren; i++) {
			if (children[i].pid == pid) {
				child_reaped(i, wstatus);
				break;
			}
		}
	}
}

/* children_timeout - kill overdue children; returns ms until the next */
static int
children_timeout(void)
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
 * job_reject - a frame from queued that is not a job we can run: logged,
 * and when it names a job, that job is answered as done without results,
 * so queued defers its recipients now rather than never.
 */
static void
job_reject(const struct ipc_msg *m, const char *why)
{
	uint32_t job;

	msg_log_reject("queued", m, why);
	if (m->type == MSG_QUEUED_DELIVER_LOCAL && msg_peek_u32(m, &job) == 0)
		job_done_send(m->id, job);
}

/* job_receive - decode a MSG_QUEUED_DELIVER_LOCAL and queue the job */
static void
job_receive(struct ipc_msg *m)
{
	struct msg_deliver_local d;
	const char *why;
	char err[128];
	struct job *j;
	size_t i;

	if (msg_decode(m, MSG_QUEUED_DELIVER_LOCAL, &d, &why) != 0) {
		job_reject(m, why);
		return;
	}
	if (!qid_valid(d.qid)) {
		msg_free(MSG_QUEUED_DELIVER_LOCAL, &d);
		job_reject(m, "bad queue ID");
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
		if (local_user_check(j->rcpts[i].user, err, sizeof(err)) != 0)
			result_send_err(j, i, DELIVER_PERMFAIL, err);
	}
	TAILQ_INSERT_TAIL(&jobs, j, entry);
}

/* queued_input - read and act on frames from queued */
static void
queued_input(void)
{
	struct ipc_msg m;
	ssize_t n;
	int rc;

	n = ipc_conn_read(&queued_conn);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == -1)
			log_warn("queued channel: %s", strerror(errno));
		else
			log_info("queued closed its channel; stopping");
		queued_alive = 0;
		stopping = 1;
		return;
	}
	while ((rc = ipc_conn_next(&queued_conn, &m)) == 1) {
		job_receive(&m);
		ipc_msg_free(&m);
	}
	/* A broken frame leaves the stream unreadable: ternd restarts us. */
	if (rc == -1) {
		log_warn("malformed frame from queued");
		exit(1);
	}
}

/* master_input - act on STOP and RELOAD from ternd */
static void
master_input(void)
{
	struct ipc_msg m;
	const char *why;
	ssize_t n;
	int rc;

	n = ipc_conn_read(&master_conn);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* Without ternd nobody would restart us: finish and leave. */
		master_alive = 0;
		stopping = 1;
		return;
	}
	while ((rc = ipc_conn_next(&master_conn, &m)) == 1) {
		if (m.type != MSG_MASTER_STOP && m.type != MSG_MASTER_RELOAD)
			msg_log_reject("ternd", &m, "unexpected type");
		else if (msg_decode_empty(&m, m.type, &why) != 0)
			msg_log_reject("ternd", &m, why);
		else if (m.type == MSG_MASTER_STOP)
			stopping = 1;
		else if (daemon_reload(&opts, &settings) != 0)
			log_warn("reload failed; keeping the old "
			    "configuration");
		ipc_msg_free(&m);
	}
	if (rc == -1) {
		log_warn("malformed frame from ternd");
		exit(1);
	}
}

/* signals_input - drain the self-pipe; reap children, note SIGTERM */
static void
signals_input(void)
{
	if (deliverd_signals_read())
		stopping = 1;
	children_reap();
}

/* queued_flush - send pending results; a broken channel stops us */
static void
queued_flush(void)
{
	if (!queued_alive || !ipc_conn_pending(&queued_conn))
		return;
	if (ipc_conn_flush(&queued_conn) == -1) {
		log_warn("queued channel: %s", strerror(errno));
		queued_alive = 0;
		stopping = 1;
	}
}

/* deliverd_loop - the poll loop; returns when stopped and idle */
static void
deliverd_loop(void)
{
	struct pollfd pfd[3];
	int timeout;

	for (;;) {
		jobs_schedule();
		jobs_finish();
		queued_flush();
		if (stopping && nchildren == 0 && TAILQ_EMPTY(&jobs) &&
		    (!queued_alive || !ipc_conn_pending(&queued_conn)))
			return;
		pfd[0].fd = sig_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = master_alive ? master_conn.fd : -1;
		pfd[1].events = POLLIN;
		/* Once stopping, new jobs stay unread; queued will retry them. */
		pfd[2].fd = queued_alive ? queued_conn.fd : -1;
		pfd[2].events = stopping ? 0 : POLLIN;
		if (queued_alive && ipc_conn_pending(&queued_conn))
			pfd[2].events |= POLLOUT;
		timeout = children_timeout();
		if (fork_failed && (timeout == -1 || timeout > 1000))
			timeout = 1000;
		if (poll(pfd, 3, timeout) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (pfd[0].revents & POLLIN)
			signals_input();
		/* Jobs sent before a STOP are taken: queued counts on them. */
		if ((pfd[2].revents & (POLLIN | POLLHUP | POLLERR)) && !stopping)
			queued_input();
		else if ((pfd[2].revents & (POLLHUP | POLLERR)) &&
		    !(pfd[2].revents & POLLOUT))
			queued_alive = 0;
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))
			master_input();
	}
}

/* main - serve jobs from queued until stopped; exit 1 on a bad peer */
int
main(int argc, char **argv)
{
	daemon_init(argc, argv, "deliverd", &opts, &settings);
	if (opts.transport != NULL && strcmp(opts.transport, "smtp") == 0)
		return transport_smtp_main(&opts, &settings);
	if (opts.transport != NULL && strcmp(opts.transport, "local") != 0)
		fatalx("transport %s is not served by this program",
		    opts.transport);
	sig_fd = deliverd_signals_setup();
	deliverd_nonblock(DAEMON_FD_MASTER);
	deliverd_nonblock(DAEMON_FD_QUEUED);
	ipc_conn_init(&master_conn, DAEMON_FD_MASTER);
	ipc_conn_init(&queued_conn, DAEMON_FD_QUEUED);
	if (geteuid() != 0)
		log_info("not running as root: delivering only to mailboxes "
		    "uid %ld can write", (long)geteuid());
	deliverd_loop();
	log_debug("stopped");
	return 0;
}
