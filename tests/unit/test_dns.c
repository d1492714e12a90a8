/*
 * test_dns - the stub resolver: server entries, resolv.conf, query
 * building, and answer parsing fed crafted (and hostile) packets; MX
 * ordering; and whole lookups against fake servers on loopback UDP
 * sockets (a forked child that answers with a chosen rcode and counts
 * the queries it gets).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "check_suites.h"
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dns.h"
#include "smtp_peername.h"
#include "tls_dane.h"

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

/*
 * Fake name servers: a forked child serving FAKE_SERVERS UDP sockets on
 * 127.0.0.1, each answering every query with its rcode (FAKE_GOOD: an
 * A record for 192.0.2.9).  fake_stop() collects how many queries each
 * one got.
 */
#define FAKE_SERVERS	2
#define FAKE_GOOD	(-1)
#define FAKE_AD_IF_DO	(-2)	/* FAKE_GOOD, AD set when the query has DO
				   (a validating resolver, RFC 6840 5.8) */
#define FAKE_AD_ALWAYS	(-3)	/* FAKE_GOOD, AD always set */

struct fake_dns {
	pid_t			pid;
	int			ctl[2];		/* parent writes to stop */
	int			res[2];		/* child writes its counts */
	char			addr[FAKE_SERVERS][32];	/* "127.0.0.1:port" */
};

/* fake_answer - the reply to query q (n octets) with rcode; its length */
static size_t
fake_answer(const unsigned char *q, size_t n, int rcode, unsigned char *out)
{
	size_t pos = 12;

	if (n < 12)
		return 0;
	while (pos < n && q[pos] != 0)
		pos += 1 + q[pos];
	pos += 5;			/* the root label, qtype, qclass */
	if (pos > n || pos > 400)
		return 0;
	memcpy(out, q, pos);
	out[2] = 0x81;			/* QR, RD */
	out[3] = (unsigned char)(0x80 | (rcode < 0 ? 0 : rcode));
	/* The OPT record after the question: DO is the top bit of the
	 * first octet of its flags (RFC 3225). */
	if (rcode == FAKE_AD_ALWAYS || (rcode == FAKE_AD_IF_DO &&
	    pos + 11 <= n && (q[pos + 7] & 0x80)))
		out[3] |= 0x20;		/* AD */
	memset(out + 6, 0, 6);		/* no answers, no OPT */
	if (rcode >= 0 || q[pos - 3] != DNS_T_A)
		return pos;
	out[7] = 1;
	memcpy(out + pos, "\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04"
	    "\xc0\x00\x02\x09", 16);
	return pos + 16;
}

/* fake_serve - the child: answer until the parent writes to ctl */
static void
fake_serve(int *fd, const int *rcode, int ctl, int res)
{
	struct pollfd pfd[FAKE_SERVERS + 1];
	unsigned char q[1500], a[1500];
	int count[FAKE_SERVERS] = { 0 };

	for (int i = 0; i < FAKE_SERVERS; i++)
		pfd[i] = (struct pollfd){ .fd = fd[i], .events = POLLIN };
	pfd[FAKE_SERVERS] = (struct pollfd){ .fd = ctl, .events = POLLIN };
	for (;;) {
		if (poll(pfd, FAKE_SERVERS + 1, -1) < 0)
			_exit(1);
		if (pfd[FAKE_SERVERS].revents != 0)
			break;
		for (int i = 0; i < FAKE_SERVERS; i++) {
			struct sockaddr_storage from;
			socklen_t flen = sizeof(from);
			ssize_t n;
			size_t alen;

			if (pfd[i].revents == 0)
				continue;
			n = recvfrom(fd[i], q, sizeof(q), 0,
			    (struct sockaddr *)&from, &flen);
			if (n <= 0)
				continue;
			count[i]++;
			alen = fake_answer(q, (size_t)n, rcode[i], a);
			if (alen > 0)
				sendto(fd[i], a, alen, 0,
				    (struct sockaddr *)&from, flen);
		}
	}
	if (write(res, count, sizeof(count)) != (ssize_t)sizeof(count))
		_exit(1);
	_exit(0);
}

