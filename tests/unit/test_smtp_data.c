/*
 * test_smtp_data - the DATA phase and the line reader under it: where a
 * message ends, what reaches the queue file, and what is refused.
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check_suites.h"
#include "smtp_data.h"
#include "smtp_io.h"

struct data_run {
	int		 ret;
	struct smtp_data_result res;
	char		*stored;	/* what reached the file, NUL-terminated */
	size_t		 storedlen;
	char		 rest[256];	/* the next line after the data, if any */
	ssize_t		 restlen;
};

/* Feed input through a socketpair into smtp_data_receive(). */
static void
data_run_fix(const char *input, size_t len, uint64_t limit,
    enum bare_newline_mode mode, const struct smtp_data_fix *fix,
    struct data_run *r)
{
	static struct smtp_io io;
	static struct msgfile_writer w;
	uint64_t size;
	int sv[2], out;
	enum smtp_line_end eol;
	int overlong;

	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* Write in a child so that inputs larger than the socket buffer work. */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		size_t off = 0;

		close(sv[0]);
		while (off < len) {
			ssize_t n = write(sv[1], input + off, len - off);
			if (n <= 0)
				_exit(1);
			off += (size_t)n;
		}
		_exit(0);
	}
	close(sv[1]);
	out = memfd_create("data", 0);
	ck_assert_int_ge(out, 0);
	smtp_io_init(&io, sv[0], 5000);
	msgfile_writer_init(&w, out);
	r->ret = smtp_data_receive(&io, &w, limit, mode, fix, &r->res);
	ck_assert_int_eq(msgfile_writer_finish(&w, &size), 0);
	r->restlen = -1;
	if (r->ret == 0)
		r->restlen = smtp_io_getline(&io, r->rest, sizeof(r->rest) - 1,
		    &eol, &overlong);
	/* What was stored, without the queue file trailer. */
	r->storedlen = (size_t)lseek(out, 0, SEEK_END) - MSGFILE_TRAILER_LEN;
	ck_assert_uint_eq(size, r->storedlen + MSGFILE_TRAILER_LEN);
	r->stored = calloc(1, r->storedlen + 1);
	ck_assert_int_eq(pread(out, r->stored, r->storedlen, 0),
	    (ssize_t)r->storedlen);
	close(out);
	close(sv[0]);
	waitpid(pid, NULL, 0);
}

static void
data_run(const char *input, size_t len, uint64_t limit,
    enum bare_newline_mode mode, struct data_run *r)
{
	data_run_fix(input, len, limit, mode, NULL, r);
}

#define RUN(s, mode, r) data_run((s), sizeof(s) - 1, 1 << 20, (mode), (r))

START_TEST(test_plain_end)
{
	struct data_run r;

	RUN("Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n", BARE_NEWLINE_NORMALIZE, &r);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_str_eq(r.stored, "Subject: x\r\n\r\nhello\r\n");
	ck_assert_uint_eq(r.res.size, strlen(r.stored));
	/* Pipelined input after the end of data stays for the session. */
	ck_assert_int_eq(r.restlen, 4);
	ck_assert_str_eq(r.rest, "QUIT");
	free(r.stored);
}
END_TEST

START_TEST(test_dot_unstuffing)
{
	struct data_run r;

	RUN("a\r\n..\r\n...x\r\n.y\r\n.\r\n", BARE_NEWLINE_NORMALIZE, &r);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_str_eq(r.stored, "a\r\n.\r\n..x\r\ny\r\n");
	free(r.stored);
}
END_TEST

START_TEST(test_empty_message)
{
	struct data_run r;

	RUN(".\r\n", BARE_NEWLINE_NORMALIZE, &r);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_uint_eq(r.storedlen, 0);
	free(r.stored);
}
END_TEST

