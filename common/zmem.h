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
 * writes.  Dropping pages and faulting them in again has its own price
 * (a fault a page, a TLB flush): zmem_zero_except() is the cheaper reset
 * between back-to-back uses, zmem_clear() the one for going idle.
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

/* A part of a region that zmem_zero_except leaves as it is. */
struct zmem_keep {
	size_t	off;
	size_t	len;
};

/*
 * zmem_zero_except - zero p[0..size) with memset, except the nkeep
 * ranges in keep (sorted by offset, not overlapping, within size): the
 * buffers a caller never reads before it writes them, whose pages stay
 * as they are.  Keeps every page in memory that it writes; for reuse
 * at once, when giving pages back and faulting them in again costs more.
 */
void zmem_zero_except(void *p, size_t size, const struct zmem_keep *keep,
    size_t nkeep);

#endif
