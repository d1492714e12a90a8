/*
 * mtasts - finding the MTA-STS policy of a domain, with the cache.
 *
 * Called by a connection process of the smtp transport before it
 * connects: unprivileged (tern_user), chrooted to SPOOL/smtp.  Why the
 * fetch happens here and not in a process of its own: this process
 * already runs as tern_user in a chroot, has the resolver and the CA
 * store that the fetch needs, waits on the answer anyway, and is one per
 * connection, so a slow policy server delays only mail for its own
 * domain.  No root process ever reads a policy.
 *
 * The cache is SPOOL/smtp/mta-sts (owned by tern_user, spool_layout.h),
 * inside the transport's own chroot, which smtpd (chrooted to
 * SPOOL/empty) cannot reach.  It is opened once chrooted, never before:
 * a directory descriptor from outside the chroot would let the process
 * fchdir() out of it.  Files are reached through that descriptor
 * (openat, renameat).  A file is written under a
 * temporary name, synced, then renamed over the old one, so a reader
 * sees the old policy or the new one, never half of one; two processes
 * fetching the same domain at once each write a whole file and the last
 * rename wins.  Each file holds the policy as served, so what is read
 * back goes through the same strict parser as what was fetched.
 *
 * RFC 8461 5.1: a cached policy is used until its max_age has passed,
 * whatever happens to the TXT record or the policy server in the
 * meantime; a new TXT id means a new policy to fetch, and when that
 * fetch fails the unexpired cached one still holds.
 */
#include "config.h"

#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "log.h"
#include "mtasts.h"
#include "mtasts_fetch.h"

#define CACHE_MAGIC	"tern-mta-sts 1\n"
#define CACHE_HEAD_MAX	128
#define CACHE_FILE_MAX	(CACHE_HEAD_MAX + MTASTS_POLICY_MAX)

static int cache_fd = -1;	/* SPOOL/smtp/mta-sts */

