/*
 * ternd - the master: the only process that stays root.
 *
 * Reads tern.conf, creates the spool, binds the listening sockets, creates
 * every socketpair, starts the daemons (lookupd, queued, deliverd, a pool
 * of smtpd) and supervises them: a daemon that dies is restarted with a
 * growing backoff, the smtpd pool is kept between smtpd_min_spare idle
 * processes and smtpd_max_procs in all.  SIGHUP reloads, SIGTERM stops.
 * ternd never reads a byte from the network or from a queue file.
 *
 * Limits against abuse live here because only ternd sees the whole pool:
 * it counts each client address's sessions and connection rate
 * (master_clients.c) when an smtpd reports a new client, and it keeps one
 * extra smtpd, the busy responder (smtpd/smtp_busy.c), which it switches
 * on while every one of smtpd_max_procs processes is busy, so that a
 * client connecting then hears 421 at once instead of hanging in the
 * listen backlog.  Both answers come straight from the main loop: ternd
 * never waits on an smtpd.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libutil.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "control.h"
#include "master_stats.h"
#include "tern_check.h"
#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "maildrop.h"
#include "master_clients.h"
#include "master_listen.h"
#include "tls_server.h"
#include "master_detach.h"
#include "master_spool.h"
#include "msg.h"
#include "msg_codec.h"
#include "fdlimit.h"
#include "privsep.h"
#include "settings.h"
#include "xmalloc.h"

#define MAX_SPAWN_PER_TURN	16
/* queued's own grace for jobs in flight is 10 s (queued.c) */
#define QUEUED_STOP_GRACE	15

static struct settings set;
static const char *config_path = TERN_SYSCONFDIR "/tern/tern.conf";
static int foreground, verbose;
static struct listener listeners[DAEMON_MAX_LISTEN];
static int nlisteners;
static struct child_list children = TAILQ_HEAD_INITIALIZER(children);
static struct child *singletons[CHILD_KINDS];	/* lookupd, queued, deliverd,
							   the smtpd pool */
static time_t restart_at[CHILD_KINDS];
static long backoff[CHILD_KINDS];
static time_t last_normal_exit[CHILD_KINDS];	/* of a daemon, by kind */
static int sigpipe_fds[2];
static int stopping;
static time_t stop_deadline;
static char listen_kinds[DAEMON_MAX_LISTEN * 12];
static struct master_clients clients;
static struct child *responder;		/* the busy responder, or NULL */
/* Reaped processes ternd knew no pid for yet (reap_children). */
#define EARLY_REAPED	64
static pid_t early_reaped[EARLY_REAPED];
static unsigned early_next;
static time_t responder_restart_at;
static time_t last_full_warning;
static time_t last_shrink;		/* supervise: one retirement a second */

/* --- signals arrive through a pipe, handled in the loop ---------------- */

static void
on_signal(int sig)
{
	unsigned char c = (unsigned char)sig;
	int saved = errno;

	if (write(sigpipe_fds[1], &c, 1) < 0) {
		/* pipe full: a signal is already pending */
	}
	errno = saved;
}

static void
signals_setup(void)
{
	struct sigaction sa;
	int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGUSR1 };

	if (pipe2(sigpipe_fds, O_NONBLOCK | O_CLOEXEC) < 0)
		fatal("pipe");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* --- configuration ------------------------------------------------------ */

static void
report_stderr(const char *file, int line, const char *msg, void *arg)
{
	int *count = arg;

	(*count)++;
	if (line > 0)
		fprintf(stderr, "ternd: %s:%d: %s\n", file, line, msg);
	else
		fprintf(stderr, "ternd: %s: %s\n", file, msg);
}

static void
report_log(const char *file, int line, const char *msg, void *arg)
{
	int *count = arg;

	(*count)++;
	if (line > 0)
		log_error("%s:%d: %s", file, line, msg);
	else
		log_error("%s: %s", file, msg);
}

static void
check_report(const char *msg, void *arg)
{
	int *count = arg;

	(*count)++;
	fprintf(stderr, "ternd: %s\n", msg);
}

static void
check_warn(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "ternd: warning: %s\n", msg);
}

/* ternd -n: every problem that would stop a start, then exit 0 or 1. */
static int
check_config(void)
{
	int problems = 0;

	if (settings_load(&set, config_path, 0, report_stderr, &problems) != 0)
		problems += 0;	/* each one was reported */
	if (problems == 0) {
		struct tern_check c = { check_report, check_warn, &problems,
		    0 };

		master_spool_check(set.spool_dir, check_report, &problems);
		tern_check_config(&set, &c);
	}
	if (problems)
		fprintf(stderr, "ternd: %s: %d problem%s\n", config_path, problems,
		    problems == 1 ? "" : "s");
	return problems ? 1 : 0;
}

/* --- children ----------------------------------------------------------- */

