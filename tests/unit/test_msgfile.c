/*
 * test_msgfile - queue files with their trailer: the checksum, the writer,
 * and the checker's verdict on whole, truncated, damaged, old-format and
 * hostile files; envelope_validate's field rules.
 */
#include "config.h"

#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "crc32c.h"
#include "dsn_param.h"
#include "envelope.h"
#include "msgfile.h"
#include "xmalloc.h"

static const char body[] = "Received: from x\r\nSubject: t\r\n\r\nhello\r\n"
    ".dot line\r\nlast\r\n";

/* env_good - a valid envelope with two recipients (caller frees) */
static void
env_good(struct envelope *e)
{
	memset(e, 0, sizeof(*e));
	strlcpy(e->qid, "0005F1A2B3C4D500", sizeof(e->qid));
	e->arrival = 1700000000ULL;
	strlcpy(e->sender, "alice@example.org", sizeof(e->sender));
	strlcpy(e->helo, "[192.0.2.7]", sizeof(e->helo));
	strlcpy(e->client_name, "mail.example.org", sizeof(e->client_name));
	strlcpy(e->client_addr, "2001:db8::7", sizeof(e->client_addr));
	strlcpy(e->protocol, "ESMTPSA", sizeof(e->protocol));
	e->envid = xstrdup("env 42");
	e->nrcpt = 2;
	e->rcpts = xcalloc(2, sizeof(*e->rcpts));
	strlcpy(e->rcpts[0].addr, "\"odd local\"@example.net",
	    sizeof(e->rcpts[0].addr));
	e->rcpts[0].orcpt = xstrdup("rfc822;odd+20local@example.net");
	strlcpy(e->rcpts[1].addr, "postmaster", sizeof(e->rcpts[1].addr));
}

/* file_write - a memfd holding the envelope and body written in chunks
 * of chunk octets, finished with its trailer; *size gets its size */
static int
file_write(const struct envelope *e, size_t chunk, uint64_t *size)
{
	static struct msgfile_writer w;
	unsigned char *prefix;
	size_t plen, off;
	int fd = memfd_create("msg", 0);

	ck_assert_int_ge(fd, 0);
	envelope_encode(e, &prefix, &plen);
	msgfile_writer_init(&w, fd);
	msgfile_write(&w, prefix, plen);
	for (off = 0; off < sizeof(body) - 1; off += chunk)
		msgfile_write(&w, body + off, off + chunk < sizeof(body) - 1 ?
		    chunk : sizeof(body) - 1 - off);
	ck_assert_int_eq(msgfile_writer_finish(&w, size), 0);
	ck_assert_uint_eq(*size, plen + sizeof(body) - 1 +
	    MSGFILE_TRAILER_LEN);
	free(prefix);
	return fd;
}

/* file_copy - a new memfd with the first len octets of fd, then extra */
static int
file_copy(int fd, size_t len, const void *extra, size_t extralen)
{
	unsigned char *buf = xmalloc(len + 1);
	int out = memfd_create("copy", 0);

	ck_assert_int_eq(pread(fd, buf, len, 0), (ssize_t)len);
	ck_assert_int_eq(write(out, buf, len), (ssize_t)len);
	if (extralen)
		ck_assert_int_eq(write(out, extra, extralen), (ssize_t)extralen);
	free(buf);
	return out;
}

/* verdict - msgfile_check's state for fd, freeing what it returned */
static enum msgfile_state
verdict(int fd, int crc)
{
	struct msgfile_info info;
	char err[256];
	enum msgfile_state st = msgfile_check(fd, crc, &info, err, sizeof(err));

	if (st == MSGFILE_COMPLETE)
		envelope_free(&info.env);
	return st;
}

START_TEST(test_crc32c_vectors)
{
	unsigned char zeros[32] = { 0 }, ones[32];

	memset(ones, 0xff, sizeof(ones));
	ck_assert_uint_eq(crc32c_update(0, "123456789", 9), 0xE3069283);
	/* RFC 3720 B.4 test patterns */
	ck_assert_uint_eq(crc32c_update(0, zeros, 32), 0x8A9136AA);
	ck_assert_uint_eq(crc32c_update(0, ones, 32), 0x62A8AB43);
	/* Piecewise equals whole, across the eight-octet steps. */
	ck_assert_uint_eq(crc32c_update(crc32c_update(0, "12345", 5),
	    "6789", 4), 0xE3069283);
	ck_assert_uint_eq(crc32c_update(0, "", 0), 0);
	ck_assert_uint_eq(crc32c_software(0, "123456789", 9), 0xE3069283);
}
END_TEST

