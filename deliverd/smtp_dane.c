/*
 * smtp_dane - RFC 7672 2.2: which servers DANE applies to, and how.
 *
 * Called in a connection process for each address it tries at policy
 * level dane.  DANE applies only where every link from the next hop to
 * the TLSA records is DNSSEC-validated (the MX RRset, the MX host's
 * address, the TLSA RRset); an insecure link anywhere means ordinary
 * opportunistic TLS, since an attacker who can forge that link could
 * also remove the TLSA records.  An MX host that is a CNAME has two
 * candidate TLSA base domains, where its CNAMEs led and its own name
 * (RFC 7672 2.2.2, base_candidates below).  Where the links are secure the level
 * can only go up: a TLSA lookup that fails, a server without STARTTLS,
 * a certificate that matches no record all defer (never plaintext,
 * never a lower level), which is the whole point of DANE.  The AD bit
 * is believed only with dns_dnssec (dns.h); without it everything is
 * insecure, so dane is may.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "smtp_dane.h"

/* One TLSA RRset as looked up, with the usable records picked out. */
struct tlsa_rrset {
	int			 valid;
	char			 base[DNS_NAME_MAX + 1];
	int			 port;
	enum dns_status		 status;
	int			 secure;
	struct tls_dane		 dane;		/* usable records */
	int			 nrecords;	/* usable or not */
};

/* The last host's answers, for its other addresses: a TLSA RRset per
 * candidate base domain, and whether its own name's CNAME is signed. */
static struct tlsa_rrset last[2];
static struct {
	int			 valid;
	char			 host[DNS_NAME_MAX + 1];
	enum dns_status		 status;
	int			 secure;
} alias;

/* smtp_dane_forget - drop the remembered answers */
void
smtp_dane_forget(void)
{
	last[0].valid = last[1].valid = 0;
	alias.valid = 0;
}

/* target_port - the port of a target's address */
static int
target_port(const struct smtp_target *t)
{
	return ntohs(t->ss.ss_family == AF_INET6 ?
	    ((const struct sockaddr_in6 *)&t->ss)->sin6_port :
	    ((const struct sockaddr_in *)&t->ss)->sin_port);
}

/* tlsa_lookup - the TLSA RRset of base:port into *r (kept there for the
 * next address); 0, or -1 for a name that cannot be asked */
static int
tlsa_lookup(const struct dns_config *dc, const char *base, int port,
    struct tlsa_rrset *r)
{
	static struct dns_answer a;	/* large: not on the stack */
	char name[DNS_NAME_MAX + 1];

	if (r->valid && r->port == port && dns_name_eq(r->base, base))
		return 0;
	if (dns_tlsa_name(base, port, name, sizeof(name)) != 0)
		return -1;
	memset(r, 0, sizeof(*r));
	r->status = dns_lookup(dc, name, DNS_T_TLSA, &a);
	r->secure = a.secure;
	for (int i = 0; r->status == DNS_OK && i < a.n; i++) {
		r->nrecords++;
		if (dns_tlsa_usable(&a.rr[i].tlsa) &&
		    tls_dane_data_usable(&a.rr[i].tlsa) &&
		    r->dane.n < TLS_DANE_RR_MAX)
			r->dane.rr[r->dane.n++] = a.rr[i].tlsa;
	}
	strlcpy(r->base, base, sizeof(r->base));
	r->port = port;
	r->valid = 1;
	return 0;
}

/* alias_lookup - the CNAME RRset of host itself: is it DNSSEC-signed?
 * The status, *secure set; remembered for host's other addresses. */
static enum dns_status
alias_lookup(const struct dns_config *dc, const char *host, int *secure)
{
	static struct dns_answer a;

	if (!alias.valid || !dns_name_eq(alias.host, host)) {
		/* A CNAME query is answered with the CNAME RRset of host
		 * alone, not chased: its AD bit speaks for that one link. */
		alias.status = dns_lookup(dc, host, DNS_T_CNAME, &a);
		alias.secure = alias.status == DNS_OK && a.secure;
		strlcpy(alias.host, host, sizeof(alias.host));
		alias.valid = 1;
	}
	*secure = alias.secure;
	return alias.status;
}

/*
 * base_candidates - the TLSA base domains of t, in the order they are to
 * be tried, into cand (n of them, 1 or 2; 0: DANE does not apply, why
 * says why).  *expanded is set when the CNAME chain was signed, so that
 * both names are reference identifiers.  -1 when the lookup that would
 * tell failed: the host may be signed, and is not to be used (2.2.1).
 *
 * RFC 7672 2.2.2 (Non-MX Destinations, which MX host names are), in
 * substance: when the address records of the initial name are found
 * through a chain of CNAMEs that DNSSEC validates all the way, the TLSA
 * records are sought first at the final target of the chain (the
 * "expanded name") and, when there are none there, at the initial name;
 * when the chain is not secure, the expanded name is never a TLSA base
 * domain, and the initial name is one only if the initial name is
 * itself secure (its CNAME record is signed); when the initial name is
 * insecure, DANE does not apply.  Section 2.2.3: a candidate whose TLSA
 * records are insecure or do not exist passes to the next candidate.
 */
