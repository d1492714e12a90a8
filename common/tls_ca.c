/*
 * tls_ca - CA certificates as DER in memory, decoded into an X509_STORE
 * only when a verification needs them (tls_ca.h).
 *
 * Used by tls_client: the files are read before the chroot, the lookup
 * runs inside it and never touches the file system.  The index never
 * changes once attached, so a lookup only reads it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tls_ca.h"
#include "xmalloc.h"

#define TLS_CA_CERTS_MAX	100000	/* certificates in an index */
#define TLS_CA_BLOCKS_MAX	1000000	/* PEM blocks read from a file */

struct tls_ca_cert {
	unsigned long	 hash;	/* X509_NAME_hash_ex of the subject */
	unsigned char	*der;	/* i2d_X509_AUX, OPENSSL_malloc'd */
	size_t		 len;
};

struct tls_ca {
	struct tls_ca_cert	*cert;
	size_t			 n, cap;
	int			 sorted;	/* by hash, each once */
	int			 attached;	/* a store owns it */
};

static X509_LOOKUP_METHOD *tls_ca_method;

/* tls_ca_new - an empty index */
struct tls_ca *
tls_ca_new(void)
{
	return xcalloc(1, sizeof(struct tls_ca));
}

/* tls_ca_free - the index and every DER copy */
void
tls_ca_free(struct tls_ca *ca)
{
	if (ca == NULL)
		return;
	for (size_t i = 0; i < ca->n; i++)
		OPENSSL_free(ca->cert[i].der);
	free(ca->cert);
	free(ca);
}

/* tls_ca_name_hash - the subject hash of the index; 0 for every name
 * should SHA-1 be unavailable (lookups then compare every name) */
static unsigned long
tls_ca_name_hash(const X509_NAME *name)
{
	int ok = 0;
	unsigned long h = X509_NAME_hash_ex(name, NULL, NULL, &ok);

	return ok ? h : 0;
}

/* tls_ca_add - x's DER and subject hash into ca; 0, or -1 if x cannot be
 * encoded */
static int
tls_ca_add(struct tls_ca *ca, X509 *x)
{
	unsigned char *der = NULL;
	int len = i2d_X509_AUX(x, &der);

	if (len <= 0)
		return -1;
	if (ca->n == ca->cap) {
		ca->cap = ca->cap ? ca->cap * 2 : 64;
		ca->cert = xreallocarray(ca->cert, ca->cap,
		    sizeof(ca->cert[0]));
	}
	ca->cert[ca->n].hash = tls_ca_name_hash(X509_get_subject_name(x));
	ca->cert[ca->n].der = der;
	ca->cert[ca->n].len = (size_t)len;
	ca->n++;
	ca->sorted = 0;
	return 0;
}

/* tls_ca_no_password - an encrypted PEM block is skipped, never prompted
 * for */
static int
tls_ca_no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* tls_ca_add_bio - the certificates of one PEM stream (tls_ca_add_file) */
static int
tls_ca_add_bio(struct tls_ca *ca, BIO *in)
{
	unsigned long e;
	X509 *x;
	int added = 0;

	for (int b = 0; b < TLS_CA_BLOCKS_MAX && ca->n < TLS_CA_CERTS_MAX;
	    b++) {
		if ((x = PEM_read_bio_X509_AUX(in, NULL, tls_ca_no_password,
		    NULL)) != NULL) {
			/* Parsed once to check it and take its subject. */
			if (tls_ca_add(ca, x) == 0)
				added++;
			X509_free(x);
			continue;
		}
		/* No further BEGIN line means the end of the file; any
		 * other error consumed one bad block, and the next may
		 * be good. */
		e = ERR_peek_last_error();
		ERR_clear_error();
		if ((ERR_GET_LIB(e) == ERR_LIB_PEM &&
		    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) || BIO_eof(in))
			break;
	}
	return added;
}

/* tls_ca_add_file - the certificates of one PEM file */
int
tls_ca_add_file(struct tls_ca *ca, const char *path)
{
	BIO *in;
	int added;

	if (ca->attached || (in = BIO_new_file(path, "r")) == NULL) {
		ERR_clear_error();
		return -1;
	}
	added = tls_ca_add_bio(ca, in);
	BIO_free(in);
	return added;
}

/* tls_ca_add_fd - the certificates of the PEM file open on fd, read from
 * its start; fd stays open */
int
tls_ca_add_fd(struct tls_ca *ca, int fd)
{
	BIO *in;
	int added;

	if (ca->attached || lseek(fd, 0, SEEK_SET) != 0 ||
	    (in = BIO_new_fd(fd, BIO_NOCLOSE)) == NULL) {
		ERR_clear_error();
		return -1;
	}
	added = tls_ca_add_bio(ca, in);
	BIO_free(in);
	return added;
}

/* tls_ca_cert_cmp - by subject hash, then by DER (so that duplicates are
 * neighbours) */