/* fake_start - two servers answering rcode0 and rcode1 */
static void
fake_start(struct fake_dns *f, int rcode0, int rcode1)
{
	int fd[FAKE_SERVERS], rcode[FAKE_SERVERS] = { rcode0, rcode1 };

	ck_assert_int_eq(pipe(f->ctl), 0);
	ck_assert_int_eq(pipe(f->res), 0);
	for (int i = 0; i < FAKE_SERVERS; i++) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		socklen_t len = sizeof(sin);

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd[i] = socket(AF_INET, SOCK_DGRAM, 0);
		ck_assert_int_ge(fd[i], 0);
		ck_assert_int_eq(bind(fd[i], (struct sockaddr *)&sin,
		    sizeof(sin)), 0);
		ck_assert_int_eq(getsockname(fd[i], (struct sockaddr *)&sin,
		    &len), 0);
		snprintf(f->addr[i], sizeof(f->addr[i]), "127.0.0.1:%u",
		    ntohs(sin.sin_port));
	}
	f->pid = fork();
	ck_assert_int_ge(f->pid, 0);
	if (f->pid == 0)
		fake_serve(fd, rcode, f->ctl[0], f->res[1]);
	for (int i = 0; i < FAKE_SERVERS; i++)
		close(fd[i]);
	close(f->ctl[0]);
	close(f->res[1]);
}

/* fake_stop - end the child; the queries each server got into count */
static void
fake_stop(struct fake_dns *f, int *count)
{
	int st;

	ck_assert_int_eq(write(f->ctl[1], "x", 1), 1);
	ck_assert_int_eq(read(f->res[0], count, FAKE_SERVERS * sizeof(int)),
	    (ssize_t)(FAKE_SERVERS * sizeof(int)));
	ck_assert_int_eq(waitpid(f->pid, &st, 0), f->pid);
	close(f->ctl[1]);
	close(f->res[0]);
}

/* fake_config - c asks both fake servers, in order */
static void
fake_config(struct dns_config *c, struct fake_dns *f, int timeout_ms)
{
	char *servers[FAKE_SERVERS] = { f->addr[0], f->addr[1] };
	char err[128];

	ck_assert_int_eq(dns_config_load(c, servers, FAKE_SERVERS,
	    "/nonexistent", err, sizeof(err)), 0);
	c->timeout_ms = timeout_ms;
	c->attempts = 2;
}

/* deadline_in - CLOCK_MONOTONIC now + sec */
static struct timespec
deadline_in(int sec)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += sec;
	return t;
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

START_TEST(test_parse_txt)
{
	static const unsigned char two[] = "\007v=STSv1\010; id=42;";
	static const unsigned char nul[] = "\003a\0b";
	unsigned char big[2 + 2 * 256];
	struct pkt p;
	struct dns_answer a;
	int tc;

	/* Character-strings are joined (RFC 7208 3.3 does the same). */
	start(&p, 7, "_mta-sts.b.test", DNS_T_TXT, 0, 2);
	rr_hdr(&p, DNS_T_TXT, sizeof(two) - 1);
	pbytes(&p, two, sizeof(two) - 1);
	rr_hdr(&p, DNS_T_TXT, sizeof(nul) - 1);
	pbytes(&p, nul, sizeof(nul) - 1);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 7, "_mta-sts.b.test",
	    DNS_T_TXT, &a, &tc), DNS_OK);
	ck_assert_int_eq(a.n, 2);
	ck_assert_str_eq(a.rr[0].name, "v=STSv1; id=42;");
	ck_assert_int_eq(a.rr[0].txt_cut, 0);
	ck_assert_int_eq(a.rr[1].txt_cut, 1);		/* a NUL inside */
	/* Longer than the buffer: cut and marked, not an error. */
	start(&p, 7, "b.test", DNS_T_TXT, 0, 1);
	memset(big, 'x', sizeof(big));
	big[0] = 255;
	big[256] = 255;
	rr_hdr(&p, DNS_T_TXT, 512);
	pbytes(&p, big, 512);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 7, "b.test", DNS_T_TXT,
	    &a, &tc), DNS_OK);
	ck_assert_int_eq(a.rr[0].txt_cut, 1);
	ck_assert_uint_eq(strlen(a.rr[0].name), DNS_NAME_MAX);
	/* A string running past its record is malformed. */
	start(&p, 7, "b.test", DNS_T_TXT, 0, 1);
	rr_hdr(&p, DNS_T_TXT, 3);
	pbytes(&p, "\005ab", 3);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 7, "b.test", DNS_T_TXT,
	    &a, &tc), DNS_ERROR);
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
	    &a, &tc), DNS_REFUSED);
	ck_assert(dns_status_temporary(DNS_REFUSED));
	ck_assert_str_eq(dns_status_text(DNS_REFUSED), "REFUSED");
	start(&p, 1, "x.test", DNS_T_MX, 4, 0);		/* NOTIMP */
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
	/* where the CNAME led: the TLSA base domain DANE tries first */
	ck_assert_str_eq(a.canon, "host.test");

	start(&p, 9, "h.test", DNS_T_AAAA, 0, 1);
	rr_hdr(&p, DNS_T_AAAA, 16);
	pbytes(&p, v6, 16);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 9, "h.test",
	    DNS_T_AAAA, &a, &tc), DNS_OK);
	ck_assert_int_eq(a.rr[0].addr[15], 1);
	ck_assert_str_eq(a.canon, "");	/* no CNAME */
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

