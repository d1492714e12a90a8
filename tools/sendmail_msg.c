/*
 * sendmail_msg - the header fix-ups and recipient extraction of a local
 * submission.  See sendmail_msg.h for the rules.
 *
 * The input is whatever a local program piped in: any octets, any line
 * ends, any length.  It is read line by line with every length known;
 * the header section is kept as views into the input (it must be seen
 * whole before the fields it lacks can be known), the body is copied
 * through.  Recognising header fields and formatting the date is
 * common/header.c's job, so that smtpd and sendmail agree on both.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "header.h"
#include "log.h"
#include "sendmail_addr.h"
#include "sendmail_msg.h"
#include "smtp_proto.h"
#include "xmalloc.h"

#define MSG_LINE_MAX	(SMTP_TEXT_LINE_MAX - 2)	/* without CRLF */

struct line {
	const char	*p;
	size_t		 len;
};

/* The input, read one line at a time. */
struct reader {
	const char	*in;
	size_t		 len;
	size_t		 pos;
	int		 dot_ends;
	int		 done;
};

/* A header field: lines hdr[first .. first + n). */
struct field {
	size_t		 first;
	size_t		 n;
	int		 drop;		/* not written out */
};

/* The header section while it is read. */
struct header {
	struct line	*lines;
	size_t		 nlines, lcap;
	struct field	*fields;
	size_t		 nfields, fcap;
};

/* sendmail_buf_put - append, growing by doubling */
void
sendmail_buf_put(struct sendmail_buf *b, const void *p, size_t len)
{
	if (len > SIZE_MAX / 2 - b->len)
		fatalx("sendmail: message too large for memory");
	if (b->len + len > b->cap) {
		size_t ncap = b->cap ? b->cap : 4096;

		while (ncap < b->len + len)
			ncap *= 2;
		b->p = xreallocarray(b->p, ncap, 1);
		b->cap = ncap;
	}
	if (len > 0)
		memcpy(b->p + b->len, p, len);
	b->len += len;
}

/* sendmail_buf_free - release and empty b */
void
sendmail_buf_free(struct sendmail_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* sendmail_rcpts_add - a new recipient, unless a duplicate */
int
sendmail_rcpts_add(struct sendmail_rcpts *r, const char *a, size_t limit)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i], a) == 0)
			return 0;
	if (r->n >= limit)
		return -1;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->v = xreallocarray(r->v, r->cap, sizeof(*r->v));
	}
	strlcpy(r->v[r->n++], a, sizeof(r->v[0]));
	return 0;
}

/* sendmail_rcpts_free - release and empty r */
void
sendmail_rcpts_free(struct sendmail_rcpts *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* sendmail_msg_free - release what out holds */
void
sendmail_msg_free(struct sendmail_msg *out)
{
	sendmail_buf_free(&out->text);
	sendmail_rcpts_free(&out->rcpts);
}

/* reader_next - the next line, without its end; 0 when there is none */
static int
reader_next(struct reader *r, struct line *l)
{
	const char *s = r->in + r->pos, *end = r->in + r->len, *p;

	if (r->done || r->pos >= r->len)
		return 0;
	for (p = s; p < end && *p != '\n' && *p != '\r'; p++)
		;
	l->p = s;
	l->len = (size_t)(p - s);
	if (p < end)
		p += (*p == '\r' && p + 1 < end && p[1] == '\n') ? 2 : 1;
	r->pos = (size_t)(p - r->in);
	if (r->dot_ends && l->len == 1 && l->p[0] == '.') {
		r->done = 1;
		return 0;
	}
	return 1;
}

/*
 * emit_line - one line and CRLF; a line over MSG_LINE_MAX octets is
 * broken, and in the header its pieces continue with a space.
 */
static void
emit_line(struct sendmail_msg *out, const char *p, size_t len, int header)
{
	int cont = 0;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] > 127) {
			out->eightbit = 1;
			break;
		}
	do {
		size_t room = MSG_LINE_MAX - (cont ? 1 : 0);
		size_t take = len < room ? len : room;

		if (cont)
			sendmail_buf_put(&out->text, " ", 1);
		sendmail_buf_put(&out->text, p, take);
		sendmail_buf_put(&out->text, "\r\n", 2);
		p += take;
		len -= take;
		cont = header;
	} while (len > 0);
}

/* header_add_line - keep a view of one header line */
static void
header_add_line(struct header *h, const struct line *l, int starts_field)
{
	if (h->nlines == h->lcap) {
		h->lcap = h->lcap ? h->lcap * 2 : 64;
		h->lines = xreallocarray(h->lines, h->lcap, sizeof(*h->lines));
	}
	h->lines[h->nlines] = *l;
	if (starts_field) {
		if (h->nfields == h->fcap) {
			h->fcap = h->fcap ? h->fcap * 2 : 32;
			h->fields = xreallocarray(h->fields, h->fcap,
			    sizeof(*h->fields));
		}
		h->fields[h->nfields].first = h->nlines;
		h->fields[h->nfields].n = 0;
		h->fields[h->nfields].drop = 0;
		h->nfields++;
	}
	h->fields[h->nfields - 1].n++;
	h->nlines++;
}

