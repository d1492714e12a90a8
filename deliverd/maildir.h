/*
 * maildir - write messages into a Maildir (tmp -> fsync -> new -> fsync
 * of new/).  A message is written to a file in tmp/ that has no name
 * (O_TMPFILE) and gets its name in new/ once synced: no name is made in
 * tmp/ and taken out again, and the owner's delivery processes do not
 * queue on tmp/'s lock while one of them has the file system find an
 * inode.  Where O_TMPFILE or /proc is missing, the file is named in
 * tmp/ and linked, as Maildir has always done.
 *
 * Called in a delivery process after it has switched to the mailbox
 * owner's uid and gid; never called as root for someone else's mailbox.
 *
 * One message at a time: maildir_deliver().  Several at once, sharing
 * the sync of new/ (group commit): maildir_open(), then maildir_write()
 * for each message, maildir_sync_files() for them all, maildir_link()
 * for each, one maildir_sync(), and maildir_close().  A message counts
 * as delivered only once the maildir_sync() after its maildir_link() has
 * succeeded.
 */
#ifndef TERN_MAILDIR_H
#define TERN_MAILDIR_H

#include <stddef.h>
#include <sys/types.h>

#define MAILDIR_NAME_MAX	256	/* octets in a unique name, with NUL */

/* An open Maildir: its tmp/ and new/ directories. */
struct maildir {
	int	tmpfd;
	int	newfd;
};

/*
 * One message written into tmp/, until it is linked into new/: a file
 * without a name (O_TMPFILE) where the file system allows, else a named
 * one.
 */
struct maildir_msg {
	int	fd;			/* open until maildir_link */
	int	synced;			/* maildir_sync_files: 1 done, -1 failed */
	int	sync_errno;		/* why it failed */
	int	anon;			/* 1: no name in tmp/ (O_TMPFILE) */
	char	name[MAILDIR_NAME_MAX];	/* its name in new/ (and tmp/) */
};

/*
 * maildir_unique_name - a Maildir unique file name
 * "SECONDS.M<usec>P<pid>Q<count>R<random>.HOST" (HOST with '/' and ':'
 * encoded as \057 and \072).  Returns 0, or -1 if it did not fit.
 */
int maildir_unique_name(char *buf, size_t size, const char *hostname);

/*
 * maildir_open - open the Maildir at path, creating path (its last
 * component) and tmp/, new/, cur/ (mode 0700) when missing; what it
 * creates is synced.  Returns enum deliver_status (msg.h); on failure
 * err holds "x.y.z text".  Release with maildir_close.
 */
int maildir_open(struct maildir *md, const char *path, char *err,
    size_t errsize);

/*
 * maildir_open_at - as maildir_open, for the Maildir called name inside
 * the open directory dirfd; name itself is not followed if it is a
 * symbolic link (the open fails).
 */
int maildir_open_at(struct maildir *md, int dirfd, const char *name,
    char *err, size_t errsize);

/*
 * maildir_tmp_names - on: every file gets its name in tmp/ first, as
 * where O_TMPFILE or /proc is missing (for the tests of that way); off:
 * back to finding out whether nameless files work.
 */
void maildir_tmp_names(int on);

/* maildir_close - close what maildir_open opened */
void maildir_close(struct maildir *md);

/*
 * maildir_write - write the body_size octets of message found at
 * body_offset of msgfd (CRLF lines as stored in the queue; whatever
 * follows them in the file is not the message) to a new file in tmp/,
 * after "Return-Path: <return_path>" and "Delivered-To: delivered_to",
 * with LF line endings, and start writing it to disk.  The file stays
 * open in *mm for maildir_link.  Returns enum deliver_status with err on
 * failure (nothing is left in tmp/ then).
 */
int maildir_write(const struct maildir *md, struct maildir_msg *mm,
    int msgfd, off_t body_offset, off_t body_size, const char *return_path,
    const char *delivered_to, const char *hostname, char *err,
    size_t errsize);

/*
 * maildir_sync_files - fsync the files of n written messages at once,
 * for maildir_link to find done.  Optional: maildir_link syncs a file
 * itself when this was not called for it.
 */
void maildir_sync_files(struct maildir_msg *const *mm, size_t n);

/*
 * maildir_link - fsync (unless maildir_sync_files did) and close the
 * file of mm, then give it its name in new/.  The name is not durable
 * until the next maildir_sync.
 * Returns enum deliver_status with err on failure (nothing is left in
 * tmp/ or new/ then).
 */
int maildir_link(const struct maildir *md, struct maildir_msg *mm,
    char *err, size_t errsize);

/*
 * maildir_sync - fsync new/: every name maildir_link gave before is now
 * durable.  Returns enum deliver_status with err on failure; the caller
 * then takes each of those names back out (maildir_unlink), so that the
 * retry queued makes does not leave two copies.
 */
int maildir_sync(const struct maildir *md, char *err, size_t errsize);

/* maildir_unlink - take name out of new/ (after a failed maildir_sync) */
void maildir_unlink(const struct maildir *md, const char *name);

/*
 * maildir_deliver - deliver one message (maildir_open, maildir_write,
 * maildir_link, maildir_sync, maildir_close): the file is fsynced in
 * tmp/, linked into new/ and the new/ directory fsynced before success
 * is returned.  Returns enum deliver_status; on failure err holds
 * "x.y.z text" (4.x.x for temporary conditions such as a full disk or
 * missing home).
 */
int maildir_deliver(const char *path, int msgfd, off_t body_offset,
    off_t body_size, const char *return_path, const char *delivered_to,
    const char *hostname, char *err, size_t errsize);

#endif
