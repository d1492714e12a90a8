/*
 * child - fork + execve of tern's daemons with a fixed descriptor layout.
 *
 * Each daemon is a separate program started with execve, never just a
 * fork of ternd: a fresh image means fresh address-space randomization
 * per process and no leftover root-only memory in a network-facing one.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "log.h"

static const char *const child_names[CHILD_KINDS] = {
	"lookupd", "queued", "deliverd", "deliverd", "deliverd", "smtpd",
	"smtpd"
};

/* child_name - the daemon's short name */
const char *
child_name(enum child_kind kind)
{
	return kind < CHILD_KINDS ? child_names[kind] : "unknown";
}

/* child_spawn - start DAEMONDIR/tern-NAME with fds at 3, 4, ... */
pid_t
child_spawn(const char *daemondir, enum child_kind kind, char *const argv[],
    const int *fds, int nfds)
{
	char path[4096];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/tern-%s", daemondir, child_name(kind));
	if ((pid = fork()) < 0) {
		log_error("fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0)
		return pid;

	/* Child: move every descriptor out of the way first, so that
	 * placing one at 3 + i cannot clobber another still to be placed. */
	int high[64];
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int i = 0; i < 64; i++)
		signal(i + 1, SIG_DFL);
	for (int i = 0; i < nfds && i < 64; i++)
		if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 256)) < 0)
			_exit(127);
	for (int i = 0; i < nfds && i < 64; i++)
		if (dup2(high[i], 3 + i) < 0)
			_exit(127);
	closefrom(3 + nfds);
	execv(path, argv);
	fprintf(stderr, "tern: cannot execute %s: %s\n", path, strerror(errno));
	_exit(127);
}
