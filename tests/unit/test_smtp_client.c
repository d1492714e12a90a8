/*
 * test_smtp_client - the smtp transport's parsing helpers: reply lines,
 * enhanced status codes, xtext, dot-stuffing (deliverd/smtp_client.c) and
 * next-hop parsing (deliverd/smtp_route.c).  Whole replies (multi-line,
 * malformed, over-long, NUL bytes, split CRLF) go through the public
 * smtp_conn_open/smtp_conn_hello against a scripted server on loopback,
 * since the line reader and reply joiner are static; a whole delivery goes
 * to a loopback server that records the message it gets.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "check_suites.h"
#include "dns.h"
#include "msg.h"
#include "settings.h"
#include "smtp_client.h"
#include "smtp_requiretls.h"
#include "envelope.h"
#include "smtp_route.h"

/* --- smtp_reply_parse_line ----------------------------------------- */

static int
pl(const char *line, size_t len, int *last)
{
	*last = -7;
	return smtp_reply_parse_line(line, len, last);
}

START_TEST(test_parse_line_ok)
{
	int last;

	ck_assert_int_eq(pl("250 ok", 6, &last), 250);
	ck_assert_int_eq(last, 1);
	ck_assert_int_eq(pl("250-ok", 6, &last), 250);
	ck_assert_int_eq(last, 0);
	ck_assert_int_eq(pl("554", 3, &last), 554);
	ck_assert_int_eq(last, 1);
	ck_assert_int_eq(pl("220 ", 4, &last), 220);
	ck_assert_int_eq(last, 1);
	ck_assert_int_eq(pl("421-", 4, &last), 421);
	ck_assert_int_eq(last, 0);
	ck_assert_int_eq(pl("599 x", 5, &last), 599);
	ck_assert_int_eq(pl("200 x", 5, &last), 200);
	/* len, not strlen, bounds the line */
	ck_assert_int_eq(pl("250-more", 3, &last), 250);
	ck_assert_int_eq(last, 1);
	/* NULs in the text are not the parser's business */
	ck_assert_int_eq(pl("250 a\0b", 7, &last), 250);
	ck_assert_int_eq(last, 1);
}
END_TEST

START_TEST(test_parse_line_bad)
{
	int last;

	ck_assert_int_eq(pl("", 0, &last), -1);
	ck_assert_int_eq(pl("2", 1, &last), -1);
	ck_assert_int_eq(pl("25", 2, &last), -1);
	ck_assert_int_eq(pl("250 ok", 2, &last), -1);
	ck_assert_int_eq(pl("2a0 x", 5, &last), -1);
	ck_assert_int_eq(pl("25a x", 5, &last), -1);
	ck_assert_int_eq(pl("x50 x", 5, &last), -1);
	ck_assert_int_eq(pl(" 250 x", 6, &last), -1);
	ck_assert_int_eq(pl("-250 x", 6, &last), -1);
	ck_assert_int_eq(pl("150 x", 5, &last), -1);	/* no such class */
	ck_assert_int_eq(pl("600 x", 5, &last), -1);
	ck_assert_int_eq(pl("099 x", 5, &last), -1);
	ck_assert_int_eq(pl("250x", 4, &last), -1);
	ck_assert_int_eq(pl("2500 x", 6, &last), -1);
	ck_assert_int_eq(pl("250\tx", 5, &last), -1);
	ck_assert_int_eq(pl("250_x", 5, &last), -1);
	ck_assert_int_eq(pl("2\0" "0 x", 5, &last), -1);
	ck_assert_int_eq(pl("250\0x", 5, &last), -1);
	ck_assert_int_eq(pl("\0\0\0\0", 4, &last), -1);
	ck_assert_int_eq(pl("25\xb2 x", 5, &last), -1);
}
END_TEST

/* --- smtp_reply_dsn -------------------------------------------------- */

static const char *
dsn_of(int code, const char *text)
{
	static char dsn[16];

	memset(dsn, 'Z', sizeof(dsn));
	smtp_reply_dsn(code, text, dsn, sizeof(dsn));
	return dsn;
}

START_TEST(test_dsn_enhanced)
{
	ck_assert_str_eq(dsn_of(250, "250 2.1.0 Sender ok"), "2.1.0");
	ck_assert_str_eq(dsn_of(550, "550 5.1.1 No such user"), "5.1.1");
	ck_assert_str_eq(dsn_of(451, "451 4.3.0 try later"), "4.3.0");
	ck_assert_str_eq(dsn_of(250, "250 2.0.0"), "2.0.0");
	ck_assert_str_eq(dsn_of(554, "554 5.123.456 x"), "5.123.456");
	ck_assert_str_eq(dsn_of(552, "552 5.3.4 too big 5.3.4 again"),
	    "5.3.4");
	/* joined multi-line replies: the first line's code counts */
	ck_assert_str_eq(dsn_of(250, "250 2.0.0 a 2.1.5 b"), "2.0.0");
}
END_TEST

START_TEST(test_dsn_derived)
{
	/* no enhanced code */
	ck_assert_str_eq(dsn_of(550, "550 No such user"), "5.0.0");
	ck_assert_str_eq(dsn_of(421, "421"), "4.0.0");
	ck_assert_str_eq(dsn_of(421, "421 "), "4.0.0");
	ck_assert_str_eq(dsn_of(250, ""), "2.0.0");
	ck_assert_str_eq(dsn_of(220, "220 mx.example ESMTP"), "2.0.0");
	/* class disagrees with the reply code */
	ck_assert_str_eq(dsn_of(550, "550 4.1.1 x"), "5.0.0");
	ck_assert_str_eq(dsn_of(450, "450 5.7.1 x"), "4.0.0");
	ck_assert_str_eq(dsn_of(250, "250 5.0.0 x"), "2.0.0");
	/* not an enhanced code after all */
	ck_assert_str_eq(dsn_of(550, "550 5.1.1x"), "5.0.0");
	ck_assert_str_eq(dsn_of(550, "550 5.1"), "5.0.0");
	ck_assert_str_eq(dsn_of(550, "550 5.1."), "5.0.0");
	ck_assert_str_eq(dsn_of(550, "550 5..1"), "5.0.0");
	ck_assert_str_eq(dsn_of(550, "550 5.1234.1 x"), "5.0.0");
	ck_assert_str_eq(dsn_of(550, "550 5.1.1234 x"), "5.0.0");
	ck_assert_str_eq(dsn_of(550, "550 5.-1.1 x"), "5.0.0");
	ck_assert_str_eq(dsn_of(550, "550 5.1.-1 x"), "5.0.0");
	ck_assert_str_eq(dsn_of(550, "550 55.1.1 x"), "5.0.0");
	ck_assert_str_eq(dsn_of(550, "550 a.b.c"), "5.0.0");
	/* digits only: no blanks or signs inside (RFC 3463 2) */
	ck_assert_str_eq(dsn_of(550, "550 5. 1.1 x"), "5.0.0");
	ck_assert_str_eq(dsn_of(550, "550 5.1.+1 x"), "5.0.0");
	ck_assert_str_eq(dsn_of(550, "550 5.+1.1 x"), "5.0.0");
	/* a code outside 2xx-5xx still gives a well-formed temporary class */
	ck_assert_str_eq(dsn_of(0, ""), "4.0.0");
}
END_TEST

START_TEST(test_dsn_small_buffer)
{
	char dsn[4];

	memset(dsn, 'Z', sizeof(dsn));
	smtp_reply_dsn(554, "554 5.123.456 x", dsn, sizeof(dsn));
	ck_assert_int_eq(dsn[3], '\0');
	ck_assert_str_eq(dsn, "5.1");
}
END_TEST

/* --- smtp_xtext ------------------------------------------------------ */

/* unxtext - decode RFC 3461 xtext (uppercase hex only); -1 if malformed */
static int
unxtext(const char *s, char *out, size_t outsize)
{
	size_t o = 0;
	unsigned v;

	for (; *s != '\0'; s++) {
		if (o + 1 >= outsize)
			return -1;
		if (*s == '+') {
			if (sscanf(s + 1, "%2X", &v) != 1 ||
			    strspn(s + 1, "0123456789ABCDEF") < 2)
				return -1;
			out[o++] = (char)v;
			s += 2;
		} else if (*s < 33 || *s > 126 || *s == '=')
			return -1;
		else
			out[o++] = *s;
	}
	out[o] = '\0';
	return 0;
}

