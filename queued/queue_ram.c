/*
 * queue_ram - the in-memory queue-store backend, for unit tests.
 *
 * Same semantics as the Berkeley DB backend (see queue_backend.h) except
 * that nothing survives queue_store_close(): sync is a no-op.  Records are
 * stored encoded and decoded on the way out, exactly like on disk, so the
 * tests exercise the record encodings through this backend too.  Messages
 * sit in an array sorted by qid (binary search), each with its recipients
 * sorted by index; that is plenty for the sizes unit tests use.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queue_backend.h"
#include "xmalloc.h"

struct ram_blob {
	unsigned char	*p;
	size_t		 len;
};

struct ram_rcpt {
	uint32_t	 idx;
	struct ram_blob	 rec;
};

struct ram_msg {
	char		 qid[QID_MAX];
	struct ram_blob	 rec;
	struct ram_rcpt	*rcpts;
	size_t		 nrcpt;
};

struct ram_store {
	struct ram_msg	*msgs;
	size_t		 nmsg;
};

/* ram_find - index of qid, or where it would be inserted (*found = 0) */
static size_t
ram_find(const struct ram_store *rs, const char *qid, int *found)
{
	size_t lo = 0, hi = rs->nmsg;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(rs->msgs[mid].qid, qid);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

/* ram_rcpt_find - like ram_find, over one message's recipients */
static size_t
ram_rcpt_find(const struct ram_msg *m, uint32_t idx, int *found)
{
	size_t lo = 0, hi = m->nrcpt;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->rcpts[mid].idx == idx) {
			*found = 1;
			return mid;
		}
		if (m->rcpts[mid].idx < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

/* ram_rcpt_insert - add or replace recipient r of m */
static void
ram_rcpt_insert(struct ram_msg *m, const struct queue_rcpt_rec *r)
{
	struct ram_rcpt *slot;
	size_t i;
	int found;

	i = ram_rcpt_find(m, r->idx, &found);
	if (!found) {
		m->rcpts = xreallocarray(m->rcpts, m->nrcpt + 1,
		    sizeof(*m->rcpts));
		memmove(&m->rcpts[i + 1], &m->rcpts[i],
		    (m->nrcpt - i) * sizeof(*m->rcpts));
		m->nrcpt++;
		m->rcpts[i].rec.p = NULL;
	}
	slot = &m->rcpts[i];
	free(slot->rec.p);
	slot->idx = r->idx;
	queue_rcpt_rec_encode(r, &slot->rec.p, &slot->rec.len);
}

static void
ram_msg_free(struct ram_msg *m)
{
	for (size_t i = 0; i < m->nrcpt; i++)
		free(m->rcpts[i].rec.p);
	free(m->rcpts);
	free(m->rec.p);
}

static void *
ram_open(const char *dir, char *err, size_t errsize)
{
	(void)dir;
	(void)err;
	(void)errsize;
	return xcalloc(1, sizeof(struct ram_store));
}

static void
ram_close(void *h)
{
	struct ram_store *rs = h;

	for (size_t i = 0; i < rs->nmsg; i++)
		ram_msg_free(&rs->msgs[i]);
	free(rs->msgs);
	free(rs);
}

/* ram_rcpts_unique - 1 when no two records share an index */
static int
ram_rcpts_unique(const struct queue_rcpt_rec *rcpts, size_t nrcpt)
{
	struct ram_msg tmp;
	int found, ok = 1;

	/* Build a scratch message: insertion finds duplicates for us. */
	memset(&tmp, 0, sizeof(tmp));
	for (size_t i = 0; i < nrcpt && ok; i++) {
		ram_rcpt_find(&tmp, rcpts[i].idx, &found);
		if (found)
			ok = 0;
		else
			ram_rcpt_insert(&tmp, &rcpts[i]);
	}
	ram_msg_free(&tmp);
	return ok;
}

static int
ram_message_add(void *h, const struct queue_msg_rec *msg,
    const struct queue_rcpt_rec *rcpts, size_t nrcpt)
{
	struct ram_store *rs = h;
	struct ram_msg *m;
	size_t i;
	int found;

	i = ram_find(rs, msg->qid, &found);
	if (found) {
		log_error("queue store: %s: message exists", msg->qid);
		errno = EEXIST;
		return -1;
	}
	if (!ram_rcpts_unique(rcpts, nrcpt)) {
		log_error("queue store: %s: duplicate recipient index",
		    msg->qid);
		errno = EINVAL;
		return -1;
	}
	rs->msgs = xreallocarray(rs->msgs, rs->nmsg + 1, sizeof(*rs->msgs));
	memmove(&rs->msgs[i + 1], &rs->msgs[i],
	    (rs->nmsg - i) * sizeof(*rs->msgs));
	rs->nmsg++;
	m = &rs->msgs[i];
	memset(m, 0, sizeof(*m));
	strlcpy(m->qid, msg->qid, sizeof(m->qid));
	queue_msg_rec_encode(msg, &m->rec.p, &m->rec.len);
	for (size_t j = 0; j < nrcpt; j++)
		ram_rcpt_insert(m, &rcpts[j]);
	return 0;
}

/* ram_lookup - the message qid, or NULL (logged) */
static struct ram_msg *
ram_lookup(struct ram_store *rs, const char *qid)
{
	size_t i;
	int found;

	i = ram_find(rs, qid, &found);
	if (!found) {
		log_error("queue store: %s: no such message", qid);
		errno = ENOENT;
		return NULL;
	}
	return &rs->msgs[i];
}

static int
ram_message_update(void *h, const struct queue_msg_rec *msg)
{
	struct ram_msg *m;

	if ((m = ram_lookup(h, msg->qid)) == NULL)
		return -1;
	free(m->rec.p);
	queue_msg_rec_encode(msg, &m->rec.p, &m->rec.len);
	return 0;
}

static int
ram_rcpt_update(void *h, const char *qid, const struct queue_rcpt_rec *rcpt)
{
	struct ram_msg *m;

	if ((m = ram_lookup(h, qid)) == NULL)
		return -1;
	ram_rcpt_insert(m, rcpt);
	return 0;
}

int queue_ram_remove_failures;

static int
ram_message_remove(void *h, const char *qid)
{
	struct ram_store *rs = h;
	size_t i;
	int found;

	if (queue_ram_remove_failures > 0) {
		queue_ram_remove_failures--;
		errno = EIO;
		return -1;
	}
	i = ram_find(rs, qid, &found);
	if (!found)
		return 0;
	ram_msg_free(&rs->msgs[i]);
	memmove(&rs->msgs[i], &rs->msgs[i + 1],
	    (rs->nmsg - i - 1) * sizeof(*rs->msgs));
	rs->nmsg--;
	return 0;
}

/* ram_decode - decode m into msg and a new array *rcpts (caller frees) */
static int
ram_decode(const struct ram_msg *m, struct queue_msg_rec *msg,
    struct queue_rcpt_rec **rcpts, size_t *nrcpt)
{
	struct queue_rcpt_rec *r = NULL;

	if (queue_msg_rec_decode(m->rec.p, m->rec.len, msg) < 0)
		goto bad;
	if (m->nrcpt > 0)
		r = xcalloc(m->nrcpt, sizeof(*r));
	for (size_t i = 0; i < m->nrcpt; i++)
		if (queue_rcpt_rec_decode(m->rcpts[i].rec.p,
		    m->rcpts[i].rec.len, &r[i]) < 0)
			goto bad;
	*rcpts = r;
	*nrcpt = m->nrcpt;
	return 0;
bad:
	free(r);
	log_error("queue store: %s: corrupt record", m->qid);
	return -1;
}

static int
ram_message_get(void *h, const char *qid, struct queue_msg_rec *msg,
    struct queue_rcpt_rec **rcpts, size_t *nrcpt)
{
	struct ram_store *rs = h;
	size_t i;
	int found;

	i = ram_find(rs, qid, &found);
	if (!found)
		return 0;
	return ram_decode(&rs->msgs[i], msg, rcpts, nrcpt) < 0 ? -1 : 1;
}

static int
ram_sync(void *h)
{
	(void)h;
	return 0;
}

static int
ram_broken(void *h)
{
	(void)h;
	return 0;
}

static int
ram_iterate(void *h, queue_store_iter_fn fn, void *arg)
{
	struct ram_store *rs = h;
	struct queue_msg_rec msg;
	struct queue_rcpt_rec *rcpts;
	size_t nrcpt;
	int stop;

	for (size_t i = 0; i < rs->nmsg; i++) {
		if (ram_decode(&rs->msgs[i], &msg, &rcpts, &nrcpt) < 0)
			return -1;
		stop = fn(&msg, rcpts, nrcpt, arg);
		free(rcpts);
		if (stop)
			break;
	}
	return 0;
}

const struct queue_backend queue_backend_ram = {
	.name = "ram",
	.open = ram_open,
	.close = ram_close,
	.message_add = ram_message_add,
	.message_update = ram_message_update,
	.rcpt_update = ram_rcpt_update,
	.message_remove = ram_message_remove,
	.message_get = ram_message_get,
	.sync = ram_sync,
	.iterate = ram_iterate,
	.broken = ram_broken,
};
