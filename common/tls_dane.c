/*
 * tls_dane - OpenSSL's DANE for the smtp client (tls_dane.h).
 *
 * Why OpenSSL's DANE code rather than comparing digests here: it checks
 * each record at the right depth of the chain that was actually built,
 * handles DANE-TA(2) records for an anchor the server did not send, and
 * keeps name and date checks apart for DANE-EE(3), all of which a hand-made
 * comparison gets subtly wrong.  What is left here is feeding it records
 * and turning its verdict into words for the log and the deferral.
 *
 * The handshake runs with SSL_VERIFY_NONE (tls_client.h): a DANE failure
 * does not abort it, so the reason can be logged and the mail deferred.
 * Never: accept a session whose verdict was not read, or one where no
 * record matched.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "tls_dane.h"

/* tls_dane_ctx_enable - DANE support and its SMTP flags on ctx */
int
tls_dane_ctx_enable(SSL_CTX *ctx)
{
	if (SSL_CTX_dane_enable(ctx) <= 0)
		return -1;
	/* RFC 7672 3.1.1: a DANE-EE(3) match authenticates the key, and
	 * the certificate's names (and dates) do not matter. */
	SSL_CTX_dane_set_flags(ctx, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	return 0;
}

/* tls_dane_data_usable - full data parses as the selector says */
int
tls_dane_data_usable(const struct dns_tlsa *t)
{
	const unsigned char *p = t->data;
	X509 *x;
	EVP_PKEY *k;
	int ok;

	if (t->mtype != 0)
		return 1;
	if (t->selector == 0) {
		x = d2i_X509(NULL, &p, (long)t->len);
		ok = x != NULL && p == t->data + t->len;
		X509_free(x);
	} else {
		k = d2i_PUBKEY(NULL, &p, (long)t->len);
		ok = k != NULL && p == t->data + t->len;
		EVP_PKEY_free(k);
	}
	ERR_clear_error();
	return ok;
}

/* tls_dane_attach - the base domain, the next hop, the records */
int
tls_dane_attach(SSL *ssl, const struct tls_dane *d, char *err,
    size_t errsize)
{
	int added = 0;

	/* SSL_dane_enable also makes the base domain a name that a
	 * DANE-TA(2) chain may carry (and the SNI is set by the caller to
	 * the same base domain, RFC 7672 8.1); SSL_add1_host adds the
	 * others. */
	if (SSL_dane_enable(ssl, d->base) <= 0) {
		snprintf(err, errsize, "cannot enable DANE for %s", d->base);
		ERR_clear_error();
		return -1;
	}
	if (d->alias[0] != '\0' && strcasecmp(d->alias, d->base) != 0)
		SSL_add1_host(ssl, d->alias);
	if (d->nexthop[0] != '\0' && strcasecmp(d->nexthop, d->base) != 0 &&
	    strcasecmp(d->nexthop, d->alias) != 0)
		SSL_add1_host(ssl, d->nexthop);
	for (int i = 0; i < d->n && i < TLS_DANE_RR_MAX; i++) {
		const struct dns_tlsa *t = &d->rr[i];

		/* 0 means OpenSSL does not know the matching type or the
		 * record is malformed: unusable, like the ones we dropped. */
		if (SSL_dane_tlsa_add(ssl, t->usage, t->selector, t->mtype,
		    t->data, t->len) > 0)
			added++;
	}
	ERR_clear_error();
	if (added == 0) {
		snprintf(err, errsize, "no TLSA record of %s could be used",
		    d->base);
		return -1;
	}
	return 0;
}

/* tls_dane_reason - the words for a failed DANE verification */
static const char *
tls_dane_reason(long vr)
{
	switch (vr) {
	case X509_V_ERR_DANE_NO_MATCH:
		return "no TLSA record matches the certificate chain";
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return "name mismatch: the certificate names neither the MX "
		    "host nor the next-hop domain (DANE-TA)";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "certificate expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "certificate not yet valid";
	default:
		return X509_verify_cert_error_string(vr);
	}
}

/* tls_dane_verify - a TLSA record matched, by OpenSSL's verdict */
int
tls_dane_verify(SSL *ssl, char *matched, size_t matchedsize, char *reason,
    size_t reasonsize)
{
	uint8_t usage, selector, mtype;
	const unsigned char *data;
	size_t dlen;
	long vr;
	int depth;

	if (SSL_get0_peer_certificate(ssl) == NULL) {
		snprintf(reason, reasonsize, "no certificate presented");
		return -1;
	}
	vr = SSL_get_verify_result(ssl);
	depth = SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, &data,
	    &dlen);
	if (vr != X509_V_OK || depth < 0) {
		snprintf(reason, reasonsize, "%s", vr != X509_V_OK ?
		    tls_dane_reason(vr) : tls_dane_reason(
		    X509_V_ERR_DANE_NO_MATCH));
		return -1;
	}
	snprintf(matched, matchedsize, "TLSA %u %u %u at depth %d", usage,
	    selector, mtype, depth);
	return 0;
}
