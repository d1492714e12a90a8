/*
 * test_ipc - framing, the typed payload encoding, descriptor passing and
 * the handling of malformed or partial input in common/ipc.c.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "ipc.h"
#include "xmalloc.h"

/* pair - a connected Unix stream socketpair */
static void
pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

/* set_nonblock - make fd non-blocking */
static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	ck_assert_int_ge(fl, 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* raw_header - a frame header as a peer might write it */
static void
raw_header(unsigned char *h, uint32_t type, uint32_t len, uint32_t id,
    uint32_t flags)
{
	uint32_t v[4] = { type, len, id, flags };

	for (int i = 0; i < 4; i++) {
		h[i * 4] = v[i] >> 24;
		h[i * 4 + 1] = v[i] >> 16;
		h[i * 4 + 2] = v[i] >> 8;
		h[i * 4 + 3] = v[i];
	}
}

/* write_all - write len octets or fail the test */
static void
write_all(int fd, const void *p, size_t len)
{
	ck_assert_int_eq(write(fd, p, len), (ssize_t)len);
}

/* a message holding exactly the given payload bytes, for decoding */
static void
msg_with(struct ipc_msg *m, const void *p, size_t len)
{
	ipc_msg_init(m, 1, 1);
	if (len > 0) {
		m->data = xmalloc(len);
		memcpy(m->data, p, len);
		m->len = m->cap = len;
	}
}

START_TEST(test_encoding_layout)
{
	struct ipc_msg m;
	static const unsigned char want[] = {
		0x7f,
		0x01, 0x02, 0x03, 0x04,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		0x00, 0x00, 0x00, 0x02, 'a', 'b',
		0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x03, 0x00, 0xff, 0x00,
	};

	ipc_msg_init(&m, 7, 9);
	ck_assert_int_eq(m.fd, -1);
	ipc_put_u8(&m, 0x7f);
	ipc_put_u32(&m, 0x01020304);
	ipc_put_u64(&m, 0x0102030405060708ULL);
	ipc_put_str(&m, "ab");
	ipc_put_str(&m, "");
	ipc_put_bytes(&m, "\0\377\0", 3);
	ck_assert_uint_eq(m.len, sizeof(want));
	ck_assert_mem_eq(m.data, want, sizeof(want));
	ipc_msg_free(&m);
	ck_assert_ptr_null(m.data);
	ck_assert_uint_eq(m.len, 0);
}
END_TEST

START_TEST(test_encoding_round_trip)
{
	struct ipc_msg m;
	uint8_t u8;
	uint32_t u32;
	uint64_t u64;
	char s[16];
	const unsigned char *b;
	size_t blen;

	ipc_msg_init(&m, 1, 2);
	ipc_put_u8(&m, 0);
	ipc_put_u8(&m, 255);
	ipc_put_u32(&m, UINT32_MAX);
	ipc_put_u64(&m, UINT64_MAX - 1);
	ipc_put_str(&m, "hello");
	ipc_put_str(&m, "");
	ipc_put_bytes(&m, "x\0y", 3);
	ck_assert_int_eq(ipc_get_u8(&m, &u8), 0);
	ck_assert_uint_eq(u8, 0);
	ck_assert_int_eq(ipc_get_u8(&m, &u8), 0);
	ck_assert_uint_eq(u8, 255);
	ck_assert_int_eq(ipc_get_end(&m), -1);	/* not all read yet */
	ck_assert_int_eq(ipc_get_u32(&m, &u32), 0);
	ck_assert_uint_eq(u32, UINT32_MAX);
	ck_assert_int_eq(ipc_get_u64(&m, &u64), 0);
	ck_assert_uint_eq(u64, UINT64_MAX - 1);
	ck_assert_int_eq(ipc_get_str(&m, s, sizeof(s)), 0);
	ck_assert_str_eq(s, "hello");
	ck_assert_int_eq(ipc_get_str(&m, s, sizeof(s)), 0);
	ck_assert_str_eq(s, "");
	ck_assert_int_eq(ipc_get_bytes(&m, &b, &blen), 0);
	ck_assert_uint_eq(blen, 3);
	ck_assert_mem_eq(b, "x\0y", 3);
	ck_assert_int_eq(ipc_get_end(&m), 0);
	/* Reading past the end fails and marks the message bad. */
	ck_assert_int_eq(ipc_get_u8(&m, &u8), -1);
	ck_assert_int_eq(m.bad, 1);
	ck_assert_int_eq(ipc_get_end(&m), -1);
	ipc_msg_free(&m);
}
END_TEST

START_TEST(test_decode_truncated)
{
	struct ipc_msg m;
	uint32_t u32;
	uint64_t u64;
	char s[16];
	const unsigned char *b;
	size_t blen;

	/* A u32 from three octets. */
	msg_with(&m, "\1\2\3", 3);
	ck_assert_int_eq(ipc_get_u32(&m, &u32), -1);
	ck_assert_int_eq(m.bad, 1);
	/* Once bad, even a field that would fit is refused. */
	uint8_t u8;
	ck_assert_int_eq(ipc_get_u8(&m, &u8), -1);
	ck_assert_int_eq(ipc_get_end(&m), -1);
	ipc_msg_free(&m);

	/* A u64 with only its high half. */
	msg_with(&m, "\0\0\0\1", 4);
	ck_assert_int_eq(ipc_get_u64(&m, &u64), -1);
	ipc_msg_free(&m);

	/* A string whose length claims more than the payload holds. */
	msg_with(&m, "\0\0\0\5abcd", 8);
	ck_assert_int_eq(ipc_get_str(&m, s, sizeof(s)), -1);
	ck_assert_int_eq(m.bad, 1);
	ipc_msg_free(&m);

	/* A length near 2^32 must not wrap the bounds check. */
	msg_with(&m, "\377\377\377\377abcd", 8);
	ck_assert_int_eq(ipc_get_bytes(&m, &b, &blen), -1);
	ipc_msg_free(&m);
	msg_with(&m, "\377\377\377\374abcd", 8);
	ck_assert_int_eq(ipc_get_bytes(&m, &b, &blen), -1);
	ipc_msg_free(&m);

	/* An empty payload has nothing to read. */
	msg_with(&m, NULL, 0);
	ck_assert_int_eq(ipc_get_end(&m), 0);
	ck_assert_int_eq(ipc_get_u8(&m, &u8), -1);
	ipc_msg_free(&m);

	/* Trailing octets nobody read make the message malformed. */
	msg_with(&m, "\1\2", 2);
	ck_assert_int_eq(ipc_get_u8(&m, &u8), 0);
	ck_assert_int_eq(ipc_get_end(&m), -1);
	ck_assert_int_eq(m.bad, 0);
	ipc_msg_free(&m);
}
END_TEST

START_TEST(test_get_str_limits)
{
	struct ipc_msg m;
	char s[4];

	/* Embedded NUL: a C string would silently lose the rest. */
	ipc_msg_init(&m, 1, 1);
	ipc_put_bytes(&m, "a\0b", 3);
	ck_assert_int_eq(ipc_get_str(&m, s, sizeof(s)), -1);
	ck_assert_int_eq(m.bad, 1);
	ipc_msg_free(&m);

	/* Exactly fitting (3 + NUL) is fine; one more is not. */
	ipc_msg_init(&m, 1, 1);
	ipc_put_str(&m, "abc");
	ipc_put_str(&m, "abcd");
	ck_assert_int_eq(ipc_get_str(&m, s, sizeof(s)), 0);
	ck_assert_str_eq(s, "abc");
	memset(s, 'z', sizeof(s));
	ck_assert_int_eq(ipc_get_str(&m, s, sizeof(s)), -1);
	ck_assert_int_eq(m.bad, 1);
	ipc_msg_free(&m);

	/* A zero-sized buffer holds nothing, not even "". */
	ipc_msg_init(&m, 1, 1);
	ipc_put_str(&m, "");
	ck_assert_int_eq(ipc_get_str(&m, s, 0), -1);
	ipc_msg_free(&m);
}
END_TEST

/* Kept in statics (the pointer volatile, so that the store stays), so
 * that LeakSanitizer finds them reachable at the fatal exit. */
static struct ipc_msg too_large_msg;
static char *volatile too_large_buf;

START_TEST(test_put_too_large_is_fatal)
{
	struct ipc_msg *mp = &too_large_msg;
	char *big = too_large_buf = xcalloc(1, IPC_MAX_PAYLOAD);

	ipc_msg_init(mp, 1, 1);
	ipc_put_bytes(mp, big, IPC_MAX_PAYLOAD - 4);	/* fits exactly */
	ck_assert_uint_eq(mp->len, IPC_MAX_PAYLOAD);
	/* fatalx() logs to stderr; keep the test output clean. */
	int devnull = open("/dev/null", O_WRONLY);
	ck_assert_int_ge(devnull, 0);
	dup2(devnull, STDERR_FILENO);
	ipc_put_u8(mp, 0);				/* one too many */
	ck_abort_msg("not reached");
}
END_TEST

START_TEST(test_frames_round_trip)
{
	struct ipc_conn a, b;
	struct ipc_msg m;
	int sv[2];
	char s[32];
	uint32_t v;

	pair(sv);
	ipc_conn_init(&a, sv[0]);
	ipc_conn_init(&b, sv[1]);
	for (uint32_t i = 0; i < 3; i++) {
		ipc_msg_init(&m, 100 + i, 1000 + i);
		ipc_put_u32(&m, i);
		ipc_put_str(&m, "frame");
		ipc_conn_queue(&a, &m);
		ck_assert_ptr_null(m.data);
	}
	/* A frame with an empty payload is legal. */
	ipc_msg_init(&m, 200, 2000);
	ipc_conn_queue(&a, &m);
	ck_assert_int_eq(ipc_conn_pending(&a), 1);
	ck_assert_int_eq(ipc_conn_flush(&a), 0);
	ck_assert_int_eq(ipc_conn_pending(&a), 0);
	for (uint32_t i = 0; i < 3; i++) {
		ck_assert_int_eq(ipc_recv(&b, &m, 1000), 0);
		ck_assert_uint_eq(m.type, 100 + i);
		ck_assert_uint_eq(m.id, 1000 + i);
		ck_assert_int_eq(m.fd, -1);
		ck_assert_int_eq(ipc_get_u32(&m, &v), 0);
		ck_assert_uint_eq(v, i);
		ck_assert_int_eq(ipc_get_str(&m, s, sizeof(s)), 0);
		ck_assert_str_eq(s, "frame");
		ck_assert_int_eq(ipc_get_end(&m), 0);
		ipc_msg_free(&m);
	}
	ck_assert_int_eq(ipc_recv(&b, &m, 1000), 0);
	ck_assert_uint_eq(m.type, 200);
	ck_assert_uint_eq(m.len, 0);
	ck_assert_int_eq(ipc_get_end(&m), 0);
	ipc_msg_free(&m);
	/* Nothing more: a timeout, not a hang. */
	errno = 0;
	ck_assert_int_eq(ipc_recv(&b, &m, 50), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	/* The peer goes away: end of file is an error, not a frame. */
	ipc_conn_close(&a);
	ck_assert_int_eq(a.fd, -1);
	errno = 0;
	ck_assert_int_eq(ipc_recv(&b, &m, 1000), -1);
	ck_assert_int_eq(errno, EPIPE);
	ipc_conn_close(&b);
}
END_TEST

START_TEST(test_largest_frame_nonblocking)
{
	struct ipc_conn a, b;
	struct ipc_msg m;
	int sv[2], r, got = 0;
	unsigned char *big = xmalloc(IPC_MAX_PAYLOAD - 4);
	const unsigned char *p;
	size_t len;

	for (size_t i = 0; i < IPC_MAX_PAYLOAD - 4; i++)
		big[i] = (unsigned char)(i * 7 + i / 251);
	pair(sv);
	set_nonblock(sv[0]);
	set_nonblock(sv[1]);
	ipc_conn_init(&a, sv[0]);
	ipc_conn_init(&b, sv[1]);
	ipc_msg_init(&m, 5, 6);
	ipc_put_bytes(&m, big, IPC_MAX_PAYLOAD - 4);
	ipc_conn_queue(&a, &m);
	ipc_msg_init(&m, 7, 8);
	ipc_put_u8(&m, 42);
	ipc_conn_queue(&a, &m);
	/* The socket takes it in pieces; both sides make progress. */
	for (int rounds = 0; got < 2 && rounds < 100000; rounds++) {
		r = ipc_conn_flush(&a);
		ck_assert_int_ge(r, 0);
		ssize_t n = ipc_conn_read(&b);
		ck_assert(n > 0 || (n < 0 && errno == EAGAIN));
		while ((r = ipc_conn_next(&b, &m)) == 1) {
			if (got == 0) {
				ck_assert_uint_eq(m.type, 5);
				ck_assert_int_eq(ipc_get_bytes(&m, &p, &len), 0);
				ck_assert_uint_eq(len, IPC_MAX_PAYLOAD - 4);
				ck_assert_mem_eq(p, big, len);
			} else {
				uint8_t u8;

				ck_assert_uint_eq(m.type, 7);
				ck_assert_int_eq(ipc_get_u8(&m, &u8), 0);
				ck_assert_uint_eq(u8, 42);
			}
			ck_assert_int_eq(ipc_get_end(&m), 0);
			ipc_msg_free(&m);
			got++;
		}
		ck_assert_int_eq(r == 1 || r == 0, 1);
	}
	ck_assert_int_eq(got, 2);
	ck_assert_int_eq(ipc_conn_pending(&a), 0);
	ipc_conn_close(&a);
	ipc_conn_close(&b);
	free(big);
}
END_TEST

/* same_file - a and b are descriptors of the same open file */
static int
same_file(int a, int b)
{
	struct stat sa, sb;

	ck_assert_int_eq(fstat(a, &sa), 0);
	ck_assert_int_eq(fstat(b, &sb), 0);
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

START_TEST(test_descriptor_passing)
{
	struct ipc_conn a, b;
	struct ipc_msg m;
	int sv[2], p1[2], p2[2], fd;
	char buf[8];

	pair(sv);
	ck_assert_int_eq(pipe(p1), 0);
	ck_assert_int_eq(pipe(p2), 0);
	ipc_conn_init(&a, sv[0]);
	ipc_conn_init(&b, sv[1]);
	/* fd, no fd, fd: each descriptor lands on its own frame. */
	ipc_msg_init(&m, 1, 1);
	ipc_put_str(&m, "first");
	m.fd = p1[1];
	ipc_conn_queue(&a, &m);
	ck_assert_int_eq(m.fd, -1);
	ipc_msg_init(&m, 2, 2);
	ipc_conn_queue(&a, &m);
	ipc_msg_init(&m, 3, 3);
	m.fd = p2[1];
	ipc_conn_queue(&a, &m);
	ck_assert_int_eq(ipc_conn_flush(&a), 0);
	/* The sender closed its copies once sent. */
	ck_assert_int_eq(fcntl(p1[1], F_GETFD), -1);
	ck_assert_int_eq(fcntl(p2[1], F_GETFD), -1);

	ck_assert_int_eq(ipc_recv(&b, &m, 1000), 0);
	ck_assert_uint_eq(m.type, 1);
	ck_assert_int_ge(m.fd, 0);
	ck_assert_int_eq(fcntl(m.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	/* Both ends of a pipe share an inode: this is pipe 1, not 2. */
	ck_assert(same_file(m.fd, p1[0]));
	ck_assert(!same_file(m.fd, p2[0]));
	fd = ipc_msg_take_fd(&m);
	ck_assert_int_eq(m.fd, -1);
	ipc_msg_free(&m);
	/* Still open after the message is freed: the caller owns it. */
	write_all(fd, "one", 3);
	close(fd);
	ck_assert_int_eq(read(p1[0], buf, sizeof(buf)), 3);
	ck_assert_mem_eq(buf, "one", 3);
	/* The write end is gone everywhere: end of file. */
	ck_assert_int_eq(read(p1[0], buf, sizeof(buf)), 0);

	ck_assert_int_eq(ipc_recv(&b, &m, 1000), 0);
	ck_assert_uint_eq(m.type, 2);
	ck_assert_int_eq(m.fd, -1);
	ipc_msg_free(&m);

	ck_assert_int_eq(ipc_recv(&b, &m, 1000), 0);
	ck_assert_uint_eq(m.type, 3);
	ck_assert_int_ge(m.fd, 0);
	ck_assert(same_file(m.fd, p2[0]));
	write_all(m.fd, "two", 3);
	/* ipc_msg_free closes a descriptor nobody took. */
	ipc_msg_free(&m);
	ck_assert_int_eq(read(p2[0], buf, sizeof(buf)), 3);
	ck_assert_int_eq(read(p2[0], buf, sizeof(buf)), 0);
	close(p1[0]);
	close(p2[0]);
	ipc_conn_close(&a);
	ipc_conn_close(&b);
}
END_TEST

/*
 * Many small frames, every seventh with a descriptor, through a small
 * non-blocking socket: the flush sends runs of frames in one sendmsg
 * and stops where the socket is full, mid-frame too.  Every frame
 * arrives whole, in order, and each descriptor on its own frame.
 */
START_TEST(test_frame_runs_with_descriptors_nonblocking)
{
	enum { FRAMES = 700, EVERY = 7 };
	struct ipc_conn a, b;
	struct ipc_msg m;
	int sv[2], pipes[FRAMES / EVERY][2], small = 4096, r, got = 0;
	char text[64];

	pair(sv);
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof(small)), 0);
	set_nonblock(sv[0]);
	set_nonblock(sv[1]);
	ipc_conn_init(&a, sv[0]);
	ipc_conn_init(&b, sv[1]);
	for (int i = 0; i < FRAMES; i++) {
		ipc_msg_init(&m, 9, (uint32_t)i);
		snprintf(text, sizeof(text), "frame %d %*s", i, i % 41, "");
		ipc_put_str(&m, text);
		if (i % EVERY == 0) {
			ck_assert_int_eq(pipe(pipes[i / EVERY]), 0);
			m.fd = pipes[i / EVERY][1];
		}
		ipc_conn_queue(&a, &m);
	}
	for (int rounds = 0; got < FRAMES && rounds < 100000; rounds++) {
		ck_assert_int_ge(ipc_conn_flush(&a), 0);
		ssize_t n = ipc_conn_read(&b);
		ck_assert(n > 0 || (n < 0 && errno == EAGAIN));
		while ((r = ipc_conn_next(&b, &m)) == 1) {
			char want[64];

			ck_assert_uint_eq(m.type, 9);
			ck_assert_uint_eq(m.id, (uint32_t)got);
			ck_assert_int_eq(ipc_get_str(&m, text, sizeof(text)), 0);
			snprintf(want, sizeof(want), "frame %d %*s", got,
			    got % 41, "");
			ck_assert_str_eq(text, want);
			if (got % EVERY == 0) {
				ck_assert_int_ge(m.fd, 0);
				ck_assert(same_file(m.fd, pipes[got / EVERY][0]));
				close(pipes[got / EVERY][0]);
			} else
				ck_assert_int_eq(m.fd, -1);
			ipc_msg_free(&m);
			got++;
		}
		ck_assert_int_eq(r, 0);
	}
	ck_assert_int_eq(got, FRAMES);
	ck_assert_int_eq(ipc_conn_pending(&a), 0);
	ck_assert_int_eq(b.nfds, 0);
	ipc_conn_close(&a);
	ipc_conn_close(&b);
}
END_TEST

/*
 * write_end_gone - the pipe read on rfd has no write end left open
 * anywhere: a read sees end of file.  It does not wait, so a copy that
 * survives fails the check at once instead of hanging the test.
 */
static int
write_end_gone(int rfd)
{
	char c;

	ck_assert_int_eq(fcntl(rfd, F_SETFL, O_NONBLOCK), 0);
	return read(rfd, &c, 1) == 0;
}

/*
 * pair_with_unclaimed_fd - conns a and b on a socketpair; a sent b a
 * frame with the write end of pipe p, which b has read but not taken.
 */
static void
pair_with_unclaimed_fd(struct ipc_conn *a, struct ipc_conn *b, int p[2])
{
	struct ipc_msg m;
	int sv[2];

	pair(sv);
	ck_assert_int_eq(pipe(p), 0);
	ipc_conn_init(a, sv[0]);
	ipc_conn_init(b, sv[1]);
	ipc_msg_init(&m, 1, 1);
	m.fd = p[1];
	ipc_conn_queue(a, &m);
	ck_assert_int_eq(ipc_conn_flush(a), 0);
	ck_assert_int_gt(ipc_conn_read(b), 0);
	ck_assert_int_eq(b->nfds, 1);
}

START_TEST(test_unclaimed_descriptors_closed)
{
	struct ipc_conn a, b;
	int p[2];

	pair_with_unclaimed_fd(&a, &b, p);
	ipc_conn_close(&b);
	/* No copy of the write end survives: the reader sees end of file. */
	ck_assert(write_end_gone(p[0]));
	close(p[0]);
	ipc_conn_close(&a);
}
END_TEST

/* ipc_conn_forget: what the conn held goes (the unclaimed descriptor
 * too), the socket stays open and usable by a new conn. */
START_TEST(test_forget_keeps_socket_drops_the_rest)
{
	struct ipc_conn a, b;
	struct ipc_msg m;
	int p[2], sock;

	pair_with_unclaimed_fd(&a, &b, p);
	sock = b.fd;
	ipc_msg_init(&m, 2, 2);
	ipc_conn_queue(&b, &m);		/* never sent */
	ipc_conn_forget(&b);
	ck_assert_int_eq(b.fd, -1);
	ck_assert_ptr_null(b.in);
	ck_assert_ptr_null(b.out_head);
	ck_assert(write_end_gone(p[0]));
	close(p[0]);
	/* The socket is still open, and a new conn on it works. */
	ck_assert_int_ge(fcntl(sock, F_GETFD), 0);
	ipc_conn_init(&b, sock);
	ipc_msg_init(&m, 3, 3);
	ck_assert_int_eq(ipc_send(&a, &m), 0);
	ck_assert_int_eq(ipc_recv(&b, &m, 1000), 0);
	ck_assert_uint_eq(m.type, 3);
	ipc_msg_free(&m);
	ipc_conn_close(&b);
	ipc_conn_close(&a);
}
END_TEST

START_TEST(test_queued_frame_fd_closed_on_close)
{
	struct ipc_conn a;
	struct ipc_msg m;
	int sv[2], p[2];

	pair(sv);
	ck_assert_int_eq(pipe(p), 0);
	ipc_conn_init(&a, sv[0]);
	ipc_msg_init(&m, 1, 1);
	m.fd = p[1];
	ipc_conn_queue(&a, &m);
	ipc_conn_close(&a);	/* never flushed */
	ck_assert(write_end_gone(p[0]));
	close(p[0]);
	close(sv[1]);
}
END_TEST

/* count_fds - how many descriptors this process has open */
static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* send_fds - one octet carrying n descriptors, as a hostile peer might */
static ssize_t
send_fds(int sock, const int *fds, int n)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 16)];
	} cbuf;
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	char byte = 'x';

	memset(&msg, 0, sizeof(msg));
	memset(&cbuf, 0, sizeof(cbuf));
	iov.iov_base = &byte;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	return sendmsg(sock, &msg, 0);
}

