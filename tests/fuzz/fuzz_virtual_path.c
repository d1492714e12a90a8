/*
 * fuzz_virtual_path - libFuzzer target for common/virtual_path.c, the
 * check of a virtual_mailbox_map path (untrusted map contents).
 *
 * The whole input is the path (cut at its first NUL, as a map value
 * cannot hold one).  Besides memory errors it checks what
 * virtual_path.h promises of an accepted path: bounded, relative,
 * ending in '/', no empty, "." or ".." or dot-first component, no
 * control character or backslash, and taken for a virtual mailbox by
 * virtual_path_is.  A refused path always comes with a reason.  Built by
 * build.sh.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtual_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_accepted - the promises about an accepted path */
static void
check_accepted(const char *p, size_t len)
{
	size_t i, start = 0;

	if (len == 0 || len > VIRTUAL_PATH_MAX || p[0] == '/' ||
	    p[len - 1] != '/' || !virtual_path_is(p))
		abort();
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c == 0x7f || c == '\\')
			abort();
		if (c != '/')
			continue;
		/* The component p[start, i): not empty, not dot-first. */
		if (i == start || p[start] == '.')
			abort();
		start = i + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p = malloc(size + 1);
	const char *why = NULL;

	if (p == NULL)
		return 0;
	memcpy(p, data, size);
	p[size] = '\0';
	if (virtual_path_check(p, &why) == 0)
		check_accepted(p, strlen(p));
	else if (why == NULL || *why == '\0')
		abort();
	free(p);
	return 0;
}
