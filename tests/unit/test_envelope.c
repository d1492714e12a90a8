/*
 * test_envelope - unit tests for the message-file envelope encoding:
 * round trips, every truncation point, bad prefixes, oversized and forged
 * fields, and reading through a descriptor.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "envelope.h"
#include "ipc.h"
#include "xmalloc.h"

/* env_fill - a plausible envelope with n recipients (caller frees) */
static void
env_fill(struct envelope *e, uint32_t n)
{
	memset(e, 0, sizeof(*e));
	strlcpy(e->qid, "0005F1A2B3C4D500", sizeof(e->qid));
	e->arrival = 1700000000ULL;
	strlcpy(e->sender, "alice@example.org", sizeof(e->sender));
	strlcpy(e->helo, "mail.example.org", sizeof(e->helo));
	strlcpy(e->client_name, "mail.example.org", sizeof(e->client_name));
	strlcpy(e->client_addr, "192.0.2.7", sizeof(e->client_addr));
	strlcpy(e->protocol, "ESMTPS", sizeof(e->protocol));
	e->envid = xstrdup("env-42");
	e->ret = DSN_RET_HDRS;
	e->body = BODY_8BITMIME;
	e->nrcpt = n;
	e->rcpts = xcalloc(n, sizeof(*e->rcpts));
	for (uint32_t i = 0; i < n; i++) {
		snprintf(e->rcpts[i].addr, sizeof(e->rcpts[i].addr),
		    "user%u@example.net", i);
		if (i % 2 == 0)
			e->rcpts[i].orcpt =
			    xasprintf("rfc822;user%u@example.net", i);
		e->rcpts[i].notify = i % 3 == 0 ? NOTIFY_NEVER :
		    NOTIFY_SUCCESS | NOTIFY_FAILURE;
	}
}

/* env_equal - assert a and b hold the same envelope */
static void
env_equal(const struct envelope *a, const struct envelope *b)
{
	ck_assert_str_eq(a->qid, b->qid);
	ck_assert_uint_eq(a->arrival, b->arrival);
	ck_assert_str_eq(a->sender, b->sender);
	ck_assert_str_eq(a->helo, b->helo);
	ck_assert_str_eq(a->client_name, b->client_name);
	ck_assert_str_eq(a->client_addr, b->client_addr);
	ck_assert_str_eq(a->protocol, b->protocol);
	if (a->envid == NULL)
		ck_assert_ptr_null(b->envid);
	else
		ck_assert_str_eq(a->envid, b->envid);
	ck_assert_uint_eq(a->ret, b->ret);
	ck_assert_uint_eq(a->body, b->body);
	ck_assert_uint_eq(a->flags, b->flags);
	ck_assert_uint_eq(a->nrcpt, b->nrcpt);
	for (uint32_t i = 0; i < a->nrcpt; i++) {
		ck_assert_str_eq(a->rcpts[i].addr, b->rcpts[i].addr);
		if (a->rcpts[i].orcpt == NULL)
			ck_assert_ptr_null(b->rcpts[i].orcpt);
		else
			ck_assert_str_eq(a->rcpts[i].orcpt, b->rcpts[i].orcpt);
		ck_assert_uint_eq(a->rcpts[i].notify, b->rcpts[i].notify);
	}
}

/*
 * raw_build - an envelope file prefix built field by field, so tests can
 * forge what envelope_encode() never writes.  Fields after the
 * recipient count come from rcpts_written; the rest are fixed.
 */
struct raw {
	const char	*qid;
	const char	*client_addr;
	uint32_t	 ret;
	uint32_t	 nrcpt;		/* claimed */
	uint32_t	 written;	/* actually present */
	int		 trailing;	/* extra octet inside the length */
	uint32_t	 flags;		/* written when version is 3 */
	uint32_t	 version;	/* 0: ENVELOPE_VERSION */
};

static unsigned char *
raw_build(const struct raw *r, size_t *len)
{
	struct ipc_msg m;
	unsigned char *out;

	ipc_msg_init(&m, 0, 0);
	ipc_put_str(&m, r->qid);
	ipc_put_u64(&m, 1);
	ipc_put_str(&m, "");
	ipc_put_str(&m, "helo");
	ipc_put_str(&m, "name");
	ipc_put_str(&m, r->client_addr);
	ipc_put_str(&m, "SMTP");
	ipc_put_str(&m, "");
	ipc_put_u32(&m, r->ret);
	ipc_put_u32(&m, BODY_7BIT);
	ipc_put_u32(&m, r->nrcpt);
	for (uint32_t i = 0; i < r->written; i++) {
		ipc_put_str(&m, "bob@example.net");
		ipc_put_str(&m, "");
		ipc_put_u32(&m, 0);
	}
	if (r->version != 2)
		ipc_put_u32(&m, r->flags);
	if (r->trailing)
		ipc_put_u8(&m, 0);
	out = xmalloc(16 + m.len);
	memcpy(out, ENVELOPE_MAGIC, 8);
	out[8] = out[9] = out[10] = 0;
	out[11] = r->version ? r->version : ENVELOPE_VERSION;
	out[12] = m.len >> 24;
	out[13] = m.len >> 16;
	out[14] = m.len >> 8;
	out[15] = m.len;
	memcpy(out + 16, m.data, m.len);
	*len = 16 + m.len;
	ipc_msg_free(&m);
	return out;
}

