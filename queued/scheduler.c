/*
 * scheduler - deciding what to deliver next, and recording what happened.
 *
 * Each message in the queue has one entry here with the index records of
 * its recipients.  A message waits in a binary min-heap keyed by the time
 * its earliest pending recipient is due.  When it is due, its recipients
 * are resolved through lookupd (resolve.c) without waiting: the message
 * is parked, out of the heap, until the last answer of its round has
 * arrived or failed (a silent lookupd defers mail, it never stalls
 * queued).  Then local ones go to the local deliverd as one job (or, when
 * mailbox_transport names an LMTP server, into jobs for the lmtp
 * deliverd, which speaks the smtp deliverd's protocol and waits in a
 * destination of its own named by that setting); remote
 * ones are grouped by next hop into smtp jobs (at most
 * smtp_destination_recipient_limit recipients each) that start when their
 * destination's concurrency window has room (destination.c).  An alias
 * with several targets, or with a remote one, becomes real recipients in
 * the index, each tracked and retried on its own.  While any job of a
 * message runs or waits, the message is out of the heap.
 *
 * Every result is written to the index before the message goes back to
 * waiting.  A permanent failure (or an expiry) is stored only after the
 * notice to the sender is durably queued (notice.c), so a crash can send a
 * bounce twice but never lose one.  A message whose recipients are all
 * done loses its file only after the records saying so are durable, and
 * its index record only after the file is gone (sched_after_sync), so a
 * crash in between leaves the record of a finished message, which the
 * next start removes, never a complete file without a record, which
 * recovery would have to deliver again.
 *
 * A record that cannot be written (a full disk) does not stop queued:
 * the schedule in memory is right, and the index merely older.  The
 * message is marked unsaved and all its records are written again, in a
 * safe order, once the disk allows (sched_msg_save); until then a crash
 * costs at most a second delivery or a second bounce, because the index
 * only ever lags behind.  What must not happen is the one thing a lagging
 * index makes dangerous: a finished message losing its file while the
 * index still calls it pending.  So an unsaved message is never finished
 * (sched_settle) until its records are written.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "destination.h"
#include "envelope.h"
#include "file_pool.h"
#include "lmtp_target.h"
#include "log.h"
#include "msgfile.h"
#include "msg.h"
#include "msg_codec.h"
#include "notice.h"
#include "queue_stats.h"
#include "queued.h"
#include "resolve.h"
#include "scheduler.h"
#include "spool.h"
#include "virtual_path.h"
#include "xmalloc.h"

/* Recipients one dispatch round takes; a job carries at most its
 * message's limit (MSG_LOCAL_RCPTS_MAX, MSG_SMTP_RCPTS_MAX). */
#define DISPATCH_MAX_RCPTS	500
#define SMTP_JOBS_MAX		200	/* smtp jobs in flight, all sites */

/* Envelope addresses go to lookupd whole. */
_Static_assert(sizeof(((struct envelope_rcpt *)0)->addr) <= MSG_ADDR_MAX + 1,
    "an envelope address may not fit MSG_LOOKUP_RESOLVE");
/* mailbox_transport goes to the lmtp deliverd as a job's next hop. */
_Static_assert(LMTP_TARGET_MAX <= MSG_NEXTHOP_MAX,
    "mailbox_transport may not fit MSG_QUEUED_DELIVER_SMTP");
/* What a result says is kept whole; the index keeps as much of it. */
_Static_assert(sizeof(((struct queue_rcpt_rec *)0)->last_error) >
    MSG_TEXT_MAX, "a result's text does not fit the index");

/*
 * One recipient of a job.  Its texts are kept texts (sched_text_set):
 * owned, or the shared empty text, so that a message waiting for its
 * destination holds a few dozen octets per recipient, not kilobytes.
 */
struct job_entry {
	uint32_t	rcpt;		/* index into the message's recipients */
	uint32_t	kind;		/* enum resolve_kind */
	char		*target;	/* mailbox user, or address */
	int		have;		/* a result arrived */
	/* a .forward address of this user that leads back to a recipient
	 * that sent the mail here, or "": a "forwarded" result becomes a
	 * 5.4.6 bounce (sched_forward) */
	char		*loop;
	uint32_t	status;
	uint32_t	flags;		/* DELIVERD_F_* */
	char		dsn[MSG_DSN_MAX + 1];
	char		*text;		/* the result's, "" until it arrives */
	char		*relay;
};

struct sched_job {
	uint32_t		 id;
	int			 smtp;		/* the smtp protocol: smtp and
						   lmtp jobs */
	int			 lmtp;		/* for the lmtp deliverd; the
						   entries' targets are users */
	struct sched_msg	*sm;
	struct dest		*dest;		/* smtp jobs */
	struct queued_peer	*peer;		/* the agent it went to */
	double			 start;
	uint32_t		 nentries;
	struct job_entry	*entries;
	/* an owner- alias's address instead of the message's sender, or
	 * NULL; owned */
	char			*sender;
	/* smtp jobs: the local address that forwarded every recipient, or
	 * "": the copy's "Delivered-To:", one per copy, so one per job (a
	 * kept text) */
	char			*delivered_to;
	LIST_ENTRY(sched_job)	 entry;		/* in flight */
	TAILQ_ENTRY(sched_job)	 wentry;	/* waiting for its dest, or
						   local: for room */
};

/* One recipient of a round that needed lookupd, and its answer. */
struct sched_lookup {
	uint32_t		 rcpt;
	int			 have;		/* the answer arrived */
	uint32_t		 verdict;	/* enum lookup_verdict */
	uint32_t		 n;
	struct resolved		*t;		/* n targets, owned */
};

static struct sched_msg **heap;
static size_t heap_len, heap_cap;
static size_t nmessages;
static TAILQ_HEAD(, sched_msg) all_msgs = TAILQ_HEAD_INITIALIZER(all_msgs);
/* Messages whose lookups are all answered, to be dispatched by sched_run. */
static TAILQ_HEAD(, sched_msg) ready = TAILQ_HEAD_INITIALIZER(ready);
static uint32_t nparked;	/* messages resolving or ready */
static uint32_t nloaded;	/* messages with their envelope in memory
				   (queue_active_limit) */
static LIST_HEAD(, sched_job) jobs = LIST_HEAD_INITIALIZER(jobs);
static uint32_t nlocal, nsmtp, next_job_id;
/* Local jobs waiting for room under what queued hands the local transport
 * at once (sched_local_kick), oldest first. */
static TAILQ_HEAD(, sched_job) local_waiting =
    TAILQ_HEAD_INITIALIZER(local_waiting);
static uint32_t nlocal_waiting;
/* Finished messages whose file and records go after this turn's sync. */
struct finished_msg {
	char	*qid;
	int	 reuse;		/* its file may be reused (file_pool.h) */
	int	 file_gone;	/* the file step is done: only the record
				   is left to remove */
};
static struct finished_msg *unlink_list;
static size_t nunlink, unlink_cap;
/* Messages whose records the index lacks (a write failed), and when to
 * try writing them again: the delay doubles while the writes fail, so a
 * disk that stays full is neither hammered nor the log flooded. */
#define SAVE_DELAY_MAX	10	/* seconds */
static size_t nunsaved;
static uint64_t save_next, save_delay;

struct queue_stats qstats;

static void sched_job_done(struct sched_job *, int);
static void sched_dest_kick(struct dest *);
static void sched_local_kick(void);
static void sched_msg_finish(struct sched_msg *, int);

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

/* heap_fix - restore the order after heap[i]'s due time changed */
static void
heap_fix(size_t i)
{
	struct sched_msg *sm = heap[i];

	heap_up(i);
	if (sm->heap_idx == i)
		heap_down(i);
}

