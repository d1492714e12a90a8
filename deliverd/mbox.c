/*
 * mbox - append messages to a locked mbox file (see mbox.h).
 *
 * Format: mboxrd.  Each message begins with "From SENDER DATE", every
 * line that matches ">*From " (any number of '>', then "From ") gets one
 * more '>' in front, and the message ends with a newline and an empty
 * line.  mboxrd rather than mboxo because it can be undone exactly (a
 * reader strips one '>' from each ">+From " line), and a reader of
 * mboxo (mutt, Dovecot, Python's mailbox) sees the same lines as mboxo
 * would have written for every line that begins with "From ".
 *
 * Never a half message: the size of the file is taken once it is
 * locked, and any failure while appending (a full disk or quota
 * included) truncates it back to where this message began, then syncs.
 * A failed sync truncates back to where the batch began.
 *
 * Called in a delivery process that runs as the mailbox owner; never
 * logs, everything it has to say goes back in err.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "file_out.h"
#include "mbox.h"
#include "mbox_lock.h"
#include "msg.h"
#include "xmalloc.h"

#define MBOX_BUFSIZE	FILE_OUT_BUFSIZE

static const char mbox_from[] = "From ";
#define MBOX_FROM_LEN	(sizeof(mbox_from) - 1)

/* The copy buffers and the quoting state of one message being appended. */
struct mbox_out {
	struct file_out	out;		/* written: octets of this message */
	int		bol;		/* in the '>' run at the start of a line */
	size_t		matched;	/* octets of "From " held back */
	int		held_cr;	/* a CR waiting for what follows */
	unsigned char	in[MBOX_BUFSIZE];
};

/*
 * mbox_fail - err from an errno value, and the status: all of these are
 * conditions an administrator (or the user, deleting mail) can repair,
 * so they defer the mail.  A full disk or quota is X.2.2 "mailbox full"
 * (RFC 3463: "exceeded a per-mailbox administrative quota or physical
 * capacity"; deleting mail from the mbox makes room).
 */
static int
mbox_fail(char *err, size_t errsize, int e, const char *what)
{
	if (e == ENOSPC || e == EDQUOT || e == EFBIG)
		snprintf(err, errsize, "4.2.2 mailbox full: %s: %s", what,
		    strerror(e));
	else if (e == EWOULDBLOCK)
		snprintf(err, errsize, "4.2.0 mailbox locked: %s", what);
	else
		snprintf(err, errsize, "%s cannot deliver to mbox: %s: %s",
		    (e == EACCES || e == EPERM || e == ENOENT || e == ENOTDIR ||
		    e == ELOOP || e == EROFS) ? "4.2.0" : "4.3.0", what,
		    strerror(e));
	return DELIVER_TEMPFAIL;
}

/* mbox_from_line - "From SENDER DATE\n" */
int
mbox_from_line(char *buf, size_t size, const char *sender, time_t date)
{
	char when[64];
	struct tm tm;
	size_t i, len;
	int n;

	if (sender[0] == '\0')
		sender = "MAILER-DAEMON";
	if (localtime_r(&date, &tm) == NULL ||
	    strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm) == 0)
		return -1;
	len = strlen(sender);
	n = snprintf(buf, size, "From %s %s\n", sender, when);
	if (n < 0 || (size_t)n >= size)
		return -1;
	/* Readers split the line at blanks: the sender must be one word. */
	for (i = 5; i < 5 + len; i++)
		if ((unsigned char)buf[i] <= ' ' || buf[i] == 0x7f)
			buf[i] = '_';
	return 0;
}

/*
 * mbox_out_char - one octet of a line, quoted: the '>' run at the start
 * of a line passes, "From " after it is held back until it is complete
 * (then written with one more '>' in front: the '>' may go anywhere in
 * the run, all are alike) or broken (then written as it was).
 */
