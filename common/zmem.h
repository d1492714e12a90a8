/*
 * zmem - large zeroed scratch memory that a process can hand back to the
 * kernel between uses, so that an idle process holds none of it.
 *
 * A forked worker (an smtpd waiting for its next client) pays for every
 * page it has written since the fork: a 150 KiB session buffer cleared
 * with memset() costs 150 KiB in each idle worker, although a session
 * uses a few pages of it.  zmem_clear() zeroes the region by dropping its
 * pages instead (madvise MADV_DONTNEED on private anonymous memory), so
 * the next use starts from shared zero pages and dirties only what it
 * writes.
 */
#ifndef TERN_ZMEM_H
#define TERN_ZMEM_H

#include <stddef.h>

/* zmem_new - size zeroed octets of their own pages; ends the process when
 * there is no memory.  Owned by the caller for the life of the process. */
void *zmem_new(size_t size);

/* zmem_clear - zero the whole of p (from zmem_new, the same size) and give
 * its pages back to the kernel */
void zmem_clear(void *p, size_t size);

#endif
