/*
 * privsep - giving up root for good.
 *
 * The order matters and must not be changed: chroot needs root, so it
 * comes first (and chdir("/") after it, or the old cwd is an escape);
 * setgroups and setgid need root, so they come before setuid.  After the
 * switch we prove that root cannot be regained, because a setuid() that
 * only changed the effective uid would leave a way back.
 */
#include "config.h"

#include <sys/types.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "log.h"
#include "privsep.h"

#if defined(__SANITIZE_ADDRESS__)
#define PRIVSEP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PRIVSEP_ASAN 1
#endif
#endif

#ifdef PRIVSEP_ASAN
#include <sys/prctl.h>

/*
 * __lsan_is_turned_off - LeakSanitizer's hook, asked at exit in a
 * sanitizer build.  Its check reads /proc and ptraces the process's own
 * threads, which a chrooted process, or one that switched users here
 * (and so is no longer dumpable), cannot do: such a process is skipped
 * instead of failing at its exit.  Every other process is checked.
 */
int __lsan_is_turned_off(void);
int
__lsan_is_turned_off(void)
{
	return prctl(PR_GET_DUMPABLE) != 1 ||
	    access("/proc/self/task", R_OK) != 0;
}
#endif

/* privsep_user - uid and gid of user; 0 found, -1 no such user */
int
privsep_user(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(user);

	if (pw == NULL)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* privsep_group - gid of group; 0 found, -1 no such group */
int
privsep_group(const char *group, gid_t *gid)
{
	struct group *gr = getgrnam(group);

	if (gr == NULL)
		return -1;
	*gid = gr->gr_gid;
	return 0;
}

/* privsep_become - switch to uid/gid for good; -1 on any failure */
int
privsep_become(uid_t uid, gid_t gid)
{
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		return -1;
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		return -1;
	return 0;
}

/* privsep_drop - chroot (optional) and become user, when root */
void
privsep_drop(const char *user, const char *chroot_dir)
{
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0) {
		log_warn("not started as root: running as uid %ld without "
		    "privilege separation%s", (long)geteuid(),
		    chroot_dir ? " or chroot" : "");
		return;
	}
	if (privsep_user(user, &uid, &gid) < 0)
		fatalx("user %s does not exist (create it, or set tern_user/"
		    "tern_queue_user)", user);
	if (uid == 0)
		fatalx("refusing to run as %s: it has uid 0", user);
	if (chroot_dir != NULL) {
		if (chroot(chroot_dir) < 0)
			fatal("chroot %s", chroot_dir);
		if (chdir("/") < 0)
			fatal("chdir / in chroot");
	}
	if (privsep_become(uid, gid) < 0)
		fatal("cannot switch to user %s", user);
}