START_TEST(test_xtext_basic)
{
	char buf[64];

	/* Exactly the room needed is enough. */
	ck_assert_int_eq(smtp_xtext("abc", buf, 4), 0);
	ck_assert_str_eq(buf, "abc");
	ck_assert_int_eq(smtp_xtext("a", buf, 2), 0);
	ck_assert_int_eq(smtp_xtext("+", buf, 4), 0);
	ck_assert_str_eq(buf, "+2B");
	ck_assert_int_eq(smtp_xtext("+", buf, 3), -1);
	ck_assert_int_eq(smtp_xtext("", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(smtp_xtext("rfc822;alice@example.org", buf,
	    sizeof(buf)), 0);
	ck_assert_str_eq(buf, "rfc822;alice@example.org");
	ck_assert_int_eq(smtp_xtext("a+b=c", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "a+2Bb+3Dc");
	ck_assert_int_eq(smtp_xtext("a b", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "a+20b");
	ck_assert_int_eq(smtp_xtext("\x01\t\r\n\x1f\x7f", buf, sizeof(buf)),
	    0);
	ck_assert_str_eq(buf, "+01+09+0D+0A+1F+7F");
	/* 8-bit octets, uppercase hex (RFC 3461 4: hexchar is uppercase) */
	ck_assert_int_eq(smtp_xtext("\xc3\xa9\xff\x80", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "+C3+A9+FF+80");
	ck_assert_int_eq(smtp_xtext("!~", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "!~");
}
END_TEST

START_TEST(test_xtext_roundtrip)
{
	char in[256], enc[3 * 256 + 1], dec[256];

	for (int i = 1; i < 256; i++)
		in[i - 1] = (char)i;
	in[255] = '\0';
	ck_assert_int_eq(smtp_xtext(in, enc, sizeof(enc)), 0);
	ck_assert_uint_le(strlen(enc), 3 * 255);
	ck_assert_int_eq(unxtext(enc, dec, sizeof(dec)), 0);
	ck_assert_str_eq(dec, in);
}
END_TEST

START_TEST(test_xtext_room)
{
	char buf[16], big[3 * 300 + 1], in[301];

	/* "+" needs 3 octets and the NUL */
	memset(buf, 'Z', sizeof(buf));
	ck_assert_int_eq(smtp_xtext("+", buf, 4), 0);
	ck_assert_str_eq(buf, "+2B");
	ck_assert_int_eq(smtp_xtext("+", buf, 3), -1);
	ck_assert_int_eq(smtp_xtext("a", buf, 1), -1);
	ck_assert_int_eq(smtp_xtext("abcdef", buf, 6), -1);
	ck_assert_int_eq(smtp_xtext("a+", buf, 4), -1);
	ck_assert_int_eq(smtp_xtext("a+", buf, 5), 0);
	ck_assert_str_eq(buf, "a+2B");
	ck_assert_int_eq(smtp_xtext("", buf, 1), 0);
	ck_assert_str_eq(buf, "");
	/* it never writes past bufsize */
	memset(buf, 'Z', sizeof(buf));
	(void)smtp_xtext("+++++", buf, 8);
	ck_assert_int_eq(buf[8], 'Z');
	memset(in, '=', 300);
	in[300] = '\0';
	ck_assert_int_eq(smtp_xtext(in, big, sizeof(big)), 0);
	ck_assert_uint_eq(strlen(big), 900);
	ck_assert_int_eq(smtp_xtext(in, big, sizeof(big) - 1), -1);
}
END_TEST

/* --- smtp_dot_stuff -------------------------------------------------- */

static size_t
stuff(const char *in, size_t len, char *out, int *bol)
{
	size_t n = smtp_dot_stuff((const unsigned char *)in, len,
	    (unsigned char *)out, bol);

	out[n] = '\0';
	return n;
}

START_TEST(test_dot_stuff_lines)
{
	char out[128];
	int bol;

	bol = 1;
	stuff("a\r\n.b\r\n", 7, out, &bol);
	ck_assert_str_eq(out, "a\r\n..b\r\n");
	ck_assert_int_eq(bol, 1);
	bol = 1;
	stuff(".\r\n", 3, out, &bol);		/* a lone "." line */
	ck_assert_str_eq(out, "..\r\n");
	bol = 1;
	stuff("..\r\n...x\r\n", 10, out, &bol);
	ck_assert_str_eq(out, "...\r\n....x\r\n");
	bol = 1;
	stuff("a.b\r\n x.\r\n", 10, out, &bol);	/* only at line start */
	ck_assert_str_eq(out, "a.b\r\n x.\r\n");
	ck_assert_int_eq(bol, 1);
	bol = 0;				/* mid-line from before */
	stuff(".x\r\n.", 5, out, &bol);
	ck_assert_str_eq(out, ".x\r\n..");
	ck_assert_int_eq(bol, 0);
	bol = 1;
	ck_assert_uint_eq(stuff("", 0, out, &bol), 0);
	ck_assert_int_eq(bol, 1);
	bol = 1;
	stuff("x\r\n", 3, out, &bol);
	ck_assert_int_eq(bol, 1);
	stuff("x", 1, out, &bol);
	ck_assert_int_eq(bol, 0);
	/* a bare CR does not end a line; no doubled dot after it */
	bol = 1;
	stuff("a\r.b\r\n", 6, out, &bol);
	ck_assert_str_eq(out, "a\r.b\r\n");
}
END_TEST

START_TEST(test_dot_stuff_boundaries)
{
	char all[256];
	size_t n = 0;
	int bol = 1;

	/* CRLF split across buffers: the dot after it is still doubled */
	n += stuff("abc\r", 4, all + n, &bol);
	n += stuff("\n.x\r\n", 5, all + n, &bol);
	n += stuff("y\r\n", 3, all + n, &bol);
	n += stuff(".", 1, all + n, &bol);
	n += stuff("\r\n", 2, all + n, &bol);
	ck_assert_str_eq(all, "abc\r\n..x\r\ny\r\n..\r\n");
	ck_assert_uint_eq(n, strlen(all));
}
END_TEST

START_TEST(test_dot_stuff_chunking)
{
	/* every split of the input gives the output of one call */
	static const char body[] = ".a\r\n\r\n..\r\n.\r\nb.\r\n.\n.";
	size_t len = sizeof(body) - 1;
	char whole[2 * sizeof(body) + 2], parts[2 * sizeof(body) + 2];
	size_t wn, pn;
	int bol;

	bol = 1;
	wn = stuff(body, len, whole, &bol);
	ck_assert_uint_le(wn, 2 * len);
	ck_assert_str_eq(whole,
	    "..a\r\n\r\n...\r\n..\r\nb.\r\n..\n..");
	for (size_t step = 1; step <= len; step++) {
		pn = 0;
		bol = 1;
		for (size_t i = 0; i < len; i += step)
			pn += stuff(body + i, i + step > len ? len - i : step,
			    parts + pn, &bol);
		ck_assert_uint_eq(pn, wn);
		ck_assert_int_eq(memcmp(parts, whole, wn), 0);
	}
}
END_TEST

/* --- smtp_route_nexthop_parse ---------------------------------------- */

START_TEST(test_nexthop_ok)
{
	char host[ROUTE_NEXTHOP_MAX];
	int port, lit;

	ck_assert_int_eq(smtp_route_nexthop_parse("[mx.example]:587", host,
	    sizeof(host), &port, &lit, 25), 0);
	ck_assert_str_eq(host, "mx.example");
	ck_assert_int_eq(port, 587);
	ck_assert_int_eq(lit, 1);
	ck_assert_int_eq(smtp_route_nexthop_parse("[192.0.2.1]", host,
	    sizeof(host), &port, &lit, 25), 0);
	ck_assert_str_eq(host, "192.0.2.1");
	ck_assert_int_eq(port, 25);
	ck_assert_int_eq(lit, 1);
	ck_assert_int_eq(smtp_route_nexthop_parse("example.org", host,
	    sizeof(host), &port, &lit, 2525), 0);
	ck_assert_str_eq(host, "example.org");
	ck_assert_int_eq(port, 2525);
	ck_assert_int_eq(lit, 0);
	ck_assert_int_eq(smtp_route_nexthop_parse("example.org:26", host,
	    sizeof(host), &port, &lit, 25), 0);
	ck_assert_str_eq(host, "example.org");
	ck_assert_int_eq(port, 26);
	ck_assert_int_eq(lit, 0);
	ck_assert_int_eq(smtp_route_nexthop_parse("[::1]:2525", host,
	    sizeof(host), &port, &lit, 25), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(port, 2525);
	/* RFC 5321 4.1.3: the tag is not part of the address. */
	ck_assert_int_eq(smtp_route_nexthop_parse("[IPv6:::1]:25", host,
	    sizeof(host), &port, &lit, 1), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(port, 25);
	ck_assert_int_eq(lit, 1);
	ck_assert_int_eq(smtp_route_nexthop_parse("[h]:1", host,
	    sizeof(host), &port, &lit, 25), 0);
	ck_assert_int_eq(port, 1);
	ck_assert_int_eq(smtp_route_nexthop_parse("h:65535", host,
	    sizeof(host), &port, &lit, 25), 0);
	ck_assert_int_eq(port, 65535);
	/* the host just fits */
	ck_assert_int_eq(smtp_route_nexthop_parse("abcd:25", host, 5, &port,
	    &lit, 25), 0);
	ck_assert_str_eq(host, "abcd");
	ck_assert_int_eq(smtp_route_nexthop_parse("[abcd]", host, 5, &port,
	    &lit, 25), 0);
	ck_assert_str_eq(host, "abcd");
}
END_TEST

START_TEST(test_nexthop_bad)
{
	static const char *bad[] = {
		"", ":25", "[]", "[]:25", "[host", "[host:25", "[host]x",
		"[host]:", "[host]:0", "[host]:65536", "[host]:-1",
		"[host]:25x", "[host]:x", "[host]]:25", "[host] :25",
		"host:", "host:0", "host:65536", "host:99999999999999999999",
		"host:25 ", "host:2 5", "host:-25", "host:0x19",
		"[a]b]:25",
	};
	char host[ROUTE_NEXTHOP_MAX];
	int port, lit;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(smtp_route_nexthop_parse(bad[i], host,
		    sizeof(host), &port, &lit, 25) == -1,
		    "accepted \"%s\"", bad[i]);
	/* too long for host (5 octets hold 4 and the NUL) */
	ck_assert_int_eq(smtp_route_nexthop_parse("abcde", host, 5, &port,
	    &lit, 25), -1);
	ck_assert_int_eq(smtp_route_nexthop_parse("[abcde]:25", host, 5,
	    &port, &lit, 25), -1);
}
END_TEST

/* A bracketed IP literal is used as is: no DNS (no servers configured). */
START_TEST(test_route_literal)
{
	struct settings set;
	struct dns_config dc;
	static struct smtp_route rt;
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	settings_defaults(&set);
	memset(&dc, 0, sizeof(dc));
	dc.timeout_ms = 10;
	dc.attempts = 1;
	smtp_route_resolve(&set, &dc, "[192.0.2.7]:2525", &rt);
	ck_assert_int_eq(rt.n, 1);
	sin = (const struct sockaddr_in *)&rt.t[0].ss;
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_int_eq(ntohs(sin->sin_port), 2525);
	ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), 0xc0000207);
	smtp_route_resolve(&set, &dc, "[::1]", &rt);
	ck_assert_int_eq(rt.n, 1);
	sin6 = (const struct sockaddr_in6 *)&rt.t[0].ss;
	ck_assert_int_eq(sin6->sin6_family, AF_INET6);
	ck_assert_int_eq(ntohs(sin6->sin6_port), (int)set.smtp_port);
	ck_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	smtp_route_resolve(&set, &dc, "[IPv6:::1]:25", &rt);
	ck_assert_int_eq(rt.n, 1);
	smtp_route_resolve(&set, &dc, "[host]:0", &rt);
	ck_assert_int_eq(rt.n, 0);
	ck_assert_str_eq(rt.dsn, "5.1.2");
	settings_free(&set);
}
END_TEST

/* --- whole replies through smtp_conn_open / smtp_conn_hello ---------- */

struct script {
	const char	*part[4];	/* written with a pause between */
	size_t		 len[4];	/* 0: strlen */
	int		 shut;		/* then end the server's output */
};

/*
 * serve - a loopback listener whose one connection gets the script, then
 * is drained until the client closes.  Returns the child's pid.
 */
static pid_t
serve(const struct script *s, struct sockaddr_in *sin)
{
	socklen_t slen = sizeof(*sin);
	char buf[512];
	pid_t pid;
	int lfd, fd;

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ne(lfd = socket(AF_INET, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)sin, &slen), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			_exit(1);
		for (int i = 0; i < 4 && s->part[i] != NULL; i++) {
			size_t len = s->len[i] ? s->len[i] :
			    strlen(s->part[i]);

			if (i > 0)
				usleep(50 * 1000);
			if (write(fd, s->part[i], len) != (ssize_t)len)
				_exit(1);
		}
		if (s->shut)
			shutdown(fd, SHUT_WR);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		_exit(0);
	}
	close(lfd);
	return pid;
}

static struct settings cset;

static void
conn_setup(void)
{
	settings_defaults(&cset);
	cset.smtp_connect_timeout = 5;
	cset.smtp_helo_timeout = 5;
	cset.smtp_quit_timeout = 1;
	cset.smtp_tls_security_level = SMTP_TLS_NONE;
}

static void
conn_teardown(void)
{
	settings_free(&cset);
}

/* greet - open a connection to a server sending script; step and reply */
static enum smtp_step
greet(const struct script *s, struct smtp_reply *r, struct smtp_conn *c,
    int keep)
{
	struct sockaddr_in sin;
	enum smtp_step st;
	pid_t pid = serve(s, &sin);
	int status;

	memset(r, 0, sizeof(*r));
	st = smtp_conn_open(c, &cset, "mx.test", (struct sockaddr *)&sin,
	    sizeof(sin), r);
	if (!keep || st != STEP_OK)
		smtp_conn_close(c, 0);
	if (!keep) {
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	return st;
}

START_TEST(test_conn_greeting)
{
	struct script s = { { "220 mx.test ESMTP\r\n" }, { 0 }, 0 };
	struct smtp_reply r;
	struct smtp_conn c;

	ck_assert_int_eq(greet(&s, &r, &c, 0), STEP_OK);
	ck_assert_int_eq(r.code, 220);
	ck_assert_str_eq(r.text, "220 mx.test ESMTP");
	ck_assert_str_eq(r.dsn, "2.0.0");
	ck_assert_int_eq(strncmp(c.relay, "mx.test[127.0.0.1]:", 19), 0);
	ck_assert_int_eq(c.fd, -1);
}
END_TEST

START_TEST(test_conn_multiline)
{
	/* lines joined with ' ', "220-"/"220 " dropped after the first */
	struct script s = { { "220-mx.test hello\r\n220-second\r\n",
	    "220 third\n" }, { 0 }, 0 };
	struct smtp_reply r;
	struct smtp_conn c;

	ck_assert_int_eq(greet(&s, &r, &c, 0), STEP_OK);
	ck_assert_int_eq(r.code, 220);
	ck_assert_str_eq(r.text, "220 mx.test hello second third");
}
END_TEST

START_TEST(test_conn_split_crlf)
{
	/* CR and LF in different segments, a line split mid-code */
	struct script s = { { "220-a\r", "\n22", "0 b\r\n" }, { 0 }, 0 };
	struct smtp_reply r;
	struct smtp_conn c;

	ck_assert_int_eq(greet(&s, &r, &c, 0), STEP_OK);
	ck_assert_int_eq(r.code, 220);
	ck_assert_str_eq(r.text, "220 a b");
}
END_TEST

START_TEST(test_conn_bare_code)
{
	struct script s = { { "220\r\n" }, { 0 }, 0 };
	struct smtp_reply r;
	struct smtp_conn c;

	ck_assert_int_eq(greet(&s, &r, &c, 0), STEP_OK);
	ck_assert_int_eq(r.code, 220);
	ck_assert_str_eq(r.text, "220");
}
END_TEST

static void
expect_malformed(const struct script *s)
{
	struct smtp_reply r;
	struct smtp_conn c;

	ck_assert_int_eq(greet(s, &r, &c, 0), STEP_NEXT_HOST);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.dsn, "4.5.0");
	ck_assert_msg(strstr(r.text, "malformed reply") != NULL, "%s",
	    r.text);
	ck_assert_msg(strstr(r.text, "mx.test[127.0.0.1]") != NULL, "%s",
	    r.text);
}

START_TEST(test_conn_malformed)
{
	static const struct script s[] = {
		{ { "220-a\r\n221 b\r\n" }, { 0 }, 0 },	/* code changes */
		{ { "220-a\r\n250 b\r\n" }, { 0 }, 0 },
		{ { "22\r\n" }, { 0 }, 0 },		/* short */
		{ { "\r\n" }, { 0 }, 0 },			/* empty */
		{ { "2x0 hi\r\n" }, { 0 }, 0 },		/* not digits */
		{ { "220x hi\r\n" }, { 0 }, 0 },
		{ { "220-a\r\nhello\r\n" }, { 0 }, 0 },
		{ { "2\0" "0 hi\r\n" }, { 8 }, 0 },	/* NUL in the code */
		{ { "220\0hi\r\n" }, { 8 }, 0 },
		{ { "120 hi\r\n" }, { 0 }, 0 },
	};

	expect_malformed(&s[_i]);
}
END_TEST

START_TEST(test_conn_too_many_lines)
{
	static char many[101 * 7 + 16];
	struct script s = { { many }, { 0 }, 0 };
	struct smtp_reply r;
	struct smtp_conn c;
	size_t o = 0;

	/* 100 lines are fine */
	for (int i = 0; i < 99; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "220-x\r\n");
	snprintf(many + o, sizeof(many) - o, "220 x\r\n");
	ck_assert_int_eq(greet(&s, &r, &c, 0), STEP_OK);
	/* 101 are not */
	o = 0;
	for (int i = 0; i < 100; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "220-x\r\n");
	snprintf(many + o, sizeof(many) - o, "220 x\r\n");
	expect_malformed(&s);
}
END_TEST

START_TEST(test_conn_nul_and_controls)
{
	/* NUL ends the kept text; control and 8-bit octets become '?' */
	struct script s = { { "220 a\x01\x7f\xe9z\0hidden\r\n" }, { 18 }, 0 };
	struct smtp_reply r;
	struct smtp_conn c;

	ck_assert_int_eq(greet(&s, &r, &c, 0), STEP_OK);
	ck_assert_str_eq(r.text, "220 a???z");
}
END_TEST

START_TEST(test_conn_long_lines)
{
	static char line[SMTP_LINE_MAX + 64];
	struct script s = { { line }, { 0 }, 0 };
	struct smtp_reply r;
	struct smtp_conn c;

	/* the longest line that fits the input buffer with its CRLF */
	memset(line, 'x', sizeof(line));
	memcpy(line, "220 ", 4);
	memcpy(line + SMTP_LINE_MAX - 2, "\r\n", 3);
	ck_assert_int_eq(greet(&s, &r, &c, 0), STEP_OK);
	ck_assert_int_eq(r.code, 220);
	ck_assert_uint_eq(strlen(r.text), SMTP_TEXT_MAX - 1);
	ck_assert_str_eq(r.dsn, "2.0.0");
	/* one more octet: no line end in a full buffer is an error */
	memset(line, 'x', sizeof(line));
	memcpy(line, "220 ", 4);
	memcpy(line + SMTP_LINE_MAX - 1, "\r\n", 3);
	ck_assert_int_eq(greet(&s, &r, &c, 0), STEP_NEXT_HOST);
	ck_assert_int_eq(r.code, 0);
	/* a 4 KB line with no end at all */
	memset(line, 'x', sizeof(line));
	memcpy(line, "220 ", 4);
	line[SMTP_LINE_MAX + 10] = '\0';
	ck_assert_int_eq(greet(&s, &r, &c, 0), STEP_NEXT_HOST);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.dsn, "4.4.2");
}
END_TEST

START_TEST(test_conn_refused_greeting)
{
	struct script s = { { "554-5.7.1 go\r\n554 away\r\n" }, { 0 }, 0 };
	struct smtp_reply r;
	struct smtp_conn c;

	ck_assert_int_eq(greet(&s, &r, &c, 0), STEP_NEXT_HOST);
	ck_assert_int_eq(r.code, 554);
	ck_assert_str_eq(r.dsn, "5.7.1");
	ck_assert_msg(strstr(r.text, "554 5.7.1 go away") != NULL, "%s",
	    r.text);
	/* class mismatch: derived from the reply code */
	s.part[0] = "421 5.7.1 busy\r\n";
	ck_assert_int_eq(greet(&s, &r, &c, 0), STEP_NEXT_HOST);
	ck_assert_int_eq(r.code, 421);
	ck_assert_str_eq(r.dsn, "4.0.0");
}
END_TEST

START_TEST(test_conn_eof)
{
	struct script s = { { "220-a\r\n" }, { 0 }, 1 };
	struct smtp_reply r;
	struct smtp_conn c;

	/* the server half-closes mid-reply */
	ck_assert_int_eq(greet(&s, &r, &c, 0), STEP_NEXT_HOST);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.dsn, "4.4.2");
}
END_TEST

/* ehlo_script - greeting and an EHLO reply; the client speaks first */
static unsigned
ehlo_ext_greeting(const char *greeting, const char *ehlo_reply,
    uint64_t *size_max)
{
	struct script s = { { greeting, ehlo_reply }, { 0 }, 0 };
	struct smtp_reply r;
	struct smtp_conn c;
	enum smtp_step st;
	unsigned ext;

	ck_assert_int_eq(greet(&s, &r, &c, 1), STEP_OK);
	st = smtp_conn_hello(&c, 1, NULL, NULL, &r);
	ck_assert_msg(st == STEP_OK, "%d %s", st, r.text);
	ck_assert_int_eq(r.code, 250);
	ext = c.ext;
	*size_max = c.size_max;
	smtp_conn_close(&c, 0);
	wait(NULL);
	return ext;
}

static unsigned
ehlo_ext(const char *ehlo_reply, uint64_t *size_max)
{
	return ehlo_ext_greeting("220 mx.test\r\n", ehlo_reply, size_max);
}

/* A bare "250" to EHLO offers nothing -- not words left over from the
 * greeting; AUTH mechanisms are words, case-insensitive, not substrings. */
START_TEST(test_conn_ehlo_edges)
{
	uint64_t size;

	ck_assert_uint_eq(ehlo_ext_greeting("220 a STARTTLS b\r\n",
	    "250\r\n", &size), 0);
	ck_assert_uint_eq(ehlo_ext("250-mx.test\r\n250 auth plain\r\n",
	    &size), EXT_AUTH_PLAIN);
	ck_assert_uint_eq(ehlo_ext("250-mx.test\r\n250-AUTH CRAM-MD5\r\n"
	    "250 X-PLAINTEXT\r\n", &size), 0);
}
END_TEST

START_TEST(test_conn_ehlo)
{
	uint64_t size;
	unsigned ext;

	ext = ehlo_ext("250-mx.test hi\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
	    "250-8BITMIME\r\n250-dsn\r\n250-AUTH PLAIN LOGIN\r\n"
	    "250 SMTPUTF8\r\n", &size);
	ck_assert_uint_eq(ext, EXT_PIPELINING | EXT_SIZE | EXT_8BITMIME |
	    EXT_DSN | EXT_AUTH_PLAIN | EXT_AUTH_LOGIN | EXT_SMTPUTF8);
	ck_assert_uint_eq(size, 1000);
	ext = ehlo_ext("250 mx.test\r\n", &size);
	ck_assert_uint_eq(ext, 0);
	ck_assert_uint_eq(size, 0);
	ext = ehlo_ext("250-mx.test\r\n250 SIZE\r\n", &size);
	ck_assert_uint_eq(ext, EXT_SIZE);
	ck_assert_uint_eq(size, 0);
	/* the greeting name is not a keyword */
	ext = ehlo_ext("250-PIPELINING\r\n250 STARTTLS\r\n", &size);
	ck_assert_uint_eq(ext, EXT_STARTTLS);
}
END_TEST

/*
 * sink_serve_with - a loopback server that answers every command with
 * success and writes what came between DATA's 354 and the final "." to
 * outfd.  It offers PIPELINING when pipe, writes each command line to
 * cmdfd (unless -1) as "READ# LINE" (READ# counts the server's reads, so
 * lines that came in one write share it), and answers RSET with
 * rset_answer: NULL for 250, "" to close the connection without a word
 * (an idle timeout that fired meanwhile), or that reply followed by the
 * close.
 */
static pid_t
sink_serve_with(struct sockaddr_in *sin, int pipe, const char *rset_answer,
    int outfd, int cmdfd)
{
	socklen_t slen = sizeof(*sin);
	char buf[4096];
	size_t len = 0;
	int lfd, fd, data = 0, reads = 0;
	pid_t pid;

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ne(lfd = socket(AF_INET, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)sin, &slen), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid != 0) {
		close(lfd);
		return pid;
	}
	if ((fd = accept(lfd, NULL, NULL)) == -1 ||
	    write(fd, "220 mx.test\r\n", 13) != 13)
		_exit(1);
	for (;;) {
		const char *ans = "250 ok\r\n";
		char *eol;
		size_t ll;
		ssize_t n;

		while ((eol = memchr(buf, '\n', len)) == NULL) {
			if (len == sizeof(buf) ||
			    (n = read(fd, buf + len, sizeof(buf) - len)) <= 0)
				_exit(1);
			len += (size_t)n;
			reads++;
		}
		ll = (size_t)(eol - buf) + 1;
		if (data && ll == 3 && buf[0] == '.')
			data = 0;
		else if (data) {
			if (write(outfd, buf, ll) != (ssize_t)ll)
				_exit(1);
			ans = NULL;
		}
		if (!data && ans != NULL && cmdfd != -1 &&
		    dprintf(cmdfd, "%d %.*s\n", reads, (int)ll - 2, buf) < 0)
			_exit(1);
		if (ans == NULL || data)
			;
		else if (strncmp(buf, "EHLO", 4) == 0 && pipe)
			ans = "250-mx.test\r\n250 PIPELINING\r\n";
		else if (strncmp(buf, "DATA", 4) == 0) {
			data = 1;
			ans = "354 go on\r\n";
		} else if (strncmp(buf, "RSET", 4) == 0 &&
		    rset_answer != NULL) {
			if (write(fd, rset_answer, strlen(rset_answer)) !=
			    (ssize_t)strlen(rset_answer))
				_exit(1);
			_exit(0);
		} else if (strncmp(buf, "QUIT", 4) == 0)
			_exit(write(fd, "221 bye\r\n", 9) == 9 ? 0 : 1);
		if (ans != NULL && write(fd, ans, strlen(ans)) !=
		    (ssize_t)strlen(ans))
			_exit(1);
		memmove(buf, buf + ll, len - ll);
		len -= ll;
	}
}

/* sink_serve - sink_serve_with a plain server: no PIPELINING, no log */
static pid_t
sink_serve(struct sockaddr_in *sin, int outfd)
{
	return sink_serve_with(sin, 0, NULL, outfd, -1);
}

/* Exactly the message's octets go out: what follows it in the queue file
 * does not, and a file that ends before them defers the recipient. */
START_TEST(test_deliver_exact_body_size)
{
	static const char file[] = "ENVELOPE"
	    "Subject: x\r\n\r\n.dot\r\nbody\r\n" "TRAILER\r\n";
	char tmpl[] = "/tmp/tern-body-XXXXXX", out[] = "/tmp/tern-out-XXXXXX";
	struct smtp_msg msg = { .sender = "a@b", .envid = "", .size = 26,
	    .offset = 8 };
	struct smtp_rcpt rc = { .index = 0, .address = "r@mx.test",
	    .orcpt = "", .status = -1 };
	struct sockaddr_in sin;
	struct smtp_reply r;
	struct smtp_conn c;
	char got[256];
	int ofd, status;
	ssize_t n;
	pid_t pid;

	ck_assert_int_ge(msg.fd = mkstemp(tmpl), 0);
	ck_assert_int_ge(ofd = mkstemp(out), 0);
	unlink(tmpl);
	unlink(out);
	ck_assert_int_eq(write(msg.fd, file, sizeof(file) - 1),
	    (ssize_t)sizeof(file) - 1);
	for (int pass = 0; pass < 2; pass++) {
		pid = sink_serve(&sin, ofd);
		memset(&r, 0, sizeof(r));
		ck_assert_int_eq(smtp_conn_open(&c, &cset, "mx.test",
		    (struct sockaddr *)&sin, sizeof(sin), &r), STEP_OK);
		ck_assert_int_eq(smtp_conn_hello(&c, 1, NULL, NULL, &r),
		    STEP_OK);
		smtp_conn_deliver(&c, &msg, &rc, 1);
		smtp_conn_close(&c, 1);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		if (pass == 0) {
			ck_assert_int_eq(rc.status, DELIVER_OK);
			n = pread(ofd, got, sizeof(got), 0);
			ck_assert_int_eq(n, 27);
			ck_assert(memcmp(got, "Subject: x\r\n\r\n..dot\r\n"
			    "body\r\n", 27) == 0);
		} else
			ck_assert_int_eq(rc.status, DELIVER_TEMPFAIL);
		/* A size past the end of the file: a damaged queue file. */
		msg.size = sizeof(file);
		rc.status = -1;
	}
	close(msg.fd);
	close(ofd);
}
END_TEST

/* --- the message body against a server that takes it slowly ---------- */

/* slow_line - one command line from fd into buf (CRLF dropped); -1 EOF */
static int
slow_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	char ch;

	while (read(fd, &ch, 1) == 1) {
		if (ch == '\n') {
			buf[n > 0 && buf[n - 1] == '\r' ? n - 1 : n] = '\0';
			return 0;
		}
		if (n + 1 < size)
			buf[n++] = ch;
	}
	return -1;
}

/*
 * bdat_serve - a loopback server that offers CHUNKING and writes each
 * chunk's octets to outfd, and one line "BDAT n[ LAST]" per chunk to
 * cmdfd, answering every chunk 250.
 */
static pid_t
bdat_serve(struct sockaddr_in *sin, int outfd, int cmdfd)
{
	socklen_t slen = sizeof(*sin);
	static char buf[65536];
	char line[512];
	int lfd, fd;
	pid_t pid;

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ne(lfd = socket(AF_INET, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)sin, &slen), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid != 0) {
		close(lfd);
		return pid;
	}
	if ((fd = accept(lfd, NULL, NULL)) == -1 ||
	    write(fd, "220 mx.test\r\n", 13) != 13)
		_exit(1);
	while (slow_line(fd, line, sizeof(line)) == 0) {
		unsigned long long n;
		const char *ans = "250 ok\r\n";

		if (strncmp(line, "EHLO", 4) == 0)
			ans = "250-mx.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
		else if (strncmp(line, "QUIT", 4) == 0)
			_exit(write(fd, "221 bye\r\n", 9) == 9 ? 0 : 1);
		else if (sscanf(line, "BDAT %llu", &n) == 1) {
			if (dprintf(cmdfd, "%s\n", line) < 0)
				_exit(1);
			while (n > 0) {
				ssize_t k = read(fd, buf, n < sizeof(buf) ?
				    (size_t)n : sizeof(buf));

				if (k <= 0 || write(outfd, buf, (size_t)k) != k)
					_exit(1);
				n -= (unsigned long long)k;
			}
		} else if (strncmp(line, "DATA", 4) == 0)
			_exit(1);	/* must not come with CHUNKING */
		if (write(fd, ans, strlen(ans)) != (ssize_t)strlen(ans))
			_exit(1);
	}
	_exit(1);
}

