/*
 * tls_client - the STARTTLS client side with OpenSSL 3.
 *
 * Called by deliverd's smtp client.  It must never block past a deadline
 * (the socket is non-blocking and every wait is a bounded poll), never
 * fail a handshake because a certificate does not verify (opportunistic
 * TLS, RFC 3207 and RFC 7435: whether that matters is the security
 * level's to say, through tls_client_verify), and never open a file
 * after the chroot.
 *
 * Why OpenSSL is set up late (tls_client_ready) rather than at start:
 * its configuration and the first SSL_CTX make libcrypto load its
 * provider and touch some 2 MiB of its pages, and the CA bundle's parse
 * another half; an smtp transport that relays nothing (a system MTA for
 * local mail) would hold all of it for ever.  So tls_client_init, before
 * the chroot, only opens what will be read (the OpenSSL configuration
 * file and the CA bundle) and reads smtp_tls_CApath; tls_client_ready
 * reads them through those descriptors and builds the SSL_CTX, in the
 * transport before it starts its first connection process, so that
 * every connection process shares the one built.
 */
#include "config.h"

#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "deadline.h"
#include "log.h"
#include "tls_ca.h"
#include "tls_client.h"
#include "tls_dane.h"
#include "tls_policy.h"

#define TLS_CAPATH_FILES_MAX	10000	/* files read from smtp_tls_CApath */
#define TLS_CERT_NAMES_MAX	100	/* names of a certificate compared */

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

static int ca_loaded;	/* ctx's store has CA certificates to look up */

/* What tls_client_init opened or read for tls_client_ready. */
static struct {
	int		 done;		/* tls_client_init was called */
	int		 conf_fd;	/* OpenSSL's configuration, or -1 */
	int		 load_ca;	/* CA certificates are wanted */
	int		 ca_fd;		/* the bundle or smtp_tls_CAfile, or -1 */
	int		 ca_named;	/* ca_fd is smtp_tls_CAfile */
	char		 ca_path[4096];	/* its name, for errors */
	struct tls_ca	*capath;	/* smtp_tls_CApath's, or NULL */
	char		 failed[256];	/* why tls_client_ready failed, or "" */
} pending = { 0, -1, 0, -1, 0, "", NULL, "" };

/*
 * tls_capath_load - every regular file of dir into ca; 0, or -1 with a
 * reason in err when dir cannot be read.  Files that hold no
 * certificate (a README, a CRL) add nothing.
 */
static int
tls_capath_load(struct tls_ca *ca, const char *dir, char *err,
    size_t errsize)
{
	char path[4096];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int files = 0;

	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errsize, "smtp_tls_CApath %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL && files < TLS_CAPATH_FILES_MAX) {
		if (de->d_name[0] == '.' ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    de->d_name) >= sizeof(path) ||
		    stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		files++;
		(void)tls_ca_add_file(ca, path);
	}
	closedir(d);
	return 0;
}

/*
 * tls_client_ca_load - the CA certificates opened and read by
 * tls_client_init into an index on ctx's store.  0, or -1 with a reason
 * in err (a named smtp_tls_CAfile without a certificate).
 */
static int
tls_client_ca_load(char *err, size_t errsize)
{
	struct tls_ca *ca = pending.capath != NULL ? pending.capath :
	    tls_ca_new();
	int loaded;

	pending.capath = NULL;
	if (pending.ca_fd != -1 && tls_ca_add_fd(ca, pending.ca_fd) <= 0 &&
	    pending.ca_named) {
		snprintf(err, errsize, "cannot read smtp_tls_CAfile %s: no "
		    "PEM certificate in it", pending.ca_path);
		tls_ca_free(ca);
		return -1;
	}
	if (pending.ca_fd != -1) {
		close(pending.ca_fd);
		pending.ca_fd = -1;
	}
	loaded = tls_ca_count(ca) > 0;
	if (tls_ca_attach(ca, SSL_CTX_get_cert_store(ctx)) != 0) {
		tls_ca_free(ca);
		ssl_error(err, errsize, "cannot add the CA index to the store");
		return -1;
	}
	ca_loaded = loaded;
	return 0;
}

/*
 * tls_client_conf_load - OpenSSL's configuration from the file opened by
 * tls_client_init, as OPENSSL_INIT_LOAD_CONFIG would have read it by
 * name: its errors count only when the file says config_diagnostics.
 * 0, or -1 with a reason in err.
 */
