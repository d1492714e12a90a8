/*
 * tls_ca - trusted CA certificates kept in memory as DER and parsed only
 * when a verification asks for one of them.
 *
 * Parsed, the system bundle (about 140 certificates) costs some 3 MiB of
 * private memory in every process that holds it in an X509_STORE, and
 * most connections never verify anything.  An index read before the
 * chroot keeps only each certificate's DER and the hash of its subject
 * (about 200 KiB); a lookup method on the store then decodes, when
 * OpenSSL asks for an issuer by subject name, just the certificates with
 * that subject, and adds them to the store: an in-memory equivalent of
 * OpenSSL's hashed CA directory, usable inside a chroot.
 */
#ifndef TERN_TLS_CA_H
#define TERN_TLS_CA_H

#include <stddef.h>

#include <openssl/x509_vfy.h>

struct tls_ca;

/* tls_ca_new - an empty index; the caller frees it with tls_ca_free,
 * unless it was given to a store with tls_ca_attach */
struct tls_ca *tls_ca_new(void);

/*
 * tls_ca_add_file - every PEM certificate ("CERTIFICATE" or "TRUSTED
 * CERTIFICATE") of path into ca, skipping text, other PEM blocks and
 * blocks that do not decode.  The number added (0 for none), or -1 when
 * path cannot be opened.
 */
int tls_ca_add_file(struct tls_ca *ca, const char *path);

/* tls_ca_add_fd - the same from the file open on fd (read from its
 * start, left open): a file opened before a chroot, read inside it */
int tls_ca_add_fd(struct tls_ca *ca, int fd);

/* tls_ca_count - how many distinct certificates ca holds */
size_t tls_ca_count(struct tls_ca *ca);

/*
 * tls_ca_attach - store asks ca for the certificates of a subject it
 * does not hold yet; ca belongs to store from now on (freed with it) and
 * takes no more certificates.  0, or -1 (ca is then still the caller's).
 */
int tls_ca_attach(struct tls_ca *ca, X509_STORE *store);

/* tls_ca_free - ca and its certificates */
void tls_ca_free(struct tls_ca *ca);

#endif
