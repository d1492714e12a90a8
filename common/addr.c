/*
 * addr - parse RFC 5321 paths and mailboxes (4.1.2) into struct mailaddr,
 * enforcing the size limits of 4.5.3.1.
 *
 * Called by smtpd for MAIL and RCPT, and by lookupd and the tools for
 * alias values and map keys.  This is the one place that decides which
 * domain an address names; it must never repair or guess at a malformed
 * address, and never read outside s[0..len).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "utf8.h"

/* RFC 5322 atext specials (ASCII letters and digits are atext too) */
static const char atext_specials[] = "!#$%&'*+-/=?^_`{|}~";

/* is_alpha - ASCII letter, independent of locale */
static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* is_digit - ASCII digit */
static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* is_alnum - ASCII letter or digit */
static int
is_alnum(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}

/* is_atext - ASCII atext (RFC 5322 3.2.3) */
static int
is_atext(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr(atext_specials, c) != NULL);
}

/* to_lower - ASCII lowercase; other octets unchanged */
static unsigned char
to_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/*
 * octets_check - reject control characters anywhere, and non-ASCII octets
 * unless SMTPUTF8 allows them (then they must be well-formed UTF-8).
 */
static enum addr_error
octets_check(const unsigned char *s, size_t len, int opts, int *flags)
{
	size_t i = 0, n;

	while (i < len) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			return ADDR_ERR_SYNTAX;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (!(opts & ADDR_P_UTF8))
			return ADDR_ERR_8BIT;
		if ((n = utf8_seq_len(s + i, len - i, NULL)) < 2)
			return ADDR_ERR_SYNTAX;
		*flags |= ADDR_F_UTF8;
		i += n;
	}
	return ADDR_OK;
}

/* ipv4_literal_valid - IPv4-address-literal: Snum 3("." Snum), Snum <= 255 */
static int
ipv4_literal_valid(const unsigned char *s, size_t len)
{
	size_t i = 0, digits;
	unsigned int part, val;

	for (part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
		for (digits = 0, val = 0; i < len && is_digit(s[i]) &&
		    digits < 3; i++, digits++)
			val = val * 10 + (s[i] - '0');
		if (digits == 0 || val > 255)
			return 0;
	}
	return i == len;
}

/* ipv6_literal_valid - IPv6-addr as inet_pton(AF_INET6) reads it */
static int
ipv6_literal_valid(const unsigned char *s, size_t len)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr in6;
	size_t i;

	if (len < 2 || len >= sizeof(buf))
		return 0;
	/* inet_pton would also take a scope ("%eth0"); the grammar does not */
	for (i = 0; i < len; i++)
		if (!is_digit(s[i]) && !(to_lower(s[i]) >= 'a' &&
		    to_lower(s[i]) <= 'f') && s[i] != ':' && s[i] != '.')
			return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, &in6) == 1;
}

/* general_literal_valid - Standardized-tag ":" 1*dcontent */
static int
general_literal_valid(const unsigned char *s, size_t len)
{
	size_t i, tag;

	for (tag = 0; tag < len && s[tag] != ':'; tag++)
		if (!is_alnum(s[tag]) && s[tag] != '-')
			return 0;
	if (tag == 0 || tag == len || s[0] == '-' || s[tag - 1] == '-' ||
	    tag + 1 == len)
		return 0;
	for (i = tag + 1; i < len; i++)
		if (s[i] < 33 || s[i] > 126 || s[i] == '[' || s[i] == '\\' ||
		    s[i] == ']')
			return 0;
	return 1;
}

/* literal_is_ipv6 - the literal's tag is "IPv6:" (any case) */
static int
literal_is_ipv6(const unsigned char *d, size_t len)
{
	return len >= 7 && strncasecmp((const char *)d + 1, "IPv6:", 5) == 0;
}

/* literal_valid - address-literal "[...]" (RFC 5321 4.1.3) */
static int
literal_valid(const unsigned char *d, size_t len)
{
	if (len < 3 || d[0] != '[' || d[len - 1] != ']')
		return 0;
	if (literal_is_ipv6(d, len))
		return ipv6_literal_valid(d + 6, len - 7);
	if (memchr(d + 1, ':', len - 2) == NULL)
		return ipv4_literal_valid(d + 1, len - 2);
	return general_literal_valid(d + 1, len - 2);
}

/*
 * name_valid - Domain = sub-domain *("." sub-domain), with U-labels when
 * utf8 is set.  A name whose last label is all digits is refused: no TLD is
 * numeric, so that is a bare IP address missing its brackets.
 */
