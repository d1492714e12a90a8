/*
 * fuzz_addr - libFuzzer target for common/addr.c.
 *
 * The first input octet chooses the parse options, the rest is the
 * address.  Besides memory errors (ASan) it checks the promises addr.h
 * makes: bounded results, lowercase domains, and that what addr_format
 * writes parses back to the same address.  Built by build.sh.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_result - invariants of a successful parse */
static void
check_result(const struct mailaddr *a, int opts)
{
	struct mailaddr b;
	char text[ADDR_TEXT_MAX];
	size_t i, llen = strlen(a->local), dlen = strlen(a->domain);
	int n;

	if (llen > ADDR_LOCAL_MAX || dlen > ADDR_DOMAIN_MAX)
		abort();
	for (i = 0; i < dlen; i++)
		if (a->domain[i] >= 'A' && a->domain[i] <= 'Z' &&
		    !(a->flags & ADDR_F_LITERAL))
			abort();
	if ((a->flags & ADDR_F_UTF8) && !(opts & ADDR_P_UTF8))
		abort();
	if ((a->flags & ADDR_F_NULL) && !(opts & ADDR_P_REVERSE))
		abort();
	if ((a->flags & ADDR_F_POSTMASTER) && !(opts & ADDR_P_FORWARD))
		abort();
	if (a->flags & (ADDR_F_NULL | ADDR_F_POSTMASTER)) {
		if (dlen != 0)
			abort();
		return;
	}
	if (llen == 0 || dlen == 0)
		abort();
	if (!addr_domain_valid(a->domain, dlen, opts & ADDR_P_UTF8))
		abort();
	if ((n = addr_format(a, text, sizeof(text))) < 0 ||
	    (size_t)n != strlen(text))
		abort();
	/* the canonical text is a mailbox naming the same local and domain */
	if (addr_parse_mailbox(text, (size_t)n, opts, &b) != ADDR_OK)
		abort();
	if (strcmp(a->local, b.local) != 0 ||
	    strcmp(a->domain, b.domain) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailaddr a;
	enum addr_error e;
	size_t used;
	char *copy;
	int opts;

	if (size < 1)
		return 0;
	opts = data[0] & (ADDR_P_REVERSE | ADDR_P_FORWARD | ADDR_P_UTF8 |
	    ADDR_P_NOBRACKETS);
	/* an exact-size heap copy, so overreads are caught */
	if ((copy = malloc(size - 1 > 0 ? size - 1 : 1)) == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);

	e = addr_parse_path(copy, size - 1, opts, &a, &used);
	if (e == ADDR_OK) {
		if (used == 0 || used > size - 1 || used > ADDR_PATH_MAX)
			abort();
		check_result(&a, opts);
	} else if (used != 0 || a.local[0] != '\0' || a.domain[0] != '\0')
		abort();
	if (strncmp(addr_error_text(e, opts & 1), "", 1) == 0)
		abort();

	if (addr_parse_mailbox(copy, size - 1, opts & ~ADDR_P_REVERSE, &a) ==
	    ADDR_OK)
		check_result(&a, opts & ~ADDR_P_REVERSE);
	(void)addr_domain_valid(copy, size - 1, opts & ADDR_P_UTF8);
	free(copy);
	return 0;
}
