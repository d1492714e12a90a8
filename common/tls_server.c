/*
 * tls_server - server TLS context and connection descriptions.  See
 * tls_server.h.
 *
 * Protocol choices, and why: SSLv3, TLS 1.0 and 1.1 are refused (RFC
 * 8996); the server's cipher order wins so that a client cannot steer us
 * to its weakest common choice; compression is off (CRIME) and so is
 * renegotiation (a client-driven CPU sink with a history of bugs).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls_server.h"

/* Resumption is bound to this context name (SSL_CTX_set_session_id_context) */
static const unsigned char tls_sid_ctx[] = "tern-smtpd";

/* tls_server_error - the oldest queued OpenSSL error as text */
const char *
tls_server_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* tls_file_readable - 0, or -1 with "what FILE: reason" in err */
static int
tls_file_readable(const char *what, const char *path, char *err,
    size_t errsize)
{
	FILE *fp = fopen(path, "r");

	if (fp == NULL) {
		snprintf(err, errsize, "%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	fclose(fp);
	return 0;
}

/* tls_server_ctx_new - a context with s's certificate chain and key */
SSL_CTX *
tls_server_ctx_new(const struct settings *s, char *err, size_t errsize)
{
	const char *cert = s->smtpd_tls_cert_file;
	const char *key = s->smtpd_tls_key_file[0] != '\0' ?
	    s->smtpd_tls_key_file : cert;
	SSL_CTX *ctx;

	if (cert[0] == '\0') {
		snprintf(err, errsize, "smtpd_tls_cert_file is not set");
		return NULL;
	}
	if (tls_file_readable("smtpd_tls_cert_file", cert, err, errsize) < 0 ||
	    tls_file_readable("smtpd_tls_key_file", key, err, errsize) < 0)
		return NULL;
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errsize, "SSL_CTX_new: %s", tls_server_error());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, tls_sid_ctx,
	    sizeof(tls_sid_ctx) - 1);
	if (SSL_CTX_set_cipher_list(ctx, s->smtpd_tls_ciphers) != 1) {
		snprintf(err, errsize, "smtpd_tls_ciphers: no usable cipher "
		    "in \"%s\"", s->smtpd_tls_ciphers);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errsize, "smtpd_tls_cert_file %s: %s", cert,
		    tls_server_error());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 &&
	    ERR_GET_REASON(ERR_peek_error()) != X509_R_KEY_VALUES_MISMATCH) {
		snprintf(err, errsize, "smtpd_tls_key_file %s: %s", key,
		    tls_server_error());
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errsize, "smtpd_tls_key_file %s does not match "
		    "the certificate in %s", key, cert);
		goto fail;
	}
	ERR_clear_error();
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/* tls_server_wanted - some listener or setting needs the TLS context */
int
tls_server_wanted(const struct settings *s)
{
	return s->smtpd_tls_cert_file[0] != '\0' ||
	    s->smtpd_tls_key_file[0] != '\0' ||
	    s->submission_listen.n > 0 || s->submissions_listen.n > 0;
}

/* tls_server_check - report every TLS configuration problem */
int
tls_server_check(const struct settings *s,
    void (*report)(const char *msg, void *arg), void *arg)
{
	char err[1024];
	SSL_CTX *ctx;

	if (!tls_server_wanted(s))
		return 0;
	if (s->smtpd_tls_cert_file[0] == '\0') {
		snprintf(err, sizeof(err), "%s is set but smtpd_tls_cert_file "
		    "is not: submission needs TLS",
		    s->submissions_listen.n > 0 ? "submissions_listen" :
		    s->submission_listen.n > 0 ? "submission_listen" :
		    "smtpd_tls_key_file");
		report(err, arg);
		return 1;
	}
	if ((ctx = tls_server_ctx_new(s, err, sizeof(err))) == NULL) {
		report(err, arg);
		return 1;
	}
	SSL_CTX_free(ctx);
	return 0;
}

/* tls_server_describe - protocol, cipher and its strength */
void
tls_server_describe(SSL *ssl, char *buf, size_t size)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int alg = 0, bits = 0;

	if (c != NULL)
		bits = SSL_CIPHER_get_bits(c, &alg);
	snprintf(buf, size, "%s with cipher %s (%d/%d bits)",
	    SSL_get_version(ssl), c != NULL ? SSL_CIPHER_get_name(c) :
	    "unknown", bits, alg);
}
