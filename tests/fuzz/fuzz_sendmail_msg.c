/*
 * fuzz_sendmail_msg - libFuzzer target for what sendmail makes of a
 * local program's input: tools/sendmail_msg.c (header fix-ups, -t) over
 * tools/sendmail_addr.c (address lists, qualification).
 *
 * Input: the first octet chooses -t (bit 0), whether a "." line ends the
 * input (bit 1), a small size limit (bit 2) and a full name with
 * specials (bit 3); the rest is standard input.  Checks: the status is
 * 0, EX_DATAERR or EX_USAGE; on 0 the message has only CRLF line ends
 * (no bare CR or LF), no line over 998 octets, no more than the size
 * limit, a header with Date:, Message-ID: and From:, and with -t no
 * Bcc: or Resent-Bcc: field; every extracted recipient is in the
 * canonical form addr.c gives it, without duplicates.  Built by
 * build.sh.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "addr.h"
#include "sendmail_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fail - report a broken promise and abort, so libFuzzer keeps the input */
static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_sendmail_msg: %s\n", what);
	abort();
}

/* check_lines - CRLF only, each line at most 998 octets; the header's
 * length (up to its empty line, or all) in *hlen */
static void
check_lines(const char *p, size_t len, size_t *hlen)
{
	size_t start = 0;

	*hlen = len;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\r' && (i + 1 >= len || p[i + 1] != '\n'))
			fail("bare CR");
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			fail("bare LF");
		if (p[i] != '\n')
			continue;
		if (i - 1 - start > 998)
			fail("line longer than 998 octets");
		if (i - 1 == start && *hlen == len)
			*hlen = start;
		start = i + 1;
	}
	if (start != len)
		fail("last line without CRLF");
}

/* has_field - the header p[0..hlen) has a line starting "name" */
static int
has_field(const char *p, size_t hlen, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i + n <= hlen; i++)
		if ((i == 0 || p[i - 1] == '\n') && strncasecmp(p + i, name,
		    n) == 0)
			return 1;
	return 0;
}

/* check_rcpts - canonical, distinct */
static void
check_rcpts(const struct sendmail_rcpts *r)
{
	struct mailaddr m;
	char canon[ADDR_TEXT_MAX];

	for (size_t i = 0; i < r->n; i++) {
		if (addr_parse_mailbox(r->v[i], strlen(r->v[i]), 0, &m) !=
		    ADDR_OK || addr_format(&m, canon, sizeof(canon)) < 0 ||
		    strcmp(canon, r->v[i]) != 0)
			fail("a recipient not in canonical form");
		for (size_t k = 0; k < i; k++)
			if (strcmp(r->v[k], r->v[i]) == 0)
				fail("a duplicate recipient");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sendmail_msg_opts o;
	struct sendmail_msg m;
	char err[512];
	size_t hlen;
	int r;

	if (size < 1)
		return 0;
	memset(&o, 0, sizeof(o));
	o.extract = data[0] & 1;
	o.dot_ends = (data[0] >> 1) & 1;
	o.from = "user@origin.example";
	o.full_name = (data[0] & 8) ? "Doe, \"J\" \\ (x)" : "Cron Daemon";
	o.myhostname = "mx.example";
	o.myorigin = "origin.example";
	o.msgid = "0000000000000001.1";
	o.now = 1700000000;
	o.size_limit = (data[0] & 4) ? 300 : 1024 * 1024;
	o.rcpt_limit = 50;
	memset(&m, 0, sizeof(m));
	err[0] = '\0';
	r = sendmail_msg_build((const char *)data + 1, size - 1, &o, &m, err,
	    sizeof(err));
	if (r != 0 && r != EX_DATAERR && r != EX_USAGE)
		fail("an unexpected status");
	if (r != 0 && err[0] == '\0')
		fail("a refusal without a reason");
	if (r == 0) {
		if (m.text.len > o.size_limit)
			fail("larger than the size limit");
		check_lines(m.text.p, m.text.len, &hlen);
		if (!has_field(m.text.p, hlen, "Date:") ||
		    !has_field(m.text.p, hlen, "Message-ID:") ||
		    !has_field(m.text.p, hlen, "From:"))
			fail("a header without Date, Message-ID or From");
		if (o.extract && (has_field(m.text.p, hlen, "Bcc:") ||
		    has_field(m.text.p, hlen, "Resent-Bcc:")))
			fail("a Bcc field left with -t");
		if (m.rcpts.n > o.rcpt_limit)
			fail("more recipients than the limit");
		check_rcpts(&m.rcpts);
	}
	sendmail_msg_free(&m);
	return 0;
}