/* Each fake end of data must be content, never an end (SMTP smuggling). */
START_TEST(test_smuggling_variants)
{
	static const char *fakes[] = { "\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r\n" };
	char input[512];
	struct data_run r;

	for (size_t i = 0; i < sizeof(fakes) / sizeof(fakes[0]); i++) {
		int n = snprintf(input, sizeof(input), "x: y\r\n\r\nbody%s"
		    "MAIL FROM:<evil@x>\r\n\r\n.\r\nNEXT\r\n", fakes[i]);

		data_run(input, (size_t)n, 1 << 20, BARE_NEWLINE_NORMALIZE, &r);
		ck_assert_int_eq(r.ret, 0);
		ck_assert_int_eq(r.res.bare_newline, 1);
		/* The smuggled command is inside the one message... */
		ck_assert_ptr_nonnull(strstr(r.stored, "MAIL FROM:<evil@x>\r\n"));
		/* ...with no bare CR or LF left in it... */
		for (size_t j = 0; j < r.storedlen; j++) {
			if (r.stored[j] == '\n')
				ck_assert(j > 0 && r.stored[j - 1] == '\r');
			if (r.stored[j] == '\r')
				ck_assert(j + 1 < r.storedlen &&
				    r.stored[j + 1] == '\n');
		}
		/* ...and only the real end ended it. */
		ck_assert_str_eq(r.rest, "NEXT");
		free(r.stored);

		data_run(input, (size_t)n, 1 << 20, BARE_NEWLINE_REJECT, &r);
		ck_assert_int_eq(r.ret, 0);
		ck_assert_int_eq(r.res.bare_newline, 1);
		ck_assert_str_eq(r.rest, "NEXT");
		free(r.stored);
	}
}
END_TEST

START_TEST(test_bare_lf_normalized)
{
	struct data_run r;

	RUN("a\nb\rc\r\n.\r\n", BARE_NEWLINE_NORMALIZE, &r);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_str_eq(r.stored, "a\r\nb\r\nc\r\n");
	free(r.stored);
}
END_TEST

START_TEST(test_line_too_long)
{
	char input[3000];
	struct data_run r;
	size_t n = 0;

	/* 998 octets + CRLF is the most RFC 5321 allows: accepted. */
	memset(input, 'a', 998);
	n = 998;
	memcpy(input + n, "\r\n.\r\n", 5);
	n += 5;
	data_run(input, n, 1 << 20, BARE_NEWLINE_NORMALIZE, &r);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_int_eq(r.res.line_too_long, 0);
	ck_assert_uint_eq(r.storedlen, 1000);
	free(r.stored);

	memset(input, 'a', 999);
	memcpy(input + 999, "\r\n.\r\n", 5);
	data_run(input, 1004, 1 << 20, BARE_NEWLINE_NORMALIZE, &r);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_int_eq(r.res.line_too_long, 1);
	free(r.stored);
}
END_TEST

START_TEST(test_size_limit)
{
	struct data_run r;

	data_run("0123456789\r\n0123456789\r\n.\r\nNEXT\r\n", 33, 20,
	    BARE_NEWLINE_NORMALIZE, &r);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_int_eq(r.res.too_big, 1);
	/* The session stays in step: the next command is still there. */
	ck_assert_str_eq(r.rest, "NEXT");
	free(r.stored);
}
END_TEST

START_TEST(test_hops_counted_in_header_only)
{
	struct data_run r;

	RUN("Received: a\r\nreceived: b\r\nX: c\r\n\r\nReceived: body\r\n.\r\n",
	    BARE_NEWLINE_NORMALIZE, &r);
	ck_assert_int_eq(r.res.hops, 2);
	free(r.stored);
}
END_TEST

/* RFC 8689 3: "TLS-Required: No" once, in the header (any case, folded,
 * white space around the value); not in the body, not twice, not
 * another value. */
