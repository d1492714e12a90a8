/*
 * queue_records - the versioned encodings of queue index records.
 *
 * Used by every queue-store backend, so that what the index holds never
 * depends on a C struct's layout.  Each record starts with a u8 version;
 * integers are big-endian and strings are a u32 length then the octets
 * (the ipc.h typed encoding).  The decoders read records from disk and so
 * trust nothing: every length is checked, unknown versions and values are
 * rejected, and nothing may trail the last field.
 */
#include "config.h"

#include <string.h>

#include "ipc.h"
#include "xmalloc.h"
#include "queue_store.h"

#define QUEUE_MSG_REC_VERSION	3
#define QUEUE_RCPT_REC_VERSION	3

/* queue_put_str - a fixed-size member, bounded even if unterminated */
static void
queue_put_str(struct ipc_msg *m, const char *s, size_t size)
{
	ipc_put_bytes(m, s, strnlen(s, size - 1));
}

/* queue_rec_view - point a read-only ipc_msg at p (never freed) */
static void
queue_rec_view(struct ipc_msg *m, const unsigned char *p, size_t len)
{
	ipc_msg_init(m, 0, 0);
	m->data = (unsigned char *)(uintptr_t)p;
	m->len = len;
}

/* queue_msg_rec_encode - r in a new buffer (*out, caller frees) */
void
queue_msg_rec_encode(const struct queue_msg_rec *r, unsigned char **out,
    size_t *len)
{
	struct ipc_msg m;

	ipc_msg_init(&m, 0, 0);
	ipc_put_u8(&m, QUEUE_MSG_REC_VERSION);
	queue_put_str(&m, r->qid, sizeof(r->qid));
	ipc_put_u64(&m, r->arrival);
	ipc_put_u32(&m, r->nrcpt);
	ipc_put_u32(&m, r->flags);
	queue_put_str(&m, r->sender, sizeof(r->sender));
	ipc_put_u64(&m, r->size);
	ipc_put_u32(&m, r->uid);
	*out = m.data;
	*len = m.len;
}

/* queue_msg_rec_decode - fill *r from p; 0, or -1 when malformed */
int
queue_msg_rec_decode(const unsigned char *p, size_t len,
    struct queue_msg_rec *r)
{
	struct ipc_msg m;
	uint8_t version;

	memset(r, 0, sizeof(*r));
	queue_rec_view(&m, p, len);
	if (ipc_get_u8(&m, &version) < 0 || version < 1 ||
	    version > QUEUE_MSG_REC_VERSION)
		return -1;
	if (ipc_get_str(&m, r->qid, sizeof(r->qid)) < 0 ||
	    ipc_get_u64(&m, &r->arrival) < 0 ||
	    ipc_get_u32(&m, &r->nrcpt) < 0 ||
	    ipc_get_u32(&m, &r->flags) < 0)
		return -1;
	if (version >= 2) {
		if (ipc_get_str(&m, r->sender, sizeof(r->sender)) < 0)
			return -1;
		r->have_sender = 1;
	}
	r->uid = QMSG_UID_NONE;
	if (version >= 3) {
		if (ipc_get_u64(&m, &r->size) < 0 ||
		    ipc_get_u32(&m, &r->uid) < 0)
			return -1;
		r->have_size = 1;
	}
	if (ipc_get_end(&m) < 0)
		return -1;
	if (r->qid[0] == '\0' || (r->flags & ~(uint32_t)QMSG_F_ALL))
		return -1;
	return 0;
}

