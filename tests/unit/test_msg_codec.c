/*
 * test_msg_codec - every IPC message type, with every field at its limit,
 * goes through a socketpair and decodes equal on the other side; one
 * octet (or one value, one list entry) over any limit is refused by the
 * encoder and rejected by the decoder (common/msg_codec.c).
 *
 * The walks over the layouts are written here again, without the
 * codec's checks, so that a frame the codec would never produce can be
 * built to test the decoder.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alias_target.h"
#include "check_suites.h"
#include "ipc.h"
#include "msg_codec.h"
#include "smtp_client.h"
#include "xmalloc.h"

/* Allocations of one test, freed together. */
struct pool {
	void	**p;
	size_t	  n;
};

static void *
pool_add(struct pool *pl, void *p)
{
	pl->p = xreallocarray(pl->p, pl->n + 1, sizeof(*pl->p));
	pl->p[pl->n++] = p;
	return p;
}

static void
pool_free(struct pool *pl)
{
	for (size_t i = 0; i < pl->n; i++)
		free(pl->p[i]);
	free(pl->p);
	pl->p = NULL;
	pl->n = 0;
}

/* A string of len octets, different for each field (seed). */
static char *
text(struct pool *pl, size_t len, unsigned seed)
{
	char *s = pool_add(pl, xmalloc(len + 1));

	for (size_t i = 0; i < len; i++)
		s[i] = (char)('a' + (seed + i) % 26);
	s[len] = '\0';
	return s;
}

static void
set_u32(void *f, size_t off, uint32_t v)
{
	memcpy((char *)f + off, &v, sizeof(v));
}

static void
set_u64(void *f, size_t off, uint64_t v)
{
	memcpy((char *)f + off, &v, sizeof(v));
}

static void
set_ptr(void *f, size_t off, const void *p)
{
	memcpy((char *)f + off, &p, sizeof(p));
}

static uint32_t
u32_at(const void *f, size_t off)
{
	uint32_t v;

	memcpy(&v, (const char *)f + off, sizeof(v));
	return v;
}

static uint64_t
u64_at(const void *f, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)f + off, sizeof(v));
	return v;
}

static const char *
ptr_at(const void *f, size_t off)
{
	const char *p;

	memcpy(&p, (const char *)f + off, sizeof(p));
	return p;
}

static void fill_max(const struct msg_layout *, void *, struct pool *);

/* fill_list - n elements of fd's list, each at its maximum */
static void
fill_list(const struct msg_field *fd, void *f, uint32_t n, struct pool *pl)
{
	char *arr = pool_add(pl, xcalloc(n + 1, fd->elem->size));

	for (uint32_t k = 0; k < n; k++)
		fill_max(fd->elem, arr + (size_t)k * fd->elem->size, pl);
	set_ptr(f, fd->off, arr);
	set_u32(f, fd->count_off, n);
}

/* fill_max - every field of f at its maximum, lists at their longest */
static void
fill_max(const struct msg_layout *l, void *f, struct pool *pl)
{
	for (size_t i = 0; i < l->nfields; i++) {
		const struct msg_field *fd = &l->fields[i];

		switch (fd->kind) {
		case MSGF_U32:
		case MSGF_FLAGS:
			set_u32(f, fd->off, (uint32_t)fd->hi);
			break;
		case MSGF_U64:
			set_u64(f, fd->off, fd->hi);
			break;
		case MSGF_STR:
			set_ptr(f, fd->off, text(pl, (size_t)fd->hi,
			    (unsigned)i));
			break;
		case MSGF_LIST:
			fill_list(fd, f, (uint32_t)fd->hi, pl);
			break;
		}
	}
}

/* raw_put - encode f by l with no checks at all (a peer's frame) */
static void
raw_put(const struct msg_layout *l, const void *f, struct ipc_msg *m)
{
	for (size_t i = 0; i < l->nfields; i++) {
		const struct msg_field *fd = &l->fields[i];
		const char *arr;

		switch (fd->kind) {
		case MSGF_U32:
		case MSGF_FLAGS:
			ipc_put_u32(m, u32_at(f, fd->off));
			break;
		case MSGF_U64:
			ipc_put_u64(m, u64_at(f, fd->off));
			break;
		case MSGF_STR:
			ipc_put_str(m, ptr_at(f, fd->off));
			break;
		case MSGF_LIST:
			arr = ptr_at(f, fd->off);
			ipc_put_u32(m, u32_at(f, fd->count_off));
			for (uint32_t k = 0; k < u32_at(f, fd->count_off); k++)
				raw_put(fd->elem, arr + (size_t)k *
				    fd->elem->size, m);
			break;
		}
	}
}

