/*
 * test_mtasts - MTA-STS (RFC 8461): the _mta-sts TXT record, the policy
 * file, the mx pattern matcher, the HTTP response checks of the fetch and
 * the cache file's encoding.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "check_suites.h"
#include "mtasts.h"
#include "mtasts_fetch.h"
#include "mtasts_policy.h"

/* txt - mtasts_txt_parse of a NUL-terminated record */
static int
txt(const char *s, char *id)
{
	return mtasts_txt_parse(s, strlen(s), id);
}

START_TEST(test_txt_record)
{
	char id[MTASTS_ID_MAX + 1];

	ck_assert_int_eq(txt("v=STSv1; id=20160831085700Z;", id), 0);
	ck_assert_str_eq(id, "20160831085700Z");
	ck_assert_int_eq(txt("v=STSv1;id=abc", id), 0);
	ck_assert_str_eq(id, "abc");
	ck_assert_int_eq(txt("v=STSv1 ;  id=X1 ; ext-a=1.2/x ;", id), 0);
	ck_assert_str_eq(id, "X1");
	/* 32 alphanumerics at most. */
	ck_assert_int_eq(txt("v=STSv1; id=12345678901234567890123456789012",
	    id), 0);
	ck_assert_int_eq(txt("v=STSv1; id=123456789012345678901234567890123",
	    id), -1);
	ck_assert_int_eq(txt("v=STSv1; id=", id), -1);
	ck_assert_int_eq(txt("v=STSv1; id=a-b", id), -1);
	ck_assert_int_eq(txt("v=STSv1;", id), -1);		/* no id */
	ck_assert_int_eq(txt("v=STSv1; id=a; id=b", id), -1);	/* twice */
	ck_assert_int_eq(txt("v=STSv2; id=a", id), -1);
	ck_assert_int_eq(txt("v=stsv1; id=a", id), -1);		/* case */
	ck_assert_int_eq(txt("id=a; v=STSv1", id), -1);
	ck_assert_int_eq(txt("v=STSv1; id=a; =x", id), -1);
	ck_assert_int_eq(txt("v=STSv1; id=a; e=", id), -1);
	ck_assert_int_eq(txt("v=STSv1; id=a b", id), -1);
	ck_assert_int_eq(mtasts_txt_parse("v=STSv1; id=a\0b", 15, id), -1);
	ck_assert(mtasts_txt_is_sts("v=STSv1; whatever", 17));
	ck_assert(mtasts_txt_is_sts("v=STSv1", 7));
	ck_assert(!mtasts_txt_is_sts("v=STSv10; id=1", 14));
	ck_assert(!mtasts_txt_is_sts("v=spf1 -all", 11));
}
END_TEST

/* policy - mtasts_policy_parse of a NUL-terminated file */
static int
policy(const char *s, struct mtasts_policy *p, char *err)
{
	return mtasts_policy_parse(s, strlen(s), p, err, 128);
}

START_TEST(test_policy_parse)
{
	struct mtasts_policy p;
	char err[128];

	ck_assert_int_eq(policy("version: STSv1\r\nmode: enforce\r\n"
	    "mx: mail.example.com\r\nmx: *.Example.net\r\n"
	    "max_age: 604800\r\n", &p, err), 0);
	ck_assert_int_eq(p.mode, MTASTS_ENFORCE);
	ck_assert_int_eq(p.max_age, 604800);
	ck_assert_int_eq(p.nmx, 2);
	ck_assert_str_eq(p.mx[1], "*.example.net");
	/* LF alone, no final line end, blanks after ':', an extension. */
	ck_assert_int_eq(policy("version:STSv1\nmode:   testing\t\n"
	    "x-note: some words\nmx: a.example\nmax_age: 0", &p, err), 0);
	ck_assert_int_eq(p.mode, MTASTS_TESTING);
	ck_assert_int_eq(p.max_age, 0);
	/* none needs no mx; a too large max_age is cut to the maximum. */
	ck_assert_int_eq(policy("version: STSv1\nmode: none\n"
	    "max_age: 9999999999\n", &p, err), 0);
	ck_assert_int_eq(p.mode, MTASTS_NONE);
	ck_assert_int_eq(p.max_age, MTASTS_MAX_AGE_MAX);
	ck_assert_str_eq(mtasts_mode_name(MTASTS_ENFORCE), "enforce");
}
END_TEST

