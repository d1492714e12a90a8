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
#include "log.h"
#include "msg.h"
#include "msg_codec.h"
#include "smtp_busy.h"
#include "smtp_limits.h"

/* Connections taken from one listener per wakeup, so that ternd's
 * messages are not starved during a flood. */
#define BUSY_ACCEPT_BATCH	64

/* Read ternd's messages: 1 to stop, else updates *on. */
static int
busy_master_input(struct ipc_conn *master, int *on)
{
	struct msg_switch mode;
	struct ipc_msg m;
	ssize_t n = ipc_conn_read(master);
	const char *why;
	int r, stop = 0;

	if (n == 0 || (n < 0 && errno != EAGAIN))
		return 1;
	while ((r = ipc_conn_next(master, &m)) == 1) {
		switch (m.type) {
		case MSG_MASTER_BUSY_MODE:
			if (msg_decode(&m, MSG_MASTER_BUSY_MODE, &mode,
			    &why) == 0)
				*on = mode.on != 0;
			else
				msg_log_reject("ternd", &m, why);
			break;
		case MSG_MASTER_STOP:
		case MSG_MASTER_RELOAD:
			if (msg_decode_empty(&m, m.type, &why) != 0)
				msg_log_reject("ternd", &m, why);
			else if (m.type == MSG_MASTER_STOP)
				stop = 1;
			break;
		default:
			msg_log_reject("ternd", &m, "unexpected type");
		}
		ipc_msg_free(&m);
	}
	return stop || r < 0;
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
	unsigned long refused = 0;
	int on = 0;

	for (;;) {
		int n, was_on = on;

		pfd[0].fd = master->fd;
		pfd[0].events = POLLIN;
		for (int i = 0; i < nlisten; i++) {
			pfd[1 + i].fd = DAEMON_FD_LISTEN + i;
			pfd[1 + i].events = POLLIN;
		}
		n = poll(pfd, (nfds_t)(1 + (on ? nlisten : 0)), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (pfd[0].revents && busy_master_input(master, &on))
			break;
		if (was_on && on) {
			/* A listener shut down by ternd: it is stopping. */
			for (int i = 0; i < nlisten; i++)
				if (pfd[1 + i].revents & (POLLHUP | POLLERR))
					return;
			for (int i = 0; i < nlisten; i++)
				if (pfd[1 + i].revents & POLLIN)
					refused += busy_refuse_batch(
					    DAEMON_FD_LISTEN + i, silent[i]);
		}
		if (was_on && !on && refused > 0) {
			log_info("busy: refused %lu connection%s with 421 while "
			    "every smtpd process was busy", refused,
			    refused == 1 ? "" : "s");
			refused = 0;
		}
	}
}
