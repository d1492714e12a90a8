/*
 * test_settings - the tern.conf parser, printer, listen and network
 * helpers, and the agreement of tern.conf(5) and etc/tern.conf with the
 * settings table.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "lmtp_target.h"
#include "settings.h"
#include "xmalloc.h"

/* Problems seen by the reporter. */
struct seen {
	int	 n;
	int	 lines[64];
	char	 files[64][64];
	char	 msgs[64][256];
};

/* collect - the reporter: remember each problem */
static void
collect(const char *file, int line, const char *msg, void *arg)
{
	struct seen *sn = arg;

	if (sn->n < 64) {
		sn->lines[sn->n] = line;
		strlcpy(sn->files[sn->n], file, sizeof(sn->files[0]));
		strlcpy(sn->msgs[sn->n], msg, sizeof(sn->msgs[0]));
	}
	sn->n++;
}

/* parse - defaults, then text; returns the problem count */
static int
parse(struct settings *s, const char *text, struct seen *sn)
{
	memset(sn, 0, sizeof(*sn));
	settings_defaults(s);
	return settings_parse_buffer(s, "test.conf", text, strlen(text),
	    collect, sn);
}

/* printed - settings_print output (caller frees) */
static char *
printed(const struct settings *s, int only_changed)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(fp);
	settings_print(fp, s, only_changed);
	fclose(fp);
	return buf;
}

START_TEST(test_empty_file_is_defaults)
{
	struct settings s;
	struct seen sn;

	ck_assert_int_eq(parse(&s, "", &sn), 0);
	ck_assert_int_eq(sn.n, 0);
	ck_assert_ptr_nonnull(s.myhostname);
	ck_assert_int_gt(strlen(s.myhostname), 0);
	ck_assert_uint_eq(s.local_domains.n, 2);
	ck_assert_str_eq(s.local_domains.v[0], "localhost");
	ck_assert_str_eq(s.local_domains.v[1], s.myhostname);
	ck_assert_str_eq(s.spool_dir, TERN_SPOOLDIR);
	ck_assert_str_eq(s.daemon_directory, TERN_DAEMONDIR);
	ck_assert_uint_eq(s.smtp_listen.n, 2);
	ck_assert_str_eq(s.smtp_listen.v[0], "127.0.0.1:25");
	ck_assert_str_eq(s.smtp_listen.v[1], "[::1]:25");
	ck_assert_uint_eq(s.submission_listen.n, 0);
	ck_assert_uint_eq(s.mynetworks.n, 2);
	ck_assert_str_eq(s.mynetworks.v[0], "127.0.0.0/8");
	ck_assert_str_eq(s.mynetworks.v[1], "[::1]/128");
	ck_assert_str_eq(s.mailbox_base, "");
	ck_assert_uint_eq(s.message_size_limit, 50 * 1024 * 1024);
	ck_assert_int_eq(s.smtpd_recipient_limit, 1000);
	ck_assert_int_eq(s.smtpd_max_procs, 100);
	ck_assert_int_eq(s.smtpd_min_spare, 5);
	ck_assert_str_eq(s.tern_user, "_tern");
	ck_assert_str_eq(s.tern_queue_user, "_ternq");
	ck_assert_int_eq(s.smtpd_bare_newline, BARE_NEWLINE_NORMALIZE);
	ck_assert_uint_eq(s.alias_maps.n, 1);
	ck_assert_str_eq(s.alias_maps.v[0], "/etc/aliases");
	ck_assert_int_eq(strncmp(s.smtpd_banner, s.myhostname,
	    strlen(s.myhostname)), 0);
	ck_assert_str_eq(s.smtpd_banner + strlen(s.myhostname), " ESMTP tern");
	ck_assert_int_eq(s.smtpd_timeout, 300);
	ck_assert_int_eq(s.smtpd_data_timeout, 600);
	ck_assert_int_eq(s.smtpd_hard_error_limit, 20);
	/* Postfix's default: large senders open many sessions at once. */
	ck_assert_int_eq(s.smtpd_client_connection_limit, 50);
	ck_assert_int_eq(s.minimal_backoff_time, 300);
	ck_assert_int_eq(s.maximal_backoff_time, 4000);
	ck_assert_int_eq(s.maximal_queue_lifetime, 5 * 86400);
	ck_assert_int_eq(s.bounce_queue_lifetime, 86400);
	ck_assert_int_eq(s.delay_warning_time, 4 * 3600);
	ck_assert_int_eq(s.local_delivery_limit, 10);
	ck_assert_int_eq(s.local_owner_concurrency_limit, 4);
	ck_assert_int_eq(s.shutdown_timeout, 30);
	ck_assert_int_eq(s.daemon_restart_backoff_max, 60);
	settings_free(&s);
	/* Only comments and blank lines: still nothing to report. */
	ck_assert_int_eq(parse(&s, "# a comment\n\n   \n\t# indented\n",
	    &sn), 0);
	settings_free(&s);
}
END_TEST

START_TEST(test_table_is_sane)
{
	size_t n;
	const struct setting_def *t = settings_table(&n);

	ck_assert_uint_ge(n, 28);
	for (size_t i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(t[i].help);
		ck_assert_int_gt(strlen(t[i].help), 10);
		ck_assert_ptr_nonnull(t[i].defval);
		/* Lowercase, but for Postfix's own spellings such as
		 * smtp_tls_CAfile, which administrators copy. */
		for (const char *c = t[i].name; *c; c++)
			ck_assert_msg((*c >= 'a' && *c <= 'z') || *c == '_' ||
			    (strncmp(t[i].name, "smtp_tls_CA", 11) == 0 &&
			    *c >= 'A' && *c <= 'Z'), "bad name %s", t[i].name);
		ck_assert_ptr_eq(settings_find(t[i].name), &t[i]);
		if (t[i].type == SETTING_ENUM)
			ck_assert_ptr_nonnull(t[i].words);
		for (size_t j = 0; j < i; j++) {
			ck_assert_str_ne(t[i].name, t[j].name);
			ck_assert_uint_ne(t[i].offset, t[j].offset);
		}
	}
	ck_assert_ptr_null(settings_find("nonexistent"));
	ck_assert_ptr_null(settings_find("MYHOSTNAME"));
}
END_TEST

