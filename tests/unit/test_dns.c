/*
 * test_dns - the stub resolver's pure parts: server entries, resolv.conf,
 * query building, and answer parsing fed crafted (and hostile) packets;
 * MX ordering.  No network.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "check_suites.h"
#include "dns.h"
#include "smtp_peername.h"

/* A packet under construction. */
struct pkt {
	unsigned char	b[2048];
	size_t		len;
};

static void
p16(struct pkt *p, unsigned v)
{
	p->b[p->len++] = (unsigned char)(v >> 8);
	p->b[p->len++] = (unsigned char)v;
}

static void
p32(struct pkt *p, unsigned long v)
{
	p16(p, (unsigned)(v >> 16));
	p16(p, (unsigned)(v & 0xFFFF));
}

static void
pname(struct pkt *p, const char *name)
{
	while (*name != '\0') {
		size_t l = strcspn(name, ".");

		p->b[p->len++] = (unsigned char)l;
		memcpy(p->b + p->len, name, l);
		p->len += l;
		name += l;
		if (*name == '.')
			name++;
	}
	p->b[p->len++] = 0;
}

static void
pbytes(struct pkt *p, const void *v, size_t n)
{
	memcpy(p->b + p->len, v, n);
	p->len += n;
}

/* header and question for name/qtype, with rcode and an answer count */
static void
start(struct pkt *p, unsigned id, const char *name, unsigned qtype,
    unsigned rcode, unsigned ancount)
{
	p->len = 0;
	p16(p, id);
	p16(p, 0x8180 | rcode);
	p16(p, 1);
	p16(p, ancount);
	p16(p, 0);
	p16(p, 0);
	pname(p, name);
	p16(p, qtype);
	p16(p, 1);
}

/* an RR header whose owner is a pointer to the question name (offset 12) */
static void
rr_hdr(struct pkt *p, unsigned type, unsigned rdlen)
{
	p16(p, 0xC00C);
	p16(p, type);
	p16(p, 1);
	p32(p, 300);
	p16(p, rdlen);
}

static void
mx(struct pkt *p, unsigned pref, const char *host)
{
	size_t at;

	rr_hdr(p, DNS_T_MX, 0);
	at = p->len - 2;
	p16(p, pref);
	pname(p, host);
	p->b[at] = (unsigned char)((p->len - at - 2) >> 8);
	p->b[at + 1] = (unsigned char)(p->len - at - 2);
}