/* heap_remove - take heap[i] out of the heap */
static void
heap_remove(size_t i)
{
	struct sched_msg *sm = heap[i];

	heap_len--;
	if (i < heap_len) {
		heap_set(i, heap[heap_len]);
		heap_fix(i);
	}
	sm->heap_idx = SIZE_MAX;
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

/* sched_rcpt_addr - the address of recipient i (envelope or added) */
const char *
sched_rcpt_addr(const struct sched_msg *sm, uint32_t i)
{
	const struct sched_rcpt_rec *r = &sm->r[i].rec;

	if (r->kind == RCPT_KIND_ENVELOPE)
		return sm->env->rcpts[i].addr;
	if (r->kind == RCPT_KIND_REMOTE || r->kind == RCPT_KIND_ADDRESS)
		return r->addr;
	/* A virtual mailbox (its path), a command or a file stands for
	 * the address it was rewritten from: that one goes to logs and
	 * Delivered-To. */
	if ((virtual_path_is(r->addr) || r->kind == RCPT_KIND_COMMAND ||
	    r->kind == RCPT_KIND_FILE) && sm->env != NULL &&
	    r->parent < sm->env->nrcpt)
		return sm->env->rcpts[r->parent].addr;
	return NULL;	/* a mailbox user: see sched_rcpt_display */
}

/* sched_rcpt_owner - the owner- address of recipient i's alias, or NULL */
const char *
sched_rcpt_owner(const struct sched_msg *sm, uint32_t i)
{
	const struct sched_rcpt_rec *r = &sm->r[i].rec;

	if (r->kind == RCPT_KIND_ENVELOPE || r->kind == RCPT_KIND_OWNER)
		return NULL;
	for (uint32_t j = 0; j < sm->n; j++)
		if (sm->r[j].rec.kind == RCPT_KIND_OWNER &&
		    sm->r[j].rec.parent == r->parent)
			return sm->r[j].rec.addr;
	return NULL;
}

/* The address to log and report for recipient i, in buf. */
static const char *
sched_rcpt_display(const struct sched_msg *sm, uint32_t i, char *buf,
    size_t size)
{
	const char *a = sched_rcpt_addr(sm, i);

	if (a != NULL)
		return a;
	snprintf(buf, size, "%s@%s", sm->r[i].rec.addr, qctx.set->myhostname);
	return buf;
}

static void
sched_log(struct sched_msg *sm, const char *to, const char *orig_to,
    const struct sched_job *job, const char *relay, const char *dsn,
    const char *status, const char *text)
{
	double now = now_real(), arrival = (double)sm->rec.arrival;
	double commit = sm->commit_time > 0 ? sm->commit_time : arrival;
	double start = job ? job->start : now;
	double a = commit - arrival, b = start - commit, d = now - start;
	char t[4][32], vtext[1024], vrelay[512];

	if (a < 0)
		a = 0;
	if (b < 0)
		b = 0;
	if (d < 0)
		d = 0;
	log_vis(vtext, sizeof(vtext), text, strlen(text));
	log_vis(vrelay, sizeof(vrelay), relay, strlen(relay));
	log_info("%s: to=<%s>%s%s%s, relay=%s, delay=%s, delays=%s/%s/0/%s,"
	    " dsn=%s, status=%s (%s)", sm->rec.qid, to, orig_to ? ", orig_to=<" :
	    "", orig_to ? orig_to : "", orig_to ? ">" : "", vrelay,
	    fmt_delay(t[0], sizeof(t[0]), now - arrival),
	    fmt_delay(t[1], sizeof(t[1]), a), fmt_delay(t[2], sizeof(t[2]), b),
	    fmt_delay(t[3], sizeof(t[3]), d), dsn, status, vtext);
}

/* sched_save_failed - an index write failed: back off the next one */
static void
sched_save_failed(uint64_t now)
{
	save_delay = save_delay == 0 ? 1 : save_delay * 2 > SAVE_DELAY_MAX ?
	    SAVE_DELAY_MAX : save_delay * 2;
	save_next = now + save_delay;
}

/* sched_msg_unsaved - a write of sm's records failed (errno set) */
static void
sched_msg_unsaved(struct sched_msg *sm)
{
	if (sm->unsaved)
		return;
	log_warn("%s: cannot update the queue index: %s; the change is kept "
	    "and written when the disk allows", sm->rec.qid,
	    strerror(errno));
	sm->unsaved = 1;
	nunsaved++;
	if (save_next == 0)
		save_next = queued_now() + 1;
}

/* The shared empty text of sched_*_rec (never written, never freed). */
static char empty_text[1];

/* sched_text_set - replace a kept text by s, cut to max octets */
void
sched_text_set(char **field, const char *s, size_t max)
{
	size_t len = strnlen(s, max);

	if (*field != NULL && *field != empty_text)
		free(*field);
	*field = len == 0 ? empty_text : xstrndup(s, len);
}

/* sched_text_free - release a kept text */
static void
sched_text_free(char **field)
{
	if (*field != NULL && *field != empty_text)
		free(*field);
	*field = empty_text;
}

#define REC_TEXT_MAX(m)	(sizeof(((struct queue_rcpt_rec *)0)->m) - 1)

/* sched_rcpt_keep - the in-memory form of index record r */
static void
sched_rcpt_keep(struct sched_rcpt_rec *k, const struct queue_rcpt_rec *r)
{
	k->idx = r->idx;
	k->state = r->state;
	k->attempts = r->attempts;
	k->kind = r->kind;
	k->parent = r->parent;
	k->next_try = r->next_try;
	k->last_try = r->last_try;
	strlcpy(k->dsn, r->dsn, sizeof(k->dsn));
	k->addr = k->last_error = k->relay = k->delivered_to = NULL;
	sched_text_set(&k->addr, r->addr, REC_TEXT_MAX(addr));
	sched_text_set(&k->last_error, r->last_error, REC_TEXT_MAX(last_error));
	sched_text_set(&k->relay, r->relay, REC_TEXT_MAX(relay));
	sched_text_set(&k->delivered_to, r->delivered_to,
	    REC_TEXT_MAX(delivered_to));
}

/* sched_rcpt_unkeep - release what sched_rcpt_keep allocated */
static void
sched_rcpt_unkeep(struct sched_rcpt_rec *k)
{
	sched_text_free(&k->addr);
	sched_text_free(&k->last_error);
	sched_text_free(&k->relay);
	sched_text_free(&k->delivered_to);
}

/* sched_rcpt_rec_full - the index record of k, in r */
static void
sched_rcpt_rec_full(const struct sched_rcpt_rec *k, struct queue_rcpt_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->idx = k->idx;
	r->state = k->state;
	r->attempts = k->attempts;
	r->kind = k->kind;
	r->parent = k->parent;
	r->next_try = k->next_try;
	r->last_try = k->last_try;
	strlcpy(r->dsn, k->dsn, sizeof(r->dsn));
	strlcpy(r->addr, k->addr, sizeof(r->addr));
	strlcpy(r->last_error, k->last_error, sizeof(r->last_error));
	strlcpy(r->relay, k->relay, sizeof(r->relay));
	strlcpy(r->delivered_to, k->delivered_to, sizeof(r->delivered_to));
}

/* sched_msg_rec_full - the index record of message k, in m */
static void
sched_msg_rec_full(const struct sched_msg_rec *k, struct queue_msg_rec *m)
{
	memset(m, 0, sizeof(*m));
	strlcpy(m->qid, k->qid, sizeof(m->qid));
	m->arrival = k->arrival;
	m->nrcpt = k->nrcpt;
	m->flags = k->flags;
	m->have_sender = k->have_sender;
	strlcpy(m->sender, k->sender, sizeof(m->sender));
	m->have_size = k->have_size;
	m->size = k->size;
	m->uid = k->uid;
}

/* sched_msg_update - rewrite sm's message record; 0, or -1 with errno */
static int
sched_msg_update(struct sched_msg *sm)
{
	struct queue_msg_rec m;

	sched_msg_rec_full(&sm->rec, &m);
	return queue_store_message_update(qctx.store, &m);
}

/* sched_rcpt_write - write one record of sm; 0, or -1 with errno */
static int
sched_rcpt_write(struct sched_msg *sm, const struct sched_rcpt_rec *k)
{
	struct queue_rcpt_rec r;

	sched_rcpt_rec_full(k, &r);
	if (queue_store_rcpt_update(qctx.store, sm->rec.qid, &r) < 0)
		return -1;
	qctx.store_dirty = 1;
	return 0;
}

/*
 * sched_rcpt_store - record r of sm in the index.  Once a write of sm
 * has failed, single writes stop: one could put a later record in the
 * index before an earlier one (an alias's parent marked expanded before
 * a target it waits for), so sched_msg_save writes them all, in order.
 */
static void
sched_rcpt_store(struct sched_msg *sm, struct sched_rcpt_rec *r)
{
	if (sm->unsaved || sched_rcpt_write(sm, r) < 0)
		sched_msg_unsaved(sm);
}

/*
 * sched_msg_save - write every record of an unsaved message, in an order
 * that is safe to stop at any point: alias targets before the parents
 * they replace (state EXPANDED), the message record last, and no record
 * that waits for its notice (it is stored after the notice is queued,
 * notice.c).  0 when sm is saved; -1 when a write failed, which also
 * delays the next attempt (save_next).
 */
static int
sched_msg_save(struct sched_msg *sm)
{
	uint64_t now = queued_now();

	if (now < save_next)
		return -1;
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < sm->n; i++) {
			const struct sched_rcpt *sr = &sm->r[i];

			if (sr->notice != NOTICE_NONE ||
			    (sr->rec.state == RCPT_EXPANDED) != (pass == 1))
				continue;
			if (sched_rcpt_write(sm, &sr->rec) < 0)
				goto fail;
		}
	}
	if (sched_msg_update(sm) < 0)
		goto fail;
	qctx.store_dirty = 1;
	sm->unsaved = 0;
	nunsaved--;
	save_next = 0;
	save_delay = 0;
	log_info("%s: the queue index is up to date again", sm->rec.qid);
	return 0;
fail:
	sched_save_failed(now);
	return -1;
}

/* sched_save_unsaved - try again to write what the index lacks */
void
sched_save_unsaved(void)
{
	/* Only messages in the heap: they are between rounds, so each of
	 * their records is what the last round decided. */
	for (size_t i = 0; i < heap_len && nunsaved > 0; i++) {
		struct sched_msg *sm = heap[i];

		if (!sm->unsaved)
			continue;
		if (sched_msg_save(sm) < 0)
			return;
		/* A finished one can now lose its file: due at once.  It
		 * moves toward the root, past messages already seen. */
		if (sm->npending == 0) {
			sm->due = queued_now();
			heap_up(sm->heap_idx);
		}
	}
}

/* sched_unsaved - index work waits: records to write, files to remove */
int
sched_unsaved(void)
{
	return nunsaved > 0 || nunlink > 0;
}

/* The NOTIFY of recipient i (its envelope parent's), 0 = default. */
uint32_t
sched_rcpt_notify(const struct sched_msg *sm, uint32_t i)
{
	return sm->env->rcpts[sm->r[i].rec.parent].notify;
}

/* The lifetime that applies to sm: shorter for mail from <>. */
static uint64_t
sched_lifetime(const struct sched_msg *sm)
{
	int null_sender = sm->env != NULL ? sm->env->sender[0] == '\0' :
	    sm->rec.have_sender && sm->rec.sender[0] == '\0';

	return (uint64_t)(null_sender ? qctx.set->bounce_queue_lifetime :
	    qctx.set->maximal_queue_lifetime);
}

/*
 * Record one result.  A failure (or an expiry) and a success that the
 * sender asked to hear about are only marked here: sched_notices queues
 * the notice first and stores the record after it.
 */
static void
sched_rcpt_result(struct sched_msg *sm, uint32_t i, uint32_t status,
    const char *dsn, const char *text, const char *relay, uint32_t flags)
{
	struct sched_rcpt *sr = &sm->r[i];
	struct sched_rcpt_rec *r = &sr->rec;
	uint64_t now = queued_now();
	uint32_t notify = sched_rcpt_notify(sm, i);

	r->attempts++;
	r->last_try = now;
	strlcpy(r->dsn, dsn, sizeof(r->dsn));
	sched_text_set(&r->last_error, text, REC_TEXT_MAX(last_error));
	sched_text_set(&r->relay, relay, REC_TEXT_MAX(relay));
	if (status == DELIVER_TEMPFAIL &&
	    now >= sm->rec.arrival + sched_lifetime(sm)) {
		status = DELIVER_PERMFAIL;
		sr->expired = 1;
	}
	if (status == DELIVER_TEMPFAIL) {
		qstats.deferred++;
		r->next_try = now + sched_backoff(r->attempts,
		    qctx.set->minimal_backoff_time,
		    qctx.set->maximal_backoff_time, arc4random());
		sched_rcpt_store(sm, r);
		return;
	}
	sm->npending--;
	if (status == DELIVER_OK) {
		qstats.delivered++;
		r->state = RCPT_DELIVERED;
		if ((notify & NOTIFY_SUCCESS) && (relay[0] == '\0' ||
		    strcmp(relay, "local") == 0 ||
		    (flags & (DELIVERD_F_DSN_RELAYED | DELIVERD_F_DELIVERED))))
			sr->notice = (flags & DELIVERD_F_DSN_RELAYED) ?
			    NOTICE_RELAYED : NOTICE_DELIVERED;
	} else {
		qstats.bounced++;
		r->state = RCPT_FAILED;
		sr->notice = NOTICE_FAILED;
	}
	if (sr->notice == NOTICE_NONE)
		sched_rcpt_store(sm, r);
	else
		sm->nnotice++;
}

static const char *
status_word(uint32_t status)
{
	return status == DELIVER_OK ? "sent" :
	    status == DELIVER_PERMFAIL ? "bounced" : "deferred";
}

/* A result decided without deliverd (lookup failure, dead site...). */
static void
sched_rcpt_direct(struct sched_msg *sm, uint32_t i, uint32_t status,
    const char *dsn, const char *text)
{
	char buf[ADDR_TEXT_MAX + 2];

	sched_log(sm, sched_rcpt_display(sm, i, buf, sizeof(buf)), NULL, NULL,
	    "none", dsn, status_word(status), text);
	sched_rcpt_result(sm, i, status, dsn, text, "", 0);
}

static void
sched_msg_free(struct sched_msg *sm)
{
	if (sm->env != NULL) {
		envelope_free(sm->env);
		free(sm->env);
		nloaded--;
	}
	for (uint32_t i = 0; i < sm->n; i++)
		sched_rcpt_unkeep(&sm->r[i].rec);
	sched_text_free(&sm->rec.sender);
	free(sm->r);
	free(sm);
}

/* After the last job of a dispatch: notices, then wait again or leave. */
static void
sched_settle(struct sched_msg *sm)
{
	uint64_t due = UINT64_MAX;

	if (sm->env != NULL) {
		notice_settle(sm);
		envelope_free(sm->env);
		free(sm->env);
		sm->env = NULL;
		nloaded--;
	}
	if (sm->unsaved)
		(void)sched_msg_save(sm);
	if (sm->npending > 0) {
		/* A held message waits at the bottom of the heap, never
		 * due, until it is released (sched_msg_hold). */
		for (uint32_t i = 0; i < sm->n &&
		    !(sm->rec.flags & QMSG_F_HELD); i++)
			if (sm->r[i].rec.state == RCPT_PENDING &&
			    sm->r[i].rec.next_try < due)
				due = sm->r[i].rec.next_try;
		sm->due = due;
		heap_push(sm);
		return;
	}
	if (sm->unsaved) {
		/* Finished, but the index does not know yet.  Without its
		 * file, a restart would find records still pending and
		 * bounce them as lost: the message waits in the heap until
		 * sched_save_unsaved writes them, and comes back here. */
		sm->due = queued_now() + SAVE_DELAY_MAX;
		heap_push(sm);
		return;
	}
	/*
	 * Every recipient is done, and its record (stored by now, durable
	 * at this turn's sync) says so.  The file goes after that sync and
	 * the index record after the file (sched_after_sync): a crash in
	 * between leaves the record of a finished message, which the next
	 * start removes, never a complete file without a record, which
	 * recovery would have to deliver again.
	 */
	sched_msg_finish(sm, 1);
}