START_TEST(test_basic_values)
{
	struct settings s;
	struct seen sn;
	const char *text =
	    "# tern.conf\n"
	    "myhostname = mx.example.org\n"
	    "message_size_limit=10k\n"
	    "smtpd_timeout =\t2m  \n"
	    "smtpd_bare_newline = reject\n"
	    "submission_listen = 0.0.0.0:587,[::]:587\n"
	    "mailbox_base = /var/mail/boxes\n"
	    "alias_maps =\n"
	    "maximal_queue_lifetime = 2w\n"
	    "delay_warning_time = 0\n";

	ck_assert_int_eq(parse(&s, text, &sn), 0);
	ck_assert_str_eq(s.myhostname, "mx.example.org");
	ck_assert_uint_eq(s.message_size_limit, 10240);
	ck_assert_int_eq(s.smtpd_timeout, 120);
	ck_assert_int_eq(s.smtpd_bare_newline, BARE_NEWLINE_REJECT);
	ck_assert_uint_eq(s.submission_listen.n, 2);
	ck_assert_str_eq(s.submission_listen.v[0], "0.0.0.0:587");
	ck_assert_str_eq(s.submission_listen.v[1], "[::]:587");
	ck_assert_str_eq(s.mailbox_base, "/var/mail/boxes");
	ck_assert_uint_eq(s.alias_maps.n, 0);
	ck_assert_int_eq(s.maximal_queue_lifetime, 14 * 86400);
	ck_assert_int_eq(s.delay_warning_time, 0);
	/* Defaults naming $myhostname follow the new name. */
	ck_assert_str_eq(s.local_domains.v[1], "mx.example.org");
	ck_assert_str_eq(s.smtpd_banner, "mx.example.org ESMTP tern");
	settings_free(&s);
}
END_TEST

START_TEST(test_continuation_and_crlf)
{
	struct settings s;
	struct seen sn;
	const char *text =
	    "smtp_listen = 127.0.0.1:2525,\r\n"
	    "  [::1]:2525\r\n"
	    "# a comment inside does not end the line\r\n"
	    "\t127.0.0.2:2525\r\n"
	    "smtpd_banner = $myhostname\r\n"
	    "    says   hello\r\n"
	    "myhostname = a.example\r\n";

	ck_assert_int_eq(parse(&s, text, &sn), 0);
	ck_assert_uint_eq(s.smtp_listen.n, 3);
	ck_assert_str_eq(s.smtp_listen.v[0], "127.0.0.1:2525");
	ck_assert_str_eq(s.smtp_listen.v[1], "[::1]:2525");
	ck_assert_str_eq(s.smtp_listen.v[2], "127.0.0.2:2525");
	ck_assert_str_eq(s.smtpd_banner, "a.example says   hello");
	settings_free(&s);
}
END_TEST

START_TEST(test_myhostname_expansion)
{
	struct settings s;
	struct seen sn;

	/* Used before it is set: the final value counts. */
	ck_assert_int_eq(parse(&s,
	    "local_domains = $myhostname, mail.$myhostname other.example\n"
	    "smtpd_banner = $myhostnamex $myhostname_ $myhostname.\n"
	    "myhostname = h.example\n", &sn), 0);
	ck_assert_uint_eq(s.local_domains.n, 3);
	ck_assert_str_eq(s.local_domains.v[0], "h.example");
	ck_assert_str_eq(s.local_domains.v[1], "mail.h.example");
	ck_assert_str_eq(s.local_domains.v[2], "other.example");
	ck_assert_str_eq(s.smtpd_banner,
	    "$myhostnamex $myhostname_ h.example.");
	settings_free(&s);

	/* Empty means the system's name, as with no line at all. */
	ck_assert_int_eq(parse(&s, "myhostname =\n", &sn), 0);
	struct settings d;
	settings_defaults(&d);
	ck_assert_str_eq(s.myhostname, d.myhostname);
	settings_free(&d);
	settings_free(&s);

	ck_assert_int_eq(parse(&s, "myhostname = $myhostname\n", &sn), 1);
	ck_assert_int_eq(sn.lines[0], 1);
	settings_free(&s);
	ck_assert_int_eq(parse(&s, "myhostname = bad_name.example\n", &sn),
	    1);
	settings_free(&s);
	ck_assert_int_eq(parse(&s, "myhostname = 10.1.2.3\n", &sn), 1);
	settings_free(&s);
}
END_TEST