/* crc32c_bitwise - the definition, one bit at a time */
static uint32_t
crc32c_bitwise(uint32_t crc, const unsigned char *p, size_t len)
{
	crc = ~crc;
	while (len-- > 0) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

/* Whichever way crc32c_update computes (the CPU's instruction or the
 * tables), it and the software path agree with the definition at every
 * length and alignment, and when continued from any CRC. */
START_TEST(test_crc32c_paths_agree)
{
	unsigned char buf[300];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131 + (i >> 3) * 17 + 5);
	for (size_t off = 0; off < 9; off++)
		for (size_t n = 0; off + n <= sizeof(buf); n += n < 40 ? 1 : 23) {
			uint32_t want = crc32c_bitwise(0x12345678u, buf + off, n);

			ck_assert_uint_eq(crc32c_update(0x12345678u, buf + off,
			    n), want);
			ck_assert_uint_eq(crc32c_software(0x12345678u,
			    buf + off, n), want);
		}
}
END_TEST

/* crc32c_shift carries a CRC difference over shared octets */
START_TEST(test_crc32c_shift)
{
	unsigned char tail[1000];
	uint32_t a = crc32c_update(0, "abcd", 4), b = crc32c_update(0, "abXd", 4);

	for (size_t i = 0; i < sizeof(tail); i++)
		tail[i] = (unsigned char)(i * 7 + 3);
	for (size_t n = 0; n <= sizeof(tail); n += n < 20 ? 1 : 97)
		ck_assert_uint_eq(crc32c_update(a, tail, n) ^
		    crc32c_update(b, tail, n), crc32c_shift(a ^ b, n));
}
END_TEST

/*
 * msgfile_writer_patch: an envelope flag set after the body was written
 * (smtpd's "TLS-Required: No") gives the file and trailer that writing
 * the final envelope first would have, whether the prefix is still in
 * the buffer or was written out before (a body bigger than the buffer).
 */
START_TEST(test_writer_patch_envelope_flag)
{
	static struct msgfile_writer w;
	static unsigned char big[3 * MSGFILE_BUFSIZE];
	struct envelope e;
	struct msgfile_info info;
	unsigned char *p0, *p1;
	size_t l0, l1, sizes[] = { 10, sizeof(big) };
	uint64_t size;
	char err[256];

	env_good(&e);
	envelope_encode(&e, &p0, &l0);
	e.flags = ENVELOPE_F_TLS_OPTIONAL;
	envelope_encode(&e, &p1, &l1);
	ck_assert_uint_eq(l0, l1);
	memset(big, 'x', sizeof(big));
	for (size_t i = 0; i < sizeof(big); i += 80)
		memcpy(big + i, "\r\n", 2);
	for (size_t k = 0; k < 2; k++) {
		int fd = memfd_create("patch", 0);

		msgfile_writer_init(&w, fd);
		msgfile_write(&w, p0, l0);
		msgfile_write(&w, big, sizes[k]);
		msgfile_writer_patch(&w, 0, p0, p1, l0);
		ck_assert_int_eq(msgfile_writer_finish(&w, &size), 0);
		ck_assert_int_eq(msgfile_check(fd, 1, &info, err, sizeof(err)),
		    MSGFILE_COMPLETE);
		ck_assert_uint_eq(info.env.flags, ENVELOPE_F_TLS_OPTIONAL);
		envelope_free(&info.env);
		close(fd);
	}
	free(p0);
	free(p1);
	envelope_free(&e);
}
END_TEST

START_TEST(test_whole_file_round_trip)
{
	struct envelope e;
	struct msgfile_info info;
	char err[256];
	uint64_t size;
	size_t chunks[] = { 1, 7, 8, 64, 100000 };

	env_good(&e);
	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		int fd = file_write(&e, chunks[k], &size);

		ck_assert_int_eq(msgfile_check(fd, 1, &info, err, sizeof(err)),
		    MSGFILE_COMPLETE);
		ck_assert_str_eq(info.env.qid, e.qid);
		ck_assert_str_eq(info.env.rcpts[0].addr, e.rcpts[0].addr);
		ck_assert_uint_eq(info.env.version, ENVELOPE_VERSION);
		ck_assert_uint_eq(info.size, size);
		ck_assert_uint_eq(info.body_len, sizeof(body) - 1);
		ck_assert_uint_eq((uint64_t)info.body + info.body_len +
		    MSGFILE_TRAILER_LEN, size);
		envelope_free(&info.env);
		close(fd);
	}
	envelope_free(&e);
}
END_TEST

