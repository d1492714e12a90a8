/*
 * local_target - where a local recipient's mail goes and as whom it is
 * written (see local_target.h).
 *
 * deliverd runs as root so that it can write every user's mailbox, and
 * root must never write into a directory a user controls: a user could
 * point a link at /etc/shadow.  So resolving a mailbox reads only what
 * root may safely read (passwd, and the owner of mailbox_base/user
 * without following a link), and the process that writes the mailbox
 * switches to the owner's uid and gid for good (local_target_become)
 * before it opens anything inside it.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "local_target.h"
#include "msg.h"
#include "virtual_path.h"
#include "xmalloc.h"

/* local_target_check_user - is user acceptable as a mailbox name */
int
local_target_check_user(const char *user, char *err, size_t errsize)
{
	size_t len = strlen(user);
	const unsigned char *p;

	if (len == 0 || len > LOCAL_USER_MAX || user[0] == '.') {
		snprintf(err, errsize, "5.1.3 bad mailbox name");
		return -1;
	}
	for (p = (const unsigned char *)user; *p != '\0'; p++) {
		if (*p == '/' || *p < 0x20 || *p == 0x7f) {
			snprintf(err, errsize, "5.1.3 bad mailbox name");
			return -1;
		}
	}
	return 0;
}

/* local_target_base - mailbox_base/user, owned by the mailbox owner */
static int
local_target_base(const char *base, const char *user, struct local_target *t,
    char *err, size_t errsize)
{
	struct stat st;
	int n;

	n = snprintf(t->home, sizeof(t->home), "%s/%s", base, user);
	if (n < 0 || (size_t)n >= sizeof(t->home)) {
		snprintf(err, errsize, "4.3.0 mailbox path too long");
		return DELIVER_TEMPFAIL;
	}
	/* lstat: the owner of a link says nothing about where it points. */
	if (lstat(t->home, &st) != 0) {
		if (errno == ENOENT) {
			snprintf(err, errsize, "5.1.1 user unknown");
			return DELIVER_PERMFAIL;
		}
		snprintf(err, errsize, "%s cannot reach mailbox directory: %s",
		    errno == EACCES ? "4.2.0" : "4.3.0", strerror(errno));
		return DELIVER_TEMPFAIL;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsize, "4.2.0 mailbox is not a directory");
		return DELIVER_TEMPFAIL;
	}
	t->uid = st.st_uid;
	t->gid = st.st_gid;
	t->user[0] = '\0';
	return DELIVER_OK;
}

/* local_target_passwd - the user's home directory from passwd */
static int
local_target_passwd(const char *user, struct local_target *t, char *err,
    size_t errsize)
{
	struct passwd *pw;
	int n;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		/* getpwnam(3): these mean "no such user", anything else failed. */
		if (errno == 0 || errno == ENOENT || errno == ESRCH ||
		    errno == EBADF || errno == EPERM) {
			snprintf(err, errsize, "5.1.1 user unknown");
			return DELIVER_PERMFAIL;
		}
		snprintf(err, errsize, "4.3.0 user database unavailable: %s",
		    strerror(errno));
		return DELIVER_TEMPFAIL;
	}
	if (pw->pw_dir == NULL || pw->pw_dir[0] != '/') {
		snprintf(err, errsize, "4.2.0 user has no home directory");
		return DELIVER_TEMPFAIL;
	}
	n = snprintf(t->home, sizeof(t->home), "%s", pw->pw_dir);
	if (n < 0 || (size_t)n >= sizeof(t->home) ||
	    strlcpy(t->user, pw->pw_name, sizeof(t->user)) >= sizeof(t->user)) {
		snprintf(err, errsize, "4.3.0 home directory path too long");
		return DELIVER_TEMPFAIL;
	}
	t->uid = pw->pw_uid;
	t->gid = pw->pw_gid;
	return DELIVER_OK;
}