/* bdat_run - deliver size octets at offset 0 of fd to bdat_serve: what
 * it got (malloc'd, *len octets) and its BDAT lines in cmds */
static char *
bdat_run(int fd, uint64_t size, const char *head, size_t *len, char *cmds,
    size_t cmdsize)
{
	char out[] = "/tmp/tern-bdat-XXXXXX", log[] = "/tmp/tern-bcmd-XXXXXX";
	struct smtp_msg msg = { .sender = "a@b", .envid = "", .size = size,
	    .offset = 0, .fd = fd, .head = head,
	    .headlen = head != NULL ? strlen(head) : 0 };
	struct smtp_rcpt rc = { .index = 0, .address = "r@mx.test",
	    .orcpt = "", .status = -1 };
	struct sockaddr_in sin;
	struct smtp_reply r;
	struct smtp_conn c;
	int ofd, lfd, status;
	char *got;
	pid_t pid;
	ssize_t n;

	ck_assert_int_ge(ofd = mkstemp(out), 0);
	ck_assert_int_ge(lfd = mkstemp(log), 0);
	unlink(out);
	unlink(log);
	pid = bdat_serve(&sin, ofd, lfd);
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(smtp_conn_open(&c, &cset, "mx.test",
	    (struct sockaddr *)&sin, sizeof(sin), &r), STEP_OK);
	ck_assert_int_eq(smtp_conn_hello(&c, 1, NULL, NULL, &r), STEP_OK);
	ck_assert(c.ext & EXT_CHUNKING);
	smtp_conn_deliver(&c, &msg, &rc, 1);
	ck_assert_int_eq(rc.status, DELIVER_OK);
	smtp_conn_close(&c, 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	*len = (size_t)lseek(ofd, 0, SEEK_END);
	got = malloc(*len + 1);
	ck_assert_int_eq(pread(ofd, got, *len, 0), (ssize_t)*len);
	n = pread(lfd, cmds, cmdsize - 1, 0);
	cmds[n > 0 ? n : 0] = '\0';
	close(ofd);
	close(lfd);
	return got;
}

/* --- a kept connection: RSET ahead of the next transaction ----------- */

/* reuse_run - two transactions on one connection to sink_serve_with; the
 * second's result in *second, the second rcpt's status in *status2, the
 * server's command log in cmds and its data in got (both NUL-ended) */
static void
reuse_run(int pipe, const char *rset_answer, int *second, int *status2,
    char *cmds, size_t cmdsize, char *got, size_t gotsize)
{
	static const char file[] = "Subject: x\r\n\r\nbody\r\n";
	char tmpl[] = "/tmp/tern-body-XXXXXX", out[] = "/tmp/tern-out-XXXXXX";
	char log[] = "/tmp/tern-cmd-XXXXXX";
	struct smtp_msg msg = { .sender = "a@b", .envid = "",
	    .size = sizeof(file) - 1, .offset = 0 };
	struct smtp_rcpt rc[2] = {
		{ .index = 0, .address = "r@mx.test", .orcpt = "" },
		{ .index = 0, .address = "s@mx.test", .orcpt = "" } };
	struct sockaddr_in sin;
	struct smtp_reply r;
	struct smtp_conn c;
	int ofd, cfd, status;
	ssize_t n;
	pid_t pid;

	ck_assert_int_ge(msg.fd = mkstemp(tmpl), 0);
	ck_assert_int_ge(ofd = mkstemp(out), 0);
	ck_assert_int_ge(cfd = mkstemp(log), 0);
	unlink(tmpl);
	unlink(out);
	unlink(log);
	ck_assert_int_eq(write(msg.fd, file, sizeof(file) - 1),
	    (ssize_t)sizeof(file) - 1);
	pid = sink_serve_with(&sin, pipe, rset_answer, ofd, cfd);
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(smtp_conn_open(&c, &cset, "mx.test",
	    (struct sockaddr *)&sin, sizeof(sin), &r), STEP_OK);
	ck_assert_int_eq(smtp_conn_hello(&c, 1, NULL, NULL, &r), STEP_OK);
	ck_assert_int_eq(!!(c.ext & EXT_PIPELINING), pipe);
	rc[0].status = rc[1].status = -1;
	ck_assert_int_eq(smtp_conn_deliver(&c, &msg, &rc[0], 1), 0);
	ck_assert_int_eq(rc[0].status, DELIVER_OK);
	*second = smtp_conn_deliver(&c, &msg, &rc[1], 1);
	*status2 = rc[1].status;
	smtp_conn_close(&c, 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	n = pread(cfd, cmds, cmdsize - 1, 0);
	cmds[n > 0 ? n : 0] = '\0';
	n = pread(ofd, got, gotsize - 1, 0);
	got[n > 0 ? n : 0] = '\0';
	close(msg.fd);
	close(ofd);
	close(cfd);
}

/* The second transaction on a kept connection begins with RSET, in the
 * same write as MAIL, RCPT and DATA when the server pipelines (one round
 * trip fewer than RSET on its own), as a command of its own when not. */
START_TEST(test_deliver_reuse_rset_first)
{
	static const char *want[2] = {
	    "2 MAIL FROM:<a@b>\n3 RCPT TO:<r@mx.test>\n4 DATA\n5 .\n"
	    "6 RSET\n7 MAIL FROM:<a@b>\n8 RCPT TO:<s@mx.test>\n9 DATA\n"
	    "10 .\n11 QUIT\n",
	    "2 MAIL FROM:<a@b>\n2 RCPT TO:<r@mx.test>\n2 DATA\n3 .\n"
	    "4 RSET\n4 MAIL FROM:<a@b>\n4 RCPT TO:<s@mx.test>\n4 DATA\n"
	    "5 .\n6 QUIT\n" };
	char cmds[1024], got[256];
	int second, status2;

	for (int pipe = 0; pipe < 2; pipe++) {
		reuse_run(pipe, NULL, &second, &status2, cmds, sizeof(cmds),
		    got, sizeof(got));
		ck_assert_int_eq(second, 0);
		ck_assert_int_eq(status2, DELIVER_OK);
		/* After the EHLO line, which names this host. */
		ck_assert_str_eq(strchr(cmds, '\n') + 1, want[pipe]);
		ck_assert_str_eq(got, "Subject: x\r\n\r\nbody\r\n"
		    "Subject: x\r\n\r\nbody\r\n");
	}
}
END_TEST

/* A kept connection whose server closed it (silently, or saying 421 to
 * the RSET) is stale: SMTP_CONN_STALE, the recipient untouched for the
 * caller to deliver on a new connection, and nothing delivered twice. */
START_TEST(test_deliver_reuse_stale)
{
	static const char *answers[] = { "", "421 4.4.2 mx.test idle\r\n" };
	char cmds[1024], got[256];
	int second, status2;

	for (int pipe = 0; pipe < 2; pipe++)
		for (size_t i = 0; i < 2; i++) {
			reuse_run(pipe, answers[i], &second, &status2, cmds,
			    sizeof(cmds), got, sizeof(got));
			ck_assert_int_eq(second, SMTP_CONN_STALE);
			ck_assert_int_eq(status2, -1);
			ck_assert_str_eq(got, "Subject: x\r\n\r\nbody\r\n");
			ck_assert_ptr_nonnull(strstr(cmds, " RSET\n"));
		}
}
END_TEST

/* With CHUNKING the body goes as it is in BDAT chunks, never as DATA: no
 * dot-stuffing; a body without a final CRLF gets one, even when it falls
 * across two chunks; an empty body is "BDAT 0 LAST". */
START_TEST(test_deliver_bdat_chunks)
{
	static const char small[] = "Subject: x\r\n\r\n.dot\r\nbody\r\n";
	char tmpl[] = "/tmp/tern-body-XXXXXX", cmds[256], *got, *big;
	size_t len, bigsize = 1024 * 1024 - 1;
	int fd;

	ck_assert_int_ge(fd = mkstemp(tmpl), 0);
	unlink(tmpl);
	ck_assert_int_eq(write(fd, small, sizeof(small) - 1),
	    (ssize_t)sizeof(small) - 1);
	got = bdat_run(fd, sizeof(small) - 1, NULL, &len, cmds, sizeof(cmds));
	ck_assert_uint_eq(len, sizeof(small) - 1);
	ck_assert(memcmp(got, small, len) == 0);
	ck_assert_str_eq(cmds, "BDAT 26 LAST\n");
	free(got);

	got = bdat_run(fd, 0, NULL, &len, cmds, sizeof(cmds));
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(cmds, "BDAT 0 LAST\n");
	free(got);

	/* One octet short of a chunk, and no line end: the added CRLF is
	 * split, CR in the first chunk, LF in the second. */
	big = malloc(bigsize);
	memset(big, 'x', bigsize);
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	ck_assert_int_eq(pwrite(fd, big, bigsize, 0), (ssize_t)bigsize);
	got = bdat_run(fd, bigsize, NULL, &len, cmds, sizeof(cmds));
	ck_assert_uint_eq(len, bigsize + 2);
	ck_assert(memcmp(got, big, bigsize) == 0);
	ck_assert(memcmp(got + bigsize, "\r\n", 2) == 0);
	ck_assert_str_eq(cmds, "BDAT 1048576\nBDAT 1 LAST\n");
	free(got);
	free(big);
	close(fd);
}
END_TEST

/* A copy's head ("Delivered-To:") goes before the file's message, in
 * the same chunks: the BDAT sizes count it, a chunk boundary may fall
 * anywhere, and the added CRLF still ends the whole; an empty message
 * is its head alone. */
START_TEST(test_deliver_bdat_head)
{
	static const char head[] = "Delivered-To: fwd@example.org\r\n";
	char tmpl[] = "/tmp/tern-body-XXXXXX", cmds[256], *got, *big, want[64];
	size_t len, hl = sizeof(head) - 1, bigsize = 1024 * 1024 - 10;
	int fd;

	ck_assert_int_ge(fd = mkstemp(tmpl), 0);
	unlink(tmpl);
	big = malloc(bigsize);
	memset(big, 'x', bigsize);
	big[0] = '.';
	ck_assert_int_eq(pwrite(fd, big, bigsize, 0), (ssize_t)bigsize);
	got = bdat_run(fd, bigsize, head, &len, cmds, sizeof(cmds));
	ck_assert_uint_eq(len, hl + bigsize + 2);
	ck_assert(memcmp(got, head, hl) == 0);
	ck_assert(memcmp(got + hl, big, bigsize) == 0);
	ck_assert(memcmp(got + hl + bigsize, "\r\n", 2) == 0);
	snprintf(want, sizeof(want), "BDAT 1048576\nBDAT %zu LAST\n",
	    hl + bigsize + 2 - 1048576);
	ck_assert_str_eq(cmds, want);
	free(got);

	got = bdat_run(fd, 0, head, &len, cmds, sizeof(cmds));
	ck_assert_uint_eq(len, hl);
	ck_assert(memcmp(got, head, hl) == 0);
	snprintf(want, sizeof(want), "BDAT %zu LAST\n", hl);
	ck_assert_str_eq(cmds, want);
	free(got);
	free(big);
	close(fd);
}
END_TEST

/* Under DATA the head is dot-stuffed with the message, the start of a
 * line carried from one to the other, and it counts against the
 * server's SIZE limit. */
START_TEST(test_deliver_head_data_and_size)
{
	static const char file[] = "ENVELOPE.dot\r\nbody";
	static const char head[] = "Delivered-To: a@b\r\n";
	char tmpl[] = "/tmp/tern-body-XXXXXX", out[] = "/tmp/tern-out-XXXXXX";
	struct smtp_msg msg = { .sender = "a@b", .envid = "", .size = 10,
	    .offset = 8, .head = head, .headlen = sizeof(head) - 1 };
	struct smtp_rcpt rc = { .index = 0, .address = "r@mx.test",
	    .orcpt = "", .status = -1 };
	static const char want[] = "Delivered-To: a@b\r\n..dot\r\nbody\r\n";
	struct sockaddr_in sin;
	struct smtp_reply r;
	struct smtp_conn c;
	char got[256];
	int ofd, status;
	pid_t pid;

	ck_assert_int_ge(msg.fd = mkstemp(tmpl), 0);
	ck_assert_int_ge(ofd = mkstemp(out), 0);
	unlink(tmpl);
	unlink(out);
	ck_assert_int_eq(write(msg.fd, file, sizeof(file) - 1),
	    (ssize_t)sizeof(file) - 1);
	for (int pass = 0; pass < 2; pass++) {
		pid = sink_serve(&sin, ofd);
		memset(&r, 0, sizeof(r));
		ck_assert_int_eq(smtp_conn_open(&c, &cset, "mx.test",
		    (struct sockaddr *)&sin, sizeof(sin), &r), STEP_OK);
		ck_assert_int_eq(smtp_conn_hello(&c, 1, NULL, NULL, &r),
		    STEP_OK);
		/* As if the server said "SIZE n": one octet short of the
		 * copy on the first pass, exactly it on the second. */
		c.ext |= EXT_SIZE;
		c.size_max = msg.headlen + msg.size - (pass == 0);
		rc.status = -1;
		smtp_conn_deliver(&c, &msg, &rc, 1);
		smtp_conn_close(&c, 1);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		if (pass == 0) {
			ck_assert_int_eq(rc.status, DELIVER_PERMFAIL);
			ck_assert_str_eq(rc.dsn, "5.3.4");
			ck_assert_int_eq(lseek(ofd, 0, SEEK_END), 0);
		} else
			ck_assert_int_eq(rc.status, DELIVER_OK);
	}
	ck_assert_int_eq(pread(ofd, got, sizeof(got), 0),
	    (ssize_t)sizeof(want) - 1);
	ck_assert(memcmp(got, want, sizeof(want) - 1) == 0);
	close(msg.fd);
	close(ofd);
}
END_TEST

/*
 * slow_sink - a server that accepts MAIL, RCPT and DATA, then takes the
 * body 100 octets every quarter second (400 octets a second, below the
 * client's minimum) through the smallest socket buffers.  When the whole
 * body has come it writes 'W' to report (before its 250).
 */
static pid_t
slow_sink(struct sockaddr_in *sin, int report)
{
	socklen_t slen = sizeof(*sin);
	int lfd, fd, small = 1024, clamp = 512;
	char line[512], tail[5] = { 0 };
	pid_t pid;

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ne(lfd = socket(AF_INET, SOCK_STREAM, 0), -1);
	setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)sin, &slen), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid != 0) {
		close(lfd);
		return pid;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((fd = accept(lfd, NULL, NULL)) == -1)
		_exit(2);
	setsockopt(fd, IPPROTO_TCP, TCP_WINDOW_CLAMP, &clamp, sizeof(clamp));
	(void)!write(fd, "220 mx.test\r\n", 13);
	while (slow_line(fd, line, sizeof(line)) == 0) {
		if (strncmp(line, "DATA", 4) != 0) {
			(void)!write(fd, "250 ok\r\n", 8);
			continue;
		}
		(void)!write(fd, "354 go\r\n", 8);
		for (;;) {
			char buf[100];
			ssize_t n = read(fd, buf, sizeof(buf));

			if (n <= 0)
				_exit(0);
			for (ssize_t i = 0; i < n; i++) {
				memmove(tail, tail + 1, 4);
				tail[4] = buf[i];
			}
			if (memcmp(tail, "\r\n.\r\n", 5) == 0) {
				(void)!write(report, "W", 1);
				(void)!write(fd, "250 queued\r\n", 12);
				_exit(0);
			}
			usleep(250 * 1000);
		}
	}
	_exit(2);
}