static char **
child_argv(enum child_kind kind)
{
	static char *argv[12];
	static char name[32];
	int n = 0;

	snprintf(name, sizeof(name), "tern-%s", child_name(kind));
	argv[n++] = name;
	argv[n++] = "-c";
	argv[n++] = (char *)config_path;
	if (foreground)
		argv[n++] = "-d";
	if (verbose)
		argv[n++] = "-v";
	if (kind == CHILD_SMTPD || kind == CHILD_SMTPD_POOL) {
		argv[n++] = "-L";
		argv[n++] = listen_kinds;
		if (kind == CHILD_SMTPD_POOL)
			argv[n++] = "-z";
	}
	if (kind == CHILD_DELIVERD || kind == CHILD_DELIVERD_SMTP ||
	    kind == CHILD_DELIVERD_LMTP) {
		argv[n++] = "-t";
		argv[n++] = kind == CHILD_DELIVERD ? "local" :
		    kind == CHILD_DELIVERD_SMTP ? "smtp" : "lmtp";
	}
	argv[n] = NULL;
	return argv;
}

static int
channel(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("socketpair: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Hand a new channel end to lookupd or queued. */
static void
give_peer(struct child *to, enum peer_kind kind, int fd)
{
	struct msg_peer p = { kind };
	struct ipc_msg m;

	if (to == NULL || msg_encode(&m, MSG_MASTER_PEER, 0, &p) != 0) {
		close(fd);
		return;
	}
	m.fd = fd;
	ipc_conn_queue(&to->conn, &m);
}

static void
send_simple(struct child *c, uint32_t type)
{
	struct ipc_msg m;

	msg_encode_empty(&m, type, 0);
	ipc_conn_queue(&c->conn, &m);
}

/*
 * spawn_as - fork and execve a daemon (not an smtpd worker: the pool
 * forks those, spawn_worker).
 */
static struct child *
spawn_as(enum child_kind kind)
{
	int fds[3 + DAEMON_MAX_LISTEN], nfds = 0, ctl[2];
	int q[2] = { -1, -1 }, l[2] = { -1, -1 };
	struct child *c;
	pid_t pid;

	if (channel(ctl) < 0)
		return NULL;
	fds[nfds++] = ctl[1];
	if (kind == CHILD_SMTPD_POOL) {
		/* It talks to no one but ternd; its queued and lookupd slots
		 * hold the ternd channel again only to keep the layout. */
		fds[nfds++] = ctl[1];
		fds[nfds++] = ctl[1];
		for (int i = 0; i < nlisteners; i++)
			fds[nfds++] = listeners[i].fd;
	} else if (kind == CHILD_DELIVERD || kind == CHILD_DELIVERD_SMTP ||
	    kind == CHILD_DELIVERD_LMTP) {
		if (channel(q) < 0)
			goto fail;
		fds[nfds++] = q[1];
	}
	pid = child_spawn(set.daemon_directory, kind,
	    child_argv(kind), fds, nfds);
	close(ctl[1]);
	if (q[1] >= 0)
		close(q[1]);
	if (l[1] >= 0)
		close(l[1]);
	if (pid < 0) {
		close(ctl[0]);
		if (q[0] >= 0)
			close(q[0]);
		if (l[0] >= 0)
			close(l[0]);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->kind = kind;
	c->pid = pid;
	c->started = time(NULL);
	fcntl(ctl[0], F_SETFL, O_NONBLOCK);
	ipc_conn_init(&c->conn, ctl[0]);
	TAILQ_INSERT_TAIL(&children, c, entry);
	log_debug("started %s pid %ld", child_name(kind), (long)pid);

	switch (kind) {
	case CHILD_SMTPD_POOL:
		singletons[kind] = c;
		break;
	case CHILD_DELIVERD:
		singletons[kind] = c;
		give_peer(singletons[CHILD_QUEUED], PEER_DELIVERD, q[0]);
		break;
	case CHILD_DELIVERD_SMTP:
		singletons[kind] = c;
		give_peer(singletons[CHILD_QUEUED], PEER_DELIVERD_SMTP, q[0]);
		break;
	case CHILD_DELIVERD_LMTP:
		singletons[kind] = c;
		give_peer(singletons[CHILD_QUEUED], PEER_DELIVERD_LMTP, q[0]);
		break;
	case CHILD_QUEUED:
		singletons[kind] = c;
		/* queued needs a channel to lookupd */
		if (singletons[CHILD_LOOKUPD] != NULL && channel(l) == 0) {
			give_peer(c, PEER_LOOKUPD, l[0]);
			give_peer(singletons[CHILD_LOOKUPD], PEER_QUEUED, l[1]);
		}
		break;
	case CHILD_LOOKUPD:
		singletons[kind] = c;
		if (singletons[CHILD_QUEUED] != NULL && channel(l) == 0) {
			give_peer(singletons[CHILD_QUEUED], PEER_LOOKUPD, l[0]);
			give_peer(c, PEER_QUEUED, l[1]);
		}
		break;
	default:
		break;
	}
	return c;
fail:
	close(ctl[0]);
	close(ctl[1]);
	if (q[0] >= 0) {
		close(q[0]);
		close(q[1]);
	}
	return NULL;
}

/*
 * spawn_worker - ask the smtpd pool for a new worker.  ternd makes its
 * three channels as for any daemon: the worker's channel to ternd goes
 * to the pool with the request (the worker gets it at fork), the ones to
 * queued and lookupd go to the worker itself, first thing on its ternd
 * channel, and their other ends to queued and lookupd.  The worker's pid
 * comes with the pool's answer (pool_spawned).  NULL when there is no
 * pool yet or a channel cannot be made.
 */
static struct child *
spawn_worker(int busy_responder)
{
	static uint32_t next_spawn_id;
	struct child *pool = singletons[CHILD_SMTPD_POOL];
	struct ipc_msg m;
	struct child *c;
	int ctl[2], q[2], l[2];

	if (pool == NULL || channel(ctl) < 0)
		return NULL;
	if (busy_responder) {
		/* It talks to no one but ternd. */
		c = xcalloc(1, sizeof(*c));
		c->kind = CHILD_SMTPD;
		c->responder = 1;
		c->spawn_id = ++next_spawn_id ? next_spawn_id :
		    ++next_spawn_id;
		c->started = time(NULL);
		fcntl(ctl[0], F_SETFL, O_NONBLOCK);
		ipc_conn_init(&c->conn, ctl[0]);
		TAILQ_INSERT_TAIL(&children, c, entry);
		msg_encode_empty(&m, MSG_MASTER_SPAWN_RESPONDER, c->spawn_id);
		m.fd = ctl[1];
		ipc_conn_queue(&pool->conn, &m);
		return c;
	}
	if (channel(q) < 0) {
		close(ctl[0]);
		close(ctl[1]);
		return NULL;
	}
	if (channel(l) < 0) {
		close(ctl[0]);
		close(ctl[1]);
		close(q[0]);
		close(q[1]);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->kind = CHILD_SMTPD;
	c->spawn_id = ++next_spawn_id ? next_spawn_id : ++next_spawn_id;
	c->started = time(NULL);
	fcntl(ctl[0], F_SETFL, O_NONBLOCK);
	ipc_conn_init(&c->conn, ctl[0]);
	TAILQ_INSERT_TAIL(&children, c, entry);
	msg_encode_empty(&m, MSG_MASTER_SPAWN, c->spawn_id);
	m.fd = ctl[1];
	ipc_conn_queue(&pool->conn, &m);
	give_peer(c, PEER_SMTPD_QUEUED, q[1]);
	give_peer(c, PEER_SMTPD_LOOKUPD, l[1]);
	give_peer(singletons[CHILD_QUEUED], PEER_SMTPD, q[0]);
	give_peer(singletons[CHILD_LOOKUPD], PEER_SMTPD, l[0]);
	return c;
}

static struct child *
spawn(enum child_kind kind)
{
	return kind == CHILD_SMTPD ? spawn_worker(0) : spawn_as(kind);
}

/* The session an smtpd reported has ended: uncount its client. */
static void
child_client_done(struct child *c)
{
	if (c->counted)
		master_clients_disconnect(&clients, c->client);
	c->counted = 0;
	c->client[0] = '\0';
}

static struct child *freed_children;	/* see child_free */

static void
child_free(struct child *c)
{
	child_client_done(c);
	TAILQ_REMOVE(&children, c, entry);
	if (responder == c)
		responder = NULL;
	if (singletons[c->kind] == c)
		singletons[c->kind] = NULL;
	/* Requests passed to this queued will never be answered (its
	 * successor knows nothing of them). */
	if (c->kind == CHILD_QUEUED)
		control_queue_abort();
	ipc_conn_close(&c->conn);
	/* Not freed yet: the loop's map of this turn may still name it
	 * (a pool's message can end another worker; see main_loop). */
	c->freed = 1;
	c->next_freed = freed_children;
	freed_children = c;
}

/* children_free_now - free what child_free took off the list */
static void
children_free_now(void)
{
	while (freed_children != NULL) {
		struct child *c = freed_children;

		freed_children = c->next_freed;
		free(c);
	}
}

static struct child *
child_by_pid(pid_t pid)
{
	struct child *c;

	TAILQ_FOREACH(c, &children, entry)
		if (c->pid == pid && pid != 0)
			return c;
	return NULL;
}

static void
reap_children(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct child *c = child_by_pid(pid);
		int normal;

		if (c == NULL) {
			/* A worker that ended before the pool told us its
			 * pid (pool_spawned), or a stray process that was
			 * reparented to us. */
			early_reaped[early_next++ % EARLY_REAPED] = pid;
			continue;
		}
		normal = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		if (WIFSIGNALED(status))
			log_warn("process tern-%s pid %ld killed by signal %d",
			    child_name(c->kind), (long)pid, WTERMSIG(status));
		else if (!normal)
			log_warn("process tern-%s pid %ld exit status %d",
			    child_name(c->kind), (long)pid, WEXITSTATUS(status));
		if (c->kind != CHILD_SMTPD && !c->retired && !stopping) {
			/* A daemon that dies soon after starting is probably
			 * failing at start-up: back off, up to the maximum.
			 * One that exits 0 meant to (deliverd restarting on
			 * a reload) and comes back at once, or a second
			 * after the last such exit if that was this second. */
			if (normal) {
				time_t now = time(NULL);

				backoff[c->kind] = 0;
				restart_at[c->kind] =
				    now == last_normal_exit[c->kind] ?
				    now + 1 : now;
				last_normal_exit[c->kind] = now;
				child_free(c);
				continue;
			}
			if (time(NULL) - c->started < 10)
				backoff[c->kind] = backoff[c->kind] ?
				    backoff[c->kind] * 2 : 1;
			else
				backoff[c->kind] = 0;
			if (backoff[c->kind] > set.daemon_restart_backoff_max)
				backoff[c->kind] = set.daemon_restart_backoff_max;
			restart_at[c->kind] = time(NULL) + backoff[c->kind];
			if (backoff[c->kind] > 0)
				log_warn("restarting tern-%s in %ld seconds",
				    child_name(c->kind), backoff[c->kind]);
		}
		child_free(c);
	}
}

/*
 * Keep the busy responder running, and switched on exactly while the pool
 * is full.  A pool that is merely short of spare processes is not full:
 * supervise() is starting more, and the backlog holds the clients for the
 * moment that takes.
 */
static void
supervise_responder(time_t now, int pool_full)
{
	struct msg_switch mode;
	struct ipc_msg m;

	if (responder == NULL && nlisteners > 0 && now >= responder_restart_at) {
		responder_restart_at = now + 1;	/* one try a second */
		responder = spawn_worker(1);
	}
	if (responder == NULL || responder->busy == pool_full)
		return;
	/* Under sustained load the pool fills and drains many times a
	 * second: say so once a minute, not each time. */
	if (pool_full && now - last_full_warning >= 60) {
		last_full_warning = now;
		log_warn("all %ld smtpd processes are busy (smtpd_max_procs): "
		    "new clients get 421 until one is free",
		    set.smtpd_max_procs);
	}
	responder->busy = pool_full;
	mode.on = pool_full ? 1 : 0;
	if (msg_encode(&m, MSG_MASTER_BUSY_MODE, 0, &mode) == 0)
		ipc_conn_queue(&responder->conn, &m);
}

/* Keep the daemons running and the smtpd pool within its limits. */
static void
supervise(void)
{
	time_t now = time(NULL);
	int total = 0, idle = 0, spawned = 0;
	struct child *c;

	if (stopping)
		return;
	for (int k = CHILD_LOOKUPD; k <= CHILD_SMTPD_POOL; k++)
		if (singletons[k] == NULL && now >= restart_at[k] &&
		    (k != CHILD_SMTPD_POOL || nlisteners > 0) &&
		    (k != CHILD_DELIVERD_LMTP || set.mailbox_transport[0]))
			spawn((enum child_kind)k);
	if (singletons[CHILD_QUEUED] == NULL || singletons[CHILD_LOOKUPD] == NULL)
		return;
	TAILQ_FOREACH(c, &children, entry) {
		if (c->kind != CHILD_SMTPD || c->retired || c->responder)
			continue;
		total++;
		if (!c->busy)
			idle++;
	}
	/* Even with smtpd_min_spare = 0 one process must wait for the next
	 * client, or no one would ever accept and the busy responder, which
	 * only speaks for a full pool, would never be switched on. */
	while (idle < (set.smtpd_min_spare > 0 ? set.smtpd_min_spare : 1) &&
	    total < set.smtpd_max_procs && spawned < MAX_SPAWN_PER_TURN) {
		if (spawn(CHILD_SMTPD) == NULL)
			break;
		idle++;
		total++;
		spawned++;
	}
	/* Shrink slowly: at most one surplus idle process a second.  Under
	 * load the idle count swings with every session that ends; shrinking
	 * at each turn of the loop would retire and refork workers many
	 * times a second. */
	if (idle > 2 * set.smtpd_min_spare + 1 && now != last_shrink) {
		last_shrink = now;
		TAILQ_FOREACH(c, &children, entry) {
			if (c->kind == CHILD_SMTPD && !c->busy && !c->retired &&
			    !c->responder) {
				c->retired = 1;
				send_simple(c, MSG_MASTER_STOP);
				break;
			}
		}
	}
	supervise_responder(now, total >= set.smtpd_max_procs && idle == 0);
}

/* child_label - "tern-KIND pid N" for logs, in a static buffer */
static const char *
child_label(const struct child *c)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "tern-%s pid %ld", child_name(c->kind),
	    (long)c->pid);
	return buf;
}

/*
 * An smtpd has accepted a client: count it and answer at once.  The
 * address is only a key here (smtpd formatted it; ternd never parses it).
 * A request that does not decode is answered with CLIENT_ALLOW, as smtpd
 * would decide if ternd did not answer: the per-client limits are a
 * defence against abuse, not a gate that a broken message may close.
 */
static void
client_connect(struct child *c, struct ipc_msg *m)
{
	struct msg_client_verdict ans = { CLIENT_ALLOW, 0, 0 };
	struct msg_client_connect cc;
	struct client_limits lim;
	struct ipc_msg r;
	const char *why;
	int tracked = 0;

	child_client_done(c);	/* a previous session it did not close */
	c->busy = 1;
	if (msg_decode(m, MSG_SMTPD_CLIENT_CONNECT, &cc, &why) != 0) {
		msg_log_reject(child_label(c), m, why);
		cc.address = NULL;
	} else if (!(cc.flags & CLIENT_F_EXEMPT)) {
		lim.concurrency = (uint32_t)set.smtpd_client_connection_limit;
		lim.rate = (uint32_t)set.smtpd_client_connection_rate_limit;
		lim.unit = set.smtpd_client_rate_time_unit;
		ans.verdict = master_clients_connect(&clients, cc.address, &lim,
		    time(NULL), &ans.count, &tracked);
	}
	mstats.connections++;
	if (ans.verdict == CLIENT_DENY_CONCURRENCY)
		mstats.refused_concurrency++;
	else if (ans.verdict == CLIENT_DENY_RATE)
		mstats.refused_rate++;
	if (tracked) {
		c->counted = 1;
		strlcpy(c->client, cc.address, sizeof(c->client));
	}
	/* Failed logins count for every client, exempt or not: a password
	 * guesser inside mynetworks is still guessing. */
	if (cc.address != NULL)
		ans.auth_failures = master_clients_auth_failures(&clients,
		    cc.address, set.smtpd_auth_failure_window, time(NULL));
	if (msg_encode(&r, MSG_MASTER_CLIENT_VERDICT, m->id, &ans) == 0)
		ipc_conn_queue(&c->conn, &r);
}

/*
 * A failed AUTH reported by an smtpd: counted, then acknowledged.  The
 * smtpd answers its client only after the acknowledgement, so a client
 * that comes back at once, to any worker, finds the failure counted
 * whichever channel ternd reads first.  A report that does not decode is
 * acknowledged too: the smtpd need not wait for an answer that would
 * not come.
 */
static void
client_auth_failure(struct child *c, struct ipc_msg *m)
{
	struct msg_client a;
	struct ipc_msg r;
	const char *why;

	if (msg_decode(m, MSG_SMTPD_AUTH_FAILURE, &a, &why) != 0)
		msg_log_reject(child_label(c), m, why);
	else {
		mstats.auth_failures++;
		master_clients_auth_failed(&clients, a.address,
		    set.smtpd_auth_failure_window, time(NULL));
	}
	msg_encode_empty(&r, MSG_MASTER_AUTH_COUNTED, m->id);
	ipc_conn_queue(&c->conn, &r);
}

/* A command smtpd refused by policy (no answer): counted. */
static void
client_reject(struct child *c, struct ipc_msg *m)
{
	struct msg_reject r;
	const char *why;

	if (msg_decode(m, MSG_SMTPD_REJECT, &r, &why) != 0) {
		msg_log_reject(child_label(c), m, why);
		return;
	}
	mstats.rejected[r.reason]++;
}

static int control_queue_input(const struct child *, struct ipc_msg *);
static void admin_group_resolve(void);

/*
 * pool_spawned - the pool forked the worker of a MSG_MASTER_SPAWN (or
 * could not: pid 0).  A worker that already ended (reaped before its pid
 * was known) is forgotten now.
 */
static void
pool_spawned(struct child *pool, struct ipc_msg *m)
{
	struct msg_spawned sp;
	const char *why;
	struct child *c;

	if (msg_decode(m, MSG_SMTPD_SPAWNED, &sp, &why) != 0) {
		msg_log_reject(child_label(pool), m, why);
		return;
	}
	TAILQ_FOREACH(c, &children, entry)
		if (c->kind == CHILD_SMTPD && c->pid == 0 &&
		    c->spawn_id == m->id)
			break;
	if (c == NULL)
		return;		/* its channel closed first: already gone */
	if (sp.pid == 0 || child_by_pid((pid_t)sp.pid) != NULL) {
		log_warn("the smtpd pool could not start a worker");
		child_free(c);
		return;
	}
	c->pid = (pid_t)sp.pid;
	c->spawn_id = 0;
	for (size_t i = 0; i < EARLY_REAPED; i++)
		if (early_reaped[i] == c->pid) {
			early_reaped[i] = 0;
			child_free(c);
			return;
		}
	log_debug("started smtpd worker pid %ld", (long)c->pid);
}

/*
 * child_read - read what c's channel holds into its buffer.  Returns 1 if
 * there may be frames to handle, 0 if the channel closed (the child is
 * retired, or freed if it never got a pid).
 */
static int
child_read(struct child *c)
{
	ssize_t n = ipc_conn_read(&c->conn);

	if (n > 0 || (n < 0 && errno == EAGAIN))
		return 1;
	/* Channel closed: the process is exiting; waitpid reaps it.  A
	 * worker whose pid never came was not forked (or is gone already):
	 * nothing will be reaped for it. */
	if (c->kind == CHILD_SMTPD && c->pid == 0) {
		child_free(c);
		return 0;
	}
	c->retired = 1;
	if (c->responder && responder == c)
		responder = NULL;
	c->busy = 0;
	child_client_done(c);
	return 0;
}

/* child_frames - handle the frames in c's buffer, in order */
static void
child_frames(struct child *c)
{
	struct msg_switch status;
	struct ipc_msg m;
	const char *why;
	int r = 0;

	while ((r = ipc_conn_next(&c->conn, &m)) == 1) {
		if (c->kind == CHILD_QUEUED &&
		    control_queue_input(c, &m) == 0) {
			ipc_msg_free(&m);
			continue;
		}
		if (c->kind == CHILD_SMTPD_POOL &&
		    m.type == MSG_SMTPD_SPAWNED) {
			pool_spawned(c, &m);
			ipc_msg_free(&m);
			continue;
		}
		/* A frame it should not send, or that does not decode, is
		 * logged and dropped: the child keeps running. */
		if (c->kind != CHILD_SMTPD || c->responder)
			msg_log_reject(child_label(c), &m, "unexpected type");
		else if (m.type == MSG_SMTPD_STATUS) {
			if (msg_decode(&m, MSG_SMTPD_STATUS, &status,
			    &why) != 0)
				msg_log_reject(child_label(c), &m, why);
			else {
				c->busy = status.on != 0;
				if (!c->busy)
					child_client_done(c);
			}
		} else if (m.type == MSG_SMTPD_CLIENT_CONNECT)
			client_connect(c, &m);
		else if (m.type == MSG_SMTPD_AUTH_FAILURE)
			client_auth_failure(c, &m);
		else if (m.type == MSG_SMTPD_REJECT)
			client_reject(c, &m);
		else
			msg_log_reject(child_label(c), &m, "unexpected type");
		ipc_msg_free(&m);
	}
	if (r < 0) {
		log_warn("malformed frame from tern-%s pid %ld; stopping it",
		    child_name(c->kind), (long)c->pid);
		if (c->pid != 0)
			kill(c->pid, SIGTERM);
		else
			child_free(c);
	}
}

/* children_input - handle what the ready channels (ready[i] set for
 * map[i]) hold */
static void
children_input(struct child **map, const int *ready, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ready[i] && !map[i]->freed && child_read(map[i]))
			child_frames(map[i]);
}

