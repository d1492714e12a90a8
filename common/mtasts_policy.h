/*
 * mtasts_policy - MTA-STS (RFC 8461) in pure logic: the _mta-sts TXT
 * record, the policy file served at https://mta-sts.DOMAIN/.well-known/
 * mta-sts.txt, and the comparison of an MX host name with the policy's
 * mx patterns.
 *
 * No I/O: deliverd's smtp transport fetches and caches (mtasts.c), this
 * file only judges what it got.  Both inputs come from the network and
 * are parsed strictly, with every length checked; a policy that does not
 * parse is no policy (RFC 8461 3.2), never a weaker one.  Also used by
 * the unit tests and tests/fuzz/fuzz_mtasts.c.
 */
#ifndef TERN_MTASTS_POLICY_H
#define TERN_MTASTS_POLICY_H

#include <stddef.h>

#define MTASTS_ID_MAX		32	/* RFC 8461 3.1: 1*32 alphanumerics */
#define MTASTS_MX_MAX		32	/* mx patterns kept from one policy */
#define MTASTS_NAME_MAX		254	/* a pattern, its NUL included */
#define MTASTS_POLICY_MAX	65536	/* octets of a policy (RFC 8461 3.3) */
#define MTASTS_MAX_AGE_MAX	31557600L /* RFC 8461 3.2: about a year */

enum mtasts_mode {
	MTASTS_NONE = 0,
	MTASTS_TESTING = 1,
	MTASTS_ENFORCE = 2,
};

struct mtasts_policy {
	enum mtasts_mode mode;
	long		 max_age;		/* seconds */
	int		 nmx;
	char		 mx[MTASTS_MX_MAX][MTASTS_NAME_MAX];	/* lowercase */
};

/*
 * mtasts_txt_parse - one TXT record's text (len octets, untrusted):
 * "v=STSv1; id=...;" with optional extensions (RFC 8461 3.1).  0 with the
 * id in id (MTASTS_ID_MAX + 1 octets), or -1 when it is not a valid STS
 * record.
 */
int mtasts_txt_parse(const char *text, size_t len, char *id);

/* mtasts_txt_is_sts - the record begins with "v=STSv1;" (RFC 8461 3.1:
 * the others are not ours to judge) */
int mtasts_txt_is_sts(const char *text, size_t len);

/*
 * mtasts_policy_parse - a policy file (len octets, untrusted) into p.
 * 0, or -1 with the reason, printable, in err.
 */
int mtasts_policy_parse(const char *buf, size_t len, struct mtasts_policy *p,
    char *err, size_t errsize);

/*
 * mtasts_mx_match - does MX host name host (a final dot ignored) match
 * one of p's mx patterns?  RFC 8461 4.1: equal but for case, or
 * "*.rest" for exactly one label followed by rest.
 */
int mtasts_mx_match(const struct mtasts_policy *p, const char *host);

/* mtasts_mode_name - "none", "testing", "enforce" (static) */
const char *mtasts_mode_name(enum mtasts_mode mode);

#endif
