/*
 * tls_client - the STARTTLS client side with OpenSSL 3.
 *
 * Called by deliverd's smtp client.  It must never block past a deadline
 * (the socket is non-blocking and every wait is a bounded poll), never
 * fail a delivery because a certificate does not verify (opportunistic
 * TLS, RFC 3207 and RFC 7435), and never load anything after the chroot.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "deadline.h"
#include "tls_client.h"

static SSL_CTX *ctx;

/* ssl_error - the latest OpenSSL error (or what) into err */
static void
ssl_error(char *err, size_t errsize, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, errsize, "%s: %s", what, buf);
	} else
		snprintf(err, errsize, "%s", what);
	ERR_clear_error();
}

static int ca_loaded;	/* the CA bundle is in ctx's store */

/* tls_client_init - one SSL_CTX, with the CA store read now if asked */
int
tls_client_init(int load_ca, char *err, size_t errsize)
{
	const char *bundle = X509_get_default_cert_file();

	if (ctx != NULL)
		return 0;
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS |
	    OPENSSL_INIT_LOAD_CONFIG, NULL);
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		ssl_error(err, errsize, "SSL_CTX_new");
		return -1;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/*
	 * The bundle is read into memory here: a hashed CA directory would
	 * be searched lazily during a handshake, from inside the chroot,
	 * where it does not exist.  Parsed, the bundle takes over a megabyte
	 * of every smtp transport process, so it is read only when some
	 * security level needs a verified certificate; otherwise, as with
	 * Postfix without smtp_tls_CAfile, a certificate is only described.
	 */
	if (load_ca && access(bundle, R_OK) == 0) {
		if (SSL_CTX_load_verify_file(ctx, bundle) == 1)
			ca_loaded = 1;
		else
			ERR_clear_error();
	}
	return 0;
}

/*
 * ssl_wait - after an SSL call returned rc, wait for what it wants until
 * the deadline.  1 retry, 0 done with a real error, -1 timeout.
 */
static int
ssl_wait(SSL *ssl, int fd, int rc, long long deadline)
{
	int e = SSL_get_error(ssl, rc);

	if (e == SSL_ERROR_WANT_READ)
		return deadline_poll(fd, POLLIN, deadline) > 0 ? 1 : -1;
	if (e == SSL_ERROR_WANT_WRITE)
		return deadline_poll(fd, POLLOUT, deadline) > 0 ? 1 : -1;
	return 0;
}

/* tls_client_handshake - SSL_connect with a deadline */
SSL *
tls_client_handshake(int fd, const char *servername, long long deadline,
    char *err, size_t errsize)
{
	struct in6_addr a;
	SSL *ssl;
	int rc, w;

	if (ctx == NULL || (ssl = SSL_new(ctx)) == NULL) {
		ssl_error(err, errsize, "cannot create a TLS session");
		return NULL;
	}
	SSL_set_fd(ssl, fd);
	/* RFC 6066: SNI carries a host name, never an address literal. */
	if (servername != NULL && servername[0] != '\0' &&
	    inet_pton(AF_INET, servername, &a) != 1 &&
	    inet_pton(AF_INET6, servername, &a) != 1)
		SSL_set_tlsext_host_name(ssl, servername);
	for (;;) {
		ERR_clear_error();
		if ((rc = SSL_connect(ssl)) == 1)
			return ssl;
		if ((w = ssl_wait(ssl, fd, rc, deadline)) == 1)
			continue;
		if (w == -1)
			snprintf(err, errsize, "TLS handshake timed out");
		else
			ssl_error(err, errsize, "TLS handshake failed");
		SSL_free(ssl);
		return NULL;
	}
}

/* tls_client_read - SSL_read with a deadline */
ssize_t
tls_client_read(SSL *ssl, int fd, void *buf, size_t len, long long deadline)
{
	size_t got;
	int rc, w;

	for (;;) {
		ERR_clear_error();
		if ((rc = SSL_read_ex(ssl, buf, len, &got)) == 1)
			return (ssize_t)got;
		if (SSL_get_error(ssl, rc) == SSL_ERROR_ZERO_RETURN)
			return 0;
		if ((w = ssl_wait(ssl, fd, rc, deadline)) == 1)
			continue;
		errno = w == -1 ? ETIMEDOUT : ECONNRESET;
		ERR_clear_error();
		return -1;
	}
}

/* tls_client_write - SSL_write_ex until everything is out */
int
tls_client_write(SSL *ssl, int fd, const void *buf, size_t len,
    long long deadline)
{
	const unsigned char *p = buf;
	size_t done = 0, n;
	int rc, w;

	while (done < len) {
		ERR_clear_error();
		if ((rc = SSL_write_ex(ssl, p + done, len - done, &n)) == 1) {
			done += n;
			continue;
		}
		if ((w = ssl_wait(ssl, fd, rc, deadline)) == 1)
			continue;
		errno = w == -1 ? ETIMEDOUT : EPIPE;
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* tls_client_describe - protocol, cipher, peer subject, verification */
void
tls_client_describe(SSL *ssl, char *buf, size_t bufsize, char *peer,
    size_t peersize, char *verify, size_t verifysize)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	X509 *cert = SSL_get1_peer_certificate(ssl);
	long vr = SSL_get_verify_result(ssl);
	int alg = 0, bits = c != NULL ? SSL_CIPHER_get_bits(c, &alg) : 0;

	snprintf(buf, bufsize, "%s with cipher %s (%d/%d bits)",
	    SSL_get_version(ssl), c != NULL ? SSL_CIPHER_get_name(c) : "?",
	    bits, alg);
	if (cert != NULL) {
		X509_NAME_oneline(X509_get_subject_name(cert), peer,
		    (int)peersize);
		X509_free(cert);
		snprintf(verify, verifysize, "%s", !ca_loaded ?
		    "not verified (no CA certificates loaded at this security "
		    "level)" : vr == X509_V_OK ? "verified" :
		    X509_verify_cert_error_string(vr));
	} else {
		snprintf(peer, peersize, "no certificate");
		snprintf(verify, verifysize, "not verified");
	}
}

/* tls_client_free - a best-effort close_notify, then free */
void
tls_client_free(SSL *ssl)
{
	if (ssl == NULL)
		return;
	ERR_clear_error();
	(void)SSL_shutdown(ssl);
	ERR_clear_error();
	SSL_free(ssl);
}
