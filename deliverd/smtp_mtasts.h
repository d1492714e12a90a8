/*
 * smtp_mtasts - applying a destination's MTA-STS policy (RFC 8461 4, 5)
 * to one delivery attempt of the smtp transport: which MX hosts may be
 * used, and what their TLS must be.
 *
 * Called by transport_smtp.c's smtp_child_connect, in this order:
 * smtp_mtasts_find once per next hop; smtp_mtasts_route on the resolved
 * route; smtp_mtasts_host for each host before connecting to it;
 * smtp_mtasts_check after a connection is made; smtp_mtasts_reason on a
 * failure.
 *
 * DANE (RFC 8461 2: DANE wins where both exist).  The dane code joins
 * here: where a host has usable DNSSEC-validated TLSA records, it does
 * not call smtp_mtasts_host for that host (its own dane policy stands),
 * and smtp_mtasts_route is skipped when the destination's MX records
 * are DNSSEC-signed with usable TLSA for its hosts; setting
 * st->active = 0 after smtp_mtasts_find does both at once.
 */
#ifndef TERN_SMTP_MTASTS_H
#define TERN_SMTP_MTASTS_H

#include "dns.h"
#include "mtasts_policy.h"
#include "settings.h"
#include "smtp_client.h"
#include "smtp_route.h"
#include "tls_policy.h"

struct smtp_mtasts {
	int			 active;	/* a testing or enforce policy */
	char			 domain[DNS_NAME_MAX + 1];
	char			 id[MTASTS_ID_MAX + 1];
	struct mtasts_policy	 p;
};

/*
 * smtp_mtasts_find - the policy for nexthop into st.  MTA-STS applies
 * only to a destination domain: not when smtp_mta_sts is off, nor for a
 * bracketed next hop, the relayhost, or a destination that has an
 * smtp_tls_policy_map entry (mapped), which win.  unwanted (the message
 * says TLS-Required: No, RFC 8689 4.1): st stays inactive, and nothing
 * is looked up, fetched or refreshed (the cache is not read either);
 * logged.
 */
void smtp_mtasts_find(const struct settings *set, const struct dns_config *dc,
    const char *qid, const char *nexthop, int mapped, int unwanted,
    struct smtp_mtasts *st);

/*
 * smtp_mtasts_route - enforce: the hosts of rt outside the policy are
 * dropped (and logged); testing: they are logged.  0, or -1 with the
 * reply for every recipient in r when none is left.
 */
int smtp_mtasts_route(const struct smtp_mtasts *st, const char *qid,
    struct smtp_route *rt, struct smtp_reply *r);

/*
 * smtp_mtasts_host - enforce, or testing for a REQUIRETLS message
 * (requiretls) to an MX host the policy names: pol raised to level
 * verify for the MX host name, unless it verifies already.  Otherwise
 * pol is left alone.
 */
void smtp_mtasts_host(const struct smtp_mtasts *st, const char *host,
    int requiretls, struct tls_policy *pol);

/*
 * smtp_mtasts_check - testing: on the connection c that was made, log
 * whether enforce would have accepted its TLS.
 */
void smtp_mtasts_check(const struct smtp_mtasts *st, const char *qid,
    struct smtp_conn *c);

/* smtp_mtasts_reason - a failure under enforce names the policy in r */
void smtp_mtasts_reason(const struct smtp_mtasts *st, struct smtp_reply *r);

#endif