/* No prefix of a whole file is ever taken for a whole message. */
START_TEST(test_every_truncation_is_not_complete)
{
	struct envelope e;
	uint64_t size;
	int fd;

	env_good(&e);
	fd = file_write(&e, 10, &size);
	for (size_t len = 0; len < size; len++) {
		int t = file_copy(fd, len, NULL, 0);
		enum msgfile_state st = verdict(t, 1);

		ck_assert_msg(st == MSGFILE_INCOMPLETE || st == MSGFILE_CORRUPT,
		    "prefix of %zu octets: state %d", len, st);
		ck_assert_int_eq(verdict(t, 0) == MSGFILE_COMPLETE, 0);
		close(t);
	}
	/* Without its trailer it is unfinished, not damaged. */
	{
		int t = file_copy(fd, size - MSGFILE_TRAILER_LEN, NULL, 0);

		ck_assert_int_eq(verdict(t, 1), MSGFILE_INCOMPLETE);
		close(t);
	}
	close(fd);
	envelope_free(&e);
}
END_TEST

/* Any changed octet is noticed, by the checksum when not otherwise. */
START_TEST(test_every_flipped_octet_is_corrupt)
{
	struct envelope e;
	uint64_t size;
	int fd;

	env_good(&e);
	fd = file_write(&e, 10, &size);
	for (uint64_t pos = 0; pos < size; pos++) {
		int t = file_copy(fd, size, NULL, 0);
		unsigned char c;

		ck_assert_int_eq(pread(t, &c, 1, (off_t)pos), 1);
		c ^= 0x01;
		ck_assert_int_eq(pwrite(t, &c, 1, (off_t)pos), 1);
		ck_assert_msg(verdict(t, 1) != MSGFILE_COMPLETE,
		    "octet %llu flipped, still complete",
		    (unsigned long long)pos);
		close(t);
	}
	close(fd);
	envelope_free(&e);
}
END_TEST

/*
 * file_write_big - a memfd with e's envelope and a body of blen octets
 * ("x" lines), finished with its trailer; *size gets its size
 */
static int
file_write_big(const struct envelope *e, size_t blen, uint64_t *size)
{
	static struct msgfile_writer w;
	unsigned char *prefix;
	size_t plen;
	int fd = memfd_create("big", 0);

	ck_assert_int_ge(fd, 0);
	envelope_encode(e, &prefix, &plen);
	msgfile_writer_init(&w, fd);
	msgfile_write(&w, prefix, plen);
	for (size_t i = 0; i < blen; i++)
		msgfile_write(&w, i % 64 == 63 ? "\n" : "x", 1);
	ck_assert_int_eq(msgfile_writer_finish(&w, size), 0);
	free(prefix);
	return fd;
}

/*
 * msgfile_check reads a file's first 4 KiB at once: a file whose trailer
 * lies beyond them, and an envelope that does not fit in them (many
 * recipients), are read from the file and judged the same way; a damaged
 * trailer or a cut-off file is still noticed there.
 */
