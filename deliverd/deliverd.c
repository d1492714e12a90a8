/*
 * deliverd - the delivery process: the skeleton every transport runs in
 * (deliverd.h says what a transport implements).
 *
 * ternd starts "tern-deliverd -t NAME" with its channel to ternd on fd 3
 * and to queued on fd 4.  This file picks the transport by NAME, lets it
 * prepare, applies the privilege it asks for (root stays root only for a
 * transport that forks children which become each mailbox owner), and
 * runs the poll loop: jobs from queued go to the transport, results from
 * it go to queued, ternd's STOP and RELOAD and SIGTERM are handled here.
 * A chrooted transport cannot reread its files on RELOAD: it stops as
 * below, and ternd's restart reads them afresh.
 *
 * Stopping: no new jobs are read (queued retries them), the transport
 * finishes the ones it holds, the results are sent, then the process
 * exits.  Without ternd nobody would restart us, so a lost channel to
 * ternd stops us too; a lost channel to queued leaves nobody to report
 * to.  A frame that breaks either stream ends the process (exit 1) for
 * ternd to restart; a frame that merely does not decode is the
 * transport's to reject.
 */
#include "config.h"

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "daemon_channel.h"
#include "deliverd.h"
#include "deliverd_signals.h"
#include "ipc.h"
#include "log.h"
#include "privsep.h"
#include "xmalloc.h"

/* The descriptors of one turn: the skeleton's three, then the transport's. */
#define POLL_SIG	0
#define POLL_MASTER	1
#define POLL_QUEUED	2
#define POLL_FIRST	3

static const struct transport_ops *transports[] = {
	&local_transport_ops,
	&smtp_transport_ops,
	&lmtp_transport_ops,
};

static const struct transport_ops *ops;
static struct settings settings;
static struct daemon_opts opts;
static struct ipc_conn master_conn, queued_conn;
static int queued_alive = 1, master_alive = 1, stopping;
static int sig_fd = -1;		/* deliverd_signals_setup() */
static const char *chroot_skip;	/* deliverd_chroot_skip() */
static char chroot_dir[1100];	/* "" until chrooted */
static struct pollfd *pfd;
static void **pfd_arg;
static size_t npfd, pfd_cap;

/* deliverd_settings - the configuration, reloaded in place */
const struct settings *
deliverd_settings(void)
{
	return &settings;
}

/* deliverd_stopping - true once a stop was asked for */
int
deliverd_stopping(void)
{
	return stopping;
}

/* deliverd_queued_send - queue a frame for queued while it is there */
void
deliverd_queued_send(struct ipc_msg *m)
{
	if (queued_alive)
		ipc_conn_queue(&queued_conn, m);
	else
		ipc_msg_free(m);
}

/* deliverd_chroot_skip - no chroot for this transport, and why */
void
deliverd_chroot_skip(const char *why)
{
	chroot_skip = why;
}

/* deliverd_chrooted - where we are chrooted, or NULL */
const char *
deliverd_chrooted(void)
{
	return chroot_dir[0] != '\0' ? chroot_dir : NULL;
}

/* deliverd_poll_add - one more descriptor to wait on this turn */
void
deliverd_poll_add(int fd, short events, void *arg)
{
	if (npfd == pfd_cap) {
		pfd_cap = pfd_cap ? pfd_cap * 2 : 16;
		pfd = xreallocarray(pfd, pfd_cap, sizeof(*pfd));
		pfd_arg = xreallocarray(pfd_arg, pfd_cap, sizeof(*pfd_arg));
	}
	pfd[npfd].fd = fd;
	pfd[npfd].events = events;
	pfd[npfd].revents = 0;
	pfd_arg[npfd++] = arg;
}

/* deliverd_nonblock - make fd non-blocking */
static void
deliverd_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		fatal("fcntl");
}

/* deliverd_master_stop - MSG_MASTER_STOP from ternd */
static void
deliverd_master_stop(void *arg)
{
	(void)arg;
	stopping = 1;
}

/* deliverd_master_reload - MSG_MASTER_RELOAD: reread, tell the transport */
static void
deliverd_master_reload(void *arg)
{
	(void)arg;
	if (chroot_dir[0] != '\0') {
		/*
		 * tern.conf, the CA certificates and the maps that the
		 * transport read before its chroot are out of its reach
		 * now, so it cannot reread them in place: it finishes the
		 * jobs it holds (new ones stay with queued) and exits, and
		 * ternd starts a fresh process that reads them all.
		 */
		log_info("reload: finishing the jobs held, then restarting "
		    "to read the new configuration");
		stopping = 1;
		return;
	}
	if (daemon_reload(&opts, &settings) != 0) {
		log_warn("reload failed; keeping the old configuration");
		return;
	}
	if (ops->reload != NULL)
		ops->reload();
}

/* deliverd_master_input - STOP and RELOAD from ternd */
static void
deliverd_master_input(void)
{
	static const struct daemon_channel_ops chops = {
		.stop = deliverd_master_stop, .reload = deliverd_master_reload,
	};

	switch (daemon_channel_read(&master_conn, &chops)) {
	case DAEMON_CHANNEL_OK:
		break;
	case DAEMON_CHANNEL_MALFORMED:
		log_warn("malformed frame from ternd");
		exit(1);
	default:
		/* Without ternd nobody would restart us: finish and leave. */
		master_alive = 0;
		stopping = 1;
		break;
	}
}