/* assert_equal - a and b (decoded) hold the same values */
static void
assert_equal(const struct msg_layout *l, const void *a, const void *b)
{
	for (size_t i = 0; i < l->nfields; i++) {
		const struct msg_field *fd = &l->fields[i];
		uint32_t n;

		switch (fd->kind) {
		case MSGF_U32:
		case MSGF_FLAGS:
			ck_assert_uint_eq(u32_at(a, fd->off),
			    u32_at(b, fd->off));
			break;
		case MSGF_U64:
			ck_assert(u64_at(a, fd->off) == u64_at(b, fd->off));
			break;
		case MSGF_STR:
			ck_assert_str_eq(ptr_at(a, fd->off),
			    ptr_at(b, fd->off));
			break;
		case MSGF_LIST:
			n = u32_at(a, fd->count_off);
			ck_assert_uint_eq(n, u32_at(b, fd->count_off));
			for (uint32_t k = 0; k < n; k++)
				assert_equal(fd->elem, ptr_at(a, fd->off) +
				    (size_t)k * fd->elem->size,
				    ptr_at(b, fd->off) +
				    (size_t)k * fd->elem->size);
			break;
		}
	}
}

/* transfer - send m over a socketpair; the frame as received, in *out */
static void
transfer(struct ipc_msg *m, struct ipc_msg *out)
{
	struct ipc_conn tx, rx;
	int sv[2], r = 0;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	ipc_conn_init(&tx, sv[0]);
	ipc_conn_init(&rx, sv[1]);
	ipc_conn_queue(&tx, m);
	/* The frame is larger than the socket's buffer: take turns. */
	while (r == 0) {
		ck_assert_int_ge(ipc_conn_flush(&tx), 0);
		ssize_t n = ipc_conn_read(&rx);

		ck_assert(n > 0 || (n < 0 && errno == EAGAIN));
		r = ipc_conn_next(&rx, out);
		ck_assert_int_ge(r, 0);
	}
	ipc_conn_close(&tx);
	ipc_conn_close(&rx);
}

/* with_fd - attach a descriptor when the layout wants one */
static void
with_fd(const struct msg_layout *l, struct ipc_msg *m)
{
	if (l->fd == MSG_FD_REQUIRED)
		m->fd = dup(STDERR_FILENO);
}

/* Every field at its limit and every list full: equal on the other side. */
START_TEST(test_every_type_at_its_limits_round_trips)
{
	for (size_t t = 0; t < msg_nlayouts; t++) {
		const struct msg_layout *l = &msg_layouts[t];
		struct pool pl = { NULL, 0 };
		struct ipc_msg m, got;
		const char *why;
		void *f, *g;

		if (l->nfields == 0) {
			msg_encode_empty(&m, l->type, 7);
			with_fd(l, &m);
			transfer(&m, &got);
			ck_assert_int_eq(msg_decode_empty(&got, l->type,
			    &why), 0);
			ipc_msg_free(&got);
			continue;
		}
		f = pool_add(&pl, xcalloc(1, l->size));
		g = pool_add(&pl, xcalloc(1, l->size));
		fill_max(l, f, &pl);
		ck_assert_msg(msg_encode_sized(&m, l->type, 7, f, l->size) == 0,
		    "%s at its limits does not encode", l->name);
		ck_assert_uint_le(m.len, IPC_MAX_PAYLOAD);
		with_fd(l, &m);
		transfer(&m, &got);
		ck_assert_uint_eq(got.type, l->type);
		ck_assert_uint_eq(got.id, 7);
		ck_assert_msg(msg_decode_sized(&got, l->type, g, l->size,
		    &why) == 0, "%s: %s", l->name, why);
		assert_equal(l, f, g);
		msg_free(l->type, g);
		ipc_msg_free(&got);
		pool_free(&pl);
	}
}
END_TEST

/*
 * over - set field fd of f one past its limit (dir 1) or one short of its
 * minimum (dir -1).  0 when the field has no such value.
 */
