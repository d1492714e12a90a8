/*
 * mbox - append messages to an mbox file (mboxrd format), locked as
 * mutt and Dovecot expect: a PATH.lock dotlock and an fcntl lock, both
 * held while appending.
 *
 * Independent of who the file belongs to: the caller has already
 * switched to the uid (and groups) that may write the file and its
 * directory.  Used for a passwd user's mailbox_format = mbox mailbox
 * (local_child.c), and meant for /path/file deliveries of aliases.
 *
 * One message: mbox_deliver().  Several at once, sharing the fsync
 * (group commit): mbox_open(), mbox_append() for each message,
 * mbox_sync(), mbox_close().  A message counts as delivered only once
 * the mbox_sync() after its mbox_append() has succeeded.  A failed
 * append or sync truncates the file back, so that it never holds part
 * of a message.
 */
#ifndef TERN_MBOX_H
#define TERN_MBOX_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define MBOX_LOCK_WAIT		30	/* seconds to wait for the locks */
#define MBOX_DOTLOCK_STALE	300	/* a dotlock older than this is removed */
/* mbox_open flags */
#define MBOX_F_OWNED		0x1	/* the file must belong to our euid */

#define MBOX_FROM_EXTRA		64	/* a "From " line's octets besides
					 * the sender (NUL included) */

/* An open, locked mbox. */
struct mbox {
	int	fd;
	int	dotlocked;		/* lock holds our PATH.lock */
	int	broken;			/* a truncate failed: append no more */
	off_t	start;			/* size when locked */
	off_t	size;			/* size after the last append */
	int	need_nl;		/* newlines the file lacks before "From " */
	char	path[PATH_MAX];
	char	lock[PATH_MAX];
};

/* One message to append: CRLF lines as stored in the queue. */
struct mbox_msg {
	int		 fd;		/* read with pread, not moved */
	off_t		 offset;	/* where the message starts in fd */
	off_t		 size;		/* its length: exactly this much */
	const char	*sender;	/* envelope sender, "" for <> */
	const char	*recipient;	/* for Delivered-To */
	time_t		 date;		/* for the "From " line */
};

/*
 * mbox_from_line - the separator "From SENDER DATE\n" (asctime date in
 * local time; MAILER-DAEMON for the null sender; white space and control
 * characters in the sender as '_').  strlen(sender) + MBOX_FROM_EXTRA
 * octets always suffice.  Returns 0, or -1 if it did not fit.
 */
int mbox_from_line(char *buf, size_t size, const char *sender, time_t date);

/*
 * mbox_open - open path (creating it, mode 0600, when missing) and lock
 * it: PATH.lock (a dotlock older than MBOX_DOTLOCK_STALE is removed),
 * then an fcntl write lock, waiting at most wait seconds for both.
 * Refuses a file that is not regular or has other links, and with
 * MBOX_F_OWNED one that does not belong to the effective uid (a
 * mailbox in a spool directory others may write).  Returns enum
 * deliver_status (msg.h); on failure err holds "x.y.z text" (4.2.0 when
 * the lock cannot be had, 4.2.2 when the disk or quota is full) and
 * nothing is left locked.  Release with mbox_close.
 */
int mbox_open(struct mbox *mb, const char *path, int flags, int wait,
    char *err, size_t errsize);

/*
 * mbox_append - append one message: the "From " line, "Return-Path:
 * <sender>", "Delivered-To: recipient", the message with LF line ends
 * and mboxrd quoting (a line matching ">*From " gets one more '>'), a
 * final newline if it lacks one, and an empty line.  On failure the
 * file is truncated back to its size before this message (and synced),
 * and err says why.  Returns enum deliver_status.
 */
int mbox_append(struct mbox *mb, const struct mbox_msg *m, char *err,
    size_t errsize);

/*
 * mbox_sync - fsync the file: every message appended before is now
 * durable.  On failure the file is truncated back to its size at
 * mbox_open (none of them is delivered).  Returns enum deliver_status.
 */
int mbox_sync(struct mbox *mb, char *err, size_t errsize);

/* mbox_close - unlock (fcntl, then the dotlock) and close */
void mbox_close(struct mbox *mb);

/*
 * mbox_deliver - one message (mbox_open with flags and MBOX_LOCK_WAIT,
 * mbox_append, mbox_sync, mbox_close).  Returns enum deliver_status with err ("2.0.0 ..." on
 * success).
 */
int mbox_deliver(const char *path, int flags, const struct mbox_msg *m,
    char *err, size_t errsize);

#endif
