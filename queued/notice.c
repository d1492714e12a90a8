/*
 * notice - notifications to the sender, queued as new messages.
 *
 * Called by the scheduler when a delivery round of a message has ended
 * (notice_settle).  A bounce is a message from the null sender to the
 * original sender, written with the same envelope format as any queue
 * file, synced, and added to the index before the failed recipients'
 * records are stored: both land in the same index flush, and the log
 * orders them, so after a crash either the bounce exists or the
 * recipients are still pending (and will bounce again) -- a notice can be
 * sent twice, never lost.
 *
 * Never bounce mail from the null sender: its failure goes to the
 * postmaster only when notify_classes has "2bounce", and the failure of
 * that notice is dropped with a log line.  Never let a notice request
 * notices (NOTIFY=NEVER on its recipients).
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bounce.h"
#include "envelope.h"
#include "log.h"
#include "msgfile.h"
#include "notice.h"
#include "queue_commit.h"
#include "queued.h"
#include "spool.h"
#include "virtual_path.h"
#include "xmalloc.h"

#define NOTICE_ORIG_MAX		(64 * 1024 * 1024)	/* RET=FULL bound */
#define NOTICE_HEADER_MAX	(256 * 1024)

/* notify_classes has word? */
static int
notice_class(const char *word)
{
	const struct strlist *l = &qctx.set->notify_classes;

	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], word) == 0)
			return 1;
	return 0;
}

/* The original message (after the envelope) in a new buffer, at most
 * max octets; NULL when unreadable. */
