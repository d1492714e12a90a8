/*
 * smtp_io - buffered, timed line I/O for one SMTP session.  See smtp_io.h.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtp_io.h"

static long long
smtp_io_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* smtp_io_init - wrap a connected socket */
void
smtp_io_init(struct smtp_io *io, int fd, int timeout_ms)
{
	memset(io, 0, sizeof(*io));
	io->fd = fd;
	io->timeout_ms = timeout_ms;
}

/* smtp_io_set_deadline - absolute limit for the following reads */
void
smtp_io_set_deadline(struct smtp_io *io, long seconds)
{
	io->deadline_ms = seconds > 0 ? smtp_io_now_ms() + seconds * 1000LL : 0;
}

static int
smtp_io_wait(struct smtp_io *io, short events)
{
	struct pollfd pfd = { .fd = io->fd, .events = events };
	long long wait = io->timeout_ms;
	int n;

	if (io->deadline_ms) {
		long long left = io->deadline_ms - smtp_io_now_ms();

		if (left < wait)
			wait = left < 0 ? 0 : left;
	}
	do {
		n = poll(&pfd, 1, (int)wait);
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		return SMTP_IO_TIMEOUT;
	return n < 0 ? SMTP_IO_ERROR : SMTP_IO_OK;
}

/* smtp_io_flush - write all queued output */
int
smtp_io_flush(struct smtp_io *io)
{
	size_t off = 0;

	while (off < io->outlen && !io->failed) {
		ssize_t n = write(io->fd, io->out + off, io->outlen - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = smtp_io_wait(io, POLLOUT);

			if (r != SMTP_IO_OK) {
				io->failed = 1;
				io->outlen = 0;
				return r;
			}
			continue;
		}
		io->failed = 1;
	}
	io->outlen = 0;
	return io->failed ? SMTP_IO_ERROR : SMTP_IO_OK;
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

/* Refill the input buffer; flushes replies first, as RFC 2920 asks. */
static int
smtp_io_fill(struct smtp_io *io)
{
	ssize_t n;
	int r;

	if (io->ineof)
		return SMTP_IO_EOF;
	if (io->outlen > 0 && (r = smtp_io_flush(io)) != SMTP_IO_OK)
		return r;
	if (io->inpos > 0) {
		memmove(io->in, io->in + io->inpos, io->inlen - io->inpos);
		io->inlen -= io->inpos;
		io->inpos = 0;
	}
	for (;;) {
		n = read(io->fd, io->in + io->inlen, sizeof(io->in) - io->inlen);
		if (n > 0) {
			io->inlen += (size_t)n;
			return SMTP_IO_OK;
		}
		if (n == 0) {
			io->ineof = 1;
			return SMTP_IO_EOF;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return SMTP_IO_ERROR;
		if ((r = smtp_io_wait(io, POLLIN)) != SMTP_IO_OK)
			return r;
	}
}

/* smtp_io_getline - the next line and how it ended */
ssize_t
smtp_io_getline(struct smtp_io *io, char *buf, size_t max,
    enum smtp_line_end *eol, int *overlong)
{
	size_t len = 0;		/* octets already moved into buf */
	size_t searched = 0;	/* octets after inpos known to hold no CR/LF */
	int r;

	*overlong = 0;
	for (;;) {
		const unsigned char *start = io->in + io->inpos;
		size_t avail = io->inlen - io->inpos;
		size_t i;

		for (i = searched; i < avail; i++)
			if (start[i] == '\n' || start[i] == '\r')
				break;
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
		/* A line longer than half the buffer is surely too long: keep
		 * its first max octets and drop the rest as it streams in. */
		if (avail >= sizeof(io->in) / 2) {
			size_t take = avail < max - len ? avail : max - len;

			memcpy(buf + len, start, take);
			len += take;
			*overlong = 1;
			io->inpos = io->inlen;
			searched = 0;
		}
		if ((r = smtp_io_fill(io)) != SMTP_IO_OK)
			return r;
	}
}