static int
over(const struct msg_field *fd, void *f, int dir, struct pool *pl)
{
	uint64_t top = fd->kind == MSGF_U64 ? UINT64_MAX : UINT32_MAX;

	if (dir < 0 && (fd->lo == 0 || fd->kind == MSGF_FLAGS))
		return 0;
	if (dir > 0 && fd->kind != MSGF_STR && fd->kind != MSGF_LIST &&
	    fd->hi == top)
		return 0;
	switch (fd->kind) {
	case MSGF_U32:
		set_u32(f, fd->off, (uint32_t)(dir > 0 ? fd->hi + 1 :
		    fd->lo - 1));
		break;
	case MSGF_FLAGS:
		/* The masks are low bits: the next bit is not allowed. */
		ck_assert((fd->hi + 1) & ~fd->hi);
		set_u32(f, fd->off, (uint32_t)(fd->hi + 1));
		break;
	case MSGF_U64:
		set_u64(f, fd->off, dir > 0 ? fd->hi + 1 : fd->lo - 1);
		break;
	case MSGF_STR:
		set_ptr(f, fd->off, text(pl, (size_t)(dir > 0 ? fd->hi + 1 :
		    fd->lo - 1), 3));
		break;
	case MSGF_LIST:
		fill_list(fd, f, (uint32_t)(dir > 0 ? fd->hi + 1 : fd->lo - 1),
		    pl);
		break;
	}
	return 1;
}

/* assert_refused - f is refused by the encoder and rejected by the
 * decoder when a peer sends it anyway */
static void
assert_refused(const struct msg_layout *l, const void *f, const char *what)
{
	struct ipc_msg m;
	const char *why;
	void *g = xcalloc(1, l->size);

	ck_assert_msg(msg_encode_sized(&m, l->type, 1, f, l->size) == -1,
	    "%s: %s is encoded", l->name, what);
	ck_assert_uint_eq(m.len, 0);
	ipc_msg_init(&m, l->type, 1);
	raw_put(l, f, &m);
	with_fd(l, &m);
	ck_assert_msg(msg_decode_sized(&m, l->type, g, l->size, &why) == -1,
	    "%s: %s is decoded", l->name, what);
	msg_free(l->type, g);
	ipc_msg_free(&m);
	free(g);
}

/* One over (or under) any field, or a list entry's field: refused. */
START_TEST(test_one_over_any_limit_is_refused)
{
	for (size_t t = 0; t < msg_nlayouts; t++) {
		const struct msg_layout *l = &msg_layouts[t];

		for (size_t i = 0; i < l->nfields; i++) {
			const struct msg_field *fd = &l->fields[i];

			for (int dir = -1; dir <= 1; dir += 2) {
				struct pool pl = { NULL, 0 };
				void *f = pool_add(&pl, xcalloc(1, l->size));

				fill_max(l, f, &pl);
				if (over(fd, f, dir, &pl))
					assert_refused(l, f, fd->name);
				pool_free(&pl);
			}
			if (fd->kind != MSGF_LIST)
				continue;
			/* Each field of the last entry of a full list. */
			for (size_t k = 0; k < fd->elem->nfields; k++) {
				struct pool pl = { NULL, 0 };
				void *f = pool_add(&pl, xcalloc(1, l->size));
				char *e;

				fill_max(l, f, &pl);
				e = (char *)ptr_at(f, fd->off) +
				    (size_t)(fd->hi - 1) * fd->elem->size;
				if (over(&fd->elem->fields[k], e, 1, &pl))
					assert_refused(l, f,
					    fd->elem->fields[k].name);
				pool_free(&pl);
			}
		}
	}
}
END_TEST

/* A frame cut short, with a trailing octet, of another type, or with the
 * wrong descriptor does not decode either. */