static int
mbox_out_char(struct mbox_out *o, unsigned char c)
{
	if (o->bol) {
		if (o->matched == 0 && c == '>')
			return file_out_put(&o->out, &c, 1);
		if (c == (unsigned char)mbox_from[o->matched]) {
			if (++o->matched < MBOX_FROM_LEN)
				return 0;
			o->matched = 0;
			o->bol = 0;
			return file_out_put(&o->out, ">From ",
			    MBOX_FROM_LEN + 1);
		}
		o->bol = 0;
		if (o->matched > 0 &&
		    file_out_put(&o->out, mbox_from, o->matched) != 0)
			return -1;
		o->matched = 0;
	}
	if (c == '\n')
		o->bol = 1;
	return file_out_put(&o->out, &c, 1);
}

/*
 * mbox_out_feed - n octets of the stored message: CRLF to LF, quoted.
 * Only the start of a line and a CR need mbox_out_char's care; the rest
 * of a line up to its next CR or LF is put as it is, in one piece.
 */
static int
mbox_out_feed(struct mbox_out *o, const unsigned char *p, size_t n)
{
	size_t i = 0, end;

	while (i < n) {
		if (o->held_cr) {
			o->held_cr = 0;
			if (p[i] != '\n' && mbox_out_char(o, '\r') != 0)
				return -1;
		}
		if (p[i] == '\r') {
			o->held_cr = 1;
			i++;
		} else if (!o->bol && p[i] != '\n') {
			for (end = i + 1; end < n && p[end] != '\r' &&
			    p[end] != '\n'; end++)
				;
			if (file_out_put(&o->out, p + i, end - i) != 0)
				return -1;
			i = end;
		} else if (mbox_out_char(o, p[i++]) != 0)
			return -1;
	}
	return 0;
}

/*
 * mbox_out_end - what the message left held back, then a newline if it
 * did not end with one, and the empty line that ends it in the mbox.
 */
static int
mbox_out_end(struct mbox_out *o)
{
	if (o->held_cr) {
		o->held_cr = 0;
		if (mbox_out_char(o, '\r') != 0)
			return -1;
	}
	if (o->matched > 0 && file_out_put(&o->out, mbox_from, o->matched) != 0)
		return -1;
	o->matched = 0;
	if (o->out.last != '\n' && file_out_put(&o->out, "\n", 1) != 0)
		return -1;
	return file_out_put(&o->out, "\n", 1);
}

/*
 * mbox_out_body - copy exactly size octets of the message from fd at
 * off (a file that ends sooner is damaged: EIO).  0, or -1 with errno
 * and *what.
 */
static int
mbox_out_body(struct mbox_out *o, int fd, off_t off, off_t size,
    const char **what)
{
	ssize_t n;

	while (size > 0) {
		n = pread(fd, o->in, size < MBOX_BUFSIZE ? (size_t)size :
		    MBOX_BUFSIZE, off);
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
		if (mbox_out_feed(o, o->in, (size_t)n) != 0)
			return -1;
	}
	return 0;
}

/* mbox_header_ok - a value that cannot break out of its header line */
static int
mbox_header_ok(const char *s)
{
	return strpbrk(s, "\r\n") == NULL;
}

/* mbox_fill - the whole message into o; 0, or -1 (errno, *what) */
static int
mbox_fill(struct mbox_out *o, const struct mbox *mb,
    const struct mbox_msg *m, const char **what)
{
	size_t fromsize = strlen(m->sender) + MBOX_FROM_EXTRA;
	char *from = xmalloc(fromsize);
	int rc = -1, e;

	*what = "writing message";
	if (mbox_from_line(from, fromsize, m->sender, m->date) != 0) {
		errno = EINVAL;
		goto out;
	}
	/* A file that does not end with an empty line (written by someone
	 * else, or damaged) gets it first: "From " must begin a line. */
	if (file_out_put(&o->out, "\n\n", (size_t)mb->need_nl) != 0 ||
	    file_out_put(&o->out, from, strlen(from)) != 0 ||
	    file_out_put(&o->out, "Return-Path: <", 14) != 0 ||
	    file_out_put(&o->out, m->sender, strlen(m->sender)) != 0 ||
	    file_out_put(&o->out, ">\nDelivered-To: ", 16) != 0 ||
	    file_out_put(&o->out, m->recipient, strlen(m->recipient)) != 0 ||
	    file_out_put(&o->out, "\n", 1) != 0)
		goto out;
	o->bol = 1;
	if (mbox_out_body(o, m->fd, m->offset, m->size, what) != 0)
		goto out;
	*what = "writing message";
	if (mbox_out_end(o) != 0 || file_out_flush(&o->out) != 0)
		goto out;
	rc = 0;
out:
	e = errno;
	free(from);
	errno = e;
	return rc;
}

