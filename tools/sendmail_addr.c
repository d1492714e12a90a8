/*
 * sendmail_addr - address lists and qualification for sendmail.  See
 * sendmail_addr.h.
 *
 * The list parser walks the text once, keeping two buffers: what the
 * current member says outside angle brackets (a bare addr-spec, or a
 * display name that an angle address then overrides) and what it says
 * inside them.  A comma or semicolon outside quotes, comments and angle
 * brackets ends a member; a colon there ends a group's display name.
 * Nothing here decides what an address means: the result goes through
 * addr.c like every address tern stores.
 */
#include "config.h"

#include <string.h>

#include "sendmail_addr.h"

#define SENDMAIL_ADDR_BUF	(ADDR_TEXT_MAX + 1)

/* The member being read. */
struct addrlist_member {
	char	text[SENDMAIL_ADDR_BUF];	/* outside < > */
	size_t	tlen;
	char	angle[SENDMAIL_ADDR_BUF];	/* inside < > */
	size_t	alen;
	int	have_angle;
	int	overflow;
};

/* member_put - one octet into the buffer in use; notes an overflow */
static void
member_put(struct addrlist_member *m, int in_angle, char c)
{
	char *buf = in_angle ? m->angle : m->text;
	size_t *len = in_angle ? &m->alen : &m->tlen;

	if (*len + 1 >= SENDMAIL_ADDR_BUF) {
		m->overflow = 1;
		return;
	}
	buf[(*len)++] = c;
}

/* member_flush - hand the member's address to fn; 0 or fn's/-1 result */
static int
member_flush(struct addrlist_member *m, sendmail_addr_fn fn, void *arg)
{
	const char *a = m->have_angle ? m->angle : m->text;
	size_t len = m->have_angle ? m->alen : m->tlen;
	const char *colon;
	int r = 0;

	if (m->overflow)
		return -1;
	/* An obsolete route "@a,@b:" before the mailbox is dropped. */
	if (m->have_angle && len > 0 && a[0] == '@' &&
	    (colon = memchr(a, ':', len)) != NULL) {
		len -= (size_t)(colon + 1 - a);
		a = colon + 1;
	}
	if (len > 0)
		r = fn(a, len, arg);
	m->tlen = m->alen = 0;
	m->have_angle = 0;
	return r;
}

/*
 * skip_comment - s[*i] is '(': move *i to its closing ')', nested
 * comments and quoted pairs included; -1 when it is never closed.
 */
static int
skip_comment(const char *s, size_t len, size_t *i)
{
	int depth = 0;

	for (; *i < len; (*i)++) {
		if (s[*i] == '\\')
			(*i)++;
		else if (s[*i] == '(')
			depth++;
		else if (s[*i] == ')' && --depth == 0)
			return 0;
	}
	return -1;
}

/*
 * copy_quoted - s[*i] is '"': copy the quoted string, quotes and quoted
 * pairs as they are, into the member; *i ends on the closing quote.
 */
static int
copy_quoted(const char *s, size_t len, size_t *i, struct addrlist_member *m,
    int in_angle)
{
	member_put(m, in_angle, '"');
	for ((*i)++; *i < len; (*i)++) {
		if (s[*i] == '\\' && *i + 1 < len) {
			member_put(m, in_angle, '\\');
			member_put(m, in_angle, s[++(*i)]);
		} else if (s[*i] == '"') {
			member_put(m, in_angle, '"');
			return 0;
		} else
			member_put(m, in_angle, s[*i]);
	}
	return -1;
}

/* sendmail_addrlist_each - fn for each address of an address list */
int
sendmail_addrlist_each(const char *s, size_t len, sendmail_addr_fn fn,
    void *arg)
{
	struct addrlist_member m;
	int in_angle = 0, r;

	memset(&m, 0, sizeof(m));
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '"') {
			if (copy_quoted(s, len, &i, &m, in_angle) < 0)
				return -1;
		} else if (c == '(') {
			if (skip_comment(s, len, &i) < 0)
				return -1;
		} else if (c == '<' && !in_angle) {
			in_angle = 1;
			m.alen = 0;
		} else if (c == '>' && in_angle) {
			in_angle = 0;
			m.have_angle = 1;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		else if (in_angle)
			member_put(&m, 1, c);
		else if (c == ',' || c == ';') {
			if ((r = member_flush(&m, fn, arg)) != 0)
				return r;
		} else if (c == ':')
			m.tlen = 0;	/* a group's display name */
		else
			member_put(&m, 0, c);
	}
	if (in_angle)
		return -1;
	return member_flush(&m, fn, arg);
}

/* addr_has_domain - an '@' outside a quoted local part */
static int
addr_has_domain(const char *s, size_t len)
{
	int quoted = 0;

	for (size_t i = 0; i < len; i++) {
		if (quoted && s[i] == '\\')
			i++;
		else if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && s[i] == '@')
			return 1;
	}
	return 0;
}

/* sendmail_addr_canon - canonical, qualified form of one address */
int
sendmail_addr_canon(const char *s, size_t len, const char *origin,
    char *out, size_t outsize, const char **why)
{
	char tmp[ADDR_TEXT_MAX + 1];
	struct mailaddr ma;
	enum addr_error e;
	size_t n;

	if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
		s++;
		len -= 2;
	}
	if (len == 0) {
		*why = "empty address";
		return -1;
	}
	if (len >= sizeof(tmp) || (!addr_has_domain(s, len) &&
	    len + 1 + strlen(origin) >= sizeof(tmp))) {
		*why = "address too long";
		return -1;
	}
	memcpy(tmp, s, len);
	n = len;
	if (!addr_has_domain(s, len)) {
		tmp[n++] = '@';
		memcpy(tmp + n, origin, strlen(origin));
		n += strlen(origin);
	}
	tmp[n] = '\0';
	e = addr_parse_mailbox(tmp, n, 0, &ma);
	if (e == ADDR_ERR_8BIT) {
		*why = "non-ASCII address (SMTPUTF8 is not supported here)";
		return -1;
	}
	if (e != ADDR_OK) {
		*why = e == ADDR_ERR_TOOLONG ? "address too long" :
		    e == ADDR_ERR_DOMAIN ? "bad domain" : "bad address syntax";
		return -1;
	}
	if (addr_format(&ma, out, outsize) < 0) {
		*why = "address too long";
		return -1;
	}
	return 0;
}
