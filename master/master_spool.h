/*
 * master_spool - the spool's directory layout, created and checked by ternd.
 *
 *   SPOOL/          root 0755
 *   SPOOL/db/       queue user 0700   the queue index (only queued)
 *   SPOOL/msg/X/    queue user 0700   message files (only queued; smtpd
 *                                     and deliverd get descriptors)
 *   SPOOL/empty/    root 0555         smtpd's chroot: nothing inside
 *   SPOOL/run/      root 0755         pid file
 *   SPOOL/maildrop/ queue user, setgid_group 1730
 *                                     local submissions (maildrop.h):
 *                                     tern-postdrop creates files, only
 *                                     queued lists, reads and removes
 *
 * tern_user can therefore read and write no queued mail by path, which
 * is what keeps a compromised smtpd from touching other messages.
 */
#ifndef TERN_MASTER_SPOOL_H
#define TERN_MASTER_SPOOL_H

#include <sys/types.h>

/*
 * master_spool_create - create missing directories and fix owners and
 * modes (queue_uid/gid own db/ and msg/, drop_gid is maildrop/'s group,
 * tern_uid/gid own mta-sts/; when not root, everything stays with the
 * current user), and when it
 * changed anything, fsync every spool directory and every parent up to /
 * so that the layout survives a power cut.  Returns 0, or -1 after
 * logging what failed.
 */
int master_spool_create(const char *spool, uid_t queue_uid, gid_t queue_gid,
    gid_t drop_gid, uid_t tern_uid, gid_t tern_gid);

/*
 * master_spool_check - for "ternd -n": report (via report(msg, arg))
 * every problem that would stop master_spool_create; returns the count.
 */
int master_spool_check(const char *spool,
    void (*report)(const char *msg, void *arg), void *arg);

#endif
