/*
 * test_smtp_bdat - BDAT chunks into the queue file (smtpd/smtp_bdat.c):
 * the same octets as DATA for the same message however it is cut into
 * chunks, exactly n octets read per chunk, limits, and a cut connection.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "smtp_bdat.h"
#include "smtp_data.h"
#include "smtp_io.h"

#define LIMIT	(1 << 20)

/* stored - what reached the file fd (without its trailer); malloc'd */
static char *
stored(int fd, struct msgfile_writer *w, size_t *len)
{
	uint64_t size;
	char *buf;

	ck_assert_int_eq(msgfile_writer_finish(w, &size), 0);
	*len = (size_t)size - MSGFILE_TRAILER_LEN;
	buf = calloc(1, *len + 1);
	ck_assert_int_eq(pread(fd, buf, *len, 0), (ssize_t)*len);
	close(fd);
	return buf;
}

/* by_data - msg dot-stuffed and sent as DATA: what is stored */
static char *
by_data(const char *msg, size_t len, enum bare_newline_mode mode,
    struct smtp_data_result *res, size_t *outlen)
{
	static struct smtp_io io;
	static struct msgfile_writer w;
	char *wire = malloc(2 * len + 8);
	size_t n = 0;
	int sv[2], fd = memfd_create("data", 0);

	/* Dot-stuff at every line start smtp_io sees: after CRLF, LF, CR. */
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '.' && (i == 0 || msg[i - 1] == '\n' ||
		    (msg[i - 1] == '\r' && msg[i] != '\n')))
			wire[n++] = '.';
		wire[n++] = msg[i];
	}
	if (n < 2 || memcmp(wire + n - 2, "\r\n", 2) != 0) {
		memcpy(wire + n, "\r\n", 2);
		n += 2;
	}
	memcpy(wire + n, ".\r\n", 3);
	n += 3;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(write(sv[1], wire, n), (ssize_t)n);
	close(sv[1]);
	free(wire);
	smtp_io_init(&io, sv[0], 5000);
	msgfile_writer_init(&w, fd);
	ck_assert_int_eq(smtp_data_receive(&io, &w, LIMIT, mode, NULL, res), 0);
	close(sv[0]);
	return stored(fd, &w, outlen);
}

/* by_bdat - msg fed in chunks of step octets: what is stored */
static char *
by_bdat(const char *msg, size_t len, size_t step, uint64_t limit,
    enum bare_newline_mode mode, struct smtp_data_result *res,
    size_t *outlen)
{
	static struct smtp_bdat b;
	static struct msgfile_writer w;
	int fd = memfd_create("bdat", 0);

	msgfile_writer_init(&w, fd);
	smtp_bdat_begin(&b, &w, limit, mode, NULL);
	for (size_t off = 0; off < len; off += step)
		smtp_bdat_feed(&b, msg + off, len - off < step ? len - off :
		    step);
	smtp_bdat_end(&b);
	*res = b.res;
	return stored(fd, &w, outlen);
}

/* Whatever the chunk sizes, the file holds what DATA would have stored. */
START_TEST(test_bdat_stores_what_data_stores)
{
	static const char *const msgs[] = {
		"Subject: x\r\n\r\nhello\r\n",
		"Received: a\r\nReceived: b\r\n\r\n.dot\r\n..two\r\n.\r\nend\r\n",
		"bare\nlf\r\nbare\rcr\r\r\n\n\r\n",
		"no final crlf",
		"\r\n",
		"a\r\nb",
		"cr at the end of a chunk\r\nthen lf\r\n",
		".\r\n",
		"x\r\n.\r\nsmuggled\r\n.\r\n",
		"TLS-Required:\r\n No\r\n\r\nbody\r\n",
		"Subject: y\r\nTLS-Required: no\r\n\r\n",
	};
	static const enum bare_newline_mode modes[] = {
		BARE_NEWLINE_NORMALIZE, BARE_NEWLINE_REJECT,
	};

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
		for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
			size_t len = strlen(msgs[i]), dlen, blen;
			struct smtp_data_result dres, bres;
			char *d = by_data(msgs[i], len, modes[m], &dres, &dlen);

			for (size_t step = 1; step <= len; step++) {
				char *b = by_bdat(msgs[i], len, step, LIMIT,
				    modes[m], &bres, &blen);

				ck_assert_msg(blen == dlen &&
				    memcmp(b, d, dlen) == 0,
				    "msg %zu step %zu: \"%s\" != \"%s\"", i,
				    step, b, d);
				ck_assert_uint_eq(bres.size, dres.size);
				ck_assert_int_eq(bres.bare_newline,
				    dres.bare_newline);
				ck_assert_int_eq(bres.hops, dres.hops);
				ck_assert_int_eq(bres.tls_required_no,
				    dres.tls_required_no);
				ck_assert_int_eq(bres.tls_required_no,
				    strncmp(msgs[i], "TLS-Required:", 13) == 0 ||
				    strncmp(msgs[i], "Subject: y", 10) == 0);
				free(b);
			}
			free(d);
		}
}
END_TEST

/* A message may end in a bare CR or LF (DATA cannot say that): it is
 * a bare line end like any other, and the file ends in CRLF. */
