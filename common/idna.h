/*
 * idna - internationalised domain names to the A-labels DNS knows
 * (RFC 5890 2.3.2.1): each label with non-ASCII characters becomes
 * "xn--" and its Punycode (RFC 3492) form.
 *
 * Used where a domain from an SMTPUTF8 address is looked up in DNS.
 * Only the encoding is done: the U-label is taken as it came (RFC 5891
 * expects it in lower case and NFC already; no Unicode case mapping or
 * normalisation is applied here), ASCII letters are lowered.
 */
#ifndef TERN_IDNA_H
#define TERN_IDNA_H

#include <stddef.h>
#include <stdint.h>

/*
 * punycode_encode - the Punycode of the n code points cp (RFC 3492 6.3),
 * NUL-terminated in out[0..outsize).  Returns its length, or -1 when it
 * does not fit or would overflow.
 */
int punycode_encode(const uint32_t *cp, size_t n, char *out, size_t outsize);

/*
 * idna_to_ascii - domain (UTF-8, len octets) with every non-ASCII label
 * as its A-label, lowercased, in out[0..outsize).  Returns the length, or
 * -1 when the domain is not well-formed UTF-8, has ASCII other than
 * letters, digits, '-' and the dots, a label is empty or longer than
 * 63 octets once encoded, or the name is longer than 253.
 */
int idna_to_ascii(const char *domain, size_t len, char *out, size_t outsize);

#endif
