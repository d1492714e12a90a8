/*
 * test_idna - common/utf8.c (strict UTF-8) and common/idna.c (Punycode,
 * RFC 3492, and A-labels): the RFC's own samples, and every malformed
 * UTF-8 form refused.
 */
#include "config.h"

#include <string.h>

#include "check_suites.h"
#include "idna.h"
#include "utf8.h"

/* Well-formed, and no controls; everything else refused. */
START_TEST(test_utf8_valid)
{
	static const char *const good[] = {
		"", "abc", "j\xc3\xb6rg", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
		"\xef\xbf\xbd", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf",
	};
	static const char *const bad[] = {
		"\xc0\xaf",			/* overlong '/' */
		"\xc1\xbf",			/* overlong */
		"\xe0\x80\xaf",			/* overlong, 3 octets */
		"\xe0\x9f\xbf",			/* overlong U+07FF */
		"\xf0\x8f\xbf\xbf",		/* overlong U+FFFF */
		"\xed\xa0\x80",			/* surrogate U+D800 */
		"\xed\xbf\xbf",			/* surrogate U+DFFF */
		"\xf4\x90\x80\x80",		/* U+110000 */
		"\xf5\x80\x80\x80", "\xff", "\xfe",
		"\xc3",				/* truncated */
		"\xe2\x82",			/* truncated */
		"\x80", "a\xbf",		/* stray continuation */
		"\xc3\x28",			/* bad continuation */
		"a\x01", "\x7f", "tab\there",	/* C0 controls, DEL */
		"\xc2\x85", "\xc2\x9f",		/* C1 controls */
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(utf8_valid(good[i], strlen(good[i])), "good %zu",
		    i);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!utf8_valid(bad[i], strlen(bad[i])), "bad %zu",
		    i);
	/* the length is obeyed: a sequence cut by it is truncated */
	ck_assert(!utf8_valid("\xc3\xb6", 1));
	ck_assert(utf8_valid("a\xc3\xb6", 1));
	/* a NUL inside is a control character */
	ck_assert(!utf8_valid("a\0b", 3));
}
END_TEST

/* utf8_seq_len gives the code point and the length */
START_TEST(test_utf8_seq_len)
{
	uint32_t cp;

	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"A", 1, &cp), 1);
	ck_assert_uint_eq(cp, 'A');
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xc3\xbc", 2,
	    &cp), 2);
	ck_assert_uint_eq(cp, 0xfc);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)
	    "\xf0\x9f\x98\x80", 4, &cp), 4);
	ck_assert_uint_eq(cp, 0x1f600);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xf0\x9f\x98",
	    3, &cp), 0);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"", 0, &cp), 0);
}
END_TEST