/*
 * A server that keeps taking the body, but more slowly than the minimum
 * rate, is dropped once smtp_data_xfer_timeout has passed, although no
 * single wait for it to take more comes near that timeout (about 3 s of
 * the 8: the client's kernel frees a little room that often).  The body
 * is one 16000-octet chunk, which at that rate would take 40 s.
 */
START_TEST(test_conn_body_too_slow)
{
	struct smtp_rcpt rcpt = { 0, "x@test", "", 0, -1, "", "" };
	struct smtp_msg m = { "a@test", "", 0, 0, 0, 16000, -1, 0, NULL, 0,
	    0 };
	struct sockaddr_in sin;
	struct smtp_reply r;
	struct smtp_conn c;
	char body[16000], got = 0;
	int small = 4096, report[2];
	pid_t pid;

	ck_assert_int_eq(pipe(report), 0);
	pid = slow_sink(&sin, report[1]);
	close(report[1]);

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = i % 50 == 49 ? '\n' : i % 50 == 48 ? '\r' : 'b';
	ck_assert_int_ge(m.fd = memfd_create("body", 0), 0);
	ck_assert_int_eq(write(m.fd, body, sizeof(body)), sizeof(body));
	cset.smtp_data_xfer_timeout = 8;
	ck_assert_int_eq(smtp_conn_open(&c, &cset, "mx.test",
	    (struct sockaddr *)&sin, sizeof(sin), &r), STEP_OK);
	setsockopt(c.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	smtp_conn_deliver(&c, &m, &rcpt, 1);
	/* The server may still be draining what our kernel had queued. */
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	smtp_conn_close(&c, 1);
	ck_assert_int_eq(read(report[0], &got, 1), 0);
	close(report[0]);
	ck_assert_int_eq(rcpt.status, DELIVER_TEMPFAIL);
	ck_assert_msg(strstr(rcpt.text, "timed out") != NULL &&
	    strstr(rcpt.text, "message body") != NULL, "%s", rcpt.text);
	close(m.fd);
}
END_TEST

/* --- LMTP (RFC 2033): a reply per accepted recipient after the dot ---- */

struct lmtp_script {
	const char	*answer[8];	/* to each command, until DATA's 354 */
	const char	*after_dot;	/* written after the final dot */
	int		 trickle;	/* after_dot one octet every 200 ms */
};

/*
 * lmtp_serve - a Unix socket LMTP server at path for one connection:
 * greets, answers each command line with the next answer, takes the
 * message up to the final dot, writes after_dot, ends its output and
 * drains until the client closes.  Returns the child's pid.
 */
static pid_t
lmtp_serve(const struct lmtp_script *sc, struct sockaddr_un *sun,
    const char *path)
{
	char buf[4096];
	size_t len = 0, k = 0;
	int lfd, fd, data = 0;
	pid_t pid;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	strlcpy(sun->sun_path, path, sizeof(sun->sun_path));
	unlink(path);
	ck_assert_int_ne(lfd = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)sun, sizeof(*sun)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid != 0) {
		close(lfd);
		return pid;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((fd = accept(lfd, NULL, NULL)) == -1 ||
	    write(fd, "220 lmtp.test LMTP\r\n", 20) != 20)
		_exit(1);
	for (;;) {
		char *eol;
		ssize_t n;
		const char *ans = NULL;

		while ((eol = memchr(buf, '\n', len)) == NULL) {
			if (len == sizeof(buf) ||
			    (n = read(fd, buf + len, sizeof(buf) - len)) <= 0)
				_exit(0);
			len += (size_t)n;
		}
		size_t ll = (size_t)(eol - buf) + 1;

		if (data && ll == 3 && buf[0] == '.')
			break;
		if (!data && k < 8 && sc->answer[k] != NULL)
			ans = sc->answer[k++];
		if (ans != NULL && strncmp(ans, "354", 3) == 0)
			data = 1;
		if (ans != NULL && write(fd, ans, strlen(ans)) !=
		    (ssize_t)strlen(ans))
			_exit(1);
		memmove(buf, buf + ll, len - ll);
		len -= ll;
	}
	for (size_t i = 0; sc->after_dot[i] != '\0'; i++) {
		if (sc->trickle)
			usleep(200 * 1000);
		if (write(fd, sc->after_dot + i, 1) != 1)
			_exit(0);
		if (!sc->trickle) {
			size_t rest = strlen(sc->after_dot + i + 1);

			if (write(fd, sc->after_dot + i + 1, rest) !=
			    (ssize_t)rest)
				_exit(1);
			break;
		}
	}
	/* Whatever replies are missing never come. */
	shutdown(fd, SHUT_WR);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	_exit(0);
}

/* lmtp_run - deliver a small message to four recipients over sc; the
 * recipients' results are in rc */
static void
lmtp_run(const struct lmtp_script *sc, struct smtp_rcpt rc[4])
{
	static const char body[] = "Subject: x\r\n\r\n.dot\r\nbody\r\n";
	struct smtp_msg msg = { .sender = "a@b", .envid = "",
	    .size = sizeof(body) - 1, .offset = 0 };
	char path[] = "/tmp/tern-lmtp-XXXXXX", sock[64];
	struct sockaddr_un sun;
	struct smtp_reply r;
	struct smtp_conn c;
	int status;
	pid_t pid;

	ck_assert_ptr_nonnull(mkdtemp(path));
	snprintf(sock, sizeof(sock), "%s/lmtp", path);
	ck_assert_int_ge(msg.fd = memfd_create("body", 0), 0);
	ck_assert_int_eq(write(msg.fd, body, sizeof(body) - 1),
	    (ssize_t)sizeof(body) - 1);
	pid = lmtp_serve(sc, &sun, sock);
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(smtp_conn_open_lmtp(&c, &cset, sock,
	    (struct sockaddr *)&sun, sizeof(sun), &r), STEP_OK);
	ck_assert_int_eq(smtp_conn_hello(&c, 0, NULL, NULL, &r), STEP_OK);
	ck_assert(c.ext & EXT_PIPELINING);
	smtp_conn_deliver(&c, &msg, rc, 4);
	smtp_conn_close(&c, 1);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	close(msg.fd);
	unlink(sock);
	rmdir(path);
}

/* lmtp_rcpts - four fresh recipients */
static void
lmtp_rcpts(struct smtp_rcpt rc[4])
{
	static char *addr[4] = { "r1@test", "r2@test", "r3@test", "r4@test" };

	memset(rc, 0, 4 * sizeof(*rc));
	for (int i = 0; i < 4; i++) {
		rc[i].index = (uint32_t)i;
		rc[i].address = addr[i];
		rc[i].orcpt = "";
		rc[i].status = -1;
	}
}

/*
 * Each recipient accepted at RCPT gets its own reply after the final
 * dot, in RCPT order; one refused at RCPT gets none; one whose reply
 * never comes (the server closes) is deferred, never taken as delivered.
 */
START_TEST(test_lmtp_reply_per_recipient)
{
	struct lmtp_script sc = { { "250-lmtp.test\r\n250-PIPELINING\r\n"
	    "250 ENHANCEDSTATUSCODES\r\n", "250 2.1.0 ok\r\n",
	    "250 2.1.5 ok\r\n", "550 5.1.1 no such user\r\n",
	    "250 2.1.5 ok\r\n", "250 2.1.5 ok\r\n", "354 go on\r\n" },
	    "250 2.0.0 r1 saved\r\n452 4.2.2 r3 over quota\r\n", 0 };
	struct smtp_rcpt rc[4];

	lmtp_rcpts(rc);
	lmtp_run(&sc, rc);
	ck_assert_int_eq(rc[0].status, DELIVER_OK);
	ck_assert_msg(strstr(rc[0].text, "r1 saved") != NULL, "%s",
	    rc[0].text);
	ck_assert_int_eq(rc[1].status, DELIVER_PERMFAIL);
	ck_assert_str_eq(rc[1].dsn, "5.1.1");
	ck_assert_int_eq(rc[2].status, DELIVER_TEMPFAIL);
	ck_assert_str_eq(rc[2].dsn, "4.2.2");
	ck_assert_msg(strstr(rc[2].text, "r3 over quota") != NULL, "%s",
	    rc[2].text);
	ck_assert_int_eq(rc[3].status, DELIVER_TEMPFAIL);
	ck_assert_msg(strstr(rc[3].text, "lost connection") != NULL, "%s",
	    rc[3].text);
}
END_TEST

/*
 * The deadline for a recipient's reply after the dot is one for the whole
 * reply: a server that trickles it an octet every 200 ms, 4 s in all,
 * is given up on after smtp_data_done_timeout (1 s), and the recipient is
 * deferred.  A timeout reset by each octet would wait for all of it.
 */
START_TEST(test_lmtp_trickled_reply_deferred)
{
	struct lmtp_script sc = { { "250-lmtp.test\r\n250 PIPELINING\r\n",
	    "250 ok\r\n", "250 ok\r\n", "250 ok\r\n", "250 ok\r\n",
	    "250 ok\r\n", "354 go on\r\n" },
	    "250 2.0.0 saved\r\n", 1 };
	struct smtp_rcpt rc[4];

	cset.smtp_data_done_timeout = 1;
	lmtp_rcpts(rc);
	lmtp_run(&sc, rc);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(rc[i].status, DELIVER_TEMPFAIL);
		ck_assert_msg(strstr(rc[i].text, "timed out") != NULL, "%s",
		    rc[i].text);
	}
}
END_TEST

