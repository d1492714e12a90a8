/*
 * mtasts_fetch - the HTTPS GET of an MTA-STS policy (RFC 8461 3.3).
 *
 * Used by mtasts.c in the smtp transport's connection processes.
 */
#ifndef TERN_MTASTS_FETCH_H
#define TERN_MTASTS_FETCH_H

#include <stddef.h>

#include "dns.h"

#define MTASTS_HTTPS_PORT	443
#define MTASTS_HEADERS_MAX	8192	/* octets of the response's head */

/*
 * mtasts_fetch - GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt,
 * all of it (DNS, connect, handshake, request, response) by deadline
 * (deadline.h).  The certificate must verify for mta-sts.DOMAIN; only a
 * 200 with a text/plain body of at most MTASTS_POLICY_MAX octets counts;
 * redirects are not followed.  0 with the body in body (bodysize at least
 * MTASTS_POLICY_MAX) and its length in *len, or -1 with the reason,
 * printable, in err.
 */
int mtasts_fetch(const struct dns_config *dc, const char *domain,
    long long deadline, char *body, size_t bodysize, size_t *len, char *err,
    size_t errsize);

/*
 * mtasts_http_response - a complete HTTP response (len octets, untrusted):
 * 0 with *body and *bodylen pointing into it when it is a 200 with a
 * text/plain body within its Content-Length (when one is given), or -1
 * with the reason in err.  *complete is 1 when a Content-Length was given
 * and is met (no need to wait for the close).  -2 (and a reason) when the
 * head is not complete yet.
 */
int mtasts_http_response(const char *buf, size_t len, const char **body,
    size_t *bodylen, int *complete, char *err, size_t errsize);

#endif
