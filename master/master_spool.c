/*
 * master_spool - create and check the spool layout.  See master_spool.h.
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/fs.h>
#endif

#include "log.h"
#include "maildrop.h"
#include "master_spool.h"
#include "spool_layout.h"

/*
 * spool_dir - make path a directory with this mode and owner.  Returns -1
 * (logged) on failure, 1 when it created or changed something, else 0.
 */
static int
spool_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	struct stat st;
	int changed = 0;

	if (mkdir(path, mode) == 0)
		changed = 1;
	else if (errno != EEXIST) {
		log_error("mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_error("%s: not a directory", path);
		return -1;
	}
	if (geteuid() == 0 && (st.st_uid != uid || st.st_gid != gid)) {
		if (chown(path, uid, gid) < 0) {
			log_error("chown %s: %s", path, strerror(errno));
			return -1;
		}
		changed = 1;
	}
	if ((st.st_mode & 07777) != mode) {
		if (chmod(path, mode) < 0) {
			log_error("chmod %s: %s", path, strerror(errno));
			return -1;
		}
		changed = 1;
	}
	return changed;
}

/*
 * spool_sync - fsync the directory path.  A failure is an error (-1,
 * logged) when must is set, else only a warning (0).
 */
static int
spool_sync(const char *path, int must)
{
	int fd, r = -1;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		r = fsync(fd);
		close(fd);
	}
	if (r == 0)
		return 0;
	if (must)
		log_error("fsync %s: %s", path, strerror(errno));
	else
		log_warn("fsync %s: %s", path, strerror(errno));
	return must ? -1 : 0;
}

/*
 * spool_sync_all - make what was created or changed durable, deepest
 * first, up to the root.  queued fsyncs msg/X after each new message
 * file, but after a power cut that file is still there only if msg/X is
 * durably in msg/, msg/ in the spool, and the spool in its parent.
 * Without this, a power cut soon after the first start takes the whole
 * spool away, acknowledged mail included.  The spool's own directories
 * must sync; a parent that cannot be opened (mode 0711 when not root)
 * is only a warning.
 */
static int
spool_sync_all(const char *spool)
{
	static const char *const top[] = { "msg", "db", "corrupt", "empty",
	    "run", MAILDROP_DIR, SPOOL_SMTP_ROOT };
	static const char hex[] = "0123456789ABCDEF";
	char path[PATH_MAX], *slash;
	int bad = 0;

	for (int i = 0; i < 16; i++) {
		snprintf(path, sizeof(path), "%s/msg/%c", spool, hex[i]);
		bad |= spool_sync(path, 1);
	}
	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", spool, top[i]);
		bad |= spool_sync(path, 1);
	}
	strlcpy(path, spool, sizeof(path));
	for (int must = 1;; must = 0) {
		bad |= spool_sync(path, must);
		if ((slash = strrchr(path, '/')) == NULL || path[1] == '\0')
			break;
		slash[slash == path ? 1 : 0] = '\0';
	}
	return bad ? -1 : 0;
}

/*
 * Create the missing parents of path (mode 0755), like mkdir -p.  Returns
 * -1 (logged) on failure, 1 when it created one, else 0.
 */
static int
spool_parents(const char *path)
{
	char buf[PATH_MAX];
	int made = 0;

	if (strlcpy(buf, path, sizeof(buf)) >= sizeof(buf))
		return -1;
	for (char *p = buf + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(buf, 0755) == 0)
			made = 1;
		else if (errno != EEXIST) {
			log_error("mkdir %s: %s", buf, strerror(errno));
			return -1;
		}
		*p = '/';
	}
	return made;
}

/*
 * spool_spread - ask the file system to spread path's subdirectories
 * over its block groups, as it does for top-level directories (ext2/3/4
 * FS_TOPDIR_FL, "chattr +T"); elsewhere nothing happens.
 *
 * Why: queued creates and deletes a message file for every message.
 * ext4 puts a new file in its directory's block group, and without a
 * journal it skips every inode of that group freed within the last
 * minutes, one buffer lookup each (recently_deleted()), so that a busy
 * queue made each file creation cost up to a millisecond of CPU, for
 * the queue's files and for the Maildir files of local delivery beside
 * them alike.  The 16 hashed subdirectories, spread, share that work out
 * among 16 groups and keep it away from the mailboxes' groups.  It only
 * places subdirectories made afterwards: an existing spool keeps its.
 */