/*
 * A server that answers SERVFAIL, NOTIMP or REFUSED is left at once for
 * the next one: within a deadline far shorter than the per-try timeout
 * (which a wait for a better answer would use up), the second server
 * is asked and answers, and the first was asked once.
 */
START_TEST(test_lookup_failure_rcode_moves_on)
{
	static struct dns_answer a;
	const int rcodes[] = { 2, 4, 5 };	/* SERVFAIL, NOTIMP, REFUSED */

	for (size_t i = 0; i < sizeof(rcodes) / sizeof(rcodes[0]); i++) {
		struct fake_dns f;
		struct dns_config c;
		struct timespec dl = deadline_in(5);
		int count[FAKE_SERVERS];

		fake_start(&f, rcodes[i], FAKE_GOOD);
		fake_config(&c, &f, 60000);
		ck_assert_int_eq(dns_lookup_until(&c, "mx.example.org",
		    DNS_T_A, &dl, &a), DNS_OK);
		ck_assert_int_eq(a.n, 1);
		ck_assert_int_eq(memcmp(a.rr[0].addr, "\xc0\x00\x02\x09", 4),
		    0);
		fake_stop(&f, count);
		ck_assert_int_eq(count[0], 1);
		ck_assert_int_eq(count[1], 1);
	}
}
END_TEST

/*
 * When every server answers with a failure, the last answer ends the
 * lookup as a temporary failure: each server was asked once, not once
 * per round, and nothing waited for a timeout.
 */
START_TEST(test_lookup_all_servers_refuse)
{
	static struct dns_answer a;
	struct fake_dns f;
	struct dns_config c;
	struct timespec dl = deadline_in(5);
	enum dns_status st;
	int count[FAKE_SERVERS];

	fake_start(&f, 5, 2);			/* REFUSED, SERVFAIL */
	fake_config(&c, &f, 1000);
	st = dns_lookup_until(&c, "mx.example.org", DNS_T_MX, &dl, &a);
	ck_assert(dns_status_temporary(st));
	ck_assert_int_eq(st, DNS_SERVFAIL);	/* the last answer */
	ck_assert_int_eq(a.n, 0);
	fake_stop(&f, count);
	ck_assert_int_eq(count[0], 1);
	ck_assert_int_eq(count[1], 1);

	fake_start(&f, 2, 5);			/* SERVFAIL, REFUSED */
	fake_config(&c, &f, 1000);
	dl = deadline_in(5);
	st = dns_lookup_until(&c, "mx.example.org", DNS_T_MX, &dl, &a);
	ck_assert(dns_status_temporary(st));
	ck_assert_int_eq(st, DNS_REFUSED);
	fake_stop(&f, count);
	ck_assert_int_eq(count[0], 1);
	ck_assert_int_eq(count[1], 1);
}
END_TEST

/*
 * Reverse names in the locally served zones (RFC 6303: private, loopback,
 * link-local, documentation addresses) are "no such name" without a
 * query; other names are asked.
 */
