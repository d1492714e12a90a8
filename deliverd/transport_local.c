/*
 * transport_local - the local transport of deliverd ("tern-deliverd -t
 * local"): jobs from queued are delivered into local mailboxes.
 *
 * queued sends jobs (a message file and its local recipients).  For each
 * recipient this transport finds the Maildir (or, with mailbox_format =
 * mbox, the mbox in mail_spool_directory) and its owner (local_target.c;
 * a virtual mailbox, whose target is its path, is owned by virtual_uid
 * and virtual_gid) and hands the delivery to a delivery process of that
 * owner (local_child.c).  A process holds at most LOCAL_CHILD_WINDOW
 * deliveries at a time (those given beyond wait here, queued on it); it
 * writes them, syncs, and reports.  An owner may have up to
 * local_owner_concurrency_limit processes, and at most
 * local_delivery_limit exist in all (local_owner_pick): a delivery goes
 * to the owner's process that holds the fewest, and when that one is
 * busy another is started for the owner while both limits allow, so one
 * owner's flood (every virtual mailbox has one owner) is written by
 * several processes at once rather than behind one process's syncs.  A
 * Maildir takes that: each message is a file of its own.  A delivery to
 * an mbox, or to an alias file or command, is pinned instead: it goes to
 * the process that holds one to the same mbox, file or command already
 * (else as any other), so that two processes do not append to one file
 * and wait on each other for its lock (mbox_lock.c); with mbox every
 * delivery is pinned, as its owner is the user of that one mbox.  A
 * .forward's file items are not known here; the lock still orders them.
 * Each report becomes the recipient's MSG_DELIVERD_RESULT, and a job
 * whose recipients are all answered its MSG_DELIVERD_JOB_DONE.  A process
 * left with nothing to do for LOCAL_CHILD_IDLE seconds is ended (its
 * channel closed): an owner's extra processes end so once its flood is
 * over.  When every slot is taken and another owner has mail (and no
 * process), one process is ended: the one idle longest, else one is
 * drained (given nothing new, ended once done), a busy process of the
 * owner with the most processes, so that an owner's extra processes give
 * way first and no owner waits for ever behind others with a steady flow
 * of mail.  The recipients waiting for a process are taken in the order
 * their jobs came, so the owner that waited gets the room made.
 *
 * Privilege: this process stays root (deliverd.h) and never writes a
 * mailbox.  It resolves mailboxes reading only what root may safely read
 * (local_target.c); a process it starts for an owner switches to that
 * owner for good before it opens anything, and is only ever sent that
 * owner's deliveries (local_owner_pick matches uid, gid, the passwd
 * name that gives the groups and the spool group added).
 *
 * Trust: a delivery process runs as a mailbox owner, so what it says is
 * input.  A report is believed only when it names a delivery that
 * process holds and its status agrees with its code
 * (local_child_report_check); any other report, or a broken frame, ends
 * the process.  When a process ends (crash, kill, timeout) its
 * deliveries not yet reported are deferred (4.3.0), never reported as
 * delivered; those not yet sent to it wait for another process.
 *
 * It never logs per recipient (queued logs the result); it logs only
 * what queued cannot see: processes that ended badly and malformed jobs.
 * A job that does not decode is answered with its JOB_DONE alone (queued
 * then defers its recipients).
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deliverd.h"
#include "ipc.h"
#include "local_child.h"
#include "local_target.h"
#include "log.h"
#include "msg.h"
#include "msg_codec.h"
#include "qid.h"
#include "virtual_path.h"
#include "xmalloc.h"

enum rcpt_state {
	RCPT_WAITING,		/* not yet given to a delivery process */
	RCPT_GIVEN,		/* with its owner's process */
	RCPT_DONE,		/* answered to queued */
};

struct rcpt {
	uint32_t	 index;
	char		*address;
	char		*user;
	uint32_t	 kind;		/* enum resolve_kind */
	enum rcpt_state	 state;
};

struct job {
	TAILQ_ENTRY(job) entry;
	uint32_t	 id;
	uint32_t	 reqid;
	char		 qid[MSG_QID_MAX + 1];
	char		*sender;
	off_t		 body_offset;
	off_t		 body_size;
	int		 msgfd;
	struct rcpt	*rcpts;
	size_t		 n;
	size_t		 ndone;
	size_t		 nwaiting;	/* recipients in RCPT_WAITING */
};
TAILQ_HEAD(job_list, job);

/* One recipient's delivery, given to its owner's process. */
struct delivery {
	TAILQ_ENTRY(delivery) entry;
	uint32_t	 id;		/* unique within its process */
	struct job	*job;
	size_t		 rcpt;
	char		*maildir;
	char		*home;
	char		*mbox;		/* "", or the mbox used instead */
	int		 kind;		/* enum resolve_kind */
	char		*target;	/* "", or the command or file */
	char		*user;		/* the owner's name */
	struct pin	*pin;		/* its pin's entry, or NULL */
	time_t		 deadline;	/* once sent: when the process dies */
};
TAILQ_HEAD(delivery_list, delivery);

