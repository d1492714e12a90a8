/*
 * maildir - write messages into a Maildir (tmp -> fsync -> new -> fsync
 * of new/; see maildir.h).
 *
 * Called by a delivery process of the local transport (local_child.c),
 * after that process has switched for good to the mailbox owner's uid and
 * gid.  It must never follow a symbolic link for tmp/, new/ or cur/ or
 * for the file it creates, never leave a file in new/ that is not
 * complete and on disk, and never log: everything it has to say goes
 * back in err.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file_out.h"
#include "maildir.h"
#include "msg.h"
#include "xmalloc.h"

#define MAILDIR_BUFSIZE		(64 * 1024)
#define MAILDIR_CREATE_TRIES	5
#define MAILDIR_SYNC_THREADS	8

/*
 * The copy buffers: 64 KiB in and out, so a message costs a few system
 * calls per 64 KiB rather than one per line.
 */
struct maildir_out {
	struct file_out	out;
	unsigned char	in[MAILDIR_BUFSIZE];
};

/* maildir_host_encode - hostname with '/' and ':' as \057 and \072 */
static int
maildir_host_encode(char *dst, size_t size, const char *host)
{
	size_t o = 0;
	const char *p;

	for (p = host; *p != '\0'; p++) {
		const char *rep = NULL;
		size_t rlen = 1;

		if (*p == '/')
			rep = "\\057";
		else if (*p == ':')
			rep = "\\072";
		if (rep != NULL)
			rlen = 4;
		if (o + rlen >= size)
			return -1;
		if (rep != NULL)
			memcpy(dst + o, rep, rlen);
		else
			dst[o] = *p;
		o += rlen;
	}
	if (o >= size)
		return -1;
	dst[o] = '\0';
	return 0;
}

/* maildir_unique_name - a Maildir unique file name (see maildir.h) */
int
maildir_unique_name(char *buf, size_t size, const char *hostname)
{
	static unsigned int count;
	char host[MAILDIR_NAME_MAX], local[MAILDIR_NAME_MAX];
	struct timeval tv;
	int n;

	if (hostname == NULL || *hostname == '\0') {
		if (gethostname(local, sizeof(local)) != 0)
			strlcpy(local, "localhost", sizeof(local));
		local[sizeof(local) - 1] = '\0';
		hostname = local;
	}
	if (maildir_host_encode(host, sizeof(host), hostname) != 0)
		return -1;
	gettimeofday(&tv, NULL);
	n = snprintf(buf, size, "%lld.M%ldP%ldQ%uR%08x.%s",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(), ++count,
	    (unsigned int)arc4random(), host);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return 0;
}

/*
 * maildir_fail - fill err from an errno value and return the status.
 * A full disk or quota, a permission problem and a missing directory are
 * all conditions an administrator can repair, so they defer the mail
 * rather than bounce it.
 */
static int
maildir_fail(char *err, size_t errsize, int e, const char *what)
{
	const char *dsn = "4.3.0";

	if (e == ENOSPC || e == EDQUOT)
		dsn = "4.2.2";
	else if (e == EACCES || e == EPERM || e == ENOENT || e == ENOTDIR ||
	    e == ELOOP || e == EROFS)
		dsn = "4.2.0";
	if (e == ENOSPC || e == EDQUOT)
		snprintf(err, errsize, "%s mailbox full: %s: %s", dsn, what,
		    strerror(e));
	else
		snprintf(err, errsize, "%s cannot deliver to maildir: %s: %s",
		    dsn, what, strerror(e));
	return DELIVER_TEMPFAIL;
}

/*
 * maildir_copy_body - copy size octets from msgfd at off, turning each
 * CRLF into LF.  A CR not followed by LF is kept.  Exactly size octets:
 * the file may hold more after the message, and a file that ends sooner
 * is damaged (EIO).  Returns 0, or -1 with errno set and *what naming the
 * side that failed.
 */
