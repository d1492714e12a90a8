/*
 * tls_policy - what the smtp transport demands of a destination's TLS:
 * the security level (smtp_tls_security_level, or an smtp_tls_policy_map
 * entry that overrides it), the names a certificate must carry, and the
 * RFC 6125 comparison of a certificate's names with them.
 *
 * Pure logic: no I/O, no OpenSSL.  Used by deliverd's smtp transport
 * (which looks the map up) and smtp client (which enforces the level),
 * by settings.c (the match words) and by tern_check.c.
 *
 * The levels mean what they mean in Postfix.  none: never STARTTLS.  may:
 * STARTTLS when offered, anything goes, plaintext when the handshake
 * fails.  encrypt: TLS or no delivery, any certificate.  verify: TLS with
 * a chain that ends at a trusted CA and a certificate name that matches
 * the MX host name (smtp_tls_verify_cert_match).  secure: the same, but
 * the names come from the next-hop domain (smtp_tls_secure_cert_match),
 * which DNS cannot forge.  dane (RFC 7672): the transport makes it may,
 * encrypt or dane itself for each MX host, from what DNSSEC says
 * (smtp_dane.h); as a connection's level it encrypts and verifies,
 * against TLSA records (tls_dane.h) instead of the CA store and names.
 *
 * How more levels plug in: a new level (dane, dane-only) is one more
 * enum smtp_tls_level value and word in settings.c's tls_level_words and
 * in tls_level_words below; its predicates (tls_level_encrypts,
 * tls_level_verifies) say what it demands of the handshake.  The trust
 * source of a verifying level is chosen where the transport builds the
 * policy of a connection (transport_smtp.c, smtp_tls_policy_find): DANE
 * would fill a TLSA list there from a DNSSEC-validated lookup of the MX
 * host and tls_client would check the chain against it instead of the CA
 * store; MTA-STS would be one more source of a policy for a next hop (a
 * cached policy raising the level to verify with the policy's mx names
 * as match names), consulted after smtp_tls_policy_map and before the
 * global level.
 */
#ifndef TERN_TLS_POLICY_H
#define TERN_TLS_POLICY_H

#include <stddef.h>

#include "settings.h"

#define TLS_MATCH_MAX	8	/* match names in one policy */
#define TLS_NAME_MAX	256	/* a DNS name, its NUL included */
#define TLS_POLICY_KEYS_MAX	130	/* lookup keys for one next hop */

struct tls_policy {
	enum smtp_tls_level	 level;
	int			 nmatch;
	/* as configured: hostname, nexthop, dot-nexthop, name or .name */
	char			 match[TLS_MATCH_MAX][TLS_NAME_MAX];
};

/* The reference identifiers one connection's certificate is held to. */
struct tls_names {
	int	 n;
	char	 name[TLS_MATCH_MAX][TLS_NAME_MAX];	/* name or .name */
};

/* tls_level_parse - word to level; 0, or -1 when it names no level */
int tls_level_parse(const char *word, enum smtp_tls_level *level);
/* tls_level_name - the level's word (static) */
const char *tls_level_name(enum smtp_tls_level level);
/* tls_level_encrypts - the level refuses to deliver without TLS */
int tls_level_encrypts(enum smtp_tls_level level);
/* tls_level_verifies - the level refuses an unverified certificate */
int tls_level_verifies(enum smtp_tls_level level);

/* tls_match_valid - hostname, nexthop, dot-nexthop, a name or a .name */
int tls_match_valid(const char *word);

/*
 * tls_policy_default - the global policy for level: the level and the
 * match words of smtp_tls_verify_cert_match or _secure_cert_match.
 */
void tls_policy_default(const struct settings *set, enum smtp_tls_level level,
    struct tls_policy *p);

/*
 * tls_policy_parse - an smtp_tls_policy_map value, "level [match=a:b]",
 * into p; without match= the level's words from set.  0, or -1 with the
 * reason in err.
 */
int tls_policy_parse(const struct settings *set, const char *value,
    struct tls_policy *p, char *err, size_t errsize);

/*
 * tls_policy_keys - the map keys that can hold nexthop's policy, most
 * specific first, into keys (each TLS_NAME_MAX): "[host]:port" and
 * "[host]" for a bracketed next hop; "domain" then ".parent" for each
 * parent domain otherwise.  The count, 0 when nexthop is malformed.
 */
int tls_policy_keys(const char *nexthop, char keys[][TLS_NAME_MAX],
    int max);

/*
 * tls_policy_names - p's match words made into reference identifiers
 * for a connection to MX host (hostname) for next hop domain (nexthop,
 * without brackets or port).
 */
void tls_policy_names(const struct tls_policy *p, const char *host,
    const char *nexthop, struct tls_names *out);

/*
 * tls_name_match - does the certificate name presented (plen octets,
 * untrusted) match the reference ref (a name, or .name for any of its
 * subdomains)?  RFC 6125 6.4: case-insensitive, a trailing dot ignored,
 * a wildcard only as the whole left-most label of a name with at least
 * two labels after it, matching exactly one label.
 */
int tls_name_match(const char *presented, size_t plen, const char *ref);

#endif
