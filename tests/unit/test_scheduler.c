/*
 * test_scheduler - how the scheduler takes a finished message out of the
 * queue (sched_after_sync): the file first, then the index record; when
 * the record's removal fails (a full or failing disk), the record stays
 * and is removed on a later turn, after the back-off, while the file step
 * is never repeated: by then the name may be another file's (a reused
 * file is the pool's, file_pool.h); a delivered message's file is
 * emptied first and given to the pool.  And how many due messages it takes
 * up at once for the local transport (sched_run).  Runs the real
 * scheduler against the RAM queue store, whose removals can be made to
 * fail, with queued's clock and peers stubbed here.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "envelope.h"
#include "file_pool.h"
#include "msg.h"
#include "msg_codec.h"
#include "msgfile.h"
#include "qid.h"
#include "queue_backend.h"
#include "queue_store.h"
#include "queued.h"
#include "resolve.h"
#include "scheduler.h"
#include "settings.h"
#include "spool.h"
#include "xmalloc.h"

/* What queued.c (with main) gives the other modules. */
struct queued_ctx qctx;
static uint64_t fake_now = 1000000000;

uint64_t
queued_now(void)
{
	return fake_now;
}

/* The local jobs handed to deliverd, by job id, in order. */
static uint32_t local_sent[64];
static size_t nlocal_sent;

void
queued_peer_send(struct queued_peer *p, struct ipc_msg *m)
{
	if (p == qctx.deliverd && m->type == MSG_QUEUED_DELIVER_LOCAL &&
	    nlocal_sent < sizeof(local_sent) / sizeof(local_sent[0]))
		local_sent[nlocal_sent++] = m->id;
	ipc_msg_free(m);
}

static struct settings set;
static char spool[64];

static void
sched_setup(void)
{
	char err[256], path[128];

	settings_defaults(&set);
	qctx.set = &set;
	snprintf(spool, sizeof(spool), "/tmp/tern-sched-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(spool));
	snprintf(path, sizeof(path), "%s/msg", spool);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	qctx.spool = spool;
	qctx.store = queue_store_open("ram", NULL, err, sizeof(err));
	ck_assert_msg(qctx.store != NULL, "%s", err);
	queue_ram_remove_failures = 0;
}

static void
sched_teardown(void)
{
	char cmd[128];

	queue_store_close(qctx.store);
	qctx.store = NULL;
	settings_free(&set);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", spool);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", spool);
}

/* index_add - qid's record, one recipient in state due at next_try, in
 * the index and the schedule (its file is the caller's) */
static void
index_add(const char *qid, int state, uint64_t next_try)
{
	struct queue_msg_rec msg;
	struct queue_rcpt_rec rcpt;

	memset(&msg, 0, sizeof(msg));
	strlcpy(msg.qid, qid, sizeof(msg.qid));
	msg.arrival = fake_now;
	msg.nrcpt = 1;
	msg.have_sender = 1;
	strlcpy(msg.sender, "sender@example.test", sizeof(msg.sender));
	msg.uid = QMSG_UID_NONE;
	memset(&rcpt, 0, sizeof(rcpt));
	rcpt.state = state;
	rcpt.next_try = next_try;
	ck_assert_int_eq(queue_store_message_add(qctx.store, &msg, &rcpt, 1),
	    0);
	sched_add(&msg, &rcpt, 1, (double)fake_now);
}

/* queue_rcpt - a message with one recipient in state, in the index, the
 * spool (a file holding "message") and the schedule; its file's path */
static void
queue_rcpt(int state, char *qid, size_t qidsize, char *path,
    size_t pathsize)
{
	char dir[PATH_MAX];
	int fd;

	qid_new(qid, qidsize);
	ck_assert_int_ge(spool_msg_dir(spool, qid, dir, sizeof(dir)), 0);
	(void)mkdir(dir, 0700);
	ck_assert_int_ge(spool_msg_path(spool, qid, path, pathsize), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "message", 7), 7);
	close(fd);
	index_add(qid, state, fake_now + 3600);
}

/* queue_one - queue_rcpt with its recipient pending (due in an hour) */
static void
queue_one(char *qid, size_t qidsize, char *path, size_t pathsize)
{
	queue_rcpt(RCPT_PENDING, qid, qidsize, path, pathsize);
}

/* in_index - qid still has a record in the queue index */
static int
in_index(const char *qid)
{
	struct queue_msg_rec msg;
	struct queue_rcpt_rec *rcpts = NULL;
	size_t n = 0;
	int r;

	r = queue_store_message_get(qctx.store, qid, &msg, &rcpts, &n);
	ck_assert_int_ge(r, 0);
	free(rcpts);
	return r == 1;
}

