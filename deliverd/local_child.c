/*
 * local_child - the delivery process of one mailbox owner (see
 * local_child.h), and the checks its parent applies to what it says.
 *
 * deliverd runs as root so that it can write every user's mailbox, and
 * root must never write into a directory a user controls.  So the
 * process that writes an owner's mail is a child that switches to the
 * owner's uid and gid for good before it opens anything (and has
 * nothing open but its channel to the parent), and the parent sends it
 * only that owner's deliveries.  It never logs; it reports over its
 * channel, and the parent treats each report as untrusted.
 *
 * Why a process per owner that stays, rather than one per delivery: it
 * can write a whole batch of the owner's messages before it syncs, so
 * that the batch shares the disk flushes.  Each message is still synced
 * before its name enters new/, and new/ is synced before any of them is
 * reported; what the batch shares is that one sync of new/ (group
 * commit), and the journal commits that the early start of each file's
 * writeback lets one fsync cover for several (maildir_write).  A batch
 * ends when no more deliveries are waiting on the channel, or when it
 * holds LOCAL_CHILD_WINDOW of them.
 *
 * An mbox (mbox.c) is locked when the batch first appends to it and
 * stays locked until the batch is committed: every message is appended,
 * the file is synced once for all of them, and only then unlocked and
 * the messages reported.
 *
 * A process that dies mid-batch may leave messages in new/ that it never
 * reported: its parent defers them (4.3.0) and they are delivered again
 * later, twice then; a message reported delivered is always on disk.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deliverd_signals.h"
#include "ipc.h"
#include "local_child.h"
#include "local_command.h"
#include "local_forward.h"
#include "local_loop.h"
#include "local_target.h"
#include "maildir.h"
#include "mbox.h"
#include "msg.h"
#include "msg_codec.h"
#include "settings.h"
#include "virtual_mailbox.h"
#include "xmalloc.h"

#define LOCAL_CHILD_FD		3	/* the channel, in the child */
#define LOCAL_CHILD_ERR_MAX	(MSG_DSN_MAX + 1 + MSG_TEXT_MAX + 1)

/* One delivery of the batch being written. */
struct local_item {
	uint32_t		id;
	int			status;	/* enum deliver_status */
	char			err[LOCAL_CHILD_ERR_MAX];	/* "x.y.z text" */
	char			note[128];	/* about .forward, or "" */
	int			box;	/* its Maildir in the batch, or -1 */
	int			linked;	/* in new/, not yet synced */
	int			mbox;	/* its mbox in the batch, or -1 */
	struct maildir_msg	mm;	/* written to tmp/ (mm.fd open) */
};

/* A Maildir the batch writes to. */
struct local_box {
	char		*path;
	struct maildir	 md;
	size_t		 linked;	/* names given since its last sync */
};

/* An mbox the batch appends to: locked until the batch is committed. */
struct local_mbox {
	char		*path;
	int		 status;	/* of mbox_open */
	char		 err[LOCAL_CHILD_ERR_MAX];	/* why it failed */
	struct mbox	 mb;
	size_t		 appended;	/* messages since its open */
};

/* What the process has written and not yet reported. */
struct local_batch {
	struct local_item	items[LOCAL_CHILD_WINDOW];
	size_t			n;
	struct local_box	boxes[LOCAL_CHILD_WINDOW];
	size_t			nboxes;
	struct local_mbox	mboxes[LOCAL_CHILD_WINDOW];
	size_t			nmboxes;
	const char		*hostname;	/* myhostname */
	const struct settings	*set;	/* a copy taken at the fork */
	struct ipc_conn		*pc;	/* the channel to the parent */
	int			become_failed;
	int			broken;	/* the parent sent what we cannot read */
};

/*
 * local_child_box - the batch's open Maildir at path (a relative path is
 * a virtual mailbox under home); -1 with err
 */
static int
local_child_box(struct local_batch *b, const char *home, const char *path,
    char *err, size_t errsize, int *status)
{
	struct local_box *bx;
	size_t i;

	for (i = 0; i < b->nboxes; i++)
		if (strcmp(b->boxes[i].path, path) == 0)
			return (int)i;
	bx = &b->boxes[b->nboxes];
	if (path[0] != '/')
		*status = virtual_mailbox_open(&bx->md, home, path, err,
		    errsize);
	else
		*status = maildir_open(&bx->md, path, err, errsize);
	if (*status != DELIVER_OK)
		return -1;
	bx->path = xstrdup(path);
	bx->linked = 0;
	return (int)b->nboxes++;
}

