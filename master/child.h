/*
 * child - the processes ternd starts, watches and restarts.
 */
#ifndef TERN_CHILD_H
#define TERN_CHILD_H

#include <sys/queue.h>
#include <sys/types.h>
#include <time.h>

#include "ipc.h"
#include "msg_codec.h"

enum child_kind {
	CHILD_LOOKUPD = 0,
	CHILD_QUEUED,
	CHILD_DELIVERD,		/* tern-deliverd -t local */
	CHILD_DELIVERD_SMTP,	/* tern-deliverd -t smtp */
	CHILD_DELIVERD_LMTP,	/* tern-deliverd -t lmtp, while
				   mailbox_transport is set */
	CHILD_SMTPD_POOL,	/* tern-smtpd -z: forks the smtpd workers */
	CHILD_SMTPD,		/* an smtpd worker (or -b: busy responder) */
	CHILD_KINDS
};

struct child {
	enum child_kind		 kind;
	pid_t			 pid;
	struct ipc_conn		 conn;		/* ternd's end of fd 3 */
	time_t			 started;
	int			 busy;		/* smtpd: serving a client */
	int			 retired;	/* asked to stop (reload/shrink) */
	int			 responder;	/* smtpd -b: the busy responder;
						   busy = switched on */
	int			 counted;	/* smtpd: client counted in
						   master_clients */
	uint32_t		 spawn_id;	/* smtpd worker: the pool's
						   MSG_MASTER_SPAWN, while its
						   pid (0) is not yet known */
	/* smtpd: its client's address */
	char			 client[MSG_CLIENT_ADDR_MAX + 1];
	TAILQ_ENTRY(child)	 entry;
	int			 freed;		/* off the list, freed at the
						   end of the loop's turn */
	struct child		*next_freed;
};
TAILQ_HEAD(child_list, child);

/* child_name - "smtpd", "queued", ... */
const char *child_name(enum child_kind kind);

/*
 * child_spawn - fork and execve DAEMONDIR/tern-NAME with argv, giving it
 * fds[i] as descriptor 3 + i (nfds of them; fds[0] is its end of the
 * ternd channel).  The parent's copies of fds[] are NOT closed here.
 * Returns the pid, or -1.
 */
pid_t child_spawn(const char *daemondir, enum child_kind kind,
    char *const argv[], const int *fds, int nfds);

#endif