static char *
notice_read_orig(struct sched_msg *sm, size_t max, size_t *len)
{
	char path[4096], *buf;
	uint64_t total = sm->body_len;
	size_t want = total < max ? (size_t)total : max, got = 0;
	int fd;

	if (spool_msg_path(qctx.spool, sm->rec.qid, path, sizeof(path)) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return NULL;
	buf = xmalloc(want + 1);
	while (got < want) {
		ssize_t n = pread(fd, buf + got, want - got,
		    sm->body + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return buf;
}

/*
 * Queue a new message from <> with body text to the recipients in to.
 * The file is synced and its directory too before the index learns of
 * it.  0 with the new queue ID in qid, or -1 (nothing left behind).
 */
static int
notice_queue(const char *const *to, uint32_t nto, uint32_t flags,
    uint32_t envflags, int eightbit, const char *text, size_t textlen,
    char *qid, size_t qidsize)
{
	/* 64 KiB of buffer: not for the stack; queued is single-threaded. */
	static struct msgfile_writer w;
	struct envelope env;
	struct queue_msg_rec msg;
	struct queue_rcpt_rec *recs;
	struct timespec ts;
	unsigned char *prefix;
	size_t plen;
	char path[4096], dir[4096];
	uint64_t now = queued_now(), size;
	int fd, dfd, ok;

	if ((fd = commit_create_file(qid, qidsize, path, sizeof(path))) < 0) {
		log_error("cannot create a notice file: %s", strerror(errno));
		return -1;
	}
	memset(&env, 0, sizeof(env));
	strlcpy(env.qid, qid, sizeof(env.qid));
	env.arrival = now;
	strlcpy(env.helo, qctx.set->myhostname, sizeof(env.helo));
	strlcpy(env.client_name, "localhost", sizeof(env.client_name));
	strlcpy(env.client_addr, "127.0.0.1", sizeof(env.client_addr));
	strlcpy(env.protocol, "local", sizeof(env.protocol));
	env.body = eightbit ? BODY_8BITMIME : BODY_7BIT;
	env.flags = envflags;
	env.nrcpt = nto;
	env.rcpts = xcalloc(nto, sizeof(*env.rcpts));
	for (uint32_t i = 0; i < nto; i++) {
		strlcpy(env.rcpts[i].addr, to[i], sizeof(env.rcpts[i].addr));
		env.rcpts[i].notify = NOTIFY_NEVER;
		/* A UTF-8 sender of the original (RFC 6531) is reached only
		 * with SMTPUTF8, and its address is valid only with it. */
		for (const char *c = to[i]; *c != '\0'; c++)
			if ((unsigned char)*c >= 0x80)
				env.flags |= ENVELOPE_F_SMTPUTF8;
	}
	envelope_encode(&env, &prefix, &plen);
	recs = queue_records_from_envelope(&env, now, textlen, &msg);
	msg.flags = flags;
	free(env.rcpts);
	/* The data, trailer included, must be on disk before the index
	 * names the file. */
	msgfile_writer_init(&w, fd);
	msgfile_write(&w, prefix, plen);
	msgfile_write(&w, text, textlen);
	ok = msgfile_writer_finish(&w, &size) == 0 && fdatasync(fd) == 0;
	free(prefix);
	close(fd);
	if (ok && spool_msg_dir(qctx.spool, qid, dir, sizeof(dir)) == 0 &&
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		ok = fsync(dfd) == 0;
		close(dfd);
	} else
		ok = 0;
	if (!ok || queue_store_message_add(qctx.store, &msg, recs, nto) < 0) {
		log_error("%s: cannot queue a notice: %s", qid,
		    ok ? "queue index write error" : strerror(errno));
		unlink(path);
		free(recs);
		return -1;
	}
	qctx.store_dirty = 1;
	log_info("%s: from=<>, size=%zu, nrcpt=%u (queue active)", qid,
	    textlen, nto);
	clock_gettime(CLOCK_REALTIME, &ts);
	sched_add(&msg, recs, nto, (double)ts.tv_sec + ts.tv_nsec / 1e9);
	free(recs);
	return 0;
}

/* Fill d[k] for recipient i of sm. */
static void
notice_rcpt(struct sched_msg *sm, uint32_t i, struct dsn_rcpt *d,
    const char *action, char (*addrbuf)[ADDR_TEXT_MAX + 2])
{
	const struct sched_rcpt_rec *r = &sm->r[i].rec;
	const char *a = sched_rcpt_addr(sm, i);

	if (a == NULL) {
		snprintf(*addrbuf, sizeof(*addrbuf), "%s@%s", r->addr,
		    qctx.set->myhostname);
		a = *addrbuf;
	}
	memset(d, 0, sizeof(*d));
	d->addr = a;
	d->orcpt = sm->env->rcpts[r->parent].orcpt;
	d->action = action;
	d->status = r->dsn[0] != '\0' ? r->dsn :
	    strcmp(action, "failed") == 0 ? "5.0.0" :
	    strcmp(action, "delayed") == 0 ? "4.0.0" : "2.0.0";
	d->relay = r->relay;
	d->diag = r->last_error;
	d->last_attempt = r->last_try;
	d->expired = sm->r[i].expired;
	/* An expired recipient's last status was temporary; the report's
	 * status must be a permanent one (RFC 3463: 4.4.7 becomes 5.4.7). */
	if (strcmp(action, "failed") == 0 && d->status[0] != '5')
		d->status = "5.4.7";
}

/*
 * Compose and queue one notice of kind about the recipients in idx to
 * the addresses in to; 0 with its queue ID in nqid, or -1.
 */
static int
notice_send(struct sched_msg *sm, enum dsn_kind kind, const uint32_t *idx,
    uint32_t n, const char *const *to, uint32_t nto, uint32_t flags,
    char *nqid, size_t nqidsize)
{
	struct dsn_report rep;
	struct dsn_rcpt *d = xcalloc(n, sizeof(*d));
	char (*abuf)[ADDR_TEXT_MAX + 2] = xcalloc(n, sizeof(*abuf));
	char *orig, *text, qid[QID_MAX + 8];
	size_t origlen = 0, textlen;
	int r;

	memset(&rep, 0, sizeof(rep));
	rep.kind = kind;
	/* RFC 8689 5: a notice of a REQUIRETLS message carries only the
	 * header, whatever RET asked for, and goes with REQUIRETLS itself
	 * (its delivery from <> is best effort: smtp_requiretls.c); 6: a
	 * "TLS-Required: No" message's notices are tagged the same way. */
	uint32_t envflags = sm->env->flags &
	    (ENVELOPE_F_REQUIRETLS | ENVELOPE_F_TLS_OPTIONAL);

	rep.full = kind == DSN_KIND_FAILED && sm->env->ret == DSN_RET_FULL &&
	    !(envflags & ENVELOPE_F_REQUIRETLS);
	if ((orig = notice_read_orig(sm, rep.full ? NOTICE_ORIG_MAX :
	    NOTICE_HEADER_MAX, &origlen)) == NULL) {
		log_error("%s: cannot read the message for a notice",
		    sm->rec.qid);
		free(d);
		free(abuf);
		return -1;
	}
	if (!rep.full)
		origlen = bounce_header_len(orig, origlen);
	for (uint32_t k = 0; k < n; k++)
		notice_rcpt(sm, idx[k], &d[k], kind == DSN_KIND_FAILED ?
		    "failed" : kind == DSN_KIND_DELAYED ? "delayed" :
		    sm->r[idx[k]].notice == NOTICE_RELAYED ? "relayed" :
		    "delivered", &abuf[k]);
	/* The notice's queue ID is only known once its file exists, so the
	 * Message-Id uses the original's ID and the kind. */
	snprintf(qid, sizeof(qid), "%s.%c", sm->rec.qid, "FDS"[kind]);
	rep.hostname = qctx.set->myhostname;
	rep.qid = sm->rec.qid;
	rep.notice_qid = qid;
	rep.envid = sm->env->envid;
	rep.to = sm->env->sender[0] != '\0' ? sm->env->sender : to[0];
	rep.arrival = sm->rec.arrival;
	rep.now = queued_now();
	rep.give_up = sm->rec.arrival + (uint64_t)(sm->env->sender[0] ==
	    '\0' ? qctx.set->bounce_queue_lifetime :
	    qctx.set->maximal_queue_lifetime);
	rep.eightbit = sm->env->body == BODY_8BITMIME;
	text = bounce_compose(&rep, d, n, orig, origlen, &textlen);
	r = notice_queue(to, nto, flags, envflags, rep.eightbit, text,
	    textlen, nqid, nqidsize);
	free(text);
	free(orig);
	free(d);
	free(abuf);
	return r;
}

/* The recipients in state with a notice of kind, whose NOTIFY wants it. */
static uint32_t
notice_select(struct sched_msg *sm, int want_notice, uint32_t bit,
    uint32_t *idx)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < sm->n; i++) {
		uint32_t notify = sched_rcpt_notify(sm, i);
		int match = want_notice ? sm->r[i].notice == want_notice :
		    sm->r[i].rec.state == RCPT_PENDING;

		if (!match)
			continue;
		if (notify == 0 ? bit == NOTIFY_SUCCESS : !(notify & bit))
			continue;
		idx[n++] = i;
	}
	return n;
}

/* Store every record that waited for a notice of kind (or all). */
static void
notice_done(struct sched_msg *sm, int kind, int failed)
{
	for (uint32_t i = 0; i < sm->n; i++) {
		if (sm->r[i].notice == NOTICE_NONE ||
		    (kind != NOTICE_NONE && sm->r[i].notice != kind &&
		    !(kind == NOTICE_DELIVERED &&
		    sm->r[i].notice == NOTICE_RELAYED)))
			continue;
		if (failed)
			sched_rcpt_unfail(sm, i);
		else
			sched_rcpt_settled(sm, i);
		sm->nnotice--;
	}
}

/* Failed recipients of mail from <>: postmaster, or the log. */
static void
notice_double_bounce(struct sched_msg *sm, uint32_t *idx)
{
	char postmaster[ADDR_TEXT_MAX], nqid[QID_MAX];
	const char *to[1] = { postmaster };
	uint32_t n = 0;

	for (uint32_t i = 0; i < sm->n; i++)
		if (sm->r[i].notice == NOTICE_FAILED)
			idx[n++] = i;
	if ((sm->rec.flags & QMSG_F_2BOUNCE) || !notice_class("2bounce")) {
		log_info("%s: undeliverable %s from <> discarded", sm->rec.qid,
		    (sm->rec.flags & QMSG_F_2BOUNCE) ?
		    "postmaster notification" : "notification");
		notice_done(sm, NOTICE_FAILED, 0);
		return;
	}
	snprintf(postmaster, sizeof(postmaster), "postmaster@%s",
	    qctx.set->myhostname);
	if (notice_send(sm, DSN_KIND_FAILED, idx, n, to, 1, QMSG_F_2BOUNCE,
	    nqid, sizeof(nqid)) < 0) {
		notice_done(sm, NOTICE_FAILED, 1);
		return;
	}
	log_info("%s: postmaster non-delivery notification: %s", sm->rec.qid,
	    nqid);
	notice_done(sm, NOTICE_FAILED, 0);
}

/* notice_owner - where recipient i's bounce goes instead of the sender */
static const char *
notice_owner(const struct sched_msg *sm, uint32_t i)
{
	return sched_rcpt_owner(sm, i);
}

/*
 * notice_owner_bounces - the failed recipients idx[0..*n) whose alias
 * has an owner get a bounce to that owner (one per owner); the others
 * are left in idx for the sender's.  -1 when one could not be queued.
 */
static int
notice_owner_bounces(struct sched_msg *sm, uint32_t *idx, uint32_t *n)
{
	uint32_t *grp = xcalloc(*n, sizeof(*grp));
	const char *owner, *to[1];
	char nqid[QID_MAX], vis[ADDR_TEXT_MAX * 4];
	uint32_t k, m, left;
	int rc = 0;

	while (rc == 0) {
		owner = NULL;
		for (k = 0; k < *n && owner == NULL; k++)
			owner = notice_owner(sm, idx[k]);
		if (owner == NULL)
			break;
		for (k = m = left = 0; k < *n; k++) {
			const char *o = notice_owner(sm, idx[k]);

			if (o != NULL && strcmp(o, owner) == 0)
				grp[m++] = idx[k];
			else
				idx[left++] = idx[k];
		}
		*n = left;
		to[0] = owner;
		if (notice_send(sm, DSN_KIND_FAILED, grp, m, to, 1, 0, nqid,
		    sizeof(nqid)) < 0) {
			rc = -1;
			break;
		}
		log_vis(vis, sizeof(vis), owner, strlen(owner));
		log_info("%s: owner non-delivery notification to <%s>: %s",
		    sm->rec.qid, vis, nqid);
	}
	free(grp);
	return rc;
}

/* Failed recipients: one bounce listing all of them (per owner). */
static void
notice_bounce(struct sched_msg *sm, uint32_t *idx)
{
	char postmaster[ADDR_TEXT_MAX], nqid[QID_MAX];
	const char *to[2] = { sm->env->sender, postmaster };
	uint32_t n, nto = 1;
	int expired = 0;

	if (sm->env->sender[0] == '\0') {
		notice_double_bounce(sm, idx);
		return;
	}
	n = notice_select(sm, NOTICE_FAILED, NOTIFY_FAILURE, idx);
	for (uint32_t k = 0; k < n; k++)
		expired |= sm->r[idx[k]].expired;
	if (notice_owner_bounces(sm, idx, &n) != 0) {
		notice_done(sm, NOTICE_FAILED, 1);
		return;
	}
	if (n == 0) {
		notice_done(sm, NOTICE_FAILED, 0);
		return;
	}
	if (notice_class("bounce")) {
		snprintf(postmaster, sizeof(postmaster), "postmaster@%s",
		    qctx.set->myhostname);
		nto = 2;
	}
	if (notice_send(sm, DSN_KIND_FAILED, idx, n, to, nto, 0, nqid,
	    sizeof(nqid)) < 0) {
		notice_done(sm, NOTICE_FAILED, 1);
		return;
	}
	log_info("%s: sender non-delivery notification: %s", sm->rec.qid,
	    nqid);
	if (expired)
		log_info("%s: from=<%s>, status=expired, returned to sender",
		    sm->rec.qid, sm->env->sender);
	notice_done(sm, NOTICE_FAILED, 0);
}

/* NOTIFY=SUCCESS recipients: a success report (best effort). */
static void
notice_success(struct sched_msg *sm, uint32_t *idx)
{
	const char *to[1] = { sm->env->sender };
	char nqid[QID_MAX];
	uint32_t n = 0;

	for (uint32_t i = 0; i < sm->n; i++)
		if (sm->r[i].notice == NOTICE_DELIVERED ||
		    sm->r[i].notice == NOTICE_RELAYED)
			idx[n++] = i;
	if (n > 0 && sm->env->sender[0] != '\0') {
		if (notice_send(sm, DSN_KIND_SUCCESS, idx, n, to, 1, 0, nqid,
		    sizeof(nqid)) == 0)
			log_info("%s: sender delivery status notification: %s",
			    sm->rec.qid, nqid);
	}
	notice_done(sm, NOTICE_DELIVERED, 0);
}

/* One delay warning per message, when delay_warning_time has passed. */
static void
notice_delay(struct sched_msg *sm, uint32_t *idx)
{
	const char *to[1] = { sm->env->sender };
	char nqid[QID_MAX];
	uint64_t now = queued_now();
	uint32_t n;

	if (qctx.set->delay_warning_time <= 0 ||
	    (sm->rec.flags & QMSG_F_WARNED) || sm->npending == 0 ||
	    now < sm->rec.arrival + (uint64_t)qctx.set->delay_warning_time)
		return;
	if (sm->env->sender[0] != '\0' &&
	    (n = notice_select(sm, NOTICE_NONE, NOTIFY_DELAY, idx)) > 0) {
		if (notice_send(sm, DSN_KIND_DELAYED, idx, n, to, 1, 0, nqid,
		    sizeof(nqid)) < 0)
			return;	/* try again after the next attempt */
		log_info("%s: sender delay notification: %s", sm->rec.qid,
		    nqid);
	}
	sm->rec.flags |= QMSG_F_WARNED;
	sched_msg_store(sm);
}

/* notice_settle - queue what the round's results call for */
void
notice_settle(struct sched_msg *sm)
{
	uint32_t *idx = xcalloc(sm->n ? sm->n : 1, sizeof(*idx));
	int failed = 0, success = 0;

	for (uint32_t i = 0; i < sm->n; i++) {
		failed |= sm->r[i].notice == NOTICE_FAILED;
		success |= sm->r[i].notice == NOTICE_DELIVERED ||
		    sm->r[i].notice == NOTICE_RELAYED;
	}
	if (failed)
		notice_bounce(sm, idx);
	if (success)
		notice_success(sm, idx);
	notice_delay(sm, idx);
	free(idx);
}

/* notice_lost - the bounce of a message whose file is gone */
int
notice_lost(struct sched_msg *sm)
{
	struct dsn_report rep;
	struct dsn_rcpt *d = xcalloc(sm->n ? sm->n : 1, sizeof(*d));
	char (*abuf)[ADDR_TEXT_MAX + 2] = xcalloc(sm->n ? sm->n : 1,
	    sizeof(*abuf));
	char postmaster[ADDR_TEXT_MAX], nqid[QID_MAX], qid[QID_MAX + 8];
	const char *to[2] = { sm->rec.sender, postmaster };
	char *text;
	size_t textlen;
	uint32_t n = 0, nto = 1;
	int r;

	if (!sm->rec.have_sender || sm->rec.sender[0] == '\0') {
		log_info("%s: queue file lost; %s", sm->rec.qid,
		    sm->rec.have_sender ? "undeliverable notification from <> "
		    "discarded" : "its sender is unknown (an index record "
		    "from an older tern): nobody to notify");
		free(d);
		free(abuf);
		return 0;
	}
	for (uint32_t i = 0; i < sm->n; i++) {
		const struct sched_rcpt_rec *rr = &sm->r[i].rec;

		if (rr->state != RCPT_PENDING || rr->addr[0] == '\0')
			continue;
		if (rr->kind == RCPT_KIND_LOCAL && virtual_path_is(rr->addr))
			strlcpy(abuf[n], rr->addr, sizeof(abuf[n]));
		else if (rr->kind == RCPT_KIND_LOCAL ||
		    rr->kind == RCPT_KIND_MAILBOX)
			snprintf(abuf[n], sizeof(abuf[n]), "%s@%s", rr->addr,
			    qctx.set->myhostname);
		else
			strlcpy(abuf[n], rr->addr, sizeof(abuf[n]));
		d[n].addr = abuf[n];
		d[n].action = "failed";
		d[n].status = "5.3.0";
		d[n].relay = rr->relay;
		d[n].diag = "queue file lost";
		d[n].last_attempt = rr->last_try;
		n++;
	}
	memset(&rep, 0, sizeof(rep));
	snprintf(qid, sizeof(qid), "%s.L", sm->rec.qid);
	rep.kind = DSN_KIND_FAILED;
	rep.hostname = qctx.set->myhostname;
	rep.qid = sm->rec.qid;
	rep.notice_qid = qid;
	rep.to = sm->rec.sender;
	rep.arrival = sm->rec.arrival;
	rep.now = queued_now();
	rep.no_original = 1;
	text = bounce_compose(&rep, d, n, NULL, 0, &textlen);
	if (notice_class("bounce")) {
		snprintf(postmaster, sizeof(postmaster), "postmaster@%s",
		    qctx.set->myhostname);
		nto = 2;
	}
	r = notice_queue(to, nto, 0, 0, 0, text, textlen, nqid,
	    sizeof(nqid));
	if (r == 0)
		log_info("%s: queue file lost; sender non-delivery "
		    "notification: %s", sm->rec.qid, nqid);
	free(text);
	free(d);
	free(abuf);
	return r;
}
