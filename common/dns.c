/*
 * dns - a small stub resolver: query building, bounded answer parsing,
 * UDP/TCP transport, MX ordering, reverse (PTR) names.
 *
 * Called by the smtp transport of deliverd, by smtpd for its clients'
 * names (smtp_peername.c), and by the unit tests, which feed
 * dns_answer_parse() crafted packets.  Why not libresolv: its res_state
 * reads /etc/resolv.conf, which is not inside the chroot, handles a
 * non-53 server port only for UDP, and folds SERVFAIL and timeouts into
 * one TRY_AGAIN; mail needs to tell them apart and tests need a server on
 * a high port.  This file must never trust a length or a pointer from an
 * answer, never loop on compression pointers, and never wait longer than
 * timeout_ms per try, nor wait at all for a server that has said it will
 * not answer (SERVFAIL, REFUSED, NOTIMP), nor ask any server about the
 * locally served zones of RFC 6303 unless told to.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"

#define DNS_HDR		12
#define DNS_PTR_MAX	64	/* compression pointers followed per name */
#define DNS_CNAME_MAX	8	/* CNAME links followed inside one answer */
#define DNS_FLAG_QR	0x8000
#define DNS_FLAG_TC	0x0200
#define DNS_FLAG_RD	0x0100
#define DNS_FLAG_AD	0x0020
#define DNS_OPT_DO	0x80	/* in the first octet of the OPT flags */
#define DNS_RC_NOERR	0
#define DNS_RC_SERVFAIL	2
#define DNS_RC_NXDOMAIN	3
#define DNS_RC_REFUSED	5
#define DNS_T_OPT	41
#define DNS_C_IN	1

/* dns_status_text - a word for the log (static string) */
const char *
dns_status_text(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return "ok";
	case DNS_NODATA:
		return "no data";
	case DNS_NXDOMAIN:
		return "NXDOMAIN";
	case DNS_SERVFAIL:
		return "SERVFAIL";
	case DNS_TIMEOUT:
		return "timeout";
	case DNS_REFUSED:
		return "REFUSED";
	case DNS_ERROR:
		break;
	}
	return "error";
}

/* dns_status_temporary - SERVFAIL, REFUSED, timeouts and errors may pass */
int
dns_status_temporary(enum dns_status s)
{
	return s == DNS_SERVFAIL || s == DNS_TIMEOUT || s == DNS_ERROR ||
	    s == DNS_REFUSED;
}

/*
 * The locally served zones of RFC 6303 section 4, the one list of them.
 * Recursive servers answer these themselves (as empty zones) so that
 * queries about private and special addresses never leave the site; a
 * stub resolver that sends them to a server that refuses or forwards
 * them only waits.  RFC 6303 4.1 (RFC 1918), 4.2 (RFC 5735 special
 * IPv4 blocks), 4.3 (:: and ::1), 4.4 (fd00::/8, RFC 4193 locally
 * assigned), 4.5 (fe80::/10 link-local), 4.6 (2001:db8::/32, RFC 3849).
 */
static const char *const local_zones[] = {
	/* 4.1: 10/8, 172.16/12, 192.168/16 */
	"10.in-addr.arpa",
	"16.172.in-addr.arpa", "17.172.in-addr.arpa", "18.172.in-addr.arpa",
	"19.172.in-addr.arpa", "20.172.in-addr.arpa", "21.172.in-addr.arpa",
	"22.172.in-addr.arpa", "23.172.in-addr.arpa", "24.172.in-addr.arpa",
	"25.172.in-addr.arpa", "26.172.in-addr.arpa", "27.172.in-addr.arpa",
	"28.172.in-addr.arpa", "29.172.in-addr.arpa", "30.172.in-addr.arpa",
	"31.172.in-addr.arpa",
	"168.192.in-addr.arpa",
	/* 4.2: 0/8, 127/8, 169.254/16, TEST-NET-1, -2, -3, broadcast */
	"0.in-addr.arpa",
	"127.in-addr.arpa",
	"254.169.in-addr.arpa",
	"2.0.192.in-addr.arpa",
	"100.51.198.in-addr.arpa",
	"113.0.203.in-addr.arpa",
	"255.255.255.255.in-addr.arpa",
	/* 4.3: the unspecified address and the loopback address */
	"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"
	    ".ip6.arpa",
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"
	    ".ip6.arpa",
	/* 4.4: fd00::/8 */
	"d.f.ip6.arpa",
	/* 4.5: fe80::/10 */
	"8.e.f.ip6.arpa", "9.e.f.ip6.arpa", "a.e.f.ip6.arpa", "b.e.f.ip6.arpa",
	/* 4.6: 2001:db8::/32 */
	"8.b.d.0.1.0.0.2.ip6.arpa",
};

