/*
 * dns - a small stub resolver: MX, A, AAAA and TXT (MTA-STS) for the smtp
 * transport, PTR
 * (with the forward check done by the caller) for smtpd's client names.
 *
 * It sends its own queries (UDP, then TCP when the answer is truncated)
 * to the servers of dns_servers or /etc/resolv.conf, read once before the
 * process chroots.  Answers are untrusted: every length and compression
 * pointer is checked, and a malformed answer is a temporary failure.  The
 * result says precisely what happened, since mail treats NXDOMAIN
 * (permanent) and SERVFAIL or a timeout (temporary) differently.
 */
#ifndef TERN_DNS_H
#define TERN_DNS_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dns_tlsa.h"

#define DNS_MAX_SERVERS	4
#define DNS_NAME_MAX	253	/* text form, without the final dot */
#define DNS_MAX_RR	64	/* records kept from one answer */
#define DNS_PKT_MAX	65535
#define DNS_UDP_MAX	1232	/* EDNS0 buffer size we announce */

#define DNS_T_A		1
#define DNS_T_CNAME	5
#define DNS_T_PTR	12
#define DNS_T_MX	15
#define DNS_T_TXT	16
#define DNS_T_AAAA	28
#define DNS_T_TLSA	52

enum dns_status {
	DNS_OK = 0,		/* records of the type asked for */
	DNS_NODATA = 1,		/* the name exists, no records of that type */
	DNS_NXDOMAIN = 2,	/* the name does not exist */
	DNS_SERVFAIL = 3,	/* server failure (rcode 2) */
	DNS_TIMEOUT = 4,	/* no server answered in time */
	DNS_ERROR = 5,		/* malformed, network error, other rcodes */
	DNS_REFUSED = 6,	/* the server refused the query (rcode 5) */
};

struct dns_config {
	struct sockaddr_storage	 server[DNS_MAX_SERVERS];
	socklen_t		 server_len[DNS_MAX_SERVERS];
	int			 nserver;
	int			 timeout_ms;	/* per try */
	int			 attempts;	/* rounds over all servers */
	int			 local_zones;	/* answer dns_name_local()
						   names without a query */
	int			 dnssec;	/* DO bit in queries; AD bit of
						   answers trusted (dns_dnssec) */
};

/* One record from an answer; which fields are set depends on type. */
struct dns_rr {
	uint16_t	 type;
	uint16_t	 pref;			/* MX */
	char		 name[DNS_NAME_MAX + 1]; /* MX exchange ("" = root),
						    PTR target, TXT strings
						    joined */
	int		 txt_cut;		/* TXT: longer than name, or
						   held a NUL: not usable */
	unsigned char	 addr[16];		/* A (4 octets), AAAA (16) */
	struct dns_tlsa	 tlsa;			/* TLSA (dns_tlsa.h) */
};

struct dns_answer {
	int		 n;
	struct dns_rr	 rr[DNS_MAX_RR];
	/* With dns_config.dnssec: the server set AD, it validated the
	 * answer (records, or the proof that there are none), CNAMEs
	 * included.  Else 0. */
	int		 secure;
	/* The last target of the CNAMEs followed inside the answer, the
	 * owner of the records (or of none, for NODATA); "" when the name
	 * asked had no CNAME.  For DANE's TLSA base domain (RFC 7672
	 * 2.2.2). */
	char		 canon[DNS_NAME_MAX + 1];
};

/* dns_status_text - "NXDOMAIN", "SERVFAIL", "timeout", ... (static) */
const char *dns_status_text(enum dns_status s);
/* dns_status_temporary - true for statuses worth a retry later */
int dns_status_temporary(enum dns_status s);

/* dns_name_eq - two domain names alike, ignoring case and a final dot */
int dns_name_eq(const char *a, const char *b);

/*
 * dns_server_parse - "ip", "ip:port", "[ipv6]" or "[ipv6]:port" (a bare
 * IPv6 address also works) into ss/len, port 53 by default.  0 or -1.
 */
int dns_server_parse(const char *entry, struct sockaddr_storage *ss,
    socklen_t *len);

/*
 * dns_config_resolv_conf - the "nameserver" lines and "options timeout:N
 * attempts:N" of resolv.conf text (len octets) into c; defaults for the
 * rest, 127.0.0.1 when the text names no server.
 */
