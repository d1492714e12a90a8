/*
 * queued - the queue manager: the only process that opens the queue index.
 *
 * Runs as tern_queue_user (owner of the spool's db/ and msg/).  One poll()
 * loop serves ternd (peers, reload, stop, flush), every smtpd (new
 * messages), lookupd (recipient resolution, asked without waiting: a stuck
 * lookupd must not hold up commits), deliverd (jobs and results) and
 * the maildrop directory (pickup.c: sendmail's submissions).  Each loop
 * turn ends with at most one index flush for all the commits that
 * arrived in it, then one for the delivery results.
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "daemon_channel.h"
#include "file_pool.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"
#include "msg_codec.h"
#include "pickup.h"
#include "privsep.h"
#include "queue_admin.h"
#include "queue_etrn.h"
#include "queue_commit.h"
#include "queue_stats.h"
#include "queued.h"
#include "recover.h"
#include "scheduler.h"
#include "spool.h"
#include "xmalloc.h"

#define STOP_GRACE_SECONDS 10

struct queued_ctx qctx;

static struct settings set;
static struct daemon_opts opts;
static struct ipc_conn master;
static volatile sig_atomic_t got_flush;
static int stopping;
static time_t stop_deadline;

/* queued_now - seconds since the epoch */
uint64_t
queued_now(void)
{
	return (uint64_t)time(NULL);
}

/* queued_peer_send - queue m for p; the loop flushes it */
void
queued_peer_send(struct queued_peer *p, struct ipc_msg *m)
{
	if (p->dead) {
		ipc_msg_free(m);
		return;
	}
	ipc_conn_queue(&p->conn, m);
}

static void
on_sigusr1(int sig)
{
	(void)sig;
	got_flush = 1;
}

static void
peer_add(int kind, int fd)
{
	struct queued_peer *p = xcalloc(1, sizeof(*p));

	fcntl(fd, F_SETFL, O_NONBLOCK);
	ipc_conn_init(&p->conn, fd);
	p->kind = kind;
	TAILQ_INSERT_TAIL(&qctx.peers, p, entry);
	if (kind == PEER_LOOKUPD) {
		if (qctx.lookupd != NULL)
			qctx.lookupd->dead = 1;
		qctx.lookupd = p;
	} else if (kind == PEER_DELIVERD) {
		if (qctx.deliverd != NULL)
			qctx.deliverd->dead = 1;
		qctx.deliverd = p;
	} else if (kind == PEER_DELIVERD_SMTP) {
		if (qctx.smtp != NULL)
			qctx.smtp->dead = 1;
		qctx.smtp = p;
		sched_smtp_ready();
	} else if (kind == PEER_DELIVERD_LMTP) {
		if (qctx.lmtp != NULL)
			qctx.lmtp->dead = 1;
		qctx.lmtp = p;
		sched_smtp_ready();
	}
}

/* "ternctl rebuild": recover unindexed files, answer with the totals */
static void
queued_rebuild(uint32_t client)
{
	struct recover_stats st;
	struct msg_queue_line l;
	struct ipc_msg m;
	char line[256];

	recover_rebuild(&st);
	snprintf(line, sizeof(line), "rebuild: %zu messages recovered into the "
	    "index, %zu unfinished files removed, %zu damaged files moved to "
	    "corrupt/", st.recovered, st.unfinished, st.corrupt);
	l.line = line;
	l.more = 0;
	if (msg_encode(&m, MSG_QUEUED_QUEUE_ENTRY, client, &l) == 0)
		ipc_conn_queue(&master, &m);
	msg_encode_empty(&m, MSG_QUEUED_QUEUE_END, client);
	ipc_conn_queue(&master, &m);
}

/* master_peer - MSG_MASTER_PEER: a (new) channel to a peer */
static void
master_peer(void *arg, uint32_t kind, int fd)
{
	(void)arg;
	if (kind != PEER_SMTPD && kind != PEER_LOOKUPD &&
	    kind != PEER_DELIVERD && kind != PEER_DELIVERD_SMTP &&
	    kind != PEER_DELIVERD_LMTP) {
		log_warn("ternd sent a peer of another's kind (%u); "
		    "rejected", kind);
		close(fd);
		return;
	}
	peer_add((int)kind, fd);
}

