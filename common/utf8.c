/*
 * utf8 - strict UTF-8 decoding.  See utf8.h.
 */
#include "config.h"

#include "utf8.h"

/* utf8_seq_len - one well-formed sequence, or 0 */
size_t
utf8_seq_len(const unsigned char *p, size_t len, uint32_t *cp)
{
	uint32_t c;
	size_t n, i;

	if (len == 0)
		return 0;
	if (p[0] < 0x80) {
		n = 1;
		c = p[0];
	} else if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		c = p[0] & 0x07;
	} else
		return 0;	/* continuation, 0xc0/0xc1 (overlong), > 0xf4 */
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	if (cp != NULL)
		*cp = c;
	return n;
}

/* utf8_valid - well-formed, and no control characters */
int
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;
	uint32_t c;

	while (i < len) {
		if ((n = utf8_seq_len(p + i, len - i, &c)) == 0)
			return 0;
		if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
			return 0;
		i += n;
	}
	return 1;
}
