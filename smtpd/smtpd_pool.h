/*
 * smtpd_pool - the parent of the smtpd workers ("tern-smtpd -z").
 */
#ifndef TERN_SMTPD_POOL_H
#define TERN_SMTPD_POOL_H

#include "ipc.h"

/*
 * smtpd_pool_run - serve ternd's MSG_MASTER_SPAWN requests on master
 * (descriptor DAEMON_FD_MASTER), forking one worker for each, until ternd
 * says stop or goes away (then it exits).  Returns only in a new worker,
 * with the worker's channels in place at DAEMON_FD_MASTER,
 * DAEMON_FD_QUEUED and DAEMON_FD_LOOKUPD and master re-initialized on the
 * first: the caller then runs the worker's accept loop.
 */
void smtpd_pool_run(struct ipc_conn *master);

#endif
