/*
 * test_resolve - unit tests for queued's asynchronous lookups
 * (queued/resolve.c): answers pair with their own requests only, a late
 * answer after a timeout is dropped, a departed channel fails its
 * requests, and the number outstanding is bounded.
 */
#include "config.h"

#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "ipc.h"
#include "msg.h"
#include "msg_codec.h"
#include "resolve.h"

struct heard {
	int		calls;
	uint32_t	tag;
	uint32_t	verdict;
	uint32_t	n;
	char		target[ADDR_TEXT_MAX];
};

static struct heard heard;

static void
on_done(void *owner, uint32_t tag, uint32_t verdict, struct resolved *t,
    uint32_t n)
{
	ck_assert_ptr_eq(owner, &heard);
	heard.calls++;
	heard.tag = tag;
	heard.verdict = verdict;
	heard.n = n;
	heard.target[0] = '\0';
	if (n > 0)
		strlcpy(heard.target, t[0].target, sizeof(heard.target));
	free(t);
}

/* Ask for addr on c; return the request id lookupd (peer) sees. */
static uint32_t
ask(struct ipc_conn *c, struct ipc_conn *peer, const char *addr,
    uint32_t tag, uint64_t now)
{
	struct ipc_msg m;
	char got[ADDR_TEXT_MAX];
	uint32_t id;

	ck_assert_int_eq(resolve_ask(c, addr, on_done, &heard, tag, now), 0);
	ck_assert_int_eq(ipc_conn_flush(c), 0);
	ck_assert_int_eq(ipc_recv(peer, &m, 1000), 0);
	ck_assert_uint_eq(m.type, MSG_LOOKUP_RESOLVE);
	ck_assert_int_eq(ipc_get_str(&m, got, sizeof(got)), 0);
	ck_assert_str_eq(got, addr);
	id = m.id;
	ipc_msg_free(&m);
	return id;
}

/* An answer as lookupd sends it: one local target. */
static void
answer(struct ipc_msg *m, uint32_t id, const char *target)
{
	ipc_msg_init(m, MSG_LOOKUPD_RESOLVED, id);
	ipc_put_u32(m, LOOKUP_LOCAL);
	ipc_put_u32(m, 1);
	ipc_put_u32(m, RESOLVE_LOCAL);
	ipc_put_str(m, target);
}

static void
pair(struct ipc_conn *c, struct ipc_conn *peer)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ipc_conn_init(c, sv[0]);
	ipc_conn_init(peer, sv[1]);
	memset(&heard, 0, sizeof(heard));
}

START_TEST(test_answer_pairs_by_id)
{
	struct ipc_conn c, peer;
	struct ipc_msg m;
	uint32_t id1, id2;

	pair(&c, &peer);
	id1 = ask(&c, &peer, "alice@test.example", 1, 0);
	id2 = ask(&c, &peer, "bob@test.example", 2, 0);
	ck_assert_uint_ne(id1, id2);
	ck_assert_uint_eq(resolve_outstanding(), 2);
	/* Answers may come in any order: each goes to its own request. */
	answer(&m, id2, "bob");
	ck_assert_int_eq(resolve_answer(&c, &m), 0);
	ipc_msg_free(&m);
	ck_assert_int_eq(heard.calls, 1);
	ck_assert_uint_eq(heard.tag, 2);
	ck_assert_str_eq(heard.target, "bob");
	answer(&m, id1, "alice");
	ck_assert_int_eq(resolve_answer(&c, &m), 0);
	ipc_msg_free(&m);
	ck_assert_int_eq(heard.calls, 2);
	ck_assert_uint_eq(heard.tag, 1);
	ck_assert_uint_eq(heard.verdict, LOOKUP_LOCAL);
	ck_assert_str_eq(heard.target, "alice");
	ck_assert_uint_eq(resolve_outstanding(), 0);
	ipc_conn_close(&c);
	ipc_conn_close(&peer);
}
END_TEST

START_TEST(test_late_answer_not_paired)
{
	struct ipc_conn c, peer;
	struct ipc_msg m;
	uint32_t id1, id2;

	pair(&c, &peer);
	id1 = ask(&c, &peer, "alice@test.example", 1, 1000);
	ck_assert_int_eq(resolve_timeout_ms(1000), RESOLVE_TIMEOUT_MS);
	ck_assert_uint_eq(resolve_expire(1000 + RESOLVE_TIMEOUT_MS - 1), 0);
	ck_assert_int_eq(heard.calls, 0);
	ck_assert_uint_eq(resolve_expire(1000 + RESOLVE_TIMEOUT_MS), 1);
	ck_assert_int_eq(heard.calls, 1);
	ck_assert_uint_eq(heard.tag, 1);
	ck_assert_uint_eq(heard.verdict, LOOKUP_TEMPFAIL);
	ck_assert_uint_eq(heard.n, 0);
	ck_assert_int_eq(resolve_timeout_ms(20000), -1);
	/* Stuck: no room until lookupd answers something. */
	ck_assert_uint_eq(resolve_room(), 0);
	id2 = ask(&c, &peer, "bob@test.example", 2, 20000);
	ck_assert_uint_ne(id1, id2);
	/* The late answer for alice must not be taken for bob's. */
	answer(&m, id1, "alice");
	ck_assert_int_eq(resolve_answer(&c, &m), 0);
	ipc_msg_free(&m);
	ck_assert_int_eq(heard.calls, 1);
	ck_assert_uint_eq(resolve_outstanding(), 1);
	ck_assert_uint_eq(resolve_room(), RESOLVE_MAX_OUTSTANDING - 1);
	answer(&m, id2, "bob");
	ck_assert_int_eq(resolve_answer(&c, &m), 0);
	ipc_msg_free(&m);
	ck_assert_int_eq(heard.calls, 2);
	ck_assert_uint_eq(heard.tag, 2);
	ck_assert_str_eq(heard.target, "bob");
	ipc_conn_close(&c);
	ipc_conn_close(&peer);
}
END_TEST