START_TEST(test_descriptor_flood)
{
	struct ipc_conn b;
	int sv[2], fds[16], before = count_fds();

	for (int i = 0; i < 16; i++) {
		fds[i] = open("/dev/null", O_RDONLY);
		ck_assert_int_ge(fds[i], 0);
	}
	/* Far more descriptors than frames: the reader keeps a bounded few. */
	pair(sv);
	ipc_conn_init(&b, sv[1]);
	for (int i = 0; i < IPC_MAX_QUEUED_FDS + 10; i++) {
		ck_assert_int_eq(send_fds(sv[0], fds, 1), 1);
		ck_assert_int_eq(ipc_conn_read(&b), 1);
	}
	ck_assert_int_eq(b.nfds, IPC_MAX_QUEUED_FDS);
	ipc_conn_close(&b);
	close(sv[0]);

	/* More in one message than the reader makes room for: an error. */
	pair(sv);
	ipc_conn_init(&b, sv[1]);
	ck_assert_int_eq(send_fds(sv[0], fds, 16), 1);
	errno = 0;
	ck_assert_int_eq(ipc_conn_read(&b), -1);
	ck_assert_int_eq(errno, EPROTO);
	ck_assert_int_le(b.nfds, IPC_MAX_QUEUED_FDS);
	ipc_conn_close(&b);
	close(sv[0]);
	for (int i = 0; i < 16; i++)
		close(fds[i]);
	/* Every descriptor received, kept or dropped, was closed. */
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

/* expect_malformed - the peer writes raw octets; the reader must refuse */
static void
expect_malformed(const unsigned char *raw, size_t len)
{
	struct ipc_conn b;
	struct ipc_msg m;
	int sv[2];

	pair(sv);
	ipc_conn_init(&b, sv[1]);
	write_all(sv[0], raw, len);
	ck_assert_int_gt(ipc_conn_read(&b), 0);
	ck_assert_int_eq(ipc_conn_next(&b, &m), -1);
	/* It stays refused: the caller cannot resynchronise by retrying. */
	ck_assert_int_eq(ipc_conn_next(&b, &m), -1);
	ipc_conn_close(&b);
	close(sv[0]);
}

START_TEST(test_malformed_frames)
{
	unsigned char h[IPC_HDR_LEN + 4];

	/* Oversized: refused from the header alone, nothing allocated. */
	raw_header(h, 1, IPC_MAX_PAYLOAD + 1, 1, 0);
	expect_malformed(h, IPC_HDR_LEN);
	raw_header(h, 1, UINT32_MAX, 1, 0);
	expect_malformed(h, IPC_HDR_LEN);
	/* Unknown flags. */
	raw_header(h, 1, 0, 1, 0x2);
	expect_malformed(h, IPC_HDR_LEN);
	raw_header(h, 1, 0, 1, 0x80000000u | IPC_FLAG_FD);
	expect_malformed(h, IPC_HDR_LEN);
	/* Claims a descriptor it did not bring. */
	raw_header(h, 1, 4, 1, IPC_FLAG_FD);
	memcpy(h + IPC_HDR_LEN, "abcd", 4);
	expect_malformed(h, sizeof(h));
}
END_TEST

START_TEST(test_malformed_via_recv)
{
	struct ipc_conn b;
	struct ipc_msg m;
	unsigned char h[IPC_HDR_LEN];
	int sv[2];

	pair(sv);
	ipc_conn_init(&b, sv[1]);
	raw_header(h, 1, IPC_MAX_PAYLOAD + 1, 1, 0);
	write_all(sv[0], h, sizeof(h));
	errno = 0;
	ck_assert_int_eq(ipc_recv(&b, &m, 1000), -1);
	ck_assert_int_eq(errno, EPROTO);
	ipc_conn_close(&b);
	close(sv[0]);
}
END_TEST

START_TEST(test_largest_header_accepted)
{
	struct ipc_conn b;
	struct ipc_msg m;
	unsigned char h[IPC_HDR_LEN];
	int sv[2];

	/* Exactly IPC_MAX_PAYLOAD announced: legal, waits for the rest. */
	pair(sv);
	ipc_conn_init(&b, sv[1]);
	raw_header(h, 1, IPC_MAX_PAYLOAD, 1, 0);
	write_all(sv[0], h, sizeof(h));
	ck_assert_int_gt(ipc_conn_read(&b), 0);
	ck_assert_int_eq(ipc_conn_next(&b, &m), 0);
	ipc_conn_close(&b);
	close(sv[0]);
}
END_TEST

START_TEST(test_partial_reads)
{
	struct ipc_conn b;
	struct ipc_msg m;
	unsigned char frame[IPC_HDR_LEN + 9 + IPC_HDR_LEN];
	int sv[2];
	char s[8];
	uint32_t v;

	/* Frame 1: "\0\0\0\5hello" with type 9, id 10; frame 2 empty. */
	raw_header(frame, 9, 9, 10, 0);
	memcpy(frame + IPC_HDR_LEN, "\0\0\0\5hello", 9);
	raw_header(frame + IPC_HDR_LEN + 9, 11, 0, 12, 0);
	pair(sv);
	set_nonblock(sv[1]);
	ipc_conn_init(&b, sv[1]);
	ck_assert_int_eq(ipc_conn_next(&b, &m), 0);
	errno = 0;
	ck_assert_int_eq(ipc_conn_read(&b), -1);
	ck_assert_int_eq(errno, EAGAIN);
	/* One octet at a time: nothing until the frame is whole. */
	for (size_t i = 0; i < IPC_HDR_LEN + 9; i++) {
		write_all(sv[0], frame + i, 1);
		ck_assert_int_eq(ipc_conn_read(&b), 1);
		if (i < IPC_HDR_LEN + 8)
			ck_assert_int_eq(ipc_conn_next(&b, &m), 0);
	}
	ck_assert_int_eq(ipc_conn_next(&b, &m), 1);
	ck_assert_uint_eq(m.type, 9);
	ck_assert_uint_eq(m.id, 10);
	ck_assert_int_eq(ipc_get_str(&m, s, sizeof(s)), 0);
	ck_assert_str_eq(s, "hello");
	ck_assert_int_eq(ipc_get_end(&m), 0);
	ipc_msg_free(&m);
	ck_assert_int_eq(ipc_conn_next(&b, &m), 0);
	/* The second frame in two uneven pieces. */
	write_all(sv[0], frame + IPC_HDR_LEN + 9, 5);
	ck_assert_int_eq(ipc_conn_read(&b), 5);
	ck_assert_int_eq(ipc_conn_next(&b, &m), 0);
	write_all(sv[0], frame + IPC_HDR_LEN + 9 + 5, IPC_HDR_LEN - 5);
	ck_assert_int_eq(ipc_conn_read(&b), IPC_HDR_LEN - 5);
	ck_assert_int_eq(ipc_conn_next(&b, &m), 1);
	ck_assert_uint_eq(m.type, 11);
	ck_assert_uint_eq(m.id, 12);
	ck_assert_int_eq(ipc_get_u32(&m, &v), -1);
	ipc_msg_free(&m);
	ck_assert_uint_eq(b.inlen, 0);
	/* A frame whose string field is cut short is a bad payload. */
	raw_header(frame, 1, 6, 1, 0);
	memcpy(frame + IPC_HDR_LEN, "\0\0\0\7ab", 6);
	write_all(sv[0], frame, IPC_HDR_LEN + 6);
	ck_assert_int_eq(ipc_conn_read(&b), IPC_HDR_LEN + 6);
	ck_assert_int_eq(ipc_conn_next(&b, &m), 1);
	ck_assert_int_eq(ipc_get_str(&m, s, sizeof(s)), -1);
	ck_assert_int_eq(ipc_get_end(&m), -1);
	ipc_msg_free(&m);
	ipc_conn_close(&b);
	close(sv[0]);
}
END_TEST

START_TEST(test_call)
{
	struct ipc_conn c;
	struct ipc_msg req, resp;
	int sv[2], status;
	pid_t pid;
	uint32_t v;

	pair(sv);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Echo server: answers each request with its value plus 1. */
		struct ipc_conn s;
		struct ipc_msg in, out;

		close(sv[0]);
		ipc_conn_init(&s, sv[1]);
		while (ipc_recv(&s, &in, 5000) == 0) {
			if (ipc_get_u32(&in, &v) < 0 || ipc_get_end(&in) < 0)
				_exit(2);
			ipc_msg_init(&out, in.type + 1, in.id);
			ipc_put_u32(&out, v + 1);
			ipc_msg_free(&in);
			if (ipc_send(&s, &out) < 0)
				_exit(3);
		}
		_exit(0);
	}
	close(sv[1]);
	ipc_conn_init(&c, sv[0]);
	for (uint32_t i = 0; i < 50; i++) {
		ipc_msg_init(&req, 10, i);
		ipc_put_u32(&req, i * 3);
		ck_assert_int_eq(ipc_call(&c, &req, &resp, 5000), 0);
		ck_assert_uint_eq(resp.type, 11);
		ck_assert_uint_eq(resp.id, i);
		ck_assert_int_eq(ipc_get_u32(&resp, &v), 0);
		ck_assert_uint_eq(v, i * 3 + 1);
		ipc_msg_free(&resp);
	}
	ipc_conn_close(&c);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* ipc_suite - every ipc test */
Suite *
ipc_suite(void)
{
	Suite *s = suite_create("ipc");
	TCase *tc = tcase_create("ipc");

	tcase_add_test(tc, test_encoding_layout);
	tcase_add_test(tc, test_encoding_round_trip);
	tcase_add_test(tc, test_decode_truncated);
	tcase_add_test(tc, test_get_str_limits);
	tcase_add_exit_test(tc, test_put_too_large_is_fatal, 1);
	tcase_add_test(tc, test_frames_round_trip);
	tcase_add_test(tc, test_largest_frame_nonblocking);
	tcase_add_test(tc, test_descriptor_passing);
	tcase_add_test(tc, test_frame_runs_with_descriptors_nonblocking);
	tcase_add_test(tc, test_unclaimed_descriptors_closed);
	tcase_add_test(tc, test_queued_frame_fd_closed_on_close);
	tcase_add_test(tc, test_forget_keeps_socket_drops_the_rest);
	tcase_add_test(tc, test_descriptor_flood);
	tcase_add_test(tc, test_malformed_frames);
	tcase_add_test(tc, test_malformed_via_recv);
	tcase_add_test(tc, test_largest_header_accepted);
	tcase_add_test(tc, test_partial_reads);
	tcase_add_test(tc, test_call);
	suite_add_tcase(s, tc);
	return s;
}