START_TEST(test_all_problems_reported)
{
	struct settings s;
	struct seen sn;
	const char *text =
	    "smtpd_timeout = 60\n"		/* 1 ok */
	    "no_such_setting = 1\n"		/* 2 unknown */
	    "\n"				/* 3 */
	    "smtpd_timeout = 70\n"		/* 4 duplicate */
	    "smtpd_data_timeout = soon\n"	/* 5 bad value */
	    "smtpd_max_procs = 0\n"		/* 6 out of bounds */
	    "just some words\n"			/* 7 missing '=' */
	    "Smtpd_banner = x\n"		/* 8 keys are lowercase */
	    "= value\n"				/* 9 no name */
	    "smtpd_bare_newline = Reject\n"	/* 10 bad enum */
	    "message_size_limit = 1kb\n"	/* 11 bad size */
	    "smtpd_recipient_limit = -5\n"	/* 12 bad number */
	    "smtpd_hard_error_limit = 1001\n";	/* 13 out of bounds */
	static const int want[] = { 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 };

	ck_assert_int_eq(parse(&s, text, &sn), 11);
	ck_assert_int_eq(sn.n, 11);
	for (int i = 0; i < 11; i++) {
		ck_assert_int_eq(sn.lines[i], want[i]);
		ck_assert_str_eq(sn.files[i], "test.conf");
	}
	ck_assert_ptr_nonnull(strstr(sn.msgs[0], "no_such_setting"));
	ck_assert_ptr_nonnull(strstr(sn.msgs[1], "line 1"));
	/* The first value stays; bad values leave the default. */
	ck_assert_int_eq(s.smtpd_timeout, 60);
	ck_assert_int_eq(s.smtpd_data_timeout, 600);
	ck_assert_int_eq(s.smtpd_max_procs, 100);
	ck_assert_int_eq(s.smtpd_bare_newline, BARE_NEWLINE_NORMALIZE);
	ck_assert_uint_eq(s.message_size_limit, 50 * 1024 * 1024);
	ck_assert_int_eq(s.smtpd_hard_error_limit, 20);
	settings_free(&s);
}
END_TEST

START_TEST(test_bounds)
{
	struct settings s;
	struct seen sn;

	ck_assert_int_eq(parse(&s, "smtpd_max_procs = 10000\n"
	    "smtpd_timeout = 1d\nmessage_size_limit = 1k\n", &sn), 0);
	ck_assert_int_eq(s.smtpd_max_procs, 10000);
	settings_free(&s);
	ck_assert_int_eq(parse(&s, "smtpd_max_procs = 10001\n", &sn), 1);
	settings_free(&s);
	ck_assert_int_eq(parse(&s, "smtpd_timeout = 86401\n", &sn), 1);
	settings_free(&s);
	ck_assert_int_eq(parse(&s, "smtpd_timeout = 0\n", &sn), 1);
	settings_free(&s);
	ck_assert_int_eq(parse(&s, "message_size_limit = 1023\n", &sn), 1);
	settings_free(&s);
	ck_assert_int_eq(parse(&s,
	    "smtpd_recipient_limit = 99999999999999999999999\n", &sn), 1);
	settings_free(&s);
	ck_assert_int_eq(parse(&s,
	    "smtpd_timeout = 9223372036854775807w\n", &sn), 1);
	settings_free(&s);
	/* Relations between settings. */
	ck_assert_int_eq(parse(&s, "smtpd_min_spare = 200\n", &sn), 1);
	settings_free(&s);
	ck_assert_int_eq(parse(&s, "minimal_backoff_time = 2h\n", &sn), 1);
	settings_free(&s);
	ck_assert_int_eq(parse(&s, "tern_user =\n", &sn), 1);
	settings_free(&s);
	ck_assert_int_eq(parse(&s, "tern_user = -x\n", &sn), 1);
	settings_free(&s);
	ck_assert_int_eq(parse(&s, "spool_dir = var/spool\n", &sn), 1);
	ck_assert_str_eq(s.spool_dir, TERN_SPOOLDIR);
	settings_free(&s);
	ck_assert_int_eq(parse(&s, "alias_maps = /etc/aliases aliases\n",
	    &sn), 1);
	ck_assert_uint_eq(s.alias_maps.n, 1);
	settings_free(&s);
}
END_TEST

START_TEST(test_line_limits)
{
	struct settings s;
	struct seen sn;
	size_t big = SETTINGS_LINE_MAX + 100;
	char *text = xmalloc(big + 64);

	/* One overlong logical line is one problem; parsing goes on. */
	strlcpy(text, "smtpd_banner = ", big + 64);
	memset(text + 15, 'x', big - 15);
	text[big] = '\0';
	strlcat(text, "\nsmtpd_timeout = 1m\n", big + 64);
	ck_assert_int_eq(parse(&s, text, &sn), 1);
	ck_assert_int_eq(sn.lines[0], 1);
	ck_assert_int_eq(s.smtpd_timeout, 60);
	settings_free(&s);

	/* Exactly at the limit is accepted (banner max is 500, though). */
	strlcpy(text, "mailbox_base = /", big + 64);
	memset(text + 16, 'a', SETTINGS_LINE_MAX - 16);
	text[SETTINGS_LINE_MAX] = '\0';
	ck_assert_int_eq(parse(&s, text, &sn), 1);	/* over 1024 chars */
	ck_assert_ptr_nonnull(strstr(sn.msgs[0], "mailbox_base"));
	settings_free(&s);

	/* Continuations count toward the limit too. */
	free(text);
	text = xmalloc(2 * SETTINGS_LINE_MAX);
	strlcpy(text, "local_domains = a.example\n", 2 * SETTINGS_LINE_MAX);
	for (int i = 0; i < SETTINGS_LINE_MAX / 10; i++)
		strlcat(text, " b.example\n", 2 * SETTINGS_LINE_MAX);
	ck_assert_int_eq(parse(&s, text, &sn), 1);
	ck_assert_int_eq(sn.lines[0], 1);
	settings_free(&s);
	free(text);

	ck_assert_int_eq(parse(&s, "  smtpd_timeout = 1m\n", &sn), 1);
	ck_assert_int_eq(sn.lines[0], 1);
	settings_free(&s);
	ck_assert_int_eq(parse(&s, "smtpd_banner = a\001b\n", &sn), 1);
	settings_free(&s);

	static const char nul[] = "smtpd_timeout = 1\0m\nsmtpd_max_procs = 7\n";
	memset(&sn, 0, sizeof(sn));
	settings_defaults(&s);
	ck_assert_int_eq(settings_parse_buffer(&s, "nul.conf", nul,
	    sizeof(nul) - 1, collect, &sn), 1);
	ck_assert_int_eq(s.smtpd_timeout, 300);
	ck_assert_int_eq(s.smtpd_max_procs, 7);
	/* No final newline: the last line still counts. */
	ck_assert_int_eq(settings_parse_buffer(&s, "x", "smtpd_min_spare = 3",
	    19, collect, &sn), 0);
	ck_assert_int_eq(s.smtpd_min_spare, 3);
	settings_free(&s);
}
END_TEST

