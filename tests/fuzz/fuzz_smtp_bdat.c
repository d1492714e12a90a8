/*
 * fuzz_smtp_bdat - libFuzzer target for BDAT chunk data
 * (smtpd/smtp_bdat.c over smtpd/smtp_data.c's line writer).
 *
 * Input: the first octet chooses the bare-newline mode, the size limit
 * and a chunk size (1..64); the rest is the message octet stream.  The
 * check is differential: the stream fed as one chunk and fed in chunks
 * of the chosen size (so that CRLF pairs and long lines straddle chunk
 * boundaries) must give the same verdict and, for a message that is not
 * refused, the same file, since a BDAT message is the concatenation of
 * its chunks (RFC 3030 2).  The file must
 * hold CRLF lines only and, unless empty, end in CRLF.
 */
#include "config.h"

#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msgfile.h"
#include "smtp_bdat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fail - report a disagreement and abort, so libFuzzer keeps the input */
static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_smtp_bdat: %s\n", what);
	abort();
}

/* run - feed p[0..n) in pieces of step; the stored octets (malloc'd) */
static unsigned char *
run(const uint8_t *p, size_t n, size_t step, uint64_t limit,
    enum bare_newline_mode mode, struct smtp_data_result *res, size_t *len)
{
	static struct smtp_bdat b;	/* big: not on the stack */
	static struct msgfile_writer w;
	unsigned char *out;
	uint64_t fsize;
	int fd = memfd_create("fuzz_smtp_bdat", 0);

	if (fd < 0)
		fail("memfd_create");
	msgfile_writer_init(&w, fd);
	smtp_bdat_begin(&b, &w, limit, mode, NULL);
	for (size_t off = 0; off < n; off += step)
		smtp_bdat_feed(&b, (const char *)p + off, n - off < step ?
		    n - off : step);
	smtp_bdat_end(&b);
	*res = b.res;
	if (msgfile_writer_finish(&w, &fsize) != 0 ||
	    fsize < MSGFILE_TRAILER_LEN)
		fail("the file could not be finished");
	*len = (size_t)fsize - MSGFILE_TRAILER_LEN;
	if ((out = malloc(*len + 1)) == NULL ||
	    pread(fd, out, *len, 0) != (ssize_t)*len)
		fail("the file could not be read");
	close(fd);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t limits[] = { UINT64_MAX, 0, 2, 40, 1000,
	    70000, 300000, UINT64_MAX };
	struct smtp_data_result r1, r2;
	enum bare_newline_mode mode;
	unsigned char *a, *b;
	size_t alen, blen, step;
	uint64_t limit;
	int refused;

	if (size < 1)
		return 0;
	mode = data[0] & 1 ? BARE_NEWLINE_REJECT : BARE_NEWLINE_NORMALIZE;
	limit = limits[(data[0] >> 1) & 7];
	step = (size_t)(data[0] >> 4) * 4 + 1;
	a = run(data + 1, size - 1, size, limit, mode, &r1, &alen);
	b = run(data + 1, size - 1, step, limit, mode, &r2, &blen);
	/* A refused message is thrown away: only why matters (the hop
	 * count is looked at last, smtp_session.c). */
	refused = r1.too_big || r1.line_too_long || (r1.bare_newline &&
	    mode == BARE_NEWLINE_REJECT);
	if (!refused && (alen != blen || memcmp(a, b, alen) != 0))
		fail("the file depends on where the chunks end");
	if (r1.too_big != r2.too_big || r1.line_too_long != r2.line_too_long ||
	    r1.bare_newline != r2.bare_newline ||
	    (!refused && (r1.size != r2.size || r1.hops != r2.hops)))
		fail("the verdict depends on where the chunks end");
	for (size_t i = 0; i < alen; i++)
		if ((a[i] == '\r') != (i + 1 < alen && a[i + 1] == '\n'))
			fail("a bare CR or LF was stored");
	for (size_t i = 0; i < alen; i++)
		if (a[i] == '\n' && (i == 0 || a[i - 1] != '\r'))
			fail("a bare LF was stored");
	if (alen > 0 && a[alen - 1] != '\n')
		fail("the file does not end in CRLF");
	free(a);
	free(b);
	return 0;
}
