/*
 * maildir - write one message into a Maildir (tmp -> fsync -> new).
 *
 * Called in the per-delivery child after it has switched to the mailbox
 * owner's uid and gid; never called as root for someone else's mailbox.
 */
#ifndef TERN_MAILDIR_H
#define TERN_MAILDIR_H

#include <stddef.h>
#include <sys/types.h>

/*
 * maildir_unique_name - a Maildir unique file name
 * "SECONDS.M<usec>P<pid>Q<count>R<random>.HOST" (HOST with '/' and ':'
 * encoded as \057 and \072).  Returns 0, or -1 if it did not fit.
 */
int maildir_unique_name(char *buf, size_t size, const char *hostname);

/*
 * maildir_deliver - deliver the body_size octets of message found at
 * body_offset of msgfd (CRLF lines as stored in the queue; whatever
 * follows them in the file is not the message) to the Maildir at path,
 * creating
 * path/{tmp,new,cur} when missing (mode 0700).  Prepends
 * "Return-Path: <return_path>" and "Delivered-To: delivered_to", and writes
 * LF line endings.  The file is fsynced in tmp/, linked into new/ and the
 * new/ directory fsynced before success is returned.
 * Returns enum deliver_status (msg.h); on failure err holds "x.y.z text"
 * (4.x.x for temporary conditions such as a full disk or missing home).
 */
int maildir_deliver(const char *path, int msgfd, off_t body_offset,
    off_t body_size, const char *return_path, const char *delivered_to,
    const char *hostname, char *err, size_t errsize);

#endif
