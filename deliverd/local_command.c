/*
 * local_command - a "|command" delivery (see local_command.h).
 *
 * The command runs in a process group of its own, so that the time
 * limit kills everything it started.  Standard input is fed and its
 * output (stdout and stderr together) read in one poll loop, so that a
 * command that writes much before reading cannot deadlock with us; the
 * whole run has one deadline, never extended by progress.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "local_command.h"
#include "msg.h"
#include "msg_codec.h"
#include "xmalloc.h"

#define CMD_CHUNK	8192
#define CMD_ENV_MAX	16

/* now_ms - a monotonic clock in milliseconds */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* local_command_exit_class - sysexits.h: temporary codes defer */
int
local_command_exit_class(int status, const char **dsn)
{
	switch (status) {
	case 0:
		*dsn = "2.0.0";
		return DELIVER_OK;
	case 71:	/* EX_OSERR */
	case 72:	/* EX_OSFILE */
	case 73:	/* EX_CANTCREAT */
	case 74:	/* EX_IOERR */
	case 75:	/* EX_TEMPFAIL */
		*dsn = "4.3.0";
		return DELIVER_TEMPFAIL;
	case 67:	/* EX_NOUSER */
		*dsn = "5.1.1";
		return DELIVER_PERMFAIL;
	case 77:	/* EX_NOPERM */
		*dsn = "5.7.0";
		return DELIVER_PERMFAIL;
	default:
		*dsn = "5.3.0";
		return DELIVER_PERMFAIL;
	}
}

/* env_add - "NAME=value" into env[*n], value cut at a control char */
static void
env_add(char **env, size_t *n, const char *name, const char *value)
{
	size_t len = strcspn(value, "\r\n");
	char *s;

	if (*n + 1 >= CMD_ENV_MAX)
		return;
	s = xmalloc(strlen(name) + len + 2);
	snprintf(s, strlen(name) + len + 2, "%s=%.*s", name, (int)len, value);
	env[(*n)++] = s;
	env[*n] = NULL;
}

/* command_env - the command's whole environment (the caller frees) */
static char **
command_env(const struct local_command *c)
{
	char **env = xcalloc(CMD_ENV_MAX, sizeof(*env));
	const char *at = strrchr(c->recipient, '@');
	char local[MSG_ADDR_MAX + 1];
	size_t n = 0, llen;

	llen = at != NULL ? (size_t)(at - c->recipient) : strlen(c->recipient);
	if (llen >= sizeof(local))
		llen = sizeof(local) - 1;
	memcpy(local, c->recipient, llen);
	local[llen] = '\0';
	env_add(env, &n, "PATH", "/usr/local/bin:/usr/bin:/bin");
	env_add(env, &n, "SHELL", "/bin/sh");
	env_add(env, &n, "SENDER", c->sender);
	env_add(env, &n, "RECIPIENT", c->recipient);
	env_add(env, &n, "LOCAL", local);
	env_add(env, &n, "DOMAIN", at != NULL ? at + 1 : "");
	env_add(env, &n, "EXTENSION", c->extension != NULL ? c->extension :
	    "");
	env_add(env, &n, "HOME", c->home);
	env_add(env, &n, "USER", c->user);
	env_add(env, &n, "LOGNAME", c->user);
	return env;
}

/* command_exec - in the child: become the command (never returns) */
static void __attribute__((noreturn))
command_exec(const struct local_command *c, int in, int out, char **env)
{
	sigset_t none;

	setpgid(0, 0);
	if (dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(out, 2) == -1)
		_exit(71);
	closefrom(3);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if ((c->home[0] == '\0' || chdir(c->home) != 0) && chdir("/") != 0)
		_exit(71);
	execle("/bin/sh", "sh", "-c", c->command, (char *)NULL, env);
	_exit(71);
}

/* The input side: the two header lines, then the message, LF ends. */
struct feed {
	char		 buf[CMD_CHUNK * 2];
	size_t		 len, pos;
	off_t		 next;		/* next message octet to read */
	off_t		 end;
	int		 done;		/* all written, or the reader left */
};

/* feed_fill - refill f->buf from the message; -1 on a read error */
static int
feed_fill(const struct local_command *c, struct feed *f)
{
	char raw[CMD_CHUNK];
	size_t want, i;
	ssize_t r;

	f->len = f->pos = 0;
	if (f->next >= f->end)
		return 0;
	want = (size_t)(f->end - f->next) < sizeof(raw) ?
	    (size_t)(f->end - f->next) : sizeof(raw);
	if ((r = pread(c->msgfd, raw, want, f->next)) <= 0)
		return -1;
	f->next += r;
	for (i = 0; i < (size_t)r; i++)
		if (!(raw[i] == '\r' && (i + 1 < (size_t)r ? raw[i + 1] == '\n' :
		    f->next < f->end)))
			f->buf[f->len++] = raw[i];
	return 0;
}

/* output_keep - append output to what the bounce will quote */
static void
output_keep(char *out, size_t *olen, const char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n && *olen < LOCAL_COMMAND_OUTPUT_MAX; i++)
		out[(*olen)++] = (buf[i] == '\n' || buf[i] == '\r' ||
		    buf[i] == '\t') ? ' ' : buf[i];
	out[*olen] = '\0';
}