START_TEST(test_malformed_frames_are_rejected)
{
	for (size_t t = 0; t < msg_nlayouts; t++) {
		const struct msg_layout *l = &msg_layouts[t];
		struct pool pl = { NULL, 0 };
		struct ipc_msg m;
		const char *why;
		void *f, *g;

		if (l->nfields == 0) {
			msg_encode_empty(&m, l->type, 1);
			ipc_put_u8(&m, 0);
			ck_assert_int_eq(msg_decode_empty(&m, l->type,
			    &why), -1);
			ipc_msg_free(&m);
			continue;
		}
		f = pool_add(&pl, xcalloc(1, l->size));
		g = pool_add(&pl, xcalloc(1, l->size));
		fill_max(l, f, &pl);
		for (int change = 0; change < 4; change++) {
			ck_assert_int_eq(msg_encode_sized(&m, l->type, 1, f,
			    l->size), 0);
			with_fd(l, &m);
			if (change == 0)
				m.len--;			/* cut short */
			else if (change == 1)
				ipc_put_u8(&m, 0);		/* trailing */
			else if (change == 2)		/* another type */
				m.type = l->type == MSG_LOOKUP_RCPT ?
				    MSG_LOOKUP_RESOLVE : MSG_LOOKUP_RCPT;
			else if (m.fd >= 0) {			/* no fd */
				close(m.fd);
				m.fd = -1;
			} else					/* an fd */
				m.fd = dup(STDERR_FILENO);
			ck_assert_msg(msg_decode_sized(&m, l->type, g, l->size,
			    &why) == -1, "%s, change %d: decoded", l->name,
			    change);
			msg_free(l->type, g);
			ipc_msg_free(&m);
		}
		pool_free(&pl);
	}
}
END_TEST

/* Every type that msg.h names has a layout. */
START_TEST(test_every_type_has_a_layout)
{
	static const uint32_t types[] = {
		MSG_SMTPD_MESSAGE_OPEN, MSG_SMTPD_MESSAGE_COMMIT,
		MSG_SMTPD_MESSAGE_ABORT, MSG_QUEUED_MESSAGE_OPENED,
		MSG_QUEUED_MESSAGE_COMMITTED, MSG_QUEUED_MESSAGE_FAILED,
		MSG_QUEUED_MESSAGE_COMMITTED_NEXT,
		MSG_LOOKUP_RCPT, MSG_LOOKUP_RESOLVE, MSG_LOOKUP_AUTH,
		MSG_LOOKUP_SENDER_LOGIN, MSG_LOOKUPD_RCPT_VERDICT,
		MSG_LOOKUPD_RESOLVED, MSG_LOOKUPD_AUTH_VERDICT,
		MSG_LOOKUPD_SENDER_VERDICT, MSG_QUEUED_DELIVER_LOCAL,
		MSG_QUEUED_DELIVER_SMTP, MSG_DELIVERD_RESULT,
		MSG_DELIVERD_JOB_DONE, MSG_DELIVERD_SMTP_RESULT,
		MSG_DELIVERD_SMTP_DONE, MSG_DELIVERD_FORWARD, MSG_SMTP_CONN_DONE,
		MSG_SMTP_SPAWN, MSG_SMTP_SPAWNED, MSG_SMTP_SPAWN_FAILED,
		MSG_LOCAL_DELIVERY, MSG_LOCAL_DELIVERED, MSG_LOCAL_FORWARD,
		MSG_MASTER_PEER,
		MSG_MASTER_RELOAD, MSG_MASTER_STOP, MSG_SMTPD_STATUS,
		MSG_QUEUED_FLUSH, MSG_SMTPD_CLIENT_CONNECT,
		MSG_MASTER_CLIENT_VERDICT, MSG_SMTPD_AUTH_FAILURE,
		MSG_MASTER_BUSY_MODE, MSG_MASTER_QUEUE_ADMIN,
		MSG_MASTER_SPAWN, MSG_SMTPD_SPAWNED,
		MSG_MASTER_SPAWN_RESPONDER, MSG_MASTER_QUEUE_REBUILD,
		MSG_QUEUED_QUEUE_ENTRY,
		MSG_QUEUED_QUEUE_END, MSG_SMTPD_REJECT, MSG_SMTPD_ETRN,
		MSG_QUEUED_ETRN_DONE, MSG_MASTER_AUTH_COUNTED,
	};

	ck_assert_uint_eq(msg_nlayouts, sizeof(types) / sizeof(types[0]));
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		ck_assert_msg(msg_layout_find(types[i]) != NULL,
		    "type %u has no layout", types[i]);
	ck_assert_ptr_null(msg_layout_find(MSG_NONE));
	ck_assert_str_eq(msg_type_name(MSG_DELIVERD_SMTP_RESULT),
	    "MSG_DELIVERD_SMTP_RESULT");
}
END_TEST

/*
 * The issue this module fixes: the longest reply text and relay the smtp
 * client keeps, cut by msg_str_fit, make a result queued accepts.
 */
