/*
 * queue_bdb - the Berkeley DB 5.3 queue-store backend (the shipped one).
 *
 * queue_store.c is the only caller, and queued the only process that opens
 * the environment.  Two btree databases in one transactional environment:
 *   messages.db    key qid (no NUL)                value queue_msg_rec
 *   recipients.db  key qid, NUL, u32 index (BE)    value queue_rcpt_rec
 * Both sort by qid the way strcmp() does (the NUL ends the qid before any
 * longer qid's next octet), so one cursor over each walks them in step,
 * and a message's recipients are adjacent and in index order.
 *
 * Every change is one transaction.  Commits do not flush the log; that is
 * queue_store_sync()'s job, so many commits share one flush.  This module
 * must never report success for a change whose transaction did not commit,
 * and must never hide a DB_RUNRECOVERY: after one, every call fails until
 * queued exits and is restarted, and the restart's DB_RECOVER repairs it.
 *
 * A full disk is not such a case, and must not be made one.  Berkeley DB
 * 5.3 handles a failed write (ENOSPC, EDQUOT) without harm to the
 * environment: a commit whose log records cannot be written is turned
 * into an abort (its commit record overwritten in the log buffer) and
 * returns the error; the records stay in the log buffer and are written
 * by the next commit or flush that finds room; a database page that
 * cannot be written stays dirty in the cache.  So a failed call leaves
 * the index as it was before the change, and every call works again once
 * there is space, without a restart.  Failures therefore set errno (the
 * system error, or EIO for one of Berkeley DB's own), and only a
 * DB_RUNRECOVERY makes the store broken (bdb_broken).  Restarting on a
 * full disk would be worse than useless: recovery itself must write (the
 * pages it redoes, a checkpoint), fails, and leaves queued unable to
 * start until space returns.
 */
#include "config.h"

#include <sys/stat.h>
#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "queue_backend.h"
#include "xmalloc.h"

#define BDB_KEY_MAX		(QID_MAX + 1 + 4)
/* checkpoint when this much log was written, or this many minutes passed */
#define BDB_CKP_KBYTES		1024
#define BDB_CKP_MINUTES		5
#define BDB_CACHE_BYTES		(16 * 1024 * 1024)

struct bdb_store {
	DB_ENV	*env;
	DB	*msgs;
	DB	*rcpts;
	int	 panic;		/* DB_RUNRECOVERY seen: refuse all work */
	int	 dirfd;		/* the environment's directory */
	uint32_t log_file;	/* the log file whose name is known durable */
	int	 write_failed;	/* a write to disk failed (bdb_event) */
	int	 ckp_failing;	/* the last checkpoint failed (logged) */
	time_t	 ckp_last;	/* when a checkpoint was last asked for */
};

/* monotonic_seconds - a clock for "once a second" that never steps */
static time_t
monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* bdb_errcall - route Berkeley DB's own diagnostics to the log */
static void
bdb_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	log_error("queue store: bdb: %s", msg);
}

/*
 * bdb_fail - log a failed call (what, ret), abort txn if one is open, and
 * return -1.  DB_RUNRECOVERY marks the store dead.
 */
static int
bdb_fail(struct bdb_store *b, DB_TXN *txn, const char *what, int ret)
{
	if (ret == DB_RUNRECOVERY) {
		b->panic = 1;
		log_error("queue store: %s: %s: the environment needs "
		    "recovery; queued must exit and be restarted", what,
		    db_strerror(ret));
	} else if (ret == DB_LOCK_DEADLOCK) {
		log_error("queue store: %s: deadlock (transaction aborted)",
		    what);
	} else
		log_error("queue store: %s: %s", what, db_strerror(ret));
	if (txn != NULL)
		(void)txn->abort(txn);
	/* Callers tell a full disk (ENOSPC, EDQUOT) from other failures by
	 * errno.  Berkeley DB returns system errors as positive errno
	 * values and its own as negative codes. */
	errno = ret > 0 ? ret : EIO;
	return -1;
}

/*
 * bdb_event - Berkeley DB's event callback.  A write that failed is
 * remembered: when opening the environment fails after one, the cause is
 * a disk that cannot take writes (full, most likely), not a damaged index,
 * and the caller must not set the index aside (recover.c).
 */