START_TEST(test_tls_required_no)
{
	static const struct {
		const char	*in;
		int		 no;
	} cases[] = {
		{ "TLS-Required: No\r\n\r\nbody\r\n.\r\n", 1 },
		{ "Subject: x\r\ntls-required:no  \r\n\r\n.\r\n", 1 },
		{ "TLS-Required:\r\n NO\r\nX: y\r\n\r\n.\r\n", 1 },
		{ "TLS-Required : No\r\n.\r\n", 1 },
		{ "TLS-Required: Yes\r\n\r\n.\r\n", 0 },
		{ "TLS-Required: Nope\r\n\r\n.\r\n", 0 },
		{ "TLS-Required: No\r\n more\r\n\r\n.\r\n", 0 },
		{ "TLS-Required: No\r\nTLS-Required: No\r\n\r\n.\r\n", 0 },
		{ "Subject: x\r\n\r\nTLS-Required: No\r\n.\r\n", 0 },
		{ "X-TLS-Required: No\r\n\r\n.\r\n", 0 },
		{ "Subject: TLS-Required: No\r\n\r\n.\r\n", 0 },
		{ "TLS-Required: No No No No No No No\r\n\r\n.\r\n", 0 },
	};
	struct data_run r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		data_run(cases[i].in, strlen(cases[i].in), 1 << 20,
		    BARE_NEWLINE_NORMALIZE, &r);
		ck_assert_msg(r.res.tls_required_no == cases[i].no, "%s",
		    cases[i].in);
		free(r.stored);
	}
}
END_TEST

START_TEST(test_eof_mid_data)
{
	struct data_run r;

	RUN("Subject: x\r\n\r\npartial", BARE_NEWLINE_NORMALIZE, &r);
	ck_assert_int_eq(r.ret, -1);
	ck_assert_int_eq(r.res.io_status, SMTP_IO_EOF);
	free(r.stored);
}
END_TEST

/* A big message crosses the 64 KiB input buffer many times, with CRLF
 * pairs split between reads. */
START_TEST(test_large_message)
{
	size_t lines = 20000, n = 0;
	char *input = malloc(lines * 80 + 16);
	struct data_run r;

	for (size_t i = 0; i < lines; i++) {
		memset(input + n, 'a' + (char)(i % 26), 77);
		n += 77;
		memcpy(input + n, "\r\n", 2);
		n += 2;
	}
	memcpy(input + n, ".\r\n", 3);
	n += 3;
	data_run(input, n, 1 << 30, BARE_NEWLINE_NORMALIZE, &r);
	ck_assert_int_eq(r.ret, 0);
	ck_assert_int_eq(r.res.bare_newline, 0);
	ck_assert_uint_eq(r.storedlen, n - 3);
	ck_assert_int_eq(memcmp(r.stored, input, n - 3), 0);
	free(r.stored);
	free(input);
}
END_TEST

/* Submission (RFC 6409 8.2, 8.3): missing Date: and Message-ID: are added
 * at the end of the header section; an unqualified Message-ID: replaced. */