static int
name_valid(const unsigned char *d, size_t len, int utf8)
{
	size_t i = 0, start, n;
	int numeric = 0;

	if (len == 0 || len > ADDR_DOMAIN_MAX)
		return 0;
	while (i < len) {
		start = i;
		numeric = 1;
		while (i < len && d[i] != '.') {
			if (d[i] >= 0x80) {
				if (!utf8 || (n = utf8_seq_len(d + i,
				    len - i, NULL)) < 2)
					return 0;
				i += n;
				numeric = 0;
				continue;
			}
			if (!is_alnum(d[i]) && d[i] != '-')
				return 0;
			if (!is_digit(d[i]))
				numeric = 0;
			i++;
		}
		if (i == start || i - start > 63 || d[start] == '-' ||
		    d[i - 1] == '-')
			return 0;
		if (i < len && ++i == len)
			return 0;	/* empty label after a final dot */
	}
	return !numeric;
}

/* addr_domain_valid - RFC 5321 Domain or address-literal syntax */
int
addr_domain_valid(const char *d, size_t len, int utf8)
{
	const unsigned char *u = (const unsigned char *)d;

	if (len > ADDR_DOMAIN_MAX)
		return 0;
	if (len > 0 && u[0] == '[')
		return literal_valid(u, len);
	return name_valid(u, len, utf8);
}

/*
 * domain_parse - validate the domain of a mailbox and store its canonical
 * form: lowercase ASCII, one trailing dot dropped, "[IPv6:" tag spelled
 * exactly so.
 */
static enum addr_error
domain_parse(const unsigned char *s, size_t len, int opts,
    struct mailaddr *out)
{
	size_t i;

	if (len == 0)
		return ADDR_ERR_SYNTAX;
	/* a second '@' or a space means this is no mailbox at all */
	for (i = 0; i < len; i++)
		if (s[i] == '@' || s[i] == ' ' || s[i] == '"')
			return ADDR_ERR_SYNTAX;
	if (s[0] != '[' && len > 1 && s[len - 1] == '.')
		len--;
	if (len > ADDR_DOMAIN_MAX)
		return ADDR_ERR_TOOLONG;
	if (!addr_domain_valid((const char *)s, len, opts & ADDR_P_UTF8))
		return ADDR_ERR_DOMAIN;
	for (i = 0; i < len; i++)
		out->domain[i] = to_lower(s[i]);
	out->domain[len] = '\0';
	if (s[0] == '[') {
		out->flags |= ADDR_F_LITERAL;
		if (literal_is_ipv6(s, len))
			memcpy(out->domain, "[IPv6:", 6);
		else if (memchr(s, ':', len) != NULL)
			memcpy(out->domain, s, len);	/* tag as written */
	}
	return ADDR_OK;
}

/* local_parse_dot - Dot-string local part ending at '@'; *end is its length */
static enum addr_error
local_parse_dot(const unsigned char *s, size_t len, struct mailaddr *out,
    size_t *end)
{
	size_t i;
	int after_dot = 1;

	for (i = 0; i < len && s[i] != '@'; i++) {
		if (s[i] == '.') {
			if (after_dot)
				return ADDR_ERR_SYNTAX;
			after_dot = 1;
			continue;
		}
		/* non-ASCII octets passed octets_check: UTF-8 atext */
		if (s[i] < 0x80 && !is_atext(s[i]))
			return ADDR_ERR_SYNTAX;
		after_dot = 0;
	}
	if (i == len || i == 0 || after_dot)
		return ADDR_ERR_SYNTAX;
	if (i > ADDR_LOCAL_MAX)
		return ADDR_ERR_TOOLONG;
	memcpy(out->local, s, i);
	out->local[i] = '\0';
	*end = i;
	return ADDR_OK;
}

/*
 * local_parse_quoted - Quoted-string local part, dequoted into out->local;
 * *end is its wire length (quotes included), which is what the 64-octet
 * limit counts.
 */
static enum addr_error
local_parse_quoted(const unsigned char *s, size_t len, struct mailaddr *out,
    size_t *end)
{
	size_t i = 1, o = 0;

	for (;;) {
		if (i >= len)
			return ADDR_ERR_SYNTAX;		/* unbalanced */
		if (i >= ADDR_LOCAL_MAX)
			return ADDR_ERR_TOOLONG;
		if (s[i] == '"')
			break;
		if (s[i] == '\\') {
			/* quoted-pairSMTP = %d92 %d32-126 */
			if (++i >= len || s[i] < 32 || s[i] > 126)
				return ADDR_ERR_SYNTAX;
		}
		out->local[o++] = s[i++];
	}
	i++;
	if (o == 0 || i >= len || s[i] != '@')
		return ADDR_ERR_SYNTAX;
	out->local[o] = '\0';
	out->flags |= ADDR_F_QUOTED;
	*end = i;
	return ADDR_OK;
}

