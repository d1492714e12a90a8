/*
 * queue_commit - how a message enters the queue.
 *
 * OPEN: queued creates SPOOL/msg/X/QID (O_EXCL, mode 0600) and passes a
 * read-write descriptor to smtpd, which writes the envelope and the data
 * and fdatasync()s them: the data sync runs in parallel in every smtpd
 * instead of one after the other here.  An smtpd that asks (COMMIT_F_NEXT)
 * gets its next file ahead, with the answer to its commit: an OPEN waits
 * behind the loop turn's syncs, which under load made up half of the
 * time from DATA to 250.
 *
 * COMMIT: queued reads the envelope back from the file (it trusts nothing
 * smtpd says), checks the size, and adds the index records in a
 * transaction that is not yet flushed.  At the end of the loop turn,
 * commit_flush_batch() syncs each touched directory once (so the new
 * file names survive a crash; a file from the pool, file_pool.h, had its
 * directory synced when it was made) and flushes the index log once for
 * the whole batch; only after that does any smtpd hear COMMITTED and say 250.
 * This is the group commit: N messages arriving together cost one log
 * flush, not N.  Neither sync may be dropped or reordered after the
 * reply: a 250 for a message that a power cut can take away is the one
 * bug a mail server must not have.
 *
 * A full disk is an answer, not a crash.  OPEN is refused with 452 4.3.1
 * while the spool has less free space than queue_minfree (commit_space),
 * or when the file cannot be created; a COMMIT whose index records cannot
 * be written (ENOSPC from the log) gets the same 452 and nothing of it
 * stays in the index.  If the flush of a whole batch fails, no smtpd may
 * say 250 for it (nothing is known to be durable): each hears 452 4.3.1
 * (451 4.3.0 for another error), so its client keeps the message and
 * sends it again.  The batch's messages are nonetheless kept and
 * delivered: their files are complete and synced and their records are
 * committed (Berkeley DB writes the log when there is room again, see
 * queue_bdb.c), so they are in the queue whatever happens, and taking
 * them out again would need the very writes that just failed.  The cost
 * is that such a message may arrive twice; a message is never lost, and
 * queued never exits for a full disk.
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "file_pool.h"
#include "fsspace.h"
#include "msgfile.h"
#include "log.h"
#include "msg.h"
#include "msg_codec.h"
#include "qid.h"
#include "queue_commit.h"
#include "queue_stats.h"
#include "scheduler.h"
#include "spool.h"
#include "xmalloc.h"

/* A file handed to an smtpd and not yet committed or aborted. */
struct open_msg {
	char			 qid[QID_MAX];
	int			 fd;
	int			 name_durable;	/* file_pool.h */
	struct queued_peer	*peer;
	TAILQ_ENTRY(open_msg)	 entry;
};
static TAILQ_HEAD(, open_msg) open_msgs = TAILQ_HEAD_INITIALIZER(open_msgs);

/* A commit waiting for the batch's flush. */
struct batch_entry {
	struct queued_peer	*peer;	/* NULL when the smtpd went away */
	uint32_t		 reqid;
	int			 want_next;	/* COMMIT_F_NEXT */
	int			 name_durable;	/* no directory sync */
	struct queue_msg_rec	 msg;
	struct queue_rcpt_rec	*rcpts;
	char			 sender[ADDR_TEXT_MAX];
	uint64_t		 size;
};
static struct batch_entry *batch;
static size_t nbatch, batch_cap;

#define COMMIT_NOSPACE	"4.3.1 Insufficient system storage"
#define COMMIT_DIR_MS	64	/* how long new files go to one directory */

/* commit_fail - answer smtpd's request reqid with an SMTP code and text */
static void
commit_fail(struct queued_peer *p, uint32_t reqid, uint32_t code,
    const char *text)
{
	struct msg_failed f = { 451, text };
	struct ipc_msg r;

	f.code = code;
	if (msg_encode(&r, MSG_QUEUED_MESSAGE_FAILED, reqid, &f) == 0)
		queued_peer_send(p, &r);
}

/* commit_reject - a request from p that does not decode: logged, 451 */
static void
commit_reject(struct queued_peer *p, struct ipc_msg *m, const char *why)
{
	msg_log_reject("smtpd", m, why);
	commit_fail(p, m->id, 451, "4.3.0 Error: malformed request");
}

/* commit_fail_errno - a write failed with err: 452 for a full disk, else
 * 451 with text */
