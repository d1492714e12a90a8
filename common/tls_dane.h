/*
 * tls_dane - DANE authentication (RFC 6698, RFC 7671, RFC 7672) of one
 * TLS client session with OpenSSL's own DANE support: the TLSA records
 * of the server go into the session before the handshake, OpenSSL
 * matches them against the chain the server presents, and afterwards
 * the verdict is read and put into words.
 *
 * Called by tls_client.c (the context and the handshake) and by
 * deliverd's smtp client (the verdict).  Which records to use, and
 * whether DANE applies at all, is decided earlier (smtp_dane.h).
 */
#ifndef TERN_TLS_DANE_H
#define TERN_TLS_DANE_H

#include <stddef.h>

#include "dns_tlsa.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

#define TLS_DANE_RR_MAX		16	/* usable TLSA records kept */
#define TLS_DANE_NAME_MAX	256	/* a DNS name, its NUL included */

/* The TLSA records one connection is held to. */
struct tls_dane {
	int		 n;
	struct dns_tlsa	 rr[TLS_DANE_RR_MAX];	/* usable ones only */
	/* The reference identifiers for a DANE-TA(2) match (RFC 7672
	 * 3.2.2, 3.2.3): the TLSA base domain (the MX host, or where its
	 * CNAMEs led, RFC 7672 2.2.2), which is also the SNI (8.1); the
	 * other of the two when the CNAME chain was DNSSEC-signed ("" for
	 * none); and the next-hop domain.  DANE-EE(3) matches check no
	 * name (3.1.1). */
	char		 base[TLS_DANE_NAME_MAX];
	char		 alias[TLS_DANE_NAME_MAX];
	char		 nexthop[TLS_DANE_NAME_MAX];
};

/*
 * tls_dane_ctx_enable - DANE on the client context: SHA-256 and SHA-512
 * as matching types 1 and 2, and no name checks for DANE-EE(3).  0, or -1
 * when OpenSSL refuses.
 */
int tls_dane_ctx_enable(SSL_CTX *ctx);

/*
 * tls_dane_data_usable - t's data is what its selector says, where
 * OpenSSL would have to parse it (matching type 0: a DER certificate or
 * SubjectPublicKeyInfo, whole); a digest always is.  A record whose data
 * is not is unusable (RFC 7671 4.1), like one with an unknown usage.
 */
int tls_dane_data_usable(const struct dns_tlsa *t);

/*
 * tls_dane_attach - before the handshake: hold ssl to d's records and
 * names.  0, or -1 with a reason in err (OpenSSL refused every record).
 */
int tls_dane_attach(SSL *ssl, const struct tls_dane *d, char *err,
    size_t errsize);

/*
 * tls_dane_verify - after the handshake: a TLSA record matched the
 * server's chain (and for DANE-TA the name, and the dates).  0 with
 * what matched in matched ("TLSA 3 1 1 a1b2... at depth 0"), or -1 with
 * the failure in reason ("no TLSA record matches the certificate",
 * "name mismatch ...", "certificate expired"), printable.
 */
int tls_dane_verify(SSL *ssl, char *matched, size_t matchedsize,
    char *reason, size_t reasonsize);

#endif