/*
 * fd_limit_apply - the descriptor limit for set; at_start: before any
 * process is started, else after a reload, when the processes that keep
 * running raise theirs as they reread the configuration (daemon_reload).
 */
static void
fd_limit_apply(int at_start)
{
	char msg[512];
	rlim_t now;
	int raised;

	if (fd_limit_raise(fd_limit_need(&set), &raised, &now, msg,
	    sizeof(msg)) != 0)
		log_warn("%s", msg);
	if (raised && at_start)
		log_info("descriptor limit raised to %llu",
		    (unsigned long long)now);
	else if (raised)
		log_info("descriptor limit raised to %llu; the processes "
		    "running raise theirs as they reread the configuration",
		    (unsigned long long)now);
}

static void
reload(void)
{
	struct settings fresh;
	int problems = 0;
	struct child *c;

	memset(&fresh, 0, sizeof(fresh));
	if (settings_load(&fresh, config_path, 0, report_log, &problems) != 0) {
		settings_free(&fresh);
		log_warn("reload: %s has errors; keeping the running "
		    "configuration", config_path);
		return;
	}
	settings_free(&set);
	set = fresh;
	admin_group_resolve();
	log_info("reload: configuration reread from %s", config_path);
	fd_limit_apply(0);
	/* smtpd processes finish their session and are replaced by new ones
	 * that read the new configuration; the others reread it in place. */
	responder = NULL;	/* the old one stops below; a new one starts */
	TAILQ_FOREACH(c, &children, entry) {
		if (c->kind == CHILD_SMTPD || c->kind == CHILD_SMTPD_POOL) {
			if (!c->retired) {
				c->retired = 1;
				send_simple(c, MSG_MASTER_STOP);
			}
		} else
			send_simple(c, MSG_MASTER_RELOAD);
	}
	/* A new pool, with the new configuration, forks the new workers. */
	singletons[CHILD_SMTPD_POOL] = NULL;
	restart_at[CHILD_SMTPD_POOL] = 0;
}

