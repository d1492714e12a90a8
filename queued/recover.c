/*
 * recover - start-up recovery, and rebuilding the index from queue files.
 *
 * The message files carry their immutable envelopes precisely so that the
 * index can be rebuilt (DESIGN.md, "The queue").  A file the index does
 * not name is one of:
 *   - unfinished: its writer (smtpd, or queued writing a notice) died
 *     before appending the trailer (msgfile.h).  No client heard 250 for
 *     it; it is removed.
 *   - a whole message: the index lost it (removed, damaged, restored from
 *     an old backup), or queued died between the writer's data sync and
 *     the index flush.  It is put back into the index with every
 *     recipient to be tried.  In the second case the client heard no
 *     250 and may send it again: a duplicate, never a loss.
 *   - damaged: a trailer that does not match, an envelope that does not
 *     decode or validate, or a read error.  It is moved to corrupt/ with
 *     a log line, never deleted.
 * A finished message never looks like the second case, because the
 * scheduler empties or removes the file before its index record
 * (scheduler.c; an emptied one waits to be reused, file_pool.h).
 */
#include "config.h"

#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "file_pool.h"
#include "log.h"
#include "msgfile.h"
#include "qid.h"
#include "queue_commit.h"
#include "queued.h"
#include "recover.h"
#include "scheduler.h"
#include "spool.h"
#include "xmalloc.h"

/* The queue IDs the index named, sorted, for the scan of the files. */
struct recover_state {
	char			(*qids)[QID_MAX];
	size_t			 n, cap;
	int			 running;	/* ternctl rebuild, not start-up */
	struct recover_stats	*st;
};

/* recover_message - one index record at start: into the schedule */
static int
recover_message(const struct queue_msg_rec *msg,
    const struct queue_rcpt_rec *rcpts, size_t nrcpt, void *arg)
{
	struct recover_state *rs = arg;
	char path[4096];
	struct stat st;
	int pending = 0;

	for (size_t i = 0; i < nrcpt; i++)
		pending |= rcpts[i].state == RCPT_PENDING;
	if (pending && spool_msg_path(qctx.spool, msg->qid, path,
	    sizeof(path)) == 0 && stat(path, &st) < 0) {
		/* Kept and retried: it bounces when its lifetime is over
		 * (scheduler.c), unless it reappears. */
		log_error("%s: queue file missing: %s", msg->qid,
		    strerror(errno));
		rs->st->missing++;
	}
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 1024;
		rs->qids = xreallocarray(rs->qids, rs->cap, sizeof(*rs->qids));
	}
	strlcpy(rs->qids[rs->n++], msg->qid, QID_MAX);
	rs->st->indexed++;
	sched_add(msg, rcpts, nrcpt, 0);
	return 0;
}

static int
qid_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* recover_known - does the index name qid? */
static int
recover_known(struct recover_state *rs, const char *qid)
{
	struct queue_msg_rec msg;
	struct queue_rcpt_rec *rcpts = NULL;
	size_t n;
	int r;

	if (!rs->running)
		return rs->n > 0 && bsearch(qid, rs->qids, rs->n,
		    sizeof(*rs->qids), qid_cmp) != NULL;
	/* While running, the index itself is the truth: the schedule may
	 * have let go of a finished message whose file goes next. */
	r = queue_store_message_get(qctx.store, qid, &msg, &rcpts, &n);
	free(rcpts);
	return r != 0;	/* an error counts as known: leave the file alone */
}

/* recover_index - put the whole message on fd back into the index */
static void
recover_index(struct recover_state *rs, const char *qid,
    struct msgfile_info *info)
{
	struct queue_msg_rec msg;
	struct queue_rcpt_rec *recs;
	char vsender[ADDR_TEXT_MAX * 4];

	recs = queue_records_from_envelope(&info->env, queued_now(),
	    info->body_len, &msg);
	if (queue_store_message_add(qctx.store, &msg, recs, msg.nrcpt) < 0) {
		log_error("%s: cannot put the queue file back into the index: "
		    "%s; left for the next start or \"ternctl rebuild\"", qid,
		    strerror(errno));
		free(recs);
		return;
	}
	qctx.store_dirty = 1;
	log_vis(vsender, sizeof(vsender), info->env.sender,
	    strlen(info->env.sender));
	log_info("%s: recovered from its queue file: from=<%s>, size=%llu, "
	    "nrcpt=%u", qid, vsender, (unsigned long long)info->body_len,
	    msg.nrcpt);
	sched_add(&msg, recs, msg.nrcpt, 0);
	free(recs);
	rs->st->recovered++;
}

