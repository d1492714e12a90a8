/*
 * file_pool - empty message files made ahead of need (file_pool.h).
 *
 * One mutex guards the rings (the pooled files, and the recycled ones
 * waiting to be reused); the thread waits on "want" while the ring
 * holds more than half its size (or is full), and the loop signals it for
 * every file it takes.  The thread makes a batch with the lock released,
 * holding "creating" instead until the batch is in the ring, so that
 * file_pool_pause can wait for the files being made.  After a failure it
 * waits a second before it tries again (the loop meanwhile makes its
 * own files and logs why they fail).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "file_pool.h"
#include "xmalloc.h"

/* The loop's spool is "." (queued chdirs there): paths are short.  A
 * longer one is not pooled. */
#define FILE_POOL_PATH_MAX	256

struct pooled_file {
	char	qid[QID_MAX];
	char	path[FILE_POOL_PATH_MAX];
	int	fd;
	int	name_durable;	/* its directory synced since it was made */
};

/* A finished message's file, waiting to be reused. */
struct recycled_file {
	char	qid[QID_MAX];
	char	path[FILE_POOL_PATH_MAX];
};

static struct {
	pthread_mutex_t		 creating;	/* held while making a file */
	pthread_mutex_t		 lock;
	pthread_cond_t		 want;	/* a file was taken, or stop */
	pthread_t		 thread;
	int			 running;
	int			 stop;
	file_pool_create_fn	 create;
	file_pool_reuse_fn	 reuse;
	struct pooled_file	*ring;	/* size entries, made at start */
	struct pooled_file	*batch;	/* the thread's, as many */
	unsigned		 size, head, count;
	struct recycled_file	*recycled;	/* size entries */
	unsigned		 rhead, rcount;
} pool = { .creating = PTHREAD_MUTEX_INITIALIZER,
    .lock = PTHREAD_MUTEX_INITIALIZER };

/* file_pool_wait_retry - sleep a second after a failure, unless stopped;
 * called and returns with the lock held */
static void
file_pool_wait_retry(void)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += 1;
	while (!pool.stop &&
	    pthread_cond_timedwait(&pool.want, &pool.lock, &until) != ETIMEDOUT)
		;
}

/* file_pool_put - add f at the ring's end; with the lock held */
static void
file_pool_put(const struct pooled_file *f)
{
	pool.ring[(pool.head + pool.count) % pool.size] = *f;
	pool.count++;
}

/* file_pool_dir_len - the length of the directory part of path (0: ".") */
static size_t
file_pool_dir_len(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash == NULL ? 0 : (size_t)(slash - path);
}

/*
 * file_pool_sync_dirs - fsync the directory of each of the n files once,
 * and mark each file whose directory sync succeeded as durably named.
 * No logging (file_pool.h): a failed sync leaves the mark off, and the
 * group commit then syncs that directory itself and reports.
 */
static void
file_pool_sync_dirs(struct pooled_file *f, size_t n)
{
	char dir[FILE_POOL_PATH_MAX];
	size_t i, j, len;
	int fd, ok;

	for (i = 0; i < n; i++)
		f[i].name_durable = -1;		/* not yet tried */
	for (i = 0; i < n; i++) {
		if (f[i].name_durable != -1)
			continue;
		len = file_pool_dir_len(f[i].path);
		if (len == 0)
			strlcpy(dir, ".", sizeof(dir));
		else {
			memcpy(dir, f[i].path, len);
			dir[len] = '\0';
		}
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ok = fd >= 0 && fsync(fd) == 0;
		if (fd >= 0)
			close(fd);
		/* This file and every later one in the same directory. */
		for (j = i; j < n; j++)
			if (f[j].name_durable == -1 &&
			    file_pool_dir_len(f[j].path) == len &&
			    strncmp(f[j].path, f[i].path, len) == 0)
				f[j].name_durable = ok;
	}
}

/* file_pool_next_recycled - take the oldest recycled file into r; 1, or
 * 0 when none waits.  Called without the lock. */
static int
file_pool_next_recycled(struct recycled_file *r)
{
	int found = 0;

	pthread_mutex_lock(&pool.lock);
	if (pool.rcount > 0) {
		*r = pool.recycled[pool.rhead];
		pool.rhead = (pool.rhead + 1) % pool.size;
		pool.rcount--;
		found = 1;
	}
	pthread_mutex_unlock(&pool.lock);
	return found;
}