/* local_child_home - a missing home (unmounted, not yet created) waits */
static int
local_child_home(const char *home, char *err, size_t errsize)
{
	struct stat st;

	if (stat(home, &st) != 0) {
		snprintf(err, errsize, "4.2.0 home directory unavailable: %s",
		    strerror(errno));
		return DELIVER_TEMPFAIL;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsize, "4.2.0 home directory is not a "
		    "directory");
		return DELIVER_TEMPFAIL;
	}
	return DELIVER_OK;
}

/*
 * local_child_mbox - the batch's mbox at path, opened and locked on
 * first use (waiting up to MBOX_LOCK_WAIT).  One that could not be
 * opened stays in the batch with its failure, so that the batch's other
 * messages for it fail at once instead of each waiting for the lock.
 */
static struct local_mbox *
local_child_mbox(struct local_batch *b, const char *path)
{
	struct local_mbox *mx;
	size_t i;

	for (i = 0; i < b->nmboxes; i++)
		if (strcmp(b->mboxes[i].path, path) == 0)
			return &b->mboxes[i];
	mx = &b->mboxes[b->nmboxes++];
	mx->path = xstrdup(path);
	mx->appended = 0;
	/* A user's mbox in the shared spool directory: it must be theirs. */
	mx->status = mbox_open(&mx->mb, path, MBOX_F_OWNED, MBOX_LOCK_WAIT,
	    mx->err, sizeof(mx->err));
	return mx;
}

/* local_child_mbox_put - append d's message to its mbox, not yet synced */
static void
local_child_mbox_put(struct local_batch *b, struct local_item *it,
    const struct msg_local_delivery *d, int msgfd)
{
	struct local_mbox *mx = local_child_mbox(b, d->mbox);
	struct mbox_msg m;

	if (mx->status != DELIVER_OK) {
		it->status = mx->status;
		strlcpy(it->err, mx->err, sizeof(it->err));
		return;
	}
	m.fd = msgfd;
	m.offset = (off_t)d->body_offset;
	m.size = (off_t)d->body_size;
	m.sender = d->sender;
	m.recipient = d->address;
	m.date = time(NULL);
	it->status = mbox_append(&mx->mb, &m, it->err, sizeof(it->err));
	if (it->status == DELIVER_OK) {
		it->mbox = (int)(mx - b->mboxes);
		mx->appended++;
	}
}

/*
 * local_child_special - d is a command or a file of an alias: run or
 * appended (and synced) now, outside the batch; its report waits for
 * the batch's end with the others.
 */
static void
local_child_special(struct local_item *it,
    const struct msg_local_delivery *d, int msgfd)
{
	struct local_command c;
	struct mbox_msg m;

	if (d->kind == RESOLVE_FILE) {
		/* The bit bucket of stock alias files: nothing to write. */
		if (strcmp(d->target, "/dev/null") == 0) {
			it->status = DELIVER_OK;
			snprintf(it->err, sizeof(it->err), "2.0.0 discarded "
			    "(/dev/null)");
			return;
		}
		m.fd = msgfd;
		m.offset = (off_t)d->body_offset;
		m.size = (off_t)d->body_size;
		m.sender = d->sender;
		m.recipient = d->address;
		m.date = time(NULL);
		it->status = mbox_deliver(d->target, 0, &m, it->err,
		    sizeof(it->err));
		if (it->status == DELIVER_OK)
			snprintf(it->err, sizeof(it->err), "2.0.0 delivered "
			    "to file");
		return;
	}
	c.command = d->target;
	c.msgfd = msgfd;
	c.offset = (off_t)d->body_offset;
	c.size = (off_t)d->body_size;
	c.sender = d->sender;
	c.recipient = d->address;
	c.user = d->user;
	c.home = d->home;
	c.extension = d->extension;
	c.time_limit = d->time_limit > 0 ? d->time_limit : 1;
	/* The alarm guards against a hang of ours, not of the command. */
	alarm((unsigned)(LOCAL_CHILD_TIMEOUT + 30 + c.time_limit));
	it->status = local_command_run(&c, it->err, sizeof(it->err));
}

/* forward_worse - keep the worse of two outcomes (a deferral wins) */
static void
forward_worse(struct local_item *it, int status, const char *err)
{
	if (status == DELIVER_OK || it->status == DELIVER_TEMPFAIL ||
	    (it->status == DELIVER_PERMFAIL && status != DELIVER_TEMPFAIL))
		return;
	it->status = status;
	strlcpy(it->err, err, sizeof(it->err));
}