/* deliverd_queued_input - read frames from queued; each is a job */
static void
deliverd_queued_input(void)
{
	struct ipc_msg m;
	ssize_t n;
	int rc;

	n = ipc_conn_read(&queued_conn);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == 0)
			log_info("queued closed its channel; stopping");
		else
			log_warn("queued channel: %s", strerror(errno));
		queued_alive = 0;
		stopping = 1;
		return;
	}
	while ((rc = ipc_conn_next(&queued_conn, &m)) == 1) {
		ops->job(&m);
		ipc_msg_free(&m);
	}
	/* A broken frame leaves the stream unreadable: ternd restarts us. */
	if (rc == -1) {
		log_warn("malformed frame from queued");
		exit(1);
	}
}

/* deliverd_queued_flush - send pending results; a broken channel stops us */
static void
deliverd_queued_flush(void)
{
	if (!queued_alive || !ipc_conn_pending(&queued_conn))
		return;
	if (ipc_conn_flush(&queued_conn) == -1) {
		log_warn("queued channel: %s", strerror(errno));
		queued_alive = 0;
		stopping = 1;
	}
}

/* deliverd_reap - every exited child to the transport */
static void
deliverd_reap(void)
{
	pid_t pid;
	int wstatus;

	for (;;) {
		pid = waitpid(-1, &wstatus, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		ops->reaped(pid, wstatus);
	}
}

/* deliverd_idle - stopping, nothing held, every result sent */
static int
deliverd_idle(void)
{
	return stopping && !ops->busy() &&
	    (!queued_alive || !ipc_conn_pending(&queued_conn));
}

/* deliverd_dispatch - hand out what poll found */
static void
deliverd_dispatch(void)
{
	short qrev = pfd[POLL_QUEUED].revents;
	size_t i;

	if (pfd[POLL_SIG].revents & POLLIN) {
		if (deliverd_signals_read())
			stopping = 1;
	}
	/* Jobs sent before a STOP are taken: queued counts on them. */
	if ((qrev & (POLLIN | POLLHUP | POLLERR)) && !stopping)
		deliverd_queued_input();
	else if ((qrev & (POLLHUP | POLLERR)) && !(qrev & POLLOUT))
		queued_alive = 0;
	if (pfd[POLL_MASTER].revents & (POLLIN | POLLHUP | POLLERR))
		deliverd_master_input();
	for (i = POLL_FIRST; i < npfd; i++)
		if (pfd[i].revents != 0)
			ops->events(pfd_arg[i], pfd[i].revents);
}

/* deliverd_loop - the poll loop; returns when stopped and idle */
static void
deliverd_loop(void)
{
	int timeout;

	for (;;) {
		deliverd_reap();
		npfd = 0;
		deliverd_poll_add(sig_fd, POLLIN, NULL);
		deliverd_poll_add(master_alive ? master_conn.fd : -1, POLLIN,
		    NULL);
		deliverd_poll_add(-1, 0, NULL);
		timeout = ops->poll();
		deliverd_queued_flush();
		if (deliverd_idle())
			return;
		/* Once stopping, new jobs stay unread; queued will retry them. */
		pfd[POLL_QUEUED].fd = queued_alive ? queued_conn.fd : -1;
		pfd[POLL_QUEUED].events = stopping ? 0 : POLLIN;
		if (queued_alive && ipc_conn_pending(&queued_conn))
			pfd[POLL_QUEUED].events |= POLLOUT;
		if (poll(pfd, npfd, timeout) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		deliverd_dispatch();
	}
}

/* deliverd_transport - the transport named by -t (local by default) */
static const struct transport_ops *
deliverd_transport(const char *name)
{
	size_t i;

	if (name == NULL)
		name = "local";
	for (i = 0; i < sizeof(transports) / sizeof(transports[0]); i++)
		if (strcmp(transports[i]->name, name) == 0)
			return transports[i];
	fatalx("transport %s is not served by this program", name);
}

/*
 * deliverd_privilege - become what the transport runs as.  A transport
 * that stays root writes nothing itself: its children switch to each
 * mailbox owner for good before they open anything in the mailbox.
 */
static void
deliverd_privilege(void)
{
	char dir[sizeof(chroot_dir)];

	switch (ops->privilege) {
	case TRANSPORT_ROOT:
		if (geteuid() != 0)
			log_info("not running as root: delivering only to "
			    "mailboxes uid %ld can write", (long)geteuid());
		break;
	case TRANSPORT_CHROOT:
		/* Local time for logs must be known before the chroot
		 * hides it. */
		tzset();
		if (chroot_skip != NULL) {
			log_info("running as %s without a chroot: %s",
			    settings.tern_user, chroot_skip);
			privsep_drop(settings.tern_user, NULL);
			break;
		}
		snprintf(dir, sizeof(dir), "%s/%s", settings.spool_dir,
		    ops->root != NULL ? ops->root : "empty");
		/* Not started as root, nothing is switched (privsep.h). */
		if (geteuid() == 0)
			strlcpy(chroot_dir, dir, sizeof(chroot_dir));
		privsep_drop(settings.tern_user, dir);
		break;
	}
}

/* main - serve jobs from queued until stopped; exit 1 on a bad peer */
int
main(int argc, char **argv)
{
	daemon_init(argc, argv, "deliverd", &opts, &settings);
	ops = deliverd_transport(opts.transport);
	ops->setup();
	deliverd_privilege();
	if (ops->ready != NULL)
		ops->ready();
	sig_fd = deliverd_signals_setup();
	daemon_channel_open(&master_conn);
	deliverd_nonblock(DAEMON_FD_QUEUED);
	ipc_conn_init(&queued_conn, DAEMON_FD_QUEUED);
	deliverd_loop();
	ops->stop();
	log_debug("stopped");
	return 0;
}
