/*
 * pickup - take sendmail's submissions from SPOOL/maildrop into the queue.
 *
 * A maildrop file is a whole queue file (envelope, message, trailer)
 * written by tern-postdrop on behalf of a local user (maildrop.h).  It
 * comes from outside: any user can put any bytes there through
 * tern-postdrop, and root can put anything there by hand.  So each file
 * is checked here exactly as a file from smtpd is (msgfile_check with
 * the checksum, envelope_validate, the size and recipient limits), and
 * what is not a whole, valid submission is moved to corrupt/ with a log
 * line, never trusted and never deleted.  The submitter is the file's
 * owner, which the kernel set (tern-postdrop runs as the real user);
 * nothing inside the file can claim another uid.
 *
 * A valid file becomes a queue file of its own (commit_create_file): a
 * new envelope with the new queue ID, the arrival time of now (the
 * user's envelope has none to trust) and protocol "local", then a
 * "Received: by HOST (tern, from userid N)" field, then the message.
 * The copy is synced and added to the index like a notice (notice.c).
 *
 * Crash semantics.  sendmail told its user "accepted" once the maildrop
 * file existed, so it may not be lost; and it should not be delivered
 * twice.  The order that gives both:
 *   1. the maildrop file N is renamed to N.QID (claimed for the queue
 *      file QID) and the directory synced, before
 *   2. the queue file is written and synced, and its records added;
 *   3. once the index is durable (pickup_after_sync) N.QID is removed
 *      and the directory synced, and only then does the scheduler get
 *      the message, so nothing of it is delivered while N.QID exists.
 * After a crash, N (unclaimed) has no complete queue file and is taken
 * again; N.QID whose QID the index knows (recovery puts a complete
 * orphan queue file back into the index first) is removed; N.QID whose
 * queue file is gone is taken again under a new queue ID.
 */
#include "config.h"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "fsspace.h"
#include "header.h"
#include "log.h"
#include "maildrop.h"
#include "msgfile.h"
#include "pickup.h"
#include "qid.h"
#include "queue_commit.h"
#include "queued.h"
#include "scheduler.h"
#include "spool.h"
#include "xmalloc.h"

#define PICKUP_BATCH		100	/* files taken in one loop turn */
#define PICKUP_SCAN_SECONDS	60	/* a scan without any event */
#define PICKUP_RETRY_SECONDS	10	/* after a failure (full disk) */
/* A file without a trailer this young may still be being written in
 * place (root copying one in by hand): it waits for a later scan. */
#define PICKUP_WRITING_SECONDS	60
#define PICKUP_NAME_MAX		(2 * QID_LEN + 1)	/* "QID.QID2" */

enum pickup_kind { PK_TEMP, PK_NEW, PK_CLAIMED, PK_OTHER };

/* One maildrop file on its way into the queue. */
struct pickup_file {
	char			 name[PICKUP_NAME_MAX + 1];	/* as found */
	char			 base[QID_MAX];	/* submission name */
	char			 claim[PICKUP_NAME_MAX + 1];
	char			 qid[QID_MAX];	/* of its queue file */
	char			 path[4096];	/* of its queue file */
	int			 fd;		/* the maildrop file */
	int			 qfd;		/* the queue file */
	uid_t			 uid;		/* the submitter */
	struct msgfile_info	 info;
	struct queue_msg_rec	 msg;		/* once indexed */
	struct queue_rcpt_rec	*rcpts;
	uint64_t		 size;
	int			 removed;	/* its claim is gone */
};

static struct {
	int			 dirfd;		/* maildrop/, or -1 */
	int			 inotify;	/* or -1 */
	int			 due;		/* scan at the next turn */
	time_t			 next_scan;
	time_t			 hold_until;	/* no scans before, after a
						   failure */
	struct pickup_file	*done;		/* indexed, not yet durable */
	size_t			 ndone, donecap;
	int			 warned;	/* maildrop/ missing, logged */
	int			 scheduled;	/* the scheduler got messages
						   after its turn: no sleep */
} pk = { -1, -1, 1, 0, 0, NULL, 0, 0, 0, 0 };

/* pickup_vis - a maildrop file name fit for the log */
static const char *
pickup_vis(char *buf, size_t size, const char *name)
{
	return log_vis(buf, size, name, strlen(name));
}