/* sched_msg_finish - sm leaves the schedule; its file and records go
 * after this turn's sync (sched_after_sync), the file reused when reuse
 * is set and the pool can take it, else unlinked */
static void
sched_msg_finish(struct sched_msg *sm, int reuse)
{
	if (nunlink == unlink_cap) {
		unlink_cap = unlink_cap ? unlink_cap * 2 : 64;
		unlink_list = xreallocarray(unlink_list, unlink_cap,
		    sizeof(*unlink_list));
	}
	unlink_list[nunlink].qid = xstrdup(sm->rec.qid);
	unlink_list[nunlink].file_gone = 0;
	unlink_list[nunlink++].reuse = reuse;
	TAILQ_REMOVE(&all_msgs, sm, all);
	sched_msg_free(sm);
	nmessages--;
}

/* sched_rcpt_settled - store a record whose notice is now queued */
void
sched_rcpt_settled(struct sched_msg *sm, uint32_t i)
{
	sm->r[i].notice = NOTICE_NONE;
	sm->r[i].expired = 0;
	sched_rcpt_store(sm, &sm->r[i].rec);
}

/* sched_rcpt_unfail - the notice could not be queued: try again later */
void
sched_rcpt_unfail(struct sched_msg *sm, uint32_t i)
{
	struct sched_rcpt_rec *r = &sm->r[i].rec;

	if (r->state == RCPT_FAILED) {
		r->state = RCPT_PENDING;
		r->next_try = queued_now() +
		    (uint64_t)qctx.set->minimal_backoff_time;
		sm->npending++;
		sm->r[i].notice = NOTICE_NONE;
		sm->r[i].expired = 0;
		sched_rcpt_store(sm, r);
	} else
		sched_rcpt_settled(sm, i);
}

/* sched_msg_store - rewrite the message record (flags) */
void
sched_msg_store(struct sched_msg *sm)
{
	if (sm->unsaved || sched_msg_update(sm) < 0)
		sched_msg_unsaved(sm);
	else
		qctx.store_dirty = 1;
}

/*
 * sched_file_remove - the finished message qid's file at path goes:
 * with reuse, emptied and given to the pool to reuse (file_pool.h) when
 * it has room, else unlinked.  Emptied here, before the record goes, so
 * that a crash leaves an empty file (which the next start removes),
 * never a complete one without a record.  0, or -1 with errno.
 */
