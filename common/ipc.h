/*
 * ipc - framed messages between tern processes over Unix stream sockets.
 *
 * A frame is a 16-octet header (type, payload length, request id, flags;
 * each a 32-bit big-endian integer) followed by the payload.  A frame may
 * carry one descriptor (SCM_RIGHTS), sent with its first byte.  Payloads
 * use one typed encoding (u8, u32, u64 in network order; strings and byte
 * strings as a u32 length then the bytes), read back with bounds checks.
 *
 * Nothing read from a peer is trusted: a frame whose length exceeds
 * IPC_MAX_PAYLOAD, whose flags are unknown, or that claims a descriptor it
 * did not bring is malformed, and the caller disconnects that peer.  A
 * frame that is whole but whose payload does not decode (msg_codec.h) is
 * rejected by itself; the stream is still in step, and the peer stays.
 */
#ifndef TERN_IPC_H
#define TERN_IPC_H

#include <stddef.h>
#include <stdint.h>

#define IPC_HDR_LEN	16
#define IPC_MAX_PAYLOAD	(256 * 1024)
#define IPC_FLAG_FD	0x1
#define IPC_MAX_QUEUED_FDS 64

/* One frame, being built for sending or decoded after receipt. */
struct ipc_msg {
	uint32_t	 type;
	uint32_t	 id;
	unsigned char	*data;		/* payload, owned */
	size_t		 len;
	size_t		 cap;
	size_t		 rpos;		/* read cursor for ipc_get_*() */
	int		 fd;		/* attached descriptor or -1, owned */
	int		 bad;		/* a get failed: payload malformed */
};

/* ipc_msg_init - empty message of the given type and request id */
void ipc_msg_init(struct ipc_msg *m, uint32_t type, uint32_t id);
/* ipc_msg_free - release payload and close any attached descriptor */
void ipc_msg_free(struct ipc_msg *m);
/* ipc_msg_take_fd - detach the descriptor; the caller now owns it */
int ipc_msg_take_fd(struct ipc_msg *m);

void ipc_put_u8(struct ipc_msg *m, uint8_t v);
void ipc_put_u32(struct ipc_msg *m, uint32_t v);
void ipc_put_u64(struct ipc_msg *m, uint64_t v);
void ipc_put_bytes(struct ipc_msg *m, const void *p, size_t len);
void ipc_put_str(struct ipc_msg *m, const char *s);

/* ipc_get_* - read the next field; on underflow set m->bad and return -1 */
int ipc_get_u8(struct ipc_msg *m, uint8_t *v);
int ipc_get_u32(struct ipc_msg *m, uint32_t *v);
int ipc_get_u64(struct ipc_msg *m, uint64_t *v);
/*
 * ipc_get_str - copy a string field into buf (size bufsize, NUL-terminated).
 * Fails (bad) when it does not fit or contains a NUL octet.
 */
int ipc_get_str(struct ipc_msg *m, char *buf, size_t bufsize);
/* ipc_get_bytes - point *p at a byte-string field inside the payload */
int ipc_get_bytes(struct ipc_msg *m, const unsigned char **p, size_t *len);
/* ipc_get_end - 0 when every field was read and none failed, else -1 */
int ipc_get_end(struct ipc_msg *m);

/* A connection with buffered, non-blocking-friendly input and output. */
struct ipc_outframe;
struct ipc_conn {
	int			 fd;
	unsigned char		*in;
	size_t			 inpos;		/* start of unparsed input */
	size_t			 inlen;		/* end of input */
	size_t			 incap;
	int			 fds[IPC_MAX_QUEUED_FDS];	/* received, not yet claimed */
	int			 nfds;
	struct ipc_outframe	*out_head;
	struct ipc_outframe	*out_tail;
	size_t			 out_off;	/* bytes of out_head already sent */
};

/* ipc_conn_init - wrap a connected socket; the conn owns fd from now on */
void ipc_conn_init(struct ipc_conn *c, int fd);
/* ipc_conn_close - close the socket, drop buffers and unclaimed fds */
void ipc_conn_close(struct ipc_conn *c);
/*
 * ipc_conn_forget - drop c's buffers, queued frames and unclaimed fds
 * like ipc_conn_close, but leave its socket open and no longer c's: for
 * a forked process that gives the descriptor's number to a channel of
 * its own and must keep nothing of its parent's.
 */
void ipc_conn_forget(struct ipc_conn *c);
/*
 * ipc_conn_read - read what is available (one recvmsg).
 * Returns bytes read, 0 at end of file, -1 on error (errno set; EAGAIN
 * when nothing was available on a non-blocking socket).
 */
ssize_t ipc_conn_read(struct ipc_conn *c);
/*
 * ipc_conn_next - take the next complete frame from the input buffer.
 * Returns 1 and fills *m (caller frees), 0 when more input is needed,
 * -1 when the peer sent a malformed frame.
 */
int ipc_conn_next(struct ipc_conn *c, struct ipc_msg *m);
/* ipc_conn_queue - queue m for sending; takes m's payload and descriptor */
void ipc_conn_queue(struct ipc_conn *c, struct ipc_msg *m);
/*
 * ipc_conn_flush - send what the socket accepts, queued frames together
 * (one sendmsg for a run of them, so the peer wakes once).  Returns 0
 * when the output queue is empty, 1 when some remains (EAGAIN), -1 on
 * error.
 */
int ipc_conn_flush(struct ipc_conn *c);
/* ipc_conn_pending - true when output is waiting to be sent */
int ipc_conn_pending(const struct ipc_conn *c);

/*
 * ipc_call - blocking request/response for single-session processes:
 * queue req, flush, then wait up to timeout_ms (-1 forever) for the frame
 * that answers it (same request id) into *resp.  Frames with other ids
 * are late answers to calls that timed out: they are dropped, so that one
 * slow answer cannot shift every later one.  Returns 0, or -1 on error,
 * timeout or malformed frame.
 */
int ipc_call(struct ipc_conn *c, struct ipc_msg *req, struct ipc_msg *resp,
    int timeout_ms);
/* ipc_send - blocking send of one frame (takes m's payload and fd) */
int ipc_send(struct ipc_conn *c, struct ipc_msg *m);
/* ipc_recv - blocking receive of one frame, waiting up to timeout_ms */
int ipc_recv(struct ipc_conn *c, struct ipc_msg *m, int timeout_ms);

#endif
