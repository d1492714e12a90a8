/*
 * fuzz_envelope - libFuzzer target for envelope_decode(), the parser of
 * message-file envelopes that queued, deliverd and "ternctl rebuild" read.
 * Any input must decode or fail cleanly; a decoded envelope is encoded
 * again and must decode to the same length (the encoding is canonical).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "envelope.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope e, e2;
	unsigned char *buf;
	size_t off, off2, len;
	char err[128];

	if (envelope_decode(data, size, &e, &off, err, sizeof(err)) != 0)
		return 0;
	if (off > size)
		abort();
	envelope_encode(&e, &buf, &len);
	if (len != off ||
	    envelope_decode(buf, len, &e2, &off2, err, sizeof(err)) != 0 ||
	    off2 != len || e2.nrcpt != e.nrcpt)
		abort();
	envelope_free(&e2);
	free(buf);
	envelope_free(&e);
	return 0;
}