/* RFC 3492 7.1 samples (A), (B), (L), and two well-known names */
START_TEST(test_punycode_rfc3492_samples)
{
	static const uint32_t arabic[] = { 0x0644, 0x064A, 0x0647, 0x0645,
	    0x0627, 0x0628, 0x062A, 0x0643, 0x0644, 0x0645, 0x0648, 0x0634,
	    0x0639, 0x0631, 0x0628, 0x064A, 0x061F };
	static const uint32_t chinese[] = { 0x4ED6, 0x4EEC, 0x4E3A, 0x4EC0,
	    0x4E48, 0x4E0D, 0x8BF4, 0x4E2D, 0x6587 };
	static const uint32_t sample_l[] = { 0x0033, 0x5E74, 0x0042, 0x7D44,
	    0x91D1, 0x516B, 0x5148, 0x751F };
	static const uint32_t buecher[] = { 'b', 0xfc, 'c', 'h', 'e', 'r' };
	static const uint32_t ascii[] = { 'a', 'b', 'c' };
	char out[64];

	ck_assert_int_eq(punycode_encode(arabic, 17, out, sizeof(out)), 22);
	ck_assert_str_eq(out, "egbpdaj6bu4bxfgehfvwxn");
	ck_assert_int_ge(punycode_encode(chinese, 9, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "ihqwcrb4cv8a8dqg056pqjye");
	ck_assert_int_ge(punycode_encode(sample_l, 8, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "3B-ww4c5e180e575a65lsy2b");
	ck_assert_int_ge(punycode_encode(buecher, 6, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "bcher-kva");
	ck_assert_int_ge(punycode_encode(ascii, 3, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "abc-");
	/* too small a buffer is refused, never overrun */
	ck_assert_int_eq(punycode_encode(buecher, 6, out, 9), -1);
	ck_assert_int_eq(punycode_encode(buecher, 6, out, 10), 9);
}
END_TEST

/* Domains: only non-ASCII labels change; the limits hold */
START_TEST(test_idna_to_ascii)
{
	char out[300], big[400];

	ck_assert_int_ge(idna_to_ascii("M\xc3\xbcnchen.Example", 16, out,
	    sizeof(out)), 0);
	ck_assert_str_eq(out, "xn--mnchen-3ya.example");
	ck_assert_int_ge(idna_to_ascii("mail.b\xc3\xbc" "cher.test", 17, out,
	    sizeof(out)), 0);
	ck_assert_str_eq(out, "mail.xn--bcher-kva.test");
	ck_assert_int_ge(idna_to_ascii("\xe4\xbb\x96\xe4\xbb\xac.cn", 9, out,
	    sizeof(out)), 0);
	ck_assert_str_eq(out, "xn--8mqxb.cn");
	ck_assert_int_ge(idna_to_ascii("example.com", 11, out, sizeof(out)),
	    0);
	ck_assert_str_eq(out, "example.com");
	/* malformed UTF-8, empty labels, controls */
	ck_assert_int_eq(idna_to_ascii("b\xc3.test", 7, out, sizeof(out)), -1);
	ck_assert_int_eq(idna_to_ascii("\xed\xa0\x80.test", 8, out,
	    sizeof(out)), -1);
	ck_assert_int_eq(idna_to_ascii("a..b", 4, out, sizeof(out)), -1);
	ck_assert_int_eq(idna_to_ascii("a.", 2, out, sizeof(out)), -1);
	ck_assert_int_eq(idna_to_ascii("", 0, out, sizeof(out)), -1);
	ck_assert_int_eq(idna_to_ascii("a\xc2\x85.test", 8, out, sizeof(out)),
	    -1);
	ck_assert_int_eq(idna_to_ascii("a b.test", 8, out, sizeof(out)), -1);
	ck_assert_int_eq(idna_to_ascii("b\xc3\xbc_.test", 9, out,
	    sizeof(out)), -1);
	/* a label of 63 octets passes, 64 does not, encoded or not */
	memset(big, 'a', 64);
	ck_assert_int_eq(idna_to_ascii(big, 63, out, sizeof(out)), 63);
	ck_assert_int_eq(idna_to_ascii(big, 64, out, sizeof(out)), -1);
	/* 61 letters and a u-umlaut fit as octets, not once encoded */
	memset(big, 'a', 61);
	memcpy(big + 61, "\xc3\xbc", 2);
	ck_assert_int_eq(idna_to_ascii(big, 63, out, sizeof(out)), -1);
	ck_assert_int_eq(idna_to_ascii(big + 10, 53, out, sizeof(out)), 59);
	/* and the buffer is respected */
	ck_assert_int_eq(idna_to_ascii("b\xc3\xbc" "cher", 7, out, 13), -1);
	ck_assert_int_eq(idna_to_ascii("b\xc3\xbc" "cher", 7, out, 14), 13);
}
END_TEST

Suite *
idna_suite(void)
{
	Suite *s = suite_create("idna");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_utf8_valid);
	tcase_add_test(tc, test_utf8_seq_len);
	tcase_add_test(tc, test_punycode_rfc3492_samples);
	tcase_add_test(tc, test_idna_to_ascii);
	suite_add_tcase(s, tc);
	return s;
}
