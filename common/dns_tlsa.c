/*
 * dns_tlsa - TLSA record data (dns_tlsa.h).
 *
 * The octets come from DNS answers: every length is checked before it is
 * used, and a record that does not fit is marked, never cut to fit.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "dns.h"
#include "dns_tlsa.h"

#define TLSA_SHA256_LEN	32
#define TLSA_SHA512_LEN	64

/* dns_tlsa_parse - usage, selector, matching type, then the data */
int
dns_tlsa_parse(const unsigned char *rdata, size_t rdlen, struct dns_tlsa *t)
{
	memset(t, 0, sizeof(*t));
	if (rdlen < 4 || rdlen - 3 > DNS_TLSA_DATA_MAX) {
		t->malformed = 1;
		return 0;
	}
	t->usage = rdata[0];
	t->selector = rdata[1];
	t->mtype = rdata[2];
	t->len = (uint16_t)(rdlen - 3);
	memcpy(t->data, rdata + 3, t->len);
	if ((t->mtype == 1 && t->len != TLSA_SHA256_LEN) ||
	    (t->mtype == 2 && t->len != TLSA_SHA512_LEN))
		t->malformed = 1;
	return 0;
}

/* dns_tlsa_usable - DANE-TA or DANE-EE, a selector and a matching type
 * we know, well-formed */
int
dns_tlsa_usable(const struct dns_tlsa *t)
{
	return !t->malformed && t->len > 0 &&
	    (t->usage == DNS_TLSA_DANE_TA || t->usage == DNS_TLSA_DANE_EE) &&
	    t->selector <= 1 && t->mtype <= 2;
}

/* dns_tlsa_name - _port._tcp.host */
int
dns_tlsa_name(const char *host, int port, char *buf, size_t size)
{
	size_t hl = strlen(host);
	int n;

	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (hl == 0 || port < 1 || port > 65535)
		return -1;
	n = snprintf(buf, size, "_%d._tcp.%.*s", port, (int)hl, host);
	if (n < 0 || (size_t)n >= size || (size_t)n > DNS_NAME_MAX)
		return -1;
	return 0;
}

/* dns_tlsa_format - the record as a zone file shows it, data shortened */
void
dns_tlsa_format(const struct dns_tlsa *t, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	char data[2 * 16 + 4];
	size_t i, o = 0;

	for (i = 0; i < t->len && i < 16; i++) {
		data[o++] = hex[t->data[i] >> 4];
		data[o++] = hex[t->data[i] & 15];
	}
	if (t->len > 16) {
		memcpy(data + o, "...", 3);
		o += 3;
	}
	data[o] = '\0';
	snprintf(buf, size, "%u %u %u %s", t->usage, t->selector, t->mtype,
	    data);
}
