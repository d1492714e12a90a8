/*
 * smtp_received - the Received: trace header tern prepends to each
 * message (RFC 5321 4.4, RFC 5322 3.6.7).
 */
#ifndef TERN_SMTP_RECEIVED_H
#define TERN_SMTP_RECEIVED_H

#include <stddef.h>
#include <time.h>

struct received_info {
	const char	*helo;		/* as the client sent it, may be "" */
	const char	*client_name;	/* reverse name or "unknown" */
	const char	*client_addr;	/* numeric IPv4 or IPv6 */
	const char	*myhostname;
	const char	*protocol;	/* SMTP, ESMTP, ESMTPS, ESMTPSA, ... */
	const char	*qid;
	const char	*rcpt;		/* the one recipient, or NULL */
	const char	*tls;		/* "TLSv1.3 with cipher X" or NULL */
	time_t		 when;
};

/*
 * smtp_received_format - the complete header field, folded, ending in
 * CRLF, into buf.  Client-supplied text is reduced to printable ASCII so
 * that it cannot break the header.  Returns its length, -1 if too long.
 */
int smtp_received_format(const struct received_info *ri, char *buf,
    size_t size);

#endif