START_TEST(test_lookup_local_zone_no_query)
{
	static struct dns_answer a;
	static const char *const local[] = {
		"10.0.0.2", "127.0.0.1", "172.16.1.5", "172.31.1.5",
		"192.168.1.7", "192.0.2.9", "169.254.1.1", "::", "::1",
		"fe80::1", "fd00::1", "2001:db8::1",
	};
	struct fake_dns f;
	struct dns_config c;
	unsigned char addr[16];
	char rev[DNS_NAME_MAX + 1];
	int count[FAKE_SERVERS], af;

	fake_start(&f, 5, 5);
	fake_config(&c, &f, 1000);
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
		af = strchr(local[i], ':') != NULL ? AF_INET6 : AF_INET;
		ck_assert_int_eq(inet_pton(af, local[i], addr), 1);
		ck_assert_int_eq(dns_reverse_name(af, addr, rev, sizeof(rev)),
		    0);
		/* ::'s and ::1's names are their zones' apexes: no data
		 * there rather than no such name. */
		ck_assert_msg(dns_lookup(&c, rev, DNS_T_PTR, &a) ==
		    (af == AF_INET6 && strlen(local[i]) <= 3 ? DNS_NODATA :
		    DNS_NXDOMAIN), "%s", local[i]);
	}
	ck_assert_int_eq(dns_lookup(&c, "7.1.168.192.IN-ADDR.ARPA.",
	    DNS_T_PTR, &a), DNS_NXDOMAIN);
	fake_stop(&f, count);
	ck_assert_int_eq(count[0], 0);
	ck_assert_int_eq(count[1], 0);
	/* 172.32/16 and a public address are not local: they are asked. */
	fake_start(&f, 5, 5);
	fake_config(&c, &f, 1000);
	dns_lookup(&c, "1.0.32.172.in-addr.arpa", DNS_T_PTR, &a);
	dns_lookup(&c, "8.8.8.8.in-addr.arpa", DNS_T_PTR, &a);
	fake_stop(&f, count);
	ck_assert_int_eq(count[0], 2);
	/* Told to query them (a site with its own reverse zones): asked. */
	fake_start(&f, 5, 5);
	fake_config(&c, &f, 1000);
	c.local_zones = 0;
	ck_assert_int_eq(dns_lookup(&c, "2.0.0.10.in-addr.arpa", DNS_T_PTR,
	    &a), DNS_REFUSED);
	fake_stop(&f, count);
	ck_assert_int_eq(count[0], 1);
	ck_assert_int_eq(count[1], 1);
}
END_TEST

/* The RFC 6303 table, zone by zone, and its neighbours outside it. */
START_TEST(test_name_local_table)
{
	char name[DNS_NAME_MAX + 1];
	unsigned char a6[16];
	static const char *const local4[] = {
		"10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255",
		"192.168.0.1", "0.1.2.3", "127.0.0.1", "127.255.0.9",
		"169.254.1.1", "192.0.2.1", "198.51.100.7", "203.0.113.200",
		"255.255.255.255",
	};
	static const char *const public4[] = {
		"11.0.0.1", "9.255.255.255", "172.15.0.1", "172.32.0.1",
		"192.169.0.1", "192.167.0.1", "1.0.0.127", "128.0.0.1",
		"169.253.1.1", "192.0.3.1", "198.51.101.7", "203.0.114.1",
		"255.255.255.254", "100.64.0.1", "8.8.8.8",
	};
	static const char *const local6[] = {
		"::", "::1", "fe80::1", "febf:ffff::1", "fd12:3456::1",
		"fdff::1", "2001:db8::25", "2001:db8:ffff::1",
	};
	static const char *const public6[] = {
		"::2", "fec0::1", "fe7f::1", "fc00::1", "fe00::1",
		"2001:db9::1", "2001:470::1", "::ffff:10.0.0.1",
	};

	for (size_t i = 0; i < sizeof(local4) / sizeof(local4[0]); i++) {
		ck_assert_int_eq(inet_pton(AF_INET, local4[i], a6), 1);
		ck_assert_int_eq(dns_reverse_name(AF_INET, a6, name,
		    sizeof(name)), 0);
		ck_assert_msg(dns_name_local(name), "%s", local4[i]);
	}
	for (size_t i = 0; i < sizeof(public4) / sizeof(public4[0]); i++) {
		ck_assert_int_eq(inet_pton(AF_INET, public4[i], a6), 1);
		ck_assert_int_eq(dns_reverse_name(AF_INET, a6, name,
		    sizeof(name)), 0);
		ck_assert_msg(!dns_name_local(name), "%s", public4[i]);
	}
	for (size_t i = 0; i < sizeof(local6) / sizeof(local6[0]); i++) {
		ck_assert_int_eq(inet_pton(AF_INET6, local6[i], a6), 1);
		ck_assert_int_eq(dns_reverse_name(AF_INET6, a6, name,
		    sizeof(name)), 0);
		ck_assert_msg(dns_name_local(name), "%s", local6[i]);
	}
	for (size_t i = 0; i < sizeof(public6) / sizeof(public6[0]); i++) {
		ck_assert_int_eq(inet_pton(AF_INET6, public6[i], a6), 1);
		ck_assert_int_eq(dns_reverse_name(AF_INET6, a6, name,
		    sizeof(name)), 0);
		ck_assert_msg(!dns_name_local(name), "%s", public6[i]);
	}
	/* Zone apexes, case and a final dot; look-alikes that are not. */
	ck_assert(dns_name_local("10.in-addr.arpa"));
	ck_assert(dns_name_local("168.192.IN-ADDR.ARPA."));
	ck_assert(dns_name_local("D.F.ip6.arpa"));
	ck_assert(!dns_name_local("110.in-addr.arpa"));
	ck_assert(!dns_name_local("x10.in-addr.arpa"));
	ck_assert(!dns_name_local("in-addr.arpa"));
	ck_assert(!dns_name_local("ip6.arpa"));
	ck_assert(!dns_name_local("example.org"));
	ck_assert(!dns_name_local(""));
}
END_TEST

