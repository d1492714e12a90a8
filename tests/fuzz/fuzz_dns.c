/*
 * fuzz_dns - libFuzzer target for dns_answer_parse() (common/dns.c), the
 * parser of DNS answers from the network.
 *
 * The first input octet chooses the question (qtype and name; bit 0x20
 * asks for TLSA records, whose data dns_tlsa.c parses) and whether
 * the id is taken from the packet (so that the fuzzer gets past the id
 * check) or fixed; the rest is the packet.  Besides memory errors it
 * checks the contract: DNS_OK comes with 1..DNS_MAX_RR records, all of
 * the type asked for, with NUL-terminated names no longer than
 * DNS_NAME_MAX, TLSA data within DNS_TLSA_DATA_MAX and a usable TLSA
 * record never malformed; any other status has no records and is not
 * secure.  Built by build.sh.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t types[] = {
		DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_CNAME
	};
	static const char *names[] = {
		"example.org", "a.b", "Example.ORG.", "x"
	};
	static struct dns_answer out;
	const unsigned char *pkt;
	enum dns_status st;
	uint16_t qtype, id;
	const char *name;
	size_t len;
	int trunc;

	if (size < 1)
		return 0;
	qtype = data[0] & 0x20 ? DNS_T_TLSA : types[data[0] & 3];
	name = names[(data[0] >> 2) & 3];
	pkt = data + 1;
	len = size - 1;
	id = (data[0] & 0x10) || len < 2 ? 0x1234 :
	    (uint16_t)(pkt[0] << 8 | pkt[1]);
	memset(&out, 0xa5, sizeof(out));
	trunc = -1;
	st = dns_answer_parse(pkt, len, id, name, qtype, &out, &trunc);
	if ((int)st < DNS_OK || st > DNS_REFUSED || st == DNS_TIMEOUT ||
	    (trunc != 0 && trunc != 1))
		abort();
	if (trunc && st != DNS_ERROR)
		abort();
	if (out.secure != 0 && out.secure != 1)
		abort();
	if (st != DNS_OK) {
		if (out.n != 0 || (out.secure && st != DNS_NODATA &&
		    st != DNS_NXDOMAIN))
			abort();
		return 0;
	}
	if (out.n < 1 || out.n > DNS_MAX_RR)
		abort();
	for (int i = 0; i < out.n; i++) {
		const struct dns_rr *rr = &out.rr[i];

		if (rr->type != qtype ||
		    strnlen(rr->name, sizeof(rr->name)) > DNS_NAME_MAX)
			abort();
		/* names reach logs and EHLO targets: printable, lowercase */
		for (const char *c = rr->name; *c != '\0'; c++)
			if (*c <= 0x20 || *c >= 0x7f || (*c >= 'A' && *c <= 'Z'))
				abort();
		if (qtype == DNS_T_TLSA && (rr->tlsa.len > DNS_TLSA_DATA_MAX ||
		    (dns_tlsa_usable(&rr->tlsa) && (rr->tlsa.malformed ||
		    rr->tlsa.len == 0))))
			abort();
	}
	if (qtype == DNS_T_MX)
		dns_mx_sort(out.rr, out.n);
	return 0;
}