START_TEST(test_longest_smtp_client_result_is_accepted)
{
	char reply[SMTP_TEXT_MAX], relay[SMTP_RELAY_MAX];
	char tbuf[MSG_TEXT_MAX + 1], rbuf[MSG_RELAY_MAX + 1];
	struct msg_smtp_result r = { 1, 0, DELIVER_PERMFAIL, "5.7.1", NULL,
	    NULL, DELIVERD_F_TLS }, got;
	struct ipc_msg m;
	const char *why;

	memset(reply, 'r', sizeof(reply) - 1);
	reply[sizeof(reply) - 1] = '\0';
	memset(relay, 'h', sizeof(relay) - 1);
	relay[sizeof(relay) - 1] = '\0';
	r.text = msg_str_fit(reply, MSG_TEXT_MAX, tbuf, sizeof(tbuf));
	r.relay = msg_str_fit(relay, MSG_RELAY_MAX, rbuf, sizeof(rbuf));
	ck_assert_int_eq(msg_encode(&m, MSG_DELIVERD_SMTP_RESULT, 1, &r), 0);
	ck_assert_int_eq(msg_decode(&m, MSG_DELIVERD_SMTP_RESULT, &got, &why),
	    0);
	ck_assert_uint_eq(strlen(got.text), MSG_TEXT_MAX);
	ck_assert_int_eq(strncmp(got.text, reply, MSG_TEXT_MAX - 3), 0);
	ck_assert_str_eq(got.text + MSG_TEXT_MAX - 3, "...");
	ipc_msg_free(&m);
}
END_TEST

/* The cut never splits a UTF-8 sequence; short text is left alone. */
START_TEST(test_str_fit_keeps_characters_whole)
{
	static const char *chars[] = { "\xc3\xa9", "\xe2\x82\xac",
	    "\xf0\x9f\x93\xa7" };
	char s[64], buf[11];
	const char *out;

	ck_assert_ptr_eq(msg_str_fit("short", 10, buf, sizeof(buf)), "short");
	out = msg_str_fit("0123456789", 10, buf, sizeof(buf));
	ck_assert_str_eq(out, "0123456789");
	out = msg_str_fit("0123456789A", 10, buf, sizeof(buf));
	ck_assert_str_eq(out, "0123456...");
	for (size_t c = 0; c < 3; c++) {
		for (size_t shift = 0; shift < 4; shift++) {
			size_t len = 0;

			memset(s, 'x', shift);
			len = shift;
			while (len + strlen(chars[c]) < sizeof(s) - 1) {
				memcpy(s + len, chars[c], strlen(chars[c]));
				len += strlen(chars[c]);
			}
			s[len] = '\0';
			out = msg_str_fit(s, 10, buf, sizeof(buf));
			ck_assert_uint_le(strlen(out), 10);
			ck_assert_str_eq(out + strlen(out) - 3, "...");
			/* What is kept is whole characters after the x's. */
			ck_assert_uint_eq((strlen(out) - 3 - shift) %
			    strlen(chars[c]), 0);
			ck_assert_int_eq(strncmp(out, s, strlen(out) - 3), 0);
		}
	}
}
END_TEST

/* The job and result of a frame that does not decode can still be read. */
START_TEST(test_peek_job_of_a_bad_result)
{
	struct ipc_msg m;
	uint32_t job, idx, status;

	ipc_msg_init(&m, MSG_DELIVERD_SMTP_RESULT, 1);
	ipc_put_u32(&m, 42);
	ipc_put_u32(&m, 3);
	ipc_put_u32(&m, DELIVER_OK);
	ipc_put_u32(&m, 100000);	/* a dsn that is not there */
	ck_assert_int_eq(msg_peek_u32(&m, &job), 0);
	ck_assert_uint_eq(job, 42);
	ck_assert_int_eq(msg_peek_result(&m, &job, &idx, &status), 0);
	ck_assert_uint_eq(idx, 3);
	ck_assert_uint_eq(status, DELIVER_OK);
	m.type = MSG_DELIVERD_SMTP_DONE;
	ck_assert_int_eq(msg_peek_result(&m, &job, &idx, &status), -1);
	ipc_msg_free(&m);
	ipc_msg_init(&m, MSG_DELIVERD_JOB_DONE, 1);
	ck_assert_int_eq(msg_peek_u32(&m, &job), -1);
	ipc_msg_free(&m);
}
END_TEST