static int
tls_ca_cert_cmp(const void *a, const void *b)
{
	const struct tls_ca_cert *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->der, y->der, x->len);
}

/* tls_ca_sort - sorted by hash, each certificate once */
static void
tls_ca_sort(struct tls_ca *ca)
{
	size_t i, out = 0;

	if (ca->sorted)
		return;
	if (ca->n > 1)
		qsort(ca->cert, ca->n, sizeof(ca->cert[0]), tls_ca_cert_cmp);
	for (i = 0; i < ca->n; i++) {
		if (out > 0 && tls_ca_cert_cmp(&ca->cert[out - 1],
		    &ca->cert[i]) == 0)
			OPENSSL_free(ca->cert[i].der);
		else
			ca->cert[out++] = ca->cert[i];
	}
	ca->n = out;
	ca->sorted = 1;
}

/* tls_ca_count - distinct certificates */
size_t
tls_ca_count(struct tls_ca *ca)
{
	tls_ca_sort(ca);
	return ca->n;
}

/* tls_ca_first - the index of the first certificate with hash h (ca->n
 * if there is none); ca is sorted */
static size_t
tls_ca_first(const struct tls_ca *ca, unsigned long h)
{
	size_t lo = 0, hi = ca->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ca->cert[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * tls_ca_by_subject - the X509_LOOKUP method's get_by_subject: every
 * certificate of the index whose subject is name goes into the store
 * (OpenSSL's issuer search then looks at all of them, which is what
 * certificates with equal subjects, as when cross-signed, need), and ret
 * gets the store's first one.  1 found, 0 not.
 *
 * Reference counts, as OpenSSL 3's own hashed-directory lookup (by_dir)
 * does: the caller (X509_STORE_CTX_get_by_subject) passes ret empty
 * (X509_LU_NONE) and takes its own reference to whatever ret holds, so
 * ret must only borrow the store's: X509_OBJECT_set1_X509 takes one more
 * reference, which the X509_free gives back.
 */
static int
tls_ca_by_subject(X509_LOOKUP *lu, X509_LOOKUP_TYPE type,
    const X509_NAME *name, X509_OBJECT *ret)
{
	const struct tls_ca *ca = X509_LOOKUP_get_method_data(lu);
	X509_STORE *store = X509_LOOKUP_get_store(lu);
	const unsigned char *p;
	X509_OBJECT *obj;
	X509 *x;
	unsigned long h;
	size_t i;
	int found = 0;

	if (type != X509_LU_X509 || ca == NULL || store == NULL ||
	    name == NULL)
		return 0;
	/* What fails here is not the verification's to report. */
	ERR_set_mark();
	h = tls_ca_name_hash(name);
	for (i = tls_ca_first(ca, h); i < ca->n && ca->cert[i].hash == h;
	    i++) {
		p = ca->cert[i].der;
		if ((x = d2i_X509_AUX(NULL, &p, (long)ca->cert[i].len)) ==
		    NULL)
			continue;
		if (X509_NAME_cmp(X509_get_subject_name(x), name) == 0)
			(void)X509_STORE_add_cert(store, x);
		X509_free(x);
	}
	if (X509_STORE_lock(store)) {
		obj = X509_OBJECT_retrieve_by_subject(
		    X509_STORE_get0_objects(store), X509_LU_X509, name);
		x = obj != NULL ? X509_OBJECT_get0_X509(obj) : NULL;
		if (x != NULL && X509_OBJECT_set1_X509(ret, x)) {
			X509_free(x);
			found = 1;
		}
		X509_STORE_unlock(store);
	}
	ERR_pop_to_mark();
	return found;
}

/* tls_ca_lookup_free - the lookup's index goes with it (X509_LOOKUP_free,
 * from X509_STORE_free) */
static void
tls_ca_lookup_free(X509_LOOKUP *lu)
{
	tls_ca_free(X509_LOOKUP_get_method_data(lu));
	X509_LOOKUP_set_method_data(lu, NULL);
}

/* tls_ca_attach - a lookup of ca on store */
int
tls_ca_attach(struct tls_ca *ca, X509_STORE *store)
{
	X509_LOOKUP *lu;

	if (ca->attached)
		return -1;
	if (tls_ca_method == NULL) {
		if ((tls_ca_method = X509_LOOKUP_meth_new("tern in-memory CA "
		    "index")) == NULL)
			return -1;
		X509_LOOKUP_meth_set_get_by_subject(tls_ca_method,
		    tls_ca_by_subject);
		X509_LOOKUP_meth_set_free(tls_ca_method, tls_ca_lookup_free);
	}
	/* One index per store: add_lookup returns an existing one. */
	if ((lu = X509_STORE_add_lookup(store, tls_ca_method)) == NULL ||
	    X509_LOOKUP_get_method_data(lu) != NULL)
		return -1;
	tls_ca_sort(ca);
	X509_LOOKUP_set_method_data(lu, ca);
	ca->attached = 1;
	return 0;
}
