/*
 * smtpd - the prefork SMTP server process.
 *
 * ternd starts one pool (-z, smtpd_pool.c), which inherits the listening
 * sockets, drops to tern_user inside the empty chroot before it reads a
 * byte from the network, and forks the workers ternd asks for.  Each
 * worker serves one session at a time: whichever idle worker accept()s
 * first gets the client.  It tells ternd when it is
 * busy or idle so that ternd can keep spare processes ready, and it exits
 * when ternd asks it to, or when its channel to queued or lookupd breaks
 * (ternd then starts a replacement with fresh channels).
 *
 * Before serving a client it asks ternd whether the client's address is
 * within its per-client limits (ternd counts across the whole pool), and
 * refuses it with 421 when not.  Started with -b it is instead the busy
 * responder (smtp_busy.c), which refuses every connection while ternd
 * says the pool is full.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <errno.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "daemon.h"
#include "daemon_channel.h"
#include "dns.h"
#include "fsspace.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"
#include "msg_codec.h"
#include "privsep.h"
#include "settings.h"
#include "smtp_busy.h"
#include "smtp_limits.h"
#include "myaddr.h"
#include "smtp_peername.h"
#include "smtp_session.h"
#include "smtpd_pool.h"
#include "tls_server.h"

/* ternd answers from its main loop at once; if it does not, the limit is
 * not worth keeping a client waiting for (see smtpd_client_check). */
#define CLIENT_VERDICT_TIMEOUT_MS	5000
/* How long a worker keeps the pages its last session wrote while it
 * waits for the next client (smtp_session_release): under load the next
 * session comes sooner and reuses them; an idle pool holds none. */
#define SMTPD_IDLE_RELEASE_MS		1000

static struct settings set;
static struct dns_config dnscfg;	/* client name lookups */
static struct fsspace spool_space;	/* queue_minfree at MAIL */
static struct ipc_conn master, queued, lookupd;
static int stop_requested;	/* MSG_MASTER_STOP came during a session */
static uint32_t master_reqid;
static uint32_t client_auth_failures;	/* of the client being served */
static uint32_t verdict_pending;	/* the CLIENT_CONNECT not yet answered
					   (an exempt client's), or 0 */
static char verdict_addr[MSG_CLIENT_ADDR_MAX + 1];	/* its client */
/* The server TLS context, or NULL: made once before the pool forks, and
 * kept (reachable) for the life of every process that has it. */
static SSL_CTX *tls;

/* Tell ternd whether we are serving a client. */
static void
smtpd_status(int busy)
{
	struct msg_switch st = { busy ? 1 : 0 };
	struct ipc_msg m;

	if (msg_encode(&m, MSG_SMTPD_STATUS, 0, &st) != 0)
		fatalx("cannot encode MSG_SMTPD_STATUS");
	if (ipc_send(&master, &m) < 0)
		exit(0);	/* ternd is gone */
}

/*
 * Wait up to CLIENT_VERDICT_TIMEOUT_MS for ternd's answer of type to our
 * request numbered id, into *m (the caller frees it).  Other frames that
 * come first are dropped (a STOP is remembered).  Returns 0, or -1 when
 * ternd did not answer in time; exits when ternd is gone.
 */
static int
smtpd_master_answer(uint32_t id, uint32_t type, struct ipc_msg *m)
{
	for (;;) {
		if (ipc_recv(&master, m, CLIENT_VERDICT_TIMEOUT_MS) < 0) {
			if (errno != ETIMEDOUT && errno != EAGAIN &&
			    errno != EINTR)
				exit(0);
			return -1;
		}
		if (m->type == type && m->id == id)
			return 0;
		if (m->type == MSG_MASTER_STOP)
			stop_requested = 1;
		ipc_msg_free(m);
	}
}

