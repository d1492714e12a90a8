/*
 * fuzz_smtp_data - libFuzzer target for the DATA phase: the end-of-data
 * state machine of smtpd/smtp_data.c over the line reader of
 * smtpd/smtp_io.c, fed with random read boundaries.
 *
 * Input: the first octet chooses the bare-newline mode, the size limit
 * and whether the submission header fix is asked for; the rest is the
 * client's byte stream, where 0xFF escapes: FF 00 is a literal FF, FF 01
 * a read boundary, FF 02 L R repeats the last L octets R times, and FF k
 * (k >= 3) repeats the last octet k * 256 times (long lines are cheap).
 * A writer thread feeds the stream into a pipe one piece at a time, and
 * writes the next piece only once the reader has drained the pipe, so
 * every read(2) of smtp_io ends at a boundary of the input (or earlier,
 * when its buffer is fuller): the same input always gives the same reads.
 *
 * The check is differential: a model written from RFC 5321 alone (only
 * CRLF "." CRLF ends the data; CR LF, a bare LF or a bare CR ends a line;
 * a leading dot is removed) decides where the data ends and what must be
 * stored, and the target aborts when smtp_data_receive disagrees: on
 * where the data ends (nothing after the marker may be consumed), on the
 * flags it reports, or on the stored content, which must never hold a
 * bare CR or LF.  The queue file is a memfd written through msgfile's
 * writer, its trailer set aside.  Built by build.sh.
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "msgfile.h"
#include "smtp_data.h"
#include "smtp_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STREAM_MAX	(3 * SMTP_IO_INBUF)	/* octets the client may send */
#define CUTS_MAX	4096		/* read boundaries */
#define LINE_TEXT_MAX	(SMTP_TEXT_LINE_MAX - 2)

/* The client's side: the bytes and where its writes split. */
struct stream {
	unsigned char	*p;
	size_t		 len;
	size_t		 cuts[CUTS_MAX + 1];	/* ascending offsets */
	size_t		 ncuts;
	int		 wfd;		/* pipe's write end (writer owns) */
	int		 rfd;		/* pipe's read end */
	size_t		 piece;		/* the most a write may carry */
};

/* What RFC 5321 says the server must make of the stream. */
struct model {
	int		 ended;		/* CRLF "." CRLF seen */
	size_t		 end;		/* offset just after it */
	int		 bare_newline;
	int		 line_too_long;
	int		 too_big;
	int		 refused;	/* any reason to discard the content */
	uint64_t	 size;
	int		 hops;
	unsigned char	*content;	/* what must be stored (not refused) */
	size_t		 clen;
};

/* fail - report a disagreement and abort, so libFuzzer keeps the input */
static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_smtp_data: %s\n", what);
	abort();
}

/* stream_put - append len octets, silently capped at STREAM_MAX */
static void
stream_put(struct stream *s, const unsigned char *p, size_t len)
{
	if (len > STREAM_MAX - s->len)
		len = STREAM_MAX - s->len;
	memmove(s->p + s->len, p, len);
	s->len += len;
}

/* stream_repeat - append the last n octets (or 'x') times more times */
static void
stream_repeat(struct stream *s, size_t n, size_t times)
{
	if (s->len == 0)
		stream_put(s, (const unsigned char *)"x", 1);
	if (n > s->len)
		n = s->len;
	if (n == 1) {
		size_t k = times < STREAM_MAX - s->len ? times :
		    STREAM_MAX - s->len;

		memset(s->p + s->len, s->p[s->len - 1], k);
		s->len += k;
		return;
	}
	for (size_t t = 0; t < times && s->len < STREAM_MAX; t++)
		stream_put(s, s->p + s->len - n, n);
}

/* stream_decode - expand the escaped input into s (see the top) */
static void
stream_decode(struct stream *s, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n && s->len < STREAM_MAX; i++) {
		if (d[i] != 0xff || i + 1 == n) {
			stream_put(s, &d[i], 1);
			continue;
		}
		switch (d[++i]) {
		case 0:
			stream_put(s, &d[i - 1], 1);
			break;
		case 1:
			if (s->ncuts < CUTS_MAX && (s->ncuts == 0 ||
			    s->cuts[s->ncuts - 1] < s->len))
				s->cuts[s->ncuts++] = s->len;
			break;
		case 2:
			if (i + 2 < n) {
				stream_repeat(s, d[i + 1] ? d[i + 1] : 1,
				    d[i + 2]);
				i += 2;
			}
			break;
		default:
			stream_repeat(s, 1, (size_t)d[i] * 256);
			break;
		}
	}
	s->cuts[s->ncuts++] = s->len;	/* the last piece ends the stream */
}

