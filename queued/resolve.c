/*
 * resolve - asking lookupd where recipients' mail goes, without waiting.
 *
 * Called by the scheduler (requests, expiry, a departed lookupd) and by
 * queued's loop (answers).  Outstanding requests live in a fixed table of
 * RESOLVE_MAX_OUTSTANDING slots, so a flood of due mail can never pin
 * more memory or lookupd work than that.
 *
 * It must never block, and never pair an answer with a request other than
 * the one it answers: request ids are never reused while outstanding, and
 * an answer is taken only from the channel its request went out on.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "msg.h"
#include "msg_codec.h"
#include "resolve.h"
#include "xmalloc.h"

struct resolve_req {
	uint32_t		 id;		/* 0: the slot is free */
	const struct ipc_conn	*chan;
	resolve_done_fn		*done;
	void			*owner;
	uint32_t		 tag;
	uint64_t		 deadline;	/* ms, the caller's clock */
};

static struct resolve_req reqs[RESOLVE_MAX_OUTSTANDING];
static uint32_t noutstanding, last_id;
static int stuck;

/* A fresh request id: never 0, never one still outstanding. */
static uint32_t
resolve_new_id(void)
{
	for (;;) {
		int used = 0;

		if (++last_id == 0)
			last_id = 1;
		for (size_t i = 0; i < RESOLVE_MAX_OUTSTANDING; i++)
			if (reqs[i].id == last_id)
				used = 1;
		if (!used)
			return last_id;
	}
}

/* resolve_ask - send a request for addr on c; -1 when the table is full */
int
resolve_ask(struct ipc_conn *c, const char *addr, resolve_done_fn *done,
    void *owner, uint32_t tag, uint64_t now_ms)
{
	struct resolve_req *rq = NULL;
	struct msg_address a = { addr };
	struct ipc_msg m;

	for (size_t i = 0; i < RESOLVE_MAX_OUTSTANDING && rq == NULL; i++)
		if (reqs[i].id == 0)
			rq = &reqs[i];
	if (rq == NULL)
		return -1;
	/* The scheduler's addresses fit their buffers, which the limit
	 * allows (scheduler.c): one that does not is a bug. */
	if (msg_encode(&m, MSG_LOOKUP_RESOLVE, 0, &a) != 0)
		fatalx("cannot ask lookupd about an address of %zu octets",
		    strlen(addr));
	rq->id = resolve_new_id();
	m.id = rq->id;
	rq->chan = c;
	rq->done = done;
	rq->owner = owner;
	rq->tag = tag;
	rq->deadline = now_ms + RESOLVE_TIMEOUT_MS;
	noutstanding++;
	ipc_conn_queue(c, &m);
	return 0;
}

/* Free slot rq and report verdict to its owner (who takes t). */
static void
resolve_finish(struct resolve_req *rq, uint32_t verdict, struct resolved *t,
    uint32_t n)
{
	resolve_done_fn *done = rq->done;
	void *owner = rq->owner;
	uint32_t tag = rq->tag;

	/* The slot is free before the owner hears: it may ask again. */
	memset(rq, 0, sizeof(*rq));
	noutstanding--;
	done(owner, tag, verdict, t, n);
}

/*
 * Decode an answer; the targets in *out (caller frees).  -1 with *why
 * when it does not decode.
 */
static int
resolve_parse(struct ipc_msg *m, uint32_t *verdict, struct resolved **out,
    uint32_t *n, const char **why)
{
	struct msg_resolved r;

	*out = NULL;
	*n = 0;
	if (msg_decode(m, MSG_LOOKUPD_RESOLVED, &r, why) != 0)
		return -1;
	*verdict = r.verdict;
	if (r.n > 0)
		*out = xcalloc(r.n, sizeof(**out));
	for (uint32_t i = 0; i < r.n; i++) {
		(*out)[i].kind = r.t[i].kind;
		strlcpy((*out)[i].target, r.t[i].target,
		    sizeof((*out)[i].target));
	}
	*n = r.n;
	msg_free(MSG_LOOKUPD_RESOLVED, &r);
	return 0;
}

/* resolve_req_find - the outstanding request m answers on c, or NULL */
static struct resolve_req *
resolve_req_find(const struct ipc_conn *c, const struct ipc_msg *m)
{
	for (size_t i = 0; i < RESOLVE_MAX_OUTSTANDING; i++)
		if (reqs[i].id != 0 && reqs[i].id == m->id &&
		    reqs[i].chan == c)
			return &reqs[i];
	return NULL;
}

/* resolve_answer - hand an answer to its request; -1 when rejected */
int
resolve_answer(const struct ipc_conn *c, struct ipc_msg *m)
{
	struct resolve_req *rq;
	struct resolved *t;
	uint32_t verdict, n;
	const char *why;

	/* Any answer, even a late or a bad one, shows that lookupd works. */
	stuck = 0;
	if (resolve_parse(m, &verdict, &t, &n, &why) < 0) {
		msg_log_reject("lookupd", m, why);
		/* Its request fails now, as a lookup that failed. */
		if ((rq = resolve_req_find(c, m)) != NULL)
			resolve_finish(rq, LOOKUP_TEMPFAIL, NULL, 0);
		return -1;
	}
	if ((rq = resolve_req_find(c, m)) != NULL) {
		resolve_finish(rq, verdict, t, n);
		return 0;
	}
	log_debug("dropped a late answer from lookupd (request %u)", m->id);
	free(t);
	return 0;
}

/* resolve_expire - fail the requests overdue at now_ms; how many */
uint32_t
resolve_expire(uint64_t now_ms)
{
	uint32_t failed = 0;

	for (size_t i = 0; i < RESOLVE_MAX_OUTSTANDING; i++)
		if (reqs[i].id != 0 && reqs[i].deadline <= now_ms) {
			resolve_finish(&reqs[i], LOOKUP_TEMPFAIL, NULL, 0);
			failed++;
		}
	if (failed > 0) {
		/* Until lookupd answers again (its late answers will do), no
		 * new request goes out: each would only wait for its own
		 * timeout, and the mail is better off waiting in the queue. */
		stuck = 1;
		log_warn("lookupd did not answer: %s (%u requests)",
		    strerror(ETIMEDOUT), failed);
	}
	return failed;
}

/* resolve_chan_gone - channel c closed: fail every request sent on it */
void
resolve_chan_gone(const struct ipc_conn *c)
{
	for (size_t i = 0; i < RESOLVE_MAX_OUTSTANDING; i++)
		if (reqs[i].id != 0 && reqs[i].chan == c)
			resolve_finish(&reqs[i], LOOKUP_TEMPFAIL, NULL, 0);
	/* The next channel is to a new lookupd. */
	stuck = 0;
}

/* resolve_room - how many requests may be sent now (0 while stuck) */
uint32_t
resolve_room(void)
{
	return stuck ? 0 : RESOLVE_MAX_OUTSTANDING - noutstanding;
}

/* resolve_outstanding - requests waiting for an answer */
uint32_t
resolve_outstanding(void)
{
	return noutstanding;
}

/* resolve_timeout_ms - time until the next request is overdue, -1 none */
int
resolve_timeout_ms(uint64_t now_ms)
{
	uint64_t first = UINT64_MAX;

	for (size_t i = 0; i < RESOLVE_MAX_OUTSTANDING; i++)
		if (reqs[i].id != 0 && reqs[i].deadline < first)
			first = reqs[i].deadline;
	if (first == UINT64_MAX)
		return -1;
	return first <= now_ms ? 0 : (int)(first - now_ms);
}
