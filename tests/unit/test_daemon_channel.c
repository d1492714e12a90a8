/*
 * test_daemon_channel - the ternd channel every daemon reads
 * (common/daemon_channel.c): STOP, RELOAD and PEER reach their callbacks
 * only when they decode, a daemon's own types reach other(), everything
 * else is rejected and the channel stays; end of file, a broken frame and
 * a LEAVE are reported as such; frames left in the buffer by a blocking
 * read are handed over by daemon_channel_dispatch.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "daemon_channel.h"
#include "ipc.h"
#include "msg.h"
#include "msg_codec.h"

/* What the callbacks saw. */
struct seen {
	int	 stops, reloads, peers, others;
	uint32_t peer_kind;
	int	 peer_fd;
	int	 leave_on_other;
};

static void
seen_stop(void *arg)
{
	((struct seen *)arg)->stops++;
}

static void
seen_reload(void *arg)
{
	((struct seen *)arg)->reloads++;
}

static void
seen_peer(void *arg, uint32_t kind, int fd)
{
	struct seen *s = arg;

	s->peers++;
	s->peer_kind = kind;
	if (s->peer_fd >= 0)
		close(s->peer_fd);
	s->peer_fd = fd;
}

/* seen_other - takes MSG_QUEUED_FLUSH only */
static int
seen_other(void *arg, struct ipc_msg *m)
{
	struct seen *s = arg;

	if (m->type != MSG_QUEUED_FLUSH)
		return DAEMON_CHANNEL_UNEXPECTED;
	s->others++;
	return s->leave_on_other ? DAEMON_CHANNEL_LEAVE :
	    DAEMON_CHANNEL_HANDLED;
}

/* channel - sv[0] as ternd's end, sv[1] wrapped in c, non-blocking */
static void
channel(int sv[2], struct ipc_conn *c)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	ipc_conn_init(c, sv[1]);
}

/* send_frame - ternd sends m on fd (blocking) */
static void
send_frame(int fd, struct ipc_msg *m)
{
	struct ipc_conn t;

	ipc_conn_init(&t, fd);
	ck_assert_int_eq(ipc_send(&t, m), 0);
	t.fd = -1;
	ipc_conn_close(&t);
}

/* send_empty - a frame of type without payload */
static void
send_empty(int fd, uint32_t type)
{
	struct ipc_msg m;

	msg_encode_empty(&m, type, 0);
	send_frame(fd, &m);
}

/*
 * read_all - daemon_channel_read until what was sent is read (a read
 * stops at a frame that brings a descriptor); the last status
 */
static int
read_all(struct ipc_conn *c, const struct daemon_channel_ops *ops)
{
	int st = DAEMON_CHANNEL_OK;

	for (int i = 0; i < 8 && st == DAEMON_CHANNEL_OK; i++)
		st = daemon_channel_read(c, ops);
	return st;
}

START_TEST(test_stop_reload_peer_and_own_types)
{
	struct seen s = { .peer_fd = -1 };
	const struct daemon_channel_ops ops = { seen_stop, seen_reload,
	    seen_peer, seen_other, &s };
	struct msg_peer peer = { PEER_SMTPD };
	struct ipc_conn c;
	struct ipc_msg m;
	int sv[2], p[2];

	channel(sv, &c);
	ck_assert_int_eq(daemon_channel_read(&c, &ops), DAEMON_CHANNEL_OK);
	send_empty(sv[0], MSG_MASTER_RELOAD);
	send_empty(sv[0], MSG_QUEUED_FLUSH);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(msg_encode(&m, MSG_MASTER_PEER, 0, &peer), 0);
	m.fd = p[0];
	send_frame(sv[0], &m);
	send_empty(sv[0], MSG_MASTER_STOP);
	ck_assert_int_eq(read_all(&c, &ops), DAEMON_CHANNEL_OK);
	ck_assert_int_eq(s.reloads, 1);
	ck_assert_int_eq(s.others, 1);
	ck_assert_int_eq(s.peers, 1);
	ck_assert_uint_eq(s.peer_kind, PEER_SMTPD);
	ck_assert_int_ge(s.peer_fd, 0);
	ck_assert_int_eq(s.stops, 1);
	close(s.peer_fd);
	close(p[1]);
	close(sv[0]);
	ck_assert_int_eq(daemon_channel_read(&c, &ops),
	    DAEMON_CHANNEL_CLOSED);
	ipc_conn_close(&c);
}
END_TEST