static void
spool_spread(const char *path)
{
#if defined(FS_IOC_GETFLAGS) && defined(FS_TOPDIR_FL)
	int fd, flags;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 &&
	    !(flags & FS_TOPDIR_FL)) {
		flags |= FS_TOPDIR_FL;
		(void)ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	close(fd);
#else
	(void)path;
#endif
}

/* spool_make - spool_dir, its result added to *bad and *changed */
static void
spool_make(const char *path, mode_t mode, uid_t uid, gid_t gid, int *bad,
    int *changed)
{
	int r = spool_dir(path, mode, uid, gid);

	if (r < 0)
		*bad = 1;
	else
		*changed |= r;
}

/* master_spool_create - make the layout, fixing owners and modes */
int
master_spool_create(const char *spool, uid_t quid, gid_t qgid, gid_t dgid,
    uid_t tuid, gid_t tgid)
{
	static const char hex[] = SPOOL_HASH_DIGITS;
	char path[PATH_MAX];
	uid_t me = geteuid();
	gid_t mygid = getegid();
	int bad = 0, changed = 0, r;

	if (me != 0) {
		quid = tuid = me;
		qgid = dgid = tgid = mygid;
	}
	if ((r = spool_parents(spool)) < 0)
		return -1;
	changed |= r;
	for (size_t i = 0; i < sizeof(spool_layout) / sizeof(spool_layout[0]);
	    i++) {
		const struct spool_layout_dir *d = &spool_layout[i];
		uid_t uid = d->owner == SPOOL_OWNER_ROOT ? me :
		    d->owner == SPOOL_OWNER_TERN ? tuid : quid;
		gid_t gid = d->owner == SPOOL_OWNER_ROOT ? mygid :
		    d->owner == SPOOL_OWNER_MAILDROP ? dgid :
		    d->owner == SPOOL_OWNER_TERN ? tgid : qgid;

		snprintf(path, sizeof(path), "%s%s%s", spool,
		    d->name[0] != '\0' ? "/" : "", d->name);
		spool_make(path, d->mode, uid, gid, &bad, &changed);
		if (d->hashed)
			spool_spread(path);
		for (int h = 0; d->hashed && h < 16; h++) {
			snprintf(path, sizeof(path), "%s/%s/%c", spool, d->name,
			    hex[h]);
			spool_make(path, d->mode, uid, gid, &bad, &changed);
		}
	}
	if (bad)
		return -1;
	return changed ? spool_sync_all(spool) : 0;
}

/* master_spool_check - what would stop master_spool_create */
int
master_spool_check(const char *spool,
    void (*report)(const char *msg, void *arg), void *arg)
{
	char msg[PATH_MAX + 128], parent[PATH_MAX];
	struct stat st;
	char *slash;

	if (spool[0] != '/') {
		snprintf(msg, sizeof(msg), "spool_dir %s: must be an absolute path",
		    spool);
		report(msg, arg);
		return 1;
	}
	if (stat(spool, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			snprintf(msg, sizeof(msg), "spool_dir %s: not a directory",
			    spool);
			report(msg, arg);
			return 1;
		}
		if (access(spool, W_OK | X_OK) < 0) {
			snprintf(msg, sizeof(msg), "spool_dir %s: not writable: %s",
			    spool, strerror(errno));
			report(msg, arg);
			return 1;
		}
		return 0;
	}
	/* Missing parents are created too: the nearest existing ancestor
	 * must be writable. */
	strlcpy(parent, spool, sizeof(parent));
	do {
		if ((slash = strrchr(parent, '/')) != NULL)
			*(slash == parent ? slash + 1 : slash) = '\0';
	} while (slash != NULL && slash != parent && access(parent, F_OK) < 0);
	if (access(parent, W_OK | X_OK) < 0) {
		snprintf(msg, sizeof(msg), "spool_dir %s does not exist and "
		    "cannot be created in %s: %s", spool, parent, strerror(errno));
		report(msg, arg);
		return 1;
	}
	return 0;
}