static void
bdb_event(DB_ENV *env, u_int32_t event, void *info)
{
	struct bdb_store *b = env->app_private;

	(void)info;
	if (event == DB_EVENT_WRITE_FAILED && b != NULL)
		b->write_failed = 1;
}

/* bdb_usable - 0 when the environment has panicked */
static int
bdb_usable(const struct bdb_store *b)
{
	if (b->panic) {
		log_error("queue store: environment needs recovery");
		errno = EIO;
		return 0;
	}
	return 1;
}

/* bdb_rcpt_key - the recipients key for (qid, idx) into buf; its length */
static uint32_t
bdb_rcpt_key(unsigned char *buf, const char *qid, uint32_t idx)
{
	size_t n = strlen(qid);		/* < QID_MAX, checked by the caller */

	memcpy(buf, qid, n);
	buf[n] = '\0';
	buf[n + 1] = idx >> 24;
	buf[n + 2] = idx >> 16;
	buf[n + 3] = idx >> 8;
	buf[n + 4] = idx;
	return (uint32_t)(n + 5);
}

/*
 * bdb_rcpt_key_qid - the qid part of a recipients key into qid (size
 * QID_MAX) and the index into *idx; -1 for a malformed key.
 */
static int
bdb_rcpt_key_qid(const DBT *k, char *qid, uint32_t *idx)
{
	const unsigned char *p = k->data;
	size_t n;

	if (k->size < 6 || k->size - 5 >= QID_MAX)
		return -1;
	n = k->size - 5;
	if (p[n] != '\0' || memchr(p, '\0', n) != NULL)
		return -1;
	memcpy(qid, p, n);
	qid[n] = '\0';
	*idx = (uint32_t)p[n + 1] << 24 | (uint32_t)p[n + 2] << 16 |
	    (uint32_t)p[n + 3] << 8 | p[n + 4];
	return 0;
}

/* bdb_db_open - open (creating) one btree database inside the env */
static int
bdb_db_open(DB_ENV *env, DB **dbp, const char *file, char *err,
    size_t errsize)
{
	int ret;

	if ((ret = db_create(dbp, env, 0)) != 0) {
		snprintf(err, errsize, "db_create: %s", db_strerror(ret));
		*dbp = NULL;
		return -1;
	}
	ret = (*dbp)->open(*dbp, NULL, file, NULL, DB_BTREE,
	    DB_CREATE | DB_AUTO_COMMIT, 0600);
	if (ret != 0) {
		snprintf(err, errsize, "open %s: %s", file, db_strerror(ret));
		(void)(*dbp)->close(*dbp, 0);
		*dbp = NULL;
		return -1;
	}
	return 0;
}

