/*
 * fuzz_idna - libFuzzer target for common/idna.c and common/utf8.c: the
 * domain of an SMTPUTF8 address turned into the A-labels that DNS is
 * asked about.  Checked: the result is printable ASCII, lower case,
 * within the limits idna.h promises, never longer than the buffer, the
 * same for the same input, and refused whenever utf8_valid refuses the
 * input; utf8_valid never reads past its length.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idna.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fail - report and abort, so libFuzzer keeps the input */
static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_idna: %s\n", what);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size ? size : 1), out[300], again[300];
	int n;

	if (in == NULL)
		return 0;
	memcpy(in, data, size);	/* a heap copy: ASan sees overreads */
	n = idna_to_ascii(in, size, out, sizeof(out));
	if (n >= 0) {
		if ((size_t)n != strlen(out) || n > 253)
			fail("bad length");
		for (int i = 0; i < n; i++)
			if (out[i] <= ' ' || out[i] > '~' ||
			    (out[i] >= 'A' && out[i] <= 'Z'))
				fail("not lower-case printable ASCII");
		if (!utf8_valid(in, size))
			fail("invalid UTF-8 was encoded");
		if (idna_to_ascii(in, size, again, sizeof(again)) != n ||
		    strcmp(out, again) != 0)
			fail("not deterministic");
	}
	(void)utf8_valid(in, size);
	free(in);
	return 0;
}
