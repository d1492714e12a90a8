/*
 * smtp_io - buffered network I/O for one SMTP session.
 *
 * Reads lines out of a 64 KiB input buffer (one read(2) fills it with
 * whatever the client pipelined) and collects replies in an output buffer
 * that is flushed only when the session is about to wait for input with
 * nothing left to parse (RFC 2920 3.1), so a pipelined group costs one
 * write.
 *
 * Time limits are deadlines, never reset by an octet arriving.  Each
 * operation (reading one line, flushing the replies, a TLS handshake)
 * must finish within timeout_ms of its start (smtpd_timeout), and all of
 * them before the caller's deadline (smtp_io_set_deadline, or
 * smtp_limits_arm: the DATA phase, the session time limit).
 *
 * Line terminators are reported, not guessed: CRLF, a bare LF, or a bare
 * CR (a CR followed by anything but LF).  The callers decide what a bare
 * one means; nothing here ever treats one as CRLF.
 *
 * TLS is a layer underneath: after smtp_io_tls_accept() the same buffers
 * and deadlines apply, with SSL_read/SSL_write in place of read/write.
 */
#ifndef TERN_SMTP_IO_H
#define TERN_SMTP_IO_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#define SMTP_IO_INBUF	65536
#define SMTP_IO_OUTBUF	16384

enum smtp_line_end {
	SMTP_EOL_CRLF = 0,
	SMTP_EOL_LF = 1,	/* bare LF */
	SMTP_EOL_CR = 2,	/* bare CR */
};

enum smtp_io_status {
	SMTP_IO_OK = 0,
	SMTP_IO_EOF = -1,	/* client closed */
	SMTP_IO_TIMEOUT = -2,
	SMTP_IO_ERROR = -3,
};

struct smtp_io {
	int		fd;
	int		timeout_ms;	/* for each whole line, flush, handshake */
	long long	deadline_ms;	/* the caller's: CLOCK_MONOTONIC ms,
					 * 0 = none */
	long long	op_end_ms;	/* the current operation's deadline */
	unsigned char	in[SMTP_IO_INBUF];
	size_t		inpos;
	size_t		inlen;
	int		ineof;
	char		out[SMTP_IO_OUTBUF];
	size_t		outlen;
	int		failed;		/* a write failed: drop further output */
	SSL		*ssl;		/* NULL until TLS is active; owned */
};

/* smtp_io_init - wrap the connected socket fd (not owned); timeout_ms
 * bounds each line read, flush and handshake as a whole */
void smtp_io_init(struct smtp_io *io, int fd, int timeout_ms);

/*
 * smtp_io_getline - the next line, without its terminator, copied into
 * buf (at most max octets; buf needs max + 1 for a NUL that callers must
 * not rely on, as lines may contain NUL octets).  A longer line is
 * consumed to its end and reported with *overlong set and the first max
 * octets in buf.  Returns the line length, or a negative smtp_io_status.
 * Pending output is flushed before waiting for more input.  The whole
 * line, that flush included, must arrive within timeout_ms of the call
 * (and before the caller's deadline), or SMTP_IO_TIMEOUT.
 */
ssize_t smtp_io_getline(struct smtp_io *io, char *buf, size_t max,
    enum smtp_line_end *eol, int *overlong);

/*
 * smtp_io_read - copy up to max (> 0) octets of input into buf, as they
 * are: no line ends are looked for (BDAT data).  Waits, after flushing
 * pending output, only when nothing is buffered; whatever arrives within
 * timeout_ms (and before the caller's deadline) is returned.  Returns
 * the count, at least 1, or a negative smtp_io_status.
 */
ssize_t smtp_io_read(struct smtp_io *io, char *buf, size_t max);

/* smtp_io_input_pending - buffered input is waiting to be parsed */
int smtp_io_input_pending(const struct smtp_io *io);

/* smtp_io_discard_input - drop everything buffered (after STARTTLS) */
void smtp_io_discard_input(struct smtp_io *io);

/* smtp_io_scrub - zero the input already consumed (it held a password) */
void smtp_io_scrub(struct smtp_io *io);

/* smtp_io_reply - queue one reply line; "\r\n" is appended */
void smtp_io_reply(struct smtp_io *io, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* smtp_io_flush - write all queued output within timeout_ms; SMTP_IO_OK
 * or an error */
int smtp_io_flush(struct smtp_io *io);

/*
 * smtp_io_tls_accept - run the server side of a TLS handshake on the
 * socket: the whole handshake within timeout_ms (and the caller's
 * deadline), however the client paces it.  Input buffered before this call
 * must already be discarded (smtp_io_discard_input).  SMTP_IO_OK, or a
 * negative smtp_io_status with a reason in err; after a failure the
 * session must end.
 */
int smtp_io_tls_accept(struct smtp_io *io, SSL_CTX *ctx, char *err,
    size_t errsize);

/* smtp_io_tls_end - send close_notify (best effort) and free the TLS state */
void smtp_io_tls_end(struct smtp_io *io);

/* smtp_io_set_deadline - an absolute limit for every following
 * operation, in seconds from now (0 clears it) */
void smtp_io_set_deadline(struct smtp_io *io, long seconds);

#endif
