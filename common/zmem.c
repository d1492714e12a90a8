/*
 * zmem - zeroed scratch memory whose pages go back to the kernel between
 * uses (zmem.h).
 */
#include "config.h"

#include <sys/mman.h>
#include <string.h>

#include "log.h"
#include "zmem.h"

/* zmem_new - a private anonymous mapping of size octets (zero-filled) */
void *
zmem_new(size_t size)
{
	void *p = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		fatal("mmap %zu", size);
	return p;
}

/* zmem_clear - MADV_DONTNEED zero-fills private anonymous pages on their
 * next touch; should it ever fail, memset gives the same contents */
void
zmem_clear(void *p, size_t size)
{
	if (size == 0)
		return;
	if (madvise(p, size, MADV_DONTNEED) != 0)
		memset(p, 0, size);
}

/* zmem_zero_except - memset what lies between the kept ranges */
void
zmem_zero_except(void *p, size_t size, const struct zmem_keep *keep,
    size_t nkeep)
{
	unsigned char *base = p;
	size_t at = 0;

	for (size_t i = 0; i < nkeep; i++) {
		if (keep[i].off < at || keep[i].off > size ||
		    keep[i].len > size - keep[i].off)
			fatalx("zmem_zero_except: range %zu out of order", i);
		memset(base + at, 0, keep[i].off - at);
		at = keep[i].off + keep[i].len;
	}
	memset(base + at, 0, size - at);
}
