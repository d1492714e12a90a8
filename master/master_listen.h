/*
 * master_listen - the listening sockets ternd binds and hands to smtpd.
 */
#ifndef TERN_MASTER_LISTEN_H
#define TERN_MASTER_LISTEN_H

#include "daemon.h"
#include "settings.h"

struct listener {
	int		 fd;
	const char	*kind;		/* "smtp", "submission", "submissions" */
	char		 where[300];	/* as configured, for logs */
};

/*
 * master_listen_open - bind every entry of smtp_listen (kind "smtp"),
 * submission_listen ("submission") and submissions_listen
 * ("submissions"); non-blocking, close-on-exec.  ternd checks first that
 * TLS is configured when the last two are used (tls_server_check).
 * Returns the number opened into ls (at most DAEMON_MAX_LISTEN), or -1
 * after logging the first failure.
 */
int master_listen_open(const struct settings *s, struct listener *ls);

#endif