static int
maildir_copy_body(struct maildir_out *o, int msgfd, off_t off, off_t size,
    const char **what)
{
	unsigned char *in = o->in, *cr;
	int held_cr = 0;
	ssize_t n;

	while (size > 0) {
		size_t i, start;

		n = pread(msgfd, in, size < MAILDIR_BUFSIZE ? (size_t)size :
		    MAILDIR_BUFSIZE, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			*what = "reading queue file";
			return -1;
		}
		off += n;
		size -= n;
		*what = "writing message";
		/* A CR at the end of the last chunk waits to see what follows. */
		if (held_cr) {
			held_cr = 0;
			if (in[0] != '\n' &&
			    file_out_put(&o->out, "\r", 1) != 0)
				return -1;
		}
		start = 0;
		while (start < (size_t)n && (cr = memchr(in + start, '\r',
		    (size_t)n - start)) != NULL) {
			i = (size_t)(cr - in);
			if (file_out_put(&o->out, in + start, i - start) != 0)
				return -1;
			start = i + 1;
			if (start == (size_t)n)
				held_cr = 1;
			else if (in[start] != '\n' &&
			    file_out_put(&o->out, "\r", 1) != 0)
				return -1;
		}
		if (file_out_put(&o->out, in + start, (size_t)n - start) != 0)
			return -1;
	}
	if (held_cr && file_out_put(&o->out, "\r", 1) != 0) {
		*what = "writing message";
		return -1;
	}
	return 0;
}

/* maildir_header_ok - a value that cannot break out of its header line */
static int
maildir_header_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '\r' || *s == '\n')
			return 0;
	return 1;
}

/*
 * maildir_subdir - open (creating if missing) the directory name inside
 * dirfd, refusing a symbolic link.  Returns the descriptor or -1 (errno).
 */
static int
maildir_subdir(int dirfd, const char *name, int *created)
{
	int fd;

	if (mkdirat(dirfd, name, 0700) == 0)
		*created = 1;
	else if (errno != EEXIST)
		return -1;
	/* O_NOFOLLOW: tmp/ or new/ swapped for a link is refused, not used. */
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	return fd;
}