static void
begin_stop(void)
{
	struct child *c;

	if (stopping)
		return;
	stopping = 1;
	stop_deadline = time(NULL) + set.shutdown_timeout;
	log_info("stopping: waiting up to %lds for sessions to finish",
	    set.shutdown_timeout);
	/*
	 * shutdown() and not only close(): the smtpd processes share these
	 * sockets, and one in a session keeps its copy open until the
	 * session ends.  A shut listener refuses new clients at once for all
	 * of them, instead of queueing connections nobody will accept.
	 */
	for (int i = 0; i < nlisteners; i++) {
		(void)shutdown(listeners[i].fd, SHUT_RDWR);
		close(listeners[i].fd);
	}
	nlisteners = 0;
	TAILQ_FOREACH(c, &children, entry)
		if (c->kind == CHILD_SMTPD || c->kind == CHILD_SMTPD_POOL)
			send_simple(c, MSG_MASTER_STOP);
}

/* Once the smtpd processes are gone, stop queued, deliverd, lookupd. */
static void
stop_progress(void)
{
	struct child *c;
	int smtpd_left = 0;

	TAILQ_FOREACH(c, &children, entry)
		if (c->kind == CHILD_SMTPD || c->kind == CHILD_SMTPD_POOL)
			smtpd_left++;
	if (time(NULL) >= stop_deadline) {
		TAILQ_FOREACH(c, &children, entry) {
			if (c->pid == 0)
				continue;
			log_warn("tern-%s pid %ld did not stop in time; killing it",
			    child_name(c->kind), (long)c->pid);
			kill(c->pid, SIGKILL);
		}
		stop_deadline = time(NULL) + 5;
		return;
	}
	if (smtpd_left > 0)
		return;
	/*
	 * queued first, alone: it finishes the deliveries it has started,
	 * which needs deliverd and lookupd still running.  Stopping them all
	 * at once lets a job sent in the last moment go unanswered (the mail
	 * stays queued, but waits for the next start).
	 */
	if (singletons[CHILD_QUEUED] != NULL) {
		c = singletons[CHILD_QUEUED];
		if (!c->retired) {
			c->retired = 1;
			send_simple(c, MSG_MASTER_STOP);
			if (stop_deadline < time(NULL) + QUEUED_STOP_GRACE)
				stop_deadline = time(NULL) + QUEUED_STOP_GRACE;
		}
		return;
	}
	TAILQ_FOREACH(c, &children, entry) {
		if (!c->retired) {
			c->retired = 1;
			send_simple(c, MSG_MASTER_STOP);
		}
	}
}