static int
tls_client_conf_load(char *err, size_t errsize)
{
	unsigned long flags = CONF_MFLAGS_DEFAULT_SECTION;
	long eline = 0, diagnostics = 0;
	CONF *conf;
	BIO *in;
	int rc = -1;

	if (pending.conf_fd == -1)
		return 0;
	OPENSSL_load_builtin_modules();
	if ((conf = NCONF_new(NULL)) == NULL ||
	    lseek(pending.conf_fd, 0, SEEK_SET) != 0 ||
	    (in = BIO_new_fd(pending.conf_fd, BIO_NOCLOSE)) == NULL) {
		NCONF_free(conf);
		ssl_error(err, errsize, "cannot read the OpenSSL configuration");
		return -1;
	}
	if (NCONF_load_bio(conf, in, &eline) <= 0) {
		snprintf(err, errsize, "the OpenSSL configuration does not "
		    "parse (line %ld)", eline);
		ERR_clear_error();
		goto done;
	}
	if (NCONF_get_number_e(conf, NULL, "config_diagnostics",
	    &diagnostics) != 1)
		diagnostics = 0;
	ERR_clear_error();
	if (!diagnostics)
		flags |= CONF_MFLAGS_IGNORE_ERRORS |
		    CONF_MFLAGS_IGNORE_RETURN_CODES;
	if (CONF_modules_load(conf, NULL, flags) <= 0) {
		ssl_error(err, errsize, "the OpenSSL configuration failed");
		goto done;
	}
	rc = 0;
done:
	BIO_free(in);
	NCONF_free(conf);
	close(pending.conf_fd);
	pending.conf_fd = -1;
	return rc;
}

/*
 * tls_client_init - open what tls_client_ready will read: the OpenSSL
 * configuration, and with load_ca the CA bundle (smtp_tls_CAfile, else
 * the system's); smtp_tls_CApath is read now, file by file (a hashed
 * directory would be searched during a handshake, inside the chroot,
 * where it does not exist).
 */
int
tls_client_init(int load_ca, const char *cafile, const char *capath,
    char *err, size_t errsize)
{
	int named = cafile != NULL && cafile[0] != '\0';
	const char *bundle;
	char *conf;

	if (pending.done || ctx != NULL)
		return 0;
	/* OPENSSL_CONF, else the file OpenSSL was built to read. */
	if ((conf = CONF_get1_default_config_file()) != NULL) {
		pending.conf_fd = open(conf, O_RDONLY | O_CLOEXEC);
		OPENSSL_free(conf);
	}
	pending.load_ca = load_ca;
	/*
	 * Without load_ca (no security level that may verify, no MTA-STS),
	 * as with Postfix without smtp_tls_CAfile, a certificate is only
	 * described.  The certificates are not parsed into the store either
	 * way: the store gets an index of their DER (tls_ca.h, about 250 KiB
	 * for the system bundle against 900 KiB parsed), from which a
	 * verification decodes only the few CAs it asks for.
	 */
	if (load_ca) {
		bundle = named ? cafile : X509_get_default_cert_file();
		pending.ca_named = named;
		strlcpy(pending.ca_path, bundle, sizeof(pending.ca_path));
		if ((pending.ca_fd = open(bundle, O_RDONLY | O_CLOEXEC)) == -1 &&
		    named) {
			snprintf(err, errsize, "cannot read smtp_tls_CAfile %s: "
			    "%s", bundle, strerror(errno));
			return -1;
		}
		if (capath != NULL && capath[0] != '\0') {
			pending.capath = tls_ca_new();
			if (tls_capath_load(pending.capath, capath, err,
			    errsize) != 0) {
				tls_ca_free(pending.capath);
				pending.capath = NULL;
				return -1;
			}
		}
	}
	pending.done = 1;
	return 0;
}

/* tls_client_build - the SSL_CTX of tls_client_ready; 0, or -1 with a
 * reason in err */
static int
tls_client_build(char *err, size_t errsize)
{
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS |
	    OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	/* Before the SSL_CTX, which takes the system_default settings. */
	if (tls_client_conf_load(err, errsize) != 0)
		return -1;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		ssl_error(err, errsize, "SSL_CTX_new");
		return -1;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Costs nothing until a session is given TLSA records. */
	if (tls_dane_ctx_enable(ctx) != 0) {
		ssl_error(err, errsize, "cannot enable DANE");
		return -1;
	}
	if (pending.load_ca && tls_client_ca_load(err, errsize) != 0)
		return -1;
	ERR_clear_error();
	return 0;
}

/*
 * tls_client_ready - the SSL_CTX, built once from what tls_client_init
 * opened: TLS 1.2 minimum, DANE enabled, the CA index.  0 (also when
 * tls_client_init was never called: there is then no TLS), or -1 with a
 * reason in err.  A failure is final: half a context (one without the
 * configuration or the CAs) is never used.  Building it is logged.
 */
