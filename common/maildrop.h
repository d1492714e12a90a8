/*
 * maildrop - local submission without set-uid root: the directory
 * SPOOL/maildrop and what the three programs that touch it agree on.
 *
 *   sendmail (tools/, runs as the user, no privilege) builds a whole
 *     queue file (envelope.h, msgfile.h: envelope, message, trailer) in
 *     memory and pipes it to
 *   tern-postdrop (tools/postdrop.c, set-group-ID setgid_group), which
 *     copies it into a temporary file in maildrop/, checks it, syncs it
 *     and renames it to its final name; the file belongs to the user who
 *     ran it (the kernel says so: tern-postdrop runs with that user's
 *     uid, never with one it was told), mode 0444, so queued can read it;
 *   queued (queued/pickup.c) takes each final file, validates it as it
 *     validates anything from outside, copies it into the queue under a
 *     new queue ID with a Received: field naming the file owner's uid,
 *     and removes it once the queue has it durably.
 *
 * The directory is owned by tern_queue_user and setgid_group, mode 1730
 * (as Postfix's): the group may create files but neither list nor read
 * them, nobody else may even enter, and the sticky bit keeps anyone but
 * the file's owner and queued from renaming or removing a file.
 *
 * File names in maildrop/:
 *   .QID         a temporary file tern-postdrop is writing (QID from
 *                qid_new()); abandoned after MAILDROP_TEMP_STALE seconds
 *   QID          a finished submission, waiting for queued
 *   QID.QID2     one queued has claimed for its queue file QID2 (so that
 *                a crash between the two cannot deliver it twice)
 */
#ifndef TERN_MAILDROP_H
#define TERN_MAILDROP_H

#include "envelope.h"
#include "msgfile.h"

#define MAILDROP_DIR		"maildrop"
#define MAILDROP_DIR_MODE	01730
#define MAILDROP_FILE_MODE	0444
#define MAILDROP_PROGRAM	"tern-postdrop"

/* tern-postdrop's whole run, reading included, is bounded by this
 * (sendmail has the message before it starts tern-postdrop) ... */
#define MAILDROP_DEADLINE	600		/* seconds */
/* ... so a temporary file this old is provably abandoned. */
#define MAILDROP_TEMP_STALE	(6 * MAILDROP_DEADLINE)

/*
 * MAILDROP_FILE_MAX - the largest maildrop file for a message_size_limit
 * of limit: the message itself is bounded by sendmail, the rest is the
 * envelope prefix and the trailer.  tern-postdrop and queued both
 * refuse anything larger.
 */
#define MAILDROP_FILE_MAX(limit) \
	((uint64_t)(limit) + 16 + ENVELOPE_MAX_LEN + MSGFILE_TRAILER_LEN)

#endif