/*
 * header_read - the header section: every line up to the first that
 * neither starts a field nor continues one.  That line, if any, is in
 * *first (has_first set): an empty one ends the header, another is the
 * start of a body that came without the empty line.
 */
static void
header_read(struct reader *r, struct header *h, struct line *first,
    int *has_first)
{
	struct line l;
	int lineno = 0;

	*has_first = 0;
	while (reader_next(r, &l)) {
		/* An mbox "From " line before the header is not part of
		 * the message. */
		if (lineno++ == 0 && l.len >= 5 && memcmp(l.p, "From ", 5) == 0)
			continue;
		if (h->nfields > 0 && l.len > 0 &&
		    (l.p[0] == ' ' || l.p[0] == '\t'))
			header_add_line(h, &l, 0);
		else if (header_is_field(l.p, l.len))
			header_add_line(h, &l, 1);
		else {
			*first = l;
			*has_first = 1;
			return;
		}
	}
}

/* field_is - field f of h is called name */
static int
field_is(const struct header *h, const struct field *f, const char *name)
{
	const struct line *l = &h->lines[f->first];

	return header_field_is(l->p, l->len, name);
}

/* field_value - f's value unfolded into b (NUL-terminated) */
static void
field_value(const struct header *h, const struct field *f,
    struct sendmail_buf *b)
{
	b->len = 0;
	for (size_t i = 0; i < f->n; i++) {
		const struct line *l = &h->lines[f->first + i];
		const char *p = l->p;
		size_t len = l->len;

		if (i == 0) {
			const char *colon = memchr(p, ':', len);

			len -= (size_t)(colon + 1 - p);
			p = colon + 1;
		}
		sendmail_buf_put(b, p, len);
	}
	sendmail_buf_put(b, "", 1);
}

/* What extract_one needs to qualify and collect an address. */
struct extract {
	const struct sendmail_msg_opts	*o;
	struct sendmail_rcpts		*rcpts;
	char				*err;
	size_t				 errsize;
	int				 status;
};

/* extract_one - one address of a To/Cc/Bcc field into the recipients */
static int
extract_one(const char *a, size_t len, void *arg)
{
	struct extract *x = arg;
	char canon[ADDR_TEXT_MAX], vis[ADDR_TEXT_MAX * 4];
	const char *why;

	if (sendmail_addr_canon(a, len, x->o->myorigin, canon, sizeof(canon),
	    &why) < 0) {
		snprintf(x->err, x->errsize, "<%s>: %s", log_vis(vis,
		    sizeof(vis), a, len), why);
		x->status = EX_DATAERR;
		return -1;
	}
	if (sendmail_rcpts_add(x->rcpts, canon, x->o->rcpt_limit) < 0) {
		snprintf(x->err, x->errsize, "more than %zu recipients",
		    x->o->rcpt_limit);
		x->status = EX_USAGE;
		return -1;
	}
	return 0;
}

/*
 * header_extract - -t: the recipients of the Resent- fields when there
 * are any (a resent message goes to them), else of To/Cc/Bcc; the Bcc
 * fields are then dropped.  0, or a status with err set.
 */
static int
header_extract(struct header *h, const struct sendmail_msg_opts *o,
    struct sendmail_msg *out, char *err, size_t errsize)
{
	static const char *const plain[] = { "To", "Cc", "Bcc", NULL };
	static const char *const resent[] = { "Resent-To", "Resent-Cc",
	    "Resent-Bcc", NULL };
	const char *const *names = plain;
	struct extract x = { o, &out->rcpts, err, errsize, 0 };
	struct sendmail_buf v = { NULL, 0, 0 };

	for (size_t i = 0; i < h->nfields; i++)
		for (int k = 0; resent[k] != NULL; k++)
			if (field_is(h, &h->fields[i], resent[k]))
				names = resent;
	for (size_t i = 0; i < h->nfields && x.status == 0; i++) {
		struct field *f = &h->fields[i];

		for (int k = 0; names[k] != NULL && x.status == 0; k++) {
			if (!field_is(h, f, names[k]))
				continue;
			field_value(h, f, &v);
			if (sendmail_addrlist_each(v.p, v.len - 1, extract_one,
			    &x) == -1 && x.status == 0) {
				snprintf(err, errsize, "%s: malformed address "
				    "list", names[k]);
				x.status = EX_DATAERR;
			}
		}
		if (field_is(h, f, "Bcc") || field_is(h, f, "Resent-Bcc"))
			f->drop = 1;
	}
	sendmail_buf_free(&v);
	return x.status;
}

