/*
 * smtp_io - buffered, timed line I/O for one SMTP session.  See smtp_io.h.
 *
 * The socket is non-blocking.  Without TLS a read or write that would
 * block waits in poll(); with TLS, OpenSSL says which direction it needs
 * (SSL_ERROR_WANT_READ or WANT_WRITE: a TLS read may have to write, and
 * the other way round) and we poll for that, under the same deadline.
 *
 * Every wait is bounded by the deadline of the operation it is part of
 * (op_end: a whole line, a whole flush, a whole handshake), fixed when
 * that operation starts and never moved by an octet arriving: a client
 * that sends one octet a second is cut off when smtpd_timeout has passed
 * since smtpd began waiting, however many octets it managed to send.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "deadline.h"
#include "smtp_io.h"

/* smtp_io_init - wrap a connected socket */
void
smtp_io_init(struct smtp_io *io, int fd, int timeout_ms)
{
	/* Field by field: the 80 KiB of buffers need no zeroing, and
	 * writing them would make every page of them the process's own
	 * (an idle smtpd worker should hold little more than its sockets). */
	io->fd = fd;
	io->timeout_ms = timeout_ms;
	io->deadline_ms = 0;
	io->op_end_ms = 0;
	io->inpos = 0;
	io->inlen = 0;
	io->ineof = 0;
	io->outlen = 0;
	io->failed = 0;
	io->ssl = NULL;
}

/* smtp_io_set_deadline - absolute limit for the following reads */
void
smtp_io_set_deadline(struct smtp_io *io, long seconds)
{
	io->deadline_ms = seconds > 0 ? deadline_in(seconds * 1000LL) : 0;
}

/* smtp_io_op_begin - an operation starts: its deadline is timeout_ms from
 * now, or the caller's deadline if that comes first */
static void
smtp_io_op_begin(struct smtp_io *io)
{
	io->op_end_ms = io->timeout_ms > 0 ? deadline_in(io->timeout_ms) :
	    LLONG_MAX;
	if (io->deadline_ms != 0 && io->deadline_ms < io->op_end_ms)
		io->op_end_ms = io->deadline_ms;
}

/* smtp_io_wait - until fd is ready for events, within the operation */
static int
smtp_io_wait(struct smtp_io *io, short events)
{
	int n = deadline_poll(io->fd, events, io->op_end_ms);

	if (n == 0)
		return SMTP_IO_TIMEOUT;
	return n < 0 ? SMTP_IO_ERROR : SMTP_IO_OK;
}

/*
 * smtp_io_tls_wait - after an SSL call returned r <= 0: SMTP_IO_OK when
 * the caller should retry (after waiting for what OpenSSL wants), or the
 * status that ends the operation.
 */
static int
smtp_io_tls_wait(struct smtp_io *io, int r)
{
	switch (SSL_get_error(io->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return smtp_io_wait(io, POLLIN);
	case SSL_ERROR_WANT_WRITE:
		return smtp_io_wait(io, POLLOUT);
	case SSL_ERROR_ZERO_RETURN:
		return SMTP_IO_EOF;
	case SSL_ERROR_SYSCALL:
		if (errno == EINTR)
			return SMTP_IO_OK;
		/* A peer that just closes the TCP connection is EOF. */
		return ERR_peek_error() == 0 ? SMTP_IO_EOF : SMTP_IO_ERROR;
	default:
		return SMTP_IO_ERROR;
	}
}

/* smtp_io_write_some - write up to len octets; > 0 written, or a status */
static ssize_t
smtp_io_write_some(struct smtp_io *io, const char *p, size_t len)
{
	for (;;) {
		ssize_t n;
		int r;

		if (io->ssl != NULL) {
			ERR_clear_error();
			n = SSL_write(io->ssl, p, len > INT32_MAX ? INT32_MAX :
			    (int)len);
			if (n > 0)
				return n;
			if ((r = smtp_io_tls_wait(io, (int)n)) != SMTP_IO_OK)
				return r == SMTP_IO_EOF ? SMTP_IO_ERROR : r;
			continue;
		}
		n = write(io->fd, p, len);
		if (n > 0)
			return n;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((r = smtp_io_wait(io, POLLOUT)) != SMTP_IO_OK)
				return r;
			continue;
		}
		return SMTP_IO_ERROR;
	}
}