/* forward_send - MSG_LOCAL_FORWARD for item it; a lost parent ends us */
static void
forward_send(struct local_batch *b, const struct local_item *it,
    struct msg_address *a, uint32_t n)
{
	struct msg_forward fw = { 0, it->id, n, a };
	struct ipc_msg m;

	if (n == 0)
		return;
	if (msg_encode(&m, MSG_LOCAL_FORWARD, 0, &fw) != 0 ||
	    ipc_send(b->pc, &m) != 0)
		_exit(1);
}

/*
 * local_child_forward - follow the user's .forward for d, if there is
 * one: its addresses go to the parent (and on to queued, which adds them
 * as recipients of this message, with its envelope sender) before the
 * result; its commands and files are delivered here, as the user.
 * Returns 0 when d still goes to the mailbox (no .forward, an ignored
 * one, or one naming the user itself), 1 when it is answered.
 */
static int
local_child_forward(struct local_batch *b, struct local_item *it,
    const struct msg_local_delivery *d, int msgfd)
{
	struct forward *f = xcalloc(1, sizeof(*f));
	struct forward_self self = { d->user, b->hostname,
	    &b->set->local_domains, b->set->recipient_delimiter };
	struct msg_address a[MSG_FORWARD_MAX];
	char err[LOCAL_CHILD_ERR_MAX];
	struct local_command c;
	struct mbox_msg m;
	uint32_t na = 0;
	int rc, keep = 0, st;
	size_t i;

	rc = local_forward_read(d->home, d->extension, &self, f);
	strlcpy(it->note, f->note, sizeof(it->note));
	if (rc != 1) {
		free(f);
		if (rc == 0)
			return 0;
		it->status = DELIVER_TEMPFAIL;
		snprintf(it->err, sizeof(it->err), "4.3.0 %s", it->note);
		it->note[0] = '\0';
		return 1;
	}
	it->status = DELIVER_OK;
	snprintf(it->err, sizeof(it->err), "2.0.0 forwarded by .forward");
	for (i = 0; i < f->n; i++) {
		struct forward_item *fi = &f->v[i];

		/* Root's process runs as root: it runs no command and
		 * writes no file of root's .forward (nor of anyone's). */
		if (geteuid() == 0 && (fi->kind == FORWARD_COMMAND ||
		    fi->kind == FORWARD_FILE)) {
			snprintf(it->note, sizeof(it->note), ".forward: "
			    "commands and files are not run as root");
			continue;
		}
		switch (fi->kind) {
		case FORWARD_SELF:
			keep = 1;
			break;
		case FORWARD_ADDRESS:
			if (na < MSG_FORWARD_MAX)
				a[na++].address = fi->text;
			break;
		case FORWARD_COMMAND:
			memset(&c, 0, sizeof(c));
			c.command = fi->text;
			c.msgfd = msgfd;
			c.offset = (off_t)d->body_offset;
			c.size = (off_t)d->body_size;
			c.sender = d->sender;
			c.recipient = d->address;
			c.user = d->user;
			c.home = d->home;
			c.extension = d->extension;
			c.time_limit = d->time_limit > 0 ? d->time_limit : 1;
			alarm((unsigned)(LOCAL_CHILD_TIMEOUT + 30 +
			    c.time_limit));
			st = local_command_run(&c, err, sizeof(err));
			forward_worse(it, st, err);
			break;
		case FORWARD_FILE:
			m.fd = msgfd;
			m.offset = (off_t)d->body_offset;
			m.size = (off_t)d->body_size;
			m.sender = d->sender;
			m.recipient = d->address;
			m.date = time(NULL);
			st = mbox_deliver(fi->text, 0, &m, err, sizeof(err));
			forward_worse(it, st, err);
			break;
		}
	}
	/* Sent also when a command failed: queued adds each address once,
	 * so the retry does not forward twice. */
	forward_send(b, it, a, na);
	free(f);
	if (it->status != DELIVER_OK || !keep)
		return 1;
	return 0;
}