/*
 * A command or file target travels with its kind, in queued's job and in
 * the delivery to its owner's process, up to ALIAS_TARGET_MAX octets
 * (the one limit of alias_target.h) and no longer; a kind outside the
 * local ones is refused.
 */
START_TEST(test_alias_target_travels_with_its_kind_and_limit)
{
	static char cmd[ALIAS_TARGET_MAX + 2];
	struct msg_local_rcpt rc = { 0, "list@example.org", cmd,
	    RESOLVE_COMMAND };
	struct msg_deliver_local j = { 9, "0123456789ABCDEF", "a@b", 1, 0,
	    10, 1, &rc }, jgot;
	struct msg_local_delivery d = { 7, "a@b", "c@d", "/nonexistent",
	    "/nonexistent", 0, 10, "", RESOLVE_COMMAND, cmd, "nobody", 1000, "" },
	    got;
	struct ipc_msg m;
	const char *why;

	memset(cmd, 'c', ALIAS_TARGET_MAX);
	memcpy(cmd, "0:", 2);
	cmd[ALIAS_TARGET_MAX] = '\0';
	ck_assert_int_eq(msg_encode(&m, MSG_QUEUED_DELIVER_LOCAL, 1, &j), 0);
	m.fd = dup(0);
	ck_assert_int_eq(msg_decode(&m, MSG_QUEUED_DELIVER_LOCAL, &jgot,
	    &why), 0);
	ck_assert_uint_eq(jgot.rcpts[0].kind, RESOLVE_COMMAND);
	ck_assert_str_eq(jgot.rcpts[0].user, cmd);
	msg_free(MSG_QUEUED_DELIVER_LOCAL, &jgot);
	ipc_msg_free(&m);
	ck_assert_int_eq(msg_encode(&m, MSG_LOCAL_DELIVERY, 1, &d), 0);
	m.fd = dup(0);
	ck_assert_int_eq(msg_decode(&m, MSG_LOCAL_DELIVERY, &got, &why), 0);
	ck_assert_uint_eq(got.kind, RESOLVE_COMMAND);
	ck_assert_str_eq(got.target, cmd);
	ck_assert_str_eq(got.user, "nobody");
	ipc_msg_free(&m);
	/* One octet more is refused by both. */
	cmd[ALIAS_TARGET_MAX] = 'c';
	cmd[ALIAS_TARGET_MAX + 1] = '\0';
	ck_assert_int_eq(msg_encode(&m, MSG_QUEUED_DELIVER_LOCAL, 1, &j), -1);
	ck_assert_int_eq(msg_encode(&m, MSG_LOCAL_DELIVERY, 1, &d), -1);
	cmd[ALIAS_TARGET_MAX] = '\0';
	rc.kind = RESOLVE_REMOTE + 10;
	ck_assert_int_eq(msg_encode(&m, MSG_QUEUED_DELIVER_LOCAL, 1, &j), -1);
}
END_TEST

/*
 * The highest local kind, an alias's "\user" (RESOLVE_MAILBOX), travels
 * in queued's job and in the delivery to its owner's process; the next
 * number is refused by both ends.
 */
START_TEST(test_mailbox_kind_is_the_last_local_kind)
{
	struct msg_local_rcpt rc = { 0, "alice@example.org", "alice",
	    RESOLVE_MAILBOX };
	struct msg_deliver_local j = { 9, "0123456789ABCDEF", "a@b", 1, 0,
	    10, 1, &rc }, jgot;
	struct msg_local_delivery d = { 7, "a@b", "alice@example.org",
	    "/home/alice/Maildir", "/home/alice", 0, 10, "", RESOLVE_MAILBOX,
	    "", "alice", 0, "" }, got;
	struct ipc_msg m;
	const char *why;

	ck_assert_int_eq(msg_encode(&m, MSG_QUEUED_DELIVER_LOCAL, 1, &j), 0);
	m.fd = dup(0);
	ck_assert_int_eq(msg_decode(&m, MSG_QUEUED_DELIVER_LOCAL, &jgot,
	    &why), 0);
	ck_assert_uint_eq(jgot.rcpts[0].kind, RESOLVE_MAILBOX);
	ck_assert_str_eq(jgot.rcpts[0].user, "alice");
	msg_free(MSG_QUEUED_DELIVER_LOCAL, &jgot);
	ipc_msg_free(&m);
	ck_assert_int_eq(msg_encode(&m, MSG_LOCAL_DELIVERY, 1, &d), 0);
	m.fd = dup(0);
	ck_assert_int_eq(msg_decode(&m, MSG_LOCAL_DELIVERY, &got, &why), 0);
	ck_assert_uint_eq(got.kind, RESOLVE_MAILBOX);
	ck_assert_str_eq(got.user, "alice");
	ipc_msg_free(&m);
	rc.kind = RESOLVE_MAILBOX + 1;
	d.kind = RESOLVE_MAILBOX + 1;
	ck_assert_int_eq(msg_encode(&m, MSG_QUEUED_DELIVER_LOCAL, 1, &j), -1);
	ck_assert_int_eq(msg_encode(&m, MSG_LOCAL_DELIVERY, 1, &d), -1);
}
END_TEST

