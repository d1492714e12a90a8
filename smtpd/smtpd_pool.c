/*
 * smtpd_pool - one tern-smtpd that sets everything up once and forks the
 * pool's workers.
 *
 * ternd starts it with execve, like every daemon.  It loads what a
 * session needs (configuration, TLS keys, resolver, our own addresses),
 * drops to tern_user inside the empty chroot, and then only forks: for
 * each MSG_MASTER_SPAWN from ternd, one worker that serves sessions with
 * the channels ternd made for it.  It never reads the network itself.
 *
 * Why not execve each worker, as before: the dynamic loader writes its
 * relocations into every process that maps OpenSSL, about 400 KiB that
 * were most of an idle smtpd's private memory, fifty copies for fifty
 * sessions.  Forked workers share those pages (and the loaded key and
 * configuration) with their parent until they write them.  Each worker
 * is still one session at a time in its own unprivileged, chrooted
 * process; what workers now share is their address-space layout, as the
 * forked servers of other MTAs do.
 *
 * Each worker is forked twice, so that its parent exits at once and it
 * is reparented to ternd, a child subreaper: ternd reaps it and logs how
 * it ended, as for any other daemon, and the pool never holds zombies.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "daemon_channel.h"
#include "log.h"
#include "msg.h"
#include "msg_codec.h"
#include "smtpd_pool.h"

/* A new worker waits this long for its channels to queued and lookupd. */
#define POOL_PEER_TIMEOUT_MS	30000

/*
 * pool_worker_channels - in a new worker: take the two peer channels
 * ternd sends first on the worker's own channel, at their descriptors.
 * Exits when they do not come.
 */
static void
pool_worker_channels(struct ipc_conn *master)
{
	int have_q = 0, have_l = 0;

	while (!have_q || !have_l) {
		struct msg_peer peer;
		struct ipc_msg m;
		const char *why;
		int fd, want;

		if (ipc_recv(master, &m, POOL_PEER_TIMEOUT_MS) < 0)
			fatal("no channels from ternd");
		if (m.type != MSG_MASTER_PEER ||
		    msg_decode(&m, MSG_MASTER_PEER, &peer, &why) != 0 ||
		    (peer.kind != PEER_SMTPD_QUEUED &&
		    peer.kind != PEER_SMTPD_LOOKUPD))
			fatalx("unexpected message %u from ternd before the "
			    "channels", m.type);
		want = peer.kind == PEER_SMTPD_QUEUED ? DAEMON_FD_QUEUED :
		    DAEMON_FD_LOOKUPD;
		fd = ipc_msg_take_fd(&m);
		if (fd != want && (dup2(fd, want) < 0 || close(fd) < 0))
			fatal("dup2");
		if (fcntl(want, F_SETFD, FD_CLOEXEC) < 0)
			fatal("fcntl");
		if (want == DAEMON_FD_QUEUED)
			have_q = 1;
		else
			have_l = 1;
		ipc_msg_free(&m);
	}
}

/*
 * pool_fork - fork a worker for its ternd channel ctl (closed here).
 * Returns its pid in the parent (0 when a fork failed); in the worker it
 * returns -1 after moving ctl to DAEMON_FD_MASTER.
 */
static pid_t
pool_fork(int ctl)
{
	pid_t mid, worker = 0;
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0) {
		log_warn("pipe: %s", strerror(errno));
		close(ctl);
		return 0;
	}
	if ((mid = fork()) < 0) {
		log_warn("fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		close(ctl);
		return 0;
	}
	if (mid == 0) {
		/* The middle process: fork the worker, tell its pid, exit. */
		close(p[0]);
		if ((worker = fork()) == 0) {
			close(p[1]);
			if (dup2(ctl, DAEMON_FD_MASTER) < 0)
				_exit(1);
			close(ctl);
			return -1;
		}
		(void)!write(p[1], &worker, sizeof(worker));
		_exit(0);
	}
	close(p[1]);
	close(ctl);
	if (read(p[0], &worker, sizeof(worker)) != sizeof(worker) ||
	    worker < 0)
		worker = 0;
	close(p[0]);
	while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
		continue;
	return worker;
}

/*
 * pool_spawn - one MSG_MASTER_SPAWN: fork, answer ternd with the pid.
 * Returns 1 in the new worker, 0 in the pool.
 */
static int
pool_spawn(struct ipc_conn *master, struct ipc_msg *m)
{
	struct msg_spawned ans;
	struct ipc_msg r;
	const char *why;
	pid_t pid;

	if (msg_decode_empty(m, m->type, &why) != 0) {
		msg_log_reject("ternd", m, why);
		return 0;
	}
	if ((pid = pool_fork(ipc_msg_take_fd(m))) < 0)
		return 1;
	ans.pid = (uint32_t)pid;
	if (msg_encode(&r, MSG_SMTPD_SPAWNED, m->id, &ans) == 0 &&
	    ipc_send(master, &r) < 0)
		exit(0);	/* ternd is gone */
	return 0;
}

/* pool_master_stop - MSG_MASTER_STOP: the pool leaves at once */
static void
pool_master_stop(void *arg)
{
	(void)arg;
	exit(0);
}

struct pool_state {
	struct ipc_conn		*master;
	enum smtpd_pool_role	 role;	/* of the new process */
};

/* pool_master_spawn - MSG_MASTER_SPAWN(_RESPONDER); in the new one, leave */
static int
pool_master_spawn(void *arg, struct ipc_msg *m)
{
	struct pool_state *ps = arg;

	if (m->type != MSG_MASTER_SPAWN &&
	    m->type != MSG_MASTER_SPAWN_RESPONDER)
		return DAEMON_CHANNEL_UNEXPECTED;
	if (!pool_spawn(ps->master, m))
		return DAEMON_CHANNEL_HANDLED;
	/* The new process reads no more of the pool's frames: not its own. */
	ps->role = m->type == MSG_MASTER_SPAWN_RESPONDER ?
	    SMTPD_POOL_RESPONDER : SMTPD_POOL_WORKER;
	return DAEMON_CHANNEL_LEAVE;
}

/* smtpd_pool_run - fork processes for ternd; returns in one of them */
enum smtpd_pool_role
smtpd_pool_run(struct ipc_conn *master)
{
	struct pollfd pfd = { .fd = DAEMON_FD_MASTER, .events = POLLIN };
	struct pool_state ps = { master, SMTPD_POOL_WORKER };
	const struct daemon_channel_ops ops = {
		.stop = pool_master_stop, .other = pool_master_spawn,
		.arg = &ps,
	};
	int st;

	log_info("smtpd pool ready");
	for (;;) {
		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		st = daemon_channel_read(master, &ops);
		if (st == DAEMON_CHANNEL_LEFT)
			break;
		if (st == DAEMON_CHANNEL_MALFORMED)
			fatalx("malformed frame from ternd");
		if (st != DAEMON_CHANNEL_OK)
			exit(0);	/* ternd is gone */
	}
	/* In the new process: the pool's channel state (its buffer, the
	 * frames after the spawn, their descriptors) is not ours. */
	ipc_conn_forget(master);
	ipc_conn_init(master, DAEMON_FD_MASTER);
	if (ps.role == SMTPD_POOL_WORKER)
		pool_worker_channels(master);
	fcntl(DAEMON_FD_MASTER, F_SETFL, O_NONBLOCK);
	return ps.role;
}
