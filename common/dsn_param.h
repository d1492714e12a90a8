/*
 * dsn_param - the DSN parameters of RFC 3461 (ENVID on MAIL, ORCPT on
 * RCPT) and the xtext encoding they travel in, checked in one place.
 *
 * smtpd parses them from a client's command with these functions, and
 * queued checks them again with the same functions when it reads a queue
 * file back (it trusts nothing smtpd wrote), so both apply exactly the
 * same rules and limits.
 */
#ifndef TERN_DSN_PARAM_H
#define TERN_DSN_PARAM_H

#include <stddef.h>

#define DSN_ENVID_MAX	100	/* RFC 3461 4.4: xtext, at most 100 chars */
#define DSN_ORCPT_MAX	500	/* RFC 3461 4.2: at most 500 chars */

/*
 * xtext_decode - RFC 3461 4 xtext in[0..len) into out (NUL-terminated);
 * returns the decoded length, or -1 when malformed, when it decodes to a
 * NUL (out is a C string), or when it does not fit.
 */
int xtext_decode(const char *in, size_t len, char *out, size_t outsize);

/*
 * dsn_envid_valid - s (the decoded ENVID, NUL-terminated) is printable
 * ASCII and at most DSN_ENVID_MAX octets.
 */
int dsn_envid_valid(const char *s);

/*
 * dsn_orcpt_valid - v[0..len) is "addr-type;xtext" as a client sends it
 * (RFC 3461 4.2): an atom, a semicolon, non-empty valid xtext, at most
 * DSN_ORCPT_MAX octets in all.
 */
int dsn_orcpt_valid(const char *v, size_t len);

#endif