/* command_wait - waitpid until deadline; 0 with *status, or -1 */
static int
command_wait(pid_t pid, long long deadline, int *status)
{
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	pid_t r;

	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r == -1 && errno != EINTR)
			return -1;
		if (now_ms() >= deadline)
			return -1;
		nanosleep(&pause, NULL);
	}
}

/* local_command_run - run the command with the message on its stdin */
int
local_command_run(const struct local_command *c, char *err, size_t errsize)
{
	int inp[2], outp[2], status = 0, timed_out = 0, rc;
	char out[LOCAL_COMMAND_OUTPUT_MAX + 1], rbuf[CMD_CHUNK], **env;
	long long deadline = now_ms() + c->time_limit * 1000LL;
	struct feed *f = xcalloc(1, sizeof(*f));
	struct pollfd pfd[2];
	size_t olen = 0, i;
	const char *dsn;
	ssize_t r;
	pid_t pid;

	out[0] = '\0';
	if (pipe2(inp, O_CLOEXEC) == -1) {
		free(f);
		snprintf(err, errsize, "4.3.0 cannot run command: %s",
		    strerror(errno));
		return DELIVER_TEMPFAIL;
	}
	if (pipe2(outp, O_CLOEXEC) == -1) {
		close(inp[0]);
		close(inp[1]);
		free(f);
		snprintf(err, errsize, "4.3.0 cannot run command: %s",
		    strerror(errno));
		return DELIVER_TEMPFAIL;
	}
	env = command_env(c);
	if ((pid = fork()) == 0)
		command_exec(c, inp[0], outp[1], env);
	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
	close(inp[0]);
	close(outp[1]);
	if (pid == -1) {
		close(inp[1]);
		close(outp[0]);
		free(f);
		snprintf(err, errsize, "4.3.0 cannot fork command: %s",
		    strerror(errno));
		return DELIVER_TEMPFAIL;
	}
	setpgid(pid, pid);	/* either side may win the race */
	fcntl(inp[1], F_SETFL, O_NONBLOCK);
	f->len = (size_t)snprintf(f->buf, sizeof(f->buf),
	    "Return-Path: <%.*s>\nDelivered-To: %.*s\n", MSG_ADDR_MAX,
	    c->sender, MSG_ADDR_MAX, c->recipient);
	f->next = c->offset;
	f->end = c->offset + c->size;
	for (;;) {
		long long left = deadline - now_ms();
		nfds_t n = 0;

		if (left <= 0) {
			timed_out = 1;
			break;
		}
		if (!f->done && f->pos == f->len && feed_fill(c, f) == -1) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(inp[1]);
			close(outp[0]);
			free(f);
			snprintf(err, errsize, "4.3.0 cannot read queue file");
			return DELIVER_TEMPFAIL;
		}
		if (!f->done && f->len == 0) {
			f->done = 1;
			close(inp[1]);
		}
		if (!f->done) {
			pfd[n].fd = inp[1];
			pfd[n++].events = POLLOUT;
		}
		if (outp[0] != -1) {
			pfd[n].fd = outp[0];
			pfd[n++].events = POLLIN;
		}
		if (n == 0)
			break;
		if (poll(pfd, n, left > 1000 ? 1000 : (int)left) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (!f->done && pfd[i].fd == inp[1]) {
				r = write(inp[1], f->buf + f->pos,
				    f->len - f->pos);
				if (r > 0)
					f->pos += (size_t)r;
				else if (r == -1 && errno != EAGAIN &&
				    errno != EINTR) {
					/* The command stopped reading: its
					 * exit status says how it went. */
					f->done = 1;
					close(inp[1]);
				}
			} else if (pfd[i].fd == outp[0]) {
				r = read(outp[0], rbuf, sizeof(rbuf));
				if (r > 0)
					output_keep(out, &olen, rbuf,
					    (size_t)r);
				else if (r == 0 || (errno != EAGAIN &&
				    errno != EINTR)) {
					close(outp[0]);
					outp[0] = -1;
				}
			}
		}
	}
	if (!f->done)
		close(inp[1]);
	if (outp[0] != -1)
		close(outp[0]);
	free(f);
	if (timed_out || command_wait(pid, deadline, &status) != 0) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		snprintf(err, errsize, "4.3.0 command time limit exceeded "
		    "(command_time_limit %lds)", c->time_limit);
		return DELIVER_TEMPFAIL;
	}
	if (WIFSIGNALED(status)) {
		snprintf(err, errsize, "4.3.0 command killed by signal %d%s%s",
		    WTERMSIG(status), olen ? ": " : "", out);
		return DELIVER_TEMPFAIL;
	}
	rc = local_command_exit_class(WEXITSTATUS(status), &dsn);
	if (rc == DELIVER_OK)
		snprintf(err, errsize, "%s delivered to command", dsn);
	else
		snprintf(err, errsize, "%s command exited with status %d%s%s",
		    dsn, WEXITSTATUS(status), olen ? ": " : "", out);
	return rc;
}
