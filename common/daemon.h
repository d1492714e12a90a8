/*
 * daemon - what every child of ternd shares at start-up: its command line,
 * the descriptors ternd hands it, and the configuration.
 *
 * ternd starts each child with fork + execve of $daemon_directory/tern-NAME
 * and this descriptor layout, so a child never opens its channels itself.
 */
#ifndef TERN_DAEMON_H
#define TERN_DAEMON_H

#include "settings.h"

#define DAEMON_FD_MASTER	3	/* socketpair with ternd */
#define DAEMON_FD_QUEUED	4	/* smtpd, deliverd: channel to queued */
#define DAEMON_FD_LOOKUPD	5	/* smtpd, queued: channel to lookupd */
#define DAEMON_FD_LISTEN	6	/* smtpd: first listening socket */
#define DAEMON_MAX_LISTEN	32

struct daemon_opts {
	const char	*config_path;
	int		 foreground;	/* -d: log to stderr */
	int		 verbose;	/* -v */
	const char	*listen_kinds;	/* -L: "smtp,submission,..." per fd */
	const char	*transport;	/* -t: deliverd transport name */
	int		 busy_responder; /* -b: smtpd as the busy responder */
	int		 pool;		/* -z: smtpd as the pool's parent,
					   forking its workers */
};

/*
 * daemon_init - parse "-c FILE [-bdvz] [-L kinds] [-t transport]",
 * start logging as NAME and load the settings into s (fatal on any
 * problem: ternd has already checked the file).  Ignores SIGPIPE.
 */
void daemon_init(int argc, char **argv, const char *name,
    struct daemon_opts *o, struct settings *s);

/* daemon_reload - reread the configuration into s; keeps s on error */
int daemon_reload(const struct daemon_opts *o, struct settings *s);

#endif
