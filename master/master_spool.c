/*
 * master_spool - create and check the spool layout.  See master_spool.h.
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master_spool.h"

static int
spool_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	struct stat st;

	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		log_error("mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_error("%s: not a directory", path);
		return -1;
	}
	if (geteuid() == 0 && (st.st_uid != uid || st.st_gid != gid) &&
	    chown(path, uid, gid) < 0) {
		log_error("chown %s: %s", path, strerror(errno));
		return -1;
	}
	if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0) {
		log_error("chmod %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Create the missing parents of path (mode 0755), like mkdir -p. */
static int
spool_parents(const char *path)
{
	char buf[PATH_MAX];

	if (strlcpy(buf, path, sizeof(buf)) >= sizeof(buf))
		return -1;
	for (char *p = buf + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
			log_error("mkdir %s: %s", buf, strerror(errno));
			return -1;
		}
		*p = '/';
	}
	return 0;
}

/* master_spool_create - make the layout, fixing owners and modes */
int
master_spool_create(const char *spool, uid_t quid, gid_t qgid)
{
	static const char hex[] = "0123456789ABCDEF";
	char path[PATH_MAX];
	uid_t me = geteuid();
	gid_t mygid = getegid();
	int bad = 0;

	if (me != 0) {
		quid = me;
		qgid = mygid;
	}
	if (spool_parents(spool) < 0)
		return -1;
	bad |= spool_dir(spool, 0755, me, mygid);
	snprintf(path, sizeof(path), "%s/db", spool);
	bad |= spool_dir(path, 0700, quid, qgid);
	snprintf(path, sizeof(path), "%s/msg", spool);
	bad |= spool_dir(path, 0700, quid, qgid);
	for (int i = 0; i < 16; i++) {
		snprintf(path, sizeof(path), "%s/msg/%c", spool, hex[i]);
		bad |= spool_dir(path, 0700, quid, qgid);
	}
	/* Queue files that failed validation: kept for a human, never
	 * deleted by tern. */
	snprintf(path, sizeof(path), "%s/corrupt", spool);
	bad |= spool_dir(path, 0700, quid, qgid);
	snprintf(path, sizeof(path), "%s/empty", spool);
	bad |= spool_dir(path, 0555, me, mygid);
	snprintf(path, sizeof(path), "%s/run", spool);
	bad |= spool_dir(path, 0755, me, mygid);
	return bad ? -1 : 0;
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