/* queued_file_pool_start - keep queue_file_pool_size files made ahead */
static void
queued_file_pool_start(void)
{
	if (file_pool_start(commit_create_file, commit_reuse_file,
	    (unsigned)set.queue_file_pool_size) < 0)
		log_warn("cannot start the thread that makes queue files "
		    "ahead: %s; queued makes each when needed", strerror(errno));
}

/* master_reload - MSG_MASTER_RELOAD; a new queue_file_pool_size starts a
 * new pool (the old one's files are removed) */
static void
master_reload(void *arg)
{
	long pool_size = set.queue_file_pool_size;

	(void)arg;
	daemon_reload(&opts, &set);
	if (set.queue_file_pool_size != pool_size) {
		file_pool_stop();
		queued_file_pool_start();
		log_info("queue_file_pool_size is now %ld",
		    set.queue_file_pool_size);
	}
}

/* master_stop - MSG_MASTER_STOP: finish within the grace time */
static void
master_stop(void *arg)
{
	(void)arg;
	stopping = 1;
	stop_deadline = time(NULL) + STOP_GRACE_SECONDS;
}

/* master_request - queued's own requests from ternd */
static int
master_request(void *arg, struct ipc_msg *m)
{
	const char *why;

	(void)arg;
	if (m->type == MSG_MASTER_QUEUE_ADMIN) {
		queue_admin_request(&master, m);
		return DAEMON_CHANNEL_HANDLED;
	}
	if (m->type != MSG_QUEUED_FLUSH && m->type != MSG_MASTER_QUEUE_REBUILD)
		return DAEMON_CHANNEL_UNEXPECTED;
	if (msg_decode_empty(m, m->type, &why) != 0) {
		msg_log_reject("ternd", m, why);
		return DAEMON_CHANNEL_HANDLED;
	}
	if (m->type == MSG_QUEUED_FLUSH)
		sched_flush();
	else
		queued_rebuild(m->id);
	return DAEMON_CHANNEL_HANDLED;
}

/* Messages from ternd; returns -1 when ternd is gone. */
static int
master_input(void)
{
	static const struct daemon_channel_ops ops = {
		.stop = master_stop, .reload = master_reload,
		.peer = master_peer, .other = master_request,
	};

	return daemon_channel_read(&master, &ops) == DAEMON_CHANNEL_OK ? 0 :
	    -1;
}

static const char *
peer_name(const struct queued_peer *p)
{
	return p->kind == PEER_SMTPD ? "smtpd" : p->kind == PEER_DELIVERD ?
	    "deliverd" : p->kind == PEER_DELIVERD_SMTP ? "smtp deliverd" :
	    p->kind == PEER_DELIVERD_LMTP ? "lmtp deliverd" : "lookupd";
}

/*
 * One frame from a peer.  One it should not send, or that does not
 * decode, is rejected with a log line (answered, where the protocol has
 * a failure answer) and the peer stays: only a broken frame, which
 * leaves the stream unreadable, cuts a peer off (peer_input).
 */
static void
peer_frame(struct queued_peer *p, struct ipc_msg *m)
{
	if (p->kind == PEER_SMTPD) {
		switch (m->type) {
		case MSG_SMTPD_MESSAGE_OPEN:
			commit_open(p, m);
			return;
		case MSG_SMTPD_MESSAGE_COMMIT:
			commit_request(p, m);
			return;
		case MSG_SMTPD_MESSAGE_ABORT:
			commit_abort(p, m);
			return;
		case MSG_SMTPD_ETRN:
			queue_etrn_request(p, m);
			return;
		}
	} else if (p->kind == PEER_DELIVERD && p == qctx.deliverd &&
	    (m->type == MSG_DELIVERD_RESULT || m->type == MSG_DELIVERD_JOB_DONE ||
	    m->type == MSG_DELIVERD_FORWARD)) {
		(void)sched_deliverd_input(m);
		return;
	} else if (p->kind == PEER_LOOKUPD && p == qctx.lookupd &&
	    m->type == MSG_LOOKUPD_RESOLVED) {
		/* Answers to the scheduler's lookups, never waited for. */
		(void)sched_lookupd_input(m);
		return;
	} else if (((p->kind == PEER_DELIVERD_SMTP && p == qctx.smtp) ||
	    (p->kind == PEER_DELIVERD_LMTP && p == qctx.lmtp)) &&
	    (m->type == MSG_DELIVERD_SMTP_RESULT ||
	    m->type == MSG_DELIVERD_SMTP_DONE)) {
		(void)sched_smtp_input(p, m);
		return;
	}
	msg_log_reject(peer_name(p), m, "unexpected type");
}