void dns_config_resolv_conf(struct dns_config *c, const char *text,
    size_t len);
/*
 * dns_config_load - c from servers (entries for dns_server_parse) when
 * n > 0, else from the file at resolv_path (a missing file means
 * 127.0.0.1).  0, or -1 with a reason in err for a bad entry.
 */
int dns_config_load(struct dns_config *c, char *const *servers, size_t n,
    const char *resolv_path, char *err, size_t errsize);

/*
 * dns_query_build - the wire form of a query for name/qtype with id, RD
 * set and an EDNS0 OPT record, into buf.  Returns its length, 0 when the
 * name is not a valid domain name or buf is too small.
 */
size_t dns_query_build(unsigned char *buf, size_t bufsize, uint16_t id,
    const char *name, uint16_t qtype);
/*
 * dns_query_dnssec - set the DO bit (RFC 3225) in the OPT record of the
 * query q (qlen octets, as dns_query_build made it): the server is to
 * validate the answer and say so with AD (RFC 4035 3.2.3).
 */
void dns_query_dnssec(unsigned char *q, size_t qlen);

/*
 * dns_answer_parse - check that pkt (len octets) answers the query
 * (id, name, qtype) and collect the records of type qtype that belong to
 * name, following CNAMEs inside the answer (out->canon says where they
 * led).  Returns the status (a
 * malformed or mismatched packet is DNS_ERROR); *truncated is set when TC
 * is.  DNS_OK always comes with out->n > 0; no records is DNS_NODATA.
 * out->secure is the AD bit of an answer (NOERROR or NXDOMAIN), else 0.
 */
enum dns_status dns_answer_parse(const unsigned char *pkt, size_t len,
    uint16_t id, const char *name, uint16_t qtype, struct dns_answer *out,
    int *truncated);

/*
 * dns_name_local - true when name (text, an optional final dot, any
 * case) is at or under one of the locally served zones of RFC 6303: the
 * reverse zones of private (RFC 1918, fd00::/8), loopback, link-local,
 * "this network", broadcast and documentation addresses.  No public
 * server can say anything useful about them.
 */
int dns_name_local(const char *name);

/*
 * dns_lookup - ask the configured servers for name/qtype: each server in
 * turn, attempts rounds, timeout_ms per try; TCP when truncated.  A
 * definite answer (records, NODATA, NXDOMAIN) ends the search.  A server
 * that answers with a failure (SERVFAIL, REFUSED, NOTIMP, ...) is left
 * at once for the next and not asked again; when every server has so
 * answered, the last answer ends the lookup (a temporary failure).  Only
 * servers that did not answer are tried again in the next round.  With
 * c->local_zones, a name dns_name_local() accepts is NXDOMAIN (NODATA
 * for a zone's apex) without a query.
 */
enum dns_status dns_lookup(const struct dns_config *c, const char *name,
    uint16_t qtype, struct dns_answer *out);
/*
 * dns_lookup_until - dns_lookup that also gives up, with DNS_TIMEOUT, at
 * deadline (CLOCK_MONOTONIC): no try waits past it, whatever timeout_ms
 * and attempts say.
 */
enum dns_status dns_lookup_until(const struct dns_config *c,
    const char *name, uint16_t qtype, const struct timespec *deadline,
    struct dns_answer *out);

/*
 * dns_reverse_name - the PTR query name of an address: af AF_INET (addr
 * 4 octets) gives "d.c.b.a.in-addr.arpa", AF_INET6 (16 octets) the 32
 * nibbles under ip6.arpa.  0, or -1 for another family or a small buf.
 */
int dns_reverse_name(int af, const void *addr, char *buf, size_t size);

/*
 * dns_hostname_valid - true when name (text, an optional final dot) is a
 * plausible host name: labels of letters, digits, '-' and '_', 1-63
 * octets, not beginning or ending with '-', at most DNS_NAME_MAX in all,
 * and a last label that is not all digits (which would pass for an
 * address).  What a PTR record names must pass this before it is used.
 */
int dns_hostname_valid(const char *name);

/*
 * dns_mx_sort - order MX records by preference, shuffling those of equal
 * preference (RFC 5321 5.1) so that load is shared.
 */
void dns_mx_sort(struct dns_rr *rr, int n);

#endif
