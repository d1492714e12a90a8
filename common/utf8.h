/*
 * utf8 - strict UTF-8 (RFC 3629) for what arrives from the network:
 * SMTPUTF8 addresses (RFC 6531) and IDN domain names.
 *
 * Pure functions.  Refused: overlong forms, surrogates (U+D800..DFFF),
 * code points above U+10FFFF, stray continuation octets, truncated
 * sequences.  Control characters are valid UTF-8; the callers that must
 * refuse them (addresses) check for them themselves.
 */
#ifndef TERN_UTF8_H
#define TERN_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * utf8_seq_len - the length (1..4) of the well-formed sequence at
 * p[0..len), with its code point in *cp (cp may be NULL), or 0 when
 * there is none (len 0, or a malformed, overlong, surrogate or truncated
 * sequence).
 */
size_t utf8_seq_len(const unsigned char *p, size_t len, uint32_t *cp);

/* utf8_valid - s[0..len) is well-formed UTF-8 with no C0 or C1 control
 * character and no DEL */
int utf8_valid(const char *s, size_t len);

#endif
