/*
 * fuzz_sasl - libFuzzer target for smtpd/smtp_auth.c: strict base64, the
 * PLAIN message split, and the whole PLAIN/LOGIN exchange with a client.
 *
 * The first input octet picks the mechanism, whether the AUTH line had an
 * initial response (the input up to the first LF) and the size of the
 * decode buffer; the rest is what the client sends, through a socketpair
 * that ends after it.  Checks: a decode is canonical (it encodes back to
 * the input), fits, and is NUL-terminated; PLAIN's fields are non-empty,
 * NUL-free and bounded; a failed exchange leaves no password behind.
 * Built by build.sh.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* b64_encode - standard padded base64 of in into out (4/3 len + 1) */
static size_t
b64_encode(const unsigned char *in, size_t len, char *out)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		unsigned long w = (unsigned long)in[i] << 16;

		if (i + 1 < len)
			w |= (unsigned long)in[i + 1] << 8;
		if (i + 2 < len)
			w |= in[i + 2];
		out[o++] = a[w >> 18 & 63];
		out[o++] = a[w >> 12 & 63];
		out[o++] = i + 1 < len ? a[w >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? a[w & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

/* decode - smtp_auth_b64_decode with its contract checked */
static void
decode(const char *in, size_t len, size_t outsize)
{
	static unsigned char out[SMTP_AUTH_LINE_MAX + 1];
	static char again[SMTP_AUTH_LINE_MAX + 8];
	int n;

	memset(out, 0xa5, sizeof(out));
	n = smtp_auth_b64_decode(in, len, out, outsize);
	if (n < 0)
		return;
	if ((size_t)n >= outsize || out[n] != '\0' || (size_t)n > len)
		abort();
	if (len == 1 && in[0] == '=') {
		if (n != 0)
			abort();
		return;
	}
	if (b64_encode(out, (size_t)n, again) != len ||
	    memcmp(again, in, len) != 0)
		abort();
}

/* plain - smtp_auth_plain_parse with its contract checked */
static void
plain(const unsigned char *msg, size_t len, size_t fieldsize)
{
	char login[SMTP_AUTH_FIELD_MAX + 2], pass[SMTP_AUTH_FIELD_MAX + 2];
	size_t ll, pl;

	if (smtp_auth_plain_parse(msg, len, login, fieldsize, pass,
	    fieldsize) != 0)
		return;
	ll = strnlen(login, fieldsize);
	pl = strnlen(pass, fieldsize);
	if (ll == 0 || ll >= fieldsize || ll > SMTP_AUTH_FIELD_MAX ||
	    pl == 0 || pl >= fieldsize || pl > SMTP_AUTH_FIELD_MAX ||
	    ll + pl + 2 > len)
		abort();
	/* the password is the last field, verbatim */
	if (memcmp(msg + len - pl, pass, pl) != 0 || msg[len - pl - 1] != '\0')
		abort();
}

/* exchange - the dialogue, the client's lines coming from the socket */
static void
exchange(enum smtp_auth_mech m, const char *initial, size_t initlen,
    const uint8_t *client, size_t clen)
{
	static struct smtp_io io;
	char login[SMTP_AUTH_FIELD_MAX + 1], pass[SMTP_AUTH_FIELD_MAX + 1];
	enum smtp_auth_status st;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		abort();
	if (clen > 0 && write(sv[1], client, clen) != (ssize_t)clen)
		abort();
	shutdown(sv[1], SHUT_WR);
	smtp_io_init(&io, sv[0], 1000);
	memset(login, 'L', sizeof(login));
	memset(pass, 'P', sizeof(pass));
	st = smtp_auth_exchange(&io, m, initial, initlen, login,
	    sizeof(login), pass, sizeof(pass));
	if (st == SMTP_AUTH_OK) {
		if (strnlen(login, sizeof(login)) == sizeof(login) ||
		    strnlen(pass, sizeof(pass)) == sizeof(pass) ||
		    login[0] == '\0' || pass[0] == '\0')
			abort();
	} else {
		if (st != SMTP_AUTH_CANCELLED && st != SMTP_AUTH_BAD_BASE64 &&
		    st != SMTP_AUTH_MALFORMED && st != SMTP_AUTH_IO)
			abort();
		for (size_t i = 0; i < sizeof(pass); i++)
			if (pass[i] != '\0')
				abort();
	}
	close(sv[0]);
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t outsizes[] = { 1, 2, 3, 4, 5, 16, 256,
	    SMTP_AUTH_LINE_MAX + 1 };
	static int init;
	const uint8_t *rest, *nl;
	const char *initial = NULL;
	size_t len, initlen = 0;
	enum smtp_auth_mech m;

	if (!init) {
		signal(SIGPIPE, SIG_IGN);
		init = 1;
	}
	if (size < 1 || size > 100000)
		return 0;
	rest = data + 1;
	len = size - 1;
	if (len <= SMTP_AUTH_LINE_MAX)
		decode((const char *)rest, len, outsizes[data[0] >> 5]);
	plain(rest, len, data[0] & 0x10 ? 8 : SMTP_AUTH_FIELD_MAX + 2);

	m = data[0] & 1 ? SMTP_AUTH_LOGIN : SMTP_AUTH_PLAIN;
	if (data[0] & 2) {
		/* AUTH line's initial response: up to the first LF */
		nl = memchr(rest, '\n', len);
		initial = (const char *)rest;
		initlen = nl != NULL ? (size_t)(nl - rest) : len;
		if (initlen > SMTP_AUTH_LINE_MAX)
			initlen = SMTP_AUTH_LINE_MAX;
		rest = nl != NULL ? nl + 1 : rest + len;
		len = (size_t)(data + size - rest);
	}
	exchange(m, initial, initlen, rest, len);
	return 0;
}
