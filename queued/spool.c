/*
 * spool - message file names and the start-up scan.  See spool.h.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "qid.h"
#include "spool.h"

/* spool_msg_dir - the hash directory of a queue ID */
int
spool_msg_dir(const char *spool, const char *qid, char *buf, size_t size)
{
	size_t len = strlen(qid);
	int n;

	if (len == 0)
		return -1;
	n = snprintf(buf, size, "%s/msg/%c", spool, qid[len - 1]);
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int
spool_msg_dir_index(const char *qid)
{
	size_t len = strlen(qid);
	int c = len > 0 ? (unsigned char)qid[len - 1] : 0;

	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c < 'A' + SPOOL_HASH_DIRS - 10)
		return c - 'A' + 10;
	return -1;
}

/* spool_msg_path - the data file of a queue ID */
int
spool_msg_path(const char *spool, const char *qid, char *buf, size_t size)
{
	size_t len = strlen(qid);
	int n;

	if (len == 0)
		return -1;
	n = snprintf(buf, size, "%s/msg/%c/%s", spool, qid[len - 1], qid);
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* spool_scan - visit every message file */
void
spool_scan(const char *spool, void (*fn)(const char *qid, void *arg),
    void *arg)
{
	static const char hex[] = "0123456789ABCDEF";

	for (int i = 0; i < SPOOL_HASH_DIRS; i++) {
		char dir[4096];
		struct dirent *de;
		DIR *d;

		snprintf(dir, sizeof(dir), "%s/msg/%c", spool, hex[i]);
		if ((d = opendir(dir)) == NULL) {
			log_warn("cannot open %s", dir);
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			if (!qid_valid(de->d_name) ||
			    de->d_name[QID_LEN - 1] != hex[i]) {
				log_warn("%s/%s: not a queue file name; left alone",
				    dir, de->d_name);
				continue;
			}
			fn(de->d_name, arg);
		}
		closedir(d);
	}
}

/* spool_quarantine - move a damaged queue file aside, never delete it */
int
spool_quarantine(const char *spool, const char *qid, const char *why)
{
	char from[4096], to[4096], vwhy[1024];
	int n, r = -1;

	log_vis(vwhy, sizeof(vwhy), why, strlen(why));
	if (spool_msg_path(spool, qid, from, sizeof(from)) < 0)
		return -1;
	for (int i = 0; i < 100; i++) {
		n = i == 0 ? snprintf(to, sizeof(to), "%s/corrupt/%s", spool,
		    qid) : snprintf(to, sizeof(to), "%s/corrupt/%s.%d", spool,
		    qid, i);
		if (n < 0 || (size_t)n >= sizeof(to))
			break;
		/* Never over another damaged file: each may matter. */
		if ((r = renameat2(AT_FDCWD, from, AT_FDCWD, to,
		    RENAME_NOREPLACE)) == 0 || errno != EEXIST)
			break;
	}
	if (r == 0)
		log_error("%s: damaged queue file moved to %s: %s", qid, to,
		    vwhy);
	else
		log_error("%s: damaged queue file left in place (cannot move "
		    "it to corrupt/: %s): %s", qid, strerror(errno), vwhy);
	return r;
}