/* The local job's wire layout, with the body size after the offset. */
START_TEST(test_deliver_local_layout)
{
	struct msg_local_rcpt rc = { 0, "bob@example.org", "bob",
	    RESOLVE_LOCAL };
	struct msg_deliver_local j = { 9, "0123456789ABCDEF", "a@b", 1, 500,
	    1234, 1, &rc };
	struct ipc_msg m;
	uint64_t arrival, off, size;
	uint32_t job, n;
	char s[64];

	ck_assert_int_eq(msg_encode(&m, MSG_QUEUED_DELIVER_LOCAL, 1, &j), 0);
	ck_assert_int_eq(ipc_get_u32(&m, &job), 0);
	ck_assert_int_eq(ipc_get_str(&m, s, sizeof(s)), 0);
	ck_assert_int_eq(ipc_get_str(&m, s, sizeof(s)), 0);
	ck_assert_int_eq(ipc_get_u64(&m, &arrival), 0);
	ck_assert_int_eq(ipc_get_u64(&m, &off), 0);
	ck_assert_int_eq(ipc_get_u64(&m, &size), 0);
	ck_assert_int_eq(ipc_get_u32(&m, &n), 0);
	ck_assert(off == 500 && size == 1234 && n == 1);
	ipc_msg_free(&m);
}
END_TEST

/*
 * A delivery to a mailbox owner's process carries its message file and a
 * Maildir path of up to MSG_PATH_MAX octets; without the file, or with a
 * longer path, it is refused on both sides.
 */
START_TEST(test_local_delivery_needs_its_file_and_a_bounded_path)
{
	static char path[MSG_PATH_MAX + 2];
	struct msg_local_delivery d = { 7, "a@b", "c@d", path, "/home/c", 10,
	    20, "", RESOLVE_LOCAL, "", "c", 0, "" }, got;
	struct msg_local_delivered r = { 7, DELIVER_OK, "2.0.0",
	    "delivered to maildir" }, rgot;
	struct ipc_msg m;
	const char *why;

	memset(path, 'p', MSG_PATH_MAX);
	path[0] = '/';
	path[MSG_PATH_MAX] = '\0';
	ck_assert_int_eq(msg_encode(&m, MSG_LOCAL_DELIVERY, 1, &d), 0);
	/* no descriptor */
	ck_assert_int_eq(msg_decode(&m, MSG_LOCAL_DELIVERY, &got, &why), -1);
	ipc_msg_free(&m);
	ck_assert_int_eq(msg_encode(&m, MSG_LOCAL_DELIVERY, 1, &d), 0);
	m.fd = dup(0);
	ck_assert_int_ge(m.fd, 0);
	ck_assert_int_eq(msg_decode(&m, MSG_LOCAL_DELIVERY, &got, &why), 0);
	ck_assert_uint_eq(got.id, 7);
	ck_assert_uint_eq(strlen(got.maildir), MSG_PATH_MAX);
	ck_assert_str_eq(got.home, "/home/c");
	ck_assert(got.body_offset == 10 && got.body_size == 20);
	ipc_msg_free(&m);
	path[MSG_PATH_MAX] = 'p';
	path[MSG_PATH_MAX + 1] = '\0';
	ck_assert_int_eq(msg_encode(&m, MSG_LOCAL_DELIVERY, 1, &d), -1);
	ck_assert_int_eq(msg_encode(&m, MSG_LOCAL_DELIVERED, 1, &r), 0);
	ck_assert_int_eq(msg_decode(&m, MSG_LOCAL_DELIVERED, &rgot, &why), 0);
	ck_assert_str_eq(rgot.text, "delivered to maildir");
	ipc_msg_free(&m);
	r.status = DELIVER_PERMFAIL + 1;
	ck_assert_int_eq(msg_encode(&m, MSG_LOCAL_DELIVERED, 1, &r), -1);
}
END_TEST