/* writer - write each piece once the reader has taken the previous one */
static void *
writer(void *arg)
{
	struct stream *s = arg;
	size_t off = 0;

	for (size_t c = 0; c < s->ncuts; c++) {
		while (off < s->cuts[c]) {
			size_t k = s->cuts[c] - off;
			ssize_t n;
			int queued;

			if (k > s->piece)
				k = s->piece;
			/* An empty pipe takes a piece whole, in one go. */
			n = write(s->wfd, s->p + off, k);
			if (n < 0 && errno == EINTR)
				continue;
			if (n != (ssize_t)k)
				fail("writer: short write to the pipe");
			off += k;
			while (ioctl(s->rfd, FIONREAD, &queued) == 0 &&
			    queued > 0)
				sched_yield();
		}
	}
	close(s->wfd);
	return NULL;
}

/* header_field_line - "Name:" with a printable name (RFC 5322 2.2) */
static int
header_field_line(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] == ':')
			return i > 0;
		if (p[i] <= 32 || p[i] >= 127)
			return 0;
	}
	return 0;
}

/* model_line - account for one line of text and its terminator */
static void
model_line(struct model *m, const unsigned char *p, size_t len, int crlf,
    int *in_header, enum bare_newline_mode mode, uint64_t limit)
{
	size_t keep = len;

	if (!crlf)
		m->bare_newline = 1;
	if (len > LINE_TEXT_MAX) {
		m->line_too_long = 1;
		keep = LINE_TEXT_MAX;	/* what the size counts */
	}
	if (keep > 0 && p[0] == '.') {	/* RFC 5321 4.5.2 */
		p++;
		keep--;
	}
	if (*in_header && keep >= 9 &&
	    strncasecmp((const char *)p, "Received:", 9) == 0)
		m->hops++;
	if (*in_header && (keep == 0 || (p[0] != ' ' && p[0] != '\t')) &&
	    !header_field_line(p, keep))
		*in_header = 0;
	m->size += keep + 2;
	if (m->size > limit)
		m->too_big = 1;
	if (m->too_big || m->line_too_long ||
	    (m->bare_newline && mode == BARE_NEWLINE_REJECT))
		m->refused = 1;
	if (!m->refused) {
		memcpy(m->content + m->clen, p, keep);
		memcpy(m->content + m->clen + keep, "\r\n", 2);
		m->clen += keep + 2;
	}
}

/* model_run - where the data ends, and what is stored, per RFC 5321 */
static void
model_run(struct model *m, const unsigned char *s, size_t len,
    enum bare_newline_mode mode, uint64_t limit)
{
	const unsigned char *marker, *cr, *lf;
	size_t i, start = 0, body;
	int in_header = 1;

	memset(m, 0, sizeof(*m));
	m->content = malloc(2 * len + 1);
	/* The DATA command's CRLF precedes the first line. */
	if (len >= 3 && memcmp(s, ".\r\n", 3) == 0) {
		m->ended = 1;
		m->end = 3;
	} else if ((marker = memmem(s, len, "\r\n.\r\n", 5)) != NULL) {
		m->ended = 1;
		m->end = (size_t)(marker - s) + 5;
	}
	body = m->ended ? m->end - 3 : len;
	cr = memchr(s, '\r', body);
	lf = memchr(s, '\n', body);
	while (cr != NULL || lf != NULL) {
		/* the next terminator: CR LF, a bare LF or a bare CR */
		const unsigned char *t = lf == NULL || (cr != NULL && cr < lf) ?
		    cr : lf;
		int crlf = t == cr && t + 1 == lf;

		i = (size_t)(t - s);
		model_line(m, s + start, i - start, crlf, &in_header, mode,
		    limit);
		start = i + 1 + crlf;
		if (cr != NULL && cr < s + start)
			cr = memchr(s + start, '\r', body - start);
		if (lf != NULL && lf < s + start)
			lf = memchr(s + start, '\n', body - start);
	}
}

/*
 * stored_check - the queue file holds CRLF lines only.  A message the
 * client abandoned (not complete) may end anywhere: it is thrown away.
 */
static void
stored_check(const unsigned char *p, size_t len, int complete)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\r' && i + 1 < len && p[i + 1] != '\n')
			fail("bare CR stored");
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			fail("bare LF stored");
	}
	if (complete && len > 0 && p[len - 1] != '\n')
		fail("stored content does not end with CRLF");
}

/* has_field - some line of p is the header field name ("Name :" too) */
static int
has_field(const unsigned char *p, size_t len, const char *name)
{
	size_t n = strlen(name), k;

	for (size_t i = 0; i + n <= len; i++) {
		if ((i > 0 && p[i - 1] != '\n') ||
		    strncasecmp((const char *)p + i, name, n) != 0)
			continue;
		for (k = i + n; k < len && (p[k] == ' ' || p[k] == '\t'); k++)
			;
		if (k < len && p[k] == ':')
			return 1;
	}
	return 0;
}

