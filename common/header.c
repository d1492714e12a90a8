/*
 * header - dates and header field names.  See header.h.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "header.h"

/* header_date_format - RFC 5322 date-time in local time */
int
header_date_format(time_t t, char *buf, size_t size)
{
	static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;
	int n;

	if (localtime_r(&t, &tm) == NULL)
		return -1;
	off = tm.tm_gmtoff / 60;
	/* Day and month names must be English whatever the locale. */
	n = snprintf(buf, size, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    off < 0 ? '-' : '+', (off < 0 ? -off : off) / 60,
	    (off < 0 ? -off : off) % 60);
	return (n < 0 || (size_t)n >= size) ? -1 : n;
}

/* header_is_field - p[0..len) looks like "Name: ..." (RFC 5322 2.2) */
int
header_is_field(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] == ':')
			return i > 0;
		if ((unsigned char)p[i] <= 32 || (unsigned char)p[i] >= 127)
			return 0;
	}
	return 0;
}

/* header_field_is - line starts the field called name (with its colon) */
int
header_field_is(const char *p, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len < n || strncasecmp(p, name, n) != 0)
		return 0;
	while (n < len && (p[n] == ' ' || p[n] == '\t'))
		n++;
	return n < len && p[n] == ':';
}

/* header_tls_required_add - append a piece of the field's value */
static void
header_tls_required_add(struct header_tls_required *t, const char *p,
    size_t len)
{
	if (len > sizeof(t->value) - t->len) {
		t->overflow = 1;
		return;
	}
	memcpy(t->value + t->len, p, len);
	t->len += len;
}

/* header_tls_required_line - note one line of the header section */
void
header_tls_required_line(struct header_tls_required *t, const char *p,
    size_t len)
{
	const char *colon;

	if (len > 0 && (p[0] == ' ' || p[0] == '\t')) {
		/* Folded (RFC 5322 2.2.3): the value goes on. */
		if (t->in_field)
			header_tls_required_add(t, p, len);
		return;
	}
	t->in_field = 0;
	if (!header_field_is(p, len, "TLS-Required"))
		return;
	if (++t->count > 1)
		return;
	t->in_field = 1;
	colon = memchr(p, ':', len);
	header_tls_required_add(t, colon + 1, len - (size_t)(colon + 1 - p));
}

/* header_tls_required_no - one field, and it says "No" */
int
header_tls_required_no(const struct header_tls_required *t)
{
	size_t a = 0, b = t->len;

	if (t->count != 1 || t->overflow)
		return 0;
	while (a < b && (t->value[a] == ' ' || t->value[a] == '\t'))
		a++;
	while (b > a && (t->value[b - 1] == ' ' || t->value[b - 1] == '\t'))
		b--;
	return b - a == 2 && strncasecmp(t->value + a, "No", 2) == 0;
}