static void
commit_fail_errno(struct queued_peer *p, uint32_t reqid, int err,
    const char *text)
{
	if (err == ENOSPC || err == EDQUOT)
		commit_fail(p, reqid, 452, COMMIT_NOSPACE);
	else
		commit_fail(p, reqid, 451, text);
}

/*
 * commit_space - queue_minfree (fsspace.h): 1 when the spool has room for
 * a new message from smtpd.  Only smtpd's messages are refused here; the
 * bounces and delay notices queued writes itself (notice.c) are not, as
 * the headroom is for them.  smtpd has checked at MAIL already; this
 * catches what has filled the disk since, and an smtpd whose chroot is
 * not on the spool's file system (smtpd.c).
 */
static int
commit_space(void)
{
	static struct fsspace fs;
	uint64_t avail, minfree = qctx.set->queue_minfree;

	if (minfree == 0)
		return 1;
	if (fs.path == NULL)
		fsspace_init(&fs, qctx.spool);
	avail = fsspace_avail(&fs);
	if (fsspace_enough(avail, minfree, 0))
		return 1;
	log_warn("not enough free space in the spool: %llu octets < "
	    "queue_minfree %llu; new mail is refused",
	    (unsigned long long)avail, (unsigned long long)minfree);
	return 0;
}

/* commit_open_file - the file p has open, or NULL */
static struct open_msg *
commit_open_file(struct queued_peer *p)
{
	struct open_msg *om;

	TAILQ_FOREACH(om, &open_msgs, entry)
		if (om->peer == p)
			return om;
	return NULL;
}

/* open_find - p's open file if its queue ID is qid, or NULL */
static struct open_msg *
open_find(struct queued_peer *p, const char *qid)
{
	struct open_msg *om = commit_open_file(p);

	return om != NULL && strcmp(om->qid, qid) == 0 ? om : NULL;
}

static void
open_drop(struct open_msg *om, int unlink_file)
{
	char path[4096];

	if (unlink_file && spool_msg_path(qctx.spool, om->qid, path,
	    sizeof(path)) == 0 && unlink(path) < 0 && errno != ENOENT)
		log_warn("%s: unlink %s: %s", om->qid, path, strerror(errno));
	close(om->fd);
	TAILQ_REMOVE(&open_msgs, om, entry);
	free(om);
}

/*
 * commit_dir_now - the spool directory new message files go to now (the
 * last digit of their queue IDs, spool.h).  Files made together share
 * one, so that the messages of a commit batch are mostly in one
 * directory, which commit_flush syncs once: with a directory per message
 * (a counter as the last digit) every message of a batch cost a directory
 * fsync of its own, one after the other in queued's loop before any
 * COMMITTED.  The directory moves on every COMMIT_DIR_MS, so that within
 * a second each of the SPOOL_HASH_DIRS directories (each in its own ext4
 * block group, master_spool.c) takes its share of the files.
 */
static unsigned
commit_dir_now(void)
{
	struct timespec ts;
	uint64_t ms;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	return (unsigned)(ms / COMMIT_DIR_MS % SPOOL_HASH_DIRS);
}

/*
 * commit_new_name - put a file at a new queue ID's path: name(path, arg)
 * makes it there and returns a descriptor, or -1 with errno.  A queue ID
 * already in use (the clock stepped back) just takes the next one: name
 * fails with EEXIST (O_EXCL, RENAME_NOREPLACE) and is tried again.  The
 * descriptor, qid and path filled in; or -1 with errno.
 */
static int
commit_new_name(char *qid, size_t qidsize, char *path, size_t pathsize,
    int (*name)(const char *, void *), void *arg)
{
	int fd = -1;

	path[0] = '\0';
	for (int tries = 0; tries < 100 && fd < 0; tries++) {
		qid_new_in(qid, qidsize, commit_dir_now());
		if (spool_msg_path(qctx.spool, qid, path, pathsize) < 0)
			break;
		if ((fd = name(path, arg)) < 0 && errno != EEXIST)
			break;
	}
	return fd;
}

/* commit_name_created - a new, empty file at path (commit_new_name) */
static int
commit_name_created(const char *path, void *arg)
{
	(void)arg;
	return open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
}

/* commit_create_file - a new, empty message file under a new queue ID */
int
commit_create_file(char *qid, size_t qidsize, char *path, size_t pathsize)
{
	return commit_new_name(qid, qidsize, path, pathsize,
	    commit_name_created, NULL);
}