START_TEST(test_server_parse)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	ck_assert_int_eq(dns_server_parse("127.0.0.1:5300", &ss, &len), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_int_eq(ntohs(sin->sin_port), 5300);
	ck_assert_int_eq(dns_server_parse("10.1.2.3", &ss, &len), 0);
	ck_assert_int_eq(ntohs(sin->sin_port), 53);
	ck_assert_int_eq(dns_server_parse("[::1]:5353", &ss, &len), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_int_eq(ntohs(sin6->sin6_port), 5353);
	ck_assert_int_eq(dns_server_parse("::1", &ss, &len), 0);
	ck_assert_int_eq(ntohs(sin6->sin6_port), 53);
	ck_assert_int_eq(dns_server_parse("[::1]", &ss, &len), 0);
	ck_assert_int_eq(dns_server_parse("127.0.0.1:0", &ss, &len), -1);
	ck_assert_int_eq(dns_server_parse("127.0.0.1:70000", &ss, &len), -1);
	ck_assert_int_eq(dns_server_parse("127.0.0.1:", &ss, &len), -1);
	ck_assert_int_eq(dns_server_parse("ns.example", &ss, &len), -1);
	ck_assert_int_eq(dns_server_parse("", &ss, &len), -1);
	ck_assert_int_eq(dns_server_parse("[::1]x", &ss, &len), -1);
}
END_TEST

START_TEST(test_resolv_conf)
{
	struct dns_config c;
	const char *t = "# comment\nsearch example.org\nnameserver 10.0.0.1\n"
	    "nameserver ::1\nnameserver bogus\noptions ndots:2 timeout:3 "
	    "attempts:4\n";

	dns_config_resolv_conf(&c, t, strlen(t));
	ck_assert_int_eq(c.nserver, 2);
	ck_assert_int_eq(c.timeout_ms, 3000);
	ck_assert_int_eq(c.attempts, 4);
	ck_assert_int_eq(c.server[1].ss_family, AF_INET6);
	dns_config_resolv_conf(&c, "", 0);
	ck_assert_int_eq(c.nserver, 1);		/* 127.0.0.1 */
}
END_TEST

START_TEST(test_query_build)
{
	unsigned char q[512];
	size_t n = dns_query_build(q, sizeof(q), 0x1234, "Mx.Example.", 15);

	/* 12 header + 12 name + 4 question + 11 OPT */
	ck_assert_uint_eq(n, 12 + 12 + 4 + 11);
	ck_assert_int_eq(q[0], 0x12);
	ck_assert_int_eq(q[12], 2);
	ck_assert_int_eq(memcmp(q + 13, "Mx", 2), 0);
	ck_assert_uint_eq(dns_query_build(q, sizeof(q), 1, "a..b", 1), 0);
	ck_assert_uint_eq(dns_query_build(q, sizeof(q), 1, "", 1), 0);
	ck_assert_uint_eq(dns_query_build(q, 20, 1, "example", 1), 0);
	char big[300];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_uint_eq(dns_query_build(q, sizeof(q), 1, big, 1), 0);
}
END_TEST

START_TEST(test_parse_mx)
{
	struct pkt p;
	struct dns_answer a;
	int tc;

	start(&p, 7, "b.test", DNS_T_MX, 0, 2);
	mx(&p, 20, "mx2.b.test");
	mx(&p, 10, "MX1.b.test");
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 7, "b.test", DNS_T_MX,
	    &a, &tc), DNS_OK);
	ck_assert_int_eq(a.n, 2);
	ck_assert_int_eq(a.rr[0].pref, 20);
	ck_assert_str_eq(a.rr[1].name, "mx1.b.test");
	/* wrong id, wrong question, not a response */
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 8, "b.test", DNS_T_MX,
	    &a, &tc), DNS_ERROR);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 7, "c.test", DNS_T_MX,
	    &a, &tc), DNS_ERROR);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 7, "b.test", DNS_T_A,
	    &a, &tc), DNS_ERROR);
	p.b[2] &= 0x7F;
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 7, "b.test", DNS_T_MX,
	    &a, &tc), DNS_ERROR);
}
END_TEST

START_TEST(test_parse_null_mx)
{
	struct pkt p;
	struct dns_answer a;
	int tc;

	start(&p, 1, "nullmx.test", DNS_T_MX, 0, 1);
	mx(&p, 0, "");
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 1, "nullmx.test",
	    DNS_T_MX, &a, &tc), DNS_OK);
	ck_assert_int_eq(a.n, 1);
	ck_assert_int_eq(a.rr[0].pref, 0);
	ck_assert_str_eq(a.rr[0].name, "");
}
END_TEST

START_TEST(test_parse_rcodes)
{
	struct pkt p;
	struct dns_answer a;
	int tc;

	start(&p, 1, "x.test", DNS_T_MX, 3, 0);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 1, "x.test", DNS_T_MX,
	    &a, &tc), DNS_NXDOMAIN);
	start(&p, 1, "x.test", DNS_T_MX, 2, 0);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 1, "x.test", DNS_T_MX,
	    &a, &tc), DNS_SERVFAIL);
	start(&p, 1, "x.test", DNS_T_MX, 5, 0);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 1, "x.test", DNS_T_MX,
	    &a, &tc), DNS_ERROR);
	start(&p, 1, "x.test", DNS_T_MX, 0, 0);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 1, "x.test", DNS_T_MX,
	    &a, &tc), DNS_NODATA);
	p.b[2] |= 0x02;		/* TC */
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 1, "x.test", DNS_T_MX,
	    &a, &tc), DNS_ERROR);
	ck_assert_int_eq(tc, 1);
}
END_TEST