static const struct raw raw_ok = {
	"Q1", "192.0.2.1", DSN_RET_DEFAULT, 1, 1, 0, 0, 0
};

/* raw_decodes - 0 when the forged envelope decodes, else -1 */
static int
raw_decodes(const struct raw *r)
{
	struct envelope e;
	unsigned char *buf;
	size_t len, off;
	char err[128];
	int rv;

	buf = raw_build(r, &len);
	rv = envelope_decode(buf, len, &e, &off, err, sizeof(err));
	if (rv == 0)
		envelope_free(&e);
	else
		ck_assert_ptr_null(e.rcpts);
	free(buf);
	return rv;
}

START_TEST(test_roundtrip)
{
	struct envelope e, d;
	unsigned char *buf;
	size_t len, off;
	char err[128];

	env_fill(&e, 5);
	envelope_encode(&e, &buf, &len);
	ck_assert_int_eq(memcmp(buf, ENVELOPE_MAGIC, 8), 0);
	ck_assert_int_eq(envelope_decode(buf, len, &d, &off, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(off, len);
	env_equal(&e, &d);
	envelope_free(&d);
	free(buf);

	/* An empty ENVID reads back as NULL, the null sender as "". */
	free(e.envid);
	e.envid = NULL;
	e.sender[0] = '\0';
	envelope_encode(&e, &buf, &len);
	ck_assert_int_eq(envelope_decode(buf, len, &d, &off, err,
	    sizeof(err)), 0);
	env_equal(&e, &d);
	envelope_free(&d);
	free(buf);
	envelope_free(&e);
}
END_TEST

/* Version 3 keeps the SMTPUTF8 flag; version 2 files (no flags) still
 * read, with none; a flag this version does not know is refused. */
START_TEST(test_flags_by_version)
{
	struct raw r = raw_ok;
	struct envelope e, d;
	unsigned char *buf;
	size_t len, off;
	char err[128];

	env_fill(&e, 2);
	e.flags = ENVELOPE_F_SMTPUTF8;
	envelope_encode(&e, &buf, &len);
	ck_assert_int_eq(envelope_decode(buf, len, &d, &off, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(d.flags, ENVELOPE_F_SMTPUTF8);
	ck_assert_uint_eq(d.version, 3);
	envelope_free(&d);
	free(buf);
	envelope_free(&e);

	r.flags = ENVELOPE_F_SMTPUTF8;
	ck_assert_int_eq(raw_decodes(&r), 0);
	r.flags = ENVELOPE_F_ALL << 1;
	ck_assert_int_eq(raw_decodes(&r), -1);
	r.flags = 0;
	r.version = 2;			/* no flags field at all */
	ck_assert_int_eq(raw_decodes(&r), 0);
	r.trailing = 1;
	ck_assert_int_eq(raw_decodes(&r), -1);
}
END_TEST

/* RFC 8689: REQUIRETLS and "TLS-Required: No" are kept as flags; both
 * together cannot come from smtpd (4.1: the header is then ignored), so
 * such an envelope does not validate. */
START_TEST(test_flags_requiretls)
{
	struct raw r = raw_ok;
	struct envelope e, d;
	unsigned char *buf;
	size_t len, off;
	char err[128];

	env_fill(&e, 1);
	e.flags = ENVELOPE_F_REQUIRETLS | ENVELOPE_F_SMTPUTF8;
	envelope_encode(&e, &buf, &len);
	ck_assert_int_eq(envelope_decode(buf, len, &d, &off, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(d.flags, ENVELOPE_F_REQUIRETLS | ENVELOPE_F_SMTPUTF8);
	ck_assert_int_eq(envelope_validate(&d, err, sizeof(err)), 0);
	/* the flags are the prefix's last field (smtpd patches them there) */
	ck_assert_uint_eq(buf[envelope_flags_offset(len) + 3],
	    ENVELOPE_F_REQUIRETLS | ENVELOPE_F_SMTPUTF8);
	envelope_free(&d);
	free(buf);

	e.flags = ENVELOPE_F_TLS_OPTIONAL;
	envelope_encode(&e, &buf, &len);
	ck_assert_int_eq(envelope_decode(buf, len, &d, &off, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(d.flags, ENVELOPE_F_TLS_OPTIONAL);
	ck_assert_int_eq(envelope_validate(&d, err, sizeof(err)), 0);
	envelope_free(&d);
	free(buf);

	e.flags = ENVELOPE_F_TLS_OPTIONAL | ENVELOPE_F_REQUIRETLS;
	ck_assert_int_eq(envelope_validate(&e, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "envelope: REQUIRETLS with TLS-Required: No");
	envelope_free(&e);

	r.flags = ENVELOPE_F_REQUIRETLS;
	ck_assert_int_eq(raw_decodes(&r), 0);
	r.flags = ENVELOPE_F_TLS_OPTIONAL;
	ck_assert_int_eq(raw_decodes(&r), 0);
	r.flags = 0x8;
	ck_assert_int_eq(raw_decodes(&r), -1);
}
END_TEST

START_TEST(test_body_follows)
{
	struct envelope e, d;
	unsigned char *buf;
	size_t len, off;
	char err[128];

	/* Octets after the declared length are the body, not an error. */
	env_fill(&e, 1);
	envelope_encode(&e, &buf, &len);
	buf = xreallocarray(buf, len + 7, 1);
	memcpy(buf + len, "Body\r\n.", 7);
	ck_assert_int_eq(envelope_decode(buf, len + 7, &d, &off, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(off, len);
	envelope_free(&d);
	free(buf);
	envelope_free(&e);
}
END_TEST

START_TEST(test_every_truncation)
{
	struct envelope e, d;
	unsigned char *buf;
	size_t len, off, cut;
	char err[128];

	env_fill(&e, 3);
	envelope_encode(&e, &buf, &len);
	for (cut = 0; cut < len; cut++) {
		/* A copy of exactly cut octets, so ASan sees any overread. */
		unsigned char *p = xmalloc(cut ? cut : 1);

		memcpy(p, buf, cut);
		err[0] = '\0';
		ck_assert_msg(envelope_decode(p, cut, &d, &off, err,
		    sizeof(err)) == -1, "prefix of %zu decoded", cut);
		ck_assert_ptr_null(d.rcpts);
		ck_assert_ptr_null(d.envid);
		ck_assert_str_eq(err, "envelope: truncated");
		/*
		 * The same prefix with its length field saying so: now the
		 * field decoder itself must notice the missing octets.
		 */
		if (cut >= 16) {
			size_t el = cut - 16;

			p[12] = el >> 24;
			p[13] = el >> 16;
			p[14] = el >> 8;
			p[15] = el;
			ck_assert_msg(envelope_decode(p, cut, &d, &off, err,
			    sizeof(err)) == -1, "length %zu decoded", el);
			ck_assert_ptr_null(d.rcpts);
			ck_assert_ptr_null(d.envid);
		}
		free(p);
	}
	free(buf);
	envelope_free(&e);
}
END_TEST

START_TEST(test_bad_prefix)
{
	struct envelope e, d;
	unsigned char *buf;
	size_t len, off;
	char err[128];

	env_fill(&e, 1);
	envelope_encode(&e, &buf, &len);

	buf[0] = 'X';
	ck_assert_int_eq(envelope_decode(buf, len, &d, &off, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "envelope: bad magic");
	buf[0] = 'T';

	buf[11] = ENVELOPE_VERSION + 1;
	ck_assert_int_eq(envelope_decode(buf, len, &d, &off, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "envelope: unsupported version");
	buf[11] = ENVELOPE_VERSION;

	/* A length beyond the maximum is refused before anything else. */
	buf[12] = 0x7f;
	ck_assert_int_eq(envelope_decode(buf, len, &d, &off, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "envelope: envelope too long");

	free(buf);
	envelope_free(&e);
}
END_TEST

START_TEST(test_forged_fields)
{
	struct raw r;

	ck_assert_int_eq(raw_decodes(&raw_ok), 0);

	/* Nothing may trail the fields inside the declared length. */
	r = raw_ok;
	r.trailing = 1;
	ck_assert_int_eq(raw_decodes(&r), -1);

	/* Recipient counts: zero, too many, and more than present. */
	r = raw_ok;
	r.nrcpt = r.written = 0;
	ck_assert_int_eq(raw_decodes(&r), -1);
	r = raw_ok;
	r.nrcpt = ENVELOPE_MAX_RCPTS + 1;
	ck_assert_int_eq(raw_decodes(&r), -1);
	r = raw_ok;
	r.nrcpt = 3;
	r.written = 2;
	ck_assert_int_eq(raw_decodes(&r), -1);
	r = raw_ok;
	r.nrcpt = 1;
	r.written = 2;
	ck_assert_int_eq(raw_decodes(&r), -1);

	r = raw_ok;
	r.ret = 3;
	ck_assert_int_eq(raw_decodes(&r), -1);
}
END_TEST

START_TEST(test_oversize_fields)
{
	char big[200];
	struct raw r;

	/* client_addr holds 63 octets: 63 decodes, 64 does not. */
	memset(big, 'a', sizeof(big));
	big[63] = '\0';
	r = raw_ok;
	r.client_addr = big;
	ck_assert_int_eq(raw_decodes(&r), 0);
	big[63] = 'a';
	big[64] = '\0';
	ck_assert_int_eq(raw_decodes(&r), -1);

	/* qid: QID_MAX - 1 octets fit, QID_MAX do not. */
	memset(big, 'A', sizeof(big));
	big[QID_MAX - 1] = '\0';
	r = raw_ok;
	r.qid = big;
	ck_assert_int_eq(raw_decodes(&r), 0);
	big[QID_MAX - 1] = 'A';
	big[QID_MAX] = '\0';
	ck_assert_int_eq(raw_decodes(&r), -1);
}
END_TEST

START_TEST(test_nul_in_string)
{
	struct envelope e, d;
	unsigned char *buf, *p;
	size_t len, off;
	char err[128];

	env_fill(&e, 1);
	envelope_encode(&e, &buf, &len);
	/* The sender "alice@example.org" gets a NUL in the middle. */
	p = memmem(buf, len, "alice", 5);
	ck_assert_ptr_nonnull(p);
	p[2] = '\0';
	ck_assert_int_eq(envelope_decode(buf, len, &d, &off, err,
	    sizeof(err)), -1);
	free(buf);
	envelope_free(&e);
}
END_TEST

START_TEST(test_many_long_rcpts)
{
	struct envelope e, d;
	unsigned char *buf;
	size_t len, off;
	char err[128];

	/* Larger than IPC_MAX_PAYLOAD: must encode, not end the process. */
	env_fill(&e, 1000);
	for (uint32_t i = 0; i < e.nrcpt; i++) {
		memset(e.rcpts[i].addr, 'x', 300);
		snprintf(e.rcpts[i].addr + 300, 40, "%u@example.net", i);
	}
	envelope_encode(&e, &buf, &len);
	ck_assert_uint_gt(len, IPC_MAX_PAYLOAD);
	ck_assert_int_eq(envelope_decode(buf, len, &d, &off, err,
	    sizeof(err)), 0);
	env_equal(&e, &d);
	envelope_free(&d);
	free(buf);
	envelope_free(&e);
}
END_TEST

/* tmpfile_with - a temporary file holding len octets of p; its fd */
static int
tmpfile_with(const void *p, size_t len)
{
	char path[] = "/tmp/tern-envelope-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, p, len), (ssize_t)len);
	return fd;
}

START_TEST(test_read_fd)
{
	struct envelope e, d;
	unsigned char *buf;
	size_t len;
	off_t off;
	char err[128];
	int fd;

	env_fill(&e, 4);
	envelope_encode(&e, &buf, &len);
	buf = xreallocarray(buf, len + 6, 1);
	memcpy(buf + len, "Hi\r\n\r\n", 6);

	fd = tmpfile_with(buf, len + 6);
	ck_assert_int_eq(envelope_read(fd, &d, &off, err, sizeof(err)), 0);
	ck_assert_int_eq(off, (off_t)len);
	env_equal(&e, &d);
	envelope_free(&d);
	/* pread: the file offset is where the writer left it. */
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), (off_t)len + 6);
	close(fd);

	/* Short files: inside the prefix and inside the envelope. */
	fd = tmpfile_with(buf, 10);
	ck_assert_int_eq(envelope_read(fd, &d, &off, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "envelope: truncated");
	close(fd);
	fd = tmpfile_with(buf, len - 1);
	ck_assert_int_eq(envelope_read(fd, &d, &off, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "envelope: truncated");
	ck_assert_ptr_null(d.rcpts);
	close(fd);

	/* An oversized length is refused without reading on. */
	buf[12] = 0x40;
	fd = tmpfile_with(buf, len);
	ck_assert_int_eq(envelope_read(fd, &d, &off, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "envelope: envelope too long");
	close(fd);

	free(buf);
	envelope_free(&e);
}
END_TEST

Suite *
envelope_suite(void)
{
	Suite *s = suite_create("envelope");
	TCase *tc = tcase_create("envelope");

	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_flags_by_version);
	tcase_add_test(tc, test_flags_requiretls);
	tcase_add_test(tc, test_body_follows);
	tcase_add_test(tc, test_every_truncation);
	tcase_add_test(tc, test_bad_prefix);
	tcase_add_test(tc, test_forged_fields);
	tcase_add_test(tc, test_oversize_fields);
	tcase_add_test(tc, test_nul_in_string);
	tcase_add_test(tc, test_many_long_rcpts);
	tcase_add_test(tc, test_read_fd);
	suite_add_tcase(s, tc);
	return s;
}
