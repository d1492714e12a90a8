/*
 * header - small facts about RFC 5322 header sections, shared by smtpd
 * (the fields a submission server adds), sendmail (the fields a local
 * submission gets) and queued (the Received: field of a picked-up
 * message), so that all three read and write header fields alike.
 */
#ifndef TERN_HEADER_H
#define TERN_HEADER_H

#include <stddef.h>
#include <time.h>

/*
 * header_date_format - RFC 5322 date-time in local time, "Mon, 2 Jan
 * 2006 15:04:05 -0700", English whatever the locale.  Its length, or -1
 * when it did not fit in buf.
 */
int header_date_format(time_t t, char *buf, size_t size);

/*
 * header_is_field - p[0..len) starts a header field "Name:" with a
 * name of printable ASCII other than the colon (RFC 5322 2.2).
 */
int header_is_field(const char *p, size_t len);

/*
 * header_field_is - p[0..len) starts the header field called name
 * (case-insensitive; white space before the colon is tolerated, as the
 * obsolete syntax of RFC 5322 4.5 allows).
 */
int header_field_is(const char *p, size_t len, const char *name);

/*
 * The TLS-Required field (RFC 8689 3) as a header section goes by, one
 * line at a time: smtpd tags a message whose header says
 * "TLS-Required: No" (4.1) so that its delivery ignores the recipient
 * domain's TLS policy.  Start from all zeros.
 */
#define HEADER_TLSREQ_VALUE_MAX	16
struct header_tls_required {
	int	 count;		/* TLS-Required fields seen */
	int	 in_field;	/* the last line was (part of) one */
	size_t	 len;		/* octets of value */
	int	 overflow;	/* the value was longer than value */
	char	 value[HEADER_TLSREQ_VALUE_MAX];	/* unfolded */
};

/*
 * header_tls_required_line - p[0..len), a line of the header section
 * (no CRLF; a continuation line starts with a space or tab).
 */
void header_tls_required_line(struct header_tls_required *t, const char *p,
    size_t len);

/*
 * header_tls_required_no - the header held exactly one TLS-Required
 * field and its value is "No" (any case, white space around it
 * allowed).  A field given twice breaks the RFC's "MUST NOT appear more
 * than once" and counts as none: the recipient's policy then applies.
 */
int header_tls_required_no(const struct header_tls_required *t);

#endif
