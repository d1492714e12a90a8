/*
 * local_child - the local transport's delivery child (see local_child.h).
 *
 * Each delivery happens in a child of the root deliverd that resolves
 * the mailbox, drops to the owner's uid and gid for good, and only then
 * opens anything inside the mailbox.  The child never logs; it reports
 * one line over a pipe, which the parent treats as untrusted.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deliverd_signals.h"
#include "local_child.h"
#include "local_target.h"
#include "maildir.h"
#include "msg.h"

/* local_child_deliver - resolve, become the owner, write the message */
int
local_child_deliver(const struct local_delivery *d, char *err, size_t errsize)
{
	struct local_target t;
	struct stat st;
	int rc;

	rc = local_target_resolve(d->mailbox_base, d->user, &t, err, errsize);
	if (rc != DELIVER_OK)
		return rc;
	if (t.become && local_target_become(&t) != 0) {
		snprintf(err, errsize, "4.3.0 cannot switch to mailbox owner");
		return DELIVER_TEMPFAIL;
	}
	/* A missing home (unmounted, not yet created) is not a lost user. */
	if (stat(t.home, &st) != 0) {
		snprintf(err, errsize, "4.2.0 home directory unavailable: %s",
		    strerror(errno));
		return DELIVER_TEMPFAIL;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsize, "4.2.0 home directory is not a directory");
		return DELIVER_TEMPFAIL;
	}
	return maildir_deliver(t.maildir, d->msgfd, d->body_offset,
	    d->body_size, d->sender, d->address, d->hostname, err, errsize);
}

/*
 * local_child_fds - keep only the queue file (as fd 3) and the result pipe
 * (as fd 4).  The child runs as the mailbox owner, who must not inherit
 * the channels to queued and ternd or other users' queue files.
 */
static void
local_child_fds(int *msgfd, int *pipefd)
{
	int m, p, null;

	m = fcntl(*msgfd, F_DUPFD, 5);
	p = fcntl(*pipefd, F_DUPFD, 5);
	if (m == -1 || p == -1 || dup2(m, 3) == -1 || dup2(p, 4) == -1)
		_exit(111);
	closefrom(5);
	*msgfd = 3;
	*pipefd = 4;
	if ((null = open("/dev/null", O_RDWR)) != -1) {
		dup2(null, 0);
		dup2(null, 1);
		if (null > 2)
			close(null);
	}
}

/* local_child_run - the per-delivery child: deliver, report, exit */
static void __attribute__((noreturn))
local_child_run(const struct local_delivery *d, int pipefd)
{
	struct local_delivery cd = *d;
	char err[LOCAL_ERR_MAX], line[LOCAL_ERR_MAX + 8];
	sigset_t none;
	int rc, n;

	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	local_child_fds(&cd.msgfd, &pipefd);
	/* Belt and braces with the parent's timer: never hang for ever. */
	alarm(LOCAL_CHILD_TIMEOUT + 30);

	err[0] = '\0';
	rc = local_child_deliver(&cd, err, sizeof(err));
	n = snprintf(line, sizeof(line), "%d %s", rc, err);
	if (n < 0)
		_exit(111);
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	/* Shorter than PIPE_BUF, so the parent reads it whole after reaping. */
	if (write(pipefd, line, (size_t)n) != n)
		_exit(111);
	_exit(0);
}

/* local_child_spawn - fork the child for one delivery */
pid_t
local_child_spawn(const struct local_delivery *d, int *resultfd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	if ((pid = fork()) == -1) {
		int e = errno;

		close(p[0]);
		close(p[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		deliverd_signals_child();
		close(p[0]);
		local_child_run(d, p[1]);
	}
	close(p[1]);
	*resultfd = p[0];
	return pid;
}

/* local_child_dsn_ok - "C.x.y" with 1-3 digit x and y and the expected class */
static int
local_child_dsn_ok(const char *s, size_t len, char class)
{
	size_t i = 2, part;

	if (len < 5 || s[0] != class || s[1] != '.')
		return 0;
	for (part = 0; part < 2; part++) {
		size_t start = i;

		while (i < len && isdigit((unsigned char)s[i]) && i - start < 3)
			i++;
		if (i == start)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	return i == len;
}

/* local_child_crash - the 4.3.0 result for a child that did not report */
static int
local_child_crash(int wstatus, char *dsn, size_t dsnsize, char *text,
    size_t textsize, int *crashed)
{
	*crashed = 1;
	strlcpy(dsn, "4.3.0", dsnsize);
	if (WIFSIGNALED(wstatus))
		snprintf(text, textsize, "local delivery process killed by "
		    "signal %d", WTERMSIG(wstatus));
	else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0)
		snprintf(text, textsize, "local delivery process exited with "
		    "status %d", WEXITSTATUS(wstatus));
	else
		snprintf(text, textsize, "local delivery process gave no result");
	return DELIVER_TEMPFAIL;
}

/* local_child_result - decode and check what a reaped child reported */
int
local_child_result(int resultfd, int wstatus, char *dsn, size_t dsnsize,
    char *text, size_t textsize, int *crashed)
{
	static const char classes[] = { '2', '4', '5' };
	char buf[LOCAL_ERR_MAX + 8];
	const char *sp;
	size_t len = 0, i, o;
	ssize_t n;
	int status;

	*crashed = 0;
	if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
		return local_child_crash(wstatus, dsn, dsnsize, text, textsize,
		    crashed);
	while (len < sizeof(buf) - 1) {
		n = read(resultfd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	/* "S x.y.z text": S is the status digit. */
	if (len < 3 || buf[0] < '0' || buf[0] > '2' || buf[1] != ' ')
		return local_child_crash(wstatus, dsn, dsnsize, text, textsize,
		    crashed);
	status = buf[0] - '0';
	sp = memchr(buf + 2, ' ', len - 2);
	if (sp == NULL)
		sp = buf + len;
	if (!local_child_dsn_ok(buf + 2, (size_t)(sp - (buf + 2)),
	    classes[status]) ||
	    (size_t)(sp - (buf + 2)) >= dsnsize)
		return local_child_crash(wstatus, dsn, dsnsize, text, textsize,
		    crashed);
	memcpy(dsn, buf + 2, (size_t)(sp - (buf + 2)));
	dsn[sp - (buf + 2)] = '\0';
	if (*sp == ' ')
		sp++;
	for (i = (size_t)(sp - buf), o = 0; i < len && o + 1 < textsize; i++)
		text[o++] = (buf[i] >= 0x20 && buf[i] < 0x7f) ? buf[i] : '?';
	if (textsize > 0)
		text[o < textsize ? o : textsize - 1] = '\0';
	return status;
}
