/*
 * qid - queue IDs.  Only queued makes them.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "qid.h"

/* qid_new - a new, time-ordered queue ID */
void
qid_new(char *buf, size_t size)
{
	static uint64_t last;
	static uint8_t seq;
	struct timeval tv;
	uint64_t v;

	gettimeofday(&tv, NULL);
	/* The low byte counts every ID made, not only those of one
	 * microsecond: its last hex digit names the spool directory
	 * (spool.h), and a time alone would put every file in msg/0. */
	v = ((uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec) << 8 |
	    seq++;
	/* Same microsecond (or a clock step back): keep counting upward. */
	if (v <= last)
		v = last + 1;
	last = v;
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