/*
 * Wait for ternd's answer to the MSG_SMTPD_CLIENT_CONNECT numbered id
 * into *cv.  When ternd does not answer in time, or the answer does not
 * decode, *cv allows the client: the per-client limits are a defence
 * against abuse, and failing closed would turn a slow ternd into refused
 * mail for everyone.
 */
static void
smtpd_client_verdict(uint32_t id, const char *addr,
    struct msg_client_verdict *cv)
{
	struct ipc_msg m;
	const char *why;

	cv->verdict = CLIENT_ALLOW;
	cv->count = 0;
	cv->auth_failures = 0;
	if (smtpd_master_answer(id, MSG_MASTER_CLIENT_VERDICT, &m) < 0) {
		log_warn("ternd did not answer about client %s; serving it",
		    addr);
		return;
	}
	if (msg_decode(&m, MSG_MASTER_CLIENT_VERDICT, cv, &why) != 0) {
		msg_log_reject("ternd", &m, why);
		cv->verdict = CLIENT_ALLOW;
		cv->count = 0;
		cv->auth_failures = 0;
	}
	ipc_msg_free(&m);
	/* What came with the answer in the same read stays in master's
	 * buffer: the worker loop dispatches it before it waits again. */
}

/*
 * The client's failed AUTH attempts from earlier sessions, for a session
 * that started without waiting for ternd (an exempt client): its answer
 * is read now, at the first AUTH, and usually has long arrived.
 */
static uint32_t
smtpd_client_auth_failures(void)
{
	struct msg_client_verdict cv;

	if (verdict_pending != 0) {
		smtpd_client_verdict(verdict_pending, verdict_addr, &cv);
		verdict_pending = 0;
		client_auth_failures = cv.auth_failures;
	}
	return client_auth_failures;
}

/*
 * Report a failed AUTH of addr to ternd, which counts failures per client
 * across sessions and workers, and wait until it has counted it: the
 * client hears its 535 only then, so when it comes back at once, to any
 * worker, its failure is already in the count ternd gives that session.
 * A ternd slower than CLIENT_VERDICT_TIMEOUT_MS is not waited for longer.
 */
static void
smtpd_auth_failure_report(const char *addr)
{
	struct msg_client c = { addr };
	struct ipc_msg m;
	uint32_t id;

	(void)smtpd_client_auth_failures();	/* an answer must not be
						   dropped below */
	id = ++master_reqid;
	if (msg_encode(&m, MSG_SMTPD_AUTH_FAILURE, id, &c) != 0) {
		log_warn("cannot report a failed AUTH to ternd");
		return;
	}
	if (ipc_send(&master, &m) < 0)
		exit(0);	/* ternd is gone */
	if (smtpd_master_answer(id, MSG_MASTER_AUTH_COUNTED, &m) < 0) {
		log_warn("ternd did not count a failed AUTH from %s in time",
		    addr);
		return;
	}
	ipc_msg_free(&m);
}

/*
 * Ask ternd about a new client (this also tells it we are busy).  Returns
 * 0 to serve the client, or -1 after refusing it with 421.  A client in
 * smtpd_client_event_limit_exceptions is always served, so its session
 * starts without waiting for the answer, which only matters if it tries
 * AUTH (smtpd_client_auth_failures) and is otherwise read after the
 * session: one round trip to ternd less per connection, as Postfix's
 * smtpd does not ask anvil about such clients at all.
 */
static int
smtpd_client_check(int fd, const struct sockaddr *sa,
    enum smtp_listener_kind kind)
{
	struct msg_client_connect cc;
	struct msg_client_verdict cv;
	struct ipc_msg m;
	char addr[MSG_CLIENT_ADDR_MAX + 1], line[256];
	uint32_t id = ++master_reqid;