/* local_target_resolve - the Maildir and owner for user */
int
local_target_resolve(const char *mailbox_base, const char *user,
    struct local_target *t, char *err, size_t errsize)
{
	size_t hlen;
	int rc, n;

	memset(t, 0, sizeof(*t));
	t->mail_gid = (gid_t)-1;
	if (local_target_check_user(user, err, errsize) != 0)
		return DELIVER_PERMFAIL;
	if (mailbox_base != NULL && mailbox_base[0] != '\0')
		rc = local_target_base(mailbox_base, user, t, err, errsize);
	else
		rc = local_target_passwd(user, t, err, errsize);
	if (rc != DELIVER_OK)
		return rc;
	hlen = strlen(t->home);
	while (hlen > 1 && t->home[hlen - 1] == '/')
		t->home[--hlen] = '\0';
	n = snprintf(t->maildir, sizeof(t->maildir), "%s/Maildir",
	    strcmp(t->home, "/") == 0 ? "" : t->home);
	if (n < 0 || (size_t)n >= sizeof(t->maildir)) {
		snprintf(err, errsize, "4.3.0 mailbox path too long");
		return DELIVER_TEMPFAIL;
	}
	/* Root's own mailbox (or a root-owned one) is written as root. */
	t->become = geteuid() == 0 && t->uid != 0;
	return DELIVER_OK;
}

/* local_target_virtual - a virtual mailbox, written as uid and gid */
int
local_target_virtual(const char *base, long uid, long gid, const char *path,
    struct local_target *t, char *err, size_t errsize)
{
	const char *why;

	memset(t, 0, sizeof(*t));
	if (virtual_path_check(path, &why) != 0) {
		snprintf(err, errsize, "5.3.5 virtual mailbox path refused: %s",
		    why);
		return DELIVER_PERMFAIL;
	}
	/* settings.c refuses these; a reload must not make root write. */
	if (base == NULL || base[0] != '/' || uid <= 0 || gid <= 0) {
		snprintf(err, errsize, "4.3.5 virtual_mailbox_base, "
		    "virtual_uid and virtual_gid must be set (not 0)");
		return DELIVER_TEMPFAIL;
	}
	if (strlcpy(t->home, base, sizeof(t->home)) >= sizeof(t->home) ||
	    strlcpy(t->maildir, path, sizeof(t->maildir)) >=
	    sizeof(t->maildir)) {
		snprintf(err, errsize, "4.3.0 mailbox path too long");
		return DELIVER_TEMPFAIL;
	}
	t->uid = (uid_t)uid;
	t->gid = (gid_t)gid;
	t->mail_gid = (gid_t)-1;
	t->become = geteuid() == 0;
	return DELIVER_OK;
}

/* local_target_alias - a command or file, as its file's owner */
int
local_target_alias(int kind, const char *target, const char *default_privs,
    struct local_target *t, char *err, size_t errsize)
{
	const char *text;
	struct passwd *pw;
	uid_t uid;

	memset(t, 0, sizeof(*t));
	t->mail_gid = (gid_t)-1;
	t->kind = kind;
	if (alias_target_parse(target, &uid, &text) != 0 ||
	    (kind == RESOLVE_FILE && text[0] != '/') ||
	    strlcpy(t->target, text, sizeof(t->target)) >= sizeof(t->target)) {
		snprintf(err, errsize, "5.3.5 malformed command or file "
		    "target");
		return DELIVER_PERMFAIL;
	}
	errno = 0;
	pw = uid == 0 ? getpwnam(default_privs) : getpwuid(uid);
	if (pw == NULL) {
		snprintf(err, errsize, "4.3.5 no user %s to run as", uid == 0 ?
		    "default_privs" : "owns the alias file");
		return DELIVER_TEMPFAIL;
	}
	/* Never root: default_privs = root is a mistake to mend. */
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		snprintf(err, errsize, "4.3.5 refusing to run a command or "
		    "write a file as root (default_privs)");
		return DELIVER_TEMPFAIL;
	}
	if (strlcpy(t->user, pw->pw_name, sizeof(t->user)) >= sizeof(t->user) ||
	    strlcpy(t->home, pw->pw_dir != NULL ? pw->pw_dir : "/",
	    sizeof(t->home)) >= sizeof(t->home)) {
		snprintf(err, errsize, "4.3.0 user name or home too long");
		return DELIVER_TEMPFAIL;
	}
	strlcpy(t->maildir, t->home, sizeof(t->maildir));
	t->uid = pw->pw_uid;
	t->gid = pw->pw_gid;
	t->become = geteuid() == 0;
	return DELIVER_OK;
}

