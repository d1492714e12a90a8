/*
 * mtasts_fetch - fetching an MTA-STS policy over HTTPS.
 *
 * Runs in a connection process of the smtp transport: unprivileged
 * (tern_user) and chrooted, which is why it resolves the name with
 * tern's own resolver (dns.h, configured before the chroot) and uses the
 * CA store that tls_client read before it.  The request is HTTP/1.0, so
 * that the answer comes whole and unchunked and ends with the close.
 *
 * Never: follow a redirect (RFC 8461 3.3), accept a certificate that is
 * not valid for mta-sts.DOMAIN, read more than the head and
 * MTASTS_POLICY_MAX octets of body, or wait past the one deadline set
 * for the whole fetch by the caller.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "mtasts_fetch.h"
#include "mtasts_policy.h"
#include "tls_client.h"
#include "tls_policy.h"

#define RESPONSE_MAX	(MTASTS_HEADERS_MAX + MTASTS_POLICY_MAX)

/* head_end - where the head (ending in an empty line) ends, or NULL */
static const char *
head_end(const char *buf, size_t len, const char **body)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n') {
			*body = buf + i + 2;
			return buf + i + 1;
		}
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
			*body = buf + i + 3;
			return buf + i + 1;
		}
	}
	return NULL;
}

/* header_is - line (len octets) is header name, ':' after it */
static const char *
header_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
		return NULL;
	line += n + 1;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

/* content_type_ok - "text/plain", alone or with parameters */
static int
content_type_ok(const char *v, size_t len)
{
	if (len < 10 || strncasecmp(v, "text/plain", 10) != 0)
		return 0;
	return len == 10 || v[10] == ';' || v[10] == ' ' || v[10] == '\t' ||
	    v[10] == '\r';
}

/*
 * content_length - the digits of a Content-Length value (v up to end, the
 * line's LF; untrusted, not NUL-terminated), blanks and a CR after them.
 * The length, or -1 when malformed or more than ten digits.
 */
static long long
content_length(const char *v, const char *end)
{
	long long n = 0;
	int digits = 0;

	for (; v < end && *v >= '0' && *v <= '9'; v++) {
		if (++digits > 10)
			return -1;
		n = n * 10 + (*v - '0');
	}
	while (v < end && (*v == ' ' || *v == '\t' || *v == '\r'))
		v++;
	return digits > 0 && v == end ? n : -1;
}

/* mtasts_http_response - status 200, text/plain, the body's bounds */
int
mtasts_http_response(const char *buf, size_t len, const char **body,
    size_t *bodylen, int *complete, char *err, size_t errsize)
{
	const char *end, *line, *nl, *v;
	long long clen = -1;
	int typed = 0;

	*complete = 0;
	if ((end = head_end(buf, len, body)) == NULL) {
		snprintf(err, errsize, "no complete HTTP response head");
		return -2;
	}
	if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ') {
		snprintf(err, errsize, "not an HTTP response");
		return -1;
	}
	if (memcmp(buf + 9, "200", 3) != 0 || (buf[12] != ' ' &&
	    buf[12] != '\r' && buf[12] != '\n')) {
		snprintf(err, errsize, "HTTP status %.3s%s", buf + 9,
		    buf[9] == '3' ? " (redirects are not followed)" : "");
		for (char *p = err; *p != '\0'; p++)
			if (*p < 0x20 || *p > 0x7e)
				*p = '?';
		return -1;
	}
	/* The head ends in an LF, so every line of it has one. */
	line = (const char *)memchr(buf, '\n', (size_t)(end - buf)) + 1;
	for (; line < end; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(end - line));
		if ((v = header_is(line, (size_t)(nl - line),
		    "Content-Type")) != NULL)
			typed = content_type_ok(v, (size_t)(nl - v));
		else if ((v = header_is(line, (size_t)(nl - line),
		    "Content-Length")) != NULL) {
			if ((clen = content_length(v, nl)) < 0) {
				snprintf(err, errsize, "bad Content-Length");
				return -1;
			}
		} else if (header_is(line, (size_t)(nl - line),
		    "Transfer-Encoding") != NULL) {
			snprintf(err, errsize, "a transfer encoding, not "
			    "asked for");
			return -1;
		}
	}
	if (!typed) {
		snprintf(err, errsize, "media type is not text/plain");
		return -1;
	}
	*bodylen = len - (size_t)(*body - buf);
	if ((clen >= 0 && clen > MTASTS_POLICY_MAX) ||
	    *bodylen > MTASTS_POLICY_MAX) {
		snprintf(err, errsize, "policy larger than %d octets",
		    MTASTS_POLICY_MAX);
		return -1;
	}
	if (clen >= 0 && *bodylen >= (size_t)clen) {
		*bodylen = (size_t)clen;
		*complete = 1;
	}
	return 0;
}

/* fetch_connect - a connected non-blocking socket to addr:443, or -1 */
static int
fetch_connect(const struct dns_rr *rr, int family, long long deadline)
{
	struct sockaddr_storage ss;
	socklen_t slen, elen = sizeof(int);
	int fd, e = 0;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(MTASTS_HTTPS_PORT);
		memcpy(&s4->sin_addr, rr->addr, 4);
		slen = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(MTASTS_HTTPS_PORT);
		memcpy(&s6->sin6_addr, rr->addr, 16);
		slen = sizeof(*s6);
	}
	if ((fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, slen) == 0)
		return fd;
	if (errno == EINPROGRESS && deadline_poll(fd, POLLOUT, deadline) > 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) == 0 && e == 0)
		return fd;
	close(fd);
	return -1;
}

