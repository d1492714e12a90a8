/*
 * local_loop - the Delivered-To: loop check of local delivery: a
 * message whose header already holds "Delivered-To: ADDRESS" for the
 * address it is being delivered to has been here before (forwarded
 * back, or an alias that leads out and in again), and is returned as a
 * mail loop (5.4.6) instead of being delivered again.  The smtp
 * transport asks the same before it sends on a copy that an alias or a
 * .forward of ADDRESS forwards (transport_smtp.c), since such a copy is
 * not delivered locally before it leaves.
 */
#ifndef TERN_LOCAL_LOOP_H
#define TERN_LOCAL_LOOP_H

#include <sys/types.h>

/* Octets of the header section read at most; fields beyond are not
 * looked at (the message is delivered). */
#define LOCAL_LOOP_HEADER_MAX	(256 * 1024)

/*
 * local_loop_check - whether the header section of the message at
 * offset in fd (size octets, CRLF lines) has a Delivered-To: field
 * whose value is address (case-insensitive, white space around it
 * ignored).  1 yes, 0 no, -1 the file could not be read.
 */
int local_loop_check(int fd, off_t offset, off_t size, const char *address);

#endif
