/*
 * tls_policy - TLS security levels, smtp_tls_policy_map entries and the
 * RFC 6125 name comparison (tls_policy.h).
 *
 * Map values and certificate names are untrusted: every copy is bounded,
 * a name with a NUL inside never matches, and a value that does not
 * parse is an error for the caller to defer on (a typo must never turn
 * a demanded check into none).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tls_policy.h"

static const char *const tls_level_words[] = {
	[SMTP_TLS_NONE] = "none", [SMTP_TLS_MAY] = "may",
	[SMTP_TLS_ENCRYPT] = "encrypt", [SMTP_TLS_VERIFY] = "verify",
	[SMTP_TLS_SECURE] = "secure", [SMTP_TLS_DANE] = "dane",
};
#define TLS_LEVELS	(sizeof(tls_level_words) / sizeof(tls_level_words[0]))

/* tls_level_parse - the level a word names */
int
tls_level_parse(const char *word, enum smtp_tls_level *level)
{
	for (size_t i = 0; i < TLS_LEVELS; i++)
		if (strcasecmp(word, tls_level_words[i]) == 0) {
			*level = (enum smtp_tls_level)i;
			return 0;
		}
	return -1;
}

/* tls_level_name - the word for a level */
const char *
tls_level_name(enum smtp_tls_level level)
{
	return (size_t)level < TLS_LEVELS ? tls_level_words[level] : "?";
}

/* tls_level_encrypts - no delivery without TLS */
int
tls_level_encrypts(enum smtp_tls_level level)
{
	return level >= SMTP_TLS_ENCRYPT;
}

/* tls_level_verifies - no delivery to an unverified certificate */
int
tls_level_verifies(enum smtp_tls_level level)
{
	return level >= SMTP_TLS_VERIFY;
}

/* tls_dns_name_valid - letters, digits, '-', non-empty dot-separated labels */
static int
tls_dns_name_valid(const char *s)
{
	size_t label = 0, len = strlen(s);

	if (len == 0 || len >= TLS_NAME_MAX)
		return 0;
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)*s) || *s == '-')
			label++;
		else
			return 0;
	}
	return label > 0;
}

/* tls_match_valid - a match word, a name, or a .name */
int
tls_match_valid(const char *word)
{
	if (strcasecmp(word, "hostname") == 0 ||
	    strcasecmp(word, "nexthop") == 0 ||
	    strcasecmp(word, "dot-nexthop") == 0)
		return 1;
	return tls_dns_name_valid(word[0] == '.' ? word + 1 : word);
}

/* tls_policy_words - the words of a list into p's match names */
static void
tls_policy_words(const struct strlist *l, struct tls_policy *p)
{
	p->nmatch = 0;
	for (size_t i = 0; i < l->n && p->nmatch < TLS_MATCH_MAX; i++)
		snprintf(p->match[p->nmatch++], TLS_NAME_MAX, "%s", l->v[i]);
}

/* tls_policy_default - level with the configured match words */
void
tls_policy_default(const struct settings *set, enum smtp_tls_level level,
    struct tls_policy *p)
{
	p->level = level;
	p->nmatch = 0;
	if (level == SMTP_TLS_SECURE)
		tls_policy_words(&set->smtp_tls_secure_cert_match, p);
	else if (level == SMTP_TLS_VERIFY)
		tls_policy_words(&set->smtp_tls_verify_cert_match, p);
}

/* tls_policy_match_parse - "a:b:c" into p's match names; 0 or -1 */
static int
tls_policy_match_parse(const char *list, size_t len, struct tls_policy *p,
    char *err, size_t errsize)
{
	char word[TLS_NAME_MAX];
	size_t i = 0, k;

	p->nmatch = 0;
	while (i < len) {
		k = i;
		while (k < len && list[k] != ':')
			k++;
		if (k - i == 0 || k - i >= sizeof(word) ||
		    p->nmatch == TLS_MATCH_MAX) {
			snprintf(err, errsize, "match=: an empty or too long "
			    "name, or more than %d names", TLS_MATCH_MAX);
			return -1;
		}
		memcpy(word, list + i, k - i);
		word[k - i] = '\0';
		if (!tls_match_valid(word)) {
			snprintf(err, errsize, "match=: not a name: %.64s",
			    word);
			return -1;
		}
		memcpy(p->match[p->nmatch++], word, k - i + 1);
		i = k + 1;
	}
	if (p->nmatch == 0) {
		snprintf(err, errsize, "match= names nothing");
		return -1;
	}
	return 0;
}

/* tls_policy_parse - "level [match=a:b]" */
int
tls_policy_parse(const struct settings *set, const char *value,
    struct tls_policy *p, char *err, size_t errsize)
{
	const char *s = value, *e;
	char word[16];
	size_t len;
	int first = 1, matched = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		for (e = s; *e != '\0' && *e != ' ' && *e != '\t'; e++)
			;
		len = (size_t)(e - s);
		if (first) {
			if (len >= sizeof(word))
				goto badlevel;
			memcpy(word, s, len);
			word[len] = '\0';
			if (tls_level_parse(word, &p->level) != 0)
				goto badlevel;
			tls_policy_default(set, p->level, p);
			first = 0;
		} else if (len > 6 && strncasecmp(s, "match=", 6) == 0 &&
		    !matched) {
			if (tls_policy_match_parse(s + 6, len - 6, p, err,
			    errsize) != 0)
				return -1;
			matched = 1;
		} else {
			snprintf(err, errsize, "unknown or repeated attribute "
			    "\"%.*s\"", (int)(len < 64 ? len : 64), s);
			return -1;
		}
		s = e;
	}
	if (first) {
		snprintf(err, errsize, "no security level");
		return -1;
	}
	return 0;