/*
 * local_target_mbox - spool_dir/user instead of the Maildir.
 *
 * Who creates the mbox and its dotlock: the delivery process, as the
 * user, with the spool directory's group added (Dovecot's
 * mail_privileged_group does the same).  Debian's /var/mail is root:mail
 * 2775, so a user cannot create files there on their own.  Creating the
 * mbox in this root process before the switch would not be enough: the
 * USER.lock dotlock must be created and removed around every append by
 * the process that appends, and root must not write in a directory that
 * every member of the mail group can write (a planted link).  The group
 * is only added when the directory is group-writable, and never group
 * 0.  The delivery process runs nothing but this code.
 */
int
local_target_mbox(struct local_target *t, const char *spool_dir, char *err,
    size_t errsize)
{
	struct stat st;
	int n;

	/* stat, not lstat: /var/mail is a link to /var/spool/mail on some
	 * systems, and this path is the administrator's. */
	if (stat(spool_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errsize, "4.3.5 mail_spool_directory is not a "
		    "directory");
		return DELIVER_TEMPFAIL;
	}
	n = snprintf(t->mbox, sizeof(t->mbox), "%s/%s", strcmp(spool_dir,
	    "/") == 0 ? "" : spool_dir, t->user);
	if (n < 0 || (size_t)n >= sizeof(t->mbox) - 5) {	/* + ".lock" */
		snprintf(err, errsize, "4.3.0 mailbox path too long");
		return DELIVER_TEMPFAIL;
	}
	if ((st.st_mode & S_IWGRP) && st.st_gid != 0 && st.st_gid != t->gid)
		t->mail_gid = st.st_gid;
	return DELIVER_OK;
}

/* local_target_groups - the user's groups, plus mail_gid when set */
static int
local_target_groups(const struct local_target *t)
{
	gid_t *groups;
	int n, rc;

	if (t->user[0] != '\0') {
		if (initgroups(t->user, t->gid) != 0)
			return -1;
	} else if (setgroups(1, &t->gid) != 0)
		return -1;
	if (t->mail_gid == (gid_t)-1)
		return 0;
	if ((n = getgroups(0, NULL)) < 0)
		return -1;
	groups = xcalloc((size_t)n + 1, sizeof(*groups));
	if ((n = getgroups(n, groups)) < 0) {
		free(groups);
		return -1;
	}
	groups[n++] = t->mail_gid;
	rc = setgroups((size_t)n, groups);
	free(groups);
	return rc;
}

/*
 * local_target_become - switch to t's uid and gid for good.  Every step
 * is checked, and so is the result: if root could be regained the child
 * must not go on to open anything the user controls.
 */
int
local_target_become(const struct local_target *t)
{
	gid_t gid = t->gid;

	if (local_target_groups(t) != 0)
		return -1;
	if (setresgid(gid, gid, gid) != 0 || setresuid(t->uid, t->uid,
	    t->uid) != 0)
		return -1;
	if (setuid(0) != -1 || getuid() != t->uid || geteuid() != t->uid ||
	    getgid() != gid || getegid() != gid)
		return -1;
	/*
	 * The spool's group is more than the user has: the user must not
	 * be able to borrow it by attaching a debugger to this process (the
	 * kernel's default after the switch, made sure of here).
	 */
	if (t->mail_gid != (gid_t)-1 && prctl(PR_SET_DUMPABLE, 0) != 0)
		return -1;
	return 0;
}