static int
sched_file_remove(const char *qid, const char *path, int reuse)
{
	int fd, emptied;

	if (reuse && file_pool_recycle_room() &&
	    (fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
		emptied = ftruncate(fd, 0) == 0;
		close(fd);
		if (emptied && file_pool_recycle(qid, path) == 0)
			return 0;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* sched_after_sync - remove finished messages: the file, then the record */
void
sched_after_sync(void)
{
	char path[4096];
	size_t keep = 0;
	uint64_t now = queued_now();

	for (size_t i = 0; i < nunlink; i++) {
		if (now < save_next) {
			/* Index writes are failing: wait with the rest. */
			unlink_list[keep++] = unlink_list[i];
			continue;
		}
		if (!unlink_list[i].file_gone &&
		    (spool_msg_path(qctx.spool, unlink_list[i].qid, path,
		    sizeof(path)) < 0 ||
		    sched_file_remove(unlink_list[i].qid, path,
		    unlink_list[i].reuse) < 0)) {
			/* The record stays, saying "finished": the next
			 * start tries again. */
			log_warn("%s: unlink %s: %s", unlink_list[i].qid, path,
			    strerror(errno));
		} else if (queue_store_message_remove(qctx.store,
		    unlink_list[i].qid) < 0) {
			/* The record says "finished", which is harmless
			 * without the file (a start removes such records);
			 * the removal is tried again after the next sync.
			 * The file step is not repeated: it is done, and a
			 * file given to the pool is the pool's now. */
			sched_save_failed(now);
			unlink_list[i].file_gone = 1;
			unlink_list[keep++] = unlink_list[i];
			continue;
		} else {
			qctx.store_dirty = 1;
			save_delay = 0;
			log_info("%s: removed", unlink_list[i].qid);
		}
		free(unlink_list[i].qid);
	}
	nunlink = keep;
}

/* sched_add - a message enters the schedule */
void
sched_add(const struct queue_msg_rec *msg, const struct queue_rcpt_rec *rcpts,
    size_t nrcpt, double commit_time)
{
	struct sched_msg *sm = xcalloc(1, sizeof(*sm));

	strlcpy(sm->rec.qid, msg->qid, sizeof(sm->rec.qid));
	sm->rec.arrival = msg->arrival;
	sm->rec.nrcpt = msg->nrcpt;
	sm->rec.flags = msg->flags;
	sm->rec.have_sender = msg->have_sender;
	sm->rec.sender = NULL;
	sched_text_set(&sm->rec.sender, msg->sender, sizeof(msg->sender) - 1);
	sm->rec.have_size = msg->have_size;
	sm->rec.size = msg->size;
	sm->rec.uid = msg->uid;
	sm->n = (uint32_t)nrcpt;
	sm->rcap = (uint32_t)(nrcpt > 0 ? nrcpt : 1);
	sm->r = xcalloc(sm->rcap, sizeof(*sm->r));
	for (size_t i = 0; i < nrcpt; i++) {
		sched_rcpt_keep(&sm->r[i].rec, &rcpts[i]);
		if (rcpts[i].state == RCPT_PENDING)
			sm->npending++;
	}
	/* Deleted by an administrator before a crash: finished now. */
	if (sm->rec.flags & QMSG_F_DELETED)
		sm->npending = 0;
	sm->commit_time = commit_time;
	sm->heap_idx = SIZE_MAX;
	nmessages++;
	TAILQ_INSERT_TAIL(&all_msgs, sm, all);
	sched_settle(sm);
}

/* sched_jobs - jobs in flight, and rounds waiting for lookupd */
uint32_t
sched_jobs(void)
{
	return nlocal + nsmtp + nparked;
}

/* sched_local_jobs - local jobs in flight, and waiting for room */
uint32_t
sched_local_jobs(uint32_t *waiting)
{
	*waiting = nlocal_waiting;
	return nlocal;
}

/* sched_loaded - messages with their envelope in memory */
uint32_t
sched_loaded(void)
{
	return nloaded;
}

/* sched_count - messages known to the scheduler */
size_t
sched_count(void)
{
	return nmessages;
}

/* --- resolving ------------------------------------------------------------ */

/*
 * sched_rcpt_delivered - the address that a delivery to local recipient
 * i writes as "Delivered-To:" and checks for loops (local_loop.h), in
 * buf (MSG_ADDR_MAX + 1 octets or more): "user@myhostname" for a
 * mailbox user, cut to fit a job, never refused.
 */
static void
sched_rcpt_delivered(const struct sched_msg *sm, uint32_t i, char *buf,
    size_t size)
{
	char disp[ADDR_TEXT_MAX + 2], fit[MSG_ADDR_MAX + 1];

	strlcpy(buf, msg_str_fit(sched_rcpt_display(sm, i, disp,
	    sizeof(disp)), MSG_ADDR_MAX, fit, sizeof(fit)), size);
}

/*
 * sched_target_name - the name (as sched_rcpt_delivered gives it) that a
 * new recipient of kind with addr would have, in buf (MSG_ADDR_MAX + 1
 * octets or more); NULL for a command, a file, an owner, a virtual
 * mailbox or an alias's "\name", which send nothing on.  So a mailbox
 * that a .forward leads to through "\name" (a's .forward names list,
 * list is "\a, b") is no loop: a's own mail stops there, as written.
 */
static const char *
sched_target_name(uint32_t kind, const char *addr, char *buf, size_t size)
{
	char full[ADDR_TEXT_MAX + 2], fit[MSG_ADDR_MAX + 1];

	if (kind == RCPT_KIND_LOCAL && !virtual_path_is(addr))
		snprintf(full, sizeof(full), "%s@%s", addr,
		    qctx.set->myhostname);
	else if (kind == RCPT_KIND_REMOTE || kind == RCPT_KIND_ADDRESS)
		strlcpy(full, addr, sizeof(full));
	else
		return NULL;
	strlcpy(buf, msg_str_fit(full, MSG_ADDR_MAX, fit, sizeof(fit)), size);
	return buf;
}

/*
 * sched_rcpt_ancestors - recipient i and those that sent the mail on to
 * it, directly or through others: its envelope recipient, and each
 * recipient whose name is the delivered_to (the alias or the .forward's
 * user that sent it on) of one already found.  Returns how many, i
 * first, their indexes in *out (the caller frees it).
 */
static uint32_t
sched_rcpt_ancestors(const struct sched_msg *sm, uint32_t i, uint32_t **out)
{
	uint32_t *q = xreallocarray(NULL, sm->n, sizeof(*q)), n = 0;
	unsigned char *seen = xcalloc(sm->n, 1);
	char name[MSG_ADDR_MAX + 1];
	uint32_t p = sm->r[i].rec.parent;

	seen[i] = 1;
	q[n++] = i;
	if (p < sm->n && !seen[p]) {
		seen[p] = 1;
		q[n++] = p;
	}
	for (uint32_t h = 0; h < n; h++) {
		const char *dt = sm->r[q[h]].rec.delivered_to;

		if (dt == NULL || dt[0] == '\0')
			continue;
		for (uint32_t j = 0; j < sm->n; j++) {
			if (seen[j])
				continue;
			sched_rcpt_delivered(sm, j, name, sizeof(name));
			if (strcasecmp(name, dt) == 0) {
				seen[j] = 1;
				q[n++] = j;
			}
		}
	}
	free(seen);
	*out = q;
	return n;
}

/*
 * sched_chain_has - whether a new recipient of kind with addr is one of
 * the n recipients anc (sched_rcpt_ancestors) by name: the mail would go
 * back to where it came from, a forwarding loop.
 */
static int
sched_chain_has(const struct sched_msg *sm, const uint32_t *anc, uint32_t n,
    uint32_t kind, const char *addr)
{
	char target[MSG_ADDR_MAX + 1], name[MSG_ADDR_MAX + 1];

	if (sched_target_name(kind, addr, target, sizeof(target)) == NULL)
		return 0;
	for (uint32_t k = 0; k < n; k++) {
		sched_rcpt_delivered(sm, anc[k], name, sizeof(name));
		if (strcasecmp(name, target) == 0)
			return 1;
	}
	return 0;
}

/* Add an alias target as a recipient of its own, unless it already is
 * (a crash after an earlier expansion must not double it, nor may a
 * second alias with the same member); delivered_to is the local address
 * that forwards it ("" none: see queue_rcpt_rec).  Returns its
 * index, or UINT32_MAX when the message has too many recipients. */
static uint32_t
sched_rcpt_add(struct sched_msg *sm, uint32_t parent, uint32_t kind,
    const char *addr, const char *delivered_to)
{
	struct sched_rcpt_rec *r;

	/* Whichever recipient expanded to it first: one address gets one
	 * copy, however many aliases (or case variants of one) lead there. */
	for (uint32_t i = sm->rec.nrcpt; i < sm->n; i++)
		if (sm->r[i].rec.kind == kind &&
		    strcmp(sm->r[i].rec.addr, addr) == 0)
			return sm->r[i].rec.state == RCPT_PENDING ? i :
			    UINT32_MAX - 1;
	if (sm->n >= ENVELOPE_MAX_RCPTS)
		return UINT32_MAX;
	if (sm->n == sm->rcap) {
		/* Grow geometrically: an alias may add thousands. */
		sm->rcap = sm->rcap > 0 ? sm->rcap * 2 : 16;
		sm->r = xreallocarray(sm->r, sm->rcap, sizeof(*sm->r));
	}
	memset(&sm->r[sm->n], 0, sizeof(sm->r[0]));
	r = &sm->r[sm->n].rec;
	r->idx = sm->n;
	r->parent = parent;
	r->kind = kind;
	r->state = RCPT_PENDING;
	r->next_try = queued_now();
	r->last_error = r->relay = empty_text;
	sched_text_set(&r->addr, addr, REC_TEXT_MAX(addr));
	sched_text_set(&r->delivered_to, delivered_to,
	    REC_TEXT_MAX(delivered_to));
	sched_rcpt_store(sm, r);
	sm->npending++;
	return sm->n++;
}

/* sched_rcpt_kind - the queue's kind of a lookupd target kind */
static uint32_t
sched_rcpt_kind(uint32_t kind)
{
	switch (kind) {
	case RESOLVE_LOCAL:
		return RCPT_KIND_LOCAL;
	case RESOLVE_COMMAND:
		return RCPT_KIND_COMMAND;
	case RESOLVE_FILE:
		return RCPT_KIND_FILE;
	case RESOLVE_OWNER:
		return RCPT_KIND_OWNER;
	case RESOLVE_MAILBOX:
		return RCPT_KIND_MAILBOX;
	default:
		return RCPT_KIND_REMOTE;
	}
}

/* sched_target_kind - the resolve_kind of a local queue kind */
static uint32_t
sched_target_kind(uint32_t kind)
{
	return kind == RCPT_KIND_COMMAND ? RESOLVE_COMMAND :
	    kind == RCPT_KIND_FILE ? RESOLVE_FILE :
	    kind == RCPT_KIND_MAILBOX ? RESOLVE_MAILBOX : RESOLVE_LOCAL;
}

/*
 * Replace recipient i (an envelope recipient, or a .forward's address)
 * by its alias targets.  The targets are
 * stored before the parent is marked expanded, so a crash in between
 * delivers twice at worst, never not at all.  A target that leads back
 * to a recipient that sent the mail to a .forward's address i is left
 * out, and i bounces (5.4.6) once the others are stored.  0, or -1 when
 * the message would grow too large (the recipient then fails).
 */
static int
sched_expand(struct sched_msg *sm, uint32_t i, const struct resolved *t,
    uint32_t n)
{
	/* Texts, not pointers into sm->r, which sched_rcpt_add may move. */
	const char *addr = sched_rcpt_addr(sm, i);
	/* A remote target's copy says which local address sent it on
	 * (Postfix's local(8) does the same for its aliases): the alias, or
	 * for a .forward's address the user whose .forward it is. */
	const char *from = sm->r[i].rec.kind == RCPT_KIND_ENVELOPE ? addr :
	    sm->r[i].rec.delivered_to;
	uint32_t parent = sm->r[i].rec.parent, *anc = NULL, nanc = 0;
	char vis[ADDR_TEXT_MAX * 4], self[MSG_ADDR_MAX + 1];
	char loop[ADDR_TEXT_MAX] = "", text[MSG_TEXT_MAX + 1];

	if (sm->n + n > ENVELOPE_MAX_RCPTS)
		return -1;
	/* A local target records the alias that sent it on, to find the
	 * way back (sched_rcpt_ancestors).  Aliases alone never loop
	 * (lookupd refuses that, and "a: a" is a's mailbox), but a
	 * .forward's address may lead back: compare with those before it. */
	sched_rcpt_delivered(sm, i, self, sizeof(self));
	if (sm->r[i].rec.kind == RCPT_KIND_ADDRESS)
		nanc = sched_rcpt_ancestors(sm, i, &anc);
	for (uint32_t k = 0; k < n; k++) {
		uint32_t kind = sched_rcpt_kind(t[k].kind), j;

		if (nanc > 1 && sched_chain_has(sm, anc + 1, nanc - 1, kind,
		    t[k].target)) {
			if (loop[0] == '\0')
				strlcpy(loop, t[k].target, sizeof(loop));
			continue;
		}
		j = sched_rcpt_add(sm, parent, kind, t[k].target,
		    kind == RCPT_KIND_REMOTE ? from :
		    kind == RCPT_KIND_OWNER ? "" : self);
		if (j == UINT32_MAX) {
			free(anc);
			return -1;
		}
		/* An owner is a note for the bounces, never delivered. */
		if (t[k].kind == RESOLVE_OWNER && j < sm->n &&
		    sm->r[j].rec.state == RCPT_PENDING) {
			sm->r[j].rec.state = RCPT_EXPANDED;
			sm->npending--;
			sched_rcpt_store(sm, &sm->r[j].rec);
		}
	}
	free(anc);
	if (loop[0] != '\0') {
		log_vis(vis, sizeof(vis), loop, strlen(loop));
		strlcpy(text, "mail forwarding loop for ", sizeof(text));
		strlcat(text, vis, sizeof(text));
		sched_rcpt_direct(sm, i, DELIVER_PERMFAIL, "5.4.6", text);
		return 0;
	}
	sm->r[i].rec.state = RCPT_EXPANDED;
	sm->npending--;
	sched_rcpt_store(sm, &sm->r[i].rec);
	log_vis(vis, sizeof(vis), addr, strlen(addr));
	log_info("%s: to=<%s>, status=expanded (%u recipients)", sm->rec.qid,
	    vis, n);
	return 0;
}

/* --- dispatching ------------------------------------------------------- */

/* The grouping of one dispatch: a local job and smtp jobs by next hop. */
struct dispatch {
	struct sched_job	**local;	/* one per envelope sender */
	uint32_t		 nlocal;
	uint32_t		 nlocal_rcpts;
	struct sched_job	**smtp;
	uint32_t		 nsmtp;
};

static struct sched_job *
job_new(struct sched_msg *sm, int smtp)
{
	struct sched_job *job = xcalloc(1, sizeof(*job));

	job->id = ++next_job_id;
	job->sm = sm;
	job->smtp = smtp;
	job->sender = NULL;
	job->delivered_to = empty_text;
	return job;
}

static void
job_add(struct sched_job *job, uint32_t rcpt, uint32_t kind,
    const char *target)
{
	struct job_entry *e;

	job->entries = xreallocarray(job->entries, job->nentries + 1,
	    sizeof(*job->entries));
	e = &job->entries[job->nentries++];
	memset(e, 0, sizeof(*e));
	e->rcpt = rcpt;
	e->kind = kind;
	e->target = e->loop = e->text = e->relay = empty_text;
	sched_text_set(&e->target, target, ADDR_TEXT_MAX - 1);
}

/* job_entry_result_set - e's result texts */
static void
job_entry_result_set(struct job_entry *e, const char *dsn, const char *text,
    const char *relay)
{
	strlcpy(e->dsn, dsn, sizeof(e->dsn));
	sched_text_set(&e->text, text, MSG_TEXT_MAX);
	sched_text_set(&e->relay, relay, MSG_RELAY_MAX);
}

/* job_free - job and everything it owns */
static void
job_free(struct sched_job *job)
{
	for (uint32_t j = 0; j < job->nentries; j++) {
		struct job_entry *e = &job->entries[j];

		sched_text_free(&e->target);
		sched_text_free(&e->loop);
		sched_text_free(&e->text);
		sched_text_free(&e->relay);
	}
	sched_text_free(&job->delivered_to);
	free(job->sender);
	free(job->entries);
	free(job);
}

/* sched_nexthop - where mail for addr goes: relayhost, or its domain */
static void
sched_nexthop(const char *addr, char *buf, size_t size)
{
	const char *at = strrchr(addr, '@');

	if (qctx.set->relayhost != NULL && qctx.set->relayhost[0] != '\0') {
		strlcpy(buf, qctx.set->relayhost, size);
		return;
	}
	strlcpy(buf, at != NULL ? at + 1 : addr, size);
	for (char *p = buf; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
}

/*
 * job_sender_set - job (new) carries recipient i's owner- address as its
 * envelope sender, when it has one and the message's sender is not <>
 * (a bounce stays a bounce).
 */
static void
job_sender_set(struct sched_job *job, const struct sched_msg *sm, uint32_t i)
{
	const char *owner = sched_rcpt_owner(sm, i);

	if (owner != NULL && sm->env->sender[0] != '\0')
		job->sender = xstrndup(owner, ADDR_TEXT_MAX - 1);
}

/* job_sender_is - job is for recipient i's envelope sender */
static int
job_sender_is(const struct sched_job *job, const struct sched_msg *sm,
    uint32_t i)
{
	const char *owner = sched_rcpt_owner(sm, i);

	if (owner == NULL || sm->env->sender[0] == '\0')
		return job->sender == NULL;
	return job->sender != NULL && strcmp(job->sender, owner) == 0;
}

/* job_sender - the envelope sender job's deliveries carry */
static const char *
job_sender(const struct sched_job *job)
{
	return job->sender != NULL ? job->sender : job->sm->env->sender;
}

/*
 * Put remote recipient i into the smtp job of its next hop, sender and
 * Delivered-To (delivered_to, "" none): each transaction sends one copy
 * of the message, so recipients whose copies differ cannot share one.
 */
static void
dispatch_remote(struct dispatch *dp, struct sched_msg *sm, uint32_t i,
    const char *addr, const char *delivered_to)
{
	char hop[DEST_NAME_MAX];
	struct sched_job *job = NULL;
	uint32_t limit = (uint32_t)qctx.set->smtp_destination_recipient_limit;

	if (limit > MSG_SMTP_RCPTS_MAX)
		limit = MSG_SMTP_RCPTS_MAX;	/* a job is one frame */

	sched_nexthop(addr, hop, sizeof(hop));
	/* Only the newest job of a hop may still have room. */
	for (uint32_t k = dp->nsmtp; k-- > 0;)
		if (!dp->smtp[k]->lmtp &&
		    strcmp(dp->smtp[k]->dest->name, hop) == 0 &&
		    job_sender_is(dp->smtp[k], sm, i) &&
		    strcmp(dp->smtp[k]->delivered_to, delivered_to) == 0) {
			if (dp->smtp[k]->nentries < limit)
				job = dp->smtp[k];
			break;
		}
	if (job == NULL) {
		job = job_new(sm, 1);
		job_sender_set(job, sm, i);
		sched_text_set(&job->delivered_to, delivered_to,
		    ADDR_TEXT_MAX - 1);
		job->dest = dest_get(hop);
		dp->smtp = xreallocarray(dp->smtp, dp->nsmtp + 1,
		    sizeof(*dp->smtp));
		dp->smtp[dp->nsmtp++] = job;
	}
	job_add(job, i, RESOLVE_REMOTE, addr);
}

/*
 * Put local recipient i (mailbox user) into the lmtp job of this round:
 * like a remote one, in the destination named by mailbox_transport.
 */
static void
dispatch_lmtp(struct dispatch *dp, struct sched_msg *sm, uint32_t i,
    const char *user)
{
	struct sched_job *job = NULL;
	uint32_t limit = (uint32_t)qctx.set->smtp_destination_recipient_limit;

	if (limit > MSG_SMTP_RCPTS_MAX)
		limit = MSG_SMTP_RCPTS_MAX;	/* a job is one frame */
	/* Only the newest lmtp job may still have room. */
	for (uint32_t k = dp->nsmtp; k-- > 0;)
		if (dp->smtp[k]->lmtp && job_sender_is(dp->smtp[k], sm, i)) {
			if (dp->smtp[k]->nentries < limit)
				job = dp->smtp[k];
			break;
		}
	if (job == NULL) {
		job = job_new(sm, 1);
		job_sender_set(job, sm, i);
		job->lmtp = 1;
		job->dest = dest_get(qctx.set->mailbox_transport);
		dp->smtp = xreallocarray(dp->smtp, dp->nsmtp + 1,
		    sizeof(*dp->smtp));
		dp->smtp[dp->nsmtp++] = job;
	}
	job_add(job, i, RESOLVE_LOCAL, user);
}

static void
dispatch_local(struct dispatch *dp, struct sched_msg *sm, uint32_t i,
    uint32_t kind, const char *user)
{
	struct sched_job *job = NULL;

	/* Virtual mailboxes are written by tern, as Postfix's virtual
	 * transport writes them whatever its mailbox_transport says; and
	 * commands and files are always run by tern. */
	if (qctx.set->mailbox_transport[0] != '\0' &&
	    (kind == RESOLVE_MAILBOX || (kind == RESOLVE_LOCAL &&
	    !virtual_path_is(user)))) {
		dispatch_lmtp(dp, sm, i, user);
		return;
	}
	for (uint32_t k = 0; k < dp->nlocal && job == NULL; k++)
		if (job_sender_is(dp->local[k], sm, i))
			job = dp->local[k];
	if (job == NULL) {
		job = job_new(sm, 0);
		job_sender_set(job, sm, i);
		dp->local = xreallocarray(dp->local, dp->nlocal + 1,
		    sizeof(*dp->local));
		dp->local[dp->nlocal++] = job;
	}
	job_add(job, i, kind, user);
	dp->nlocal_rcpts++;
}

/*
 * sched_addr_extended - the local part of addr is user, the
 * recipient_delimiter and an extension (the tag of .forward+tag)
 */
static int
sched_addr_extended(const char *addr, const char *user)
{
	const char *d = qctx.set->recipient_delimiter;
	size_t ulen = strlen(user);

	return d != NULL && d[0] != '\0' &&
	    strncasecmp(addr, user, ulen) == 0 && addr[ulen] == d[0];
}

/* Decide where recipient i goes (an envelope recipient, or a .forward's
 * address), by lookupd's answer lk. */
static void
dispatch_envelope_rcpt(struct dispatch *dp, struct sched_msg *sm, uint32_t i,
    const struct sched_lookup *lk)
{
	const struct resolved *t = lk->t;
	uint32_t n = lk->n, verdict = lk->verdict;

	if (verdict == LOOKUP_TEMPFAIL)
		sched_rcpt_direct(sm, i, DELIVER_TEMPFAIL, "4.3.0",
		    "temporary lookup failure");
	else if (verdict == LOOKUP_LOOP)
		sched_rcpt_direct(sm, i, DELIVER_PERMFAIL, "5.4.6",
		    "virtual alias loop");
	else if (verdict == LOOKUP_UNKNOWN || n == 0)
		sched_rcpt_direct(sm, i, DELIVER_PERMFAIL, "5.1.1",
		    "user unknown");
	else if (n == 1 && t[0].kind == RESOLVE_LOCAL &&
	    (sm->r[i].rec.kind == RCPT_KIND_ENVELOPE ||
	    virtual_path_is(t[0].target) ||
	    sched_addr_extended(sm->r[i].rec.addr, t[0].target)))
		dispatch_local(dp, sm, i, RESOLVE_LOCAL, t[0].target);
	else if (n == 1 && t[0].kind == RESOLVE_LOCAL) {
		/* A .forward's address of a mailbox user becomes that user, so
		 * that two ways to write one user ("c", "c@localhost") reach
		 * it once and a way back is seen (sched_expand); "c+tag" keeps
		 * its address, whose tag picks c's .forward+tag. */
		if (sched_expand(sm, i, t, n) < 0)
			sched_rcpt_direct(sm, i, DELIVER_PERMFAIL, "5.3.4",
			    "alias expansion makes too many recipients");
	} else if (n == 1 && verdict == LOOKUP_REMOTE)
		dispatch_remote(dp, sm, i, t[0].target,
		    sm->r[i].rec.delivered_to);
	else if (sched_expand(sm, i, t, n) < 0)
		sched_rcpt_direct(sm, i, DELIVER_PERMFAIL, "5.3.4",
		    "alias expansion makes too many recipients");
}

/*
 * Load sm's envelope from its file for a round.  0 when loaded; -1 when
 * the file is gone (missing, or damaged and moved to corrupt/); -2 when
 * it cannot be read now (an I/O or permission error: try again later).
 */
static int
sched_msg_load(struct sched_msg *sm)
{
	struct msgfile_info info;
	enum msgfile_state st;
	char path[4096], err[256];
	int fd;

	if (spool_msg_path(qctx.spool, sm->rec.qid, path, sizeof(path)) < 0)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		log_error("%s: cannot open queue file: %s", sm->rec.qid,
		    strerror(errno));
		return errno == ENOENT ? -1 : -2;
	}
	st = msgfile_check(fd, 0, &info, err, sizeof(err));
	close(fd);
	if (st == MSGFILE_COMPLETE && (info.env.nrcpt != sm->rec.nrcpt ||
	    strcmp(info.env.qid, sm->rec.qid) != 0)) {
		snprintf(err, sizeof(err), "envelope does not match the index");
		envelope_free(&info.env);
		st = MSGFILE_CORRUPT;
	}
	if (st == MSGFILE_UNREADABLE) {
		log_error("%s: cannot read queue file: %s", sm->rec.qid, err);
		return -2;
	}
	if (st != MSGFILE_COMPLETE) {
		/* Moved, never deleted: what is left of it is for a human. */
		spool_quarantine(qctx.spool, sm->rec.qid, err);
		return -1;
	}
	sm->env = xmalloc(sizeof(*sm->env));
	*sm->env = info.env;
	nloaded++;
	sm->body = info.body;
	sm->body_len = info.body_len;
	return 0;
}

/*
 * sm's file is lost and its lifetime over: its pending recipients fail,
 * the sender hears of it from what the index knows (notice_lost), and the
 * message leaves the queue.  Before its lifetime is over a lost file is
 * only retried, in case it comes back (a disk remounted, a permission
 * fixed).
 */
static void
sched_lost_expire(struct sched_msg *sm)
{
	uint64_t now = queued_now();

	if (notice_lost(sm) < 0) {
		sm->due = now + (uint64_t)qctx.set->minimal_backoff_time;
		heap_push(sm);
		return;
	}
	for (uint32_t i = 0; i < sm->n; i++) {
		struct sched_rcpt_rec *r = &sm->r[i].rec;

		if (r->state != RCPT_PENDING)
			continue;
		r->state = RCPT_FAILED;
		r->last_try = now;
		qstats.bounced++;
		strlcpy(r->dsn, "5.3.0", sizeof(r->dsn));
		sched_text_set(&r->last_error, "queue file lost",
		    REC_TEXT_MAX(last_error));
		sched_log(sm, r->addr[0] != '\0' ? r->addr : "unknown", NULL,
		    NULL, "none", "5.3.0", "bounced", "queue file lost");
		sched_rcpt_store(sm, r);
		sm->npending--;
	}
	sched_settle(sm);
}

/* Open the message file for a job (read-only); -1 on failure. */
static int
sched_msg_open(struct sched_msg *sm)
{
	char path[4096];

	if (spool_msg_path(qctx.spool, sm->rec.qid, path, sizeof(path)) < 0)
		return -1;
	return open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

/* Every recipient of a job that could not start is deferred with text. */
static void
job_defer(struct sched_job *job, const char *dsn, const char *text)
{
	for (uint32_t j = 0; j < job->nentries; j++) {
		job->entries[j].have = 1;
		job->entries[j].status = DELIVER_TEMPFAIL;
		job_entry_result_set(&job->entries[j], dsn, text, "none");
	}
}

/*
 * job_start_local - hand job to the local deliverd with the message file
 * fd (taken).  -1 when it cannot be encoded (logged; fd closed).
 */
static int
job_start_local(struct sched_job *job, int fd)
{
	struct sched_msg *sm = job->sm;
	struct msg_local_rcpt *rc = xcalloc(job->nentries, sizeof(*rc));
	char (*to)[MSG_ADDR_MAX + 1] = xcalloc(job->nentries, sizeof(*to));
	struct msg_deliver_local d = { .job = job->id, .qid = sm->rec.qid,
	    .sender = job_sender(job), .arrival = sm->env->arrival,
	    .body_offset = (uint64_t)sm->body,
	    .body_size = sm->body_len,
	    .n = job->nentries, .rcpts = rc };
	struct ipc_msg m;
	int rv;

	for (uint32_t j = 0; j < job->nentries; j++) {
		sched_rcpt_delivered(sm, job->entries[j].rcpt, to[j],
		    sizeof(to[j]));
		rc[j].index = j;
		rc[j].address = to[j];
		rc[j].user = job->entries[j].target;
		rc[j].kind = job->entries[j].kind;
	}
	rv = msg_encode(&m, MSG_QUEUED_DELIVER_LOCAL, job->id, &d);
	free(rc);
	free(to);
	if (rv != 0) {
		close(fd);
		return -1;
	}
	m.fd = fd;
	queued_peer_send(qctx.deliverd, &m);
	job->peer = qctx.deliverd;
	nlocal++;
	return 0;
}

/* The ORCPT to pass on for recipient i: the client's, or for an alias
 * target the address the client gave (RFC 3461, 5.2.1).  One longer than
 * a job may carry (only a damaged queue file has one) is left out. */
static void
sched_orcpt(const struct sched_msg *sm, uint32_t i, char *buf, size_t size)
{
	const struct envelope_rcpt *p = &sm->env->rcpts[sm->r[i].rec.parent];

	buf[0] = '\0';
	if (p->orcpt != NULL && strlcpy(buf, p->orcpt, size) >= size) {
		log_warn("%s: an ORCPT of %zu octets is not passed on",
		    sm->rec.qid, strlen(p->orcpt));
		buf[0] = '\0';
	} else if (p->orcpt == NULL && sm->r[i].rec.kind != RCPT_KIND_ENVELOPE)
		snprintf(buf, size, "rfc822;%s", p->addr);
}

/*
 * sched_lmtp_rcpt - the address an LMTP server gets for entry e: the
 * envelope address when its local part is the mailbox user (what the
 * sender wrote, domain and all, for a server that keys users by it),
 * else user@myhostname (an alias target), in buf (cut to fit a job).
 */
static const char *
sched_lmtp_rcpt(const struct sched_msg *sm, const struct job_entry *e,
    char *buf, size_t size)
{
	const char *rcpt = sm->env->rcpts[sm->r[e->rcpt].rec.parent].addr;
	const char *at = strrchr(rcpt, '@');
	size_t ulen = strlen(e->target);
	char addr[ADDR_TEXT_MAX + 2], fit[MSG_ADDR_MAX + 1];

	if (at != NULL && (size_t)(at - rcpt) == ulen &&
	    strncasecmp(rcpt, e->target, ulen) == 0)
		strlcpy(addr, rcpt, sizeof(addr));
	else
		snprintf(addr, sizeof(addr), "%s@%s", e->target,
		    qctx.set->myhostname);
	/* msg_str_fit returns addr itself when it fits: copy it out. */
	strlcpy(buf, msg_str_fit(addr, MSG_ADDR_MAX, fit, sizeof(fit)), size);
	return buf;
}

/*
 * job_start_smtp - hand job to the smtp deliverd (an lmtp job: to the
 * lmtp deliverd) with the message file fd (taken).  -1 when it cannot be
 * encoded (logged; fd closed).
 */
static int
job_start_smtp(struct sched_job *job, int fd)
{
	struct sched_msg *sm = job->sm;
	struct msg_smtp_rcpt *rc = xcalloc(job->nentries, sizeof(*rc));
	char (*orcpt)[MSG_ORCPT_MAX + 1] = xcalloc(job->nentries,
	    sizeof(*orcpt));
	char (*to)[MSG_ADDR_MAX + 1] = xcalloc(job->nentries, sizeof(*to));
	struct queued_peer *peer = job->lmtp ? qctx.lmtp : qctx.smtp;
	const char *envid = sm->env->envid != NULL ? sm->env->envid : "";
	struct msg_deliver_smtp d = { .job = job->id, .qid = sm->rec.qid,
	    .sender = job_sender(job), .envid = envid, .ret = sm->env->ret,
	    .body = sm->env->body,
	    .smtputf8 = (sm->env->flags & ENVELOPE_F_SMTPUTF8) != 0,
	    .tls_request = sm->env->flags &
	    (ENVELOPE_F_REQUIRETLS | ENVELOPE_F_TLS_OPTIONAL),
	    .arrival = sm->env->arrival,
	    .body_offset = (uint64_t)sm->body,
	    .body_size = sm->body_len,
	    .nexthop = job->lmtp ? qctx.set->mailbox_transport :
	    job->dest->name, .delivered_to = job->delivered_to,
	    .n = job->nentries, .rcpts = rc };
	struct ipc_msg m;
	int rv;

	if (strlen(envid) > MSG_ENVID_MAX) {
		log_warn("%s: an ENVID of %zu octets is not passed on",
		    sm->rec.qid, strlen(envid));
		d.envid = "";
	}
	for (uint32_t j = 0; j < job->nentries; j++) {
		uint32_t i = job->entries[j].rcpt;

		sched_orcpt(sm, i, orcpt[j], sizeof(orcpt[j]));
		rc[j].index = j;
		rc[j].address = job->lmtp ? sched_lmtp_rcpt(sm,
		    &job->entries[j], to[j], sizeof(to[j])) :
		    job->entries[j].target;
		rc[j].orcpt = orcpt[j];
		rc[j].notify = sched_rcpt_notify(sm, i);
	}
	rv = msg_encode(&m, MSG_QUEUED_DELIVER_SMTP, job->id, &d);
	free(rc);
	free(orcpt);
	free(to);
	if (rv != 0) {
		close(fd);
		return -1;
	}
	m.fd = fd;
	queued_peer_send(peer, &m);
	job->peer = peer;
	job->dest->active++;
	nsmtp++;
	return 0;
}

/* Start a job now; one that cannot start ends at once, deferred. */
static void
job_start(struct sched_job *job)
{
	struct queued_peer *peer = job->lmtp ? qctx.lmtp : job->smtp ?
	    qctx.smtp : qctx.deliverd;
	int fd;

	job->start = now_real();
	LIST_INSERT_HEAD(&jobs, job, entry);
	if (peer == NULL || peer->dead) {
		job_defer(job, "4.3.0", job->lmtp ?
		    "lmtp delivery agent is not running" : job->smtp ?
		    "smtp delivery agent is not running" :
		    "local delivery agent is not running");
		sched_job_done(job, -1);
		return;
	}
	if ((fd = sched_msg_open(job->sm)) < 0) {
		log_error("%s: cannot open queue file: %s", job->sm->rec.qid,
		    strerror(errno));
		job_defer(job, "4.3.0", "cannot open the queue file");
		sched_job_done(job, -1);
		return;
	}
	if ((job->smtp ? job_start_smtp(job, fd) :
	    job_start_local(job, fd)) != 0) {
		job_defer(job, "4.3.0", "the job cannot be passed to the "
		    "delivery agent");
		sched_job_done(job, -1);
	}
}

/* Hand an smtp job to its destination: start, wait, or defer (dead). */
static void
job_submit_smtp(struct sched_job *job)
{
	struct dest *d = job->dest;
	char text[600];

	if (dest_dead(d, queued_now())) {
		snprintf(text, sizeof(text), "delivery temporarily suspended: %s",
		    d->last_error[0] ? d->last_error : "destination unreachable");
		LIST_INSERT_HEAD(&jobs, job, entry);
		job->start = now_real();
		job_defer(job, "4.4.1", text);
		sched_job_done(job, -1);
		return;
	}
	TAILQ_INSERT_TAIL(&d->waiting, job, wentry);
	d->nwaiting++;
	sched_dest_kick(d);
}

/*
 * Start waiting jobs of d while its window and the global cap allow.
 * Without an smtp deliverd they wait: ternd starts one (again) soon, and
 * deferring them would cost a whole backoff after every restart.
 */
static void
sched_dest_kick(struct dest *d)
{
	struct sched_job *job;
	uint32_t limit = (uint32_t)qctx.set->smtp_destination_concurrency_limit;

	while ((job = TAILQ_FIRST(&d->waiting)) != NULL &&
	    nsmtp < SMTP_JOBS_MAX && dest_can_start(d, limit)) {
		struct queued_peer *p = job->lmtp ? qctx.lmtp : qctx.smtp;

		if (p == NULL || p->dead)
			return;
		TAILQ_REMOVE(&d->waiting, job, wentry);
		d->nwaiting--;
		job_start(job);
	}
}

/* A dead destination defers what waits for it, without connecting. */
static void
sched_dest_flush_dead(struct dest *d)
{
	struct sched_job *job;

	while ((job = TAILQ_FIRST(&d->waiting)) != NULL) {
		TAILQ_REMOVE(&d->waiting, job, wentry);
		d->nwaiting--;
		job_submit_smtp(job);
	}
}

/* A monotonic clock in milliseconds, for lookup timeouts. */
static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Is recipient i waiting and due at now? */
static int
rcpt_due(const struct sched_msg *sm, uint32_t i, uint64_t now)
{
	const struct sched_rcpt_rec *r = &sm->r[i].rec;

	return r->state == RCPT_PENDING && r->next_try <= now;
}

/* A new lookup slot for recipient i of this round. */
static struct sched_lookup *
lookup_add(struct sched_msg *sm, uint32_t i)
{
	struct sched_lookup *lk;

	if (sm->nlk == sm->lkcap) {
		sm->lkcap = sm->lkcap ? sm->lkcap * 2 : 16;
		sm->lk = xreallocarray(sm->lk, sm->lkcap, sizeof(*sm->lk));
	}
	lk = &sm->lk[sm->nlk++];
	memset(lk, 0, sizeof(*lk));
	lk->rcpt = i;
	return lk;
}

static void
lookups_free(struct sched_msg *sm)
{
	for (uint32_t k = 0; k < sm->nlk; k++)
		free(sm->lk[k].t);
	free(sm->lk);
	sm->lk = NULL;
	sm->nlk = sm->lkcap = 0;
}

/* resolve_done_fn: an answer (or a failure) for lookup tag of owner. */
static void
sched_resolved(void *owner, uint32_t tag, uint32_t verdict,
    struct resolved *t, uint32_t n)
{
	struct sched_msg *sm = owner;
	struct sched_lookup *lk = &sm->lk[tag];

	lk->have = 1;
	lk->verdict = verdict;
	lk->t = t;
	lk->n = n;
	/* sched_run dispatches it, never the caller: that may be the loop
	 * reading lookupd, or peer_reap walking the peers. */
	if (--sm->nasked == 0)
		TAILQ_INSERT_TAIL(&ready, sm, ready);
}

/*
 * Ask lookupd about the due envelope recipients of this round (at most
 * DISPATCH_MAX_RCPTS recipients, and no more requests than there is room
 * for: the rest stay due for the next round).  Returns how many answers
 * the message now waits for.
 */
static uint32_t
sched_ask(struct sched_msg *sm, uint64_t now)
{
	uint32_t taken = 0, room = resolve_room();
	uint64_t ms = now_ms();

	for (uint32_t i = 0; i < sm->n && taken < DISPATCH_MAX_RCPTS; i++) {
		struct sched_lookup *lk;

		if (!rcpt_due(sm, i, now))
			continue;
		taken++;
		if (sm->r[i].rec.kind != RCPT_KIND_ENVELOPE &&
		    sm->r[i].rec.kind != RCPT_KIND_ADDRESS)
			continue;
		if (qctx.lookupd == NULL || qctx.lookupd->dead) {
			lk = lookup_add(sm, i);
			lk->have = 1;
			lk->verdict = LOOKUP_TEMPFAIL;
			continue;
		}
		if (sm->nasked == room)
			break;
		(void)lookup_add(sm, i);
		if (resolve_ask(&qctx.lookupd->conn, sched_rcpt_addr(sm, i),
		    sched_resolved, sm, sm->nlk - 1, ms) < 0)
			fatalx("lookup table full despite room");
		sm->nasked++;
	}
	return sm->nasked;
}

/* The answer for envelope recipient i in this round, or NULL (not asked).
 * *k is a cursor: both lists are in recipient order. */
static const struct sched_lookup *
lookup_find(const struct sched_msg *sm, uint32_t i, uint32_t *k)
{
	while (*k < sm->nlk && sm->lk[*k].rcpt < i)
		(*k)++;
	if (*k < sm->nlk && sm->lk[*k].rcpt == i && sm->lk[*k].have)
		return &sm->lk[*k];
	return NULL;
}

/*
 * The round of sm, its lookups answered: group the due recipients into
 * jobs and start (or queue) them.  Alias targets added on the way are due
 * at once and go in this round too, as long as it has room.
 */
static void
sched_round(struct sched_msg *sm)
{
	struct dispatch dp = { NULL, 0, 0, NULL, 0 };
	const struct sched_lookup *lk = NULL;
	uint64_t now = queued_now();
	uint32_t taken = 0, k = 0;

	/* sm->n grows while expanding.  One round takes a bounded number of
	 * recipients, so that a job fits one IPC frame and queued's loop
	 * never stalls on one message; the rest stay due and go in the next
	 * round, when this one settles. */
	for (uint32_t i = 0; i < sm->n; i++) {
		struct sched_rcpt_rec *r = &sm->r[i].rec;

		if (!rcpt_due(sm, i, now) || ((r->kind == RCPT_KIND_ENVELOPE ||
		    r->kind == RCPT_KIND_ADDRESS) &&
		    (lk = lookup_find(sm, i, &k)) == NULL))
			continue;
		/* Every local job stays within one frame's limit. */
		if (taken++ >= DISPATCH_MAX_RCPTS ||
		    dp.nlocal_rcpts >= MSG_LOCAL_RCPTS_MAX)
			break;
		if (r->kind == RCPT_KIND_LOCAL || r->kind == RCPT_KIND_COMMAND ||
		    r->kind == RCPT_KIND_FILE || r->kind == RCPT_KIND_MAILBOX)
			dispatch_local(&dp, sm, i, sched_target_kind(r->kind),
			    r->addr);
		else if (r->kind == RCPT_KIND_REMOTE)
			dispatch_remote(&dp, sm, i, r->addr, r->delivered_to);
		else
			dispatch_envelope_rcpt(&dp, sm, i, lk);
	}
	lookups_free(sm);
	nparked--;
	/* Count every job before starting any: one that ends at once must
	 * not settle the message while the others are still to start. */
	sm->nbusy = dp.nlocal + dp.nsmtp + 1;
	for (uint32_t j = 0; j < dp.nlocal; j++) {
		TAILQ_INSERT_TAIL(&local_waiting, dp.local[j], wentry);
		nlocal_waiting++;
	}
	free(dp.local);
	sched_local_kick();
	for (uint32_t j = 0; j < dp.nsmtp; j++)
		job_submit_smtp(dp.smtp[j]);
	free(dp.smtp);
	if (--sm->nbusy == 0)
		sched_settle(sm);
}

/*
 * A due message starts a round: its lookups go out, and it is parked
 * (out of the heap, busy) until the last answer arrives.
 */
static void
sched_dispatch(struct sched_msg *sm)
{
	uint64_t now = queued_now();
	int r;

	if (sm->npending == 0) {
		/* Finished, back only for its records (sched_settle). */
		sched_settle(sm);
		return;
	}
	if ((r = sched_msg_load(sm)) < 0) {
		if (r == -1 && now >= sm->rec.arrival + sched_lifetime(sm)) {
			sched_lost_expire(sm);
			return;
		}
		sm->due = now + (uint64_t)qctx.set->maximal_backoff_time;
		heap_push(sm);
		return;
	}
	sm->nbusy = 1;
	nparked++;
	if (sched_ask(sm, now) == 0)
		sched_round(sm);
}

/* sched_lookupd_input - an answer from lookupd; -1 malformed */
int
sched_lookupd_input(struct ipc_msg *m)
{
	return resolve_answer(&qctx.lookupd->conn, m);
}

/* sched_lookupd_gone - lookupd channel p closed: its lookups fail */
void
sched_lookupd_gone(struct queued_peer *p)
{
	resolve_chan_gone(&p->conn);
}

/*
 * sched_active_full - queue_active_limit messages are loaded: what is due
 * stays in the heap.  Logged once, and again after 10 minutes of it.
 */
static int
sched_active_full(uint64_t now)
{
	static uint64_t logged;

	if (nloaded < (uint32_t)qctx.set->queue_active_limit)
		return 0;
	if (logged == 0 || now >= logged + 600) {
		log_warn("queue_active_limit (%ld) reached: due messages wait "
		    "in the queue until deliveries end",
		    qctx.set->queue_active_limit);
		logged = now;
	}
	return 1;
}

/* sched_local_bound - how many local jobs queued hands the local transport
 * at once: LOCAL_JOBS_PER_PROCESS for each process it may run */
static uint32_t
sched_local_bound(void)
{
	uint64_t bound = (uint64_t)qctx.set->local_delivery_limit *
	    LOCAL_JOBS_PER_PROCESS;

	return bound > LOCAL_JOBS_MAX ? LOCAL_JOBS_MAX : (uint32_t)bound;
}

/*
 * sched_local_kick - start waiting local jobs, oldest first, while the
 * local transport runs and has room under sched_local_bound().  The rest
 * wait here, so that a slow mailbox or command holds back local jobs
 * only, never the dispatch of mail that other transports could deliver.
 * A job that cannot start ends at once; the guard keeps such an end,
 * which settles its message, from starting a kick within this one.
 */
static void
sched_local_kick(void)
{
	static int kicking;
	struct sched_job *job;

	if (kicking)
		return;
	kicking = 1;
	while ((job = TAILQ_FIRST(&local_waiting)) != NULL &&
	    nlocal < sched_local_bound() &&
	    qctx.deliverd != NULL && !qctx.deliverd->dead) {
		TAILQ_REMOVE(&local_waiting, job, wentry);
		nlocal_waiting--;
		job_start(job);
	}
	kicking = 0;
}

/* sched_run - start what its round is ready for, then what is due */
void
sched_run(int start_new)
{
	uint64_t now = queued_now();
	struct sched_msg *sm;

	resolve_expire(now_ms());
	if (start_new)
		sched_local_kick();
	while ((sm = TAILQ_FIRST(&ready)) != NULL) {
		TAILQ_REMOVE(&ready, sm, ready);
		sched_round(sm);
	}
	if (!start_new)
		return;
	while (heap_len > 0 && heap[0]->due <= now &&
	    !sched_active_full(now) &&
	    qctx.deliverd != NULL && !qctx.deliverd->dead &&
	    qctx.lookupd != NULL && !qctx.lookupd->dead &&
	    resolve_room() > 0)
		sched_dispatch(heap_pop());
}

/* sched_timeout_ms - how long the main loop may sleep */
int
sched_timeout_ms(void)
{
	uint64_t now = queued_now();
	int t, r = resolve_timeout_ms(now_ms());

	if (heap_len == 0)
		t = 60 * 1000;
	else if (heap[0]->due > now)
		/* Compared in seconds: a held message is due at UINT64_MAX,
		 * which milliseconds would overflow. */
		t = heap[0]->due - now >= 60 ? 60000 :
		    (int)((heap[0]->due - now) * 1000);
	else
		t = 1000; /* due, but blocked on a peer or a limit */
	return r >= 0 && r < t ? r : t;
}

/* sched_flush - every waiting recipient is due now, dead sites revive */
void
sched_flush(void)
{
	uint64_t now = queued_now();

	size_t n = 0;

	dest_revive_all();
	for (size_t i = 0; i < heap_len; i++) {
		struct sched_msg *sm = heap[i];

		if (sm->rec.flags & QMSG_F_HELD)
			continue;
		for (uint32_t j = 0; j < sm->n; j++)
			if (sm->r[j].rec.state == RCPT_PENDING)
				sm->r[j].rec.next_try = now;
		sm->due = now;
		n++;
	}
	/* The order holds: held messages (due never) have only held
	 * ones below them, and every other one is due now. */
	log_info("flush: %zu messages due now", n);
}

/* sched_msg_find - the message qid, or NULL (a scan: for ternctl) */
struct sched_msg *
sched_msg_find(const char *qid)
{
	struct sched_msg *sm;

	TAILQ_FOREACH(sm, &all_msgs, all)
		if (strcmp(sm->rec.qid, qid) == 0)
			return sm;
	return NULL;
}

/*
 * sched_msg_due_now - every waiting recipient of sm is due now (a held
 * message only once released).  In memory only: a restart keeps the
 * times the index has, which is never later than wanted.
 */
void
sched_msg_due_now(struct sched_msg *sm)
{
	uint64_t now = queued_now();

	for (uint32_t j = 0; j < sm->n; j++)
		if (sm->r[j].rec.state == RCPT_PENDING)
			sm->r[j].rec.next_try = now;
	if (sm->heap_idx != SIZE_MAX && !(sm->rec.flags & QMSG_F_HELD)) {
		sm->due = now;
		heap_fix(sm->heap_idx);
	}
}

/*
 * sched_msg_hold - hold (on) or release sm.  The flag is stored in the
 * index (with the usual retry when the disk is full), so a hold
 * survives a restart.  A held message stays in the heap, due never; a
 * message with jobs in flight finishes them and then waits held
 * (sched_settle).  A released one is due now.
 */
void
sched_msg_hold(struct sched_msg *sm, int on)
{
	if (on)
		sm->rec.flags |= QMSG_F_HELD;
	else
		sm->rec.flags &= ~(uint32_t)QMSG_F_HELD;
	sched_msg_store(sm);
	if (sm->heap_idx == SIZE_MAX)
		return;
	if (on) {
		sm->due = UINT64_MAX;
		heap_fix(sm->heap_idx);
	} else
		sched_msg_due_now(sm);
}

/*
 * sched_msg_delete - remove sm from the queue without delivery or
 * notice.  Only a message waiting in the heap, with its records saved:
 * -1 with errno EBUSY while jobs run (or lookups are out) for it, EAGAIN
 * while the index lags, or the store's errno when the mark cannot be
 * written.  The message record is marked deleted first; the file goes
 * after that mark is durable, and the records after the file
 * (sched_after_sync), so a crash anywhere leaves either the whole
 * message or a record that the next start finishes (sched_add), never a
 * record without its file that would bounce as lost.
 */
int
sched_msg_delete(struct sched_msg *sm)
{
	if (sm->heap_idx == SIZE_MAX || sm->nbusy > 0) {
		errno = EBUSY;
		return -1;
	}
	if (sm->unsaved) {
		errno = EAGAIN;
		return -1;
	}
	sm->rec.flags |= QMSG_F_DELETED;
	if (sched_msg_update(sm) < 0) {
		sm->rec.flags &= ~(uint32_t)QMSG_F_DELETED;
		return -1;
	}
	qctx.store_dirty = 1;
	qstats.deleted++;
	heap_remove(sm->heap_idx);
	/* Deleted by an administrator: the file goes now, not reused. */
	sched_msg_finish(sm, 0);
	return 0;
}

/* sched_busy - jobs run, or lookups are out, for sm */
int
sched_busy(const struct sched_msg *sm)
{
	return sm->nbusy > 0;
}

/* sched_first - the first of every message known */
struct sched_msg *
sched_first(void)
{
	return TAILQ_FIRST(&all_msgs);
}

/* sched_next - the one after sm */
struct sched_msg *
sched_next(struct sched_msg *sm)
{
	return TAILQ_NEXT(sm, all);
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

/*
 * Record a finished job, account it to its destination (reached: 1 the
 * site answered, 0 it did not, -1 the job never ran) and settle the
 * message when it was its last.
 */
static void
sched_job_done(struct sched_job *job, int reached)
{
	struct sched_msg *sm = job->sm;
	struct dest *d = job->dest;
	const char *last = NULL;

	for (uint32_t j = 0; j < job->nentries; j++) {
		struct job_entry *e = &job->entries[j];
		int had = e->have;

		if (!had) {
			e->status = DELIVER_TEMPFAIL;
			strlcpy(e->dsn, "4.3.0", sizeof(e->dsn));
			sched_text_set(&e->text, "delivery agent did not "
			    "report a result", MSG_TEXT_MAX);
		}
		if (reached < 0 || !had) {
			char buf[ADDR_TEXT_MAX + 2];

			sched_log(sm, sched_rcpt_display(sm, e->rcpt, buf,
			    sizeof(buf)), NULL, job, "none", e->dsn,
			    status_word(e->status), e->text);
		}
		last = e->text;
		sched_rcpt_result(sm, e->rcpt, e->status, e->dsn, e->text,
		    job->smtp ? e->relay : "local", e->flags);
	}
	LIST_REMOVE(job, entry);
	if (reached >= 0) {
		if (job->smtp)
			nsmtp--;
		else
			nlocal--;
	}
	if (d != NULL && reached >= 0) {
		if (!reached && last != NULL)
			strlcpy(d->last_error, last, sizeof(d->last_error));
		if (dest_job_end(d, reached, queued_now(),
		    (uint64_t)qctx.set->minimal_backoff_time,
		    (uint32_t)qctx.set->smtp_destination_concurrency_limit)) {
			char verr[sizeof(d->last_error) * 4];

			/* The error text came from a remote server. */
			log_vis(verr, sizeof(verr), d->last_error,
			    strlen(d->last_error));
			log_info("%s: destination is dead for %lds: %s", d->name,
			    qctx.set->minimal_backoff_time, verr);
			sched_dest_flush_dead(d);
		}
	}
	job_free(job);
	if (--sm->nbusy == 0)
		sched_settle(sm);
	/* A job that never ran leaves its destination to the caller, which
	 * may be walking that destination's queue. */
	if (d != NULL && reached >= 0) {
		sched_dest_kick(d);
		dest_forget(d);
	}
}

/* The recipient as deliverd logs it, and the alias it came from. */
static void
job_entry_names(struct sched_job *job, struct job_entry *e, char *to,
    size_t tosize, const char **orig)
{
	struct sched_msg *sm = job->sm;
	const struct sched_rcpt_rec *r = &sm->r[e->rcpt].rec;
	const char *rcpt = sm->env->rcpts[r->parent].addr;
	const char *at = strrchr(rcpt, '@');
	size_t tlen = strlen(e->target);

	*orig = NULL;
	if (r->kind != RCPT_KIND_ENVELOPE) {
		char buf[ADDR_TEXT_MAX + 2];

		strlcpy(to, sched_rcpt_display(sm, e->rcpt, buf, sizeof(buf)),
		    tosize);
		*orig = rcpt;
		return;
	}
	strlcpy(to, rcpt, tosize);
	/* A virtual mailbox's target is its path: the address says more. */
	if ((job->smtp && !job->lmtp) || virtual_path_is(e->target))
		return;
	if (strncasecmp(rcpt, e->target, tlen) != 0 ||
	    (at != NULL && (size_t)(at - rcpt) != tlen) ||
	    (at == NULL && strlen(rcpt) != tlen)) {
		snprintf(to, tosize, "%s@%s", e->target, qctx.set->myhostname);
		*orig = rcpt;
	}
}

/* One per-recipient result from either delivery agent. */
static int
job_result(struct sched_job *job, uint32_t idx, uint32_t status,
    const char *dsn, const char *text, const char *relay, uint32_t flags)
{
	struct job_entry *e;
	char to[ADDR_TEXT_MAX + 2];
	const char *orig;

	if (idx >= job->nentries || status > DELIVER_PERMFAIL)
		return -1;
	e = &job->entries[idx];
	e->have = 1;
	e->status = status;
	e->flags = flags;
	/* Forwarded, but an address led back (sched_forward): a loop. */
	if (status == DELIVER_OK && e->loop[0] != '\0') {
		char vis[ADDR_TEXT_MAX * 4], why[MSG_TEXT_MAX + 1];

		log_vis(vis, sizeof(vis), e->loop, strlen(e->loop));
		e->status = status = DELIVER_PERMFAIL;
		strlcpy(why, "mail forwarding loop for ", sizeof(why));
		strlcat(why, vis, sizeof(why));
		job_entry_result_set(e, "5.4.6", why, relay);
		dsn = e->dsn;
		text = e->text;
	} else
		job_entry_result_set(e, dsn, text, relay);
	job_entry_names(job, e, to, sizeof(to), &orig);
	sched_log(job->sm, to, orig, job, relay, dsn, status_word(status),
	    text);
	return 0;
}

/*
 * job_result_unread - a result frame from peer that did not decode but
 * still names its job, recipient and status.  A delivery that was made is
 * recorded as made, so that it is not made twice; anything else is
 * deferred, never lost.
 */
static void
job_result_unread(const struct ipc_msg *m, const struct queued_peer *from)
{
	uint32_t jobid, idx, status;
	struct sched_job *job;

	if (msg_peek_result(m, &jobid, &idx, &status) != 0 ||
	    (job = sched_job_find(jobid)) == NULL || job->peer != from)
		return;
	(void)job_result(job, idx, status == DELIVER_OK ? DELIVER_OK :
	    DELIVER_TEMPFAIL, status == DELIVER_OK ? "2.0.0" : "4.3.0",
	    "the delivery agent's report could not be read",
	    job->smtp ? "none" : "local", 0);
}

/*
 * job_done_unread - a done frame that did not decode: when it names a
 * job of this agent, that job is over, its unreported entries deferred.
 */
static void
job_done_unread(const struct ipc_msg *m, const struct queued_peer *from)
{
	struct sched_job *job;
	uint32_t jobid;

	if (msg_peek_u32(m, &jobid) == 0 &&
	    (job = sched_job_find(jobid)) != NULL && job->peer == from)
		sched_job_done(job, 1);
}

/* sched_domain_is_local - domain is one of local_domains */
static int
sched_domain_is_local(const char *domain)
{
	return settings_domain_in(&qctx.set->local_domains, domain);
}

/*
 * sched_forward_add - one address of a .forward (the user's words:
 * parsed again) as a recipient of sm with parent's envelope recipient.
 * An address in a local domain, or a bare name (in the domain of from
 * when that is local), is resolved by lookupd like an envelope
 * recipient, so that aliases apply to it as in Postfix; a bare name
 * without a local domain to go with is that mailbox user; anything else
 * is remote.  The message keeps its envelope sender; a remote copy
 * carries "Delivered-To: from" (the forwarding user's address, as its
 * own delivery would have written it), which stops it when it comes
 * back (local_loop.h).  Each address is added once per message
 * (sched_rcpt_add); one that names one of the nanc recipients anc (the
 * forwarding user and those that sent the mail to it) is not added: it
 * is a forwarding loop inside the message, and its text goes to loop
 * (size octets), unless loop holds one already.
 */
static void
sched_forward_add(struct sched_msg *sm, uint32_t parent, const char *text,
    const char *from, const uint32_t *anc, uint32_t nanc, char *loop,
    size_t size)
{
	char buf[ADDR_TEXT_MAX + 16], addr[ADDR_TEXT_MAX], vis[ADDR_TEXT_MAX * 4];
	const char *fromdom = strrchr(from, '@');
	struct mailaddr ma;
	int bare = strchr(text, '@') == NULL;
	uint32_t kind = RCPT_KIND_REMOTE;
	size_t i;

	log_vis(vis, sizeof(vis), text, strlen(text));
	if (bare && fromdom != NULL && sched_domain_is_local(fromdom + 1))
		bare = 0;	/* "name" is name@ the user's own domain */
	else
		fromdom = NULL;
	if (snprintf(buf, sizeof(buf), "%s%s%s", text, bare ? "@localhost" :
	    "", fromdom != NULL ? fromdom : "") >= (int)sizeof(buf) ||
	    addr_parse_mailbox(buf, strlen(buf), ADDR_P_UTF8, &ma) !=
	    ADDR_OK || (ma.flags & ADDR_F_NULL) ||
	    addr_format(&ma, addr, sizeof(addr)) == -1) {
		log_warn("%s: .forward address refused: %s", sm->rec.qid, vis);
		return;
	}
	if (!bare && sched_domain_is_local(ma.domain))
		kind = RCPT_KIND_ADDRESS;
	else if (bare) {
		kind = RCPT_KIND_LOCAL;
		for (i = 0; ma.local[i] != '\0' && i + 1 < sizeof(addr); i++)
			addr[i] = (char)tolower((unsigned char)ma.local[i]);
		addr[i] = '\0';
		if (addr[0] == '\0' || addr[0] == '.' || strchr(addr, '/')) {
			log_warn("%s: .forward address refused: %s",
			    sm->rec.qid, vis);
			return;
		}
	}
	if (sched_chain_has(sm, anc, nanc, kind, addr)) {
		log_warn("%s: .forward address leads back (mail forwarding "
		    "loop): %s", sm->rec.qid, vis);
		if (loop[0] == '\0')
			strlcpy(loop, addr, size);
		return;
	}
	/* Every address records who sent it on: a remote copy's
	 * Delivered-To, and the way back for sched_rcpt_ancestors. */
	if (sched_rcpt_add(sm, parent, kind, addr, from) == UINT32_MAX)
		log_warn("%s: .forward address dropped (too many recipients): "
		    "%s", sm->rec.qid, vis);
}

/*
 * sched_forward - a local recipient's .forward addresses, before its
 * result: stored as recipients of the message (sched_rcpt_store), so
 * that the result that follows ("forwarded", which retires the
 * recipient) never comes before the addresses are safe.  An address
 * that leads back to the recipient or to one that sent the mail to it
 * (a forwarding loop: a's .forward names b, b's names a) turns that
 * result into a bounce (job_result), so that the sender hears of it.
 */
static int
sched_forward(struct ipc_msg *m)
{
	struct sched_job *job;
	struct msg_forward fw;
	struct sched_msg *sm;
	char vis[ADDR_TEXT_MAX * 4], from[MSG_ADDR_MAX + 1];
	char loop[ADDR_TEXT_MAX];
	const char *why;
	uint32_t parent, *anc, nanc;
	struct job_entry *e;

	if (msg_decode(m, MSG_DELIVERD_FORWARD, &fw, &why) != 0) {
		msg_log_reject("deliverd", m, why);
		return -1;
	}
	if ((job = sched_job_find(fw.job)) == NULL || job->smtp ||
	    fw.index >= job->nentries ||
	    job->entries[fw.index].kind != RESOLVE_LOCAL) {
		msg_free(MSG_DELIVERD_FORWARD, &fw);
		msg_log_reject("deliverd", m, "unknown job or recipient");
		return -1;
	}
	sm = job->sm;
	e = &job->entries[fw.index];
	parent = sm->r[e->rcpt].rec.parent;
	sched_rcpt_delivered(sm, e->rcpt, from, sizeof(from));
	nanc = sched_rcpt_ancestors(sm, e->rcpt, &anc);
	strlcpy(loop, e->loop, sizeof(loop));
	for (uint32_t i = 0; i < fw.n; i++)
		sched_forward_add(sm, parent, fw.a[i].address, from, anc, nanc,
		    loop, sizeof(loop));
	sched_text_set(&e->loop, loop, sizeof(loop) - 1);
	free(anc);
	log_vis(vis, sizeof(vis), job->entries[fw.index].target,
	    strlen(job->entries[fw.index].target));
	log_info("%s: .forward of %s: %u address(es)", sm->rec.qid, vis,
	    fw.n);
	msg_free(MSG_DELIVERD_FORWARD, &fw);
	return 0;
}

/* sched_deliverd_input - results from the local deliverd; -1 rejected */
int
sched_deliverd_input(struct ipc_msg *m)
{
	struct msg_job_done done;
	struct sched_job *job;
	struct msg_result r;
	const char *why;

	if (m->type == MSG_DELIVERD_FORWARD)
		return sched_forward(m);
	if (m->type == MSG_DELIVERD_JOB_DONE) {
		if (msg_decode(m, MSG_DELIVERD_JOB_DONE, &done, &why) != 0) {
			msg_log_reject("deliverd", m, why);
			job_done_unread(m, qctx.deliverd);
			return -1;
		}
		if ((job = sched_job_find(done.job)) == NULL ||
		    job->peer != qctx.deliverd) {
			msg_log_reject("deliverd", m, "unknown job");
			return -1;
		}
		sched_job_done(job, 1);
		return 0;
	}
	if (msg_decode(m, MSG_DELIVERD_RESULT, &r, &why) != 0) {
		msg_log_reject("deliverd", m, why);
		job_result_unread(m, qctx.deliverd);
		return -1;
	}
	if ((job = sched_job_find(r.job)) == NULL ||
	    job->peer != qctx.deliverd ||
	    job_result(job, r.index, r.status, r.dsn, r.text, "local",
	    0) != 0) {
		msg_log_reject("deliverd", m, "unknown job or recipient");
		return -1;
	}
	return 0;
}

/* sched_smtp_input - results from the smtp or lmtp deliverd; -1 rejected */
int
sched_smtp_input(struct queued_peer *from, struct ipc_msg *m)
{
	struct msg_smtp_result r;
	struct msg_smtp_done done;
	struct sched_job *job;
	const char *why;

	if (m->type == MSG_DELIVERD_SMTP_DONE) {
		if (msg_decode(m, MSG_DELIVERD_SMTP_DONE, &done, &why) != 0) {
			msg_log_reject("smtp deliverd", m, why);
			job_done_unread(m, from);
			return -1;
		}
		if ((job = sched_job_find(done.job)) == NULL || job->peer != from) {
			msg_log_reject("smtp deliverd", m, "unknown job");
			return -1;
		}
		sched_job_done(job, done.site == SITE_OK);
		return 0;
	}
	if (msg_decode(m, MSG_DELIVERD_SMTP_RESULT, &r, &why) != 0) {
		msg_log_reject("smtp deliverd", m, why);
		job_result_unread(m, from);
		return -1;
	}
	if ((job = sched_job_find(r.job)) == NULL || job->peer != from ||
	    job_result(job, r.index, r.status, r.dsn, r.text, r.relay,
	    r.flags) != 0) {
		msg_log_reject("smtp deliverd", m, "unknown job or recipient");
		return -1;
	}
	return 0;
}

/* sched_agent_gone - the jobs in flight to a departed delivery agent
 * will not report: their recipients are deferred */
void
sched_agent_gone(struct queued_peer *p)
{
	struct sched_job *job, *next;

	for (job = LIST_FIRST(&jobs); job != NULL; job = next) {
		next = LIST_NEXT(job, entry);
		if (job->peer != p)
			continue;
		/* Unreported entries defer; the site itself is not to blame.
		 * The next pointer may be freed by a settle that starts a
		 * waiting job, so start over. */
		sched_job_done(job, 1);
		next = LIST_FIRST(&jobs);
	}
}

/* sched_smtp_ready - an smtp deliverd arrived: start what waits for it */
void
sched_smtp_ready(void)
{
	dest_walk(sched_dest_kick);
}