/* bdb_env_open - create, configure and open (with recovery) b's env */
static DB_ENV *
bdb_env_open(struct bdb_store *b, const char *dir, char *err,
    size_t errsize)
{
	DB_ENV *env;
	int ret;

	if ((ret = db_env_create(&env, 0)) != 0) {
		snprintf(err, errsize, "db_env_create: %s", db_strerror(ret));
		return NULL;
	}
	env->app_private = b;
	env->set_errcall(env, bdb_errcall);
	(void)env->set_event_notify(env, bdb_event);
	/*
	 * DB_TXN_WRITE_NOSYNC: a commit write()s its log records to the
	 * kernel but does not fsync.  A crash of queued itself then loses
	 * nothing committed; only a system crash can lose the commits since
	 * the last queue_store_sync(), and queued answers a client only
	 * after that sync.  One fsync per batch is the group commit.
	 */
	if ((ret = env->set_flags(env, DB_TXN_WRITE_NOSYNC, 1)) != 0 ||
	    (ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0 ||
	    (ret = env->set_cachesize(env, 0, BDB_CACHE_BYTES, 1)) != 0 ||
	    (ret = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0) {
		snprintf(err, errsize, "configure environment: %s",
		    db_strerror(ret));
		(void)env->close(env, 0);
		return NULL;
	}
	/*
	 * DB_PRIVATE: the shared regions live in queued's heap, not in
	 * __db.* files.  queued is by design the only process that opens this
	 * environment (ternctl asks queued), and it runs DB_RECOVER at every
	 * start, which needs exclusive use anyway; a second process attached
	 * to shared regions would be torn down by that recovery.  Private
	 * regions also leave no stale region files behind after a crash.
	 */
	ret = env->open(env, dir, DB_CREATE | DB_INIT_TXN | DB_INIT_LOG |
	    DB_INIT_LOCK | DB_INIT_MPOOL | DB_RECOVER | DB_PRIVATE, 0600);
	if (ret != 0) {
		snprintf(err, errsize, "open environment %s: %s", dir,
		    db_strerror(ret));
		(void)env->close(env, 0);
		return NULL;
	}
	return env;
}

/*
 * bdb_dir_sync - make the names in the environment's directory durable
 * when the log has moved to a new file since the last time (or always,
 * with force).  Berkeley DB fsyncs the contents of its files but never
 * their directory: it assumes the file system makes a created file's
 * name durable with its data.  Not every file system does, and a new log
 * file whose name a power cut takes away takes every commit in it along,
 * although log_flush reported them durable.  0, or -1 (logged).
 */
static int
bdb_dir_sync(struct bdb_store *b, int force)
{
	DB_LOG_STAT *sp = NULL;
	uint32_t cur;
	int ret;

	if ((ret = b->env->log_stat(b->env, &sp, 0)) != 0)
		return bdb_fail(b, NULL, "log_stat", ret);
	cur = sp->st_cur_file;
	free(sp);
	if (!force && cur == b->log_file)
		return 0;
	if (fsync(b->dirfd) != 0) {
		log_error("queue store: fsync of the index directory: %s",
		    strerror(errno));
		return -1;
	}
	b->log_file = cur;
	return 0;
}

static void
bdb_close(void *h)
{
	struct bdb_store *b = h;
	int ret;

	if (!b->panic) {
		/* A checkpoint now makes the next start's recovery short. */
		if ((ret = b->env->log_flush(b->env, NULL)) != 0 ||
		    (ret = b->env->txn_checkpoint(b->env, 0, 0, 0)) != 0)
			(void)bdb_fail(b, NULL, "close", ret);
	}
	if (b->rcpts != NULL)
		(void)b->rcpts->close(b->rcpts, 0);
	if (b->msgs != NULL)
		(void)b->msgs->close(b->msgs, 0);
	if ((ret = b->env->close(b->env, 0)) != 0)
		log_error("queue store: close: %s", db_strerror(ret));
	if (b->dirfd >= 0)
		close(b->dirfd);
	free(b);
}

static void *
bdb_open(const char *dir, char *err, size_t errsize)
{
	struct bdb_store *b;
	struct stat st;
	int failed_write;

	if (dir == NULL || *dir == '\0') {
		snprintf(err, errsize, "bdb queue store needs a directory");
		return NULL;
	}
	/*
	 * Check the directory first: a failed open of a private environment
	 * makes libdb report a panic (and leak its region), which would read
	 * as corruption in the log when it is only a missing directory.
	 */
	if (stat(dir, &st) == -1) {
		snprintf(err, errsize, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsize, "%s: not a directory", dir);
		return NULL;
	}
	b = xcalloc(1, sizeof(*b));
	if ((b->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errsize, "%s: %s", dir, strerror(errno));
		free(b);
		return NULL;
	}
	if ((b->env = bdb_env_open(b, dir, err, errsize)) == NULL) {
		failed_write = b->write_failed;
		close(b->dirfd);
		free(b);
		errno = failed_write ? EIO : EINVAL;
		return NULL;
	}
	if (bdb_db_open(b->env, &b->msgs, "messages.db", err, errsize) < 0 ||
	    bdb_db_open(b->env, &b->rcpts, "recipients.db", err,
	    errsize) < 0) {
		b->panic = 1;	/* nothing to checkpoint */
		failed_write = b->write_failed;
		bdb_close(b);
		errno = failed_write ? EIO : EINVAL;
		return NULL;
	}
	/* The database and log files recovery may just have created. */
	if (bdb_dir_sync(b, 1) < 0) {
		snprintf(err, errsize, "cannot sync %s", dir);
		b->panic = 1;
		bdb_close(b);
		return NULL;
	}
	return b;
}

/* bdb_put - encode-and-put helper: put (key, data) in db under txn */
static int
bdb_put(DB *db, DB_TXN *txn, const void *k, uint32_t klen,
    const void *d, size_t dlen, uint32_t flags)
{
	DBT key, data;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)(uintptr_t)k;
	key.size = klen;
	data.data = (void *)(uintptr_t)d;
	data.size = (uint32_t)dlen;
	return db->put(db, txn, &key, &data, flags);
}

/* bdb_put_msg - write msg's record under txn */
static int
bdb_put_msg(struct bdb_store *b, DB_TXN *txn,
    const struct queue_msg_rec *msg, uint32_t flags)
{
	unsigned char *p;
	size_t len;
	int ret;

	queue_msg_rec_encode(msg, &p, &len);
	ret = bdb_put(b->msgs, txn, msg->qid, (uint32_t)strlen(msg->qid), p,
	    len, flags);
	free(p);
	return ret;
}

/* bdb_put_rcpt - write recipient r of qid under txn */
static int
bdb_put_rcpt(struct bdb_store *b, DB_TXN *txn, const char *qid,
    const struct queue_rcpt_rec *r, uint32_t flags)
{
	unsigned char k[BDB_KEY_MAX], *p;
	size_t len;
	int ret;

	queue_rcpt_rec_encode(r, &p, &len);
	ret = bdb_put(b->rcpts, txn, k, bdb_rcpt_key(k, qid, r->idx), p, len,
	    flags);
	free(p);
	return ret;
}

/* bdb_msg_exists - 0 found, DB_NOTFOUND, or another DB error */
static int
bdb_msg_exists(struct bdb_store *b, DB_TXN *txn, const char *qid)
{
	DBT key, data;

	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)(uintptr_t)qid;
	key.size = (uint32_t)strlen(qid);
	/* Only existence matters: ask for no bytes of the value. */
	data.flags = DB_DBT_PARTIAL;
	return b->msgs->get(b->msgs, txn, &key, &data, DB_RMW);
}

