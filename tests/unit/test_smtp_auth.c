/*
 * test_smtp_auth - SASL parsing for SMTP AUTH (smtpd/smtp_auth.c) and
 * the credential and sender checks of lookupd (lookupd/lookup_auth.c)
 * with a passwd map compiled by map_compile(MAP_SYNTAX_PASSWD).
 */
#include "config.h"

#include <sys/stat.h>

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "check_suites.h"
#include "lookup_auth.h"
#include "map.h"
#include "settings.h"
#include "smtp_auth.h"

static int
dec(const char *in, unsigned char *out, size_t size)
{
	return smtp_auth_b64_decode(in, strlen(in), out, size);
}

START_TEST(test_b64_strict)
{
	unsigned char out[64];

	ck_assert_int_eq(dec("YWxpY2U=", out, sizeof(out)), 5);
	ck_assert_str_eq((char *)out, "alice");
	ck_assert_int_eq(dec("YWI=", out, sizeof(out)), 2);
	ck_assert_int_eq(dec("YQ==", out, sizeof(out)), 1);
	ck_assert_int_eq(dec("=", out, sizeof(out)), 0);	/* empty */
	ck_assert_int_eq(dec("", out, sizeof(out)), 0);
	ck_assert_int_eq(dec("YWxpY2U", out, sizeof(out)), -1);	/* no pad */
	ck_assert_int_eq(dec("YWxp Y2U=", out, sizeof(out)), -1);
	ck_assert_int_eq(dec("YW*pY2U=", out, sizeof(out)), -1);
	ck_assert_int_eq(dec("YQ==YQ==", out, sizeof(out)), -1);
	ck_assert_int_eq(dec("Y===", out, sizeof(out)), -1);
	ck_assert_int_eq(dec("YR==", out, sizeof(out)), -1);	/* stray bits */
	ck_assert_int_eq(dec("YWJjZGVm", out, 6), -1);	/* no room */
	ck_assert_int_eq(dec("YWJjZGVm", out, 7), 6);
}
END_TEST

START_TEST(test_plain_parse)
{
	char login[256], pass[256];
	const unsigned char ok[] = "\0alice\0secret";
	const unsigned char az[] = "alice\0alice\0secret";
	const unsigned char other[] = "bob\0alice\0secret";
	const unsigned char nopass[] = "\0alice\0";
	const unsigned char nologin[] = "\0\0secret";
	const unsigned char onenul[] = "alice\0secret";
	const unsigned char extra[] = "\0alice\0sec\0ret";

	ck_assert_int_eq(smtp_auth_plain_parse(ok, sizeof(ok) - 1, login,
	    sizeof(login), pass, sizeof(pass)), 0);
	ck_assert_str_eq(login, "alice");
	ck_assert_str_eq(pass, "secret");
	ck_assert_int_eq(smtp_auth_plain_parse(az, sizeof(az) - 1, login,
	    sizeof(login), pass, sizeof(pass)), 0);
	ck_assert_int_eq(smtp_auth_plain_parse(other, sizeof(other) - 1, login,
	    sizeof(login), pass, sizeof(pass)), -1);
	ck_assert_int_eq(smtp_auth_plain_parse(nopass, sizeof(nopass) - 1,
	    login, sizeof(login), pass, sizeof(pass)), -1);
	ck_assert_int_eq(smtp_auth_plain_parse(nologin, sizeof(nologin) - 1,
	    login, sizeof(login), pass, sizeof(pass)), -1);
	ck_assert_int_eq(smtp_auth_plain_parse(onenul, sizeof(onenul) - 1,
	    login, sizeof(login), pass, sizeof(pass)), -1);
	ck_assert_int_eq(smtp_auth_plain_parse(extra, sizeof(extra) - 1,
	    login, sizeof(login), pass, sizeof(pass)), -1);

	/* Fields over 255 octets are refused, whatever the buffers. */
	unsigned char big[600];
	memset(big, 'a', sizeof(big));
	big[0] = '\0';
	big[300] = '\0';
	ck_assert_int_eq(smtp_auth_plain_parse(big, sizeof(big), login,
	    sizeof(login), pass, sizeof(pass)), -1);
}
END_TEST

START_TEST(test_mech)
{
	ck_assert_int_eq(smtp_auth_mech_parse("plain", 5), SMTP_AUTH_PLAIN);
	ck_assert_int_eq(smtp_auth_mech_parse("LOGIN", 5), SMTP_AUTH_LOGIN);
	ck_assert_int_eq(smtp_auth_mech_parse("CRAM-MD5", 8), SMTP_AUTH_NONE);
	ck_assert_int_eq(smtp_auth_mech_parse("PLAINX", 6), SMTP_AUTH_NONE);
	ck_assert_int_eq(smtp_auth_mech_parse("", 0), SMTP_AUTH_NONE);
}
END_TEST

START_TEST(test_ct_equal)
{
	ck_assert(lookup_auth_ct_equal("abc", "abc"));
	ck_assert(!lookup_auth_ct_equal("abc", "abd"));
	ck_assert(!lookup_auth_ct_equal("abc", "ab"));
	ck_assert(!lookup_auth_ct_equal("ab", "abc"));
	ck_assert(lookup_auth_ct_equal("", ""));
}
END_TEST

static char tdir[] = "/tmp/tern-test-auth.XXXXXX";