/* The EHLO keyword is seen, in any case, as one word only. */
START_TEST(test_conn_ehlo_requiretls)
{
	uint64_t size;

	ck_assert_uint_eq(ehlo_ext("250-mx.test\r\n250-requiretls\r\n"
	    "250 DSN\r\n", &size), EXT_REQUIRETLS | EXT_DSN);
	ck_assert_uint_eq(ehlo_ext("250-mx.test\r\n250 REQUIRETLSX\r\n",
	    &size), 0);
}
END_TEST

/* RFC 8689 4.1, 5: the mode a job's tag and sender give */
START_TEST(test_requiretls_mode)
{
	ck_assert_int_eq(smtp_tls_mode_of(0, "a@b"), SMTP_TLS_MODE_POLICY);
	ck_assert_int_eq(smtp_tls_mode_of(ENVELOPE_F_REQUIRETLS, "a@b"),
	    SMTP_TLS_MODE_REQUIRED);
	/* a notice from <> is not held back for want of REQUIRETLS */
	ck_assert_int_eq(smtp_tls_mode_of(ENVELOPE_F_REQUIRETLS, ""),
	    SMTP_TLS_MODE_POLICY);
	ck_assert_int_eq(smtp_tls_mode_of(ENVELOPE_F_TLS_OPTIONAL, ""),
	    SMTP_TLS_MODE_OPTIONAL);
	ck_assert_int_eq(smtp_tls_mode_of(ENVELOPE_F_TLS_OPTIONAL |
	    ENVELOPE_F_REQUIRETLS, "a@b"), SMTP_TLS_MODE_REQUIRED);
	ck_assert(smtp_tls_mode_ignores_policy(SMTP_TLS_MODE_OPTIONAL));
	ck_assert(!smtp_tls_mode_ignores_policy(SMTP_TLS_MODE_REQUIRED));
}
END_TEST