START_TEST(test_parse_addresses_cname)
{
	struct pkt p;
	struct dns_answer a;
	unsigned char v4[4] = { 127, 0, 0, 2 }, v6[16] = { 0 };
	size_t at;
	int tc;

	v6[15] = 1;
	start(&p, 9, "www.test", DNS_T_A, 0, 3);
	/* www.test CNAME host.test; host.test A 127.0.0.2; other A ignored */
	rr_hdr(&p, DNS_T_CNAME, 11);
	at = p.len;
	pname(&p, "host.test");
	ck_assert_uint_eq(p.len - at, 11);
	p16(&p, 0xC000 | (unsigned)at);
	p16(&p, DNS_T_A);
	p16(&p, 1);
	p32(&p, 1);
	p16(&p, 4);
	pbytes(&p, v4, 4);
	pname(&p, "other.test");
	p16(&p, DNS_T_A);
	p16(&p, 1);
	p32(&p, 1);
	p16(&p, 4);
	pbytes(&p, "\1\2\3\4", 4);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 9, "www.test", DNS_T_A,
	    &a, &tc), DNS_OK);
	ck_assert_int_eq(a.n, 1);
	ck_assert_int_eq(memcmp(a.rr[0].addr, v4, 4), 0);

	start(&p, 9, "h.test", DNS_T_AAAA, 0, 1);
	rr_hdr(&p, DNS_T_AAAA, 16);
	pbytes(&p, v6, 16);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 9, "h.test",
	    DNS_T_AAAA, &a, &tc), DNS_OK);
	ck_assert_int_eq(a.rr[0].addr[15], 1);
	/* an A record with a wrong rdata length is malformed */
	start(&p, 9, "h.test", DNS_T_A, 0, 1);
	rr_hdr(&p, DNS_T_A, 5);
	pbytes(&p, "\1\2\3\4\5", 5);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 9, "h.test", DNS_T_A,
	    &a, &tc), DNS_ERROR);
}
END_TEST

START_TEST(test_parse_hostile)
{
	struct pkt p;
	struct dns_answer a;
	size_t at;
	int tc;

	/* a compression pointer to itself */
	start(&p, 1, "x.test", DNS_T_MX, 0, 1);
	at = p.len;
	p16(&p, 0xC000 | (unsigned)at);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 1, "x.test", DNS_T_MX,
	    &a, &tc), DNS_ERROR);
	/* a forward pointer */
	start(&p, 1, "x.test", DNS_T_MX, 0, 1);
	p16(&p, 0xC000 | 0x200);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 1, "x.test", DNS_T_MX,
	    &a, &tc), DNS_ERROR);
	/* rdlength past the end */
	start(&p, 1, "x.test", DNS_T_MX, 0, 1);
	rr_hdr(&p, DNS_T_MX, 200);
	p16(&p, 10);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 1, "x.test", DNS_T_MX,
	    &a, &tc), DNS_ERROR);
	/* MX whose name runs past its rdata */
	start(&p, 1, "x.test", DNS_T_MX, 0, 1);
	rr_hdr(&p, DNS_T_MX, 4);
	p16(&p, 10);
	pname(&p, "mx.x.test");
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 1, "x.test", DNS_T_MX,
	    &a, &tc), DNS_ERROR);
	/* more answers claimed than present */
	start(&p, 1, "x.test", DNS_T_MX, 0, 5);
	mx(&p, 10, "mx.x.test");
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 1, "x.test", DNS_T_MX,
	    &a, &tc), DNS_ERROR);
	/* a label with a dot in it */
	start(&p, 1, "x.test", DNS_T_MX, 0, 1);
	mx(&p, 10, "mx");
	p.b[p.len - 2] = '.';
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 1, "x.test", DNS_T_MX,
	    &a, &tc), DNS_ERROR);
	/* a host name with a line break or an 8-bit octet (log injection) */
	start(&p, 1, "x.test", DNS_T_MX, 0, 1);
	mx(&p, 10, "mx");
	p.b[p.len - 2] = '\n';
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 1, "x.test", DNS_T_MX,
	    &a, &tc), DNS_ERROR);
	start(&p, 1, "x.test", DNS_T_MX, 0, 1);
	mx(&p, 10, "mx");
	p.b[p.len - 2] = (char)0xE9;
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 1, "x.test", DNS_T_MX,
	    &a, &tc), DNS_ERROR);
	/* every truncation of a good packet fails cleanly */
	start(&p, 1, "x.test", DNS_T_MX, 0, 1);
	mx(&p, 10, "mx.x.test");
	for (size_t l = 0; l < p.len; l++)
		ck_assert_int_eq(dns_answer_parse(p.b, l, 1, "x.test",
		    DNS_T_MX, &a, &tc), DNS_ERROR);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 1, "x.test", DNS_T_MX,
	    &a, &tc), DNS_OK);
}
END_TEST