static void
handle_signals(void)
{
	unsigned char sig;

	while (read(sigpipe_fds[0], &sig, 1) == 1) {
		switch (sig) {
		case SIGCHLD:
			reap_children();
			break;
		case SIGHUP:
			if (!stopping)
				reload();
			break;
		case SIGTERM:
		case SIGINT:
			begin_stop();
			break;
		case SIGUSR1:
			if (singletons[CHILD_QUEUED] != NULL)
				send_simple(singletons[CHILD_QUEUED],
				    MSG_QUEUED_FLUSH);
			break;
		}
	}
}

/* --- the control socket (ternctl) ------------------------------------- */

/*
 * A listing frame from queued: 0 when it was one (a bad one is logged and
 * dropped), -1 when it is of another type.
 */
static int
control_queue_input(const struct child *c, struct ipc_msg *m)
{
	struct msg_queue_line l;
	const char *why;

	if (m->type == MSG_QUEUED_QUEUE_ENTRY) {
		if (msg_decode(m, MSG_QUEUED_QUEUE_ENTRY, &l, &why) != 0)
			msg_log_reject(child_label(c), m, why);
		else
			control_queue_line(m->id, l.line, (int)l.more);
		return 0;
	}
	if (m->type == MSG_QUEUED_QUEUE_END) {
		if (msg_decode_empty(m, MSG_QUEUED_QUEUE_END, &why) != 0)
			msg_log_reject(child_label(c), m, why);
		else
			control_queue_end(m->id);
		return 0;
	}
	return -1;
}

