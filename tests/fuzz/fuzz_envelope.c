/*
 * fuzz_envelope - libFuzzer target for envelope_decode() and
 * envelope_read(), the parsers of message-file envelopes that queued,
 * deliverd and "ternctl rebuild" read.
 *
 * The input is the start of a message file.  Any input must decode or
 * fail cleanly, and the same way from memory (envelope_decode) and from
 * a file (envelope_read, through a memfd).  A decoded envelope is encoded
 * again and must give back exactly the octets it was decoded from, but
 * for the version number and the flags that version 3 added (the
 * encoding is canonical: nothing is accepted that the encoder would not
 * write), and decode again to the same body
 * offset; envelope_validate runs on it too.  Built by build.sh.
 */
#include "config.h"

#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fail - report a broken promise and abort, so libFuzzer keeps the input */
static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_envelope: %s\n", what);
	abort();
}

/* be32 - the big-endian u32 at p */
static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* file_of - the process's memfd, holding exactly data */
static int
file_of(const uint8_t *data, size_t size)
{
	static int fd = -1;

	if (fd == -1 && (fd = memfd_create("fuzz_envelope", 0)) == -1)
		fail("memfd_create");
	if (ftruncate(fd, 0) != 0 ||
	    (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		fail("cannot write the memfd");
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope e, e2, e3;
	unsigned char *buf;
	size_t off, off2, len, extra;
	off_t foff;
	char err[128], err2[128];
	int rc, rc2;

	if (size > ENVELOPE_MAX_LEN + 64)
		return 0;
	rc = envelope_decode(data, size, &e, &off, err, sizeof(err));
	rc2 = envelope_read(file_of(data, size), &e2, &foff, err2,
	    sizeof(err2));
	if (rc != rc2)
		fail("envelope_read and envelope_decode disagree");
	if (rc != 0) {
		if (e.nrcpt != 0 || e.rcpts != NULL || e.envid != NULL ||
		    e2.nrcpt != 0 || e2.rcpts != NULL || e2.envid != NULL ||
		    strncmp(err, "envelope: ", 10) != 0)
			fail("a failed decode left something behind");
		return 0;
	}
	if (off > size || (off_t)off != foff || e.nrcpt != e2.nrcpt ||
	    e.nrcpt < 1)
		fail("envelope_read and envelope_decode disagree on a success");
	if (e.version < 1 || e.version > ENVELOPE_VERSION)
		fail("a version outside 1..ENVELOPE_VERSION decoded");
	(void)envelope_validate(&e, err2, sizeof(err2));
	/* The encoder writes the current version; older ones still read. */
	envelope_encode(&e, &buf, &len);
	/* Before version 3 there were no flags: the encoding gains them
	 * (4 octets, 0) at its end, and its length says so. */
	extra = e.version < 3 ? 4 : 0;
	if (len != off + extra || memcmp(buf, data, 8) != 0 ||
	    be32(buf + 12) != be32(data + 12) + extra ||
	    memcmp(buf + 16, data + 16, off - 16) != 0 ||
	    (extra && memcmp(buf + off, "\0\0\0\0", 4) != 0))
		fail("the encoding is not canonical");
	if (envelope_decode(buf, len, &e3, &off2, err, sizeof(err)) != 0 ||
	    off2 != len || e3.nrcpt != e.nrcpt)
		fail("an encoded envelope does not decode");
	envelope_free(&e3);
	free(buf);
	envelope_free(&e2);
	envelope_free(&e);
	return 0;
}
