/*
 * addr - RFC 5321 paths and mailboxes, parsed once, in one place.
 *
 * Every decision about what an address means (its local part, its domain,
 * whether it is the null path) is made here, so that relay control and
 * local delivery cannot disagree about which domain an address is for.
 * The parser takes untrusted bytes with a length (no NUL termination is
 * assumed) and never reads past them.
 */
#ifndef TERN_ADDR_H
#define TERN_ADDR_H

#include <stddef.h>

#define ADDR_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1, octets on the wire */
#define ADDR_DOMAIN_MAX	255	/* RFC 5321 4.5.3.1.2 */
#define ADDR_PATH_MAX	256	/* RFC 5321 4.5.3.1.3, including < > */
/* Room for the printable form "local@domain" with quoting: */
#define ADDR_TEXT_MAX	(2 * ADDR_LOCAL_MAX + 3 + ADDR_DOMAIN_MAX + 1)

/* flags in struct mailaddr */
#define ADDR_F_NULL	0x01	/* the null reverse-path <> */
#define ADDR_F_QUOTED	0x02	/* local part was a Quoted-string */
#define ADDR_F_LITERAL	0x04	/* domain is an address literal [..] */
#define ADDR_F_ROUTE	0x08	/* a source route was present (ignored) */
#define ADDR_F_POSTMASTER 0x10	/* bare <postmaster> (RFC 5321 4.1.1.3) */
#define ADDR_F_UTF8	0x20	/* contains non-ASCII octets */

/* parse options */
#define ADDR_P_REVERSE	0x01	/* reverse-path: <> allowed */
#define ADDR_P_FORWARD	0x02	/* forward-path: <postmaster> allowed */
#define ADDR_P_UTF8	0x04	/* SMTPUTF8: non-ASCII UTF-8 allowed */
#define ADDR_P_NOBRACKETS 0x08	/* accept a bare mailbox without < > */

struct mailaddr {
	/* dequoted local part (quotes and quoted-pair backslashes removed) */
	char	local[ADDR_LOCAL_MAX + 1];
	/*
	 * domain, lowercased (ASCII), with one trailing dot removed; an
	 * address literal keeps its brackets ("[192.0.2.1]",
	 * "[IPv6:2001:db8::1]").  Empty for <> and <postmaster>.
	 */
	char	domain[ADDR_DOMAIN_MAX + 1];
	int	flags;
};

/* Why a parse failed; each maps to one SMTP reply in smtpd. */
enum addr_error {
	ADDR_OK = 0,
	ADDR_ERR_SYNTAX,	/* 501 5.1.3 (forward) / 5.1.7 (reverse) */
	ADDR_ERR_TOOLONG,	/* 501 5.1.3: a part exceeds its limit */
	ADDR_ERR_NULL,		/* <> where not allowed: 501 5.1.3 */
	ADDR_ERR_8BIT,		/* non-ASCII without SMTPUTF8: 553 5.6.7 */
	ADDR_ERR_DOMAIN,	/* bad domain or literal: 501 5.1.2 */
};

/*
 * addr_parse_path - parse a Path (RFC 5321 4.1.2) from s[0..len).
 * With ADDR_P_REVERSE "<>" is accepted (flags ADDR_F_NULL); with
 * ADDR_P_FORWARD "<postmaster>" (case-insensitive) is accepted.
 * A source route ("@a,@b:") is accepted and dropped (RFC 5321 C).
 * On success *consumed (if not NULL) is the number of octets used,
 * so that parameters may follow.
 */
enum addr_error addr_parse_path(const char *s, size_t len, int opts,
    struct mailaddr *out, size_t *consumed);

/*
 * addr_parse_mailbox - parse a bare Mailbox "local@domain" occupying all
 * of s[0..len) (used for alias values and map keys).
 */
enum addr_error addr_parse_mailbox(const char *s, size_t len, int opts,
    struct mailaddr *out);

/*
 * addr_format - the canonical text "local@domain" (local part re-quoted
 * when it is not a Dot-string), "" for the null path, "postmaster" for
 * bare postmaster.  Always NUL-terminates; returns -1 if it did not fit.
 */
int addr_format(const struct mailaddr *a, char *buf, size_t bufsize);

/* addr_domain_valid - RFC 5321 Domain or address-literal syntax */
int addr_domain_valid(const char *d, size_t len, int utf8);

/* addr_error_reply - "501 5.1.3 ..." style reply text for an error */
const char *addr_error_text(enum addr_error e, int reverse);

#endif