START_TEST(test_file_and_envelope_beyond_first_read)
{
	struct envelope e, big;
	struct msgfile_info info;
	char err[256];
	uint64_t size;
	unsigned char c;
	int fd, t;

	env_good(&e);
	memcpy(&big, &e, sizeof(big));
	big.envid = NULL;
	big.nrcpt = 300;
	big.rcpts = xcalloc(big.nrcpt, sizeof(*big.rcpts));
	for (uint32_t i = 0; i < big.nrcpt; i++)
		snprintf(big.rcpts[i].addr, sizeof(big.rcpts[i].addr),
		    "recipient-%u@example.net", i);
	for (int k = 0; k < 4; k++) {
		const struct envelope *src = k < 2 ? &e : &big;
		size_t blen = k % 2 == 0 ? 20000 : 100;

		fd = file_write_big(src, blen, &size);
		ck_assert_int_eq(msgfile_check(fd, 1, &info, err, sizeof(err)),
		    MSGFILE_COMPLETE);
		ck_assert_uint_eq(info.env.nrcpt, src->nrcpt);
		ck_assert_str_eq(info.env.rcpts[src->nrcpt - 1].addr,
		    src->rcpts[src->nrcpt - 1].addr);
		ck_assert_uint_eq(info.body_len, blen);
		ck_assert_uint_eq(info.size, size);
		envelope_free(&info.env);
		/* The last octet of the trailer (its own checksum). */
		t = file_copy(fd, size, NULL, 0);
		ck_assert_int_eq(pread(t, &c, 1, (off_t)size - 1), 1);
		c ^= 0x01;
		ck_assert_int_eq(pwrite(t, &c, 1, (off_t)size - 1), 1);
		ck_assert_int_eq(verdict(t, 0), MSGFILE_CORRUPT);
		close(t);
		/* Cut inside the envelope, and just before the trailer. */
		t = file_copy(fd, size > 5000 ? 5000 : 100, NULL, 0);
		ck_assert_int_ne(verdict(t, 0), MSGFILE_COMPLETE);
		close(t);
		t = file_copy(fd, size - MSGFILE_TRAILER_LEN, NULL, 0);
		ck_assert_int_eq(verdict(t, 0), MSGFILE_INCOMPLETE);
		close(t);
		close(fd);
	}
	free(big.rcpts);
	envelope_free(&e);
}
END_TEST

START_TEST(test_trailing_junk_and_empty_file)
{
	struct envelope e;
	uint64_t size;
	int fd, t;

	env_good(&e);
	fd = file_write(&e, 10, &size);
	t = file_copy(fd, size, "junk", 4);
	ck_assert_int_ne(verdict(t, 1), MSGFILE_COMPLETE);
	close(t);
	t = memfd_create("empty", 0);
	ck_assert_int_eq(verdict(t, 1), MSGFILE_INCOMPLETE);
	close(t);
	close(fd);
	envelope_free(&e);
}
END_TEST

/* A file of envelope version 1 (no trailer) is read as before. */
START_TEST(test_version_1_file)
{
	struct envelope e;
	struct msgfile_info info;
	unsigned char *prefix;
	size_t plen;
	char err[256];
	uint32_t elen;
	int fd = memfd_create("v1", 0);

	env_good(&e);
	envelope_encode(&e, &prefix, &plen);
	prefix[11] = 1;		/* the version, big-endian, in octets 8..11 */
	/* Version 1 has no flags: the last field (4 octets, 0) goes. */
	plen -= 4;
	elen = ((uint32_t)prefix[12] << 24 | (uint32_t)prefix[13] << 16 |
	    (uint32_t)prefix[14] << 8 | prefix[15]) - 4;
	for (int i = 0; i < 4; i++)	/* the length, in octets 12..15 */
		prefix[12 + i] = (unsigned char)(elen >> (24 - 8 * i));
	ck_assert_int_eq(write(fd, prefix, plen), (ssize_t)plen);
	ck_assert_int_eq(write(fd, body, sizeof(body) - 1),
	    (ssize_t)sizeof(body) - 1);
	ck_assert_int_eq(msgfile_check(fd, 1, &info, err, sizeof(err)),
	    MSGFILE_COMPLETE);
	ck_assert_uint_eq(info.env.version, 1);
	ck_assert_uint_eq(info.body_len, sizeof(body) - 1);
	envelope_free(&info.env);
	ck_assert_int_eq(ftruncate(fd, (off_t)plen - 1), 0);
	ck_assert_int_eq(verdict(fd, 1), MSGFILE_INCOMPLETE);
	close(fd);
	free(prefix);
	envelope_free(&e);
}
END_TEST

/* A well-formed file with a field smtpd would never have accepted. */
START_TEST(test_hostile_envelope_is_corrupt)
{
	struct envelope e;
	uint64_t size;
	int fd;

	env_good(&e);
	strlcpy(e.sender, "a@b.example>\r\nRCPT TO:<x@y.example",
	    sizeof(e.sender));
	fd = file_write(&e, 10, &size);
	ck_assert_int_eq(verdict(fd, 0), MSGFILE_CORRUPT);
	ck_assert_int_eq(verdict(fd, 1), MSGFILE_CORRUPT);
	close(fd);
	envelope_free(&e);
}
END_TEST

/* validate - envelope_validate of env_good() changed by fn */
static int
validate(void (*fn)(struct envelope *))
{
	struct envelope e;
	char err[256];
	int r;

	env_good(&e);
	fn(&e);
	r = envelope_validate(&e, err, sizeof(err));
	envelope_free(&e);
	return r;
}