/* bdb_commit - commit txn; -1 (logged) on failure */
static int
bdb_commit(struct bdb_store *b, DB_TXN *txn, const char *what)
{
	int ret;

	/* A failed commit has already ended txn: do not abort it. */
	if ((ret = txn->commit(txn, 0)) != 0)
		return bdb_fail(b, NULL, what, ret);
	return 0;
}

/* bdb_begin - a new transaction in *txn; -1 (logged) on failure */
static int
bdb_begin(struct bdb_store *b, DB_TXN **txn, const char *what)
{
	int ret;

	if (!bdb_usable(b))
		return -1;
	if ((ret = b->env->txn_begin(b->env, NULL, txn, 0)) != 0)
		return bdb_fail(b, NULL, what, ret);
	return 0;
}

static int
bdb_message_add(void *h, const struct queue_msg_rec *msg,
    const struct queue_rcpt_rec *rcpts, size_t nrcpt)
{
	struct bdb_store *b = h;
	DB_TXN *txn;
	int ret;

	if (bdb_begin(b, &txn, "message add") < 0)
		return -1;
	ret = bdb_put_msg(b, txn, msg, DB_NOOVERWRITE);
	for (size_t i = 0; ret == 0 && i < nrcpt; i++)
		ret = bdb_put_rcpt(b, txn, msg->qid, &rcpts[i],
		    DB_NOOVERWRITE);
	if (ret == DB_KEYEXIST) {
		log_error("queue store: %s: message or recipient exists",
		    msg->qid);
		(void)txn->abort(txn);
		errno = EEXIST;
		return -1;
	}
	if (ret != 0)
		return bdb_fail(b, txn, "message add", ret);
	return bdb_commit(b, txn, "message add");
}

/* bdb_update - in one txn, check qid exists, then put msg or rcpt */
static int
bdb_update(struct bdb_store *b, const char *qid,
    const struct queue_msg_rec *msg, const struct queue_rcpt_rec *rcpt)
{
	DB_TXN *txn;
	int ret;

	if (bdb_begin(b, &txn, "update") < 0)
		return -1;
	if ((ret = bdb_msg_exists(b, txn, qid)) == DB_NOTFOUND) {
		log_error("queue store: %s: no such message", qid);
		(void)txn->abort(txn);
		errno = ENOENT;
		return -1;
	}
	if (ret == 0)
		ret = msg != NULL ? bdb_put_msg(b, txn, msg, 0) :
		    bdb_put_rcpt(b, txn, qid, rcpt, 0);
	if (ret != 0)
		return bdb_fail(b, txn, "update", ret);
	return bdb_commit(b, txn, "update");
}

