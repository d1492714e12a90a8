/*
 * mtasts - the MTA-STS policy of a destination domain (RFC 8461 3, 5):
 * discovered through the _mta-sts TXT record, fetched over HTTPS
 * (mtasts_fetch.h), kept in the spool's cache (SPOOL/mta-sts, one file
 * per domain) until its max_age.
 *
 * Used by smtp_mtasts.c in the smtp transport's connection processes.
 */
#ifndef TERN_MTASTS_H
#define TERN_MTASTS_H

#include <stddef.h>

#include "dns.h"
#include "mtasts_policy.h"
#include "settings.h"

/*
 * mtasts_cache_open - open the cache directory dir (SPOOL/smtp/mta-sts,
 * spool_layout.h), once chrooted: "/mta-sts" in the chroot.  0, or -1
 * with the reason in err: MTA-STS then still works, fetching each policy
 * anew.
 */
int mtasts_cache_open(const char *dir, char *err, size_t errsize);

/*
 * mtasts_policy_for - the MTA-STS policy of domain (A-labels): 1 with it
 * in p and its id in id (MTASTS_ID_MAX + 1 octets), or 0 when domain has
 * none that can be used.  What happened (fetched, cached, failed,
 * ignored) is logged with qid.
 */
int mtasts_policy_for(const struct settings *set, const struct dns_config *dc,
    const char *qid, const char *domain, struct mtasts_policy *p, char *id);

/*
 * mtasts_cache_encode - the cache file for a policy body (len octets)
 * fetched at time fetched with TXT id: into buf, its length, or 0 when
 * it does not fit.  mtasts_cache_decode is its inverse: 0 with id,
 * *fetched, and the policy parsed into p, or -1 when buf is not a cache
 * file or its policy does not parse.
 */
size_t mtasts_cache_encode(const char *id, long long fetched,
    const char *body, size_t len, char *buf, size_t size);
int mtasts_cache_decode(const char *buf, size_t len, char *id,
    long long *fetched, struct mtasts_policy *p);

#endif