/* A delivery process of one mailbox owner (an owner may have several). */
struct owner {
	TAILQ_ENTRY(owner) entry;
	TAILQ_ENTRY(owner) gentry;	/* in its group, while open */
	struct group	*group;		/* NULL once not open */
	pid_t		 pid;		/* 0 once reaped */
	uid_t		 uid;
	gid_t		 gid;
	char		 user[LOCAL_USER_MAX + 1];	/* passwd name or "" */
	gid_t		 mail_gid;	/* group added, or (gid_t)-1 */
	struct ipc_conn	 conn;
	int		 closed;	/* channel closed: gets nothing more */
	int		 draining;	/* gets nothing new; closed once done */
	const char	*killed;	/* why we killed it, or NULL */
	struct delivery_list waiting;	/* not yet sent */
	struct delivery_list sent;	/* sent, not yet reported */
	size_t		 nwaiting;
	size_t		 nsent;
	uint32_t	 next_id;
	time_t		 started;
	time_t		 idle_since;	/* 0 while it has deliveries */
};
TAILQ_HEAD(owner_list, owner);

/*
 * The open processes of one owner, in the order they were started; it
 * exists while the owner has one.  The owner is the uid, the gid, the
 * passwd name (which gives the supplementary groups) and the group added
 * for the mail spool: a process serves one owner only, all four equal.
 */
struct group {
	LIST_ENTRY(group) chain;
	uid_t		 uid;
	gid_t		 gid;
	gid_t		 mail_gid;
	char		 user[LOCAL_USER_MAX + 1];
	struct owner_list open;
	size_t		 nopen;
};
LIST_HEAD(group_list, group);

/*
 * A pin (local_pin) of a group that one of its open processes holds
 * deliveries to, and how many it holds.  At most one open process of an
 * owner holds deliveries with one pin: such a delivery goes to the one
 * that holds one already, and a process takes no new delivery once it
 * is not open (its entries are dropped then, local_owner_retire).
 */
struct pin {
	LIST_ENTRY(pin)	 chain;
	const struct group *group;
	char		*name;
	uint32_t	 hash;
	struct owner	*o;
	size_t		 refs;		/* deliveries that o holds with it */
};
LIST_HEAD(pin_list, pin);

/* Groups are at most local_delivery_limit (1000), so a fixed table. */
#define LOCAL_GROUP_BUCKETS	1024
#define LOCAL_PIN_BUCKETS_MIN	64

static struct job_list jobs = TAILQ_HEAD_INITIALIZER(jobs);
static struct owner_list owners = TAILQ_HEAD_INITIALIZER(owners);
static size_t nowners;		/* processes, until reaped */
static struct group_list groups[LOCAL_GROUP_BUCKETS];
static struct pin_list *pins;	/* a hash table of pin_buckets lists */
static size_t pin_buckets, npins;
static int scan_due = 1;	/* waiting recipients may find a process */
static time_t retry_at;		/* a fork or dup failed: scan again then */

/* --- jobs and results ---------------------------------------------- */

/* local_job_free - release a finished job and close its message file */
static void
local_job_free(struct job *j)
{
	size_t i;

	for (i = 0; i < j->n; i++) {
		free(j->rcpts[i].address);
		free(j->rcpts[i].user);
	}
	free(j->rcpts);
	free(j->sender);
	if (j->msgfd != -1)
		close(j->msgfd);
	free(j);
}

/* local_result_send - queue one MSG_DELIVERD_RESULT for a recipient of j */
static void
local_result_send(struct job *j, size_t r, int status, const char *dsn,
    const char *text)
{
	char tbuf[MSG_TEXT_MAX + 1], dbuf[MSG_DSN_MAX + 1];
	struct msg_result res = { j->id, j->rcpts[r].index, (uint32_t)status,
	    dsn, msg_str_fit(text, MSG_TEXT_MAX, tbuf, sizeof(tbuf)) };
	struct ipc_msg m;

	if (j->rcpts[r].state == RCPT_WAITING)
		j->nwaiting--;
	j->rcpts[r].state = RCPT_DONE;
	j->ndone++;
	strlcpy(dbuf, dsn, sizeof(dbuf));
	res.dsn = dbuf;
	/* Refused (and logged) only for a bug: queued defers the recipient
	 * when the job is done without its result. */
	if (msg_encode(&m, MSG_DELIVERD_RESULT, j->reqid, &res) == 0)
		deliverd_queued_send(&m);
}

/* local_result_send_err - as local_result_send, from "x.y.z text" */
static void
local_result_send_err(struct job *j, size_t r, int status, const char *err)
{
	char dsn[MSG_DSN_MAX + 1];
	const char *sp = strchr(err, ' ');
	size_t len = sp != NULL ? (size_t)(sp - err) : strlen(err);

	if (len >= sizeof(dsn))
		len = sizeof(dsn) - 1;
	memcpy(dsn, err, len);
	dsn[len] = '\0';
	local_result_send(j, r, status, dsn, sp != NULL ? sp + 1 : "");
}

/* local_job_done_send - MSG_DELIVERD_JOB_DONE for job: queued ends it */
static void
local_job_done_send(uint32_t reqid, uint32_t job)
{
	struct msg_job_done done = { job };
	struct ipc_msg m;

	if (msg_encode(&m, MSG_DELIVERD_JOB_DONE, reqid, &done) == 0)
		deliverd_queued_send(&m);
}

/* local_jobs_finish - JOB_DONE for every job whose recipients are done */
static void
local_jobs_finish(void)
{
	struct job *j, *next;

	for (j = TAILQ_FIRST(&jobs); j != NULL; j = next) {
		next = TAILQ_NEXT(j, entry);
		if (j->ndone < j->n)
			continue;
		local_job_done_send(j->reqid, j->id);
		TAILQ_REMOVE(&jobs, j, entry);
		local_job_free(j);
	}
}

/* --- the index of open processes ---------------------------------- */