/* smtp_io_read_some - read into buf; > 0 octets read, or a status */
static ssize_t
smtp_io_read_some(struct smtp_io *io, unsigned char *buf, size_t size)
{
	for (;;) {
		ssize_t n;
		int r;

		if (io->ssl != NULL) {
			ERR_clear_error();
			n = SSL_read(io->ssl, buf, size > INT32_MAX ? INT32_MAX :
			    (int)size);
			if (n > 0)
				return n;
			if ((r = smtp_io_tls_wait(io, (int)n)) != SMTP_IO_OK)
				return r;
			continue;
		}
		n = read(io->fd, buf, size);
		if (n > 0)
			return n;
		if (n == 0)
			return SMTP_IO_EOF;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return SMTP_IO_ERROR;
		if ((r = smtp_io_wait(io, POLLIN)) != SMTP_IO_OK)
			return r;
	}
}

/* smtp_io_tls_accept - the server side of the handshake, within timeouts */
int
smtp_io_tls_accept(struct smtp_io *io, SSL_CTX *ctx, char *err,
    size_t errsize)
{
	int r;

	snprintf(err, errsize, "TLS handshake failed");
	if (io->ssl != NULL || io->inpos < io->inlen)
		return SMTP_IO_ERROR;	/* a caller bug: refuse, loudly */
	if ((io->ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_fd(io->ssl, io->fd) != 1)
		return SMTP_IO_ERROR;
	/* The whole handshake, however it is paced, within one deadline. */
	smtp_io_op_begin(io);
	for (;;) {
		ERR_clear_error();
		if ((r = SSL_accept(io->ssl)) == 1)
			return SMTP_IO_OK;
		int e = SSL_get_error(io->ssl, r);

		if (e == SSL_ERROR_SSL) {
			unsigned long code = ERR_peek_error();
			char buf[200];

			ERR_error_string_n(code, buf, sizeof(buf));
			snprintf(err, errsize, "%s", buf);
			ERR_clear_error();
			return SMTP_IO_ERROR;
		}
		if ((r = smtp_io_tls_wait(io, r)) != SMTP_IO_OK) {
			snprintf(err, errsize, "%s", r == SMTP_IO_TIMEOUT ?
			    "timeout" : "lost connection");
			return r;
		}
	}
}

/* smtp_io_tls_end - close_notify, best effort, and free */
void
smtp_io_tls_end(struct smtp_io *io)
{
	if (io->ssl == NULL)
		return;
	if (!io->failed)
		(void)SSL_shutdown(io->ssl);	/* never wait for the reply */
	SSL_free(io->ssl);
	io->ssl = NULL;
	ERR_clear_error();
}

/* smtp_io_flush_out - write all queued output within the operation */
static int
smtp_io_flush_out(struct smtp_io *io)
{
	size_t off = 0;

	while (off < io->outlen && !io->failed) {
		ssize_t n = smtp_io_write_some(io, io->out + off,
		    io->outlen - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		io->failed = 1;
		io->outlen = 0;
		return (int)n;
	}
	io->outlen = 0;
	return io->failed ? SMTP_IO_ERROR : SMTP_IO_OK;
}

/* smtp_io_flush - write all queued output, within timeout_ms */
int
smtp_io_flush(struct smtp_io *io)
{
	smtp_io_op_begin(io);
	return smtp_io_flush_out(io);
}

/* smtp_io_reply - queue one reply line */
void
smtp_io_reply(struct smtp_io *io, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	if (io->outlen + (size_t)n > sizeof(io->out))
		smtp_io_flush(io);
	memcpy(io->out + io->outlen, line, (size_t)n);
	io->outlen += (size_t)n;
}

/* smtp_io_input_pending - buffered input is waiting */
int
smtp_io_input_pending(const struct smtp_io *io)
{
	return io->inpos < io->inlen;
}

/* smtp_io_discard_input - drop everything buffered */
void
smtp_io_discard_input(struct smtp_io *io)
{
	io->inpos = io->inlen = 0;
}

/* smtp_io_scrub - zero the consumed part of the input buffer */
void
smtp_io_scrub(struct smtp_io *io)
{
	explicit_bzero(io->in, io->inpos);
}

/* Refill the input buffer; flushes replies first, as RFC 2920 asks. */
static int
smtp_io_fill(struct smtp_io *io)
{
	ssize_t n;
	int r;

	if (io->ineof)
		return SMTP_IO_EOF;
	if (io->outlen > 0 && (r = smtp_io_flush_out(io)) != SMTP_IO_OK)
		return r;
	/* Checked before reading too: a client that keeps the socket full
	 * never makes us wait, and must not outlive the deadline either. */
	if (deadline_passed(io->op_end_ms))
		return SMTP_IO_TIMEOUT;
	if (io->inpos > 0) {
		memmove(io->in, io->in + io->inpos, io->inlen - io->inpos);
		io->inlen -= io->inpos;
		io->inpos = 0;
	}
	n = smtp_io_read_some(io, io->in + io->inlen,
	    sizeof(io->in) - io->inlen);
	if (n > 0) {
		io->inlen += (size_t)n;
		return SMTP_IO_OK;
	}
	if (n == SMTP_IO_EOF)
		io->ineof = 1;
	return (int)n;
}

/* smtp_io_read - up to max octets of what comes next, whatever they are */
ssize_t
smtp_io_read(struct smtp_io *io, char *buf, size_t max)
{
	size_t take;
	int r;

	smtp_io_op_begin(io);
	while (io->inpos == io->inlen)
		if ((r = smtp_io_fill(io)) != SMTP_IO_OK)
			return r;
	take = io->inlen - io->inpos < max ? io->inlen - io->inpos : max;
	memcpy(buf, io->in + io->inpos, take);
	io->inpos += take;
	return (ssize_t)take;
}

/* line_end_find - the index of the first CR or LF in p[from..avail), or
 * avail; memchr's word-at-a-time scan instead of a loop per octet */
static size_t
line_end_find(const unsigned char *p, size_t from, size_t avail)
{
	const unsigned char *lf = memchr(p + from, '\n', avail - from);
	size_t end = lf != NULL ? (size_t)(lf - p) : avail;
	const unsigned char *cr = memchr(p + from, '\r', end - from);

	return cr != NULL ? (size_t)(cr - p) : end;
}

/* smtp_io_getline - the next line and how it ended */
ssize_t
smtp_io_getline(struct smtp_io *io, char *buf, size_t max,
    enum smtp_line_end *eol, int *overlong)
{
	size_t len = 0;		/* octets already moved into buf */
	size_t searched = 0;	/* octets after inpos known to hold no CR/LF */
	int waited = 0;
	int r;

	*overlong = 0;
	for (;;) {
		const unsigned char *start = io->in + io->inpos;
		size_t avail = io->inlen - io->inpos;
		size_t i = line_end_find(start, searched, avail);

		if (i < avail && !(start[i] == '\r' && i + 1 == avail &&
		    !io->ineof)) {
			size_t skip = 1, take;

			if (start[i] == '\n')
				*eol = SMTP_EOL_LF;
			else if (i + 1 < avail && start[i + 1] == '\n') {
				*eol = SMTP_EOL_CRLF;
				skip = 2;
			} else
				*eol = SMTP_EOL_CR;
			take = i < max - len ? i : max - len;
			memcpy(buf + len, start, take);
			len += take;
			if (take < i)
				*overlong = 1;
			io->inpos += i + skip;
			buf[len] = '\0';
			return (ssize_t)len;
		}
		searched = i;
		/*
		 * A line longer than half the buffer is surely too long: keep
		 * its first max octets and drop the rest as it streams in.
		 * Only octets known to be inside the line go: a CR that ends
		 * the input (i < avail here means exactly that) may be the
		 * first half of the CRLF that ends the line, or a bare CR,
		 * and only the next read can tell.  Dropping it with the
		 * line would turn "CR | LF . CR LF" into a bare LF and a
		 * "." that no longer ends the data.
		 */
		if (avail >= sizeof(io->in) / 2) {
			size_t drop = i, take = drop < max - len ? drop :
			    max - len;

			memcpy(buf + len, start, take);
			len += take;
			*overlong = 1;
			io->inpos += drop;
			searched = 0;
		}
		/* One deadline for the whole line, from the first time it
		 * has to wait: a line already buffered costs no clock read. */
		if (!waited) {
			smtp_io_op_begin(io);
			waited = 1;
		}
		if ((r = smtp_io_fill(io)) != SMTP_IO_OK)
			return r;
	}
}
