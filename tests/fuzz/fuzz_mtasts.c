/*
 * fuzz_mtasts - libFuzzer target for MTA-STS (RFC 8461) input from the
 * network: the policy file and the mx matcher (common/mtasts_policy.c),
 * the _mta-sts TXT record, and the HTTP response the policy comes in
 * (deliverd/mtasts_fetch.c).
 *
 * The whole input is tried as each of the three.  Besides memory errors
 * it checks the promises: a policy that parses has a known mode, a
 * max_age within the RFC's maximum, at least one mx unless its mode is
 * none, and lowercase LDH patterns each of which matches itself (or one
 * label in place of its "*") and nothing with a label more or less; a
 * refusal always has a reason; an accepted TXT record begins with
 * "v=STSv1" and its id is 1 to 32 alphanumerics; an accepted HTTP
 * response's body lies inside the input and within the size limit.
 * Built by build.sh.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts_fetch.h"
#include "mtasts_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_pattern - one accepted mx pattern, and what it matches */
static void
check_pattern(const struct mtasts_policy *p, const char *pat)
{
	char host[MTASTS_NAME_MAX + 8];
	size_t len = strnlen(pat, MTASTS_NAME_MAX);

	if (len == 0 || len >= MTASTS_NAME_MAX)
		abort();
	for (size_t i = 0; i < len; i++)
		if (isupper((unsigned char)pat[i]) || (!isalnum((unsigned char)
		    pat[i]) && pat[i] != '-' && pat[i] != '.' &&
		    !(i == 0 && pat[i] == '*')))
			abort();
	if (pat[0] != '*') {
		if (!mtasts_mx_match(p, pat))
			abort();
		return;
	}
	snprintf(host, sizeof(host), "x%s", pat + 1);
	if (!mtasts_mx_match(p, host))
		abort();
	snprintf(host, sizeof(host), "x.y%s", pat + 1);
	/* Two labels for the one "*": only another pattern may match. */
	if (p->nmx == 1 && mtasts_mx_match(p, host))
		abort();
}

/* check_policy - the promises of mtasts_policy_parse */
static void
check_policy(const char *buf, size_t len)
{
	static struct mtasts_policy p;
	char err[128];

	err[0] = '\0';
	if (mtasts_policy_parse(buf, len, &p, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
		return;
	}
	if (p.mode > MTASTS_ENFORCE || p.max_age < 0 ||
	    p.max_age > MTASTS_MAX_AGE_MAX || p.nmx < 0 ||
	    p.nmx > MTASTS_MX_MAX || (p.mode != MTASTS_NONE && p.nmx == 0))
		abort();
	for (int i = 0; i < p.nmx; i++)
		check_pattern(&p, p.mx[i]);
}

/* check_txt - the promises of mtasts_txt_parse */
static void
check_txt(const char *buf, size_t len)
{
	char id[MTASTS_ID_MAX + 1];
	size_t n;

	if (mtasts_txt_parse(buf, len, id) != 0)
		return;
	if (!mtasts_txt_is_sts(buf, len))
		abort();
	n = strnlen(id, sizeof(id));
	if (n == 0 || n > MTASTS_ID_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]))
			abort();
}

/* check_http - the promises of mtasts_http_response */
static void
check_http(const char *buf, size_t len)
{
	const char *body;
	size_t blen;
	int complete;
	char err[128];

	if (mtasts_http_response(buf, len, &body, &blen, &complete, err,
	    sizeof(err)) != 0)
		return;
	if (body < buf || body > buf + len || blen > len ||
	    (size_t)(body - buf) + blen > len || blen > MTASTS_POLICY_MAX)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so that ASan sees any read past the end. */
	char *buf = malloc(size > 0 ? size : 1);

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	check_policy(buf, size);
	check_txt(buf, size);
	check_http(buf, size);
	free(buf);
	return 0;
}