static void nothing(struct envelope *e) { (void)e; }
static void null_sender(struct envelope *e) { e->sender[0] = '\0'; }
static void crlf_sender(struct envelope *e)
{ strlcpy(e->sender, "a@b.example\r\n", sizeof(e->sender)); }
static void upper_domain(struct envelope *e)
{ strlcpy(e->sender, "a@B.example", sizeof(e->sender)); }
static void postmaster_sender(struct envelope *e)
{ strlcpy(e->sender, "postmaster", sizeof(e->sender)); }
static void ctl_helo(struct envelope *e)
{ strlcpy(e->helo, "evil\033[2Jhelo", sizeof(e->helo)); }
static void space_name(struct envelope *e)
{ strlcpy(e->client_name, "a b", sizeof(e->client_name)); }
static void bad_addr(struct envelope *e)
{ strlcpy(e->client_addr, "192.0.2.300", sizeof(e->client_addr)); }
static void bad_proto(struct envelope *e)
{ strlcpy(e->protocol, "ESMTP\n", sizeof(e->protocol)); }
static void empty_proto(struct envelope *e) { e->protocol[0] = '\0'; }
static void ctl_envid(struct envelope *e)
{ free(e->envid); e->envid = xstrdup("id\x7f"); }
static void long_envid(struct envelope *e)
{
	free(e->envid);
	e->envid = xmalloc(DSN_ENVID_MAX + 2);
	memset(e->envid, 'x', DSN_ENVID_MAX + 1);
	e->envid[DSN_ENVID_MAX + 1] = '\0';
}
static void max_envid(struct envelope *e)
{
	free(e->envid);
	e->envid = xmalloc(DSN_ENVID_MAX + 1);
	memset(e->envid, 'x', DSN_ENVID_MAX);
	e->envid[DSN_ENVID_MAX] = '\0';
}
static void bad_orcpt(struct envelope *e)
{ free(e->rcpts[0].orcpt); e->rcpts[0].orcpt = xstrdup("rfc822;a\nb"); }
static void bad_rcpt(struct envelope *e)
{ strlcpy(e->rcpts[1].addr, "no-at-sign", sizeof(e->rcpts[1].addr)); }
static void bad_qid(struct envelope *e)
{ strlcpy(e->qid, "../../etc/passwd", sizeof(e->qid)); }

START_TEST(test_validate_fields)
{
	ck_assert_int_eq(validate(nothing), 0);
	ck_assert_int_eq(validate(null_sender), 0);
	ck_assert_int_eq(validate(max_envid), 0);
	ck_assert_int_eq(validate(crlf_sender), -1);
	ck_assert_int_eq(validate(upper_domain), -1);
	ck_assert_int_eq(validate(postmaster_sender), -1);
	ck_assert_int_eq(validate(ctl_helo), -1);
	ck_assert_int_eq(validate(space_name), -1);
	ck_assert_int_eq(validate(bad_addr), -1);
	ck_assert_int_eq(validate(bad_proto), -1);
	ck_assert_int_eq(validate(empty_proto), -1);
	ck_assert_int_eq(validate(ctl_envid), -1);
	ck_assert_int_eq(validate(long_envid), -1);
	ck_assert_int_eq(validate(bad_orcpt), -1);
	ck_assert_int_eq(validate(bad_rcpt), -1);
	ck_assert_int_eq(validate(bad_qid), -1);
}
END_TEST

Suite *
msgfile_suite(void)
{
	Suite *s = suite_create("msgfile");
	TCase *tc = tcase_create("msgfile");

	tcase_add_test(tc, test_crc32c_vectors);
	tcase_add_test(tc, test_crc32c_paths_agree);
	tcase_add_test(tc, test_crc32c_shift);
	tcase_add_test(tc, test_writer_patch_envelope_flag);
	tcase_add_test(tc, test_whole_file_round_trip);
	tcase_add_test(tc, test_every_truncation_is_not_complete);
	tcase_add_test(tc, test_every_flipped_octet_is_corrupt);
	tcase_add_test(tc, test_trailing_junk_and_empty_file);
	tcase_add_test(tc, test_file_and_envelope_beyond_first_read);
	tcase_add_test(tc, test_version_1_file);
	tcase_add_test(tc, test_hostile_envelope_is_corrupt);
	tcase_add_test(tc, test_validate_fields);
	suite_add_tcase(s, tc);
	return s;
}
