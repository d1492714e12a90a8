/*
 * scheduler - deciding what to deliver next, and recording what happened.
 *
 * Each message in the queue has one entry here with the index records of
 * its recipients.  A message waits in a binary min-heap keyed by the time
 * its earliest pending recipient is due.  When it is due, its recipients
 * are resolved through lookupd and handed to deliverd as one job; while
 * the job runs the message is out of the heap.  Every result is written
 * to the index before the message goes back to waiting; a message whose
 * recipients are all done leaves the index first and loses its file only
 * after that removal is durable (sched_after_sync), so a crash in between
 * leaves an orphan file, which the next start removes, never an index
 * record without its file.
 */
#include "config.h"

#include <sys/queue.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "log.h"
#include "msg.h"
#include "queued.h"
#include "scheduler.h"
#include "spool.h"
#include "xmalloc.h"

#define RESOLVE_TIMEOUT_MS	(30 * 1000)
#define MAX_TARGETS		1000

struct sched_msg {
	struct queue_msg_rec	 rec;
	struct queue_rcpt_rec	*rcpts;
	double			 commit_time;	/* 0 when unknown */
	uint32_t		 npending;
	uint64_t		 due;
	size_t			 heap_idx;	/* SIZE_MAX when not in the heap */
	int			 in_job;
};

struct job_entry {
	uint32_t	rcpt;		/* index into the message's rcpts */
	char		target[ADDR_TEXT_MAX];	/* mailbox user */
	int		have;		/* a result arrived */
	uint32_t	status;
	char		dsn[16];
	char		text[512];
};

struct sched_job {
	uint32_t		 id;
	struct sched_msg	*sm;
	double			 start;
	struct envelope		 env;
	uint32_t		 nentries;
	struct job_entry	*entries;
	LIST_ENTRY(sched_job)	 entry;
};

static struct sched_msg **heap;
static size_t heap_len, heap_cap;
static size_t nmessages;
static LIST_HEAD(, sched_job) jobs = LIST_HEAD_INITIALIZER(jobs);
static uint32_t njobs, next_job_id;
static char **unlink_list;
static size_t nunlink, unlink_cap;

static double
now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- the heap ---------------------------------------------------------- */

static void
heap_set(size_t i, struct sched_msg *sm)
{
	heap[i] = sm;
	sm->heap_idx = i;
}

static void
heap_up(size_t i)
{
	struct sched_msg *sm = heap[i];

	while (i > 0 && heap[(i - 1) / 2]->due > sm->due) {
		heap_set(i, heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(i, sm);
}

static void
heap_down(size_t i)
{
	struct sched_msg *sm = heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= heap_len)
			break;
		if (c + 1 < heap_len && heap[c + 1]->due < heap[c]->due)
			c++;
		if (heap[c]->due >= sm->due)
			break;
		heap_set(i, heap[c]);
		i = c;
	}
	heap_set(i, sm);
}

static void
heap_push(struct sched_msg *sm)
{
	if (heap_len == heap_cap) {
		heap_cap = heap_cap ? heap_cap * 2 : 1024;
		heap = xreallocarray(heap, heap_cap, sizeof(*heap));
	}
	heap_set(heap_len++, sm);
	heap_up(heap_len - 1);
}

static struct sched_msg *
heap_pop(void)
{
	struct sched_msg *top = heap[0];

	heap_len--;
	if (heap_len > 0) {
		heap_set(0, heap[heap_len]);
		heap_down(0);
	}
	top->heap_idx = SIZE_MAX;
	return top;
}

/* --- recording results --------------------------------------------------- */

/* sched_backoff - exponential backoff with +-12.5% jitter */
uint64_t
sched_backoff(uint32_t attempts, long min_backoff, long max_backoff,
    uint32_t random)
{
	uint64_t wait = (uint64_t)(min_backoff > 0 ? min_backoff : 1);
	uint64_t jitter;

	for (uint32_t i = 1; i < attempts && wait < (uint64_t)max_backoff; i++)
		wait *= 2;
	if (wait > (uint64_t)max_backoff)
		wait = (uint64_t)max_backoff;
	/* Jitter spreads a burst of deferred mail over time, so that it does
	 * not all come back in the same second. */
	jitter = wait / 4;
	if (jitter > 0)
		wait = wait - jitter / 2 + random % (jitter + 1);
	return wait > 0 ? wait : 1;
}

