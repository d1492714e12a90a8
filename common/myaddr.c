/*
 * myaddr - this host's own addresses.  See myaddr.h.
 *
 * Called by smtpd (address literals at RCPT) and by the smtp transport
 * (every address it is about to connect to), each loading the table
 * once before it changes root.  Why the loopback and unspecified
 * addresses count whatever the interfaces say: every 127.0.0.0/8 address
 * and ::1 are this host on every Unix, and a connection to 0.0.0.0 or ::
 * goes to this host too (Linux and the BSDs treat it as a local address).
 * Why a wildcard listener makes all of them a loop: it accepts on every
 * one.  An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address
 * it carries, so that an AAAA record cannot hide 127.0.0.1.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "myaddr.h"

struct myaddr {
	int		af;		/* AF_INET or AF_INET6; 0 with any */
	unsigned char	a[16];
	int		port;		/* a listener's; 0 for an interface */
	int		any;		/* a listener on every address */
};

static struct myaddr mine[MYADDR_MAX];
static size_t nmine;

/* addr_norm - af/a with an IPv4-mapped IPv6 address as IPv4 (static) */
static const unsigned char *
addr_norm(int *af, const void *a)
{
	const unsigned char *u = a;
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0xff, 0xff };

	if (*af == AF_INET6 && memcmp(u, mapped, sizeof(mapped)) == 0) {
		*af = AF_INET;
		return u + 12;
	}
	return u;
}

/* mine_add - remember one address (port 0: an interface's) */
static void
mine_add(int af, const void *a, int port, int any)
{
	struct myaddr *m;
	const unsigned char *u;

	if (nmine >= MYADDR_MAX)
		return;
	m = &mine[nmine++];
	memset(m, 0, sizeof(*m));
	m->port = port;
	m->any = any;
	if (any)
		return;
	u = addr_norm(&af, a);
	m->af = af;
	memcpy(m->a, u, af == AF_INET ? 4 : 16);
}

/* addr_always_ours - loopback or unspecified: this host, always */
static int
addr_always_ours(int af, const unsigned char *a)
{
	static const unsigned char zero[16];

	if (af == AF_INET)
		return a[0] == 127 || memcmp(a, zero, 4) == 0;
	return IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)(const void *)a) ||
	    memcmp(a, zero, 16) == 0;
}

/* listen_add - the address(es) and port of one listen entry */
static void
listen_add(const char *entry)
{
	struct addrinfo hints, *res, *ai;
	unsigned char a[16];
	char host[256], port[8];
	int p;

	if (settings_listen_parse(entry, host, sizeof(host), port,
	    sizeof(port)) != 0)
		return;
	p = atoi(port);
	if (host[0] == '\0') {
		mine_add(0, NULL, p, 1);
		return;
	}
	if (inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host,
	    a) == 1) {
		int af = strchr(host, ':') != NULL ? AF_INET6 : AF_INET;
		static const unsigned char zero[16];

		mine_add(af, a, p, memcmp(a, zero, af == AF_INET ? 4 :
		    16) == 0);
		return;
	}
	/* A host name, resolved as ternd resolved it to bind. */
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0) {
		log_warn("listen address %s: cannot resolve %s; mail to it "
		    "will not be recognized as a loop", entry, host);
		return;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			mine_add(AF_INET, &((struct sockaddr_in *)(void *)
			    ai->ai_addr)->sin_addr, p, 0);
		else if (ai->ai_family == AF_INET6)
			mine_add(AF_INET6, &((struct sockaddr_in6 *)(void *)
			    ai->ai_addr)->sin6_addr, p, 0);
	}
	freeaddrinfo(res);
}

/* myaddr_load - interfaces, then every listen entry */
int
myaddr_load(const struct settings *s)
{
	const struct strlist *lists[] = { &s->smtp_listen,
	    &s->submission_listen, &s->submissions_listen };
	struct ifaddrs *ifa, *i;

	nmine = 0;
	if (getifaddrs(&ifa) == 0) {
		for (i = ifa; i != NULL; i = i->ifa_next) {
			if (i->ifa_addr == NULL)
				continue;
			if (i->ifa_addr->sa_family == AF_INET)
				mine_add(AF_INET, &((struct sockaddr_in *)
				    (void *)i->ifa_addr)->sin_addr, 0, 0);
			else if (i->ifa_addr->sa_family == AF_INET6)
				mine_add(AF_INET6, &((struct sockaddr_in6 *)
				    (void *)i->ifa_addr)->sin6_addr, 0, 0);
		}
		freeifaddrs(ifa);
	} else
		log_warn("getifaddrs: cannot list this host's addresses");
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
		for (size_t k = 0; k < lists[l]->n; k++)
			listen_add(lists[l]->v[k]);
	return (int)nmine;
}

/* myaddr_address_ours - loopback, unspecified, interface or listen */
int
myaddr_address_ours(int af, const void *a)
{
	const unsigned char *u;

	if (af != AF_INET && af != AF_INET6)
		return 0;
	u = addr_norm(&af, a);
	if (addr_always_ours(af, u))
		return 1;
	for (size_t i = 0; i < nmine; i++)
		if (!mine[i].any && mine[i].af == af &&
		    memcmp(mine[i].a, u, af == AF_INET ? 4 : 16) == 0)
			return 1;
	return 0;
}

/* myaddr_listener_ours - a listen entry takes connections to sa */
int
myaddr_listener_ours(const struct sockaddr *sa)
{
	const struct sockaddr_in *sin = (const void *)sa;
	const struct sockaddr_in6 *sin6 = (const void *)sa;
	const unsigned char *u;
	const void *a;
	int af = sa->sa_family, port;

	if (af == AF_INET) {
		a = &sin->sin_addr;
		port = ntohs(sin->sin_port);
	} else if (af == AF_INET6) {
		a = &sin6->sin6_addr;
		port = ntohs(sin6->sin6_port);
	} else
		return 0;
	u = addr_norm(&af, a);
	for (size_t i = 0; i < nmine; i++) {
		if (mine[i].port != port || port == 0)
			continue;
		if (mine[i].any ? myaddr_address_ours(af, u) :
		    mine[i].af == af && memcmp(mine[i].a, u, af == AF_INET ?
		    4 : 16) == 0)
			return 1;
	}
	return 0;
}

/* myaddr_literal_ours - "[a.b.c.d]" or "[IPv6:...]" naming us */
int
myaddr_literal_ours(const char *domain)
{
	char inner[64];
	unsigned char a[16];
	size_t len = strlen(domain);

	if (len < 3 || domain[0] != '[' || domain[len - 1] != ']' ||
	    len - 2 >= sizeof(inner))
		return 0;
	memcpy(inner, domain + 1, len - 2);
	inner[len - 2] = '\0';
	if (strncasecmp(inner, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, inner + 5, a) == 1 &&
		    myaddr_address_ours(AF_INET6, a);
	return inet_pton(AF_INET, inner, a) == 1 &&
	    myaddr_address_ours(AF_INET, a);
}