/* write_file - path in tdir with text; the path (static buffer) */
static const char *
write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tdir, name);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
	return path;
}

/* hash - crypt(3) of pw with the method prefix ("$y$", "$2b$", "$6$") */
static char *
hash(const char *pw, const char *prefix)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *h;

	ck_assert_ptr_nonnull(crypt_gensalt_rn(prefix, strcmp(prefix, "$2b$")
	    == 0 ? 4 : 0, NULL, 0, salt, sizeof(salt)));
	h = crypt(pw, salt);
	ck_assert(h != NULL && h[0] == '$');
	return strdup(h);
}

START_TEST(test_verify_and_sender)
{
	struct settings s;
	struct lookup_auth *a;
	char text[2048], *hy, *hb, *h6, pw[512], sl[512];

	ck_assert_ptr_nonnull(mkdtemp(tdir));
	hy = hash("alice-pw", "$y$");
	hb = hash("bob-pw", "$2b$");
	h6 = hash("carol-pw", "$6$");
	snprintf(text, sizeof(text), "# logins\nalice:%s\nBob:%s:extra\n"
	    "carol:%s\nlocked:!%s\n", hy, hb, h6, h6);
	strlcpy(pw, write_file("passwd", text), sizeof(pw));
	ck_assert_int_eq(map_compile(pw, MAP_SYNTAX_PASSWD, NULL, NULL), 0);
	strlcpy(sl, write_file("senders", "team@example.org alice, carol\n"
	    "alice@example.org carol\n"), sizeof(sl));
	ck_assert_int_eq(map_compile(sl, MAP_SYNTAX_PLAIN, NULL, NULL), 0);
	/* A line without a colon is a problem in passwd syntax. */
	ck_assert_int_eq(map_compile(write_file("bad", "alice hash\n"),
	    MAP_SYNTAX_PASSWD, NULL, NULL), 1);
	/* So is a hash holding a CR (found by fuzz_map): it never matches. */
	ck_assert_int_eq(map_compile(write_file("badcr", "alice:h\r:1\n"),
	    MAP_SYNTAX_PASSWD, NULL, NULL), 1);

	settings_defaults(&s);
	free(s.smtpd_auth_passwd_map);
	s.smtpd_auth_passwd_map = strdup(pw);
	free(s.smtpd_sender_login_map);
	s.smtpd_sender_login_map = strdup(sl);
	for (size_t i = 0; i < s.local_domains.n; i++)
		free(s.local_domains.v[i]);
	s.local_domains.v[0] = strdup("example.org");
	s.local_domains.n = 1;
	a = lookup_auth_open(&s);

	ck_assert_int_eq(lookup_auth_verify(a, "alice", "alice-pw"),
	    AUTH_GRANTED);
	ck_assert_int_eq(lookup_auth_verify(a, "ALICE", "alice-pw"),
	    AUTH_GRANTED);
	ck_assert_int_eq(lookup_auth_verify(a, "alice", "alice-PW"),
	    AUTH_DENIED);
	ck_assert_int_eq(lookup_auth_verify(a, "bob", "bob-pw"), AUTH_GRANTED);
	ck_assert_int_eq(lookup_auth_verify(a, "carol", "carol-pw"),
	    AUTH_GRANTED);
	ck_assert_int_eq(lookup_auth_verify(a, "carol", ""), AUTH_DENIED);
	ck_assert_int_eq(lookup_auth_verify(a, "locked", "carol-pw"),
	    AUTH_DENIED);
	ck_assert_int_eq(lookup_auth_verify(a, "nobody", "x"), AUTH_DENIED);

	ck_assert_int_eq(lookup_auth_sender(a, "", "bob"), AUTH_GRANTED);
	ck_assert_int_eq(lookup_auth_sender(a, "bob@example.org", "bob"),
	    AUTH_GRANTED);
	/* Case and a trailing dot make no other address. */
	ck_assert_int_eq(lookup_auth_sender(a, "Bob@EXAMPLE.org.", "bob"),
	    AUTH_GRANTED);
	ck_assert_int_eq(lookup_auth_sender(a, "bob@example.com", "bob"),
	    AUTH_DENIED);
	ck_assert_int_eq(lookup_auth_sender(a, "team@example.org", "carol"),
	    AUTH_GRANTED);
	ck_assert_int_eq(lookup_auth_sender(a, "team@example.org", "bob"),
	    AUTH_DENIED);
	ck_assert_int_eq(lookup_auth_sender(a, "alice@example.org", "alice"),
	    AUTH_DENIED);
	ck_assert_int_eq(lookup_auth_sender(a, "alice@example.org", "carol"),
	    AUTH_GRANTED);
	ck_assert_int_eq(lookup_auth_sender(a, "bob@[127.0.0.1]", "bob"),
	    AUTH_DENIED);

	lookup_auth_close(a);
	settings_free(&s);
	free(hy);
	free(hb);
	free(h6);
}
END_TEST

/* smtp_auth_suite - SASL parsing and lookupd's credential checks */
Suite *
smtp_auth_suite(void)
{
	Suite *s = suite_create("smtp_auth");
	TCase *tc = tcase_create("smtp_auth");

	tcase_add_test(tc, test_b64_strict);
	tcase_add_test(tc, test_plain_parse);
	tcase_add_test(tc, test_mech);
	tcase_add_test(tc, test_ct_equal);
	tcase_add_test(tc, test_verify_and_sender);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}