START_TEST(test_policy_parse_refuses)
{
	static const char *const bad[] = {
		"",
		"version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1\n",
		"version: STSv1\nmode: Enforce\nmx: a.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforcing\nmx: a.b\nmax_age: 1\n",
		"Version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 1\n",
		"version : STSv1\nmode: enforce\nmx: a.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.b\n",
		"version: STSv1\nmode: enforce\nmax_age: 1\n",
		"version: STSv1\nmode: testing\nmode: enforce\nmx: a.b\n"
		    "max_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 12345678901\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 1x\n",
		"version: STSv1\nmode: enforce\nmx: *.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.*.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: -a.b\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a_b.c\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 1\ngarbage\n",
		"version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 1\n_x: y\n",
		"version: STSv1\rmode: enforce\nmx: a.b\nmax_age: 1\n",
		"<html>version: STSv1</html>\n",
	};
	struct mtasts_policy p;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(policy(bad[i], &p, err) == -1, "accepted: %s",
		    bad[i]);
		ck_assert_msg(err[0] != '\0', "no reason: %s", bad[i]);
	}
	/* A NUL inside, and more than the size limit. */
	ck_assert_int_eq(mtasts_policy_parse("version: STSv1\n\0mode: none\n"
	    "max_age: 1\n", 38, &p, err, sizeof(err)), -1);
	ck_assert_int_eq(mtasts_policy_parse("", MTASTS_POLICY_MAX + 1, &p,
	    err, sizeof(err)), -1);
	ck_assert_str_eq(err, "larger than 65536 octets");
}
END_TEST

START_TEST(test_mx_match)
{
	struct mtasts_policy p;
	char err[128];

	ck_assert_int_eq(policy("version: STSv1\nmode: enforce\n"
	    "mx: mail.example.com\nmx: *.example.net\nmax_age: 1\n", &p, err),
	    0);
	ck_assert(mtasts_mx_match(&p, "mail.example.com"));
	ck_assert(mtasts_mx_match(&p, "MAIL.Example.COM."));
	ck_assert(!mtasts_mx_match(&p, "mail2.example.com"));
	ck_assert(!mtasts_mx_match(&p, "example.com"));
	ck_assert(!mtasts_mx_match(&p, "x.mail.example.com"));
	/* "*." stands for exactly one label. */
	ck_assert(mtasts_mx_match(&p, "mx1.example.net"));
	ck_assert(mtasts_mx_match(&p, "MX1.EXAMPLE.NET."));
	ck_assert(!mtasts_mx_match(&p, "example.net"));
	ck_assert(!mtasts_mx_match(&p, ".example.net"));
	ck_assert(!mtasts_mx_match(&p, "a.b.example.net"));
	ck_assert(!mtasts_mx_match(&p, "mx1.example.net.evil"));
	ck_assert(!mtasts_mx_match(&p, "mx1example.net"));
	ck_assert(!mtasts_mx_match(&p, ""));
	ck_assert(!mtasts_mx_match(&p, "."));
}
END_TEST

/* http - mtasts_http_response of a NUL-terminated response */
static int
http(const char *s, const char **body, size_t *len, int *complete,
    char *err)
{
	return mtasts_http_response(s, strlen(s), body, len, complete, err,
	    128);
}