	smtp_limits_client_addr(sa, addr, sizeof(addr));
	cc.flags = smtp_limits_exempt(&set, sa) ? CLIENT_F_EXEMPT : 0;
	cc.address = addr;
	client_auth_failures = 0;
	if (msg_encode(&m, MSG_SMTPD_CLIENT_CONNECT, id, &cc) != 0)
		return 0;	/* serve it, as when ternd does not answer */
	if (ipc_send(&master, &m) < 0)
		exit(0);	/* ternd is gone */
	if (cc.flags & CLIENT_F_EXEMPT) {
		verdict_pending = id;
		strlcpy(verdict_addr, addr, sizeof(verdict_addr));
		return 0;
	}
	smtpd_client_verdict(id, addr, &cv);
	client_auth_failures = cv.auth_failures;
	if (cv.verdict == CLIENT_ALLOW)
		return 0;
	log_warn("Connection %s limit exceeded: %u from unknown[%s] for "
	    "service %s", cv.verdict == CLIENT_DENY_RATE ? "rate" :
	    "concurrency", cv.count, addr, kind == LISTENER_SUBMISSIONS ?
	    "submissions" : kind == LISTENER_SUBMISSION ? "submission" :
	    "smtp");
	/* On an implicit-TLS port a plaintext reply would be garbage to the
	 * client, and a handshake is too much work to spend on a refusal. */
	if (kind == LISTENER_SUBMISSIONS)
		return -1;
	snprintf(line, sizeof(line), "421 4.7.0 %s Error: too many "
	    "connections from %s", set.myhostname, addr);
	smtp_limits_refuse(fd, line);
	return -1;
}

/* smtpd_master_stop - MSG_MASTER_STOP from ternd */
static void
smtpd_master_stop(void *arg)
{
	*(int *)arg = 1;
}

/*
 * smtpd_master_other - a frame of smtpd's own types: a CLIENT_VERDICT or
 * AUTH_COUNTED here answers a question smtpd_master_answer stopped
 * waiting for (ternd was slower than CLIENT_VERDICT_TIMEOUT_MS, and the
 * session went on): nothing is owed to it any more, so it is dropped
 * without a warning.
 */
static int
smtpd_master_other(void *arg, struct ipc_msg *m)
{
	(void)arg;
	if (m->type != MSG_MASTER_CLIENT_VERDICT &&
	    m->type != MSG_MASTER_AUTH_COUNTED)
		return DAEMON_CHANNEL_UNEXPECTED;
	return DAEMON_CHANNEL_HANDLED;
}

/*
 * Handle what ternd sent: read the channel first when do_read, else only
 * the frames already in its buffer (left there by the blocking reads of
 * smtpd_client_verdict and of the pool's pool_worker_channels; epoll does
 * not report them).  Returns 1 when we should stop.
 */
static int
smtpd_master_input(int do_read)
{
	int stop = 0;
	const struct daemon_channel_ops ops = {
		.stop = smtpd_master_stop, .other = smtpd_master_other,
		.arg = &stop,
	};

	return (do_read ? daemon_channel_read(&master, &ops) :
	    daemon_channel_dispatch(&master, &ops)) != DAEMON_CHANNEL_OK ||
	    stop;
}

/*
 * smtpd_space_path - the path whose file system smtpd measures for
 * queue_minfree at MAIL FROM, or NULL for no check there.
 *
 * Inside its chroot smtpd sees only SPOOL/empty.  ternd creates that
 * directory inside the spool, so it normally lies on the spool's file
 * system and statvfs("/") after the chroot measures the spool.  This is
 * checked here, before the chroot: an administrator may have mounted
 * something on empty/ (a small read-only tmpfs, say), and then "/" is
 * that other file system.  The check at MAIL is then off (each smtpd
 * says so as it starts); queued's own check, made on the spool before it
 * creates a message file, still refuses the mail, at DATA instead of
 * MAIL.  Without root there is no chroot, and the spool is measured
 * directly.
 */
