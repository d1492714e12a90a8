/*
 * smtp_data - the DATA phase: end-of-data detection, dot-unstuffing,
 * bare newline policy and size limits.  See smtp_data.h.
 *
 * Why only CRLF.CRLF ends the data: a server that also ends it at LF.LF
 * or similar while the next hop does not lets a client "smuggle" a second
 * message inside the first (the 2023 SMTP smuggling class).  Storing bare
 * line ends as CRLF, instead of passing them through, means tern never
 * relays such a sequence to a server that might be fooled by it.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "header.h"
#include "msgfile.h"
#include "smtp_data.h"

/* header_add_missing - write the fields fix asks for and h lacks */
static uint64_t
header_add_missing(struct msgfile_writer *o, const struct smtp_data_fix *fix,
    const struct smtp_header_state *h)
{
	char buf[600], date[64];
	int n;
	uint64_t added = 0;

	if (!h->seen_date && header_date_format(fix->when, date,
	    sizeof(date)) > 0 && (n = snprintf(buf, sizeof(buf),
	    "Date: %s\r\n", date)) > 0 && (size_t)n < sizeof(buf)) {
		msgfile_write(o, buf, (size_t)n);
		added += (uint64_t)n;
	}
	if (!h->seen_msgid && (n = snprintf(buf, sizeof(buf),
	    "Message-ID: <%s@%s>\r\n", fix->qid, fix->myhostname)) > 0 &&
	    (size_t)n < sizeof(buf)) {
		msgfile_write(o, buf, (size_t)n);
		added += (uint64_t)n;
	}
	return added;
}

/*
 * header_line - note a line of the header section; 1 when the line must
 * not be written (part of a dropped Message-ID).  At the first line that
 * is not a header field, the missing fields are written before it.
 */
static int
header_line(struct smtp_header_state *h, struct msgfile_writer *o,
    const struct smtp_data_fix *fix, const char *p, size_t len,
    uint64_t *added)
{
	if (len > 0 && (p[0] == ' ' || p[0] == '\t'))
		return h->dropping;
	h->dropping = 0;
	if (!header_is_field(p, len)) {
		h->in_header = 0;
		if (fix != NULL)
			*added += header_add_missing(o, fix, h);
		return 0;
	}
	if (header_field_is(p, len, "Date"))
		h->seen_date = 1;
	else if (header_field_is(p, len, "Message-ID")) {
		if (fix != NULL && memchr(p, '@', len) == NULL)
			return h->dropping = 1;
		h->seen_msgid = 1;
	}
	return 0;
}

/* smtp_body_begin - a message's content starts */
void
smtp_body_begin(struct smtp_body *b, struct msgfile_writer *out,
    uint64_t limit, enum bare_newline_mode mode,
    const struct smtp_data_fix *fix, struct smtp_data_result *res)
{
	memset(b, 0, sizeof(*b));
	memset(res, 0, sizeof(*res));
	b->out = out;
	b->limit = limit;
	b->mode = mode;
	b->fix = fix;
	b->h.in_header = 1;
	b->res = res;
}

/* smtp_body_line - one line of content, written as it is plus CRLF */
void
smtp_body_line(struct smtp_body *b, const char *p, size_t len,
    enum smtp_line_end eol, int overlong)
{
	struct smtp_data_result *res = b->res;

	if (eol != SMTP_EOL_CRLF)
		res->bare_newline = 1;
	if (overlong)
		res->line_too_long = 1;
	if (b->h.in_header && len >= 9 && strncasecmp(p, "Received:", 9) == 0)
		res->hops++;
	if (b->h.in_header)
		header_tls_required_line(&b->tlsreq, p, len);
	res->size += len + 2;
	if (res->size > b->limit)
		res->too_big = 1;
	if (res->too_big || res->line_too_long ||
	    (res->bare_newline && b->mode == BARE_NEWLINE_REJECT))
		return;		/* keep reading to stay in sync */
	if (b->h.in_header && header_line(&b->h, b->out, b->fix, p, len,
	    &b->added)) {
		res->size -= len + 2;
		return;
	}
	msgfile_write(b->out, p, len);
	msgfile_write(b->out, "\r\n", 2);
}

/* smtp_body_end - the content is over: what the header still needs */
void
smtp_body_end(struct smtp_body *b)
{
	/* A message that is all header: the fields go at its end. */
	if (b->h.in_header && b->fix != NULL)
		b->added += header_add_missing(b->out, b->fix, &b->h);
	b->res->size += b->added;
	b->res->tls_required_no = header_tls_required_no(&b->tlsreq);
	b->res->write_errno = b->out->failed;
	b->res->io_status = SMTP_IO_OK;
}

/* smtp_data_receive - read the content of one message into out */
int
smtp_data_receive(struct smtp_io *io, struct msgfile_writer *out,
    uint64_t limit,
    enum bare_newline_mode mode, const struct smtp_data_fix *fix,
    struct smtp_data_result *res)
{
	char line[SMTP_TEXT_LINE_MAX + 1];
	enum smtp_line_end eol, prev_eol = SMTP_EOL_CRLF;
	struct smtp_body b;
	int overlong;
	ssize_t n;

	smtp_body_begin(&b, out, limit, mode, fix, res);
	for (;;) {
		n = smtp_io_getline(io, line, SMTP_TEXT_LINE_MAX - 2, &eol,
		    &overlong);
		if (n < 0) {
			res->io_status = (int)n;
			return -1;
		}
		if (n == 1 && line[0] == '.' && eol == SMTP_EOL_CRLF &&
		    prev_eol == SMTP_EOL_CRLF && !overlong)
			break;
		prev_eol = eol;

		const char *p = line;
		size_t len = (size_t)n;

		/* Dot-stuffing applies to lines that start a line, that is,
		 * after any terminator; RFC 5321 4.5.2. */
		if (len > 0 && p[0] == '.') {
			p++;
			len--;
		}
		smtp_body_line(&b, p, len, eol, overlong);
	}
	smtp_body_end(&b);
	return 0;
}
