/*
 * test_tls_policy - smtp_tls_policy_map values, the keys a next hop is
 * looked up by, match words made into names, and the RFC 6125 name
 * comparison (wildcards only as the whole left-most label).
 */
#include "config.h"

#include <string.h>

#include "check_suites.h"
#include "settings.h"
#include "tls_policy.h"

static struct settings pset;

static void
pset_setup(void)
{
	settings_defaults(&pset);
}

static void
pset_teardown(void)
{
	settings_free(&pset);
}

/* match - tls_name_match with a NUL-terminated presented name */
static int
match(const char *presented, const char *ref)
{
	return tls_name_match(presented, strlen(presented), ref);
}

START_TEST(test_name_exact_and_case)
{
	ck_assert(match("mx.example.com", "mx.example.com"));
	ck_assert(match("MX.Example.COM", "mx.example.com"));
	ck_assert(match("mx.example.com.", "mx.example.com"));
	ck_assert(match("mx.example.com", "mx.example.com."));
	ck_assert(!match("mx.example.com", "mx2.example.com"));
	ck_assert(!match("example.com", "mx.example.com"));
	ck_assert(!match("mx.example.com.evil", "mx.example.com"));
	ck_assert(!match("", "mx.example.com"));
	/* A NUL inside a certificate name never matches. */
	ck_assert(!tls_name_match("mx.example.com\0.evil", 20,
	    "mx.example.com"));
}
END_TEST

START_TEST(test_name_wildcard_left_label_only)
{
	ck_assert(match("*.example.com", "mx.example.com"));
	ck_assert(match("*.Example.com", "MX.example.com"));
	/* Exactly one label. */
	ck_assert(!match("*.example.com", "a.mx.example.com"));
	ck_assert(!match("*.example.com", "example.com"));
	/* No partial-label wildcards, no wildcard elsewhere. */
	ck_assert(!match("m*.example.com", "mx.example.com"));
	ck_assert(!match("*x.example.com", "mx.example.com"));
	ck_assert(!match("mx*.example.com", "mx1.example.com"));
	ck_assert(!match("mx.*.com", "mx.example.com"));
	ck_assert(!match("*.*.com", "mx.example.com"));
	ck_assert(!match("*", "mx"));
	/* Not over a whole top-level domain. */
	ck_assert(!match("*.com", "example.com"));
	/* A wildcard in the reference is not a wildcard. */
	ck_assert(!match("mx.example.com", "*.example.com"));
}
END_TEST

START_TEST(test_name_dot_reference_is_subdomains)
{
	ck_assert(match("mx.example.com", ".example.com"));
	ck_assert(match("a.b.example.com", ".example.com"));
	ck_assert(!match("example.com", ".example.com"));
	ck_assert(!match("badexample.com", ".example.com"));
	ck_assert(match("*.example.com", ".example.com"));
	ck_assert(match("*.mx.example.com", ".example.com"));
	ck_assert(!match("*.com", ".com"));
}
END_TEST