/* The longest ETRN node smtpd accepts reaches queued; one more does not
 * leave smtpd, and a flag queued does not know is refused. */
START_TEST(test_etrn_domain_limit_is_shared)
{
	char domain[MSG_ETRN_DOMAIN_MAX + 2];
	struct msg_etrn e = { domain, ETRN_F_SUBDOMAINS }, got;
	struct msg_etrn_done d = { 3 }, dgot;
	struct ipc_msg m;
	const char *why;

	memset(domain, 'a', sizeof(domain));
	domain[MSG_ETRN_DOMAIN_MAX] = '\0';
	ck_assert_int_eq(msg_encode(&m, MSG_SMTPD_ETRN, 9, &e), 0);
	ck_assert_int_eq(msg_decode(&m, MSG_SMTPD_ETRN, &got, &why), 0);
	ck_assert_uint_eq(strlen(got.domain), MSG_ETRN_DOMAIN_MAX);
	ck_assert_uint_eq(got.flags, ETRN_F_SUBDOMAINS);
	ipc_msg_free(&m);
	domain[MSG_ETRN_DOMAIN_MAX] = 'a';
	domain[MSG_ETRN_DOMAIN_MAX + 1] = '\0';
	ck_assert_int_eq(msg_encode(&m, MSG_SMTPD_ETRN, 9, &e), -1);
	domain[1] = '\0';
	e.flags = ETRN_F_SUBDOMAINS << 1;
	ck_assert_int_eq(msg_encode(&m, MSG_SMTPD_ETRN, 9, &e), -1);
	ck_assert_int_eq(msg_encode(&m, MSG_QUEUED_ETRN_DONE, 9, &d), 0);
	ck_assert_int_eq(msg_decode(&m, MSG_QUEUED_ETRN_DONE, &dgot, &why), 0);
	ck_assert_uint_eq(dgot.messages, 3);
	ipc_msg_free(&m);
}
END_TEST

/* The lmtp deliverd is the last peer kind: ternd hands it to queued, and
 * nothing beyond it decodes. */
START_TEST(test_peer_kind_lmtp_is_the_last)
{
	struct msg_peer p = { PEER_DELIVERD_LMTP }, got;
	struct ipc_msg m;
	const char *why;

	ck_assert_int_eq(msg_encode(&m, MSG_MASTER_PEER, 0, &p), 0);
	m.fd = dup(STDERR_FILENO);
	ck_assert_int_eq(msg_decode(&m, MSG_MASTER_PEER, &got, &why), 0);
	ck_assert_uint_eq(got.kind, PEER_DELIVERD_LMTP);
	ipc_msg_free(&m);
	p.kind = PEER_DELIVERD_LMTP + 1;
	ck_assert_int_eq(msg_encode(&m, MSG_MASTER_PEER, 0, &p), -1);
}
END_TEST

Suite *
msg_codec_suite(void)
{
	Suite *s = suite_create("msg_codec");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_every_type_at_its_limits_round_trips);
	tcase_add_test(tc, test_one_over_any_limit_is_refused);
	tcase_add_test(tc, test_malformed_frames_are_rejected);
	tcase_add_test(tc, test_every_type_has_a_layout);
	tcase_add_test(tc, test_etrn_domain_limit_is_shared);
	tcase_add_test(tc, test_longest_smtp_client_result_is_accepted);
	tcase_add_test(tc, test_str_fit_keeps_characters_whole);
	tcase_add_test(tc, test_peek_job_of_a_bad_result);
	tcase_add_test(tc, test_deliver_local_layout);
	tcase_add_test(tc, test_alias_target_travels_with_its_kind_and_limit);
	tcase_add_test(tc, test_mailbox_kind_is_the_last_local_kind);
	tcase_add_test(tc, test_peer_kind_lmtp_is_the_last);
	tcase_add_test(tc,
	    test_local_delivery_needs_its_file_and_a_bounded_path);
	suite_add_tcase(s, tc);
	return s;
}
