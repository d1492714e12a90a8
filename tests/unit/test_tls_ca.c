/*
 * test_tls_ca - the in-memory CA index: a verification finds its issuer
 * among many and parses only that one, certificates with equal subjects
 * are all offered, text and bad blocks between PEM certificates are
 * skipped, duplicates count once, an empty or missing bundle holds
 * nothing, and the store's reference counts stay right (the sanitizer
 * build would see a leak or a use after free).
 *
 * The certificates are made here with OpenSSL (P-256 keys), written to
 * files in a temporary directory.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check_suites.h"
#include "tls_ca.h"

#define ROOTS	20

static char dir[] = "/tmp/tern-tlsca-XXXXXX";

/* key_new - a P-256 key (caller frees) */
static EVP_PKEY *
key_new(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	ck_assert_ptr_nonnull(k);
	return k;
}

/* ext_add - one extension of x, issued by issuer, from its
 * configuration text */
static void
ext_add(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);

	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/*
 * cert_new - a certificate for cn and key, signed by issuer's name and
 * signkey (itself when issuer is NULL); a CA when ca (caller frees)
 */
static X509 *
cert_new(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *signkey,
    int ca, long serial)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	ck_assert_ptr_nonnull(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : n);
	X509_NAME_free(n);
	X509_set_pubkey(x, key);
	/* Key identifiers tell apart CAs with equal names, as in the
	 * real ones that are cross-signed. */
	ext_add(x, x, NID_subject_key_identifier, "hash");
	if (issuer != NULL)
		ext_add(x, issuer, NID_authority_key_identifier,
		    "keyid:always");
	if (ca) {
		ext_add(x, x, NID_basic_constraints, "critical,CA:TRUE");
		ext_add(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	}
	ck_assert_int_gt(X509_sign(x, issuer != NULL ? signkey : key,
	    EVP_sha256()), 0);
	return x;
}