static void
peer_input(struct queued_peer *p)
{
	struct ipc_msg m;
	ssize_t n = ipc_conn_read(&p->conn);
	int r;

	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		p->dead = 1;
		return;
	}
	while (!p->dead && (r = ipc_conn_next(&p->conn, &m)) != 0) {
		if (r < 0) {
			log_warn("malformed frame from %s; disconnecting",
			    peer_name(p));
			p->dead = 1;
			break;
		}
		peer_frame(p, &m);
		ipc_msg_free(&m);
	}
}

static void
peer_reap(void)
{
	struct queued_peer *p, *next;

	for (p = TAILQ_FIRST(&qctx.peers); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		if (!p->dead)
			continue;
		if (p->kind == PEER_SMTPD)
			commit_peer_gone(p);
		if (p == qctx.deliverd)
			qctx.deliverd = NULL;
		if (p == qctx.smtp)
			qctx.smtp = NULL;
		if (p == qctx.lmtp)
			qctx.lmtp = NULL;
		/* Also an agent already replaced by a newer one: its jobs
		 * in flight will never report. */
		if (p->kind == PEER_DELIVERD || p->kind == PEER_DELIVERD_SMTP ||
		    p->kind == PEER_DELIVERD_LMTP)
			sched_agent_gone(p);
		/* Also a lookupd already replaced: its answers will not come,
		 * and a late one will arrive (if ever) on a closed channel. */
		if (p->kind == PEER_LOOKUPD)
			sched_lookupd_gone(p);
		if (p == qctx.lookupd)
			qctx.lookupd = NULL;
		TAILQ_REMOVE(&qctx.peers, p, entry);
		ipc_conn_close(&p->conn);
		free(p);
	}
}

/*
 * queued_sync - make this turn's index changes durable, then remove the
 * files of the messages that are finished.
 *
 * A flush that fails (the log cannot grow on a full disk) is not fatal:
 * the changes stay committed in Berkeley DB and become durable at the
 * first flush that succeeds.  Until then the files of finished messages
 * stay: a file may go only once the record saying "finished" is durable,
 * or a crash could bring back pending records without a file
 * (scheduler.c).  Only an environment that needs recovery ends queued:
 * ternd restarts it, and the restart's DB_RECOVER repairs the index.
 */
static void
queued_sync(void)
{
	/* Retries of a failing flush back off (1 s doubling to 8 s), so a
	 * disk that stays full does not flood the log. */
	static uint64_t retry_at, delay;
	uint64_t now = queued_now();

	sched_save_unsaved();
	if (qctx.store_dirty) {
		if (now < retry_at)
			return;
		if (queue_store_sync(qctx.store) < 0) {
			if (queue_store_broken(qctx.store))
				fatalx("the queue index needs recovery; "
				    "exiting so that the restart recovers it");
			if (delay == 0)
				log_error("queue index flush failed: %s; "
				    "trying again", strerror(errno));
			delay = delay == 0 ? 1 : delay >= 8 ? 8 : delay * 2;
			retry_at = now + delay;
			return;
		}
		if (delay != 0)
			log_info("queue index flush works again");
		qctx.store_dirty = 0;
	}
	delay = 0;
	retry_at = 0;
	if (queue_store_broken(qctx.store))
		fatalx("the queue index needs recovery; exiting so that the "
		    "restart recovers it");
	pickup_after_sync();
	sched_after_sync();
}

/* How long queued is idle, with no message loaded, before it gives the
 * memory its last deliveries freed back to the kernel. */
#define QUEUED_TRIM_IDLE_MS	1000

/*
 * queued_trim - once the messages queued loaded for delivery are all done
 * and the loop has been idle (idle: the last poll() timed out), give
 * malloc's free pages back (malloc_trim).  A burst of mail leaves the
 * heap holding every envelope and job of its backlog, freed but in
 * pages scattered through the heap, which glibc keeps; a mail server
 * idles most of the time, and should do so small.  *due records that
 * something was loaded since the last trim.
 */
