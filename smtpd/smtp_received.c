/*
 * smtp_received - format the Received: header.  See smtp_received.h.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "header.h"
#include "smtp_received.h"

/* Copy client text, keeping printable ASCII other than ( ) \ ; only. */
static void
received_clean(char *dst, size_t size, const char *src)
{
	size_t j = 0;

	for (size_t i = 0; src[i] != '\0' && j + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[j++] = (c > 32 && c < 127 && c != '(' && c != ')' &&
		    c != '\\' && c != ';') ? (char)c : '?';
	}
	dst[j] = '\0';
}

/* smtp_received_format - the complete, folded Received: header field */
int
smtp_received_format(const struct received_info *ri, char *buf, size_t size)
{
	char helo[256], name[256], addr[80], date[64], forclause[600];
	int n;

	received_clean(helo, sizeof(helo), ri->helo[0] ? ri->helo : "unknown");
	received_clean(name, sizeof(name), ri->client_name);
	/* RFC 5321 4.1.3: IPv6 address literals carry the "IPv6:" tag. */
	if (strchr(ri->client_addr, ':') != NULL)
		snprintf(addr, sizeof(addr), "IPv6:%s", ri->client_addr);
	else
		strlcpy(addr, ri->client_addr, sizeof(addr));
	if (header_date_format(ri->when, date, sizeof(date)) < 0)
		return -1;
	forclause[0] = '\0';
	if (ri->rcpt != NULL) {
		char rcpt[520];

		received_clean(rcpt, sizeof(rcpt), ri->rcpt);
		snprintf(forclause, sizeof(forclause), "\r\n\tfor <%s>", rcpt);
	}
	n = snprintf(buf, size,
	    "Received: from %s (%s [%s])\r\n"
	    "\tby %s (tern) with %s%s%s%s id %s%s;\r\n"
	    "\t%s\r\n",
	    helo, name, addr, ri->myhostname, ri->protocol,
	    ri->tls ? "\r\n\t(" : "", ri->tls ? ri->tls : "",
	    ri->tls ? ")" : "", ri->qid, forclause, date);
	return (n < 0 || (size_t)n >= size) ? -1 : n;
}