/* mtasts_cache_open - the cache directory, kept open */
int
mtasts_cache_open(const char *dir, char *err, size_t errsize)
{
	if (cache_fd == -1 && (cache_fd = open(dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		snprintf(err, errsize, "%s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* mtasts_cache_encode - magic, id, fetch time, empty line, the policy */
size_t
mtasts_cache_encode(const char *id, long long fetched, const char *body,
    size_t len, char *buf, size_t size)
{
	int n = snprintf(buf, size, CACHE_MAGIC "id %s\nfetched %lld\n\n", id,
	    fetched);

	if (n < 0 || (size_t)n >= size || size - (size_t)n < len)
		return 0;
	memcpy(buf + n, body, len);
	return (size_t)n + len;
}

/* mtasts_cache_decode - the head checked field by field, then the policy */
int
mtasts_cache_decode(const char *buf, size_t len, char *id,
    long long *fetched, struct mtasts_policy *p)
{
	char head[CACHE_HEAD_MAX + 1], why[128], *s, *ep;
	const char *end;
	size_t hl, il;

	end = memchr(buf, '\0', len < CACHE_HEAD_MAX ? len : CACHE_HEAD_MAX);
	if (end != NULL || len < sizeof(CACHE_MAGIC) - 1 ||
	    memcmp(buf, CACHE_MAGIC, sizeof(CACHE_MAGIC) - 1) != 0)
		return -1;
	hl = len < CACHE_HEAD_MAX ? len : CACHE_HEAD_MAX;
	memcpy(head, buf, hl);
	head[hl] = '\0';
	if ((s = strstr(head, "\n\n")) == NULL)
		return -1;
	s[1] = '\0';
	end = buf + (s - head) + 2;
	s = head + sizeof(CACHE_MAGIC) - 1;
	if (strncmp(s, "id ", 3) != 0)
		return -1;
	s += 3;
	for (il = 0; isalnum((unsigned char)s[il]); il++)
		;
	if (il == 0 || il > MTASTS_ID_MAX || s[il] != '\n')
		return -1;
	memcpy(id, s, il);
	id[il] = '\0';
	s += il + 1;
	if (strncmp(s, "fetched ", 8) != 0)
		return -1;
	errno = 0;
	*fetched = strtoll(s + 8, &ep, 10);
	if (errno != 0 || ep == s + 8 || *fetched < 0 || strcmp(ep, "\n") != 0)
		return -1;
	return mtasts_policy_parse(end, len - (size_t)(end - buf), p, why,
	    sizeof(why));
}

/* cache_name - domain as a file name: lowercase LDH labels, else -1 */
static int
cache_name(const char *domain, char *name, size_t size)
{
	size_t len = strlen(domain);

	if (len == 0 || len >= size || domain[0] == '.' || domain[0] == '-')
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = (char)tolower((unsigned char)domain[i]);

		if (!isalnum((unsigned char)c) && c != '-' &&
		    !(c == '.' && domain[i + 1] != '.'))
			return -1;
		name[i] = c;
	}
	name[len] = '\0';
	return 0;
}

/*
 * cache_read - domain's cached policy: 1 with p, id, *fetched; 0 when
 * there is none (a file that does not decode is none, and logged).
 */
static int
cache_read(const char *domain, struct mtasts_policy *p, char *id,
    long long *fetched)
{
	static char buf[CACHE_FILE_MAX + 1];
	char name[DNS_NAME_MAX + 1];
	ssize_t n;
	size_t got = 0;
	int fd;

	if (cache_fd == -1 || cache_name(domain, name, sizeof(name)) != 0 ||
	    (fd = openat(cache_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK)) == -1)
		return 0;
	while (got < sizeof(buf) && (n = read(fd, buf + got,
	    sizeof(buf) - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (got > CACHE_FILE_MAX ||
	    mtasts_cache_decode(buf, got, id, fetched, p) != 0) {
		log_warn("mta-sts: cached policy for %s cannot be read; "
		    "ignored", domain);
		return 0;
	}
	return 1;
}

/* cache_write - domain's policy body, atomically; failures only logged */
static void
cache_write(const char *domain, const char *id, long long fetched,
    const char *body, size_t len)
{
	static char buf[CACHE_FILE_MAX];
	char name[DNS_NAME_MAX + 1], tmp[DNS_NAME_MAX + 32];
	size_t n;
	int fd, ok;

	if (cache_fd == -1 || cache_name(domain, name, sizeof(name)) != 0 ||
	    (n = mtasts_cache_encode(id, fetched, body, len, buf,
	    sizeof(buf))) == 0)
		return;
	/* A dot first: never a domain's name. */
	snprintf(tmp, sizeof(tmp), ".%s.%ld", name, (long)getpid());
	if ((fd = openat(cache_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		log_warn("mta-sts: cannot cache the policy for %s: %s", domain,
		    strerror(errno));
		return;
	}
	ok = write(fd, buf, n) == (ssize_t)n && fsync(fd) == 0;
	if (close(fd) != 0)
		ok = 0;
	if (!ok || renameat(cache_fd, tmp, cache_fd, name) != 0) {
		log_warn("mta-sts: cannot cache the policy for %s: %s", domain,
		    strerror(errno));
		unlinkat(cache_fd, tmp, 0);
	}
}

/*
 * txt_id - the id of domain's STS TXT record: 1 found, 0 none (no record,
 * or not exactly one valid one: RFC 8461 3.1), -1 the lookup failed.
 */
static int
txt_id(const struct dns_config *dc, const char *qid, const char *domain,
    long long deadline, char *id)
{
	static struct dns_answer a;
	struct timespec until = { .tv_sec = (time_t)(deadline / 1000),
	    .tv_nsec = (long)(deadline % 1000) * 1000000L };
	char name[DNS_NAME_MAX + 1];
	enum dns_status s;
	int sts = 0, good = 0;

	if ((size_t)snprintf(name, sizeof(name), "_mta-sts.%s", domain) >=
	    sizeof(name))
		return 0;
	s = dns_lookup_until(dc, name, DNS_T_TXT, &until, &a);
	if (s == DNS_NODATA || s == DNS_NXDOMAIN)
		return 0;
	if (s != DNS_OK) {
		log_info("%s: mta-sts: %s TXT lookup failed: %s", qid, name,
		    dns_status_text(s));
		return -1;
	}
	for (int i = 0; i < a.n; i++) {
		size_t len = strlen(a.rr[i].name);

		if (!mtasts_txt_is_sts(a.rr[i].name, len))
			continue;
		sts++;
		good = !a.rr[i].txt_cut &&
		    mtasts_txt_parse(a.rr[i].name, len, id) == 0;
	}
	if (sts == 1 && good)
		return 1;
	if (sts > 0)
		log_info("%s: mta-sts: %s: %s; no policy discovered", qid,
		    name, sts > 1 ? "more than one STS record" :
		    "malformed STS record");
	return 0;
}

/*
 * policy_fetch - fetch, parse and cache domain's policy: 1 with it in p,
 * 0 when it cannot be had (logged).
 */
static int
policy_fetch(const struct dns_config *dc, const char *qid, const char *domain,
    const char *id, long long deadline, struct mtasts_policy *p,
    int cached)
{
	static char body[MTASTS_POLICY_MAX];
	char err[512], vis[1024];
	size_t len;

	if (mtasts_fetch(dc, domain, deadline, body, sizeof(body), &len, err,
	    sizeof(err)) != 0) {
		log_vis(vis, sizeof(vis), err, strlen(err));
		log_info("%s: mta-sts: cannot fetch the policy of %s: %s%s",
		    qid, domain, vis, cached ? "; the cached policy stays" :
		    "");
		return 0;
	}
	if (mtasts_policy_parse(body, len, p, err, sizeof(err)) != 0) {
		log_warn("%s: mta-sts: policy of %s ignored: %s%s", qid, domain,
		    err, cached ? "; the cached policy stays" : "");
		return 0;
	}
	log_info("%s: mta-sts: fetched the policy of %s (id %s): mode %s, "
	    "max_age %ld", qid, domain, id, mtasts_mode_name(p->mode),
	    p->max_age);
	cache_write(domain, id, (long long)time(NULL), body, len);
	return 1;
}

/* mtasts_policy_for - TXT id, then the cache or a fetch */
int
mtasts_policy_for(const struct settings *set, const struct dns_config *dc,
    const char *qid, const char *domain, struct mtasts_policy *p, char *id)
{
	static struct mtasts_policy fresh;
	char cid[MTASTS_ID_MAX + 1], tid[MTASTS_ID_MAX + 1];
	long long fetched, now = (long long)time(NULL);
	long long deadline = deadline_in(set->smtp_mta_sts_timeout * 1000LL);
	int cached, t;

	cached = cache_read(domain, p, cid, &fetched) &&
	    fetched + p->max_age > now;
	t = txt_id(dc, qid, domain, deadline, tid);
	if (t == 1 && cached && strcmp(tid, cid) == 0) {
		strlcpy(id, cid, MTASTS_ID_MAX + 1);
		return 1;
	}
	if (t == 1 && policy_fetch(dc, qid, domain, tid, deadline, &fresh,
	    cached)) {
		*p = fresh;
		strlcpy(id, tid, MTASTS_ID_MAX + 1);
		return 1;
	}
	if (cached) {
		if (t != 1)
			log_info("%s: mta-sts: no usable TXT record for %s; "
			    "the cached policy (id %s) holds until it expires",
			    qid, domain, cid);
		strlcpy(id, cid, MTASTS_ID_MAX + 1);
		return 1;
	}
	return 0;
}