/*
 * fetch_read - the response on ssl into buf (RESPONSE_MAX + 1 octets):
 * until the close, or until its Content-Length is met.  The length, or -1
 * with the reason in err.
 */
static ssize_t
fetch_read(SSL *ssl, int fd, char *buf, long long deadline, char *err,
    size_t errsize)
{
	const char *body;
	size_t got = 0, blen;
	ssize_t n;
	int complete = 0, rc;

	for (;;) {
		n = tls_client_read(ssl, fd, buf + got, RESPONSE_MAX + 1 - got,
		    deadline);
		if (n > 0) {
			got += (size_t)n;
			if (got > RESPONSE_MAX) {
				snprintf(err, errsize, "policy larger than %d "
				    "octets", MTASTS_POLICY_MAX);
				return -1;
			}
			/* Done when the head says so, or says no. */
			rc = mtasts_http_response(buf, got, &body, &blen,
			    &complete, err, errsize);
			if (rc == -1)
				return -1;
			if (rc == 0 && complete)
				return (ssize_t)got;
			continue;
		}
		if (n == 0)
			return (ssize_t)got;
		/* Servers often close without close_notify: what came is
		 * accepted only when its Content-Length said it was all. */
		snprintf(err, errsize, errno == ETIMEDOUT ? "timed out" :
		    "connection lost before the end of the response");
		return -1;
	}
}

/*
 * fetch_from - the whole exchange with one address: 0 with the body
 * copied out, or -1 with the reason in err.
 */
static int
fetch_from(int fd, const char *host, long long deadline, char *out,
    size_t outsize, size_t *len, char *err, size_t errsize)
{
	static char buf[RESPONSE_MAX + 1];
	struct tls_names names = { .n = 1 };
	char req[512], why[256];
	const char *body;
	size_t blen;
	ssize_t n;
	int complete;
	SSL *ssl;

	if ((ssl = tls_client_handshake(fd, host, NULL, deadline, why,
	    sizeof(why))) == NULL) {
		snprintf(err, errsize, "%s", why);
		return -1;
	}
	strlcpy(names.name[0], host, sizeof(names.name[0]));
	if (tls_client_verify(ssl, &names, why, sizeof(why)) != 0) {
		snprintf(err, errsize, "certificate did not verify: %s", why);
		tls_client_free(ssl);
		return -1;
	}
	snprintf(req, sizeof(req), "GET /.well-known/mta-sts.txt HTTP/1.0\r\n"
	    "Host: %s\r\nUser-Agent: tern\r\nConnection: close\r\n\r\n", host);
	if (tls_client_write(ssl, fd, req, strlen(req), deadline) != 0) {
		snprintf(err, errsize, "cannot send the request");
		tls_client_free(ssl);
		return -1;
	}
	n = fetch_read(ssl, fd, buf, deadline, err, errsize);
	tls_client_free(ssl);
	if (n < 0 || mtasts_http_response(buf, (size_t)n, &body, &blen,
	    &complete, err, errsize) != 0)
		return -1;
	if (blen > outsize) {
		snprintf(err, errsize, "policy too large");
		return -1;
	}
	memcpy(out, body, blen);
	*len = blen;
	return 0;
}

/* deadline_timespec - a deadline.h deadline as dns_lookup_until takes it */
static struct timespec
deadline_timespec(long long deadline)
{
	struct timespec ts = { .tv_sec = (time_t)(deadline / 1000),
	    .tv_nsec = (long)(deadline % 1000) * 1000000L };

	return ts;
}

/* mtasts_fetch - resolve mta-sts.DOMAIN, try its addresses in turn */
int
mtasts_fetch(const struct dns_config *dc, const char *domain,
    long long deadline, char *body, size_t bodysize, size_t *len, char *err,
    size_t errsize)
{
	static struct dns_answer a;
	static const struct { uint16_t type; int family; } fam[] = {
		{ DNS_T_A, AF_INET }, { DNS_T_AAAA, AF_INET6 } };
	struct timespec until = deadline_timespec(deadline);
	char host[DNS_NAME_MAX + 1];
	enum dns_status s;
	int fd, tried = 0;

	if ((size_t)snprintf(host, sizeof(host), "mta-sts.%s", domain) >=
	    sizeof(host)) {
		snprintf(err, errsize, "domain name too long");
		return -1;
	}
	snprintf(err, errsize, "no address for %s", host);
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		if ((s = dns_lookup_until(dc, host, fam[f].type, &until,
		    &a)) != DNS_OK) {
			if (s != DNS_NODATA && s != DNS_NXDOMAIN)
				snprintf(err, errsize, "%s: %s", host,
				    dns_status_text(s));
			continue;
		}
		for (int i = 0; i < a.n && !deadline_passed(deadline); i++) {
			tried = 1;
			if ((fd = fetch_connect(&a.rr[i], fam[f].family,
			    deadline)) == -1) {
				snprintf(err, errsize, "cannot connect to %s: "
				    "%s", host, strerror(errno));
				continue;
			}
			if (fetch_from(fd, host, deadline, body, bodysize, len,
			    err, errsize) == 0) {
				close(fd);
				return 0;
			}
			close(fd);
		}
	}
	if (tried && deadline_passed(deadline))
		snprintf(err, errsize, "%s: timed out", host);
	return -1;
}