/* a PTR record for the question name, pointing at host */
static void
ptr(struct pkt *p, const char *host)
{
	size_t at;

	rr_hdr(p, DNS_T_PTR, 0);
	at = p->len - 2;
	pname(p, host);
	p->b[at] = (unsigned char)((p->len - at - 2) >> 8);
	p->b[at + 1] = (unsigned char)(p->len - at - 2);
}

START_TEST(test_reverse_name)
{
	char buf[128], small[20];
	unsigned char v4[4] = { 192, 0, 2, 1 }, v6[16];

	ck_assert_int_eq(dns_reverse_name(AF_INET, v4, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "1.2.0.192.in-addr.arpa");
	v4[0] = 127; v4[1] = 0; v4[2] = 0; v4[3] = 2;
	ck_assert_int_eq(dns_reverse_name(AF_INET, v4, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "2.0.0.127.in-addr.arpa");
	ck_assert_int_eq(dns_reverse_name(AF_INET, v4, small, 10), -1);
	/* RFC 3596 2.5's own example */
	ck_assert_int_eq(inet_pton(AF_INET6, "4321:0:1:2:3:4:567:89ab", v6),
	    1);
	ck_assert_int_eq(dns_reverse_name(AF_INET6, v6, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0."
	    "0.0.0.0.0.1.2.3.4.ip6.arpa");
	ck_assert_int_eq(inet_pton(AF_INET6, "::1", v6), 1);
	ck_assert_int_eq(dns_reverse_name(AF_INET6, v6, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.0.0.0.0.0.ip6.arpa");
	ck_assert_int_eq(strlen(buf), 72);
	ck_assert_int_eq(dns_reverse_name(AF_INET6, v6, buf, 72), -1);
	ck_assert_int_eq(dns_reverse_name(AF_INET6, v6, buf, 73), 0);
	ck_assert_int_eq(dns_reverse_name(AF_UNIX, v6, buf, sizeof(buf)), -1);
}
END_TEST

START_TEST(test_parse_ptr)
{
	static struct pkt p;
	static struct dns_answer a;
	const char *q = "1.2.0.192.in-addr.arpa";
	size_t tgt;
	int tc;

	start(&p, 7, q, DNS_T_PTR, 0, 1);
	ptr(&p, "Mail.Example.TEST");
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 7, q, DNS_T_PTR, &a,
	    &tc), DNS_OK);
	ck_assert_int_eq(a.n, 1);
	ck_assert_int_eq(a.rr[0].type, DNS_T_PTR);
	ck_assert_str_eq(a.rr[0].name, "mail.example.test");
	/* two names: both kept, in order */
	start(&p, 7, q, DNS_T_PTR, 0, 2);
	ptr(&p, "a.test");
	ptr(&p, "b.test");
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 7, q, DNS_T_PTR, &a,
	    &tc), DNS_OK);
	ck_assert_int_eq(a.n, 2);
	ck_assert_str_eq(a.rr[1].name, "b.test");
	/* RFC 2317 classless delegation: a CNAME, then the PTR */
	start(&p, 7, q, DNS_T_PTR, 0, 2);
	rr_hdr(&p, DNS_T_CNAME, 17);
	tgt = p.len;
	pname(&p, "1.0-25.sub.arpa");
	p16(&p, 0xC000 | (unsigned)tgt);
	p16(&p, DNS_T_PTR);
	p16(&p, 1);
	p32(&p, 300);
	p16(&p, 8);
	pname(&p, "h.test");
	ck_assert_int_eq(p.len - tgt, 17 + 2 + 10 + 8);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 7, q, DNS_T_PTR, &a,
	    &tc), DNS_OK);
	ck_assert_int_eq(a.n, 1);
	ck_assert_str_eq(a.rr[0].name, "h.test");
	/* NXDOMAIN, and an answer for another name's PTR */
	start(&p, 7, q, DNS_T_PTR, 3, 0);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 7, q, DNS_T_PTR, &a,
	    &tc), DNS_NXDOMAIN);
	start(&p, 7, "2.2.0.192.in-addr.arpa", DNS_T_PTR, 0, 1);
	ptr(&p, "a.test");
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 7, q, DNS_T_PTR, &a,
	    &tc), DNS_ERROR);
	/* hostile targets: a control octet, an 8-bit octet, a name that
	 * runs past its rdata */
	start(&p, 7, q, DNS_T_PTR, 0, 1);
	ptr(&p, "evil\n.test");
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 7, q, DNS_T_PTR, &a,
	    &tc), DNS_ERROR);
	start(&p, 7, q, DNS_T_PTR, 0, 1);
	ptr(&p, "evil\xE9.test");
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 7, q, DNS_T_PTR, &a,
	    &tc), DNS_ERROR);
	start(&p, 7, q, DNS_T_PTR, 0, 1);
	ptr(&p, "a.test");
	p.b[p.len - 9]--;	/* rdlength one short of the name */
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 7, q, DNS_T_PTR, &a,
	    &tc), DNS_ERROR);
}
END_TEST