/* pickup_classify - what name is; base (and qid) of a submission */
static enum pickup_kind
pickup_classify(const char *name, char *base, char *qid)
{
	size_t len = strlen(name);

	if (name[0] == '.')
		return PK_TEMP;
	if (len == QID_LEN && qid_valid(name)) {
		strlcpy(base, name, QID_MAX);
		return PK_NEW;
	}
	if (len != PICKUP_NAME_MAX || name[QID_LEN] != '.')
		return PK_OTHER;
	memcpy(base, name, QID_LEN);
	base[QID_LEN] = '\0';
	strlcpy(qid, name + QID_LEN + 1, QID_MAX);
	return qid_valid(base) && qid_valid(qid) ? PK_CLAIMED : PK_OTHER;
}

/* pickup_sync_dir - fsync maildrop/; 0, or -1 (logged) */
static int
pickup_sync_dir(void)
{
	if (fsync(pk.dirfd) == 0)
		return 0;
	log_error("fsync %s: %s", MAILDROP_DIR, strerror(errno));
	return -1;
}

/* pickup_hold - something failed: no scan for a while */
static void
pickup_hold(void)
{
	pk.hold_until = time(NULL) + PICKUP_RETRY_SECONDS;
	pk.next_scan = pk.hold_until;
	pk.due = 0;
}

/*
 * pickup_quarantine - move a maildrop file that is no submission to
 * corrupt/maildrop.QID, with a log line; it may be somebody's mail, so
 * it is kept for a human.
 */
