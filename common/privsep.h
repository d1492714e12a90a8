/*
 * privsep - dropping root for good.
 */
#ifndef TERN_PRIVSEP_H
#define TERN_PRIVSEP_H

#include <sys/types.h>

/*
 * privsep_drop - when running as root: chroot to dir (if not NULL), then
 * setgroups/setgid/setuid to user, and verify that root cannot be
 * regained.  Fatal on any failure.  When not root: a no-op that logs one
 * warning (development and test mode).
 */
void privsep_drop(const char *user, const char *chroot_dir);

/*
 * privsep_user - uid and gid of user; 0 found, -1 no such user.
 */
int privsep_user(const char *user, uid_t *uid, gid_t *gid);

/* privsep_group - gid of group; 0 found, -1 no such group */
int privsep_group(const char *group, gid_t *gid);

/* privsep_become - setgroups/setgid/setuid to uid/gid for good; -1 fails */
int privsep_become(uid_t uid, gid_t gid);

#endif
