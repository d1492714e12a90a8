/*
 * deliverd_signals - the self-pipe the skeleton's poll loop waits on.
 *
 * The handler only writes one byte ('C' for a child, 'T' for a stop);
 * everything else happens in the loop, outside signal context.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "deliverd_signals.h"
#include "log.h"

static int sig_pipe[2] = { -1, -1 };

static void
deliverd_signal(int sig)
{
	int save = errno;
	char c = sig == SIGCHLD ? 'C' : 'T';

	/* A full pipe already holds a wake-up; losing this byte is fine. */
	if (write(sig_pipe[1], &c, 1) == -1)
		errno = save;
	errno = save;
}

/* deliverd_signals_setup - handlers for SIGCHLD, SIGTERM, SIGINT */
int
deliverd_signals_setup(void)
{
	struct sigaction sa;

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		fatal("pipe");
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sa.sa_handler = deliverd_signal;
	if (sigaction(SIGCHLD, &sa, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0)
		fatal("sigaction");
	signal(SIGHUP, SIG_IGN);
	return sig_pipe[0];
}

/* deliverd_signals_read - drain the pipe; 1 when asked to stop */
int
deliverd_signals_read(void)
{
	char buf[64];
	ssize_t n;
	int stop = 0;

	while ((n = read(sig_pipe[0], buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == 'T')
				stop = 1;
	return stop;
}

/* deliverd_signals_child - a forked child keeps neither handlers nor pipe */
void
deliverd_signals_child(void)
{
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	if (sig_pipe[0] >= 0) {
		close(sig_pipe[0]);
		close(sig_pipe[1]);
	}
}
