/*
 * smtp_limits - the limits that keep one client from holding an smtpd
 * process, or the whole pool, at the expense of others.
 *
 * Per connection (smtpd.c, before a session starts): the client's address
 * as ternd counts it, whether it is exempt from per-client limits, and a
 * refusal that never blocks.  Per session (smtp_session.c): a total
 * session deadline (smtpd_session_time_limit), a deadline for each whole
 * command line (smtpd_timeout), the junk-command limit and the delay
 * after too many errors.
 *
 * Nothing here reads from the client; it only sets deadlines on the
 * session's smtp_io and counts what the session reports.
 */
#ifndef TERN_SMTP_LIMITS_H
#define TERN_SMTP_LIMITS_H

#include <sys/socket.h>
#include <stddef.h>

#include "settings.h"
#include "smtp_io.h"

struct smtp_limits {
	const struct settings	*set;
	long long		 session_end_ms;  /* CLOCK_MONOTONIC */
	int			 errors_seen;	  /* errors at the last check */
	int			 junk_base;	  /* junk count at last delivery */
	int			 delivered_seen;  /* deliveries at the last check */
};

/*
 * smtp_limits_client_addr - the text form of the client's address
 * (IPv4-mapped IPv6 shown as IPv4) into buf; "unknown" when it has none.
 */
void smtp_limits_client_addr(const struct sockaddr *sa, char *buf,
    size_t size);

/* smtp_limits_exempt - 1 when sa is in smtpd_client_event_limit_exceptions */
int smtp_limits_exempt(const struct settings *set, const struct sockaddr *sa);

/*
 * smtp_limits_refuse - send line (with CRLF appended) on the fresh
 * non-blocking connection fd and discard whatever the client already
 * sent, without ever waiting: a client that does not take the reply at
 * once loses it.  The caller closes fd.
 */
void smtp_limits_refuse(int fd, const char *line);

/* smtp_limits_start - a session begins now */
void smtp_limits_start(struct smtp_limits *l, const struct settings *set);

/*
 * smtp_limits_arm - limit the following reads and writes of io to
 * seconds from now (0: no limit of its own), never past the end of the
 * session.
 */
void smtp_limits_arm(struct smtp_limits *l, struct smtp_io *io,
    long seconds);

/* smtp_limits_session_over - the session time limit has run out */
int smtp_limits_session_over(const struct smtp_limits *l);

/*
 * smtp_limits_after_command - account one command: errors is the
 * session's error count, junk its running count of NOOP, RSET, VRFY, EXPN
 * and HELP, delivered its count of accepted messages.  Sleeps
 * smtpd_error_sleep_time when the command added an error at or past
 * smtpd_soft_error_limit.  Returns 0, or -1 when the junk-command limit
 * is exceeded and the session must end with 421.
 */
int smtp_limits_after_command(struct smtp_limits *l, int errors, int junk,
    int delivered);

#endif