static void
ctl_flush(void)
{
	if (singletons[CHILD_QUEUED] != NULL)
		send_simple(singletons[CHILD_QUEUED], MSG_QUEUED_FLUSH);
}

static void
ctl_reload(void)
{
	if (!stopping)
		reload();
}

static void
ctl_stop(void)
{
	begin_stop();
}

static void
ctl_status(char *buf, size_t size)
{
	struct child *c;
	int smtpd = 0, busy = 0;
	size_t len;

	snprintf(buf, size, "ternd pid %ld %s, configuration %s\n",
	    (long)getpid(), stopping ? "stopping" : "running", config_path);
	TAILQ_FOREACH(c, &children, entry) {
		len = strlen(buf);
		if (c->kind == CHILD_SMTPD) {
			smtpd++;
			busy += c->busy;
			continue;
		}
		snprintf(buf + len, size - len, "tern-%s pid %ld%s\n",
		    child_name(c->kind), (long)c->pid,
		    c->kind == CHILD_SMTPD_POOL ? " (pool)" : "");
	}
	len = strlen(buf);
	snprintf(buf + len, size - len, "tern-smtpd %d processes, %d busy\n",
	    smtpd, busy);
}

static void
ctl_stats(char *buf, size_t size)
{
	master_stats_format(&mstats, buf, size);
}