/* bundle_path - name in the test directory (static buffer) */
static const char *
bundle_path(const char *name)
{
	static char path[sizeof(dir) + 256 + 1];

	ck_assert_uint_lt(strlen(name), 256);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/* pem_append - x as PEM, then text (or NULL), at the end of file name */
static void
pem_append(const char *name, X509 *x, const char *text)
{
	FILE *f = fopen(bundle_path(name), "a");

	ck_assert_ptr_nonnull(f);
	if (x != NULL)
		ck_assert_int_eq(PEM_write_X509(f, x), 1);
	if (text != NULL)
		fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* verify - leaf's chain (with untrusted, or NULL) against store: the
 * X509_V_ code */
static int
verify(X509_STORE *store, X509 *leaf, STACK_OF(X509) *untrusted)
{
	X509_STORE_CTX *c = X509_STORE_CTX_new();
	int rc;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(X509_STORE_CTX_init(c, store, leaf, untrusted), 1);
	rc = X509_verify_cert(c) == 1 ? X509_V_OK :
	    X509_STORE_CTX_get_error(c);
	X509_STORE_CTX_free(c);
	return rc;
}

/* parsed - how many certificates the store holds decoded */
static int
parsed(X509_STORE *store)
{
	return sk_X509_OBJECT_num(X509_STORE_get0_objects(store));
}

/* store_with - a store whose index holds the certificates of file name */
static X509_STORE *
store_with(const char *name, int expect)
{
	X509_STORE *store = X509_STORE_new();
	struct tls_ca *ca = tls_ca_new();

	ck_assert_int_eq(tls_ca_add_file(ca, bundle_path(name)), expect);
	ck_assert_int_eq(tls_ca_attach(ca, store), 0);
	return store;
}

/* A self-signed root and a leaf it signed, each with its own key. */
struct ca_pair {
	EVP_PKEY	*root_key, *leaf_key;
	X509		*root, *leaf;
};

/* pair_make - p's root named root_cn, its leaf leaf_cn; serials from
 * serial on.  pair_free frees them. */
static void
pair_make(struct ca_pair *p, const char *root_cn, const char *leaf_cn,
    long serial)
{
	p->root_key = key_new();
	p->leaf_key = key_new();
	p->root = cert_new(root_cn, p->root_key, NULL, NULL, 1, serial);
	p->leaf = cert_new(leaf_cn, p->leaf_key, p->root, p->root_key, 0,
	    serial + 1);
}

static void
pair_free(struct ca_pair *p)
{
	X509_free(p->root);
	X509_free(p->leaf);
	EVP_PKEY_free(p->root_key);
	EVP_PKEY_free(p->leaf_key);
}

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			ck_assert_int_eq(unlink(bundle_path(de->d_name)), 0);
	closedir(d);
	ck_assert_int_eq(rmdir(dir), 0);
	snprintf(dir, sizeof(dir), "/tmp/tern-tlsca-XXXXXX");
}

START_TEST(test_tls_ca_lookup_parses_only_the_issuer)
{
	EVP_PKEY *key[ROOTS], *lk = key_new();
	X509 *root[ROOTS], *leaf7, *leaf13, *held;
	X509_STORE *store;
	X509_STORE_CTX *c;
	X509_OBJECT *obj;
	char cn[32];

	for (int i = 0; i < ROOTS; i++) {
		key[i] = key_new();
		snprintf(cn, sizeof(cn), "tern test root %d", i);
		root[i] = cert_new(cn, key[i], NULL, NULL, 1, i + 1);
		pem_append("bundle.pem", root[i], NULL);
	}
	leaf13 = cert_new("mx.example", lk, root[13], key[13], 0, 100);
	leaf7 = cert_new("mx.example", lk, root[7], key[7], 0, 101);
	store = store_with("bundle.pem", ROOTS);
	ck_assert_int_eq(parsed(store), 0);
	ck_assert_int_eq(verify(store, leaf13, NULL), X509_V_OK);
	ck_assert_int_eq(parsed(store), 1);
	ck_assert_int_eq(verify(store, leaf13, NULL), X509_V_OK);
	ck_assert_int_eq(parsed(store), 1);
	ck_assert_int_eq(verify(store, leaf7, NULL), X509_V_OK);
	ck_assert_int_eq(parsed(store), 2);

	/* What the lookup answers outlives the store (its reference is the
	 * caller's), asked from the index and then from the store. */
	c = X509_STORE_CTX_new();
	ck_assert_int_eq(X509_STORE_CTX_init(c, store, NULL, NULL), 1);
	obj = X509_STORE_CTX_get_obj_by_subject(c, X509_LU_X509,
	    X509_get_subject_name(root[3]));
	ck_assert_ptr_nonnull(obj);
	ck_assert_int_eq(X509_cmp(X509_OBJECT_get0_X509(obj), root[3]), 0);
	X509_OBJECT_free(obj);
	obj = X509_STORE_CTX_get_obj_by_subject(c, X509_LU_X509,
	    X509_get_subject_name(root[3]));
	ck_assert_ptr_nonnull(obj);
	ck_assert_int_eq(parsed(store), 3);
	ck_assert_ptr_null(X509_STORE_CTX_get_obj_by_subject(c, X509_LU_X509,
	    X509_get_subject_name(leaf7)));
	X509_STORE_CTX_free(c);
	X509_STORE_free(store);
	held = X509_OBJECT_get0_X509(obj);
	ck_assert_int_eq(X509_cmp(held, root[3]), 0);
	X509_OBJECT_free(obj);

	for (int i = 0; i < ROOTS; i++) {
		X509_free(root[i]);
		EVP_PKEY_free(key[i]);
	}
	X509_free(leaf13);
	X509_free(leaf7);
	EVP_PKEY_free(lk);
}
END_TEST

START_TEST(test_tls_ca_equal_subjects_are_all_offered)
{
	EVP_PKEY *ka = key_new(), *kb = key_new(), *ki = key_new(),
	    *lk = key_new();
	X509 *a = cert_new("tern shared CA", ka, NULL, NULL, 1, 1);
	X509 *b = cert_new("tern shared CA", kb, NULL, NULL, 1, 2);
	X509 *inter = cert_new("tern intermediate", ki, b, kb, 1, 3);
	X509 *leaf_a = cert_new("a.example", lk, a, ka, 0, 4);
	X509 *leaf_i = cert_new("i.example", lk, inter, ki, 0, 5);
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509_STORE *store;

	pem_append("shared.pem", a, NULL);
	pem_append("shared.pem", b, NULL);
	store = store_with("shared.pem", 2);
	/* Through an intermediate the peer sends, to the second of two
	 * CAs named alike: both are taken from the index at once. */
	sk_X509_push(chain, inter);
	ck_assert_int_eq(verify(store, leaf_i, chain), X509_V_OK);
	ck_assert_int_eq(parsed(store), 2);
	ck_assert_int_eq(verify(store, leaf_a, NULL), X509_V_OK);
	ck_assert_int_eq(parsed(store), 2);
	X509_STORE_free(store);

	/* In the other order in the file too. */
	pem_append("reversed.pem", b, NULL);
	pem_append("reversed.pem", a, NULL);
	store = store_with("reversed.pem", 2);
	ck_assert_int_eq(verify(store, leaf_a, NULL), X509_V_OK);
	ck_assert_int_eq(verify(store, leaf_i, chain), X509_V_OK);
	X509_STORE_free(store);

	sk_X509_free(chain);
	X509_free(a);
	X509_free(b);
	X509_free(inter);
	X509_free(leaf_a);
	X509_free(leaf_i);
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
	EVP_PKEY_free(ki);
	EVP_PKEY_free(lk);
}
END_TEST

START_TEST(test_tls_ca_junk_between_blocks_is_skipped)
{
	struct ca_pair one, two;
	X509_STORE *store;

	pair_make(&one, "tern junk root 1", "one.example", 1);
	pair_make(&two, "tern junk root 2", "two.example", 3);

	pem_append("junk.pem", NULL, "# A comment, then a certificate\n"
	    "Subject: CN=tern junk root 1\n");
	pem_append("junk.pem", one.root, "text after it\n"
	    "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"
	    "-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n"
	    "-----END CERTIFICATE-----\n"
	    "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n"
	    "-----END CERTIFICATE-----\n"
	    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
	    "\n\n");
	pem_append("junk.pem", two.root, "trailing text, no newline");
	store = store_with("junk.pem", 2);
	ck_assert_int_eq(verify(store, two.leaf, NULL), X509_V_OK);
	ck_assert_int_eq(verify(store, one.leaf, NULL), X509_V_OK);
	ck_assert_int_eq(parsed(store), 2);
	X509_STORE_free(store);

	pair_free(&one);
	pair_free(&two);
}
END_TEST

START_TEST(test_tls_ca_duplicates_count_once)
{
	struct ca_pair p;
	struct tls_ca *ca = tls_ca_new();
	X509_STORE *store = X509_STORE_new();

	pair_make(&p, "tern duplicated root", "dup.example", 1);
	for (int i = 0; i < 3; i++)
		pem_append("dup.pem", p.root, NULL);
	ck_assert_int_eq(tls_ca_add_file(ca, bundle_path("dup.pem")), 3);
	ck_assert_int_eq(tls_ca_add_file(ca, bundle_path("dup.pem")), 3);
	ck_assert_uint_eq(tls_ca_count(ca), 1);
	ck_assert_int_eq(tls_ca_attach(ca, store), 0);
	ck_assert_int_eq(verify(store, p.leaf, NULL), X509_V_OK);
	ck_assert_int_eq(parsed(store), 1);
	X509_STORE_free(store);

	pair_free(&p);
}
END_TEST

/* A bundle opened before a chroot is read through its descriptor: from
 * its start whatever the offset, which stays open for the caller. */
START_TEST(test_tls_ca_reads_an_open_descriptor_from_its_start)
{
	struct ca_pair p;
	struct tls_ca *ca = tls_ca_new();
	X509_STORE *store = X509_STORE_new();
	char c;
	int fd;

	pair_make(&p, "tern descriptor root", "fd.example", 1);
	pem_append("fd.pem", p.root, "a line of text first\n");
	fd = open(bundle_path("fd.pem"), O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_END) > 0, 1);
	ck_assert_int_eq(tls_ca_add_fd(ca, fd), 1);
	ck_assert_int_eq(tls_ca_add_fd(ca, fd), 1);
	ck_assert_int_eq(pread(fd, &c, 1, 0), 1);
	close(fd);
	ck_assert_uint_eq(tls_ca_count(ca), 1);
	ck_assert_int_eq(tls_ca_attach(ca, store), 0);
	ck_assert_int_eq(tls_ca_add_fd(ca, 0), -1);
	ck_assert_int_eq(verify(store, p.leaf, NULL), X509_V_OK);
	X509_STORE_free(store);

	pair_free(&p);
}
END_TEST

