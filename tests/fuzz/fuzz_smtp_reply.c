/*
 * fuzz_smtp_reply - libFuzzer target for the smtp client's reply reader
 * (deliverd/smtp_client.c): what a remote server sends is untrusted.
 *
 * The reader (conn_line, reply_read) and the EHLO keyword parser are
 * static, so this file includes smtp_client.c.  The input is what the
 * server sends, through a pipe that ends after it; replies are read until
 * one fails.  Each reply must have a code of 2xx-5xx, a printable,
 * NUL-terminated text starting with that code, and a well-formed dsn of
 * the code's class; the public parsers are checked on the raw input too.
 * Built by build.sh.
 */
#include "../../deliverd/smtp_client.c"

#include <signal.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* dsn_ok - "c.s.d" with class c, 1-3 digit subject and detail */
static int
dsn_ok(const char *d, int code)
{
	size_t i = 2, n;

	if (d[0] != '0' + code / 100 || d[1] != '.')
		return 0;
	for (n = 0; d[i] >= '0' && d[i] <= '9'; i++)
		n++;
	if (n < 1 || n > 3 || d[i++] != '.')
		return 0;
	for (n = 0; d[i] >= '0' && d[i] <= '9'; i++)
		n++;
	return n >= 1 && n <= 3 && d[i] == '\0';
}

/* check_reply - the invariants of a reply that reply_read accepted */
static void
check_reply(const struct smtp_reply *r)
{
	size_t len = strnlen(r->text, sizeof(r->text));

	if (r->code < 200 || r->code > 599 || len == sizeof(r->text) ||
	    len < 3 || atoi(r->text) != r->code ||
	    (len > 3 && r->text[3] != ' ') ||
	    strnlen(r->dsn, sizeof(r->dsn)) == sizeof(r->dsn) ||
	    !dsn_ok(r->dsn, r->code))
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)r->text[i] < 32 ||
		    (unsigned char)r->text[i] > 126)
			abort();
}

/* lines - the public line parser and dsn on every raw input line */
static void
lines(const uint8_t *data, size_t size)
{
	char text[SMTP_LINE_MAX + 1], dsn[16];
	const uint8_t *p = data, *nl;
	int code, last;

	while (p < data + size) {
		size_t len;

		nl = memchr(p, '\n', (size_t)(data + size - p));
		len = nl != NULL ? (size_t)(nl - p) : (size_t)(data + size - p);
		if (len > SMTP_LINE_MAX)
			len = SMTP_LINE_MAX;
		last = -1;
		code = smtp_reply_parse_line((const char *)p, len, &last);
		if (code != -1 && (code < 200 || code > 599 ||
		    (last != 0 && last != 1)))
			abort();
		if (code != -1) {
			memcpy(text, p, len);
			text[len] = '\0';
			smtp_reply_dsn(code, text, dsn, sizeof(dsn));
			if (!dsn_ok(dsn, code))
				abort();
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct settings set;
	static struct smtp_conn c;
	static int init;
	struct smtp_reply r;
	int p[2], n = 0;

	if (!init) {
		signal(SIGPIPE, SIG_IGN);
		init = 1;
	}
	/* a pipe holds 64 KiB; the reader never needs more than that */
	if (size > 60000)
		return 0;
	lines(data, size);
	if (pipe(p) != 0)
		abort();
	if (size > 0 && write(p[1], data, size) != (ssize_t)size)
		abort();
	close(p[1]);
	memset(&c, 0, sizeof(c));
	c.fd = p[0];
	c.set = &set;
	strlcpy(c.relay, "fuzz[192.0.2.1]:25", sizeof(c.relay));
	memset(&r, 0x55, sizeof(r));
	while (reply_read(&c, &r, 0, "fuzzing") == 0) {
		check_reply(&r);
		if (c.inlen > sizeof(c.in))
			abort();
		/* as ehlo() does, bare "250" included */
		if (r.code == 250)
			ehlo_keywords(&c, strlen(r.text) > 4 ? r.text + 4 : "");
		if (++n > 100000)
			abort();
	}
	if (r.code != 0 || strnlen(r.text, sizeof(r.text)) == sizeof(r.text))
		abort();
	close(p[0]);
	return 0;
}