static int
ctl_queue_ask(uint32_t client, uint32_t type, const struct msg_queue_admin *a)
{
	struct ipc_msg m;

	if (singletons[CHILD_QUEUED] == NULL)
		return -1;
	if (type == MSG_MASTER_QUEUE_ADMIN) {
		if (msg_encode(&m, type, client, a) != 0)
			return -1;
	} else
		msg_encode_empty(&m, type, client);
	ipc_conn_queue(&singletons[CHILD_QUEUED]->conn, &m);
	return 0;
}

static const struct control_ops control_ops = {
	ctl_flush, ctl_reload, ctl_stop, ctl_status, ctl_stats, ctl_queue_ask
};

/* admin_group_resolve - tell the control socket who tern_admin_group is */
static void
admin_group_resolve(void)
{
	struct group *gr = getgrnam(set.tern_admin_group);

	if (gr == NULL)
		log_info("tern_admin_group %s does not exist: only root "
		    "administers tern", set.tern_admin_group);
	control_admin_group(gr != NULL ? gr->gr_gid : 0, gr != NULL);
}

static void
main_loop(void)
{
	struct pollfd *pfd = NULL;
	struct child **map = NULL;
	int *ready = NULL;
	size_t cap = 0;
	time_t last_expire = 0;

	for (;;) {
		struct child *c;
		size_t n = 1, nctl;
		time_t now = time(NULL);

		handle_signals();
		if (now != last_expire) {
			master_clients_expire(&clients,
			    set.smtpd_client_rate_time_unit,
			    set.smtpd_auth_failure_window, now);
			last_expire = now;
		}
		supervise();
		if (stopping) {
			if (TAILQ_EMPTY(&children))
				break;
			stop_progress();
		}
		TAILQ_FOREACH(c, &children, entry)
			if (ipc_conn_flush(&c->conn) < 0)
				c->retired = 1;
		TAILQ_FOREACH(c, &children, entry)
			n++;
		n += control_pollfds();
		if (n > cap) {
			cap = n * 2;
			pfd = xreallocarray(pfd, cap, sizeof(*pfd));
			map = xreallocarray(map, cap, sizeof(*map));
			ready = xreallocarray(ready, cap, sizeof(*ready));
		}
		pfd[0].fd = sigpipe_fds[0];
		pfd[0].events = POLLIN;
		n = 1;
		TAILQ_FOREACH(c, &children, entry) {
			pfd[n].fd = c->conn.fd;
			pfd[n].events = POLLIN |
			    (ipc_conn_pending(&c->conn) ? POLLOUT : 0);
			map[n++] = c;
		}
		nctl = control_fill(pfd + n);
		if (poll(pfd, (nfds_t)(n + nctl), 1000) < 0 && errno != EINTR)
			fatal("poll");
		for (size_t i = 1; i < n; i++)
			ready[i] = (pfd[i].revents &
			    (POLLIN | POLLHUP | POLLERR)) != 0;
		children_input(map + 1, ready + 1, n - 1);
		control_events(pfd + n, nctl);
		children_free_now();
	}
	children_free_now();
	free(pfd);
	free(map);
	free(ready);
}

