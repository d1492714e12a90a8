/*
 * smtp_bdat - the content of one message sent in BDAT chunks (RFC 3030).
 *
 * The chunks are one octet stream: a line may start in one chunk and end
 * in the next, and a CR that ends a chunk is half of a CRLF when the
 * next chunk starts with LF.  The stream is cut into lines exactly as
 * smtp_io cuts DATA (CRLF, bare LF, bare CR) and each line goes through
 * smtp_body (smtp_data.h), so the queue file holds the same octets as
 * DATA would have produced for the same message, minus the dot-stuffing
 * that BDAT does not have.  A last line without CRLF is ended with one.
 * BINARYMIME is not offered: bare CR and LF get the same
 * smtpd_bare_newline treatment as in DATA.
 */
#ifndef TERN_SMTP_BDAT_H
#define TERN_SMTP_BDAT_H

#include <stdint.h>

#include "smtp_data.h"
#include "smtp_io.h"

struct smtp_bdat {
	struct smtp_body	 body;
	struct smtp_data_result	 res;
	char			 line[SMTP_TEXT_LINE_MAX];
	size_t			 len;		/* octets of line so far */
	int			 overlong;	/* the line was cut */
	int			 cr;		/* the last octet was a CR */
	uint64_t		 received;	/* octets of every chunk */
};

/* smtp_bdat_begin - a transaction's first chunk comes; the arguments are
 * smtp_body_begin's */
void smtp_bdat_begin(struct smtp_bdat *b, struct msgfile_writer *out,
    uint64_t limit, enum bare_newline_mode mode,
    const struct smtp_data_fix *fix);

/* smtp_bdat_feed - the next n octets of the stream */
void smtp_bdat_feed(struct smtp_bdat *b, const char *p, size_t n);

/* smtp_bdat_end - after the LAST chunk: b->res is the verdict, as
 * smtp_data_receive's */
void smtp_bdat_end(struct smtp_bdat *b);

/*
 * smtp_bdat_chunk - read exactly n octets of chunk data from io and feed
 * them to b, or drop them when b is NULL (a refused BDAT: its data must
 * still be read, or it would be taken for commands).  0, or a negative
 * smtp_io_status when the client went away or was too slow.
 */
int smtp_bdat_chunk(struct smtp_io *io, struct smtp_bdat *b, uint64_t n);

#endif