START_TEST(test_http_response)
{
	const char *body;
	size_t len;
	int complete;
	char err[128];

	ck_assert_int_eq(http("HTTP/1.1 200 OK\r\nContent-Type: text/plain; "
	    "charset=utf-8\r\nContent-Length: 5\r\n\r\nabcdeXX", &body, &len,
	    &complete, err), 0);
	ck_assert_uint_eq(len, 5);
	ck_assert_int_eq(complete, 1);
	ck_assert_int_eq(memcmp(body, "abcde", 5), 0);
	ck_assert_int_eq(http("HTTP/1.0 200 OK\ncontent-type: TEXT/PLAIN\n\n"
	    "abc", &body, &len, &complete, err), 0);
	ck_assert_uint_eq(len, 3);
	ck_assert_int_eq(complete, 0);
	/* Redirects are not followed; other statuses fail. */
	ck_assert_int_eq(http("HTTP/1.1 301 Moved\r\nLocation: https://x/\r\n"
	    "Content-Type: text/plain\r\n\r\n", &body, &len, &complete, err),
	    -1);
	ck_assert_str_eq(err, "HTTP status 301 (redirects are not followed)");
	ck_assert_int_eq(http("HTTP/1.1 404 No\r\nContent-Type: text/plain"
	    "\r\n\r\n", &body, &len, &complete, err), -1);
	ck_assert_int_eq(http("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
	    "\r\nx", &body, &len, &complete, err), -1);
	ck_assert_str_eq(err, "media type is not text/plain");
	ck_assert_int_eq(http("HTTP/1.1 200 OK\r\nContent-Type: text/plainx\r\n"
	    "\r\nx", &body, &len, &complete, err), -1);
	ck_assert_int_eq(http("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n1\r\nx", &body, &len, &complete,
	    err), -1);
	ck_assert_int_eq(http("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 65537\r\n\r\nx", &body, &len, &complete, err), -1);
	ck_assert_str_eq(err, "policy larger than 65536 octets");
	ck_assert_int_eq(http("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: -1\r\n\r\nx", &body, &len, &complete, err), -1);
	/* Not yet a whole head. */
	ck_assert_int_eq(http("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",
	    &body, &len, &complete, err), -2);
	ck_assert_int_eq(http("SSH-2.0-x\r\n\r\n", &body, &len, &complete,
	    err), -1);
}
END_TEST

START_TEST(test_cache_file)
{
	static char buf[MTASTS_POLICY_MAX + 256];
	const char *pol = "version: STSv1\nmode: enforce\nmx: a.example\n"
	    "max_age: 86400\n";
	struct mtasts_policy p;
	char id[MTASTS_ID_MAX + 1];
	long long fetched;
	size_t n;

	n = mtasts_cache_encode("abc123", 1700000000LL, pol, strlen(pol), buf,
	    sizeof(buf));
	ck_assert_uint_gt(n, strlen(pol));
	ck_assert_int_eq(mtasts_cache_decode(buf, n, id, &fetched, &p), 0);
	ck_assert_str_eq(id, "abc123");
	ck_assert_int_eq(fetched, 1700000000LL);
	ck_assert_int_eq(p.mode, MTASTS_ENFORCE);
	ck_assert_int_eq(p.max_age, 86400);
	/* Cut short, or a head that is not ours: not a cached policy. */
	ck_assert_int_eq(mtasts_cache_decode(buf, 20, id, &fetched, &p), -1);
	ck_assert_int_eq(mtasts_cache_decode(pol, strlen(pol), id, &fetched,
	    &p), -1);
	memcpy(buf + 15, "ix", 2);
	ck_assert_int_eq(mtasts_cache_decode(buf, n, id, &fetched, &p), -1);
	ck_assert_uint_eq(mtasts_cache_encode("a", 1, pol, strlen(pol), buf,
	    20), 0);
}
END_TEST

Suite *
mtasts_suite(void)
{
	Suite *s = suite_create("mtasts");
	TCase *tc = tcase_create("mtasts");

	tcase_add_test(tc, test_txt_record);
	tcase_add_test(tc, test_policy_parse);
	tcase_add_test(tc, test_policy_parse_refuses);
	tcase_add_test(tc, test_mx_match);
	tcase_add_test(tc, test_http_response);
	tcase_add_test(tc, test_cache_file);
	suite_add_tcase(s, tc);
	return s;
}