/* sendmail_phrase - name as a display name (atoms, or a quoted string) */
void
sendmail_phrase(const char *name, char *buf, size_t size)
{
	static const char specials[] = "()<>[]:;@\\,.\"";
	size_t n = 0, len = strlen(name);
	int quote = 0;

	/* Control characters are blanks here; blanks at the ends go. */
	while (len > 0 && (unsigned char)name[len - 1] <= ' ')
		len--;
	while (len > 0 && (unsigned char)*name <= ' ') {
		name++;
		len--;
	}
	for (size_t i = 0; i < len; i++)
		if (strchr(specials, name[i]) != NULL)
			quote = 1;
	if (size < 3 || len == 0)
		goto empty;
	if (quote)
		buf[n++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (n + 4 >= size)
			goto empty;
		if (quote && (c == '"' || c == '\\'))
			buf[n++] = '\\';
		buf[n++] = c < 32 || c == 127 ? ' ' : (char)c;
	}
	if (quote)
		buf[n++] = '"';
	buf[n] = '\0';
	return;
empty:
	if (size > 0)
		buf[0] = '\0';
}

/* header_scan - what the header has: Date, a good Message-ID, From, hops */
static void
header_scan(struct header *h, int *date, int *msgid, int *from, int *hops)
{
	*date = *msgid = *from = *hops = 0;
	for (size_t i = 0; i < h->nfields; i++) {
		struct field *f = &h->fields[i];

		if (field_is(h, f, "Date"))
			*date = 1;
		else if (field_is(h, f, "From"))
			*from = 1;
		else if (field_is(h, f, "Received"))
			(*hops)++;
		else if (field_is(h, f, "Message-ID")) {
			/* As smtpd's submission fix-up: one without "@"
			 * is not unique anywhere; a new one replaces it. */
			int at = 0;

			for (size_t k = 0; k < f->n && !at; k++)
				at = memchr(h->lines[f->first + k].p, '@',
				    h->lines[f->first + k].len) != NULL;
			if (at)
				*msgid = 1;
			else
				f->drop = 1;
		}
	}
}

/* header_add_missing - the fields the header lacks, at its end */
static void
header_add_missing(struct sendmail_msg *out, const struct sendmail_msg_opts *o,
    int date, int msgid, int from)
{
	char line[MSG_LINE_MAX + 1], phrase[512], when[64];
	int n;

	if (!date && header_date_format(o->now, when, sizeof(when)) > 0 &&
	    (n = snprintf(line, sizeof(line), "Date: %s", when)) > 0)
		emit_line(out, line, (size_t)n, 1);
	if (!msgid && (n = snprintf(line, sizeof(line), "Message-ID: <%s@%s>",
	    o->msgid, o->myhostname)) > 0 && (size_t)n < sizeof(line))
		emit_line(out, line, (size_t)n, 1);
	if (from)
		return;
	sendmail_phrase(o->full_name != NULL ? o->full_name : "", phrase,
	    sizeof(phrase));
	if (phrase[0] != '\0')
		n = snprintf(line, sizeof(line), "From: %s <%s>", phrase,
		    o->from);
	else
		n = snprintf(line, sizeof(line), "From: %s", o->from);
	if (n > 0 && (size_t)n < sizeof(line))
		emit_line(out, line, (size_t)n, 1);
}

/* header_write - the kept fields, then the added ones */
static void
header_write(const struct header *h, struct sendmail_msg *out)
{
	for (size_t i = 0; i < h->nfields; i++) {
		const struct field *f = &h->fields[i];

		if (f->drop)
			continue;
		for (size_t k = 0; k < f->n; k++)
			emit_line(out, h->lines[f->first + k].p,
			    h->lines[f->first + k].len, 1);
	}
}

/* sendmail_msg_build - the message as it goes into the maildrop */
int
sendmail_msg_build(const char *in, size_t len,
    const struct sendmail_msg_opts *o, struct sendmail_msg *out, char *err,
    size_t errsize)
{
	struct reader r = { in, len, 0, o->dot_ends, 0 };
	struct header h;
	struct line first, l;
	int has_first, date, msgid, from, hops, status = 0;

	struct header_tls_required tlsreq;

	memset(&h, 0, sizeof(h));
	memset(&tlsreq, 0, sizeof(tlsreq));
	header_read(&r, &h, &first, &has_first);
	header_scan(&h, &date, &msgid, &from, &hops);
	for (size_t i = 0; i < h.nlines; i++)
		header_tls_required_line(&tlsreq, h.lines[i].p,
		    h.lines[i].len);
	out->tls_required_no = header_tls_required_no(&tlsreq);
	if (hops > SMTP_MAX_HOPS) {
		snprintf(err, errsize, "too many Received: header fields (%d): "
		    "a mail loop?", hops);
		status = EX_DATAERR;
	} else if (o->extract)
		status = header_extract(&h, o, out, err, errsize);
	if (status == 0) {
		header_write(&h, out);
		header_add_missing(out, o, date, msgid, from);
		if (has_first) {
			/* The body needs its empty line before it. */
			sendmail_buf_put(&out->text, "\r\n", 2);
			if (first.len > 0)
				emit_line(out, first.p, first.len, 0);
		}
		while (reader_next(&r, &l) && out->text.len <= o->size_limit)
			emit_line(out, l.p, l.len, 0);
		if (out->text.len > o->size_limit) {
			snprintf(err, errsize, "message larger than "
			    "message_size_limit (%llu octets)",
			    (unsigned long long)o->size_limit);
			status = EX_DATAERR;
		}
	}
	free(h.lines);
	free(h.fields);
	return status;
}