START_TEST(test_submission_fixes)
{
	struct smtp_data_fix fix = { "mx.test.example", "ABCDEF0123456789",
	    1795451290 };
	struct data_run r;
	static const char in1[] = "Subject: a\r\n\r\nbody\r\n.\r\n";
	static const char in2[] = "Date: x\r\nMessage-ID: <local>\r\n"
	    "\tcontinued\r\nSubject: b\r\n\r\nbody\r\n.\r\n";
	static const char in3[] = "Subject: only header\r\n.\r\n";

	setenv("TZ", "UTC", 1);
	tzset();
	data_run_fix(in1, sizeof(in1) - 1, 1 << 20, BARE_NEWLINE_NORMALIZE,
	    &fix, &r);
	ck_assert_str_eq(r.stored, "Subject: a\r\n"
	    "Date: Mon, 23 Nov 2026 16:28:10 +0000\r\n"
	    "Message-ID: <ABCDEF0123456789@mx.test.example>\r\n\r\nbody\r\n");
	ck_assert_uint_eq(r.res.size, strlen(r.stored));
	free(r.stored);

	data_run_fix(in2, sizeof(in2) - 1, 1 << 20, BARE_NEWLINE_NORMALIZE,
	    &fix, &r);
	ck_assert_str_eq(r.stored, "Date: x\r\nSubject: b\r\n"
	    "Message-ID: <ABCDEF0123456789@mx.test.example>\r\n\r\nbody\r\n");
	ck_assert_uint_eq(r.res.size, strlen(r.stored));
	free(r.stored);

	data_run_fix(in3, sizeof(in3) - 1, 1 << 20, BARE_NEWLINE_NORMALIZE,
	    &fix, &r);
	ck_assert_ptr_nonnull(strstr(r.stored, "Subject: only header\r\nDate: "));
	ck_assert_ptr_nonnull(strstr(r.stored, "Message-ID: <ABCDEF"));
	free(r.stored);

	/* Without fix (port 25) nothing is touched. */
	RUN("Subject: a\r\n\r\nbody\r\n.\r\n", BARE_NEWLINE_NORMALIZE, &r);
	ck_assert_str_eq(r.stored, "Subject: a\r\n\r\nbody\r\n");
	free(r.stored);
}
END_TEST

/*
 * Read boundaries chosen by the test.  feed_start() queues the first
 * chunk before the reader starts, so that its first read(2) takes exactly
 * that chunk; a child then writes each following chunk only once the
 * reader has taken everything before it (FIONREAD on the reader's socket
 * reads 0), so that every chunk ends exactly where a read ends.  After
 * the last chunk the child closes its end: the reader sees EOF.
 */
struct feed {
	int	fd;		/* the reader's end of the socketpair */
	pid_t	pid;		/* the writer */
};

