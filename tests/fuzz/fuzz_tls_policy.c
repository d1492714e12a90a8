/*
 * fuzz_tls_policy - libFuzzer target for common/tls_policy.c: the
 * RFC 6125 comparison of a certificate name (untrusted: from the peer)
 * with a reference name, an smtp_tls_policy_map value, and the lookup
 * keys of a next hop.
 *
 * Input: a first line, the presented name (any octets, NUL included);
 * the rest, up to a NUL, serves as reference name, policy value and next
 * hop in turn.  Besides memory errors it checks the promises: a name
 * with a '*' anywhere but as the whole left-most label never matches; a
 * name without '*' matches a plain reference only when equal to it but
 * for case and one final dot; an accepted policy has a known level and
 * at most TLS_MATCH_MAX valid match names; every key fits and is
 * lowercase.  Built by build.sh.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "settings.h"
#include "tls_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* strip_dot_eq - a and b equal but for case and one final dot each */
static int
strip_dot_eq(const char *a, size_t al, const char *b)
{
	size_t bl = strlen(b);

	if (al > 0 && a[al - 1] == '.')
		al--;
	if (bl > 0 && b[bl - 1] == '.')
		bl--;
	return al == bl && strncasecmp(a, b, al) == 0;
}

/* check_match - the promises of tls_name_match */
static void
check_match(const char *p, size_t plen, const char *ref)
{
	const char *star = memchr(p, '*', plen);
	int m = tls_name_match(p, plen, ref);

	if (!m)
		return;
	if (memchr(p, '\0', plen) != NULL)
		abort();
	if (star != NULL && (star != p || plen < 2 || p[1] != '.' ||
	    memchr(p + 1, '*', plen - 1) != NULL))
		abort();
	if (star == NULL && ref[0] != '.' && !strip_dot_eq(p, plen, ref))
		abort();
}

/* check_policy - the promises of tls_policy_parse */
static void
check_policy(const struct settings *set, const char *v)
{
	struct tls_policy p;
	char err[256];

	err[0] = '\0';
	if (tls_policy_parse(set, v, &p, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
		return;
	}
	if (p.level > SMTP_TLS_DANE || p.nmatch < 0 ||
	    p.nmatch > TLS_MATCH_MAX)
		abort();
	for (int i = 0; i < p.nmatch; i++)
		if (!tls_match_valid(p.match[i]))
			abort();
}

/* check_keys - the promises of tls_policy_keys */
static void
check_keys(const char *nexthop)
{
	static char keys[TLS_POLICY_KEYS_MAX][TLS_NAME_MAX];
	int n = tls_policy_keys(nexthop, keys, TLS_POLICY_KEYS_MAX);

	if (n < 0 || n > TLS_POLICY_KEYS_MAX)
		abort();
	for (int i = 0; i < n; i++) {
		size_t len = strnlen(keys[i], TLS_NAME_MAX);

		if (len == 0 || len >= TLS_NAME_MAX)
			abort();
		for (size_t k = 0; k < len; k++)
			if (isupper((unsigned char)keys[i][k]))
				abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct settings set;
	static int ready;
	const uint8_t *nl = memchr(data, '\n', size);
	size_t plen = nl != NULL ? (size_t)(nl - data) : size;
	size_t rlen = nl != NULL ? size - plen - 1 : 0;
	char *rest;

	if (!ready) {
		settings_defaults(&set);
		ready = 1;
	}
	if ((rest = malloc(rlen + 1)) == NULL)
		return 0;
	if (rlen > 0)
		memcpy(rest, nl + 1, rlen);
	rest[rlen] = '\0';
	check_match((const char *)data, plen, rest);
	check_policy(&set, rest);
	check_keys(rest);
	free(rest);
	return 0;
}