/* file_pool_new_file - a recycled file under a new name when one waits
 * and can be reused, else a new one; its descriptor, or -1 */
static int
file_pool_new_file(char *qid, size_t qidsize, char *path, size_t pathsize)
{
	struct recycled_file r;
	int fd;

	while (file_pool_next_recycled(&r))
		if ((fd = pool.reuse(r.path, qid, qidsize, path,
		    pathsize)) >= 0)
			return fd;
	return pool.create(qid, qidsize, path, pathsize);
}

/*
 * file_pool_make - make up to n files into batch, then sync their
 * directories; the number made (fewer when create failed).  Called
 * without the lock.
 */
static size_t
file_pool_make(struct pooled_file *batch, size_t n)
{
	char path[FILE_POOL_PATH_MAX + 1];
	size_t made = 0;
	int fd;

	while (made < n) {
		struct pooled_file *f = &batch[made];

		fd = file_pool_new_file(f->qid, sizeof(f->qid), path,
		    sizeof(path));
		if (fd >= 0 && strlen(path) >= FILE_POOL_PATH_MAX) {
			unlink(path);
			close(fd);
			fd = -1;
		}
		if (fd < 0)
			break;
		strlcpy(f->path, path, sizeof(f->path));
		f->fd = fd;
		made++;
	}
	file_pool_sync_dirs(batch, made);
	return made;
}

/*
 * file_pool_run - the thread: refill the ring whenever it is down to
 * half its size, or below full and untouched for a second, until stopped.
 */