/* REQUIRETLS never below encrypt; TLS-Required: No lowers a domain's
 * level to may, but not a bracketed next hop's nor where credentials go */
START_TEST(test_requiretls_level)
{
	const enum smtp_tls_mode R = SMTP_TLS_MODE_REQUIRED,
	    O = SMTP_TLS_MODE_OPTIONAL, P = SMTP_TLS_MODE_POLICY;

	ck_assert_int_eq(smtp_requiretls_level(R, SMTP_TLS_NONE, 0, 0, "Q",
	    "d", "h"), SMTP_TLS_ENCRYPT);
	ck_assert_int_eq(smtp_requiretls_level(R, SMTP_TLS_MAY, 0, 0, "Q",
	    "d", "h"), SMTP_TLS_ENCRYPT);
	ck_assert_int_eq(smtp_requiretls_level(R, SMTP_TLS_SECURE, 0, 0, "Q",
	    "d", "h"), SMTP_TLS_SECURE);
	ck_assert_int_eq(smtp_requiretls_level(O, SMTP_TLS_SECURE, 0, 0, "Q",
	    "d", "h"), SMTP_TLS_MAY);
	ck_assert_int_eq(smtp_requiretls_level(O, SMTP_TLS_ENCRYPT, 0, 0, "Q",
	    "d", "h"), SMTP_TLS_MAY);
	ck_assert_int_eq(smtp_requiretls_level(O, SMTP_TLS_NONE, 0, 0, "Q",
	    "d", "h"), SMTP_TLS_NONE);
	ck_assert_int_eq(smtp_requiretls_level(O, SMTP_TLS_VERIFY, 1, 0, "Q",
	    "d", "h"), SMTP_TLS_VERIFY);
	ck_assert_int_eq(smtp_requiretls_level(O, SMTP_TLS_VERIFY, 0, 1, "Q",
	    "d", "h"), SMTP_TLS_VERIFY);
	ck_assert_int_eq(smtp_requiretls_level(P, SMTP_TLS_MAY, 0, 0, "Q",
	    "d", "h"), SMTP_TLS_MAY);
	/* DANE: REQUIRETLS leaves it to decide per host (the transport
	 * raises an unsigned host's may); TLS-Required: No skips it */
	ck_assert_int_eq(smtp_requiretls_level(R, SMTP_TLS_DANE, 0, 0, "Q",
	    "d", "h"), SMTP_TLS_DANE);
	ck_assert_int_eq(smtp_requiretls_level(O, SMTP_TLS_DANE, 0, 0, "Q",
	    "d", "h"), SMTP_TLS_MAY);
}
END_TEST