/* Postfix-style delay: two significant digits below 10 s, whole seconds
 * above, "0" for nothing measurable. */
static const char *
fmt_delay(char *buf, size_t size, double v)
{
	if (v < 0.005)
		strlcpy(buf, "0", size);
	else if (v < 10)
		snprintf(buf, size, "%.2g", v);
	else
		snprintf(buf, size, "%.0f", v);
	return buf;
}

static void
sched_log(struct sched_msg *sm, const char *to, const char *orig_to,
    const struct sched_job *job, const char *dsn, const char *status,
    const char *text)
{
	double now = now_real(), arrival = (double)sm->rec.arrival;
	double commit = sm->commit_time > 0 ? sm->commit_time : arrival;
	double start = job ? job->start : now;
	double a = commit - arrival, b = start - commit, d = now - start;

	if (a < 0)
		a = 0;
	if (b < 0)
		b = 0;
	if (d < 0)
		d = 0;
	char t[4][32];

	log_info("%s: to=<%s>%s%s%s, relay=%s, delay=%s, delays=%s/%s/0/%s,"
	    " dsn=%s, status=%s (%s)", sm->rec.qid, to, orig_to ? ", orig_to=<" :
	    "", orig_to ? orig_to : "", orig_to ? ">" : "",
	    job ? "local" : "none", fmt_delay(t[0], sizeof(t[0]), now - arrival),
	    fmt_delay(t[1], sizeof(t[1]), a), fmt_delay(t[2], sizeof(t[2]), b),
	    fmt_delay(t[3], sizeof(t[3]), d), dsn, status, text);
}

static void
sched_rcpt_store(struct sched_msg *sm, struct queue_rcpt_rec *r)
{
	if (queue_store_rcpt_update(qctx.store, sm->rec.qid, r) < 0)
		fatalx("%s: cannot update the queue index", sm->rec.qid);
	qctx.store_dirty = 1;
}

static void
sched_rcpt_result(struct sched_msg *sm, uint32_t i, uint32_t status,
    const char *dsn, const char *text)
{
	struct queue_rcpt_rec *r = &sm->rcpts[i];
	uint64_t now = queued_now();

	r->attempts++;
	r->last_try = now;
	strlcpy(r->dsn, dsn, sizeof(r->dsn));
	strlcpy(r->last_error, text, sizeof(r->last_error));
	if (status == DELIVER_OK || status == DELIVER_PERMFAIL) {
		r->state = status == DELIVER_OK ? RCPT_DELIVERED : RCPT_FAILED;
		sm->npending--;
	} else {
		r->next_try = now + sched_backoff(r->attempts,
		    qctx.set->minimal_backoff_time,
		    qctx.set->maximal_backoff_time, arc4random());
	}
	sched_rcpt_store(sm, r);
}

static const char *
status_word(uint32_t status)
{
	return status == DELIVER_OK ? "sent" :
	    status == DELIVER_PERMFAIL ? "bounced" : "deferred";
}

/* A result decided without deliverd (lookup failure, unknown user...). */
static void
sched_rcpt_direct(struct sched_msg *sm, const struct envelope *env,
    uint32_t i, uint32_t status, const char *dsn, const char *text)
{
	sched_log(sm, env->rcpts[i].addr, NULL, NULL, dsn, status_word(status),
	    text);
	sched_rcpt_result(sm, i, status, dsn, text);
}

/* After a job or a dispatch: wait again, or leave the queue when done. */
static void
sched_settle(struct sched_msg *sm)
{
	uint64_t due = UINT64_MAX;

	if (sm->npending > 0) {
		for (uint32_t i = 0; i < sm->rec.nrcpt; i++)
			if (sm->rcpts[i].state == RCPT_PENDING &&
			    sm->rcpts[i].next_try < due)
				due = sm->rcpts[i].next_try;
		sm->due = due;
		heap_push(sm);
		return;
	}
	if (queue_store_message_remove(qctx.store, sm->rec.qid) < 0)
		fatalx("%s: cannot remove from the queue index", sm->rec.qid);
	qctx.store_dirty = 1;
	if (nunlink == unlink_cap) {
		unlink_cap = unlink_cap ? unlink_cap * 2 : 64;
		unlink_list = xreallocarray(unlink_list, unlink_cap,
		    sizeof(*unlink_list));
	}
	unlink_list[nunlink++] = xstrdup(sm->rec.qid);
	free(sm->rcpts);
	free(sm);
	nmessages--;
}

