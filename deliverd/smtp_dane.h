/*
 * smtp_dane - the dane security level (RFC 7672) for one server of a
 * route: from what DNSSEC says about the MX RRset, the server's address
 * and its TLSA RRset, the level its connection really gets.
 *
 * Used by the smtp transport's connection processes (transport_smtp.c),
 * between the route (smtp_route.h) and the connection (smtp_client.h),
 * for a destination whose policy level is dane.
 */
#ifndef TERN_SMTP_DANE_H
#define TERN_SMTP_DANE_H

#include <stddef.h>

#include "dns.h"
#include "settings.h"
#include "smtp_route.h"
#include "tls_dane.h"

/*
 * smtp_dane_level - the level for target t of rt (next-hop domain
 * nexthop) under policy dane, logged for message qid as the policy that
 * applied:
 *   "dane-fallback-may": the MX RRset, the address, or the TLSA RRset is
 *     not DNSSEC-signed, or there are no TLSA records: *level may;
 *   "dane": signed, usable TLSA records: *level dane, d filled;
 *   "dane-encrypt": signed TLSA records, none usable (RFC 7672 2.2):
 *     *level encrypt, TLS without authentication.
 * For an MX host that is a CNAME the TLSA records are sought where a
 * signed chain leads, then at its own name (RFC 7672 2.2.2; d->base says
 * where they were found).
 * 0; or -1 when the signed host's TLSA lookup failed (SERVFAIL, timeout),
 * or that of its own CNAME record, which makes this host unusable (RFC
 * 7672 2.2.1): why holds the reason.
 * The last host's answer is remembered until smtp_dane_forget, so that
 * its other addresses cost no second lookup.
 */
int smtp_dane_level(const struct dns_config *dc, const char *qid,
    const struct smtp_route *rt, const struct smtp_target *t,
    const char *nexthop, struct tls_dane *d, enum smtp_tls_level *level,
    char *why, size_t whysize);

/* smtp_dane_forget - a new route: look TLSA records up afresh */
void smtp_dane_forget(void);

#endif
