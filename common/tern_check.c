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

#include "dane_check.h"
#include "lmtp_target.h"
#include "maildrop.h"
#include "privsep.h"
#include "smtp_tls_check.h"
#include "spool_layout.h"
#include "tern_check.h"
#include "tls_server.h"
#include "virtual_check.h"

#define MSG_LEN	(PATH_MAX + 256)
/* Messages that name a path up to four times (how to fix it). */
#define MSG_LONG_LEN	(4 * PATH_MAX + 256)

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

/*
 * check_maps - alias maps compiled, and not older than their source.
 * lookupd reads a source without a current .db from its text
 * (map_source.c), so mail still flows: a warning, except for ternctl
 * check's strict mode and an unreadable .db.
 */
static void
check_maps(const struct settings *s, const struct tern_check *c)
{
	char db[PATH_MAX], msg[MSG_LONG_LEN];
	struct stat src, dst;

	for (size_t i = 0; i < s->alias_maps.n; i++) {
		const char *a = s->alias_maps.v[i];

		if (strncmp(a, "hash:", 5) == 0)
			a += 5;
		if (stat(a, &src) < 0)
			continue;
		snprintf(db, sizeof(db), "%s.db", a);
		if (stat(db, &dst) < 0) {
			snprintf(msg, sizeof(msg), "alias_maps: %s is not "
			    "compiled; lookupd reads %s itself until you run "
			    "newaliases (or ternmap -a %s)", db, a, a);
			c->warn(msg, c->arg);
		} else if (dst.st_mtim.tv_sec < src.st_mtim.tv_sec ||
		    (dst.st_mtim.tv_sec == src.st_mtim.tv_sec &&
		    dst.st_mtim.tv_nsec < src.st_mtim.tv_nsec)) {
			snprintf(msg, sizeof(msg), "alias_maps: %s is older "
			    "than %s; lookupd reads %s itself until you run "
			    "newaliases (or ternmap -a %s)", db, a, a, a);
			(c->strict ? c->report : c->warn)(msg, c->arg);
		} else if (access(db, R_OK) < 0) {
			snprintf(msg, sizeof(msg), "alias_maps: %s: %s", db,
			    strerror(errno));
			c->report(msg, c->arg);
		}
	}
}

/*
 * check_postdrop - tern-postdrop is set-group-ID setgid_group, or users
 * other than root cannot use sendmail (a warning: the rest of tern works
 * without it).  Owner and group are checked as root only.
 */
static void
check_postdrop(const struct settings *s, const struct tern_check *c)
{
	char path[PATH_MAX], msg[MSG_LONG_LEN];
	struct stat st;
	gid_t gid;

	snprintf(path, sizeof(path), "%s/%s", s->daemon_directory,
	    MAILDROP_PROGRAM);
	if (stat(path, &st) < 0) {
		snprintf(msg, sizeof(msg), "%s: %s; sendmail cannot submit "
		    "mail", path, strerror(errno));
		c->warn(msg, c->arg);
		return;
	}
	if (geteuid() != 0)
		return;
	if (privsep_group(s->setgid_group, &gid) < 0) {
		snprintf(msg, sizeof(msg), "setgid_group %s does not exist: "
		    "only root can use sendmail (create it with: groupadd "
		    "--system %s)", s->setgid_group, s->setgid_group);
		c->warn(msg, c->arg);
		return;
	}
	if (st.st_uid != 0 || st.st_gid != gid ||
	    (st.st_mode & 07022) != S_ISGID) {
		snprintf(msg, sizeof(msg), "%s should be owned by root, group "
		    "%s, mode 2755 (now uid %lu, gid %lu, mode %04o): users "
		    "other than root cannot use sendmail (fix: chgrp %s %s && "
		    "chmod 2755 %s)", path, s->setgid_group,
		    (unsigned long)st.st_uid, (unsigned long)st.st_gid,
		    (unsigned)(st.st_mode & 07777), s->setgid_group, path,
		    path);
		c->warn(msg, c->arg);
	}
}

/*
 * check_lmtp - an LMTP socket that is not there is worth a warning, not
 * a refusal: Dovecot may well start after tern, and the mail waits.
 */
static void
check_lmtp(const struct settings *s, const struct tern_check *c)
{
	char msg[MSG_LEN], err[200];
	struct lmtp_target t;
	struct stat st;

	if (lmtp_target_parse(s->mailbox_transport, &t, err, sizeof(err)) != 0 ||
	    t.kind != LMTP_TARGET_UNIX)
		return;
	if (stat(t.path, &st) == 0 && S_ISSOCK(st.st_mode))
		return;
	snprintf(msg, sizeof(msg), "mailbox_transport: %s is not a socket "
	    "(yet?): local mail waits in the queue until the LMTP server "
	    "listens there", t.path);
	c->warn(msg, c->arg);
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
	if (s->mailbox_format == MAILBOX_MBOX && s->mailbox_base[0] == '\0' &&
	    (stat(s->mail_spool_directory, &st) < 0 || !S_ISDIR(st.st_mode))) {
		snprintf(msg, sizeof(msg), "mail_spool_directory %s: not a "
		    "directory", s->mail_spool_directory);
		c->report(msg, c->arg);
	}
	check_maps(s, c);
	virtual_check(s, c);
	smtp_tls_check(s, c);
	dane_check(s, c);
	check_postdrop(s, c);
	check_lmtp(s, c);
}

/* check_dir - one directory: there, a directory, its owner and mode */
static void
check_dir(const char *path, mode_t mode, uid_t uid, gid_t gid,
    const struct tern_check *c)
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
	} else if (gid != (gid_t)-1 && st.st_gid != gid) {
		snprintf(msg, sizeof(msg), "%s: group %ld, should be %ld",
		    path, (long)st.st_gid, (long)gid);
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
	gid_t qgid, dgid;
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
	if (root != 0 || privsep_group(s->setgid_group, &dgid) < 0)
		dgid = (gid_t)-1;	/* not root's spool, or reported */
	for (size_t i = 0; i < sizeof(spool_layout) / sizeof(spool_layout[0]);
	    i++) {
		const struct spool_layout_dir *d = &spool_layout[i];
		uid_t owner = d->owner == SPOOL_OWNER_ROOT ? root : quid;
		/* The maildrop's group is what lets tern-postdrop in. */
		gid_t group = d->owner == SPOOL_OWNER_MAILDROP ? dgid :
		    (gid_t)-1;

		snprintf(path, sizeof(path), "%s%s%s", s->spool_dir,
		    d->name[0] != '\0' ? "/" : "", d->name);
		check_dir(path, d->mode, owner, group, c);
		for (int h = 0; d->hashed && h < 16; h++) {
			snprintf(path, sizeof(path), "%s/%s/%c", s->spool_dir,
			    d->name, hex[h]);
			check_dir(path, d->mode, owner, group, c);
		}
	}
}
