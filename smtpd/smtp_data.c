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

#include "smtp_data.h"

struct data_out {
	int		fd;
	int		failed;		/* errno, once a write failed */
	size_t		len;
	char		buf[65536];
};

static void
data_out_flush(struct data_out *o)
{
	size_t off = 0;

	while (off < o->len && !o->failed) {
		ssize_t n = write(o->fd, o->buf + off, o->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			o->failed = n < 0 ? errno : EIO;
		else
			off += (size_t)n;
	}
	o->len = 0;
}

static void
data_out_put(struct data_out *o, const char *p, size_t len)
{
	if (o->failed)
		return;
	if (o->len + len > sizeof(o->buf))
		data_out_flush(o);
	memcpy(o->buf + o->len, p, len);	/* len <= a line, << buf */
	o->len += len;
}

/* smtp_data_receive - read the content of one message into outfd */
int
smtp_data_receive(struct smtp_io *io, int outfd, uint64_t limit,
    enum bare_newline_mode mode, struct smtp_data_result *res)
{
	static struct data_out out;	/* 64 KiB: too big for the stack */
	char line[SMTP_TEXT_LINE_MAX + 1];
	enum smtp_line_end eol, prev_eol = SMTP_EOL_CRLF;
	int overlong, in_header = 1;
	ssize_t n;

	memset(res, 0, sizeof(*res));
	out.fd = outfd;
	out.failed = 0;
	out.len = 0;
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
		if (eol != SMTP_EOL_CRLF)
			res->bare_newline = 1;
		if (overlong)
			res->line_too_long = 1;
		prev_eol = eol;

		const char *p = line;
		size_t len = (size_t)n;

		/* Dot-stuffing applies to lines that start a line, that is,
		 * after any terminator; RFC 5321 4.5.2. */
		if (len > 0 && p[0] == '.') {
			p++;
			len--;
		}
		if (in_header) {
			if (len == 0)
				in_header = 0;
			else if (len >= 9 && strncasecmp(p, "Received:", 9) == 0)
				res->hops++;
		}
		res->size += len + 2;
		if (res->size > limit)
			res->too_big = 1;
		if (res->too_big || res->line_too_long ||
		    (res->bare_newline && mode == BARE_NEWLINE_REJECT))
			continue;	/* keep reading to stay in sync */
		data_out_put(&out, p, len);
		data_out_put(&out, "\r\n", 2);
	}
	data_out_flush(&out);
	res->write_errno = out.failed;
	res->io_status = SMTP_IO_OK;
	return 0;
}
