/*
 * json - writing JSON strings, for "ternctl queue --json" and "ternctl
 * stats --json".
 *
 * Only output: tern never parses JSON.  Text from outside (addresses,
 * remote servers' replies) goes in as octets; valid UTF-8 passes
 * through, so that an internationalized address reads as itself, and
 * every other octet that JSON or a terminal would choke on is escaped:
 * the quote, the backslash, control characters (U+0000..U+001F and DEL)
 * and each octet that is not part of a valid UTF-8 sequence, which
 * becomes \u00XX (the octet's value, as Latin-1 would read it).  The
 * result is always valid JSON in valid UTF-8.
 */
#ifndef TERN_JSON_H
#define TERN_JSON_H

#include <stddef.h>

/*
 * json_escape - the len octets at src as the inside of a JSON string
 * (without the quotes) in dst, NUL-terminated.  When dst (size octets)
 * is too small, the text is cut before the escape or character that
 * does not fit, never in its middle.  Returns the length written.
 */
size_t json_escape(char *dst, size_t size, const char *src, size_t len);

#endif