START_TEST(test_bdat_bare_end)
{
	struct smtp_data_result res;
	size_t blen;
	char *b;

	b = by_bdat("a\r", 2, 1, LIMIT, BARE_NEWLINE_NORMALIZE, &res, &blen);
	ck_assert_str_eq(b, "a\r\n");
	ck_assert(res.bare_newline);
	free(b);
	b = by_bdat("a\n", 2, 2, LIMIT, BARE_NEWLINE_NORMALIZE, &res, &blen);
	ck_assert_str_eq(b, "a\r\n");
	ck_assert(res.bare_newline);
	free(b);
	b = by_bdat("a\r\n", 3, 2, LIMIT, BARE_NEWLINE_REJECT, &res, &blen);
	ck_assert_str_eq(b, "a\r\n");
	ck_assert(!res.bare_newline);
	free(b);
}
END_TEST

/* A line over the limit is refused like DATA's, also across chunks. */
START_TEST(test_bdat_long_line)
{
	size_t len = SMTP_TEXT_LINE_MAX + 10, blen;
	char *msg = malloc(len + 1), *b;
	struct smtp_data_result res;

	memset(msg, 'a', len);
	memcpy(msg + len - 2, "\r\n", 2);
	msg[len] = '\0';
	b = by_bdat(msg, len, 333, LIMIT, BARE_NEWLINE_NORMALIZE, &res, &blen);
	ck_assert(res.line_too_long);
	free(b);
	/* The longest line allowed is fine. */
	memcpy(msg + SMTP_TEXT_LINE_MAX - 2, "\r\n", 2);
	b = by_bdat(msg, SMTP_TEXT_LINE_MAX, 333, LIMIT,
	    BARE_NEWLINE_NORMALIZE, &res, &blen);
	ck_assert(!res.line_too_long);
	ck_assert_uint_eq(blen, SMTP_TEXT_LINE_MAX);
	free(b);
	free(msg);
}
END_TEST

/* Past the size limit nothing more is written and the verdict is 552. */
START_TEST(test_bdat_size_limit)
{
	struct smtp_data_result res;
	size_t blen;
	char *b;

	b = by_bdat("0123456789\r\n", 12, 5, 12, BARE_NEWLINE_NORMALIZE, &res,
	    &blen);
	ck_assert(!res.too_big);
	free(b);
	/* 13 octets that make 14 with the CRLF added at the end */
	b = by_bdat("0123456789\r\nx", 13, 5, 13, BARE_NEWLINE_NORMALIZE, &res,
	    &blen);
	ck_assert(res.too_big);
	free(b);
	/* octets without a line end count too */
	b = by_bdat("0123456789abcdef", 16, 4, 12, BARE_NEWLINE_NORMALIZE,
	    &res, &blen);
	ck_assert(res.too_big);
	ck_assert_uint_eq(blen, 0);
	free(b);
}
END_TEST

/* A chunk is exactly n octets: what follows is the next command; a
 * refused chunk (no state) is read all the same; a cut is reported. */
START_TEST(test_bdat_chunk_reads_exactly_n)
{
	static struct smtp_io io;
	static struct smtp_bdat b;
	static struct msgfile_writer w;
	static const char wire[] = "hello\r\nwor" "ld\r\nQUIT\r\n" "12345";
	char line[64], *s;
	enum smtp_line_end eol;
	int sv[2], overlong, fd = memfd_create("bdat", 0);
	size_t len;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(write(sv[1], wire, sizeof(wire) - 1),
	    (ssize_t)sizeof(wire) - 1);
	smtp_io_init(&io, sv[0], 5000);
	msgfile_writer_init(&w, fd);
	smtp_bdat_begin(&b, &w, LIMIT, BARE_NEWLINE_NORMALIZE, NULL);
	ck_assert_int_eq(smtp_bdat_chunk(&io, &b, 10), SMTP_IO_OK);
	ck_assert_int_eq(smtp_bdat_chunk(&io, &b, 4), SMTP_IO_OK);
	ck_assert_int_eq(smtp_io_getline(&io, line, sizeof(line) - 1, &eol,
	    &overlong), 4);
	ck_assert(memcmp(line, "QUIT", 4) == 0);
	smtp_bdat_end(&b);
	s = stored(fd, &w, &len);
	ck_assert_str_eq(s, "hello\r\nworld\r\n");
	free(s);
	ck_assert_int_eq(smtp_bdat_chunk(&io, NULL, 3), SMTP_IO_OK);
	close(sv[1]);
	/* two octets left, five announced */
	ck_assert_int_eq(smtp_bdat_chunk(&io, NULL, 5), SMTP_IO_EOF);
	close(sv[0]);
}
END_TEST

Suite *
smtp_bdat_suite(void)
{
	Suite *s = suite_create("smtp_bdat");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_bdat_stores_what_data_stores);
	tcase_add_test(tc, test_bdat_bare_end);
	tcase_add_test(tc, test_bdat_long_line);
	tcase_add_test(tc, test_bdat_size_limit);
	tcase_add_test(tc, test_bdat_chunk_reads_exactly_n);
	suite_add_tcase(s, tc);
	return s;
}