static int
bdb_message_update(void *h, const struct queue_msg_rec *msg)
{
	return bdb_update(h, msg->qid, msg, NULL);
}

static int
bdb_rcpt_update(void *h, const char *qid, const struct queue_rcpt_rec *rcpt)
{
	return bdb_update(h, qid, NULL, rcpt);
}

/* bdb_rcpt_is - 1 when recipients key k belongs to qid */
static int
bdb_rcpt_is(const DBT *k, const char *qid)
{
	size_t n = strlen(qid);

	return k->size == n + 5 && memcmp(k->data, qid, n) == 0 &&
	    ((const unsigned char *)k->data)[n] == '\0';
}

/*
 * bdb_rcpt_first - position c on the first recipient of qid.  Returns 0
 * with k, d filled, DB_NOTFOUND when qid has no recipients, or an error.
 */
static int
bdb_rcpt_first(DBC *c, const char *qid, unsigned char *kbuf, DBT *k, DBT *d)
{
	int ret;

	memset(k, 0, sizeof(*k));
	memset(d, 0, sizeof(*d));
	k->data = kbuf;
	k->size = bdb_rcpt_key(kbuf, qid, 0);
	if ((ret = c->get(c, k, d, DB_SET_RANGE)) != 0)
		return ret;
	return bdb_rcpt_is(k, qid) ? 0 : DB_NOTFOUND;
}

static int
bdb_message_remove(void *h, const char *qid)
{
	struct bdb_store *b = h;
	unsigned char kbuf[BDB_KEY_MAX];
	DB_TXN *txn;
	DBC *c;
	DBT key, data;
	int ret;

	if (bdb_begin(b, &txn, "message remove") < 0)
		return -1;
	memset(&key, 0, sizeof(key));
	key.data = (void *)(uintptr_t)qid;
	key.size = (uint32_t)strlen(qid);
	ret = b->msgs->del(b->msgs, txn, &key, 0);
	if (ret != 0 && ret != DB_NOTFOUND)
		return bdb_fail(b, txn, "message remove", ret);
	/* Recipients go even when the message record is already gone. */
	if ((ret = b->rcpts->cursor(b->rcpts, txn, &c, 0)) != 0)
		return bdb_fail(b, txn, "message remove", ret);
	ret = bdb_rcpt_first(c, qid, kbuf, &key, &data);
	while (ret == 0) {
		if ((ret = c->del(c, 0)) != 0)
			break;
		if ((ret = c->get(c, &key, &data, DB_NEXT)) == 0 &&
		    !bdb_rcpt_is(&key, qid))
			ret = DB_NOTFOUND;
	}
	(void)c->close(c);
	if (ret != DB_NOTFOUND)
		return bdb_fail(b, txn, "message remove", ret);
	return bdb_commit(b, txn, "message remove");
}

/* rcpt_vec - a growable array of decoded recipient records */
struct rcpt_vec {
	struct queue_rcpt_rec	*v;
	size_t			 n;
	size_t			 cap;
};

/* rcpt_vec_add - decode d and append it; -1 when d is malformed */
static int
rcpt_vec_add(struct rcpt_vec *rv, const DBT *d, uint32_t idx)
{
	if (rv->n == rv->cap) {
		rv->cap = rv->cap ? rv->cap * 2 : 16;
		rv->v = xreallocarray(rv->v, rv->cap, sizeof(*rv->v));
	}
	if (queue_rcpt_rec_decode(d->data, d->size, &rv->v[rv->n]) < 0 ||
	    rv->v[rv->n].idx != idx)
		return -1;
	rv->n++;
	return 0;
}

/* bdb_msg_decode - decode message value d for key qid; -1 when corrupt */
static int
bdb_msg_decode(const DBT *d, const char *qid, struct queue_msg_rec *msg)
{
	if (queue_msg_rec_decode(d->data, d->size, msg) < 0 ||
	    strcmp(msg->qid, qid) != 0) {
		log_error("queue store: %s: corrupt message record", qid);
		return -1;
	}
	return 0;
}