START_TEST(test_parse_duration)
{
	long v;

	ck_assert_int_eq(settings_parse_duration("30", &v), 0);
	ck_assert_int_eq(v, 30);
	ck_assert_int_eq(settings_parse_duration("300s", &v), 0);
	ck_assert_int_eq(v, 300);
	ck_assert_int_eq(settings_parse_duration("5m", &v), 0);
	ck_assert_int_eq(v, 300);
	ck_assert_int_eq(settings_parse_duration("4h", &v), 0);
	ck_assert_int_eq(v, 14400);
	ck_assert_int_eq(settings_parse_duration("5d", &v), 0);
	ck_assert_int_eq(v, 432000);
	ck_assert_int_eq(settings_parse_duration("2w", &v), 0);
	ck_assert_int_eq(v, 1209600);
	ck_assert_int_eq(settings_parse_duration("0", &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(settings_parse_duration("9223372036854775807",
	    &v), 0);
	ck_assert_int_eq(v, LONG_MAX);
	v = 42;
	ck_assert_int_eq(settings_parse_duration("9223372036854775808",
	    &v), -1);
	ck_assert_int_eq(settings_parse_duration("153722867280912931m",
	    &v), -1);
	ck_assert_int_eq(settings_parse_duration("99999999999999999999999",
	    &v), -1);
	ck_assert_int_eq(settings_parse_duration("", &v), -1);
	ck_assert_int_eq(settings_parse_duration("s", &v), -1);
	ck_assert_int_eq(settings_parse_duration("-1", &v), -1);
	ck_assert_int_eq(settings_parse_duration("+1", &v), -1);
	ck_assert_int_eq(settings_parse_duration(" 1", &v), -1);
	ck_assert_int_eq(settings_parse_duration("1 m", &v), -1);
	ck_assert_int_eq(settings_parse_duration("1mm", &v), -1);
	ck_assert_int_eq(settings_parse_duration("1M", &v), -1);
	ck_assert_int_eq(settings_parse_duration("1x", &v), -1);
	ck_assert_int_eq(v, 42);
}
END_TEST

START_TEST(test_parse_size)
{
	uint64_t v;

	ck_assert_int_eq(settings_parse_size("1024", &v), 0);
	ck_assert_uint_eq(v, 1024);
	ck_assert_int_eq(settings_parse_size("10k", &v), 0);
	ck_assert_uint_eq(v, 10240);
	ck_assert_int_eq(settings_parse_size("50m", &v), 0);
	ck_assert_uint_eq(v, 52428800);
	ck_assert_int_eq(settings_parse_size("1g", &v), 0);
	ck_assert_uint_eq(v, 1073741824);
	ck_assert_int_eq(settings_parse_size("2G", &v), 0);
	ck_assert_uint_eq(v, 2147483648u);
	ck_assert_int_eq(settings_parse_size("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(settings_parse_size("18446744073709551615", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	v = 42;
	ck_assert_int_eq(settings_parse_size("18446744073709551616", &v),
	    -1);
	ck_assert_int_eq(settings_parse_size("17179869184g", &v), -1);
	ck_assert_int_eq(settings_parse_size("17179869183g", &v), 0);
	v = 42;
	ck_assert_int_eq(settings_parse_size("", &v), -1);
	ck_assert_int_eq(settings_parse_size("k", &v), -1);
	ck_assert_int_eq(settings_parse_size("1kb", &v), -1);
	ck_assert_int_eq(settings_parse_size("-1", &v), -1);
	ck_assert_int_eq(settings_parse_size("1t", &v), -1);
	ck_assert_int_eq(settings_parse_size("1.5m", &v), -1);
	ck_assert_uint_eq(v, 42);
}
END_TEST

START_TEST(test_parse_bool)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	int b;

	for (int i = 0; i < 4; i++) {
		b = 0;
		ck_assert_int_eq(settings_parse_bool(yes[i], &b), 0);
		ck_assert_int_eq(b, 1);
		ck_assert_int_eq(settings_parse_bool(no[i], &b), 0);
		ck_assert_int_eq(b, 0);
	}
	ck_assert_int_eq(settings_parse_bool("", &b), -1);
	ck_assert_int_eq(settings_parse_bool("2", &b), -1);
	ck_assert_int_eq(settings_parse_bool("yess", &b), -1);
	ck_assert_int_eq(settings_parse_bool("y", &b), -1);
}
END_TEST

START_TEST(test_listen_parse)
{
	char host[64], port[8];

	ck_assert_int_eq(settings_listen_parse("127.0.0.1:25", host,
	    sizeof(host), port, sizeof(port)), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_str_eq(port, "25");
	ck_assert_int_eq(settings_listen_parse("[::1]:587", host,
	    sizeof(host), port, sizeof(port)), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_str_eq(port, "587");
	ck_assert_int_eq(settings_listen_parse("[2001:db8::25]:00025", host,
	    sizeof(host), port, sizeof(port)), 0);
	ck_assert_str_eq(host, "2001:db8::25");
	ck_assert_str_eq(port, "25");
	ck_assert_int_eq(settings_listen_parse("2525", host, sizeof(host),
	    port, sizeof(port)), 0);
	ck_assert_str_eq(host, "");
	ck_assert_str_eq(port, "2525");
	ck_assert_int_eq(settings_listen_parse("*:465", host, sizeof(host),
	    port, sizeof(port)), 0);
	ck_assert_str_eq(host, "");
	ck_assert_str_eq(port, "465");
	ck_assert_int_eq(settings_listen_parse("mx.example.org:65535", host,
	    sizeof(host), port, sizeof(port)), 0);
	ck_assert_str_eq(host, "mx.example.org");
	ck_assert_str_eq(port, "65535");

	static const char *const bad[] = {
		"", ":25", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
		"127.0.0.1:99999999999", "::1:25", "[::1]25", "[::1]:",
		"[::1", "[zz::1]:25", "[127.0.0.1]:25", "1.2.3.999:25",
		"bad_host:25", "host:smtp", "0", "65536", "-25", "host:+25",
		"[::1]:25:26", "a b:25",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(settings_listen_parse(bad[i], host, sizeof(host),
		    port, sizeof(port)) == -1, "accepted \"%s\"", bad[i]);
	/* Buffers too small are an error, never a truncation. */
	ck_assert_int_eq(settings_listen_parse("mx.example.org:25", host, 8,
	    port, sizeof(port)), -1);
	ck_assert_int_eq(settings_listen_parse("127.0.0.1:2525", host,
	    sizeof(host), port, 4), -1);
}
END_TEST

START_TEST(test_listen_validated)
{
	struct settings s;
	struct seen sn;

	ck_assert_int_eq(parse(&s, "smtp_listen = 127.0.0.1:25 ::1:25 "
	    "[::1]:25 127.0.0.1:0\nsubmission_listen = 587\n", &sn), 2);
	ck_assert_int_eq(sn.lines[0], 1);
	ck_assert_int_eq(sn.lines[1], 1);
	ck_assert_ptr_nonnull(strstr(sn.msgs[0], "::1:25"));
	ck_assert_ptr_nonnull(strstr(sn.msgs[1], "127.0.0.1:0"));
	/* A bad list leaves the default in place. */
	ck_assert_uint_eq(s.smtp_listen.n, 2);
	ck_assert_str_eq(s.smtp_listen.v[0], "127.0.0.1:25");
	ck_assert_uint_eq(s.submission_listen.n, 1);
	settings_free(&s);
}
END_TEST

START_TEST(test_mynetworks_validated)
{
	struct settings s;
	struct seen sn;

	ck_assert_int_eq(parse(&s, "mynetworks = 10.0.0.0/8, "
	    "192.168.1.128/25 [2001:db8::]/32 2001:db8:1::/48 10.1.2.3 "
	    "[::1] 0.0.0.0/0\n", &sn), 0);
	ck_assert_uint_eq(s.mynetworks.n, 7);
	settings_free(&s);

	static const char *const bad[] = {
		"10.1.2.3/8", "10.0.0.0/33", "[::1]/129", "garbage",
		"10.0.0.0/", "[10.0.0.0]/8", "10.0.0.0/-1", "10.0.0/8",
		"[::1/128", "::1]/128", "10.0.0.0/8/8", "10.0.0.0/0008",
		"[2001:db8::1]/32",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128];

		snprintf(text, sizeof(text), "mynetworks = %s\n", bad[i]);
		ck_assert_msg(parse(&s, text, &sn) == 1, "accepted %s",
		    bad[i]);
		ck_assert_uint_eq(s.mynetworks.n, 2);
		settings_free(&s);
	}
}
END_TEST

/* match4 - settings_network_match() for an IPv4 address */
static int
match4(const struct strlist *nets, const char *addr)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	return settings_network_match(nets, (struct sockaddr *)&sin);
}

/* match6 - settings_network_match() for an IPv6 address */
static int
match6(const struct strlist *nets, const char *addr)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6.sin6_addr), 1);
	return settings_network_match(nets, (struct sockaddr *)&sin6);
}

START_TEST(test_network_match)
{
	char *v[] = { "127.0.0.0/8", "192.168.1.128/25", "10.9.8.7",
	    "[2001:db8::]/32", "fe80::1/128", "not a network" };
	struct strlist nets = { v, 6 };
	struct strlist none = { NULL, 0 };
	char *all4v[] = { "0.0.0.0/0" };
	struct strlist all4 = { all4v, 1 };
	struct sockaddr sa;

	ck_assert_int_eq(match4(&nets, "127.0.0.1"), 1);
	ck_assert_int_eq(match4(&nets, "127.255.255.255"), 1);
	ck_assert_int_eq(match4(&nets, "128.0.0.1"), 0);
	ck_assert_int_eq(match4(&nets, "126.255.255.255"), 0);
	ck_assert_int_eq(match4(&nets, "192.168.1.128"), 1);
	ck_assert_int_eq(match4(&nets, "192.168.1.200"), 1);
	ck_assert_int_eq(match4(&nets, "192.168.1.127"), 0);
	ck_assert_int_eq(match4(&nets, "192.168.2.200"), 0);
	ck_assert_int_eq(match4(&nets, "10.9.8.7"), 1);
	ck_assert_int_eq(match4(&nets, "10.9.8.6"), 0);
	ck_assert_int_eq(match6(&nets, "2001:db8::1"), 1);
	ck_assert_int_eq(match6(&nets, "2001:db8:ffff::1"), 1);
	ck_assert_int_eq(match6(&nets, "2001:db9::1"), 0);
	ck_assert_int_eq(match6(&nets, "fe80::1"), 1);
	ck_assert_int_eq(match6(&nets, "fe80::2"), 0);
	ck_assert_int_eq(match6(&nets, "::1"), 0);
	/* IPv4-mapped IPv6 clients are judged by their IPv4 address. */
	ck_assert_int_eq(match6(&nets, "::ffff:127.0.0.1"), 1);
	ck_assert_int_eq(match6(&nets, "::ffff:192.168.1.130"), 1);
	ck_assert_int_eq(match6(&nets, "::ffff:192.168.1.1"), 0);
	/* ...but an IPv4-compatible or NAT64 address is not mapped. */
	ck_assert_int_eq(match6(&nets, "::127.0.0.1"), 0);
	ck_assert_int_eq(match6(&nets, "64:ff9b::127.0.0.1"), 0);
	ck_assert_int_eq(match4(&all4, "203.0.113.9"), 1);
	ck_assert_int_eq(match6(&all4, "2001:db8::1"), 0);
	ck_assert_int_eq(match4(&none, "127.0.0.1"), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	ck_assert_int_eq(settings_network_match(&nets, &sa), 0);
	ck_assert_int_eq(settings_network_match(&nets, NULL), 0);
}
END_TEST

START_TEST(test_network_match_defaults)
{
	struct settings s;

	settings_defaults(&s);
	ck_assert_int_eq(match4(&s.mynetworks, "127.0.0.1"), 1);
	ck_assert_int_eq(match6(&s.mynetworks, "::1"), 1);
	ck_assert_int_eq(match6(&s.mynetworks, "::2"), 0);
	ck_assert_int_eq(match4(&s.mynetworks, "192.0.2.1"), 0);
	settings_free(&s);
}
END_TEST

START_TEST(test_print)
{
	struct settings s, s2;
	struct seen sn;
	size_t n;
	const struct setting_def *t = settings_table(&n);
	char *out, *out2, *line;

	settings_defaults(&s);
	out = printed(&s, 0);
	/* Every setting, once, in table order. */
	line = out;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(t[i].name);

		ck_assert_msg(strncmp(line, t[i].name, len) == 0 &&
		    line[len] == ' ' && line[len + 1] == '=', "line %zu: %s",
		    i, line);
		line = strchr(line, '\n');
		ck_assert_ptr_nonnull(line);
		line++;
	}
	ck_assert_str_eq(line, "");
	ck_assert_ptr_nonnull(strstr(out, "\nmessage_size_limit = 50m\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nsmtpd_timeout = 5m\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nmaximal_backoff_time = 4000s\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nsmtp_listen = 127.0.0.1:25, "
	    "[::1]:25\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nsubmission_listen =\n"));
	ck_assert_ptr_nonnull(strstr(out, "\nsmtpd_bare_newline = normalize\n"));
	free(out);
	out = printed(&s, 1);
	ck_assert_str_eq(out, "");
	free(out);
	settings_free(&s);

	ck_assert_int_eq(parse(&s, "myhostname = mx.example.net\n"
	    "smtpd_timeout = 600\nmessage_size_limit = 51200k\n"
	    "mynetworks = 10.0.0.0/8\nsmtpd_bare_newline = reject\n"
	    "delay_warning_time = 0\nsmtpd_max_procs = 100\n", &sn), 0);
	out = printed(&s, 1);
	ck_assert_str_eq(out, "myhostname = mx.example.net\n"
	    "mynetworks = 10.0.0.0/8\n"
	    "smtpd_bare_newline = reject\n"
	    "smtpd_timeout = 10m\n"
	    "delay_warning_time = 0s\n");
	free(out);

	/* What settings_print writes reads back to the same settings. */
	out = printed(&s, 0);
	ck_assert_int_eq(parse(&s2, out, &sn), 0);
	out2 = printed(&s2, 0);
	ck_assert_str_eq(out, out2);
	free(out);
	free(out2);
	settings_free(&s2);
	settings_free(&s);
}
END_TEST

START_TEST(test_load_file)
{
	struct settings s;
	struct seen sn;
	char path[] = "/tmp/tern-settings-XXXXXX";
	int fd = mkstemp(path);
	const char *text = "smtpd_timeout = 1m\nbogus = 1\n";

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	memset(&sn, 0, sizeof(sn));
	ck_assert_int_eq(settings_load(&s, path, 0, collect, &sn), 1);
	ck_assert_int_eq(sn.lines[0], 2);
	ck_assert_str_eq(sn.files[0], path);
	ck_assert_int_eq(s.smtpd_timeout, 60);
	settings_free(&s);
	unlink(path);

	memset(&sn, 0, sizeof(sn));
	ck_assert_int_eq(settings_load(&s, path, 1, collect, &sn), 0);
	ck_assert_int_eq(sn.n, 0);
	ck_assert_int_eq(s.smtpd_timeout, 300);
	settings_free(&s);
	ck_assert_int_eq(settings_load(&s, path, 0, collect, &sn), 1);
	ck_assert_int_eq(sn.lines[0], 0);
	settings_free(&s);
	/* Freeing twice, or a zeroed struct, is harmless. */
	settings_free(&s);
}
END_TEST

/* source_path - a file of the source tree (caller frees) */
static char *
source_path(const char *rel)
{
	const char *src = getenv("TERN_SRCDIR");

	if (src != NULL && *src != '\0')
		return xasprintf("%s/%s", src, rel);
	/* __FILE__ is .../tests/unit/test_settings.c */
	char *dir = xstrdup(__FILE__);
	char *p = strstr(dir, "tests/unit/test_settings.c");
	char *path;

	if (p != NULL)
		*p = '\0';
	else
		strlcpy(dir, "./", strlen(dir) + 1);
	path = xasprintf("%s%s", dir[0] ? dir : "./", rel);
	free(dir);
	return path;
}

/* slurp - the whole file, NUL-terminated (caller frees) */
static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	char chunk[4096];
	size_t n;

	ck_assert_msg(fp != NULL, "cannot open %s", path);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		buf = xreallocarray(buf, len + n + 1, 1);
		memcpy(buf + len, chunk, n);
		len += n;
	}
	fclose(fp);
	buf = xreallocarray(buf, len + 1, 1);
	buf[len] = '\0';
	return buf;
}

