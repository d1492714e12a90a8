/*
 * lmtp_target - parsing the mailbox_transport setting (see lmtp_target.h).
 *
 * Everything here is syntax only: whether the socket exists or the host
 * resolves is found out when deliverd connects, and a failure there
 * defers the mail rather than rejecting the configuration.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmtp_target.h"

/* lmtp_port_parse - "1".."65535" into *port; 0, or -1 */
static int
lmtp_port_parse(const char *s, int *port)
{
	char *end;
	long v;

	if (s[0] < '0' || s[0] > '9' || strlen(s) > 5)
		return -1;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/* lmtp_host_ok - a host name of letters, digits, '-', '.' and '_' */
static int
lmtp_host_ok(const char *h)
{
	size_t len = strlen(h);

	return len > 0 && len < LMTP_HOST_MAX && strspn(h,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	    "-._") == len && h[0] != '-' && h[0] != '.';
}

/* lmtp_inet_parse - "[host]:port", "[host]", "host:port" or "host" */
static int
lmtp_inet_parse(const char *v, struct lmtp_target *t)
{
	struct in6_addr a6;
	const char *rest, *close;
	size_t hlen;

	t->kind = LMTP_TARGET_INET;
	t->port = LMTP_DEFAULT_PORT;
	if (v[0] == '[') {
		if ((close = strchr(v, ']')) == NULL)
			return -1;
		hlen = (size_t)(close - v - 1);
		rest = close + 1;
		if (hlen == 0 || hlen >= sizeof(t->host))
			return -1;
		memcpy(t->host, v + 1, hlen);
		t->host[hlen] = '\0';
		if (inet_pton(AF_INET6, t->host, &a6) == 1 ||
		    inet_pton(AF_INET, t->host, &a6) == 1)
			t->numeric = 1;
		else if (!lmtp_host_ok(t->host))
			return -1;
	} else {
		rest = strchr(v, ':');
		hlen = rest != NULL ? (size_t)(rest - v) : strlen(v);
		if (hlen == 0 || hlen >= sizeof(t->host))
			return -1;
		memcpy(t->host, v, hlen);
		t->host[hlen] = '\0';
		if (rest == NULL)
			rest = "";
		if (!lmtp_host_ok(t->host))
			return -1;
		t->numeric = inet_pton(AF_INET, t->host, &a6) == 1;
	}
	if (rest[0] == '\0')
		return 0;
	return rest[0] == ':' ? lmtp_port_parse(rest + 1, &t->port) : -1;
}

/* lmtp_target_parse - the syntax of mailbox_transport */
int
lmtp_target_parse(const char *value, struct lmtp_target *t, char *err,
    size_t errsize)
{
	const char *v;

	memset(t, 0, sizeof(*t));
	if (value == NULL || value[0] == '\0')
		return 0;
	if (strlen(value) > LMTP_TARGET_MAX ||
	    strncmp(value, "lmtp:", 5) != 0)
		goto bad;
	v = value + 5;
	if (strncmp(v, "unix:", 5) == 0) {
		v += 5;
		if (v[0] != '/' || strlen(v) >= sizeof(t->path)) {
			snprintf(err, errsize, "lmtp:unix: needs an absolute "
			    "path of at most %zu octets", sizeof(t->path) - 1);
			return -1;
		}
		t->kind = LMTP_TARGET_UNIX;
		strlcpy(t->path, v, sizeof(t->path));
		return 0;
	}
	if (lmtp_inet_parse(v, t) == 0)
		return 0;
bad:
	memset(t, 0, sizeof(*t));
	snprintf(err, errsize, "expected empty, lmtp:unix:/path, "
	    "lmtp:[address]:port or lmtp:host:port");
	return -1;
}