/*
 * mbox_truncate - cut the file back to size and sync it; on failure the
 * file may hold a partial message, and mb takes no more.
 */
static void
mbox_truncate(struct mbox *mb, off_t size)
{
	if (ftruncate(mb->fd, size) != 0 || fsync(mb->fd) != 0) {
		mb->broken = 1;
		return;
	}
	mb->size = size;
}

/* mbox_append - one message at the end of the file, or nothing */
int
mbox_append(struct mbox *mb, const struct mbox_msg *m, char *err,
    size_t errsize)
{
	struct mbox_out *o;
	const char *what = "writing message";
	int rc = DELIVER_OK, e;

	if (!mbox_header_ok(m->sender) || !mbox_header_ok(m->recipient)) {
		snprintf(err, errsize, "5.6.0 line break in envelope address");
		return DELIVER_PERMFAIL;
	}
	if (mb->broken) {
		snprintf(err, errsize, "4.3.0 mbox could not be truncated "
		    "after a failed write");
		return DELIVER_TEMPFAIL;
	}
	o = xcalloc(1, sizeof(*o));
	file_out_init(&o->out, mb->fd);
	if (mbox_fill(o, mb, m, &what) != 0) {
		e = errno;
		/* Whatever reached the file goes, so no half message stays. */
		mbox_truncate(mb, mb->size);
		rc = mbox_fail(err, errsize, e, what);
	} else {
		mb->size += o->out.written;
		mb->need_nl = 0;
	}
	/* A long batch keeps its dotlock fresh, so that no one takes it
	 * for stale and removes it while it is held. */
	(void)utimensat(AT_FDCWD, mb->lock, NULL, AT_SYMLINK_NOFOLLOW);
	free(o);
	return rc;
}

/* mbox_sync - make what was appended durable, or take it all back */
int
mbox_sync(struct mbox *mb, char *err, size_t errsize)
{
	int e;

	if (fsync(mb->fd) == 0)
		return DELIVER_OK;
	e = errno;
	mbox_truncate(mb, mb->start);
	return mbox_fail(err, errsize, e, "syncing mbox");
}

/* mbox_sync_dir - fsync the directory holding path (a new file's name) */
static int
mbox_sync_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, r;

	strlcpy(dir, path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) == NULL)
		strlcpy(dir, ".", sizeof(dir));
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	/* A spool directory we may write but not read (mode 1733) cannot
	 * be opened to sync it: the file's own fsync then has to do (on
	 * journalling file systems it commits the new name too). */
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return errno == EACCES ? 0 : -1;
	r = fsync(fd);
	close(fd);
	return r;
}

/*
 * mbox_file_open - open path for appending, creating it (0600) when
 * missing, never through a symbolic link.  The descriptor, or -1 (errno,
 * *what).
 */
static int
mbox_file_open(const char *path, int flags, const char **what)
{
	struct stat st;
	int fd, i, e;

	*what = "opening mbox";
	for (i = 0; i < 3; i++) {
		fd = open(path, O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC);
		if (fd == -1 && errno == ENOENT) {
			*what = "creating mbox";
			fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL |
			    O_NOFOLLOW | O_CLOEXEC, 0600);
			if (fd == -1 && errno == EEXIST)
				continue;	/* created meanwhile: open it */
			/* Its name must survive a crash with the first mail. */
			if (fd != -1 && mbox_sync_dir(path) != 0) {
				*what = "syncing mbox directory";
				goto fail;
			}
		}
		if (fd == -1)
			return -1;
		break;
	}
	if (fd == -1)
		return -1;
	*what = "opening mbox";
	if (fstat(fd, &st) != 0)
		goto fail;
	/* A device or FIFO could block or never end; another link to the
	 * file would let mail land where its reader does not look. */
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		errno = S_ISREG(st.st_mode) ? EMLINK : EINVAL;
		*what = S_ISREG(st.st_mode) ? "mbox has other links" :
		    "mbox is not a regular file";
		goto fail;
	}
	/* In a shared spool directory someone else could have made the
	 * file first, to read what is appended to it. */
	if ((flags & MBOX_F_OWNED) && st.st_uid != geteuid()) {
		errno = EPERM;
		*what = "mbox belongs to another user";
		goto fail;
	}
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/*
 * mbox_tail - how many newlines the file lacks to end with an empty line
 * (0 when empty).  0..2, or -1 (errno).
 */