static int
feed_write(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* feed_drained - the reader took all queued input (within 5 s) */
static int
feed_drained(int fd)
{
	struct timespec ms = { 0, 1000000 };
	int queued;

	for (int i = 0; i < 5000; i++) {
		if (ioctl(fd, FIONREAD, &queued) == 0 && queued == 0)
			return 1;
		nanosleep(&ms, NULL);
	}
	return 0;
}

static void
feed_start(struct feed *f, const char *const *chunks, const size_t *lens,
    size_t n)
{
	int sv[2], big = 1 << 20;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	ck_assert_int_eq(feed_write(sv[1], chunks[0], lens[0]), 0);
	f->pid = fork();
	ck_assert_int_ge(f->pid, 0);
	if (f->pid == 0) {
		for (size_t i = 1; i < n; i++)
			if (!feed_drained(sv[0]) ||
			    feed_write(sv[1], chunks[i], lens[i]) != 0)
				_exit(1);
		(void)feed_drained(sv[0]);
		_exit(0);
	}
	close(sv[1]);
	f->fd = sv[0];
}

static void
feed_end(struct feed *f)
{
	int status;

	close(f->fd);
	ck_assert_int_eq(waitpid(f->pid, &status, 0), f->pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the reader never took a chunk: a read boundary was not kept");
}

/* fill_with - n copies of c followed by tail (caller frees) */
static char *
fill_with(char c, size_t n, const char *tail, size_t *len)
{
	size_t tl = strlen(tail);
	char *p = malloc(n + tl + 1);

	ck_assert_ptr_nonnull(p);
	memset(p, c, n);
	memcpy(p + n, tail, tl + 1);
	*len = n + tl;
	return p;
}

static struct smtp_io bio;	/* 64 KiB buffers: not on the stack */

/* expect_line - the next line is want (NULL: any, overlong), ending in eol */
static void
expect_line(const char *want, enum smtp_line_end want_eol)
{
	char line[SMTP_TEXT_LINE_MAX + 1];
	enum smtp_line_end eol;
	int overlong;
	ssize_t n;

	n = smtp_io_getline(&bio, line, SMTP_TEXT_LINE_MAX - 2, &eol,
	    &overlong);
	if (want == NULL) {
		ck_assert_int_eq(n, SMTP_TEXT_LINE_MAX - 2);
		ck_assert_int_eq(overlong, 1);
	} else {
		ck_assert_int_eq(n, (ssize_t)strlen(want));
		ck_assert_str_eq(line, want);
		ck_assert_int_eq(overlong, 0);
	}
	ck_assert_int_eq(eol, want_eol);
}

/* expect_eof - the writer closed, with nothing left over */
static void
expect_eof(void)
{
	char line[16];
	enum smtp_line_end eol;
	int overlong;

	ck_assert_int_eq(smtp_io_getline(&bio, line, sizeof(line) - 1, &eol,
	    &overlong), SMTP_IO_EOF);
}

/* The bug as reported: a line longer than half the buffer, its CR the
 * last octet of a read and its LF the first of the next. */
START_TEST(test_long_line_cr_ends_read)
{
	size_t lens[2];
	char *c0 = fill_with('x', 40000, "\r", &lens[0]);
	const char *chunks[2] = { c0, "\n.\r\n" };
	struct feed f;

	lens[1] = strlen(chunks[1]);
	feed_start(&f, chunks, lens, 2);
	smtp_io_init(&bio, f.fd, 5000);
	expect_line(NULL, SMTP_EOL_CRLF);
	expect_line(".", SMTP_EOL_CRLF);
	expect_eof();
	feed_end(&f);
	free(c0);
}
END_TEST

/* The same when the read filled the buffer to its last octet. */
START_TEST(test_full_buffer_cr_ends_read)
{
	size_t lens[2];
	char *c0 = fill_with('x', SMTP_IO_INBUF - 1, "\r", &lens[0]);
	const char *chunks[2] = { c0, "\nNEXT\r\n" };
	struct feed f;

	lens[1] = strlen(chunks[1]);
	feed_start(&f, chunks, lens, 2);
	smtp_io_init(&bio, f.fd, 5000);
	expect_line(NULL, SMTP_EOL_CRLF);
	expect_line("NEXT", SMTP_EOL_CRLF);
	feed_end(&f);
	free(c0);
}
END_TEST

/* A line discarded over several reads, its CR at the end of a later one;
 * and a long line starting after a pipelined command in the same read. */
START_TEST(test_long_line_over_reads_cr_ends_read)
{
	size_t lens[3];
	char *c0 = fill_with('x', 40000, "", &lens[0]);
	char *c1 = fill_with('y', 30000, "\r", &lens[1]);
	char *c2;
	const char *chunks[3] = { c0, c1, "\nQUIT\r\n" };
	struct feed f;

	lens[2] = strlen(chunks[2]);
	feed_start(&f, chunks, lens, 3);
	smtp_io_init(&bio, f.fd, 5000);
	expect_line(NULL, SMTP_EOL_CRLF);
	expect_line("QUIT", SMTP_EOL_CRLF);
	feed_end(&f);
	free(c0);
	free(c1);

	c2 = malloc(40000 + 16);
	ck_assert_ptr_nonnull(c2);
	memcpy(c2, "NOOP\r\n", 6);
	memset(c2 + 6, 'z', 40000);
	c2[40006] = '\r';
	chunks[0] = c2;
	lens[0] = 40007;
	chunks[1] = "\nRSET\r\n";
	lens[1] = strlen(chunks[1]);
	feed_start(&f, chunks, lens, 2);
	smtp_io_init(&bio, f.fd, 5000);
	expect_line("NOOP", SMTP_EOL_CRLF);
	expect_line(NULL, SMTP_EOL_CRLF);
	expect_line("RSET", SMTP_EOL_CRLF);
	feed_end(&f);
	free(c2);
}
END_TEST

/* A CR at the end of a read followed by something other than LF is a
 * bare CR ending the long line; what follows is the next line. */
START_TEST(test_long_line_bare_cr_ends_read)
{
	size_t lens[2];
	char *c0 = fill_with('x', 40000, "\r", &lens[0]);
	const char *chunks[2] = { c0, "y\r\n" };
	struct feed f;

	lens[1] = strlen(chunks[1]);
	feed_start(&f, chunks, lens, 2);
	smtp_io_init(&bio, f.fd, 5000);
	expect_line(NULL, SMTP_EOL_CR);
	expect_line("y", SMTP_EOL_CRLF);
	feed_end(&f);
	free(c0);
}
END_TEST

/* Short lines split between CR and LF have always worked; keep it so. */
START_TEST(test_short_line_cr_ends_read)
{
	const char *chunks[3] = { "abc\r", "\ndef\r", "\n" };
	size_t lens[3] = { 4, 5, 1 };
	struct feed f;

	feed_start(&f, chunks, lens, 3);
	smtp_io_init(&bio, f.fd, 5000);
	expect_line("abc", SMTP_EOL_CRLF);
	expect_line("def", SMTP_EOL_CRLF);
	feed_end(&f);
}
END_TEST

/* What the session sees: the end of data after an overlong line that
 * ended at a read boundary on its CR is found, and nothing after it is
 * taken for message data. */
START_TEST(test_end_of_data_after_long_line_cr_ends_read)
{
	static const char head[] = "Subject: x\r\n\r\n";
	size_t lens[2];
	char *c0 = malloc(sizeof(head) + 40001);
	const char *chunks[2] = { c0, "\n.\r\nNEXT\r\n" };
	static struct msgfile_writer w;
	struct smtp_data_result res;
	struct feed f;
	int out = memfd_create("data", 0);

	ck_assert_ptr_nonnull(c0);
	ck_assert_int_ge(out, 0);
	memcpy(c0, head, sizeof(head) - 1);
	memset(c0 + sizeof(head) - 1, 'x', 40000);
	c0[sizeof(head) - 1 + 40000] = '\r';
	lens[0] = sizeof(head) + 40000;
	lens[1] = strlen(chunks[1]);
	feed_start(&f, chunks, lens, 2);
	smtp_io_init(&bio, f.fd, 5000);
	msgfile_writer_init(&w, out);
	ck_assert_int_eq(smtp_data_receive(&bio, &w, 1 << 20,
	    BARE_NEWLINE_REJECT, NULL, &res), 0);
	ck_assert_int_eq(res.line_too_long, 1);
	ck_assert_int_eq(res.bare_newline, 0);
	expect_line("NEXT", SMTP_EOL_CRLF);
	feed_end(&f);
	close(out);
	free(c0);
}
END_TEST

Suite *
smtp_data_suite(void)
{
	Suite *s = suite_create("smtp_data");
	TCase *tc = tcase_create("data");

	tcase_add_test(tc, test_plain_end);
	tcase_add_test(tc, test_dot_unstuffing);
	tcase_add_test(tc, test_empty_message);
	tcase_add_test(tc, test_smuggling_variants);
	tcase_add_test(tc, test_bare_lf_normalized);
	tcase_add_test(tc, test_line_too_long);
	tcase_add_test(tc, test_size_limit);
	tcase_add_test(tc, test_hops_counted_in_header_only);
	tcase_add_test(tc, test_tls_required_no);
	tcase_add_test(tc, test_eof_mid_data);
	tcase_add_test(tc, test_large_message);
	tcase_add_test(tc, test_submission_fixes);
	suite_add_tcase(s, tc);
	tc = tcase_create("line_boundaries");
	tcase_add_test(tc, test_long_line_cr_ends_read);
	tcase_add_test(tc, test_full_buffer_cr_ends_read);
	tcase_add_test(tc, test_long_line_over_reads_cr_ends_read);
	tcase_add_test(tc, test_long_line_bare_cr_ends_read);
	tcase_add_test(tc, test_short_line_cr_ends_read);
	tcase_add_test(tc, test_end_of_data_after_long_line_cr_ends_read);
	suite_add_tcase(s, tc);
	return s;
}
