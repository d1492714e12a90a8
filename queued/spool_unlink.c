/*
 * spool_unlink - the helper thread that removes finished message files
 * (why: spool_unlink.h).
 *
 * The loop hands over a queue ID; the thread unlinks the file and queues
 * the answer, then makes an eventfd readable; the loop collects the
 * answers when poll() says so.  Two lists under one mutex: what to do,
 * and what is done.  The thread touches nothing else of queued's: no
 * index, no logging (log.c is not thread-safe), no schedule.
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/queue.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "log.h"
#include "spool.h"
#include "spool_unlink.h"
#include "xmalloc.h"

struct unlink_job {
	char			 qid[QID_MAX];
	int			 err;
	spool_unlink_done_fn	 done;
	void			*arg;
	STAILQ_ENTRY(unlink_job) entry;
};
STAILQ_HEAD(unlink_list, unlink_job);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct unlink_list todo = STAILQ_HEAD_INITIALIZER(todo);
static struct unlink_list done = STAILQ_HEAD_INITIALIZER(done);
static pthread_t thread;
static int running;		/* the thread exists (loop's view) */
static int quit;		/* under lock: finish todo, then exit */
static int efd = -1;
static const char *spool_dir;

/* unlink_one - remove job's file; its errno, 0 when it is gone */
static int
unlink_one(const struct unlink_job *job)
{
	char path[4096];

	if (spool_msg_path(spool_dir, job->qid, path, sizeof(path)) < 0)
		return ENAMETOOLONG;
	if (unlink(path) < 0 && errno != ENOENT)
		return errno;
	return 0;
}

/* unlink_thread - take jobs until told to quit with none left */
static void *
unlink_thread(void *unused)
{
	struct unlink_job *job;
	uint64_t one = 1;

	(void)unused;
	pthread_mutex_lock(&lock);
	for (;;) {
		while (STAILQ_EMPTY(&todo) && !quit)
			pthread_cond_wait(&wake, &lock);
		if ((job = STAILQ_FIRST(&todo)) == NULL)
			break;
		STAILQ_REMOVE_HEAD(&todo, entry);
		pthread_mutex_unlock(&lock);
		job->err = unlink_one(job);
		pthread_mutex_lock(&lock);
		STAILQ_INSERT_TAIL(&done, job, entry);
		/* Only a full counter (2^64 - 2) blocks; never here. */
		if (write(efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			abort();
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

/* spool_unlink_start - see spool_unlink.h */
int
spool_unlink_start(const char *spool)
{
	int err;

	spool_dir = spool;
	if ((efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		log_warn("eventfd: %s; finished files are removed by the "
		    "main loop", strerror(errno));
		return -1;
	}
	quit = 0;
	if ((err = pthread_create(&thread, NULL, unlink_thread, NULL)) != 0) {
		log_warn("pthread_create: %s; finished files are removed by "
		    "the main loop", strerror(err));
		close(efd);
		efd = -1;
		return -1;
	}
	running = 1;
	return 0;
}

/* spool_unlink_fd - see spool_unlink.h */
int
spool_unlink_fd(void)
{
	return running ? efd : -1;
}

/* spool_unlink_submit - see spool_unlink.h */
void
spool_unlink_submit(const char *qid, spool_unlink_done_fn fn, void *arg)
{
	struct unlink_job *job = xcalloc(1, sizeof(*job));

	strlcpy(job->qid, qid, sizeof(job->qid));
	job->done = fn;
	job->arg = arg;
	if (!running) {
		job->err = unlink_one(job);
		fn(job->qid, job->err, arg);
		free(job);
		return;
	}
	pthread_mutex_lock(&lock);
	STAILQ_INSERT_TAIL(&todo, job, entry);
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
}

/* spool_unlink_collect - see spool_unlink.h */
size_t
spool_unlink_collect(void)
{
	struct unlink_list got = STAILQ_HEAD_INITIALIZER(got);
	struct unlink_job *job;
	uint64_t count;
	size_t n = 0;

	if (efd < 0)
		return 0;
	/* Read first: an answer queued after the read makes it readable
	 * again, so none is left behind unseen. */
	if (read(efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("read of the unlink eventfd: %s", strerror(errno));
	pthread_mutex_lock(&lock);
	STAILQ_CONCAT(&got, &done);
	pthread_mutex_unlock(&lock);
	while ((job = STAILQ_FIRST(&got)) != NULL) {
		STAILQ_REMOVE_HEAD(&got, entry);
		n++;
		job->done(job->qid, job->err, job->arg);
		free(job);
	}
	return n;
}

/* spool_unlink_stop - see spool_unlink.h */
void
spool_unlink_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&lock);
	quit = 1;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	running = 0;
	spool_unlink_collect();
	close(efd);
	efd = -1;
}
