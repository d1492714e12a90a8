/*
 * sendmail_submit - the queue file, streamed to tern-postdrop.  See
 * sendmail_submit.h and maildrop.h.
 *
 * The file is written straight into the pipe with the same writer smtpd
 * uses for queue files (msgfile.h), so it ends in the trailer that
 * proves it whole: when sendmail dies half way, tern-postdrop sees a
 * file without a valid trailer and refuses it, and a half message never
 * reaches the queue.  tern-postdrop gets an empty environment and a
 * fixed argument vector; no text of the message or the user passes
 * through a shell or an argument.
 */
#include "config.h"

#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "maildrop.h"
#include "msgfile.h"
#include "qid.h"
#include "sendmail_submit.h"

/* submit_spawn - start tern-postdrop on two pipes; its pid, or -1 */
static pid_t
submit_spawn(const struct sendmail_postdrop *pd, int *to, int *from)
{
	char *argv[4], *envp[1] = { NULL };
	int in[2], out[2];
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	argv[0] = (char *)MAILDROP_PROGRAM;
	argv[1] = pd->config != NULL ? (char *)"-C" : NULL;
	argv[2] = (char *)pd->config;
	argv[3] = NULL;
	if ((pid = fork()) == 0) {
		if (dup2(in[0], STDIN_FILENO) < 0 ||
		    dup2(out[1], STDOUT_FILENO) < 0)
			_exit(EX_OSERR);
		execve(pd->path, argv, envp);
		fprintf(stderr, "sendmail: cannot run %s: %s\n", pd->path,
		    strerror(errno));
		_exit(EX_TEMPFAIL);
	}
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		return -1;
	}
	*to = in[1];
	*from = out[0];
	return pid;
}

/* submit_write - the whole queue file into fd (a pipe) */
static void
submit_write(int fd, struct envelope *env, const struct sendmail_buf *text)
{
	static struct msgfile_writer w;
	unsigned char *prefix;
	size_t plen;
	uint64_t size;

	envelope_encode(env, &prefix, &plen);
	msgfile_writer_init(&w, fd);
	msgfile_write(&w, prefix, plen);
	msgfile_write(&w, text->p, text->len);
	/* A failure is tern-postdrop's to report: it went away early. */
	(void)msgfile_writer_finish(&w, &size);
	free(prefix);
}

/* submit_read_id - the maildrop name tern-postdrop printed, or "" */
static void
submit_read_id(int fd, char *id, size_t idsize)
{
	size_t len = 0;
	ssize_t n;

	while (len + 1 < idsize &&
	    ((n = read(fd, id + len, idsize - 1 - len)) > 0 ||
	    (n < 0 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	id[len] = '\0';
	id[strcspn(id, "\n")] = '\0';
}

/* sendmail_submit - the queue file through tern-postdrop */
int
sendmail_submit(const struct sendmail_postdrop *pd, struct envelope *env,
    const struct sendmail_buf *text, char *id, size_t idsize)
{
	void (*old)(int);
	int to, from, status;
	pid_t pid;

	qid_new(env->qid, sizeof(env->qid));
	env->arrival = (uint64_t)time(NULL);
	strlcpy(env->client_name, "localhost", sizeof(env->client_name));
	strlcpy(env->protocol, "local", sizeof(env->protocol));
	if ((pid = submit_spawn(pd, &to, &from)) < 0) {
		fprintf(stderr, "sendmail: cannot start %s: %s\n", pd->path,
		    strerror(errno));
		return EX_TEMPFAIL;
	}
	old = signal(SIGPIPE, SIG_IGN);
	submit_write(to, env, text);
	close(to);
	submit_read_id(from, id, idsize);
	close(from);
	signal(SIGPIPE, old);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return EX_TEMPFAIL;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && id[0] != '\0') {
		if (pd->verbose)
			fprintf(stderr, "sendmail: queued in maildrop as %s\n",
			    id);
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		return WEXITSTATUS(status);
	fprintf(stderr, "sendmail: %s %s\n", pd->path, WIFSIGNALED(status) ?
	    "was killed" : "gave no maildrop name");
	return EX_TEMPFAIL;
}
