/*
 * smtp_auth - SASL PLAIN and LOGIN for SMTP AUTH.  See smtp_auth.h.
 *
 * Why strict base64: a lenient decoder (skipping junk or white space)
 * would make two different lines mean the same credentials, which only
 * helps someone probing the server; RFC 4954 asks for 501 on bad base64.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "smtp_auth.h"

/* smtp_auth_mech_parse - PLAIN, LOGIN (case-insensitive) or NONE */
enum smtp_auth_mech
smtp_auth_mech_parse(const char *s, size_t len)
{
	if (len == 5 && strncasecmp(s, "PLAIN", 5) == 0)
		return SMTP_AUTH_PLAIN;
	if (len == 5 && strncasecmp(s, "LOGIN", 5) == 0)
		return SMTP_AUTH_LOGIN;
	return SMTP_AUTH_NONE;
}

/* smtp_auth_mech_name - the mechanism's registered name */
const char *
smtp_auth_mech_name(enum smtp_auth_mech m)
{
	return m == SMTP_AUTH_PLAIN ? "PLAIN" : m == SMTP_AUTH_LOGIN ?
	    "LOGIN" : "NONE";
}

/* b64_value - the 6-bit value of c, or -1 */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* smtp_auth_b64_decode - strict base64; decoded length or -1 */
int
smtp_auth_b64_decode(const char *in, size_t len, unsigned char *out,
    size_t outsize)
{
	const unsigned char *u = (const unsigned char *)in;
	size_t o = 0;

	if (outsize == 0)
		return -1;
	if (len == 1 && u[0] == '=') {
		out[0] = '\0';
		return 0;
	}
	if (len % 4 != 0 || len / 4 * 3 >= outsize)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			if (u[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			/* Data after padding is not base64. */
			if (pad > 0 || (v[k] = b64_value(u[i + k])) < 0)
				return -1;
		}
		unsigned long w = ((unsigned long)v[0] << 18) |
		    ((unsigned long)v[1] << 12) | ((unsigned long)v[2] << 6) |
		    (unsigned long)v[3];

		/* Non-zero bits under the padding: not canonical. */
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return -1;
		out[o++] = (unsigned char)(w >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)w;
	}
	out[o] = '\0';
	return (int)o;
}

/* field_copy - copy a NUL-free field of at most SMTP_AUTH_FIELD_MAX */
static int
field_copy(const unsigned char *p, size_t len, char *dst, size_t size)
{
	if (len > SMTP_AUTH_FIELD_MAX || len >= size ||
	    memchr(p, '\0', len) != NULL)
		return -1;
	memcpy(dst, p, len);
	dst[len] = '\0';
	return 0;
}

/* smtp_auth_plain_parse - authzid NUL authcid NUL passwd */
int
smtp_auth_plain_parse(const unsigned char *msg, size_t len, char *login,
    size_t loginsize, char *pass, size_t passsize)
{
	const unsigned char *n1, *n2;
	size_t zlen, clen;

	if ((n1 = memchr(msg, '\0', len)) == NULL)
		return -1;
	zlen = (size_t)(n1 - msg);
	if ((n2 = memchr(n1 + 1, '\0', len - zlen - 1)) == NULL)
		return -1;
	clen = (size_t)(n2 - n1 - 1);
	if (clen == 0 || field_copy(n1 + 1, clen, login, loginsize) < 0 ||
	    field_copy(n2 + 1, len - zlen - clen - 2, pass, passsize) < 0 ||
	    pass[0] == '\0')
		return -1;
	if (zlen > 0 && (zlen != clen || memcmp(msg, n1 + 1, clen) != 0))
		return -1;
	return 0;
}

/* auth_response - read one response line: 0, or a status */
static enum smtp_auth_status
auth_response(struct smtp_io *io, const char *challenge, char *line,
    size_t size, size_t *len)
{
	enum smtp_line_end eol;
	int overlong;
	ssize_t n;

	smtp_io_reply(io, "334 %s", challenge);
	n = smtp_io_getline(io, line, size - 1, &eol, &overlong);
	if (n < 0)
		return n == SMTP_IO_TIMEOUT ? SMTP_AUTH_TIMEOUT : SMTP_AUTH_IO;
	if (overlong)
		return SMTP_AUTH_BAD_BASE64;
	*len = (size_t)n;
	if (n == 1 && line[0] == '*')
		return SMTP_AUTH_CANCELLED;
	return SMTP_AUTH_OK;
}

/* decode_field - base64 text into a NUL-free field */
static enum smtp_auth_status
decode_field(const char *text, size_t len, char *dst, size_t size)
{
	unsigned char buf[SMTP_AUTH_FIELD_MAX * 2 + 8];
	int n = smtp_auth_b64_decode(text, len, buf, sizeof(buf));
	enum smtp_auth_status st = SMTP_AUTH_OK;

	if (n < 0)
		st = SMTP_AUTH_BAD_BASE64;
	else if (n == 0 || field_copy(buf, (size_t)n, dst, size) < 0)
		st = SMTP_AUTH_MALFORMED;
	explicit_bzero(buf, sizeof(buf));
	return st;
}

/* smtp_auth_exchange - the whole mechanism dialogue */
enum smtp_auth_status
smtp_auth_exchange(struct smtp_io *io, enum smtp_auth_mech m,
    const char *initial, size_t initlen, char *login, size_t loginsize,
    char *pass, size_t passsize)
{
	static char line[SMTP_AUTH_LINE_MAX + 1];
	static unsigned char msg[SMTP_AUTH_LINE_MAX];
	enum smtp_auth_status st = SMTP_AUTH_OK;
	const char *resp = initial;
	size_t rlen = initlen;
	int n;

	login[0] = pass[0] = '\0';
	if (m == SMTP_AUTH_PLAIN) {
		if (resp == NULL)
			st = auth_response(io, "", line, sizeof(line), &rlen);
		if (resp == NULL && st == SMTP_AUTH_OK)
			resp = line;
		if (st == SMTP_AUTH_OK) {
			if ((n = smtp_auth_b64_decode(resp, rlen, msg,
			    sizeof(msg))) < 0)
				st = SMTP_AUTH_BAD_BASE64;
			else if (smtp_auth_plain_parse(msg, (size_t)n, login,
			    loginsize, pass, passsize) < 0)
				st = SMTP_AUTH_MALFORMED;
		}
	} else {
		if (resp == NULL)
			st = auth_response(io, "VXNlcm5hbWU6", line,
			    sizeof(line), &rlen);	/* "Username:" */
		if (st == SMTP_AUTH_OK)
			st = decode_field(resp != NULL ? resp : line, rlen,
			    login, loginsize);
		if (st == SMTP_AUTH_OK)
			st = auth_response(io, "UGFzc3dvcmQ6", line,
			    sizeof(line), &rlen);	/* "Password:" */
		if (st == SMTP_AUTH_OK)
			st = decode_field(line, rlen, pass, passsize);
	}
	explicit_bzero(line, sizeof(line));
	explicit_bzero(msg, sizeof(msg));
	smtp_io_scrub(io);
	if (st != SMTP_AUTH_OK)
		explicit_bzero(pass, passsize);
	return st;
}