/* A host qualifies when authenticated and offering REQUIRETLS; the
 * verdict is permanent only when every host failed for a TLS reason */
START_TEST(test_requiretls_check_and_verdict)
{
	const enum smtp_tls_mode R = SMTP_TLS_MODE_REQUIRED;
	struct smtp_requiretls_tally t;
	struct smtp_conn c;
	struct smtp_reply r;

	memset(&c, 0, sizeof(c));
	memset(&t, 0, sizeof(t));
	strlcpy(c.relay, "mx.test[192.0.2.1]:25", sizeof(c.relay));
	c.tls_level = SMTP_TLS_ENCRYPT;
	c.ssl = (SSL *)&c;		/* only compared with NULL here */
	c.ext = EXT_REQUIRETLS;
	ck_assert_int_eq(smtp_requiretls_check(&c, R, "Q", &r), -1);
	ck_assert_str_eq(r.dsn, "5.7.10");
	ck_assert_int_eq(smtp_requiretls_check(&c, SMTP_TLS_MODE_POLICY, "Q",
	    &r), 0);
	smtp_requiretls_host_failed(&t, &c, 1, &r);
	c.tls_verified = 1;
	c.tls_auth_by = "verify";
	ck_assert_str_eq(smtp_conn_tls_authenticated(&c), "verify");
	ck_assert_int_eq(smtp_requiretls_check(&c, R, "Q", &r), 0);
	c.ext = 0;
	ck_assert_int_eq(smtp_requiretls_check(&c, R, "Q", &r), -1);
	ck_assert_str_eq(r.dsn, "5.7.30");
	smtp_requiretls_host_failed(&t, &c, 1, &r);
	ck_assert_int_eq(smtp_requiretls_verdict(&t, R, &r), 1);
	ck_assert_int_eq(r.code, 550);
	ck_assert_str_eq(r.dsn, "5.7.30");
	ck_assert_int_eq(smtp_requiretls_verdict(&t, SMTP_TLS_MODE_POLICY,
	    &r), 0);
	/* a host failed at the level's TLS demand: 5.7.10 */
	c.tls_failed = 1;
	strlcpy(r.dsn, "4.7.4", sizeof(r.dsn));
	strlcpy(r.text, "TLS is required", sizeof(r.text));
	smtp_requiretls_host_failed(&t, &c, 0, &r);
	ck_assert_int_eq(smtp_requiretls_verdict(&t, R, &r), 1);
	ck_assert_str_eq(r.dsn, "5.7.10");
	/* one unreachable host: no verdict, the usual deferral */
	c.tls_failed = 0;
	r.code = 0;
	smtp_requiretls_host_failed(&t, &c, 0, &r);
	ck_assert_int_eq(smtp_requiretls_verdict(&t, R, &r), 0);
	c.ssl = NULL;
	ck_assert_ptr_null(smtp_conn_tls_authenticated(&c));
}
END_TEST

