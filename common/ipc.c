/*
 * ipc - framing, descriptor passing and the typed payload encoding.
 *
 * Used by every tern process; none invents its own wire format.  The
 * reader never trusts a peer: lengths are checked before anything is
 * allocated, and descriptors are only handed out for frames that say they
 * carry one.  Received descriptors are close-on-exec.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "xmalloc.h"

struct ipc_outframe {
	struct ipc_outframe	*next;
	unsigned char		*buf;	/* header + payload */
	size_t			 len;
	int			 fd;	/* sent with the first byte, then closed */
};

/* ipc_msg_init - empty message of the given type and request id */
void
ipc_msg_init(struct ipc_msg *m, uint32_t type, uint32_t id)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->id = id;
	m->fd = -1;
}

/* ipc_msg_free - release payload and close any attached descriptor */
void
ipc_msg_free(struct ipc_msg *m)
{
	/* Frames carry passwords (AUTH checks): no copy may outlive its use
	 * in freed memory. */
	if (m->data != NULL)
		explicit_bzero(m->data, m->cap);
	free(m->data);
	m->data = NULL;
	m->len = m->cap = m->rpos = 0;
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

/* ipc_msg_take_fd - detach the descriptor; the caller owns it */
int
ipc_msg_take_fd(struct ipc_msg *m)
{
	int fd = m->fd;

	m->fd = -1;
	return fd;
}

static void
ipc_put_raw(struct ipc_msg *m, const void *p, size_t len)
{
	if (len > IPC_MAX_PAYLOAD || m->len > IPC_MAX_PAYLOAD - len)
		fatalx("ipc: payload of type %u exceeds %d octets", m->type,
		    IPC_MAX_PAYLOAD);
	if (m->len + len > m->cap) {
		size_t ncap = m->cap ? m->cap : 256;

		while (ncap < m->len + len)
			ncap *= 2;
		m->data = xreallocarray(m->data, ncap, 1);
		m->cap = ncap;
	}
	if (len)
		memcpy(m->data + m->len, p, len);
	m->len += len;
}

void
ipc_put_u8(struct ipc_msg *m, uint8_t v)
{
	ipc_put_raw(m, &v, 1);
}

static void
be32_store(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t
be32_load(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

void
ipc_put_u32(struct ipc_msg *m, uint32_t v)
{
	unsigned char b[4];

	be32_store(b, v);
	ipc_put_raw(m, b, 4);
}

void
ipc_put_u64(struct ipc_msg *m, uint64_t v)
{
	ipc_put_u32(m, (uint32_t)(v >> 32));
	ipc_put_u32(m, (uint32_t)v);
}

void
ipc_put_bytes(struct ipc_msg *m, const void *p, size_t len)
{
	if (len > UINT32_MAX)
		fatalx("ipc: field too long");
	ipc_put_u32(m, (uint32_t)len);
	ipc_put_raw(m, p, len);
}

void
ipc_put_str(struct ipc_msg *m, const char *s)
{
	ipc_put_bytes(m, s, strlen(s));
}

static const unsigned char *
ipc_get_raw(struct ipc_msg *m, size_t len)
{
	const unsigned char *p;

	if (m->bad || len > m->len - m->rpos) {
		m->bad = 1;
		return NULL;
	}
	p = m->data + m->rpos;
	m->rpos += len;
	return p;
}

int
ipc_get_u8(struct ipc_msg *m, uint8_t *v)
{
	const unsigned char *p = ipc_get_raw(m, 1);

	if (p == NULL)
		return -1;
	*v = *p;
	return 0;
}

int
ipc_get_u32(struct ipc_msg *m, uint32_t *v)
{
	const unsigned char *p = ipc_get_raw(m, 4);

	if (p == NULL)
		return -1;
	*v = be32_load(p);
	return 0;
}

int
ipc_get_u64(struct ipc_msg *m, uint64_t *v)
{
	uint32_t hi, lo;

	if (ipc_get_u32(m, &hi) < 0 || ipc_get_u32(m, &lo) < 0)
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

int
ipc_get_bytes(struct ipc_msg *m, const unsigned char **p, size_t *len)
{
	uint32_t n;

	if (ipc_get_u32(m, &n) < 0)
		return -1;
	if ((*p = ipc_get_raw(m, n)) == NULL)
		return -1;
	*len = n;
	return 0;
}

int
ipc_get_str(struct ipc_msg *m, char *buf, size_t bufsize)
{
	const unsigned char *p;
	size_t len;

	if (ipc_get_bytes(m, &p, &len) < 0)
		return -1;
	if (len >= bufsize || memchr(p, '\0', len) != NULL) {
		m->bad = 1;
		return -1;
	}
	memcpy(buf, p, len);
	buf[len] = '\0';
	return 0;
}

int
ipc_get_end(struct ipc_msg *m)
{
	return (m->bad || m->rpos != m->len) ? -1 : 0;
}

/* ipc_conn_init - wrap a connected socket */
void
ipc_conn_init(struct ipc_conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
}

/* ipc_outframe_done - drop the head frame of c (sent, or never to be) */
static void
ipc_outframe_done(struct ipc_conn *c)
{
	struct ipc_outframe *f = c->out_head;

	c->out_head = f->next;
	if (c->out_head == NULL)
		c->out_tail = NULL;
	c->out_off = 0;
	if (f->fd >= 0)
		close(f->fd);
	explicit_bzero(f->buf, f->len);
	free(f->buf);
	free(f);
}

/* ipc_conn_close - close the socket and drop everything pending */
void
ipc_conn_close(struct ipc_conn *c)
{
	while (c->out_head != NULL)
		ipc_outframe_done(c);
	for (int i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	free(c->in);
	if (c->fd >= 0)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* ipc_conn_forget - ipc_conn_close without closing the socket */
void
ipc_conn_forget(struct ipc_conn *c)
{
	c->fd = -1;
	ipc_conn_close(c);
}

/* ipc_conn_read - one recvmsg into the input buffer, collecting fds */
ssize_t
ipc_conn_read(struct ipc_conn *c)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} cbuf;
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	ssize_t n;

	/* Compact once per read, not once per frame taken. */
	if (c->inpos > 0) {
		memmove(c->in, c->in + c->inpos, c->inlen - c->inpos);
		c->inlen -= c->inpos;
		c->inpos = 0;
	}
	if (c->incap - c->inlen < 65536) {
		size_t ncap = c->incap ? c->incap * 2 : 65536;

		/* Never hold more than a few frames' worth from one peer. */
		if (ncap > 4 * (IPC_MAX_PAYLOAD + IPC_HDR_LEN))
			ncap = 4 * (IPC_MAX_PAYLOAD + IPC_HDR_LEN);
		if (ncap > c->incap) {
			c->in = xreallocarray(c->in, ncap, 1);
			c->incap = ncap;
		}
	}
	if (c->inlen == c->incap) {
		errno = ENOBUFS;
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = c->in + c->inlen;
	iov.iov_len = c->incap - c->inlen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	do {
		n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (c->nfds < IPC_MAX_QUEUED_FDS)
				c->fds[c->nfds++] = fd;
			else
				close(fd);	/* peer floods descriptors */
		}
	}
	if (msg.msg_flags & MSG_CTRUNC) {
		errno = EPROTO;
		return -1;
	}
	c->inlen += (size_t)n;
	return n;
}

/* ipc_conn_next - take the next complete frame from the input buffer */
int
ipc_conn_next(struct ipc_conn *c, struct ipc_msg *m)
{
	uint32_t type, len, id, flags;
	const unsigned char *p = c->in + c->inpos;
	size_t avail = c->inlen - c->inpos;

	if (avail < IPC_HDR_LEN)
		return 0;
	type = be32_load(p);
	len = be32_load(p + 4);
	id = be32_load(p + 8);
	flags = be32_load(p + 12);
	if (len > IPC_MAX_PAYLOAD || (flags & ~IPC_FLAG_FD) != 0)
		return -1;
	if (avail < IPC_HDR_LEN + (size_t)len)
		return 0;
	ipc_msg_init(m, type, id);
	if (flags & IPC_FLAG_FD) {
		if (c->nfds == 0)
			return -1;
		m->fd = c->fds[0];
		memmove(c->fds, c->fds + 1, (size_t)(c->nfds - 1) * sizeof(int));
		c->nfds--;
	}
	if (len > 0) {
		m->data = xmalloc(len);
		memcpy(m->data, p + IPC_HDR_LEN, len);
		m->len = m->cap = len;
		explicit_bzero(c->in + c->inpos + IPC_HDR_LEN, len);
	}
	c->inpos += IPC_HDR_LEN + (size_t)len;
	if (c->inpos == c->inlen)
		c->inpos = c->inlen = 0;
	return 1;
}

/* ipc_conn_queue - queue m for sending; takes its payload and fd */
void
ipc_conn_queue(struct ipc_conn *c, struct ipc_msg *m)
{
	struct ipc_outframe *f = xcalloc(1, sizeof(*f));

	f->len = IPC_HDR_LEN + m->len;
	f->buf = xmalloc(f->len);
	be32_store(f->buf, m->type);
	be32_store(f->buf + 4, (uint32_t)m->len);
	be32_store(f->buf + 8, m->id);
	be32_store(f->buf + 12, m->fd >= 0 ? IPC_FLAG_FD : 0);
	if (m->len)
		memcpy(f->buf + IPC_HDR_LEN, m->data, m->len);
	f->fd = ipc_msg_take_fd(m);
	ipc_msg_free(m);
	if (c->out_tail != NULL)
		c->out_tail->next = f;
	else
		c->out_head = f;
	c->out_tail = f;
}

/* ipc_conn_pending - true when output waits */
int
ipc_conn_pending(const struct ipc_conn *c)
{
	return c->out_head != NULL;
}

/* Frames one sendmsg may carry (ipc_conn_flush). */
#define IPC_FLUSH_FRAMES	32

/*
 * ipc_conn_flush - send what the socket accepts.  Consecutive frames go
 * in one sendmsg (one wake-up of the peer, not one a frame); a frame
 * with a descriptor only as the first of one, the descriptor sent with
 * its first byte as ipc.h says.
 */
int
ipc_conn_flush(struct ipc_conn *c)
{
	while (c->out_head != NULL) {
		struct ipc_outframe *f = c->out_head;
		union {
			struct cmsghdr hdr;
			char buf[CMSG_SPACE(sizeof(int))];
		} cbuf;
		struct iovec iov[IPC_FLUSH_FRAMES];
		struct msghdr msg;
		size_t niov = 0;
		ssize_t n;

		memset(&msg, 0, sizeof(msg));
		iov[niov].iov_base = f->buf + c->out_off;
		iov[niov++].iov_len = f->len - c->out_off;
		if (c->out_off == 0 && f->fd >= 0) {
			struct cmsghdr *cm;

			memset(&cbuf, 0, sizeof(cbuf));
			msg.msg_control = cbuf.buf;
			msg.msg_controllen = sizeof(cbuf.buf);
			cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &f->fd, sizeof(int));
		}
		for (f = f->next; f != NULL && f->fd < 0 &&
		    niov < IPC_FLUSH_FRAMES; f = f->next) {
			iov[niov].iov_base = f->buf;
			iov[niov++].iov_len = f->len;
		}
		msg.msg_iov = iov;
		msg.msg_iovlen = niov;
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			return -1;
		}
		/* The head's descriptor went with its first byte. */
		if (c->out_head->fd >= 0) {
			close(c->out_head->fd);
			c->out_head->fd = -1;
		}
		while (n > 0) {
			size_t left = c->out_head->len - c->out_off;

			if ((size_t)n < left) {
				c->out_off += (size_t)n;
				break;
			}
			n -= (ssize_t)left;
			ipc_outframe_done(c);
		}
	}
	return 0;
}

static int
ipc_wait(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&pfd, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		errno = ETIMEDOUT;
	return n > 0 ? 0 : -1;
}

static long
ipc_ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms;
}

/* ipc_send - blocking send of one frame */
int
ipc_send(struct ipc_conn *c, struct ipc_msg *m)
{
	int r;

	ipc_conn_queue(c, m);
	while ((r = ipc_conn_flush(c)) == 1)
		if (ipc_wait(c->fd, POLLOUT, -1) < 0)
			return -1;
	return r;
}

/* ipc_recv - blocking receive of one frame within timeout_ms */
int
ipc_recv(struct ipc_conn *c, struct ipc_msg *m, int timeout_ms)
{
	struct timespec deadline;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	for (;;) {
		r = ipc_conn_next(c, m);
		if (r == 1)
			return 0;
		if (r < 0) {
			errno = EPROTO;
			return -1;
		}
		if (ipc_wait(c->fd, POLLIN, timeout_ms < 0 ? -1 :
		    (int)ipc_ms_left(&deadline)) < 0)
			return -1;
		ssize_t n = ipc_conn_read(c);
		if (n == 0) {
			errno = EPIPE;
			return -1;
		}
		if (n < 0 && errno != EAGAIN)
			return -1;
	}
}

/* ipc_call - blocking request and response */
int
ipc_call(struct ipc_conn *c, struct ipc_msg *req, struct ipc_msg *resp,
    int timeout_ms)
{
	uint32_t id = req->id;

	if (ipc_send(c, req) < 0)
		return -1;
	for (;;) {
		if (ipc_recv(c, resp, timeout_ms) < 0)
			return -1;
		if (resp->id == id)
			return 0;
		log_warn("ipc: dropped a late answer (request %u, waiting for %u)",
		    resp->id, id);
		ipc_msg_free(resp);
	}
}
