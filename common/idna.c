/*
 * idna - U-labels to A-labels, with RFC 3492's Punycode encoder.  See
 * idna.h.  Input comes from the network (an SMTPUTF8 address): every
 * length and every integer step is checked.
 */
#include "config.h"

#include <string.h>

#include "idna.h"
#include "utf8.h"

/* RFC 3492 5: the parameters for IDNA */
#define PUNY_BASE	36
#define PUNY_TMIN	1
#define PUNY_TMAX	26
#define PUNY_SKEW	38
#define PUNY_DAMP	700
#define PUNY_BIAS	72
#define PUNY_N		128

#define IDNA_LABEL_MAX	63
#define IDNA_NAME_MAX	253

/* puny_digit - the basic code point of digit d (0..35) */
static char
puny_digit(uint32_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + d - 26);
}

/* puny_adapt - the bias adaptation function (RFC 3492 6.1) */
static uint32_t
puny_adapt(uint32_t delta, uint32_t points, int first)
{
	uint32_t k = 0;

	delta = first ? delta / PUNY_DAMP : delta / 2;
	delta += delta / points;
	while (delta > ((PUNY_BASE - PUNY_TMIN) * PUNY_TMAX) / 2) {
		delta /= PUNY_BASE - PUNY_TMIN;
		k += PUNY_BASE;
	}
	return k + (PUNY_BASE - PUNY_TMIN + 1) * delta / (delta + PUNY_SKEW);
}

/* puny_put - append c to out, keeping room for the NUL */
static int
puny_put(char *out, size_t outsize, size_t *o, char c)
{
	if (*o + 1 >= outsize)
		return -1;
	out[(*o)++] = c;
	return 0;
}

/* puny_delta - write delta as a generalized variable-length integer */
static int
puny_delta(char *out, size_t outsize, size_t *o, uint32_t q, uint32_t bias)
{
	for (uint32_t k = PUNY_BASE;; k += PUNY_BASE) {
		uint32_t t = k <= bias ? PUNY_TMIN : k >= bias + PUNY_TMAX ?
		    PUNY_TMAX : k - bias;

		if (q < t)
			break;
		if (puny_put(out, outsize, o, puny_digit(t + (q - t) %
		    (PUNY_BASE - t))) < 0)
			return -1;
		q = (q - t) / (PUNY_BASE - t);
	}
	return puny_put(out, outsize, o, puny_digit(q));
}

/* punycode_encode - RFC 3492 6.3 */
int
punycode_encode(const uint32_t *cp, size_t n, char *out, size_t outsize)
{
	uint32_t code = PUNY_N, delta = 0, bias = PUNY_BIAS, h, b = 0;
	size_t o = 0;

	if (outsize == 0 || n > UINT32_MAX - 1)
		return -1;
	for (size_t j = 0; j < n; j++)
		if (cp[j] < 0x80) {
			if (puny_put(out, outsize, &o, (char)cp[j]) < 0)
				return -1;
			b++;
		}
	h = b;
	if (b > 0 && puny_put(out, outsize, &o, '-') < 0)
		return -1;
	while (h < n) {
		uint32_t m = UINT32_MAX;

		for (size_t j = 0; j < n; j++)
			if (cp[j] >= code && cp[j] < m)
				m = cp[j];
		if (m - code > (UINT32_MAX - delta) / (h + 1))
			return -1;
		delta += (m - code) * (h + 1);
		code = m;
		for (size_t j = 0; j < n; j++) {
			if (cp[j] < code && ++delta == 0)
				return -1;
			if (cp[j] != code)
				continue;
			if (puny_delta(out, outsize, &o, delta, bias) < 0)
				return -1;
			bias = puny_adapt(delta, h + 1, h == b);
			delta = 0;
			h++;
		}
		delta++;
		code++;
	}
	out[o] = '\0';
	return (int)o;
}

/* idna_label - one label p[0..len) into out at *o */
static int
idna_label(const unsigned char *p, size_t len, char *out, size_t outsize,
    size_t *o)
{
	uint32_t cp[IDNA_LABEL_MAX];
	char puny[IDNA_LABEL_MAX + 1];
	size_t n = 0, i = 0, k;
	int ascii = 1, plen;

	if (len == 0)
		return -1;
	while (i < len) {
		if ((k = utf8_seq_len(p + i, len - i, &cp[n])) == 0 ||
		    cp[n] < 0x20 || (cp[n] >= 0x7f && cp[n] <= 0x9f))
			return -1;
		if (cp[n] >= 'A' && cp[n] <= 'Z')
			cp[n] += 'a' - 'A';
		/* ASCII in a label is letters, digits, '-' (RFC 5890). */
		if (cp[n] < 0x80 && !(cp[n] >= 'a' && cp[n] <= 'z') &&
		    !(cp[n] >= '0' && cp[n] <= '9') && cp[n] != '-')
			return -1;
		ascii &= cp[n] < 0x80;
		i += k;
		/* An A-label holds at least one octet per code point. */
		if (++n == IDNA_LABEL_MAX && i < len)
			return -1;
	}
	if (ascii) {
		for (i = 0; i < n; i++)
			if (puny_put(out, outsize, o, (char)cp[i]) < 0)
				return -1;
		return 0;
	}
	if ((plen = punycode_encode(cp, n, puny, sizeof(puny))) < 0 ||
	    plen + 4 > IDNA_LABEL_MAX)
		return -1;
	for (const char *s = "xn--"; *s != '\0'; s++)
		if (puny_put(out, outsize, o, *s) < 0)
			return -1;
	for (int j = 0; j < plen; j++)
		if (puny_put(out, outsize, o, puny[j]) < 0)
			return -1;
	return 0;
}

/* idna_to_ascii - every label as DNS knows it */
int
idna_to_ascii(const char *domain, size_t len, char *out, size_t outsize)
{
	const unsigned char *p = (const unsigned char *)domain;
	size_t o = 0, start = 0;

	if (outsize == 0)
		return -1;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] != '.')
			continue;
		if (start > 0 && puny_put(out, outsize, &o, '.') < 0)
			return -1;
		if (idna_label(p + start, i - start, out, outsize, &o) < 0)
			return -1;
		start = i + 1;
	}
	if (o > IDNA_NAME_MAX)
		return -1;
	out[o] = '\0';
	return (int)o;
}
