/*
 * local_target - where a local recipient's mail goes and as whom it is
 * written: the mailbox name check, the resolution of a mailbox user to
 * its Maildir (or mbox) and owner, and the switch to that owner.
 *
 * Used by the local transport (transport_local.c) and its delivery
 * children (local_child.c); public so that unit tests can drive it.
 */
#ifndef TERN_LOCAL_TARGET_H
#define TERN_LOCAL_TARGET_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "alias_target.h"

#define LOCAL_USER_MAX		64	/* octets in a mailbox user name */
#define LOCAL_TARGET_ERR_MAX	512	/* "x.y.z text" of a failure */

/* Where one recipient's mail goes and as whom it is written. */
struct local_target {
	/* ends in "/Maildir"; or a virtual mailbox: its path relative to
	 * home, opened without following links (virtual_mailbox.h) */
	char	maildir[PATH_MAX];
	char	home[PATH_MAX];		/* the directory that must exist */
	char	user[LOCAL_USER_MAX + 1]; /* passwd name for initgroups, or "" */
	char	mbox[PATH_MAX];		/* "", or the mbox file used instead */
	uid_t	uid;
	gid_t	gid;
	gid_t	mail_gid;		/* a group to add, or (gid_t)-1 */
	int	become;			/* switch to uid/gid before delivering */
	int	kind;			/* enum resolve_kind: LOCAL, COMMAND
					   or FILE */
	char	target[ALIAS_TARGET_MAX + 1];	/* the command or file */
};

/*
 * local_target_check_user - 0 when user is acceptable as a mailbox name
 * (1 to 64 octets, no '/', no leading '.', no control characters); else
 * -1 with err = "5.1.3 ...".
 */
int local_target_check_user(const char *user, char *err, size_t errsize);

/*
 * local_target_resolve - find the Maildir and owner for user, under
 * mailbox_base (owner of mailbox_base/user) or in passwd when
 * mailbox_base is empty.  Returns enum deliver_status; on failure err
 * holds "x.y.z text" (5.1.1 for an unknown user, 4.x.x when the mailbox
 * may become reachable).  Reads nothing inside the mailbox.
 */
int local_target_resolve(const char *mailbox_base, const char *user,
    struct local_target *t, char *err, size_t errsize);

/*
 * local_target_virtual - the virtual mailbox at path (a RESOLVE_LOCAL
 * target with a '/', virtual_path.h) under base, written as uid and gid
 * (virtual_uid, virtual_gid).  Returns enum deliver_status with err on
 * failure: a path that virtual_path_check refuses is permanent (5.3.5);
 * uid or gid 0 or no base is a configuration to mend (4.3.5).
 */
int local_target_virtual(const char *base, long uid, long gid,
    const char *path, struct local_target *t, char *err, size_t errsize);

/*
 * local_target_mbox - make t (a passwd user's, resolved) an mbox
 * delivery to spool_dir/user, and give it spool_dir's group when that
 * directory is group-writable (for the mbox and its dotlock to be
 * created there).  Returns enum deliver_status with err on failure
 * (4.3.5 when spool_dir is not a directory).
 */
int local_target_mbox(struct local_target *t, const char *spool_dir,
    char *err, size_t errsize);

/*
 * local_target_alias - a command or file target ("UID:text", kind
 * RESOLVE_COMMAND or RESOLVE_FILE), run or written as UID, or as
 * default_privs when UID is 0: never as root.  Returns enum
 * deliver_status with err on failure (5.3.5 for a malformed target,
 * 4.3.5 when the user cannot be found or would be root).
 */
int local_target_alias(int kind, const char *target,
    const char *default_privs, struct local_target *t, char *err,
    size_t errsize);

/*
 * local_target_become - switch to t's uid and gid (and, for a passwd
 * user, its groups; and mail_gid) for good, and check that root cannot be regained.
 * 0, or -1: the caller must then open nothing in the mailbox.
 */
int local_target_become(const struct local_target *t);

#endif
