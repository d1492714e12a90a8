/*
 * control - the control socket SPOOL/run/control that ternctl talks to.
 *
 * ternd owns it.  A client sends one request line (control_request.h
 * lists them) and reads the answer until end of file: the first line
 * is "ok" or "error: reason"; for what queued answers (queue, show,
 * hold, release, delete, requeue, flush of some messages, stats,
 * rebuild) it waits for queued's first line, and an "error: " line
 * after "ok" means queued stopped (or timed out) in the middle of its
 * answer, or that queued could not do it to one message.  Who may do what is decided by
 * the peer's credentials (SO_PEERCRED), never by anything the client
 * says.  The socket is served from ternd's poll loop without ever
 * blocking, and nothing a client sends can make ternd exit.
 */
#ifndef TERN_CONTROL_H
#define TERN_CONTROL_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "msg.h"
#include "msg_codec.h"

/* What ternd does for the control socket. */
struct control_ops {
	void	(*flush)(void);
	void	(*reload)(void);
	void	(*stop)(void);
	/* status - text lines for "status" into buf */
	void	(*status)(char *buf, size_t size);
	/* stats - ternd's counters, "name value" lines, into buf */
	void	(*stats)(char *buf, size_t size);
	/* queue_ask - send queued a MSG_MASTER_QUEUE_ADMIN (a) or
	 * MSG_MASTER_QUEUE_REBUILD (a unused) for client (answered line by
	 * line); -1 when queued is not up */
	int	(*queue_ask)(uint32_t client, uint32_t type,
		    const struct msg_queue_admin *a);
};

/* control_open - bind SPOOL/run/control; -1 (logged) on failure */
int control_open(const char *spool, const struct control_ops *ops);
/* control_close - close and unlink the socket, drop every client */
void control_close(void);
/* control_pollfds - how many pollfd slots control_fill needs */
size_t control_pollfds(void);
/* control_fill - the listening socket and the clients into pfd */
size_t control_fill(struct pollfd *pfd);
/* control_events - serve what poll reported in pfd[0..n) */
void control_events(const struct pollfd *pfd, size_t n);
/* control_queue_line - a listing line from queued for client (more: a
 * piece of a line that goes on) */
void control_queue_line(uint32_t client, const char *line, int more);
/* control_admin_group - who else administers: members of gid (have 1),
 * or nobody but root and ternd's user (have 0); at start and reload */
void control_admin_group(gid_t gid, int have);
/* control_queue_end - the listing for client is complete */
void control_queue_end(uint32_t client);
/* control_queue_abort - queued died: fail every client waiting for it */
void control_queue_abort(void);

#endif