/*
 * smtpd's client names: a client from a private address is named from
 * the hosts file when it is listed there, else "unknown", and neither
 * asks a name server.
 */
START_TEST(test_peername_local_zone_no_query)
{
	char path[] = "/tmp/tern-hosts-XXXXXX", name[256];
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct fake_dns f;
	struct dns_config c;
	int count[FAKE_SERVERS], fd = mkstemp(path);
	FILE *fp;

	ck_assert_int_ge(fd, 0);
	fp = fdopen(fd, "w");
	fputs("10.1.2.3 printer.corp.example\n", fp);
	fclose(fp);
	ck_assert_int_eq(smtp_peername_hosts_load(path), 1);
	unlink(path);
	fake_start(&f, 5, 5);
	fake_config(&c, &f, 1000);
	inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr);
	ck_assert_int_eq(smtp_peername_lookup(&c, (struct sockaddr *)&sin,
	    "10.1.2.3", 1000, name, sizeof(name)), 1);
	ck_assert_str_eq(name, "printer.corp.example");
	inet_pton(AF_INET, "192.168.7.7", &sin.sin_addr);
	ck_assert_int_eq(smtp_peername_lookup(&c, (struct sockaddr *)&sin,
	    "192.168.7.7", 1000, name, sizeof(name)), 0);
	ck_assert_str_eq(name, "unknown");
	inet_pton(AF_INET6, "fe80::1", &sin6.sin6_addr);
	ck_assert_int_eq(smtp_peername_lookup(&c, (struct sockaddr *)&sin6,
	    "fe80::1", 1000, name, sizeof(name)), 0);
	fake_stop(&f, count);
	ck_assert_int_eq(count[0], 0);
	ck_assert_int_eq(count[1], 0);
	smtp_peername_hosts_load("/nonexistent/hosts");
}
END_TEST

/* tlsa - a TLSA record (usage, selector, mtype, dlen octets of 0xAB) */
static void
tlsa(struct pkt *p, unsigned usage, unsigned selector, unsigned mtype,
    size_t dlen)
{
	rr_hdr(p, DNS_T_TLSA, (unsigned)(3 + dlen));
	p->b[p->len++] = (unsigned char)usage;
	p->b[p->len++] = (unsigned char)selector;
	p->b[p->len++] = (unsigned char)mtype;
	memset(p->b + p->len, 0xAB, dlen);
	p->len += dlen;
}

/* DO goes into the OPT flags of the query and nowhere else. */
START_TEST(test_query_dnssec)
{
	unsigned char q[512], plain[512];
	size_t n = dns_query_build(q, sizeof(q), 7, "_25._tcp.mx.test",
	    DNS_T_TLSA);

	ck_assert_uint_gt(n, 11);
	memcpy(plain, q, n);
	dns_query_dnssec(q, n);
	/* OPT: root, type 41, class (UDP size), ext-rcode, version, flags */
	ck_assert_int_eq(q[n - 11], 0);
	ck_assert_int_eq(q[n - 10] << 8 | q[n - 9], 41);
	ck_assert_int_eq(q[n - 4], 0x80);
	ck_assert_int_eq(q[n - 3], 0);
	q[n - 4] = 0;
	ck_assert_int_eq(memcmp(q, plain, n), 0);
	/* Too short to hold an OPT record: left alone. */
	dns_query_dnssec(q, 5);
	ck_assert_int_eq(memcmp(q, plain, n), 0);
}
END_TEST

