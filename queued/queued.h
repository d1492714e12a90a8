/*
 * queued - state shared by the queue manager's modules.
 *
 * queued is single-threaded: one poll() loop in queued.c serves ternd,
 * every smtpd, lookupd and deliverd.  Nothing here is touched from a
 * signal handler.
 */
#ifndef TERN_QUEUED_H
#define TERN_QUEUED_H

#include <sys/queue.h>

#include "ipc.h"
#include "queue_store.h"
#include "settings.h"

struct queued_peer {
	struct ipc_conn			 conn;
	int				 kind;	/* enum peer_kind */
	int				 dead;	/* to be freed by the loop */
	TAILQ_ENTRY(queued_peer)	 entry;
};
TAILQ_HEAD(queued_peer_list, queued_peer);

struct queued_ctx {
	struct settings		*set;
	/*
	 * The spool as queued names it: "." after queued chdir()ed into
	 * spool_dir as root, so that paths work whatever the permissions of
	 * the spool's parent directories.
	 */
	const char		*spool;
	struct queue_store	*store;
	int			 store_dirty;	/* changes await queue_store_sync */
	struct queued_peer	*lookupd;	/* NULL until ternd sends one */
	struct queued_peer	*deliverd;	/* NULL until ternd sends one */
	struct queued_peer	*smtp;		/* the smtp deliverd, or NULL */
	struct queued_peer	*lmtp;		/* the lmtp deliverd, or NULL */
	struct queued_peer_list	 peers;
};

extern struct queued_ctx qctx;

/* queued_peer_send - queue m to peer p (flushed by the main loop) */
void queued_peer_send(struct queued_peer *p, struct ipc_msg *m);

/* queued_now - the current time, seconds since the epoch */
uint64_t queued_now(void);

#endif