badlevel:
	snprintf(err, errsize, "not a security level: \"%.*s\"",
	    (int)(len < 64 ? len : 64), s);
	return -1;
}

/* tls_key_add - pre, alen octets of a, post: one lowercased key; 0 or -1 */
static int
tls_key_add(char keys[][TLS_NAME_MAX], int *n, int max, const char *pre,
    const char *a, size_t alen, const char *post)
{
	char *k;

	if (*n >= max || alen >= TLS_NAME_MAX)
		return -1;
	k = keys[*n];
	if (snprintf(k, TLS_NAME_MAX, "%s%.*s%s", pre, (int)alen, a, post) >=
	    TLS_NAME_MAX)
		return -1;
	for (; *k != '\0'; k++)
		*k = (char)tolower((unsigned char)*k);
	(*n)++;
	return 0;
}

/* tls_policy_keys - "[h]:p", "[h]"; or "d", ".parent", ... */
int
tls_policy_keys(const char *nexthop, char keys[][TLS_NAME_MAX], int max)
{
	const char *close, *colon, *p;
	char post[TLS_NAME_MAX];
	size_t len;
	int n = 0;

	if (nexthop[0] == '[') {
		if ((close = strchr(nexthop, ']')) == NULL || close == nexthop + 1)
			return 0;
		len = (size_t)(close - nexthop - 1);
		if (close[1] != '\0' && close[1] != ':')
			return 0;
		if (close[1] == ':' && ((size_t)snprintf(post, sizeof(post),
		    "]%s", close + 1) >= sizeof(post) ||
		    tls_key_add(keys, &n, max, "[", nexthop + 1, len,
		    post) != 0))
			return 0;
		if (tls_key_add(keys, &n, max, "[", nexthop + 1, len, "]") != 0)
			return 0;
		return n;
	}
	colon = strchr(nexthop, ':');
	len = colon != NULL ? (size_t)(colon - nexthop) : strlen(nexthop);
	if (len == 0 || tls_key_add(keys, &n, max, "", nexthop, len, "") != 0)
		return 0;
	/* Each parent domain as ".parent": subdomains only, as in Postfix. */
	for (p = nexthop; p < nexthop + len; p++)
		if (*p == '.' && p + 1 < nexthop + len &&
		    tls_key_add(keys, &n, max, "", p,
		    (size_t)(nexthop + len - p), "") != 0)
			break;
	return n;
}

/* tls_policy_names - match words into names for host and nexthop */
void
tls_policy_names(const struct tls_policy *p, const char *host,
    const char *nexthop, struct tls_names *out)
{
	const char *w;
	int r;

	out->n = 0;
	for (int i = 0; i < p->nmatch && out->n < TLS_MATCH_MAX; i++) {
		w = p->match[i];
		if (strcasecmp(w, "hostname") == 0)
			r = snprintf(out->name[out->n], TLS_NAME_MAX, "%s", host);
		else if (strcasecmp(w, "nexthop") == 0)
			r = snprintf(out->name[out->n], TLS_NAME_MAX, "%s",
			    nexthop);
		else if (strcasecmp(w, "dot-nexthop") == 0)
			r = snprintf(out->name[out->n], TLS_NAME_MAX, ".%s",
			    nexthop);
		else
			r = snprintf(out->name[out->n], TLS_NAME_MAX, "%s", w);
		if (r > 0 && r < TLS_NAME_MAX)
			out->n++;
	}
}

/* tls_name_copy - s (len octets) into buf without one final dot; -1 bad */
static int
tls_name_copy(const char *s, size_t len, char *buf, size_t bufsize)
{
	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len >= bufsize || memchr(s, '\0', len) != NULL)
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}

/* tls_suffix_is - s ends with the .suffix sfx, after at least one octet */
static int
tls_suffix_is(const char *s, const char *sfx)
{
	size_t sl = strlen(s), fl = strlen(sfx);

	return sl > fl && strcasecmp(s + sl - fl, sfx) == 0;
}

/* tls_name_match - RFC 6125 6.4.3 comparison of presented with ref */
int
tls_name_match(const char *presented, size_t plen, const char *ref)
{
	char p[TLS_NAME_MAX], r[TLS_NAME_MAX];
	const char *rest, *dot;

	if (tls_name_copy(presented, plen, p, sizeof(p)) != 0 ||
	    tls_name_copy(ref, strlen(ref), r, sizeof(r)) != 0)
		return 0;
	if (p[0] == '*') {
		/* Only "*." then a name of two labels or more, no other
		 * '*': "f*.example.com", "*x.example.com", "a.*.example.com"
		 * and "*.com" match nothing. */
		rest = p + 2;
		if (p[1] != '.' || strchr(rest, '*') != NULL ||
		    strchr(rest, '.') == NULL || rest[0] == '.')
			return 0;
		if (r[0] == '.')	/* one label below rest */
			return strcasecmp(rest, r + 1) == 0 ||
			    tls_suffix_is(rest, r);
		dot = strchr(r, '.');
		return dot != NULL && dot != r && strcasecmp(dot + 1, rest) == 0;
	}
	if (strchr(p, '*') != NULL)
		return 0;
	if (r[0] == '.')
		return tls_suffix_is(p, r);
	return strcasecmp(p, r) == 0;
}