/* sched_after_sync - remove files whose index removal is now durable */
void
sched_after_sync(void)
{
	char path[4096];

	for (size_t i = 0; i < nunlink; i++) {
		if (spool_msg_path(qctx.spool, unlink_list[i], path,
		    sizeof(path)) == 0 && unlink(path) < 0 && errno != ENOENT)
			log_warn("%s: unlink %s: %s", unlink_list[i], path,
			    strerror(errno));
		else
			log_info("%s: removed", unlink_list[i]);
		free(unlink_list[i]);
	}
	nunlink = 0;
}

/* sched_add - a message enters the schedule */
void
sched_add(const struct queue_msg_rec *msg, const struct queue_rcpt_rec *rcpts,
    size_t nrcpt, double commit_time)
{
	struct sched_msg *sm = xcalloc(1, sizeof(*sm));

	sm->rec = *msg;
	sm->rec.nrcpt = (uint32_t)nrcpt;
	sm->rcpts = xcalloc(nrcpt, sizeof(*sm->rcpts));
	memcpy(sm->rcpts, rcpts, nrcpt * sizeof(*rcpts));
	sm->commit_time = commit_time;
	for (size_t i = 0; i < nrcpt; i++)
		if (rcpts[i].state == RCPT_PENDING)
			sm->npending++;
	sm->heap_idx = SIZE_MAX;
	nmessages++;
	sched_settle(sm);
}

/* sched_jobs - jobs in flight */
uint32_t
sched_jobs(void)
{
	return njobs;
}

/* sched_count - messages known to the scheduler */
size_t
sched_count(void)
{
	return nmessages;
}

/* --- dispatching ------------------------------------------------------- */

/*
 * Ask lookupd where a recipient's mail goes.  Returns the verdict and
 * fills targets (local mailbox users); sets *remote when any target is
 * not local.
 */
static uint32_t
sched_resolve(const char *addr, struct job_entry **entries, uint32_t *n,
    uint32_t rcpt, int *remote)
{
	static uint32_t reqid;
	struct ipc_msg req, resp;
	uint32_t verdict, count, kind, id = ++reqid;
	char target[ADDR_TEXT_MAX];

	*remote = 0;
	ipc_msg_init(&req, MSG_LOOKUP_RESOLVE, id);
	ipc_put_str(&req, addr);
	if (ipc_call(&qctx.lookupd->conn, &req, &resp, RESOLVE_TIMEOUT_MS) < 0) {
		log_warn("lookupd did not answer: %s", strerror(errno));
		qctx.lookupd->dead = 1;
		return LOOKUP_TEMPFAIL;
	}
	if (resp.type != MSG_LOOKUPD_RESOLVED || resp.id != id ||
	    ipc_get_u32(&resp, &verdict) < 0 || ipc_get_u32(&resp, &count) < 0 ||
	    count > MAX_TARGETS) {
		ipc_msg_free(&resp);
		log_warn("malformed answer from lookupd");
		qctx.lookupd->dead = 1;
		return LOOKUP_TEMPFAIL;
	}
	for (uint32_t i = 0; i < count; i++) {
		if (ipc_get_u32(&resp, &kind) < 0 ||
		    ipc_get_str(&resp, target, sizeof(target)) < 0)
			break;
		if (kind != RESOLVE_LOCAL) {
			*remote = 1;
			continue;
		}
		*entries = xreallocarray(*entries, *n + 1, sizeof(**entries));
		memset(&(*entries)[*n], 0, sizeof(**entries));
		(*entries)[*n].rcpt = rcpt;
		strlcpy((*entries)[*n].target, target, sizeof((*entries)[0].target));
		(*n)++;
	}
	if (ipc_get_end(&resp) < 0) {
		ipc_msg_free(&resp);
		qctx.lookupd->dead = 1;
		return LOOKUP_TEMPFAIL;
	}
	ipc_msg_free(&resp);
	return verdict;
}

static void
sched_job_free(struct sched_job *job)
{
	envelope_free(&job->env);
	free(job->entries);
	free(job);
}