int
tls_client_ready(char *err, size_t errsize)
{
	if (pending.failed[0] != '\0') {
		snprintf(err, errsize, "%s", pending.failed);
		return -1;
	}
	if (ctx != NULL || !pending.done)
		return 0;
	if (tls_client_build(err, errsize) == 0) {
		/* Said by each process that builds one: the smtp
		 * transport, once, at its first connection. */
		log_info("TLS client context ready");
		return 0;
	}
	SSL_CTX_free(ctx);
	ctx = NULL;
	snprintf(pending.failed, sizeof(pending.failed), "%s",
	    err[0] != '\0' ? err : "cannot set up TLS");
	return -1;
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

/* tls_client_handshake - SSL_connect with a deadline, DANE if given */
SSL *
tls_client_handshake(int fd, const char *servername,
    const struct tls_dane *dane, long long deadline, char *err,
    size_t errsize)
{
	struct in6_addr a;
	SSL *ssl;
	int rc, w;

	/* A process that was not made ready before it forked builds its
	 * own. */
	if (tls_client_ready(err, errsize) != 0)
		return NULL;
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
	if (dane != NULL && tls_dane_attach(ssl, dane, err, errsize) != 0) {
		SSL_free(ssl);
		return NULL;
	}
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

/* tls_verify_reason - the words for a chain verification result */
static const char *
tls_verify_reason(long vr)
{
	switch (vr) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "certificate expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "certificate not yet valid";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return "self-signed certificate";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		return "untrusted issuer";
	default:
		return X509_verify_cert_error_string(vr);
	}
}

/*
 * tls_names_note - append a certificate name (untrusted: len octets,
 * non-printable octets as '?') to the list in buf, after the first few.
 */
static void
tls_names_note(char *buf, size_t bufsize, const unsigned char *name,
    int len, int nth)
{
	size_t o = strlen(buf);

	if (nth >= 4) {
		if (nth == 4)
			strlcat(buf, ", ...", bufsize);
		return;
	}
	if (nth > 0)
		o = strlcat(buf, ", ", bufsize);
	for (int i = 0; i < len && o + 1 < bufsize; i++)
		buf[o++] = name[i] > 32 && name[i] < 127 ? (char)name[i] : '?';
	buf[o < bufsize ? o : bufsize - 1] = '\0';
}

/* tls_name_any - one presented name against every reference */
static int
tls_name_any(const unsigned char *name, int len, const struct tls_names *ref)
{
	for (int k = 0; k < ref->n; k++)
		if (len > 0 && tls_name_match((const char *)name, (size_t)len,
		    ref->name[k]))
			return 1;
	return 0;
}

/*
 * tls_cert_names_match - RFC 6125 6.4.4: the subjectAltName DNS names,
 * or, only when there are none, the subject's common names.  The names
 * seen go into seen.
 */
static int
tls_cert_names_match(X509 *cert, const struct tls_names *ref, char *seen,
    size_t seensize)
{
	GENERAL_NAMES *sans;
	X509_NAME *subj;
	const unsigned char *s;
	int i, n, len, dns = 0, hit = 0;

	seen[0] = '\0';
	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	n = sans != NULL ? sk_GENERAL_NAME_num(sans) : 0;
	for (i = 0; i < n && i < TLS_CERT_NAMES_MAX && !hit; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);

		if (g->type != GEN_DNS)
			continue;
		s = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		tls_names_note(seen, seensize, s, len, dns++);
		hit = tls_name_any(s, len, ref);
	}
	GENERAL_NAMES_free(sans);
	if (dns > 0 || hit)
		return hit;
	subj = X509_get_subject_name(cert);
	for (i = -1, n = 0; !hit && n < TLS_CERT_NAMES_MAX &&
	    (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0;
	    n++) {
		ASN1_STRING *cn = X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(subj, i));

		s = ASN1_STRING_get0_data(cn);
		len = ASN1_STRING_length(cn);
		tls_names_note(seen, seensize, s, len, n);
		hit = tls_name_any(s, len, ref);
	}
	return hit;
}

/* tls_client_verify - trusted chain, and a name that matches */
int
tls_client_verify(SSL *ssl, const struct tls_names *names, char *reason,
    size_t reasonsize)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	char seen[256], want[256];
	long vr;

	if (cert == NULL) {
		snprintf(reason, reasonsize, "no certificate presented");
		return -1;
	}
	if (!ca_loaded) {
		snprintf(reason, reasonsize, "no CA certificates loaded");
		return -1;
	}
	if ((vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(reason, reasonsize, "%s", tls_verify_reason(vr));
		return -1;
	}
	if (tls_cert_names_match(cert, names, seen, sizeof(seen)))
		return 0;
	want[0] = '\0';
	for (int k = 0; k < names->n; k++) {
		if (k > 0)
			strlcat(want, ", ", sizeof(want));
		strlcat(want, names->name[k], sizeof(want));
	}
	snprintf(reason, reasonsize, "name mismatch: certificate for %s, "
	    "expected %s", seen[0] != '\0' ? seen : "no name",
	    want[0] != '\0' ? want : "no name");
	return -1;
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
