/*
 * fuzz_settings - libFuzzer target for the tern.conf parser
 * (settings_parse_buffer in common/settings.c, what settings_load runs
 * on the file's text).
 *
 * The input is the file.  Checks: the count of problems is the count of
 * reports; a report names a line of the file and is printable (input is
 * vis-encoded before it reaches a log); whatever was parsed keeps the
 * table's promises (numbers within bounds, strings and list items pass
 * their checks), and with no problem the cross-checks hold too; and what
 * "ternctl config" prints for the result reads back as the same settings
 * (without a problem, when the input had none), unless the format itself
 * cannot say it (see readable()).  Built by build.sh.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reports of one parse. */
struct reports {
	int	n;
	int	lines;		/* physical lines in the text */
	int	verbose;	/* print each report (none is expected) */
};

/* fail - report a broken promise and abort, so libFuzzer keeps the input */
static void
fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_settings: %s%s%s\n", what, detail ? ": " : "",
	    detail ? detail : "");
	abort();
}

/* report - count a report; it names a line and is printable */
static void
report(const char *file, int line, const char *msg, void *arg)
{
	struct reports *r = arg;

	r->n++;
	if (r->verbose)
		fprintf(stderr, "fuzz_settings: line %d: %s\n", line, msg);
	if (line < 0 || line > r->lines || msg[0] == '\0')
		fail("report on no line of the file", msg);
	for (const char *p = msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			fail("report not vis-encoded", NULL);
}

/* parse - defaults, then text applied on top; the number of problems */
static int
parse(struct settings *s, const char *text, size_t len, int verbose)
{
	struct reports r = { 0, 1, verbose };
	int n;

	for (size_t i = 0; i < len; i++)
		r.lines += text[i] == '\n';
	settings_defaults(s);
	n = settings_parse_buffer(s, "fuzz", text, len, report, &r);
	if (n != r.n)
		fail("problem count differs from the reports", NULL);
	return n;
}

/* item_check - one STRING value or LIST item against its definition */
static void
item_check(const struct setting_def *d, const char *v)
{
	char err[256];

	if (d->check != NULL && d->check(v, err, sizeof(err)) < 0)
		fail("a stored value fails its check", d->name);
}

/* values_check - every setting of s keeps the table's promises */
static void
values_check(const struct settings *s)
{
	const struct setting_def *t;
	size_t n;

	t = settings_table(&n);
	for (size_t i = 0; i < n; i++) {
		const struct setting_def *d = &t[i];
		const char *f = (const char *)s + d->offset;
		long v;
		uint64_t u;

		switch (d->type) {
		case SETTING_STRING: {
			const char *str;

			memcpy(&str, f, sizeof(str));
			if (str == NULL || strlen(str) < (size_t)d->min ||
			    (d->max > 0 && strlen(str) > (size_t)d->max))
				fail("string out of bounds", d->name);
			item_check(d, str);
			break;
		}
		case SETTING_LIST: {
			struct strlist l;

			memcpy(&l, f, sizeof(l));
			for (size_t k = 0; k < l.n; k++) {
				if (l.v[k][0] == '\0' ||
				    strpbrk(l.v[k], ", \t") != NULL)
					fail("list item empty or split badly",
					    d->name);
				item_check(d, l.v[k]);
			}
			break;
		}
		case SETTING_BOOL:
		case SETTING_ENUM: {
			int b;

			memcpy(&b, f, sizeof(b));
			if (b < 0 || (d->type == SETTING_BOOL && b > 1))
				fail("bad bool or enum", d->name);
			break;
		}
		case SETTING_INT:
		case SETTING_DURATION:
			memcpy(&v, f, sizeof(v));
			if (v < d->min || v > d->max)
				fail("number out of bounds", d->name);
			break;
		case SETTING_SIZE:
			memcpy(&u, f, sizeof(u));
			if (u < (uint64_t)d->min || u > (uint64_t)d->max)
				fail("size out of bounds", d->name);
			break;
		}
	}
}

/*
 * readable - text can be read back under the file format's own rules.
 * Two things printed cannot: a line over SETTINGS_LINE_MAX (a list prints
 * with ", " between items and with $myhostname expanded, so it may grow
 * past the limit the file had to keep), and text that reads as
 * "$myhostname" once expanded (the format has no escape for '$').
 */
static int
readable(const char *text, size_t len)
{
	const char *p = text, *end = text + len, *nl;

	if (memmem(text, len, "$myhostname", 11) != NULL)
		return 0;
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if ((size_t)(nl - p) > SETTINGS_LINE_MAX)
			return 0;
	}
	return 1;
}

/* print - what "ternctl config" shows for s, in a new buffer */
static char *
print(const struct settings *s, size_t *len)
{
	char *buf = NULL;
	FILE *fp;

	if ((fp = open_memstream(&buf, len)) == NULL)
		fail("open_memstream", NULL);
	settings_print(fp, s, 0);
	fclose(fp);
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct settings s, again;
	char *text, *text2;
	size_t len, len2;
	int n;

	if (size > SETTINGS_FILE_MAX)
		return 0;
	n = parse(&s, (const char *)data, size, 0);
	values_check(&s);
	if (n == 0 && (s.smtpd_min_spare > s.smtpd_max_procs ||
	    s.minimal_backoff_time > s.maximal_backoff_time))
		fail("cross-check missed", NULL);

	text = print(&s, &len);
	if (readable(text, len)) {
		/* With problems, values failing a cross-check stay. */
		if (parse(&again, text, len, n == 0) != 0 && n == 0)
			fail("the printed settings do not parse", NULL);
		text2 = print(&again, &len2);
		if (len != len2 || memcmp(text, text2, len) != 0)
			fail("the printed settings read back differently",
			    NULL);
		free(text2);
		settings_free(&again);
	}
	free(text);
	settings_free(&s);
	return 0;
}
