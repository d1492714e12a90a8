/*
 * smtp_data - receive the DATA content of one message into the queue file.
 *
 * Reads lines until the end-of-data marker, which is only ".", preceded
 * by CRLF and terminated by CRLF (RFC 5321 4.1.1.4).  A bare LF or bare CR
 * never ends the data and never reaches the queue file: in "normalize"
 * mode it is stored as CRLF, in "reject" mode the message is refused once
 * its end is reached (so that the session stays in sync).  Dot-stuffing
 * is removed (RFC 5321 4.5.2).  Output goes through the queue file
 * writer (msgfile.h): one write per 64 KiB.
 */
#ifndef TERN_SMTP_DATA_H
#define TERN_SMTP_DATA_H

#include <stdint.h>
#include <time.h>

#include "msgfile.h"
#include "settings.h"
#include "header.h"
#include "smtp_io.h"
#include "smtp_proto.h"

struct smtp_data_result {
	uint64_t	size;		/* octets of content (CRLF lines) */
	int		too_big;	/* exceeded the size limit: discarded */
	int		line_too_long;	/* a line over SMTP_TEXT_LINE_MAX */
	int		bare_newline;	/* saw a bare CR or LF */
	int		hops;		/* Received: header fields seen */
	int		tls_required_no;	/* "TLS-Required: No" (RFC
					   8689 3), once, in the header */
	int		io_status;	/* SMTP_IO_OK, or how the client failed */
	int		write_errno;	/* 0, or errno of a failed write */
};

/*
 * What a submission server adds to a message that lacks it (RFC 6409 8):
 * a Date: field, and a Message-ID: "<qid@myhostname>" when there is none
 * or the client's has no "@" (unqualified: it is dropped and replaced).
 * They go at the end of the header section, before the empty line.
 */
struct smtp_data_fix {
	const char	*myhostname;
	const char	*qid;
	time_t		 when;
};

/* The header section as seen so far, for struct smtp_data_fix. */
struct smtp_header_state {
	int	in_header;
	int	seen_date;
	int	seen_msgid;
	int	dropping;	/* inside an unqualified Message-ID field */
};

/*
 * The content of one message on its way into the queue file, one line
 * at a time, whether it came by DATA (dot-stuffing removed) or by BDAT
 * (smtp_bdat.h): the same limits, counts, bare newline policy and
 * submission fix-ups, so both produce the same file from the same
 * message.  Every line is written with CRLF, however it ended.
 */
struct smtp_body {
	struct msgfile_writer		*out;
	uint64_t			 limit;
	enum bare_newline_mode		 mode;
	const struct smtp_data_fix	*fix;	/* NULL: none */
	struct smtp_header_state	 h;
	struct header_tls_required	 tlsreq;
	uint64_t			 added;	/* octets of fix-ups */
	struct smtp_data_result		*res;
};

/* smtp_body_begin - start b (res is cleared and filled as lines come) */
void smtp_body_begin(struct smtp_body *b, struct msgfile_writer *out,
    uint64_t limit, enum bare_newline_mode mode,
    const struct smtp_data_fix *fix, struct smtp_data_result *res);

/* smtp_body_line - one line p[0..len) that ended with eol (overlong: it
 * was longer than SMTP_TEXT_LINE_MAX - 2 and cut) */
void smtp_body_line(struct smtp_body *b, const char *p, size_t len,
    enum smtp_line_end eol, int overlong);

/* smtp_body_end - the last line was given: finish b's result */
void smtp_body_end(struct smtp_body *b);

/*
 * smtp_data_receive - read the content from io and append it to out
 * (stop writing, but keep reading, once limit octets are exceeded or a
 * write fails; the caller finishes the file).  Returns 0 when the end-of-data marker was read (check
 * res for why the message may still have to be refused), -1 when the
 * client went away or timed out (res->io_status says which).  fix (may
 * be NULL) asks for the submission header fields; res->size includes
 * what was added.
 */
int smtp_data_receive(struct smtp_io *io, struct msgfile_writer *out,
    uint64_t limit,
    enum bare_newline_mode mode, const struct smtp_data_fix *fix,
    struct smtp_data_result *res);

#endif
