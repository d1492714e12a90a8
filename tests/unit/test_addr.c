/*
 * test_addr - unit tests for common/addr.c: the RFC 5321 path grammar, its
 * limits, normalization, and the relay tricks that must name the domain
 * they really name.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "check_suites.h"

/*
 * parse - addr_parse_path on a private heap copy of exactly strlen(s)
 * octets, so that ASan notices any read past len.
 */
static enum addr_error
parse(const char *s, int opts, struct mailaddr *a, size_t *consumed)
{
	size_t len = strlen(s);
	char *copy = malloc(len > 0 ? len : 1);
	enum addr_error e;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, s, len);
	e = addr_parse_path(copy, len, opts, a, consumed);
	free(copy);
	return e;
}

/* ok - s parses with opts to local@domain and consumes all of s */
static void
ok(const char *s, int opts, const char *local, const char *domain)
{
	struct mailaddr a;
	size_t used;

	ck_assert_msg(parse(s, opts, &a, &used) == ADDR_OK, "parse %s", s);
	ck_assert_str_eq(a.local, local);
	ck_assert_str_eq(a.domain, domain);
	ck_assert_uint_eq(used, strlen(s));
}

/* bad - s fails with exactly error e */
static void
bad(const char *s, int opts, enum addr_error e)
{
	struct mailaddr a;
	size_t used = 99;
	enum addr_error got = parse(s, opts, &a, &used);

	ck_assert_msg(got == e, "%s: got %d want %d", s, got, e);
	ck_assert_uint_eq(used, 0);
	ck_assert_str_eq(a.local, "");
	ck_assert_str_eq(a.domain, "");
}

/* app - append text to buf; the test buffers are sized never to truncate */
static char *
app(char *buf, size_t size, const char *text)
{
	ck_assert_uint_lt(strlcat(buf, text, size), size);
	return buf;
}

/* appn - append n copies of c to buf */
static char *
appn(char *buf, size_t size, char c, size_t n)
{
	size_t len = strlen(buf);

	ck_assert_uint_lt(len + n, size);
	memset(buf + len, c, n);
	buf[len + n] = '\0';
	return buf;
}

/* mk - "pre" n*c "post" in buf */
static char *
mk(char *buf, size_t size, const char *pre, char c, size_t n,
    const char *post)
{
	buf[0] = '\0';
	app(buf, size, pre);
	appn(buf, size, c, n);
	return app(buf, size, post);
}

START_TEST(test_simple)
{
	struct mailaddr a;
	size_t used;

	ok("<user@example.com>", 0, "user", "example.com");
	ck_assert(parse("<user@example.com>", 0, &a, &used) == ADDR_OK);
	ck_assert_int_eq(a.flags, 0);
	ok("<first.last+tag@sub.example.org>", 0, "first.last+tag",
	    "sub.example.org");
	ok("<a@b.c>", 0, "a", "b.c");
	ok("<x@localhost>", 0, "x", "localhost");
	ok("<x@a-b.example>", 0, "x", "a-b.example");
	ok("<x@123.example>", 0, "x", "123.example");
}
END_TEST

START_TEST(test_domain_normalized)
{
	/* local part case is kept, domain lowercased, one dot dropped */
	ok("<User@Example.COM.>", 0, "User", "example.com");
	bad("<user@example.com..>", 0, ADDR_ERR_DOMAIN);
	bad("<user@.>", 0, ADDR_ERR_DOMAIN);
}
END_TEST

START_TEST(test_consumed)
{
	struct mailaddr a;
	size_t used;

	ck_assert(parse("<a@b.example> SIZE=10", ADDR_P_REVERSE, &a, &used) ==
	    ADDR_OK);
	ck_assert_uint_eq(used, 13);
	ck_assert(parse("<> BODY=8BITMIME", ADDR_P_REVERSE, &a, &used) ==
	    ADDR_OK);
	ck_assert_uint_eq(used, 2);
	/* a '>' inside a quoted local part does not close the path */
	ck_assert(parse("<\"a>b\"@x.example> X", 0, &a, &used) == ADDR_OK);
	ck_assert_uint_eq(used, 17);
	ck_assert_str_eq(a.local, "a>b");
	ck_assert_uint_eq(addr_parse_path("<a@b.example>", 13, 0, &a, NULL),
	    ADDR_OK);
}
END_TEST

