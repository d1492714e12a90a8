/*
 * fuzz_ipc - libFuzzer target for IPC frame decoding (common/ipc.c): a
 * compromised peer process may send anything.
 *
 * The input is what the peer writes, fed through a socketpair in chunks
 * (the first octet sets the chunk size, so frames straddle reads); every
 * complete frame is taken with ipc_conn_next() and its payload read with
 * a sequence of ipc_get_* calls chosen by the frame's type and id.  No
 * descriptors are passed, so a frame claiming one must be refused.
 * Checks: the read cursor stays inside the payload, byte strings point
 * inside it, strings are NUL-terminated and fit, ipc_get_end agrees with
 * the cursor and the bad flag.  Built by build.sh.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fields - read m as the field sequence its type and id describe */
static void
fields(struct ipc_msg *m)
{
	char str[300];
	const unsigned char *p;
	size_t len, strsize = (m->id & 0xff) + 1;
	uint64_t v64;
	uint32_t v32;
	uint8_t v8;
	int rc = 0;

	if (m->len > IPC_MAX_PAYLOAD || m->fd != -1 || m->rpos != 0 ||
	    m->bad)
		abort();
	for (int i = 0; i < 16 && rc == 0; i++) {
		size_t before = m->rpos;

		switch ((m->type >> (2 * i)) & 3) {
		case 0:
			rc = ipc_get_u8(m, &v8);
			break;
		case 1:
			rc = ipc_get_u32(m, &v32);
			break;
		case 2:
			rc = ipc_get_u64(m, &v64);
			break;
		default:
			if (m->id & 0x100) {
				rc = ipc_get_bytes(m, &p, &len);
				if (rc == 0 && (p < m->data ||
				    p + len > m->data + m->len ||
				    p + len != m->data + m->rpos))
					abort();
			} else {
				memset(str, 'S', sizeof(str));
				rc = ipc_get_str(m, str, strsize);
				if (rc == 0 && (strnlen(str, strsize) ==
				    strsize || str[strsize] != 'S'))
					abort();
			}
			break;
		}
		if (m->rpos > m->len || m->rpos < before ||
		    (rc != 0 && rc != -1) || (rc == -1 && !m->bad))
			abort();
	}
	if ((ipc_get_end(m) == 0) != (!m->bad && m->rpos == m->len))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct ipc_conn c;
	struct ipc_msg m;
	size_t chunk, off;
	ssize_t n;
	int sv[2], r = 0;

	if (!init) {
		signal(SIGPIPE, SIG_IGN);
		init = 1;
	}
	if (size < 1 || size > 100000)
		return 0;
	chunk = data[0] == 0 ? size : data[0];
	data++;
	size--;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		abort();
	ipc_conn_init(&c, sv[0]);
	for (off = 0; r >= 0; ) {
		size_t k = size - off < chunk ? size - off : chunk;

		if (k > 0) {
			if (write(sv[1], data + off, k) != (ssize_t)k)
				abort();
			off += k;
		}
		if (off == size)
			shutdown(sv[1], SHUT_WR);
		if ((n = ipc_conn_read(&c)) <= 0)
			break;
		if (c.inpos > c.inlen || c.inlen > c.incap || c.nfds != 0)
			abort();
		while ((r = ipc_conn_next(&c, &m)) == 1) {
			fields(&m);
			ipc_msg_free(&m);
		}
	}
	ipc_conn_close(&c);
	close(sv[1]);
	return 0;
}