/* local_child_put - write d's message to tmp/ of its Maildir, for it */
static void
local_child_put(struct local_batch *b, struct local_item *it,
    const struct msg_local_delivery *d, int msgfd)
{
	int status;

	if (d->kind == RESOLVE_COMMAND || d->kind == RESOLVE_FILE) {
		local_child_special(it, d, msgfd);
		return;
	}
	/* A passwd user's .forward (mailbox_base users have none), unless
	 * an alias's "\user" sent the mail straight to the mailbox. */
	if (d->kind == RESOLVE_LOCAL && d->user[0] != '\0' &&
	    local_child_forward(b, it, d, msgfd))
		return;

	if (d->mbox[0] != '\0') {
		local_child_mbox_put(b, it, d, msgfd);
		return;
	}
	if ((it->status = local_child_home(d->home, it->err,
	    sizeof(it->err))) != DELIVER_OK)
		return;
	if ((it->box = local_child_box(b, d->home, d->maildir, it->err,
	    sizeof(it->err), &status)) == -1) {
		it->status = status;
		return;
	}
	it->status = maildir_write(&b->boxes[it->box].md, &it->mm, msgfd,
	    (off_t)d->body_offset, (off_t)d->body_size, d->sender, d->address,
	    b->hostname, it->err, sizeof(it->err));
	if (it->status != DELIVER_OK)
		it->box = -1;
}

/*
 * local_child_write - one MSG_LOCAL_DELIVERY into the batch: checked and
 * written to tmp/ (or failed, with its reason).
 */
static void
local_child_write(struct local_batch *b, struct ipc_msg *m)
{
	struct local_item *it = &b->items[b->n];
	struct msg_local_delivery d;
	const char *why;
	int msgfd, loop;

	memset(it, 0, sizeof(*it));
	it->box = -1;
	it->mbox = -1;
	it->mm.fd = -1;
	if (msg_decode(m, MSG_LOCAL_DELIVERY, &d, &why) != 0) {
		/* Only a bug sends this; answer what can be answered, then
		 * end, so that the parent defers the rest. */
		b->broken = 1;
		if (msg_peek_u32(m, &it->id) != 0)
			return;
		it->status = DELIVER_TEMPFAIL;
		snprintf(it->err, sizeof(it->err), "4.3.0 delivery request "
		    "not understood");
		b->n++;
		return;
	}
	it->id = d.id;
	b->n++;
	msgfd = ipc_msg_take_fd(m);
	if (b->become_failed) {
		it->status = DELIVER_TEMPFAIL;
		snprintf(it->err, sizeof(it->err), "4.3.0 cannot switch to "
		    "mailbox owner");
	} else if ((loop = local_loop_check(msgfd, (off_t)d.body_offset,
	    (off_t)d.body_size, d.address)) != 0) {
		it->status = loop == 1 ? DELIVER_PERMFAIL : DELIVER_TEMPFAIL;
		snprintf(it->err, sizeof(it->err), loop == 1 ?
		    "5.4.6 mail forwarding loop: already delivered to this "
		    "address (Delivered-To)" : "4.3.0 cannot read queue file");
	} else
		local_child_put(b, it, &d, msgfd);
	close(msgfd);
}

/* local_child_link - sync and link the messages written from item from */
static void
local_child_link(struct local_batch *b, size_t from)
{
	struct maildir_msg *mm[LOCAL_CHILD_WINDOW];
	struct local_item *it;
	size_t i, n = 0;

	for (i = from; i < b->n; i++)
		if (b->items[i].status == DELIVER_OK && b->items[i].box != -1)
			mm[n++] = &b->items[i].mm;
	maildir_sync_files(mm, n);
	for (i = from; i < b->n; i++) {
		it = &b->items[i];
		if (it->status != DELIVER_OK || it->box == -1)
			continue;
		it->status = maildir_link(&b->boxes[it->box].md, &it->mm,
		    it->err, sizeof(it->err));
		if (it->status == DELIVER_OK) {
			it->linked = 1;
			b->boxes[it->box].linked++;
		}
	}
}

/* Which of a batch's mailboxes a sync was of (local_child_settle). */
enum local_sync_kind {
	LOCAL_SYNC_MAILDIR,	/* new/ of b->boxes[k] */
	LOCAL_SYNC_MBOX,	/* the file b->mboxes[k] */
};

/*
 * local_child_settle - the batch's items that wait on the sync of its
 * Maildir k (those linked into new/) or its mbox k (those appended)
 * take that sync's outcome rc: delivered, or failed with err ("x.y.z
 * text").  On failure a Maildir's names are taken back out of new/, so
 * that their retry does not leave a second copy; a failed mbox_sync has
 * truncated the mbox back to where the batch began already.
 */
