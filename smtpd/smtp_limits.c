/*
 * smtp_limits - per-connection and per-session limits.  See smtp_limits.h.
 *
 * Why a deadline per command line and not only a timeout per read: the
 * read timeout starts again with every byte, so a client that sends one
 * byte every few seconds would keep a command line, and the process
 * serving it, alive forever.  The deadline makes smtpd_timeout the time
 * for the whole line, as Postfix's smtpd_per_record_deadline does.  The
 * session deadline on top of it bounds everything else a patient client
 * could do (endless valid commands, a DATA phase restarted many times).
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtp_limits.h"

static long long
limits_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* smtp_limits_client_addr - the client's address as text */
void
smtp_limits_client_addr(const struct sockaddr *sa, char *buf, size_t size)
{
	const void *a = NULL;
	int af = sa->sa_family;

	if (af == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (af == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		a = &s6->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			a = &s6->sin6_addr.s6_addr[12];
			af = AF_INET;
		}
	}
	if (a == NULL || inet_ntop(af, a, buf, (socklen_t)size) == NULL)
		strlcpy(buf, "unknown", size);
}

/* smtp_limits_exempt - the client is in the exception networks */
int
smtp_limits_exempt(const struct settings *set, const struct sockaddr *sa)
{
	const struct strlist *ex = &set->smtpd_client_event_limit_exceptions;

	if (settings_network_match(ex, sa))
		return 1;
	for (size_t i = 0; i < ex->n; i++)
		if (strcmp(ex->v[i], "$mynetworks") == 0)
			return settings_network_match(&set->mynetworks, sa);
	return 0;
}

/* smtp_limits_refuse - one reply, no waiting, input discarded */
void
smtp_limits_refuse(int fd, const char *line)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf), "%s\r\n", line);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	if (send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* The client is not listening; there is nothing to do. */
	}
	/* Closing a socket with unread input makes the kernel answer with a
	 * reset, which may destroy the reply before the client reads it; so
	 * take what has arrived (without waiting for more) and say we are
	 * done sending first. */
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		continue;
	shutdown(fd, SHUT_WR);
}

/* smtp_limits_start - the session clock starts */
void
smtp_limits_start(struct smtp_limits *l, const struct settings *set)
{
	memset(l, 0, sizeof(*l));
	l->set = set;
	l->session_end_ms = limits_now_ms() +
	    (long long)set->smtpd_session_time_limit * 1000;
}

/* smtp_limits_arm - a deadline for what follows, within the session's */
void
smtp_limits_arm(struct smtp_limits *l, struct smtp_io *io, long seconds)
{
	long long end = l->session_end_ms;

	if (seconds > 0 && limits_now_ms() + seconds * 1000LL < end)
		end = limits_now_ms() + seconds * 1000LL;
	/* smtp_io treats 0 as "no deadline"; an expired session must still
	 * time out at once. */
	io->deadline_ms = end > 0 ? end : 1;
}

/* smtp_limits_session_over - smtpd_session_time_limit has run out */
int
smtp_limits_session_over(const struct smtp_limits *l)
{
	return limits_now_ms() >= l->session_end_ms;
}

/* smtp_limits_after_command - junk limit and error delay */
int
smtp_limits_after_command(struct smtp_limits *l, int errors, int junk,
    int delivered)
{
	const struct settings *set = l->set;

	/* A client that delivers mail is doing real work: RSET between
	 * messages must not add up to a disconnect over a long session. */
	if (delivered != l->delivered_seen) {
		l->delivered_seen = delivered;
		l->junk_base = junk;
	}
	if (errors > l->errors_seen && errors >= set->smtpd_soft_error_limit &&
	    set->smtpd_error_sleep_time > 0) {
		/* Only this client's own process waits: the tarpit costs the
		 * pool one process, which the client holds anyway. */
		struct timespec ts = { .tv_sec = set->smtpd_error_sleep_time };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			continue;
	}
	l->errors_seen = errors;
	return junk - l->junk_base > set->smtpd_junk_command_limit ? -1 : 0;
}