START_TEST(test_tls_ca_empty_or_missing_bundle_holds_nothing)
{
	struct ca_pair p;
	struct tls_ca *ca = tls_ca_new();
	X509_STORE *store;

	pair_make(&p, "tern absent root", "none.example", 1);
	ck_assert_int_eq(tls_ca_add_file(ca, bundle_path("missing.pem")), -1);
	ck_assert_uint_eq(tls_ca_count(ca), 0);
	tls_ca_free(ca);

	pem_append("empty.pem", NULL, "");
	store = store_with("empty.pem", 0);
	ck_assert_int_eq(verify(store, p.leaf, NULL),
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	ck_assert_int_eq(parsed(store), 0);
	X509_STORE_free(store);

	pem_append("text.pem", NULL, "no certificates here\n");
	store = store_with("text.pem", 0);
	ck_assert_int_eq(verify(store, p.leaf, NULL),
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	X509_STORE_free(store);

	pair_free(&p);
}
END_TEST

START_TEST(test_tls_ca_one_index_per_store)
{
	struct tls_ca *a = tls_ca_new(), *b = tls_ca_new();
	X509_STORE *store = X509_STORE_new();

	ck_assert_int_eq(tls_ca_attach(a, store), 0);
	ck_assert_int_eq(tls_ca_attach(a, store), -1);
	ck_assert_int_eq(tls_ca_attach(b, store), -1);
	ck_assert_int_eq(tls_ca_add_file(a, "/dev/null"), -1);
	tls_ca_free(b);
	X509_STORE_free(store);
}
END_TEST

Suite *
tls_ca_suite(void)
{
	Suite *s = suite_create("tls_ca");
	TCase *tc = tcase_create("index");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_tls_ca_lookup_parses_only_the_issuer);
	tcase_add_test(tc, test_tls_ca_equal_subjects_are_all_offered);
	tcase_add_test(tc, test_tls_ca_junk_between_blocks_is_skipped);
	tcase_add_test(tc, test_tls_ca_duplicates_count_once);
	tcase_add_test(tc, test_tls_ca_reads_an_open_descriptor_from_its_start);
	tcase_add_test(tc, test_tls_ca_empty_or_missing_bundle_holds_nothing);
	tcase_add_test(tc, test_tls_ca_one_index_per_store);
	suite_add_tcase(s, tc);
	return s;
}