/* bdb_rcpts_read - every recipient of qid into rv (cursor pass) */
static int
bdb_rcpts_read(struct bdb_store *b, const char *qid, struct rcpt_vec *rv)
{
	unsigned char kbuf[BDB_KEY_MAX];
	char kq[QID_MAX];
	uint32_t idx;
	DBC *c;
	DBT key, data;
	int ret;

	if ((ret = b->rcpts->cursor(b->rcpts, NULL, &c, 0)) != 0)
		return bdb_fail(b, NULL, "message get", ret);
	ret = bdb_rcpt_first(c, qid, kbuf, &key, &data);
	while (ret == 0) {
		if (bdb_rcpt_key_qid(&key, kq, &idx) < 0 ||
		    rcpt_vec_add(rv, &data, idx) < 0) {
			(void)c->close(c);
			log_error("queue store: %s: corrupt recipient record",
			    qid);
			return -1;
		}
		if ((ret = c->get(c, &key, &data, DB_NEXT)) == 0 &&
		    !bdb_rcpt_is(&key, qid))
			ret = DB_NOTFOUND;
	}
	(void)c->close(c);
	if (ret != DB_NOTFOUND)
		return bdb_fail(b, NULL, "message get", ret);
	return 0;
}

static int
bdb_message_get(void *h, const char *qid, struct queue_msg_rec *msg,
    struct queue_rcpt_rec **rcpts, size_t *nrcpt)
{
	struct bdb_store *b = h;
	struct rcpt_vec rv = { NULL, 0, 0 };
	DBT key, data;
	int ret;

	if (!bdb_usable(b))
		return -1;
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	key.data = (void *)(uintptr_t)qid;
	key.size = (uint32_t)strlen(qid);
	ret = b->msgs->get(b->msgs, NULL, &key, &data, 0);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret != 0)
		return bdb_fail(b, NULL, "message get", ret);
	if (bdb_msg_decode(&data, qid, msg) < 0 ||
	    bdb_rcpts_read(b, qid, &rv) < 0) {
		free(rv.v);
		return -1;
	}
	*rcpts = rv.v;
	*nrcpt = rv.n;
	return 1;
}

static int
bdb_sync(void *h)
{
	struct bdb_store *b = h;
	time_t now;
	int ret;

	if (!bdb_usable(b))
		return -1;
	if ((ret = b->env->log_flush(b->env, NULL)) != 0)
		return bdb_fail(b, NULL, "sync", ret);
	if (bdb_dir_sync(b, 0) < 0)
		return -1;
	/*
	 * A checkpoint bounds recovery time and lets DB_LOG_AUTO_REMOVE drop
	 * old log files; the thresholds keep it to a few per hour under load.
	 * It is not part of durability: everything committed is in the log
	 * just flushed.  So a checkpoint that fails (the database files
	 * cannot grow on a full disk) does not fail the sync; its pages stay
	 * dirty in the cache, and the next sync tries again.  Asked at most
	 * once a second: even when the thresholds say "not yet", asking
	 * reads the log, and under load queued syncs hundreds of times a
	 * second.
	 */
	now = monotonic_seconds();
	if (now == b->ckp_last)
		return 0;
	b->ckp_last = now;
	ret = b->env->txn_checkpoint(b->env, BDB_CKP_KBYTES, BDB_CKP_MINUTES,
	    0);
	if (ret == DB_RUNRECOVERY)
		return bdb_fail(b, NULL, "checkpoint", ret);
	if (ret != 0 && !b->ckp_failing)
		log_warn("queue store: checkpoint: %s (tried again at each "
		    "flush; the index is durable without it)",
		    db_strerror(ret));
	else if (ret == 0 && b->ckp_failing)
		log_info("queue store: checkpoint done");
	b->ckp_failing = ret != 0;
	return 0;
}

static int
bdb_broken(void *h)
{
	const struct bdb_store *b = h;

	return b->panic;
}

/*
 * bdb_walk - the shared cursor pass of bdb_iterate.  The recipients
 * cursor moves forward in step with the messages cursor, so the whole
 * walk is one pass over each database.  rk/rd hold the recipient the
 * recipients cursor is on (rret 0), or rret is DB_NOTFOUND at its end.
 */