START_TEST(test_null_path)
{
	struct mailaddr a;
	char buf[ADDR_TEXT_MAX];

	ck_assert(parse("<>", ADDR_P_REVERSE, &a, NULL) == ADDR_OK);
	ck_assert_int_eq(a.flags, ADDR_F_NULL);
	ck_assert_str_eq(a.local, "");
	ck_assert_str_eq(a.domain, "");
	ck_assert_int_eq(addr_format(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	bad("<>", 0, ADDR_ERR_NULL);
	bad("<>", ADDR_P_FORWARD, ADDR_ERR_NULL);
	/* an empty bare path is not <> */
	bad("", ADDR_P_REVERSE | ADDR_P_NOBRACKETS, ADDR_ERR_SYNTAX);
	bad("", ADDR_P_REVERSE, ADDR_ERR_SYNTAX);
	bad("< >", ADDR_P_REVERSE, ADDR_ERR_SYNTAX);
}
END_TEST

START_TEST(test_postmaster)
{
	struct mailaddr a;
	char buf[ADDR_TEXT_MAX];

	ck_assert(parse("<PostMaster>", ADDR_P_FORWARD, &a, NULL) == ADDR_OK);
	ck_assert_int_eq(a.flags, ADDR_F_POSTMASTER);
	ck_assert_str_eq(a.local, "postmaster");
	ck_assert_str_eq(a.domain, "");
	ck_assert_int_eq(addr_format(&a, buf, sizeof(buf)), 10);
	ck_assert_str_eq(buf, "postmaster");
	ok("<postmaster>", ADDR_P_FORWARD, "postmaster", "");
	bad("<postmaster>", 0, ADDR_ERR_SYNTAX);
	bad("<postmaster>", ADDR_P_REVERSE, ADDR_ERR_SYNTAX);
	bad("<postmasters>", ADDR_P_FORWARD, ADDR_ERR_SYNTAX);
	bad("<@a.example:postmaster>", ADDR_P_FORWARD, ADDR_ERR_SYNTAX);
	/* Postmaster@domain is an ordinary mailbox */
	ck_assert(parse("<Postmaster@Example.org>", ADDR_P_FORWARD, &a,
	    NULL) == ADDR_OK);
	ck_assert_int_eq(a.flags, 0);
	ck_assert_str_eq(a.domain, "example.org");
}
END_TEST

START_TEST(test_route)
{
	struct mailaddr a;

	ck_assert(parse("<@a.example,@b.example:user@c.example>", 0, &a,
	    NULL) == ADDR_OK);
	ck_assert_str_eq(a.local, "user");
	ck_assert_str_eq(a.domain, "c.example");
	ck_assert_int_eq(a.flags, ADDR_F_ROUTE);
	ok("<@a.example:u@c.example>", 0, "u", "c.example");
	ok("<@[IPv6:::1]:u@c.example>", 0, "u", "c.example");
	ok("<@[192.0.2.1],@x.example:u@c.example>", 0, "u", "c.example");
	bad("<@a.example,u@c.example>", 0, ADDR_ERR_SYNTAX);
	bad("<@a.example u@c.example>", 0, ADDR_ERR_SYNTAX);
	bad("<@a..example:u@c.example>", 0, ADDR_ERR_DOMAIN);
	bad("<@:u@c.example>", 0, ADDR_ERR_DOMAIN);
	bad("<@a.example,:u@c.example>", 0, ADDR_ERR_SYNTAX);
	bad("<@a.example:>", 0, ADDR_ERR_SYNTAX);
	bad("<@a.example:@b.example:u@c.example>", 0, ADDR_ERR_SYNTAX);
}
END_TEST

START_TEST(test_quoted)
{
	struct mailaddr a;
	char buf[ADDR_TEXT_MAX];

	ck_assert(parse("<\"john doe\"@example.com>", 0, &a, NULL) ==
	    ADDR_OK);
	ck_assert_str_eq(a.local, "john doe");
	ck_assert_int_eq(a.flags, ADDR_F_QUOTED);
	ck_assert_int_gt(addr_format(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "\"john doe\"@example.com");

	ck_assert(parse("<\"a\\\"b\\\\c\"@x.example>", 0, &a, NULL) ==
	    ADDR_OK);
	ck_assert_str_eq(a.local, "a\"b\\c");
	ck_assert_int_gt(addr_format(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "\"a\\\"b\\\\c\"@x.example");

	/* quoting a valid Dot-string changes nothing after dequoting */
	ck_assert(parse("<\"us\\er\"@x.example>", 0, &a, NULL) == ADDR_OK);
	ck_assert_str_eq(a.local, "user");
	ck_assert_int_eq(addr_format(&a, buf, sizeof(buf)), 14);
	ck_assert_str_eq(buf, "user@x.example");

	ok("<\".a..b.\"@x.example>", 0, ".a..b.", "x.example");
	ok("<\"a@b\"@x.example>", 0, "a@b", "x.example");
	bad("<\"\"@x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<\"abc@x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<\"abc\"x@x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<\"abc\">", 0, ADDR_ERR_SYNTAX);
	bad("<\"abc\\\"@x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<a\"b\"@x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<\"a\tb\"@x.example>", 0, ADDR_ERR_SYNTAX);
}
END_TEST

START_TEST(test_local_limits)
{
	char s[512], want[128];

	ok(mk(s, sizeof(s), "<", 'a', 64, "@x.example>"), 0,
	    mk(want, sizeof(want), "", 'a', 64, ""), "x.example");
	bad(mk(s, sizeof(s), "<", 'a', 65, "@x.example>"), 0,
	    ADDR_ERR_TOOLONG);
	/* the limit counts the wire form, quotes included */
	ok(mk(s, sizeof(s), "<\"", 'a', 62, "\"@x.example>"), 0,
	    mk(want, sizeof(want), "", 'a', 62, ""), "x.example");
	bad(mk(s, sizeof(s), "<\"", 'a', 63, "\"@x.example>"), 0,
	    ADDR_ERR_TOOLONG);
	ok(mk(s, sizeof(s), "<\"", 'a', 60, "\\\"\"@x.example>"), 0,
	    mk(want, sizeof(want), "", 'a', 60, "\""), "x.example");
	bad(mk(s, sizeof(s), "<\"", 'a', 61, "\\\"\"@x.example>"), 0,
	    ADDR_ERR_TOOLONG);
}
END_TEST

START_TEST(test_path_limit)
{
	char s[600], d[300];

	/* 256 octets including < > is the most a path may have */
	mk(d, sizeof(d), "", 'a', 63, ".");
	appn(app(appn(app(appn(d, sizeof(d), 'b', 63), sizeof(d), "."),
	    sizeof(d), 'c', 63), sizeof(d), "."), sizeof(d), 'd', 59);
	ck_assert_uint_eq(strlen(d), 251);
	s[0] = '\0';
	app(app(app(s, sizeof(s), "<ab@"), sizeof(s), d), sizeof(s), ">");
	ck_assert_uint_eq(strlen(s), 256);
	ok(s, 0, "ab", d);
	s[0] = '\0';
	app(app(app(s, sizeof(s), "<abc@"), sizeof(s), d), sizeof(s), ">");
	bad(s, 0, ADDR_ERR_TOOLONG);
	s[0] = '\0';
	app(app(s, sizeof(s), "abc@"), sizeof(s), d);
	bad(s, ADDR_P_NOBRACKETS, ADDR_ERR_TOOLONG);
}
END_TEST

START_TEST(test_domain_limits)
{
	char d[300];

	ck_assert(addr_domain_valid("example.com", 11, 0));
	mk(d, sizeof(d), "", 'a', 63, ".com");
	ck_assert(addr_domain_valid(d, strlen(d), 0));
	mk(d, sizeof(d), "", 'a', 64, ".com");
	ck_assert(!addr_domain_valid(d, strlen(d), 0));
	/* 255 octets is the limit for the whole name */
	mk(d, sizeof(d), "", 'a', 63, ".");
	appn(app(appn(app(appn(d, sizeof(d), 'b', 63), sizeof(d), "."),
	    sizeof(d), 'c', 63), sizeof(d), "."), sizeof(d), 'd', 63);
	ck_assert_uint_eq(strlen(d), 255);
	ck_assert(addr_domain_valid(d, 255, 0));
	strlcat(d, "e", sizeof(d));
	ck_assert(!addr_domain_valid(d, 256, 0));
	/* the given length is what counts, not a NUL */
	ck_assert(addr_domain_valid("a.example.", 9, 0));
	ck_assert(!addr_domain_valid("a.example.", 10, 0));
	ck_assert(!addr_domain_valid("", 0, 0));
	ck_assert(!addr_domain_valid("a_b.example", 11, 0));
	ck_assert(addr_domain_valid("[192.0.2.1]", 11, 0));
	ck_assert(!addr_domain_valid("192.0.2.1", 9, 0));
	ck_assert(!addr_domain_valid("b\xc3\xbc" "cher.example", 14, 0));
	ck_assert(addr_domain_valid("b\xc3\xbc" "cher.example", 14, 1));
	ck_assert(!addr_domain_valid("b\xc3" "cher.example", 13, 1));
}
END_TEST

START_TEST(test_labels)
{
	bad("<u@-a.example>", 0, ADDR_ERR_DOMAIN);
	bad("<u@a-.example>", 0, ADDR_ERR_DOMAIN);
	bad("<u@a..example>", 0, ADDR_ERR_DOMAIN);
	bad("<u@.example>", 0, ADDR_ERR_DOMAIN);
	bad("<u@a_b.example>", 0, ADDR_ERR_DOMAIN);
	bad("<u@a!b.example>", 0, ADDR_ERR_DOMAIN);
	bad("<u@>", 0, ADDR_ERR_SYNTAX);
	bad("<u>", 0, ADDR_ERR_SYNTAX);
	bad("<@x.example>", 0, ADDR_ERR_SYNTAX);
	/* bare IP addresses need brackets */
	bad("<u@192.0.2.1>", 0, ADDR_ERR_DOMAIN);
	bad("<u@192.0.2.1.>", 0, ADDR_ERR_DOMAIN);
	bad("<u@12345>", 0, ADDR_ERR_DOMAIN);
	bad("<u@2001:db8::1>", 0, ADDR_ERR_DOMAIN);
}
END_TEST

START_TEST(test_literals)
{
	struct mailaddr a;

	ck_assert(parse("<u@[192.0.2.1]>", 0, &a, NULL) == ADDR_OK);
	ck_assert_str_eq(a.domain, "[192.0.2.1]");
	ck_assert_int_eq(a.flags, ADDR_F_LITERAL);
	ok("<u@[0.0.0.0]>", 0, "u", "[0.0.0.0]");
	ok("<u@[255.255.255.255]>", 0, "u", "[255.255.255.255]");
	bad("<u@[192.0.2.256]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[192.0.2]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[192.0.2.1.5]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[1920.0.2.1]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[192.0.2.1.]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[192..2.1]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[192.0.2.1>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[192.0.2.1]x>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[192.0.2.1].>", 0, ADDR_ERR_DOMAIN);

	ok("<u@[IPv6:2001:DB8::1]>", 0, "u", "[IPv6:2001:db8::1]");
	ok("<u@[ipv6:2001:db8::1]>", 0, "u", "[IPv6:2001:db8::1]");
	ok("<u@[IPv6:::1]>", 0, "u", "[IPv6:::1]");
	ok("<u@[IPv6:::ffff:192.0.2.1]>", 0, "u", "[IPv6:::ffff:192.0.2.1]");
	ok("<u@[IPv6:1:2:3:4:5:6:7:8]>", 0, "u", "[IPv6:1:2:3:4:5:6:7:8]");
	bad("<u@[IPv6:1:2:3:4:5:6:7:8:9]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[IPv6:2001:db8::g]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[IPv6:192.0.2.1]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[IPv6:fe80::1%eth0]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[IPv6:]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[IPv6]>", 0, ADDR_ERR_DOMAIN);

	/* General-address-literal: syntax only, kept as written */
	ok("<u@[X-Tag:Some.Thing]>", 0, "u", "[X-Tag:Some.Thing]");
	bad("<u@[:abc]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[tag:]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[-tag:x]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[t_g:x]>", 0, ADDR_ERR_DOMAIN);
	bad("<u@[tag:a\\b]>", 0, ADDR_ERR_DOMAIN);
}
END_TEST

START_TEST(test_brackets)
{
	struct mailaddr a;
	size_t used;

	bad("user@x.example", 0, ADDR_ERR_SYNTAX);
	bad("user@x.example", ADDR_P_REVERSE | ADDR_P_FORWARD,
	    ADDR_ERR_SYNTAX);
	bad("<user@x.example", 0, ADDR_ERR_SYNTAX);
	/* what follows the '>' is the caller's business */
	ck_assert(parse("<user@x.example>>", 0, &a, &used) == ADDR_OK);
	ck_assert_uint_eq(used, 16);
	ok("user@X.example", ADDR_P_NOBRACKETS, "user", "x.example");
	ok("<user@X.example>", ADDR_P_NOBRACKETS, "user", "x.example");
	ck_assert(parse("user@x.example SIZE=1", ADDR_P_NOBRACKETS, &a,
	    &used) == ADDR_OK);
	ck_assert_uint_eq(used, 14);
	ck_assert(parse("\"a b\"@x.example SIZE=1", ADDR_P_NOBRACKETS, &a,
	    &used) == ADDR_OK);
	ck_assert_uint_eq(used, 15);
	ck_assert_str_eq(a.local, "a b");
	ok("postmaster", ADDR_P_NOBRACKETS | ADDR_P_FORWARD, "postmaster", "");
	ck_assert(parse("\"a\\ \\\"b\"@x.example X", ADDR_P_NOBRACKETS, &a,
	    &used) == ADDR_OK);
	ck_assert_uint_eq(used, 18);
	ck_assert_str_eq(a.local, "a \"b");
	bad("\xc3\xa9@x.example", ADDR_P_NOBRACKETS, ADDR_ERR_8BIT);
	bad("u\001@x.example", ADDR_P_NOBRACKETS, ADDR_ERR_SYNTAX);
	bad("\"a b@x.example", ADDR_P_NOBRACKETS, ADDR_ERR_SYNTAX);
	bad("<<user@x.example>>", 0, ADDR_ERR_SYNTAX);
}
END_TEST

START_TEST(test_bad_syntax)
{
	bad("<user@other@local>", 0, ADDR_ERR_SYNTAX);
	bad("<user @x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<user@x .example>", 0, ADDR_ERR_SYNTAX);
	bad("< user@x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<us\001er@x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<user@x.exa\177mple>", 0, ADDR_ERR_SYNTAX);
	bad("<user@x.example\r>", 0, ADDR_ERR_SYNTAX);
	bad("<.user@x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<user.@x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<us..er@x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<@x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<us(er)@x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<us,er@x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<us[er@x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<us\\er@x.example>", 0, ADDR_ERR_SYNTAX);
	bad("<user@x.example\">", 0, ADDR_ERR_SYNTAX);
}
END_TEST

START_TEST(test_nul_inside)
{
	struct mailaddr a;
	static const char s[] = "<us\0er@x.example>";

	ck_assert(addr_parse_path(s, sizeof(s) - 1, 0, &a, NULL) ==
	    ADDR_ERR_SYNTAX);
	ck_assert(addr_parse_mailbox("us\0er@x.example", 15, 0, &a) ==
	    ADDR_ERR_SYNTAX);
	/* a length that stops early is honoured */
	ck_assert(addr_parse_path("<a@b.example>", 5, 0, &a, NULL) ==
	    ADDR_ERR_SYNTAX);
	ck_assert(addr_parse_mailbox("a@b.example>", 11, 0, &a) == ADDR_OK);
	ck_assert_str_eq(a.domain, "b.example");
}
END_TEST

START_TEST(test_8bit)
{
	struct mailaddr a;

	bad("<us\xc3\xa9r@x.example>", 0, ADDR_ERR_8BIT);
	bad("<user@b\xc3\xbc" "cher.example>", 0, ADDR_ERR_8BIT);
	bad("<\"us\xc3\xa9r\"@x.example>", 0, ADDR_ERR_8BIT);
	ck_assert(parse("<us\xc3\xa9r@B\xc3\x9c" "cher.Example>", ADDR_P_UTF8,
	    &a, NULL) == ADDR_OK);
	ck_assert_str_eq(a.local, "us\xc3\xa9r");
	/* only ASCII is lowercased */
	ck_assert_str_eq(a.domain, "b\xc3\x9c" "cher.example");
	ck_assert_int_eq(a.flags, ADDR_F_UTF8);
	ok("<\"\xe2\x82\xac x\"@x.example>", ADDR_P_UTF8, "\xe2\x82\xac x",
	    "x.example");
	ok("<\xf0\x9f\x93\xa7@x.example>", ADDR_P_UTF8, "\xf0\x9f\x93\xa7",
	    "x.example");
	/* malformed UTF-8 is refused even with SMTPUTF8 */
	bad("<u\xc3\x28@x.example>", ADDR_P_UTF8, ADDR_ERR_SYNTAX);
	bad("<u\xc0\xaf@x.example>", ADDR_P_UTF8, ADDR_ERR_SYNTAX);
	bad("<u\xed\xa0\x80@x.example>", ADDR_P_UTF8, ADDR_ERR_SYNTAX);
	bad("<u\xf4\x90\x80\x80@x.example>", ADDR_P_UTF8, ADDR_ERR_SYNTAX);
	bad("<u\xe2\x82@x.example>", ADDR_P_UTF8, ADDR_ERR_SYNTAX);
	bad("<u\xff@x.example>", ADDR_P_UTF8, ADDR_ERR_SYNTAX);
	bad("<u\x80@x.example>", ADDR_P_UTF8, ADDR_ERR_SYNTAX);
	/* a quoted-pair is ASCII only */
	bad("<\"\\\xc3\xa9\"@x.example>", ADDR_P_UTF8, ADDR_ERR_SYNTAX);
	/* UTF-8 in literals is never valid */
	bad("<u@[\xc3\xa9:x]>", ADDR_P_UTF8, ADDR_ERR_DOMAIN);
}
END_TEST

START_TEST(test_relay_tricks)
{
	struct mailaddr a;

	/* each parses to the domain it really names */
	ck_assert(parse("<user%other@local>", ADDR_P_FORWARD, &a, NULL) ==
	    ADDR_OK);
	ck_assert_str_eq(a.local, "user%other");
	ck_assert_str_eq(a.domain, "local");

	ck_assert(parse("<\"user@other\"@local>", ADDR_P_FORWARD, &a,
	    NULL) == ADDR_OK);
	ck_assert_str_eq(a.local, "user@other");
	ck_assert_str_eq(a.domain, "local");
	ck_assert(a.flags & ADDR_F_QUOTED);

	ck_assert(parse("<@local:user@other>", ADDR_P_FORWARD, &a, NULL) ==
	    ADDR_OK);
	ck_assert_str_eq(a.local, "user");
	ck_assert_str_eq(a.domain, "other");
	ck_assert(a.flags & ADDR_F_ROUTE);

	ck_assert(parse("<other!user@local>", ADDR_P_FORWARD, &a, NULL) ==
	    ADDR_OK);
	ck_assert_str_eq(a.local, "other!user");
	ck_assert_str_eq(a.domain, "local");

	bad("<user@other@local>", ADDR_P_FORWARD, ADDR_ERR_SYNTAX);
	bad("<user@other%local>", ADDR_P_FORWARD, ADDR_ERR_DOMAIN);
	bad("<user@[other]>", ADDR_P_FORWARD, ADDR_ERR_DOMAIN);
}
END_TEST

START_TEST(test_mailbox)
{
	struct mailaddr a;

	ck_assert(addr_parse_mailbox("User@Example.com", 16, 0, &a) ==
	    ADDR_OK);
	ck_assert_str_eq(a.local, "User");
	ck_assert_str_eq(a.domain, "example.com");
	ck_assert(addr_parse_mailbox("<u@x.example>", 13, 0, &a) ==
	    ADDR_ERR_SYNTAX);
	ck_assert(addr_parse_mailbox("u@x.example ", 12, 0, &a) ==
	    ADDR_ERR_SYNTAX);
	ck_assert(addr_parse_mailbox("", 0, 0, &a) == ADDR_ERR_SYNTAX);
	ck_assert(addr_parse_mailbox("postmaster", 10, 0, &a) ==
	    ADDR_ERR_SYNTAX);
	ck_assert(addr_parse_mailbox("POSTMASTER", 10, ADDR_P_FORWARD, &a) ==
	    ADDR_OK);
	ck_assert_int_eq(a.flags, ADDR_F_POSTMASTER);
	ck_assert(addr_parse_mailbox("\"a b\"@x.example", 15, 0, &a) ==
	    ADDR_OK);
	ck_assert_str_eq(a.local, "a b");
	ck_assert(addr_parse_mailbox("\xc3\xa9@x.example", 12, 0, &a) ==
	    ADDR_ERR_8BIT);
	ck_assert(addr_parse_mailbox("a@b@x.example", 13, 0, &a) ==
	    ADDR_ERR_SYNTAX);
	ck_assert(addr_parse_mailbox("\"abc", 4, 0, &a) == ADDR_ERR_SYNTAX);
	ck_assert(addr_parse_mailbox("\"abc\"", 5, 0, &a) ==
	    ADDR_ERR_SYNTAX);
	/* a UTF-8 sequence cut off by the end of the input */
	ck_assert(addr_parse_mailbox("u@x.example\xc3", 12, ADDR_P_UTF8,
	    &a) == ADDR_ERR_SYNTAX);
	ck_assert(addr_parse_mailbox("u@x.\xe2\x82", 6, ADDR_P_UTF8, &a) ==
	    ADDR_ERR_SYNTAX);
}
END_TEST

START_TEST(test_mailbox_limit)
{
	struct mailaddr a;
	char s[300];

	/* a mailbox obeys the path limit less its brackets */
	mk(s, sizeof(s), "", 'a', 63, "@");
	appn(app(appn(app(appn(s, sizeof(s), 'b', 63), sizeof(s), "."),
	    sizeof(s), 'c', 63), sizeof(s), "."), sizeof(s), 'd', 62);
	ck_assert_uint_eq(strlen(s), 254);
	ck_assert(addr_parse_mailbox(s, 254, 0, &a) == ADDR_OK);
	app(s, sizeof(s), "d");
	ck_assert(addr_parse_mailbox(s, 255, 0, &a) == ADDR_ERR_TOOLONG);
	ck_assert_str_eq(a.local, "");
}
END_TEST

START_TEST(test_format)
{
	struct mailaddr a;
	char buf[ADDR_TEXT_MAX];
	char small[8];
	int i;

	ck_assert(parse("<user@x.example>", 0, &a, NULL) == ADDR_OK);
	ck_assert_int_eq(addr_format(&a, buf, sizeof(buf)), 14);
	ck_assert_str_eq(buf, "user@x.example");
	/* exactly fitting, one short, and no room at all */
	ck_assert_int_eq(addr_format(&a, buf, 15), 14);
	ck_assert_int_eq(addr_format(&a, buf, 14), -1);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(addr_format(&a, small, 0), -1);
	ck_assert_int_eq(addr_format(&a, small, 3), -1);
	ck_assert_str_eq(small, "");

	/* the worst case fits ADDR_TEXT_MAX */
	memset(&a, 0, sizeof(a));
	for (i = 0; i < ADDR_LOCAL_MAX; i++)
		a.local[i] = '"';
	memset(a.domain, 'd', ADDR_DOMAIN_MAX);
	ck_assert_int_eq(addr_format(&a, buf, sizeof(buf)),
	    ADDR_TEXT_MAX - 1);
	ck_assert_int_eq(addr_format(&a, buf, sizeof(buf) - 1), -1);
	ck_assert_str_eq(buf, "");

	/* quoting is decided by Dot-string validity */
	memset(&a, 0, sizeof(a));
	strlcpy(a.domain, "x.example", sizeof(a.domain));
	strlcpy(a.local, "a.b", sizeof(a.local));
	ck_assert_int_gt(addr_format(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "a.b@x.example");
	strlcpy(a.local, "a..b", sizeof(a.local));
	ck_assert_int_gt(addr_format(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "\"a..b\"@x.example");
	strlcpy(a.local, "a.", sizeof(a.local));
	ck_assert_int_gt(addr_format(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "\"a.\"@x.example");
	strlcpy(a.local, "a@b", sizeof(a.local));
	ck_assert_int_gt(addr_format(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "\"a@b\"@x.example");
	strlcpy(a.local, "", sizeof(a.local));
	ck_assert_int_gt(addr_format(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "\"\"@x.example");
	ck_assert_int_eq(addr_format(&a, small, 2), -1);
	ck_assert_str_eq(small, "");
	/* quoted forms that only just fit, or do not */
	strlcpy(a.local, "a\"", sizeof(a.local));
	a.domain[0] = '\0';
	ck_assert_int_eq(addr_format(&a, small, 6), 5);
	ck_assert_str_eq(small, "\"a\\\"\"");
	ck_assert_int_eq(addr_format(&a, small, 5), -1);
	ck_assert_str_eq(small, "");
	strlcpy(a.local, "a b", sizeof(a.local));
	ck_assert_int_eq(addr_format(&a, small, 6), 5);
	ck_assert_int_eq(addr_format(&a, small, 5), -1);
	strlcpy(a.domain, "x", sizeof(a.domain));
	ck_assert_int_eq(addr_format(&a, small, 8), 7);
	ck_assert_str_eq(small, "\"a b\"@x");
	ck_assert_int_eq(addr_format(&a, small, 7), -1);
	ck_assert_str_eq(small, "");
}
END_TEST

START_TEST(test_format_roundtrip)
{
	static const char *paths[] = {
		"<\"a b\"@x.example>", "<\"a\\\\b\"@x.example>",
		"<\"a\\\"\"@x.example>", "<a.b!c%d@x.example>",
		"<u@[IPv6:::1]>", "<\"a..b\"@[192.0.2.1]>",
	};
	struct mailaddr a, b;
	char buf[ADDR_TEXT_MAX];
	size_t i;

	/* what addr_format writes parses back to the same address */
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		ck_assert(parse(paths[i], 0, &a, NULL) == ADDR_OK);
		ck_assert_int_gt(addr_format(&a, buf, sizeof(buf)), 0);
		ck_assert_msg(addr_parse_mailbox(buf, strlen(buf), 0, &b) ==
		    ADDR_OK, "%s", buf);
		ck_assert_str_eq(a.local, b.local);
		ck_assert_str_eq(a.domain, b.domain);
	}
}
END_TEST

/* reply_form_ok - "NNN X.Y.Z text" */
static int
reply_form_ok(const char *r)
{
	return strlen(r) > 10 && r[0] >= '2' && r[0] <= '5' &&
	    r[3] == ' ' && r[4] == r[0] && r[5] == '.' && r[7] == '.' &&
	    strchr(r + 8, ' ') != NULL;
}

START_TEST(test_error_text)
{
	int e, rev;

	ck_assert_str_eq(addr_error_text(ADDR_ERR_SYNTAX, 0),
	    "501 5.1.3 Bad recipient address syntax");
	ck_assert_str_eq(addr_error_text(ADDR_ERR_SYNTAX, 1),
	    "501 5.1.7 Bad sender address syntax");
	ck_assert_str_eq(addr_error_text(ADDR_ERR_8BIT, 0),
	    "553 5.6.7 Non-ASCII addresses require SMTPUTF8");
	ck_assert_str_eq(addr_error_text(ADDR_ERR_DOMAIN, 0),
	    "501 5.1.2 Bad destination system address");
	ck_assert(strncmp(addr_error_text(ADDR_ERR_DOMAIN, 1), "501 5.1.8 ",
	    10) == 0);
	ck_assert(strncmp(addr_error_text(ADDR_ERR_TOOLONG, 0), "501 5.1.3 ",
	    10) == 0);
	ck_assert(strncmp(addr_error_text(ADDR_ERR_NULL, 0), "501 5.1.3 ",
	    10) == 0);
	for (e = ADDR_OK; e <= ADDR_ERR_DOMAIN + 1; e++)
		for (rev = 0; rev < 2; rev++)
			ck_assert_msg(reply_form_ok(addr_error_text(e, rev)),
			    "%s", addr_error_text(e, rev));
}
END_TEST

/* addr_suite - all address parser tests */
Suite *
addr_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_simple);
	tcase_add_test(tc, test_domain_normalized);
	tcase_add_test(tc, test_consumed);
	tcase_add_test(tc, test_null_path);
	tcase_add_test(tc, test_postmaster);
	tcase_add_test(tc, test_route);
	tcase_add_test(tc, test_quoted);
	tcase_add_test(tc, test_local_limits);
	tcase_add_test(tc, test_path_limit);
	tcase_add_test(tc, test_domain_limits);
	tcase_add_test(tc, test_labels);
	tcase_add_test(tc, test_literals);
	tcase_add_test(tc, test_brackets);
	tcase_add_test(tc, test_bad_syntax);
	tcase_add_test(tc, test_nul_inside);
	tcase_add_test(tc, test_8bit);
	tcase_add_test(tc, test_relay_tricks);
	tcase_add_test(tc, test_mailbox);
	tcase_add_test(tc, test_mailbox_limit);
	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_format_roundtrip);
	tcase_add_test(tc, test_error_text);
	suite_add_tcase(s, tc);
	return s;
}