/* mailbox_parse - Mailbox = Local-part "@" ( Domain / address-literal ) */
static enum addr_error
mailbox_parse(const unsigned char *s, size_t len, int opts,
    struct mailaddr *out)
{
	enum addr_error e;
	size_t at;

	if (len == 0)
		return ADDR_ERR_SYNTAX;
	if (s[0] == '"')
		e = local_parse_quoted(s, len, out, &at);
	else
		e = local_parse_dot(s, len, out, &at);
	if (e != ADDR_OK)
		return e;
	return domain_parse(s + at + 1, len - at - 1, opts, out);
}

/*
 * route_skip - skip an A-d-l source route "@a,@b:" at the start of s;
 * *skip is its length (0 when there is none).
 */
static enum addr_error
route_skip(const unsigned char *s, size_t len, int opts, size_t *skip)
{
	size_t i = 0, start;

	*skip = 0;
	if (len == 0 || s[0] != '@')
		return ADDR_OK;
	for (;;) {
		if (i >= len || s[i] != '@')
			return ADDR_ERR_SYNTAX;
		start = ++i;
		if (i < len && s[i] == '[') {
			/* an IPv6 literal holds ':' */
			while (i < len && s[i] != ']')
				i++;
			if (i < len)
				i++;
		}
		while (i < len && s[i] != ',' && s[i] != ':')
			i++;
		if (i >= len)
			return ADDR_ERR_SYNTAX;
		if (!addr_domain_valid((const char *)s + start, i - start,
		    opts & ADDR_P_UTF8))
			return ADDR_ERR_DOMAIN;
		if (s[i++] == ':')
			break;
	}
	*skip = i;
	return ADDR_OK;
}

/*
 * path_end - offset of the '>' closing the path that starts at s[0] == '<',
 * skipping quoted strings (a quoted local part may hold '>'); 0 if none.
 */
static size_t
path_end(const unsigned char *s, size_t len)
{
	size_t i;
	int quoted = 0;

	for (i = 1; i < len; i++) {
		if (quoted) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				quoted = 0;
		} else if (s[i] == '"')
			quoted = 1;
		else if (s[i] == '>')
			return i;
	}
	return 0;
}

/* bare_end - length of a mailbox without brackets: up to SP outside quotes */
static size_t
bare_end(const unsigned char *s, size_t len)
{
	size_t i;
	int quoted = 0;

	for (i = 0; i < len; i++) {
		if (quoted) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				quoted = 0;
		} else if (s[i] == '"')
			quoted = 1;
		else if (s[i] == ' ')
			return i;
	}
	return len < i ? len : i;
}

/* path_inner_parse - what sits between < and > (or a bare mailbox) */
static enum addr_error
path_inner_parse(const unsigned char *s, size_t len, int opts,
    struct mailaddr *out)
{
	enum addr_error e;
	size_t skip;

	if (len == 0) {
		if (!(opts & ADDR_P_REVERSE))
			return ADDR_ERR_NULL;
		out->flags |= ADDR_F_NULL;
		return ADDR_OK;
	}
	if ((opts & ADDR_P_FORWARD) && len == 10 &&
	    strncasecmp((const char *)s, "postmaster", 10) == 0) {
		strlcpy(out->local, "postmaster", sizeof(out->local));
		out->flags |= ADDR_F_POSTMASTER;
		return ADDR_OK;
	}
	if ((e = route_skip(s, len, opts, &skip)) != ADDR_OK)
		return e;
	if (skip > 0)
		out->flags |= ADDR_F_ROUTE;
	return mailbox_parse(s + skip, len - skip, opts, out);
}

/* addr_parse_path - parse a Path; see addr.h */
enum addr_error
addr_parse_path(const char *s, size_t len, int opts, struct mailaddr *out,
    size_t *consumed)
{
	const unsigned char *u = (const unsigned char *)s;
	enum addr_error e;
	size_t end, used;

	memset(out, 0, sizeof(*out));
	if (consumed != NULL)
		*consumed = 0;
	if (len > 0 && u[0] == '<') {
		if ((end = path_end(u, len)) == 0)
			return ADDR_ERR_SYNTAX;
		used = end + 1;
		if (used > ADDR_PATH_MAX)
			return ADDR_ERR_TOOLONG;
		if ((e = octets_check(u, used, opts, &out->flags)) != ADDR_OK)
			return e;
		e = path_inner_parse(u + 1, end - 1, opts, out);
	} else if (opts & ADDR_P_NOBRACKETS) {
		used = bare_end(u, len);
		if (used == 0)
			return ADDR_ERR_SYNTAX;
		if (used + 2 > ADDR_PATH_MAX)
			return ADDR_ERR_TOOLONG;
		if ((e = octets_check(u, used, opts, &out->flags)) != ADDR_OK)
			return e;
		/* "<>" must be spelled out; an empty bare path is nothing */
		e = path_inner_parse(u, used, opts & ~ADDR_P_REVERSE, out);
	} else
		return ADDR_ERR_SYNTAX;
	if (e != ADDR_OK) {
		memset(out, 0, sizeof(*out));
		return e;
	}
	if (consumed != NULL)
		*consumed = used;
	return ADDR_OK;
}

