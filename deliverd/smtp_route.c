/*
 * smtp_route - MX resolution for the smtp transport.
 *
 * Called in a connection process before it connects anywhere.  RFC 5321
 * 5.1: MX records by preference, equal preferences shuffled; no MX means
 * the domain's own addresses (implicit MX); a list that names this host
 * is cut at this host's preference (mail must move towards the
 * destination, never back to us).  RFC 7505: a null MX means the domain
 * takes no mail.  NXDOMAIN is permanent, SERVFAIL or a timeout temporary.
 * It must never turn a temporary DNS failure into a bounce, and never
 * hand back an address where this host itself listens (myaddr.h):
 * whether MX records, an address literal or relayhost lead there, the
 * mail "loops back to myself" (5.4.6).
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "idna.h"
#include "log.h"
#include "msg.h"
#include "myaddr.h"
#include "smtp_route.h"

/* smtp_route_nexthop_parse - bracketed literal host or a domain, :port */
int
smtp_route_nexthop_parse(const char *nexthop, char *host, size_t hostsize,
    int *port, int *literal, int default_port)
{
	const char *end, *colon;
	size_t hlen;
	char *ep;
	long p;

	*literal = nexthop[0] == '[';
	if (*literal) {
		if ((end = strchr(nexthop, ']')) == NULL)
			return -1;
		hlen = (size_t)(end - nexthop - 1);
		nexthop++;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (colon == NULL && end[1] != '\0')
			return -1;
	} else {
		colon = strrchr(nexthop, ':');
		hlen = colon != NULL ? (size_t)(colon - nexthop) :
		    strlen(nexthop);
	}
	/* "[IPv6:2001:db8::1]" is RFC 5321 4.1.3's form of an IPv6
	 * literal: the address is what follows the tag. */
	if (*literal && hlen > 5 && strncasecmp(nexthop, "IPv6:", 5) == 0) {
		nexthop += 5;
		hlen -= 5;
	}
	if (hlen == 0 || hlen >= hostsize)
		return -1;
	memcpy(host, nexthop, hlen);
	host[hlen] = '\0';
	*port = default_port;
	if (colon != NULL) {
		p = strtol(colon + 1, &ep, 10);
		if (colon[1] == '\0' || *ep != '\0' || p < 1 || p > 65535)
			return -1;
		*port = (int)p;
	}
	return 0;
}

static void fail(struct smtp_route *, int, int, const char *, const char *,
    ...) __attribute__((format(printf, 5, 6)));

/* fail - no targets: what every recipient hears */
static void
fail(struct smtp_route *rt, int status, int site, const char *dsn,
    const char *fmt, ...)
{
	va_list ap;

	rt->n = 0;
	rt->status = status;
	rt->site = site;
	strlcpy(rt->dsn, dsn, sizeof(rt->dsn));
	va_start(ap, fmt);
	vsnprintf(rt->text, sizeof(rt->text), fmt, ap);
	va_end(ap);
}

/* target_add - append host's address (family, 4 or 16 octets), port,
 * whether DNSSEC validated it, and where host's CNAMEs led ("" none) */
static void
target_add(struct smtp_route *rt, const char *host, int family,
    const unsigned char *addr, int port, int secure, const char *canon)
{
	struct smtp_target *t;

	if (rt->n >= ROUTE_TARGETS_MAX)
		return;
	t = &rt->t[rt->n++];
	memset(t, 0, sizeof(*t));
	t->secure = secure;
	strlcpy(t->host, host, sizeof(t->host));
	strlcpy(t->canon, canon, sizeof(t->canon));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&t->ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		memcpy(&sin->sin_addr, addr, 4);
		t->len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t->ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, addr, 16);
		t->len = sizeof(*sin6);
	}
}

/*
 * host_addrs - A, then AAAA records of host appended to rt.  Returns the
 * worst DNS status seen when nothing was found, DNS_OK when something was.
 */