/* A frame that does not decode, or is not expected, is dropped alone. */
START_TEST(test_rejected_frames_keep_the_channel)
{
	struct seen s = { .peer_fd = -1 };
	const struct daemon_channel_ops ops = { seen_stop, NULL, NULL, NULL,
	    &s };
	struct msg_peer peer = { PEER_SMTPD };
	struct ipc_conn c;
	struct ipc_msg m;
	int sv[2], p[2];

	channel(sv, &c);
	/* STOP with a payload it should not have */
	ipc_msg_init(&m, MSG_MASTER_STOP, 0);
	ipc_put_u32(&m, 1);
	send_frame(sv[0], &m);
	/* PEER to a daemon that takes none, and a type of another daemon */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(msg_encode(&m, MSG_MASTER_PEER, 0, &peer), 0);
	m.fd = p[0];
	send_frame(sv[0], &m);
	send_empty(sv[0], MSG_QUEUED_FLUSH);
	/* RELOAD without a callback is accepted and does nothing */
	send_empty(sv[0], MSG_MASTER_RELOAD);
	ck_assert_int_eq(read_all(&c, &ops), DAEMON_CHANNEL_OK);
	ck_assert_int_eq(s.stops, 0);
	send_empty(sv[0], MSG_MASTER_STOP);
	ck_assert_int_eq(read_all(&c, &ops), DAEMON_CHANNEL_OK);
	ck_assert_int_eq(s.stops, 1);
	close(p[1]);
	close(sv[0]);
	ipc_conn_close(&c);
}
END_TEST

/* LEAVE stops the reading; a broken frame is reported, not survived. */
START_TEST(test_leave_and_malformed)
{
	struct seen s = { .peer_fd = -1, .leave_on_other = 1 };
	const struct daemon_channel_ops ops = { seen_stop, NULL, NULL,
	    seen_other, &s };
	unsigned char bad[16];
	struct ipc_conn c;
	int sv[2];

	channel(sv, &c);
	send_empty(sv[0], MSG_QUEUED_FLUSH);
	send_empty(sv[0], MSG_MASTER_STOP);
	ck_assert_int_eq(daemon_channel_read(&c, &ops), DAEMON_CHANNEL_LEFT);
	ck_assert_int_eq(s.others, 1);
	ck_assert_int_eq(s.stops, 0);
	ipc_conn_close(&c);
	close(sv[0]);

	channel(sv, &c);
	memset(bad, 0xff, sizeof(bad));	/* a length no frame may have */
	ck_assert_int_eq(write(sv[0], bad, sizeof(bad)), (ssize_t)sizeof(bad));
	ck_assert_int_eq(daemon_channel_read(&c, &ops),
	    DAEMON_CHANNEL_MALFORMED);
	ipc_conn_close(&c);
	close(sv[0]);
}
END_TEST

/*
 * What a blocking ipc_recv read along with the frame it waited for stays
 * in the buffer, where epoll does not report it: dispatch hands it over
 * without reading (smtpd's worker loop calls it before it waits).
 */
START_TEST(test_dispatch_hands_over_frames_left_in_the_buffer)
{
	struct seen s = { .peer_fd = -1 };
	const struct daemon_channel_ops ops = { seen_stop, NULL, NULL,
	    seen_other, &s };
	struct ipc_conn c;
	struct ipc_msg m;
	int sv[2];

	channel(sv, &c);
	ck_assert_int_eq(daemon_channel_dispatch(&c, &ops), DAEMON_CHANNEL_OK);
	ipc_msg_init(&m, MSG_MASTER_CLIENT_VERDICT, 7);	/* any payload */
	send_frame(sv[0], &m);
	send_empty(sv[0], MSG_QUEUED_FLUSH);
	send_empty(sv[0], MSG_MASTER_STOP);
	ck_assert_int_eq(ipc_recv(&c, &m, 1000), 0);
	ck_assert_uint_eq(m.type, MSG_MASTER_CLIENT_VERDICT);
	ipc_msg_free(&m);
	ck_assert_int_eq(s.stops + s.others, 0);
	ck_assert_int_eq(daemon_channel_dispatch(&c, &ops), DAEMON_CHANNEL_OK);
	ck_assert_int_eq(s.others, 1);
	ck_assert_int_eq(s.stops, 1);
	/* Nothing is handed over twice, and nothing is read. */
	send_empty(sv[0], MSG_MASTER_STOP);
	ck_assert_int_eq(daemon_channel_dispatch(&c, &ops), DAEMON_CHANNEL_OK);
	ck_assert_int_eq(s.stops, 1);
	ck_assert_int_eq(daemon_channel_read(&c, &ops), DAEMON_CHANNEL_OK);
	ck_assert_int_eq(s.stops, 2);
	close(sv[0]);
	ipc_conn_close(&c);
}
END_TEST

Suite *
daemon_channel_suite(void)
{
	Suite *s = suite_create("daemon_channel");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_stop_reload_peer_and_own_types);
	tcase_add_test(tc, test_rejected_frames_keep_the_channel);
	tcase_add_test(tc, test_leave_and_malformed);
	tcase_add_test(tc, test_dispatch_hands_over_frames_left_in_the_buffer);
	suite_add_tcase(s, tc);
	return s;
}