/* queue_rcpt_rec_encode - r in a new buffer (*out, caller frees) */
void
queue_rcpt_rec_encode(const struct queue_rcpt_rec *r, unsigned char **out,
    size_t *len)
{
	struct ipc_msg m;

	ipc_msg_init(&m, 0, 0);
	ipc_put_u8(&m, QUEUE_RCPT_REC_VERSION);
	ipc_put_u32(&m, r->idx);
	ipc_put_u32(&m, r->state);
	ipc_put_u32(&m, r->attempts);
	ipc_put_u64(&m, r->next_try);
	ipc_put_u64(&m, r->last_try);
	queue_put_str(&m, r->dsn, sizeof(r->dsn));
	queue_put_str(&m, r->last_error, sizeof(r->last_error));
	ipc_put_u32(&m, r->kind);
	ipc_put_u32(&m, r->parent);
	queue_put_str(&m, r->addr, sizeof(r->addr));
	queue_put_str(&m, r->relay, sizeof(r->relay));
	queue_put_str(&m, r->delivered_to, sizeof(r->delivered_to));
	*out = m.data;
	*len = m.len;
}

/* queue_rcpt_rec_decode - fill *r from p; 0, or -1 when malformed */
int
queue_rcpt_rec_decode(const unsigned char *p, size_t len,
    struct queue_rcpt_rec *r)
{
	struct ipc_msg m;
	uint8_t version;

	memset(r, 0, sizeof(*r));
	queue_rec_view(&m, p, len);
	if (ipc_get_u8(&m, &version) < 0 || version < 1 ||
	    version > QUEUE_RCPT_REC_VERSION)
		return -1;
	if (ipc_get_u32(&m, &r->idx) < 0 || ipc_get_u32(&m, &r->state) < 0 ||
	    ipc_get_u32(&m, &r->attempts) < 0 ||
	    ipc_get_u64(&m, &r->next_try) < 0 ||
	    ipc_get_u64(&m, &r->last_try) < 0 ||
	    ipc_get_str(&m, r->dsn, sizeof(r->dsn)) < 0 ||
	    ipc_get_str(&m, r->last_error, sizeof(r->last_error)) < 0)
		return -1;
	r->parent = r->idx;
	if (version >= 2 && (ipc_get_u32(&m, &r->kind) < 0 ||
	    ipc_get_u32(&m, &r->parent) < 0 ||
	    ipc_get_str(&m, r->addr, sizeof(r->addr)) < 0 ||
	    ipc_get_str(&m, r->relay, sizeof(r->relay)) < 0))
		return -1;
	if (version >= 3 && ipc_get_str(&m, r->delivered_to,
	    sizeof(r->delivered_to)) < 0)
		return -1;
	if (ipc_get_end(&m) < 0 || r->state > RCPT_EXPANDED ||
	    r->kind > RCPT_KIND_MAILBOX ||
	    (version < 3 && r->kind >= RCPT_KIND_ADDRESS) ||
	    (r->kind == RCPT_KIND_ENVELOPE) != (r->parent == r->idx) ||
	    (r->kind != RCPT_KIND_ENVELOPE && r->addr[0] == '\0') ||
	    (r->kind == RCPT_KIND_ENVELOPE && r->delivered_to[0] != '\0'))
		return -1;
	return 0;
}

/* queue_records_from_envelope - index records for a new message */
struct queue_rcpt_rec *
queue_records_from_envelope(const struct envelope *e, uint64_t now,
    uint64_t size, struct queue_msg_rec *msg)
{
	struct queue_rcpt_rec *r = xcalloc(e->nrcpt, sizeof(*r));

	memset(msg, 0, sizeof(*msg));
	strlcpy(msg->qid, e->qid, sizeof(msg->qid));
	msg->arrival = e->arrival <= now ? e->arrival : now;
	msg->nrcpt = e->nrcpt;
	msg->have_sender = 1;
	strlcpy(msg->sender, e->sender, sizeof(msg->sender));
	msg->have_size = 1;
	msg->size = size;
	/* Local submission (the sendmail branch) records its user in the
	 * envelope; until then no message is any local user's. */
	msg->uid = QMSG_UID_NONE;
	for (uint32_t i = 0; i < e->nrcpt; i++) {
		r[i].idx = i;
		r[i].parent = i;
		r[i].kind = RCPT_KIND_ENVELOPE;
		r[i].state = RCPT_PENDING;
		r[i].next_try = now;
		strlcpy(r[i].addr, e->rcpts[i].addr, sizeof(r[i].addr));
	}
	return r;
}
