/*
 * deadline - absolute time limits for network I/O.  See deadline.h.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <time.h>

#include "deadline.h"

/* deadline_now - milliseconds on CLOCK_MONOTONIC */
long long
deadline_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* deadline_in - now plus ms */
long long
deadline_in(long long ms)
{
	return deadline_now() + ms;
}

/* deadline_passed - the deadline is now or past */
int
deadline_passed(long long deadline)
{
	return deadline_now() >= deadline;
}

/* deadline_poll - poll one descriptor with what is left until deadline */
int
deadline_poll(int fd, short events, long long deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	long long left;
	int r;

	for (;;) {
		if ((left = deadline - deadline_now()) <= 0) {
			errno = ETIMEDOUT;
			return 0;
		}
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
		/* Interrupted, or poll woke a little early: what is left. */
	}
}
