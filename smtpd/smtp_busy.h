/*
 * smtp_busy - the busy responder: the one smtpd process ternd keeps
 * beside the pool to refuse connections at once while the pool is full.
 *
 * Without it a client that connects while every smtpd process is busy
 * waits in the listen backlog, silently, until a process is free or its
 * own timeout fires.  ternd switches the responder on (MSG_MASTER_BUSY_MODE
 * 1) when all smtpd_max_procs processes are busy and off when one is idle
 * again; while on, it accepts every waiting connection, sends
 * "421 4.3.2 Service busy, try again later" and closes.
 *
 * It never reads what a client sends (beyond discarding it) and never
 * waits on a client: every client socket is non-blocking and gets one
 * send attempt.
 */
#ifndef TERN_SMTP_BUSY_H
#define TERN_SMTP_BUSY_H

#include "ipc.h"

#define SMTP_BUSY_REPLY	"421 4.3.2 Service busy, try again later"

/*
 * smtp_busy_run - serve as the busy responder on the nlisten listening
 * sockets at DAEMON_FD_LISTEN.. until ternd says stop or goes away.
 * Connections on a listener with silent[i] set (implicit TLS, where a
 * plaintext reply would be garbage) are closed without a reply.
 */
void smtp_busy_run(struct ipc_conn *master, int nlisten, const int *silent);

#endif