/* maildir_sync_parent - fsync the directory that holds path */
static int
maildir_sync_parent(const char *path)
{
	char parent[PATH_MAX];
	char *slash;
	int fd, r;

	if (strlcpy(parent, path, sizeof(parent)) >= sizeof(parent))
		return -1;
	/* "base/user/Maildir/" and "base/user/Maildir" name the same. */
	while ((slash = strrchr(parent, '/')) != NULL && slash[1] == '\0' &&
	    slash != parent)
		*slash = '\0';
	if ((slash = strrchr(parent, '/')) == NULL)
		strlcpy(parent, ".", sizeof(parent));
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

/*
 * maildir_subdirs - open tmp/ and new/ of the Maildir top (taken over and
 * closed), creating tmp/, new/ and cur/ when missing; created says top
 * itself is new.  Returns 0 or -1 (errno, *what set).
 */
static int
maildir_subdirs(int top, int created, const char *path, int *tmpfd,
    int *newfd, const char **what)
{
	int curfd;

	*what = "maildir tmp/";
	if ((*tmpfd = maildir_subdir(top, "tmp", &created)) == -1)
		goto fail;
	*what = "maildir new/";
	if ((*newfd = maildir_subdir(top, "new", &created)) == -1)
		goto fail;
	*what = "maildir cur/";
	if ((curfd = maildir_subdir(top, "cur", &created)) == -1)
		goto fail;
	close(curfd);
	/*
	 * A new Maildir's directory entries must reach the disk too, or a
	 * crash could take new/ and the message in it away after success.
	 */
	if (created && fsync(top) != 0) {
		*what = path;
		goto fail;
	}
	close(top);
	return 0;
fail:
	{
		int e = errno;

		if (*tmpfd != -1)
			close(*tmpfd);
		if (*newfd != -1)
			close(*newfd);
		*tmpfd = *newfd = -1;
		close(top);
		errno = e;
	}
	return -1;
}

/*
 * maildir_dirs_open - open the Maildir at path and its tmp/ and new/,
 * creating path (its last component only) and tmp/, new/, cur/ when
 * missing.  Returns 0 or -1 (errno, *what set).
 */
static int
maildir_dirs_open(const char *path, int *tmpfd, int *newfd,
    const char **what)
{
	int created = 0, top;

	*tmpfd = *newfd = -1;
	*what = path;
	if (mkdir(path, 0700) == 0) {
		created = 1;
		/* The Maildir's own name lives in its parent: sync that too, or
		 * a crash could lose the new Maildir with the first message. */
		if (maildir_sync_parent(path) != 0)
			return -1;
	} else if (errno != EEXIST)
		return -1;
	if ((top = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	return maildir_subdirs(top, created, path, tmpfd, newfd, what);
}

/* maildir_open_at - open (and create) the Maildir name inside dirfd */
int
maildir_open_at(struct maildir *md, int dirfd, const char *name, char *err,
    size_t errsize)
{
	int created = 0, top;

	md->tmpfd = md->newfd = -1;
	if (mkdirat(dirfd, name, 0700) == 0) {
		created = 1;
		/* As in maildir_dirs_open: the new name must be durable. */
		if (fsync(dirfd) != 0)
			return maildir_fail(err, errsize, errno, name);
	} else if (errno != EEXIST)
		return maildir_fail(err, errsize, errno, name);
	/* O_NOFOLLOW: a link in place of the Maildir is refused. */
	if ((top = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return maildir_fail(err, errsize, errno, name);
	{
		const char *what = name;

		if (maildir_subdirs(top, created, name, &md->tmpfd,
		    &md->newfd, &what) != 0)
			return maildir_fail(err, errsize, errno, what);
	}
	return DELIVER_OK;
}

/* maildir_open - open (and create) the Maildir at path */
int
maildir_open(struct maildir *md, const char *path, char *err,
    size_t errsize)
{
	const char *what = path;

	if (maildir_dirs_open(path, &md->tmpfd, &md->newfd, &what) != 0)
		return maildir_fail(err, errsize, errno, what);
	return DELIVER_OK;
}

/* maildir_close - close the Maildir's directories */
void
maildir_close(struct maildir *md)
{
	if (md->tmpfd != -1)
		close(md->tmpfd);
	if (md->newfd != -1)
		close(md->newfd);
	md->tmpfd = md->newfd = -1;
}

/* maildir_create_tmp - a new file in tmp/; its name goes to name */
static int
maildir_create_tmp(int tmpfd, const char *hostname, char *name, size_t size)
{
	int fd, i;

	for (i = 0; i < MAILDIR_CREATE_TRIES; i++) {
		if (maildir_unique_name(name, size, hostname) != 0) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = openat(tmpfd, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1 || errno != EEXIST)
			return fd;
	}
	return -1;
}

/* maildir_fill - headers and body into fd; 0, or -1 (errno, *what) */
static int
maildir_fill(int fd, int msgfd, off_t body_offset, off_t body_size,
    const char *return_path, const char *delivered_to, const char **what)
{
	struct maildir_out *o = xmalloc(sizeof(*o));
	int rc = -1, e;

	*what = "writing message";
	file_out_init(&o->out, fd);
	if (file_out_put(&o->out, "Return-Path: <", 14) != 0 ||
	    file_out_put(&o->out, return_path, strlen(return_path)) != 0 ||
	    file_out_put(&o->out, ">\nDelivered-To: ", 16) != 0 ||
	    file_out_put(&o->out, delivered_to, strlen(delivered_to)) != 0 ||
	    file_out_put(&o->out, "\n", 1) != 0)
		goto out;
	if (maildir_copy_body(o, msgfd, body_offset, body_size, what) != 0)
		goto out;
	*what = "writing message";
	if (file_out_flush(&o->out) != 0)
		goto out;
	rc = 0;
out:
	e = errno;
	free(o);
	errno = e;
	return rc;
}

/* Files without a name in tmp/ work here: unknown (-1), yes, no. */
static int maildir_anon_ok = -1;

/* maildir_tmp_names - named files in tmp/ (on), or find out (off) */
void
maildir_tmp_names(int on)
{
	maildir_anon_ok = on ? 0 : -1;
}

/*
 * maildir_create_anon - a new file in tmp/ without a name (O_TMPFILE),
 * which maildir_link names in new/ through /proc/self/fd; -1 where that
 * cannot work (no /proc, or a file system without O_TMPFILE).
 */
static int
maildir_create_anon(int tmpfd)
{
	int fd;

	if (maildir_anon_ok == -1)
		maildir_anon_ok = access("/proc/self/fd", X_OK) == 0;
	if (!maildir_anon_ok)
		return -1;
	fd = openat(tmpfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd == -1 && (errno == EOPNOTSUPP || errno == EISDIR ||
	    errno == EINVAL))
		maildir_anon_ok = 0;
	return fd;
}

/*
 * maildir_link_anon - give mm's nameless file its name in new/ (made
 * unique by maildir_write, as a name in tmp/ would be).  0, or -1
 * (errno) with nothing in new/.
 */
static int
maildir_link_anon(const struct maildir *md, const struct maildir_msg *mm)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", mm->fd);
	if (linkat(AT_FDCWD, proc, md->newfd, mm->name,
	    AT_SYMLINK_FOLLOW) == 0)
		return 0;
	/* /proc went away, or links cannot be made here: named files from
	 * now on; this delivery is tried again. */
	if (errno != EEXIST && errno != ENOSPC && errno != EDQUOT &&
	    errno != EIO)
		maildir_anon_ok = 0;
	return -1;
}

/* maildir_write - the message into a new file in tmp/, kept open */
int
maildir_write(const struct maildir *md, struct maildir_msg *mm, int msgfd,
    off_t body_offset, off_t body_size, const char *return_path,
    const char *delivered_to, const char *hostname, char *err,
    size_t errsize)
{
	const char *what;
	int e;

	mm->fd = -1;
	mm->synced = 0;
	mm->anon = 0;
	mm->name[0] = '\0';
	if (!maildir_header_ok(return_path) ||
	    !maildir_header_ok(delivered_to)) {
		snprintf(err, errsize, "5.6.0 line break in envelope address");
		return DELIVER_PERMFAIL;
	}
	if ((mm->fd = maildir_create_anon(md->tmpfd)) != -1) {
		mm->anon = 1;
		if (maildir_unique_name(mm->name, sizeof(mm->name),
		    hostname) != 0) {
			close(mm->fd);
			mm->fd = -1;
			return maildir_fail(err, errsize, ENAMETOOLONG,
			    "naming file");
		}
	} else if ((mm->fd = maildir_create_tmp(md->tmpfd, hostname,
	    mm->name, sizeof(mm->name))) == -1)
		return maildir_fail(err, errsize, errno,
		    "creating file in tmp/");
	if (maildir_fill(mm->fd, msgfd, body_offset, body_size, return_path,
	    delivered_to, &what) != 0) {
		e = errno;
		close(mm->fd);
		mm->fd = -1;
		if (!mm->anon)
			unlinkat(md->tmpfd, mm->name, 0);
		return maildir_fail(err, errsize, e, what);
	}
	/*
	 * Start writing the data now, without waiting: when several
	 * messages are written before any is synced, their data is already
	 * on its way, and the first fsync's journal commit can cover the
	 * others' allocations too.  Only a hint; maildir_link's fsync is
	 * what makes the file durable.
	 */
	(void)sync_file_range(mm->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	return DELIVER_OK;
}

/* The files one thread of maildir_sync_files syncs: every step-th. */
struct maildir_syncer {
	struct maildir_msg *const *mm;
	size_t		 n, first, step;
};

/* maildir_syncer_run - fsync this thread's share of the files */
static void *
maildir_syncer_run(void *arg)
{
	struct maildir_syncer *s = arg;
	size_t i;

	for (i = s->first; i < s->n; i += s->step) {
		if (fsync(s->mm[i]->fd) == 0)
			s->mm[i]->synced = 1;
		else {
			s->mm[i]->sync_errno = errno;
			s->mm[i]->synced = -1;
		}
	}
	return NULL;
}

/*
 * maildir_sync_files - fsync several files at once.  Why threads: one
 * fsync after another each waits for a journal commit of its own, while
 * fsyncs in flight together share one (the effect the old process per
 * delivery had).  Each file is still synced before it is linked.
 */
void
maildir_sync_files(struct maildir_msg *const *mm, size_t n)
{
	struct maildir_syncer s[MAILDIR_SYNC_THREADS];
	pthread_t th[MAILDIR_SYNC_THREADS];
	int started[MAILDIR_SYNC_THREADS];
	size_t t, nth = n < MAILDIR_SYNC_THREADS ? n : MAILDIR_SYNC_THREADS;

	for (t = 0; t < nth; t++) {
		s[t].mm = mm;
		s[t].n = n;
		s[t].first = t;
		s[t].step = nth;
		/* The first share is this thread's own. */
		started[t] = t > 0 && pthread_create(&th[t], NULL,
		    maildir_syncer_run, &s[t]) == 0;
	}
	for (t = 0; t < nth; t++)
		if (!started[t])
			maildir_syncer_run(&s[t]);
	for (t = 0; t < nth; t++)
		if (started[t])
			pthread_join(th[t], NULL);
}

/* maildir_link - sync and close the file, then link it into new/ */
int
maildir_link(const struct maildir *md, struct maildir_msg *mm, char *err,
    size_t errsize)
{
	const char *what = "syncing message";
	int e, rc;

	/* The message must be on disk before its name appears in new/. */
	if (mm->synced == 0) {
		rc = fsync(mm->fd);
		e = errno;
	} else {
		rc = mm->synced == 1 ? 0 : -1;
		e = mm->sync_errno;
	}
	if (mm->anon) {
		/* Named while open (it has no other name), then closed; a
		 * close that reports a late write error takes the name back. */
		what = "moving message to new/";
		if (rc == 0 && (rc = maildir_link_anon(md, mm)) != 0)
			e = errno;
		if (close(mm->fd) != 0 && rc == 0) {
			e = errno;
			rc = -1;
			what = "syncing message";
			unlinkat(md->newfd, mm->name, 0);
		}
		mm->fd = -1;
		return rc == 0 ? DELIVER_OK : maildir_fail(err, errsize, e,
		    what);
	}
	if (close(mm->fd) != 0 && rc == 0) {
		/* NFS reports some write errors only at close. */
		e = errno;
		rc = -1;
	}
	mm->fd = -1;
	if (rc != 0)
		goto fail;
	what = "moving message to new/";
	if (linkat(md->tmpfd, mm->name, md->newfd, mm->name, 0) == 0) {
		unlinkat(md->tmpfd, mm->name, 0);
		return DELIVER_OK;
	}
	/* Some file systems (AFS, some FUSE) have no hard links. */
	if ((errno == EPERM || errno == ENOSYS || errno == EXDEV ||
	    errno == EOPNOTSUPP || errno == EMLINK) &&
	    renameat(md->tmpfd, mm->name, md->newfd, mm->name) == 0)
		return DELIVER_OK;
	e = errno;
fail:
	unlinkat(md->tmpfd, mm->name, 0);
	return maildir_fail(err, errsize, e, what);
}

/* maildir_sync - make every name linked into new/ durable */
int
maildir_sync(const struct maildir *md, char *err, size_t errsize)
{
	/* Until new/ is synced the names in it may not survive a crash. */
	if (fsync(md->newfd) != 0)
		return maildir_fail(err, errsize, errno,
		    "syncing maildir new/");
	return DELIVER_OK;
}

/* maildir_unlink - take a name back out of new/ */
void
maildir_unlink(const struct maildir *md, const char *name)
{
	unlinkat(md->newfd, name, 0);
}

/* maildir_deliver - deliver one message into a Maildir (see maildir.h) */
int
maildir_deliver(const char *path, int msgfd, off_t body_offset,
    off_t body_size, const char *return_path, const char *delivered_to,
    const char *hostname, char *err, size_t errsize)
{
	struct maildir md;
	struct maildir_msg mm;
	int rc;

	if (!maildir_header_ok(return_path) ||
	    !maildir_header_ok(delivered_to)) {
		snprintf(err, errsize, "5.6.0 line break in envelope address");
		return DELIVER_PERMFAIL;
	}
	if ((rc = maildir_open(&md, path, err, errsize)) != DELIVER_OK)
		return rc;
	rc = maildir_write(&md, &mm, msgfd, body_offset, body_size,
	    return_path, delivered_to, hostname, err, errsize);
	if (rc == DELIVER_OK)
		rc = maildir_link(&md, &mm, err, errsize);
	if (rc == DELIVER_OK && (rc = maildir_sync(&md, err, errsize)) !=
	    DELIVER_OK)
		/* Taken back out, so that the retry leaves no second copy. */
		maildir_unlink(&md, mm.name);
	maildir_close(&md);
	if (rc == DELIVER_OK)
		snprintf(err, errsize, "2.0.0 delivered to maildir");
	return rc;
}
