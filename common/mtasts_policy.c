/*
 * mtasts_policy - parsing the MTA-STS TXT record and policy file, and
 * matching MX host names against a policy (RFC 8461 3.1, 3.2, 4.1).
 *
 * The grammar is the RFC's ABNF, read strictly: field names and values
 * are case-sensitive ("version: STSv1", "mode: enforce"), a field ends
 * at CRLF or LF, after the ':' only blanks may come before the value.
 * Unknown fields are extensions and are ignored if they are well formed
 * (3.2); version, mode and max_age must appear exactly once and version
 * must say STSv1.  Blank lines are passed over.  Input is never assumed
 * to be NUL-terminated and may hold any octet.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mtasts_policy.h"

#define EXT_NAME_MAX	32	/* 1 + *31 (RFC 8461 3.1, 3.2) */

/* mtasts_mode_name - the word of a mode */
const char *
mtasts_mode_name(enum mtasts_mode mode)
{
	switch (mode) {
	case MTASTS_ENFORCE:
		return "enforce";
	case MTASTS_TESTING:
		return "testing";
	default:
		return "none";
	}
}

/* is_wsp - SP or HTAB */
static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* ext_name_ok - (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
static int
ext_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > EXT_NAME_MAX || !isalnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-' && s[i] != '.')
			return 0;
	return 1;
}

/* mtasts_txt_is_sts - "v=STSv1" then the field delimiter or the end */
int
mtasts_txt_is_sts(const char *text, size_t len)
{
	size_t i = 7;

	if (len < 7 || memcmp(text, "v=STSv1", 7) != 0)
		return 0;
	while (i < len && is_wsp(text[i]))
		i++;
	return i == len || text[i] == ';';
}

/*
 * txt_field - one "name=value" of len octets: the id into id (counted in
 * *nid), an extension checked and skipped.  0, or -1 when malformed.
 */
static int
txt_field(const char *f, size_t len, char *id, int *nid)
{
	const char *eq = memchr(f, '=', len);
	size_t nlen, vlen;

	if (eq == NULL)
		return -1;
	nlen = (size_t)(eq - f);
	vlen = len - nlen - 1;
	if (nlen == 2 && memcmp(f, "id", 2) == 0) {
		if (vlen == 0 || vlen > MTASTS_ID_MAX || (*nid)++ > 0)
			return -1;
		for (size_t i = 0; i < vlen; i++)
			if (!isalnum((unsigned char)eq[1 + i]))
				return -1;
		memcpy(id, eq + 1, vlen);
		id[vlen] = '\0';
		return 0;
	}
	if (!ext_name_ok(f, nlen) || vlen == 0)
		return -1;
	/* sts-ext-value: %x21-3A / %x3C / %x3E-7E */
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)eq[1 + i];

		if (c < 0x21 || c > 0x7e || c == ';' || c == '=')
			return -1;
	}
	return 0;
}

/* mtasts_txt_parse - sts-version 1*(delim field) [delim] */
int
mtasts_txt_parse(const char *text, size_t len, char *id)
{
	size_t i = 7, start;
	int nid = 0, fields = 0;

	if (!mtasts_txt_is_sts(text, len))
		return -1;
	for (;;) {
		/* sts-field-delim = *WSP ";" *WSP */
		while (i < len && is_wsp(text[i]))
			i++;
		if (i == len)
			break;
		if (text[i++] != ';')
			return -1;
		while (i < len && is_wsp(text[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && text[i] != ';' && !is_wsp(text[i]))
			i++;
		if (txt_field(text + start, i - start, id, &nid) != 0)
			return -1;
		fields++;
	}
	return fields > 0 && nid == 1 ? 0 : -1;
}

/*
 * mx_pattern_ok - ["*."] Domain (RFC 5321 4.1.2): labels of letters,
 * digits and inner hyphens, at least two of them after a wildcard.
 */
static int
mx_pattern_ok(const char *s, size_t len)
{
	size_t i = 0, label = 0, labels = 0;

	if (len >= 2 && s[0] == '*' && s[1] == '.')
		i = 2;
	if (len - i == 0 || len >= MTASTS_NAME_MAX)
		return 0;
	for (; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			labels++;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) &&
		    (s[i] != '-' || label == 0))
			return 0;
		label++;
	}
	return s[0] != '*' || labels >= 2;
}

/* vchar_ok - the value of an extension: visible ASCII or UTF-8 octets,
 * blanks only inside */
static int
vchar_ok(const char *v, size_t len)
{
	if (len == 0 || is_wsp(v[0]))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 ? c != '\t' : c == 0x7f)
			return 0;
	}
	return 1;
}

/* The fields a policy must have exactly once. */
struct seen {
	int	version, mode, max_age;
};

/*
 * policy_field - one "name: value" (value without its trailing blanks)
 * into p.  0, or -1 with the reason in err.
 */
