/*
 * smtp_route - from a next hop to the ordered list of server addresses to
 * try (RFC 5321 5.1, RFC 7505), or the reason there are none.
 *
 * Used by transport_smtp.c's connection processes.
 */
#ifndef TERN_SMTP_ROUTE_H
#define TERN_SMTP_ROUTE_H

#include <sys/socket.h>

#include "dns.h"
#include "msg_codec.h"
#include "settings.h"

#define ROUTE_TARGETS_MAX	100
#define ROUTE_NEXTHOP_MAX	(MSG_NEXTHOP_MAX + 1)	/* a buffer */

struct smtp_target {
	char			 host[DNS_NAME_MAX + 1];
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 pref;		/* of its MX record */
	int			 secure;	/* its address came DNSSEC-
						   validated (dns_answer) */
	/* host is an alias: the CNAME chain of its address lookup led
	 * here (dns_answer.canon); "" when host is no CNAME. */
	char			 canon[DNS_NAME_MAX + 1];
};

struct smtp_route {
	int			 n;
	struct smtp_target	 t[ROUTE_TARGETS_MAX];
	/* The MX RRset (or its validated absence, or a bracketed next hop
	 * that needs none) came DNSSEC-validated: RFC 7672 2.2.1, DANE can
	 * apply to the targets whose addresses are secure too. */
	int			 mx_secure;
	/* when n == 0: what to tell every recipient */
	int			 status;	/* enum deliver_status */
	int			 site;		/* enum site_status */
	char			 dsn[16];
	char			 text[512];
};

/*
 * smtp_route_nexthop_parse - "[host]:port", "[host]", "domain:port" or
 * "domain" into host (without brackets), *port (default_port when none)
 * and *literal (1 for the bracketed form: use host as is, no MX lookup).
 * 0, or -1 when malformed.
 */
int smtp_route_nexthop_parse(const char *nexthop, char *host, size_t hostsize,
    int *port, int *literal, int default_port);

/*
 * smtp_route_resolve - the addresses for nexthop, at most
 * smtp_mx_address_limit, in the order to try them; or n == 0 with the
 * status, site status, dsn and text to report.
 */
void smtp_route_resolve(const struct settings *set, const struct dns_config *dc,
    const char *nexthop, struct smtp_route *rt);

#endif