/* roff_plain - undo the escapes the man page uses: \- \e \(aq \& */
static void
roff_plain(char *s)
{
	char *o = s;

	while (*s != '\0') {
		if (strncmp(s, "\\-", 2) == 0) {
			*o++ = '-';
			s += 2;
		} else if (strncmp(s, "\\e", 2) == 0) {
			*o++ = '\\';
			s += 2;
		} else if (strncmp(s, "\\(aq", 4) == 0) {
			*o++ = '\'';
			s += 4;
		} else if (strncmp(s, "\\&", 2) == 0)
			s += 2;
		else
			*o++ = *s++;
	}
	*o = '\0';
}

/* type_word - the word tern.conf(5) uses for a type */
static const char *
type_word(enum setting_type t)
{
	switch (t) {
	case SETTING_STRING:
		return "string";
	case SETTING_BOOL:
		return "boolean";
	case SETTING_INT:
		return "number";
	case SETTING_SIZE:
		return "size";
	case SETTING_DURATION:
		return "duration";
	case SETTING_LIST:
		return "list";
	case SETTING_ENUM:
		return "word";
	}
	return "?";
}

/*
 * Each setting in tern.conf(5) is an entry:
 *	.TP
 *	.B name
 *	(type) default:
 *	.B "default"		(or .I "set at build time" for paths)
 *	.br
 *	help line from the table
 * The whole entry runs to the next .TP, .SH or .SS.
 */