static int
policy_field(const char *name, size_t nlen, const char *v, size_t vlen,
    struct mtasts_policy *p, struct seen *s, char *err, size_t errsize)
{
	long age = 0;

#define IS(w)	(nlen == sizeof(w) - 1 && memcmp(name, w, nlen) == 0)
#define VAL(w)	(vlen == sizeof(w) - 1 && memcmp(v, w, vlen) == 0)
	if (IS("version")) {
		if (s->version++ > 0 || !VAL("STSv1")) {
			snprintf(err, errsize, "bad or repeated version field");
			return -1;
		}
	} else if (IS("mode")) {
		if (s->mode++ > 0 || !(VAL("enforce") || VAL("testing") ||
		    VAL("none"))) {
			snprintf(err, errsize, "bad or repeated mode field");
			return -1;
		}
		p->mode = VAL("enforce") ? MTASTS_ENFORCE :
		    VAL("testing") ? MTASTS_TESTING : MTASTS_NONE;
	} else if (IS("max_age")) {
		/* 1*10DIGIT; more than the RFC's maximum is cut to it. */
		if (s->max_age++ > 0 || vlen == 0 || vlen > 10) {
			snprintf(err, errsize, "bad or repeated max_age field");
			return -1;
		}
		for (size_t i = 0; i < vlen; i++) {
			if (!isdigit((unsigned char)v[i])) {
				snprintf(err, errsize, "bad max_age field");
				return -1;
			}
			if (age <= MTASTS_MAX_AGE_MAX)
				age = age * 10 + (v[i] - '0');
		}
		p->max_age = age > MTASTS_MAX_AGE_MAX ? MTASTS_MAX_AGE_MAX : age;
	} else if (IS("mx")) {
		if (!mx_pattern_ok(v, vlen) || p->nmx >= MTASTS_MX_MAX) {
			snprintf(err, errsize, p->nmx >= MTASTS_MX_MAX ?
			    "more than %d mx fields" : "bad mx field",
			    MTASTS_MX_MAX);
			return -1;
		}
		for (size_t i = 0; i < vlen; i++)
			p->mx[p->nmx][i] = (char)tolower((unsigned char)v[i]);
		p->mx[p->nmx++][vlen] = '\0';
	} else if (!ext_name_ok(name, nlen) || !vchar_ok(v, vlen)) {
		snprintf(err, errsize, "malformed line");
		return -1;
	}
#undef IS
#undef VAL
	return 0;
}

/* policy_line - one line (len octets, no terminator) into p */
static int
policy_line(const char *l, size_t len, struct mtasts_policy *p,
    struct seen *s, char *err, size_t errsize)
{
	const char *colon = memchr(l, ':', len);
	size_t nlen, i;

	if (colon == NULL) {
		snprintf(err, errsize, "malformed line");
		return -1;
	}
	nlen = (size_t)(colon - l);
	i = nlen + 1;
	while (i < len && is_wsp(l[i]))
		i++;
	while (len > i && is_wsp(l[len - 1]))
		len--;
	return policy_field(l, nlen, l + i, len - i, p, s, err, errsize);
}

/* mtasts_policy_parse - lines by CRLF or LF, then the required fields */
int
mtasts_policy_parse(const char *buf, size_t len, struct mtasts_policy *p,
    char *err, size_t errsize)
{
	struct seen s = { 0, 0, 0 };
	const char *nl;
	size_t pos = 0, end;

	memset(p, 0, sizeof(*p));
	if (len > MTASTS_POLICY_MAX) {
		snprintf(err, errsize, "larger than %d octets",
		    MTASTS_POLICY_MAX);
		return -1;
	}
	while (pos < len) {
		nl = memchr(buf + pos, '\n', len - pos);
		end = nl != NULL ? (size_t)(nl - buf) : len;
		if (end > pos && buf[end - 1] == '\r')
			end--;
		if (memchr(buf + pos, '\r', end - pos) != NULL) {
			snprintf(err, errsize, "bare CR");
			return -1;
		}
		if (end > pos && policy_line(buf + pos, end - pos, p, &s, err,
		    errsize) != 0)
			return -1;
		pos = nl != NULL ? (size_t)(nl - buf) + 1 : len;
	}
	if (s.version != 1 || s.mode != 1 || s.max_age != 1) {
		snprintf(err, errsize, "%s field missing", s.version != 1 ?
		    "version" : s.mode != 1 ? "mode" : "max_age");
		return -1;
	}
	if (p->mode != MTASTS_NONE && p->nmx == 0) {
		snprintf(err, errsize, "no mx field");
		return -1;
	}
	return 0;
}

/* name_eq - a and b (blen octets) equal but for case */
static int
name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && strncasecmp(a, b, alen) == 0;
}

/* mtasts_mx_match - exact, or one label in place of "*" */
int
mtasts_mx_match(const struct mtasts_policy *p, const char *host)
{
	size_t hlen = strlen(host), plen;
	const char *dot;

	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	if (hlen == 0)
		return 0;
	dot = memchr(host, '.', hlen);
	for (int i = 0; i < p->nmx; i++) {
		const char *pat = p->mx[i];

		plen = strlen(pat);
		if (pat[0] != '*') {
			if (name_eq(host, hlen, pat, plen))
				return 1;
			continue;
		}
		/* "*.rest": a non-empty first label, then ".rest" exactly. */
		if (dot != NULL && dot > host &&
		    name_eq(dot, hlen - (size_t)(dot - host), pat + 1,
		    plen - 1))
			return 1;
	}
	return 0;
}
