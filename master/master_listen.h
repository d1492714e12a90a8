/*
 * master_listen - the listening sockets ternd binds and hands to smtpd.
 */
#ifndef TERN_MASTER_LISTEN_H
#define TERN_MASTER_LISTEN_H

#include "daemon.h"
#include "settings.h"

struct listener {
	int		 fd;
	const char	*kind;		/* "smtp" or "submission" */
	char		 where[300];	/* as configured, for logs */
};

/*
 * master_listen_open - bind every entry of smtp_listen (kind "smtp") and
 * submission_listen ("submission"); non-blocking, close-on-exec.
 * Returns the number opened into ls (at most DAEMON_MAX_LISTEN), or -1
 * after logging the first failure.
 */
int master_listen_open(const struct settings *s, struct listener *ls);

#endif