static void
local_child_settle(struct local_batch *b, enum local_sync_kind kind,
    size_t k, int rc, const char *err)
{
	struct local_item *it;
	size_t i;

	for (i = 0; i < b->n; i++) {
		it = &b->items[i];
		if (kind == LOCAL_SYNC_MAILDIR ?
		    !it->linked || it->box != (int)k :
		    it->mbox != (int)k || it->status != DELIVER_OK)
			continue;
		if (rc == DELIVER_OK) {
			snprintf(it->err, sizeof(it->err), "2.0.0 delivered "
			    "to %s", kind == LOCAL_SYNC_MAILDIR ? "maildir" :
			    "mbox");
			continue;
		}
		if (kind == LOCAL_SYNC_MAILDIR)
			maildir_unlink(&b->boxes[k].md, it->mm.name);
		it->status = rc;
		strlcpy(it->err, err, sizeof(it->err));
	}
}

/*
 * local_child_sync - make durable what the batch wrote, each mailbox
 * once for all its messages: new/ of every Maildir it linked into, then
 * every mbox it appended to (one fsync each); each item then takes its
 * mailbox's outcome (local_child_settle).
 */
static void
local_child_sync(struct local_batch *b)
{
	char err[LOCAL_CHILD_ERR_MAX];
	size_t k;
	int rc;

	for (k = 0; k < b->nboxes; k++) {
		if (b->boxes[k].linked == 0)
			continue;
		rc = maildir_sync(&b->boxes[k].md, err, sizeof(err));
		local_child_settle(b, LOCAL_SYNC_MAILDIR, k, rc, err);
	}
	for (k = 0; k < b->nmboxes; k++) {
		if (b->mboxes[k].appended == 0)
			continue;
		rc = mbox_sync(&b->mboxes[k].mb, err, sizeof(err));
		local_child_settle(b, LOCAL_SYNC_MBOX, k, rc, err);
	}
}

/* local_child_report - one MSG_LOCAL_DELIVERED; a lost parent ends us */
static void
local_child_report(struct ipc_conn *pc, const struct local_item *it)
{
	char dsn[MSG_DSN_MAX + 1], text[MSG_TEXT_MAX + 1];
	char full[LOCAL_CHILD_ERR_MAX + sizeof(it->note) + 4];
	const char *sp = strchr(it->err, ' ');
	size_t len = sp != NULL ? (size_t)(sp - it->err) : strlen(it->err);
	struct msg_local_delivered r;
	struct ipc_msg m;

	if (len >= sizeof(dsn))
		len = sizeof(dsn) - 1;
	memcpy(dsn, it->err, len);
	dsn[len] = '\0';
	r.id = it->id;
	r.status = (uint32_t)it->status;
	r.dsn = dsn;
	/* What was ignored is said in the text that queued logs. */
	snprintf(full, sizeof(full), "%s%s%s%s", sp != NULL ? sp + 1 : "",
	    it->note[0] != '\0' ? " (" : "", it->note,
	    it->note[0] != '\0' ? ")" : "");
	r.text = msg_str_fit(full, MSG_TEXT_MAX, text, sizeof(text));
	if (msg_encode(&m, MSG_LOCAL_DELIVERED, 0, &r) != 0 ||
	    ipc_send(pc, &m) != 0)
		_exit(1);
}

/*
 * local_child_commit - end the batch: make what it linked durable, then
 * (only then) report every delivery in it.
 */
static void
local_child_commit(struct local_batch *b, struct ipc_conn *pc)
{
	size_t i;

	local_child_sync(b);
	for (i = 0; i < b->nboxes; i++) {
		maildir_close(&b->boxes[i].md);
		free(b->boxes[i].path);
	}
	b->nboxes = 0;
	/* Unlocked only now that what was appended is on disk. */
	for (i = 0; i < b->nmboxes; i++) {
		if (b->mboxes[i].status == DELIVER_OK)
			mbox_close(&b->mboxes[i].mb);
		free(b->mboxes[i].path);
	}
	b->nmboxes = 0;
	for (i = 0; i < b->n; i++)
		local_child_report(pc, &b->items[i]);
	b->n = 0;
	if (b->broken)
		_exit(1);
}

/* local_child_more - the next delivery when one is waiting already */
static int
local_child_more(struct local_batch *b, struct ipc_conn *pc,
    struct ipc_msg *m)
{
	return b->n < LOCAL_CHILD_WINDOW && !b->broken &&
	    ipc_recv(pc, m, 0) == 0;
}

/*
 * local_child_serve - batches until the parent closes the channel: wait
 * for a delivery, write it and every other one waiting (then sync and
 * link them), again while more have come, and commit the batch when none
 * is waiting.
 */
