/*
 * fdlimit - the descriptor limit every tern process inherits from
 * ternd (see fdlimit.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fdlimit.h"
#include "log.h"
#include "msg.h"

/* The kernel's ceiling for any process's limit; 1048576 if unreadable. */
static rlim_t
fd_nr_open(void)
{
	unsigned long long v = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");

	if (f != NULL) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v > 0 ? (rlim_t)v : (rlim_t)1048576;
}

/* fd_limit_need - the descriptors the busiest tern process may hold */
rlim_t
fd_limit_need(const struct settings *s)
{
	rlim_t smtpd = (rlim_t)(s->smtpd_max_procs > 0 ?
	    s->smtpd_max_procs : 0) + 1;	/* and the busy responder */
	rlim_t local = (rlim_t)(s->local_delivery_limit > 0 ?
	    s->local_delivery_limit : 0) + LOCAL_JOBS_MAX;

	return (smtpd > local ? smtpd : local) + FD_LIMIT_SPARE;
}

/* fd_set_limit - set the limit to soft, hard; 0 or -1 */
static int
fd_set_limit(rlim_t soft, rlim_t hard)
{
	struct rlimit rl = { soft, hard };

	return setrlimit(RLIMIT_NOFILE, &rl);
}

/* fd_limit_raise - raise the descriptor limit to need, never lower it */
int
fd_limit_raise(rlim_t need, int *raised, rlim_t *now, char *msg,
    size_t msgsize)
{
	struct rlimit rl;
	rlim_t hard;

	*raised = 0;
	msg[0] = '\0';
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		snprintf(msg, msgsize, "cannot read the descriptor limit: %s",
		    strerror(errno));
		*now = 0;
		return -1;
	}
	*now = rl.rlim_cur;
	if (rl.rlim_cur >= need)	/* RLIM_INFINITY is the largest */
		return 0;
	/* As root, the hard limit too, up to the kernel's ceiling; failing
	 * that (no CAP_SYS_RESOURCE), the soft one within the hard one. */
	hard = rl.rlim_max;
	if (hard < need && geteuid() == 0) {
		rlim_t ceiling = fd_nr_open();

		if (ceiling > hard)
			hard = need < ceiling ? need : ceiling;
	}
	if (fd_set_limit(need < hard ? need : hard, hard) != 0 &&
	    hard != rl.rlim_max)
		(void)fd_set_limit(need < rl.rlim_max ? need : rl.rlim_max,
		    rl.rlim_max);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > *now) {
		*raised = 1;
		*now = rl.rlim_cur;
	}
	if (*now >= need)
		return 0;
	snprintf(msg, msgsize, "the descriptor limit is %llu, and this "
	    "configuration may need %llu (smtpd_max_procs, "
	    "local_delivery_limit); raise the hard limit (LimitNOFILE= in "
	    "tern.service, ulimit -Hn) or lower smtpd_max_procs",
	    (unsigned long long)*now, (unsigned long long)need);
	return -1;
}

/* fd_limit_reload - raise the limit to what the reloaded s may need */
void
fd_limit_reload(const struct settings *s)
{
	char msg[512];
	rlim_t now;
	int raised;

	if (fd_limit_raise(fd_limit_need(s), &raised, &now, msg,
	    sizeof(msg)) != 0)
		log_warn("%s", msg);
	else if (raised)
		log_info("descriptor limit raised to %llu",
		    (unsigned long long)now);
}
