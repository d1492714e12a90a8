/*
 * virtual_mailbox - open a virtual user's Maildir, component by
 * component from virtual_mailbox_base (virtual_mailbox.h).
 *
 * The path comes from a map, which is untrusted, through lookupd and
 * queued.  Its text is checked again here, and each directory on the
 * way is opened relative to the one before with O_NOFOLLOW, so that
 * neither a ".." nor a symbolic link planted under the base (by anyone
 * who can write there, virtual_uid included) can lead the delivery out
 * of it.  The base itself is the administrator's and may be a link.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "maildir.h"
#include "msg.h"
#include "virtual_mailbox.h"
#include "virtual_path.h"

/* virtual_is_link - name inside dirfd is a symbolic link */
static int
virtual_is_link(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode);
}

/* virtual_step_fail - err for a directory on the way that cannot be used */
static int
virtual_step_fail(int dirfd, const char *name, int e, char *err,
    size_t errsize)
{
	if (virtual_is_link(dirfd, name))
		snprintf(err, errsize, "4.2.0 virtual mailbox path: %s is a "
		    "symbolic link, which is not followed", name);
	else
		snprintf(err, errsize, "4.2.0 virtual mailbox path: %s: %s",
		    name, strerror(e));
	return DELIVER_TEMPFAIL;
}

/*
 * virtual_step - the directory name inside dirfd, created when missing
 * (its new name synced in dirfd), opened without following a link; -1
 * with errno.
 */
static int
virtual_step(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0700) == 0) {
		if (fsync(dirfd) != 0)
			return -1;
	} else if (errno != EEXIST)
		return -1;
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
}

/* virtual_mailbox_open - the Maildir at path under base */
int
virtual_mailbox_open(struct maildir *md, const char *base, const char *path,
    char *err, size_t errsize)
{
	char buf[VIRTUAL_PATH_MAX + 1], *comp, *slash;
	const char *why;
	int dir, next, rc;

	md->tmpfd = md->newfd = -1;
	if (virtual_path_check(path, &why) != 0 ||
	    strlcpy(buf, path, sizeof(buf)) >= sizeof(buf)) {
		snprintf(err, errsize, "5.3.5 virtual mailbox path refused: %s",
		    why);
		return DELIVER_PERMFAIL;
	}
	buf[strlen(buf) - 1] = '\0';	/* the trailing '/' */
	if ((dir = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errsize, "4.3.5 virtual_mailbox_base %s: %s",
		    base, strerror(errno));
		return DELIVER_TEMPFAIL;
	}
	for (comp = buf; (slash = strchr(comp, '/')) != NULL;
	    comp = slash + 1) {
		*slash = '\0';
		if ((next = virtual_step(dir, comp)) == -1) {
			rc = virtual_step_fail(dir, comp, errno, err, errsize);
			close(dir);
			return rc;
		}
		close(dir);
		dir = next;
	}
	rc = maildir_open_at(md, dir, comp, err, errsize);
	if (rc != DELIVER_OK && virtual_is_link(dir, comp))
		rc = virtual_step_fail(dir, comp, ELOOP, err, errsize);
	close(dir);
	return rc;
}
