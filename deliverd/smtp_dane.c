/*
 * smtp_dane - RFC 7672 2.2: which servers DANE applies to, and how.
 *
 * Called in a connection process for each address it tries at policy
 * level dane.  DANE applies only where every link from the next hop to
 * the TLSA records is DNSSEC-validated (the MX RRset, the MX host's
 * address, the TLSA RRset); an insecure link anywhere means ordinary
 * opportunistic TLS, since an attacker who can forge that link could
 * also remove the TLSA records.  Where the links are secure the level
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

/* The last host's TLSA answer, for its other addresses. */
static struct {
	int			 valid;
	char			 host[DNS_NAME_MAX + 1];
	int			 port;
	enum dns_status		 status;
	int			 secure;
	struct tls_dane		 dane;		/* usable records */
	int			 nrecords;	/* usable or not */
} last;

/* smtp_dane_forget - drop the remembered answer */
void
smtp_dane_forget(void)
{
	last.valid = 0;
}

/* target_port - the port of a target's address */
static int
target_port(const struct smtp_target *t)
{
	return ntohs(t->ss.ss_family == AF_INET6 ?
	    ((const struct sockaddr_in6 *)&t->ss)->sin6_port :
	    ((const struct sockaddr_in *)&t->ss)->sin_port);
}

/* tlsa_lookup - the TLSA RRset of host:port into last; 0, or -1 for a
 * name that cannot be asked */
static int
tlsa_lookup(const struct dns_config *dc, const char *host, int port)
{
	static struct dns_answer a;	/* large: not on the stack */
	char name[DNS_NAME_MAX + 1];

	if (last.valid && last.port == port &&
	    strcasecmp(last.host, host) == 0)
		return 0;
	if (dns_tlsa_name(host, port, name, sizeof(name)) != 0)
		return -1;
	memset(&last, 0, sizeof(last));
	last.status = dns_lookup(dc, name, DNS_T_TLSA, &a);
	last.secure = a.secure;
	for (int i = 0; last.status == DNS_OK && i < a.n; i++) {
		last.nrecords++;
		if (dns_tlsa_usable(&a.rr[i].tlsa) &&
		    tls_dane_data_usable(&a.rr[i].tlsa) &&
		    last.dane.n < TLS_DANE_RR_MAX)
			last.dane.rr[last.dane.n++] = a.rr[i].tlsa;
	}
	strlcpy(last.host, host, sizeof(last.host));
	last.port = port;
	last.valid = 1;
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

/* smtp_dane_level - may, encrypt or dane for target t; -1 skip it */
int
smtp_dane_level(const struct dns_config *dc, const char *qid,
    const struct smtp_route *rt, const struct smtp_target *t,
    const char *nexthop, struct tls_dane *d, enum smtp_tls_level *level,
    char *why, size_t whysize)
{
	char name[DNS_NAME_MAX + 1], rr[128];
	int port = target_port(t);

	if (!dc->dnssec)
		return fallback(qid, t, "dns_dnssec is off", level);
	if (!rt->mx_secure)
		return fallback(qid, t, "the MX records are not DNSSEC-signed",
		    level);
	if (!t->secure)
		return fallback(qid, t, "its address records are not "
		    "DNSSEC-signed", level);
	if (dns_tlsa_name(t->host, port, name, sizeof(name)) != 0 ||
	    tlsa_lookup(dc, t->host, port) != 0)
		return fallback(qid, t, "no TLSA name for it", level);
	if (dns_status_temporary(last.status)) {
		/* RFC 7672 2.2.1: a signed host whose TLSA records cannot
		 * be had may have them; it is not to be used. */
		snprintf(why, whysize, "TLSA lookup of %s failed: %s (level "
		    "dane; the host is DNSSEC-signed, so mail waits)", name,
		    dns_status_text(last.status));
		log_info("%s: TLS policy dane for %s: %s", qid, t->host, why);
		return -1;
	}
	if (last.status != DNS_OK)
		return fallback(qid, t, "no TLSA records", level);
	if (!last.secure)
		return fallback(qid, t, "its TLSA records are not "
		    "DNSSEC-signed", level);
	if (last.dane.n == 0) {
		log_info("%s: TLS policy dane-encrypt for %s: none of its %d "
		    "TLSA record(s) is usable; TLS required, not authenticated",
		    qid, t->host, last.nrecords);
		*level = SMTP_TLS_ENCRYPT;
		return 0;
	}
	*d = last.dane;
	strlcpy(d->base, t->host, sizeof(d->base));
	strlcpy(d->nexthop, nexthop, sizeof(d->nexthop));
	dns_tlsa_format(&d->rr[0], rr, sizeof(rr));
	log_info("%s: TLS policy dane for %s: %d usable TLSA record(s) at %s "
	    "(%s%s)", qid, t->host, d->n, name, rr, d->n > 1 ? ", ..." : "");
	*level = SMTP_TLS_DANE;
	return 0;
}