/*
 * Why an index: local_owner_pick runs once for every delivery.  It used
 * to scan every process, and for a pinned delivery the deliveries of
 * each of the owner's processes until one with the same pin: a burst of
 * pinned deliveries with several pins of one owner (every alias file
 * and command runs as default_privs) cost the square of its size.  Now
 * the open processes of an owner are a group found by a hash of the
 * owner, and the pins its processes hold are found by a hash of group
 * and pin: a pick looks at the owner's own open processes only (at most
 * local_owner_concurrency_limit) and never at a delivery.  A process
 * enters its group when started and leaves it, with its pins, when it
 * stops being open (local_owner_retire).
 */

/* local_hash - FNV-1a of len octets at p, continuing from h */
static uint32_t
local_hash(uint32_t h, const void *p, size_t len)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ c[i]) * 16777619u;
	return h;
}

/* local_group_hash - the hash of an owner (struct group) */
static uint32_t
local_group_hash(uid_t uid, gid_t gid, gid_t mail_gid, const char *user)
{
	uint32_t h = 2166136261u;

	h = local_hash(h, &uid, sizeof(uid));
	h = local_hash(h, &gid, sizeof(gid));
	h = local_hash(h, &mail_gid, sizeof(mail_gid));
	return local_hash(h, user, strlen(user) + 1);
}

/* local_group_find - the group of the owner, or NULL when it has none */
static struct group *
local_group_find(uid_t uid, gid_t gid, gid_t mail_gid, const char *user)
{
	uint32_t h = local_group_hash(uid, gid, mail_gid, user);
	struct group *g;

	LIST_FOREACH(g, &groups[h % LOCAL_GROUP_BUCKETS], chain)
		if (g->uid == uid && g->gid == gid && g->mail_gid == mail_gid &&
		    strcmp(g->user, user) == 0)
			return g;
	return NULL;
}

/* local_group_join - o (just started, open) joins its owner's group */
static void
local_group_join(struct owner *o)
{
	struct group *g;
	uint32_t h;

	if ((g = local_group_find(o->uid, o->gid, o->mail_gid,
	    o->user)) == NULL) {
		h = local_group_hash(o->uid, o->gid, o->mail_gid, o->user);
		g = xcalloc(1, sizeof(*g));
		g->uid = o->uid;
		g->gid = o->gid;
		g->mail_gid = o->mail_gid;
		strlcpy(g->user, o->user, sizeof(g->user));
		TAILQ_INIT(&g->open);
		LIST_INSERT_HEAD(&groups[h % LOCAL_GROUP_BUCKETS], g, chain);
	}
	TAILQ_INSERT_TAIL(&g->open, o, gentry);
	g->nopen++;
	o->group = g;
}

/* local_pin_hash - the hash of pin name within group g */
static uint32_t
local_pin_hash(const struct group *g, const char *name)
{
	return local_hash(local_hash(2166136261u, &g, sizeof(g)), name,
	    strlen(name));
}

