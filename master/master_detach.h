/*
 * master_detach - ternd into the background, the parent leaving only once
 * the child says it is ready (its pid file written), so that an init
 * system that reads the pid file when the parent exits finds it.
 */
#ifndef TERN_MASTER_DETACH_H
#define TERN_MASTER_DETACH_H

/*
 * master_detach - fork; the parent waits and exits 0 once the child calls
 * master_detach_ready (1 when the child dies first).  The child is a
 * session leader in "/" with stdin, stdout and stderr on /dev/null.
 * Returns in the child a descriptor for master_detach_ready, or -1 (errno
 * set) when nothing was forked.
 */
int master_detach(void);

/* master_detach_ready - let the waiting parent exit; closes fd */
void master_detach_ready(int fd);

#endif
