/*
 * dns_tlsa - TLSA records (RFC 6698 2.1): the wire form of one record's
 * data, what makes a record usable for SMTP (RFC 7672 3.1.3), and the
 * name they are found at (_port._tcp.host, RFC 6698 3).
 *
 * Pure logic, no I/O: dns.c calls dns_tlsa_parse for every TLSA record
 * of an answer, deliverd's DANE policy (smtp_dane.c) the rest; the unit
 * tests and the DNS fuzz target feed it hostile octets.
 */
#ifndef TERN_DNS_TLSA_H
#define TERN_DNS_TLSA_H

#include <stddef.h>
#include <stdint.h>

/*
 * The longest association data kept.  SHA-256 (32) and SHA-512 (64)
 * digests are what RFC 7671 10.1 recommends; matching type 0 carries a
 * whole key (an RSA-4096 SubjectPublicKeyInfo is about 550 octets) or
 * certificate.  A record with more data than this is treated as
 * malformed, so unusable (RFC 7671 4.1): one never fits half a key.
 */
#define DNS_TLSA_DATA_MAX	1024

#define DNS_TLSA_DANE_TA	2	/* usage: trust anchor in the chain */
#define DNS_TLSA_DANE_EE	3	/* usage: the server's own certificate */

struct dns_tlsa {
	uint8_t		 usage;		/* 0-3 (RFC 6698 2.1.1) */
	uint8_t		 selector;	/* 0 certificate, 1 SPKI */
	uint8_t		 mtype;		/* 0 exact, 1 SHA-256, 2 SHA-512 */
	int		 malformed;	/* too short, too long, bad digest size */
	uint16_t	 len;		/* of data */
	unsigned char	 data[DNS_TLSA_DATA_MAX];
};

/*
 * dns_tlsa_parse - the rdata of one TLSA record (rdlen octets, untrusted)
 * into t.  Always 0: a record that cannot be used is kept, marked
 * malformed, since RFC 7672 2.2 tells an RRset of unusable records apart
 * from no records at all.
 */
int dns_tlsa_parse(const unsigned char *rdata, size_t rdlen,
    struct dns_tlsa *t);

/*
 * dns_tlsa_usable - t is a record an SMTP client can use (RFC 7672
 * 3.1.3): DANE-TA(2) or DANE-EE(3), selector 0 or 1, matching type 0, 1
 * or 2 with data of the right size, not malformed.  PKIX-TA(0) and
 * PKIX-EE(1) are not: a server's CA is no business of a sending MTA.
 */
int dns_tlsa_usable(const struct dns_tlsa *t);

/*
 * dns_tlsa_name - "_port._tcp.host" into buf; 0, or -1 when it does not
 * fit a domain name.
 */
int dns_tlsa_name(const char *host, int port, char *buf, size_t size);

/*
 * dns_tlsa_format - "3 1 1 a1b2c3..." (the data cut to 16 octets with
 * "..." after it) into buf, for the log.
 */
void dns_tlsa_format(const struct dns_tlsa *t, char *buf, size_t size);

#endif