static void
usage(void)
{
	fprintf(stderr, "usage: ternd [-dnv] [-c config]\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	struct pidfh *pfh;
	int ready_fd = -1;
	char pidpath[PATH_MAX];
	int ch, check = 0, problems = 0;
	uid_t quid, tuid;
	gid_t qgid, dgid, tgid;

	while ((ch = getopt(argc, argv, "c:dnv")) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'd':
			foreground = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	/* daemon() moves to "/", and children get this path too. */
	static char abs_config[PATH_MAX];
	if (config_path[0] != '/' && realpath(config_path, abs_config) != NULL)
		config_path = abs_config;
	if (check)
		return check_config();

	if (settings_load(&set, config_path, 0, report_stderr, &problems) != 0)
		return 1;
	log_init("master", foreground);
	log_also_stderr(1);
	log_set_verbose(verbose);
	quid = geteuid();
	qgid = getegid();
	if (geteuid() == 0 && privsep_user(set.tern_queue_user, &quid, &qgid) < 0)
		fatalx("tern_queue_user %s does not exist", set.tern_queue_user);
	tuid = geteuid();
	tgid = getegid();
	if (geteuid() == 0 && privsep_user(set.tern_user, &tuid, &tgid) < 0)
		fatalx("tern_user %s does not exist", set.tern_user);
	if (geteuid() != 0)
		log_warn("not started as root: every process runs as uid %ld, "
		    "without privilege separation or chroot", (long)geteuid());
	dgid = qgid;
	if (geteuid() == 0 && privsep_group(set.setgid_group, &dgid) < 0)
		log_warn("setgid_group %s does not exist: only root can submit "
		    "mail with sendmail (create it: groupadd --system %s)",
		    set.setgid_group, set.setgid_group);
	fd_limit_apply(1);
	if (master_spool_create(set.spool_dir, quid, qgid, dgid, tuid,
	    tgid) < 0)
		fatalx("cannot set up the spool %s", set.spool_dir);
	snprintf(pidpath, sizeof(pidpath), "%s/run/ternd.pid", set.spool_dir);
	if ((pfh = pidfile_open(pidpath, 0644, NULL)) == NULL) {
		if (errno == EEXIST)
			fatalx("already running (see %s)", pidpath);
		fatal("pid file %s", pidpath);
	}
	/* A bad key must stop the start, not every smtpd at its start. */
	if (tls_server_check(&set, check_report, &problems) > 0)
		fatalx("TLS is not usable (see above)");
	if ((nlisteners = master_listen_open(&set, listeners)) < 0)
		fatalx("cannot open the listening sockets");
	listen_kinds[0] = '\0';
	for (int i = 0; i < nlisteners; i++) {
		if (i > 0)
			strlcat(listen_kinds, ",", sizeof(listen_kinds));
		strlcat(listen_kinds, listeners[i].kind, sizeof(listen_kinds));
	}
	if (!foreground && (ready_fd = master_detach()) < 0)
		fatal("fork");
	log_also_stderr(0);
	pidfile_write(pfh);
	if (ready_fd >= 0)
		master_detach_ready(ready_fd);
	/* The smtpd pool forks its workers twice (smtpd_pool.c) so that
	 * they become ours: reaped here, their ends logged like any
	 * daemon's. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fatal("prctl");
	signals_setup();
	master_clients_init(&clients, CLIENT_TABLE_MAX, arc4random());
	mstats.started = time(NULL);
	admin_group_resolve();
	control_open(set.spool_dir, &control_ops);
	for (int i = 0; i < nlisteners; i++)
		log_info("listening on %s (%s)", listeners[i].where,
		    listeners[i].kind);
	log_info("daemon started -- version %s, configuration %s",
	    PACKAGE_VERSION, config_path);
	spawn(CHILD_LOOKUPD);
	spawn(CHILD_QUEUED);
	spawn(CHILD_DELIVERD);
	spawn(CHILD_DELIVERD_SMTP);
	/* Only while local mail goes to an LMTP server; one set by a reload
	 * is started by supervise(). */
	if (set.mailbox_transport[0] != '\0')
		spawn(CHILD_DELIVERD_LMTP);
	if (nlisteners > 0)
		spawn(CHILD_SMTPD_POOL);
	main_loop();
	control_close();
	pidfile_remove(pfh);
	log_info("daemon stopped");
	return 0;
}