static void
pickup_quarantine(const char *name, const char *why)
{
	char to[64], qid[QID_MAX], vname[256], vwhy[1024];

	qid_new(qid, sizeof(qid));
	snprintf(to, sizeof(to), "corrupt/maildrop.%s", qid);
	pickup_vis(vname, sizeof(vname), name);
	log_vis(vwhy, sizeof(vwhy), why, strlen(why));
	if (renameat2(pk.dirfd, name, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		log_error("%s/%s: malformed submission moved to %s: %s",
		    MAILDROP_DIR, vname, to, vwhy);
	else
		log_error("%s/%s: malformed submission left in place (cannot "
		    "move it to corrupt/: %s): %s", MAILDROP_DIR, vname,
		    strerror(errno), vwhy);
}

/* pickup_temp - remove a temporary file its writer abandoned long ago */
static void
pickup_temp(const char *name)
{
	char vname[256];
	struct stat st;

	if (fstatat(pk.dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    time(NULL) - st.st_mtime < MAILDROP_TEMP_STALE)
		return;
	/* tern-postdrop ends within MAILDROP_DEADLINE: no one will ever
	 * finish this file, and no one was told it was accepted. */
	if (unlinkat(pk.dirfd, name, 0) == 0)
		log_info("%s/%s: removed an unfinished submission of uid %lu",
		    MAILDROP_DIR, pickup_vis(vname, sizeof(vname), name),
		    (unsigned long)st.st_uid);
}

/*
 * pickup_settle - a claimed file base.qid found by a scan: 1 when it is
 * to be taken (again), 0 when it was dealt with or must wait.
 */
static int
pickup_settle(const char *name, const char *qid, int *unlinked)
{
	struct queue_msg_rec msg;
	struct queue_rcpt_rec *rcpts = NULL;
	char path[4096];
	size_t n;
	int r;

	for (size_t i = 0; i < pk.ndone; i++)
		if (strcmp(pk.done[i].claim, name) == 0)
			return 0;	/* ours, waiting for the index sync */
	r = queue_store_message_get(qctx.store, qid, &msg, &rcpts, &n);
	free(rcpts);
	if (r < 0)
		return 0;
	if (r == 1) {
		/* The queue has it (recovery may have put it back). */
		if (unlinkat(pk.dirfd, name, 0) == 0) {
			log_info("%s: its submission %s/%s was already queued",
			    qid, MAILDROP_DIR, name);
			*unlinked = 1;
		}
		return 0;
	}
	/* A complete queue file the index lacks: "ternctl rebuild" or
	 * the next start puts it back, and this claim then goes. */
	if (spool_msg_path(qctx.spool, qid, path, sizeof(path)) == 0 &&
	    access(path, F_OK) == 0)
		return 0;
	return 1;
}

/*
 * pickup_open - open and validate f->name; 0 when it is a submission
 * to take, -1 when not (moved to corrupt/, or left for a later try).
 */
static int
pickup_open(struct pickup_file *f)
{
	char err[256];
	struct stat st;
	enum msgfile_state ms;
	uint64_t max = MAILDROP_FILE_MAX(qctx.set->message_size_limit);

	f->fd = openat(pk.dirfd, f->name, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC);
	if (f->fd < 0) {
		if (errno == ELOOP)
			pickup_quarantine(f->name, "a symbolic link");
		else if (errno != ENOENT)
			log_warn("%s/%s: cannot open: %s", MAILDROP_DIR,
			    f->name, strerror(errno));
		return -1;
	}
	if (fstat(f->fd, &st) < 0)
		snprintf(err, sizeof(err), "fstat: %s", strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(err, sizeof(err), "not a regular file");
	else if (st.st_nlink != 1)
		snprintf(err, sizeof(err), "a file with %lu links",
		    (unsigned long)st.st_nlink);
	else if ((uint64_t)st.st_size > max)
		snprintf(err, sizeof(err), "larger than %llu octets",
		    (unsigned long long)max);
	else if ((ms = msgfile_check(f->fd, 1, &f->info, err, sizeof(err))) ==
	    MSGFILE_UNREADABLE) {
		log_warn("%s/%s: cannot read: %s", MAILDROP_DIR, f->name, err);
		close(f->fd);
		return -1;
	} else if (ms == MSGFILE_INCOMPLETE &&
	    time(NULL) - st.st_mtime < PICKUP_WRITING_SECONDS) {
		close(f->fd);
		return -1;
	} else if (ms != MSGFILE_COMPLETE)
		;	/* err says why */
	else if (f->info.env.version != ENVELOPE_VERSION ||
	    f->info.env.nrcpt > (uint32_t)qctx.set->smtpd_recipient_limit) {
		snprintf(err, sizeof(err), f->info.env.version !=
		    ENVELOPE_VERSION ? "envelope version %u" :
		    "%u recipients", f->info.env.version !=
		    ENVELOPE_VERSION ? f->info.env.version :
		    f->info.env.nrcpt);
		envelope_free(&f->info.env);
	} else {
		f->uid = st.st_uid;
		return 0;
	}
	close(f->fd);
	pickup_quarantine(f->name, err);
	return -1;
}

/* pickup_release - close what f holds; its queue file goes if unlink */
static void
pickup_release(struct pickup_file *f, int unlink_queue_file)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->qfd >= 0) {
		close(f->qfd);
		if (unlink_queue_file && unlink(f->path) < 0)
			log_warn("%s: unlink %s: %s", f->qid, f->path,
			    strerror(errno));
	}
	f->fd = f->qfd = -1;
	envelope_free(&f->info.env);
	free(f->rcpts);
	f->rcpts = NULL;
}

/* pickup_claim - a queue file for f, and f renamed to claim it */
static int
pickup_claim(struct pickup_file *f)
{
	f->qfd = commit_create_file(f->qid, sizeof(f->qid), f->path,
	    sizeof(f->path));
	if (f->qfd < 0) {
		log_error("cannot create a queue file for %s/%s: %s",
		    MAILDROP_DIR, f->name, strerror(errno));
		return -1;
	}
	snprintf(f->claim, sizeof(f->claim), "%s.%s", f->base, f->qid);
	if (renameat(pk.dirfd, f->name, pk.dirfd, f->claim) < 0) {
		log_error("%s/%s: cannot rename it: %s", MAILDROP_DIR, f->name,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* pickup_copy_body - the message of f into w; 0, or -1 (errno) */
static int
pickup_copy_body(struct pickup_file *f, struct msgfile_writer *w)
{
	static char buf[MSGFILE_BUFSIZE];
	uint64_t off = 0, len = f->info.body_len;

	while (off < len && !w->failed) {
		size_t want = len - off < sizeof(buf) ? (size_t)(len - off) :
		    sizeof(buf);
		ssize_t n = pread(f->fd, buf, want, f->info.body + (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* the file shrank */
			return -1;
		}
		msgfile_write(w, buf, (size_t)n);
		off += (uint64_t)n;
	}
	return 0;
}

/*
 * pickup_write - f's queue file: a new envelope, the Received: field
 * with the submitter's uid, the message, the trailer; synced.  Its
 * index records are made too.  0, or -1 (logged).
 */
static int
pickup_write(struct pickup_file *f, uint64_t now)
{
	static struct msgfile_writer w;
	struct envelope e = f->info.env;	/* shares rcpts, envid */
	unsigned char *prefix;
	char recv[600], date[64];
	size_t plen;
	uint64_t size;
	int n, err;

	strlcpy(e.qid, f->qid, sizeof(e.qid));
	e.arrival = now;
	e.helo[0] = '\0';
	strlcpy(e.client_name, "localhost", sizeof(e.client_name));
	e.client_addr[0] = '\0';
	strlcpy(e.protocol, "local", sizeof(e.protocol));
	if (header_date_format((time_t)now, date, sizeof(date)) < 0 ||
	    (n = snprintf(recv, sizeof(recv), "Received: by %s (tern, from "
	    "userid %lu)\r\n\tid %s; %s\r\n", qctx.set->myhostname,
	    (unsigned long)f->uid, f->qid, date)) < 0 ||
	    (size_t)n >= sizeof(recv))
		fatalx("pickup: cannot format a Received: field");
	envelope_encode(&e, &prefix, &plen);
	msgfile_writer_init(&w, f->qfd);
	msgfile_write(&w, prefix, plen);
	msgfile_write(&w, recv, (size_t)n);
	free(prefix);
	if (pickup_copy_body(f, &w) < 0 || msgfile_writer_finish(&w,
	    &size) != 0 || fdatasync(f->qfd) < 0) {
		err = w.failed ? w.failed : errno;
		log_error("%s: cannot write the queue file of %s/%s: %s",
		    f->qid, MAILDROP_DIR, f->claim, strerror(err));
		return -1;
	}
	f->size = f->info.body_len + (uint64_t)n;
	f->rcpts = queue_records_from_envelope(&e, now, f->size, &f->msg);
	/* Whose it is: "ternctl queue" shows a user their own messages. */
	f->msg.uid = (uint32_t)f->uid;
	return 0;
}

/* pickup_sync_msg_dirs - fsync each msg/X holding one of files */
static int
pickup_sync_msg_dirs(struct pickup_file *files, size_t n)
{
	char dir[4096];
	int done[SPOOL_HASH_DIRS] = { 0 }, fd, r;

	for (size_t i = 0; i < n; i++) {
		int h = spool_msg_dir_index(files[i].qid);

		if (h < 0 || done[h])
			continue;
		done[h] = 1;
		if (spool_msg_dir(qctx.spool, files[i].qid, dir,
		    sizeof(dir)) < 0)
			return -1;
		if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			return -1;
		r = fsync(fd);
		close(fd);
		if (r < 0) {
			log_error("fsync %s: %s", dir, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* pickup_index - f's records into the index (not yet durable) */
static int
pickup_index(struct pickup_file *f)
{
	char vsender[ADDR_TEXT_MAX * 4];

	if (queue_store_message_add(qctx.store, &f->msg, f->rcpts,
	    f->msg.nrcpt) < 0) {
		log_error("%s: cannot add %s/%s to the queue index: %s",
		    f->qid, MAILDROP_DIR, f->claim, strerror(errno));
		return -1;
	}
	qctx.store_dirty = 1;
	log_vis(vsender, sizeof(vsender), f->info.env.sender,
	    strlen(f->info.env.sender));
	/* Postfix's pickup line, which log tools know. */
	log_info("%s: uid=%lu from=<%s>", f->qid, (unsigned long)f->uid,
	    vsender);
	return 0;
}

/* pickup_done_add - f is indexed: keep it until the index is durable */
static void
pickup_done_add(struct pickup_file *f)
{
	struct pickup_file *d;

	if (pk.ndone == pk.donecap) {
		pk.donecap = pk.donecap ? pk.donecap * 2 : 16;
		pk.done = xreallocarray(pk.done, pk.donecap, sizeof(*pk.done));
	}
	d = &pk.done[pk.ndone++];
	*d = *f;		/* takes rcpts and the envelope */
	close(d->fd);
	close(d->qfd);
	d->fd = d->qfd = -1;
	f->rcpts = NULL;
	memset(&f->info.env, 0, sizeof(f->info.env));
}

/*
 * pickup_take - the validated files into the queue, in the order the
 * top of this file explains.  Whatever fails stays in maildrop (claimed
 * or not) for a later scan.
 */
static void
pickup_take(struct pickup_file *files, size_t n)
{
	uint64_t now = queued_now();
	size_t i, ok = 0;

	for (i = 0; i < n; i++) {
		if (pickup_claim(&files[i]) < 0) {
			pickup_release(&files[i], 1);
			pickup_hold();
		} else
			files[ok++] = files[i];
	}
	n = ok;
	if (n > 0 && pickup_sync_dir() < 0)
		goto fail;
	for (i = ok = 0; i < n; i++) {
		if (pickup_write(&files[i], now) < 0) {
			pickup_release(&files[i], 1);
			pickup_hold();
		} else
			files[ok++] = files[i];
	}
	n = ok;
	if (pickup_sync_msg_dirs(files, n) < 0)
		goto fail;
	for (i = 0; i < n; i++) {
		if (pickup_index(&files[i]) < 0) {
			pickup_release(&files[i], 1);
			pickup_hold();
		} else
			pickup_done_add(&files[i]);
	}
	return;
fail:
	for (i = 0; i < n; i++)
		pickup_release(&files[i], 1);
	pickup_hold();
}

/*
 * pickup_candidate - one directory entry: 1 when it was opened into f as
 * a submission to take; temporary, claimed and foreign files are dealt
 * with here.
 */
static int
pickup_candidate(const char *name, struct pickup_file *f, int *unlinked)
{
	char qid[QID_MAX];

	memset(f, 0, sizeof(*f));
	f->fd = f->qfd = -1;
	if (name[0] == '.') {
		pickup_temp(name);
		return 0;
	}
	if (strlen(name) > PICKUP_NAME_MAX) {
		pickup_quarantine(name, "not a maildrop file name");
		return 0;
	}
	strlcpy(f->name, name, sizeof(f->name));
	switch (pickup_classify(name, f->base, qid)) {
	case PK_TEMP:
		pickup_temp(name);
		return 0;
	case PK_OTHER:
		pickup_quarantine(name, "not a maildrop file name");
		return 0;
	case PK_CLAIMED:
		if (!pickup_settle(name, qid, unlinked))
			return 0;
		break;
	case PK_NEW:
		break;
	}
	return pickup_open(f) == 0;
}

/* pickup_scan - read maildrop/ and take up to a batch of submissions */
static void
pickup_scan(void)
{
	struct pickup_file *files = xcalloc(PICKUP_BATCH, sizeof(*files));
	struct dirent *de;
	size_t n = 0;
	int fd, unlinked = 0;
	DIR *d;

	if ((fd = openat(pk.dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0 || (d = fdopendir(fd)) == NULL) {
		log_error("cannot read %s: %s", MAILDROP_DIR, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(files);
		pickup_hold();
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == PICKUP_BATCH) {
			pk.due = 1;	/* more next turn */
			break;
		}
		if (pickup_candidate(de->d_name, &files[n], &unlinked))
			n++;
	}
	closedir(d);
	if (unlinked)
		(void)pickup_sync_dir();
	pickup_take(files, n);
	free(files);
}

/* pickup_space - queue_minfree: 1 when new mail may come in */
static int
pickup_space(void)
{
	static struct fsspace fs;
	static int low;		/* logged once until there is room */
	uint64_t avail;

	if (qctx.set->queue_minfree == 0)
		return 1;
	if (fs.path == NULL)
		fsspace_init(&fs, qctx.spool);
	avail = fsspace_avail(&fs);
	if (fsspace_enough(avail, qctx.set->queue_minfree, 0)) {
		low = 0;
		return 1;
	}
	if (!low)
		log_warn("not enough free space in the spool: %llu octets < "
		    "queue_minfree %llu; local submissions wait in %s",
		    (unsigned long long)avail,
		    (unsigned long long)qctx.set->queue_minfree, MAILDROP_DIR);
	low = 1;
	return 0;
}

/* pickup_dir_open - maildrop/ open, or -1 (logged once) */
static int
pickup_dir_open(void)
{
	if (pk.dirfd >= 0)
		return 0;
	pk.dirfd = open(MAILDROP_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pk.dirfd < 0) {
		if (!pk.warned)
			log_warn("cannot open %s/%s: %s; local submissions "
			    "(sendmail) are not picked up", qctx.set->spool_dir,
			    MAILDROP_DIR, strerror(errno));
		pk.warned = 1;
		return -1;
	}
	pk.warned = 0;
	if (pk.inotify < 0 &&
	    (pk.inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) >= 0 &&
	    inotify_add_watch(pk.inotify, MAILDROP_DIR,
	    IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
		/* Scans every PICKUP_SCAN_SECONDS still find everything. */
		log_warn("inotify on %s: %s; checking every %d seconds",
		    MAILDROP_DIR, strerror(errno), PICKUP_SCAN_SECONDS);
		close(pk.inotify);
		pk.inotify = -1;
	}
	return 0;
}

/* pickup_init - open maildrop/, settle what a crash left claimed */
void
pickup_init(void)
{
	pickup_run(1);
}

/* pickup_fd - the inotify descriptor, or -1 */
int
pickup_fd(void)
{
	return pk.inotify;
}

/* pickup_event - maildrop/ changed */
void
pickup_event(void)
{
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(pk.inotify, buf, sizeof(buf)) > 0)
		;
	if (time(NULL) >= pk.hold_until)
		pk.due = 1;
}

/* pickup_timeout_ms - when pickup_run has work */
int
pickup_timeout_ms(void)
{
	time_t now = time(NULL);

	if (pk.due || pk.scheduled)
		return 0;
	if (pk.next_scan <= now)
		return 0;
	return pk.next_scan - now > 3600 ? 3600 * 1000 :
	    (int)(pk.next_scan - now) * 1000;
}

/* pickup_run - a scan when one is due */
void
pickup_run(int start_new)
{
	time_t now = time(NULL);

	pk.scheduled = 0;
	if (!start_new || now < pk.hold_until ||
	    (!pk.due && now < pk.next_scan))
		return;
	pk.due = 0;
	pk.next_scan = now + PICKUP_SCAN_SECONDS;
	if (pickup_dir_open() < 0)
		return;
	if (!pickup_space()) {
		pickup_hold();
		return;
	}
	pickup_scan();
}

/* pickup_after_sync - drop the claims of durable messages, schedule them */
void
pickup_after_sync(void)
{
	struct timespec ts;
	size_t i, kept = 0, gone = 0;
	char vsender[ADDR_TEXT_MAX * 4];

	if (pk.ndone == 0)
		return;
	for (i = 0; i < pk.ndone; i++) {
		struct pickup_file *f = &pk.done[i];

		f->removed = unlinkat(pk.dirfd, f->claim, 0) == 0 ||
		    errno == ENOENT;
		if (f->removed)
			gone++;
		else
			log_error("%s: cannot remove %s/%s: %s; retrying",
			    f->qid, MAILDROP_DIR, f->claim, strerror(errno));
	}
	/* A failed sync risks a second delivery after a power cut, never
	 * a loss: the message is in the queue either way. */
	if (gone > 0)
		(void)pickup_sync_dir();
	clock_gettime(CLOCK_REALTIME, &ts);
	for (i = 0; i < pk.ndone; i++) {
		struct pickup_file *f = &pk.done[i];

		if (!f->removed) {
			pk.done[kept++] = *f;
			continue;
		}
		log_vis(vsender, sizeof(vsender), f->info.env.sender,
		    strlen(f->info.env.sender));
		log_info("%s: from=<%s>, size=%llu, nrcpt=%u (queue active)",
		    f->qid, vsender, (unsigned long long)f->size,
		    f->msg.nrcpt);
		sched_add(&f->msg, f->rcpts, f->msg.nrcpt,
		    (double)ts.tv_sec + ts.tv_nsec / 1e9);
		pk.scheduled = 1;
		envelope_free(&f->info.env);
		free(f->rcpts);
	}
	pk.ndone = kept;
}