/*
 * zone_match - 2 when name is zone, 1 when it is under zone, else 0
 * (case-insensitive, a final dot on name ignored)
 */
static int
zone_match(const char *name, const char *zone)
{
	size_t ln = strlen(name), lz = strlen(zone);

	if (ln > 0 && name[ln - 1] == '.')
		ln--;
	if (ln < lz || strncasecmp(name + ln - lz, zone, lz) != 0)
		return 0;
	if (ln == lz)
		return 2;
	return name[ln - lz - 1] == '.' ? 1 : 0;
}

/* local_zone_match - zone_match against the first local zone that fits */
static int
local_zone_match(const char *name)
{
	int m;

	for (size_t i = 0; i < sizeof(local_zones) / sizeof(local_zones[0]);
	    i++)
		if ((m = zone_match(name, local_zones[i])) != 0)
			return m;
	return 0;
}

/* dns_name_local - at or under an RFC 6303 locally served zone */
int
dns_name_local(const char *name)
{
	return local_zone_match(name) != 0;
}

/* get16 - big-endian 16-bit value at p */
static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

/* put16 - store v big-endian at p */
static void
put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

/* dns_server_parse - "ip[:port]", "[v6][:port]" or a bare v6 address */
int
dns_server_parse(const char *entry, struct sockaddr_storage *ss,
    socklen_t *len)
{
	char host[64];
	const char *port = NULL, *end;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	size_t hlen;
	long p = 53;

	if (entry[0] == '[') {
		if ((end = strchr(entry, ']')) == NULL)
			return -1;
		hlen = (size_t)(end - entry - 1);
		entry++;
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return -1;
	} else if ((end = strchr(entry, ':')) != NULL &&
	    strchr(end + 1, ':') == NULL) {
		hlen = (size_t)(end - entry);
		port = end + 1;
	} else
		hlen = strlen(entry);
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, entry, hlen);
	host[hlen] = '\0';
	if (port != NULL) {
		char *ep;

		if (*port < '0' || *port > '9' || strlen(port) > 5)
			return -1;
		p = strtol(port, &ep, 10);
		if (*ep != '\0' || p < 1 || p > 65535)
			return -1;
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

/* config_defaults - no servers, 2 s per try, 2 rounds */
static void
config_defaults(struct dns_config *c)
{
	memset(c, 0, sizeof(*c));
	c->timeout_ms = 2000;
	c->attempts = 2;
	c->local_zones = 1;
}

/* config_localhost - 127.0.0.1:53, resolv.conf's own default */
static void
config_localhost(struct dns_config *c)
{
	if (c->nserver == 0 &&
	    dns_server_parse("127.0.0.1", &c->server[0], &c->server_len[0]) == 0)
		c->nserver = 1;
}

/* resolv_line - apply one resolv.conf line (NUL-terminated) to c */
static void
resolv_line(struct dns_config *c, char *line)
{
	char *word, *save = NULL, *opt;

	if ((word = strtok_r(line, " \t\r", &save)) == NULL)
		return;
	if (strcmp(word, "nameserver") == 0) {
		if ((word = strtok_r(NULL, " \t\r", &save)) == NULL ||
		    c->nserver >= DNS_MAX_SERVERS || strchr(word, '%') != NULL)
			return;
		/* resolv.conf has no port syntax; a bare address is port 53. */
		if (strchr(word, ']') == NULL && strchr(word, ':') != NULL &&
		    strchr(strchr(word, ':') + 1, ':') == NULL)
			return;
		if (dns_server_parse(word, &c->server[c->nserver],
		    &c->server_len[c->nserver]) == 0)
			c->nserver++;
		return;
	}
	if (strcmp(word, "options") != 0)
		return;
	while ((opt = strtok_r(NULL, " \t\r", &save)) != NULL) {
		int v;

		if (sscanf(opt, "timeout:%d", &v) == 1 && v >= 1 && v <= 30)
			c->timeout_ms = v * 1000;
		else if (sscanf(opt, "attempts:%d", &v) == 1 && v >= 1 &&
		    v <= 5)
			c->attempts = v;
	}
}

/* dns_config_resolv_conf - servers and options from resolv.conf text */
void
dns_config_resolv_conf(struct dns_config *c, const char *text, size_t len)
{
	char line[512];
	size_t i = 0, l;

	config_defaults(c);
	while (i < len) {
		l = 0;
		while (i < len && text[i] != '\n') {
			if (l < sizeof(line) - 1)
				line[l++] = text[i];
			i++;
		}
		i++;
		line[l] = '\0';
		if (line[0] != '#' && line[0] != ';')
			resolv_line(c, line);
	}
	config_localhost(c);
}

/* dns_config_load - from the dns_servers list, or from resolv.conf */
int
dns_config_load(struct dns_config *c, char *const *servers, size_t n,
    const char *resolv_path, char *err, size_t errsize)
{
	char buf[8192];
	ssize_t got;
	size_t i;
	int fd;

	if (n == 0) {
		got = 0;
		if ((fd = open(resolv_path, O_RDONLY | O_CLOEXEC)) != -1) {
			got = read(fd, buf, sizeof(buf));
			close(fd);
		}
		dns_config_resolv_conf(c, buf, got > 0 ? (size_t)got : 0);
		return 0;
	}
	config_defaults(c);
	for (i = 0; i < n && c->nserver < DNS_MAX_SERVERS; i++) {
		if (dns_server_parse(servers[i], &c->server[c->nserver],
		    &c->server_len[c->nserver]) != 0) {
			snprintf(err, errsize, "bad DNS server \"%s\"",
			    servers[i]);
			return -1;
		}
		c->nserver++;
	}
	return 0;
}

/* dns_query_build - header, question, EDNS0 OPT */
size_t
dns_query_build(unsigned char *buf, size_t bufsize, uint16_t id,
    const char *name, uint16_t qtype)
{
	size_t pos = DNS_HDR, nlen = strlen(name);
	const char *p = name, *dot;

	if (nlen > 0 && name[nlen - 1] == '.')
		nlen--;
	if (nlen == 0 || nlen > DNS_NAME_MAX ||
	    bufsize < DNS_HDR + nlen + 2 + 4 + 11)
		return 0;
	memset(buf, 0, DNS_HDR);
	put16(buf, id);
	put16(buf + 2, DNS_FLAG_RD);
	put16(buf + 4, 1);	/* QDCOUNT */
	put16(buf + 10, 1);	/* ARCOUNT: OPT */
	while (p < name + nlen) {
		size_t l;

		dot = memchr(p, '.', (size_t)(name + nlen - p));
		l = dot != NULL ? (size_t)(dot - p) : (size_t)(name + nlen - p);
		if (l == 0 || l > 63)
			return 0;
		buf[pos++] = (unsigned char)l;
		memcpy(buf + pos, p, l);
		pos += l;
		p += l + (dot != NULL);
	}
	buf[pos++] = 0;
	put16(buf + pos, qtype);
	put16(buf + pos + 2, DNS_C_IN);
	pos += 4;
	/* OPT: root name, type 41, class = UDP size, ttl 0, no options */
	buf[pos++] = 0;
	put16(buf + pos, DNS_T_OPT);
	put16(buf + pos + 2, DNS_UDP_MAX);
	memset(buf + pos + 4, 0, 6);
	return pos + 10;
}

/* dns_query_dnssec - DO in the OPT record that ends the query */
void
dns_query_dnssec(unsigned char *q, size_t qlen)
{
	/* The OPT record is the last 11 octets: root name, type, class
	 * (the UDP size), then the TTL: extended rcode, version, and the
	 * flags whose top bit is DO; then RDLENGTH. */
	if (qlen >= DNS_HDR + 11)
		q[qlen - 4] |= DNS_OPT_DO;
}

/*
 * name_read - decode the (possibly compressed) name at *pos into out as
 * lowercase text without the final dot ("" for the root), advancing *pos
 * past it.  Pointers must point backwards and at most DNS_PTR_MAX are
 * followed, so a hostile packet cannot make us loop.  0 or -1.
 */
static int
name_read(const unsigned char *pkt, size_t len, size_t *pos, char *out,
    size_t outsize)
{
	size_t p = *pos, o = 0, end = 0;
	int jumps = 0;

	for (;;) {
		if (p >= len)
			return -1;
		unsigned c = pkt[p];
		if ((c & 0xC0) == 0xC0) {
			if (p + 1 >= len || ++jumps > DNS_PTR_MAX)
				return -1;
			size_t target = ((c & 0x3F) << 8) | pkt[p + 1];
			if (target >= p)
				return -1;
			if (end == 0)
				end = p + 2;
			p = target;
			continue;
		}
		if ((c & 0xC0) != 0)
			return -1;
		if (c == 0)
			break;
		if (p + 1 + c > len || o + c + 2 > outsize ||
		    o + c + 1 > DNS_NAME_MAX + 1)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (unsigned i = 0; i < c; i++) {
			unsigned char ch = pkt[p + 1 + i];

			/* A dot or NUL inside a label cannot be written as text;
			 * control, space and 8-bit octets have no business in
			 * a mail host name, and would reach the logs. */
			if (ch == '.' || ch <= 0x20 || ch >= 0x7f)
				return -1;
			out[o++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
		}
		p += 1 + c;
	}
	out[o] = '\0';
	*pos = end != 0 ? end : p + 1;
	return 0;
}

/* dns_name_eq - see dns.h */
int
dns_name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/*
 * txt_read - a TXT record's character-strings (rdlen octets at p), joined
 * into rr->name; one too long for it, or holding a NUL, is kept cut and
 * marked (rr->txt_cut) rather than failing the whole answer.
 */
static int
txt_read(const unsigned char *p, size_t rdlen, struct dns_rr *rr)
{
	size_t i = 0, o = 0, n;

	while (i < rdlen) {
		n = p[i++];
		if (i + n > rdlen)
			return -1;
		for (; n > 0; n--, i++) {
			if (p[i] == '\0' || o + 1 >= sizeof(rr->name))
				rr->txt_cut = 1;
			else
				rr->name[o++] = (char)p[i];
		}
	}
	rr->name[o] = '\0';
	return 0;
}

/* rr_rdata - decode the rdata of an A, AAAA, MX, TXT or CNAME record */
static int
rr_rdata(const unsigned char *pkt, size_t len, size_t pos, size_t rdlen,
    struct dns_rr *rr)
{
	size_t p = pos;

	switch (rr->type) {
	case DNS_T_A:
		if (rdlen != 4)
			return -1;
		memcpy(rr->addr, pkt + pos, 4);
		return 0;
	case DNS_T_AAAA:
		if (rdlen != 16)
			return -1;
		memcpy(rr->addr, pkt + pos, 16);
		return 0;
	case DNS_T_TXT:
		return txt_read(pkt + pos, rdlen, rr);
	case DNS_T_MX:
		if (rdlen < 3)
			return -1;
		rr->pref = get16(pkt + pos);
		p += 2;
		/* fall through */
	case DNS_T_CNAME:
	case DNS_T_PTR:
		if (name_read(pkt, len, &p, rr->name, sizeof(rr->name)) != 0 ||
		    p != pos + rdlen)
			return -1;
		return 0;
	case DNS_T_TLSA:
		return dns_tlsa_parse(pkt + pos, rdlen, &rr->tlsa);
	default:
		return 0;
	}
}

/* One answer record as read from the packet. */
struct raw_rr {
	char		owner[DNS_NAME_MAX + 1];
	struct dns_rr	rr;
};

/* answers_read - decode up to max records of the answer section */
static int
answers_read(const unsigned char *pkt, size_t len, size_t *pos, int count,
    struct raw_rr *out, int max, int *n)
{
	*n = 0;
	for (int i = 0; i < count; i++) {
		/* Records past max are decoded (to find the end of the
		 * section) into a scratch record and dropped. */
		struct raw_rr tmp = { 0 };
		struct raw_rr *r = *n < max ? &out[*n] : &tmp;
		size_t rdlen;

		memset(r, 0, sizeof(*r));
		if (name_read(pkt, len, pos, r->owner, sizeof(r->owner)) != 0 ||
		    *pos + 10 > len)
			return -1;
		r->rr.type = get16(pkt + *pos);
		rdlen = get16(pkt + *pos + 8);
		*pos += 10;
		if (*pos + rdlen > len)
			return -1;
		if (get16(pkt + *pos - 8) == DNS_C_IN &&
		    rr_rdata(pkt, len, *pos, rdlen, &r->rr) != 0)
			return -1;
		if (get16(pkt + *pos - 8) == DNS_C_IN && r != &tmp)
			(*n)++;
		*pos += rdlen;
	}
	return 0;
}

/* answers_select - records of qtype owned by name or its CNAME targets */
static void
answers_select(const struct raw_rr *raw, int n, const char *name,
    uint16_t qtype, struct dns_answer *out)
{
	char cur[DNS_NAME_MAX + 1];
	int hops, i, moved;

	strlcpy(cur, name, sizeof(cur));
	for (hops = 0; hops <= DNS_CNAME_MAX; hops++) {
		moved = 0;
		for (i = 0; i < n; i++) {
			if (!dns_name_eq(raw[i].owner, cur))
				continue;
			if (raw[i].rr.type == qtype && out->n < DNS_MAX_RR)
				out->rr[out->n++] = raw[i].rr;
			else if (raw[i].rr.type == DNS_T_CNAME &&
			    qtype != DNS_T_CNAME && !moved) {
				strlcpy(cur, raw[i].rr.name, sizeof(cur));
				moved = 1;
			}
		}
		if (moved)
			strlcpy(out->canon, cur, sizeof(out->canon));
		if (out->n > 0 || !moved)
			return;
	}
}

/*
 * answer_check - dns_answer_parse, also setting *answered when the packet
 * is the server's answer to this query: a well-formed one, or one whose
 * rcode says why there is none.  A packet that fails the checks is not
 * (it may be a spoofing attempt or a late reply), nor is a truncated one.
 */
static enum dns_status
answer_check(const unsigned char *pkt, size_t len, uint16_t id,
    const char *name, uint16_t qtype, struct dns_answer *out, int *truncated,
    int *answered)
{
	static struct raw_rr raw[DNS_MAX_RR];
	char qname[DNS_NAME_MAX + 1];
	size_t pos = DNS_HDR;
	uint16_t flags;
	int nraw;

	out->n = 0;
	out->secure = 0;
	out->canon[0] = '\0';
	*truncated = 0;
	*answered = 0;
	if (len < DNS_HDR || get16(pkt) != id)
		return DNS_ERROR;
	flags = get16(pkt + 2);
	if (!(flags & DNS_FLAG_QR) || get16(pkt + 4) != 1)
		return DNS_ERROR;
	if (flags & DNS_FLAG_TC) {
		*truncated = 1;
		return DNS_ERROR;
	}
	if (name_read(pkt, len, &pos, qname, sizeof(qname)) != 0 ||
	    pos + 4 > len || !dns_name_eq(qname, name) ||
	    get16(pkt + pos) != qtype || get16(pkt + pos + 2) != DNS_C_IN)
		return DNS_ERROR;
	pos += 4;
	/* Whether AD may be believed is the caller's to say (dns_lookup). */
	out->secure = (flags & DNS_FLAG_AD) != 0;
	switch (flags & 0xF) {
	case DNS_RC_NOERR:
		break;
	case DNS_RC_NXDOMAIN:
		*answered = 1;
		return DNS_NXDOMAIN;
	case DNS_RC_SERVFAIL:
		*answered = 1;
		out->secure = 0;
		return DNS_SERVFAIL;
	case DNS_RC_REFUSED:
		*answered = 1;
		out->secure = 0;
		return DNS_REFUSED;
	default:
		/* FORMERR, NOTIMP and the rest: this server will not help. */
		*answered = 1;
		out->secure = 0;
		return DNS_ERROR;
	}
	if (answers_read(pkt, len, &pos, get16(pkt + 6), raw, DNS_MAX_RR,
	    &nraw) != 0) {
		out->secure = 0;
		return DNS_ERROR;
	}
	*answered = 1;
	answers_select(raw, nraw, name, qtype, out);
	return out->n > 0 ? DNS_OK : DNS_NODATA;
}

/* dns_answer_parse - validate the packet against the query; pick records */
enum dns_status
dns_answer_parse(const unsigned char *pkt, size_t len, uint16_t id,
    const char *name, uint16_t qtype, struct dns_answer *out, int *truncated)
{
	int answered;

	return answer_check(pkt, len, id, name, qtype, out, truncated,
	    &answered);
}

/* elapsed_ms - milliseconds since start */
static long
elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 +
	    (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* wait_fd - poll fd for events until start + timeout; 1 ready, 0 timeout */
static int
wait_fd(int fd, short events, const struct timespec *start, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	long left;
	int r;

	for (;;) {
		left = timeout_ms - elapsed_ms(start);
		if (left <= 0)
			return 0;
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/*
 * query_udp - one query to one server over a connected UDP socket (so
 * only that server's datagrams arrive); answers with another id are
 * ignored, as a spoofing attempt or a late reply would be.  *answered
 * as answer_check() sets it.
 */
static enum dns_status
query_udp(const struct dns_config *c, int si, int timeout_ms,
    const unsigned char *q, size_t qlen, const char *name, uint16_t qtype,
    struct dns_answer *out, int *truncated, int *answered)
{
	unsigned char pkt[DNS_UDP_MAX];
	struct timespec start;
	enum dns_status st = DNS_TIMEOUT;
	ssize_t n;
	int fd;

	*truncated = *answered = 0;
	fd = socket(c->server[si].ss_family, SOCK_DGRAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (fd == -1)
		return DNS_ERROR;
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (connect(fd, (const struct sockaddr *)&c->server[si],
	    c->server_len[si]) != 0 || send(fd, q, qlen, 0) != (ssize_t)qlen) {
		close(fd);
		return DNS_ERROR;
	}
	while (wait_fd(fd, POLLIN, &start, timeout_ms) == 1) {
		n = recv(fd, pkt, sizeof(pkt), 0);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			/* ICMP port unreachable: nobody serves there. */
			st = DNS_ERROR;
			break;
		}
		st = answer_check(pkt, (size_t)n, get16(q), name, qtype,
		    out, truncated, answered);
		if (*answered || *truncated)
			break;
		st = DNS_TIMEOUT;	/* not ours: keep waiting */
	}
	close(fd);
	return st;
}

/* io_full - read or write exactly len octets before the deadline */
static int
io_full(int fd, unsigned char *buf, size_t len, int writing,
    const struct timespec *start, int timeout_ms)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		if (wait_fd(fd, writing ? POLLOUT : POLLIN, start,
		    timeout_ms) != 1)
			return -1;
		n = writing ? write(fd, buf + done, len - done) :
		    read(fd, buf + done, len - done);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* query_tcp - the same query over TCP (RFC 7766), after a truncation */
static enum dns_status
query_tcp(const struct dns_config *c, int si, int timeout_ms,
    const unsigned char *q, size_t qlen, const char *name, uint16_t qtype,
    struct dns_answer *out, int *answered)
{
	static unsigned char pkt[DNS_PKT_MAX];
	unsigned char lenbuf[2], qbuf[2 + 512];
	struct timespec start;
	enum dns_status st = DNS_TIMEOUT;
	size_t rlen;
	int fd, truncated;

	*answered = 0;
	if (qlen > sizeof(qbuf) - 2)
		return DNS_ERROR;
	fd = socket(c->server[si].ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (fd == -1)
		return DNS_ERROR;
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (connect(fd, (const struct sockaddr *)&c->server[si],
	    c->server_len[si]) != 0 && errno != EINPROGRESS) {
		close(fd);
		return DNS_ERROR;
	}
	put16(qbuf, (uint16_t)qlen);
	memcpy(qbuf + 2, q, qlen);
	if (io_full(fd, qbuf, qlen + 2, 1, &start, timeout_ms) == 0 &&
	    io_full(fd, lenbuf, 2, 0, &start, timeout_ms) == 0) {
		rlen = get16(lenbuf);
		st = io_full(fd, pkt, rlen, 0, &start, timeout_ms) == 0 ?
		    answer_check(pkt, rlen, get16(q), name, qtype, out,
		    &truncated, answered) : DNS_TIMEOUT;
	}
	close(fd);
	return st;
}

/* try_timeout - timeout_ms, cut to what is left before deadline (if any) */
static int
try_timeout(const struct dns_config *c, const struct timespec *deadline)
{
	struct timespec now;
	long left;

	if (deadline == NULL)
		return c->timeout_ms;
	clock_gettime(CLOCK_MONOTONIC, &now);
	left = (deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
	if (left <= 0)
		return 0;
	return left < c->timeout_ms ? (int)left : c->timeout_ms;
}

/* dns_lookup - servers in turn, attempts rounds; the first definite answer */
enum dns_status
dns_lookup(const struct dns_config *c, const char *name, uint16_t qtype,
    struct dns_answer *out)
{
	return dns_lookup_until(c, name, qtype, NULL, out);
}

/* dns_lookup_until - dns_lookup, giving up at deadline */
enum dns_status
dns_lookup_until(const struct dns_config *c, const char *name,
    uint16_t qtype, const struct timespec *deadline, struct dns_answer *out)
{
	unsigned char q[512];
	enum dns_status st, worst = DNS_TIMEOUT;
	size_t qlen;
	int round, si, truncated, tmo, answered, local, ndone = 0;
	int done[DNS_MAX_SERVERS] = { 0 };

	out->n = 0;
	out->secure = 0;
	out->canon[0] = '\0';
	qlen = dns_query_build(q, sizeof(q), (uint16_t)arc4random(), name,
	    qtype);
	if (qlen == 0)
		return DNS_NXDOMAIN;	/* not a valid domain name at all */
	if (c->dnssec)
		dns_query_dnssec(q, qlen);
	/* RFC 6303 zones are empty wherever they are served as the RFC
	 * says: the apex has no records but its SOA and NS, and nothing
	 * exists below it. */
	if (c->local_zones && (local = local_zone_match(name)) != 0)
		return local == 2 ? DNS_NODATA : DNS_NXDOMAIN;
	for (round = 0; round < c->attempts && ndone < c->nserver; round++) {
		for (si = 0; si < c->nserver; si++) {
			if (done[si])
				continue;
			if ((tmo = try_timeout(c, deadline)) <= 0) {
				out->n = 0;
				return DNS_TIMEOUT;
			}
			st = query_udp(c, si, tmo, q, qlen, name, qtype, out,
			    &truncated, &answered);
			if (truncated && (tmo = try_timeout(c, deadline)) > 0)
				st = query_tcp(c, si, tmo, q, qlen, name,
				    qtype, out, &answered);
			else if (truncated)
				st = DNS_TIMEOUT;
			if (st == DNS_OK || st == DNS_NODATA ||
			    st == DNS_NXDOMAIN) {
				/*
				 * AD means something only from a validating
				 * resolver that we asked with DO and reach
				 * over a path nobody can tamper with (a
				 * loopback address: "ternd -n" warns about
				 * others, tern_check.c); without dns_dnssec
				 * it is never believed.
				 */
				out->secure = c->dnssec && out->secure;
				return st;
			}
			/*
			 * A server that answered SERVFAIL, REFUSED or NOTIMP
			 * will answer so again: asking it again, or waiting
			 * for a better answer, only makes every lookup as
			 * slow as the deadline.  Its answer is more telling
			 * than a timeout; of several answers, the last.
			 */
			if (answered) {
				done[si] = 1;
				ndone++;
				worst = st;
			} else if (ndone == 0 && worst == DNS_TIMEOUT)
				worst = st;
		}
	}
	out->n = 0;
	out->secure = 0;
	out->canon[0] = '\0';
	return worst;
}

/* mx_swap - exchange two records */
static void
mx_swap(struct dns_rr *a, struct dns_rr *b)
{
	struct dns_rr t = *a;

	*a = *b;
	*b = t;
}

/* dns_mx_sort - insertion sort by preference, then shuffle each run */
void
dns_mx_sort(struct dns_rr *rr, int n)
{
	int i, j, start;

	for (i = 1; i < n; i++)
		for (j = i; j > 0 && rr[j - 1].pref > rr[j].pref; j--)
			mx_swap(&rr[j - 1], &rr[j]);
	for (start = 0; start < n; start = i) {
		for (i = start + 1; i < n && rr[i].pref == rr[start].pref; i++)
			;
		/* Fisher-Yates over [start, i) */
		for (j = i - 1; j > start; j--)
			mx_swap(&rr[j], &rr[start +
			    (int)arc4random_uniform((uint32_t)(j - start + 1))]);
	}
}

/* dns_reverse_name - in-addr.arpa or ip6.arpa name of an address */
int
dns_reverse_name(int af, const void *addr, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *a = addr;
	size_t o = 0;
	int i, n;

	if (af == AF_INET) {
		n = snprintf(buf, size, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2],
		    a[1], a[0]);
		return n < 0 || (size_t)n >= size ? -1 : 0;
	}
	if (af != AF_INET6 || size < 16 * 4 + sizeof("ip6.arpa"))
		return -1;
	/* Least significant nibble first, one label per nibble. */
	for (i = 15; i >= 0; i--) {
		buf[o++] = hex[a[i] & 0xF];
		buf[o++] = '.';
		buf[o++] = hex[a[i] >> 4];
		buf[o++] = '.';
	}
	strlcpy(buf + o, "ip6.arpa", size - o);
	return 0;
}

/* label_valid - one host name label of len octets */
static int
label_valid(const char *l, size_t len)
{
	size_t i;

	if (len == 0 || len > 63 || l[0] == '-' || l[len - 1] == '-')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)l[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '-' && c != '_')
			return 0;
	}
	return 1;
}

/* dns_hostname_valid - letters, digits, '-', '_'; no numeric last label */
int
dns_hostname_valid(const char *name)
{
	size_t len = strlen(name), l;
	const char *p = name, *last = name;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX || name[len - 1] == '.')
		return 0;
	while (p < name + len) {
		l = strcspn(p, ".");
		if (p + l > name + len)
			l = (size_t)(name + len - p);
		if (!label_valid(p, l))
			return 0;
		last = p;
		p += l + 1;
	}
	/* "1.2.3.4" as a PTR target would pass for the address itself. */
	return strspn(last, "0123456789") < (size_t)(name + len - last);
}
