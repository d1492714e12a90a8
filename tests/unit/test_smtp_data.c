/*
 * test_smtp_data - the DATA phase and the line reader under it: where a
 * message ends, what reaches the queue file, and what is refused.
 */
#include "config.h"

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
	tcase_add_test(tc, test_eof_mid_data);
	tcase_add_test(tc, test_large_message);
	tcase_add_test(tc, test_submission_fixes);
	suite_add_tcase(s, tc);
	return s;
}