/* recover_orphan - a queue file the index does not name */
static void
recover_orphan(const char *qid, void *arg)
{
	struct recover_state *rs = arg;
	struct msgfile_info info;
	enum msgfile_state st;
	char path[4096], err[256];
	int fd;

	if (recover_known(rs, qid))
		return;
	if (rs->running && commit_is_open(qid)) {
		rs->st->skipped++;	/* smtpd is writing it */
		return;
	}
	if (spool_msg_path(qctx.spool, qid, path, sizeof(path)) < 0)
		return;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			return;
		snprintf(err, sizeof(err), "open: %s", strerror(errno));
		st = MSGFILE_UNREADABLE;
	} else {
		st = msgfile_check(fd, 1, &info, err, sizeof(err));
		close(fd);
	}
	if (st == MSGFILE_COMPLETE && strcmp(info.env.qid, qid) != 0) {
		snprintf(err, sizeof(err), "envelope names another queue ID");
		envelope_free(&info.env);
		st = MSGFILE_CORRUPT;
	}
	switch (st) {
	case MSGFILE_COMPLETE:
		recover_index(rs, qid, &info);
		envelope_free(&info.env);
		break;
	case MSGFILE_INCOMPLETE:
		if (unlink(path) == 0) {
			log_info("%s: removed unfinished queue file (%s)", qid,
			    err);
			rs->st->unfinished++;
		} else if (errno != ENOENT)
			log_warn("%s: cannot remove unfinished queue file: %s",
			    qid, strerror(errno));
		break;
	default:
		if (spool_quarantine(qctx.spool, qid, err) == 0)
			rs->st->corrupt++;
	}
}

/* recover_files - every queue file the index does not name */
static void
recover_files(struct recover_state *rs)
{
	if (rs->n > 0)
		qsort(rs->qids, rs->n, sizeof(*rs->qids), qid_cmp);
	spool_scan(qctx.spool, recover_orphan, rs);
}

/* recover_report - the totals of a pass, for the log */
static void
recover_report(const char *what, const struct recover_stats *st)
{
	if (st->recovered > 0)
		log_warn("%s: %zu messages put back into the queue index from "
		    "their queue files", what, st->recovered);
	log_info("%s: %zu indexed (%zu with a missing file), %zu recovered "
	    "from files, %zu unfinished files removed, %zu damaged files "
	    "moved to corrupt/", what, st->indexed, st->missing,
	    st->recovered, st->unfinished, st->corrupt);
}

/*
 * recover_set_aside - move every file of the index directory into
 * dbdir/broken-TIME/, so that a fresh index starts and the old one stays
 * for a post-mortem.  0, or -1 when something could not be moved.
 */
static int
recover_set_aside(const char *dbdir)
{
	char aside[4096], from[4096], to[8192];
	struct dirent *de;
	DIR *d;
	int bad = 0;

	snprintf(aside, sizeof(aside), "%s/broken-%lld", dbdir,
	    (long long)time(NULL));
	if (mkdir(aside, 0700) < 0 && errno != EEXIST)
		return -1;
	if ((d = opendir(dbdir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		snprintf(from, sizeof(from), "%s/%s", dbdir, de->d_name);
		if (lstat(from, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		snprintf(to, sizeof(to), "%s/%s", aside, de->d_name);
		if (rename(from, to) < 0)
			bad = 1;
	}
	closedir(d);
	if (!bad)
		log_error("the queue index was set aside in %s; it is rebuilt "
		    "from the queue files", aside);
	return bad ? -1 : 0;
}

/* recover_start - index into the schedule, files into the index */
struct queue_store *
recover_start(const char *dbdir)
{
	struct recover_stats st;
	struct recover_state rs;
	struct queue_store *qs;
	char err[512];

	if ((qs = queue_store_open("bdb", dbdir, err, sizeof(err))) == NULL) {
		/*
		 * Recovery writes (the pages it redoes, a checkpoint), so on
		 * a full disk it fails although the index is sound.  Setting
		 * it aside then would throw away every recipient's state
		 * for nothing: exit instead, and ternd starts queued again
		 * (with backoff) until the disk takes writes.
		 */
		if (errno == EIO)
			fatalx("cannot open the queue index in %s: %s; a write "
			    "to disk failed (is the file system full?): the "
			    "index is left as it is, and queued tries again at "
			    "its next start", dbdir, err);
		log_error("cannot open the queue index in %s: %s", dbdir, err);
		if (recover_set_aside(dbdir) < 0 || (qs = queue_store_open("bdb",
		    dbdir, err, sizeof(err))) == NULL)
			fatalx("cannot start a new queue index in %s: %s", dbdir,
			    err);
	}
	qctx.store = qs;
	memset(&st, 0, sizeof(st));
	memset(&rs, 0, sizeof(rs));
	rs.st = &st;
	if (queue_store_iterate(qs, recover_message, &rs) < 0) {
		/* Half the schedule is built from a damaged index: start
		 * over from the files instead. */
		queue_store_close(qs);
		if (recover_set_aside(dbdir) < 0)
			fatalx("cannot read the queue index in %s, nor set it "
			    "aside", dbdir);
		fatalx("cannot read the queue index in %s; restarting to "
		    "rebuild it", dbdir);
	}
	recover_files(&rs);
	free(rs.qids);
	recover_report("queue recovered", &st);
	return qs;
}

/* recover_rebuild - recover unindexed files while running */
void
recover_rebuild(struct recover_stats *st)
{
	struct recover_state rs;

	memset(st, 0, sizeof(*st));
	memset(&rs, 0, sizeof(rs));
	rs.st = st;
	rs.running = 1;
	/* A file the pool's thread is making is not yet one it holds. */
	file_pool_pause();
	spool_scan(qctx.spool, recover_orphan, &rs);
	file_pool_resume();
	recover_report("rebuild", st);
}