static void
queued_trim(int idle, int *due)
{
	if (sched_loaded() > 0 || sched_jobs() > 0)
		*due = 1;
	else if (*due && idle) {
		malloc_trim(0);
		*due = 0;
	}
}

int
main(int argc, char **argv)
{
	struct pollfd *pfd = NULL;
	struct queued_peer **pmap = NULL;
	size_t pcap = 0;
	int trim_due = 0;
	char dbdir[4096];

	daemon_init(argc, argv, "queued", &opts, &set);
	qctx.set = &set;
	qstats.started = queued_now();
	TAILQ_INIT(&qctx.peers);
	signal(SIGUSR1, on_sigusr1);
	if (chdir(set.spool_dir) < 0)
		fatal("chdir %s", set.spool_dir);
	qctx.spool = ".";
	privsep_drop(set.tern_queue_user, NULL);
	umask(077);
	snprintf(dbdir, sizeof(dbdir), "%s/db", qctx.spool);
	qctx.store = recover_start(dbdir);
	queued_sync();
	pickup_init();
	/* After recovery, which would remove the pool's empty files. */
	queued_file_pool_start();
	daemon_channel_open(&master);

	for (;;) {
		struct queued_peer *p;
		size_t n = 1;
		int timeout, ready;

		TAILQ_FOREACH(p, &qctx.peers, entry)
			n++;
		n++;	/* pickup's descriptor */
		if (n > pcap) {
			pcap = n * 2;
			pfd = xreallocarray(pfd, pcap, sizeof(*pfd));
			pmap = xreallocarray(pmap, pcap, sizeof(*pmap));
		}
		pfd[0].fd = DAEMON_FD_MASTER;
		pfd[0].events = POLLIN | (ipc_conn_pending(&master) ? POLLOUT : 0);
		n = 1;
		TAILQ_FOREACH(p, &qctx.peers, entry) {
			pfd[n].fd = p->conn.fd;
			pfd[n].events = POLLIN |
			    (ipc_conn_pending(&p->conn) ? POLLOUT : 0);
			pmap[n++] = p;
		}
		/* Last, so that pmap[] lines up with the peers alone. */
		pfd[n].fd = pickup_fd();
		pfd[n].events = POLLIN;
		timeout = stopping ? 200 : sched_timeout_ms();
		if (!stopping && pickup_timeout_ms() < timeout)
			timeout = pickup_timeout_ms();
		/* Index writes that failed (a full disk) are tried again
		 * soon, not only when the next event comes. */
		if (timeout > 1000 && (qctx.store_dirty || sched_unsaved()))
			timeout = 1000;
		if (trim_due && timeout > QUEUED_TRIM_IDLE_MS)
			timeout = QUEUED_TRIM_IDLE_MS;
		if ((ready = poll(pfd, (nfds_t)n + 1, timeout)) < 0 &&
		    errno != EINTR)
			fatal("poll");
		queued_trim(ready == 0, &trim_due);
		if (pfd[n].fd >= 0 && (pfd[n].revents & POLLIN))
			pickup_event();
		if (got_flush) {
			got_flush = 0;
			sched_flush();
		}
		if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    master_input() < 0) {
			log_info("ternd went away; exiting");
			stopping = 1;
			stop_deadline = 0;
		}
		for (size_t i = 1; i < n; i++)
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				peer_input(pmap[i]);
		pickup_run(!stopping);
		commit_flush_batch();
		/* The COMMITTED answers go out now: a smtpd must not wait
		 * (and time out into a 451 for durable mail) behind the
		 * delivery work that follows. */
		TAILQ_FOREACH(p, &qctx.peers, entry)
			if (p->kind == PEER_SMTPD && ipc_conn_flush(&p->conn) < 0)
				p->dead = 1;
		peer_reap();
		sched_run(!stopping);
		queued_sync();
		if (ipc_conn_flush(&master) < 0)
			stopping = 1;
		TAILQ_FOREACH(p, &qctx.peers, entry)
			if (ipc_conn_flush(&p->conn) < 0)
				p->dead = 1;
		if (stopping && (sched_jobs() == 0 || time(NULL) >= stop_deadline))
			break;
	}
	file_pool_stop();
	queued_sync();
	queue_store_close(qctx.store);
	free(pfd);
	free(pmap);
	log_info("stopped");
	return 0;
}
