/*
 * tls_server - the server side of TLS (OpenSSL 3): one SSL_CTX built
 * from smtpd_tls_cert_file, smtpd_tls_key_file and smtpd_tls_ciphers.
 *
 * smtpd calls tls_server_ctx_new() as root, before it drops privileges
 * (the key is normally readable by root only); "ternd -n" and ternd's
 * start call tls_server_check() so that a missing, unreadable or
 * mismatched key is a configuration error, never a crash at the first
 * client.  Nothing here reads from the network.
 */
#ifndef TERN_TLS_SERVER_H
#define TERN_TLS_SERVER_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "settings.h"

/*
 * tls_server_ctx_new - a server context (TLS 1.2 and 1.3 only, server
 * cipher preference, no compression or renegotiation, session tickets)
 * holding the certificate chain and key of s.  NULL with a reason in err
 * when a file cannot be read, does not parse or the key does not match.
 * The caller frees it with SSL_CTX_free().
 */
SSL_CTX *tls_server_ctx_new(const struct settings *s, char *err,
    size_t errsize);

/* tls_server_wanted - some listener or setting needs the TLS context */
int tls_server_wanted(const struct settings *s);

/*
 * tls_server_check - every TLS problem of s, each passed to report
 * (submission listeners without a certificate, unloadable files);
 * returns how many.
 */
int tls_server_check(const struct settings *s,
    void (*report)(const char *msg, void *arg), void *arg);

/*
 * tls_server_describe - "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384
 * (256/256 bits)" for ssl, into buf (always NUL-terminated).
 */
void tls_server_describe(SSL *ssl, char *buf, size_t size);

/* tls_server_error - the oldest queued OpenSSL error as text (clears it) */
const char *tls_server_error(void);

#endif
