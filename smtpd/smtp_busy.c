/*
 * smtp_busy - the busy responder.  See smtp_busy.h.
 *
 * Racing the pool is harmless: when a pool process becomes idle just as
 * the responder is switched off, both may accept; a client refused in
 * that instant retries like any client that got 421.  The responder polls
 * the listeners only while on, so it adds nothing to the thundering herd
 * of idle pool processes the rest of the time.
 */
#include "config.h"

#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "daemon_channel.h"
#include "log.h"
#include "msg.h"
#include "msg_codec.h"
#include "smtp_busy.h"
#include "smtp_limits.h"

/* Connections taken from one listener per wakeup, so that ternd's
 * messages are not starved during a flood. */
#define BUSY_ACCEPT_BATCH	64

/* What ternd has said to the busy responder. */
struct busy_state {
	int	on;		/* refusing connections */
	int	stop;
};

/* busy_master_stop - MSG_MASTER_STOP from ternd */
static void
busy_master_stop(void *arg)
{
	struct busy_state *st = arg;

	st->stop = 1;
}

/* busy_master_mode - MSG_MASTER_BUSY_MODE switches refusing on or off */
static int
busy_master_mode(void *arg, struct ipc_msg *m)
{
	struct busy_state *st = arg;
	struct msg_switch mode;
	const char *why;

	if (m->type != MSG_MASTER_BUSY_MODE)
		return DAEMON_CHANNEL_UNEXPECTED;
	if (msg_decode(m, MSG_MASTER_BUSY_MODE, &mode, &why) == 0)
		st->on = mode.on != 0;
	else
		msg_log_reject("ternd", m, why);
	return DAEMON_CHANNEL_HANDLED;
}

/* Read ternd's messages: 1 to stop, else updates st->on. */
static int
busy_master_input(struct ipc_conn *master, struct busy_state *st)
{
	const struct daemon_channel_ops ops = {
		.stop = busy_master_stop, .other = busy_master_mode, .arg = st,
	};

	return daemon_channel_read(master, &ops) != DAEMON_CHANNEL_OK ||
	    st->stop;
}

/* Refuse whatever waits on one listener; the number refused. */
static unsigned long
busy_refuse_batch(int lfd, int silent)
{
	unsigned long refused = 0;

	for (int i = 0; i < BUSY_ACCEPT_BATCH; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINVAL)
				break;	/* shut down: the hangup ends the loop */
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != ECONNABORTED && errno != EINTR)
				log_warn("accept: %s", strerror(errno));
			break;
		}
		if (!silent)
			smtp_limits_refuse(fd, SMTP_BUSY_REPLY);
		close(fd);
		refused++;
	}
	return refused;
}

/* smtp_busy_run - refuse connections while ternd says the pool is full */
void
smtp_busy_run(struct ipc_conn *master, int nlisten, const int *silent)
{
	struct pollfd pfd[1 + DAEMON_MAX_LISTEN];
	struct busy_state st = { 0, 0 };
	unsigned long refused = 0;

	for (;;) {
		int n, was_on = st.on;

		pfd[0].fd = master->fd;
		pfd[0].events = POLLIN;
		for (int i = 0; i < nlisten; i++) {
			pfd[1 + i].fd = DAEMON_FD_LISTEN + i;
			pfd[1 + i].events = POLLIN;
		}
		n = poll(pfd, (nfds_t)(1 + (st.on ? nlisten : 0)), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (pfd[0].revents && busy_master_input(master, &st))
			break;
		if (was_on && st.on) {
			/* A listener shut down by ternd: it is stopping. */
			for (int i = 0; i < nlisten; i++)
				if (pfd[1 + i].revents & (POLLHUP | POLLERR))
					return;
			for (int i = 0; i < nlisten; i++)
				if (pfd[1 + i].revents & POLLIN)
					refused += busy_refuse_batch(
					    DAEMON_FD_LISTEN + i, silent[i]);
		}
		if (was_on && !st.on && refused > 0) {
			log_info("busy: refused %lu connection%s with 421 while "
			    "every smtpd process was busy", refused,
			    refused == 1 ? "" : "s");
			refused = 0;
		}
	}
}