static enum dns_status
host_addrs(const struct dns_config *dc, struct smtp_route *rt,
    const char *host, int port)
{
	static struct dns_answer a;
	unsigned char lit[16];
	enum dns_status s4, s6;
	int i, before = rt->n;

	if (inet_pton(AF_INET, host, lit) == 1) {
		target_add(rt, host, AF_INET, lit, port, 0, "");
		return DNS_OK;
	}
	if (inet_pton(AF_INET6, host, lit) == 1) {
		target_add(rt, host, AF_INET6, lit, port, 0, "");
		return DNS_OK;
	}
	s4 = dns_lookup(dc, host, DNS_T_A, &a);
	for (i = 0; s4 == DNS_OK && i < a.n; i++)
		target_add(rt, host, AF_INET, a.rr[i].addr, port, a.secure,
		    a.canon);
	s6 = s4 == DNS_NXDOMAIN ? DNS_NXDOMAIN :
	    dns_lookup(dc, host, DNS_T_AAAA, &a);
	for (i = 0; s6 == DNS_OK && i < a.n; i++)
		target_add(rt, host, AF_INET6, a.rr[i].addr, port,
		    a.secure, a.canon);
	if (rt->n > before)
		return DNS_OK;
	if (dns_status_temporary(s4))
		return s4;
	if (dns_status_temporary(s6))
		return s6;
	return s4 == DNS_NXDOMAIN ? DNS_NXDOMAIN : DNS_NODATA;
}

/*
 * is_me - host name is ours, or the target address:port is one where
 * this host listens (a wildcard listener counts for all our addresses)
 */
static int
is_me(const struct settings *set, const char *host,
    const struct smtp_target *t)
{
	if (strcasecmp(host, set->myhostname) == 0)
		return 1;
	return t != NULL && myaddr_listener_ours((const struct sockaddr *)
	    &t->ss);
}

/* loop_fail - mail for what would come back here */
static void
loop_fail(struct smtp_route *rt, const char *what)
{
	fail(rt, DELIVER_PERMFAIL, SITE_OK, "5.4.6",
	    "mail for %s loops back to myself", what);
}

/* targets_loop - some target of rt is one of our listeners */
static int
targets_loop(const struct settings *set, const char *host,
    const struct smtp_route *rt)
{
	for (int j = 0; j < rt->n; j++)
		if (is_me(set, host, &rt->t[j]))
			return 1;
	return 0;
}

/*
 * relayhost_loop - a relayhost that is this host is a mistake in the
 * configuration, not in the recipients' addresses: defer, as Postfix
 * does for relayhost problems, so that mail waits to be delivered once
 * the setting is fixed instead of bouncing for every sender.
 */
static void
relayhost_loop(const struct settings *set, const char *nexthop,
    struct smtp_route *rt)
{
	if (rt->n != 0 || strcmp(rt->dsn, "5.4.6") != 0 ||
	    set->relayhost == NULL || strcasecmp(set->relayhost, nexthop) != 0)
		return;
	log_warn("relayhost %s loops back to myself: configuration problem",
	    nexthop);
	rt->status = DELIVER_TEMPFAIL;
	rt->site = SITE_UNREACHABLE;
	strlcpy(rt->dsn, "4.4.6", sizeof(rt->dsn));
}

/* dns_fail - a failed lookup of name/type as the route's outcome */
static void
dns_fail(struct smtp_route *rt, enum dns_status s, const char *name,
    const char *type)
{
	char why[64];

	snprintf(why, sizeof(why), "%s type=%s", name, type);
	if (dns_status_temporary(s))
		fail(rt, DELIVER_TEMPFAIL, SITE_DNS_TEMP, "4.4.3",
		    "Host or domain name not found. Name service error for "
		    "name=%s: %s", why, dns_status_text(s));
	else
		fail(rt, DELIVER_PERMFAIL, SITE_OK, "5.4.4",
		    "Host or domain name not found. Name service error for "
		    "name=%s: %s", why, s == DNS_NXDOMAIN ? "Host not found" :
		    "No address associated with hostname");
}

/* mx_targets - addresses of the MX hosts, cut where this host appears */
static void
mx_targets(const struct settings *set, const struct dns_config *dc,
    const char *domain, struct dns_answer *mx, int port,
    struct smtp_route *rt)
{
	enum dns_status s, worst = DNS_NODATA;
	int i, j, first, mypref = 65536;