/* The file commit_reuse_file renames, and its descriptor. */
struct commit_reused {
	const char	*old;
	int		 fd;
};

/* commit_name_reused - the reused file renamed to path (commit_new_name) */
static int
commit_name_reused(const char *path, void *arg)
{
	const struct commit_reused *r = arg;

	if (renameat2(AT_FDCWD, r->old, AT_FDCWD, path, RENAME_NOREPLACE) < 0)
		return -1;
	return r->fd;
}

/*
 * commit_reuse_file - the finished message file old, which the scheduler
 * emptied, renamed to a new queue ID.  Its read-write descriptor, or -1
 * with errno and old removed; but a file that is no longer empty is not
 * the one emptied (a message put back in its place, from a backup say,
 * for "ternctl rebuild"): it is left alone.  Thread-safe and silent,
 * like commit_create_file.
 */
int
commit_reuse_file(const char *old, char *qid, size_t qidsize, char *path,
    size_t pathsize)
{
	struct commit_reused r = { old, -1 };
	struct stat st;
	int err;

	path[0] = '\0';
	if ((r.fd = open(old, O_RDWR | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -1;
	if (fstat(r.fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != 0) {
		close(r.fd);
		errno = EEXIST;
		return -1;
	}
	if (commit_new_name(qid, qidsize, path, pathsize, commit_name_reused,
	    &r) >= 0)
		return r.fd;
	err = errno;
	close(r.fd);
	(void)unlink(old);
	errno = err;
	return -1;
}

/*
 * commit_hand_out - create a new message file for p and remember it as
 * p's open file.  The descriptor for p (a dup, the caller sends it), or
 * -1 with errno (logged).
 */
static int
commit_hand_out(struct queued_peer *p, struct open_msg **omp)
{
	struct open_msg *om;
	char qid[QID_MAX], path[4096];
	int fd, sendfd = -1, name_durable = 0;

	if ((fd = file_pool_take(qid, sizeof(qid), path, sizeof(path),
	    &name_durable)) < 0)
		fd = commit_create_file(qid, sizeof(qid), path, sizeof(path));
	if (fd < 0 || (sendfd = dup(fd)) < 0) {
		int err = errno;

		log_warn("cannot create queue file %s: %s", path,
		    strerror(err));
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		errno = err;
		return -1;
	}
	om = xcalloc(1, sizeof(*om));
	strlcpy(om->qid, qid, sizeof(om->qid));
	om->fd = fd;
	om->name_durable = name_durable;
	om->peer = p;
	TAILQ_INSERT_TAIL(&open_msgs, om, entry);
	*omp = om;
	return sendfd;
}

/* commit_open - create a new message file and pass it to smtpd */
void
commit_open(struct queued_peer *p, struct ipc_msg *m)
{
	struct open_msg *om;
	struct msg_qid opened;
	struct ipc_msg r;
	const char *why;
	int sendfd;

	if (msg_decode_empty(m, MSG_SMTPD_MESSAGE_OPEN, &why) < 0) {
		commit_reject(p, m, why);
		return;
	}
	/* A session has one message in progress at a time, and a worker
	 * holds at most one file, its next message's included.  A peer that
	 * opens more is broken or hostile, and would otherwise use up
	 * queued's descriptors and the spool. */
	if ((om = commit_open_file(p)) != NULL) {
		log_warn("smtpd opened a second message before finishing %s; "
		    "refused", om->qid);
		commit_fail(p, m->id, 451, "4.3.0 Error: a message is "
		    "already open");
		return;
	}
	if (!commit_space()) {
		commit_fail(p, m->id, 452, COMMIT_NOSPACE);
		return;
	}
	if ((sendfd = commit_hand_out(p, &om)) < 0) {
		commit_fail_errno(p, m->id, errno,
		    "4.3.0 Error: queue file write error");
		return;
	}
	opened.qid = om->qid;
	if (msg_encode(&r, MSG_QUEUED_MESSAGE_OPENED, m->id, &opened) != 0)
		fatalx("cannot encode a new queue ID");
	r.fd = sendfd;
	queued_peer_send(p, &r);
}

/*
 * commit_answer - tell b's smtpd that its message is durable, and, when
 * it asked and there is room, hand it the file for its next message in
 * the same frame: its next DATA then starts at once instead of waiting
 * for an OPEN behind this loop's syncs.  The new file is p's open file
 * like any other (one at most, removed when p goes); until smtpd writes
 * it, it is empty, which start-up recovery removes as unfinished.
 */
static void
commit_answer(const struct batch_entry *b)
{
	struct msg_committed_next next = { b->msg.qid, NULL };
	struct msg_qid done = { b->msg.qid };
	struct open_msg *om;
	struct ipc_msg r;
	int sendfd;

	if (b->want_next && commit_open_file(b->peer) == NULL &&
	    commit_space() && (sendfd = commit_hand_out(b->peer, &om)) >= 0) {
		next.next = om->qid;
		if (msg_encode(&r, MSG_QUEUED_MESSAGE_COMMITTED_NEXT, b->reqid,
		    &next) != 0)
			fatalx("cannot encode a new queue ID");
		r.fd = sendfd;
		queued_peer_send(b->peer, &r);
		return;
	}
	if (msg_encode(&r, MSG_QUEUED_MESSAGE_COMMITTED, b->reqid, &done) == 0)
		queued_peer_send(b->peer, &r);
}

/* commit_abort - the smtpd gave up on a message */
void
commit_abort(struct queued_peer *p, struct ipc_msg *m)
{
	struct open_msg *om;
	struct msg_qid a;
	const char *why;

	/* No answer to an abort, not even to one that does not decode. */
	if (msg_decode(m, MSG_SMTPD_MESSAGE_ABORT, &a, &why) < 0) {
		msg_log_reject("smtpd", m, why);
		return;
	}
	if ((om = open_find(p, a.qid)) != NULL)
		open_drop(om, 1);
}

/* commit_peer_gone - remove every unfinished file of a departed smtpd */
void
commit_peer_gone(struct queued_peer *p)
{
	struct open_msg *om, *next;

	for (om = TAILQ_FIRST(&open_msgs); om != NULL; om = next) {
		next = TAILQ_NEXT(om, entry);
		if (om->peer == p)
			open_drop(om, 1);
	}
	for (size_t i = 0; i < nbatch; i++)
		if (batch[i].peer == p)
			batch[i].peer = NULL;
}

/*
 * Validate the file against what smtpd claims: its size, its trailer and
 * every envelope field (msgfile_check applies the rules smtpd applied to
 * the client, so a compromised smtpd cannot pass on what a client could
 * not).  NULL when it is good (info filled, caller frees info->env), else
 * the reply text.
 */
static const char *
commit_check(struct open_msg *om, uint64_t size, struct msgfile_info *info)
{
	char err[256], verr[1024];

	if (msgfile_check(om->fd, 0, info, err, sizeof(err)) !=
	    MSGFILE_COMPLETE) {
		log_warn("%s: refused a queue file from smtpd: %s", om->qid,
		    log_vis(verr, sizeof(verr), err, strlen(err)));
		return "4.3.0 Error: queue file format error";
	}
	if (info->size != size || strcmp(info->env.qid, om->qid) != 0) {
		log_warn("%s: queue file of %llu octets naming %s, smtpd "
		    "claims %llu octets", om->qid,
		    (unsigned long long)info->size, info->env.qid,
		    (unsigned long long)size);
		envelope_free(&info->env);
		return "4.3.0 Error: queue file write error";
	}
	return NULL;
}

/* commit_request - index a finished message; it is answered later */
void
commit_request(struct queued_peer *p, struct ipc_msg *m)
{
	char qid[QID_MAX];
	uint64_t size, now = queued_now();
	struct msg_commit c;
	struct open_msg *om;
	struct msgfile_info info;
	struct envelope *env = &info.env;
	struct batch_entry *b;
	const char *fail, *why;

	if (msg_decode(m, MSG_SMTPD_MESSAGE_COMMIT, &c, &why) < 0) {
		commit_reject(p, m, why);
		return;
	}
	strlcpy(qid, c.qid, sizeof(qid));
	size = c.size;
	if ((om = open_find(p, qid)) == NULL) {
		log_warn("commit of unknown queue file %s", qid);
		commit_fail(p, m->id, 451, "4.3.0 Error: unknown queue file");
		return;
	}
	if ((fail = commit_check(om, size, &info)) != NULL) {
		commit_fail(p, m->id, 451, fail);
		open_drop(om, 1);
		return;
	}
	if (nbatch == batch_cap) {
		batch_cap = batch_cap ? batch_cap * 2 : 64;
		batch = xreallocarray(batch, batch_cap, sizeof(*batch));
	}
	b = &batch[nbatch];
	memset(b, 0, sizeof(*b));
	b->peer = p;
	b->reqid = m->id;
	b->want_next = (c.flags & COMMIT_F_NEXT) != 0;
	b->name_durable = om->name_durable;
	b->size = info.body_len;	/* the message, as Postfix counts */
	strlcpy(b->sender, env->sender, sizeof(b->sender));
	b->rcpts = queue_records_from_envelope(env, now, info.body_len,
	    &b->msg);
	envelope_free(env);
	/* A failed add left nothing in the index (queue_store.h): the file
	 * goes, and the client hears 452 for a full disk. */
	if (queue_store_message_add(qctx.store, &b->msg, b->rcpts,
	    b->msg.nrcpt) < 0) {
		commit_fail_errno(p, m->id, errno,
		    "4.3.0 Error: queue index write error");
		free(b->rcpts);
		open_drop(om, 1);
		return;
	}
	nbatch++;
	open_drop(om, 0);
}

/* commit_is_open - a file smtpd is still writing, or one pooled for it */
int
commit_is_open(const char *qid)
{
	struct open_msg *om;

	if (file_pool_holds(qid))
		return 1;

	TAILQ_FOREACH(om, &open_msgs, entry)
		if (strcmp(om->qid, qid) == 0)
			return 1;
	for (size_t i = 0; i < nbatch; i++)
		if (strcmp(batch[i].msg.qid, qid) == 0)
			return 1;
	return 0;
}

/* commit_pending - a batch awaits its flush */
int
commit_pending(void)
{
	return nbatch > 0;
}

/* commit_sync_dir - fsync qid's directory; 0, or -1 with errno (logged) */
static int
commit_sync_dir(const char *qid)
{
	char dir[4096];
	int fd, err;

	if (spool_msg_dir(qctx.spool, qid, dir, sizeof(dir)) < 0) {
		log_error("%s: spool path too long", qid);
		errno = ENAMETOOLONG;
		return -1;
	}
	/* Without this the file could vanish in a crash although the
	 * index, flushed next, names it. */
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fsync(fd) < 0) {
		err = errno;
		log_error("fsync %s: %s", dir, strerror(err));
		if (fd >= 0)
			close(fd);
		errno = err;
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * commit_flush - sync the batch's directories (each once), then the
 * index; 0, or the errno of the first failure.  A file from the pool
 * whose directory the pool synced after making it needs no sync here.
 */
static int
commit_flush(void)
{
	int done[SPOOL_HASH_DIRS] = { 0 };

	for (size_t i = 0; i < nbatch; i++) {
		int d = spool_msg_dir_index(batch[i].msg.qid);

		if (batch[i].name_durable)
			continue;
		/* Queue IDs come from commit_create_file: d is never -1,
		 * but such a file's directory would be synced each time. */
		if (d >= 0 && done[d])
			continue;
		if (d >= 0)
			done[d] = 1;
		if (commit_sync_dir(batch[i].msg.qid) < 0)
			return errno;
	}
	if (queue_store_sync(qctx.store) < 0)
		return errno;
	return 0;
}

/* commit_flush_batch - one durable flush for the whole batch, then reply */
void
commit_flush_batch(void)
{
	struct timespec ts;
	double now;
	int err;

	if (nbatch == 0)
		return;
	/* When the flush fails nothing is known to be durable, so no smtpd
	 * may say 250; what happens to the messages is explained at the top
	 * of this file.  The index stays dirty: queued_sync() tries the
	 * flush again. */
	if ((err = commit_flush()) == 0)
		qctx.store_dirty = 0;
	else
		qctx.store_dirty = 1;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	for (size_t i = 0; i < nbatch; i++) {
		struct batch_entry *b = &batch[i];

		log_info("%s: from=<%s>, size=%llu, nrcpt=%u (queue active)",
		    b->msg.qid, b->sender, (unsigned long long)b->size,
		    b->msg.nrcpt);
		if (err != 0) {
			log_warn("%s: the queue index could not be flushed "
			    "(%s): the client was told to try again; the "
			    "message stays queued and may arrive twice",
			    b->msg.qid, strerror(err));
			if (b->peer != NULL)
				commit_fail_errno(b->peer, b->reqid, err,
				    "4.3.0 Error: queue index write error");
		} else if (b->peer != NULL)
			commit_answer(b);
		sched_add(&b->msg, b->rcpts, b->msg.nrcpt, now);
		qstats.received++;
		free(b->rcpts);
	}
	nbatch = 0;
}
