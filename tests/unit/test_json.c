/*
 * test_json - JSON string escaping (common/json.c): what must be escaped
 * is, valid UTF-8 passes, other octets become \u00XX, and a cut never
 * splits an escape or a character.
 */
#include "config.h"

#include <string.h>

#include "check_suites.h"
#include "json.h"

static const char *
esc(const char *s, size_t len, size_t size)
{
	static char buf[256];

	json_escape(buf, size, s, len);
	return buf;
}

START_TEST(test_json_escapes_specials)
{
	ck_assert_str_eq(esc("a\"b\\c", 5, 256), "a\\\"b\\\\c");
	ck_assert_str_eq(esc("l1\nl2\r\t", 7, 256), "l1\\nl2\\r\\t");
	ck_assert_str_eq(esc("\x01\x1f\x7f", 3, 256), "\\u0001\\u001f\\u007f");
	ck_assert_str_eq(esc("a\0b", 3, 256), "a\\u0000b");
	ck_assert_str_eq(esc("plain <a@b.c>", 13, 256), "plain <a@b.c>");
}
END_TEST

START_TEST(test_json_utf8_passes_other_octets_escaped)
{
	/* é, €, 📧 pass whole */
	ck_assert_str_eq(esc("\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa7", 9, 256),
	    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa7");
	/* a lone continuation, a cut sequence, an overlong '/', a
	 * surrogate, beyond U+10FFFF */
	ck_assert_str_eq(esc("\x80", 1, 256), "\\u0080");
	ck_assert_str_eq(esc("\xc3", 1, 256), "\\u00c3");
	ck_assert_str_eq(esc("\xc0\xaf", 2, 256), "\\u00c0\\u00af");
	ck_assert_str_eq(esc("\xed\xa0\x80", 3, 256),
	    "\\u00ed\\u00a0\\u0080");
	ck_assert_str_eq(esc("\xf4\x90\x80\x80", 4, 256),
	    "\\u00f4\\u0090\\u0080\\u0080");
	ck_assert_str_eq(esc("\xe0\x9f\xbf", 3, 256),
	    "\\u00e0\\u009f\\u00bf");
}
END_TEST

START_TEST(test_json_cut_keeps_escapes_whole)
{
	char buf[8];

	ck_assert_uint_eq(json_escape(buf, sizeof(buf), "abc\x01", 4), 3);
	ck_assert_str_eq(buf, "abc");
	ck_assert_uint_eq(json_escape(buf, sizeof(buf), "abcdef\"", 7), 6);
	ck_assert_str_eq(buf, "abcdef");
	ck_assert_uint_eq(json_escape(buf, sizeof(buf), "abcde\xe2\x82\xac",
	    8), 5);
	ck_assert_str_eq(buf, "abcde");
	ck_assert_uint_eq(json_escape(buf, 1, "abc", 3), 0);
	ck_assert_str_eq(buf, "");
}
END_TEST

Suite *
json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("escape");

	tcase_add_test(tc, test_json_escapes_specials);
	tcase_add_test(tc, test_json_utf8_passes_other_octets_escaped);
	tcase_add_test(tc, test_json_cut_keeps_escapes_whole);
	suite_add_tcase(s, tc);
	return s;
}
