/*
 * dsn_param - xtext, ENVID and ORCPT as RFC 3461 defines them.  See
 * dsn_param.h.  Pure functions over bounded input; never read past len.
 */
#include "config.h"

#include <string.h>

#include "dsn_param.h"

/* hex_value - value of an upper-case hex digit, -1 otherwise */
static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* xtext_decode - RFC 3461 4 xtext into out; decoded length or -1 */
int
xtext_decode(const char *in, size_t len, char *out, size_t outsize)
{
	size_t i, o = 0;
	int hi, lo;
	unsigned char c;

	if (outsize == 0)
		return -1;
	out[0] = '\0';
	for (i = 0; i < len; i++) {
		c = (unsigned char)in[i];
		if (c == '+') {
			if (len - i < 3 || (hi = hex_value(in[i + 1])) < 0 ||
			    (lo = hex_value(in[i + 2])) < 0)
				goto bad;
			c = (unsigned char)(hi << 4 | lo);
			if (c == '\0')
				goto bad;
			i += 2;
		} else if (c < 33 || c > 126 || c == '=')
			goto bad;
		if (o + 1 >= outsize)
			goto bad;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (int)o;
bad:
	out[0] = '\0';
	return -1;
}

/* dsn_envid_valid - printable ASCII, at most DSN_ENVID_MAX octets */
int
dsn_envid_valid(const char *s)
{
	size_t n = strnlen(s, DSN_ENVID_MAX + 1);

	if (n > DSN_ENVID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 32 || s[i] > 126)
			return 0;
	return 1;
}

/* dsn_orcpt_valid - "addr-type;xtext" within DSN_ORCPT_MAX octets */
int
dsn_orcpt_valid(const char *v, size_t len)
{
	static const char atext_specials[] = "!#$%&'*+-/=?^_`{|}~";
	char decoded[DSN_ORCPT_MAX + 1];
	const char *semi;

	if (len > DSN_ORCPT_MAX || (semi = memchr(v, ';', len)) == NULL ||
	    semi == v)
		return 0;
	for (size_t i = 0; v + i < semi; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') ||
		    (v[i] >= 'A' && v[i] <= 'Z') ||
		    (v[i] >= '0' && v[i] <= '9') ||
		    (v[i] != '\0' && strchr(atext_specials, v[i]) != NULL)))
			return 0;
	return xtext_decode(semi + 1, len - (size_t)(semi + 1 - v), decoded,
	    sizeof(decoded)) > 0;
}