START_TEST(test_channel_gone_fails_its_requests)
{
	struct ipc_conn c, peer, c2, peer2;
	struct ipc_msg m;
	uint32_t id1;

	pair(&c, &peer);
	pair(&c2, &peer2);
	id1 = ask(&c, &peer, "alice@test.example", 1, 0);
	(void)ask(&c2, &peer2, "bob@test.example", 2, 0);
	resolve_chan_gone(&c);
	ck_assert_int_eq(heard.calls, 1);
	ck_assert_uint_eq(heard.tag, 1);
	ck_assert_uint_eq(heard.verdict, LOOKUP_TEMPFAIL);
	ck_assert_uint_eq(resolve_outstanding(), 1);
	/* The new channel cannot answer the old channel's request. */
	answer(&m, id1, "alice");
	ck_assert_int_eq(resolve_answer(&c2, &m), 0);
	ipc_msg_free(&m);
	ck_assert_int_eq(heard.calls, 1);
	ck_assert_uint_eq(resolve_outstanding(), 1);
	ipc_conn_close(&c);
	ipc_conn_close(&peer);
	ipc_conn_close(&c2);
	ipc_conn_close(&peer2);
}
END_TEST

/* An answer that does not decode fails its own request at once (as a
 * temporary lookup failure), and no other. */
START_TEST(test_malformed_answer)
{
	struct ipc_conn c, peer;
	struct ipc_msg m;
	uint32_t id, other;

	pair(&c, &peer);
	memset(&heard, 0, sizeof(heard));
	other = ask(&c, &peer, "bob@test.example", 9, 0);
	for (int bad = 0; bad < 3; bad++) {
		id = ask(&c, &peer, "alice@test.example", (uint32_t)bad, 0);
		if (bad == 0) {		/* a target of an unknown kind */
			ipc_msg_init(&m, MSG_LOOKUPD_RESOLVED, id);
			ipc_put_u32(&m, LOOKUP_LOCAL);
			ipc_put_u32(&m, 1);
			ipc_put_u32(&m, 7);
			ipc_put_str(&m, "alice");
		} else if (bad == 1) {	/* more targets than allowed */
			ipc_msg_init(&m, MSG_LOOKUPD_RESOLVED, id);
			ipc_put_u32(&m, LOOKUP_ALIAS);
			ipc_put_u32(&m, MSG_RESOLVE_TARGETS_MAX + 1);
		} else {		/* trailing octets */
			answer(&m, id, "alice");
			ipc_put_u32(&m, 0);
		}
		ck_assert_int_eq(resolve_answer(&c, &m), -1);
		ipc_msg_free(&m);
		ck_assert_int_eq(heard.calls, bad + 1);
		ck_assert_uint_eq(heard.tag, (uint32_t)bad);
		ck_assert_uint_eq(heard.verdict, LOOKUP_TEMPFAIL);
		ck_assert_uint_eq(heard.n, 0);
		ck_assert_uint_eq(resolve_outstanding(), 1);
	}
	/* The other request still takes its own answer. */
	answer(&m, other, "bob");
	ck_assert_int_eq(resolve_answer(&c, &m), 0);
	ipc_msg_free(&m);
	ck_assert_uint_eq(heard.tag, 9);
	ck_assert_str_eq(heard.target, "bob");
	ck_assert_uint_eq(resolve_outstanding(), 0);
	ipc_conn_close(&c);
	ipc_conn_close(&peer);
}
END_TEST

START_TEST(test_outstanding_bounded)
{
	struct ipc_conn c;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ipc_conn_init(&c, sv[0]);
	memset(&heard, 0, sizeof(heard));
	for (uint32_t i = 0; i < RESOLVE_MAX_OUTSTANDING; i++)
		ck_assert_int_eq(resolve_ask(&c, "a@b.example", on_done, &heard,
		    i, i), 0);
	ck_assert_uint_eq(resolve_room(), 0);
	ck_assert_int_eq(resolve_ask(&c, "a@b.example", on_done, &heard, 999,
	    0), -1);
	/* The oldest is due first. */
	ck_assert_int_eq(resolve_timeout_ms(0), RESOLVE_TIMEOUT_MS);
	ck_assert_uint_eq(resolve_expire(RESOLVE_TIMEOUT_MS), 1);
	ck_assert_uint_eq(heard.tag, 0);
	resolve_chan_gone(&c);
	ck_assert_int_eq(heard.calls, RESOLVE_MAX_OUTSTANDING);
	ck_assert_uint_eq(resolve_outstanding(), 0);
	ck_assert_uint_eq(resolve_room(), RESOLVE_MAX_OUTSTANDING);
	ipc_conn_close(&c);
	close(sv[1]);
}
END_TEST

Suite *
resolve_suite(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_answer_pairs_by_id);
	tcase_add_test(tc, test_late_answer_not_paired);
	tcase_add_test(tc, test_channel_gone_fails_its_requests);
	tcase_add_test(tc, test_malformed_answer);
	tcase_add_test(tc, test_outstanding_bounded);
	suite_add_tcase(s, tc);
	return s;
}
