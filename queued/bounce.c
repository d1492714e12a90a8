/*
 * bounce - formatting RFC 3464 delivery status notifications.
 *
 * Called by notice.c only.  Everything that goes into a header or a DSN
 * field comes from the queue (addresses) or from a remote server (the
 * diagnostic): it is made printable US-ASCII on one line here, so that a
 * hostile reply can neither break the report's structure nor inject
 * header lines.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bounce.h"
#include "log.h"
#include "xmalloc.h"

struct obuf {
	char	*p;
	size_t	 len, cap;
};

static void
ob_add(struct obuf *b, const char *s, size_t len)
{
	if (len > SIZE_MAX - b->len - 1)
		fatalx("bounce: size overflow");
	if (b->len + len + 1 > b->cap) {
		while (b->len + len + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 4096;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

static void __attribute__((format(printf, 2, 3)))
ob_printf(struct obuf *b, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	ob_add(b, line, (size_t)n < sizeof(line) ? (size_t)n :
	    sizeof(line) - 1);
}

/* One line of printable US-ASCII from untrusted text, in buf. */
static const char *
clean(char *buf, size_t size, const char *s)
{
	size_t i = 0;

	for (; s != NULL && *s != '\0' && i + 1 < size; s++)
		buf[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	buf[i] = '\0';
	return buf;
}

/* An RFC 5322 date (UTC). */
static const char *
fmt_date(char *buf, size_t size, uint64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, size, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	return buf;
}

/* The host part of "host[ip]:port", or the path of an LMTP socket; ""
 * when there was no remote MTA. */
static const char *
relay_host(char *buf, size_t size, const char *relay)
{
	size_t n;

	if (relay == NULL || relay[0] == '\0' || strcmp(relay, "none") == 0 ||
	    strcmp(relay, "local") == 0)
		return "";
	n = strcspn(relay, "[");
	if (relay[0] == '/')	/* an LMTP socket's path, whole */
		n = strlen(relay);
	else if (n == 0)	/* "[ip]:port": the address is all we have */
		n = strcspn(relay, "]") + 1;
	if (n >= size)
		n = size - 1;
	memcpy(buf, relay, n);
	buf[n] = '\0';
	return clean(buf, size, buf);
}

/* bounce_header_len - the header block, up to and with its empty line */
size_t
bounce_header_len(const char *orig, size_t len)
{
	if (len >= 2 && orig[0] == '\r' && orig[1] == '\n')
		return 2;
	for (size_t i = 0; i + 3 < len; i++)
		if (memcmp(orig + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	return len;
}

static const char *
subject(enum dsn_kind kind)
{
	switch (kind) {
	case DSN_KIND_DELAYED:
		return "Delayed Mail (still being retried)";
	case DSN_KIND_SUCCESS:
		return "Successful Mail Delivery Report";
	default:
		return "Undelivered Mail Returned to Sender";
	}
}

static void
human_intro(struct obuf *b, const struct dsn_report *rep)
{
	char date[64];

	ob_printf(b, "This is the mail system at host %s.\r\n\r\n",
	    rep->hostname);
	switch (rep->kind) {
	case DSN_KIND_FAILED:
		if (rep->no_original) {
			ob_printf(b, "Your message %s, received %s, could "
			    "not be delivered to the\r\nrecipients listed "
			    "below: this system lost its copy of it (a disk "
			    "or\r\nfile system failure).  Please send it "
			    "again.\r\n\r\nIf you need help, write to the "
			    "postmaster of this site and\r\ninclude this "
			    "report.\r\n\r\n", rep->qid, fmt_date(date,
			    sizeof(date), rep->arrival));
			break;
		}
		ob_printf(b, "Your message could not be delivered to the "
		    "recipients listed below.\r\nThe mail system gave up; "
		    "the reason for each recipient follows.\r\nYour message "
		    "%s is attached after the technical report.\r\n\r\n"
		    "If you need help, write to the postmaster of this site "
		    "and\r\ninclude this report.\r\n\r\n", rep->full ?
		    "itself" : "header");
		break;
	case DSN_KIND_DELAYED:
		ob_printf(b, "Your message has not been delivered yet to the "
		    "recipients listed\r\nbelow.  The mail system keeps "
		    "trying until %s;\r\nyou do not need to send it again.  "
		    "If it cannot be delivered by\r\nthen, you will receive "
		    "another notice.\r\n\r\n",
		    fmt_date(date, sizeof(date), rep->give_up));
		break;
	case DSN_KIND_SUCCESS:
		ob_printf(b, "Your message was delivered to the recipients "
		    "listed below, as you\r\nasked.  For a recipient marked "
		    "\"relayed\", it was passed to a system\r\nthat does not "
		    "send delivery reports, so no further report will "
		    "come.\r\n\r\n");
		break;
	}
}

static void
human_part(struct obuf *b, const struct dsn_report *rep,
    const struct dsn_rcpt *r, size_t n, const char *boundary)
{
	char a[1024], d[1024], h[300];

	ob_printf(b, "--%s\r\nContent-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n", boundary);
	human_intro(b, rep);
	for (size_t i = 0; i < n; i++) {
		const char *host = relay_host(h, sizeof(h), r[i].relay);

		ob_printf(b, "<%s>: %s", clean(a, sizeof(a), r[i].addr),
		    r[i].action);
		if (host[0] != '\0')
			ob_printf(b, " (host %s)", host);
		ob_printf(b, "\r\n");
		if (r[i].expired)
			ob_printf(b, "    the message was too old: delivery "
			    "was attempted for too long\r\n");
		if (r[i].diag != NULL && r[i].diag[0] != '\0')
			ob_printf(b, "    %s\r\n", clean(d, sizeof(d),
			    r[i].diag));
	}
	ob_printf(b, "\r\n");
}

static int
is_reply(const char *p)
{
	return p[0] >= '2' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' &&
	    p[2] >= '0' && p[2] <= '9' && (p[3] == ' ' || p[3] == '-' ||
	    p[3] == '\0');
}

/*
 * The Diagnostic-Code value: "smtp; " and the server's reply when the
 * text holds one (as is, or inside the log form "host H said: REPLY (in
 * reply to X command)"), else "X-Tern; " and the text.  In buf.
 */
static const char *
diag_code(char *buf, size_t size, const char *diag, const char *host)
{
	char text[900];
	const char *said = strstr(diag, " said: ");
	char *tail;

	clean(text, sizeof(text), diag);
	if (host[0] != '\0' && is_reply(text)) {
		snprintf(buf, size, "smtp; %s", text);
		return buf;
	}
	if (host[0] != '\0' && said != NULL && is_reply(said + 7)) {
		clean(text, sizeof(text), said + 7);
		if ((tail = strstr(text, " (in reply to ")) != NULL)
			*tail = '\0';
		snprintf(buf, size, "smtp; %s", text);
		return buf;
	}
	snprintf(buf, size, "X-Tern; %s", text);
	return buf;
}

static void
status_part(struct obuf *b, const struct dsn_report *rep,
    const struct dsn_rcpt *r, size_t n, const char *boundary)
{
	char date[64], a[1024], h[300];

	ob_printf(b, "--%s\r\nContent-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n", boundary);
	ob_printf(b, "Reporting-MTA: dns; %s\r\n", rep->hostname);
	ob_printf(b, "X-Tern-Queue-ID: %s\r\n", rep->qid);
	if (rep->envid != NULL && rep->envid[0] != '\0')
		ob_printf(b, "Original-Envelope-Id: %s\r\n",
		    clean(a, sizeof(a), rep->envid));
	ob_printf(b, "Arrival-Date: %s\r\n",
	    fmt_date(date, sizeof(date), rep->arrival));
	for (size_t i = 0; i < n; i++) {
		const char *host = relay_host(h, sizeof(h), r[i].relay);

		ob_printf(b, "\r\nFinal-Recipient: rfc822; %s\r\n",
		    clean(a, sizeof(a), r[i].addr));
		if (r[i].orcpt != NULL && r[i].orcpt[0] != '\0')
			ob_printf(b, "Original-Recipient: %s\r\n",
			    clean(a, sizeof(a), r[i].orcpt));
		ob_printf(b, "Action: %s\r\n", r[i].action);
		ob_printf(b, "Status: %s\r\n", clean(a, sizeof(a),
		    r[i].status));
		/* A Unix socket (LMTP) has no DNS name: its path, with an
		 * "X-" name type as RFC 3464 2.1.2 allows. */
		if (host[0] != '\0')
			ob_printf(b, "Remote-MTA: %s; %s\r\n", host[0] == '/' ?
			    "x-local-socket" : "dns", host);
		if (r[i].diag != NULL && r[i].diag[0] != '\0')
			ob_printf(b, "Diagnostic-Code: %s\r\n",
			    diag_code(a, sizeof(a), r[i].diag, host));
		if (r[i].last_attempt != 0)
			ob_printf(b, "Last-Attempt-Date: %s\r\n",
			    fmt_date(date, sizeof(date), r[i].last_attempt));
		if (rep->kind == DSN_KIND_DELAYED && rep->give_up != 0)
			ob_printf(b, "Will-Retry-Until: %s\r\n",
			    fmt_date(date, sizeof(date), rep->give_up));
	}
	ob_printf(b, "\r\n");
}

static void
returned_part(struct obuf *b, const struct dsn_report *rep,
    const char *orig, size_t origlen, const char *boundary)
{
	size_t hlen = bounce_header_len(orig, origlen);

	if (rep->full) {
		ob_printf(b, "--%s\r\nContent-Description: Undelivered "
		    "Message\r\nContent-Type: message/rfc822\r\n%s\r\n",
		    boundary, rep->eightbit ?
		    "Content-Transfer-Encoding: 8bit\r\n" : "");
		ob_add(b, orig, origlen);
		if (origlen < 2 || memcmp(orig + origlen - 2, "\r\n", 2) != 0)
			ob_printf(b, "\r\n");
	} else {
		/* Without the empty line that ends the header: the part's
		 * own content is the header block. */
		size_t keep = hlen;

		if (keep >= 2 && memcmp(orig + keep - 2, "\r\n", 2) == 0 &&
		    (keep == 2 || (keep >= 4 &&
		    memcmp(orig + keep - 4, "\r\n\r\n", 4) == 0)))
			keep -= 2;
		ob_printf(b, "--%s\r\nContent-Description: Undelivered "
		    "Message Headers\r\nContent-Type: text/rfc822-headers\r\n"
		    "%s\r\n", boundary, rep->eightbit ?
		    "Content-Transfer-Encoding: 8bit\r\n" : "");
		ob_add(b, orig, keep);
		if (keep < 2 || memcmp(orig + keep - 2, "\r\n", 2) != 0)
			ob_printf(b, "\r\n");
	}
}

/* bounce_compose - the whole notice, CRLF lines */
char *
bounce_compose(const struct dsn_report *rep, const struct dsn_rcpt *r,
    size_t n, const char *orig, size_t origlen, size_t *outlen)
{
	struct obuf b = { NULL, 0, 0 };
	char boundary[200], date[64], to[1024];

	snprintf(boundary, sizeof(boundary), "%s.%llu/%s", rep->notice_qid,
	    (unsigned long long)rep->now, rep->hostname);
	ob_printf(&b, "Date: %s\r\n", fmt_date(date, sizeof(date), rep->now));
	ob_printf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n",
	    rep->hostname);
	ob_printf(&b, "To: <%s>\r\n", clean(to, sizeof(to), rep->to));
	ob_printf(&b, "Subject: %s\r\n", subject(rep->kind));
	ob_printf(&b, "Message-Id: <%s@%s>\r\n", rep->notice_qid,
	    rep->hostname);
	ob_printf(&b, "Auto-Submitted: auto-replied\r\n");
	ob_printf(&b, "MIME-Version: 1.0\r\n");
	ob_printf(&b, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n", boundary);
	ob_printf(&b, "Content-Transfer-Encoding: %s\r\n\r\n",
	    rep->eightbit ? "8bit" : "7bit");
	ob_printf(&b, "This is a MIME-encapsulated message.\r\n\r\n");
	human_part(&b, rep, r, n, boundary);
	status_part(&b, rep, r, n, boundary);
	if (!rep->no_original)
		returned_part(&b, rep, orig, origlen, boundary);
	ob_printf(&b, "\r\n--%s--\r\n", boundary);
	*outlen = b.len;
	return b.p;
}
