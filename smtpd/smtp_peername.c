/*
 * smtp_peername - forward-confirmed reverse DNS for smtpd's clients.  See
 * smtp_peername.h.
 *
 * Why forward-confirm: whoever controls the reverse zone of an address
 * can make its PTR record say anything ("mail.example.com"); only when
 * the name's own A/AAAA records, controlled by the owner of that name,
 * point back at the address is the name worth printing in a Received:
 * header that a later reader may trust.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dns.h"
#include "log.h"
#include "smtp_peername.h"

/* PTR names tried for the forward check: one is the norm, a few are seen. */
#define PEERNAME_PTR_MAX	4
/* Bounds for the hosts file: it is trusted, but still only a file. */
#define HOSTS_MAX		1024
#define HOSTS_FILE_MAX		(1024 * 1024)

struct hosts_entry {
	int		af;
	unsigned char	a[16];
	char		name[DNS_NAME_MAX + 1];
};
static struct hosts_entry hosts[HOSTS_MAX];
static size_t nhosts;

/* hosts_line - keep the first name of one hosts(5) line, if well formed */
static void
hosts_line(char *line)
{
	char *save = NULL, *ip, *name, *hash = strchr(line, '#');
	struct hosts_entry *h = &hosts[nhosts];

	if (hash != NULL)
		*hash = '\0';
	if ((ip = strtok_r(line, " \t\r\n", &save)) == NULL ||
	    (name = strtok_r(NULL, " \t\r\n", &save)) == NULL ||
	    !dns_hostname_valid(name) || strlen(name) >= sizeof(h->name))
		return;
	memset(h, 0, sizeof(*h));
	if (inet_pton(AF_INET, ip, h->a) == 1)
		h->af = AF_INET;
	else if (inet_pton(AF_INET6, ip, h->a) == 1)
		h->af = AF_INET6;
	else
		return;
	for (size_t i = 0; i < nhosts; i++)
		if (hosts[i].af == h->af && memcmp(hosts[i].a, h->a, 16) == 0)
			return;		/* the first line for an address wins */
	strlcpy(h->name, name, sizeof(h->name));
	nhosts++;
}

/* smtp_peername_hosts_load - the hosts file, read once */
int
smtp_peername_hosts_load(const char *path)
{
	char line[1024];
	size_t total = 0;
	FILE *fp;

	nhosts = 0;
	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	while (nhosts < HOSTS_MAX && total < HOSTS_FILE_MAX &&
	    fgets(line, sizeof(line), fp) != NULL) {
		total += strlen(line);
		hosts_line(line);
	}
	fclose(fp);
	return (int)nhosts;
}

/* hosts_find - the hosts file's name for address a, or NULL */
static const char *
hosts_find(int af, const void *a)
{
	size_t len = af == AF_INET ? 4 : 16;

	for (size_t i = 0; i < nhosts; i++)
		if (hosts[i].af == af && memcmp(hosts[i].a, a, len) == 0)
			return hosts[i].name;
	return NULL;
}

/* peer_addr - the address octets of sa (IPv4-mapped IPv6 as IPv4) */
static const void *
peer_addr(const struct sockaddr *sa, int *af)
{
	const struct sockaddr_in6 *s6;

	*af = sa->sa_family;
	if (*af == AF_INET)
		return &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	if (*af != AF_INET6)
		return NULL;
	s6 = (const void *)sa;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		*af = AF_INET;
		return &s6->sin6_addr.s6_addr[12];
	}
	return &s6->sin6_addr;
}

/* smtp_peername_confirmed - an address record of ans is a */
int
smtp_peername_confirmed(const struct dns_answer *ans, int af, const void *a)
{
	uint16_t type = af == AF_INET ? DNS_T_A : DNS_T_AAAA;
	size_t len = af == AF_INET ? 4 : 16;

	for (int i = 0; i < ans->n; i++)
		if (ans->rr[i].type == type &&
		    memcmp(ans->rr[i].addr, a, len) == 0)
			return 1;
	return 0;
}

/* forward_check - name's A/AAAA records include a; warn as Postfix does */
static int
forward_check(const struct dns_config *c, const char *name, int af,
    const void *a, const char *addr, const struct timespec *deadline)
{
	static struct dns_answer fwd;	/* large: not on the stack */
	enum dns_status st;

	st = dns_lookup_until(c, name, af == AF_INET ? DNS_T_A : DNS_T_AAAA,
	    deadline, &fwd);
	if (st == DNS_OK && smtp_peername_confirmed(&fwd, af, a))
		return 1;
	/* The name passed dns_hostname_valid(): safe to log as it is. */
	if (st == DNS_OK || st == DNS_NODATA)
		log_warn("hostname %s does not resolve to address %s", name,
		    addr);
	else
		log_warn("hostname %s does not resolve to address %s: %s",
		    name, addr, dns_status_text(st));
	return 0;
}

/* smtp_peername_lookup - PTR, then the forward check, within budget_ms */
int
smtp_peername_lookup(const struct dns_config *c, const struct sockaddr *sa,
    const char *addr, long budget_ms, char *name, size_t size)
{
	static struct dns_answer ptr;	/* large: not on the stack */
	char rev[DNS_NAME_MAX + 1], vis[DNS_NAME_MAX * 4 + 1];
	struct timespec deadline;
	const void *a;
	int af;

	strlcpy(name, "unknown", size);
	if ((a = peer_addr(sa, &af)) == NULL)
		return 0;
	/* A name from the hosts file needs no confirmation: the file maps
	 * the name to this address itself. */
	const char *known = hosts_find(af, a);
	if (known != NULL && strlen(known) < size) {
		strlcpy(name, known, size);
		return 1;
	}
	if (dns_reverse_name(af, a, rev, sizeof(rev)) != 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += budget_ms / 1000;
	deadline.tv_nsec += (budget_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	if (dns_lookup_until(c, rev, DNS_T_PTR, &deadline, &ptr) != DNS_OK)
		return 0;
	for (int i = 0; i < ptr.n && i < PEERNAME_PTR_MAX; i++) {
		const char *host = ptr.rr[i].name;

		if (!dns_hostname_valid(host)) {
			log_warn("%s: PTR name %s is not a valid host name",
			    addr, log_vis(vis, sizeof(vis), host,
			    strlen(host)));
			continue;
		}
		if (strlen(host) >= size)
			continue;
		if (forward_check(c, host, af, a, addr, &deadline)) {
			strlcpy(name, host, size);
			return 1;
		}
	}
	return 0;
}