/* addr_parse_mailbox - parse a bare Mailbox filling s[0..len); see addr.h */
enum addr_error
addr_parse_mailbox(const char *s, size_t len, int opts, struct mailaddr *out)
{
	const unsigned char *u = (const unsigned char *)s;
	enum addr_error e;

	memset(out, 0, sizeof(*out));
	if (len + 2 > ADDR_PATH_MAX)
		return ADDR_ERR_TOOLONG;
	if ((e = octets_check(u, len, opts, &out->flags)) != ADDR_OK)
		return e;
	if ((opts & ADDR_P_FORWARD) && len == 10 &&
	    strncasecmp(s, "postmaster", 10) == 0) {
		strlcpy(out->local, "postmaster", sizeof(out->local));
		out->flags |= ADDR_F_POSTMASTER;
		return ADDR_OK;
	}
	if ((e = mailbox_parse(u, len, opts, out)) != ADDR_OK)
		memset(out, 0, sizeof(*out));
	return e;
}

/* local_is_dot_string - local may be written without quotes */
static int
local_is_dot_string(const char *local)
{
	const unsigned char *u = (const unsigned char *)local;
	int after_dot = 1;

	for (; *u != '\0'; u++) {
		if (*u == '.') {
			if (after_dot)
				return 0;
			after_dot = 1;
		} else if (*u >= 0x80 || is_atext(*u))
			after_dot = 0;
		else
			return 0;
	}
	return !after_dot;
}

/* addr_format - canonical "local@domain" text; see addr.h */
int
addr_format(const struct mailaddr *a, char *buf, size_t bufsize)
{
	size_t o = 0;
	const char *p;
	int n, esc;

	if (bufsize == 0)
		return -1;
	buf[0] = '\0';
	if (a->flags & ADDR_F_NULL)
		return 0;
	if (a->flags & ADDR_F_POSTMASTER)
		return strlcpy(buf, "postmaster", bufsize) < bufsize ? 10 : -1;
	if (local_is_dot_string(a->local)) {
		n = snprintf(buf, bufsize, "%s", a->local);
		if (n < 0 || (size_t)n >= bufsize)
			goto toolong;
		o = n;
	} else {
		buf[o++] = '"';
		for (p = a->local; *p != '\0'; p++) {
			esc = *p == '"' || *p == '\\';
			/* this octet, its escape, the closing quote, a NUL */
			if (o + esc + 3 > bufsize)
				goto toolong;
			if (esc)
				buf[o++] = '\\';
			buf[o++] = *p;
		}
		if (o + 1 >= bufsize)
			goto toolong;
		buf[o++] = '"';
		buf[o] = '\0';
	}
	if (a->domain[0] != '\0') {
		n = snprintf(buf + o, bufsize - o, "@%s", a->domain);
		if (n < 0 || (size_t)n >= bufsize - o)
			goto toolong;
		o += n;
	}
	return (int)o;
toolong:
	/* a cut-off address names someone else: hand back nothing */
	buf[0] = '\0';
	return -1;
}

/* addr_error_text - the SMTP reply for e; a static string */
const char *
addr_error_text(enum addr_error e, int reverse)
{
	switch (e) {
	case ADDR_OK:
		return "250 2.1.0 Ok";
	case ADDR_ERR_SYNTAX:
		return reverse ? "501 5.1.7 Bad sender address syntax" :
		    "501 5.1.3 Bad recipient address syntax";
	case ADDR_ERR_TOOLONG:
		return reverse ? "501 5.1.7 Sender address too long" :
		    "501 5.1.3 Recipient address too long";
	case ADDR_ERR_NULL:
		return reverse ? "501 5.1.7 Null sender not allowed here" :
		    "501 5.1.3 Null recipient address not allowed";
	case ADDR_ERR_8BIT:
		return "553 5.6.7 Non-ASCII addresses require SMTPUTF8";
	case ADDR_ERR_DOMAIN:
		return reverse ? "501 5.1.8 Bad sender system address" :
		    "501 5.1.2 Bad destination system address";
	}
	return "501 5.5.4 Bad address";
}