START_TEST(test_finished_message_file_then_record)
{
	char qid[QID_MAX], path[PATH_MAX];
	struct stat st;

	queue_one(qid, sizeof(qid), path, sizeof(path));
	ck_assert_int_eq(sched_msg_delete(sched_msg_find(qid)), 0);
	ck_assert_ptr_null(sched_msg_find(qid));
	/* Nothing goes before the turn's sync. */
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(in_index(qid));
	sched_after_sync();
	ck_assert_int_eq(stat(path, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert(!in_index(qid));
}
END_TEST

START_TEST(test_failed_record_removal_retries_record_only)
{
	char qid[QID_MAX], path[PATH_MAX];
	struct stat st;
	int fd;

	queue_one(qid, sizeof(qid), path, sizeof(path));
	ck_assert_int_eq(sched_msg_delete(sched_msg_find(qid)), 0);
	queue_ram_remove_failures = 1;
	sched_after_sync();
	/* The file went; the record stays, saying "finished". */
	ck_assert_int_eq(stat(path, &st), -1);
	ck_assert(in_index(qid));
	ck_assert_int_eq(queue_ram_remove_failures, 0);

	/* Another file under that name now (as when a reused file's
	 * name comes round): the retry must not touch it. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);

	/* Within the back-off nothing is tried. */
	queue_ram_remove_failures = 1;
	sched_after_sync();
	ck_assert_int_eq(queue_ram_remove_failures, 1);
	ck_assert(in_index(qid));

	/* After it, the record is tried again and fails again: the file
	 * is still left alone. */
	fake_now += 2;
	sched_after_sync();
	ck_assert_int_eq(queue_ram_remove_failures, 0);
	ck_assert(in_index(qid));
	ck_assert_int_eq(stat(path, &st), 0);

	/* The back-off has doubled: 2 s on, still waiting. */
	fake_now += 1;
	sched_after_sync();
	ck_assert(in_index(qid));
	fake_now += 2;
	sched_after_sync();
	ck_assert(!in_index(qid));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(unlink(path), 0);

	/* A removal that works ends the back-off: the next finished
	 * message goes at once. */
	queue_one(qid, sizeof(qid), path, sizeof(path));
	ck_assert_int_eq(sched_msg_delete(sched_msg_find(qid)), 0);
	sched_after_sync();
	ck_assert(!in_index(qid));
	ck_assert_int_eq(stat(path, &st), -1);
}
END_TEST

/*
 * The file pool of the reuse tests makes no file of its own (so that it
 * has room for recycled ones) and renames a recycled file into the spool
 * as "reusedN", noting the size it found.
 */
static int reuse_calls;		/* (atomic) */
static long long reuse_size = -1;	/* (atomic) */

static int
pool_create_none(char *qid, size_t qidsize, char *path, size_t pathsize)
{
	(void)qid;
	(void)qidsize;
	(void)path;
	(void)pathsize;
	errno = ENOSPC;
	return -1;
}

static int
pool_reuse(const char *old, char *qid, size_t qidsize, char *path,
    size_t pathsize)
{
	struct stat st;
	int fd, n;

	if ((fd = open(old, O_RDWR | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &st) == 0)
		__atomic_store_n(&reuse_size, (long long)st.st_size,
		    __ATOMIC_SEQ_CST);
	n = __atomic_add_fetch(&reuse_calls, 1, __ATOMIC_SEQ_CST);
	snprintf(qid, qidsize, "reused%d", n);
	snprintf(path, pathsize, "%s/%s", spool, qid);
	if (rename(old, path) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* wait_reused - until the pool has reused n files (5 s at most) */
static void
wait_reused(int n)
{
	for (int i = 0; i < 500 &&
	    __atomic_load_n(&reuse_calls, __ATOMIC_SEQ_CST) < n; i++)
		usleep(10000);
	ck_assert_int_eq(__atomic_load_n(&reuse_calls, __ATOMIC_SEQ_CST), n);
}

/* A delivered message's file is emptied before its record goes, and
 * given to the pool, which renames it for a new message. */
START_TEST(test_finished_file_emptied_then_recycled)
{
	char qid[QID_MAX], path[PATH_MAX];
	struct stat st;

	ck_assert_int_eq(file_pool_start(pool_create_none, pool_reuse, 4), 0);
	queue_rcpt(RCPT_DELIVERED, qid, sizeof(qid), path, sizeof(path));
	ck_assert_ptr_null(sched_msg_find(qid));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 7);
	ck_assert(in_index(qid));
	sched_after_sync();
	ck_assert(!in_index(qid));
	/* Still there under its name until the pool renames it, and empty:
	 * a crash now leaves no message without a record. */
	if (stat(path, &st) == 0) {
		ck_assert_int_eq(st.st_size, 0);
		ck_assert(file_pool_holds(qid));
	}
	wait_reused(1);
	ck_assert_int_eq(__atomic_load_n(&reuse_size, __ATOMIC_SEQ_CST), 0);
	ck_assert_int_eq(stat(path, &st), -1);
	file_pool_stop();
}
END_TEST

/* When the record's removal fails after the file went to the pool, the
 * retry removes the record only: the name may be another file's by then
 * (the pool's, or a new message's). */
START_TEST(test_recycled_file_not_touched_by_record_retry)
{
	char qid[QID_MAX], path[PATH_MAX];
	struct stat st;
	int fd;

	ck_assert_int_eq(file_pool_start(pool_create_none, pool_reuse, 4), 0);
	queue_rcpt(RCPT_DELIVERED, qid, sizeof(qid), path, sizeof(path));
	queue_ram_remove_failures = 1;
	sched_after_sync();
	ck_assert(in_index(qid));
	wait_reused(1);
	ck_assert_int_eq(stat(path, &st), -1);

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "another", 7), 7);
	close(fd);
	fake_now += 2;
	sched_after_sync();
	ck_assert(!in_index(qid));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 7);
	ck_assert_int_eq(__atomic_load_n(&reuse_calls, __ATOMIC_SEQ_CST), 1);
	file_pool_stop();
}
END_TEST

/* queue_due - a message to one local recipient, due now, with a whole
 * queue file, in the index and the schedule */
static void
queue_due(void)
{
	static struct msgfile_writer w;
	static const char body[] = "Subject: x\r\n\r\nbody\r\n";
	struct envelope e;
	unsigned char *prefix;
	char qid[QID_MAX], dir[PATH_MAX], path[PATH_MAX];
	size_t plen;
	uint64_t size;
	int fd;

	qid_new(qid, sizeof(qid));
	memset(&e, 0, sizeof(e));
	strlcpy(e.qid, qid, sizeof(e.qid));
	e.arrival = fake_now;
	strlcpy(e.sender, "sender@example.test", sizeof(e.sender));
	strlcpy(e.helo, "client.example.test", sizeof(e.helo));
	strlcpy(e.client_addr, "127.0.0.1", sizeof(e.client_addr));
	strlcpy(e.protocol, "ESMTP", sizeof(e.protocol));
	e.nrcpt = 1;
	e.rcpts = xcalloc(1, sizeof(*e.rcpts));
	strlcpy(e.rcpts[0].addr, "alice@localhost", sizeof(e.rcpts[0].addr));
	ck_assert_int_ge(spool_msg_dir(spool, qid, dir, sizeof(dir)), 0);
	(void)mkdir(dir, 0700);
	ck_assert_int_ge(spool_msg_path(spool, qid, path, sizeof(path)), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	envelope_encode(&e, &prefix, &plen);
	msgfile_writer_init(&w, fd);
	msgfile_write(&w, prefix, plen);
	msgfile_write(&w, body, strlen(body));
	ck_assert_int_eq(msgfile_writer_finish(&w, &size), 0);
	close(fd);
	free(prefix);
	envelope_free(&e);
	index_add(qid, RCPT_PENDING, fake_now);
}

/* A channel pair: queued's end c, the peer's end peer. */
static void
channel(struct ipc_conn *c, struct ipc_conn *peer)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ipc_conn_init(c, sv[0]);
	ipc_conn_init(peer, sv[1]);
}

/* answer_lookups - lookupd's side: every request on peer answered with
 * one local mailbox, alice; how many */
static int
answer_lookups(struct ipc_conn *peer)
{
	struct ipc_msg req, m;
	int n = 0, r;

	ck_assert_int_eq(ipc_conn_flush(&qctx.lookupd->conn), 0);
	ck_assert_int_gt(ipc_conn_read(peer), 0);
	while ((r = ipc_conn_next(peer, &req)) == 1) {
		ck_assert_uint_eq(req.type, MSG_LOOKUP_RESOLVE);
		ipc_msg_init(&m, MSG_LOOKUPD_RESOLVED, req.id);
		ipc_put_u32(&m, LOOKUP_LOCAL);
		ipc_put_u32(&m, 1);
		ipc_put_u32(&m, RESOLVE_LOCAL);
		ipc_put_str(&m, "alice");
		ck_assert_int_eq(sched_lookupd_input(&m), 0);
		ipc_msg_free(&m);
		ipc_msg_free(&req);
		n++;
	}
	ck_assert_int_eq(r, 0);
	return n;
}

/* job_done - deliverd's side: local job id ends (without results: its
 * recipient is deferred) */
static void
job_done(uint32_t id)
{
	struct msg_job_done d = { .job = id };
	struct ipc_msg m;

	ck_assert_int_eq(msg_encode(&m, MSG_DELIVERD_JOB_DONE, id, &d), 0);
	ck_assert_int_eq(sched_deliverd_input(&m), 0);
	ipc_msg_free(&m);
}

/*
 * Each local delivery process may have a batch in hand while the next
 * gathers: eight local jobs in flight a process (local_delivery_limit),
 * not two, which kept one owner's batches at about five messages and its
 * delivery behind acceptance.  The rest wait in queued for room, and the
 * bound holds back local jobs only: every due message is still taken up
 * and resolved, so that mail for other transports never waits behind a
 * slow mailbox.  While deliverd is gone nothing starts; when it is back,
 * the waiting jobs do, oldest first.
 */
static void
local_bound_check(long limit, size_t bound)
{
	struct queued_peer lookupd, deliverd;
	struct ipc_conn lookupd_end, deliverd_end;
	uint32_t first;
	int n = (int)bound + 4;

	memset(&lookupd, 0, sizeof(lookupd));
	memset(&deliverd, 0, sizeof(deliverd));
	channel(&lookupd.conn, &lookupd_end);
	channel(&deliverd.conn, &deliverd_end);
	qctx.lookupd = &lookupd;
	qctx.deliverd = &deliverd;
	set.local_delivery_limit = limit;
	nlocal_sent = 0;
	for (int i = 0; i < n; i++)
		queue_due();
	sched_run(1);
	ck_assert_uint_eq(resolve_outstanding(), (uint32_t)n);
	ck_assert_int_eq(answer_lookups(&lookupd_end), n);
	sched_run(1);
	ck_assert_uint_eq(nlocal_sent, bound);
	ck_assert_uint_eq(sched_jobs(), bound);

	/* One ends: the oldest waiting one takes its place. */
	first = local_sent[0];
	job_done(first);
	sched_run(1);
	ck_assert_uint_eq(nlocal_sent, bound + 1);
	ck_assert_uint_eq(local_sent[bound], first + bound);

	/* deliverd goes: its jobs end, nothing starts until it is back. */
	deliverd.dead = 1;
	sched_agent_gone(&deliverd);
	sched_run(1);
	ck_assert_uint_eq(nlocal_sent, bound + 1);
	ck_assert_uint_eq(sched_jobs(), 0);
	deliverd.dead = 0;
	sched_run(1);
	ck_assert_uint_eq(nlocal_sent, bound + 4);
	ck_assert_uint_eq(sched_jobs(), 3);

	for (size_t i = bound + 1; i < nlocal_sent; i++)
		job_done(local_sent[i]);
	ck_assert_uint_eq(sched_jobs(), 0);
	ipc_conn_close(&lookupd.conn);
	ipc_conn_close(&lookupd_end);
	ipc_conn_close(&deliverd.conn);
	ipc_conn_close(&deliverd_end);
	qctx.lookupd = qctx.deliverd = NULL;
}

START_TEST(test_local_in_flight_bound_one_process)
{
	local_bound_check(1, 8);
}
END_TEST

START_TEST(test_local_in_flight_bound_two_processes)
{
	local_bound_check(2, 16);
}
END_TEST

Suite *
scheduler_suite(void)
{
	Suite *s = suite_create("scheduler");
	TCase *tc = tcase_create("removal");

	tcase_add_checked_fixture(tc, sched_setup, sched_teardown);
	tcase_add_test(tc, test_finished_message_file_then_record);
	tcase_add_test(tc, test_failed_record_removal_retries_record_only);
	tcase_add_test(tc, test_finished_file_emptied_then_recycled);
	tcase_add_test(tc, test_recycled_file_not_touched_by_record_retry);
	suite_add_tcase(s, tc);
	tc = tcase_create("dispatch");
	tcase_add_checked_fixture(tc, sched_setup, sched_teardown);
	tcase_add_test(tc, test_local_in_flight_bound_one_process);
	tcase_add_test(tc, test_local_in_flight_bound_two_processes);
	suite_add_tcase(s, tc);
	return s;
}