START_TEST(test_hostname_valid)
{
	static const char *good[] = { "mail.example.com", "a", "x-1.test.",
	    "_dmarc.example.org", "1.2.3.example", "MX.Example.COM", NULL };
	static const char *bad[] = { "", ".", "a..b", "-a.test", "a-.test",
	    "a b.test", "a/b.test", "1.2.3.4", "host.123", "a.test..",
	    "x@y.test", NULL };
	char big[300];

	for (int i = 0; good[i] != NULL; i++)
		ck_assert_msg(dns_hostname_valid(good[i]), "%s", good[i]);
	for (int i = 0; bad[i] != NULL; i++)
		ck_assert_msg(!dns_hostname_valid(bad[i]), "%s", bad[i]);
	memset(big, 'a', 64);
	big[64] = '\0';
	ck_assert(!dns_hostname_valid(big));	/* a 64-octet label */
	big[63] = '\0';
	ck_assert(dns_hostname_valid(big));
	for (int i = 0; i < 255; i++)
		big[i] = i % 2 ? '.' : 'a';
	big[255] = '\0';
	ck_assert(!dns_hostname_valid(big));	/* 255 octets */
	big[253] = '\0';
	ck_assert(dns_hostname_valid(big));
}
END_TEST

START_TEST(test_lookup_deadline)
{
	static struct dns_answer a;
	struct dns_config c;
	struct timespec past, t0, t1;
	char *servers[] = { "127.0.0.1:1" };
	char err[128];

	ck_assert_int_eq(dns_config_load(&c, servers, 1, "/nonexistent",
	    err, sizeof(err)), 0);
	/* a deadline already past: no query at all, a timeout at once */
	clock_gettime(CLOCK_MONOTONIC, &past);
	past.tv_sec -= 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(dns_lookup_until(&c, "a.test", DNS_T_A, &past, &a),
	    DNS_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 2);
	ck_assert_int_eq(a.n, 0);
}
END_TEST

START_TEST(test_mx_sort)
{
	struct dns_rr rr[5];
	int seen_first[2] = { 0, 0 };

	for (int round = 0; round < 200; round++) {
		memset(rr, 0, sizeof(rr));
		rr[0].pref = 30;
		rr[1].pref = 10;
		rr[1].name[0] = 'a';
		rr[2].pref = 20;
		rr[3].pref = 10;
		rr[3].name[0] = 'b';
		rr[4].pref = 5;
		dns_mx_sort(rr, 5);
		ck_assert_int_eq(rr[0].pref, 5);
		ck_assert_int_eq(rr[1].pref, 10);
		ck_assert_int_eq(rr[2].pref, 10);
		ck_assert_int_eq(rr[3].pref, 20);
		ck_assert_int_eq(rr[4].pref, 30);
		seen_first[rr[1].name[0] == 'b']++;
	}
	/* equal preferences are shuffled: both orders occur */
	ck_assert_int_gt(seen_first[0], 20);
	ck_assert_int_gt(seen_first[1], 20);
}
END_TEST

