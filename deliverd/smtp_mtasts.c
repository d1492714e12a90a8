/*
 * smtp_mtasts - an MTA-STS policy applied to one delivery attempt.
 *
 * enforce (RFC 8461 4.1, 4.2): only MX hosts matching one of the
 * policy's mx patterns are tried, each over TLS with a certificate that
 * verifies for the MX host name, exactly as level verify does it
 * (tls_policy.h): so the smtp client's checks and reasons are the ones
 * the verify level has, and a failure defers (never cleartext) with
 * "mta-sts enforce" in front of the reason.  testing: delivery goes on
 * as before, and what enforce would have refused is logged (there is no
 * TLS-RPT, RFC 8460, to report it to).  none: nothing changes.
 *
 * REQUIRETLS (RFC 8689 4.2.1) needs the MX host name validated "using
 * MTA-STS, as described in [RFC8461], Section 4.1", which is the mx
 * pattern match, whatever the mode; and a certificate that verifies.
 * So for a REQUIRETLS message a host that a testing policy names is
 * tried at level verify as under enforce, and then counts as
 * authenticated by MTA-STS; a host the testing policy does not name is
 * not validated and cannot take the message.  Other mail still only
 * gets the testing log lines.
 *
 * It never lowers what the configuration asks: a policy-map entry or a
 * relayhost keeps its own rules, and a global level that verifies
 * already is left as it is.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "idna.h"
#include "log.h"
#include "mtasts.h"
#include "smtp_mtasts.h"

/* smtp_mtasts_find - skip what MTA-STS is not for, then look it up */
void
smtp_mtasts_find(const struct settings *set, const struct dns_config *dc,
    const char *qid, const char *nexthop, int mapped, int unwanted,
    struct smtp_mtasts *st)
{
	char host[ROUTE_NEXTHOP_MAX];
	size_t len;
	int port, literal, ascii = 1;

	memset(st, 0, sizeof(*st));
	if (!set->smtp_mta_sts || mapped ||
	    (set->relayhost != NULL && set->relayhost[0] != '\0' &&
	    strcasecmp(set->relayhost, nexthop) == 0) ||
	    smtp_route_nexthop_parse(nexthop, host, sizeof(host), &port,
	    &literal, 25) != 0 || literal)
		return;
	len = strlen(host);
	for (size_t i = 0; i < len; i++)
		ascii &= (unsigned char)host[i] < 0x80;
	if (!ascii && idna_to_ascii(host, len, st->domain,
	    sizeof(st->domain)) < 0)
		return;
	if (ascii)
		strlcpy(st->domain, host, sizeof(st->domain));
	if (unwanted) {
		/* Neither the TXT lookup nor the fetch: each would delay the
		 * message and tell the domain's DNS and web server of it,
		 * for a policy that is ignored anyway. */
		log_info("%s: tls-required-no: MTA-STS of %s not looked up at "
		    "the sender's request (RFC 8689)", qid, st->domain);
		return;
	}
	if (mtasts_policy_for(set, dc, qid, st->domain, &st->p, st->id) != 1 ||
	    st->p.mode == MTASTS_NONE)
		return;
	st->active = 1;
	log_info("%s: mta-sts %s: policy of %s (id %s) applies", qid,
	    mtasts_mode_name(st->p.mode), st->domain, st->id);
}

/* smtp_mtasts_route - filter (enforce) or report (testing) the MX hosts */
int
smtp_mtasts_route(const struct smtp_mtasts *st, const char *qid,
    struct smtp_route *rt, struct smtp_reply *r)
{
	int i, n = 0, enforce = st->p.mode == MTASTS_ENFORCE;
	const char *last = NULL;

	if (!st->active)
		return 0;
	for (i = 0; i < rt->n; i++) {
		if (mtasts_mx_match(&st->p, rt->t[i].host)) {
			rt->t[n++] = rt->t[i];
			continue;
		}
		if (last == NULL || strcasecmp(last, rt->t[i].host) != 0)
			log_info("%s: mta-sts %s: MX host %s of %s does not match "
			    "the policy%s", qid, mtasts_mode_name(st->p.mode),
			    rt->t[i].host, st->domain, enforce ?
			    "; not used" : "; enforce would not use it");
		last = rt->t[i].host;
		if (!enforce)
			rt->t[n++] = rt->t[i];
	}
	rt->n = n;
	if (n > 0)
		return 0;
	r->code = 450;
	strlcpy(r->dsn, "4.7.5", sizeof(r->dsn));
	snprintf(r->text, sizeof(r->text), "mta-sts enforce: no MX host of %s "
	    "matches its MTA-STS policy (id %s)", st->domain, st->id);
	return -1;
}

/* smtp_mtasts_host - verify the MX host name: enforce; testing+REQUIRETLS */
void
smtp_mtasts_host(const struct smtp_mtasts *st, const char *host,
    int requiretls, struct tls_policy *pol)
{
	if (!st->active || tls_level_verifies(pol->level))
		return;
	if (st->p.mode != MTASTS_ENFORCE && !(requiretls &&
	    st->p.mode == MTASTS_TESTING && mtasts_mx_match(&st->p, host)))
		return;
	pol->level = SMTP_TLS_VERIFY;
	pol->nmatch = 1;
	strlcpy(pol->match[0], "hostname", sizeof(pol->match[0]));
}

/* smtp_mtasts_check - testing: what enforce would have said of c */
void
smtp_mtasts_check(const struct smtp_mtasts *st, const char *qid,
    struct smtp_conn *c)
{
	struct tls_names names = { .n = 1 };
	char why[512];

	if (!st->active || st->p.mode != MTASTS_TESTING)
		return;
	strlcpy(names.name[0], c->host, sizeof(names.name[0]));
	if (c->ssl == NULL)
		log_info("%s: mta-sts testing: %s: no TLS; enforce would have "
		    "refused the host", qid, c->relay);
	else if (tls_client_verify(c->ssl, &names, why, sizeof(why)) != 0)
		log_info("%s: mta-sts testing: %s: the certificate did not "
		    "verify (%s); enforce would have refused the host", qid,
		    c->relay, why);
	else
		log_info("%s: mta-sts testing: %s: the certificate verified",
		    qid, c->relay);
}

/* smtp_mtasts_reason - "mta-sts enforce: " before the reason */
void
smtp_mtasts_reason(const struct smtp_mtasts *st, struct smtp_reply *r)
{
	char text[sizeof(r->text) + DNS_NAME_MAX + 64];

	if (!st->active || st->p.mode != MTASTS_ENFORCE ||
	    strncmp(r->text, "mta-sts ", 8) == 0)
		return;
	snprintf(text, sizeof(text), "mta-sts enforce (policy of %s): %s",
	    st->domain, r->text);
	strlcpy(r->text, text, sizeof(r->text));
}
