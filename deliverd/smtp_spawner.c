/*
 * smtp_spawner - the process that forks the smtp transport's connection
 * processes.
 *
 * Why a process of its own: a forked child shares its parent's pages
 * until one of the two writes them.  The transport's parent writes its
 * heap and data all the time (jobs, frames, the list of processes), and
 * every page it changes after a fork stays behind in each child as a copy
 * of its own: 150-250 KiB in every connection process under load
 * (bench/README.md, item 19), more than the process itself writes.  The
 * spawner is forked from the parent once, after the TLS context is built,
 * and then does nothing but fork, so what it holds stays shared by every
 * connection process it makes.
 *
 * How: the parent asks with MSG_SMTP_SPAWN and waits for the answer, as it
 * waited for its own fork before.  The spawner forks an intermediate
 * process, which forks the connection process, answers MSG_SMTP_SPAWNED
 * with the new pid and the parent's end of the new channel, and exits.
 * The parent is a child subreaper (PR_SET_CHILD_SUBREAPER), so the
 * orphaned connection process becomes its child: it reaps it, signals it
 * and counts it exactly as one it forked itself, and a spawner that exits
 * or is killed leaves the connection processes it made where they are.
 * The spawner exits when its channel closes: at a reload (its settings are
 * old) and when the transport stops.  One that does not answer within
 * SPAWN_TIMEOUT_MS is killed, and the next connection process comes from
 * a new one.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "msg.h"
#include "msg_codec.h"
#include "smtp_spawner.h"

#define SPAWN_TIMEOUT_MS	10000

static struct ipc_conn spawner_conn = { .fd = -1 };
static pid_t spawner_pid;		/* 0: none running */

/* spawner_answer_failed - MSG_SMTP_SPAWN_FAILED for request id */
static void
spawner_answer_failed(struct ipc_conn *c, uint32_t id)
{
	struct ipc_msg m;

	ipc_msg_init(&m, MSG_SMTP_SPAWN_FAILED, id);
	(void)ipc_send(c, &m);
}

/*
 * spawner_fork - one connection process for request id: the intermediate
 * process forks it and answers; the spawner waits for the intermediate,
 * and answers itself only when that died without a word.
 */
static void
spawner_fork(struct ipc_conn *c, uint32_t id, const struct smtp_spawner_ops *ops)
{
	struct ipc_msg m;
	struct msg_spawned sp;
	pid_t mid, pid;
	int sv[2], status;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		log_warn("connection process spawner: socketpair: %s",
		    strerror(errno));
		spawner_answer_failed(c, id);
		return;
	}
	if ((mid = fork()) == -1) {
		log_warn("connection process spawner: fork: %s",
		    strerror(errno));
		close(sv[0]);
		close(sv[1]);
		spawner_answer_failed(c, id);
		return;
	}
	if (mid == 0) {
		if ((pid = fork()) == -1) {
			log_warn("connection process spawner: fork: %s",
			    strerror(errno));
			spawner_answer_failed(c, id);
			_exit(0);
		}
		if (pid == 0) {
			close(c->fd);
			close(sv[0]);
			ops->child(sv[1]);
			_exit(0);
		}
		sp.pid = (uint32_t)pid;
		if (msg_encode(&m, MSG_SMTP_SPAWNED, id, &sp) == 0) {
			m.fd = sv[0];
			(void)ipc_send(c, &m);
		}
		_exit(0);
	}
	close(sv[0]);
	close(sv[1]);
	while (waitpid(mid, &status, 0) == -1)
		if (errno != EINTR)
			return;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		spawner_answer_failed(c, id);
}

/* spawner_main - the spawner's life: a connection process per request,
 * until its channel closes */
static void __attribute__((noreturn))
spawner_main(int fd, const struct smtp_spawner_ops *ops)
{
	struct ipc_conn c;
	struct ipc_msg m;
	uint32_t id;

	ipc_conn_init(&c, fd);
	for (;;) {
		if (ipc_recv(&c, &m, -1) != 0)
			_exit(0);
		if (m.type != MSG_SMTP_SPAWN) {
			log_warn("connection process spawner: unexpected "
			    "frame type %u", m.type);
			_exit(1);
		}
		id = m.id;
		ipc_msg_free(&m);
		spawner_fork(&c, id, ops);
	}
}

/* spawner_start - fork the spawner; 0, or -1 (logged) */
static int
spawner_start(const struct smtp_spawner_ops *ops)
{
	static int subreaper;
	int sv[2];
	pid_t pid;

	if (!subreaper) {
		if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
			log_warn("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
			return -1;
		}
		subreaper = 1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		log_warn("connection process spawner: socketpair: %s",
		    strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("cannot fork the connection process spawner: %s",
		    strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		ops->prepare();
		spawner_main(sv[1], ops);
	}
	close(sv[1]);
	ipc_conn_init(&spawner_conn, sv[0]);
	spawner_pid = pid;
	log_debug("connection process spawner %ld started", (long)pid);
	return 0;
}

/* spawner_kill - a spawner that failed the protocol: killed, forgotten */
static void
spawner_kill(void)
{
	kill(spawner_pid, SIGKILL);
	smtp_spawner_stop();
}

/* smtp_spawner_spawn - ask the spawner (started first when there is none)
 * for a connection process; the parent's end of its channel, or -1 */
int
smtp_spawner_spawn(const struct smtp_spawner_ops *ops, pid_t *pid)
{
	static uint32_t next_id;
	struct ipc_msg req, resp;
	struct msg_spawned sp;
	const char *why;
	int fd;

	if (spawner_pid == 0 && spawner_start(ops) != 0)
		return -1;
	ipc_msg_init(&req, MSG_SMTP_SPAWN, ++next_id);
	if (ipc_call(&spawner_conn, &req, &resp, SPAWN_TIMEOUT_MS) != 0) {
		log_warn("connection process spawner %ld: no answer: %s",
		    (long)spawner_pid, strerror(errno));
		spawner_kill();
		return -1;
	}
	if (resp.type == MSG_SMTP_SPAWN_FAILED) {
		ipc_msg_free(&resp);
		return -1;
	}
	if (msg_decode(&resp, MSG_SMTP_SPAWNED, &sp, &why) != 0) {
		msg_log_reject("connection process spawner", &resp, why);
		ipc_msg_free(&resp);
		spawner_kill();
		return -1;
	}
	fd = ipc_msg_take_fd(&resp);
	msg_free(MSG_SMTP_SPAWNED, &sp);
	ipc_msg_free(&resp);
	*pid = (pid_t)sp.pid;
	return fd;
}

/* smtp_spawner_stop - close the channel to the spawner, which then exits */
void
smtp_spawner_stop(void)
{
	if (spawner_pid == 0)
		return;
	ipc_conn_close(&spawner_conn);
	spawner_pid = 0;
}

/* smtp_spawner_reaped - note the running spawner's exit; 1 when pid was it */
int
smtp_spawner_reaped(pid_t pid, int wstatus)
{
	if (spawner_pid == 0 || pid != spawner_pid)
		return 0;
	if (WIFSIGNALED(wstatus))
		log_warn("connection process spawner %ld killed by signal %d",
		    (long)pid, WTERMSIG(wstatus));
	else
		log_warn("connection process spawner %ld exited with status %d",
		    (long)pid, WEXITSTATUS(wstatus));
	smtp_spawner_stop();
	return 1;
}