START_TEST(test_peername_confirmed)
{
	static struct dns_answer a;
	unsigned char v4[4] = { 127, 0, 0, 2 }, v6[16];

	memset(&a, 0, sizeof(a));
	ck_assert(!smtp_peername_confirmed(&a, AF_INET, v4));
	a.n = 2;
	a.rr[0].type = DNS_T_A;
	memcpy(a.rr[0].addr, "\x7f\x00\x00\x03", 4);
	a.rr[1].type = DNS_T_AAAA;
	memcpy(a.rr[1].addr, v4, 4);	/* the right octets, wrong type */
	ck_assert(!smtp_peername_confirmed(&a, AF_INET, v4));
	a.rr[1].type = DNS_T_A;
	ck_assert(smtp_peername_confirmed(&a, AF_INET, v4));
	ck_assert_int_eq(inet_pton(AF_INET6, "::1", v6), 1);
	ck_assert(!smtp_peername_confirmed(&a, AF_INET6, v6));
	a.rr[0].type = DNS_T_AAAA;
	memcpy(a.rr[0].addr, v6, 16);
	ck_assert(smtp_peername_confirmed(&a, AF_INET6, v6));
}
END_TEST

/* The hosts file names an address without DNS (first line, first name
 * wins); addresses it does not list fall through to DNS, here none. */
START_TEST(test_peername_hosts_file)
{
	char path[] = "/tmp/tern-hosts-XXXXXX", name[256];
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct dns_config dc;
	FILE *fp;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	fp = fdopen(fd, "w");
	fputs("# comment\n127.0.0.1\tlocalhost loopback\n"
	    "192.0.2.9 mail.example.org mail # trailing\n"
	    "192.0.2.9 second.example.org\n"
	    "192.0.2.10 bad\x01name\n"
	    "not-an-ip host.example\n"
	    "::1 ip6-localhost\n", fp);
	fclose(fp);
	ck_assert_int_eq(smtp_peername_hosts_load(path), 3);
	unlink(path);

	memset(&dc, 0, sizeof(dc));		/* no DNS servers at all */
	dc.timeout_ms = 10;
	dc.attempts = 1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.9", &sin.sin_addr);
	ck_assert_int_eq(smtp_peername_lookup(&dc, (struct sockaddr *)&sin,
	    "192.0.2.9", 1000, name, sizeof(name)), 1);
	ck_assert_str_eq(name, "mail.example.org");
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	ck_assert_int_eq(smtp_peername_lookup(&dc, (struct sockaddr *)&sin,
	    "127.0.0.1", 1000, name, sizeof(name)), 1);
	ck_assert_str_eq(name, "localhost");
	inet_pton(AF_INET, "192.0.2.10", &sin.sin_addr);
	ck_assert_int_eq(smtp_peername_lookup(&dc, (struct sockaddr *)&sin,
	    "192.0.2.10", 1000, name, sizeof(name)), 0);
	ck_assert_str_eq(name, "unknown");
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	ck_assert_int_eq(smtp_peername_lookup(&dc, (struct sockaddr *)&sin6,
	    "::1", 1000, name, sizeof(name)), 1);
	ck_assert_str_eq(name, "ip6-localhost");
	ck_assert_int_eq(smtp_peername_hosts_load("/nonexistent/hosts"), -1);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	ck_assert_int_eq(smtp_peername_lookup(&dc, (struct sockaddr *)&sin,
	    "127.0.0.1", 1000, name, sizeof(name)), 0);
}
END_TEST

Suite *
dns_suite(void)
{
	Suite *s = suite_create("dns");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_server_parse);
	tcase_add_test(tc, test_resolv_conf);
	tcase_add_test(tc, test_query_build);
	tcase_add_test(tc, test_parse_mx);
	tcase_add_test(tc, test_parse_null_mx);
	tcase_add_test(tc, test_parse_rcodes);
	tcase_add_test(tc, test_parse_addresses_cname);
	tcase_add_test(tc, test_parse_hostile);
	tcase_add_test(tc, test_mx_sort);
	tcase_add_test(tc, test_reverse_name);
	tcase_add_test(tc, test_parse_ptr);
	tcase_add_test(tc, test_hostname_valid);
	tcase_add_test(tc, test_lookup_deadline);
	tcase_add_test(tc, test_peername_confirmed);
	tcase_add_test(tc, test_peername_hosts_file);
	suite_add_tcase(s, tc);
	return s;
}