/* Resolve the due recipients of sm and start a job for the local ones. */
static void
sched_dispatch(struct sched_msg *sm)
{
	struct sched_job *job = xcalloc(1, sizeof(*job));
	uint64_t now = queued_now();
	char path[4096], err[256];
	off_t body;
	int fd;

	if (spool_msg_path(qctx.spool, sm->rec.qid, path,
	    sizeof(path)) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		log_error("%s: cannot open queue file: %s", sm->rec.qid,
		    strerror(errno));
		free(job);
		sm->due = now + (uint64_t)qctx.set->maximal_backoff_time;
		heap_push(sm);
		return;
	}
	if (envelope_read(fd, &job->env, &body, err, sizeof(err)) < 0 ||
	    job->env.nrcpt != sm->rec.nrcpt) {
		log_error("%s: corrupt queue file: %s", sm->rec.qid, err);
		close(fd);
		free(job);
		sm->due = now + (uint64_t)qctx.set->maximal_backoff_time;
		heap_push(sm);
		return;
	}
	for (uint32_t i = 0; i < sm->rec.nrcpt; i++) {
		struct queue_rcpt_rec *r = &sm->rcpts[i];
		uint32_t before = job->nentries, verdict;
		int remote;

		if (r->state != RCPT_PENDING || r->next_try > now)
			continue;
		verdict = sched_resolve(job->env.rcpts[i].addr, &job->entries,
		    &job->nentries, i, &remote);
		if (verdict == LOOKUP_UNKNOWN) {
			sched_rcpt_direct(sm, &job->env, i, DELIVER_PERMFAIL,
			    "5.1.1", "user unknown");
		} else if (verdict == LOOKUP_TEMPFAIL) {
			job->nentries = before;
			sched_rcpt_direct(sm, &job->env, i, DELIVER_TEMPFAIL,
			    "4.3.0", "temporary lookup failure");
		} else if (verdict == LOOKUP_REMOTE || remote ||
		    job->nentries == before) {
			/* Until the smtp transport exists, mail for other
			 * domains waits in the queue instead of being lost.
			 * The whole recipient waits, so an alias with local and
			 * remote members is not delivered locally twice. */
			job->nentries = before;
			sched_rcpt_direct(sm, &job->env, i, DELIVER_TEMPFAIL,
			    "4.4.0", "delivery to other domains is not "
			    "available yet");
		}
	}
	if (job->nentries == 0) {
		close(fd);
		sched_job_free(job);
		sched_settle(sm);
		return;
	}

	struct ipc_msg m;

	job->id = ++next_job_id;
	job->sm = sm;
	job->start = now_real();
	ipc_msg_init(&m, MSG_QUEUED_DELIVER_LOCAL, job->id);
	ipc_put_u32(&m, job->id);
	ipc_put_str(&m, sm->rec.qid);
	ipc_put_str(&m, job->env.sender);
	ipc_put_u64(&m, job->env.arrival);
	ipc_put_u64(&m, (uint64_t)body);
	ipc_put_u32(&m, job->nentries);
	for (uint32_t j = 0; j < job->nentries; j++) {
		ipc_put_u32(&m, j);
		ipc_put_str(&m, job->env.rcpts[job->entries[j].rcpt].addr);
		ipc_put_str(&m, job->entries[j].target);
	}
	m.fd = fd;
	queued_peer_send(qctx.deliverd, &m);
	sm->in_job = 1;
	LIST_INSERT_HEAD(&jobs, job, entry);
	njobs++;
}

/* sched_run - start every job that is due and fits the limits */
void
sched_run(void)
{
	uint64_t now = queued_now();

	while (heap_len > 0 && heap[0]->due <= now &&
	    qctx.deliverd != NULL && !qctx.deliverd->dead &&
	    qctx.lookupd != NULL && !qctx.lookupd->dead &&
	    njobs < (uint32_t)qctx.set->local_delivery_limit * 2)
		sched_dispatch(heap_pop());
}

/* sched_timeout_ms - how long the main loop may sleep */
int
sched_timeout_ms(void)
{
	uint64_t now = queued_now();

	if (heap_len == 0)
		return 60 * 1000;
	if (heap[0]->due > now)
		return (int)((heap[0]->due - now) * 1000 > 60000 ? 60000 :
		    (heap[0]->due - now) * 1000);
	/* Due, but blocked on a peer or the job limit: look again soon. */
	return 1000;
}