static void __attribute__((noreturn))
local_child_serve(struct local_batch *b, struct ipc_conn *pc)
{
	struct ipc_msg m;
	size_t from;
	int have;

	for (;;) {
		if (ipc_recv(pc, &m, -1) != 0)
			_exit(errno == EPIPE ? 0 : 1);
		/* Belt and braces with the parent's timer: never hang. */
		alarm(LOCAL_CHILD_TIMEOUT + 30);
		have = 1;
		while (have) {
			from = b->n;
			while (have) {
				local_child_write(b, &m);
				ipc_msg_free(&m);
				have = local_child_more(b, pc, &m);
			}
			local_child_link(b, from);
			have = local_child_more(b, pc, &m);
		}
		local_child_commit(b, pc);
		alarm(0);
	}
}

/*
 * local_child_fds - keep only the channel, as LOCAL_CHILD_FD.  The child
 * runs as the mailbox owner, who must not inherit the channels to queued
 * and ternd, other owners' channels or their queue files.
 */
static void
local_child_fds(int sock)
{
	int s, null;

	s = fcntl(sock, F_DUPFD_CLOEXEC, LOCAL_CHILD_FD + 1);
	if (s == -1 || dup2(s, LOCAL_CHILD_FD) == -1)
		_exit(111);
	closefrom(LOCAL_CHILD_FD + 1);
	if ((null = open("/dev/null", O_RDWR)) != -1) {
		dup2(null, 0);
		dup2(null, 1);
		if (null > 2)
			close(null);
	}
}

/* local_child_run - the delivery process: become the owner, serve */
static void __attribute__((noreturn))
local_child_run(const struct local_target *owner, const struct settings *set,
    int sock)
{
	static struct local_batch b;
	struct ipc_conn pc;
	sigset_t none;

	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	local_child_fds(sock);
	b.set = set;
	b.hostname = set->myhostname;
	b.pc = &pc;
	/* Nothing is opened before this; if it fails, nothing is opened at
	 * all, and every delivery is answered as deferred. */
	if (owner->become && local_target_become(owner) != 0)
		b.become_failed = 1;
	ipc_conn_init(&pc, LOCAL_CHILD_FD);
	local_child_serve(&b, &pc);
}

/* local_child_spawn - fork the delivery process for owner */
pid_t
local_child_spawn(const struct local_target *owner, const struct settings *set,
    int *sock)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	if ((pid = fork()) == -1) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		deliverd_signals_child();
		close(sv[0]);
		local_child_run(owner, set, sv[1]);
	}
	close(sv[1]);
	*sock = sv[0];
	return pid;
}

/* local_child_dsn_ok - "C.x.y", 1-3 digit x and y, the expected class */
static int
local_child_dsn_ok(const char *s, char class)
{
	size_t i = 2, part, len = strlen(s);

	if (len < 5 || s[0] != class || s[1] != '.')
		return 0;
	for (part = 0; part < 2; part++) {
		size_t start = i;

		while (i < len && isdigit((unsigned char)s[i]) && i - start < 3)
			i++;
		if (i == start)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	return i == len;
}

/* local_child_report_check - believe a report only when it is consistent */
int
local_child_report_check(const struct msg_local_delivered *r, char *dsn,
    size_t dsnsize, char *text, size_t textsize)
{
	static const char classes[] = { '2', '4', '5' };
	size_t i, o = 0;

	if (r->status > DELIVER_PERMFAIL ||
	    !local_child_dsn_ok(r->dsn, classes[r->status]) ||
	    strlcpy(dsn, r->dsn, dsnsize) >= dsnsize || textsize == 0)
		return -1;
	for (i = 0; r->text[i] != '\0' && o + 1 < textsize; i++)
		text[o++] = (r->text[i] >= 0x20 && r->text[i] < 0x7f) ?
		    r->text[i] : '?';
	text[o] = '\0';
	return (int)r->status;
}

/* local_child_exit_text - "killed by signal N", "exited with status N" */
void
local_child_exit_text(int wstatus, char *text, size_t textsize)
{
	if (WIFSIGNALED(wstatus))
		snprintf(text, textsize, "local delivery process killed by "
		    "signal %d", WTERMSIG(wstatus));
	else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0)
		snprintf(text, textsize, "local delivery process exited with "
		    "status %d", WEXITSTATUS(wstatus));
	else
		snprintf(text, textsize, "local delivery process gave no "
		    "result");
}
