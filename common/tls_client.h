/*
 * tls_client - OpenSSL for the client side of STARTTLS (smtp transport).
 *
 * One SSL_CTX per process, made before privileges are dropped (the CA
 * certificates are read then, since they are not inside the chroot).
 * Sessions run on non-blocking sockets; every call waits at most until
 * its deadline, an absolute time from deadline.h that the caller fixes
 * for a whole step (a handshake, a reply, a command), so that it is not
 * extended by each record the peer sends.
 * The handshake itself never fails on a certificate: opportunistic TLS
 * does not verify the peer (a failed verification would only push the
 * mail back to plaintext), and the verifying levels (tls_policy.h) ask
 * tls_client_verify afterwards, so that the log and the deferral can say
 * what was wrong instead of "handshake failure".
 */
#ifndef TERN_TLS_CLIENT_H
#define TERN_TLS_CLIENT_H

#include <sys/types.h>
#include <stddef.h>

typedef struct ssl_st SSL;

struct tls_dane;
struct tls_names;

/*
 * tls_client_init - before the chroot: open what the client SSL_CTX will
 * be built from (the OpenSSL configuration, and with load_ca the CA
 * certificates: cafile, or the system bundle when cafile is NULL or "")
 * and read every file in the directory capath (NULL or "" none).
 * Without load_ca certificates are not verified, only described.  0, or
 * -1 with a reason in err (a named cafile or capath that cannot be
 * read).  Nothing is parsed until tls_client_ready.
 */
int tls_client_init(int load_ca, const char *cafile, const char *capath,
    char *err, size_t errsize);

/*
 * tls_client_ready - the process's client SSL_CTX (TLS 1.2 minimum), built
 * from what tls_client_init opened, once; call it before forking the
 * processes that will use it, so that they share it (tls_client_handshake
 * builds it in a process that did not).  0, or -1 with a reason in err.
 */
int tls_client_ready(char *err, size_t errsize);

/*
 * tls_client_verify - after the handshake: the peer's chain ends at a
 * trusted CA, and one of its names matches one of names (tls_name_match).
 * 0, or -1 with the failure in reason ("certificate expired", "self-signed
 * certificate", "untrusted issuer", "name mismatch: ..."), printable.
 */
int tls_client_verify(SSL *ssl, const struct tls_names *names, char *reason,
    size_t reasonsize);

/*
 * tls_client_handshake - start TLS on the connected non-blocking socket
 * fd (SNI = servername unless it is an address); with dane (else NULL)
 * the chain is matched against its TLSA records (tls_dane_verify reads
 * the verdict).  The whole handshake must be done by deadline.  Returns
 * the session (caller frees with tls_client_free), or NULL with a reason
 * in err.
 */
SSL *tls_client_handshake(int fd, const char *servername,
    const struct tls_dane *dane, long long deadline, char *err,
    size_t errsize);

/*
 * tls_client_read - up to len octets, waiting at most until deadline.
 * Returns the count, 0 at a clean close, -1 on error or timeout (errno
 * ETIMEDOUT for a timeout).
 */
ssize_t tls_client_read(SSL *ssl, int fd, void *buf, size_t len,
    long long deadline);
/* tls_client_write - all of buf by deadline; 0 or -1 (errno ETIMEDOUT for
 * a timeout) */
int tls_client_write(SSL *ssl, int fd, const void *buf, size_t len,
    long long deadline);

/*
 * tls_client_describe - "TLSv1.3 with cipher X (256/256 bits)" into buf;
 * peer gets the certificate subject (or "no certificate") and
 * verify the verification outcome ("verified" or the reason).
 */
void tls_client_describe(SSL *ssl, char *buf, size_t bufsize, char *peer,
    size_t peersize, char *verify, size_t verifysize);

/* tls_client_free - close_notify (best effort, no waiting) and free */
void tls_client_free(SSL *ssl);

#endif
