/*
 * deliverd - the one interface between tern-deliverd's process skeleton
 * (deliverd.c) and its transports (transport_NAME.c, one file each).
 *
 * The skeleton owns the process: start-up, the privilege handling the
 * transport asks for, the channel to ternd (stop, reload), the channel to
 * queued (jobs in, results out), the signal self-pipe, reaping children,
 * and the poll loop.  A transport implements only its verbs, in a
 * struct transport_ops: it takes the jobs queued sends, registers the
 * descriptors it wants to wait on, acts on their events and on its
 * children's exits, and says whether it still holds jobs.  It never reads
 * the channels of ternd or queued itself, and sends to queued only
 * through deliverd_queued_send().
 *
 * One turn of the loop: reap children (reaped), ask the transport to
 * start what is due and name its descriptors (poll), send pending
 * results to queued, leave if stopping and nothing is held (busy, then
 * stop), wait, then hand out what came: jobs (job), ternd's requests,
 * the transport's descriptors (events).  The transport may free what an
 * events argument points to only in its own poll or events verbs, never
 * in reaped, so a registered argument stays valid for the whole turn.
 */
#ifndef TERN_DELIVERD_H
#define TERN_DELIVERD_H

#include <sys/types.h>

#include "ipc.h"
#include "settings.h"

/* Who the transport runs as once set up. */
enum transport_privilege {
	TRANSPORT_ROOT,		/* stays root: forks children that switch to
				   each mailbox owner for good */
	TRANSPORT_CHROOT,	/* tern_user, chrooted to spool_dir/ROOT
				   (transport_ops.root) unless setup calls
				   deliverd_chroot_skip */
};

/* The verbs of a transport. */
struct transport_ops {
	const char	*name;		/* as in "tern-deliverd -t NAME" */
	enum transport_privilege privilege;
	/* TRANSPORT_CHROOT: the chroot, a directory under spool_dir
	 * (spool_layout.h); NULL: "empty" */
	const char	*root;
	/* setup - privileged preparation (keys, maps, resolver), before
	 * the skeleton applies privilege and before any job */
	void	(*setup)(void);
	/* ready - after the privilege is applied, before any job (files
	 * inside the chroot are opened here); NULL: nothing to do */
	void	(*ready)(void);
	/* job - one frame from queued: decode, check, keep it, or answer
	 * it as done at once; m is freed by the caller */
	void	(*job)(struct ipc_msg *m);
	/* poll - start what is due, add each descriptor to wait on with
	 * deliverd_poll_add; returns ms until its next timer, -1 none */
	int	(*poll)(void);
	/* events - revents of a descriptor registered with arg */
	void	(*events)(void *arg, short revents);
	/* reaped - child pid ended with wstatus; frees nothing */
	void	(*reaped)(pid_t pid, int wstatus);
	/* busy - true while it holds jobs it must finish before exiting */
	int	(*busy)(void);
	/* reload - the configuration was reread; NULL: nothing to do */
	void	(*reload)(void);
	/* stop - the loop is over: end idle children, release the rest */
	void	(*stop)(void);
};

/* The transports, by name. */
extern const struct transport_ops local_transport_ops;
extern const struct transport_ops smtp_transport_ops;
extern const struct transport_ops lmtp_transport_ops;

/* --- what the skeleton offers its transport ------------------------------ */

/* deliverd_settings - the current configuration (the same object after a
 * reload, with new contents) */
const struct settings *deliverd_settings(void);
/* deliverd_stopping - true once stopping: start no new work */
int deliverd_stopping(void);
/* deliverd_queued_send - queue m for queued (takes m; dropped when queued
 * is gone) */
void deliverd_queued_send(struct ipc_msg *m);
/* deliverd_chroot_skip - from a TRANSPORT_CHROOT transport's setup: run
 * as tern_user without the chroot, for the reason why (logged) */
void deliverd_chroot_skip(const char *why);
/* deliverd_chrooted - the directory the process is chrooted to, or NULL */
const char *deliverd_chrooted(void);
/* deliverd_poll_add - wait on fd for events this turn; events() gets arg */
void deliverd_poll_add(int fd, short events, void *arg);

/*
 * A child the transport forks calls deliverd_signals_child()
 * (deliverd_signals.h) first, and closes DAEMON_FD_MASTER and
 * DAEMON_FD_QUEUED, or every descriptor it does not need.
 */

#endif