static void *
file_pool_run(void *arg)
{
	struct timespec until;
	size_t want, made;
	int idle = 0;

	(void)arg;
	pthread_mutex_lock(&pool.lock);
	while (!pool.stop) {
		if (pool.count == pool.size) {
			pthread_cond_wait(&pool.want, &pool.lock);
			continue;
		}
		if (pool.count > pool.size / 2 && !idle) {
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += 1;
			idle = pthread_cond_timedwait(&pool.want, &pool.lock,
			    &until) == ETIMEDOUT;
			continue;
		}
		idle = 0;
		want = pool.size - pool.count;
		pthread_mutex_unlock(&pool.lock);
		pthread_mutex_lock(&pool.creating);
		made = file_pool_make(pool.batch, want);
		pthread_mutex_lock(&pool.lock);
		for (size_t i = 0; i < made; i++)
			file_pool_put(&pool.batch[i]);
		pthread_mutex_unlock(&pool.creating);
		if (made < want)
			file_pool_wait_retry();
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

/* file_pool_free - the rings' memory */
static void
file_pool_free(void)
{
	free(pool.ring);
	free(pool.batch);
	free(pool.recycled);
	pool.ring = pool.batch = NULL;
	pool.recycled = NULL;
}

/* file_pool_start - start the thread with every signal blocked in it */
int
file_pool_start(file_pool_create_fn create, file_pool_reuse_fn reuse,
    unsigned size)
{
	pthread_condattr_t attr;
	sigset_t all, old;
	int err;

	if (pool.running || size == 0)
		return 0;
	if ((err = pthread_condattr_init(&attr)) != 0 ||
	    (err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) != 0 ||
	    (err = pthread_cond_init(&pool.want, &attr)) != 0) {
		errno = err;
		return -1;
	}
	pthread_condattr_destroy(&attr);
	pool.create = create;
	pool.reuse = reuse;
	pool.stop = 0;
	pool.size = size;
	pool.head = pool.count = 0;
	pool.rhead = pool.rcount = 0;
	pool.ring = xcalloc(size, sizeof(*pool.ring));
	pool.batch = xcalloc(size, sizeof(*pool.batch));
	pool.recycled = xcalloc(size, sizeof(*pool.recycled));
	/* The loop's poll() must see every signal, so none may land here. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&pool.thread, NULL, file_pool_run, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		pthread_cond_destroy(&pool.want);
		file_pool_free();
		errno = err;
		return -1;
	}
	pool.running = 1;
	return 0;
}

/* file_pool_take - the oldest pooled file, or -1 when there is none */
int
file_pool_take(char *qid, size_t qidsize, char *path, size_t pathsize,
    int *name_durable)
{
	struct pooled_file f;

	if (!pool.running)
		return -1;
	pthread_mutex_lock(&pool.lock);
	if (pool.count == 0) {
		pthread_mutex_unlock(&pool.lock);
		return -1;
	}
	f = pool.ring[pool.head];
	pool.head = (pool.head + 1) % pool.size;
	pool.count--;
	pthread_cond_signal(&pool.want);
	pthread_mutex_unlock(&pool.lock);
	if (strlcpy(qid, f.qid, qidsize) >= qidsize ||
	    strlcpy(path, f.path, pathsize) >= pathsize) {
		unlink(f.path);
		close(f.fd);
		return -1;
	}
	*name_durable = f.name_durable;
	return f.fd;
}

/* file_pool_recycle - add a finished file to the recycled ring, while
 * the pooled and the recycled files are fewer than the pool's size */
int
file_pool_recycle(const char *qid, const char *path)
{
	struct recycled_file *r;

	if (!pool.running || pool.reuse == NULL)
		return -1;
	pthread_mutex_lock(&pool.lock);
	if (pool.count + pool.rcount >= pool.size) {
		pthread_mutex_unlock(&pool.lock);
		return -1;
	}
	r = &pool.recycled[(pool.rhead + pool.rcount) % pool.size];
	if (strlcpy(r->qid, qid, sizeof(r->qid)) >= sizeof(r->qid) ||
	    strlcpy(r->path, path, sizeof(r->path)) >= sizeof(r->path)) {
		pthread_mutex_unlock(&pool.lock);
		return -1;
	}
	pool.rcount++;
	pthread_mutex_unlock(&pool.lock);
	return 0;
}

/* file_pool_recycle_room - file_pool_recycle would take a file */
int
file_pool_recycle_room(void)
{
	int room;

	if (!pool.running || pool.reuse == NULL)
		return 0;
	pthread_mutex_lock(&pool.lock);
	room = pool.count + pool.rcount < pool.size;
	pthread_mutex_unlock(&pool.lock);
	return room;
}

/* file_pool_still_empty - path is an empty file, as a recycled file is
 * until something is put back in its place */
static int
file_pool_still_empty(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size == 0;
}

/* file_pool_holds - qid is in the ring, or among the recycled and its
 * file still empty */
int
file_pool_holds(const char *qid)
{
	int found = 0;

	if (!pool.running)
		return 0;
	pthread_mutex_lock(&pool.lock);
	for (unsigned i = 0; i < pool.count && !found; i++)
		found = strcmp(pool.ring[(pool.head + i) % pool.size].qid,
		    qid) == 0;
	for (unsigned i = 0; i < pool.rcount && !found; i++) {
		const struct recycled_file *r =
		    &pool.recycled[(pool.rhead + i) % pool.size];

		if (strcmp(r->qid, qid) == 0)
			found = file_pool_still_empty(r->path);
	}
	pthread_mutex_unlock(&pool.lock);
	return found;
}

/* file_pool_pause - wait for a file being made to be in the ring, and
 * make no more until file_pool_resume */
void
file_pool_pause(void)
{
	if (pool.running)
		pthread_mutex_lock(&pool.creating);
}

/* file_pool_resume - make files again */
void
file_pool_resume(void)
{
	if (pool.running)
		pthread_mutex_unlock(&pool.creating);
}

/* file_pool_stop - join the thread, then remove what it made */
void
file_pool_stop(void)
{
	if (!pool.running)
		return;
	pthread_mutex_lock(&pool.lock);
	pool.stop = 1;
	pthread_cond_signal(&pool.want);
	pthread_mutex_unlock(&pool.lock);
	pthread_join(pool.thread, NULL);
	for (; pool.count > 0; pool.count--) {
		struct pooled_file *f = &pool.ring[pool.head];

		unlink(f->path);
		close(f->fd);
		pool.head = (pool.head + 1) % pool.size;
	}
	for (; pool.rcount > 0; pool.rcount--) {
		unlink(pool.recycled[pool.rhead].path);
		pool.rhead = (pool.rhead + 1) % pool.size;
	}
	pthread_cond_destroy(&pool.want);
	file_pool_free();
	pool.running = 0;
}
