/*
 * dane_check - configuration checks for DANE (dane_check.h).  Read-only,
 * like all of tern_check.
 *
 * Why loopback only: the AD bit is one bit of an unsigned UDP answer.
 * From a validating resolver on this host it cannot be forged by anyone
 * in the network; from a resolver elsewhere anyone in the path can set
 * it, and DANE would then trust forged TLSA records (Postfix demands the
 * same, RFC 7672 section 8).
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dane_check.h"
#include "dns.h"
#include "map.h"
#include "tls_policy.h"

/* server_loopback - ss is 127/8, ::1 or an IPv4-mapped 127/8 address */
static int
server_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family != AF_INET6)
		return 0;
	if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
		return 1;
	return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) &&
	    sin6->sin6_addr.s6_addr[12] == 127;
}

/* check_servers - every name server dns_dnssec would trust is local */
static void
check_servers(const struct settings *s, const struct tern_check *c)
{
	struct dns_config dc;
	char err[256], addr[INET6_ADDRSTRLEN], msg[512];

	if (dns_config_load(&dc, s->dns_servers.v, s->dns_servers.n,
	    "/etc/resolv.conf", err, sizeof(err)) != 0)
		return;		/* the settings check reports it */
	for (int i = 0; i < dc.nserver; i++) {
		const struct sockaddr_storage *ss = &dc.server[i];

		if (server_loopback(ss))
			continue;
		inet_ntop(ss->ss_family, ss->ss_family == AF_INET ?
		    (const void *)&((const struct sockaddr_in *)ss)->sin_addr :
		    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr,
		    addr, sizeof(addr));
		snprintf(msg, sizeof(msg), "dns_dnssec: name server %s (%s) is "
		    "not on a loopback address: its AD bit can be forged on "
		    "the way, and DANE would trust forged TLSA records; use a "
		    "validating resolver on this host", addr,
		    s->dns_servers.n > 0 ? "dns_servers" : "/etc/resolv.conf");
		c->warn(msg, c->arg);
	}
}

/* policy_entry_dane - a map entry whose level is dane sets *arg */
static void
policy_entry_dane(const char *key, size_t klen, const char *val,
    size_t vlen, void *arg)
{
	const char *w = "dane";

	(void)key;
	(void)klen;
	/* The level is the value's first word. */
	while (vlen > 0 && (*val == ' ' || *val == '\t')) {
		val++;
		vlen--;
	}
	if (vlen >= 4 && strncasecmp(val, w, 4) == 0 &&
	    (vlen == 4 || val[4] == ' ' || val[4] == '\t'))
		*(int *)arg = 1;
}

/* dane_check - where AD comes from; dane without dns_dnssec */
void
dane_check(const struct settings *s, const struct tern_check *c)
{
	struct map *m;
	char err[512];
	int dane = s->smtp_tls_security_level == SMTP_TLS_DANE;

	if (s->dns_dnssec) {
		check_servers(s, c);
		return;
	}
	if (!dane && s->smtp_tls_policy_map[0] != '\0' &&
	    (m = map_open(s->smtp_tls_policy_map, err, sizeof(err))) != NULL) {
		(void)map_walk(m, policy_entry_dane, &dane);
		map_close(m);
	}
	if (dane)
		c->warn("smtp_tls_security_level dane needs dns_dnssec = yes: "
		    "without it no TLSA record is used, and dane is may",
		    c->arg);
}