static int
mbox_tail(int fd, off_t size)
{
	unsigned char t[2];
	ssize_t n;

	if (size == 0)
		return 0;
	n = pread(fd, t, size >= 2 ? 2 : 1, size >= 2 ? size - 2 : 0);
	if (n < 0)
		return -1;
	if (n == 0 || t[n - 1] != '\n')
		return 2;
	return (n == 2 && t[0] == '\n') ? 0 : 1;
}

/* mbox_open - open and lock the mbox at path */
int
mbox_open(struct mbox *mb, const char *path, int flags, int wait,
    char *err, size_t errsize)
{
	time_t deadline = time(NULL) + wait;
	const char *what = "locking mbox";
	struct stat st;
	int e;

	memset(mb, 0, sizeof(*mb));
	mb->fd = -1;
	if (strlcpy(mb->path, path, sizeof(mb->path)) >= sizeof(mb->path) ||
	    (size_t)snprintf(mb->lock, sizeof(mb->lock), "%s.lock", path) >=
	    sizeof(mb->lock)) {
		snprintf(err, errsize, "4.3.0 mbox path too long");
		return DELIVER_TEMPFAIL;
	}
	/* The dotlock first, as Dovecot and procmail take them. */
	if (mbox_dotlock_take(mb->lock, deadline, MBOX_DOTLOCK_STALE) != 0)
		return mbox_fail(err, errsize, errno, errno == EWOULDBLOCK ?
		    "dotlock held by another process" : "creating dotlock");
	mb->dotlocked = 1;
	if ((mb->fd = mbox_file_open(path, flags, &what)) == -1)
		goto fail;
	what = "fcntl lock held by another process";
	if (mbox_fcntl_take(mb->fd, deadline) != 0) {
		if (errno != EWOULDBLOCK)
			what = "fcntl lock";
		goto fail;
	}
	/* Only now is the size the one this writer appends to. */
	what = "opening mbox";
	if (fstat(mb->fd, &st) != 0 || (mb->need_nl = mbox_tail(mb->fd,
	    st.st_size)) == -1)
		goto fail;
	mb->start = mb->size = st.st_size;
	return DELIVER_OK;
fail:
	e = errno;
	mbox_close(mb);
	return mbox_fail(err, errsize, e, what);
}

/* mbox_close - drop both locks and close */
void
mbox_close(struct mbox *mb)
{
	/* Closing the file drops the fcntl lock; the dotlock goes after,
	 * so that no one finds the file unlocked with our data unsynced. */
	if (mb->fd != -1)
		close(mb->fd);
	mb->fd = -1;
	if (mb->dotlocked)
		mbox_dotlock_drop(mb->lock);
	mb->dotlocked = 0;
}

/* mbox_deliver - one message, locked, appended and synced */
int
mbox_deliver(const char *path, int flags, const struct mbox_msg *m,
    char *err, size_t errsize)
{
	struct mbox mb;
	int rc;

	if ((rc = mbox_open(&mb, path, flags, MBOX_LOCK_WAIT, err,
	    errsize)) != DELIVER_OK)
		return rc;
	rc = mbox_append(&mb, m, err, errsize);
	if (rc == DELIVER_OK)
		rc = mbox_sync(&mb, err, errsize);
	mbox_close(&mb);
	if (rc == DELIVER_OK)
		snprintf(err, errsize, "2.0.0 delivered to mbox");
	return rc;
}