/* sched_flush - every waiting recipient is due now */
void
sched_flush(void)
{
	uint64_t now = queued_now();

	for (size_t i = 0; i < heap_len; i++) {
		struct sched_msg *sm = heap[i];

		for (uint32_t j = 0; j < sm->rec.nrcpt; j++)
			if (sm->rcpts[j].state == RCPT_PENDING)
				sm->rcpts[j].next_try = now;
		sm->due = now;
	}
	log_info("flush: %zu messages due now", heap_len);
}

static struct sched_job *
sched_job_find(uint32_t id)
{
	struct sched_job *job;

	LIST_FOREACH(job, &jobs, entry)
		if (job->id == id)
			return job;
	return NULL;
}

/* Aggregate a finished job per recipient, record, and settle. */
static void
sched_job_done(struct sched_job *job)
{
	struct sched_msg *sm = job->sm;

	for (uint32_t i = 0; i < sm->rec.nrcpt; i++) {
		uint32_t status = DELIVER_OK, seen = 0;
		const char *dsn = "2.0.0", *text = "delivered";

		for (uint32_t j = 0; j < job->nentries; j++) {
			struct job_entry *e = &job->entries[j];

			if (e->rcpt != i)
				continue;
			seen = 1;
			if (!e->have) {
				status = DELIVER_TEMPFAIL;
				dsn = "4.3.0";
				text = "delivery agent did not report a result";
			} else if (e->status == DELIVER_TEMPFAIL ||
			    (e->status == DELIVER_PERMFAIL &&
			    status == DELIVER_OK)) {
				status = e->status;
				dsn = e->dsn;
				text = e->text;
			}
		}
		if (seen)
			sched_rcpt_result(sm, i, status, dsn, text);
	}
	LIST_REMOVE(job, entry);
	njobs--;
	sm->in_job = 0;
	sched_job_free(job);
	sched_settle(sm);
}

/* sched_deliverd_input - results from deliverd; -1 when malformed */
int
sched_deliverd_input(struct ipc_msg *m)
{
	uint32_t jobid, idx, status;
	char dsn[16], text[512];
	struct sched_job *job;

	if (ipc_get_u32(m, &jobid) < 0)
		return -1;
	if ((job = sched_job_find(jobid)) == NULL) {
		log_warn("deliverd reports on unknown job %u", jobid);
		return -1;
	}
	if (m->type == MSG_DELIVERD_JOB_DONE) {
		if (ipc_get_end(m) < 0)
			return -1;
		sched_job_done(job);
		return 0;
	}
	if (m->type != MSG_DELIVERD_RESULT || ipc_get_u32(m, &idx) < 0 ||
	    ipc_get_u32(m, &status) < 0 || ipc_get_str(m, dsn, sizeof(dsn)) < 0 ||
	    ipc_get_str(m, text, sizeof(text)) < 0 || ipc_get_end(m) < 0 ||
	    idx >= job->nentries || status > DELIVER_PERMFAIL)
		return -1;

	struct job_entry *e = &job->entries[idx];
	const char *rcpt = job->env.rcpts[e->rcpt].addr;
	char to[ADDR_TEXT_MAX + 2];
	const char *at = strrchr(rcpt, '@');
	int aliased = strncasecmp(rcpt, e->target, strlen(e->target)) != 0 ||
	    (at != NULL && (size_t)(at - rcpt) != strlen(e->target)) ||
	    (at == NULL && strlen(rcpt) != strlen(e->target));

	e->have = 1;
	e->status = status;
	strlcpy(e->dsn, dsn, sizeof(e->dsn));
	strlcpy(e->text, text, sizeof(e->text));
	if (aliased)
		snprintf(to, sizeof(to), "%s@%s", e->target,
		    qctx.set->myhostname);
	sched_log(job->sm, aliased ? to : rcpt, aliased ? rcpt : NULL, job,
	    dsn, status_word(status), text);
	return 0;
}

/* sched_deliverd_gone - the jobs in flight will not report: retry soon */
void
sched_deliverd_gone(void)
{
	struct sched_job *job;

	while ((job = LIST_FIRST(&jobs)) != NULL)
		sched_job_done(job);	/* unreported entries defer */
}
