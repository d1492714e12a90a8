/*
 * tern-postdrop - put one message into SPOOL/maildrop for sendmail.
 *
 * This is tern's only set-group-ID program (group setgid_group; see
 * maildrop.h for the directory and the file names), and so a privilege
 * boundary: whoever runs it is untrusted.  sendmail pipes it a whole
 * queue file (envelope, message, trailer); it copies that into a
 * temporary file in maildrop/, checks it completely (trailer, checksum,
 * every envelope field: msgfile_check), syncs it, renames it to a fresh
 * name and prints that name.  It never interprets the message, never
 * writes anything that says who the user is: the file belongs to the
 * real uid of the caller because this program runs with that uid and
 * no other (it gives up any effective uid a set-uid caller lent it), so
 * queued learns the uid from the kernel, not from anything a user could
 * write.
 *
 * What it trusts: nothing from the environment (cleared first), nothing
 * on standard input beyond what msgfile_check accepts, at most
 * MAILDROP_FILE_MAX octets of it, for at most MAILDROP_DEADLINE seconds.
 * Its only option is -C FILE, the configuration that names the spool.
 * Postfix's postdrop accepts another configuration directory from a
 * user other than root only when the default main.cf lists it in
 * alternate_config_directories, because a configuration the user chose
 * could point the program's group privilege anywhere.  tern asks the
 * same question of the file system instead of a second setting: FILE
 * and every directory above it must belong to root and be writable by
 * nobody else (a sticky directory such as /tmp counts, since only root
 * can replace root's entries there), and FILE must be readable by
 * everyone, so that what this program obeys is always something root
 * wrote and nothing it reports is a secret.
 *
 * Exit status per sysexits(3): 0 done, EX_USAGE, EX_NOPERM (-C refused),
 * EX_CONFIG, EX_DATAERR (input malformed or too large), EX_TEMPFAIL (the
 * maildrop cannot take it now: sendmail exits 75 too).
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "fsspace.h"
#include "log.h"
#include "maildrop.h"
#include "msgfile.h"
#include "qid.h"
#include "settings.h"

int main(int argc, char **argv);

static const char *default_config = TERN_SYSCONFDIR "/tern/tern.conf";

#if defined(__SANITIZE_ADDRESS__)
/*
 * In a sanitizer build (configure --enable-sanitizers), leak checking is
 * off here: LeakSanitizer inspects the process through ptrace, which a
 * set-group-ID program (not dumpable) refuses, and every run would then
 * end in its "fatal error" instead of the real exit status.
 */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

/* The temporary file, removed by postdrop_signal() while it is set. */
static int tmp_dirfd = -1;
static char tmp_name[QID_MAX + 2];
static volatile sig_atomic_t tmp_active;