struct bdb_walk {
	DBC	*mc;
	DBC	*rc;
	DBT	 rk;
	DBT	 rd;
	int	 rret;
};

/* bdb_walk_rcpts - collect qid's recipients into rv; skip orphans first */
static int
bdb_walk_rcpts(struct bdb_walk *w, const char *qid, struct rcpt_vec *rv)
{
	char kq[QID_MAX];
	uint32_t idx;
	int c;

	rv->n = 0;
	while (w->rret == 0) {
		if (bdb_rcpt_key_qid(&w->rk, kq, &idx) < 0) {
			log_error("queue store: corrupt recipient key");
			return -1;
		}
		if ((c = strcmp(kq, qid)) > 0)
			break;
		if (c < 0) {
			/* A recipient without a message: harmless, skip. */
			log_warn("queue store: %s: orphan recipient %u", kq,
			    idx);
		} else if (rcpt_vec_add(rv, &w->rd, idx) < 0) {
			log_error("queue store: %s: corrupt recipient record",
			    qid);
			return -1;
		}
		w->rret = w->rc->get(w->rc, &w->rk, &w->rd, DB_NEXT);
	}
	return w->rret == 0 || w->rret == DB_NOTFOUND ? 0 : -1;
}

/* bdb_walk_run - the iteration proper; DB error code or 0 or -1 */
static int
bdb_walk_run(struct bdb_walk *w, queue_store_iter_fn fn, void *arg)
{
	struct rcpt_vec rv = { NULL, 0, 0 };
	struct queue_msg_rec msg;
	char qid[QID_MAX];
	DBT mk, md;
	int ret;

	memset(&mk, 0, sizeof(mk));
	memset(&md, 0, sizeof(md));
	w->rret = w->rc->get(w->rc, &w->rk, &w->rd, DB_FIRST);
	while ((ret = w->mc->get(w->mc, &mk, &md, DB_NEXT)) == 0) {
		if (mk.size == 0 || mk.size >= QID_MAX ||
		    memchr(mk.data, '\0', mk.size) != NULL) {
			log_error("queue store: corrupt message key");
			ret = -1;
			break;
		}
		memcpy(qid, mk.data, mk.size);
		qid[mk.size] = '\0';
		if (bdb_msg_decode(&md, qid, &msg) < 0) {
			ret = -1;
			break;
		}
		if (bdb_walk_rcpts(w, qid, &rv) < 0) {
			ret = w->rret != 0 && w->rret != DB_NOTFOUND ?
			    w->rret : -1;
			break;
		}
		if (fn(&msg, rv.v, rv.n, arg) != 0)
			break;
	}
	free(rv.v);
	return ret == DB_NOTFOUND ? 0 : ret;
}

static int
bdb_iterate(void *h, queue_store_iter_fn fn, void *arg)
{
	struct bdb_store *b = h;
	struct bdb_walk w;
	int ret;

	if (!bdb_usable(b))
		return -1;
	memset(&w, 0, sizeof(w));
	if ((ret = b->msgs->cursor(b->msgs, NULL, &w.mc, 0)) != 0)
		return bdb_fail(b, NULL, "iterate", ret);
	if ((ret = b->rcpts->cursor(b->rcpts, NULL, &w.rc, 0)) != 0) {
		(void)w.mc->close(w.mc);
		return bdb_fail(b, NULL, "iterate", ret);
	}
	ret = bdb_walk_run(&w, fn, arg);
	(void)w.rc->close(w.rc);
	(void)w.mc->close(w.mc);
	if (ret > 0 || ret < -1)
		return bdb_fail(b, NULL, "iterate", ret);
	return ret;
}

const struct queue_backend queue_backend_bdb = {
	.name = "bdb",
	.open = bdb_open,
	.close = bdb_close,
	.message_add = bdb_message_add,
	.message_update = bdb_message_update,
	.rcpt_update = bdb_rcpt_update,
	.message_remove = bdb_message_remove,
	.message_get = bdb_message_get,
	.sync = bdb_sync,
	.iterate = bdb_iterate,
	.broken = bdb_broken,
};