/* AD of a parsed answer; never for a failure. */
START_TEST(test_parse_ad)
{
	struct pkt p;
	struct dns_answer a;
	int tc;

	start(&p, 3, "d.test", DNS_T_MX, 0, 1);
	mx(&p, 10, "mx.d.test");
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 3, "d.test", DNS_T_MX,
	    &a, &tc), DNS_OK);
	ck_assert_int_eq(a.secure, 0);
	p.b[3] |= 0x20;
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 3, "d.test", DNS_T_MX,
	    &a, &tc), DNS_OK);
	ck_assert_int_eq(a.secure, 1);
	/* A validated denial of existence is secure too. */
	start(&p, 3, "d.test", DNS_T_MX, 3, 0);
	p.b[3] |= 0x20;
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 3, "d.test", DNS_T_MX,
	    &a, &tc), DNS_NXDOMAIN);
	ck_assert_int_eq(a.secure, 1);
	start(&p, 3, "d.test", DNS_T_MX, 2, 0);
	p.b[3] |= 0x20;
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 3, "d.test", DNS_T_MX,
	    &a, &tc), DNS_SERVFAIL);
	ck_assert_int_eq(a.secure, 0);
}
END_TEST

/* TLSA records: the fields, and which ones an SMTP client may use. */
START_TEST(test_parse_tlsa)
{
	static struct dns_answer a;
	const char *q = "_25._tcp.mx.test";
	struct pkt p;
	char buf[128];
	int tc;

	start(&p, 5, q, DNS_T_TLSA, 0, 8);
	tlsa(&p, 3, 1, 1, 32);		/* DANE-EE SPKI SHA-256 */
	tlsa(&p, 2, 0, 2, 64);		/* DANE-TA cert SHA-512 */
	tlsa(&p, 3, 0, 0, 300);		/* a whole certificate */
	tlsa(&p, 1, 1, 1, 32);		/* PKIX-EE: not for SMTP */
	tlsa(&p, 3, 1, 1, 31);		/* SHA-256 one octet short */
	tlsa(&p, 3, 2, 1, 32);		/* unknown selector */
	tlsa(&p, 3, 1, 3, 32);		/* unknown matching type */
	tlsa(&p, 3, 1, 0, 0);		/* no data at all */
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 5, q, DNS_T_TLSA, &a,
	    &tc), DNS_OK);
	ck_assert_int_eq(a.n, 8);
	ck_assert_int_eq(a.rr[0].tlsa.usage, 3);
	ck_assert_int_eq(a.rr[0].tlsa.selector, 1);
	ck_assert_int_eq(a.rr[0].tlsa.mtype, 1);
	ck_assert_int_eq(a.rr[0].tlsa.len, 32);
	ck_assert_int_eq(a.rr[0].tlsa.data[31], 0xAB);
	ck_assert(dns_tlsa_usable(&a.rr[0].tlsa));
	ck_assert(dns_tlsa_usable(&a.rr[1].tlsa));
	ck_assert_int_eq(a.rr[2].tlsa.len, 300);
	ck_assert(dns_tlsa_usable(&a.rr[2].tlsa));
	for (int i = 3; i < 8; i++)
		ck_assert_msg(!dns_tlsa_usable(&a.rr[i].tlsa), "record %d", i);
	ck_assert(a.rr[4].tlsa.malformed);
	ck_assert(a.rr[7].tlsa.malformed);
	dns_tlsa_format(&a.rr[0].tlsa, buf, sizeof(buf));
	ck_assert_str_eq(buf, "3 1 1 abababababababababababababababab...");
	/* More data than is kept: malformed, never cut to fit. */
	start(&p, 5, q, DNS_T_TLSA, 0, 1);
	tlsa(&p, 3, 0, 0, DNS_TLSA_DATA_MAX + 1);
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 5, q, DNS_T_TLSA, &a,
	    &tc), DNS_OK);
	ck_assert(a.rr[0].tlsa.malformed);
	ck_assert(!dns_tlsa_usable(&a.rr[0].tlsa));
	/* An rdlength past the packet's end: the packet is malformed. */
	start(&p, 5, q, DNS_T_TLSA, 0, 1);
	tlsa(&p, 3, 1, 1, 32);
	p.len -= 2;
	ck_assert_int_eq(dns_answer_parse(p.b, p.len, 5, q, DNS_T_TLSA, &a,
	    &tc), DNS_ERROR);
	/* The names they are found at. */
	ck_assert_int_eq(dns_tlsa_name("mx.test.", 25, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "_25._tcp.mx.test");
	ck_assert_int_eq(dns_tlsa_name("mx.test", 0, buf, sizeof(buf)), -1);
	ck_assert_int_eq(dns_tlsa_name("", 25, buf, sizeof(buf)), -1);
	ck_assert_int_eq(dns_tlsa_name("mx.test", 2525, buf, 10), -1);
}
END_TEST

