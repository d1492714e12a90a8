/*
 * master_detach - see master_detach.h.  daemon(3) lets the parent exit
 * before the child has written its pid file; systemd (Type=forking,
 * PIDFile=) then reads a file that is not there yet.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "master_detach.h"

/* master_detach - fork and wait for the child's word in the parent */
int
master_detach(void)
{
	int p[2], null;
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	if ((pid = fork()) < 0) {
		int e = errno;

		close(p[0]);
		close(p[1]);
		errno = e;
		return -1;
	}
	if (pid > 0) {
		ssize_t n;

		close(p[1]);
		while ((n = read(p[0], &c, 1)) < 0 && errno == EINTR)
			continue;
		_exit(n == 1 ? 0 : 1);
	}
	close(p[0]);
	(void)setsid();
	if (chdir("/") < 0)
		_exit(1);
	if ((null = open("/dev/null", O_RDWR)) >= 0) {
		(void)dup2(null, STDIN_FILENO);
		(void)dup2(null, STDOUT_FILENO);
		(void)dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	return p[1];
}

/* master_detach_ready - one byte: the parent may go */
void
master_detach_ready(int fd)
{
	char c = 1;

	while (write(fd, &c, 1) < 0 && errno == EINTR)
		continue;
	close(fd);
}