static const char *
smtpd_space_path(const char *chroot_dir)
{
	struct stat spool, root;

	if (geteuid() != 0)
		return set.spool_dir;
	if (stat(set.spool_dir, &spool) < 0 || stat(chroot_dir, &root) < 0) {
		log_warn("cannot stat %s or %s: %s; queue_minfree is checked "
		    "by queued only", set.spool_dir, chroot_dir,
		    strerror(errno));
		return NULL;
	}
	if (spool.st_dev != root.st_dev) {
		log_warn("%s is not on the file system of %s; queue_minfree "
		    "is checked by queued only (at DATA, not MAIL)",
		    chroot_dir, set.spool_dir);
		return NULL;
	}
	return "/";
}

int
main(int argc, char **argv)
{
	struct daemon_opts opts;
	enum smtp_listener_kind kinds[DAEMON_MAX_LISTEN];
	struct smtp_server srv = { 0 };
	char chroot_dir[4096], tls_err[1024];
	const char *space_path;
	int nlisten = 0;

	daemon_init(argc, argv, "smtpd", &opts, &set);
	if (opts.listen_kinds != NULL) {
		char *list = strdup(opts.listen_kinds), *tok, *save = NULL;

		for (tok = strtok_r(list, ",", &save); tok != NULL &&
		    nlisten < DAEMON_MAX_LISTEN; tok = strtok_r(NULL, ",", &save))
			kinds[nlisten++] = strcmp(tok, "submission") == 0 ?
			    LISTENER_SUBMISSION : strcmp(tok, "submissions") ==
			    0 ? LISTENER_SUBMISSIONS : LISTENER_SMTP;
		free(list);
	}
	/* Local time for Received: and Date: must be known before chroot. */
	tzset();
	snprintf(chroot_dir, sizeof(chroot_dir), "%s/empty", set.spool_dir);
	/* The key is readable by root only: load it before the drop.  ternd
	 * checked it already, so failing here means it changed since. */
	if (set.smtpd_tls_cert_file[0] != '\0' &&
	    (tls = tls_server_ctx_new(&set, tls_err, sizeof(tls_err))) == NULL)
		fatalx("TLS: %s", tls_err);
	/* resolv.conf is not inside the chroot: read it now.  ternd checked
	 * dns_servers, so a bad entry here means the file changed since. */
	if (set.smtpd_peername_lookup && !opts.busy_responder &&
	    dns_config_load(&dnscfg, set.dns_servers.v, set.dns_servers.n,
	    "/etc/resolv.conf", tls_err, sizeof(tls_err)) != 0)
		fatalx("%s", tls_err);
	dnscfg.local_zones = !set.dns_query_local_zones;
	/* With the system's resolver configuration comes the system's order
	 * too: the hosts file first (127.0.0.1 is "localhost" without a DNS
	 * query).  Servers named in dns_servers are asked alone. */
	if (set.smtpd_peername_lookup && !opts.busy_responder &&
	    set.dns_servers.n == 0)
		smtp_peername_hosts_load("/etc/hosts");
	/* Our own addresses, for address literals at RCPT: the listen
	 * names may need resolving, which the chroot would prevent. */
	if (!opts.busy_responder)
		myaddr_load(&set);
	/* The queue file's checksum tables, built once here so that the
	 * pool's workers share them (crc32c.h). */
	crc32c_init();
	space_path = opts.busy_responder ? NULL : smtpd_space_path(chroot_dir);
	privsep_drop(set.tern_user, chroot_dir);
	fsspace_init(&spool_space, space_path);

	daemon_channel_open(&master);
	/* The pool forks the workers and the busy responder; each returns
	 * here with its own channels in place (smtpd_pool.c). */
	if (opts.pool && smtpd_pool_run(&master) == SMTPD_POOL_RESPONDER)
		opts.busy_responder = 1;
	ipc_conn_init(&queued, DAEMON_FD_QUEUED);
	ipc_conn_init(&lookupd, DAEMON_FD_LOOKUPD);
	if (opts.busy_responder) {
		int silent[DAEMON_MAX_LISTEN];

		for (int i = 0; i < nlisten; i++)
			silent[i] = kinds[i] == LISTENER_SUBMISSIONS;
		smtp_busy_run(&master, nlisten, silent);
		return 0;
	}
	memset(&srv, 0, sizeof(srv));
	srv.set = &set;
	srv.queued = &queued;
	srv.lookupd = &lookupd;
	srv.tls = tls;
	srv.master = &master;
	srv.auth_failure_report = smtpd_auth_failure_report;
	srv.dns = set.smtpd_peername_lookup ? &dnscfg : NULL;
	srv.space = space_path != NULL ? &spool_space : NULL;
	srv.next_fd = -1;

	/*
	 * Idle processes wait in epoll with EPOLLEXCLUSIVE on the listening
	 * sockets: the kernel wakes one waiter per connection instead of the
	 * whole pool, which otherwise races to accept() and mostly loses
	 * (a thundering herd that costs more CPU than the sessions).
	 */
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		fatal("epoll_create1");
	for (int i = 0; i < 3 + nlisten; i++) {
		struct epoll_event ev;

		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | (i >= 3 ? EPOLLEXCLUSIVE : 0);
		ev.data.u32 = (uint32_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, i < 3 ? DAEMON_FD_MASTER + i :
		    DAEMON_FD_LISTEN + (i - 3), &ev) < 0)
			fatal("epoll_ctl");
	}
	for (;;) {
		struct epoll_event evs[DAEMON_MAX_LISTEN + 3];
		int n, listener = -1;

		if (smtpd_master_input(0))
			exit(0);
		/* A worker that served a session holds its session
		 * pages until it has waited SMTPD_IDLE_RELEASE_MS for
		 * the next client. */
		n = epoll_wait(ep, evs, DAEMON_MAX_LISTEN + 3,
		    smtp_session_holds_pages() ? SMTPD_IDLE_RELEASE_MS : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		if (n == 0) {
			smtp_session_release();
			continue;
		}
		for (int k = 0; k < n; k++) {
			uint32_t tag = evs[k].data.u32;

			if (tag == 0 && smtpd_master_input(1))
				exit(0);
			/* Unsolicited input or hangup from queued or lookupd:
			 * a restarted peer; leave so ternd can give us fresh
			 * channels. */
			if (tag == 1 || tag == 2)
				exit(0);
			/* ternd shuts the listeners down when it stops. */
			if (tag >= 3 && (evs[k].events & (EPOLLHUP | EPOLLERR)))
				exit(0);
			if (tag >= 3 && listener < 0)
				listener = (int)tag - 3;
		}
		if (listener < 0)
			continue;

		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);
		int fd = accept4(DAEMON_FD_LISTEN + listener,
		    (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINVAL)
				exit(0);	/* shut down: ternd stops */
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != ECONNABORTED && errno != EINTR)
				log_warn("accept: %s", strerror(errno));
			continue;
		}
		/* Replies are collected and flushed once per group (smtp_io):
		 * a flush must not wait for the client's acknowledgement of
		 * the one before.  (A Unix socket listener says no; fine.) */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
		    sizeof(int));
		if (smtpd_client_check(fd, (struct sockaddr *)&ss,
		    kinds[listener]) == 0) {
			srv.auth_failures = client_auth_failures;
			srv.auth_failures_fetch = verdict_pending != 0 ?
			    smtpd_client_auth_failures : NULL;
			smtp_session_run(&srv, fd, (struct sockaddr *)&ss, sslen,
			    kinds[listener]);
		}
		close(fd);
		(void)smtpd_client_auth_failures();	/* an answer still due */
		smtpd_status(0);
		/* A channel to queued or lookupd that broke meanwhile needs
		 * no check of its own here: its hangup is level-triggered in
		 * the epoll set, so the next epoll_wait reports it together
		 * with any listener, and the loop above leaves before it
		 * accepts. */
		if (stop_requested)
			exit(0);
	}
	return 0;
}
