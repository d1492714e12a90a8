/*
 * daemon_channel - read the channel to ternd and dispatch its frames
 * (see daemon_channel.h).  Used by every daemon ternd starts.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>

#include "daemon.h"
#include "daemon_channel.h"
#include "log.h"
#include "msg.h"
#include "msg_codec.h"

/* daemon_channel_open - wrap DAEMON_FD_MASTER, non-blocking */
void
daemon_channel_open(struct ipc_conn *c)
{
	int fl;

	if ((fl = fcntl(DAEMON_FD_MASTER, F_GETFL)) == -1)
		fatalx("no channel to ternd on fd %d", DAEMON_FD_MASTER);
	if (fcntl(DAEMON_FD_MASTER, F_SETFL, fl | O_NONBLOCK) == -1)
		fatal("fd %d", DAEMON_FD_MASTER);
	ipc_conn_init(c, DAEMON_FD_MASTER);
}

/* daemon_channel_peer - a MSG_MASTER_PEER, decoded, to ops->peer */
static void
daemon_channel_peer(struct ipc_msg *m, const struct daemon_channel_ops *ops)
{
	struct msg_peer peer;
	const char *why;

	if (msg_decode(m, MSG_MASTER_PEER, &peer, &why) != 0)
		msg_log_reject("ternd", m, why);
	else
		ops->peer(ops->arg, peer.kind, ipc_msg_take_fd(m));
}

/*
 * daemon_channel_frame - one frame to the daemon; 1 when it said to read
 * no further.
 */
static int
daemon_channel_frame(struct ipc_msg *m, const struct daemon_channel_ops *ops)
{
	const char *why;
	int verdict;

	switch (m->type) {
	case MSG_MASTER_STOP:
	case MSG_MASTER_RELOAD:
		if (msg_decode_empty(m, m->type, &why) != 0)
			msg_log_reject("ternd", m, why);
		else if (m->type == MSG_MASTER_STOP)
			ops->stop(ops->arg);
		else if (ops->reload != NULL)
			ops->reload(ops->arg);
		return 0;
	case MSG_MASTER_PEER:
		if (ops->peer == NULL)
			break;
		daemon_channel_peer(m, ops);
		return 0;
	default:
		if (ops->other == NULL)
			break;
		verdict = ops->other(ops->arg, m);
		if (verdict == DAEMON_CHANNEL_LEAVE)
			return 1;
		if (verdict == DAEMON_CHANNEL_HANDLED)
			return 0;
		break;
	}
	msg_log_reject("ternd", m, "unexpected type");
	return 0;
}

/* daemon_channel_read - read c once and dispatch its whole frames */
int
daemon_channel_read(struct ipc_conn *c, const struct daemon_channel_ops *ops)
{
	ssize_t n;

	n = ipc_conn_read(c);
	if (n == 0)
		return DAEMON_CHANNEL_CLOSED;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR ? DAEMON_CHANNEL_OK : DAEMON_CHANNEL_ERROR;
	return daemon_channel_dispatch(c, ops);
}

/* daemon_channel_dispatch - the whole frames already buffered in c */
int
daemon_channel_dispatch(struct ipc_conn *c,
    const struct daemon_channel_ops *ops)
{
	struct ipc_msg m;
	int rc, leave = 0;

	while (!leave && (rc = ipc_conn_next(c, &m)) == 1) {
		leave = daemon_channel_frame(&m, ops);
		ipc_msg_free(&m);
	}
	if (leave)
		return DAEMON_CHANNEL_LEFT;
	return rc == -1 ? DAEMON_CHANNEL_MALFORMED : DAEMON_CHANNEL_OK;
}
