/*
 * smtpd_pool - the parent of the smtpd workers ("tern-smtpd -z").
 */
#ifndef TERN_SMTPD_POOL_H
#define TERN_SMTPD_POOL_H

#include "ipc.h"

/* What a process the pool forked is to be. */
enum smtpd_pool_role {
	SMTPD_POOL_WORKER = 0,	/* serves sessions */
	SMTPD_POOL_RESPONDER,	/* the busy responder (smtp_busy.c) */
};

/*
 * smtpd_pool_run - serve ternd's MSG_MASTER_SPAWN and
 * MSG_MASTER_SPAWN_RESPONDER requests on master (descriptor
 * DAEMON_FD_MASTER), forking one process for each, until ternd says stop
 * or goes away (then it exits).  Returns only in a new process, with its
 * ternd channel at DAEMON_FD_MASTER and master re-initialized on it; a
 * worker also has its channels at DAEMON_FD_QUEUED and DAEMON_FD_LOOKUPD.
 * The caller then runs what the returned role says.
 */
enum smtpd_pool_role smtpd_pool_run(struct ipc_conn *master);

#endif