	dns_mx_sort(mx->rr, mx->n);
	/* RFC 5321 5.1: only MX hosts more preferred than this one count. */
	for (i = 0; i < mx->n; i++)
		if (is_me(set, mx->rr[i].name, NULL) && mx->rr[i].pref < mypref)
			mypref = mx->rr[i].pref;
	for (i = 0; i < mx->n && mx->rr[i].pref < mypref; i++) {
		first = rt->n;
		s = host_addrs(dc, rt, mx->rr[i].name, port);
		for (j = first; j < rt->n; j++) {
			rt->t[j].pref = mx->rr[i].pref;
			if (is_me(set, mx->rr[i].name, &rt->t[j]))
				mypref = mx->rr[i].pref;
		}
		if (s != DNS_OK && (dns_status_temporary(s) ||
		    !dns_status_temporary(worst)))
			worst = s;
	}
	for (j = 0; j < rt->n && rt->t[j].pref < mypref; j++)
		;
	rt->n = j;
	if (rt->n > 0)
		return;
	if (mypref != 65536 && (mx->rr[0].pref >= mypref ||
	    !dns_status_temporary(worst)))
		loop_fail(rt, domain);
	else
		dns_fail(rt, worst, mx->rr[0].name, "A");
}

/*
 * route_alabels - a domain of an SMTPUTF8 address is asked of DNS by its
 * A-labels (RFC 5890, RFC 6531 3.2); an ASCII one is left alone.  0, or
 * -1 when it cannot be encoded.
 */
static int
route_alabels(char *host, size_t size)
{
	char a[ROUTE_NEXTHOP_MAX];
	size_t len = strlen(host);
	int ascii = 1;

	for (size_t i = 0; i < len; i++)
		ascii &= (unsigned char)host[i] < 0x80;
	if (ascii)
		return 0;
	if (idna_to_ascii(host, len, a, sizeof(a)) < 0 ||
	    strlcpy(host, a, size) >= size)
		return -1;
	return 0;
}

/* smtp_route_resolve - nexthop to addresses (or the reason for none) */
void
smtp_route_resolve(const struct settings *set, const struct dns_config *dc,
    const char *nexthop, struct smtp_route *rt)
{
	static struct dns_answer mx;
	char host[ROUTE_NEXTHOP_MAX];
	enum dns_status s;
	int port, literal, limit = (int)set->smtp_mx_address_limit;

	rt->n = 0;
	rt->mx_secure = 0;
	if (smtp_route_nexthop_parse(nexthop, host, sizeof(host), &port,
	    &literal, (int)set->smtp_port) != 0) {
		fail(rt, DELIVER_PERMFAIL, SITE_OK, "5.1.2",
		    "bad next hop \"%s\"", nexthop);
		return;
	}
	if (!literal && route_alabels(host, sizeof(host)) < 0) {
		fail(rt, DELIVER_PERMFAIL, SITE_OK, "5.1.2",
		    "bad internationalized domain name in next hop");
		return;
	}
	if (literal) {
		/* No MX lookup to be forged: the host's addresses decide. */
		rt->mx_secure = 1;
		if ((s = host_addrs(dc, rt, host, port)) != DNS_OK)
			dns_fail(rt, s, host, "A");
		else if (targets_loop(set, host, rt))
			loop_fail(rt, nexthop);
	} else {
		s = dns_lookup(dc, host, DNS_T_MX, &mx);
		rt->mx_secure = mx.secure;
		if (s == DNS_OK && mx.n == 1 && mx.rr[0].name[0] == '\0') {
			/* RFC 7505 3: a null MX; 5.1.10 per its section 4.2. */
			fail(rt, DELIVER_PERMFAIL, SITE_OK, "5.1.10",
			    "Recipient address rejected: Domain %s does not "
			    "accept mail (nullMX)", host);
			return;
		}
		if (s == DNS_OK)
			mx_targets(set, dc, host, &mx, port, rt);
		else if (s == DNS_NODATA) {
			/* No MX: the domain itself is the implicit MX. */
			if (is_me(set, host, NULL))
				loop_fail(rt, host);
			else if ((s = host_addrs(dc, rt, host, port)) != DNS_OK)
				dns_fail(rt, s, host, "A");
			else if (targets_loop(set, host, rt))
				loop_fail(rt, host);
		} else
			dns_fail(rt, s, host, "MX");
	}
	relayhost_loop(set, nexthop, rt);
	if (rt->n > limit)
		rt->n = limit;
}