Suite *
smtp_client_suite(void)
{
	Suite *s = suite_create("smtp_client");
	TCase *tc = tcase_create("parse");
	TCase *conn = tcase_create("conn");

	tcase_add_test(tc, test_parse_line_ok);
	tcase_add_test(tc, test_parse_line_bad);
	tcase_add_test(tc, test_dsn_enhanced);
	tcase_add_test(tc, test_dsn_derived);
	tcase_add_test(tc, test_dsn_small_buffer);
	tcase_add_test(tc, test_xtext_basic);
	tcase_add_test(tc, test_xtext_roundtrip);
	tcase_add_test(tc, test_xtext_room);
	tcase_add_test(tc, test_dot_stuff_lines);
	tcase_add_test(tc, test_dot_stuff_boundaries);
	tcase_add_test(tc, test_dot_stuff_chunking);
	tcase_add_test(tc, test_nexthop_ok);
	tcase_add_test(tc, test_nexthop_bad);
	tcase_add_test(tc, test_route_literal);
	tcase_add_test(tc, test_requiretls_mode);
	tcase_add_test(tc, test_requiretls_level);
	tcase_add_test(tc, test_requiretls_check_and_verdict);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(conn, conn_setup, conn_teardown);
	tcase_set_timeout(conn, 30);
	tcase_add_test(conn, test_conn_greeting);
	tcase_add_test(conn, test_conn_multiline);
	tcase_add_test(conn, test_conn_split_crlf);
	tcase_add_test(conn, test_conn_bare_code);
	tcase_add_loop_test(conn, test_conn_malformed, 0, 10);
	tcase_add_test(conn, test_conn_too_many_lines);
	tcase_add_test(conn, test_conn_nul_and_controls);
	tcase_add_test(conn, test_conn_long_lines);
	tcase_add_test(conn, test_conn_refused_greeting);
	tcase_add_test(conn, test_conn_eof);
	tcase_add_test(conn, test_conn_ehlo);
	tcase_add_test(conn, test_conn_ehlo_edges);
	tcase_add_test(conn, test_conn_ehlo_requiretls);
	tcase_add_test(conn, test_deliver_exact_body_size);
	tcase_add_test(conn, test_deliver_reuse_rset_first);
	tcase_add_test(conn, test_deliver_reuse_stale);
	tcase_add_test(conn, test_deliver_bdat_chunks);
	tcase_add_test(conn, test_deliver_bdat_head);
	tcase_add_test(conn, test_deliver_head_data_and_size);
	tcase_add_test(conn, test_lmtp_reply_per_recipient);
	suite_add_tcase(s, conn);

	TCase *slow = tcase_create("slow");

	tcase_add_checked_fixture(slow, conn_setup, conn_teardown);
	tcase_set_timeout(slow, 90);
	tcase_add_test(slow, test_conn_body_too_slow);
	tcase_add_test(slow, test_lmtp_trickled_reply_deferred);
	suite_add_tcase(s, slow);
	return s;
}
