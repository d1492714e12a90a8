/*
 * qid - queue IDs.  Only queued makes them.
 */
#include "config.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "qid.h"

/* queued's file pool makes IDs in a thread of its own (file_pool.h). */
static pthread_mutex_t qid_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t qid_last;	/* the last ID made, as a number */
static uint8_t qid_seq;		/* counts every ID made */

/* qid_now - microseconds since the epoch */
static uint64_t
qid_now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
}

/* qid_new - a new, time-ordered queue ID */
void
qid_new(char *buf, size_t size)
{
	uint64_t v;

	/* The low byte counts every ID made, not only those of one
	 * microsecond: its last hex digit names the spool directory
	 * (spool.h), and a time alone would put every file in msg/0. */
	pthread_mutex_lock(&qid_lock);
	v = qid_now() << 8 | qid_seq++;
	/* Same microsecond (or a clock step back): keep counting upward. */
	if (v <= qid_last)
		v = qid_last + 1;
	qid_last = v;
	pthread_mutex_unlock(&qid_lock);
	snprintf(buf, size, "%016llX", (unsigned long long)v);
}

/* qid_new_in - a new, time-ordered queue ID whose last digit is dir */
void
qid_new_in(char *buf, size_t size, unsigned dir)
{
	uint64_t v;

	dir &= 0xf;
	pthread_mutex_lock(&qid_lock);
	v = qid_now() << 8 | (uint64_t)(qid_seq++ & 0xf) << 4 | dir;
	/* The next number above the last one that ends in dir. */
	if (v <= qid_last)
		v = ((qid_last >> 4) + 1) << 4 | dir;
	qid_last = v;
	pthread_mutex_unlock(&qid_lock);
	snprintf(buf, size, "%016llX", (unsigned long long)v);
}

/* qid_valid - a well-formed queue ID */
int
qid_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isxdigit((unsigned char)s[i]) ||
		    islower((unsigned char)s[i]))
			return 0;
	return i == QID_LEN;
}
