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

#endif