START_TEST(test_policy_parse)
{
	struct tls_policy p;
	char err[256];

	ck_assert_int_eq(tls_policy_parse(&pset, "encrypt", &p, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(p.level, SMTP_TLS_ENCRYPT);
	ck_assert_int_eq(p.nmatch, 0);
	/* Without match= the level's configured words. */
	ck_assert_int_eq(tls_policy_parse(&pset, "  secure\t", &p, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(p.level, SMTP_TLS_SECURE);
	ck_assert_int_eq(p.nmatch, 2);
	ck_assert_str_eq(p.match[0], "nexthop");
	ck_assert_str_eq(p.match[1], "dot-nexthop");
	ck_assert_int_eq(tls_policy_parse(&pset, "VERIFY", &p, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(p.level, SMTP_TLS_VERIFY);
	ck_assert_int_eq(p.nmatch, 1);
	ck_assert_str_eq(p.match[0], "hostname");
	ck_assert_int_eq(tls_policy_parse(&pset,
	    "verify match=hostname:mx.example.net:.example.org", &p, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(p.nmatch, 3);
	ck_assert_str_eq(p.match[1], "mx.example.net");
	ck_assert_str_eq(p.match[2], ".example.org");
	ck_assert_int_eq(tls_policy_parse(&pset, "none", &p, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(p.level, SMTP_TLS_NONE);
}
END_TEST

START_TEST(test_policy_parse_refuses)
{
	static const char *const bad[] = {
		"", "   ", "verfy", "dane-only", "verify match=", "verify match=a::b",
		"verify match=bad_name", "verify match=a match=b",
		"verify ciphers=high", "secure match=:a",
		"verify match=a:b:c:d:e:f:g:h:i",
		"encryptencryptencryptencrypt",
	};
	struct tls_policy p;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(tls_policy_parse(&pset, bad[i], &p, err,
		    sizeof(err)) == -1, "accepted \"%s\"", bad[i]);
		ck_assert_msg(err[0] != '\0', "no reason for \"%s\"", bad[i]);
	}
}
END_TEST

START_TEST(test_policy_keys)
{
	char keys[TLS_POLICY_KEYS_MAX][TLS_NAME_MAX];
	int n;

	n = tls_policy_keys("Mail.Sub.Example.com", keys, TLS_POLICY_KEYS_MAX);
	ck_assert_int_eq(n, 4);
	ck_assert_str_eq(keys[0], "mail.sub.example.com");
	ck_assert_str_eq(keys[1], ".sub.example.com");
	ck_assert_str_eq(keys[2], ".example.com");
	ck_assert_str_eq(keys[3], ".com");
	n = tls_policy_keys("example.com:2525", keys, TLS_POLICY_KEYS_MAX);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(keys[0], "example.com");
	ck_assert_str_eq(keys[1], ".com");
	n = tls_policy_keys("[Relay.Example.com]:587", keys,
	    TLS_POLICY_KEYS_MAX);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(keys[0], "[relay.example.com]:587");
	ck_assert_str_eq(keys[1], "[relay.example.com]");
	n = tls_policy_keys("[127.0.0.1]", keys, TLS_POLICY_KEYS_MAX);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(keys[0], "[127.0.0.1]");
	ck_assert_int_eq(tls_policy_keys("[]", keys, TLS_POLICY_KEYS_MAX), 0);
	ck_assert_int_eq(tls_policy_keys("[a]x", keys, TLS_POLICY_KEYS_MAX),
	    0);
	ck_assert_int_eq(tls_policy_keys(":25", keys, TLS_POLICY_KEYS_MAX), 0);
	/* Bounded by max. */
	ck_assert_int_eq(tls_policy_keys("a.b.c.d", keys, 2), 2);
}
END_TEST

START_TEST(test_policy_names)
{
	struct tls_policy p;
	struct tls_names nm;
	char err[256];

	ck_assert_int_eq(tls_policy_parse(&pset,
	    "secure match=nexthop:dot-nexthop:hostname:mx.other.test", &p,
	    err, sizeof(err)), 0);
	tls_policy_names(&p, "mx1.example.com", "example.com", &nm);
	ck_assert_int_eq(nm.n, 4);
	ck_assert_str_eq(nm.name[0], "example.com");
	ck_assert_str_eq(nm.name[1], ".example.com");
	ck_assert_str_eq(nm.name[2], "mx1.example.com");
	ck_assert_str_eq(nm.name[3], "mx.other.test");
}
END_TEST

START_TEST(test_level_words)
{
	enum smtp_tls_level l;

	ck_assert_int_eq(tls_level_parse("secure", &l), 0);
	ck_assert_int_eq(l, SMTP_TLS_SECURE);
	ck_assert_str_eq(tls_level_name(SMTP_TLS_VERIFY), "verify");
	ck_assert(!tls_level_encrypts(SMTP_TLS_MAY));
	ck_assert(tls_level_encrypts(SMTP_TLS_ENCRYPT));
	ck_assert(!tls_level_verifies(SMTP_TLS_ENCRYPT));
	ck_assert(tls_level_verifies(SMTP_TLS_VERIFY));
	ck_assert(tls_level_verifies(SMTP_TLS_SECURE));
	ck_assert_int_eq(tls_level_parse("DANE", &l), 0);
	ck_assert_int_eq(l, SMTP_TLS_DANE);
	ck_assert_str_eq(tls_level_name(SMTP_TLS_DANE), "dane");
	ck_assert(tls_match_valid("dot-nexthop"));
	ck_assert(tls_match_valid(".example.com"));
	ck_assert(!tls_match_valid("..example.com"));
	ck_assert(!tls_match_valid("*.example.com"));
	ck_assert(!tls_match_valid("example..com"));
}
END_TEST

Suite *
tls_policy_suite(void)
{
	Suite *s = suite_create("tls_policy");
	TCase *tc = tcase_create("tls_policy");

	tcase_add_checked_fixture(tc, pset_setup, pset_teardown);
	tcase_add_test(tc, test_name_exact_and_case);
	tcase_add_test(tc, test_name_wildcard_left_label_only);
	tcase_add_test(tc, test_name_dot_reference_is_subdomains);
	tcase_add_test(tc, test_policy_parse);
	tcase_add_test(tc, test_policy_parse_refuses);
	tcase_add_test(tc, test_policy_keys);
	tcase_add_test(tc, test_policy_names);
	tcase_add_test(tc, test_level_words);
	suite_add_tcase(s, tc);
	return s;
}