START_TEST(test_man_page_matches_table)
{
	char *path = source_path("man/tern.conf.5");
	char *man = slurp(path);
	size_t n;
	const struct setting_def *t = settings_table(&n);

	roff_plain(man);
	for (size_t i = 0; i < n; i++) {
		char want[256], *entry, *end, *next, *joined;

		snprintf(want, sizeof(want), "\n.TP\n.B %s\n", t[i].name);
		entry = strstr(man, want);
		ck_assert_msg(entry != NULL, "tern.conf(5) lacks %s",
		    t[i].name);
		ck_assert_msg(strstr(entry + 1, want) == NULL,
		    "tern.conf(5) has %s twice", t[i].name);
		entry += strlen(want);
		end = entry + strlen(entry);
		if ((next = strstr(entry, "\n.TP")) != NULL && next < end)
			end = next;
		if ((next = strstr(entry, "\n.SH")) != NULL && next < end)
			end = next;
		if ((next = strstr(entry, "\n.SS")) != NULL && next < end)
			end = next;
		*end = '\0';
		snprintf(want, sizeof(want), "(%s) default:\n",
		    type_word(t[i].type));
		ck_assert_msg(strncmp(entry, want, strlen(want)) == 0,
		    "tern.conf(5): %s: expected \"%s\"", t[i].name, want);
		if (strcmp(t[i].defval, TERN_SPOOLDIR) == 0 ||
		    strcmp(t[i].defval, TERN_DAEMONDIR) == 0)
			snprintf(want, sizeof(want), ".I \"set at build time\"");
		else
			snprintf(want, sizeof(want), ".B \"%s\"", t[i].defval);
		ck_assert_msg(strstr(entry, want) != NULL,
		    "tern.conf(5): %s: default should read %s", t[i].name,
		    want);
		/* The help line may be wrapped: line ends count as spaces. */
		joined = strdup(entry);
		ck_assert_ptr_nonnull(joined);
		for (char *p = joined; *p != '\0'; p++)
			if (*p == '\n')
				*p = ' ';
		ck_assert_msg(strstr(joined, t[i].help) != NULL,
		    "tern.conf(5): %s: help should read \"%s\"", t[i].name,
		    t[i].help);
		free(joined);
		*end = '\n';
	}
	/* And nothing there that the table does not have. */
	const char *sect = strstr(man, "\n.SH SETTINGS\n");
	ck_assert_ptr_nonnull(sect);
	const char *stop = strstr(sect + 1, "\n.SH ");
	for (const char *p = strstr(sect, "\n.TP\n.B "); p != NULL &&
	    (stop == NULL || p < stop); p = strstr(p + 1, "\n.TP\n.B ")) {
		char name[64];
		size_t len = strcspn(p + 8, "\n");

		ck_assert_uint_lt(len, sizeof(name));
		memcpy(name, p + 8, len);
		name[len] = '\0';
		ck_assert_msg(settings_find(name) != NULL,
		    "tern.conf(5) documents unknown setting %s", name);
	}
	free(man);
	free(path);
}
END_TEST