/* compare - the server's view against the model's */
static void
compare(const struct model *m, const struct stream *s, int ret,
    const struct smtp_data_result *res, const struct smtp_io *io,
    size_t drained, const unsigned char *out, size_t outlen, int fix)
{
	size_t buffered = io->inlen - io->inpos, consumed;

	stored_check(out, outlen, ret == 0);
	if (ret != 0) {
		if (m->ended)
			fail("the end-of-data marker was missed");
		if (res->io_status != SMTP_IO_EOF)
			fail("a failure other than the client's EOF");
		return;
	}
	if (!m->ended)
		fail("the data ended without CRLF.CRLF");
	consumed = s->len - drained - buffered;
	if (consumed != m->end)
		fail("the data ended elsewhere than at CRLF.CRLF");
	if (buffered > s->len - m->end ||
	    memcmp(io->in + io->inpos, s->p + m->end, buffered) != 0)
		fail("what follows the data was altered");
	if (res->bare_newline != m->bare_newline ||
	    res->line_too_long != m->line_too_long || res->write_errno != 0)
		fail("wrong bare_newline or line_too_long");
	if (fix) {
		if (!m->refused && !res->too_big &&
		    (!has_field(out, outlen, "Date") ||
		    !has_field(out, outlen, "Message-ID")))
			fail("submission fields missing");
		return;
	}
	if (!m->line_too_long && (res->size != m->size ||
	    res->too_big != m->too_big))
		fail("wrong size or too_big");
	if (outlen > m->clen || memcmp(out, m->content, outlen) != 0)
		fail("stored content differs from the model's");
	if (!m->refused && (outlen != m->clen || res->hops != m->hops))
		fail("stored content or hop count incomplete");
}

/* out_fd - the process's memfd standing in for the queue file, emptied */
static int
out_fd(void)
{
	static int fd = -1;

	if (fd == -1 && (fd = memfd_create("fuzz_smtp_data", 0)) == -1)
		fail("memfd_create");
	if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
		fail("ftruncate");
	return fd;
}

/* drain - read what the reader left in the pipe until the writer ends */
static size_t
drain(int fd)
{
	unsigned char buf[65536];
	size_t total = 0;
	ssize_t n;

	if (fcntl(fd, F_SETFL, 0) != 0)
		fail("fcntl");
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("drain: read");
		total += (size_t)n;
	}
	return total;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t limits[] = { UINT64_MAX, 0, 2, 40, 1000,
	    70000, 300000, UINT64_MAX };
	static struct stream s;
	static struct smtp_io io;
	static struct msgfile_writer w;	/* 64 KiB: not on the stack */
	static unsigned char *stored;
	struct smtp_data_fix fixv = { "mx.example.org", "4Zq3x9AbCdEf", 0 };
	struct smtp_data_result res;
	enum bare_newline_mode mode;
	struct model m;
	pthread_t thr;
	size_t drained, outlen;
	uint64_t fsize;
	int p[2], ret, fd, fix;
	uint64_t limit;

	if (s.p == NULL) {
		signal(SIGPIPE, SIG_IGN);
		s.p = malloc(STREAM_MAX);
		stored = malloc(2 * STREAM_MAX + 4096);
	}
	if (size < 1)
		return 0;
	mode = data[0] & 1 ? BARE_NEWLINE_REJECT : BARE_NEWLINE_NORMALIZE;
	limit = limits[(data[0] >> 1) & 7];
	fix = (data[0] & 0x10) != 0;
	s.len = s.ncuts = 0;
	stream_decode(&s, data + 1, size - 1);
	model_run(&m, s.p, s.len, mode, limit);

	if (pipe(p) != 0)
		fail("pipe");
	/* A bigger pipe takes bigger pieces whole; 64 KiB at least. */
	(void)fcntl(p[1], F_SETPIPE_SZ, 1024 * 1024);
	s.piece = (size_t)fcntl(p[1], F_GETPIPE_SZ);
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) != 0)
		fail("fcntl");
	s.rfd = p[0];
	s.wfd = p[1];
	if (pthread_create(&thr, NULL, writer, &s) != 0)
		fail("pthread_create");
	fd = out_fd();
	msgfile_writer_init(&w, fd);
	smtp_io_init(&io, p[0], 60000);
	ret = smtp_data_receive(&io, &w, limit, mode, fix ? &fixv : NULL,
	    &res);
	drained = drain(p[0]);
	pthread_join(thr, NULL);
	close(p[0]);

	/* The file is the content and msgfile's trailer after it. */
	if (msgfile_writer_finish(&w, &fsize) != 0)
		fail("the queue file could not be finished");
	outlen = (size_t)lseek(fd, 0, SEEK_END);
	if (outlen != fsize || outlen < MSGFILE_TRAILER_LEN ||
	    outlen > 2 * STREAM_MAX + 4096 ||
	    pread(fd, stored, outlen, 0) != (ssize_t)outlen)
		fail("stored content unreadable");
	outlen -= MSGFILE_TRAILER_LEN;
	compare(&m, &s, ret, &res, &io, drained, stored, outlen, fix);
	free(m.content);
	return 0;
}
