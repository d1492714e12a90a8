/*
 * qid - queue IDs: unique, time-ordered, safe as file names.
 */
#ifndef TERN_QID_H
#define TERN_QID_H

#include <stddef.h>

#define QID_LEN 16	/* 16 uppercase hex digits */

/*
 * qid_new - a new queue ID in buf (at least QID_LEN + 1): microseconds
 * since the epoch shifted left 8 bits plus a sequence number, in hex, so
 * IDs sort by when their files were made (arrival, except for a file
 * handed out ahead for an smtpd's next message, queue_commit.c).  Only queued calls it; the O_EXCL create of the
 * message file is what finally guarantees uniqueness.
 */
void qid_new(char *buf, size_t size);
/*
 * qid_new_in - the same, but the last hex digit is dir (0-15), the spool
 * directory the caller wants the file in; still unique and increasing
 * among every ID this process makes.
 */
void qid_new_in(char *buf, size_t size, unsigned dir);
/* qid_valid - 1 when s is a well-formed queue ID (hex, QID_LEN long) */
int qid_valid(const char *s);

#endif
