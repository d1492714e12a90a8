/*
 * smtp_requiretls - what a message's RFC 8689 tag asks of its delivery
 * by SMTP: REQUIRETLS (sent only to a server reached over TLS whose
 * certificate was authenticated and that offers REQUIRETLS, else a
 * non-delivery notice with 5.7.10 or 5.7.30), or "TLS-Required: No" (the
 * recipient domain's TLS policy is ignored: opportunistic TLS).
 *
 * Used by the smtp transport's connection processes (transport_smtp.c,
 * which calls the hooks below around each host it tries) and by the
 * smtp client (smtp_client.c: the MAIL parameter).  The tag comes from
 * the envelope flags (envelope.h) through the job (msg_codec.h).
 *
 * "Authenticated" is one predicate of the connection,
 * smtp_conn_tls_authenticated (smtp_client.h): today the verify and
 * secure levels set it; DANE and MTA-STS set it the same way when their
 * trust source vouched for the peer, and REQUIRETLS then accepts them
 * with no change here.
 */
#ifndef TERN_SMTP_REQUIRETLS_H
#define TERN_SMTP_REQUIRETLS_H

#include <stdint.h>

#include "smtp_client.h"
#include "tls_policy.h"

/* How one delivery treats TLS. */
enum smtp_tls_mode {
	SMTP_TLS_MODE_POLICY = 0,	/* the destination's policy, as set */
	SMTP_TLS_MODE_REQUIRED,		/* REQUIRETLS, from a sender */
	SMTP_TLS_MODE_OPTIONAL,		/* TLS-Required: No */
};

/*
 * smtp_tls_mode_of - the mode for a job's tls_request (ENVELOPE_F_*) and
 * sender.  RFC 8689 5: a notice (sender <>) of a REQUIRETLS message is
 * not held back for want of REQUIRETLS; it follows the policy, and its
 * MAIL carries REQUIRETLS where the server qualifies.
 */
enum smtp_tls_mode smtp_tls_mode_of(uint32_t tls_request, const char *sender);

/*
 * smtp_tls_mode_ignores_policy - the sender asked that the recipient
 * domain's TLS policy (smtp_tls_policy_map, DANE, MTA-STS) be ignored.
 * For the DANE and MTA-STS lookups to skip their work.
 */
int smtp_tls_mode_ignores_policy(enum smtp_tls_mode mode);

/*
 * smtp_requiretls_level - the level to connect to one host with: under
 * REQUIRETLS at least encrypt (never plaintext, never a fallback to
 * it); under TLS-Required: No "may" (unless "none") for a recipient
 * domain, but not where the next hop is the administrator's own route
 * (own_route: the relayhost, or any bracketed next hop), whose policy
 * is no recipient domain's, nor where credentials are sent (creds: they
 * go only to a peer the configured level trusts).  Logs the override
 * for qid.
 */
enum smtp_tls_level smtp_requiretls_level(enum smtp_tls_mode mode,
    enum smtp_tls_level level, int own_route, int creds, const char *qid,
    const char *nexthop, const char *host);

/*
 * smtp_requiretls_check - after EHLO (and STARTTLS) with one host, under
 * REQUIRETLS: the peer is authenticated and offers REQUIRETLS.  0, or -1
 * with the failure in r (5.7.10 not authenticated, 5.7.30 no
 * REQUIRETLS), logged; the caller then closes the connection and tries
 * the next host.
 */
int smtp_requiretls_check(const struct smtp_conn *c, enum smtp_tls_mode mode,
    const char *qid, struct smtp_reply *r);

/*
 * smtp_requiretls_host_failed - under REQUIRETLS, one host's attempt
 * ended: note whether it failed for want of TLS (c->tls_failed: 5.7.10)
 * or of the check above (its reason already in r); tally counts hosts
 * that failed so, last keeps the reason.
 */
struct smtp_requiretls_tally {
	int			 failed;	/* hosts failed for TLS reasons */
	int			 tried;		/* hosts tried */
	struct smtp_reply	 last;		/* the last such reason */
};
void smtp_requiretls_host_failed(struct smtp_requiretls_tally *t,
    const struct smtp_conn *c, int check_failed, const struct smtp_reply *r);

/*
 * smtp_requiretls_verdict - every host was tried and none qualified:
 * RFC 8689 4.2.1 says the message MUST NOT go to the domain and a
 * non-delivery notice MUST follow, so when every host failed for a TLS
 * reason the verdict in r is permanent (550 5.7.30 or 5.7.10).  1 when
 * it set r; 0 when some host failed otherwise (unreachable, a
 * temporary refusal), and the usual deferral applies.
 */
int smtp_requiretls_verdict(const struct smtp_requiretls_tally *t,
    enum smtp_tls_mode mode, struct smtp_reply *r);

#endif
