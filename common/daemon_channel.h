/*
 * daemon_channel - the channel every daemon has to ternd (descriptor
 * DAEMON_FD_MASTER): reading it, checking each frame and handing it to
 * the daemon, in one place.
 *
 * ternd sends every daemon MSG_MASTER_STOP and MSG_MASTER_RELOAD, sends
 * lookupd and queued MSG_MASTER_PEER, and some daemons types of their
 * own (queued: flush, queue list, rebuild; the busy responder: its mode;
 * the smtpd pool: spawn).  A daemon says what it does with each in a
 * struct daemon_channel_ops; this module reads what is there, decodes
 * STOP, RELOAD and PEER, rejects (logs and drops) a frame that does not
 * decode or that the daemon does not expect, and reports how the
 * channel is.  What a daemon then does about a closed or broken channel
 * is its own decision, and so is any answer it sends on it.
 *
 * Never: end the process itself, or let a frame that does not decode
 * reach a callback.
 */
#ifndef TERN_DAEMON_CHANNEL_H
#define TERN_DAEMON_CHANNEL_H

#include <stdint.h>

#include "ipc.h"

/* What other() says about a frame of a daemon's own type. */
enum daemon_channel_verdict {
	DAEMON_CHANNEL_UNEXPECTED = 0,	/* not a type it takes: rejected */
	DAEMON_CHANNEL_HANDLED,		/* done (also when it rejected it) */
	DAEMON_CHANNEL_LEAVE,		/* done; read no further frames */
};

/* What a daemon does with the frames from ternd; each gets arg. */
struct daemon_channel_ops {
	/* stop - MSG_MASTER_STOP arrived (checked: no payload) */
	void	(*stop)(void *arg);
	/* reload - MSG_MASTER_RELOAD arrived; NULL: nothing to do */
	void	(*reload)(void *arg);
	/* peer - MSG_MASTER_PEER decoded: a channel of kind (enum
	 * peer_kind) on fd, which the callee now owns; NULL: unexpected */
	void	(*peer)(void *arg, uint32_t kind, int fd);
	/* other - a frame of any other type, not decoded; returns enum
	 * daemon_channel_verdict.  NULL: every other type is unexpected */
	int	(*other)(void *arg, struct ipc_msg *m);
	void	*arg;
};

/* How the channel is after daemon_channel_read. */
enum daemon_channel_status {
	DAEMON_CHANNEL_OK = 0,		/* read what there was; more may come */
	DAEMON_CHANNEL_CLOSED,		/* ternd closed it (end of file) */
	DAEMON_CHANNEL_ERROR,		/* reading failed (errno says why) */
	DAEMON_CHANNEL_MALFORMED,	/* a broken frame: the stream is lost */
	DAEMON_CHANNEL_LEFT,		/* other() said DAEMON_CHANNEL_LEAVE */
};

/*
 * daemon_channel_open - c on DAEMON_FD_MASTER, non-blocking.  Fatal when
 * the descriptor is not open: the daemon was not started by ternd.
 */
void daemon_channel_open(struct ipc_conn *c);

/*
 * daemon_channel_read - read what ternd sent on c (one read, for a poll
 * loop) and hand every whole frame to ops.  Returns enum
 * daemon_channel_status; OK also when nothing was there to read.
 */
int daemon_channel_read(struct ipc_conn *c,
    const struct daemon_channel_ops *ops);

/*
 * daemon_channel_dispatch - hand the whole frames already in c's input
 * buffer to ops, without reading.  For a daemon that also reads c with
 * ipc_recv or ipc_call: what came in the same read as the frame it waited
 * for stays in the buffer, where poll and epoll do not report it, so such
 * a loop calls this before it waits.  Returns enum daemon_channel_status
 * (OK, MALFORMED or LEFT).
 */
int daemon_channel_dispatch(struct ipc_conn *c,
    const struct daemon_channel_ops *ops);

#endif