static int
base_candidates(const struct dns_config *dc, const struct smtp_target *t,
    char cand[2][DNS_NAME_MAX + 1], int *n, int *expanded, const char **why)
{
	enum dns_status st;
	int secure;

	*n = 0;
	*expanded = 0;
	if (t->canon[0] == '\0' || dns_name_eq(t->canon, t->host)) {
		if (!t->secure) {
			*why = "its address records are not DNSSEC-signed";
			return 0;
		}
		strlcpy(cand[(*n)++], t->host, sizeof(cand[0]));
		return 0;
	}
	if (t->secure) {
		/* The answer's AD bit covers every CNAME in it and the
		 * addresses.  The name is DNS text (dns.c refuses dots,
		 * controls and spaces in labels); one that is no host name
		 * is not worth a TLSA lookup, nor a place in the SNI. */
		if (dns_hostname_valid(t->canon))
			strlcpy(cand[(*n)++], t->canon, sizeof(cand[0]));
		strlcpy(cand[(*n)++], t->host, sizeof(cand[0]));
		*expanded = 1;
		return 0;
	}
	st = alias_lookup(dc, t->host, &secure);
	if (dns_status_temporary(st))
		return -1;
	if (!secure) {
		*why = "its CNAME and address records are not DNSSEC-signed";
		return 0;
	}
	strlcpy(cand[(*n)++], t->host, sizeof(cand[0]));
	return 0;
}

/* fallback - the policy that applied is may, because of why */
static int
fallback(const char *qid, const struct smtp_target *t, const char *why,
    enum smtp_tls_level *level)
{
	log_info("%s: TLS policy dane-fallback-may for %s: %s", qid, t->host,
	    why);
	*level = SMTP_TLS_MAY;
	return 0;
}

/* deferred - the host is skipped: the lookup of what may make it signed
 * failed (RFC 7672 2.2.1); -1 with the reason in why */
static int
deferred(const char *qid, const struct smtp_target *t, const char *what,
    const char *name, enum dns_status st, char *why, size_t whysize)
{
	snprintf(why, whysize, "%s lookup of %s failed: %s (level dane; the "
	    "host %s DNSSEC-signed, so mail waits)", what, name,
	    dns_status_text(st), strcmp(what, "TLSA") == 0 ? "is" : "may be");
	log_info("%s: TLS policy dane for %s: %s", qid, t->host, why);
	return -1;
}

/* smtp_dane_level - may, encrypt or dane for target t; -1 skip it */
int
smtp_dane_level(const struct dns_config *dc, const char *qid,
    const struct smtp_route *rt, const struct smtp_target *t,
    const char *nexthop, struct tls_dane *d, enum smtp_tls_level *level,
    char *why, size_t whysize)
{
	char cand[2][DNS_NAME_MAX + 1], name[DNS_NAME_MAX + 1], rr[128];
	const char *reason = "no TLSA records";
	struct tlsa_rrset *r = NULL;
	int port = target_port(t), n, expanded, i;

	if (!dc->dnssec)
		return fallback(qid, t, "dns_dnssec is off", level);
	if (!rt->mx_secure)
		return fallback(qid, t, "the MX records are not DNSSEC-signed",
		    level);
	if (base_candidates(dc, t, cand, &n, &expanded, &reason) != 0)
		return deferred(qid, t, "CNAME", t->host, alias.status, why,
		    whysize);
	if (n == 0)
		return fallback(qid, t, reason, level);
	for (i = 0; i < n; i++) {
		r = &last[i];
		if (dns_tlsa_name(cand[i], port, name, sizeof(name)) != 0 ||
		    tlsa_lookup(dc, cand[i], port, r) != 0) {
			reason = "no TLSA name for it";
			r = NULL;
			continue;
		}
		/* RFC 7672 2.2.1: a signed host whose TLSA records cannot
		 * be had may have them; it is not to be used. */
		if (dns_status_temporary(r->status))
			return deferred(qid, t, "TLSA", name, r->status, why,
			    whysize);
		if (r->status == DNS_OK && r->secure)
			break;
		reason = r->status != DNS_OK ? "no TLSA records" :
		    "its TLSA records are not DNSSEC-signed";
		r = NULL;
	}
	if (r == NULL)
		return fallback(qid, t, reason, level);
	if (r->dane.n == 0) {
		log_info("%s: TLS policy dane-encrypt for %s: none of its %d "
		    "TLSA record(s) is usable; TLS required, not "
		    "authenticated", qid, t->host, r->nrecords);
		*level = SMTP_TLS_ENCRYPT;
		return 0;
	}
	*d = r->dane;
	strlcpy(d->base, cand[i], sizeof(d->base));
	d->alias[0] = '\0';
	if (expanded)
		strlcpy(d->alias, i == 0 && n > 1 ? cand[1] : cand[0],
		    sizeof(d->alias));
	strlcpy(d->nexthop, nexthop, sizeof(d->nexthop));
	dns_tlsa_format(&d->rr[0], rr, sizeof(rr));
	log_info("%s: TLS policy dane for %s: %d usable TLSA record(s) at %s "
	    "(%s%s)", qid, t->host, d->n, name, rr, d->n > 1 ? ", ..." : "");
	*level = SMTP_TLS_DANE;
	return 0;
}
