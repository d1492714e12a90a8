/*
 * smtp_io - buffered network I/O for one SMTP session.
 *
 * Reads lines out of a 64 KiB input buffer (one read(2) fills it with
 * whatever the client pipelined) and collects replies in an output buffer
 * that is flushed only when the session is about to wait for input with
 * nothing left to parse (RFC 2920 3.1), so a pipelined group costs one
 * write.  Every read waits at most the current timeout.
 *
 * Line terminators are reported, not guessed: CRLF, a bare LF, or a bare
 * CR (a CR followed by anything but LF).  The callers decide what a bare
 * one means; nothing here ever treats one as CRLF.
 *
 * TLS is a layer underneath: after smtp_io_tls_accept() the same buffers
 * and timeouts apply, with SSL_read/SSL_write in place of read/write.
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
	int		timeout_ms;	/* per read or write wait */
	long long	deadline_ms;	/* absolute CLOCK_MONOTONIC, 0 = none */
	unsigned char	in[SMTP_IO_INBUF];
	size_t		inpos;
	size_t		inlen;
	int		ineof;
	char		out[SMTP_IO_OUTBUF];
	size_t		outlen;
	int		failed;		/* a write failed: drop further output */
	SSL		*ssl;		/* NULL until TLS is active; owned */
};

/* smtp_io_init - wrap the connected socket fd (not owned) */
void smtp_io_init(struct smtp_io *io, int fd, int timeout_ms);

/*
 * smtp_io_getline - the next line, without its terminator, copied into
 * buf (at most max octets; buf needs max + 1 for a NUL that callers must
 * not rely on, as lines may contain NUL octets).  A longer line is
 * consumed to its end and reported with *overlong set and the first max
 * octets in buf.  Returns the line length, or a negative smtp_io_status.
 * Pending output is flushed before waiting for more input.
 */
ssize_t smtp_io_getline(struct smtp_io *io, char *buf, size_t max,
    enum smtp_line_end *eol, int *overlong);

/* smtp_io_input_pending - buffered input is waiting to be parsed */
int smtp_io_input_pending(const struct smtp_io *io);

/* smtp_io_discard_input - drop everything buffered (after STARTTLS) */
void smtp_io_discard_input(struct smtp_io *io);

/* smtp_io_scrub - zero the input already consumed (it held a password) */
void smtp_io_scrub(struct smtp_io *io);

/* smtp_io_reply - queue one reply line; "\r\n" is appended */
void smtp_io_reply(struct smtp_io *io, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* smtp_io_flush - write all queued output; SMTP_IO_OK or an error */
int smtp_io_flush(struct smtp_io *io);

/*
 * smtp_io_tls_accept - run the server side of a TLS handshake on the
 * socket, within the current timeout.  Input buffered before this call
 * must already be discarded (smtp_io_discard_input).  SMTP_IO_OK, or a
 * negative smtp_io_status with a reason in err; after a failure the
 * session must end.
 */
int smtp_io_tls_accept(struct smtp_io *io, SSL_CTX *ctx, char *err,
    size_t errsize);

/* smtp_io_tls_end - send close_notify (best effort) and free the TLS state */
void smtp_io_tls_end(struct smtp_io *io);

/* smtp_io_set_deadline - an absolute limit for the following reads, in
 * seconds from now (0 clears it) */
void smtp_io_set_deadline(struct smtp_io *io, long seconds);

#endif
