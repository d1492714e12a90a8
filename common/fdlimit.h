/*
 * fdlimit - the descriptor limit every tern process inherits from
 * ternd, and raises again after a reload.
 *
 * ternd, queued and lookupd each hold a channel to every smtpd process,
 * and the local transport a channel to each delivery process and a
 * message file for each delivery it holds; the usual soft limit of 1024
 * descriptors would cap smtpd_max_procs near 1000 and fail sessions past
 * it.  So ternd raises its limit before it starts anything to what the
 * configuration may need, as Postfix's master raises its own.  A reload
 * may need more: ternd raises its own, and each process that rereads the
 * configuration in place raises its soft limit within the hard one it
 * inherited (fd_limit_reload), which needs no privilege.
 */
#ifndef TERN_FDLIMIT_H
#define TERN_FDLIMIT_H

#include <stddef.h>
#include <sys/resource.h>

#include "settings.h"

/* Descriptors a process needs besides its per-peer ones: its own files,
 * sockets, maps and log. */
#define FD_LIMIT_SPARE		128

/* fd_limit_need - the descriptors the busiest tern process may hold
 * with settings s */
rlim_t fd_limit_need(const struct settings *s);

/*
 * fd_limit_raise - raise the soft descriptor limit to need (and, as
 * root, the hard one when it is lower, up to the kernel's nr_open); never
 * lower either.  0 when the limit is need or more afterwards, -1 when it
 * could not be raised that far: msg then says what it is and what to do.
 * *raised tells whether it changed; *now is the soft limit afterwards.
 */
int fd_limit_raise(rlim_t need, int *raised, rlim_t *now, char *msg,
    size_t msgsize);

/*
 * fd_limit_reload - after a reload to settings s: raise this process's
 * limit to what s may need (fd_limit_raise), and log it, or log why not.
 */
void fd_limit_reload(const struct settings *s);

#endif