/* postdrop_die - a message on stderr, the temporary file gone, exit */
static void __attribute__((noreturn, format(printf, 2, 3)))
postdrop_die(int status, const char *fmt, ...)
{
	va_list ap;

	if (tmp_active)
		(void)unlinkat(tmp_dirfd, tmp_name, 0);
	fputs("tern-postdrop: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/* postdrop_signal - the deadline or a kill: no half file stays behind */
static void
postdrop_signal(int sig)
{
	(void)sig;
	if (tmp_active)
		(void)unlinkat(tmp_dirfd, tmp_name, 0);
	_exit(EX_TEMPFAIL);
}

/*
 * postdrop_sanitize - the process state a set-group-ID program must not
 * inherit: the environment, a closed standard descriptor (a file opened
 * later would take its number and receive error messages), a caller's
 * effective uid, a umask.
 */
static void
postdrop_sanitize(void)
{
	uid_t uid = getuid();
	struct sigaction sa;
	int fd;

	if (clearenv() != 0)
		_exit(EX_OSERR);
	for (fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			_exit(EX_OSERR);
	/* The file must belong to the real user, whoever lent an
	 * effective uid: queued logs its owner as the submitter. */
	if (setresuid(uid, uid, uid) != 0 || geteuid() != uid)
		_exit(EX_OSERR);
	umask(022);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = postdrop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGXFSZ, &sa, NULL);
	alarm(MAILDROP_DEADLINE);
}

/* postdrop_dir_safe - st is a directory only root can change entries of */
static int
postdrop_dir_safe(const struct stat *st)
{
	return S_ISDIR(st->st_mode) && st->st_uid == 0 &&
	    ((st->st_mode & 022) == 0 || (st->st_mode & S_ISVTX));
}

/*
 * postdrop_config_trusted - may a user other than root make us read path?
 * (see the top of this file).  0, or -1 with the reason in why.
 */
static int
postdrop_config_trusted(const char *path, char *why, size_t whysize)
{
	char real[PATH_MAX], *slash;
	struct stat st;

	if (realpath(path, real) == NULL || stat(real, &st) < 0) {
		snprintf(why, whysize, "%s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & 022) != 0 || (st.st_mode & 004) == 0) {
		snprintf(why, whysize, "not a regular file of root's that "
		    "only root may change and everyone may read");
		return -1;
	}
	while ((slash = strrchr(real, '/')) != NULL) {
		slash[slash == real ? 1 : 0] = '\0';
		if (lstat(real, &st) < 0 || !postdrop_dir_safe(&st)) {
			snprintf(why, whysize, "directory %s may be changed by "
			    "a user other than root", real);
			return -1;
		}
		if (slash == real)
			break;
	}
	return 0;
}

/* postdrop_report - one configuration problem on stderr */
static void
postdrop_report(const char *file, int line, const char *msg, void *arg)
{
	(void)arg;
	if (line > 0)
		fprintf(stderr, "tern-postdrop: %s:%d: %s\n", file, line, msg);
	else
		fprintf(stderr, "tern-postdrop: %s: %s\n", file, msg);
}

/* postdrop_config - the settings, from a path this caller may name */
static void
postdrop_config(int argc, char **argv, struct settings *s)
{
	const char *path = default_config;
	char why[PATH_MAX + 100];

	if (argc == 3 && strcmp(argv[1], "-C") == 0)
		path = argv[2];
	else if (argc != 1)
		postdrop_die(EX_USAGE, "usage: tern-postdrop [-C config] "
		    "(run by sendmail)");
	if (path != default_config && getuid() != 0 &&
	    postdrop_config_trusted(path, why, sizeof(why)) < 0)
		postdrop_die(EX_NOPERM, "-C %s refused: %s", path, why);
	if (settings_load(s, path, path == default_config, postdrop_report,
	    NULL) != 0)
		postdrop_die(EX_CONFIG, "%s: cannot use the configuration",
		    path);
}

/* postdrop_maildrop - a descriptor of SPOOL/maildrop, if it has room */
static int
postdrop_maildrop(const struct settings *s, char *dir, size_t dirsize)
{
	struct fsspace fs;
	struct stat st;
	int dfd;

	if ((size_t)snprintf(dir, dirsize, "%s/%s", s->spool_dir,
	    MAILDROP_DIR) >= dirsize)
		postdrop_die(EX_CONFIG, "spool_dir too long");
	/* O_PATH: the group may enter and create, not list (mode 1730). */
	if ((dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fstat(dfd, &st) < 0)
		postdrop_die(EX_TEMPFAIL, "cannot use %s: %s (has ternd ever "
		    "started?)", dir, strerror(errno));
	fsspace_init(&fs, dir);
	if (!fsspace_enough(fsspace_avail(&fs), s->queue_minfree, 0))
		postdrop_die(EX_TEMPFAIL, "not enough free space in %s "
		    "(queue_minfree)", dir);
	return dfd;
}

/* postdrop_copy - standard input into fd, at most max octets */
static void
postdrop_copy(int fd, uint64_t max)
{
	static char buf[65536];
	uint64_t total = 0;
	ssize_t n, w;

	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			postdrop_die(EX_TEMPFAIL, "read: %s", strerror(errno));
		if (n == 0)
			return;
		total += (uint64_t)n;
		if (total > max)
			postdrop_die(EX_DATAERR, "message too large (more than "
			    "%llu octets)", (unsigned long long)max);
		for (ssize_t off = 0; off < n; off += w) {
			w = write(fd, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0)
				postdrop_die(EX_TEMPFAIL, "write: %s",
				    w < 0 ? strerror(errno) : "short write");
		}
	}
}

/* postdrop_check - the copy is a whole, valid queue file of this version */
static void
postdrop_check(int fd)
{
	struct msgfile_info info;
	char err[256], verr[1024];

	if (msgfile_check(fd, 1, &info, err, sizeof(err)) !=
	    MSGFILE_COMPLETE)
		postdrop_die(EX_DATAERR, "malformed input: %s",
		    log_vis(verr, sizeof(verr), err, strlen(err)));
	if (info.env.version != ENVELOPE_VERSION) {
		envelope_free(&info.env);
		postdrop_die(EX_DATAERR, "malformed input: envelope version");
	}
	envelope_free(&info.env);
}

/*
 * postdrop_commit - give the synced temporary file its final name and
 * make that name durable.  The directory cannot be opened to fsync it
 * (the group may not read it), so syncfs() commits the file system's
 * metadata instead; local submissions are rare enough to afford it.
 * Signals wait meanwhile: once the name exists, an exit must not tell
 * sendmail "failed" for a message that will be delivered.
 */
static void
postdrop_commit(int dfd, int fd, char *name, size_t namesize)
{
	sigset_t all, old;
	int r = -1;

	if (fchmod(fd, MAILDROP_FILE_MODE) < 0 || fsync(fd) < 0)
		postdrop_die(EX_TEMPFAIL, "sync: %s", strerror(errno));
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	for (int tries = 0; tries < 100 && r < 0; tries++) {
		qid_new(name, namesize);
		r = renameat2(dfd, tmp_name, dfd, name, RENAME_NOREPLACE);
		if (r < 0 && errno != EEXIST)
			break;
	}
	if (r < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		postdrop_die(EX_TEMPFAIL, "rename: %s", strerror(errno));
	}
	tmp_active = 0;
	if (syncfs(fd) < 0) {
		int err = errno;

		(void)unlinkat(dfd, name, 0);
		sigprocmask(SIG_SETMASK, &old, NULL);
		postdrop_die(EX_TEMPFAIL, "syncfs: %s", strerror(err));
	}
	printf("%s\n", name);
	if (fflush(stdout) != 0) {
		/* sendmail went away; the message is queued regardless */
	}
}

int
main(int argc, char **argv)
{
	struct settings s;
	char dir[PATH_MAX], name[QID_MAX];
	int dfd, fd = -1;

	postdrop_sanitize();
	log_init("postdrop", 1);
	postdrop_config(argc, argv, &s);
	dfd = postdrop_maildrop(&s, dir, sizeof(dir));
	tmp_dirfd = dfd;
	for (int tries = 0; tries < 100 && fd < 0; tries++) {
		tmp_name[0] = '.';
		qid_new(tmp_name + 1, sizeof(tmp_name) - 1);
		fd = openat(dfd, tmp_name, O_RDWR | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0)
		postdrop_die(EX_TEMPFAIL, "cannot create a file in %s: %s",
		    dir, strerror(errno));
	tmp_active = 1;
	postdrop_copy(fd, MAILDROP_FILE_MAX(s.message_size_limit));
	postdrop_check(fd);
	postdrop_commit(dfd, fd, name, sizeof(name));
	close(fd);
	settings_free(&s);
	return 0;
}