/*
 * Matching type 0 carries a whole key or certificate: a record whose data
 * is not one (or has octets after it) is unusable; digests are not
 * parsed.
 */
START_TEST(test_tlsa_full_data)
{
	static struct dns_tlsa t;
	unsigned char *der = NULL;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	int n;

	ck_assert_ptr_nonnull(k);
	n = i2d_PUBKEY(k, &der);
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, DNS_TLSA_DATA_MAX);
	memset(&t, 0, sizeof(t));
	t.usage = 3;
	t.selector = 1;
	t.mtype = 0;
	t.len = (uint16_t)n;
	memcpy(t.data, der, (size_t)n);
	ck_assert(dns_tlsa_usable(&t));
	ck_assert(tls_dane_data_usable(&t));
	t.len = (uint16_t)(n - 1);		/* cut short */
	ck_assert(!tls_dane_data_usable(&t));
	t.len = (uint16_t)(n + 1);		/* an octet too many */
	t.data[n] = 0;
	ck_assert(!tls_dane_data_usable(&t));
	t.len = (uint16_t)n;
	t.selector = 0;				/* a key is no certificate */
	ck_assert(!tls_dane_data_usable(&t));
	t.mtype = 1;				/* a digest is not parsed */
	t.len = 32;
	ck_assert(tls_dane_data_usable(&t));
	OPENSSL_free(der);
	EVP_PKEY_free(k);
}
END_TEST

/*
 * With dnssec the query carries DO and a validating server's AD makes
 * the answer secure; without it no DO is sent and even an AD that a
 * server sets unasked is not believed.
 */
START_TEST(test_lookup_dnssec_do_ad)
{
	static struct dns_answer a;
	struct fake_dns f;
	struct dns_config c;
	int count[FAKE_SERVERS];

	fake_start(&f, FAKE_AD_IF_DO, FAKE_AD_ALWAYS);
	fake_config(&c, &f, 2000);
	c.dnssec = 1;
	ck_assert_int_eq(dns_lookup(&c, "mx.example.org", DNS_T_A, &a),
	    DNS_OK);
	ck_assert_int_eq(a.secure, 1);
	c.dnssec = 0;
	ck_assert_int_eq(dns_lookup(&c, "mx.example.org", DNS_T_A, &a),
	    DNS_OK);
	ck_assert_int_eq(a.secure, 0);
	fake_stop(&f, count);
	ck_assert_int_eq(count[0], 2);
	fake_start(&f, FAKE_AD_ALWAYS, FAKE_AD_ALWAYS);
	fake_config(&c, &f, 2000);
	ck_assert_int_eq(dns_lookup(&c, "mx.example.org", DNS_T_A, &a),
	    DNS_OK);
	ck_assert_int_eq(a.secure, 0);
	fake_stop(&f, count);
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
	tcase_add_test(tc, test_parse_txt);
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
	tcase_add_test(tc, test_lookup_failure_rcode_moves_on);
	tcase_add_test(tc, test_lookup_all_servers_refuse);
	tcase_add_test(tc, test_lookup_local_zone_no_query);
	tcase_add_test(tc, test_name_local_table);
	tcase_add_test(tc, test_peername_local_zone_no_query);
	tcase_add_test(tc, test_query_dnssec);
	tcase_add_test(tc, test_parse_ad);
	tcase_add_test(tc, test_parse_tlsa);
	tcase_add_test(tc, test_lookup_dnssec_do_ad);
	tcase_add_test(tc, test_tlsa_full_data);
	suite_add_tcase(s, tc);
	return s;
}