/*
 * etc/tern.conf shows every setting commented out with its default:
 * uncommenting every "#name = value" line must parse without problems and
 * give the defaults (build-time paths aside).
 */
START_TEST(test_sample_config_matches_table)
{
	char *path = source_path("etc/tern.conf");
	char *text = slurp(path);
	size_t n, len = 0;
	const struct setting_def *t = settings_table(&n);
	char *uncommented = xmalloc(strlen(text) + 1), *line, *save;
	struct settings s, d;
	struct seen sn;
	int *seen = xcalloc(n, sizeof(int));

	uncommented[0] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		const char *l = line;
		char name[64];
		size_t k;

		if (*l != '#')
			continue;
		l++;
		k = strcspn(l, " =");
		if (k == 0 || k >= sizeof(name) || strncmp(l + k, " =", 2))
			continue;
		memcpy(name, l, k);
		name[k] = '\0';
		const struct setting_def *def = settings_find(name);
		if (def == NULL)
			continue;
		seen[def - t]++;
		if (strcmp(def->defval, TERN_SPOOLDIR) == 0 ||
		    strcmp(def->defval, TERN_DAEMONDIR) == 0)
			continue;
		len += (size_t)snprintf(uncommented + len,
		    strlen(line) + 1, "%s\n", l);
	}
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(seen[i] == 1, "etc/tern.conf shows %s %d times",
		    t[i].name, seen[i]);
	ck_assert_int_eq(parse(&s, uncommented, &sn), 0);
	settings_defaults(&d);
	char *a = printed(&s, 0), *b = printed(&d, 0);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	settings_free(&s);
	settings_free(&d);
	free(seen);
	free(uncommented);
	free(text);
	free(path);
}
END_TEST

