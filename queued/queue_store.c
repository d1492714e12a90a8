/*
 * queue_store - the queue-store interface: picks a backend by name and
 * forwards each call through its ops table (queue_backend.h).
 *
 * queued is the only caller.  Checks that every backend would otherwise
 * repeat live here: qid arguments are validated, and no change may be made
 * from inside queue_store_iterate()'s callback (a Berkeley DB cursor holds
 * page locks that a write from the same process would wait on forever).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queue_backend.h"
#include "queue_store.h"
#include "xmalloc.h"

struct queue_store {
	const struct queue_backend	*be;
	void				*h;
	int				 iterating;
};

static const struct queue_backend *const queue_backends[] = {
	&queue_backend_bdb,
	&queue_backend_ram,
};

/* queue_store_open - open the named backend; NULL with a reason in err */
struct queue_store *
queue_store_open(const char *backend, const char *dir, char *err,
    size_t errsize)
{
	struct queue_store *qs;
	const struct queue_backend *be = NULL;
	void *h;

	for (size_t i = 0; i < sizeof(queue_backends) /
	    sizeof(queue_backends[0]); i++)
		if (strcmp(queue_backends[i]->name, backend) == 0)
			be = queue_backends[i];
	if (be == NULL) {
		snprintf(err, errsize, "unknown queue backend \"%s\"", backend);
		return NULL;
	}
	if ((h = be->open(dir, err, errsize)) == NULL)
		return NULL;
	qs = xcalloc(1, sizeof(*qs));
	qs->be = be;
	qs->h = h;
	return qs;
}

/* queue_store_close - close the backend and free qs (NULL is a no-op) */
void
queue_store_close(struct queue_store *qs)
{
	if (qs == NULL)
		return;
	qs->be->close(qs->h);
	free(qs);
}

/* queue_store_qid_ok - 1 when qid can be a key: non-empty, fits QID_MAX */
static int
queue_store_qid_ok(const char *qid)
{
	size_t len = strnlen(qid, QID_MAX);

	if (len == 0 || len == QID_MAX) {
		log_error("queue store: invalid queue ID");
		errno = EINVAL;
		return 0;
	}
	return 1;
}

/* queue_store_writable - 1 unless called from an iterate callback */
static int
queue_store_writable(const struct queue_store *qs)
{
	if (qs->iterating) {
		log_error("queue store: change attempted during iteration");
		errno = EBUSY;
		return 0;
	}
	return 1;
}

/* queue_store_message_add - message and recipients in one transaction */
int
queue_store_message_add(struct queue_store *qs,
    const struct queue_msg_rec *msg, const struct queue_rcpt_rec *rcpts,
    size_t nrcpt)
{
	if (!queue_store_writable(qs) || !queue_store_qid_ok(msg->qid))
		return -1;
	return qs->be->message_add(qs->h, msg, rcpts, nrcpt);
}

/* queue_store_message_update - rewrite an existing message record */
int
queue_store_message_update(struct queue_store *qs,
    const struct queue_msg_rec *msg)
{
	if (!queue_store_writable(qs) || !queue_store_qid_ok(msg->qid))
		return -1;
	return qs->be->message_update(qs->h, msg);
}

/* queue_store_rcpt_update - write one recipient of an existing message */
int
queue_store_rcpt_update(struct queue_store *qs, const char *qid,
    const struct queue_rcpt_rec *rcpt)
{
	if (!queue_store_writable(qs) || !queue_store_qid_ok(qid))
		return -1;
	return qs->be->rcpt_update(qs->h, qid, rcpt);
}

/* queue_store_message_remove - delete a message and its recipients */
int
queue_store_message_remove(struct queue_store *qs, const char *qid)
{
	if (!queue_store_writable(qs) || !queue_store_qid_ok(qid))
		return -1;
	return qs->be->message_remove(qs->h, qid);
}

/* queue_store_message_get - one message; *rcpts is the caller's to free */
int
queue_store_message_get(struct queue_store *qs, const char *qid,
    struct queue_msg_rec *msg, struct queue_rcpt_rec **rcpts, size_t *nrcpt)
{
	*rcpts = NULL;
	*nrcpt = 0;
	if (!queue_store_qid_ok(qid))
		return -1;
	return qs->be->message_get(qs->h, qid, msg, rcpts, nrcpt);
}

/* queue_store_sync - make every change so far durable */
int
queue_store_sync(struct queue_store *qs)
{
	return qs->be->sync(qs->h);
}

/* queue_store_broken - 1 when the store needs queued to restart */
int
queue_store_broken(struct queue_store *qs)
{
	return qs->be->broken(qs->h);
}

/* queue_store_iterate - every message in qid order; fn must not change qs */
int
queue_store_iterate(struct queue_store *qs, queue_store_iter_fn fn,
    void *arg)
{
	int rv;

	if (qs->iterating) {
		log_error("queue store: nested iteration");
		return -1;
	}
	qs->iterating = 1;
	rv = qs->be->iterate(qs->h, fn, arg);
	qs->iterating = 0;
	return rv;
}
