/*
 * fuzz_msg_decode - libFuzzer target for the decoders of every IPC message
 * type (common/msg_codec.c): a compromised or buggy peer may send any
 * payload under any type.
 *
 * The first two octets are the message type (big-endian; a number that
 * names no message chooses msg_layouts[number % msg_nlayouts], so that
 * any input reaches every layout), the low bit of the third whether the
 * frame carries a descriptor; the rest is the payload.  The type is its
 * number and not an index into the table, so that a saved input keeps
 * meaning the same message when types are added.  With
 * FUZZ_MSG_DECODE_STRICT set (replay.sh, for the seeds of corpus/), an
 * input of a known type that does not decode aborts: a seed that a
 * layout change has made invalid is found, not silently fuzzed as
 * noise.  Checks: the decoder never reads or allocates out
 * of bounds (the sanitizers), every value it accepts is within its
 * layout's limits, and what it accepts encodes back to exactly the same
 * payload, so no two frames decode alike and the encoder would have
 * produced it.  The peek helpers run on every input too.  Built by
 * build.sh.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "msg_codec.h"
#include "xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_fields - every value of f (decoded by l) is within its limits */
static void
check_fields(const struct msg_layout *l, const void *f)
{
	for (size_t i = 0; i < l->nfields; i++) {
		const struct msg_field *fd = &l->fields[i];
		const char *base = (const char *)f + fd->off, *p;
		uint32_t v32, n;
		uint64_t v64;

		switch (fd->kind) {
		case MSGF_U32:
			memcpy(&v32, base, sizeof(v32));
			if (v32 < fd->lo || v32 > fd->hi)
				abort();
			break;
		case MSGF_FLAGS:
			memcpy(&v32, base, sizeof(v32));
			if (v32 & ~fd->hi)
				abort();
			break;
		case MSGF_U64:
			memcpy(&v64, base, sizeof(v64));
			if (v64 < fd->lo || v64 > fd->hi)
				abort();
			break;
		case MSGF_STR:
			memcpy(&p, base, sizeof(p));
			if (p == NULL || strlen(p) < fd->lo ||
			    strlen(p) > fd->hi)
				abort();
			break;
		case MSGF_LIST:
			memcpy(&p, base, sizeof(p));
			memcpy(&n, (const char *)f + fd->count_off, sizeof(n));
			if (n < fd->lo || n > fd->hi || (n > 0 && p == NULL))
				abort();
			for (uint32_t k = 0; k < n; k++)
				check_fields(fd->elem, p + (size_t)k *
				    fd->elem->size);
			break;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int devnull = -1, strict = -1;
	const struct msg_layout *l;
	struct ipc_msg m, again;
	uint32_t a, b, c, type;
	const char *why;
	int known, ok;
	void *f;

	if (size < 3 || size - 3 > IPC_MAX_PAYLOAD)
		return 0;
	if (devnull < 0 && (devnull = open("/dev/null", O_RDONLY)) < 0)
		abort();
	if (strict < 0)
		strict = getenv("FUZZ_MSG_DECODE_STRICT") != NULL;
	type = (uint32_t)data[0] << 8 | data[1];
	known = (l = msg_layout_find(type)) != NULL && type != 0;
	if (!known)
		l = &msg_layouts[type % msg_nlayouts];
	ipc_msg_init(&m, l->type, 1);
	if (size > 3) {
		m.data = xmalloc(size - 3);
		memcpy(m.data, data + 3, size - 3);
		m.len = m.cap = size - 3;
	}
	if (data[2] & 1)
		m.fd = dup(devnull);
	(void)msg_peek_u32(&m, &a);
	(void)msg_peek_result(&m, &a, &b, &c);
	if (l->nfields == 0) {
		ok = msg_decode_empty(&m, l->type, &why) == 0;
		if (ok && (m.len != 0 ||
		    (l->fd == MSG_FD_REQUIRED) != (m.fd >= 0)))
			abort();
		if (strict && known && !ok)
			abort();
		ipc_msg_free(&m);
		return 0;
	}
	f = xcalloc(1, l->size);
	ok = msg_decode_sized(&m, l->type, f, l->size, &why) == 0;
	if (ok) {
		check_fields(l, f);
		if ((l->fd == MSG_FD_REQUIRED) != (m.fd >= 0))
			abort();
		if (msg_encode_sized(&again, l->type, 1, f, l->size) != 0 ||
		    again.len != size - 3 || (size > 3 &&
		    memcmp(again.data, data + 3, size - 3) != 0))
			abort();
		ipc_msg_free(&again);
		msg_free(l->type, f);
	}
	if (strict && known && !ok)
		abort();
	free(f);
	ipc_msg_free(&m);
	return 0;
}