/* settings_suite - every settings test */
/* mailbox_transport: every form lmtp_target.h names, and what it refuses */
START_TEST(test_mailbox_transport_parse)
{
	static const char *bad[] = { "lmtp", "lmtp:", "smtp:[1.2.3.4]:24",
	    "lmtp:unix:", "lmtp:unix:relative/path", "lmtp:[1.2.3.4",
	    "lmtp:[]:24", "lmtp:[1.2.3.4]:0", "lmtp:[1.2.3.4]:65536",
	    "lmtp:[1.2.3.4]x", "lmtp:host:", "lmtp:host:24x", "lmtp::24",
	    "lmtp:-host:24", "lmtp:ho st:24", "lmtp:[::1]:24:25",
	    "lmtp:unix:/" "0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789"
	    "01234567890123456789012345678", NULL };
	struct lmtp_target t;
	char err[200];
	struct settings s;
	struct seen sn;

	ck_assert_int_eq(lmtp_target_parse("", &t, err, sizeof(err)), 0);
	ck_assert_int_eq(t.kind, LMTP_TARGET_NONE);
	ck_assert_int_eq(lmtp_target_parse("lmtp:unix:/run/dovecot/lmtp", &t,
	    err, sizeof(err)), 0);
	ck_assert_int_eq(t.kind, LMTP_TARGET_UNIX);
	ck_assert_str_eq(t.path, "/run/dovecot/lmtp");
	ck_assert_int_eq(lmtp_target_parse("lmtp:[127.0.0.1]:2424", &t, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(t.kind, LMTP_TARGET_INET);
	ck_assert_str_eq(t.host, "127.0.0.1");
	ck_assert_int_eq(t.port, 2424);
	ck_assert_int_eq(t.numeric, 1);
	ck_assert_int_eq(lmtp_target_parse("lmtp:[::1]", &t, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(t.host, "::1");
	ck_assert_int_eq(t.port, LMTP_DEFAULT_PORT);
	ck_assert_int_eq(t.numeric, 1);
	ck_assert_int_eq(lmtp_target_parse("lmtp:mail.example.org:24", &t, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(t.host, "mail.example.org");
	ck_assert_int_eq(t.numeric, 0);
	ck_assert_int_eq(lmtp_target_parse("lmtp:localhost", &t, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(t.port, LMTP_DEFAULT_PORT);
	for (int i = 0; bad[i] != NULL; i++)
		ck_assert_msg(lmtp_target_parse(bad[i], &t, err, sizeof(err))
		    == -1 && t.kind == LMTP_TARGET_NONE, "%s accepted", bad[i]);
	/* The setting refuses what the parser refuses. */
	ck_assert_int_ne(parse(&s, "mailbox_transport = lmtp:unix:rel\n",
	    &sn), 0);
	settings_free(&s);
	ck_assert_int_eq(parse(&s, "mailbox_transport = lmtp:[127.0.0.1]:24\n",
	    &sn), 0);
	ck_assert_str_eq(s.mailbox_transport, "lmtp:[127.0.0.1]:24");
	settings_free(&s);
}
END_TEST

Suite *
settings_suite(void)
{
	Suite *s = suite_create("settings");
	TCase *tc = tcase_create("settings");
	struct settings warm;

	/*
	 * Look the system's host name up once here, before Check forks a
	 * process per test, so a slow resolver costs one lookup, not twenty.
	 */
	settings_defaults(&warm);
	settings_free(&warm);

	tcase_add_test(tc, test_empty_file_is_defaults);
	tcase_add_test(tc, test_table_is_sane);
	tcase_add_test(tc, test_basic_values);
	tcase_add_test(tc, test_continuation_and_crlf);
	tcase_add_test(tc, test_myhostname_expansion);
	tcase_add_test(tc, test_all_problems_reported);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_line_limits);
	tcase_add_test(tc, test_parse_duration);
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_parse_bool);
	tcase_add_test(tc, test_listen_parse);
	tcase_add_test(tc, test_listen_validated);
	tcase_add_test(tc, test_mynetworks_validated);
	tcase_add_test(tc, test_network_match);
	tcase_add_test(tc, test_network_match_defaults);
	tcase_add_test(tc, test_print);
	tcase_add_test(tc, test_load_file);
	tcase_add_test(tc, test_man_page_matches_table);
	tcase_add_test(tc, test_sample_config_matches_table);
	tcase_add_test(tc, test_mailbox_transport_parse);
	suite_add_tcase(s, tc);
	return s;
}
