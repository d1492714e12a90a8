/*
 * smtp_bdat - BDAT chunk data into lines into the queue file.  See
 * smtp_bdat.h.
 *
 * A chunk's size is the client's word and may be anything up to 2^64-1;
 * nothing here allocates by it.  Octets beyond message_size_limit are
 * read and dropped (RFC 3030 2: the data of a failed BDAT is accepted and
 * discarded), each read bounded by the caller's deadline.
 */
#include "config.h"

#include <string.h>

#include "smtp_bdat.h"

/* bdat_emit - the line so far ended with eol */
static void
bdat_emit(struct smtp_bdat *b, enum smtp_line_end eol)
{
	smtp_body_line(&b->body, b->line, b->len, eol, b->overlong);
	b->len = 0;
	b->overlong = 0;
}

/* smtp_bdat_begin - start the stream */
void
smtp_bdat_begin(struct smtp_bdat *b, struct msgfile_writer *out,
    uint64_t limit, enum bare_newline_mode mode,
    const struct smtp_data_fix *fix)
{
	memset(b, 0, sizeof(*b));
	smtp_body_begin(&b->body, out, limit, mode, fix, &b->res);
}

/* smtp_bdat_feed - cut p[0..n) into lines, carrying a CR over */
void
smtp_bdat_feed(struct smtp_bdat *b, const char *p, size_t n)
{
	/* Lines are cut at the same length as DATA's (smtp_data.c). */
	const size_t max = SMTP_TEXT_LINE_MAX - 2;

	b->received += n;
	if (b->received > b->body.limit)
		b->res.too_big = 1;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (b->cr) {
			b->cr = 0;
			if (c == '\n') {
				bdat_emit(b, SMTP_EOL_CRLF);
				continue;
			}
			bdat_emit(b, SMTP_EOL_CR);
		}
		if (c == '\r')
			b->cr = 1;
		else if (c == '\n')
			bdat_emit(b, SMTP_EOL_LF);
		else if (b->len < max)
			b->line[b->len++] = c;
		else
			b->overlong = 1;
	}
}

/* smtp_bdat_end - the stream is over */
void
smtp_bdat_end(struct smtp_bdat *b)
{
	if (b->cr) {
		b->cr = 0;
		bdat_emit(b, SMTP_EOL_CR);
	}
	/* A message need not end in CRLF in BDAT; the queue file's does,
	 * as DATA's always does. */
	if (b->len > 0 || b->overlong)
		bdat_emit(b, SMTP_EOL_CRLF);
	smtp_body_end(&b->body);
}

/* smtp_bdat_chunk - n octets from io into b (or nowhere) */
int
smtp_bdat_chunk(struct smtp_io *io, struct smtp_bdat *b, uint64_t n)
{
	static char buf[16384];

	while (n > 0) {
		ssize_t got = smtp_io_read(io, buf, n < sizeof(buf) ?
		    (size_t)n : sizeof(buf));

		if (got < 0)
			return (int)got;
		if (b != NULL)
			smtp_bdat_feed(b, buf, (size_t)got);
		n -= (uint64_t)got;
	}
	return SMTP_IO_OK;
}