/* local_pin_find - the entry of pin name in group g, or NULL */
static struct pin *
local_pin_find(const struct group *g, const char *name)
{
	uint32_t h;
	struct pin *p;

	if (npins == 0)
		return NULL;
	h = local_pin_hash(g, name);
	LIST_FOREACH(p, &pins[h % pin_buckets], chain)
		if (p->hash == h && p->group == g && strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/* local_pins_grow - a table with n buckets, the entries moved into it */
static void
local_pins_grow(size_t n)
{
	struct pin_list *t = xcalloc(n, sizeof(*t));
	struct pin *p;
	size_t i;

	for (i = 0; i < pin_buckets; i++)
		while ((p = LIST_FIRST(&pins[i])) != NULL) {
			LIST_REMOVE(p, chain);
			LIST_INSERT_HEAD(&t[p->hash % n], p, chain);
		}
	free(pins);
	pins = t;
	pin_buckets = n;
}

/*
 * local_delivery_pin - d, just given to open process o, counts in the
 * entry of its pin (local_pin), made if o's group has none.  The entry
 * is o's: local_owner_pick gave d to the holder of its pin.
 */
static void
local_delivery_pin(struct owner *o, struct delivery *d, const char *name)
{
	struct pin *p;

	if ((p = local_pin_find(o->group, name)) == NULL) {
		if (npins >= pin_buckets)
			local_pins_grow(pin_buckets == 0 ?
			    LOCAL_PIN_BUCKETS_MIN : 2 * pin_buckets);
		p = xcalloc(1, sizeof(*p));
		p->group = o->group;
		p->name = xstrdup(name);
		p->hash = local_pin_hash(o->group, name);
		p->o = o;
		LIST_INSERT_HEAD(&pins[p->hash % pin_buckets], p, chain);
		npins++;
	} else if (p->o != o)
		fatalx("local: pin held by two open processes");
	p->refs++;
	d->pin = p;
}

/* local_delivery_unpin - d counts no more in its pin's entry (if any) */
static void
local_delivery_unpin(struct delivery *d)
{
	struct pin *p = d->pin;

	if (p == NULL)
		return;
	d->pin = NULL;
	if (--p->refs > 0)
		return;
	LIST_REMOVE(p, chain);
	npins--;
	free(p->name);
	free(p);
}

/* --- deliveries ---------------------------------------------------- */

/* local_delivery_free - release a delivery (its recipient is elsewhere) */
static void
local_delivery_free(struct delivery *d)
{
	local_delivery_unpin(d);
	free(d->maildir);
	free(d->home);
	free(d->mbox);
	free(d->target);
	free(d->user);
	free(d);
}

/* local_delivery_requeue - d was never sent: its recipient waits again */
static void
local_delivery_requeue(struct delivery *d)
{
	d->job->rcpts[d->rcpt].state = RCPT_WAITING;
	d->job->nwaiting++;
	local_delivery_free(d);
	scan_due = 1;
}

/*
 * local_delivery_fail - d was sent to a process that ended before it
 * reported: deferred.  It may have been written (and even linked); it is
 * delivered again later rather than reported delivered unproven.
 */
static void
local_delivery_fail(struct delivery *d, pid_t pid, const char *text)
{
	struct job *j = d->job;
	const char *addr = j->rcpts[d->rcpt].address;
	char vis[256];

	log_vis(vis, sizeof(vis), addr, strlen(addr));
	log_warn("%s: delivery to <%s> (pid %ld): %s", j->qid, vis,
	    (long)pid, text);
	local_result_send(j, d->rcpt, DELIVER_TEMPFAIL, "4.3.0", text);
	local_delivery_free(d);
}

/* --- delivery processes -------------------------------------------- */

/* local_limit - how many delivery processes may exist at once */
static size_t
local_limit(void)
{
	const struct settings *set = deliverd_settings();

	return set->local_delivery_limit > 0 ?
	    (size_t)set->local_delivery_limit : 1;
}

/* local_owner_limit - how many processes one owner may have at once */
static size_t
local_owner_limit(void)
{
	const struct settings *set = deliverd_settings();

	return set->local_owner_concurrency_limit > 0 ?
	    (size_t)set->local_owner_concurrency_limit : 1;
}

/* local_owner_idle - true when o holds no delivery */
static int
local_owner_idle(const struct owner *o)
{
	return TAILQ_EMPTY(&o->waiting) && TAILQ_EMPTY(&o->sent);
}

/* local_owner_held - how many deliveries o holds, waiting and sent */
static size_t
local_owner_held(const struct owner *o)
{
	return o->nwaiting + o->nsent;
}

/* local_owner_open - o may be given deliveries: neither closed nor draining */
static int
local_owner_open(const struct owner *o)
{
	return !o->closed && !o->draining;
}

/*
 * local_pin - what a delivery appends to under a lock, which one process
 * at a time should write: the mbox, or the alias file or command; NULL
 * for a Maildir, which any number of processes may write at once.
 */
static const char *
local_pin(const char *mbox, int kind, const char *target)
{
	if (mbox[0] != '\0')
		return mbox;
	if (kind == RESOLVE_FILE || kind == RESOLVE_COMMAND)
		return target;
	return NULL;
}

/*
 * local_owner_pick - the open process of t's owner that t's delivery
 * goes to, or NULL when the owner has none.  A delivery with a pin
 * (local_pin) goes to the process that holds one with the same pin
 * already; any other to the process holding the fewest (the first
 * started of equals).  *more is set when that process is busy and the
 * owner has fewer than local_owner_concurrency_limit open processes:
 * another may be started for it (local_delivery_limit permitting).
 * It looks at the owner's open processes only (the index above).
 */
static struct owner *
local_owner_pick(const struct local_target *t, int *more)
{
	const char *pin = local_pin(t->mbox, t->kind, t->target);
	struct group *g;
	struct owner *o, *best = NULL;
	struct pin *p;

	*more = 0;
	if ((g = local_group_find(t->uid, t->gid, t->mail_gid,
	    t->user)) == NULL)
		return NULL;
	if (pin != NULL && (p = local_pin_find(g, pin)) != NULL)
		return p->o;
	TAILQ_FOREACH(o, &g->open, gentry)
		if (best == NULL ||
		    local_owner_held(o) < local_owner_held(best))
			best = o;
	*more = local_owner_held(best) > 0 && g->nopen < local_owner_limit();
	return best;
}

/*
 * local_owner_retire - o is open no more (closed or draining): it
 * leaves its group, and its deliveries their pins' entries, so that no
 * delivery is picked for it again.
 */
static void
local_owner_retire(struct owner *o)
{
	struct group *g = o->group;
	struct delivery *d;

	if (g == NULL)
		return;
	TAILQ_FOREACH(d, &o->waiting, entry)
		local_delivery_unpin(d);
	TAILQ_FOREACH(d, &o->sent, entry)
		local_delivery_unpin(d);
	TAILQ_REMOVE(&g->open, o, gentry);
	o->group = NULL;
	if (--g->nopen == 0) {
		LIST_REMOVE(g, chain);
		free(g);
	}
	log_debug("local delivery process %ld (uid %ld) takes no more "
	    "deliveries, holding %zu", (long)o->pid, (long)o->uid,
	    local_owner_held(o));
}

/* local_owner_start - fork the delivery process for t's owner, or NULL */
static struct owner *
local_owner_start(const struct local_target *t)
{
	const struct settings *set = deliverd_settings();
	struct owner *o;
	int sock;
	pid_t pid;

	if ((pid = local_child_spawn(t, set, &sock)) == -1)
		return NULL;
	if (fcntl(sock, F_SETFL, O_NONBLOCK) == -1)
		fatal("fcntl");
	o = xcalloc(1, sizeof(*o));
	o->pid = pid;
	o->uid = t->uid;
	o->gid = t->gid;
	o->mail_gid = t->mail_gid;
	strlcpy(o->user, t->user, sizeof(o->user));
	ipc_conn_init(&o->conn, sock);
	TAILQ_INIT(&o->waiting);
	TAILQ_INIT(&o->sent);
	o->started = time(NULL);
	TAILQ_INSERT_TAIL(&owners, o, entry);
	nowners++;
	local_group_join(o);
	log_debug("local delivery process %ld started for uid %ld",
	    (long)pid, (long)t->uid);
	return o;
}

/*
 * local_owner_close - give o nothing more: its channel is closed (an idle
 * process then exits), its unsent deliveries wait for another process.
 * What it was sent is settled when it is reaped.
 */
static void
local_owner_close(struct owner *o)
{
	struct delivery *d;

	if (o->closed)
		return;
	local_owner_retire(o);
	while ((d = TAILQ_FIRST(&o->waiting)) != NULL) {
		TAILQ_REMOVE(&o->waiting, d, entry);
		local_delivery_requeue(d);
	}
	o->nwaiting = 0;
	ipc_conn_close(&o->conn);
	o->closed = 1;
}

/* local_owner_kill - end a process we no longer trust or wait for */
static void
local_owner_kill(struct owner *o, const char *why)
{
	if (o->pid != 0 && o->killed == NULL)
		kill(o->pid, SIGKILL);
	if (o->killed == NULL)
		o->killed = why;
	local_owner_close(o);
}

/* local_owner_give - queue recipient r of j (at t) for process o */
static void
local_owner_give(struct owner *o, struct job *j, size_t r,
    const struct local_target *t)
{
	struct delivery *d = xcalloc(1, sizeof(*d));
	const char *pin = local_pin(t->mbox, t->kind, t->target);

	d->id = o->next_id++;
	d->job = j;
	d->rcpt = r;
	d->maildir = xstrdup(t->maildir);
	d->home = xstrdup(t->home);
	d->mbox = xstrdup(t->mbox);
	d->kind = t->kind != 0 ? t->kind : RESOLVE_LOCAL;
	d->target = xstrdup(t->target);
	d->user = xstrdup(t->user);
	if (pin != NULL)
		local_delivery_pin(o, d, pin);
	j->rcpts[r].state = RCPT_GIVEN;
	j->nwaiting--;
	o->idle_since = 0;
	TAILQ_INSERT_TAIL(&o->waiting, d, entry);
	o->nwaiting++;
}

/*
 * local_extension - the extension of address's local part (after the
 * first recipient_delimiter) into buf, "" without one: the EXTENSION of
 * commands and the TAG of .forward+TAG, so no '/', no leading '.', no
 * control characters (else "").
 */
static const char *
local_extension(const char *address, char *buf, size_t size)
{
	const char *d = deliverd_settings()->recipient_delimiter;
	const char *at = strrchr(address, '@'), *p;
	size_t len, i;

	buf[0] = '\0';
	if (d == NULL || d[0] == '\0' || at == NULL ||
	    (p = memchr(address, d[0], (size_t)(at - address))) == NULL ||
	    p == address)
		return buf;
	p++;
	len = (size_t)(at - p);
	if (len == 0 || len >= size || p[0] == '.')
		return buf;
	for (i = 0; i < len; i++)
		if (p[i] == '/' || (unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return buf;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return buf;
}

/* local_owner_frame - the MSG_LOCAL_DELIVERY for d, with its file */
static int
local_owner_frame(struct delivery *d, struct ipc_msg *m)
{
	struct job *j = d->job;
	char ext[ADDR_LOCAL_MAX + 1];
	struct msg_local_delivery ld = { d->id, j->sender,
	    j->rcpts[d->rcpt].address, d->maildir, d->home,
	    (uint64_t)j->body_offset, (uint64_t)j->body_size, d->mbox,
	    (uint32_t)d->kind, d->target, d->user,
	    (uint32_t)deliverd_settings()->command_time_limit,
	    local_extension(j->rcpts[d->rcpt].address, ext, sizeof(ext)) };
	int fd;

	if ((fd = fcntl(j->msgfd, F_DUPFD_CLOEXEC, 0)) == -1)
		return -1;
	if (msg_encode(m, MSG_LOCAL_DELIVERY, 0, &ld) != 0) {
		close(fd);
		return -1;
	}
	m->fd = fd;
	return 0;
}

/*
 * local_may_run_command - d may run a command: an alias command, or a
 * passwd user's mail (its .forward, which only the user's process
 * reads, may name commands)
 */
static int
local_may_run_command(const struct delivery *d)
{
	return d->kind == RESOLVE_COMMAND || (d->kind == RESOLVE_LOCAL &&
	    d->user[0] != '\0');
}

/*
 * local_command_wait - how long d may wait behind (or be) a command:
 * the process runs its deliveries one after another, and each command
 * may take command_time_limit.
 */
static time_t
local_command_wait(const struct owner *o, const struct delivery *d)
{
	const struct delivery *s;
	time_t n = local_may_run_command(d);

	TAILQ_FOREACH(s, &o->sent, entry)
		n += local_may_run_command(s);
	return n * (time_t)deliverd_settings()->command_time_limit;
}

/* local_owner_send - send o what its window takes, then flush */
static void
local_owner_send(struct owner *o)
{
	struct delivery *d;
	struct ipc_msg m;

	while (!o->closed && o->nsent < LOCAL_CHILD_WINDOW &&
	    (d = TAILQ_FIRST(&o->waiting)) != NULL) {
		if (local_owner_frame(d, &m) != 0) {
			/* Out of descriptors (or a path the codec refuses):
			 * try again soon rather than lose the recipient. */
			log_warn("%s: cannot pass the message on: %s",
			    d->job->qid, strerror(errno));
			retry_at = time(NULL) + 1;
			break;
		}
		TAILQ_REMOVE(&o->waiting, d, entry);
		o->nwaiting--;
		d->deadline = time(NULL) + LOCAL_CHILD_TIMEOUT +
		    local_command_wait(o, d);
		TAILQ_INSERT_TAIL(&o->sent, d, entry);
		o->nsent++;
		ipc_conn_queue(&o->conn, &m);
	}
	if (!o->closed && ipc_conn_pending(&o->conn) &&
	    ipc_conn_flush(&o->conn) == -1)
		local_owner_close(o);
}

/* local_owner_delivery - the delivery of id that o holds, or NULL */
static struct delivery *
local_owner_delivery(struct owner *o, uint32_t id)
{
	struct delivery *d;

	TAILQ_FOREACH(d, &o->sent, entry)
		if (d->id == id)
			return d;
	return NULL;
}

/*
 * local_owner_forward - a MSG_LOCAL_FORWARD from o: the .forward
 * addresses of a passwd user's delivery it holds, passed on to queued
 * (which checks each address: they are the user's words) before that
 * delivery's result.  0, or -1 when o is not to be believed.
 */
static int
local_owner_forward(struct owner *o, struct ipc_msg *m, const char *peer)
{
	struct msg_forward fw;
	struct delivery *d;
	struct ipc_msg out;
	const char *why;
	int rc = 0;

	if (msg_decode(m, MSG_LOCAL_FORWARD, &fw, &why) != 0) {
		msg_log_reject(peer, m, why);
		return -1;
	}
	if ((d = local_owner_delivery(o, fw.index)) == NULL ||
	    d->kind != RESOLVE_LOCAL || d->user[0] == '\0') {
		msg_log_reject(peer, m, "a forward for no mailbox it holds");
		rc = -1;
	} else {
		fw.job = d->job->id;
		fw.index = d->job->rcpts[d->rcpt].index;
		if (msg_encode(&out, MSG_DELIVERD_FORWARD, d->job->reqid,
		    &fw) == 0)
			deliverd_queued_send(&out);
	}
	msg_free(MSG_LOCAL_FORWARD, &fw);
	return rc;
}

/*
 * local_owner_report - a frame from o: a report on one of its
 * deliveries.  0, or -1 when o is not to be believed any more.
 */
static int
local_owner_report(struct owner *o, struct ipc_msg *m, const char *peer)
{
	char dsn[MSG_DSN_MAX + 1], text[MSG_TEXT_MAX + 1];
	struct msg_local_delivered r;
	struct delivery *d;
	const char *why;
	int status;

	if (m->type == MSG_LOCAL_FORWARD)
		return local_owner_forward(o, m, peer);
	if (m->type != MSG_LOCAL_DELIVERED) {
		msg_log_reject(peer, m, "unexpected type");
		return -1;
	}
	if (msg_decode(m, MSG_LOCAL_DELIVERED, &r, &why) != 0) {
		msg_log_reject(peer, m, why);
		return -1;
	}
	if ((d = local_owner_delivery(o, r.id)) == NULL) {
		msg_log_reject(peer, m, "a report on no delivery it holds");
		return -1;
	}
	if ((status = local_child_report_check(&r, dsn, sizeof(dsn), text,
	    sizeof(text))) == -1) {
		msg_log_reject(peer, m, "status and code disagree");
		return -1;
	}
	TAILQ_REMOVE(&o->sent, d, entry);
	o->nsent--;
	local_result_send(d->job, d->rcpt, status, dsn, text);
	local_delivery_free(d);
	if (local_owner_idle(o)) {
		o->idle_since = time(NULL);
		scan_due = 1;	/* a slot another owner may need */
	}
	return 0;
}

/*
 * local_owner_input - read o's reports.  Returns 1 when it read some, 0
 * when nothing was there, -1 when the channel is now closed.
 */
static int
local_owner_input(struct owner *o)
{
	struct ipc_msg m;
	char peer[64];
	ssize_t n;
	int rc;

	if (o->closed)
		return -1;
	n = ipc_conn_read(&o->conn);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		/* It exited (or will): what it holds is settled at reaping. */
		local_owner_close(o);
		return -1;
	}
	snprintf(peer, sizeof(peer), "local delivery process %ld",
	    (long)o->pid);
	while (!o->closed && (rc = ipc_conn_next(&o->conn, &m)) == 1) {
		if (local_owner_report(o, &m, peer) != 0)
			local_owner_kill(o, "local delivery process sent a "
			    "report that cannot be believed");
		ipc_msg_free(&m);
	}
	if (!o->closed && rc == -1) {
		log_warn("%s sent a malformed frame", peer);
		local_owner_kill(o, "local delivery process sent a "
		    "malformed frame");
	}
	return o->closed ? -1 : 1;
}

/*
 * local_owner_make_room - every slot is taken and another owner has mail:
 * end the process idle longest, or else drain a busy one of the owner
 * with the most processes (the oldest of those).  Only one at a time:
 * one that is ending already makes the room.
 */
static void
local_owner_make_room(void)
{
	struct owner *o, *idle = NULL, *busy = NULL;
	size_t n, most = 0;

	TAILQ_FOREACH(o, &owners, entry) {
		if (!local_owner_open(o))
			return;
	}
	TAILQ_FOREACH(o, &owners, entry) {
		if (local_owner_idle(o)) {
			if (idle == NULL || o->idle_since < idle->idle_since)
				idle = o;
			continue;
		}
		/* Open, as all are here: its group counts its owner's. */
		n = o->group->nopen;
		if (busy == NULL || n > most ||
		    (n == most && o->started < busy->started)) {
			busy = o;
			most = n;
		}
	}
	if (idle != NULL)
		local_owner_close(idle);
	else if (busy != NULL) {
		busy->draining = 1;
		local_owner_retire(busy);
	}
}

/* local_owners_free - forget the processes that are closed and reaped */
static void
local_owners_free(void)
{
	struct owner *o, *next;

	for (o = TAILQ_FIRST(&owners); o != NULL; o = next) {
		next = TAILQ_NEXT(o, entry);
		if (!o->closed || o->pid != 0)
			continue;
		TAILQ_REMOVE(&owners, o, entry);
		nowners--;
		free(o);
		scan_due = 1;
	}
}

/*
 * local_owners_timers - kill a process whose oldest delivery is overdue,
 * end one idle for LOCAL_CHILD_IDLE (at once when stopping, or when
 * drained); ms until the next of these, or -1.
 */
static int
local_owners_timers(void)
{
	time_t now = time(NULL), next = 0, due;
	struct owner *o;
	struct delivery *d;

	TAILQ_FOREACH(o, &owners, entry) {
		if (o->closed)
			continue;
		if ((d = TAILQ_FIRST(&o->sent)) != NULL) {
			due = d->deadline;
			if (now >= due) {
				local_owner_kill(o, "local delivery timed out");
				continue;
			}
		} else if (local_owner_idle(o)) {
			due = o->idle_since + LOCAL_CHILD_IDLE;
			if (now >= due || o->draining || deliverd_stopping()) {
				local_owner_close(o);
				continue;
			}
		} else
			continue;
		if (next == 0 || due < next)
			next = due;
	}
	if (next == 0)
		return -1;
	return (int)((next - now) * 1000 + 100);
}

/* --- scheduling ---------------------------------------------------- */

/*
 * local_rcpt_give - give recipient r of j to a process of its owner
 * (local_owner_pick), starting one if the owner has none or only busy
 * ones, and there is room.  Returns 0 when given or answered, -1 when it
 * must wait.
 */
static int
local_rcpt_give(struct job *j, size_t r)
{
	const struct settings *set = deliverd_settings();
	struct local_target t;
	struct owner *o, *n;
	char err[LOCAL_TARGET_ERR_MAX];
	int rc, more;

	if (j->rcpts[r].kind == RESOLVE_COMMAND ||
	    j->rcpts[r].kind == RESOLVE_FILE)
		rc = local_target_alias((int)j->rcpts[r].kind,
		    j->rcpts[r].user, set->default_privs, &t, err,
		    sizeof(err));
	else if (virtual_path_is(j->rcpts[r].user))
		rc = local_target_virtual(set->virtual_mailbox_base,
		    set->virtual_uid, set->virtual_gid, j->rcpts[r].user, &t,
		    err, sizeof(err));
	else {
		rc = local_target_resolve(set->mailbox_base, j->rcpts[r].user,
		    &t, err, sizeof(err));
		/* mbox is for passwd users; mailbox_base directories and
		 * virtual mailboxes stay Maildirs. */
		if (rc == DELIVER_OK && set->mailbox_format == MAILBOX_MBOX &&
		    set->mailbox_base[0] == '\0')
			rc = local_target_mbox(&t, set->mail_spool_directory,
			    err, sizeof(err));
		/* An alias's "\name": its delivery reads no .forward. */
		if (j->rcpts[r].kind == RESOLVE_MAILBOX)
			t.kind = RESOLVE_MAILBOX;
	}
	if (rc != DELIVER_OK) {
		local_result_send_err(j, r, rc, err);
		return 0;
	}
	o = local_owner_pick(&t, &more);
	if (o == NULL && nowners >= local_limit()) {
		local_owner_make_room();
		return -1;
	}
	/* After a failed fork (retry_at) a busy process takes it instead. */
	if (o == NULL || (more && nowners < local_limit() && retry_at == 0)) {
		if ((n = local_owner_start(&t)) != NULL)
			o = n;
		else {
			/* Out of processes: try again in a second. */
			log_warn("%s: cannot fork delivery process: %s",
			    j->qid, strerror(errno));
			retry_at = time(NULL) + 1;
			if (o == NULL)
				return -1;
		}
	}
	local_owner_give(o, j, r, &t);
	return 0;
}

/* local_jobs_schedule - give waiting recipients to their processes */
static void
local_jobs_schedule(void)
{
	struct job *j;
	size_t r;

	if (!scan_due && (retry_at == 0 || time(NULL) < retry_at))
		return;
	scan_due = 0;
	retry_at = 0;
	TAILQ_FOREACH(j, &jobs, entry) {
		for (r = 0; r < j->n && j->nwaiting > 0; r++) {
			if (j->rcpts[r].state != RCPT_WAITING)
				continue;
			if (local_rcpt_give(j, r) != 0 && retry_at != 0)
				return;
		}
	}
}

/* --- the verbs ----------------------------------------------------- */

/*
 * local_job_reject - a frame from queued that is not a job we can run:
 * logged, and when it names a job, that job is answered as done without
 * results, so queued defers its recipients now rather than never.
 */
static void
local_job_reject(const struct ipc_msg *m, const char *why)
{
	uint32_t job;

	msg_log_reject("queued", m, why);
	if (m->type == MSG_QUEUED_DELIVER_LOCAL && msg_peek_u32(m, &job) == 0)
		local_job_done_send(m->id, job);
}

/* local_job - decode a MSG_QUEUED_DELIVER_LOCAL and queue the job */
static void
local_job(struct ipc_msg *m)
{
	struct msg_deliver_local d;
	const char *why;
	char err[LOCAL_TARGET_ERR_MAX];
	struct job *j;
	size_t i;

	if (msg_decode(m, MSG_QUEUED_DELIVER_LOCAL, &d, &why) != 0) {
		local_job_reject(m, why);
		return;
	}
	if (!qid_valid(d.qid)) {
		msg_free(MSG_QUEUED_DELIVER_LOCAL, &d);
		local_job_reject(m, "bad queue ID");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->id = d.job;
	strlcpy(j->qid, d.qid, sizeof(j->qid));
	j->sender = xstrdup(d.sender);
	j->body_offset = (off_t)d.body_offset;
	j->body_size = (off_t)d.body_size;
	j->rcpts = xcalloc(d.n, sizeof(*j->rcpts));
	for (j->n = 0; j->n < d.n; j->n++) {
		j->rcpts[j->n].index = d.rcpts[j->n].index;
		j->rcpts[j->n].address = xstrdup(d.rcpts[j->n].address);
		j->rcpts[j->n].user = xstrdup(d.rcpts[j->n].user);
		j->rcpts[j->n].kind = d.rcpts[j->n].kind;
	}
	j->nwaiting = j->n;
	msg_free(MSG_QUEUED_DELIVER_LOCAL, &d);
	j->msgfd = ipc_msg_take_fd(m);
	j->reqid = m->id;
	log_debug("%s: job %u, %zu recipient(s)", j->qid, j->id, j->n);
	/* Names that can never be a mailbox are answered at once (a
	 * virtual mailbox path is checked when it is resolved). */
	for (i = 0; i < j->n; i++) {
		if ((j->rcpts[i].kind == RESOLVE_MAILBOX ||
		    (j->rcpts[i].kind == RESOLVE_LOCAL &&
		    !virtual_path_is(j->rcpts[i].user))) &&
		    local_target_check_user(j->rcpts[i].user, err,
		    sizeof(err)) != 0)
			local_result_send_err(j, i, DELIVER_PERMFAIL, err);
	}
	TAILQ_INSERT_TAIL(&jobs, j, entry);
	scan_due = 1;
}

/* local_setup - nothing to prepare: mailboxes are resolved per recipient */
static void
local_setup(void)
{
}

/*
 * local_poll - give recipients to processes, send them their deliveries,
 * end overdue and idle ones, finish jobs; then wait on every open
 * process's channel.
 */
static int
local_poll(void)
{
	struct owner *o;
	time_t now = time(NULL);
	int timeout;

	local_owners_free();
	local_jobs_schedule();
	TAILQ_FOREACH(o, &owners, entry)
		local_owner_send(o);
	local_jobs_finish();
	timeout = local_owners_timers();
	if (retry_at != 0) {
		int ms = retry_at > now ? (int)(retry_at - now) * 1000 : 0;

		if (timeout == -1 || ms < timeout)
			timeout = ms;
	}
	TAILQ_FOREACH(o, &owners, entry) {
		if (o->closed)
			continue;
		deliverd_poll_add(o->conn.fd, POLLIN |
		    (ipc_conn_pending(&o->conn) ? POLLOUT : 0), o);
	}
	return timeout;
}

/* local_events - a process's channel is readable, writable or gone */
static void
local_events(void *arg, short revents)
{
	struct owner *o = arg;

	if ((revents & POLLOUT) && !o->closed &&
	    ipc_conn_flush(&o->conn) == -1)
		local_owner_close(o);
	if (revents & (POLLIN | POLLHUP | POLLERR))
		(void)local_owner_input(o);
}

/*
 * local_reaped - a delivery process exited: read what it reported before
 * it did, then defer whatever it held and did not report.
 */
static void
local_reaped(pid_t pid, int wstatus)
{
	struct owner *o;
	struct delivery *d;
	char text[128];

	TAILQ_FOREACH(o, &owners, entry)
		if (o->pid == pid)
			break;
	if (o == NULL)
		return;
	while (local_owner_input(o) == 1)
		continue;
	local_owner_close(o);
	if (o->killed != NULL)
		strlcpy(text, o->killed, sizeof(text));
	else
		local_child_exit_text(wstatus, text, sizeof(text));
	/* Each deferred delivery says so below; a crash that held none
	 * would otherwise go unseen. */
	if (o->killed == NULL && TAILQ_EMPTY(&o->sent) &&
	    (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0))
		log_warn("local delivery process %ld (uid %ld): %s",
		    (long)pid, (long)o->uid, text);
	while ((d = TAILQ_FIRST(&o->sent)) != NULL) {
		TAILQ_REMOVE(&o->sent, d, entry);
		local_delivery_fail(d, pid, text);
	}
	o->nsent = 0;
	o->pid = 0;
	scan_due = 1;
}

/* local_busy - jobs not yet answered */
static int
local_busy(void)
{
	return !TAILQ_EMPTY(&jobs);
}

/* local_reload - idle processes end: new ones see the new settings */
static void
local_reload(void)
{
	struct owner *o;

	TAILQ_FOREACH(o, &owners, entry)
		if (local_owner_idle(o))
			local_owner_close(o);
	scan_due = 1;
}

/* local_stop - the loop is over: every process gets end of file */
static void
local_stop(void)
{
	struct owner *o;

	TAILQ_FOREACH(o, &owners, entry)
		local_owner_close(o);
}

const struct transport_ops local_transport_ops = {
	.name = "local",
	.privilege = TRANSPORT_ROOT,
	.setup = local_setup,
	.job = local_job,
	.poll = local_poll,
	.events = local_events,
	.reaped = local_reaped,
	.busy = local_busy,
	.reload = local_reload,
	.stop = local_stop,
};
