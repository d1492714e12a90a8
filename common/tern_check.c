/*
 * tern_check - configuration and installation checks (tern_check.h).
 *
 * Read-only: nothing here changes a file.  Run by root (ternd -n,
 * ternctl check) or by any user, who then sees what that user can see.
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "privsep.h"
#include "spool_layout.h"
#include "tern_check.h"
#include "tls_server.h"

#define MSG_LEN	(PATH_MAX + 256)

/* check_users - the accounts exist and are not root */
static void
check_users(const struct settings *s, const struct tern_check *c)
{
	const char *users[] = { s->tern_user, s->tern_queue_user };
	const char *names[] = { "tern_user", "tern_queue_user" };
	char msg[MSG_LEN];

	for (int i = 0; i < 2; i++) {
		uid_t uid;
		gid_t gid;

		if (privsep_user(users[i], &uid, &gid) < 0) {
			snprintf(msg, sizeof(msg), "%s: user %s does not "
			    "exist (create it with: useradd --system "
			    "--no-create-home --shell /usr/sbin/nologin %s)",
			    names[i], users[i], users[i]);
			c->report(msg, c->arg);
		} else if (uid == 0) {
			snprintf(msg, sizeof(msg), "%s: user %s has uid 0",
			    names[i], users[i]);
			c->report(msg, c->arg);
		}
	}
	if (strcmp(s->tern_user, s->tern_queue_user) == 0) {
		snprintf(msg, sizeof(msg), "tern_user and tern_queue_user must "
		    "be different users (both are %s)", s->tern_user);
		c->report(msg, c->arg);
	}
	if (getgrnam(s->tern_admin_group) == NULL) {
		snprintf(msg, sizeof(msg), "tern_admin_group: group %s does "
		    "not exist: only root can administer tern (create it "
		    "with: groupadd --system %s)", s->tern_admin_group,
		    s->tern_admin_group);
		c->warn(msg, c->arg);
	}
}

/* check_daemons - the programs ternd starts are there and executable */
static void
check_daemons(const struct settings *s, const struct tern_check *c)
{
	static const char *const daemons[] = { "smtpd", "lookupd", "queued",
	    "deliverd" };
	char path[PATH_MAX], msg[MSG_LEN];

	for (size_t i = 0; i < sizeof(daemons) / sizeof(daemons[0]); i++) {
		snprintf(path, sizeof(path), "%s/tern-%s", s->daemon_directory,
		    daemons[i]);
		if (access(path, X_OK) < 0) {
			snprintf(msg, sizeof(msg), "daemon_directory: %s: %s",
			    path, strerror(errno));
			c->report(msg, c->arg);
		}
	}
}

/* check_maps - alias maps compiled, and not older than their source */
static void
check_maps(const struct settings *s, const struct tern_check *c)
{
	char db[PATH_MAX], msg[MSG_LEN];
	struct stat src, dst;

	for (size_t i = 0; i < s->alias_maps.n; i++) {
		const char *a = s->alias_maps.v[i];

		if (stat(a, &src) < 0)
			continue;
		snprintf(db, sizeof(db), "%s.db", a);
		if (stat(db, &dst) < 0) {
			snprintf(msg, sizeof(msg), "alias_maps: %s is not "
			    "compiled (run: ternmap -a %s)", db, a);
			c->warn(msg, c->arg);
		} else if (dst.st_mtim.tv_sec < src.st_mtim.tv_sec ||
		    (dst.st_mtim.tv_sec == src.st_mtim.tv_sec &&
		    dst.st_mtim.tv_nsec < src.st_mtim.tv_nsec)) {
			snprintf(msg, sizeof(msg), "alias_maps: %s is older "
			    "than %s (run: ternmap -a %s)", db, a, a);
			(c->strict ? c->report : c->warn)(msg, c->arg);
		} else if (access(db, R_OK) < 0) {
			snprintf(msg, sizeof(msg), "alias_maps: %s: %s", db,
			    strerror(errno));
			c->report(msg, c->arg);
		}
	}
}

/* tern_check_config - everything but the spool */
void
tern_check_config(const struct settings *s, const struct tern_check *c)
{
	char msg[MSG_LEN];
	struct stat st;

	if (geteuid() == 0)
		check_users(s, c);
	check_daemons(s, c);
	(void)tls_server_check(s, c->report, c->arg);
	if (s->mailbox_base[0] != '\0' && (stat(s->mailbox_base, &st) < 0 ||
	    !S_ISDIR(st.st_mode))) {
		snprintf(msg, sizeof(msg), "mailbox_base %s: not a directory",
		    s->mailbox_base);
		c->report(msg, c->arg);
	}
	check_maps(s, c);
}

/* check_dir - one directory: there, a directory, its owner and mode */
static void
check_dir(const char *path, mode_t mode, uid_t uid, const struct tern_check *c)
{
	char msg[MSG_LEN];
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return;		/* ternd creates it */
		snprintf(msg, sizeof(msg), "%s: %s", path, strerror(errno));
		c->report(msg, c->arg);
	} else if (!S_ISDIR(st.st_mode)) {
		snprintf(msg, sizeof(msg), "%s: not a directory", path);
		c->report(msg, c->arg);
	} else if ((st.st_mode & 07777) != mode) {
		snprintf(msg, sizeof(msg), "%s: mode %04o, should be %04o",
		    path, (unsigned)(st.st_mode & 07777), (unsigned)mode);
		c->report(msg, c->arg);
	} else if (st.st_uid != uid) {
		snprintf(msg, sizeof(msg), "%s: owned by uid %ld, should be "
		    "%ld", path, (long)st.st_uid, (long)uid);
		c->report(msg, c->arg);
	}
}

/* tern_check_spool - the layout's owners and modes */
void
tern_check_spool(const struct settings *s, const struct tern_check *c)
{
	static const char hex[] = SPOOL_HASH_DIGITS;
	char path[PATH_MAX];
	uid_t quid = geteuid(), root = geteuid();
	gid_t qgid;
	struct stat st;

	if (stat(s->spool_dir, &st) < 0)
		return;
	/* ternd run by another user keeps everything with that user
	 * (master_spool_create): the spool's owner says which. */
	if (st.st_uid != 0)
		quid = root = st.st_uid;
	else if (privsep_user(s->tern_queue_user, &quid, &qgid) < 0)
		return;		/* reported by check_users */
	else
		root = 0;
	for (size_t i = 0; i < sizeof(spool_layout) / sizeof(spool_layout[0]);
	    i++) {
		const struct spool_layout_dir *d = &spool_layout[i];
		uid_t owner = d->owner == SPOOL_OWNER_QUEUE ? quid : root;

		snprintf(path, sizeof(path), "%s%s%s", s->spool_dir,
		    d->name[0] != '\0' ? "/" : "", d->name);
		check_dir(path, d->mode, owner, c);
		for (int h = 0; d->hashed && h < 16; h++) {
			snprintf(path, sizeof(path), "%s/%s/%c", s->spool_dir,
			    d->name, hex[h]);
			check_dir(path, d->mode, owner, c);
		}
	}
}
